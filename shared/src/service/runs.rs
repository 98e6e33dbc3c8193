//! RunService and CommandService: start a scenario (or smoke-test one script) on
//! the agents, stop it, change its load, and read it with live metrics.
//!
//! Every change writes the desired state first (runs, script_runs, jobs; recorded
//! in run_changes) and then pushes it to the agents at once through
//! [`control::converge`]; whatever that push could not do, the run-controller
//! retries. A scenario has at most one active run: the database enforces it.

use crate::agent_client::base_url;
use crate::control::{self, metrics, plan};
use crate::db::runs::{self as q, RunRow, ScriptRunRow};
use crate::db::{self, id32, known_id};
use crate::http::{ApiError, ApiResult};
use crate::model::page::{Page, WhenUnlimited};
use crate::state::AppState;
use crate::wire::StdResponse;
use crate::wire::runs::*;
use crate::wire::scripts::SimpleScript;
use deadpool_postgres::GenericClient;
use futures::future::join_all;

const ACTIVE: &str = "('STATUS_PREPARED', 'STATUS_RUNNING', 'STATUS_STOPPING')";
const SMOKE_USER: &str = "System User";

async fn run_row(app: &AppState, run_id: i32) -> ApiResult<RunRow> {
    if run_id == 0 {
        return Err(ApiError::bad_request("run_id", "is required"));
    }
    let id = known_id("run", run_id.into())?;
    let conn = app.db.conn().await?;
    q::run_row_by_id(&conn, id).await?.ok_or_else(|| ApiError::not_found("run", id))
}

async fn wire_run(app: &AppState, row: &RunRow) -> ApiResult<Run> {
    let conn = app.db.conn().await?;
    let mut runs = q::runs(&conn, std::slice::from_ref(row), false).await?;
    Ok(runs.remove(0))
}

async fn reload(app: &AppState, run_id: i64) -> ApiResult<Run> {
    let row = run_row(app, id32(run_id)).await?;
    wire_run(app, &row).await
}

/// Push the desired state now; a failure is left to the controller.
async fn push(app: &AppState, run_id: i64) {
    if let Err(e) = control::converge(app, run_id, false, false).await {
        tracing::warn!(run_id, error = %e, "push to agents failed; the run-controller retries");
    }
}

async fn record_change(
    conn: &impl GenericClient,
    run_id: i64,
    script_run_id: Option<i64>,
    who: &str,
    what: &str,
    percentage: Option<i32>,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO run_changes (run_id, script_run_id, who, what, percentage) VALUES ($1, $2, $3, $4, $5)",
        &[&run_id, &script_run_id, &who, &what, &percentage],
    )
    .await?;
    Ok(())
}

/// Enabled agents that answer, with the rate they already carry in active runs.
async fn healthy_agents(app: &AppState) -> ApiResult<Vec<(plan::Candidate, String)>> {
    let conn = app.db.conn().await?;
    let rows = conn
        .query(
            &format!(
                "SELECT a.id, a.host_name, a.port, a.tags,
                        COALESCE((SELECT sum(j.share * s.target_rps * s.percentage / 100.0 + j.share * s.extra_rps)
                                  FROM jobs j JOIN script_runs s ON s.id = j.script_run_id JOIN runs r ON r.id = s.run_id
                                  WHERE j.agent_id = a.id AND j.state NOT IN ('finished', 'failed', 'lost')
                                    AND r.status IN {ACTIVE}), 0)::float8
                 FROM agents a WHERE a.enabled ORDER BY a.id"
            ),
            &[],
        )
        .await?;
    drop(conn);
    let agents: Vec<(plan::Candidate, String)> = rows
        .iter()
        .map(|r| {
            let url = base_url(r.get(1), &r.get::<_, i32>(2).to_string());
            (plan::Candidate { agent_id: r.get(0), tags: r.get(3), load_rps: r.get(4) }, url)
        })
        .collect();
    let alive = join_all(agents.iter().map(|(_, url)| app.agents.info(url))).await;
    Ok(agents.into_iter().zip(alive).filter(|(_, ok)| ok.is_ok()).map(|(a, _)| a).collect())
}

struct NewRun<'a> {
    scenario_id: i64,
    title: String,
    kind: &'a str,
    percentage: i32,
    user_name: String,
    preferred_user_name: String,
    scripts: Vec<SimpleScript>,
}

fn unique_active(err: ApiError, scenario_id: i64) -> ApiError {
    if err.status == axum::http::StatusCode::CONFLICT {
        ApiError::conflict(format!("scenario_id: scenario {scenario_id} already has an active run; stop it first"))
    } else {
        err
    }
}

