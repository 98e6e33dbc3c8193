//! The agents function: AgentService's v1 routes.

use alilo_shared::AppState;
use alilo_shared::service::agents as svc;
use alilo_shared::v1_route;
use alilo_shared::wire::agents::*;
use alilo_shared::wire::auth::{AgentCredentialRequest, AgentCredentialResponse};
use alilo_shared::wire::{Empty, StdResponse};
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
        .routes(routes!(tags))
        .routes(routes!(by_tag))
        .routes(routes!(credential))
}

v1_route!(
    /// Every registered agent, by tags then host name.
    list, "/v1/agents", "AgentService", Empty => GetAllAgentsResponse, svc::list);
v1_route!(
    /// One agent.
    get, "/v1/agent", "AgentService", AgentIdRequest => GetAgentResponse, svc::get);
v1_route!(
    /// Register an agent (host and port unique).
    create, "/v1/agent/set", "AgentService", AgentRequest => SetAgentResponse, svc::create);
v1_route!(
    /// Overwrite agent `agent.agent_id`.
    update, "/v1/agent/update", "AgentService", AgentRequest => StdResponse, svc::update);
v1_route!(
    /// Remove an agent from the registry.
    delete, "/v1/agent/delete", "AgentService", AgentIdRequest => StdResponse, svc::delete);
v1_route!(
    /// Distinct tags of the enabled agents, sorted.
    tags, "/v1/agent/tags", "AgentService", Empty => GetAllTagsResponse, svc::tags_of_enabled);
v1_route!(
    /// Agents (enabled or not) carrying a tag.
    by_tag, "/v1/agents/by-tag", "AgentService", TagRequest => GetAllAgentsByTagResponse, svc::by_tag);
v1_route!(
    /// The bearer credential the agent at `host_name:port` must be started with
    /// (`ALILO_AGENT_TOKEN`), derived from the backend's fleet key: it opens that
    /// agent only (admin).
    credential, "/v1/agent/credential", "AgentService", AgentCredentialRequest => AgentCredentialResponse,
    alilo_shared::service::auth::agent_credential);
