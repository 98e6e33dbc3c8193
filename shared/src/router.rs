//! Turning a function's routes into a served application, the same way in Lambda
//! and in `alilo-local`.

use crate::http::{method_not_allowed_fallback, not_found_fallback};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;

/// The routes of one function (or of all, merged) as an axum app: unknown paths
/// and wrong methods answer in the contract's error shape, and the guard
/// (`auth::guard`: cross-site checks, authentication, the rule table, the audit
/// log) stands in front of every route, fallbacks included.
pub fn app(routes: OpenApiRouter<AppState>, state: AppState) -> axum::Router {
    let (router, _) = routes.split_for_parts();
    router
        .method_not_allowed_fallback(method_not_allowed_fallback)
        .fallback(not_found_fallback)
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::guard::guard))
        .with_state(state)
}

/// Build the state of a Lambda function from its environment.
pub async fn state_from_env() -> anyhow::Result<AppState> {
    crate::telemetry::init();
    let config = crate::config::Config::from_env().map_err(anyhow::Error::msg)?;
    AppState::connect(&config).await
}