/// Plan, write the desired state in one transaction, start the jobs.
async fn create_run(app: &AppState, new: NewRun<'_>) -> ApiResult<Run> {
    let bucket = app.storage.bucket().to_string();
    let mut specs = Vec::new();
    for s in &new.scripts {
        // The allow-list may have changed since the script was saved.
        super::auth::check_targets(app, &format!("simple_script {:?}", s.name), &s.path, &s.ammo_url)?;
        let spec = control::job_spec(s, &bucket)
            .map_err(|why| ApiError::unprocessable(&format!("simple_script {:?}", s.name), why))?;
        specs.push(spec);
    }
    let rps = |s: &SimpleScript| s.rps.parse::<f64>().unwrap_or(0.0) * f64::from(new.percentage) / 100.0;
    let total: f64 = new.scripts.iter().map(rps).sum();
    #[allow(clippy::cast_precision_loss)]
    if total > app.limits.max_run_rps as f64 {
        return Err(ApiError::unprocessable(
            "percentage_of_target",
            format!("the run would aim at {total:.0} rps, above the maximum of {} rps per run", app.limits.max_run_rps),
        ));
    }
    {
        let conn = app.db.conn().await?;
        let active = conn
            .query_opt(
                &format!("SELECT id FROM runs WHERE scenario_id = $1 AND status IN {ACTIVE}"),
                &[&new.scenario_id],
            )
            .await?;
        if let Some(r) = active {
            return Err(ApiError::conflict(format!(
                "scenario_id: scenario {} already has an active run ({}); stop it first",
                new.scenario_id,
                r.get::<_, i64>(0)
            )));
        }
    }
    let agents = healthy_agents(app).await?;
    let candidates: Vec<plan::Candidate> = agents.iter().map(|(c, _)| c.clone()).collect();
    let demands: Vec<plan::Demand> =
        new.scripts.iter().map(|s| plan::Demand { tag: s.tag.clone(), rps: rps(s).max(1.0) }).collect();
    #[allow(clippy::cast_precision_loss)]
    let assignments = plan::plan(&demands, &candidates, app.limits.agent_capacity_rps as f64).map_err(|tags| {
        let names: Vec<String> =
            tags.iter().map(|t| if t.is_empty() { "(any)".into() } else { format!("{t:?}") }).collect();
        ApiError::unprocessable("tag", format!("no enabled, answering agent carries the tag(s) {}", names.join(", ")))
    })?;

    let mut conn = app.db.conn().await?;
    let tx = conn.transaction().await?;
    let run_id: i64 = tx
        .query_one(
            "INSERT INTO runs (scenario_id, title, status, percentage_of_target, user_name, preferred_user_name, kind)
             VALUES ($1, $2, 'STATUS_PREPARED', $3, $4, $5, $6) RETURNING id",
            &[&new.scenario_id, &new.title, &new.percentage, &new.user_name, &new.preferred_user_name, &new.kind],
        )
        .await
        .map_err(|e| unique_active(e.into(), new.scenario_id))?
        .get(0);
    for (i, (s, (spec, data_key))) in new.scripts.iter().zip(&specs).enumerate() {
        let target: i64 = s.rps.parse().unwrap_or(1);
        let sr_id: i64 = tx
            .query_one(
                "INSERT INTO script_runs (run_id, kind, script_id, name, tag, script, spec, data_key, target_rps,
                     percentage) VALUES ($1, 'simple', $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                &[
                    &run_id,
                    &i64::from(s.script_id),
                    &s.name,
                    &s.tag,
                    &tokio_postgres::types::Json(s),
                    &tokio_postgres::types::Json(spec),
                    data_key,
                    &target,
                    &new.percentage,
                ],
            )
            .await?
            .get(0);
        for a in assignments.iter().filter(|a| a.script == i) {
            let url = &agents.iter().find(|(c, _)| c.agent_id == a.agent_id).expect("planned agent exists").1;
            tx.execute(
                "INSERT INTO jobs (script_run_id, agent_id, base_url, job_key, share) VALUES ($1, $2, $3, $4, $5)",
                &[&sr_id, &a.agent_id, url, &uuid::Uuid::new_v4().to_string(), &a.share],
            )
            .await?;
        }
    }
    let who = if new.user_name.is_empty() { "anonymous" } else { new.user_name.as_str() };
    record_change(&tx, run_id, None, who, &format!("started at {} %", new.percentage), Some(new.percentage)).await?;
    tx.commit().await?;
    // Release the connection before push and reload take their own.
    drop(conn);
    push(app, run_id).await;
    reload(app, run_id).await
}

