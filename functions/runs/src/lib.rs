//! The runs function: RunService and CommandService v1 routes, the new run
//! metrics routes, and AgentService's `remove-logs` (it talks to the agents).

use alilo_shared::AppState;
use alilo_shared::service::runs as svc;
use alilo_shared::v1_route;
use alilo_shared::wire::StdResponse;
use alilo_shared::wire::runs::*;
use alilo_shared::wire::scripts::{ScriptIdRequest, SimpleScriptIdRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every route this function serves.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get))
        .routes(routes!(stop_script))
        .routes(routes!(start))
        .routes(routes!(stop))
        .routes(routes!(by_status))
        .routes(routes!(adjust))
        .routes(routes!(increase_script))
        .routes(routes!(increase_simple_script))
        .routes(routes!(start_script))
        .routes(routes!(start_simple_script))
        .routes(routes!(time_range))
        .routes(routes!(current_rps))
        .routes(routes!(script_runs_by_name))
        .routes(routes!(script_run_by_id))
        .routes(routes!(is_change_load_level))
        .routes(routes!(run_metrics))
        .routes(routes!(run_summary))
        .routes(routes!(command_new))
        .routes(routes!(remove_logs))
        .routes(routes!(run_logs))
}

v1_route!(
    /// Runs of a project, of a scenario, or all, latest change first (10 per page by default).
    list, "/v1/runs", "RunService", GetAllRunningRequest => RunsResponse, svc::list);
v1_route!(
    /// One run with its script runs and their live metrics.
    get, "/v1/run", "RunService", RunIdRequest => RunResponse, svc::get);
v1_route!(
    /// Stop one script run of a run; answers the ScriptRun.
    stop_script, "/v1/run/stop/script-run", "RunService", StopScriptRequest => StopScriptResponse, svc::stop_script, caller);
v1_route!(
    /// Start every enabled script of a scenario, simple and extended (JS), at a load percentage (409 if it already runs).
    start, "/v1/run/start", "RunService", RunScenarioRequest => RunResponse, svc::start, caller);
v1_route!(
    /// Stop a run: every job is stopped now, and retried until it ends.
    stop, "/v1/run/stop", "RunService", RunIdRequest => RunResponse, svc::stop, caller);
v1_route!(
    /// Runs with a status, paginated.
    by_status, "/v1/run/by-status", "RunService", RunsByStatusRequest => RunsResponse, svc::by_status);
v1_route!(
    /// Set a running run's load to a percentage of its targets (0 stops it).
    adjust, "/v1/run/adjustment", "RunService", AdjustmentRequest => StdResponse, svc::adjust, caller);
v1_route!(
    /// Raise one extended script's rate by an RPS amount.
    increase_script, "/v1/run/increase/script", "RunService", IncreaseScriptRequest => StdResponse, svc::increase_script, caller);
v1_route!(
    /// Raise one simple script's rate by an RPS amount.
    increase_simple_script, "/v1/run/increase/simple-script", "RunService", IncreaseSimpleScriptRequest => StdResponse, svc::increase_simple_script, caller);
v1_route!(
    /// Smoke-test one extended (JS) script: 2 rps for a minute, as a simple one.
    start_script, "/v1/run/start/script", "RunService", ScriptIdRequest => RunResponse, svc::start_script, caller);
v1_route!(
    /// Smoke-test one simple script: 2 rps for a minute.
    start_simple_script, "/v1/run/start/simple-script", "RunService", SimpleScriptIdRequest => RunResponse, svc::start_simple_script, caller);
v1_route!(
    /// Start and end (or last change) of a run.
    time_range, "/v1/run/timeRange", "RunService", RunIdRequest => TimeRangeResponse, svc::time_range);
v1_route!(
    /// The run's achieved requests per second now.
    current_rps, "/v1/run/rps", "RunService", RunIdRequest => CurrentRpsResponse, svc::current_rps);
v1_route!(
    /// Script runs of a run whose script has this name.
    script_runs_by_name, "/v1/run/scriptruns", "RunService", ScriptRunsByNameRequest => ScriptRunsByNameResponse, svc::script_runs_by_name);
v1_route!(
    /// One script run of a run.
    script_run_by_id, "/v1/run/scriptrun", "RunService", ScriptRunByIdRequest => ScriptRunByIdResponse, svc::script_run_by_id);
v1_route!(
    /// Whether the run's load level can change now (no change pending).
    is_change_load_level, "/v1/run/is-change-loadlevel", "RunService", RunIdRequest => IsChangeLoadLevelResponse, svc::is_change_load_level);
v1_route!(
    /// A run's time series per script and in total: target vs achieved rps, error rate, latency percentiles.
    run_metrics, "/v1/run/metrics", "RunService", RunMetricsRequest => RunMetricsResponse, svc::run_metrics);
v1_route!(
    /// A run's summary per script over the whole run.
    run_summary, "/v1/run/summary", "RunService", RunIdRequest => RunSummaryResponse, svc::run_summary);
v1_route!(
    /// Execute a command on a run (stop, stop scripts, adjust, increase, smoke run).
    command_new, "/v1/command/new", "CommandService", CommandNewRequest => CommandNewResponse, svc::command_new, caller);
v1_route!(
    /// Deletes the stored failed-request logs older than `more_than_days` or larger than `more_than_mb`.
    remove_logs, "/v1/remove-logs", "AgentService", RemoveLogsRequest => StdResponse, alilo_shared::service::run_logs::remove);
v1_route!(
    /// A script run's failed requests: the first and the last ones (time, status or error, message, first KB of the body).
    run_logs, "/v1/run/logs", "RunService", ScriptRunByIdRequest => RunLogsResponse, alilo_shared::service::run_logs::read);
