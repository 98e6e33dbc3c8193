//! RunService and CommandService shapes (contract 2.4, 2.10, 3.1), and the new
//! run metrics routes.

use super::agents::Agent;
use super::de;
use super::scripts::{Script, SimpleScript};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

pub const RUN_STATUSES: &[&str] =
    &["STATUS_STOPPED_UNSPECIFIED", "STATUS_PREPARED", "STATUS_RUNNING", "STATUS_RESERVED", "STATUS_STOPPING"];
pub const COMMAND_TYPES: &[&str] = &[
    "TYPE_RUN_SCENARIO_UNSPECIFIED",
    "TYPE_STOP_SCENARIO",
    "TYPE_RUN_SCRIPT",
    "TYPE_STOP_SCRIPT",
    "TYPE_UPDATE",
    "TYPE_ADJUSTMENT",
    "TYPE_6",
    "TYPE_7",
    "TYPE_RUN_SIMPLE_SCRIPT",
];
pub const SCOPES: &[&str] = &["SCOPE_ALL_UNSPECIFIED", "SCOPE_ID"];

fn run_status<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    de::enum_value(d, RUN_STATUSES)
}
fn command_type<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    de::enum_value(d, COMMAND_TYPES)
}
fn scope<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    de::enum_value(d, SCOPES)
}