pub async fn start(app: &AppState, req: RunScenarioRequest) -> ApiResult<RunResponse> {
    let scenario = crate::service::scenarios::existing(app, req.scenario_id).await?;
    let percentage = match req.percentage_of_target {
        None | Some(0) => 100,
        Some(p) if p < 0 => return Err(ApiError::unprocessable("percentage_of_target", format!("{p} is negative"))),
        Some(p) if p > app.limits.max_run_percentage => {
            return Err(ApiError::unprocessable(
                "percentage_of_target",
                format!("{p} is above the maximum of {} %", app.limits.max_run_percentage),
            ));
        }
        Some(p) => p,
    };
    let scenario_id = i64::from(scenario.scenario_id);
    let extended: Vec<String> =
        db::scripts::list(&app.db, scenario_id).await?.into_iter().filter(|s| s.enabled).map(|s| s.name).collect();
    if !extended.is_empty() {
        return Err(ApiError::unprocessable(
            "scenario_id",
            format!("extended (JS) scripts cannot run yet; disable them to run this scenario: {}", extended.join(", ")),
        ));
    }
    let scripts: Vec<SimpleScript> =
        db::simple_scripts::list(&app.db, scenario_id).await?.into_iter().filter(|s| s.enabled).collect();
    if scripts.is_empty() {
        return Err(ApiError::unprocessable("scenario_id", format!("scenario {scenario_id} has no enabled scripts")));
    }
    let run = create_run(
        app,
        NewRun {
            scenario_id,
            title: scenario.title,
            kind: "scenario",
            percentage,
            user_name: req.user_name.trim().to_string(),
            preferred_user_name: req.preferred_user_name.trim().to_string(),
            scripts,
        },
    )
    .await?;
    Ok(RunResponse { status: true, message: String::new(), run: Some(run) })
}

pub async fn start_simple_script(
    app: &AppState,
    req: crate::wire::scripts::SimpleScriptIdRequest,
) -> ApiResult<RunResponse> {
    let id = known_id("simple_script", req.simple_script_id.into())?;
    let mut s = db::simple_scripts::get(&app.db, id).await?.ok_or_else(|| ApiError::not_found("simple_script", id))?;
    s.rps = "2".into();
    s.duration = "1m".into();
    s.steps = "1".into();
    let run = create_run(
        app,
        NewRun {
            scenario_id: s.scenario_id.into(),
            title: format!("Smoke_test_{}", s.name),
            kind: "smoke",
            percentage: 100,
            user_name: SMOKE_USER.into(),
            preferred_user_name: String::new(),
            scripts: vec![s],
        },
    )
    .await?;
    Ok(RunResponse { status: true, message: String::new(), run: Some(run) })
}

pub async fn start_script(app: &AppState, req: crate::wire::scripts::ScriptIdRequest) -> ApiResult<RunResponse> {
    let id = known_id("script", req.script_id.into())?;
    let s = db::scripts::get(&app.db, id).await?.ok_or_else(|| ApiError::not_found("script", id))?;
    Err(ApiError::unprocessable(
        "script_id",
        format!("{:?} is an extended (JS) script; extended scripts cannot run yet", s.name),
    ))
}

/// Ask a run to stop: every job is stopped now, and by the controller until it ends.
async fn stop_run(app: &AppState, run_id: i64, who: &str) -> ApiResult<()> {
    let conn = app.db.conn().await?;
    let n = conn
        .execute(
            "UPDATE runs SET status = 'STATUS_STOPPING', updated_at = now()
             WHERE id = $1 AND status IN ('STATUS_PREPARED', 'STATUS_RUNNING')",
            &[&run_id],
        )
        .await?;
    if n == 1 {
        record_change(&conn, run_id, None, who, "stop requested", None).await?;
    }
    drop(conn);
    push(app, run_id).await;
    Ok(())
}

pub async fn stop(app: &AppState, req: RunIdRequest) -> ApiResult<RunResponse> {
    let row = run_row(app, req.run_id).await?;
    let message = if row.status == "STATUS_STOPPED_UNSPECIFIED" {
        "the run is already stopped".to_string()
    } else {
        stop_run(app, row.id, &row.user_name).await?;
        String::new()
    };
    Ok(RunResponse { status: true, message, run: Some(reload(app, row.id).await?) })
}

async fn script_run_row(app: &AppState, run_id: i64, run_script_id: i32) -> ApiResult<ScriptRunRow> {
    let conn = app.db.conn().await?;
    q::script_run_rows(&conn, &[run_id])
        .await?
        .into_iter()
        .find(|s| s.id == i64::from(run_script_id))
        .ok_or_else(|| ApiError::not_found(&format!("run_script_id in run {run_id}"), run_script_id))
}

async fn wire_script_run(app: &AppState, sr: &ScriptRunRow) -> ApiResult<ScriptRun> {
    let conn = app.db.conn().await?;
    Ok(q::script_runs(&conn, std::slice::from_ref(sr), false).await?.remove(0))
}

