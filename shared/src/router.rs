//! Turning a function's routes into a served application, the same way in Lambda
//! and in `alilo-local`.

use crate::http::{ApiError, method_not_allowed_fallback, not_found_fallback};
use crate::state::AppState;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;

/// The routes of one function (or of all, merged) as an axum app: unknown paths
/// and wrong methods answer in the contract's error shape, the guard
/// (`auth::guard`: cross-site checks, authentication, the rule table, the audit
/// log) stands in front of every route, fallbacks included, and every request,
/// guard included, is answered within the configured deadline (503 with
/// `Retry-After` past it).
pub fn app(routes: OpenApiRouter<AppState>, state: AppState) -> axum::Router {
    let deadline = state.limits.request_deadline;
    let (router, _) = routes.split_for_parts();
    router
        .method_not_allowed_fallback(method_not_allowed_fallback)
        .fallback(not_found_fallback)
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::guard::guard))
        .layer(axum::middleware::from_fn(move |req: Request, next: Next| within(deadline, req, next)))
        .with_state(state)
}

/// Run the rest of the stack, or answer 503 once `deadline` has passed. Dropping the
/// handler's future cancels its work: its pooled connection goes back to the pool,
/// and a statement still running is stopped by `statement_timeout`. A panic, which
/// no input should cause, is a 500 in the contract's shape rather than a dropped
/// connection, and its message is logged.
async fn within(deadline: Duration, req: Request, next: Next) -> Response {
    use futures::FutureExt;
    let route = req.uri().path().to_string();
    let guarded = std::panic::AssertUnwindSafe(next.run(req)).catch_unwind();
    match tokio::time::timeout(deadline, guarded).await {
        Ok(Ok(response)) => response,
        Ok(Err(panic)) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            ApiError::internal(format!("handler of {route} panicked: {what}")).into_response()
        }
        Err(_) => {
            tracing::error!(%route, deadline_ms = deadline.as_millis(), "request deadline passed: a dependency did not answer in time");
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                format!("the request did not finish within {} ms; try again", deadline.as_millis()),
            )
            .into_response()
        }
    }
}

/// Build the state of a Lambda function from its environment.
pub async fn state_from_env() -> anyhow::Result<AppState> {
    crate::telemetry::init();
    let config = crate::config::Config::from_env().map_err(anyhow::Error::msg)?;
    AppState::connect(&config).await
}
