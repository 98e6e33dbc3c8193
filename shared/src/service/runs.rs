//! RunService and CommandService: start a scenario (or smoke-test one script) on
//! the agents, stop it, change its load, and read it with live metrics.
//!
//! Every change only writes the desired state ([`db::run_writes`]: runs,
//! script_runs, jobs, bumping the run's version, recorded in run_changes) and
//! nudges the run-controller, which brings the agents to it
//! ([`crate::control::pass`]). No request calls an agent about a run or waits on
//! one: a start is planned on the enabled agents as the database has them, and the
//! controller starts the jobs. A scenario has at most one active run: the database
//! enforces it.

use crate::auth::Principal;
use crate::control::agents::enabled;
use crate::control::{jobs, metrics, plan};
use crate::db::run_writes::{self as w, NewCommand, NewScriptRun};
use crate::db::runs::{self as q, RunFilter, RunRow, ScriptRunRow};
use crate::db::{self, id32, known_id};
use crate::extended::merge::{self, ScriptFigures};
use crate::http::{ApiError, ApiResult};
use crate::model::page::{Page, WhenUnlimited};
use crate::model::run::{Command as CommandKind, CommandStatus, RunKind, RunStatus, ScriptKind};
use crate::state::AppState;
use crate::wire::StdResponse;
use crate::wire::runs::*;
use crate::wire::scripts::{Script, SimpleScript};
use std::collections::{BTreeMap, BTreeSet};

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
    let mut runs = runs_with_log_names(app, q::runs(&conn, std::slice::from_ref(row), false).await?);
    Ok(runs.remove(0))
}

async fn reload(app: &AppState, run_id: i64) -> ApiResult<Run> {
    let row = run_row(app, id32(run_id)).await?;
    wire_run(app, &row).await
}

struct NewRun {
    scenario_id: i64,
    title: String,
    kind: RunKind,
    percentage: i32,
    user_name: String,
    preferred_user_name: String,
    scripts: Vec<SimpleScript>,
    /// Extended (JS) scripts: jobs like any other (`extended::job`).
    extended: Vec<Script>,
}

/// One script of a new run, of either kind, with its job at 100 %.
struct RunItem {
    kind: ScriptKind,
    script_id: i64,
    name: String,
    tag: String,
    script: serde_json::Value,
    job: jobs::Built,
    /// The configured rps (100 %).
    rps: f64,
}

fn unique_active(err: ApiError, scenario_id: i64) -> ApiError {
    if err.status == axum::http::StatusCode::CONFLICT {
        ApiError::conflict(format!("scenario_id: scenario {scenario_id} already has an active run; stop it first"))
    } else {
        err
    }
}

