//! The run-controller's pass, and the only code that calls agents about runs.
//!
//! A pass:
//! 1. **load**: one statement claims the active runs no other controller holds,
//!    then their desired state, jobs and `version` are read ([`db::control::load`]);
//! 2. **poll** every live job, with no transaction open, in a bounded parallel
//!    fan-out with short timeouts (a poll renews the job's lease);
//! 3. **reconcile** (pure, [`super::reconcile`]) each run into actions;
//! 4. **execute** the actions against the agents (bounded fan-out again);
//! 5. **roll up** (pure, [`super::rollup`]) the statuses;
//! 6. **record** in one short transaction ([`db::control::record_facts`]): seconds
//!    and job facts; then, in one statement of its own ([`db::control::settle`]),
//!    the roll-up where the run's version is unchanged and the release of the
//!    claims. The write runs beside the next pass ([`super::write`]): that pass
//!    polls the jobs it remembers while the write goes on, and loads the state
//!    once the write has ended (so that it includes it), so a pass lasts
//!    max(poll, write) rather than their sum. It waits for the write up to the
//!    database budget; the passes after a slower write work from memory until
//!    it ends.
//!
//! A run's row, which user changes update too, is locked only for the length
//! of one statement (the claim, the roll-up): a user's change never waits on a
//! pass's transaction, let alone on an agent.
//!
//! User requests never call agents: they write the desired state, bump the run's
//! version and [`Nudge`] the controller. Every database step has a deadline; when
//! the database cannot be reached the pass runs from memory instead
//! ([`super::outage`]).

use super::agents::{Healthy, healthy};
use super::hooks;
use super::jobs::{self, LEASE_SECS};
use super::outage::{self, Buffered, OutageLimits, Verdict};
use super::plan::Candidate;
use super::reconcile::{Action, JobView, LOST_AFTER, Poll, ScriptRunView, is_lost, reconcile};
use super::rollup::rollup;
use super::snapshot::{self, Snapshot};
use super::write::{Writing, answers, db_timeout};
use crate::agent_client::{AgentError, Endpoint};
use crate::db::control::{JobUpdate, NewJob, PassRecord, Recorded, Rollup, RunChange};
use crate::db::seconds::Row;
use crate::http::{ApiError, ApiResult};
use crate::model::run::{Job, JobDesired, JobPhase, RunState, ScriptRunState};
use crate::state::AppState;
use crate::storage::ObjectKey;
use alilo_agent_api::{JobStatus, RateChange};
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Presigned data-file URLs live this long: agents fetch them once, at start.
const PRESIGN_TTL: Duration = Duration::from_secs(3600);

/// Wakes the controller at once after a change of desired state, so a change
/// reaches the agents in milliseconds rather than at the next scheduled pass.
/// Cheap to clone; a nudge with nobody waiting is kept for the next wait.
#[derive(Debug, Clone, Default)]
pub struct Nudge(Arc<tokio::sync::Notify>);

impl Nudge {
    pub fn nudge(&self) {
        self.0.notify_one();
    }

    /// Until the next nudge.
    pub async fn nudged(&self) {
        self.0.notified().await;
    }
}

/// The quiet period after which the fleet shrinks: long enough that a user
/// starting the next test of a session finds the agents still there.
pub const DEFAULT_FLEET_QUIET: Duration = Duration::from_secs(600);

