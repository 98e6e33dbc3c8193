//! What each v1 route does, as functions of the app state and the wire request.
//! Handlers in `functions/` call exactly one of these and answer its result.

pub mod agents;
pub mod auth;
pub mod files;
pub mod fleet;
pub mod grafana;
pub mod parsing;
pub mod projects;
pub mod run_logs;
pub mod runs;
pub mod scenarios;
pub mod scripts;
pub mod search;
pub mod simple_scripts;
pub mod targets;
pub mod verdicts;

use crate::http::{ApiError, ApiResult};

/// A required nested message (`project`, `scenario`, …) or a 400 naming it.
pub(crate) fn required<'a, T>(field: &str, value: &'a Option<T>) -> ApiResult<&'a T> {
    value.as_ref().ok_or_else(|| ApiError::bad_request(field, "is required"))
}

/// A text validation result as a 422 on `field`.
pub(crate) fn valid<T>(field: &str, result: Result<T, String>) -> ApiResult<T> {
    result.map_err(|why| ApiError::unprocessable(field, why))
}
