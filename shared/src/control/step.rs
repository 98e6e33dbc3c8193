//! The I/O step of run control: lock a run, poll its jobs, store their seconds,
//! reconcile, push the actions to the agents, roll the statuses up.

use super::plan::Candidate;
use super::reconcile::{Action, JobView, Poll, ScriptRunView, reconcile};
use crate::agent_client::{AgentError, base_url};
use crate::http::ApiResult;
use crate::model::load::LoadDuration;
use crate::model::request::HttpMethod;
use crate::state::AppState;
use crate::wire::scripts::SimpleScript;
use alilo_agent_api::{DataFile, DataFormat, JobSpec, JobState, JobStatus, Profile, RateChange, RequestTemplate};
use futures::future::join_all;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio_postgres::types::Json;

/// The agents' lease on a job: a job nobody polls or changes for this long stops
/// by itself, so a controller that dies (or an agent cut off from it) cannot leave
/// load running for longer.
pub const LEASE_SECS: f64 = 60.0;
/// Presigned data-file URLs live this long: agents fetch them once, at start.
const PRESIGN_TTL: Duration = Duration::from_secs(3600);
/// Statuses of a run the controller works on.
pub const ACTIVE: &str = "('STATUS_PREPARED', 'STATUS_RUNNING', 'STATUS_STOPPING')";

/// What one [`converge`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Converged {
    pub polled: usize,
    pub stored_seconds: u64,
    pub actions: usize,
    pub run_status: String,
}

/// What one [`tick`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickOutcome {
    /// Active runs this tick worked on (others were locked by another controller).
    pub runs: usize,
    pub polled: usize,
    pub stored_seconds: u64,
    /// Agent calls made to change something (start, rate, stop, moves).
    pub actions: usize,
}

/// The agent job of a simple script as it was when the run started: the request,
/// the data file's key in our bucket (presigned at each start) and the profile at
/// 100 %.
pub fn job_spec(s: &SimpleScript, bucket: &str) -> Result<(JobSpec, Option<String>), String> {
    let method = HttpMethod::parse(&s.http_method)?;
    let url = if s.path.contains("://") {
        s.path.clone()
    } else {
        format!("{}://{}", if s.scheme.is_empty() { "http" } else { &s.scheme }, s.path)
    };
    let query: BTreeMap<String, String> = s.query_params.iter().map(|q| (q.key.clone(), q.value.clone())).collect();
    let body = (!s.static_ammo.is_empty()).then(|| s.static_ammo.clone());
    let (data, key) = match s.ammo_url.trim() {
        "" => (None, None),
        url if url.starts_with("s3://") => {
            let rest = &url["s3://".len()..];
            let (b, key) = rest.split_once('/').ok_or_else(|| format!("ammo_url {url:?} names no object"))?;
            if b != bucket {
                return Err(format!("ammo_url {url:?} is not in our bucket {bucket:?}"));
            }
            (None, Some(key.to_string()))
        }
        url if url.starts_with("http://") || url.starts_with("https://") => (
            Some(DataFile { url: url.to_string(), format: DataFormat::JsonArray, selection: Default::default() }),
            None,
        ),
        url => return Err(format!("ammo_url {url:?} is neither s3://{bucket}/… nor an http(s) URL")),
    };
    let duration = LoadDuration::parse(&s.duration)?.secs();
    let spec = JobSpec {
        request: RequestTemplate {
            method: method.http_name().to_string(),
            url,
            headers: s.headers.clone(),
            query,
            body,
        },
        script: None,
        data,
        checks: Default::default(),
        profile: Profile {
            rps: s.rps.parse::<f64>().map_err(|_| format!("rps {:?} is not a number", s.rps))?,
            steps: s.steps.parse().map_err(|_| format!("steps {:?} is not a number", s.steps))?,
            duration: format!("{duration}s"),
            ramp: Default::default(),
        },
        scale: 1.0,
        max_vus: s.max_v_us.parse().unwrap_or(alilo_agent_api::DEFAULT_MAX_VUS),
        start_at_ms: None,
        timeout: "10s".into(),
        tls_verify: true,
        http: Default::default(),
        lease: format!("{LEASE_SECS}s"),
        closed_loop_connections: None,
    };
    Ok((spec, key))
}