/// How a controller works.
#[derive(Debug, Clone, Copy)]
pub struct ControllerOptions {
    /// A run stays claimed this long if the pass never records (it died).
    pub claim: Duration,
    /// Deadline of each database step (connection included); a pass waits this
    /// long for the last pass's write (polling meanwhile), which may go on
    /// beside the next passes.
    pub db_budget: Duration,
    /// Longest a record's write may take once connected (a slow database);
    /// beyond it the database counts as unreachable. Below the run-controller
    /// Lambda's margin, so an invocation can wait for it.
    pub write_cap: Duration,
    /// Agent calls in flight at once.
    pub fan_out: usize,
    pub outage: OutageLimits,
    /// With no active run for this long, the fleet is released to its minimum.
    pub fleet_quiet: Duration,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        Self {
            claim: Duration::from_secs(20),
            db_budget: Duration::from_secs(5),
            write_cap: Duration::from_secs(10),
            fan_out: 64,
            outage: OutageLimits::default(),
            fleet_quiet: DEFAULT_FLEET_QUIET,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickOutcome {
    /// Runs this pass claimed (others were held by another controller).
    pub runs: usize,
    pub polled: usize,
    pub stored_seconds: u64,
    /// Agent calls made to change something (start, rate, stop).
    pub actions: usize,
    /// Runs whose roll-up was dropped because a user changed them meanwhile.
    pub lost_races: usize,
    /// Set when the database could not be used: the pass ran from memory.
    pub outage: Option<String>,
    /// The last pass's write was still going on after the database budget (a
    /// slow database, not an outage): this pass worked from memory.
    pub writing: bool,
    /// Where the pass spent its time (bench/fleet): loading the desired state,
    /// polling, reconciling and calling agents, recording.
    pub timings: PassTimings,
}

/// The phases of a pass.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PassTimings {
    pub load: Duration,
    pub poll: Duration,
    pub act: Duration,
    /// How long the pass waited for the last pass's write once its own poll of
    /// the remembered jobs was done (the part of the write not hidden by it).
    pub record: Duration,
    /// The writes that ended during this pass: their own time, and the part
    /// of it spent storing seconds (for the ingestion rate).
    pub write: Duration,
    pub seconds_write: Duration,
}

/// The last known state, kept across passes for database outages.
#[derive(Debug, Default)]
struct Memory {
    runs: Vec<RunState>,
    /// Facts not yet written.
    buffer: PassRecord,
    /// When the current outage began.
    since: Option<Instant>,
    /// Runs stopped on purpose during this outage.
    stopped: BTreeSet<i64>,
    /// The snapshot last written to the bucket, and when.
    written: Option<(Snapshot, Instant)>,
    /// Whether this process already looked for a snapshot (it does once, when an
    /// outage finds it with no memory of its own).
    looked: bool,
    /// Whether this controller deleted the snapshots too old to use (once, after
    /// its first write).
    pruned: bool,
}

/// A run-controller: one per process (or Lambda instance), kept across passes.
#[derive(Debug)]
pub struct Controller {
    id: String,
    options: ControllerOptions,
    memory: Memory,
    behind: Behind,
    /// The record's write still going on, if any.
    writing: Option<Writing>,
}

/// How long a pass's hooks may run beside the passes that follow it.
const HOOKS_BOUND: Duration = Duration::from_secs(60);

/// Work a pass leaves running beside the next ones: the hooks and the write of
/// the snapshot. Neither may hold a pass (passes are what renew the agents'
/// leases, and the hooks' work grows with the runs); one of each at a time.
#[derive(Debug, Default)]
struct Behind {
    hooks: Option<tokio::task::JoinHandle<()>>,
    /// Answers whether the snapshot was written.
    snapshot: Option<tokio::task::JoinHandle<bool>>,
}

/// One pass of a new controller (no memory of earlier passes), its hooks and
/// snapshot done when it returns; tests and tools.
pub async fn tick(app: &AppState) -> ApiResult<TickOutcome> {
    let mut controller = Controller::new(ControllerOptions::default());
    let mut out = controller.pass(app).await;
    if let Ok(o) = &mut out {
        let _ = controller.written(app, controller.options.db_budget + controller.options.write_cap, o).await;
    }
    controller.settle(app).await;
    out
}

/// What the agents answered for jobs polled before the pass loaded its runs
/// (while the last pass's write went on), by job key.
type Polled = HashMap<String, Result<JobStatus, AgentError>>;

/// Whether a database error means it cannot be reached (as opposed to a fault
/// of ours, like a failing statement).
fn is_outage(e: &ApiError) -> bool {
    e.status == axum::http::StatusCode::SERVICE_UNAVAILABLE
}

/// Run `futures` at most `limit` at a time; results in order.
async fn bounded<F: Future>(limit: usize, futures: Vec<F>) -> Vec<F::Output> {
    futures::stream::iter(futures).buffered(limit.max(1)).collect().await
}

/// Why a job's share moves, for its reason and the run's audit.
fn lost_reason(job: &Job, poll: Poll, agent_said: Option<&str>) -> String {
    match poll {
        _ if job.phase == JobPhase::Starting => "never started".into(),
        Poll::Expired => {
            "lease expired: no controller renewed it in time (a controller outage; the agent was healthy)".into()
        }
        Poll::Abandoned => format!("its agent ended it: {}", agent_said.unwrap_or("no reason given")),
        _ => format!("agent stopped answering ({LOST_AFTER} polls in a row)"),
    }
}

/// An agent call decided this pass.
enum Call {
    Start { run: usize, job: usize, rps: f64, scale: f64 },
    Place { run: usize, job: NewJob, rps: f64 },
    Rate { run: usize, job: usize, rps: f64, scale: f64 },
    Stop { run: usize, job: usize },
}

enum Answer {
    Started(Result<Option<JobStatus>, AgentError>),
    Rated(Result<(), AgentError>),
    Stopped(Result<JobStatus, AgentError>),
}

impl Controller {
    pub fn new(options: ControllerOptions) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            options,
            memory: Memory::default(),
            behind: Behind::default(),
            writing: None,
        }
    }

    /// This controller's id: its claims and its snapshot's key carry it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether facts wait in memory for the database.
    pub fn buffered_seconds(&self) -> usize {
        self.memory.buffer.buffered_seconds()
    }

    async fn db_load(&self, app: &AppState) -> ApiResult<Vec<RunState>> {
        let budget = self.options.db_budget;
        let mut conn = tokio::time::timeout(budget, app.db.control_conn()).await.map_err(|_| db_timeout(budget))??;
        match tokio::time::timeout(budget, crate::db::control::load(&mut conn, &self.id, self.options.claim)).await {
            Ok(runs) => runs,
            Err(_) => {
                // A connection cut mid-query must not go back to the pool.
                drop(deadpool_postgres::Object::take(conn));
                Err(db_timeout(budget))
            }
        }
    }

    /// Start writing `rec` beside the passes and wait for it up to the budget
    /// ([`Self::written`]).
    async fn write(&mut self, app: &AppState, rec: PassRecord, out: &mut TickOutcome) -> ApiResult<bool> {
        let options = self.options;
        self.writing = Some(Writing::start(app, &self.id, options.db_budget, options.write_cap, rec));
        self.written(app, options.db_budget, out).await
    }

    /// Wait up to `wait` for the write in flight ([`Self::take_written`]).
    async fn written(&mut self, app: &AppState, wait: Duration, out: &mut TickOutcome) -> ApiResult<bool> {
        let Some(writing) = self.writing.as_mut() else { return Ok(true) };
        let result = writing.wait(wait).await;
        self.take_written(app, result, out).await
    }

    /// The outcome of the write in flight, if it ended (`result`): `true` when
    /// none is left (what it did added to `out`, and the work that follows a
    /// write started: the hooks and the snapshot), `false` while it goes on; a
    /// failed write's facts go back to the buffer, before those buffered since.
    async fn take_written(
        &mut self,
        app: &AppState,
        result: Option<Result<Recorded, (ApiError, PassRecord)>>,
        out: &mut TickOutcome,
    ) -> ApiResult<bool> {
        let Some(started) = self.writing.as_ref().map(|w| w.started) else { return Ok(true) };
        let Some(result) = result else {
            out.writing = true;
            return Ok(false);
        };
        self.writing = None;
        match result {
            Ok(done) => {
                out.stored_seconds += done.stored_seconds;
                out.lost_races += done.lost_races;
                out.timings.write += done.took;
                out.timings.seconds_write += done.seconds_took;
                // Beside the next passes, only after a write that reached the
                // database. (Awaited, the hooks once held the controller on a
                // black-holed pooled connection until the database came back: no
                // lease was renewed and every job ended 60 s into the outage.)
                self.write_snapshot(app).await;
                self.run_hooks(app);
                Ok(true)
            }
            Err((e, unwritten)) => {
                if is_outage(&e) {
                    // The database has not answered since the write began.
                    self.memory.since.get_or_insert(started);
                }
                let later = std::mem::take(&mut self.memory.buffer);
                self.memory.buffer.absorb(unwritten);
                self.memory.buffer.absorb(later);
                Err(e)
            }
        }
    }

    /// A pass while a write goes on: from memory, as an outage when the
    /// database does not answer either.
    async fn behind_pass(&mut self, app: &AppState, out: TickOutcome, polled: Polled) -> TickOutcome {
        let asked = Instant::now();
        match answers(app, self.options.db_budget).await {
            Ok(()) => self.memory_pass(app, None, out, polled).await,
            Err(e) => {
                self.memory.since.get_or_insert(asked);
                self.memory_pass(app, Some(&e), out, polled).await
            }
        }
    }

    /// After a write failed: an unreachable database is ridden out from
    /// memory; any other error is a fault to report.
    async fn unwritten(
        &mut self,
        app: &AppState,
        e: ApiError,
        out: TickOutcome,
        polled: Polled,
    ) -> ApiResult<TickOutcome> {
        if is_outage(&e) { Ok(self.memory_pass(app, Some(&e), out, polled).await) } else { Err(e) }
    }

    /// While the last pass's write goes on: poll the jobs it left, and wait for
    /// the write until the database budget has passed since it began (its
    /// outcome, if it ended by then or during the poll).
    async fn poll_beside_write(
        &mut self,
        app: &AppState,
        out: &mut TickOutcome,
    ) -> (Polled, Option<Result<Recorded, (ApiError, PassRecord)>>) {
        let Some(mut writing) = self.writing.take() else { return (Polled::new(), None) };
        let started = Instant::now();
        let targets = live_jobs(&self.memory.runs, &self.memory.stopped);
        let poll = async {
            let answers = self.poll_jobs(app, &self.memory.runs, &targets, Polled::new()).await;
            (answers, started.elapsed())
        };
        let wait = self.options.db_budget.saturating_sub(writing.started.elapsed());
        let ((answers, polling), result) = tokio::join!(poll, writing.wait(wait));
        let result = match result {
            Some(result) => Some(result),
            None => writing.wait(Duration::ZERO).await,
        };
        self.writing = Some(writing);
        out.timings.poll += polling;
        out.timings.record += started.elapsed().saturating_sub(polling);
        let runs = &self.memory.runs;
        let polled = targets.iter().zip(answers).map(|(&(r, j), a)| (runs[r].jobs[j].key.clone(), a)).collect();
        (polled, result)
    }

    /// One pass over every active run this controller can claim.
    #[tracing::instrument(skip_all, fields(controller = %self.id))]
    pub async fn pass(&mut self, app: &AppState) -> ApiResult<TickOutcome> {
        let mut out = TickOutcome::default();
        // The last pass's write goes on while this one polls the jobs it left;
        // a write still going on after the budget (a slow database): from
        // memory until it ends.
        let (polled, result) = self.poll_beside_write(app, &mut out).await;
        match self.take_written(app, result, &mut out).await {
            Ok(true) => {}
            Ok(false) => return Ok(self.behind_pass(app, out, polled).await),
            Err(e) => return self.unwritten(app, e, out, polled).await,
        }
        // Facts buffered by earlier passes go first: the state loaded next must
        // include them (jobs placed or stopped meanwhile).
        if !self.memory.buffer.is_empty() {
            let buffered = std::mem::take(&mut self.memory.buffer);
            let seconds = buffered.buffered_seconds();
            match self.write(app, buffered, &mut out).await {
                Ok(true) => {
                    tracing::info!(
                        seconds,
                        outage_secs = self.memory.since.map_or(0, |s| s.elapsed().as_secs()),
                        "buffered facts written"
                    );
                    self.memory.stopped.clear();
                }
                Ok(false) => return Ok(self.behind_pass(app, out, polled).await),
                Err(e) => return self.unwritten(app, e, out, polled).await,
            }
        }
        let phase = Instant::now();
        let mut runs = match self.db_load(app).await {
            Ok(runs) => runs,
            // Only an unreachable database is ridden out from memory; any other
            // error is a fault to report, not a reason to keep load going blind.
            Err(e) if is_outage(&e) => {
                self.memory.since.get_or_insert(phase);
                return Ok(self.memory_pass(app, Some(&e), out, polled).await);
            }
            Err(e) => return Err(e),
        };
        self.memory.since = None;
        out.timings.load = phase.elapsed();
        let phase = Instant::now();
        out.runs = runs.len();
        if out.runs == 0 {
            self.release_when_quiet(app).await;
        }
        let mut rec = PassRecord { release: runs.iter().map(|r| r.id).collect(), ..PassRecord::default() };

        // 2. Poll every live job (those polled beside the write are not asked again).
        let mut polls: BTreeMap<(usize, usize), Poll> = BTreeMap::new();
        let mut said: BTreeMap<(usize, usize), String> = BTreeMap::new();
        let targets = live_jobs(&runs, &BTreeSet::new());
        out.polled = targets.len();
        let answers = self.poll_jobs(app, &runs, &targets, polled).await;
        for (&(r, j), answer) in targets.iter().zip(answers) {
            let run_id = runs[r].id;
            let stop_wanted = stop_wanted(&runs[r], &runs[r].jobs[j]);
            let job = &mut runs[r].jobs[j];
            let poll = match answer {
                Ok(status) => {
                    hooks::observe(run_id, job, &status);
                    let early = status.state.is_terminal() && !stop_wanted;
                    let reason = status.reason.clone().unwrap_or_default();
                    let poll = if early && reason.starts_with("lease expired") {
                        Poll::Expired
                    } else if early && reason.starts_with("agent shutting down") {
                        Poll::Abandoned
                    } else {
                        Poll::Seen
                    };
                    if poll != Poll::Seen {
                        said.insert((r, j), reason.clone());
                    }
                    seen(&mut rec, job, &status, poll == Poll::Seen);
                    poll
                }
                Err(AgentError::NotFound) => Poll::Forgotten,
                Err(e) => {
                    job.poll_failures += 1;
                    rec.job(job.id, JobUpdate { failed: true, reason: Some(e.to_string()), ..JobUpdate::default() });
                    Poll::Unreachable
                }
            };
            polls.insert((r, j), poll);
        }

        out.timings.poll += phase.elapsed();
        let phase = Instant::now();

        // 3. Reconcile each run; healthy agents are probed only when a share must move.
        let mut plans: Vec<Vec<Action>> = Vec::with_capacity(runs.len());
        let mut healthy_agents: Option<Vec<Healthy>> = None;
        for (r, run) in runs.iter().enumerate() {
            let views = views(run, |j| polls.get(&(r, j)).copied());
            let srs: Vec<ScriptRunView> = run
                .script_runs
                .iter()
                .map(|s| ScriptRunView { id: s.id, tag: s.tag.clone(), desired_rps: s.desired_rps })
                .collect();
            let losing = views.iter().any(|v| !v.ended && !v.stop_wanted && is_lost(v));
            let candidates: Vec<Candidate> = if losing {
                if healthy_agents.is_none() {
                    let unreachable: BTreeSet<i64> = runs
                        .iter()
                        .enumerate()
                        .flat_map(|(r, run)| run.jobs.iter().enumerate().map(move |(j, job)| ((r, j), job)))
                        .filter(|(at, _)| matches!(polls.get(at), Some(Poll::Unreachable | Poll::Abandoned)))
                        .filter_map(|(_, job)| job.agent_id)
                        .collect();
                    // Bounded like every database step: the list reads the database.
                    let probe = tokio::time::timeout(self.options.db_budget * 2, healthy(app, &unreachable));
                    healthy_agents = Some(match probe.await {
                        Ok(Ok(agents)) => agents,
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "healthy agents unknown this pass: no share moves");
                            Vec::new()
                        }
                        Err(_) => {
                            tracing::warn!("healthy agents not listed in time this pass: no share moves");
                            Vec::new()
                        }
                    });
                }
                healthy_agents.as_deref().unwrap_or_default().iter().map(|h| h.candidate.clone()).collect()
            } else {
                Vec::new()
            };
            plans.push(reconcile(&views, &srs, &candidates));
        }

        // Database-only actions now; agent calls collected.
        let urls: BTreeMap<i64, Endpoint> =
            healthy_agents.iter().flatten().map(|h| (h.candidate.agent_id, h.base_url.clone())).collect();
        let mut calls: Vec<Call> = Vec::new();
        for (r, actions) in plans.into_iter().enumerate() {
            let moving: BTreeSet<i64> = actions
                .iter()
                .filter_map(|a| match a {
                    Action::Place { script_run_id, .. } => Some(*script_run_id),
                    Action::Grow { job, .. } => runs[r].jobs.iter().find(|j| j.id == *job).map(|j| j.script_run_id),
                    _ => None,
                })
                .collect();
            for action in actions {
                let index = |run: &RunState, id: i64| {
                    run.jobs.iter().position(|j| j.id == id).expect("an action's job is loaded")
                };
                match action {
                    Action::Lost { job } => {
                        let j = index(&runs[r], job);
                        let poll = polls.get(&(r, j)).copied().unwrap_or(Poll::Skipped);
                        let run_id = runs[r].id;
                        let stopping = stop_wanted(&runs[r], &runs[r].jobs[j]);
                        let job = &mut runs[r].jobs[j];
                        let reason = lost_reason(job, poll, said.get(&(r, j)).map(String::as_str));
                        let next = if moving.contains(&job.script_run_id) {
                            format!("its share {:.3} moves", job.share)
                        } else if stopping {
                            "the script run is stopping".into()
                        } else {
                            "no healthy agent carrying its tag can take its share".into()
                        };
                        rec.changes.push(RunChange {
                            run_id,
                            script_run_id: Some(job.script_run_id),
                            what: format!("job {} on {} lost: {reason}; {next}", job.key, job.base_url),
                        });
                        // An agent that said the job ended is believed; an unreachable
                        // one's job may still send until its lease runs out.
                        job.phase = match poll {
                            Poll::Abandoned | Poll::Expired => JobPhase::Finished,
                            _ => JobPhase::Lost,
                        };
                        rec.job(
                            job.id,
                            JobUpdate { phase: Some(job.phase), reason: Some(reason), ..JobUpdate::default() },
                        );
                    }
                    Action::Grow { job, share } => {
                        let j = index(&runs[r], job);
                        let job = &mut runs[r].jobs[j];
                        job.share = (job.share + share).min(1.0);
                        rec.job(job.id, JobUpdate { share: Some(job.share), ..JobUpdate::default() });
                    }
                    Action::Place { script_run_id, agent_id, share, rps } => {
                        let Some(base_url) = urls.get(&agent_id).cloned() else { continue };
                        let job = NewJob {
                            script_run_id,
                            agent_id,
                            base_url,
                            key: uuid::Uuid::new_v4().to_string(),
                            share,
                            update: JobUpdate::default(),
                            seconds: Vec::new(),
                        };
                        calls.push(Call::Place { run: r, job, rps });
                    }
                    Action::Start { job, rps, scale } => {
                        calls.push(Call::Start { run: r, job: index(&runs[r], job), rps, scale });
                    }
                    Action::Rate { job, rps, scale } => {
                        calls.push(Call::Rate { run: r, job: index(&runs[r], job), rps, scale });
                    }
                    Action::Stop { job } => calls.push(Call::Stop { run: r, job: index(&runs[r], job) }),
                }
            }
        }

        // 4. Execute against the agents.
        out.actions = calls.len();
        let answers = bounded(self.options.fan_out, calls.iter().map(|c| self.call(app, &runs, c)).collect()).await;
        let mut placed: Vec<(usize, NewJob)> = Vec::new();
        for (call, answer) in calls.into_iter().zip(answers) {
            match (call, answer) {
                (Call::Start { run, job, rps, scale }, Answer::Started(result)) => {
                    let run_id = runs[run].id;
                    let job = &mut runs[run].jobs[job];
                    started(&mut rec, run_id, job, result, rps, scale);
                }
                (Call::Place { run, mut job, rps }, Answer::Started(result)) => {
                    let scale = job.share;
                    let mut shadow = shadow_job(&job);
                    let mut sub = PassRecord::default();
                    started(&mut sub, runs[run].id, &mut shadow, result, rps, scale);
                    rec.changes.append(&mut sub.changes);
                    job.update = sub.jobs.remove(&shadow.id).unwrap_or_default();
                    job.seconds = sub.seconds.into_iter().map(|(_, r)| r).collect();
                    if job.update.phase.is_none() {
                        job.update.phase = Some(JobPhase::Starting);
                    }
                    shadow.phase = job.update.phase.unwrap_or(JobPhase::Starting);
                    runs[run].jobs.push(shadow);
                    placed.push((run, job));
                }
                (Call::Rate { run, job, rps, scale }, Answer::Rated(result)) => {
                    let job = &mut runs[run].jobs[job];
                    match result {
                        Ok(()) => {
                            job.sent = Some((rps, scale));
                            rec.job(job.id, JobUpdate { sent: Some((rps, scale)), ..JobUpdate::default() });
                        }
                        Err(e) => rec.job(job.id, JobUpdate { reason: Some(e.to_string()), ..JobUpdate::default() }),
                    }
                }
                (Call::Stop { run, job }, Answer::Stopped(result)) => {
                    let run_id = runs[run].id;
                    let job = &mut runs[run].jobs[job];
                    stopped(&mut rec, run_id, job, result);
                }
                _ => unreachable!("each call has its kind of answer"),
            }
        }
        rec.new_jobs = placed.into_iter().map(|(_, j)| j).collect();

        // 5. Roll up.
        for run in &runs {
            let (status, script_runs) = rollup(run.status, &run.script_runs, &run.jobs);
            rec.rollups.push(Rollup { run_id: run.id, version: run.version, was: run.status, status, script_runs });
        }

        // 6. Record, beside the next pass: it polls meanwhile, and waits for
        // the write before it loads (the hooks and the snapshot follow the
        // write: [`Self::take_written`]).
        out.timings.act = phase.elapsed();
        let options = self.options;
        self.writing = Some(Writing::start(app, &self.id, options.db_budget, options.write_cap, rec));
        self.memory.runs = runs;
        Ok(out)
    }

    /// Release the fleet once no run has been active for the quiet period,
    /// judged and claimed in the database ([`super::fleet::release_due`]): a
    /// controller that starts cold decides as a warm one, and one of two
    /// releases. The release runs in the background (a provider's may wait
    /// for agents to drain).
    async fn release_when_quiet(&self, app: &AppState) {
        if app.fleet.name() == "static" {
            return;
        }
        let budget = self.options.db_budget;
        let Ok(Ok(conn)) = tokio::time::timeout(budget, app.db.control_conn()).await else { return };
        let claim = async {
            let idle = crate::db::fleet::idle(&conn).await?;
            if !super::fleet::release_due(&idle, self.options.fleet_quiet) {
                return Ok(false);
            }
            crate::db::fleet::claim_release(&conn).await
        };
        let claimed = match tokio::time::timeout(budget, claim).await {
            Ok(Ok(claimed)) => claimed,
            Ok(Err(e)) => return tracing::warn!(error = %e, "whether the fleet is quiet is unknown this pass"),
            Err(_) => {
                drop(deadpool_postgres::Object::take(conn));
                return tracing::warn!("whether the fleet is quiet is unknown this pass: no answer in time");
            }
        };
        if claimed {
            let fleet = app.fleet.clone();
            tokio::spawn(async move {
                match fleet.release().await {
                    Ok(()) => tracing::info!(fleet = fleet.name(), "no run for the quiet period: fleet released"),
                    Err(e) => tracing::warn!(fleet = fleet.name(), error = %e, "the fleet could not be released"),
                }
            });
        }
    }

    /// Until the work the passes left running is done (a tool's last pass, or
    /// before a Lambda invocation returns and its process is frozen): the last
    /// write, then the hooks and the snapshot that follow it.
    pub async fn settle(&mut self, app: &AppState) {
        // The write in flight ends within its cap.
        let wait = self.options.db_budget + self.options.write_cap;
        if let Err(e) = self.written(app, wait, &mut TickOutcome::default()).await {
            tracing::warn!(error = %e.message, "the last write failed: its facts wait in memory");
        }
        if let Some(hooks) = self.behind.hooks.take() {
            let _ = hooks.await;
        }
        if let Some(write) = self.behind.snapshot.take()
            && !write.await.unwrap_or(false)
        {
            self.memory.written = None;
        }
    }

    /// The hooks of this pass, beside the next ones, within [`HOOKS_BOUND`];
    /// skipped while an earlier pass's still run.
    fn run_hooks(&mut self, app: &AppState) {
        if self.behind.hooks.as_ref().is_some_and(|h| !h.is_finished()) {
            tracing::debug!("the hooks of an earlier pass still run: skipped this pass");
            return;
        }
        let (app, runs) = (app.clone(), self.memory.runs.clone());
        self.behind.hooks = Some(tokio::spawn(async move {
            if tokio::time::timeout(HOOKS_BOUND, hooks::after_pass(&app, &runs)).await.is_err() {
                tracing::warn!(bound_secs = HOOKS_BOUND.as_secs(), "pass hooks cut short");
            }
        }));
    }

    /// Keep the runs this pass left in the bucket when their jobs changed, or
    /// every [`snapshot::REFRESH`] while jobs run, for a process that starts
    /// during an outage; under this controller's own key. Written beside the
    /// next passes, one write at a time, bounded by the database budget; a failed
    /// write is retried next pass. After its first write, a controller deletes the
    /// snapshots too old to be used (other instances', ended).
    async fn write_snapshot(&mut self, app: &AppState) {
        match &self.behind.snapshot {
            Some(write) if !write.is_finished() => return,
            Some(_) => {
                let written = self.behind.snapshot.take().expect("checked").await.unwrap_or(false);
                if !written {
                    self.memory.written = None;
                }
            }
            None => {}
        }
        let snap = Snapshot::of(&self.memory.runs, chrono::Utc::now().timestamp_millis());
        let live = snap.runs.iter().any(|r| !r.jobs.is_empty());
        let due = match &self.memory.written {
            None => !snap.runs.is_empty(),
            Some((last, at)) => !last.same_jobs(&snap) || (live && at.elapsed() >= snapshot::REFRESH),
        };
        if !due {
            return;
        }
        let body = serde_json::to_vec(&snap).unwrap_or_default();
        self.memory.written = Some((snap, Instant::now()));
        let prune = !std::mem::replace(&mut self.memory.pruned, true);
        let (app, budget, max_outage) = (app.clone(), self.options.db_budget, self.options.outage.max_outage);
        let key = ObjectKey::ControllerSnapshot { controller: self.id.clone() };
        self.behind.snapshot = Some(tokio::spawn(async move {
            let put = app.storage.put(&key, body, "application/json");
            let written = match tokio::time::timeout(budget, put).await {
                Ok(Ok(_)) => true,
                Ok(Err(e)) => {
                    tracing::warn!(error = %ApiError::from(e).message, "controller snapshot not written");
                    false
                }
                Err(_) => {
                    tracing::warn!("controller snapshot not written in time");
                    false
                }
            };
            if prune {
                match tokio::time::timeout(budget, prune_snapshots(&app, max_outage)).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!(deleted = n, "old controller snapshots deleted"),
                    Ok(Err(e)) => tracing::warn!(error = %format!("{e:#}"), "old controller snapshots not deleted"),
                    Err(_) => tracing::warn!("old controller snapshots not deleted in time"),
                }
            }
            written
        }));
    }

    /// A process with no memory of its own, in an outage: start from the
    /// snapshots the controllers left ([`snapshot::latest`]: every run from the
    /// newest one holding it), if recent enough. The outage is taken to have
    /// begun when the newest was taken (at most [`snapshot::REFRESH`] early).
    async fn restore_snapshot(&mut self, app: &AppState) {
        if self.memory.looked || !self.memory.runs.is_empty() {
            return;
        }
        self.memory.looked = true;
        let max_outage = self.options.outage.max_outage;
        let snaps = match tokio::time::timeout(self.options.db_budget, read_snapshots(app, max_outage)).await {
            Ok(Ok(snaps)) => snaps,
            Ok(Err(e)) => return tracing::warn!(error = %format!("{e:#}"), "controller snapshots not read"),
            Err(_) => return tracing::warn!("controller snapshots not read in time"),
        };
        let (read, now_ms) = (snaps.len(), chrono::Utc::now().timestamp_millis());
        let Some(snap) = snapshot::latest(snaps, now_ms, max_outage) else {
            return tracing::warn!(read, "no controller snapshot recent enough to use");
        };
        let age = Duration::from_millis(u64::try_from(now_ms - snap.taken_ms).unwrap_or(0));
        if let Some(began) = Instant::now().checked_sub(age) {
            self.memory.since = Some(self.memory.since.map_or(began, |s| s.min(began)));
        }
        self.memory.runs = snap.runs();
        tracing::warn!(
            runs = self.memory.runs.len(),
            snapshots = read,
            age_secs = age.as_secs(),
            "the database is unreachable and this controller is new: working from the controllers' snapshots"
        );
    }

    /// Call the job at each of `targets`, at most `fan_out` at a time; the
    /// answers in order.
    async fn each_job<'a, F: Future>(
        &self,
        runs: &'a [RunState],
        targets: &[(usize, usize)],
        call: impl Fn(&'a Job) -> F,
    ) -> Vec<F::Output> {
        bounded(self.options.fan_out, targets.iter().map(|&(r, j)| call(&runs[r].jobs[j])).collect()).await
    }

    /// Poll the job at each of `targets` since its cursor (renewing its
    /// lease): one call per agent for all of its jobs
    /// ([`crate::agent_client::AgentClient::poll_many`]), at most `fan_out`
    /// agents at a time; a job already in `polled` is not asked again. The
    /// answers in order.
    async fn poll_jobs(
        &self,
        app: &AppState,
        runs: &[RunState],
        targets: &[(usize, usize)],
        mut polled: Polled,
    ) -> Vec<Result<JobStatus, AgentError>> {
        let mut answers: Vec<Option<Result<JobStatus, AgentError>>> =
            targets.iter().map(|&(r, j)| polled.remove(&runs[r].jobs[j].key)).collect();
        // The jobs left to ask, by agent: their places in `answers`.
        let mut by_agent: HashMap<&Endpoint, Vec<usize>> = HashMap::new();
        for (i, &(r, j)) in targets.iter().enumerate() {
            if answers[i].is_none() {
                by_agent.entry(&runs[r].jobs[j].base_url).or_default().push(i);
            }
        }
        let calls: Vec<_> = by_agent
            .into_iter()
            .map(|(at, places)| {
                let asked: Vec<(&str, u64)> = places
                    .iter()
                    .map(|&i| &runs[targets[i].0].jobs[targets[i].1])
                    .map(|job| (job.key.as_str(), job.cursor))
                    .collect();
                async move { (places, app.agents.poll_many(at, &asked).await) }
            })
            .collect();
        for (places, got) in bounded(self.options.fan_out, calls).await {
            for (i, answer) in places.into_iter().zip(got) {
                answers[i] = Some(answer);
            }
        }
        answers.into_iter().map(|a| a.expect("every job answered")).collect()
    }

    /// One agent call.
    async fn call(&self, app: &AppState, runs: &[RunState], call: &Call) -> Answer {
        let start = |job: &Job, sr: Option<&ScriptRunState>, started_ms: i64, rps: f64, scale: f64| {
            let (job, sr) = (job.clone(), sr.cloned());
            async move {
                let sr = sr.ok_or_else(|| AgentError::Status(0, "script run vanished".into()))?;
                let data_url =
                    match &sr.data_key {
                        Some(key) => Some(app.storage.presign_get(key, PRESIGN_TTL).await.map_err(|e| {
                            AgentError::Status(0, format!("cannot presign the data file {key}: {e:#}"))
                        })?),
                        None => None,
                    };
                let mut spec = jobs::for_agent(&sr.spec, rps, scale, started_ms, data_url);
                spec.log_key = Some(app.agents.log_key(&job.key));
                // An extended script's files are presigned at each start, as the data file.
                crate::extended::job::presign(&app.storage, &mut spec, PRESIGN_TTL)
                    .await
                    .map_err(|e| AgentError::Status(0, format!("cannot presign the script's files: {e:#}")))?;
                match app.agents.start(&job.base_url, &job.key, &spec).await {
                    Ok(status) => Ok(Some(status)),
                    // Started before with another spec (a retried start after a
                    // change): the job exists, so bring its rate along instead.
                    Err(AgentError::Status(409, _)) => {
                        let change = RateChange { scale: Some(scale), target_rps: Some(rps) };
                        app.agents.rate(&job.base_url, &job.key, &change).await.map(|_| None)
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match call {
            Call::Start { run, job, rps, scale } => {
                let run = &runs[*run];
                let job = &run.jobs[*job];
                Answer::Started(start(job, sr_of(run, job.script_run_id), run.started_ms, *rps, *scale).await)
            }
            Call::Place { run, job, rps } => {
                let run = &runs[*run];
                let shadow = shadow_job(job);
                Answer::Started(start(&shadow, sr_of(run, job.script_run_id), run.started_ms, *rps, job.share).await)
            }
            Call::Rate { run, job, rps, scale } => {
                let job = &runs[*run].jobs[*job];
                let change = RateChange { scale: Some(*scale), target_rps: Some(*rps) };
                Answer::Rated(match app.agents.rate(&job.base_url, &job.key, &change).await {
                    // A finished job refuses changes: the next poll records it.
                    Ok(_) | Err(AgentError::Status(409, _)) => Ok(()),
                    Err(e) => Err(e),
                })
            }
            Call::Stop { run, job } => {
                let job = &runs[*run].jobs[*job];
                Answer::Stopped(app.agents.stop(&job.base_url, &job.key, job.cursor).await)
            }
        }
    }

    /// A pass from memory, while the database cannot be reached (`cause`) or
    /// a write is still going on (`None`): poll the remembered jobs (renewing
    /// their leases) and buffer what they say, or stop them on purpose once the
    /// outage is too long or the buffer full.
    async fn memory_pass(
        &mut self,
        app: &AppState,
        cause: Option<&ApiError>,
        mut out: TickOutcome,
        polled: Polled,
    ) -> TickOutcome {
        // The write in flight holds its seconds too.
        let writing = self.writing.as_ref().map_or(Buffered::default(), Writing::held);
        let buffered = Buffered {
            seconds: self.memory.buffer.buffered_seconds() + writing.seconds,
            bytes: self.memory.buffer.buffered_bytes() + writing.bytes,
        };
        let verdict = match cause {
            Some(cause) => {
                self.restore_snapshot(app).await;
                let since = *self.memory.since.get_or_insert_with(Instant::now);
                let verdict = outage::verdict(since.elapsed(), buffered, &self.options.outage);
                tracing::warn!(
                    error = %cause.message,
                    outage_secs = since.elapsed().as_secs(),
                    buffered = buffered.seconds,
                    buffered_mb = buffered.bytes >> 20,
                    stopping = matches!(verdict, Verdict::Stop(_)),
                    "the database is unreachable: the run-controller works from memory"
                );
                out.outage = Some(cause.message.clone());
                verdict
            }
            None => {
                let verdict = outage::behind(buffered, &self.options.outage);
                tracing::info!(
                    buffered = buffered.seconds,
                    buffered_mb = buffered.bytes >> 20,
                    "a write is still going on: the run-controller works from memory"
                );
                verdict
            }
        };
        let mut rec = PassRecord::default();
        let targets = live_jobs(&self.memory.runs, &self.memory.stopped);
        out.polled = targets.len();
        let runs = &self.memory.runs;
        match &verdict {
            Verdict::RideOut => {
                let answers = self.poll_jobs(app, runs, &targets, polled).await;
                for (&(r, j), answer) in targets.iter().zip(answers) {
                    let run_id = self.memory.runs[r].id;
                    let job = &mut self.memory.runs[r].jobs[j];
                    if let Ok(status) = answer {
                        hooks::observe(run_id, job, &status);
                        seen(&mut rec, job, &status, true);
                    }
                }
            }
            Verdict::Stop(why) => {
                let why = &match cause {
                    Some(cause) => format!("{why} (last error: {})", cause.message),
                    None => why.clone(),
                };
                let answers =
                    self.each_job(runs, &targets, |job| app.agents.stop(&job.base_url, &job.key, job.cursor)).await;
                out.actions = targets.len();
                for (&(r, j), answer) in targets.iter().zip(answers) {
                    let run_id = self.memory.runs[r].id;
                    let job = &mut self.memory.runs[r].jobs[j];
                    stopped(&mut rec, run_id, job, answer);
                    rec.job(job.id, JobUpdate { reason: Some(why.clone()), ..JobUpdate::default() });
                }
                for run in &self.memory.runs {
                    if self.memory.stopped.insert(run.id) {
                        rec.stopped.push((run.id, why.clone()));
                    }
                }
                tracing::error!(runs = self.memory.stopped.len(), reason = %why, "runs stopped on purpose");
            }
        }
        // Jobs placed by a pass whose record failed have no id yet: their facts
        // join their row, inserted with the buffer.
        for (id, update) in std::mem::take(&mut rec.jobs) {
            if id < 0 {
                if let Some(key) = self.memory.runs.iter().flat_map(|r| &r.jobs).find(|j| j.id == id).map(|j| &j.key)
                    && let Some(new) = self.memory.buffer.new_jobs.iter_mut().find(|n| &n.key == key)
                {
                    new.update.merge(update);
                    new.seconds.extend(rec.seconds.iter().filter(|(j, _)| *j == id).map(|(_, r)| r.clone()));
                }
            } else {
                rec.jobs.insert(id, update);
            }
        }
        rec.seconds.retain(|(id, _)| *id >= 0);
        self.memory.buffer.absorb(rec);
        out
    }
}

/// Most snapshots a controller lists: one per instance of the last
/// `max_outage` (older ones are deleted), so far more than ever exist.
const MAX_SNAPSHOTS: usize = 1000;

/// Whether a stored snapshot, by its listing, is older than `max_outage`.
fn too_old(object: &crate::storage::StoredObject, max_outage: Duration) -> bool {
    let age = object.last_modified.map(|t| chrono::Utc::now().signed_duration_since(t));
    age.and_then(|a| a.to_std().ok()).is_some_and(|a| a > max_outage)
}

/// Every controller's snapshot not older than `max_outage`, read at once;
/// an unreadable one is skipped.
async fn read_snapshots(app: &AppState, max_outage: Duration) -> anyhow::Result<Vec<Snapshot>> {
    let listed = app.storage.list_under(crate::storage::CONTROLLER_SNAPSHOTS, MAX_SNAPSHOTS).await?;
    let keys: Vec<&str> = listed.iter().filter(|o| !too_old(o, max_outage)).map(|o| o.key.as_str()).collect();
    let bodies = futures::future::join_all(keys.iter().map(|k| app.storage.get(k))).await;
    let mut snaps = Vec::new();
    for (key, body) in keys.iter().zip(bodies) {
        match body.map(|b| b.map(|b| serde_json::from_slice::<Snapshot>(&b))) {
            Ok(Some(Ok(snap))) => snaps.push(snap),
            Ok(None) => {}
            Ok(Some(Err(e))) => tracing::warn!(key, error = %e, "controller snapshot unreadable"),
            Err(e) => tracing::warn!(key, error = %format!("{e:#}"), "controller snapshot not read"),
        }
    }
    Ok(snaps)
}

/// Delete the snapshots older than `max_outage` (instances that ended); how many.
async fn prune_snapshots(app: &AppState, max_outage: Duration) -> anyhow::Result<usize> {
    let listed = app.storage.list_under(crate::storage::CONTROLLER_SNAPSHOTS, MAX_SNAPSHOTS).await?;
    let old: Vec<&str> = listed.iter().filter(|o| too_old(o, max_outage)).map(|o| o.key.as_str()).collect();
    for key in &old {
        app.storage.delete(key).await?;
    }
    Ok(old.len())
}

/// Where the live jobs are, as (run, job) indices: started and not ended, in
/// runs not in `skip`.
fn live_jobs(runs: &[RunState], skip: &BTreeSet<i64>) -> Vec<(usize, usize)> {
    runs.iter()
        .enumerate()
        .filter(|(_, run)| !skip.contains(&run.id))
        .flat_map(|(r, run)| {
            run.jobs
                .iter()
                .enumerate()
                .filter(|(_, j)| !j.phase.is_ended() && j.phase != JobPhase::Starting)
                .map(move |(j, _)| (r, j))
        })
        .collect()
}

/// A job placed this pass, before it has a row: a stand-in with a negative id.
fn shadow_job(job: &NewJob) -> Job {
    // Negative ids never collide with rows; the key identifies it until inserted.
    let id = -i64::from(u32::from_str_radix(&job.key.replace('-', "")[..8], 16).unwrap_or(1)).max(1);
    Job {
        id,
        script_run_id: job.script_run_id,
        agent_id: Some(job.agent_id),
        base_url: job.base_url.clone(),
        key: job.key.clone(),
        share: job.share,
        desired: JobDesired::Run,
        phase: JobPhase::Starting,
        sent: None,
        cursor: 0,
        poll_failures: 0,
        unseen_for: None,
    }
}

fn sr_of(run: &RunState, id: i64) -> Option<&ScriptRunState> {
    run.script_runs.iter().find(|s| s.id == id)
}

/// Whether a job should stop: it was told to, or its script run (or run) should.
fn stop_wanted(run: &RunState, job: &Job) -> bool {
    job.desired == JobDesired::Stop || sr_of(run, job.script_run_id).is_none_or(|s| s.stop_wanted)
}

/// The reconciler's view of a run's jobs, with this pass's polls.
fn views(run: &RunState, poll_of: impl Fn(usize) -> Option<Poll>) -> Vec<JobView> {
    run.jobs
        .iter()
        .enumerate()
        .map(|(i, j)| JobView {
            id: j.id,
            script_run_id: j.script_run_id,
            agent_id: j.agent_id,
            share: j.share,
            ended: j.phase.is_ended(),
            started: j.phase != JobPhase::Starting,
            stop_wanted: stop_wanted(run, j),
            sent: j.sent,
            // A job whose start failed LOST_AFTER times in a row moves like a lost one.
            poll: poll_of(i).unwrap_or(match (j.phase, j.poll_failures) {
                (JobPhase::Starting, n) if n >= LOST_AFTER => Poll::Unreachable,
                (JobPhase::Starting, _) => Poll::Skipped,
                _ => Poll::Seen,
            }),
            poll_failures: j.poll_failures,
        })
        .collect()
}

/// Fold what an agent said about a job into the job and the record. `accept`:
/// take its state (a job ended early keeps its phase until reconciled).
fn seen(rec: &mut PassRecord, job: &mut Job, status: &JobStatus, accept: bool) {
    job.poll_failures = 0;
    job.unseen_for = Some(0.0);
    job.cursor = job.cursor.max(status.cursor);
    let mut update = JobUpdate {
        cursor: Some(status.cursor),
        seen: true,
        reason: Some(status.reason.clone().unwrap_or_default()),
        ..JobUpdate::default()
    };
    if accept {
        job.phase = status.state.into();
        update.phase = Some(job.phase);
    }
    rec.seconds.extend(status.buckets.iter().map(|b| (job.id, Row::of(b))));
    rec.job(job.id, update);
}

/// Fold the answer to a start.
fn started(
    rec: &mut PassRecord,
    run_id: i64,
    job: &mut Job,
    result: Result<Option<JobStatus>, AgentError>,
    rps: f64,
    scale: f64,
) {
    match result {
        Ok(status) => {
            if let Some(status) = status {
                hooks::observe(run_id, job, &status);
                seen(rec, job, &status, true);
            } else if job.phase == JobPhase::Starting {
                // Known to its agent (409): it runs.
                job.phase = JobPhase::Running;
                rec.job(job.id, JobUpdate { phase: Some(JobPhase::Running), ..JobUpdate::default() });
            }
            job.sent = Some((rps, scale));
            rec.job(job.id, JobUpdate { sent: Some((rps, scale)), ..JobUpdate::default() });
        }
        Err(e) => {
            // A certificate that is not the pinned one is a security event, not a
            // hiccup: the run's change log says so at the first refusal.
            if matches!(e, AgentError::Untrusted(_)) && job.poll_failures == 0 {
                rec.changes.push(RunChange {
                    run_id,
                    script_run_id: Some(job.script_run_id),
                    what: format!("job {} on {} not started: {e}", job.key, job.base_url),
                });
            }
            job.poll_failures += 1;
            rec.job(job.id, JobUpdate { reason: Some(e.to_string()), failed: true, ..JobUpdate::default() });
        }
    }
}

/// Fold the answer to a stop.
fn stopped(rec: &mut PassRecord, run_id: i64, job: &mut Job, result: Result<JobStatus, AgentError>) {
    match result {
        Ok(status) => {
            hooks::observe(run_id, job, &status);
            seen(rec, job, &status, true);
            if !job.phase.is_ended() {
                job.phase = JobPhase::Finished;
            }
            job.desired = JobDesired::Stop;
            rec.job(
                job.id,
                JobUpdate { phase: Some(job.phase), desired: Some(JobDesired::Stop), ..JobUpdate::default() },
            );
        }
        Err(AgentError::NotFound) => {
            job.phase = JobPhase::Finished;
            job.desired = JobDesired::Stop;
            rec.job(
                job.id,
                JobUpdate {
                    phase: Some(JobPhase::Finished),
                    desired: Some(JobDesired::Stop),
                    reason: Some("unknown to its agent when stopped".into()),
                    ..JobUpdate::default()
                },
            );
        }
        Err(e) => {
            // Retried next pass; once the agent's lease has run out since it was
            // last seen, the job has stopped by itself.
            if job.unseen_for.is_none_or(|s| s > LEASE_SECS) {
                job.phase = JobPhase::Lost;
            }
            rec.job(job.id, JobUpdate { phase: Some(job.phase), reason: Some(e.to_string()), ..JobUpdate::default() });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(phase: JobPhase) -> Job {
        Job {
            id: 1,
            script_run_id: 10,
            agent_id: Some(1),
            base_url: "http://a:8888".into(),
            key: "k".into(),
            share: 1.0,
            desired: JobDesired::Run,
            phase,
            sent: None,
            cursor: 0,
            poll_failures: LOST_AFTER,
            unseen_for: Some(3.0),
        }
    }

    #[test]
    fn a_job_ended_by_lease_expiry_is_not_blamed_on_its_agent() {
        let why = lost_reason(&job(JobPhase::Running), Poll::Expired, Some("lease expired: no read for 60s"));
        assert!(why.starts_with("lease expired") && why.contains("agent was healthy"), "{why}");
        assert!(!why.contains("stopped answering"), "{why}");
    }

    #[test]
    fn each_way_of_losing_a_job_has_its_own_reason() {
        let running = job(JobPhase::Running);
        assert!(lost_reason(&running, Poll::Unreachable, None).starts_with("agent stopped answering"));
        assert_eq!(
            lost_reason(&running, Poll::Abandoned, Some("agent shutting down")),
            "its agent ended it: agent shutting down"
        );
        assert_eq!(lost_reason(&job(JobPhase::Starting), Poll::Unreachable, None), "never started");
    }

    #[test]
    fn a_stop_that_cannot_reach_the_agent_ends_the_job_only_after_its_lease() {
        let mut rec = PassRecord::default();
        let mut recent = job(JobPhase::Stopping);
        stopped(&mut rec, 1, &mut recent, Err(AgentError::Unreachable("refused".into())));
        assert_eq!(recent.phase, JobPhase::Stopping);
        let mut old = Job { unseen_for: Some(LEASE_SECS + 1.0), ..job(JobPhase::Stopping) };
        stopped(&mut rec, 1, &mut old, Err(AgentError::Unreachable("refused".into())));
        assert_eq!(old.phase, JobPhase::Lost);
    }
}
