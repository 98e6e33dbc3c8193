//! ScriptService shapes: extended (k6 file) and simple (one HTTP request) scripts.

use super::{Selectors, StringMap, de};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The load profile of an extended script, all as strings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Options {
    #[serde(deserialize_with = "de::numeric_string")]
    pub rps: String,
    #[serde(deserialize_with = "de::numeric_string")]
    pub steps: String,
    #[serde(deserialize_with = "de::string")]
    pub duration: String,
}

/// An extended script. Has no `http_method` key: the UI tells the kinds apart by it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Script {
    #[serde(deserialize_with = "de::string")]
    pub name: String,
    #[serde(deserialize_with = "de::string")]
    pub descrip: String,
    #[serde(alias = "scriptId", deserialize_with = "de::i32")]
    pub script_id: i32,
    #[serde(alias = "projectId", deserialize_with = "de::i32")]
    pub project_id: i32,
    #[serde(alias = "scenarioId", deserialize_with = "de::i32")]
    pub scenario_id: i32,
    #[serde(alias = "scriptFile", deserialize_with = "de::string")]
    pub script_file: String,
    #[serde(alias = "ammoId", deserialize_with = "de::string")]
    pub ammo_id: String,
    pub options: Option<Options>,
    #[serde(alias = "baseUrl", deserialize_with = "de::string")]
    pub base_url: String,
    #[serde(deserialize_with = "de::boolean")]
    pub enabled: bool,
    #[serde(alias = "grafanaUrl", deserialize_with = "de::strings")]
    pub grafana_url: Vec<String>,
    #[serde(deserialize_with = "de::string")]
    pub tag: String,
    pub selectors: Option<Selectors>,
    #[serde(alias = "additionalEnv", deserialize_with = "de::string_map")]
    pub additional_env: StringMap,
    #[serde(deserialize_with = "de::string")]
    pub title: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct QueryParams {
    #[serde(deserialize_with = "de::string")]
    pub key: String,
    #[serde(deserialize_with = "de::string")]
    pub value: String,
}

/// A simple script: one HTTP request template sent at a rate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct SimpleScript {
    #[serde(deserialize_with = "de::string")]
    pub name: String,
    #[serde(deserialize_with = "de::string")]
    pub description: String,
    #[serde(alias = "scriptId", deserialize_with = "de::i32")]
    pub script_id: i32,
    #[serde(alias = "projectId", deserialize_with = "de::i32")]
    pub project_id: i32,
    #[serde(alias = "scenarioId", deserialize_with = "de::i32")]
    pub scenario_id: i32,
    #[serde(deserialize_with = "de::boolean")]
    pub enabled: bool,
    #[serde(alias = "monitoringLinks", deserialize_with = "de::strings")]
    pub monitoring_links: Vec<String>,
    #[serde(deserialize_with = "de::string")]
    pub tag: String,
    #[serde(deserialize_with = "de::string")]
    pub path: String,
    #[serde(deserialize_with = "de::string")]
    pub scheme: String,
    #[serde(alias = "httpMethod", deserialize_with = "de::string")]
    pub http_method: String,
    #[serde(alias = "queryParams", deserialize_with = "de::list")]
    pub query_params: Vec<QueryParams>,
    #[serde(deserialize_with = "de::string_map")]
    pub headers: StringMap,
    #[serde(alias = "staticAmmo", deserialize_with = "de::string")]
    pub static_ammo: String,
    #[serde(alias = "ammoUrl", deserialize_with = "de::string")]
    pub ammo_url: String,
    #[serde(alias = "isStaticAmmo", deserialize_with = "de::boolean")]
    pub is_static_ammo: bool,
    #[serde(deserialize_with = "de::numeric_string")]
    pub rps: String,
    #[serde(deserialize_with = "de::string")]
    pub duration: String,
    #[serde(deserialize_with = "de::numeric_string")]
    pub steps: String,
    #[serde(alias = "maxVUs", alias = "maxVUS", alias = "maxVus", deserialize_with = "de::numeric_string")]
    pub max_v_us: String,
    /// Output only: where the agents read this script's request description.
    #[serde(alias = "scriptFileUrl", deserialize_with = "de::string")]
    pub script_file_url: String,
    pub selectors: Option<Selectors>,
    #[serde(alias = "additionalEnv", deserialize_with = "de::string_map")]
    pub additional_env: StringMap,
    #[serde(deserialize_with = "de::string")]
    pub title: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetAllScriptsResponse {
    pub status: bool,
    pub scripts: Vec<Script>,
    pub simple_scripts: Vec<SimpleScript>,
    pub message: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ScriptIdRequest {
    #[serde(alias = "scriptId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub script_id: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetScriptResponse {
    pub status: bool,
    pub script: Option<Script>,
    pub message: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ScriptRequest {
    #[schema(required = true)]
    pub script: Option<Script>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreateScriptResponse {
    pub status: bool,
    pub script_id: i32,
    pub message: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct MoveScriptRequest {
    #[serde(alias = "scriptId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub script_id: i32,
    #[serde(alias = "projectId", deserialize_with = "de::i32")]
    pub project_id: i32,
    #[serde(alias = "scenarioId", deserialize_with = "de::opt_i32")]
    pub scenario_id: Option<i32>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct CopyScriptRequest {
    #[serde(alias = "sourceScriptId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub source_script_id: i32,
    #[serde(alias = "targetScenarioId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub target_scenario_id: i32,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct SimpleScriptIdRequest {
    #[serde(alias = "simpleScriptId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub simple_script_id: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetSimpleScriptResponse {
    pub status: bool,
    pub message: String,
    pub simple_script: Option<SimpleScript>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct SimpleScriptRequest {
    #[serde(alias = "simpleScript")]
    #[schema(required = true)]
    pub simple_script: Option<SimpleScript>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreateSimpleScriptResponse {
    pub status: bool,
    pub simple_script_id: i32,
    pub message: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct MoveSimpleScriptRequest {
    #[serde(alias = "simpleScriptId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub simple_script_id: i32,
    #[serde(alias = "targetScenarioId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub target_scenario_id: i32,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct CopySimpleScriptRequest {
    #[serde(alias = "sourceSimpleScriptId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub source_simple_script_id: i32,
    #[serde(alias = "targetScenarioId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub target_scenario_id: i32,
}
