//! The parsing function: ParsingService's v1 route (cURL → request JSON) and the
//! import routes that turn a cURL command or a HAR file into simple scripts.

use alilo_shared::AppState;
use alilo_shared::service::parsing as svc;
use alilo_shared::v1_route;
use alilo_shared::wire::parsing::*;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every route this function serves.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(parse_curl)).routes(routes!(import_curl)).routes(routes!(import_har))
}

v1_route!(
    /// Parse a cURL command into the request it sends (a JSON string in `json`).
    parse_curl, "/v1/parsing/CUrl", "ParsingService", ParseCurlRequest => ParseCurlResponse, svc::parse_curl);
v1_route!(
    /// Import a cURL command into a scenario as a new simple script.
    import_curl, "/v1/parsing/curl/import", "ParsingService", ImportCurlRequest => ImportCurlResponse, svc::import_curl);
v1_route!(
    /// Import a HAR file into a scenario: one simple script per distinct request.
    import_har, "/v1/parsing/har/import", "ParsingService", ImportHarRequest => ImportHarResponse, svc::import_har);
