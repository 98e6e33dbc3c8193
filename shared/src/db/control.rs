//! The run-controller's database steps: [`load`] claims the active runs and reads
//! their desired state and jobs; [`record`] writes what one pass (or a database
//! outage's buffer) learnt and did. No agent is called while any is open, and a
//! run's row, which user changes update too, is never locked for longer than
//! one statement (the claim, the roll-up).
//!
//! What a pass writes falls in two kinds:
//! - facts, always written: the agents' seconds (stored once: the primary key
//!   drops a second read twice), what the agents said about each job, what they
//!   were told, jobs placed or found lost. The claim makes this pass the only one
//!   acting on the run's jobs, so these never race another controller.
//! - the roll-up of statuses (the run's, its script runs'), written only when the
//!   run's `version` is still the one loaded: a user change made during the pass
//!   wins, and the next pass rolls up from the new state. It is written after the
//!   facts, in one statement of its own ([`settle`]) that also releases the claims.

use super::seconds::Row;
use crate::agent_client::Endpoint;
use crate::http::ApiResult;
use crate::model::run::{
    Job, JobDesired, JobPhase, RunState, RunStatus, ScriptRunDesired, ScriptRunState, ScriptRunStatus, desired_rps,
};
use alilo_agent_api::JobSpec;
use deadpool_postgres::GenericClient;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_postgres::types::Json;

/// Claim every active run not claimed by another controller (for `claim`), and
/// read each one's desired state and jobs.
///
/// The claim is one statement of its own: a run's row is locked only while it
/// runs, never across the reads that follow, so a user's change of the run (which
/// updates the same row) does not wait on the controller. What is read after the
/// claim may already hold a change made since, with the version claimed: the pass
/// then acts on the newer desired state and its roll-up loses to the change
/// ([`settle`]), which is safe. Only the claimant changes a claimed run's jobs.
pub async fn load(
    client: &mut deadpool_postgres::Object,
    controller: &str,
    claim: Duration,
) -> ApiResult<Vec<RunState>> {
    let active: Vec<&str> = RunStatus::ACTIVE.iter().map(|s| s.as_str()).collect();
    let rows = client
        .query(
            "UPDATE runs SET claimed_by = $1, claimed_until = now() + make_interval(secs => $2)
             WHERE status = ANY($3) AND (claimed_until IS NULL OR claimed_until < now() OR claimed_by = $1)
             RETURNING id, status, version, (extract(epoch FROM started_at) * 1000)::bigint",
            &[&controller, &claim.as_secs_f64(), &active],
        )
        .await?;
    let mut runs: BTreeMap<i64, RunState> = rows
        .iter()
        .map(|r| {
            let id: i64 = r.get(0);
            (
                id,
                RunState {
                    id,
                    status: r.get(1),
                    version: r.get(2),
                    started_ms: r.get(3),
                    script_runs: Vec::new(),
                    jobs: Vec::new(),
                },
            )
        })
        .collect();
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = runs.keys().copied().collect();
    // Both reads at once on the one connection (pipelined).
    let params: &[&(dyn tokio_postgres::types::ToSql + Sync)] = &[&ids];
    let (script_runs, jobs) = futures::try_join!(
        client.query(
            "SELECT id, run_id, tag, spec, data_key, target_rps, percentage, extra_rps, desired, status
             FROM script_runs WHERE run_id = ANY($1) ORDER BY run_id, id",
            params,
        ),
        client.query(
            "SELECT s.run_id, j.id, j.script_run_id, j.agent_id, j.base_url, j.job_key, j.share, j.desired, j.state,
                    j.sent_rps, j.sent_scale, j.cursor, j.poll_failures,
                    extract(epoch FROM now() - j.last_seen)::float8, j.tls_pin
             FROM jobs j JOIN script_runs s ON s.id = j.script_run_id WHERE s.run_id = ANY($1) ORDER BY j.id",
            params,
        ),
    )?;
    for r in script_runs {
        let run = runs.get_mut(&r.get::<_, i64>(1)).expect("a script run of a loaded run");
        let Json(spec): Json<JobSpec> = r.get(3);
        let desired: ScriptRunDesired = r.get(8);
        let rps = desired_rps(r.get(5), r.get(6), r.get(7), desired);
        run.script_runs.push(ScriptRunState {
            id: r.get(0),
            tag: r.get(2),
            spec,
            data_key: r.get(4),
            desired_rps: rps,
            stop_wanted: run.status == RunStatus::Stopping || desired == ScriptRunDesired::Stopped || rps <= 0.0,
            status: r.get(9),
        });
    }
    for r in jobs {
        let run = runs.get_mut(&r.get::<_, i64>(0)).expect("a job of a loaded run");
        run.jobs.push(Job {
            id: r.get(1),
            script_run_id: r.get(2),
            agent_id: r.get(3),
            base_url: Endpoint::stored(r.get(4), r.get(14)),
            key: r.get(5),
            share: r.get(6),
            desired: r.get(7),
            phase: r.get(8),
            sent: r.get::<_, Option<f64>>(9).zip(r.get::<_, Option<f64>>(10)),
            cursor: u64::try_from(r.get::<_, i64>(11)).unwrap_or(0),
            poll_failures: r.get(12),
            unseen_for: r.get(13),
        });
    }
    Ok(runs.into_values().collect())
}