struct SrRow {
    id: i64,
    tag: String,
    spec: JobSpec,
    data_key: Option<String>,
    desired_rps: f64,
    stop_wanted: bool,
}

#[derive(Clone)]
struct JobRow {
    id: i64,
    script_run_id: i64,
    agent_id: Option<i64>,
    base: String,
    key: String,
    share: f64,
    desired_stop: bool,
    state: String,
    sent: Option<(f64, f64)>,
    cursor: i64,
    poll_failures: i32,
    /// Seconds since the agent last answered for this job.
    unseen_for: Option<f64>,
}

fn is_ended(state: &str) -> bool {
    matches!(state, "finished" | "failed" | "lost")
}

fn state_name(s: JobState) -> &'static str {
    match s {
        JobState::Pending => "pending",
        JobState::Running => "running",
        JobState::Stopping => "stopping",
        JobState::Finished => "finished",
        JobState::Failed => "failed",
    }
}

/// Store jobs' new seconds (each once: the primary key drops a second read
/// twice) and what the agents said about the jobs, in two statements.
#[allow(clippy::cast_possible_wrap, clippy::cast_precision_loss)]
async fn record(tx: &impl deadpool_postgres::GenericClient, seen: &[(i64, &JobStatus)]) -> ApiResult<u64> {
    if seen.is_empty() {
        return Ok(0);
    }
    let mut cols: (Vec<i64>, Vec<i64>, Vec<f64>, Vec<f64>) = Default::default();
    let mut counts: [Vec<i64>; 6] = Default::default();
    let mut texts: [Vec<String>; 4] = Default::default();
    for (job, status) in seen {
        for b in &status.buckets {
            cols.0.push(*job);
            cols.1.push(b.second as i64);
            cols.2.push(b.ts_ms as f64);
            cols.3.push(b.target_rps);
            for (i, v) in [b.sent, b.ok, b.failed, b.dropped, b.bytes_sent, b.bytes_received].into_iter().enumerate() {
                counts[i].push(v as i64);
            }
            texts[0].push(serde_json::to_string(&b.status).unwrap_or_else(|_| "{}".into()));
            texts[1].push(serde_json::to_string(&b.errors).unwrap_or_else(|_| "{}".into()));
            texts[2].push(b.latency.clone());
            texts[3].push(b.service.clone());
        }
    }
    let stored = if cols.0.is_empty() {
        0
    } else {
        tx.execute(
            "INSERT INTO metric_seconds (job_id, second, ts, target_rps, sent, ok, failed, dropped, bytes_sent,
                 bytes_received, status, errors, latency, service)
             SELECT job_id, second, to_timestamp(ts_ms / 1000), target_rps, sent, ok, failed, dropped, bytes_sent,
                    bytes_received, status::jsonb, errors::jsonb, latency, service
             FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::float8[], $5::bigint[], $6::bigint[],
                         $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::text[],
                         $13::text[], $14::text[])
                  AS u(job_id, second, ts_ms, target_rps, sent, ok, failed, dropped, bytes_sent, bytes_received,
                       status, errors, latency, service)
             ON CONFLICT (job_id, second) DO NOTHING",
            &[
                &cols.0, &cols.1, &cols.2, &cols.3, &counts[0], &counts[1], &counts[2], &counts[3], &counts[4],
                &counts[5], &texts[0], &texts[1], &texts[2], &texts[3],
            ],
        )
        .await?
    };
    let ids: Vec<i64> = seen.iter().map(|(id, _)| *id).collect();
    let states: Vec<&str> = seen.iter().map(|(_, s)| state_name(s.state)).collect();
    let cursors: Vec<i64> = seen.iter().map(|(_, s)| s.cursor as i64).collect();
    let reasons: Vec<String> = seen.iter().map(|(_, s)| s.reason.clone().unwrap_or_default()).collect();
    tx.execute(
        "UPDATE jobs j SET state = u.state, cursor = GREATEST(j.cursor, u.cursor), poll_failures = 0,
             last_seen = now(), reason = u.reason, updated_at = now()
         FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[]) AS u(id, state, cursor, reason)
         WHERE j.id = u.id",
        &[&ids, &states, &cursors, &reasons],
    )
    .await?;
    Ok(stored)
}

