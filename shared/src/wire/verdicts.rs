//! Shapes of the verdict routes (#12): thresholds of a scenario, a run's
//! verdict, its report, and the comparison of two runs. New routes, so plain
//! JSON numbers; requests accept numbers as strings like the v1 routes.

use super::de;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `/v1/thresholds`: a scenario's thresholds.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ScenarioIdRequest {
    #[serde(alias = "scenarioId", deserialize_with = "de::i32")]
    pub scenario_id: i32,
}

/// One threshold in k6's syntax.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ThresholdItem {
    /// Metric key: `http_req_duration`, `http_req_failed`, `http_reqs`,
    /// `dropped_iterations`, `rps_of_target`, `checks`, optionally with a
    /// `{name:<script name>}` filter.
    #[serde(deserialize_with = "de::string")]
    pub metric: String,
    /// k6 expression, e.g. `p(95)<300` (ms), `rate<0.01`, `value>=0.95`.
    #[serde(deserialize_with = "de::string")]
    pub expression: String,
    /// Stop the run when the threshold keeps failing for `grace`.
    #[serde(alias = "abortOnFail", deserialize_with = "de::boolean")]
    pub abort_on_fail: bool,
    /// e.g. `"10s"`; empty = 0.
    #[serde(deserialize_with = "de::string")]
    pub grace: String,
    /// Set in answers: the extended script it is limited to (0: none).
    #[serde(alias = "scriptId", deserialize_with = "de::i32")]
    pub script_id: i32,
    /// Set in answers: the simple script it is limited to (0: none).
    #[serde(alias = "simpleScriptId", deserialize_with = "de::i32")]
    pub simple_script_id: i32,
}

/// `/v1/thresholds/set`: replaces the thresholds of a scenario (both script
/// ids 0) or of one of its scripts.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct SetThresholdsRequest {
    #[schema(required = true)]
    #[serde(alias = "scenarioId", deserialize_with = "de::i32")]
    pub scenario_id: i32,
    #[serde(alias = "scriptId", deserialize_with = "de::i32")]
    pub script_id: i32,
    #[serde(alias = "simpleScriptId", deserialize_with = "de::i32")]
    pub simple_script_id: i32,
    pub thresholds: Vec<ThresholdItem>,
}

/// A metric a threshold can watch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MetricInfo {
    pub name: String,
    /// `trend`, `rate`, `counter` or `gauge`.
    pub kind: String,
    pub meaning: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ThresholdsResponse {
    pub status: bool,
    pub message: String,
    pub thresholds: Vec<ThresholdItem>,
    /// The baseline run (0: none) and the tolerance of "no worse than it".
    pub baseline_run_id: i32,
    pub baseline_tolerance_percent: f64,
    /// Seconds at a run's start that thresholds ignore.
    pub warmup_s: i64,
    pub metrics: Vec<MetricInfo>,
}

/// `/v1/scenario/baseline`: mark a run as the scenario's baseline (0 clears).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct SetBaselineRequest {
    #[schema(required = true)]
    #[serde(alias = "scenarioId", deserialize_with = "de::i32")]
    pub scenario_id: i32,
    #[serde(alias = "runId", deserialize_with = "de::i32")]
    pub run_id: i32,
    /// The verdict fails when p95 or the error rate is worse than the
    /// baseline's by more than this percentage (0: only shown, not judged).
    #[serde(alias = "tolerancePercent")]
    pub tolerance_percent: f64,
}

/// A threshold of a run and how it stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ThresholdResult {
    pub metric: String,
    pub expression: String,
    /// The script it is limited to ("" for the whole run).
    pub script: String,
    /// `scenario`, `script`, `k6` or `baseline`.
    pub origin: String,
    pub abort_on_fail: bool,
    pub grace_s: i64,
    /// `null`: not judged yet (no data).
    pub passed: Option<bool>,
    pub observed: Option<f64>,
    /// Unix second since which it fails (live).
    pub failing_since: Option<i64>,
    pub ever_failed: bool,
}

/// `/v1/run/verdict`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerdictResponse {
    pub status: bool,
    pub message: String,
    pub run_id: i32,
    pub run_status: String,
    /// `none` (no thresholds), `pending` (running), `passed` or `failed`.
    pub verdict: String,
    /// Whether this is the verdict over the whole ended run.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// Why the run was aborted ("" if it was not).
    pub aborted: String,
    /// One line: what failed, with the observed values.
    pub explanation: String,
    pub warmup_s: i64,
    pub live_window_s: i64,
    pub thresholds: Vec<ThresholdResult>,
    pub report_link: String,
}

/// What `/v1/run/summary` adds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerdictBrief {
    pub verdict: String,
    #[serde(rename = "final")]
    pub is_final: bool,
    pub aborted: String,
    pub explanation: String,
}

/// `/v1/run/report` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportResponse {
    pub status: bool,
    pub message: String,
    /// Presigned link to the HTML file (valid 7 days).
    pub report_link: String,
    pub bytes: i64,
}

/// `/v1/run/compare`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct CompareRequest {
    #[schema(required = true)]
    #[serde(alias = "baseRunId", deserialize_with = "de::i32")]
    pub base_run_id: i32,
    #[serde(alias = "runId", deserialize_with = "de::i32")]
    pub run_id: i32,
}

/// One figure of two runs.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Delta {
    pub base: f64,
    pub run: f64,
    /// `run - base`.
    pub change: f64,
    /// `change / base` in percent (null when base is 0).
    pub change_percent: Option<f64>,
    /// Beyond run-to-run noise (see `rule`).
    pub flagged: bool,
    /// `better`, `worse` or `same`.
    pub direction: String,
}

/// The deltas of one script name (or of the whole run).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NameDeltas {
    pub name: String,
    /// Present in only one run: `base` or `run`; "" when in both.
    pub only_in: String,
    pub p50: Delta,
    pub p90: Delta,
    pub p95: Delta,
    pub p99: Delta,
    pub error_rate: Delta,
    pub achieved_rps: Delta,
    pub achieved_of_target: Delta,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompareResponse {
    pub status: bool,
    pub message: String,
    /// Set when the runs are of different scenarios (allowed).
    pub warning: String,
    /// The noise rule deltas are flagged by.
    pub rule: String,
    pub total: Option<NameDeltas>,
    pub scripts: Vec<NameDeltas>,
    /// Flagged regressions, one line each.
    pub regressions: Vec<String>,
}
