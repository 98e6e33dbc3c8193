//! Reading a control request: its JSON body (1 MiB at most, the field at
//! fault named through `serde_path_to_error`), a cursor from the query, a
//! job id from the path. Each failure is an [`ApiError`] 400 naming what.
//!
//! Bodies are read by the handlers (not by an extractor) so that a missing
//! job (404) or a shutting-down agent (503) is answered before the body is
//! judged, as the routes always did.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Largest request body accepted (1 MiB).
pub const MAX_BODY: usize = 1 << 20;

/// Reads a JSON body: `None` when it is empty (or blank).
pub async fn optional_json<T: DeserializeOwned>(body: Body) -> Result<Option<T>, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| ApiError::bad_request(format!("body: cannot read it ({e}); limit 1 MiB")))?;
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(de).map(Some).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::bad_request(format!("body: {inner}"))
        } else {
            ApiError::bad_request(format!("{path}: {inner}"))
        }
    })
}

/// Reads a JSON body that must be there.
pub async fn required_json<T: DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    optional_json(body).await?.ok_or_else(|| ApiError::bad_request("body: a JSON object is required"))
}

/// The `since` cursor of the query (0 when absent).
pub struct Since(pub u64);

impl<S: Send + Sync> FromRequestParts<S> for Since {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        query_u64(parts.uri.query(), "since").map(|v| Since(v.unwrap_or(0)))
    }
}

/// The value of `name` in `query`, which must be a non-negative integer.
fn query_u64(query: Option<&str>, name: &str) -> Result<Option<u64>, ApiError> {
    let Some(q) = query else {
        return Ok(None);
    };
    for pair in q.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == name {
            return v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("{name}: {v:?} must be a non-negative integer (a cursor)"))
            });
        }
    }
    Ok(None)
}

/// The job id of the path (`/v1/jobs/{id}…`), percent-decoded.
pub struct JobId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for JobId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e: PathRejection| ApiError::bad_request(format!("id: {}", e.body_text())))?;
        Ok(JobId(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_is_read_from_the_query_by_name() {
        assert_eq!(query_u64(None, "since"), Ok(None));
        assert_eq!(query_u64(Some("a=1&since=42"), "since"), Ok(Some(42)));
        assert_eq!(query_u64(Some("sinceX=1"), "since"), Ok(None));
        let e = query_u64(Some("since=-1"), "since").unwrap_err();
        assert!(e.message.starts_with("since: \"-1\""), "{e:?}");
    }
}
