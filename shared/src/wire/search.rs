//! SearchService shapes.

use super::de;
use super::projects::Project;
use super::scenarios::Scenario;
use super::scripts::{Script, SimpleScript};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct SearchRequest {
    #[serde(alias = "searchQuery", deserialize_with = "de::string")]
    pub search_query: String,
    #[serde(alias = "notLike")]
    pub not_like: Option<bool>,
    #[serde(alias = "projectId", deserialize_with = "de::opt_i32")]
    pub project_id: Option<i32>,
    #[serde(alias = "scenarioId", deserialize_with = "de::opt_i32")]
    pub scenario_id: Option<i32>,
    #[serde(alias = "startWith")]
    pub start_with: Option<bool>,
    #[serde(alias = "endWith")]
    pub end_with: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    pub status: bool,
    pub scripts: Vec<Script>,
    pub simple_scripts: Vec<SimpleScript>,
    pub projects: Vec<Project>,
    pub scenarios: Vec<Scenario>,
    pub message: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct PageNumRequest {
    /// `TYPES_ENTRY_PROJECTS` or `TYPES_ENTRY_SCENARIOS` (name or number).
    #[serde(alias = "typeEntry", deserialize_with = "type_entry")]
    #[schema(value_type = String)]
    pub type_entry: i32,
    #[serde(deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub id: i32,
    #[serde(deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub limit: i32,
}

pub const TYPES_ENTRY: [&str; 3] = ["TYPES_ENTRY_UNSPECIFIED", "TYPES_ENTRY_PROJECTS", "TYPES_ENTRY_SCENARIOS"];

fn type_entry<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    de::enum_value(d, &TYPES_ENTRY)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PageNumResponse {
    pub page_num: i32,
    pub status: bool,
    pub message: String,
}