pub async fn stop_script(app: &AppState, req: StopScriptRequest) -> ApiResult<StopScriptResponse> {
    let run = run_row(app, req.run_id).await?;
    let sr = script_run_row(app, run.id, req.run_script_id).await?;
    stop_script_runs(app, &run, &[sr.id]).await?;
    let sr = script_run_row(app, run.id, req.run_script_id).await?;
    Ok(StopScriptResponse { status: true, message: String::new(), run: Some(wire_script_run(app, &sr).await?) })
}

async fn stop_script_runs(app: &AppState, run: &RunRow, ids: &[i64]) -> ApiResult<()> {
    let conn = app.db.conn().await?;
    for id in ids {
        let n = conn
            .execute(
                "UPDATE script_runs SET desired = 'stopped', updated_at = now(),
                     status = CASE WHEN status = 'STATUS_RUNNING' THEN 'STATUS_STOPPING' ELSE status END
                 WHERE id = $1 AND run_id = $2 AND desired <> 'stopped'",
                &[id, &run.id],
            )
            .await?;
        if n == 1 {
            record_change(&conn, run.id, Some(*id), &run.user_name, "script run stop requested", None).await?;
        }
    }
    drop(conn);
    push(app, run.id).await;
    Ok(())
}

fn require_running(run: &RunRow, what: &str) -> ApiResult<()> {
    if run.kind == "smoke" {
        return Err(ApiError::unprocessable("run_id", format!("{what} is not available for a smoke test")));
    }
    if run.status != "STATUS_RUNNING" && run.status != "STATUS_PREPARED" {
        return Err(ApiError::conflict(format!(
            "run_id: run {} is {}; only a running run can change",
            run.id, run.status
        )));
    }
    Ok(())
}

/// The rate the run would aim at with `percentage` and the given extra rps.
async fn check_total(app: &AppState, run_id: i64, percentage: Option<i32>, extra: i64) -> ApiResult<()> {
    let conn = app.db.conn().await?;
    let total: f64 = q::script_run_rows(&conn, &[run_id])
        .await?
        .iter()
        .filter(|s| s.desired != "stopped")
        .map(|s| {
            let mut s = s.clone();
            if let Some(p) = percentage {
                s.percentage = p;
            }
            s.desired_rps()
        })
        .sum::<f64>();
    #[allow(clippy::cast_precision_loss)]
    let total = total + extra as f64;
    #[allow(clippy::cast_precision_loss)]
    if total > app.limits.max_run_rps as f64 {
        return Err(ApiError::unprocessable(
            "load",
            format!("the run would aim at {total:.0} rps, above the maximum of {} rps per run", app.limits.max_run_rps),
        ));
    }
    Ok(())
}

async fn adjust_to(app: &AppState, run: &RunRow, percentage: i32, who: &str) -> ApiResult<String> {
    require_running(run, "an adjustment")?;
    if percentage < 0 {
        return Err(ApiError::unprocessable("adjustment_on_percent", format!("{percentage} is negative")));
    }
    if percentage > app.limits.max_run_percentage {
        return Err(ApiError::unprocessable(
            "adjustment_on_percent",
            format!("{percentage} is above the maximum of {} %", app.limits.max_run_percentage),
        ));
    }
    if percentage == 0 {
        stop_run(app, run.id, who).await?;
        return Ok("0 % stops the run: stopping".into());
    }
    if percentage == run.percentage {
        return Ok(format!("the run is already at {percentage} %"));
    }
    check_total(app, run.id, Some(percentage), 0).await?;
    let mut conn = app.db.conn().await?;
    let tx = conn.transaction().await?;
    tx.execute("SELECT 1 FROM runs WHERE id = $1 FOR UPDATE", &[&run.id]).await?;
    tx.execute("UPDATE runs SET percentage_of_target = $2, updated_at = now() WHERE id = $1", &[&run.id, &percentage])
        .await?;
    tx.execute("UPDATE script_runs SET percentage = $2, updated_at = now() WHERE run_id = $1", &[&run.id, &percentage])
        .await?;
    let what = format!("load {} % → {percentage} %", run.percentage);
    record_change(&tx, run.id, None, who, &what, Some(percentage)).await?;
    tx.commit().await?;
    drop(conn);
    push(app, run.id).await;
    Ok(String::new())
}

pub async fn adjust(app: &AppState, req: AdjustmentRequest) -> ApiResult<StdResponse> {
    let percent = req.adjustment_on_percent.ok_or_else(|| {
        ApiError::bad_request("adjustment_on_percent", "is required: the load level in percent of the target, e.g. 100")
    })?;
    let run = run_row(app, req.run_id).await?;
    let who = if req.user_name.trim().is_empty() { run.user_name.clone() } else { req.user_name.trim().to_string() };
    let message = adjust_to(app, &run, percent, &who).await?;
    Ok(StdResponse::ok(message))
}

