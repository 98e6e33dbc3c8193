//! The verdicts function (#12): thresholds of scenarios and scripts, a run's
//! verdict, its HTML report and the comparison of two runs.

use alilo_shared::AppState;
use alilo_shared::service::verdicts as svc;
use alilo_shared::v1_route;
use alilo_shared::wire::StdResponse;
use alilo_shared::wire::runs::RunIdRequest;
use alilo_shared::wire::verdicts::*;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every route this function serves.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(thresholds))
        .routes(routes!(set_thresholds))
        .routes(routes!(set_baseline))
        .routes(routes!(verdict))
        .routes(routes!(report))
        .routes(routes!(compare))
}

v1_route!(
    /// A scenario's thresholds (its own and its scripts'), its baseline, and the metrics a threshold can watch.
    thresholds, "/v1/thresholds", "VerdictService", ScenarioIdRequest => ThresholdsResponse, svc::thresholds);
v1_route!(
    /// Replace the thresholds of a scenario, or of one of its scripts (k6 syntax; 422 names the threshold, field and column).
    set_thresholds, "/v1/thresholds/set", "VerdictService", SetThresholdsRequest => StdResponse, svc::set_thresholds);
v1_route!(
    /// Mark a run as its scenario's baseline (run_id 0 clears), with the tolerance of "no worse than it by N %".
    set_baseline, "/v1/scenario/baseline", "VerdictService", SetBaselineRequest => StdResponse, svc::set_baseline);
v1_route!(
    /// A run's verdict: each threshold, observed value, and why the run was aborted.
    verdict, "/v1/run/verdict", "VerdictService", RunIdRequest => VerdictResponse, svc::verdict);
v1_route!(
    /// Write the run's self-contained HTML report now and answer its presigned link (409 while one is being written).
    report, "/v1/run/report", "VerdictService", RunIdRequest => ReportResponse, svc::report);
v1_route!(
    /// Two runs side by side, per script name and in total; changes beyond run-to-run noise are flagged.
    compare, "/v1/run/compare", "VerdictService", CompareRequest => CompareResponse, svc::compare_runs);
