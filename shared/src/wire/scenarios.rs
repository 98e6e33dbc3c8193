//! ScenarioService shapes.

use super::de;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A monitoring selector of a scenario (used to build its Grafana dashboard).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ScenarioSelector {
    #[serde(deserialize_with = "de::string")]
    pub name: String,
    #[serde(deserialize_with = "de::string")]
    pub source: String,
    #[serde(deserialize_with = "de::string")]
    pub expr: String,
    #[serde(deserialize_with = "de::string")]
    pub cmt: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Scenario {
    #[serde(alias = "scenarioId", deserialize_with = "de::i32")]
    pub scenario_id: i32,
    #[serde(alias = "projectId", deserialize_with = "de::i32")]
    pub project_id: i32,
    #[serde(deserialize_with = "de::string")]
    pub title: String,
    #[serde(deserialize_with = "de::string")]
    pub descrip: String,
    /// Output only: the status name of the latest run, or "".
    #[serde(alias = "lastRunStatus", deserialize_with = "de::string")]
    pub last_run_status: String,
    #[serde(deserialize_with = "de::list")]
    pub selectors: Vec<ScenarioSelector>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct GetAllScenariosRequest {
    #[serde(alias = "projectId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub project_id: i32,
    #[serde(deserialize_with = "de::opt_i32")]
    pub limit: Option<i32>,
    #[serde(alias = "pageNumber", deserialize_with = "de::opt_i32")]
    pub page_number: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetAllScenariosResponse {
    pub status: bool,
    pub scenarios: Vec<Scenario>,
    pub message: String,
    pub total_pages: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ScenarioIdRequest {
    #[serde(alias = "scenarioId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub scenario_id: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetScenarioResponse {
    pub status: bool,
    pub scenario: Option<Scenario>,
    pub message: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ScenarioRequest {
    #[schema(required = true)]
    pub scenario: Option<Scenario>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreateScenarioResponse {
    pub status: bool,
    pub scenario_id: i32,
    pub message: String,
}

/// Set duration or steps on a scenario's scripts, or on every scenario of a project.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct SetDurationRequest {
    #[serde(alias = "projectId", deserialize_with = "de::opt_i32")]
    pub project_id: Option<i32>,
    #[serde(alias = "scenarioId", deserialize_with = "de::opt_i32")]
    pub scenario_id: Option<i32>,
    #[schema(required = true)]
    #[serde(deserialize_with = "de::string")]
    pub duration: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct SetStepsRequest {
    #[serde(alias = "projectId", deserialize_with = "de::opt_i32")]
    pub project_id: Option<i32>,
    #[serde(alias = "scenarioId", deserialize_with = "de::opt_i32")]
    pub scenario_id: Option<i32>,
    #[schema(required = true)]
    #[serde(deserialize_with = "de::numeric_string")]
    pub steps: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LastRunStatusResponse {
    pub status: bool,
    pub message: String,
    pub last_run_status: String,
    pub last_run_id: i32,
}

/// Copy a scenario's scripts into an existing scenario or a new one (exactly one).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct CopyScenarioRequest {
    #[serde(alias = "sourceScenarioId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub source_scenario_id: i32,
    #[serde(alias = "targetScenarioId", deserialize_with = "de::opt_i32")]
    pub target_scenario_id: Option<i32>,
    #[serde(alias = "targetScenarioData")]
    pub target_scenario_data: Option<Scenario>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CopyScenarioResponse {
    pub status: bool,
    pub message: String,
    /// The scenario the scripts were copied into.
    pub scenario_id: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AmountRpsResponse {
    pub status: bool,
    /// int64 as a decimal string.
    pub rps: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct SetTagRequest {
    #[serde(alias = "scenarioId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub scenario_id: i32,
    #[serde(deserialize_with = "de::string")]
    pub tag: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SetTagResponse {
    pub status: bool,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct GrafanaByIdsRequest {
    #[serde(deserialize_with = "de::string")]
    pub title: String,
    #[serde(alias = "scenarioIds", deserialize_with = "de::i32_list")]
    #[schema(required = true)]
    pub scenario_ids: Vec<i32>,
}
