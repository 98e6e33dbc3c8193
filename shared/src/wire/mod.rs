//! The v1 contract's JSON shapes (`../shared/contract/api-v1.md`).
//!
//! Responses use the proto field names, emit every field (defaults included, `null`
//! for an unset message) and print 64-bit integers as strings. Requests accept the
//! proto name or the lowerCamel name of every field, numbers as decimal strings, and
//! `null` as "unset"; unknown fields are ignored. Entities that travel both ways
//! (Project, Scenario, Script, …) are one type with both behaviours.

pub mod agents;
pub mod auth;
pub mod de;
pub mod files;
pub mod fleet;
pub mod parsing;
pub mod projects;
pub mod runs;
pub mod scenarios;
pub mod scripts;
pub mod search;
pub mod verdicts;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The standard answer: `status` and an informational `message`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StdResponse {
    pub status: bool,
    pub message: String,
}

impl StdResponse {
    pub fn ok(message: impl Into<String>) -> Self {
        Self { status: true, message: message.into() }
    }
}

/// A request naming nothing but pagination.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct PageRequest {
    #[serde(deserialize_with = "de::opt_i32")]
    pub limit: Option<i32>,
    #[serde(alias = "pageNumber", deserialize_with = "de::opt_i32")]
    pub page_number: Option<i32>,
}

/// A request with no fields (the body is ignored).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct Empty {}

/// Monitoring expressions of a script.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Selectors {
    #[serde(alias = "exprRps", deserialize_with = "de::string")]
    pub expr_rps: String,
    #[serde(alias = "sourceRps", deserialize_with = "de::string")]
    pub source_rps: String,
    #[serde(alias = "cmtRps", deserialize_with = "de::string")]
    pub cmt_rps: String,
    #[serde(alias = "exprRt", deserialize_with = "de::string")]
    pub expr_rt: String,
    #[serde(alias = "sourceRt", deserialize_with = "de::string")]
    pub source_rt: String,
    #[serde(alias = "cmtRt", deserialize_with = "de::string")]
    pub cmt_rt: String,
    #[serde(alias = "exprErr", deserialize_with = "de::string")]
    pub expr_err: String,
    #[serde(alias = "sourceErr", deserialize_with = "de::string")]
    pub source_err: String,
    #[serde(alias = "cmtErr", deserialize_with = "de::string")]
    pub cmt_err: String,
}

/// A `map<string,string>`.
pub type StringMap = BTreeMap<String, String>;
