//! Validated domain types. Wire data from [`crate::wire`] becomes these through
//! `parse` constructors that say, per field, what is wrong; nothing reaches the
//! database without passing through here.

pub mod load;
pub mod page;
pub mod request;
pub mod run;
pub mod scripts;
pub mod search;
pub mod text;

use crate::http::ApiError;

/// Field-level problems collected while parsing one request, so the user sees every
/// mistake at once rather than one per round trip.
#[derive(Debug, Default)]
pub struct Violations(Vec<(String, String)>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, why: impl Into<String>) {
        self.0.push((field.into(), why.into()));
    }

    /// Keep the value of `result`, or record its error under `field`.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(why) => {
                self.add(field, why);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was recorded, else a 422 listing every problem.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let message = self.0.iter().map(|(f, w)| format!("{f}: {w}")).collect::<Vec<_>>().join("; ");
        Err(ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, message))
    }
}