/// Plan, write the desired state in one transaction, and let the controller
/// start the jobs.
async fn create_run(app: &AppState, new: NewRun) -> ApiResult<Run> {
    let bucket = app.storage.bucket().to_string();
    let mut items: Vec<RunItem> = Vec::new();
    // The lists may have changed since the scripts were saved: checked again,
    // and carried to the agents, which check what only a run shows (the hosts
    // an extended script calls, redirects).
    let lists = super::targets::of_scenario(app, new.scenario_id).await?;
    let allowed_targets = lists.for_agent();
    for s in &new.scripts {
        super::targets::check_simple(app, &lists, &format!("simple_script {:?}", s.name), &s.path, &s.ammo_url)?;
        let mut job = jobs::build(jobs::ScriptSource::Simple(s), &bucket)
            .map_err(|why| ApiError::unprocessable(&format!("simple_script {:?}", s.name), why))?;
        job.spec.allowed_targets.clone_from(&allowed_targets);
        items.push(RunItem {
            kind: ScriptKind::Simple,
            script_id: i64::from(s.script_id),
            name: s.name.clone(),
            tag: s.tag.clone(),
            script: serde_json::to_value(s).unwrap_or_default(),
            job,
            rps: s.rps.parse::<f64>().unwrap_or(0.0),
        });
    }
    for s in &new.extended {
        crate::extended::validate::targets(app, &lists, s)?;
        let beside = crate::extended::job::beside(&app.storage, s).await?;
        let mut job = jobs::build(jobs::ScriptSource::Extended { script: s, beside: &beside }, &bucket)
            .map_err(|why| ApiError::unprocessable(&format!("script {:?}", s.name), why))?;
        job.spec.allowed_targets.clone_from(&allowed_targets);
        if new.kind == RunKind::Smoke {
            crate::extended::job::smoke(&mut job.spec);
        }
        items.push(RunItem {
            kind: ScriptKind::Extended,
            script_id: i64::from(s.script_id),
            name: s.name.clone(),
            tag: s.tag.clone(),
            script: serde_json::to_value(s).unwrap_or_default(),
            rps: job.spec.profile.rps,
            job,
        });
    }
    let rps = |s: &RunItem| s.rps * f64::from(new.percentage) / 100.0;
    let total: f64 = items.iter().map(rps).sum();
    #[allow(clippy::cast_precision_loss)]
    if total > app.limits.max_run_rps as f64 {
        return Err(ApiError::unprocessable(
            "percentage_of_target",
            format!("the run would aim at {total:.0} rps, above the maximum of {} rps per run", app.limits.max_run_rps),
        ));
    }
    {
        let conn = app.db.conn().await?;
        if let Some(id) = q::active_of_scenario(&conn, new.scenario_id).await? {
            return Err(ApiError::conflict(format!(
                "scenario_id: scenario {} already has an active run ({id}); stop it first",
                new.scenario_id
            )));
        }
    }
    let demands: Vec<plan::Demand> =
        items.iter().map(|s| plan::Demand { tag: s.tag.clone(), rps: rps(s).max(1.0) }).collect();
    // Grow the fleet first (#13); what it could not do is said, never retried here.
    let fleet_notes = super::fleet::prepare(app, &demands).await;
    // Planned on the enabled agents as the database has them: a start calls no
    // agent. The controller starts the jobs; a job its agent does not accept
    // moves to an answering agent carrying the tag (`control::reconcile`).
    let agents = enabled(app, &BTreeSet::new()).await?;
    let candidates: Vec<plan::Candidate> = agents.iter().map(|h| h.candidate.clone()).collect();
    let assignments = plan::plan(&demands, &candidates).map_err(|tags| {
        let names: Vec<String> =
            tags.iter().map(|t| if t.is_empty() { "(any)".into() } else { format!("{t:?}") }).collect();
        let why = if fleet_notes.is_empty() { String::new() } else { format!(" ({})", fleet_notes.join("; ")) };
        ApiError::unprocessable("tag", format!("no enabled agent carries the tag(s) {}{why}", names.join(", ")))
    })?;

    let script_runs = items
        .iter()
        .enumerate()
        .map(|(i, s)| NewScriptRun {
            kind: s.kind,
            script_id: s.script_id,
            name: &s.name,
            tag: &s.tag,
            script: s.script.clone(),
            spec: &s.job.spec,
            data_key: s.job.data_key.as_deref(),
            #[allow(clippy::cast_possible_truncation)]
            target_rps: (s.rps.round() as i64).max(1),
            jobs: assignments
                .iter()
                .filter(|a| a.script == i)
                .map(|a| {
                    let url =
                        &agents.iter().find(|h| h.candidate.agent_id == a.agent_id).expect("a planned agent").base_url;
                    (a.agent_id, url, a.share)
                })
                .collect(),
        })
        .collect();
    let run = w::NewRun {
        scenario_id: new.scenario_id,
        title: &new.title,
        kind: new.kind,
        percentage: new.percentage,
        user_name: &new.user_name,
        preferred_user_name: &new.preferred_user_name,
        script_runs,
    };
    let run_id = {
        let mut conn = app.db.conn().await?;
        let run_id = w::create_run(&mut conn, &run).await.map_err(|e| unique_active(e, new.scenario_id))?;
        for note in &fleet_notes {
            w::change(&conn, run_id, None, "fleet", note, None).await?;
        }
        run_id
    };
    app.nudge.nudge();
    reload(app, run_id).await
}