/// What to change on one job; `None` keeps the stored value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobUpdate {
    pub phase: Option<JobPhase>,
    pub reason: Option<String>,
    pub desired: Option<JobDesired>,
    /// The agent's cursor after what it answered (stored cursors only grow).
    pub cursor: Option<u64>,
    /// Its agent answered for it: failures reset, `last_seen` now.
    pub seen: bool,
    /// A poll or a start failed: one more failure in a row.
    pub failed: bool,
    /// What the agent was told: target rps and scale.
    pub sent: Option<(f64, f64)>,
    pub share: Option<f64>,
}

impl JobUpdate {
    /// Fold a later update into this one: later values win, cursors only grow.
    pub fn merge(&mut self, later: JobUpdate) {
        self.phase = later.phase.or(self.phase);
        self.reason = later.reason.or(self.reason.take());
        self.desired = later.desired.or(self.desired);
        self.cursor = match (self.cursor, later.cursor) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if later.seen {
            self.seen = true;
            self.failed = false;
        } else if later.failed {
            self.failed = true;
        }
        self.sent = later.sent.or(self.sent);
        self.share = later.share.or(self.share);
    }
}

/// A job started on an agent this pass (or tried: `phase` Starting), to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub script_run_id: i64,
    pub agent_id: i64,
    pub base_url: crate::agent_client::Endpoint,
    pub key: String,
    pub share: f64,
    pub update: JobUpdate,
    /// Seconds it already reported.
    pub seconds: Vec<Row>,
}

/// A line of a run's audit.
#[derive(Debug, Clone, PartialEq)]
pub struct RunChange {
    pub run_id: i64,
    pub script_run_id: Option<i64>,
    pub what: String,
}

/// The statuses one pass computed for a run, written only if its version is
/// still `version`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollup {
    pub run_id: i64,
    pub version: i64,
    pub was: RunStatus,
    pub status: RunStatus,
    pub script_runs: Vec<(i64, ScriptRunStatus)>,
}

/// Everything one pass writes (or an outage buffered), in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PassRecord {
    /// New seconds per job, as stored.
    pub seconds: Vec<(i64, Row)>,
    pub jobs: BTreeMap<i64, JobUpdate>,
    pub new_jobs: Vec<NewJob>,
    pub changes: Vec<RunChange>,
    pub rollups: Vec<Rollup>,
    /// Runs the controller stopped on purpose, with why.
    pub stopped: Vec<(i64, String)>,
    /// Runs whose claim this pass releases.
    pub release: Vec<i64>,
}

impl PassRecord {
    pub fn job(&mut self, id: i64, update: JobUpdate) {
        self.jobs.entry(id).or_default().merge(update);
    }

    /// Seconds held, to bound an outage's buffer.
    pub fn buffered_seconds(&self) -> usize {
        self.seconds.len() + self.new_jobs.iter().map(|j| j.seconds.len()).sum::<usize>()
    }

    /// Bytes the seconds held take in memory, to bound an outage's buffer (the
    /// rest of a record is small beside them).
    pub fn buffered_bytes(&self) -> usize {
        let rows = self.seconds.iter().map(|(_, r)| r).chain(self.new_jobs.iter().flat_map(|j| &j.seconds));
        rows.map(Row::bytes).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.seconds.is_empty()
            && self.jobs.is_empty()
            && self.new_jobs.is_empty()
            && self.changes.is_empty()
            && self.rollups.is_empty()
            && self.stopped.is_empty()
    }

