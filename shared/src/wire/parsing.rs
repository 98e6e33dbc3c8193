//! ParsingService shapes.

use super::de;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ParseCurlRequest {
    #[serde(deserialize_with = "de::string")]
    pub curl: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParseCurlResponse {
    pub status: bool,
    pub message: String,
    /// A string holding JSON: method, url, query_params, headers, body.
    pub json: String,
}
