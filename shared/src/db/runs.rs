//! Run queries: the run rows and their script runs as the v1 shapes, with the
//! live metrics of each script run computed from its stored seconds. Changes of
//! a run's desired state are in [`super::run_writes`].

use super::{Db, id32};
use crate::control::metrics::{Figures, Second, figures, ms};
use crate::counts::Counts;
use crate::http::ApiResult;
use crate::model::page::Page;
use crate::model::run::{RunKind, RunStatus, ScriptKind, ScriptRunDesired, ScriptRunStatus, desired_rps};
use crate::wire::agents::Agent;
use crate::wire::runs::{Metrics, Run, ScriptRun};
use crate::wire::scripts::{Script, SimpleScript};
use deadpool_postgres::GenericClient;
use std::collections::BTreeMap;
use tokio_postgres::Row;
use tokio_postgres::types::Json;

/// Seconds of the live window: the last complete seconds a script run reported.
pub const LIVE_WINDOW_SECS: i64 = 5;

/// Status and id of the scenario's latest run, if any.
pub async fn last_of_scenario(db: &Db, scenario_id: i64) -> ApiResult<Option<(RunStatus, i32)>> {
    let conn = db.conn().await?;
    let row = conn
        .query_opt("SELECT status, id FROM runs WHERE scenario_id = $1 ORDER BY id DESC LIMIT 1", &[&scenario_id])
        .await?;
    Ok(row.map(|r| (r.get(0), id32(r.get(1)))))
}

/// RFC 3339 with microseconds, UTC.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The core columns of a run, as read by [`run_rows`].
#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: i64,
    pub scenario_id: i64,
    pub project_id: i64,
    pub title: String,
    pub status: RunStatus,
    pub kind: RunKind,
    pub percentage: i32,
    pub info: String,
    pub user_name: String,
    pub preferred_user_name: String,
    pub report_link: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub ended_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub const RUN_COLUMNS: &str = "r.id, r.scenario_id, sc.project_id, r.title, r.status, r.kind, r.percentage_of_target,
    r.info, r.user_name, r.preferred_user_name, r.report_link, r.created_at, r.updated_at, r.started_at, r.ended_at
    FROM runs r JOIN scenarios sc ON sc.id = r.scenario_id";

pub fn run_row(r: &Row) -> RunRow {
    RunRow {
        id: r.get(0),
        scenario_id: r.get(1),
        project_id: r.get(2),
        title: r.get(3),
        status: r.get(4),
        kind: r.get(5),
        percentage: r.get(6),
        info: r.get(7),
        user_name: r.get(8),
        preferred_user_name: r.get(9),
        report_link: r.get(10),
        created_at: r.get(11),
        updated_at: r.get(12),
        started_at: r.get(13),
        ended_at: r.get(14),
    }
}

pub async fn run_row_by_id(conn: &impl GenericClient, id: i64) -> ApiResult<Option<RunRow>> {
    Ok(conn.query_opt(&format!("SELECT {RUN_COLUMNS} WHERE r.id = $1"), &[&id]).await?.as_ref().map(run_row))
}

/// A script run's stored columns.
#[derive(Debug, Clone)]
pub struct ScriptRunRow {
    pub id: i64,
    pub run_id: i64,
    pub kind: ScriptKind,
    pub script_id: i64,
    pub name: String,
    pub script: serde_json::Value,
    pub status: ScriptRunStatus,
    pub info: String,
    pub target_rps: i64,
    pub percentage: i32,
    pub extra_rps: i64,
    pub desired: ScriptRunDesired,
}

impl ScriptRunRow {
    /// The rate the script run should have now.
    pub fn desired_rps(&self) -> f64 {
        desired_rps(self.target_rps, self.percentage, self.extra_rps, self.desired)
    }
}

pub async fn script_run_rows(conn: &impl GenericClient, run_ids: &[i64]) -> ApiResult<Vec<ScriptRunRow>> {
    let rows = conn
        .query(
            "SELECT id, run_id, kind, script_id, name, script, status, info, target_rps, percentage, extra_rps, desired
             FROM script_runs WHERE run_id = ANY($1) ORDER BY run_id, id",
            &[&run_ids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ScriptRunRow {
            id: r.get(0),
            run_id: r.get(1),
            kind: r.get(2),
            script_id: r.get(3),
            name: r.get(4),
            script: r.get::<_, Json<serde_json::Value>>(5).0,
            status: r.get(6),
            info: r.get(7),
            target_rps: r.get(8),
            percentage: r.get(9),
            extra_rps: r.get(10),
            desired: r.get(11),
        })
        .collect())
}

