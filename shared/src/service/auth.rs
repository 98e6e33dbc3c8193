//! Sign-in, users, API tokens, the audit log and agent credentials: the logic of
//! the `auth` function's routes. The guard (`auth::guard`) has already decided
//! that the caller may call them.

use crate::auth::guard::COOKIE;
use crate::auth::{Principal, Role, cache, secrets};
use crate::db;
use crate::db::auth::{AuditFilter, NewToken};
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::StdResponse;
use crate::wire::auth::*;
use axum::http::StatusCode;

/// The first admin's name.
pub const FIRST_ADMIN: &str = "admin";
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Failed logins allowed per name, and per address, in [`LOGIN_WINDOW_SECS`].
pub const MAX_FAILED_PER_NAME: i64 = 10;
pub const MAX_FAILED_PER_ADDRESS: i64 = 50;
pub const LOGIN_WINDOW_SECS: i64 = 15 * 60;
/// Token lifetimes, in days.
pub const DEFAULT_TOKEN_DAYS: i64 = 90;
pub const MAX_TOKEN_DAYS: i64 = 365;

/// Create the first admin when there is no user; its one-time password, to be
/// shown once by the caller (never logged).
pub async fn bootstrap_admin(database: &db::Db) -> ApiResult<Option<String>> {
    if db::auth::count_users(database).await? > 0 {
        return Ok(None);
    }
    let password = secrets::new_password();
    let created = db::auth::create_first_admin(database, FIRST_ADMIN, &secrets::hash_password(&password)).await?;
    Ok(created.then_some(password))
}

/// `Set-Cookie` of a new session.
pub fn session_cookie(id: &str, ttl_secs: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={ttl_secs}{secure}")
}

/// `Set-Cookie` that removes the session cookie.
pub fn cleared_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

fn me(p: &Principal) -> Me {
    Me { name: p.name.clone(), role: p.role, projects: p.projects.clone(), via: p.via.as_str().into() }
}

/// A successful login: the answer and the new session's id (for the cookie).
pub struct LoggedIn {
    pub response: MeResponse,
    pub session_id: String,
}

/// Check the password (rate-limited per name and per address), open a session.
pub async fn login(app: &AppState, req: LoginRequest, address: &str) -> ApiResult<LoggedIn> {
    let name = req.name.trim();
    if name.is_empty() || req.password.is_empty() {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "name and password are required"));
    }
    let (by_name, by_address) = db::auth::failed_logins(&app.db, name, address, LOGIN_WINDOW_SECS).await?;
    if by_name >= MAX_FAILED_PER_NAME || by_address >= MAX_FAILED_PER_ADDRESS {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many failed logins; try again in {} minutes", LOGIN_WINDOW_SECS / 60),
        ));
    }
    let user = db::auth::user_by_name(&app.db, name).await?;
    // Verify against a decoy for unknown names, so timing does not reveal which exist.
    let stored = user.as_ref().map_or_else(|| secrets::decoy_hash().to_string(), |u| u.password_hash.clone());
    let password = req.password;
    let matches = tokio::task::spawn_blocking(move || secrets::verify_password(&password, &stored))
        .await
        .map_err(ApiError::internal)?;
    let user = match user {
        Some(u) if matches && !u.disabled => u,
        _ => return Err(ApiError::new(StatusCode::UNAUTHORIZED, "wrong name or password")),
    };
    let session_id = secrets::new_session_id();
    db::auth::create_session(&app.db, &secrets::digest(&session_id), user.id, app.auth.session_ttl_secs).await?;
    let principal = Principal {
        name: user.name,
        user_id: Some(user.id),
        token_id: None,
        role: user.role,
        projects: user.projects,
        via: crate::auth::Via::Session,
    };
    Ok(LoggedIn { response: MeResponse { status: true, message: "signed in".into(), me: me(&principal) }, session_id })
}

/// End the session of `cookie` (if any).
pub async fn logout(app: &AppState, cookie: Option<&str>) -> ApiResult<StdResponse> {
    if let Some(id) = cookie {
        db::auth::revoke_session(&app.db, &secrets::digest(id)).await?;
        cache::clear();
    }
    Ok(StdResponse::ok("signed out"))
}

