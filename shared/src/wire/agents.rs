//! AgentService shapes.

use super::de;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Agent {
    #[serde(alias = "agentId", deserialize_with = "de::i32")]
    pub agent_id: i32,
    #[serde(alias = "hostName", deserialize_with = "de::string")]
    pub host_name: String,
    #[serde(deserialize_with = "de::numeric_string")]
    pub port: String,
    #[serde(deserialize_with = "de::boolean")]
    pub enabled: bool,
    #[serde(deserialize_with = "de::strings")]
    pub tags: Vec<String>,
    #[serde(alias = "cpuUsed", deserialize_with = "de::i32")]
    pub cpu_used: i32,
    #[serde(alias = "memUsed", deserialize_with = "de::i32")]
    pub mem_used: i32,
    #[serde(alias = "portsUsed", deserialize_with = "de::i32")]
    pub ports_used: i32,
    /// The SHA-256 pin of the certificate the agent's control API serves
    /// (`sha256:<64 hex>`, or a comma-separated list during a rotation; colons
    /// and upper case accepted), from `alilo-agent serve --tls-cert`: the
    /// backend then calls it over https and accepts only that certificate.
    /// Left out of `/v1/agent/set`: the agent keeps its pin; `""` removes it.
    /// Absent from answers for agents without one.
    #[serde(alias = "tlsPin", skip_serializing_if = "Option::is_none")]
    pub tls_pin: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetAllAgentsResponse {
    pub status: bool,
    pub agents: Vec<Agent>,
    pub message: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct AgentIdRequest {
    #[serde(alias = "agentId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub agent_id: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetAgentResponse {
    pub status: bool,
    pub agent: Option<Agent>,
    pub message: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct AgentRequest {
    #[schema(required = true)]
    pub agent: Option<Agent>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SetAgentResponse {
    pub status: bool,
    pub agent_id: i32,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetAllTagsResponse {
    pub status: bool,
    pub message: String,
    pub tags: Vec<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct TagRequest {
    #[serde(deserialize_with = "de::string")]
    #[schema(required = true)]
    pub tag: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetAllAgentsByTagResponse {
    pub status: bool,
    pub message: String,
    pub agents: Vec<Agent>,
}