/// Stored seconds of script runs, optionally from a Unix second on.
pub async fn seconds(
    conn: &impl GenericClient,
    script_run_ids: &[i64],
    from: Option<i64>,
    to: Option<i64>,
) -> ApiResult<Vec<(i64, Second)>> {
    let rows = conn
        .query(
            "SELECT j.script_run_id, extract(epoch FROM m.ts)::bigint, m.target_rps, m.sent, m.ok, m.failed, m.dropped,
                    m.bytes_sent, m.bytes_received, m.status, m.errors, m.latency
             FROM metric_seconds m JOIN jobs j ON j.id = m.job_id
             WHERE j.script_run_id = ANY($1)
               AND ($2::bigint IS NULL OR m.ts >= to_timestamp($2::bigint))
               AND ($3::bigint IS NULL OR m.ts < to_timestamp($3::bigint))
             ORDER BY m.ts",
            &[&script_run_ids, &from, &to],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), second(r))).collect())
}

fn second(r: &Row) -> Second {
    let Json(status): Json<BTreeMap<String, i64>> = r.get(9);
    let Json(errors): Json<BTreeMap<String, i64>> = r.get(10);
    Second { ts: r.get(1), target_rps: r.get(2), counts: counts(r, 3), status, errors, latency: r.get(11) }
}

/// The six counts in the columns from `first` on: sent, ok, failed, dropped,
/// bytes sent, bytes received.
fn counts(r: &Row, first: usize) -> Counts {
    Counts {
        sent: r.get(first),
        ok: r.get(first + 1),
        failed: r.get(first + 2),
        dropped: r.get(first + 3),
        bytes_sent: r.get(first + 4),
        bytes_received: r.get(first + 5),
    }
}

/// Per script run: the figures of its live window and of its whole life.
async fn live_figures(
    conn: &impl GenericClient,
    script_run_ids: &[i64],
) -> ApiResult<BTreeMap<i64, (Figures, Figures, i64)>> {
    // The last complete seconds: the newest second may still lack an agent's bucket.
    let rows = conn
        .query(
            "WITH latest AS (
                 SELECT j.script_run_id, max(m.ts) AS ts FROM metric_seconds m JOIN jobs j ON j.id = m.job_id
                 WHERE j.script_run_id = ANY($1) GROUP BY j.script_run_id)
             SELECT j.script_run_id, extract(epoch FROM m.ts)::bigint, m.target_rps, m.sent, m.ok, m.failed, m.dropped,
                    m.bytes_sent, m.bytes_received, m.status, m.errors, m.latency
             FROM metric_seconds m JOIN jobs j ON j.id = m.job_id JOIN latest l ON l.script_run_id = j.script_run_id
             WHERE m.ts > l.ts - make_interval(secs => $2) AND m.ts < l.ts",
            &[&script_run_ids, &((LIVE_WINDOW_SECS + 1) as f64)],
        )
        .await?;
    let mut window: BTreeMap<i64, Vec<Second>> = BTreeMap::new();
    for r in &rows {
        window.entry(r.get(0)).or_default().push(second(r));
    }
    let totals = conn
        .query(
            "SELECT j.script_run_id, sum(m.sent)::bigint, sum(m.ok)::bigint, sum(m.failed)::bigint,
                    sum(m.dropped)::bigint, sum(m.bytes_sent)::bigint, sum(m.bytes_received)::bigint,
                    (extract(epoch FROM max(m.ts)) - extract(epoch FROM min(m.ts)))::bigint + 1
             FROM metric_seconds m JOIN jobs j ON j.id = m.job_id WHERE j.script_run_id = ANY($1)
             GROUP BY j.script_run_id",
            &[&script_run_ids],
        )
        .await?;
    let mut out = BTreeMap::new();
    for r in &totals {
        let id: i64 = r.get(0);
        let total = Figures { counts: counts(r, 1), ..Figures::default() };
        let live = figures(window.get(&id).map(Vec::as_slice).unwrap_or_default(), None);
        out.insert(id, (live, total, r.get(7)));
    }
    Ok(out)
}

