//! Shapes of the sign-in, user, token and audit routes (new in Alilo, not in the
//! original contract: plain JSON, ids as numbers, times as RFC 3339).

use crate::auth::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct LoginRequest {
    #[schema(required = true)]
    pub name: String,
    #[schema(required = true)]
    pub password: String,
}

/// Who is signed in.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Me {
    pub name: String,
    pub role: Role,
    /// `null`: every project.
    pub projects: Option<Vec<i64>>,
    /// `session`, `token` or `no-auth`.
    pub via: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub status: bool,
    pub message: String,
    pub me: Me,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub projects: Option<Vec<i64>>,
    pub disabled: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsersResponse {
    pub status: bool,
    pub message: String,
    pub users: Vec<User>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct CreateUserRequest {
    #[schema(required = true)]
    pub name: String,
    #[schema(required = true)]
    /// At least 12 characters.
    pub password: String,
    #[schema(required = true)]
    /// viewer, tester or admin.
    pub role: String,
    /// A tester's projects (`null` or absent: every project).
    pub projects: Option<Vec<i64>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct UpdateUserRequest {
    #[schema(required = true)]
    pub id: i64,
    pub role: Option<String>,
    /// Set to limit a tester; `[]` with `all_projects: true` lifts the limit.
    pub projects: Option<Vec<i64>>,
    pub all_projects: bool,
    pub password: Option<String>,
    pub disabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct IdRequest {
    #[schema(required = true)]
    pub id: i64,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct UserIdRequest {
    pub user_id: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedResponse {
    pub status: bool,
    pub message: String,
    pub id: i64,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct CreateTokenRequest {
    #[schema(required = true)]
    pub name: String,
    /// viewer, tester or admin.
    pub role: String,
    pub projects: Option<Vec<i64>>,
    /// Days until it expires (default 90, at most 365).
    pub expires_in_days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreateTokenResponse {
    pub status: bool,
    pub message: String,
    pub id: i64,
    /// The token itself: shown this once, stored only as a digest.
    pub token: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Token {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub projects: Option<Vec<i64>>,
    pub created_by: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: DateTime<Utc>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokensResponse {
    pub status: bool,
    pub message: String,
    pub tokens: Vec<Token>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct AuditRequest {
    /// A user name or `token:<name>`.
    pub actor: Option<String>,
    pub project_id: Option<i64>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub from: Option<DateTime<Utc>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub to: Option<DateTime<Utc>>,
    /// At most 1000; default 100.
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    pub actor: String,
    pub user_id: Option<i64>,
    pub token_id: Option<i64>,
    pub via: String,
    pub address: String,
    pub route: String,
    /// Ids the call named or created: `{"scenario_id": [3]}`.
    #[schema(value_type = Object)]
    pub ids: serde_json::Value,
    pub project_ids: Vec<i64>,
    /// The HTTP status answered.
    pub status: i32,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditResponse {
    pub status: bool,
    pub message: String,
    pub events: Vec<AuditEvent>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct AgentCredentialRequest {
    #[schema(required = true)]
    pub host_name: String,
    #[schema(required = true)]
    #[serde(deserialize_with = "super::de::numeric_string")]
    pub port: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentCredentialResponse {
    pub status: bool,
    pub message: String,
    /// Start the agent with `ALILO_AGENT_TOKEN=<credential>`; it opens that agent only.
    pub credential: String,
}