async fn increase(app: &AppState, run_id: i32, kind: &str, script_id: i32, by: i32) -> ApiResult<StdResponse> {
    let run = run_row(app, run_id).await?;
    require_running(&run, "an increase")?;
    if by <= 0 {
        return Err(ApiError::unprocessable("increase_by_rps", format!("{by} must be a positive number of rps")));
    }
    check_total(app, run.id, None, i64::from(by)).await?;
    let conn = app.db.conn().await?;
    let row = conn
        .query_opt(
            "UPDATE script_runs SET extra_rps = extra_rps + $4, updated_at = now()
             WHERE run_id = $1 AND kind = $2 AND script_id = $3 AND desired = 'running' RETURNING id",
            &[&run.id, &kind, &i64::from(script_id), &i64::from(by)],
        )
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("running {kind} script of run {}", run.id), script_id))?;
    record_change(&conn, run.id, Some(row.get(0)), &run.user_name, &format!("increase by {by} rps"), None).await?;
    drop(conn);
    push(app, run.id).await;
    Ok(StdResponse::ok(""))
}

pub async fn increase_script(app: &AppState, req: IncreaseScriptRequest) -> ApiResult<StdResponse> {
    increase(app, req.run_id, "extended", req.script_id, req.increase_by_rps).await
}

pub async fn increase_simple_script(app: &AppState, req: IncreaseSimpleScriptRequest) -> ApiResult<StdResponse> {
    increase(app, req.run_id, "simple", req.simple_script_id, req.increase_by_rps).await
}

pub async fn get(app: &AppState, req: RunIdRequest) -> ApiResult<RunResponse> {
    let row = run_row(app, req.run_id).await?;
    Ok(RunResponse { status: true, message: String::new(), run: Some(wire_run(app, &row).await?) })
}

pub async fn list(app: &AppState, req: GetAllRunningRequest) -> ApiResult<RunsResponse> {
    let page = Page::new(req.limit, req.page_number, WhenUnlimited::Default(10));
    let (filter, id): (&str, i64) = match (req.project_id.unwrap_or(0), req.scenario_id.unwrap_or(0)) {
        (p, _) if p != 0 => ("sc.project_id = $1", p.into()),
        (_, s) if s != 0 => ("r.scenario_id = $1", s.into()),
        _ => ("$1::bigint = 0", 0),
    };
    let conn = app.db.conn().await?;
    let total: i64 = conn
        .query_one(
            &format!("SELECT count(*) FROM runs r JOIN scenarios sc ON sc.id = r.scenario_id WHERE {filter}"),
            &[&id],
        )
        .await?
        .get(0);
    let rows: Vec<RunRow> = conn
        .query(
            &format!(
                "SELECT {} WHERE {filter} ORDER BY r.updated_at DESC, r.id DESC LIMIT $2 OFFSET $3",
                q::RUN_COLUMNS
            ),
            &[&id, &page.limit, &page.offset],
        )
        .await?
        .iter()
        .map(q::run_row)
        .collect();
    let runs = q::runs(&conn, &rows, false).await?;
    Ok(RunsResponse { status: true, message: String::new(), runs, total_pages: page.total_pages(total).to_string() })
}

pub async fn by_status(app: &AppState, req: RunsByStatusRequest) -> ApiResult<RunsResponse> {
    let status = usize::try_from(req.run_status)
        .ok()
        .and_then(|i| RUN_STATUSES.get(i))
        .filter(|s| **s != "STATUS_RESERVED")
        .ok_or_else(|| ApiError::bad_request("run_status", format!("{} is not a run status", req.run_status)))?;
    let page = Page::new(req.limit, req.page_number, WhenUnlimited::Default(10));
    let order = if *status == "STATUS_STOPPING" { "r.updated_at" } else { "r.created_at" };
    let conn = app.db.conn().await?;
    let total: i64 = conn.query_one("SELECT count(*) FROM runs WHERE status = $1", &[status]).await?.get(0);
    let rows: Vec<RunRow> = conn
        .query(
            &format!(
                "SELECT {} WHERE r.status = $1 ORDER BY {order} DESC, r.id DESC LIMIT $2 OFFSET $3",
                q::RUN_COLUMNS
            ),
            &[status, &page.limit, &page.offset],
        )
        .await?
        .iter()
        .map(q::run_row)
        .collect();
    let runs = q::runs(&conn, &rows, true).await?;
    let message = if runs.is_empty() { format!("no runs with status {status}") } else { String::new() };
    Ok(RunsResponse { status: true, message, runs, total_pages: page.total_pages(total).to_string() })
}

