//! The projects function: ProjectService's v1 routes.

use alilo_shared::AppState;
use alilo_shared::service::projects as svc;
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
