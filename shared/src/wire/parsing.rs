//! ParsingService shapes.

use super::de;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ParseCurlRequest {
    #[serde(deserialize_with = "de::string")]
    #[schema(required = true)]
    pub curl: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParseCurlResponse {
    pub status: bool,
    pub message: String,
    /// A string holding JSON: method, url, query_params, headers, body.
    pub json: String,
}

/// Import a cURL command into a scenario as a new simple script. The load profile
/// fields are optional: the script starts small (1 RPS for 1 minute) until edited.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ImportCurlRequest {
    #[serde(alias = "scenarioId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub scenario_id: i32,
    #[serde(deserialize_with = "de::string")]
    #[schema(required = true)]
    pub curl: String,
    /// The script's name; default `<METHOD> <path>`.
    #[serde(deserialize_with = "de::string")]
    pub name: String,
    #[serde(flatten)]
    pub profile: ImportProfile,
}

/// Load profile and placement of imported scripts.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ImportProfile {
    #[serde(deserialize_with = "de::numeric_string")]
    pub rps: String,
    #[serde(deserialize_with = "de::numeric_string")]
    pub steps: String,
    #[serde(deserialize_with = "de::string")]
    pub duration: String,
    #[serde(alias = "maxVUs", deserialize_with = "de::numeric_string")]
    pub max_v_us: String,
    #[serde(deserialize_with = "de::string")]
    pub tag: String,
    /// Imported scripts start disabled unless `enabled` is true.
    #[serde(deserialize_with = "de::boolean")]
    pub enabled: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportCurlResponse {
    pub status: bool,
    pub message: String,
    pub simple_script: Option<super::scripts::SimpleScript>,
}

/// Import the requests of a HAR file (as exported by browser DevTools) into a
/// scenario, one simple script per distinct request.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ImportHarRequest {
    #[serde(alias = "scenarioId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub scenario_id: i32,
    /// The HAR document: a JSON object, or a string holding it.
    #[schema(value_type = Object)]
    #[schema(required = true)]
    pub har: serde_json::Value,
    /// Only requests to these hosts (`host` or `host:port`); empty = all.
    #[serde(deserialize_with = "de::strings")]
    pub hosts: Vec<String>,
    /// Resource types to keep; empty = xhr, fetch and document.
    #[serde(alias = "resourceTypes", deserialize_with = "de::strings")]
    pub resource_types: Vec<String>,
    #[serde(flatten)]
    pub profile: ImportProfile,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HarSkipped {
    pub method: String,
    pub url: String,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportHarResponse {
    pub status: bool,
    pub message: String,
    pub created: Vec<super::scripts::SimpleScript>,
    pub skipped: Vec<HarSkipped>,
}
