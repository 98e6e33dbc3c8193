//! The fleet (#13): agents that join and leave by themselves.
//!
//! - `register` (fleet token `ALILO_FLEET_TOKEN`): inserts or updates the agent
//!   at its address (never a second row) with the pin of the certificate its
//!   control API serves, if any, and answers its own credential,
//!   HMAC(`ALILO_AGENT_KEY`, "host:port") as for manual agents (#10), and the
//!   heartbeat period;
//! - `heartbeat` and `deregister` (the agent's own credential): live figures and
//!   draining, then removal. A registered agent whose heartbeats stop is
//!   unhealthy after [`crate::control::agents::MISSED_HEARTBEATS`] periods and
//!   the planner skips it;
//! - `list`: the registry with those figures and each agent's health: a
//!   registered agent's by its heartbeats; a manual one (no heartbeat) is
//!   probed now (`GET /v1/agent`, at most [`PROBE_TIMEOUT`], [`PROBES`] at
//!   once), as the controller does before giving it work.
//!
//! A wrong token or credential is 401; self-registration without a fleet token
//! configured is 403. See docs/fleet.md.

use super::agents::{derive_pin, host_name, port, tags, tls_pin};
use super::valid;
use crate::auth::secrets;
use crate::control::agents::expiry;
use crate::db::fleet::{Figures, Registration};
use crate::db::{self, id32};
use crate::http::{ApiError, ApiResult, quote};
use crate::state::AppState;
use crate::wire::Empty;
use crate::wire::fleet::*;
use axum::http::{HeaderMap, StatusCode, header};

/// How long the listing waits for a manual agent's answer.
pub const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1_000);
/// Manual agents probed at once by one listing.
const PROBES: usize = 64;

/// The largest capacity an agent may announce (a sanity bound, not a limit of ours).
pub const MAX_CAPACITY_RPS: f64 = 10_000_000.0;

fn unauthorized(why: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, format!("authentication required: {why}"))
}

/// The bearer value of `headers`, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// Equal, in time that depends on the lengths only (digests make them equal).
fn same_secret(given: &str, expected: &str) -> bool {
    let (a, b) = (secrets::digest(given), secrets::digest(expected));
    a.iter().zip(&b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 401 unless the request carries the fleet token; 403 when none is configured.
fn require_fleet_token(app: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let Some(token) = app.auth.fleet_token.as_ref() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden: self-registration is off: the backend has no ALILO_FLEET_TOKEN (register agents with /v1/agent/set)",
        ));
    };
    if !app.agents.has_key() {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden: the backend has no ALILO_AGENT_KEY"));
    }
    match bearer(headers) {
        Some(given) if same_secret(given, token.expose()) => Ok(()),
        Some(_) => Err(unauthorized("wrong fleet token")),
        None => Err(unauthorized("send Authorization: Bearer <ALILO_FLEET_TOKEN>")),
    }
}

/// The address of a request, checked, and 401 unless it carries that agent's credential.
fn require_agent(app: &AppState, headers: &HeaderMap, raw_host: &str, raw_port: &str) -> ApiResult<(String, i32)> {
    let host = valid("host_name", host_name(raw_host))?;
    let port = valid("port", port(raw_port))?;
    let expected = app.agents.credential(&crate::agent_client::base_url(&host, &port.to_string()));
    match bearer(headers) {
        Some(given) if same_secret(given, &expected) => Ok((host, port)),
        Some(_) => Err(unauthorized(&format!("not the credential of the agent at {host}:{port}"))),
        None => Err(unauthorized("send Authorization: Bearer <the agent's credential>")),
    }
}

/// Heartbeat period for agents, in whole seconds.
fn heartbeat_secs(app: &AppState) -> u64 {
    app.limits.fleet_heartbeat.as_secs().max(1)
}

/// A percentage from an agent: finite, clamped to 0–100.
#[allow(clippy::cast_possible_truncation)]
fn percent(field: &str, v: f64) -> ApiResult<i32> {
    if !v.is_finite() {
        return Err(ApiError::unprocessable(field, format!("{v} is not a number")));
    }
    Ok(v.clamp(0.0, 100.0).round() as i32)
}

pub async fn register(
    app: &AppState,
    headers: &HeaderMap,
    req: FleetRegisterRequest,
) -> ApiResult<FleetRegisterResponse> {
    require_fleet_token(app, headers)?;
    let registration = Registration {
        host_name: valid("host_name", host_name(&req.host_name))?,
        port: valid("port", port(&req.port))?,
        tags: valid("tags", tags(&req.tags))?,
        capacity_rps: match req.capacity_rps {
            c if c.is_finite() && c > 0.0 && c <= MAX_CAPACITY_RPS => c,
            c => {
                return Err(ApiError::unprocessable(
                    "capacity_rps",
                    format!("{c} is not a rate between 0 (excluded) and {MAX_CAPACITY_RPS}"),
                ));
            }
        },
        version: match req.version.trim() {
            v if v.len() <= 100 => v.to_string(),
            v => return Err(ApiError::unprocessable("version", format!("{} is longer than 100 characters", quote(v)))),
        },
        // Trusted as much as the registration itself: whoever holds the fleet
        // token can add agents anyway.
        tls_pin: valid("tls_pin", tls_pin(&req.tls_pin))?,
    };
    let registration = Registration {
        tls_pin: derive_pin(app, "tls_pin", &registration.host_name, registration.port, registration.tls_pin.clone())?,
        ..registration
    };
    super::agents::require_pin(app, "tls_pin", registration.tls_pin.as_deref())?;
    let id = db::fleet::register(&app.db, &registration).await?;
    let base = crate::agent_client::Endpoint::of(
        &registration.host_name,
        &registration.port.to_string(),
        registration.tls_pin.as_deref(),
    );
    tracing::info!(agent_id = id, %base, tags = ?registration.tags, capacity_rps = registration.capacity_rps,
        "agent registered itself");
    Ok(FleetRegisterResponse {
        status: true,
        message: format!("agent {base} registered; heartbeat every {} s", heartbeat_secs(app)),
        agent_id: id32(id),
        credential: app.agents.credential(base.url()),
        heartbeat_secs: heartbeat_secs(app),
    })
}