pub async fn time_range(app: &AppState, req: RunIdRequest) -> ApiResult<TimeRangeResponse> {
    let row = run_row(app, req.run_id).await?;
    let to = row.ended_at.unwrap_or(row.updated_at);
    let f = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    Ok(TimeRangeResponse {
        status: true,
        from_ts: row.created_at.timestamp().to_string(),
        to_ts: to.timestamp().to_string(),
        from_f: f(row.created_at),
        to_f: f(to),
    })
}

pub async fn current_rps(app: &AppState, req: RunIdRequest) -> ApiResult<CurrentRpsResponse> {
    let row = run_row(app, req.run_id).await?;
    if row.status != "STATUS_RUNNING" {
        return Ok(CurrentRpsResponse { status: true, rps: "0".into() });
    }
    let run = wire_run(app, &row).await?;
    let rps: f64 = run
        .script_runs
        .iter()
        .filter(|s| s.status == "STATUS_RUNNING")
        .filter_map(|s| s.metrics.as_ref().and_then(|m| m.rps.parse::<f64>().ok()))
        .sum();
    Ok(CurrentRpsResponse { status: true, rps: format!("{}", rps.round()) })
}

pub async fn script_runs_by_name(app: &AppState, req: ScriptRunsByNameRequest) -> ApiResult<ScriptRunsByNameResponse> {
    let row = run_row(app, req.run_id).await?;
    let conn = app.db.conn().await?;
    let srs: Vec<ScriptRunRow> =
        q::script_run_rows(&conn, &[row.id]).await?.into_iter().filter(|s| s.name == req.script_name).collect();
    Ok(ScriptRunsByNameResponse { script_runs: q::script_runs(&conn, &srs, false).await? })
}

pub async fn script_run_by_id(app: &AppState, req: ScriptRunByIdRequest) -> ApiResult<ScriptRunByIdResponse> {
    let row = run_row(app, req.run_id).await?;
    let sr = script_run_row(app, row.id, req.script_run_id).await?;
    Ok(ScriptRunByIdResponse { script_runs: Some(wire_script_run(app, &sr).await?) })
}

pub async fn is_change_load_level(app: &AppState, req: RunIdRequest) -> ApiResult<IsChangeLoadLevelResponse> {
    let row = run_row(app, req.run_id).await?;
    let current = row.percentage;
    let answer = |can_change, next_level| IsChangeLoadLevelResponse {
        current_level: current,
        next_level,
        can_change,
        run_status: row.status.clone(),
    };
    match row.status.as_str() {
        "STATUS_PREPARED" => return Ok(answer(false, current)),
        "STATUS_RUNNING" if row.kind == "scenario" => {}
        _ => return Ok(answer(false, 0)),
    }
    // A change is pending while some live job has not yet been told its desired rate.
    let conn = app.db.conn().await?;
    let pending: bool = conn
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM jobs j JOIN script_runs s ON s.id = j.script_run_id
                 WHERE s.run_id = $1 AND s.desired = 'running' AND j.desired = 'run'
                   AND j.state NOT IN ('finished', 'failed', 'lost')
                   AND (j.sent_rps IS NULL OR j.sent_scale IS DISTINCT FROM j.share
                        OR abs(j.sent_rps - (s.target_rps * s.percentage / 100.0 + s.extra_rps)) > 1e-6))",
            &[&row.id],
        )
        .await?
        .get(0);
    Ok(if pending { answer(false, current) } else { answer(true, 0) })
}