    /// Append a later record's facts (an outage's buffer). Roll-ups are dropped:
    /// the pass after the outage recomputes them from what is stored then.
    pub fn absorb(&mut self, later: PassRecord) {
        self.seconds.extend(later.seconds);
        for (id, u) in later.jobs {
            self.job(id, u);
        }
        self.new_jobs.extend(later.new_jobs);
        self.changes.extend(later.changes);
        for s in later.stopped {
            if !self.stopped.iter().any(|(id, _)| *id == s.0) {
                self.stopped.push(s);
            }
        }
    }
}

/// What [`record`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recorded {
    pub stored_seconds: u64,
    /// The time of storing the seconds alone.
    pub seconds_took: Duration,
    /// The time of the whole write, commit included.
    pub took: Duration,
    /// Runs whose roll-up was dropped: a user change came first.
    pub lost_races: usize,
}

/// Write a pass: its facts ([`record_facts`]), then its roll-up and the release
/// of its claims ([`settle`]).
pub async fn record(client: &mut deadpool_postgres::Object, controller: &str, rec: &PassRecord) -> ApiResult<Recorded> {
    let started = std::time::Instant::now();
    let mut out = record_facts(client, rec).await?;
    out.lost_races = settle(&*client, controller, &rec.rollups, &rec.release).await?;
    out.took = started.elapsed();
    Ok(out)
}

/// Write a pass's facts in one transaction: jobs placed, seconds, what the
/// agents said and were told, the audit, runs stopped on purpose, and the
/// script runs' failure info. Nothing here touches the row of a run a user may be
/// changing, except a run stopped on purpose (only after a database outage).
pub async fn record_facts(client: &mut deadpool_postgres::Object, rec: &PassRecord) -> ApiResult<Recorded> {
    let tx = client.transaction().await?;
    let mut out = Recorded::default();
    // New jobs first: their seconds need their ids.
    let mut seconds: Vec<(i64, &Row)> = rec.seconds.iter().map(|(id, r)| (*id, r)).collect();
    let mut updates: Vec<(i64, &JobUpdate)> = rec.jobs.iter().map(|(id, u)| (*id, u)).collect();
    if !rec.new_jobs.is_empty() {
        let srs: Vec<i64> = rec.new_jobs.iter().map(|j| j.script_run_id).collect();
        let agents: Vec<i64> = rec.new_jobs.iter().map(|j| j.agent_id).collect();
        let urls: Vec<&str> = rec.new_jobs.iter().map(|j| j.base_url.url()).collect();
        let pins: Vec<Option<String>> = rec.new_jobs.iter().map(|j| j.base_url.pins_text()).collect();
        let keys: Vec<&str> = rec.new_jobs.iter().map(|j| j.key.as_str()).collect();
        let shares: Vec<f64> = rec.new_jobs.iter().map(|j| j.share).collect();
        let rows = tx
            .query(
                "INSERT INTO jobs (script_run_id, agent_id, base_url, job_key, share, tls_pin)
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::float8[], $6::text[])
                 ON CONFLICT (job_key) DO NOTHING RETURNING id, job_key",
                &[&srs, &agents, &urls, &keys, &shares, &pins],
            )
            .await?;
        let ids: BTreeMap<String, i64> = rows.iter().map(|r| (r.get(1), r.get(0))).collect();
        for j in &rec.new_jobs {
            if let Some(id) = ids.get(&j.key) {
                seconds.extend(j.seconds.iter().map(|r| (*id, r)));
                updates.push((*id, &j.update));
            }
        }
    }
    let t = std::time::Instant::now();
    out.stored_seconds = super::seconds::store(&tx, &seconds).await?;
    out.seconds_took = t.elapsed();
    update_jobs(&tx, &updates).await?;
    if !rec.stopped.is_empty() {
        let ids: Vec<i64> = rec.stopped.iter().map(|(id, _)| *id).collect();
        let why: Vec<&str> = rec.stopped.iter().map(|(_, w)| w.as_str()).collect();
        tx.execute(
            "UPDATE runs r SET status = $3, info = u.why, version = r.version + 1, updated_at = now()
             FROM unnest($1::bigint[], $2::text[]) AS u(id, why)
             WHERE r.id = u.id AND r.status = ANY($4)",
            &[&ids, &why, &RunStatus::Stopping, &vec![RunStatus::Prepared.as_str(), RunStatus::Running.as_str()]],
        )
        .await?;
    }
    let mut changes: Vec<(i64, Option<i64>, &str)> =
        rec.changes.iter().map(|c| (c.run_id, c.script_run_id, c.what.as_str())).collect();
    changes.extend(rec.stopped.iter().map(|(id, why)| (*id, None, why.as_str())));
    if !changes.is_empty() {
        let runs: Vec<i64> = changes.iter().map(|c| c.0).collect();
        let srs: Vec<Option<i64>> = changes.iter().map(|c| c.1).collect();
        let what: Vec<&str> = changes.iter().map(|c| c.2).collect();
        tx.execute(
            "INSERT INTO run_changes (run_id, script_run_id, who, what)
             SELECT run_id, sr, 'run-controller', what FROM unnest($1::bigint[], $2::bigint[], $3::text[])
                 AS u(run_id, sr, what)",
            &[&runs, &srs, &what],
        )
        .await?;
    }
    if !rec.rollups.is_empty() {
        // Failures in words a user can act on, where the UI shows them: from the
        // jobs' reasons, facts whatever the roll-up.
        let run_ids: Vec<i64> = rec.rollups.iter().map(|r| r.run_id).collect();
        crate::run_failure::store_info(&tx, &run_ids).await?;
    }
    tx.commit().await?;
    Ok(out)
}