/// The jobs of a run: (script run, where its agent answers, job key).
pub async fn job_keys_of_run(
    conn: &impl GenericClient,
    run_id: i64,
) -> ApiResult<Vec<(i64, crate::agent_client::Endpoint, String)>> {
    let rows = conn
        .query(
            "SELECT j.script_run_id, j.base_url, j.job_key, j.tls_pin FROM jobs j
             JOIN script_runs s ON s.id = j.script_run_id WHERE s.run_id = $1 ORDER BY j.id",
            &[&run_id],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), crate::agent_client::Endpoint::stored(r.get(1), r.get(3)), r.get(2))).collect())
}

/// The agent of a script run: the agent of its first job still running, else
/// of its first job; and that job's key.
async fn agents_of(conn: &impl GenericClient, script_run_ids: &[i64]) -> ApiResult<BTreeMap<i64, (Agent, String)>> {
    let rows = conn
        .query(
            "SELECT DISTINCT ON (j.script_run_id) j.script_run_id, a.id, a.host_name, a.port, a.enabled, a.tags,
                    a.cpu_used, a.mem_used, a.ports_used, j.job_key
             FROM jobs j JOIN agents a ON a.id = j.agent_id WHERE j.script_run_id = ANY($1)
             ORDER BY j.script_run_id, (j.state = ANY($2)), j.id",
            &[&script_run_ids, &ended_phases()],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                (
                    Agent {
                        agent_id: id32(r.get(1)),
                        host_name: r.get(2),
                        port: r.get::<_, i32>(3).to_string(),
                        enabled: r.get(4),
                        tags: r.get(5),
                        cpu_used: r.get(6),
                        mem_used: r.get(7),
                        ports_used: r.get(8),
                        tls_pin: None,
                    },
                    r.get(9),
                ),
            )
        })
        .collect())
}

fn metrics(sr: &ScriptRunRow, figures: Option<&(Figures, Figures, i64)>) -> Metrics {
    let vus = match sr.kind {
        ScriptKind::Simple => sr.script.get("max_v_us").and_then(|v| v.as_str()).unwrap_or("0").to_string(),
        ScriptKind::Extended => "0".into(),
    };
    let Some((live, total, secs)) = figures else {
        return Metrics {
            rps: "0".into(),
            rt90p: "0".into(),
            rt95p: "0".into(),
            rt_max: "0".into(),
            rt99p: "0".into(),
            failed: "0".into(),
            vus,
            sent: "0".into(),
            received: "0".into(),
            checks: "0".into(),
            execution_status: "Created".into(),
            full_iteration_count: "0".into(),
            active_vus_count: "0".into(),
            failed_rate: "0".into(),
            dropped_iterations: "0".into(),
            ..Metrics::default()
        };
    };
    let ended = sr.status != ScriptRunStatus::Running;
    Metrics {
        rps: if ended { "0".into() } else { format!("{:.1}", live.achieved_rps) },
        rt90p: ms(live.p90),
        rt95p: ms(live.p95),
        rt_max: ms(live.max),
        rt99p: ms(live.p99),
        failed: total.counts.failed.to_string(),
        vus,
        sent: total.counts.bytes_sent.to_string(),
        received: total.counts.bytes_received.to_string(),
        variety_ts: 0,
        checks: total.counts.ok.to_string(),
        progress_bar: String::new(),
        current_test_run_duration: Some(format!("{secs}s")),
        execution_status: if ended { "Ended".into() } else { "Running".into() },
        full_iteration_count: (total.counts.ok + total.counts.failed).to_string(),
        active_vus_count: "0".into(),
        has_started: true,
        has_ended: ended,
        failed_rate: format!("{:.4}", live.error_rate),
        dropped_iterations: total.counts.dropped.to_string(),
    }
}