/// Start a scenario. The run is recorded under the caller's name (`who`), never
/// under the `user_name` of the body, which anyone could write.
pub async fn start(app: &AppState, who: &Principal, req: RunScenarioRequest) -> ApiResult<RunResponse> {
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
    let extended: Vec<Script> =
        db::scripts::list(&app.db, scenario_id).await?.into_iter().filter(|s| s.enabled).collect();
    let scripts: Vec<SimpleScript> =
        db::simple_scripts::list(&app.db, scenario_id).await?.into_iter().filter(|s| s.enabled).collect();
    if scripts.is_empty() && extended.is_empty() {
        return Err(ApiError::unprocessable("scenario_id", format!("scenario {scenario_id} has no enabled scripts")));
    }
    let run = create_run(
        app,
        NewRun {
            scenario_id,
            title: scenario.title,
            kind: RunKind::Scenario,
            percentage,
            user_name: who.name.clone(),
            preferred_user_name: who.name.clone(),
            scripts,
            extended,
        },
    )
    .await?;
    Ok(RunResponse { status: true, message: String::new(), run: Some(run) })
}

pub async fn start_simple_script(
    app: &AppState,
    who: &Principal,
    req: crate::wire::scripts::SimpleScriptIdRequest,
) -> ApiResult<RunResponse> {
    let id = known_id("simple_script", req.simple_script_id.into())?;
    let mut s = db::simple_scripts::get(&app.db, id).await?.ok_or_else(|| ApiError::not_found("simple_script", id))?;
    s.rps = "2".into();
    s.duration = "1m".into();
    s.steps = "1".into();
    let (scenario_id, name) = (s.scenario_id.into(), s.name.clone());
    smoke(app, who, scenario_id, &name, vec![s], Vec::new()).await
}

/// Smoke test of an extended script: as for a simple one, 2 rps for 1 m in 1 step.
pub async fn start_script(
    app: &AppState,
    who: &Principal,
    req: crate::wire::scripts::ScriptIdRequest,
) -> ApiResult<RunResponse> {
    let id = known_id("script", req.script_id.into())?;
    let mut s = db::scripts::get(&app.db, id).await?.ok_or_else(|| ApiError::not_found("script", id))?;
    s.options = Some(crate::wire::scripts::Options { rps: "2".into(), steps: "1".into(), duration: "1m".into() });
    let (scenario_id, name) = (s.scenario_id.into(), s.name.clone());
    smoke(app, who, scenario_id, &name, Vec::new(), vec![s]).await
}

/// A smoke test (`Smoke_test_<name>`, by whoever asked, at 100 %) of one script.
async fn smoke(
    app: &AppState,
    who: &Principal,
    scenario_id: i64,
    name: &str,
    scripts: Vec<SimpleScript>,
    extended: Vec<Script>,
) -> ApiResult<RunResponse> {
    let new = NewRun {
        scenario_id,
        title: format!("Smoke_test_{name}"),
        kind: RunKind::Smoke,
        percentage: 100,
        user_name: who.name.clone(),
        preferred_user_name: who.name.clone(),
        scripts,
        extended,
    };
    Ok(RunResponse { status: true, message: String::new(), run: Some(create_run(app, new).await?) })
}

/// Ask a run to stop: the controller stops every job, retrying until it ends.
async fn stop_run(app: &AppState, run_id: i64, who: &str) -> ApiResult<()> {
    let conn = app.db.conn().await?;
    w::request_stop(&conn, run_id, who).await?;
    app.nudge.nudge();
    Ok(())
}