/// Write the roll-ups of runs whose `version` is still the one loaded (a user
/// change made during the pass wins: the next pass rolls up from it) and release
/// the claims in `release`; how many roll-ups lost to a change.
///
/// One statement, on its own: each run's row is locked only while it runs, so
/// a user's change never waits on the controller for longer (the version
/// compare happens under that row lock, so two writers cannot both win).
pub async fn settle(
    conn: &impl GenericClient,
    controller: &str,
    rollups: &[Rollup],
    release: &[i64],
) -> ApiResult<usize> {
    // Per run: its roll-up (if any) and whether to release it.
    let mut runs: BTreeMap<i64, (Option<&Rollup>, bool)> = BTreeMap::new();
    for r in rollups {
        runs.entry(r.run_id).or_default().0 = Some(r);
    }
    for id in release {
        runs.entry(*id).or_default().1 = true;
    }
    if runs.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = runs.keys().copied().collect();
    let versions: Vec<Option<i64>> = runs.values().map(|(r, _)| r.map(|r| r.version)).collect();
    let statuses: Vec<Option<RunStatus>> = runs.values().map(|(r, _)| r.map(|r| r.status)).collect();
    let releases: Vec<bool> = runs.values().map(|(_, release)| *release).collect();
    let (mut sr_ids, mut sr_runs, mut sr_statuses) = (Vec::new(), Vec::new(), Vec::<ScriptRunStatus>::new());
    for r in rollups {
        for (id, status) in &r.script_runs {
            sr_ids.push(*id);
            sr_runs.push(r.run_id);
            sr_statuses.push(*status);
        }
    }
    let won: i64 = conn
        .query_one(
            "WITH u AS (
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bool[]) AS u(id, version, status, release)
             ), done AS (
                 UPDATE runs r SET
                     status = CASE WHEN r.version = u.version THEN u.status ELSE r.status END,
                     updated_at = CASE WHEN r.version = u.version AND r.status <> u.status THEN now() ELSE r.updated_at END,
                     ended_at = CASE WHEN r.version = u.version AND r.status <> u.status AND u.status = $6 THEN now()
                                     ELSE r.ended_at END,
                     claimed_by = CASE WHEN u.release AND r.claimed_by = $5 THEN NULL ELSE r.claimed_by END,
                     claimed_until = CASE WHEN u.release AND r.claimed_by = $5 THEN NULL ELSE r.claimed_until END
                 FROM u WHERE r.id = u.id
                 RETURNING r.id, COALESCE(r.version = u.version, false) AS won
             ), s AS (
                 UPDATE script_runs s SET status = v.status, updated_at = now()
                 FROM unnest($7::bigint[], $8::bigint[], $9::text[]) AS v(id, run_id, status)
                 JOIN done ON done.id = v.run_id AND done.won
                 WHERE s.id = v.id AND s.status <> v.status
             )
             SELECT count(*) FILTER (WHERE won) FROM done",
            &[&ids, &versions, &statuses, &releases, &controller, &RunStatus::Stopped, &sr_ids, &sr_runs, &sr_statuses],
        )
        .await?
        .get(0);
    Ok(rollups.len().saturating_sub(usize::try_from(won).unwrap_or(0)))
}

