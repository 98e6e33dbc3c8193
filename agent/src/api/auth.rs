//! Bearer-token authentication of every control route, as a layer in front
//! of the router (unknown routes included), and the start-up rule that the
//! agent never runs without a token except on loopback when told to.

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::bail;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;

/// Refuses to run without a token unless on loopback with the explicit flag.
pub fn check_auth_config(ip: IpAddr, token: Option<&str>, insecure_no_auth: bool) -> anyhow::Result<()> {
    match token {
        Some(t) if !t.is_empty() => Ok(()),
        _ if insecure_no_auth && ip.is_loopback() => Ok(()),
        _ if insecure_no_auth => {
            bail!("--insecure-no-auth is only allowed when bound to loopback, not {ip}; set ALILO_AGENT_TOKEN")
        }
        _ => bail!(
            "refusing to start without a token: set ALILO_AGENT_TOKEN (or bind to 127.0.0.1 with --insecure-no-auth)"
        ),
    }
}

/// The middleware: 401 unless the request carries `Authorization: Bearer
/// <token>` (when the agent has a token).
pub async fn require_bearer(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if authorized(state.token.as_deref(), req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())) {
        next.run(req).await
    } else {
        ApiError::unauthorized().into_response()
    }
}

/// Whether `header` (the Authorization value) carries `token`. During a rotation
/// the token is `new,old` (comma-separated): either is accepted, each compared in
/// constant time, so runs continue while the backend switches credentials.
fn authorized(token: Option<&str>, header: Option<&str>) -> bool {
    let Some(token) = token else {
        return true;
    };
    let Some(given) = header.and_then(|v| v.strip_prefix("Bearer ")) else {
        return false;
    };
    let given = given.trim().as_bytes();
    token
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .fold(false, |ok, t| constant_time_eq(given, t.as_bytes()) | ok)
}

/// Whether a given secret equals the expected one, in constant time.
pub fn same(expected: &str, given: &str) -> bool {
    constant_time_eq(expected.as_bytes(), given.as_bytes())
}

/// Compares without an early exit, so the time taken does not tell how much
/// of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_authorized() {
        let t = Some("s3cret");
        assert!(authorized(t, Some("Bearer s3cret")));
        assert!(authorized(t, Some("Bearer s3cret ")), "surrounding blanks are ignored");
        for bad in [None, Some("s3cret"), Some("Basic s3cret"), Some("Bearer s3cre"), Some("Bearer s3cretx")] {
            assert!(!authorized(t, bad), "{bad:?}");
        }
        assert!(authorized(None, None), "no token configured (loopback, --insecure-no-auth)");
    }

    #[test]
    fn during_a_rotation_both_tokens_are_authorized() {
        let t = Some("new, old");
        assert!(authorized(t, Some("Bearer new")) && authorized(t, Some("Bearer old")));
        assert!(!authorized(t, Some("Bearer new, old")) && !authorized(t, Some("Bearer ")));
    }
}