pub async fn stop(app: &AppState, who: &Principal, req: RunIdRequest) -> ApiResult<RunResponse> {
    let row = run_row(app, req.run_id).await?;
    let message = if row.status == RunStatus::Stopped {
        "the run is already stopped".to_string()
    } else {
        stop_run(app, row.id, &who.name).await?;
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
    Ok(with_log_names(app, q::script_runs(&conn, std::slice::from_ref(sr), false).await?).remove(0))
}

/// [`with_log_names`] for the script runs of runs.
fn runs_with_log_names(app: &AppState, mut runs: Vec<Run>) -> Vec<Run> {
    for run in &mut runs {
        run.script_runs = with_log_names(app, std::mem::take(&mut run.script_runs));
    }
    runs
}

/// The v1 `log_file_name`: `<job key>~<log key>`, what the original web UI
/// puts in its link to the agent's `/api/v1/getTaskLogs` (#14).
fn with_log_names(app: &AppState, mut srs: Vec<ScriptRun>) -> Vec<ScriptRun> {
    for sr in &mut srs {
        if !sr.log_file_name.is_empty() {
            sr.log_file_name = format!("{}~{}", sr.log_file_name, app.agents.log_key(&sr.log_file_name));
        }
    }
    srs
}

pub async fn stop_script(app: &AppState, who: &Principal, req: StopScriptRequest) -> ApiResult<StopScriptResponse> {
    let run = run_row(app, req.run_id).await?;
    let sr = script_run_row(app, run.id, req.run_script_id).await?;
    stop_script_runs(app, &run, &[sr.id], &who.name).await?;
    let sr = script_run_row(app, run.id, req.run_script_id).await?;
    Ok(StopScriptResponse { status: true, message: String::new(), run: Some(wire_script_run(app, &sr).await?) })
}

async fn stop_script_runs(app: &AppState, run: &RunRow, ids: &[i64], who: &str) -> ApiResult<()> {
    let mut conn = app.db.conn().await?;
    w::request_script_stop(&mut conn, run.id, ids, who).await?;
    app.nudge.nudge();
    Ok(())
}

fn require_running(run: &RunRow, what: &str) -> ApiResult<()> {
    if run.kind == RunKind::Smoke {
        return Err(ApiError::unprocessable("run_id", format!("{what} is not available for a smoke test")));
    }
    if run.status != RunStatus::Running && run.status != RunStatus::Prepared {
        return Err(ApiError::conflict(format!(
            "run_id: run {} is {}; only a running run can change",
            run.id, run.status
        )));
    }
    Ok(())
}

/// Refuse a change that would make the run aim above `MAX_RUN_RPS`.
async fn check_total(app: &AppState, run_id: i64, percentage: Option<i32>, extra: i64) -> ApiResult<()> {
    let conn = app.db.conn().await?;
    let total: f64 = q::script_run_rows(&conn, &[run_id])
        .await?
        .into_iter()
        .map(|mut s| {
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
    let conn = app.db.conn().await?;
    w::set_percentage(&conn, run.id, run.percentage, percentage, who).await?;
    app.nudge.nudge();
    Ok(String::new())
}

pub async fn adjust(app: &AppState, who: &Principal, req: AdjustmentRequest) -> ApiResult<StdResponse> {
    let percent = req.adjustment_on_percent.ok_or_else(|| {
        ApiError::bad_request("adjustment_on_percent", "is required: the load level in percent of the target, e.g. 100")
    })?;
    let run = run_row(app, req.run_id).await?;
    let message = adjust_to(app, &run, percent, &who.name).await?;
    Ok(StdResponse::ok(message))
}

async fn increase(
    app: &AppState,
    who: &str,
    run_id: i32,
    kind: ScriptKind,
    script_id: i32,
    by: i32,
) -> ApiResult<StdResponse> {
    let run = run_row(app, run_id).await?;
    require_running(&run, "an increase")?;
    if by <= 0 {
        return Err(ApiError::unprocessable("increase_by_rps", format!("{by} must be a positive number of rps")));
    }
    check_total(app, run.id, None, i64::from(by)).await?;
    let mut conn = app.db.conn().await?;
    w::increase(&mut conn, run.id, kind, i64::from(script_id), i64::from(by), who)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("running {kind} script of run {}", run.id), script_id))?;
    app.nudge.nudge();
    Ok(StdResponse::ok(""))
}

pub async fn increase_script(app: &AppState, who: &Principal, req: IncreaseScriptRequest) -> ApiResult<StdResponse> {
    increase(app, &who.name, req.run_id, ScriptKind::Extended, req.script_id, req.increase_by_rps).await
}

pub async fn increase_simple_script(
    app: &AppState,
    who: &Principal,
    req: IncreaseSimpleScriptRequest,
) -> ApiResult<StdResponse> {
    increase(app, &who.name, req.run_id, ScriptKind::Simple, req.simple_script_id, req.increase_by_rps).await
}

pub async fn get(app: &AppState, req: RunIdRequest) -> ApiResult<RunResponse> {
    let row = run_row(app, req.run_id).await?;
    Ok(RunResponse { status: true, message: String::new(), run: Some(wire_run(app, &row).await?) })
}

pub async fn list(app: &AppState, req: GetAllRunningRequest) -> ApiResult<RunsResponse> {
    let page = Page::new(req.limit, req.page_number, WhenUnlimited::Default(10));
    let filter = match (req.project_id.unwrap_or(0), req.scenario_id.unwrap_or(0)) {
        (p, _) if p != 0 => RunFilter::Project(p.into()),
        (_, s) if s != 0 => RunFilter::Scenario(s.into()),
        _ => RunFilter::All,
    };
    let conn = app.db.conn().await?;
    let (rows, total) = q::list(&conn, filter, &page).await?;
    let runs = runs_with_log_names(app, q::runs(&conn, &rows, false).await?);
    Ok(RunsResponse { status: true, message: String::new(), runs, total_pages: page.total_pages(total).to_string() })
}

pub async fn by_status(app: &AppState, req: RunsByStatusRequest) -> ApiResult<RunsResponse> {
    let status = RunStatus::from_number(req.run_status)
        .ok_or_else(|| ApiError::bad_request("run_status", format!("{} is not a run status", req.run_status)))?;
    let page = Page::new(req.limit, req.page_number, WhenUnlimited::Default(10));
    let conn = app.db.conn().await?;
    let (rows, total) = q::by_status(&conn, status, &page).await?;
    let runs = runs_with_log_names(app, q::runs(&conn, &rows, true).await?);
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
    if row.status != RunStatus::Running {
        return Ok(CurrentRpsResponse { status: true, rps: "0".into() });
    }
    let run = wire_run(app, &row).await?;
    let rps: f64 = run
        .script_runs
        .iter()
        .filter(|s| s.status == crate::model::run::ScriptRunStatus::Running.as_str())
        .filter_map(|s| s.metrics.as_ref().and_then(|m| m.rps.parse::<f64>().ok()))
        .sum();
    Ok(CurrentRpsResponse { status: true, rps: format!("{}", rps.round()) })
}

pub async fn script_runs_by_name(app: &AppState, req: ScriptRunsByNameRequest) -> ApiResult<ScriptRunsByNameResponse> {
    let row = run_row(app, req.run_id).await?;
    let conn = app.db.conn().await?;
    let srs: Vec<ScriptRunRow> =
        q::script_run_rows(&conn, &[row.id]).await?.into_iter().filter(|s| s.name == req.script_name).collect();
    Ok(ScriptRunsByNameResponse { script_runs: with_log_names(app, q::script_runs(&conn, &srs, false).await?) })
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
        run_status: row.status.as_str().to_string(),
    };
    match row.status {
        RunStatus::Prepared => return Ok(answer(false, current)),
        RunStatus::Running if row.kind == RunKind::Scenario => {}
        _ => return Ok(answer(false, 0)),
    }
    let conn = app.db.conn().await?;
    let pending = crate::model::run::change_pending(&q::live_jobs_sent(&conn, row.id).await?);
    Ok(if pending { answer(false, current) } else { answer(true, 0) })
}

