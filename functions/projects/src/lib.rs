//! The projects function: ProjectService's v1 routes.

use alilo_shared::AppState;
use alilo_shared::service::projects as svc;
use alilo_shared::service::targets as allow;
use alilo_shared::v1_route;
use alilo_shared::wire::projects::*;
use alilo_shared::wire::{PageRequest, StdResponse};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every route this function serves.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get))
        .routes(routes!(create))
        .routes(routes!(update))
        .routes(routes!(delete))
        .routes(routes!(targets))
        .routes(routes!(set_targets))
}

v1_route!(
    /// Projects ordered by title; `limit < 1` returns all on one page.
    list, "/v1/projects", "ProjectService", PageRequest => GetAllProjectsResponse, svc::list);
v1_route!(
    /// One project.
    get, "/v1/project", "ProjectService", IdRequest => GetProjectResponse, svc::get);
v1_route!(
    /// Create a project from `project.title` and `project.descrip`.
    create, "/v1/project/create", "ProjectService", ProjectRequest => CreateProjectResponse, svc::create);
v1_route!(
    /// Change the title and description of project `project.id`.
    update, "/v1/project/update", "ProjectService", ProjectRequest => StdResponse, svc::update);
v1_route!(
    /// Delete a project with its scenarios, scripts and runs.
    delete, "/v1/project/delete", "ProjectService", IdRequest => StdResponse, svc::delete);
v1_route!(
    /// Project `project_id`'s target allow-list and the global one
    /// (`ALILO_ALLOWED_TARGETS`). A script's host must pass the global list
    /// when it is set AND the project's when that is set.
    targets, "/v1/project/targets", "ProjectService", ProjectTargetsRequest => ProjectTargetsResponse, allow::get);
v1_route!(
    /// Replace project `project_id`'s target allow-list (`[]` removes it):
    /// host names, `*.suffix`, IPs, CIDRs or `*`. It narrows the global list,
    /// never widens it. Scripts are checked against both at save, import and
    /// start (422 naming the host and the list); the agents refuse any other
    /// host an extended script calls, redirects included, without sending.
    set_targets, "/v1/project/targets/set", "ProjectService", SetProjectTargetsRequest => ProjectTargetsResponse, allow::set);