pub fn whoami(p: &Principal) -> MeResponse {
    MeResponse { status: true, message: String::new(), me: me(p) }
}

fn role(field: &str, raw: &str) -> ApiResult<Role> {
    Role::parse(raw).map_err(|why| ApiError::unprocessable(field, why))
}

fn user_name(raw: &str) -> ApiResult<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 || name.starts_with("token:") || name.chars().any(char::is_control)
    {
        return Err(ApiError::unprocessable(
            "name",
            format!("{name:?} is not a user name (1-100 characters, no `token:` prefix)"),
        ));
    }
    Ok(name.to_string())
}

fn password(field: &str, raw: &str) -> ApiResult<String> {
    if raw.chars().count() < MIN_PASSWORD_CHARS || raw.len() > 1024 {
        return Err(ApiError::unprocessable(field, format!("must be {MIN_PASSWORD_CHARS} to 1024 characters long")));
    }
    Ok(raw.to_string())
}

fn projects(raw: Option<Vec<i64>>) -> ApiResult<Option<Vec<i64>>> {
    match raw {
        Some(list) if list.iter().any(|p| *p <= 0) => Err(ApiError::unprocessable("projects", "ids must be positive")),
        other => Ok(other),
    }
}

async fn hash(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || secrets::hash_password(&password)).await.map_err(ApiError::internal)
}

fn user(u: db::auth::UserRow) -> User {
    User { id: u.id, name: u.name, role: u.role, projects: u.projects, disabled: u.disabled, created_at: u.created_at }
}

pub async fn users(app: &AppState) -> ApiResult<UsersResponse> {
    let users = db::auth::list_users(&app.db).await?.into_iter().map(user).collect();
    Ok(UsersResponse { status: true, message: String::new(), users })
}

pub async fn create_user(app: &AppState, req: CreateUserRequest) -> ApiResult<CreatedResponse> {
    let name = user_name(&req.name)?;
    let role = role("role", &req.role)?;
    let projects = projects(req.projects)?;
    let hash = hash(password("password", &req.password)?).await?;
    let id = db::auth::create_user(&app.db, &name, &hash, role, projects.as_deref()).await.map_err(|e| {
        if e.status == StatusCode::CONFLICT {
            ApiError::conflict(format!("name: user {name:?} already exists"))
        } else {
            e
        }
    })?;
    Ok(CreatedResponse { status: true, message: format!("user {name} created"), id })
}

pub async fn update_user(app: &AppState, req: UpdateUserRequest) -> ApiResult<StdResponse> {
    let role = req.role.as_deref().map(|r| role("role", r)).transpose()?;
    let projects = if req.all_projects { Some(None) } else { projects(req.projects)?.map(Some) };
    let hash = match req.password {
        Some(p) => Some(hash(password("password", &p)?).await?),
        None => None,
    };
    let updated = db::auth::update_user(&app.db, req.id, role, projects, hash.as_deref(), req.disabled).await?;
    // A new role, limit, password or a disabled user: no remembered session may outlive it.
    cache::clear();
    if !updated {
        return Err(ApiError::not_found("user", req.id));
    }
    Ok(StdResponse::ok(format!("user {} updated", req.id)))
}

pub async fn delete_user(app: &AppState, caller: &Principal, req: IdRequest) -> ApiResult<StdResponse> {
    if caller.user_id == Some(req.id) {
        return Err(ApiError::conflict("id: you cannot delete yourself"));
    }
    let deleted = db::auth::delete_user(&app.db, req.id).await?;
    cache::clear();
    if !deleted {
        return Err(ApiError::not_found("user", req.id));
    }
    Ok(StdResponse::ok(format!("user {} deleted", req.id)))
}

pub async fn revoke_sessions(app: &AppState, req: UserIdRequest) -> ApiResult<StdResponse> {
    let n = db::auth::revoke_user_sessions(&app.db, req.user_id).await?;
    cache::clear();
    Ok(StdResponse::ok(format!("{n} sessions ended")))
}