pub async fn heartbeat(
    app: &AppState,
    headers: &HeaderMap,
    req: FleetHeartbeatRequest,
) -> ApiResult<FleetHeartbeatResponse> {
    let (host, port) = require_agent(app, headers, &req.host_name, &req.port)?;
    let figures = Figures {
        cpu_percent: percent("cpu_percent", req.cpu_percent)?,
        memory_percent: percent("memory_percent", req.memory_percent)?,
        in_flight: i64::try_from(req.in_flight).unwrap_or(i64::MAX),
        active_jobs: i32::try_from(req.active_jobs).unwrap_or(i32::MAX),
        draining: req.draining,
    };
    if !db::fleet::heartbeat(&app.db, &host, port, &figures).await? {
        return Err(ApiError::not_found("registered agent", format!("{host}:{port}")));
    }
    Ok(FleetHeartbeatResponse { status: true, message: String::new(), heartbeat_secs: heartbeat_secs(app) })
}

pub async fn deregister(
    app: &AppState,
    headers: &HeaderMap,
    req: FleetDeregisterRequest,
) -> ApiResult<crate::wire::StdResponse> {
    let (host, port) = require_agent(app, headers, &req.host_name, &req.port)?;
    if !db::fleet::deregister(&app.db, &host, port).await? {
        return Err(ApiError::not_found("registered agent", format!("{host}:{port}")));
    }
    tracing::info!(agent = %format!("{host}:{port}"), "agent deregistered itself");
    Ok(crate::wire::StdResponse::ok(format!("agent {host}:{port} deregistered")))
}

pub async fn list(app: &AppState, _: Empty) -> ApiResult<FleetAgentsResponse> {
    use futures::StreamExt as _;
    let mut agents = db::fleet::list(&app.db, expiry(app.limits.fleet_heartbeat)).await?;
    // A manual agent the registry lets carry load is healthy when it answers now.
    let probed: Vec<Option<crate::agent_client::Endpoint>> = agents
        .iter()
        .map(|a| {
            (!a.registered && a.healthy).then(|| {
                crate::agent_client::Endpoint::of(&a.agent.host_name, &a.agent.port, a.agent.tls_pin.as_deref())
            })
        })
        .collect();
    let (client, tls_required) = (app.agents.clone(), app.agents.tls_required());
    let answers: Vec<Option<bool>> = futures::stream::iter(probed.into_iter().map(|at| {
        let client = client.clone();
        async move {
            let at = at?;
            if !crate::control::agents::callable(&at, tls_required) {
                return Some(false);
            }
            Some(matches!(tokio::time::timeout(PROBE_TIMEOUT, client.info(&at)).await, Ok(Ok(_))))
        }
    }))
    .buffered(PROBES)
    .collect()
    .await;
    for (agent, answer) in agents.iter_mut().zip(answers) {
        if let Some(answered) = answer {
            agent.healthy = answered;
        }
    }
    Ok(FleetAgentsResponse { status: true, message: String::new(), agents })
}

/// Ask the fleet for what a run plans (per tag, with headroom) before it is
/// planned. Answers what could not be done, or what was started, as lines
/// for the run's change log; an error never stops the start (the run uses the
/// agents already there) and is not retried.
pub async fn prepare(app: &AppState, demands: &[crate::control::plan::Demand]) -> Vec<String> {
    let wanted: Vec<(String, f64)> = demands.iter().map(|d| (d.tag.clone(), d.rps)).collect();
    let mut notes = Vec::new();
    let name = app.fleet.name();
    for (tag, rps) in crate::control::fleet::demands_by_tag(&wanted) {
        let shown = if tag.is_empty() { "(any)".to_string() } else { format!("{tag:?}") };
        match app.fleet.ensure(rps, &tag).await {
            Ok(offer) if offer.started > 0 => {
                tracing::info!(fleet = name, tag = %shown, rps, started = offer.started, "fleet grown for a run");
                notes.push(format!(
                    "fleet {name}: started {} agent(s) for tag {shown}; {} agent(s) offer {:.0} rps for {rps:.0} wanted",
                    offer.started, offer.agents, offer.capacity_rps
                ));
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(fleet = name, tag = %shown, rps, error = %e, "the fleet could not grow");
                notes.push(format!("fleet {name}, tag {shown}: {e}; the run uses the agents already there"));
            }
        }
    }
    // Even a start that fails next may have left agents: they wait a quiet period.
    if name != "static"
        && let Err(e) = db::fleet::mark_grown(&app.db).await
    {
        tracing::warn!(error = %e, "the fleet's growth not recorded");
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("fleet-token-0123456789", "fleet-token-0123456789"));
        assert!(!same_secret("fleet-token-012345678", "fleet-token-0123456789"));
        assert!(!same_secret("", "x"));
    }

    #[test]
    fn percentages_are_clamped_and_must_be_numbers() {
        assert_eq!(percent("cpu_percent", 12.6).unwrap(), 13);
        assert_eq!(percent("cpu_percent", 140.0).unwrap(), 100);
        assert_eq!(percent("cpu_percent", -3.0).unwrap(), 0);
        assert!(percent("cpu_percent", f64::NAN).unwrap_err().message.starts_with("cpu_percent"));
    }
}
