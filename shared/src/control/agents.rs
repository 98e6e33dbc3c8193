//! The one list of agents that may carry load, each with the load it carries
//! (the rate of its jobs not ended in active runs, by the one
//! [`crate::model::run::desired_rps`]). A new run is planned on it as the
//! database has it ([`enabled`]: no agent is called inside a user's request); the
//! run-controller moves a lost share, or the share of a job its agent never
//! accepted, to those of them that answer now ([`healthy`]). An agent may carry
//! load when it is enabled, not draining, and
//! - self-registered (#13): its last heartbeat is younger than three heartbeat
//!   periods. It is not probed: at 1,000 agents the registry answers in one
//!   query where probes would take a fan-out per plan;
//! - added by hand (`/v1/agent/set`): it answers `GET /v1/agent` ([`healthy`]).
//!
//! With `ALILO_AGENT_TLS_REQUIRED` an agent without a certificate pin carries
//! none ([`callable`]): the client would refuse to call it anyway.

use super::plan::{Candidate, capacity};
use crate::http::ApiResult;
use crate::state::AppState;
use futures::future::join_all;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Heartbeats a self-registered agent may miss before it counts as unhealthy.
pub const MISSED_HEARTBEATS: u32 = 3;

/// How old a self-registered agent's last heartbeat may be.
pub fn expiry(heartbeat: Duration) -> Duration {
    heartbeat * MISSED_HEARTBEATS
}

/// Whether the registry alone says an agent may get work: enabled, not
/// draining, and, when self-registered, heartbeating within `expiry`
/// (`age`: seconds since its last heartbeat). A manual agent passes here and is
/// probed by [`healthy`]. Pure.
pub fn listed_healthy(enabled: bool, registered: bool, draining: bool, age: Option<f64>, expiry: Duration) -> bool {
    enabled && !draining && (!registered || age.is_some_and(|a| a <= expiry.as_secs_f64()))
}

/// Whether the backend may call an agent at `base_url` at all: with
/// `tls_required` (`ALILO_AGENT_TLS_REQUIRED`) only one with a certificate pin. Pure.
pub fn callable(base_url: &crate::agent_client::Endpoint, tls_required: bool) -> bool {
    !tls_required || base_url.pins().is_some()
}

/// An agent that may carry load: where to call it and what it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Healthy {
    pub candidate: Candidate,
    pub base_url: crate::agent_client::Endpoint,
    /// Self-registered: healthy by its heartbeat, never probed.
    pub registered: bool,
}

/// Each agent's load from `(agent, share, script run's desired rps)` rows. Pure.
pub fn loads(work: &[(i64, f64, f64)]) -> BTreeMap<i64, f64> {
    let mut out = BTreeMap::new();
    for (agent, share, rps) in work {
        *out.entry(*agent).or_insert(0.0) += share * rps;
    }
    out
}

/// Enabled agents, except `skip`, with their loads: the database only.
pub async fn enabled(app: &AppState, skip: &BTreeSet<i64>) -> ApiResult<Vec<Healthy>> {
    enabled_on(app, app.db.conn().await?, skip).await
}

/// [`enabled`] on `conn`.
async fn enabled_on(app: &AppState, conn: deadpool_postgres::Object, skip: &BTreeSet<i64>) -> ApiResult<Vec<Healthy>> {
    let (agents, work) = crate::db::control::enabled_agents(&conn).await?;
    drop(conn);
    let loads = loads(&work);
    let expiry = expiry(app.limits.fleet_heartbeat);
    #[allow(clippy::cast_precision_loss)]
    let default_rps = app.limits.agent_capacity_rps as f64;
    Ok(agents
        .into_iter()
        .filter(|a| !skip.contains(&a.id))
        .filter(|a| listed_healthy(true, a.registered, a.draining, a.heartbeat_age, expiry))
        .filter(|a| callable(&a.base_url, app.agents.tls_required()))
        .map(|a| Healthy {
            candidate: Candidate {
                agent_id: a.id,
                tags: a.tags,
                load_rps: loads.get(&a.id).copied().unwrap_or(0.0),
                capacity_rps: capacity(a.capacity_rps, default_rps),
            },
            base_url: a.base_url,
            registered: a.registered,
        })
        .collect())
}

/// Enabled agents that answer now, except `skip` (known unreachable), probed in
/// parallel with the client's short timeouts. The database is read (on the
/// run-controller's own pool: only it asks) before any agent is called, with
/// no transaction open.
pub async fn healthy(app: &AppState, skip: &BTreeSet<i64>) -> ApiResult<Vec<Healthy>> {
    let agents = enabled_on(app, app.db.control_conn().await?, skip).await?;
    // Only manual agents are probed: a registered one's heartbeat already says it.
    let alive = join_all(agents.iter().map(|a| async {
        a.registered
            || match app.agents.info(&a.base_url).await {
                Ok(_) => true,
                Err(e @ crate::agent_client::AgentError::Untrusted(_)) => {
                    tracing::warn!(agent_id = a.candidate.agent_id, error = %e, "agent not trusted: no work for it");
                    false
                }
                Err(_) => false,
            }
    }))
    .await;
    Ok(agents.into_iter().zip(alive).filter(|(_, ok)| *ok).map(|(a, _)| a).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_registered_agent_is_healthy_only_while_it_heartbeats_and_does_not_drain() {
        let expiry = expiry(Duration::from_secs(10));
        assert_eq!(expiry, Duration::from_secs(30));
        assert!(listed_healthy(true, true, false, Some(29.0), expiry));
        assert!(!listed_healthy(true, true, false, Some(31.0), expiry), "three heartbeats missed");
        assert!(!listed_healthy(true, true, false, None, expiry), "never heartbeated");
        assert!(!listed_healthy(true, true, true, Some(1.0), expiry), "draining");
        assert!(!listed_healthy(false, true, false, Some(1.0), expiry), "disabled");
        assert!(listed_healthy(true, false, false, None, expiry), "a manual agent is probed instead");
    }

    #[test]
    fn with_tls_required_only_pinned_agents_are_callable() {
        use crate::agent_client::Endpoint;
        let pin = alilo_agent_api::CertPins::of_der(b"cert").to_string();
        let (plain, pinned) = (Endpoint::of("10.0.0.1", "8888", None), Endpoint::of("10.0.0.1", "8888", Some(&pin)));
        // (endpoint, tls required, callable)
        for (endpoint, required, want) in
            [(&plain, false, true), (&pinned, false, true), (&plain, true, false), (&pinned, true, true)]
        {
            assert_eq!(callable(endpoint, required), want, "{endpoint} required={required}");
        }
    }

    #[test]
    fn an_agent_s_load_is_the_sum_of_its_shares_of_desired_rates() {
        let got = super::loads(&[(1, 0.5, 100.0), (2, 1.0, 30.0), (1, 1.0, 10.0)]);
        assert_eq!(got.into_iter().collect::<Vec<_>>(), vec![(1, 60.0), (2, 30.0)]);
    }
}
