//! AgentService: the registry of load-generating hosts.

use super::{required, valid};
use crate::db::agents::AgentInput;
use crate::db::{self, known_id};
use crate::http::{ApiError, ApiResult, quote};
use crate::model::text;
use crate::state::AppState;
use crate::wire::agents::*;
use crate::wire::{Empty, StdResponse};
use alilo_agent_api::pin::DERIVED;

/// A host name or IP literal: letters, digits, dots, dashes, colons (IPv6), brackets.
pub(crate) fn host_name(raw: &str) -> Result<String, String> {
    let host = raw.trim();
    if host.is_empty() {
        return Err("is required".into());
    }
    if host.len() > 253 || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b)) {
        return Err(format!("{} is not a host name or IP address", quote(host)));
    }
    Ok(host.to_string())
}

pub(crate) fn port(raw: &str) -> Result<i32, String> {
    match raw.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(i32::from(p)),
        _ => Err(format!("{} is not a port number (1-65535)", quote(raw))),
    }
}

/// Tags trimmed, blank ones dropped, duplicates merged, order kept.
pub(crate) fn tags(raw: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for t in raw {
        let tag = text::line(t, 100)?;
        if !tag.is_empty() && !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

/// Certificate pins in their stored form; blank: none; `derived` kept as the
/// word, for [`derive_pin`] (it needs the address and the fleet key).
pub(crate) fn tls_pin(raw: &str) -> Result<Option<String>, String> {
    if raw.trim().eq_ignore_ascii_case(DERIVED) {
        return Ok(Some(DERIVED.into()));
    }
    Ok(alilo_agent_api::CertPins::parse(raw)?.map(|p| p.to_string()))
}

/// `derived` replaced by the pin of the certificate the agent at `host:port`
/// derives from its credential (`alilo-agent serve --tls-derived`); 422 naming
/// `field` when the backend has no fleet key to derive credentials from.
pub(crate) fn derive_pin(
    app: &AppState,
    field: &str,
    host: &str,
    port: i32,
    pin: Option<String>,
) -> ApiResult<Option<String>> {
    if pin.as_deref() != Some(DERIVED) {
        return Ok(pin);
    }
    if !app.agents.has_key() {
        return Err(ApiError::unprocessable(
            field,
            "\"derived\" needs the backend's ALILO_AGENT_KEY, from which the agent's credential and certificate come",
        ));
    }
    let credential = app.agents.credential(&crate::agent_client::base_url(host, &port.to_string()));
    let (cert, _) = alilo_agent_api::pin::derived_certificate(&credential);
    Ok(Some(alilo_agent_api::CertPins::of_der(&cert).to_string()))
}

/// 422 naming `field` when `ALILO_AGENT_TLS_REQUIRED` is set and an agent
/// would be stored without a certificate pin (`pin`: the one it will have).
pub(crate) fn require_pin(app: &AppState, field: &str, pin: Option<&str>) -> ApiResult<()> {
    if app.auth.agent_tls_required && pin.is_none_or(|p| p.trim().is_empty()) {
        return Err(ApiError::unprocessable(
            field,
            "is required: ALILO_AGENT_TLS_REQUIRED is set, so agents are called over TLS only; give the agent's \
             certificate pin (\"sha256:<64 hex>\") or \"derived\" (alilo-agent serve --tls-derived)",
        ));
    }
    Ok(())
}

/// [`input`] with a `derived` pin resolved for the agent's address.
fn resolved_input(app: &AppState, agent: &Agent) -> ApiResult<AgentInput> {
    let mut input = input(agent)?;
    if let Some(pin) = input.tls_pin.take() {
        input.tls_pin = Some(derive_pin(app, "agent.tls_pin", &input.host_name, input.port, pin)?);
    }
    Ok(input)
}

pub fn input(agent: &Agent) -> ApiResult<AgentInput> {
    Ok(AgentInput {
        host_name: valid("agent.host_name", host_name(&agent.host_name))?,
        port: valid("agent.port", port(&agent.port))?,
        enabled: agent.enabled,
        tags: valid("agent.tags", tags(&agent.tags))?,
        tls_pin: agent.tls_pin.as_deref().map(|p| valid("agent.tls_pin", tls_pin(p))).transpose()?,
    })
}

pub async fn list(app: &AppState, _: Empty) -> ApiResult<GetAllAgentsResponse> {
    Ok(GetAllAgentsResponse { status: true, agents: db::agents::list(&app.db).await?, message: String::new() })
}

pub async fn get(app: &AppState, req: AgentIdRequest) -> ApiResult<GetAgentResponse> {
    let id = known_id("agent", req.agent_id.into())?;
    let agent = db::agents::get(&app.db, id).await?.ok_or_else(|| ApiError::not_found("agent", id))?;
    Ok(GetAgentResponse { status: true, agent: Some(agent), message: String::new() })
}

pub async fn create(app: &AppState, req: AgentRequest) -> ApiResult<SetAgentResponse> {
    let agent = resolved_input(app, required("agent", &req.agent)?)?;
    require_pin(app, "agent.tls_pin", agent.tls_pin.clone().flatten().as_deref())?;
    let id = db::agents::create(&app.db, &agent).await.map_err(|e| duplicate(e, &agent))?;
    Ok(SetAgentResponse { status: true, agent_id: db::id32(id), message: String::new() })
}

/// A unique violation on (host, port) explained in the user's terms.
fn duplicate(err: ApiError, agent: &AgentInput) -> ApiError {
    if err.status.as_u16() == 409 {
        return ApiError::conflict(format!("agent {}:{} is already registered", agent.host_name, agent.port));
    }
    err
}

pub async fn update(app: &AppState, req: AgentRequest) -> ApiResult<StdResponse> {
    let wire = required("agent", &req.agent)?;
    let id = known_id("agent", wire.agent_id.into())?;
    let agent = resolved_input(app, wire)?;
    if app.auth.agent_tls_required {
        // Without the field the stored pin stays: it must exist.
        let pin = match &agent.tls_pin {
            Some(given) => given.clone(),
            None => db::agents::get(&app.db, id).await?.ok_or_else(|| ApiError::not_found("agent", id))?.tls_pin,
        };
        require_pin(app, "agent.tls_pin", pin.as_deref())?;
    }
    if !db::agents::update(&app.db, id, &agent).await.map_err(|e| duplicate(e, &agent))? {
        return Err(ApiError::not_found("agent", id));
    }
    Ok(StdResponse::ok(format!("Agent {}:{} updated", agent.host_name, agent.port)))
}

pub async fn delete(app: &AppState, req: AgentIdRequest) -> ApiResult<StdResponse> {
    let id = known_id("agent", req.agent_id.into())?;
    if !db::agents::delete(&app.db, id).await? {
        return Err(ApiError::not_found("agent", id));
    }
    Ok(StdResponse::ok("Agent deleted"))
}

pub async fn tags_of_enabled(app: &AppState, _: Empty) -> ApiResult<GetAllTagsResponse> {
    Ok(GetAllTagsResponse { status: true, message: String::new(), tags: db::agents::tags(&app.db).await? })
}

pub async fn by_tag(app: &AppState, req: TagRequest) -> ApiResult<GetAllAgentsByTagResponse> {
    let tag = valid("tag", text::line(&req.tag, 100))?;
    if tag.is_empty() {
        return Err(ApiError::bad_request("tag", "is required"));
    }
    Ok(GetAllAgentsByTagResponse {
        status: true,
        message: String::new(),
        agents: db::agents::by_tag(&app.db, &tag).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_trimmed_deduplicated_and_blank_ones_dropped() {
        let raw = vec![" eu ".to_string(), String::new(), "eu".into(), "gpu".into()];
        assert_eq!(tags(&raw).unwrap(), ["eu", "gpu"]);
    }

    #[test]
    fn ports_and_hosts_are_checked() {
        assert_eq!(port("8888").unwrap(), 8888);
        assert!(port("0").is_err() && port("70000").is_err() && port("x").is_err());
        assert!(host_name("agent-1.internal").is_ok());
        assert!(host_name("[::1]").is_ok());
        assert!(host_name("bad host").is_err() && host_name("").is_err());
    }
}