/// `/v1/command/new`: the command is executed now; its row records the outcome.
pub async fn command_new(app: &AppState, req: CommandNewRequest) -> ApiResult<CommandNewResponse> {
    let type_name = usize::try_from(req.command_type)
        .ok()
        .and_then(|i| COMMAND_TYPES.get(i))
        .filter(|t| !t.starts_with("TYPE_6") && !t.starts_with("TYPE_7"))
        .ok_or_else(|| ApiError::bad_request("command_type", format!("{} is not a command type", req.command_type)))?;
    let scope = SCOPES.get(usize::try_from(req.scope).unwrap_or(0)).copied().unwrap_or(SCOPES[0]);
    let needs_ids = !matches!(*type_name, "TYPE_UPDATE" | "TYPE_STOP_SCENARIO" | "TYPE_RUN_SCRIPT");
    if needs_ids && req.script_ids.is_empty() {
        return Err(ApiError::bad_request("script_ids", format!("is required for {type_name}")));
    }
    let run = if *type_name == "TYPE_RUN_SIMPLE_SCRIPT" { None } else { Some(run_row(app, req.run_id).await?) };
    let percentage = req.percentage_of_target.unwrap_or(0);
    let increase = req.increase_rps.unwrap_or(0);
    let conn = app.db.conn().await?;
    let command_id: i64 = conn
        .query_one(
            "INSERT INTO commands (type, scope, run_id, script_ids, status, hostname, percentage_of_target, increase_rps)
             VALUES ($1, $2, $3, $4, 'STATUS_PROCESSED', $5, $6, $7) RETURNING id",
            &[
                type_name,
                &scope,
                &run.as_ref().map(|r| r.id),
                &req.script_ids,
                &hostname(),
                &percentage,
                &increase,
            ],
        )
        .await?
        .get(0);
    drop(conn);
    let outcome: ApiResult<()> = async {
        match *type_name {
            "TYPE_STOP_SCENARIO" => stop_run(app, run.as_ref().expect("run").id, "command").await,
            "TYPE_STOP_SCRIPT" => stop_script_runs(app, run.as_ref().expect("run"), &req.script_ids).await,
            "TYPE_UPDATE" | "TYPE_ADJUSTMENT" if increase > 0 => {
                for id in &req.script_ids {
                    let id = i32::try_from(*id).map_err(|_| ApiError::bad_request("script_ids", "out of range"))?;
                    increase_simple_script(
                        app,
                        IncreaseSimpleScriptRequest {
                            run_id: req.run_id,
                            simple_script_id: id,
                            increase_by_rps: increase,
                        },
                    )
                    .await?;
                }
                Ok(())
            }
            "TYPE_UPDATE" | "TYPE_ADJUSTMENT" => {
                adjust_to(app, run.as_ref().expect("run"), percentage, "command").await.map(|_| ())
            }
            "TYPE_RUN_SIMPLE_SCRIPT" => {
                let id = i32::try_from(req.script_ids[0])
                    .map_err(|_| ApiError::bad_request("script_ids", "out of range"))?;
                start_simple_script(app, crate::wire::scripts::SimpleScriptIdRequest { simple_script_id: id })
                    .await
                    .map(|_| ())
            }
            "TYPE_RUN_SCRIPT" => {
                let id = req.script_ids.first().copied().unwrap_or(0);
                Err(ApiError::unprocessable(
                    "command_type",
                    format!("TYPE_RUN_SCRIPT: script {id}: extended scripts cannot run yet"),
                ))
            }
            _ => {
                // TYPE_RUN_SCENARIO_UNSPECIFIED: (re)apply an active run's desired state.
                let run = run.as_ref().expect("run");
                if run.status == "STATUS_STOPPED_UNSPECIFIED" {
                    return Err(ApiError::conflict(format!(
                        "run_id: run {} is stopped; start the scenario anew",
                        run.id
                    )));
                }
                push(app, run.id).await;
                Ok(())
            }
        }
    }
    .await;
    let (status, error) = match &outcome {
        Ok(()) => ("STATUS_COMPLETED", String::new()),
        Err(e) => ("STATUS_FAILED", e.message.clone()),
    };
    let conn = app.db.conn().await?;
    let row = conn
        .query_one(
            "UPDATE commands SET status = $2, error_description = $3, updated_at = now() WHERE id = $1
             RETURNING created_at, updated_at",
            &[&command_id, &status, &error],
        )
        .await?;
    outcome?;
    let command = Command {
        command_id: id32(command_id),
        command_type: (*type_name).to_string(),
        scope: scope.to_string(),
        run_id: run.as_ref().map(|r| id32(r.id)),
        script_ids: req.script_ids.iter().map(ToString::to_string).collect(),
        status: status.into(),
        error_description: error,
        hostname: hostname(),
        created_at: Some(q::timestamp(row.get(0))),
        updated_at: Some(q::timestamp(row.get(1))),
        percentage_of_target: percentage,
        increase_rps: increase,
    };
    Ok(CommandNewResponse { status: true, message: String::new(), command: Some(command) })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// `/v1/remove-logs`: our agents write no log files, so there is nothing to
/// delete; the answer says so, and how many enabled agents answered.
pub async fn remove_logs(app: &AppState, req: RemoveLogsRequest) -> ApiResult<StdResponse> {
    if req.more_than_mb < 0 || req.more_than_days < 0 {
        return Err(ApiError::unprocessable("more_than_mb", "must not be negative"));
    }
    let conn = app.db.conn().await?;
    let enabled: i64 = conn.query_one("SELECT count(*) FROM agents WHERE enabled", &[]).await?.get(0);
    drop(conn);
    let answering = healthy_agents(app).await?.len();
    Ok(StdResponse::ok(format!(
        "nothing removed: Alilo agents keep no log files (their metrics reach the backend); \
         {answering} of {enabled} enabled agents answered"
    )))
}

fn point(ts: i64, f: &metrics::Figures) -> Point {
    Point {
        ts,
        target_rps: f.target_rps,
        achieved_rps: f.achieved_rps,
        requests: f.sent,
        failed: f.failed,
        error_rate: f.error_rate,
        p50: f.p50,
        p90: f.p90,
        p95: f.p95,
        p99: f.p99,
        max: f.max,
    }
}

/// `/v1/run/metrics`: per script run and in total, per interval of `step` seconds.
pub async fn run_metrics(app: &AppState, req: RunMetricsRequest) -> ApiResult<RunMetricsResponse> {
    let row = run_row(app, req.run_id).await?;
    if req.step < 0 || req.step > 86_400 {
        return Err(ApiError::unprocessable("step", format!("{} must be between 1 and 86400 seconds", req.step)));
    }
    let step = if req.step == 0 { 5 } else { req.step };
    let from = if req.from > 0 { req.from } else { row.started_at.timestamp() };
    let to = if req.to > 0 { req.to } else { chrono::Utc::now().timestamp() + 1 };
    if to <= from {
        return Err(ApiError::unprocessable("to", format!("{to} must be after from ({from})")));
    }
    if (to - from) / step > 10_000 {
        return Err(ApiError::unprocessable("step", "gives more than 10000 intervals: use a larger step"));
    }
    let conn = app.db.conn().await?;
    let srs = q::script_run_rows(&conn, &[row.id]).await?;
    let ids: Vec<i64> = srs.iter().map(|s| s.id).collect();
    let seconds = q::seconds(&conn, &ids, Some(from), Some(to)).await?;
    let scripts = srs
        .iter()
        .map(|sr| {
            let mine: Vec<metrics::Second> =
                seconds.iter().filter(|(id, _)| *id == sr.id).map(|(_, s)| s.clone()).collect();
            Series {
                run_script_id: id32(sr.id),
                name: sr.name.clone(),
                points: metrics::series(&mine, from, step).iter().map(|(t, f)| point(*t, f)).collect(),
            }
        })
        .collect();
    let all: Vec<metrics::Second> = seconds.into_iter().map(|(_, s)| s).collect();
    let total = metrics::series(&all, from, step).iter().map(|(t, f)| point(*t, f)).collect();
    Ok(RunMetricsResponse { status: true, message: String::new(), from, to, step, scripts, total })
}

fn summary(id: i64, name: &str, status: &str, target: f64, f: &metrics::Figures) -> ScriptSummary {
    ScriptSummary {
        run_script_id: id32(id),
        name: name.into(),
        status: status.into(),
        target_rps: target,
        achieved_rps: f.achieved_rps,
        requests: f.sent,
        ok: f.ok,
        failed: f.failed,
        dropped: f.dropped,
        bytes_sent: f.bytes_sent,
        bytes_received: f.bytes_received,
        seconds: f.seconds,
        p50: f.p50,
        p90: f.p90,
        p95: f.p95,
        p99: f.p99,
        max: f.max,
        status_codes: f.status.clone(),
        errors: f.errors.clone(),
    }
}

/// `/v1/run/summary`: per script run over the whole run, and in total.
pub async fn run_summary(app: &AppState, req: RunIdRequest) -> ApiResult<RunSummaryResponse> {
    let row = run_row(app, req.run_id).await?;
    let conn = app.db.conn().await?;
    let srs = q::script_run_rows(&conn, &[row.id]).await?;
    let ids: Vec<i64> = srs.iter().map(|s| s.id).collect();
    let seconds = q::seconds(&conn, &ids, None, None).await?;
    let scripts: Vec<ScriptSummary> = srs
        .iter()
        .map(|sr| {
            let f = metrics::figures(seconds.iter().filter(|(id, _)| *id == sr.id).map(|(_, s)| s), None);
            summary(sr.id, &sr.name, &sr.status, sr.desired_rps(), &f)
        })
        .collect();
    let f = metrics::figures(seconds.iter().map(|(_, s)| s), None);
    let target: f64 = srs.iter().map(ScriptRunRow::desired_rps).sum();
    let total = summary(row.id, &row.title, &row.status, target, &f);
    let stored = conn
        .query_one(
            "SELECT count(*), COALESCE(sum(pg_column_size(m.*)), 0)::bigint FROM metric_seconds m
             JOIN jobs j ON j.id = m.job_id JOIN script_runs s ON s.id = j.script_run_id WHERE s.run_id = $1",
            &[&row.id],
        )
        .await?;
    Ok(RunSummaryResponse {
        status: true,
        message: String::new(),
        run_status: row.status.clone(),
        percentage_of_target: row.percentage,
        scripts,
        total: Some(total),
        stored_seconds: stored.get(0),
        stored_bytes: stored.get(1),
    })
}