/// Apply job updates in one statement.
#[allow(clippy::cast_possible_wrap)]
async fn update_jobs(tx: &impl GenericClient, updates: &[(i64, &JobUpdate)]) -> ApiResult<()> {
    if updates.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = updates.iter().map(|(id, _)| *id).collect();
    let phases: Vec<Option<JobPhase>> = updates.iter().map(|(_, u)| u.phase).collect();
    let reasons: Vec<Option<&str>> = updates.iter().map(|(_, u)| u.reason.as_deref()).collect();
    let desired: Vec<Option<JobDesired>> = updates.iter().map(|(_, u)| u.desired).collect();
    let cursors: Vec<Option<i64>> = updates.iter().map(|(_, u)| u.cursor.map(|c| c as i64)).collect();
    let seen: Vec<bool> = updates.iter().map(|(_, u)| u.seen).collect();
    let failed: Vec<bool> = updates.iter().map(|(_, u)| u.failed).collect();
    let rps: Vec<Option<f64>> = updates.iter().map(|(_, u)| u.sent.map(|s| s.0)).collect();
    let scale: Vec<Option<f64>> = updates.iter().map(|(_, u)| u.sent.map(|s| s.1)).collect();
    let shares: Vec<Option<f64>> = updates.iter().map(|(_, u)| u.share).collect();
    tx.execute(
        "UPDATE jobs j SET state = COALESCE(u.state, j.state), reason = COALESCE(u.reason, j.reason),
             desired = COALESCE(u.desired, j.desired), cursor = GREATEST(j.cursor, COALESCE(u.cursor, 0)),
             poll_failures = CASE WHEN u.seen THEN 0 WHEN u.failed THEN j.poll_failures + 1 ELSE j.poll_failures END,
             last_seen = CASE WHEN u.seen THEN now() ELSE j.last_seen END,
             sent_rps = COALESCE(u.rps, j.sent_rps), sent_scale = COALESCE(u.scale, j.sent_scale),
             share = COALESCE(u.share, j.share), updated_at = now()
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bool[], $7::bool[],
                     $8::float8[], $9::float8[], $10::float8[])
              AS u(id, state, reason, desired, cursor, seen, failed, rps, scale, share)
         WHERE j.id = u.id",
        &[&ids, &phases, &reasons, &desired, &cursors, &seen, &failed, &rps, &scale, &shares],
    )
    .await?;
    Ok(())
}

/// Enabled agents, with the rows of the work they carry in active runs (share,
/// script run's target, percentage, extra rps, desired) for [`crate::control::agents`]
/// to turn into loads with the one formula.
pub async fn enabled_agents(
    conn: &impl GenericClient,
) -> ApiResult<(Vec<crate::model::run::AgentRow>, Vec<(i64, f64, f64)>)> {
    let agents = conn
        .query(
            "SELECT id, host_name, port, tags, registered, draining, extract(epoch FROM now() - heartbeat_at)::float8,
                    tls_pin, capacity_rps
             FROM agents WHERE enabled ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(|r| crate::model::run::AgentRow {
            id: r.get(0),
            base_url: Endpoint::of(r.get(1), &r.get::<_, i32>(2).to_string(), r.get(7)),
            tags: r.get(3),
            registered: r.get(4),
            draining: r.get(5),
            heartbeat_age: r.get(6),
            capacity_rps: r.get(8),
        })
        .collect();
    let active: Vec<&str> = RunStatus::ACTIVE.iter().map(|s| s.as_str()).collect();
    let ended: Vec<&str> = JobPhase::ALL.iter().filter(|p| p.is_ended()).map(|p| p.as_str()).collect();
    let work = conn
        .query(
            "SELECT j.agent_id, j.share, s.target_rps, s.percentage, s.extra_rps, s.desired
             FROM jobs j JOIN script_runs s ON s.id = j.script_run_id JOIN runs r ON r.id = s.run_id
             WHERE j.agent_id IS NOT NULL AND r.status = ANY($1) AND NOT (j.state = ANY($2))",
            &[&active, &ended],
        )
        .await?
        .iter()
        .map(|r| {
            let rps = desired_rps(r.get(2), r.get(3), r.get(4), r.get(5));
            (r.get::<_, i64>(0), r.get::<_, f64>(1), rps)
        })
        .collect();
    Ok((agents, work))
}