/// `/v1/command/new`: the command's change of desired state is made now; its row
/// records the outcome.
pub async fn command_new(app: &AppState, who: &Principal, req: CommandNewRequest) -> ApiResult<CommandNewResponse> {
    let command = CommandKind::from_number(req.command_type)
        .ok_or_else(|| ApiError::bad_request("command_type", format!("{} is not a command type", req.command_type)))?;
    let scope = SCOPES.get(usize::try_from(req.scope).unwrap_or(0)).copied().unwrap_or(SCOPES[0]);
    if command.needs_script_ids() && req.script_ids.is_empty() {
        return Err(ApiError::bad_request("script_ids", format!("is required for {command}")));
    }
    // Every command but a smoke run (of either kind) acts on an existing run.
    let run = match command {
        CommandKind::RunSimpleScript | CommandKind::RunScript => None,
        _ => Some(run_row(app, req.run_id).await?),
    };
    let percentage = req.percentage_of_target.unwrap_or(0);
    let increase = req.increase_rps.unwrap_or(0);
    let command_id = {
        let conn = app.db.conn().await?;
        w::command_received(
            &conn,
            &NewCommand {
                command,
                scope,
                run_id: run.as_ref().map(|r| r.id),
                script_ids: &req.script_ids,
                hostname: &hostname(),
                percentage,
                increase_rps: increase,
            },
        )
        .await?
    };
    let outcome = execute_command(app, who, command, run.as_ref(), &req, percentage, increase).await;
    let (status, error) = match &outcome {
        Ok(()) => (CommandStatus::Completed, String::new()),
        Err(e) => (CommandStatus::Failed, e.message.clone()),
    };
    let (created, updated) = {
        let conn = app.db.conn().await?;
        w::command_done(&conn, command_id, status, &error).await?
    };
    outcome?;
    let command = Command {
        command_id: id32(command_id),
        command_type: command.as_str().to_string(),
        scope: scope.to_string(),
        run_id: run.as_ref().map(|r| id32(r.id)),
        script_ids: req.script_ids.iter().map(ToString::to_string).collect(),
        status: status.as_str().into(),
        error_description: error,
        hostname: hostname(),
        created_at: Some(q::timestamp(created)),
        updated_at: Some(q::timestamp(updated)),
        percentage_of_target: percentage,
        increase_rps: increase,
    };
    Ok(CommandNewResponse { status: true, message: String::new(), command: Some(command) })
}