/// The v1 ScriptRun of a row. `strip`: `info` and `static_ammo` emptied (by-status lists).
/// `log_file_name` is the shown agent's job key here: the service turns it
/// into the log link's name (`AgentClient::log_key`), which needs the fleet key.
pub fn script_run(
    sr: &ScriptRunRow,
    agent: Option<(Agent, String)>,
    figures: Option<&(Figures, Figures, i64)>,
    strip: bool,
) -> ScriptRun {
    let (script, mut simple) = if sr.kind == ScriptKind::Simple {
        (None, serde_json::from_value::<SimpleScript>(sr.script.clone()).ok())
    } else {
        (serde_json::from_value::<Script>(sr.script.clone()).ok(), None)
    };
    if strip && let Some(s) = simple.as_mut() {
        s.static_ammo.clear();
    }
    let (agent, job_key) = agent.map_or((None, String::new()), |(a, k)| (Some(a), k));
    ScriptRun {
        run_id: id32(sr.run_id),
        run_script_id: id32(sr.id),
        script,
        status: sr.status.as_str().to_string(),
        agent,
        info: if strip { String::new() } else { sr.info.clone() },
        pid: "-1".into(),
        log_file_name: job_key,
        k6_api_port: String::new(),
        port_prometheus: String::new(),
        target: i32::try_from(sr.target_rps).unwrap_or(i32::MAX),
        metrics: Some(metrics(sr, figures)),
        simple_script: simple,
        type_script_run: if sr.kind == ScriptKind::Simple {
            "TYPE_SCRIPT_RUN_SIMPLE"
        } else {
            "TYPE_SCRIPT_RUN_EXTENDED_UNSPECIFIED"
        }
        .into(),
    }
}

/// Script runs as v1 shapes, with agents and live metrics.
pub async fn script_runs(conn: &impl GenericClient, rows: &[ScriptRunRow], strip: bool) -> ApiResult<Vec<ScriptRun>> {
    let ids: Vec<i64> = rows.iter().map(|s| s.id).collect();
    let agents = agents_of(conn, &ids).await?;
    let figures = live_figures(conn, &ids).await?;
    let mut out: Vec<ScriptRun> =
        rows.iter().map(|sr| script_run(sr, agents.get(&sr.id).cloned(), figures.get(&sr.id), strip)).collect();
    // Extended scripts: `checks` counts passed checks; iterations and VUs are the script's own.
    let extended: Vec<i64> =
        rows.iter().filter(|sr| sr.kind == crate::model::run::ScriptKind::Extended).map(|sr| sr.id).collect();
    if !extended.is_empty() {
        let totals = super::script_metrics::totals(conn, &extended).await?;
        for sr in &mut out {
            if let (Some(t), Some(m)) = (totals.get(&i64::from(sr.run_script_id)), &mut sr.metrics) {
                m.checks = t.checks_passed.to_string();
                m.full_iteration_count = t.iterations.to_string();
                m.active_vus_count = t.vus.to_string();
                m.vus = t.vus_max.to_string();
            }
        }
    }
    Ok(out)
}

/// Runs as v1 shapes, in the order given.
pub async fn runs(conn: &impl GenericClient, rows: &[RunRow], strip: bool) -> ApiResult<Vec<Run>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let srs = script_run_rows(conn, &ids).await?;
    let mut wire = script_runs(conn, &srs, strip).await?;
    let mut by_run: BTreeMap<i32, Vec<ScriptRun>> = BTreeMap::new();
    for sr in wire.drain(..) {
        by_run.entry(sr.run_id).or_default().push(sr);
    }
    Ok(rows
        .iter()
        .map(|r| Run {
            run_id: id32(r.id),
            title: r.title.clone(),
            project_id: id32(r.project_id),
            scenario_id: id32(r.scenario_id),
            script_runs: by_run.remove(&id32(r.id)).unwrap_or_default(),
            status: r.status.as_str().to_string(),
            info: r.info.clone(),
            created_at: Some(timestamp(r.created_at)),
            updated_at: Some(timestamp(r.updated_at)),
            percentage_of_target: r.percentage,
            user_name: r.user_name.clone(),
            preferred_user_name: r.preferred_user_name.clone(),
            report_link: r.report_link.clone(),
        })
        .collect())
}

/// The spellings of the ended job phases, for `= ANY($n)`.
fn ended_phases() -> Vec<&'static str> {
    crate::model::run::JobPhase::ALL.iter().filter(|p| p.is_ended()).map(|p| p.as_str()).collect()
}

