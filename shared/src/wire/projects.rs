//! ProjectService shapes.

use super::de;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Project {
    #[serde(deserialize_with = "de::i32")]
    pub id: i32,
    #[serde(deserialize_with = "de::string")]
    pub title: String,
    #[serde(deserialize_with = "de::string")]
    pub descrip: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetAllProjectsResponse {
    pub status: bool,
    pub projects: Vec<Project>,
    pub message: String,
    /// int64 as a decimal string.
    pub total_pages: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct IdRequest {
    #[serde(deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub id: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetProjectResponse {
    pub status: bool,
    pub project: Option<Project>,
    pub message: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ProjectRequest {
    #[schema(required = true)]
    pub project: Option<Project>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreateProjectResponse {
    pub status: bool,
    pub id: i32,
    pub message: String,
}

/// `POST /v1/project/targets`: which project's target allow-list.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct ProjectTargetsRequest {
    #[serde(deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub project_id: i32,
}

/// `POST /v1/project/targets/set`: a project's new target allow-list.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct SetProjectTargetsRequest {
    #[serde(deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub project_id: i32,
    /// Host names (exact), `*.suffix`, IP addresses, CIDR blocks or `*`, at
    /// most 256. An empty list removes the project's list. Required: a body
    /// without it is refused rather than taken to mean "remove".
    #[schema(required = true, example = json!(["shop.example.com", "*.staging.example.com", "10.1.0.0/16"]))]
    pub allowed_targets: Option<Vec<String>>,
}

/// A project's target allow-list and the deployment's, which both apply: a
/// script's host must pass the global list when it is set AND the project's
/// when that is set (docs/security.md).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectTargetsResponse {
    pub status: bool,
    pub message: String,
    pub project_id: i32,
    /// The project's entries; empty: the project has no list of its own.
    pub allowed_targets: Vec<String>,
    /// `ALILO_ALLOWED_TARGETS`' entries; empty: unset.
    pub global_allowed_targets: Vec<String>,
}
