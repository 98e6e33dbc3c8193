//! The search function: SearchService's v1 routes.

use alilo_shared::AppState;
use alilo_shared::service::search as svc;
use alilo_shared::v1_route;
use alilo_shared::wire::search::*;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every route this function serves.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search)).routes(routes!(search_ui_alias)).routes(routes!(page_num))
}

v1_route!(
    /// Case-insensitive literal search over projects, scenarios and scripts.
    search, "/v1/search", "SearchService", SearchRequest => SearchResponse, svc::search);
v1_route!(
    /// The original web UI's search path (`searchService.search`); same as `/v1/search`.
    search_ui_alias, "/v1/search/script", "SearchService", SearchRequest => SearchResponse, svc::search);
v1_route!(
    /// The page on which a project or scenario appears in its title-ordered list.
    page_num, "/v1/page-num", "SearchService", PageNumRequest => PageNumResponse, svc::page_num);
