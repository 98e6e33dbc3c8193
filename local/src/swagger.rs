//! Swagger UI at `/swagger` and the OpenAPI 3 document at `/swagger.json`. The UI's
//! files are vendored from the npm package swagger-ui-dist (see assets/).

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::any;
use utoipa::openapi::OpenApi;

const BUNDLE: &str = include_str!("../assets/swagger-ui/swagger-ui-bundle.js");
const CSS: &str = include_str!("../assets/swagger-ui/swagger-ui.css");

const PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Alilo API</title>
  <link rel="stylesheet" href="/swagger/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/swagger/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: "/swagger.json", dom_id: "#swagger-ui" });
  </script>
</body>
</html>
"##;

/// Describe the API for the document's header.
pub fn describe(mut api: OpenApi) -> OpenApi {
    alilo_shared::http::document_common_errors(&mut api);
    api.info.title = "Alilo API".into();
    api.info.version = env!("CARGO_PKG_VERSION").into();
    api.info.description = Some(
        "The v1 API of the Alilo load-testing platform. Every route is POST with a JSON body; \
         failures answer a real HTTP status with {\"status\": false, \"message\", \"code\", \"details\"}. \
         Every route but /v1/auth/login and /v1/auth/logout needs the session cookie of /login or \
         `Authorization: Bearer <token>` (401 without; 403 naming the permission a role lacks; \
         403 for a request from another site's page; 415 for a body that is not JSON). \
         Who may call what: docs/security.md."
            .into(),
    );
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        utoipa::openapi::security::SecurityScheme::Http(utoipa::openapi::security::Http::new(
            utoipa::openapi::security::HttpAuthScheme::Bearer,
        )),
    );
    api.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new())]);
    api
}

/// The routes serving the document and the UI (any method, as the original).
pub fn routes<S: Clone + Send + Sync + 'static>(api: OpenApi) -> Router<S> {
    let json = api.to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    Router::new()
        .route(
            "/swagger.json",
            any(move || {
                let json = json.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], json) }
            }),
        )
        .route("/swagger", any(|| async { Html(PAGE) }))
        .route("/swagger/", any(|| async { Html(PAGE) }))
        .route(
            "/swagger/swagger-ui-bundle.js",
            any(|| async { ([(header::CONTENT_TYPE, "application/javascript")], BUNDLE).into_response() }),
        )
        .route("/swagger/swagger-ui.css", any(|| async { ([(header::CONTENT_TYPE, "text/css")], CSS).into_response() }))
}