/// Bring one run towards its desired state. `poll` reads every job first (the
/// controller); without it only the changes are pushed (the run service after a
/// change). `skip_locked`: give up on a run another controller holds.
pub async fn converge(app: &AppState, run_id: i64, poll: bool, skip_locked: bool) -> ApiResult<Option<Converged>> {
    let mut conn = app.db.conn().await?;
    let tx = conn.transaction().await?;
    let lock = if skip_locked { "FOR UPDATE SKIP LOCKED" } else { "FOR UPDATE" };
    let Some(run) = tx
        .query_opt(
            &format!(
                "SELECT status, (extract(epoch FROM started_at) * 1000)::bigint FROM runs
                 WHERE id = $1 AND status IN {ACTIVE} {lock}"
            ),
            &[&run_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let run_status: String = run.get(0);
    let started_ms: i64 = run.get(1);
    let run_stopping = run_status == "STATUS_STOPPING";

    let srs: Vec<SrRow> = tx
        .query(
            "SELECT id, tag, spec, data_key, target_rps, percentage, extra_rps, desired FROM script_runs
             WHERE run_id = $1 ORDER BY id",
            &[&run_id],
        )
        .await?
        .iter()
        .map(|r| {
            let Json(spec): Json<JobSpec> = r.get(2);
            #[allow(clippy::cast_precision_loss)]
            let desired_rps =
                r.get::<_, i64>(4) as f64 * f64::from(r.get::<_, i32>(5)) / 100.0 + r.get::<_, i64>(6) as f64;
            SrRow {
                id: r.get(0),
                tag: r.get(1),
                spec,
                data_key: r.get(3),
                desired_rps,
                stop_wanted: run_stopping || r.get::<_, String>(7) == "stopped" || desired_rps <= 0.0,
            }
        })
        .collect();
    let by_sr: BTreeMap<i64, &SrRow> = srs.iter().map(|s| (s.id, s)).collect();
    let mut jobs: Vec<JobRow> = tx
        .query(
            "SELECT j.id, j.script_run_id, j.agent_id, j.base_url, j.job_key, j.share, j.desired, j.state, j.sent_rps,
                    j.sent_scale, j.cursor, j.poll_failures, extract(epoch FROM now() - j.last_seen)::float8
             FROM jobs j JOIN script_runs s ON s.id = j.script_run_id WHERE s.run_id = $1 ORDER BY j.id",
            &[&run_id],
        )
        .await?
        .iter()
        .map(|r| JobRow {
            id: r.get(0),
            script_run_id: r.get(1),
            agent_id: r.get(2),
            base: r.get(3),
            key: r.get(4),
            share: r.get(5),
            desired_stop: r.get::<_, String>(6) == "stop",
            state: r.get(7),
            sent: r.get::<_, Option<f64>>(8).zip(r.get::<_, Option<f64>>(9)),
            cursor: r.get(10),
            poll_failures: r.get(11),
            unseen_for: r.get(12),
        })
        .collect();

    let mut out = Converged::default();
    let mut polls: BTreeMap<i64, Poll> = BTreeMap::new();
    if poll {
        let targets: Vec<&JobRow> = jobs.iter().filter(|j| !is_ended(&j.state) && j.state != "starting").collect();
        #[allow(clippy::cast_sign_loss)]
        let answers = join_all(targets.iter().map(|j| app.agents.poll(&j.base, &j.key, j.cursor.max(0) as u64))).await;
        out.polled = targets.len();
        let ids: Vec<i64> = targets.iter().map(|j| j.id).collect();
        let mut seen: Vec<(i64, JobStatus)> = Vec::new();
        for (id, answer) in ids.into_iter().zip(answers) {
            let job = jobs.iter_mut().find(|j| j.id == id).expect("polled job exists");
            match answer {
                Ok(status) => {
                    job.state = state_name(status.state).into();
                    job.poll_failures = 0;
                    job.unseen_for = Some(0.0);
                    let stop_wanted = job.desired_stop || by_sr.get(&job.script_run_id).is_none_or(|s| s.stop_wanted);
                    let cut_short = status.state.is_terminal()
                        && status
                            .reason
                            .as_deref()
                            .is_some_and(|r| r.starts_with("agent shutting down") || r.starts_with("lease expired"));
                    if cut_short && !stop_wanted {
                        // Ended by the agent, not by its profile nor by us: the share moves.
                        job.state = "running".into();
                        polls.insert(id, Poll::Abandoned);
                    } else {
                        polls.insert(id, Poll::Seen);
                    }
                    seen.push((id, status));
                }
                Err(AgentError::NotFound) => {
                    polls.insert(id, Poll::Forgotten);
                }
                Err(e) => {
                    job.poll_failures += 1;
                    tx.execute(
                        "UPDATE jobs SET poll_failures = poll_failures + 1, reason = $2 WHERE id = $1",
                        &[&id, &e.to_string()],
                    )
                    .await?;
                    polls.insert(id, Poll::Unreachable);
                }
            }
        }
        let seen: Vec<(i64, &JobStatus)> = seen.iter().map(|(id, s)| (*id, s)).collect();
        out.stored_seconds += record(&tx, &seen).await?;
    }

    let views: Vec<JobView> = jobs
        .iter()
        .map(|j| JobView {
            id: j.id,
            script_run_id: j.script_run_id,
            agent_id: j.agent_id,
            share: j.share,
            ended: is_ended(&j.state),
            started: j.state != "starting",
            stop_wanted: j.desired_stop || by_sr.get(&j.script_run_id).is_none_or(|s| s.stop_wanted),
            sent: j.sent,
            // A job whose start failed LOST_AFTER times in a row moves like a lost one.
            poll: polls.get(&j.id).copied().unwrap_or(match (j.state.as_str(), j.poll_failures) {
                ("starting", n) if n >= super::reconcile::LOST_AFTER => Poll::Unreachable,
                ("starting", _) => Poll::Skipped,
                _ => Poll::Seen,
            }),
            poll_failures: j.poll_failures,
        })
        .collect();
    let sr_views: Vec<ScriptRunView> =
        srs.iter().map(|s| ScriptRunView { id: s.id, tag: s.tag.clone(), desired_rps: s.desired_rps }).collect();

    // Healthy agents are only needed when a share must move: probe them then.
    let losing = views.iter().any(|v| !v.ended && super::reconcile::is_lost(v));
    let mut healthy: Vec<Candidate> = Vec::new();
    let mut agent_urls: BTreeMap<i64, String> = BTreeMap::new();
    if losing {
        let unreachable: BTreeSet<i64> = views
            .iter()
            .filter(|v| matches!(v.poll, Poll::Unreachable | Poll::Abandoned))
            .filter_map(|v| v.agent_id)
            .collect();
        let rows = tx.query("SELECT id, host_name, port, tags FROM agents WHERE enabled ORDER BY id", &[]).await?;
        let candidates: Vec<(i64, String, Vec<String>)> = rows
            .iter()
            .filter(|r| !unreachable.contains(&r.get::<_, i64>(0)))
            .map(|r| (r.get(0), base_url(r.get(1), &r.get::<_, i32>(2).to_string()), r.get(3)))
            .collect();
        let alive = join_all(candidates.iter().map(|(_, url, _)| app.agents.info(url))).await;
        for ((id, url, tags), ok) in candidates.into_iter().zip(alive) {
            if ok.is_ok() {
                let load = jobs
                    .iter()
                    .filter(|j| j.agent_id == Some(id) && !is_ended(&j.state))
                    .map(|j| by_sr.get(&j.script_run_id).map_or(0.0, |s| s.desired_rps) * j.share)
                    .sum();
                healthy.push(Candidate { agent_id: id, tags, load_rps: load });
                agent_urls.insert(id, url);
            }
        }
    }

    let actions = reconcile(&views, &sr_views, &healthy);
    out.actions = actions.iter().filter(|a| !matches!(a, Action::Lost { .. } | Action::Grow { .. })).count();

    // Database-only actions first; new jobs become rows before they start.
    let mut calls: Vec<(i64, Action)> = Vec::new();
    for action in actions {
        match action {
            Action::Lost { job } => {
                let j = jobs.iter_mut().find(|j| j.id == job).expect("lost job exists");
                j.state = "lost".into();
                tx.execute(
                    "UPDATE jobs SET state = 'lost', reason = CASE WHEN state = 'starting' THEN 'never started'
                         ELSE 'agent stopped answering' END, updated_at = now() WHERE id = $1",
                    &[&job],
                )
                .await?;
                tx.execute(
                    "INSERT INTO run_changes (run_id, script_run_id, who, what) VALUES ($1, $2, 'run-controller', $3)",
                    &[
                        &run_id,
                        &j.script_run_id,
                        &format!("job {} on {} lost; its share {:.3} moves", j.key, j.base, j.share),
                    ],
                )
                .await?;
            }
            Action::Grow { job, share } => {
                let j = jobs.iter_mut().find(|j| j.id == job).expect("grown job exists");
                j.share = (j.share + share).min(1.0);
                tx.execute("UPDATE jobs SET share = $2, updated_at = now() WHERE id = $1", &[&job, &j.share]).await?;
            }
            Action::Place { script_run_id, agent_id, share, rps } => {
                let base = agent_urls.get(&agent_id).cloned().unwrap_or_default();
                let key = uuid::Uuid::new_v4().to_string();
                let row = tx
                    .query_one(
                        "INSERT INTO jobs (script_run_id, agent_id, base_url, job_key, share) VALUES ($1, $2, $3, $4, $5)
                         RETURNING id",
                        &[&script_run_id, &agent_id, &base, &key, &share],
                    )
                    .await?;
                let id: i64 = row.get(0);
                jobs.push(JobRow {
                    id,
                    script_run_id,
                    agent_id: Some(agent_id),
                    base,
                    key,
                    share,
                    desired_stop: false,
                    state: "starting".into(),
                    sent: None,
                    cursor: 0,
                    poll_failures: 0,
                    unseen_for: None,
                });
                calls.push((id, Action::Start { job: id, rps, scale: share }));
            }
            other @ (Action::Start { job, .. } | Action::Rate { job, .. } | Action::Stop { job }) => {
                calls.push((job, other));
            }
        }
    }

    let snapshot = jobs.clone();
    let results = join_all(calls.iter().map(|(id, action)| {
        let job = snapshot.iter().find(|j| j.id == *id).expect("called job exists").clone();
        let sr = by_sr.get(&job.script_run_id).copied();
        let action = action.clone();
        async move { (job.id, call(app, &job, sr, started_ms, &action).await) }
    }))
    .await;
    for (id, result) in results {
        let job = jobs.iter_mut().find(|j| j.id == id).expect("called job exists");
        match result {
            Ok(Outcome::Sent { rps, scale, status }) => {
                if let Some(status) = status {
                    out.stored_seconds += record(&tx, &[(id, &status)]).await?;
                    job.state = state_name(status.state).into();
                }
                tx.execute(
                    "UPDATE jobs SET sent_rps = $2, sent_scale = $3, updated_at = now() WHERE id = $1",
                    &[&id, &rps, &scale],
                )
                .await?;
            }
            Ok(Outcome::Stopped(status)) => {
                out.stored_seconds += record(&tx, &[(id, &status)]).await?;
                job.state = state_name(status.state).into();
                if !is_ended(&job.state) {
                    job.state = "finished".into();
                }
                tx.execute("UPDATE jobs SET state = $2, desired = 'stop' WHERE id = $1", &[&id, &job.state]).await?;
            }
            Ok(Outcome::Gone) => {
                job.state = "finished".into();
                tx.execute(
                    "UPDATE jobs SET state = 'finished', desired = 'stop', reason = 'unknown to its agent when stopped',
                         updated_at = now() WHERE id = $1",
                    &[&id],
                )
                .await?;
            }
            Err(e) => {
                // A stop that cannot reach the agent is retried next pass; once the
                // agent's lease has run out since it was last seen, the job has
                // stopped by itself.
                let stopping = matches!(calls.iter().find(|(j, _)| *j == id), Some((_, Action::Stop { .. })));
                if stopping && job.unseen_for.is_none_or(|s| s > LEASE_SECS) {
                    job.state = "lost".into();
                }
                let starting = matches!(calls.iter().find(|(j, _)| *j == id), Some((_, Action::Start { .. })));
                tx.execute(
                    "UPDATE jobs SET reason = $2, state = $3, updated_at = now(),
                         poll_failures = poll_failures + CASE WHEN $4 THEN 1 ELSE 0 END WHERE id = $1",
                    &[&id, &e.to_string(), &job.state, &starting],
                )
                .await?;
            }
        }
    }

    // Roll up: script runs, then the run.
    let mut all_ended = true;
    let mut any_running = false;
    for sr in &srs {
        let mine: Vec<&JobRow> = jobs.iter().filter(|j| j.script_run_id == sr.id).collect();
        // A lost job may still send until its lease runs out: it ends then.
        let ended = |j: &&JobRow| {
            matches!(j.state.as_str(), "finished" | "failed")
                || (j.state == "lost" && j.unseen_for.is_none_or(|s| s > LEASE_SECS))
                || (j.state == "lost" && !sr.stop_wanted)
        };
        let live = mine.iter().any(|j| !ended(j));
        let status = if live {
            all_ended = false;
            if sr.stop_wanted {
                "STATUS_STOPPING"
            } else {
                any_running |= mine.iter().any(|j| matches!(j.state.as_str(), "running" | "pending"));
                "STATUS_RUNNING"
            }
        } else if !mine.is_empty() && mine.iter().all(|j| j.state == "failed") {
            "STATUS_FAILED"
        } else {
            "STATUS_STOPPED_UNSPECIFIED"
        };
        tx.execute(
            "UPDATE script_runs SET status = $2, updated_at = now() WHERE id = $1 AND status <> $2",
            &[&sr.id, &status],
        )
        .await?;
    }
    let new_status = if all_ended {
        "STATUS_STOPPED_UNSPECIFIED"
    } else if run_status == "STATUS_PREPARED" && any_running {
        "STATUS_RUNNING"
    } else {
        run_status.as_str()
    };
    if new_status != run_status {
        tx.execute(
            "UPDATE runs SET status = $2, updated_at = now(),
                 ended_at = CASE WHEN $2 = 'STATUS_STOPPED_UNSPECIFIED' THEN now() ELSE ended_at END WHERE id = $1",
            &[&run_id, &new_status],
        )
        .await?;
    }
    out.run_status = new_status.to_string();
    tx.commit().await?;
    Ok(Some(out))
}

enum Outcome {
    /// The agent accepted this rate and scale (and maybe said how the job is).
    Sent { rps: f64, scale: f64, status: Option<JobStatus> },
    /// The job is stopped: its final status.
    Stopped(JobStatus),
    /// The agent does not know the job any more (nothing to stop).
    Gone,
}

/// One agent call of an action.
async fn call(
    app: &AppState,
    job: &JobRow,
    sr: Option<&SrRow>,
    started_ms: i64,
    action: &Action,
) -> Result<Outcome, AgentError> {
    match *action {
        Action::Start { rps, scale, .. } => {
            let sr = sr.ok_or_else(|| AgentError::Status(0, "script run vanished".into()))?;
            let mut spec = sr.spec.clone();
            spec.profile.rps = rps;
            spec.scale = scale;
            #[allow(clippy::cast_sign_loss, clippy::cast_precision_loss, clippy::cast_possible_truncation)]
            {
                spec.max_vus = ((spec.max_vus as f64 * job.share).ceil() as u64).max(1);
                spec.start_at_ms = Some(started_ms.max(0) as u64);
            }
            if let Some(key) = &sr.data_key {
                let url = app
                    .storage
                    .presign_get(key, PRESIGN_TTL)
                    .await
                    .map_err(|e| AgentError::Status(0, format!("cannot presign the data file {key}: {e:#}")))?;
                spec.data = Some(DataFile { url, format: DataFormat::JsonArray, selection: Default::default() });
            }
            match app.agents.start(&job.base, &job.key, &spec).await {
                Ok(status) => Ok(Outcome::Sent { rps, scale, status: Some(status) }),
                // Started before with another spec (a retried start after a change):
                // the job exists, so bring its rate along instead.
                Err(AgentError::Status(409, _)) => {
                    let change = RateChange { scale: Some(scale), target_rps: Some(rps) };
                    app.agents.rate(&job.base, &job.key, &change).await?;
                    Ok(Outcome::Sent { rps, scale, status: None })
                }
                Err(e) => Err(e),
            }
        }
        Action::Rate { rps, scale, .. } => {
            let change = RateChange { scale: Some(scale), target_rps: Some(rps) };
            match app.agents.rate(&job.base, &job.key, &change).await {
                Ok(_) => Ok(Outcome::Sent { rps, scale, status: None }),
                // A finished job refuses changes: the next poll records it.
                Err(AgentError::Status(409, _)) => Ok(Outcome::Sent { rps, scale, status: None }),
                Err(e) => Err(e),
            }
        }
        Action::Stop { .. } =>
        {
            #[allow(clippy::cast_sign_loss)]
            match app.agents.stop(&job.base, &job.key, job.cursor.max(0) as u64).await {
                Ok(status) => Ok(Outcome::Stopped(status)),
                Err(AgentError::NotFound) => Ok(Outcome::Gone),
                Err(e) => Err(e),
            }
        }
        _ => Err(AgentError::Status(0, "not an agent call".into())),
    }
}

/// One controller pass over every active run. Runs another controller holds are
/// skipped, so concurrent passes never act twice.
#[tracing::instrument(skip(app))]
pub async fn tick(app: &AppState) -> ApiResult<TickOutcome> {
    let ids: Vec<i64> = {
        let conn = app.db.conn().await?;
        conn.query(&format!("SELECT id FROM runs WHERE status IN {ACTIVE} ORDER BY id"), &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    let mut out = TickOutcome::default();
    for id in ids {
        match converge(app, id, true, true).await {
            Ok(Some(c)) => {
                out.runs += 1;
                out.polled += c.polled;
                out.stored_seconds += c.stored_seconds;
                out.actions += c.actions;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(run_id = id, error = %e, "run not reconciled this pass"),
        }
    }
    // Verdicts (#12): thresholds, aborts, final verdicts and reports.
    if let Err(e) = crate::service::verdicts::pass(app).await {
        tracing::warn!(error = %e, "verdicts not evaluated this pass");
    }
    Ok(out)
}