/// k6-style live metrics of a script run, from the last complete seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Metrics {
    pub rps: String,
    pub rt90p: String,
    pub rt95p: String,
    pub rt_max: String,
    pub rt99p: String,
    pub failed: String,
    pub vus: String,
    pub sent: String,
    pub received: String,
    pub variety_ts: i32,
    pub checks: String,
    pub progress_bar: String,
    pub current_test_run_duration: Option<String>,
    pub execution_status: String,
    pub full_iteration_count: String,
    pub active_vus_count: String,
    pub has_started: bool,
    pub has_ended: bool,
    pub failed_rate: String,
    pub dropped_iterations: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScriptRun {
    pub run_id: i32,
    pub run_script_id: i32,
    pub script: Option<Script>,
    pub status: String,
    pub agent: Option<Agent>,
    pub info: String,
    pub pid: String,
    pub log_file_name: String,
    pub k6_api_port: String,
    pub port_prometheus: String,
    pub target: i32,
    pub metrics: Option<Metrics>,
    pub simple_script: Option<SimpleScript>,
    pub type_script_run: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Run {
    pub run_id: i32,
    pub title: String,
    pub project_id: i32,
    pub scenario_id: i32,
    pub script_runs: Vec<ScriptRun>,
    pub status: String,
    pub info: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub percentage_of_target: i32,
    pub user_name: String,
    pub preferred_user_name: String,
    pub report_link: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct GetAllRunningRequest {
    #[serde(alias = "projectId", deserialize_with = "de::opt_i32")]
    pub project_id: Option<i32>,
    #[serde(alias = "scenarioId", deserialize_with = "de::opt_i32")]
    pub scenario_id: Option<i32>,
    #[serde(deserialize_with = "de::opt_i32")]
    pub limit: Option<i32>,
    #[serde(alias = "pageNumber", deserialize_with = "de::opt_i32")]
    pub page_number: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunsResponse {
    pub status: bool,
    pub message: String,
    pub runs: Vec<Run>,
    pub total_pages: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct RunIdRequest {
    #[serde(alias = "runId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub run_id: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunResponse {
    pub status: bool,
    pub message: String,
    pub run: Option<Run>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct StopScriptRequest {
    #[serde(alias = "runId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub run_id: i32,
    #[serde(alias = "runScriptId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub run_script_id: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StopScriptResponse {
    pub status: bool,
    pub message: String,
    pub run: Option<ScriptRun>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct RunScenarioRequest {
    #[serde(alias = "scenarioId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub scenario_id: i32,
    #[serde(alias = "percentageOfTarget", deserialize_with = "de::opt_i32")]
    pub percentage_of_target: Option<i32>,
    /// Ignored (kept for the original UI, which sends it): the run is recorded
    /// under the signed-in user or token.
    #[serde(alias = "userName", deserialize_with = "de::string")]
    pub user_name: String,
    /// Ignored, as `user_name`.
    #[serde(alias = "preferredUserName", deserialize_with = "de::string")]
    pub preferred_user_name: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct RunsByStatusRequest {
    #[serde(alias = "runStatus", deserialize_with = "run_status")]
    pub run_status: i32,
    #[serde(deserialize_with = "de::opt_i32")]
    pub limit: Option<i32>,
    #[serde(alias = "pageNumber", deserialize_with = "de::opt_i32")]
    pub page_number: Option<i32>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct AdjustmentRequest {
    #[serde(alias = "runId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub run_id: i32,
    /// The new load level in percent of the target. Required: a missing value is a
    /// 400, never read as 0 (which stops the run).
    #[serde(alias = "adjustmentOnPercent", deserialize_with = "de::opt_i32")]
    #[schema(required = true)]
    pub adjustment_on_percent: Option<i32>,
    /// Ignored (kept for the original UI): the run's changes record the signed-in
    /// user or token.
    #[serde(alias = "userName", deserialize_with = "de::string")]
    pub user_name: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct IncreaseScriptRequest {
    #[serde(alias = "runId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub run_id: i32,
    #[serde(alias = "scriptId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub script_id: i32,
    #[serde(alias = "increaseByRps", alias = "increaseByRPS", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub increase_by_rps: i32,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct IncreaseSimpleScriptRequest {
    #[serde(alias = "runId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub run_id: i32,
    #[serde(alias = "simpleScriptId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub simple_script_id: i32,
    #[serde(alias = "increaseByRps", alias = "increaseByRPS", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub increase_by_rps: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimeRangeResponse {
    pub status: bool,
    pub from_ts: String,
    pub to_ts: String,
    pub from_f: String,
    pub to_f: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentRpsResponse {
    pub status: bool,
    pub rps: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ScriptRunsByNameRequest {
    #[serde(alias = "runId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub run_id: i32,
    #[serde(alias = "scriptName", deserialize_with = "de::string")]
    #[schema(required = true)]
    pub script_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScriptRunsByNameResponse {
    pub script_runs: Vec<ScriptRun>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ScriptRunByIdRequest {
    #[serde(alias = "runId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub run_id: i32,
    #[serde(alias = "scriptRunId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub script_run_id: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScriptRunByIdResponse {
    pub script_runs: Option<ScriptRun>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IsChangeLoadLevelResponse {
    pub current_level: i32,
    pub next_level: i32,
    pub can_change: bool,
    pub run_status: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct CommandNewRequest {
    #[serde(alias = "commandType", deserialize_with = "command_type")]
    pub command_type: i32,
    #[serde(deserialize_with = "scope")]
    pub scope: i32,
    #[schema(required = true)]
    #[serde(alias = "runId", deserialize_with = "de::i32")]
    pub run_id: i32,
    #[serde(alias = "scriptIds", deserialize_with = "de::i64_list")]
    pub script_ids: Vec<i64>,
    #[serde(alias = "percentageOfTarget", deserialize_with = "de::opt_i32")]
    pub percentage_of_target: Option<i32>,
    #[serde(alias = "increaseRps", deserialize_with = "de::opt_i32")]
    pub increase_rps: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Command {
    pub command_id: i32,
    #[serde(rename = "type")]
    pub command_type: String,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i32>,
    pub script_ids: Vec<String>,
    pub status: String,
    pub error_description: String,
    pub hostname: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub percentage_of_target: i32,
    pub increase_rps: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommandNewResponse {
    pub status: bool,
    pub message: String,
    pub command: Option<Command>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct RemoveLogsRequest {
    #[serde(alias = "moreThanMb", deserialize_with = "de::i64")]
    pub more_than_mb: i64,
    #[serde(alias = "moreThanDays", deserialize_with = "de::i64")]
    pub more_than_days: i64,
}

/// `/v1/run/logs`: a script run's failed requests (#14).
#[derive(Debug, Serialize, ToSchema)]
pub struct RunLogsResponse {
    pub status: bool,
    pub message: String,
    /// `stored` (the bucket's copy, written when the run ended) or `agents` (live).
    pub source: String,
    /// Failed requests in all (a string, as the contract's int64s).
    pub total: String,
    /// The first failed requests, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub first: Vec<alilo_agent_api::FailedRequest>,
    /// The last failed requests (after the first ones), oldest first.
    #[schema(value_type = Vec<Object>)]
    pub last: Vec<alilo_agent_api::FailedRequest>,
}

/// `/v1/run/metrics`: a run's time series. `from`/`to` are Unix seconds (0: the
/// run's start / now), `step` seconds per interval (0: 5).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct RunMetricsRequest {
    #[serde(alias = "runId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub run_id: i32,
    #[serde(deserialize_with = "de::i64")]
    pub from: i64,
    #[serde(deserialize_with = "de::i64")]
    pub to: i64,
    #[serde(deserialize_with = "de::i64")]
    pub step: i64,
}

/// One interval: target vs achieved rate, error rate, latency percentiles (ms).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Point {
    pub ts: i64,
    pub target_rps: f64,
    pub achieved_rps: f64,
    pub requests: i64,
    pub failed: i64,
    pub error_rate: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    /// Extended scripts only: iterations, checks, requests by name, custom metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<crate::extended::merge::ScriptFigures>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Series {
    pub run_script_id: i32,
    pub name: String,
    pub points: Vec<Point>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunMetricsResponse {
    pub status: bool,
    pub message: String,
    pub from: i64,
    pub to: i64,
    pub step: i64,
    pub scripts: Vec<Series>,
    pub total: Vec<Point>,
}

/// A script run over the whole run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScriptSummary {
    pub run_script_id: i32,
    pub name: String,
    pub status: String,
    pub target_rps: f64,
    pub achieved_rps: f64,
    /// `requests`, `ok`, `failed`, `dropped`, `bytes_sent`, `bytes_received`.
    #[serde(flatten)]
    pub counts: crate::counts::Counts,
    pub seconds: i64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub status_codes: BTreeMap<String, i64>,
    pub errors: BTreeMap<String, i64>,
    /// Extended scripts only: iterations, checks, requests by name, custom metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<crate::extended::merge::ScriptFigures>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunSummaryResponse {
    pub status: bool,
    pub message: String,
    pub run_status: String,
    pub percentage_of_target: i32,
    pub scripts: Vec<ScriptSummary>,
    pub total: Option<ScriptSummary>,
    /// Stored metric rows and bytes of this run (storage per script-hour follows).
    pub stored_seconds: i64,
    pub stored_bytes: i64,
    /// The run's verdict (#12); `null` before the controller's first pass.
    pub verdict: Option<super::verdicts::VerdictBrief>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_summary_keeps_its_flat_json_with_the_counts_in_place() {
        let summary = ScriptSummary {
            run_script_id: 1,
            name: "s".into(),
            status: "RUNNING".into(),
            target_rps: 10.0,
            achieved_rps: 9.5,
            counts: crate::counts::Counts { sent: 2, ok: 3, failed: 4, dropped: 5, bytes_sent: 6, bytes_received: 7 },
            seconds: 8,
            p50: 1.0,
            p90: 2.0,
            p95: 3.0,
            p99: 4.0,
            max: 5.0,
            status_codes: BTreeMap::from([("200".into(), 3)]),
            errors: BTreeMap::new(),
            script: None,
        };
        assert_eq!(
            serde_json::to_string(&summary).unwrap(),
            r#"{"run_script_id":1,"name":"s","status":"RUNNING","target_rps":10.0,"achieved_rps":9.5,"requests":2,"ok":3,"failed":4,"dropped":5,"bytes_sent":6,"bytes_received":7,"seconds":8,"p50":1.0,"p90":2.0,"p95":3.0,"p99":4.0,"max":5.0,"status_codes":{"200":3},"errors":{}}"#
        );
    }
}
