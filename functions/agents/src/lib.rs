//! The agents function: AgentService's v1 routes, and the fleet's (#13):
//! self-registration, heartbeats, deregistration (docs/fleet.md).

use alilo_shared::auth::guard::AuditActor;
use alilo_shared::http::ErrorBody;
use alilo_shared::service::agents as svc;
use alilo_shared::service::fleet;
use alilo_shared::v1_route;
use alilo_shared::wire::agents::*;
use alilo_shared::wire::auth::{AgentCredentialRequest, AgentCredentialResponse};
use alilo_shared::wire::fleet::*;
use alilo_shared::wire::{Empty, StdResponse};
use alilo_shared::{ApiJson, AppState};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every route this function serves.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get))
        .routes(routes!(get_ui_alias))
        .routes(routes!(create))
        .routes(routes!(update))
        .routes(routes!(delete))
        .routes(routes!(tags))
        .routes(routes!(by_tag))
        .routes(routes!(credential))
        .routes(routes!(fleet_register))
        .routes(routes!(fleet_heartbeat))
        .routes(routes!(fleet_deregister))
        .routes(routes!(fleet_agents))
}

/// A fleet route: its handler reads the `Authorization` header itself (the
/// fleet token or the agent's own credential, not a user's), and the audit row
/// names the agent's address.
macro_rules! fleet_route {
    ($(#[$meta:meta])* $name:ident, $path:literal, $req:ty => $resp:ty, $call:path) => {
        $(#[$meta])*
        #[utoipa::path(
            post,
            path = $path,
            tag = "FleetService",
            request_body = $req,
            responses(
                (status = 200, description = "Success", body = $resp),
                (status = 400, description = "Malformed request or a required field missing: the message names the field", body = ErrorBody),
                (status = 401, description = "No or a wrong fleet token (register) or agent credential (heartbeat, deregister)", body = ErrorBody),
                (status = 403, description = "Self-registration is off: no ALILO_FLEET_TOKEN (or ALILO_AGENT_KEY) is configured, or a cross-site request", body = ErrorBody),
                (status = 404, description = "No self-registered agent at this address: register again", body = ErrorBody),
                (status = 405, description = "A method other than POST", body = ErrorBody),
                (status = 413, description = "Payload above a limit", body = ErrorBody),
                (status = 415, description = "A request body without a JSON (or octet-stream) Content-Type", body = ErrorBody),
                (status = 422, description = "A value that breaks a rule: the message names the field", body = ErrorBody),
                (status = 500, description = "A fault of ours (the server log names the cause)", body = ErrorBody),
                (status = 503, description = "The database is unavailable or busy, or the request passed its deadline: retry after Retry-After seconds", body = ErrorBody,
                    headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))),
            )
        )]
        pub async fn $name(State(app): State<AppState>, headers: HeaderMap, ApiJson(req): ApiJson<$req>) -> Response {
            let actor = format!("agent:{}:{}", req.host_name.trim().chars().take(253).collect::<String>(), req.port);
            let mut response = $call(&app, &headers, req).await.map(axum::Json).into_response();
            response.extensions_mut().insert(AuditActor(actor));
            response
        }
    };
}

fleet_route!(
    /// A self-registering agent joins (or rejoins: the same address updates its
    /// row, never a second one) with the fleet token; the answer carries its own
    /// credential and the heartbeat period.
    fleet_register, "/v1/fleet/register", FleetRegisterRequest => FleetRegisterResponse, fleet::register);
fleet_route!(
    /// An agent's heartbeat with its live figures (CPU, memory, in flight, jobs)
    /// and whether it drains; signed with its own credential. Three missed
    /// heartbeats make it unhealthy: the planner skips it.
    fleet_heartbeat, "/v1/fleet/heartbeat", FleetHeartbeatRequest => FleetHeartbeatResponse, fleet::heartbeat);
fleet_route!(
    /// An agent leaves (after its jobs drained or moved); signed with its own credential.
    fleet_deregister, "/v1/fleet/deregister", FleetDeregisterRequest => StdResponse, fleet::deregister);
v1_route!(
    /// Every agent with its fleet figures: self-registered or manual, health,
    /// draining, version, capacity, live CPU/memory/in-flight, heartbeat age.
    fleet_agents, "/v1/fleet/agents", "FleetService", Empty => FleetAgentsResponse, fleet::list);

v1_route!(
    /// Every registered agent, by tags then host name.
    list, "/v1/agents", "AgentService", Empty => GetAllAgentsResponse, svc::list);
v1_route!(
    /// One agent.
    get, "/v1/agent", "AgentService", AgentIdRequest => GetAgentResponse, svc::get);
v1_route!(
    /// The original web UI's path for one agent (`agentService.getAgent`); same as `/v1/agent`.
    get_ui_alias, "/v1/agent/get", "AgentService", AgentIdRequest => GetAgentResponse, svc::get);
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
