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