/// Issue a token; its value is in the answer only.
pub async fn create_token(
    app: &AppState,
    caller: &Principal,
    req: CreateTokenRequest,
) -> ApiResult<CreateTokenResponse> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::unprocessable("name", "a token needs a name of 1-100 characters"));
    }
    let role = role("role", &req.role)?;
    let projects = projects(req.projects)?;
    let days = req.expires_in_days.unwrap_or(DEFAULT_TOKEN_DAYS);
    if !(1..=MAX_TOKEN_DAYS).contains(&days) {
        return Err(ApiError::unprocessable(
            "expires_in_days",
            format!("{days} is not between 1 and {MAX_TOKEN_DAYS}"),
        ));
    }
    let (id, token, expires_at) =
        issue_token(app, name, role, projects.as_deref(), caller.user_id, days * 86400).await?;
    Ok(CreateTokenResponse {
        status: true,
        message: "store it now: it is not shown again".into(),
        id,
        token,
        expires_at,
    })
}

/// Issue a token (also used by tests and tools): id, the token, its expiry.
pub async fn issue_token(
    app: &AppState,
    name: &str,
    role: Role,
    projects: Option<&[i64]>,
    created_by: Option<i64>,
    ttl_secs: i64,
) -> ApiResult<(i64, String, chrono::DateTime<chrono::Utc>)> {
    let token = secrets::new_token();
    let hash = secrets::digest(&token);
    let (id, expires_at) =
        db::auth::create_token(&app.db, &NewToken { name, token_hash: &hash, role, projects, created_by, ttl_secs })
            .await?;
    Ok((id, token, expires_at))
}

pub async fn tokens(app: &AppState) -> ApiResult<TokensResponse> {
    let tokens = db::auth::list_tokens(&app.db)
        .await?
        .into_iter()
        .map(|t| Token {
            id: t.id,
            name: t.name,
            role: t.role,
            projects: t.projects,
            created_by: t.created_by,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            last_used_at: t.last_used_at,
        })
        .collect();
    Ok(TokensResponse { status: true, message: String::new(), tokens })
}

pub async fn revoke_token(app: &AppState, req: IdRequest) -> ApiResult<StdResponse> {
    let revoked = db::auth::revoke_token(&app.db, req.id).await?;
    cache::clear();
    if !revoked {
        return Err(ApiError::not_found("active token", req.id));
    }
    Ok(StdResponse::ok(format!("token {} revoked", req.id)))
}

pub async fn audit(app: &AppState, req: AuditRequest) -> ApiResult<AuditResponse> {
    let limit = req.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::unprocessable("limit", format!("{limit} is not between 1 and 1000")));
    }
    let filter = AuditFilter { actor: req.actor, project_id: req.project_id, from: req.from, to: req.to, limit };
    let events = db::auth::audit_rows(&app.db, &filter)
        .await?
        .into_iter()
        .map(|r| AuditEvent {
            id: r.id,
            at: r.at,
            actor: r.entry.actor,
            user_id: r.entry.user_id,
            token_id: r.entry.token_id,
            via: r.entry.via.into(),
            address: r.entry.address,
            route: r.entry.route,
            ids: r.entry.ids,
            project_ids: r.entry.project_ids,
            status: r.entry.status,
            message: r.entry.message,
        })
        .collect();
    Ok(AuditResponse { status: true, message: String::new(), events })
}

/// The credential an agent at `host_name:port` must be started with.
pub async fn agent_credential(app: &AppState, req: AgentCredentialRequest) -> ApiResult<AgentCredentialResponse> {
    let agent = super::agents::input(&crate::wire::agents::Agent {
        host_name: req.host_name,
        port: req.port,
        ..Default::default()
    })?;
    let base = crate::agent_client::base_url(&agent.host_name, &agent.port.to_string());
    Ok(AgentCredentialResponse {
        status: true,
        message: format!("start the agent at {base} with ALILO_AGENT_TOKEN set to this credential"),
        credential: app.agents.credential(&base),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_secure_http_only_and_lax() {
        let c = session_cookie("abc", 60, true);
        for part in ["alilo_session=abc", "HttpOnly", "SameSite=Lax", "Secure", "Max-Age=60", "Path=/"] {
            assert!(c.contains(part), "{c}");
        }
        assert!(cleared_cookie(true).contains("Max-Age=0"));
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(user_name("alice").is_ok());
        assert!(user_name(" ").is_err() && user_name("token:x").is_err());
        assert!(password("password", "short").unwrap_err().message.starts_with("password:"));
    }
}
