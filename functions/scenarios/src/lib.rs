//! The scenarios function: ScenarioService's v1 routes.

use alilo_shared::AppState;
use alilo_shared::service::{grafana, scenarios as svc};
use alilo_shared::v1_route;
use alilo_shared::wire::StdResponse;
use alilo_shared::wire::scenarios::*;
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
        .routes(routes!(set_duration))
        .routes(routes!(last_run_status))
        .routes(routes!(copy))
        .routes(routes!(set_steps))
        .routes(routes!(rps))
        .routes(routes!(set_tag))
        .routes(routes!(grafana_structure))
        .routes(routes!(grafana_structure_by_ids))
}

v1_route!(
    /// Scenarios of a project ordered by title, each with its last run status.
    list, "/v1/scenarios", "ScenarioService", GetAllScenariosRequest => GetAllScenariosResponse, svc::list);
v1_route!(
    /// One scenario.
    get, "/v1/scenario", "ScenarioService", ScenarioIdRequest => GetScenarioResponse, svc::get);
v1_route!(
    /// Create a scenario in `scenario.project_id`.
    create, "/v1/scenario/create", "ScenarioService", ScenarioRequest => CreateScenarioResponse, svc::create);
v1_route!(
    /// Change the title and description of `scenario.scenario_id`.
    update, "/v1/scenario/update", "ScenarioService", ScenarioRequest => StdResponse, svc::update);
v1_route!(
    /// Delete a scenario with its scripts and runs.
    delete, "/v1/scenario/delete", "ScenarioService", ScenarioIdRequest => StdResponse, svc::delete);
v1_route!(
    /// Set the duration of every script of a scenario, or of every scenario of a project.
    set_duration, "/v1/scenario/duration", "ScenarioService", SetDurationRequest => StdResponse, svc::set_duration);
v1_route!(
    /// Status and id of the scenario's latest run.
    last_run_status, "/v1/scenario/last-run-status", "ScenarioService", ScenarioIdRequest => LastRunStatusResponse, svc::last_run_status);
v1_route!(
    /// Copy a scenario's scripts into an existing scenario or a new one.
    copy, "/v1/scenario/copy", "ScenarioService", CopyScenarioRequest => CopyScenarioResponse, svc::copy);
v1_route!(
    /// Set the steps of every script of a scenario, or of every scenario of a project.
    set_steps, "/v1/scenario/steps", "ScenarioService", SetStepsRequest => StdResponse, svc::set_steps);
v1_route!(
    /// Sum of the target RPS of the scenario's enabled scripts.
    rps, "/v1/scenario/rps", "ScenarioService", ScenarioIdRequest => AmountRpsResponse, svc::rps);
v1_route!(
    /// Set the agent tag of every script of the scenario.
    set_tag, "/v1/scenario/teg", "ScenarioService", SetTagRequest => SetTagResponse, svc::set_tag);
v1_route!(
    /// A Grafana dashboard (JSON in `message`) from the scenario's monitoring selectors.
    grafana_structure, "/v1/scenario/grafanaStructure", "ScenarioService", ScenarioIdRequest => StdResponse, grafana::structure);
v1_route!(
    /// One Grafana dashboard (JSON in `message`) for several scenarios.
    grafana_structure_by_ids, "/v1/scenario/grafanaStructureByIds", "ScenarioService", GrafanaByIdsRequest => StdResponse, grafana::structure_by_ids);