/// Which runs a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunFilter {
    All,
    Project(i64),
    Scenario(i64),
}

/// A page of runs, latest change first, and how many there are in all.
pub async fn list(conn: &impl GenericClient, filter: RunFilter, page: &Page) -> ApiResult<(Vec<RunRow>, i64)> {
    let (clause, id): (&str, i64) = match filter {
        RunFilter::Project(p) => ("sc.project_id = $1", p),
        RunFilter::Scenario(s) => ("r.scenario_id = $1", s),
        RunFilter::All => ("$1::bigint = 0", 0),
    };
    let total: i64 = conn
        .query_one(
            &format!("SELECT count(*) FROM runs r JOIN scenarios sc ON sc.id = r.scenario_id WHERE {clause}"),
            &[&id],
        )
        .await?
        .get(0);
    let rows = conn
        .query(
            &format!("SELECT {RUN_COLUMNS} WHERE {clause} ORDER BY r.updated_at DESC, r.id DESC LIMIT $2 OFFSET $3"),
            &[&id, &page.limit, &page.offset],
        )
        .await?
        .iter()
        .map(run_row)
        .collect();
    Ok((rows, total))
}

/// A page of runs with a status (stopping ones by their last change, others by
/// creation), and how many there are in all.
pub async fn by_status(conn: &impl GenericClient, status: RunStatus, page: &Page) -> ApiResult<(Vec<RunRow>, i64)> {
    let order = if status == RunStatus::Stopping { "r.updated_at" } else { "r.created_at" };
    let total: i64 = conn.query_one("SELECT count(*) FROM runs WHERE status = $1", &[&status]).await?.get(0);
    let rows = conn
        .query(
            &format!("SELECT {RUN_COLUMNS} WHERE r.status = $1 ORDER BY {order} DESC, r.id DESC LIMIT $2 OFFSET $3"),
            &[&status, &page.limit, &page.offset],
        )
        .await?
        .iter()
        .map(run_row)
        .collect();
    Ok((rows, total))
}

/// The id of the scenario's active run, if it has one.
pub async fn active_of_scenario(conn: &impl GenericClient, scenario_id: i64) -> ApiResult<Option<i64>> {
    let active: Vec<&str> = RunStatus::ACTIVE.iter().map(|s| s.as_str()).collect();
    Ok(conn
        .query_opt("SELECT id FROM runs WHERE scenario_id = $1 AND status = ANY($2)", &[&scenario_id, &active])
        .await?
        .map(|r| r.get(0)))
}

/// The live jobs of a run that should run, each with its share and the rate and
/// scale its agent was last told, and its script run's desired rate: what
/// `is-change-loadlevel` compares.
pub async fn live_jobs_sent(
    conn: &impl GenericClient,
    run_id: i64,
) -> ApiResult<Vec<crate::model::run::SentVsDesired>> {
    let rows = conn
        .query(
            "SELECT j.share, j.sent_rps, j.sent_scale, s.target_rps, s.percentage, s.extra_rps, s.desired
             FROM jobs j JOIN script_runs s ON s.id = j.script_run_id
             WHERE s.run_id = $1 AND s.desired = $2 AND j.desired = $3 AND NOT (j.state = ANY($4))",
            &[&run_id, &ScriptRunDesired::Running, &crate::model::run::JobDesired::Run, &ended_phases()],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| crate::model::run::SentVsDesired {
            share: r.get(0),
            sent: r.get::<_, Option<f64>>(1).zip(r.get::<_, Option<f64>>(2)),
            desired_rps: desired_rps(r.get(3), r.get(4), r.get(5), r.get(6)),
        })
        .collect())
}

/// Rows and bytes of metrics stored for a run.
pub async fn stored_size(conn: &impl GenericClient, run_id: i64) -> ApiResult<(i64, i64)> {
    let row = conn
        .query_one(
            "SELECT count(*), COALESCE(sum(pg_column_size(m.*)), 0)::bigint FROM metric_seconds m
             JOIN jobs j ON j.id = m.job_id JOIN script_runs s ON s.id = j.script_run_id WHERE s.run_id = $1",
            &[&run_id],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}
