//! Turning a function's routes into a served application, the same way in Lambda
//! and in `alilo-local`.

use crate::auth::sso::GatewayClaims;
use crate::http::{ApiError, method_not_allowed_fallback, not_found_fallback};
use crate::state::AppState;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tower::Layer;
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

/// [`app`] as a Lambda function serves it behind the HTTP API: the claims of a
/// JWT the gateway's authorizer validated become [`GatewayClaims`] for the guard,
/// and the `/sso` prefix of that route set is taken off before routing, so
/// `/sso/v1/projects` is `/v1/projects` for a single-sign-on caller.
pub fn gateway_app(routes: OpenApiRouter<AppState>, state: AppState) -> axum::Router {
    let inner = app(routes, state);
    axum::Router::new().fallback_service(tower::util::MapRequestLayer::new(from_gateway).layer(inner))
}

/// The path prefix of the routes behind the JWT authorizer.
pub const SSO_PREFIX: &str = "/sso";

fn from_gateway(mut req: Request) -> Request {
    use lambda_http::request::RequestContext;
    // Other kinds of context exist only with other lambda_http features.
    #[allow(unreachable_patterns)]
    let claims = match req.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|jwt| GatewayClaims(jwt.claims.clone()))
        }
        _ => None,
    };
    if let Some(claims) = claims {
        req.extensions_mut().insert(claims);
    }
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix(SSO_PREFIX).filter(|rest| rest.starts_with("/v1/")) {
        let rewritten = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_string(),
        };
        if let Ok(uri) = rewritten.parse() {
            *req.uri_mut() = uri;
        }
    }
    req
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
    let config = crate::config::Config::from_env_and_secrets().await.map_err(anyhow::Error::msg)?;
    AppState::connect(&config).await
}
