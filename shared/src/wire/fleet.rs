//! The fleet's shapes (#13): what a self-registering agent sends and receives,
//! and the registry seen with each agent's live figures. New routes, so new
//! shapes; `/v1/agents` keeps the contract's `Agent`.

use super::agents::Agent;
use super::de;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares the request of an agent about itself: the agent's address
/// (`host_name`, `port`) first, then the struct's own fields. A macro rather
/// than a `#[serde(flatten)]`ed address struct: inside a flattened struct a
/// wrong type's 400 would no longer name its field.
macro_rules! agent_request {
    ($(#[$attr:meta])* pub struct $name:ident { $($fields:tt)* }) => {
        $(#[$attr])*
        pub struct $name {
            /// The host name or IP address the backend calls the agent at.
            #[serde(alias = "hostName", deserialize_with = "de::string")]
            #[schema(required = true)]
            pub host_name: String,
            /// Its control port.
            #[serde(deserialize_with = "de::numeric_string")]
            #[schema(required = true)]
            pub port: String,
            $($fields)*
        }
    };
}

agent_request! {
/// `POST /v1/fleet/register` (`Authorization: Bearer <ALILO_FLEET_TOKEN>`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct FleetRegisterRequest {
    #[serde(deserialize_with = "de::strings")]
    pub tags: Vec<String>,
    /// The rate it offers, requests per second.
    #[serde(alias = "capacityRps")]
    #[schema(required = true)]
    pub capacity_rps: f64,
    /// `alilo-agent`'s version.
    #[serde(deserialize_with = "de::string")]
    pub version: String,
    /// The SHA-256 pin (`sha256:<64 hex>`) of the certificate its control API
    /// serves (`--tls-cert`): the backend then calls it over https and accepts
    /// only that certificate; `derived` for `--tls-derived` (the backend
    /// computes it from the credential it answers). Left out: plain http (a pin
    /// stored before is dropped, as the agent no longer serves it).
    #[serde(alias = "tlsPin", deserialize_with = "de::string")]
    pub tls_pin: String,
}
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FleetRegisterResponse {
    pub status: bool,
    pub message: String,
    pub agent_id: i32,
    /// The agent's own bearer credential (HMAC of the fleet key and its
    /// `host:port`): the agent requires it on its control API, and presents it
    /// on heartbeats and deregistration.
    pub credential: String,
    /// Heartbeat every this many seconds (with jitter); three missed ones make
    /// the agent unhealthy.
    pub heartbeat_secs: u64,
}

agent_request! {
/// `POST /v1/fleet/heartbeat` (`Authorization: Bearer <the agent's credential>`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct FleetHeartbeatRequest {
    /// Host CPU busy, percent (0–100).
    #[serde(alias = "cpuPercent")]
    pub cpu_percent: f64,
    /// Host memory in use, percent (0–100).
    #[serde(alias = "memoryPercent")]
    pub memory_percent: f64,
    /// Requests in flight, all jobs.
    #[serde(alias = "inFlight")]
    pub in_flight: u64,
    /// Jobs pending or running.
    #[serde(alias = "activeJobs")]
    pub active_jobs: u64,
    /// Shutting down: give it no new work.
    #[serde(deserialize_with = "de::boolean")]
    pub draining: bool,
}
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FleetHeartbeatResponse {
    pub status: bool,
    pub message: String,
    pub heartbeat_secs: u64,
}

agent_request! {
/// `POST /v1/fleet/deregister` (`Authorization: Bearer <the agent's credential>`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct FleetDeregisterRequest {}
}

/// An agent of the registry with what its heartbeats say.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FleetAgent {
    /// The contract's shape: `cpu_used` and `mem_used` are percentages,
    /// `ports_used` the requests in flight.
    pub agent: Agent,
    /// It registered itself (`false`: added with `/v1/agent/set`).
    pub registered: bool,
    /// The planner may use it: enabled, not draining, and heartbeating
    /// (registered) or answering a probe now (manual, within 1 s).
    pub healthy: bool,
    pub draining: bool,
    pub version: String,
    /// The rate it offers; `null` for manual agents (`AGENT_CAPACITY_RPS` applies).
    pub capacity_rps: Option<f64>,
    pub in_flight: i64,
    pub active_jobs: i32,
    /// Seconds since its last heartbeat; `null` for manual agents.
    pub heartbeat_age_secs: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FleetAgentsResponse {
    pub status: bool,
    pub message: String,
    pub agents: Vec<FleetAgent>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_json;

    #[test]
    fn every_agent_request_reads_the_address_and_names_it_when_it_is_wrong() {
        let body = bytes::Bytes::from_static(br#"{"hostName": "10.0.0.1", "port": 8888}"#);
        let r: FleetRegisterRequest = parse_json(&body).unwrap();
        assert_eq!((r.host_name.as_str(), r.port.as_str()), ("10.0.0.1", "8888"));
        let h: FleetHeartbeatRequest = parse_json(&body).unwrap();
        assert_eq!((h.host_name.as_str(), h.port.as_str()), ("10.0.0.1", "8888"));
        let d: FleetDeregisterRequest = parse_json(&body).unwrap();
        assert_eq!((d.host_name.as_str(), d.port.as_str()), ("10.0.0.1", "8888"));
        let wrong = bytes::Bytes::from_static(br#"{"host_name": 5, "port": "1"}"#);
        let e = parse_json::<FleetHeartbeatRequest>(&wrong).unwrap_err();
        assert!(e.message.starts_with("host_name: "), "{e:?}");
        let wrong = bytes::Bytes::from_static(br#"{"host_name": "h", "port": true}"#);
        let e = parse_json::<FleetDeregisterRequest>(&wrong).unwrap_err();
        assert!(e.message.starts_with("port: "), "{e:?}");
    }
}