/// What a command does. `run` is set for every command but a smoke run.
async fn execute_command(
    app: &AppState,
    who: &Principal,
    command: CommandKind,
    run: Option<&RunRow>,
    req: &CommandNewRequest,
    percentage: i32,
    increase: i32,
) -> ApiResult<()> {
    let script_id = |id: i64| i32::try_from(id).map_err(|_| ApiError::bad_request("script_ids", "out of range"));
    match (command, run) {
        (CommandKind::RunSimpleScript, _) => {
            let id = script_id(req.script_ids[0])?;
            start_simple_script(app, who, crate::wire::scripts::SimpleScriptIdRequest { simple_script_id: id })
                .await
                .map(|_| ())
        }
        (CommandKind::RunScript, _) => {
            let id = script_id(req.script_ids.first().copied().unwrap_or(0))?;
            start_script(app, who, crate::wire::scripts::ScriptIdRequest { script_id: id }).await.map(|_| ())
        }
        (_, None) => Err(ApiError::bad_request("run_id", "is required")),
        (CommandKind::StopScenario, Some(run)) => stop_run(app, run.id, &who.name).await,
        (CommandKind::StopScript, Some(run)) => stop_script_runs(app, run, &req.script_ids, &who.name).await,
        (CommandKind::Update | CommandKind::Adjustment, Some(_)) if increase > 0 => {
            for id in &req.script_ids {
                let request = IncreaseSimpleScriptRequest {
                    run_id: req.run_id,
                    simple_script_id: script_id(*id)?,
                    increase_by_rps: increase,
                };
                increase_simple_script(app, who, request).await?;
            }
            Ok(())
        }
        (CommandKind::Update | CommandKind::Adjustment, Some(run)) => {
            adjust_to(app, run, percentage, &who.name).await.map(|_| ())
        }
        (CommandKind::RunScenario, Some(run)) => {
            // (Re)apply an active run's desired state: the controller does, now.
            if run.status == RunStatus::Stopped {
                return Err(ApiError::conflict(format!("run_id: run {} is stopped; start the scenario anew", run.id)));
            }
            app.nudge.nudge();
            Ok(())
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

fn point(ts: i64, f: &metrics::Figures) -> Point {
    Point {
        ts,
        target_rps: f.target_rps,
        achieved_rps: f.achieved_rps,
        requests: f.counts.sent,
        failed: f.counts.failed,
        error_rate: f.error_rate,
        p50: f.p50,
        p90: f.p90,
        p95: f.p95,
        p99: f.p99,
        max: f.max,
        script: None,
    }
}

/// Points with the extended scripts' figures of their interval attached.
fn with_script(mut points: Vec<Point>, mut script: BTreeMap<i64, ScriptFigures>) -> Vec<Point> {
    for p in &mut points {
        p.script = script.remove(&p.ts);
    }
    points
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
    let script_seconds = db::script_metrics::seconds(&conn, &ids, Some(from), Some(to)).await?;
    // Each script's seconds summed once per interval; the total combines those.
    let cut: Vec<BTreeMap<i64, metrics::Sum>> = srs
        .iter()
        .map(|sr| {
            metrics::intervals(
                seconds.iter().filter(|(id, s)| *id == sr.id && s.ts >= from).map(|(_, s)| s),
                from,
                step,
            )
        })
        .collect();
    let points = |sums: &BTreeMap<i64, metrics::Sum>| -> Vec<Point> {
        metrics::figures_of(sums, step).iter().map(|(t, f)| point(*t, f)).collect()
    };
    let scripts = srs
        .iter()
        .zip(&cut)
        .map(|(sr, sums)| {
            let script = merge::series(
                script_seconds.iter().filter(|(id, _, _)| *id == sr.id).map(|(_, ts, b)| (*ts, b)),
                from,
                step,
            );
            Series { run_script_id: id32(sr.id), name: sr.name.clone(), points: with_script(points(sums), script) }
        })
        .collect();
    let total = with_script(
        points(&metrics::combine_intervals(&cut)),
        merge::series(script_seconds.iter().map(|(_, ts, b)| (*ts, b)), from, step),
    );
    Ok(RunMetricsResponse { status: true, message: String::new(), from, to, step, scripts, total })
}

fn summary(id: i64, name: &str, status: &str, target: f64, f: &metrics::Figures) -> ScriptSummary {
    ScriptSummary {
        run_script_id: id32(id),
        name: name.into(),
        status: status.into(),
        target_rps: target,
        achieved_rps: f.achieved_rps,
        counts: f.counts,
        seconds: f.seconds,
        p50: f.p50,
        p90: f.p90,
        p95: f.p95,
        p99: f.p99,
        max: f.max,
        status_codes: f.status.clone(),
        errors: f.errors.clone(),
        script: None,
    }
}

/// `/v1/run/summary`: per script run over the whole run, and in total.
pub async fn run_summary(app: &AppState, req: RunIdRequest) -> ApiResult<RunSummaryResponse> {
    let row = run_row(app, req.run_id).await?;
    let conn = app.db.conn().await?;
    let srs = q::script_run_rows(&conn, &[row.id]).await?;
    let ids: Vec<i64> = srs.iter().map(|s| s.id).collect();
    let seconds = q::seconds(&conn, &ids, None, None).await?;
    let script_seconds = db::script_metrics::seconds(&conn, &ids, None, None).await?;
    // Each script's seconds summed once; the total combines those.
    let sums: Vec<metrics::Sum> =
        srs.iter().map(|sr| metrics::Sum::of(seconds.iter().filter(|(id, _)| *id == sr.id).map(|(_, s)| s))).collect();
    let scripts: Vec<ScriptSummary> = srs
        .iter()
        .zip(&sums)
        .map(|(sr, sum)| {
            let mut out = summary(sr.id, &sr.name, sr.status.as_str(), sr.desired_rps(), &sum.figures(None));
            out.script =
                merge::merge(script_seconds.iter().filter(|(id, _, _)| *id == sr.id).map(|(_, ts, b)| (*ts, b)));
            out
        })
        .collect();
    let f = metrics::Sum::combine(&sums).figures(None);
    let target: f64 = srs.iter().map(ScriptRunRow::desired_rps).sum();
    let mut total = summary(row.id, &row.title, row.status.as_str(), target, &f);
    total.script = merge::merge(script_seconds.iter().map(|(_, ts, b)| (*ts, b)));
    let (stored_seconds, stored_bytes) = q::stored_size(&conn, row.id).await?;
    Ok(RunSummaryResponse {
        status: true,
        message: String::new(),
        run_status: row.status.as_str().to_string(),
        percentage_of_target: row.percentage,
        scripts,
        total: Some(total),
        stored_seconds,
        stored_bytes,
        verdict: super::verdicts::brief(&conn, row.id).await?,
    })
}
