//! Users, sessions, API tokens and the audit log (migration 0005). Secrets arrive
//! here already digested (see `auth::secrets`).

use super::Db;
use crate::auth::principal::{Principal, Via};
use crate::auth::rules::Role;
use crate::http::ApiResult;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

/// A user as stored (the hash never leaves `shared`).
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub password_hash: String,
    pub role: Role,
    pub projects: Option<Vec<i64>>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

fn role(row: &Row, column: &str) -> Role {
    Role::parse(row.get::<_, &str>(column)).unwrap_or(Role::Viewer)
}

fn user(row: &Row) -> UserRow {
    UserRow {
        id: row.get("id"),
        name: row.get("name"),
        password_hash: row.get("password_hash"),
        role: role(row, "role"),
        projects: row.get("projects"),
        disabled: row.get("disabled"),
        created_at: row.get("created_at"),
    }
}

const USER: &str = "SELECT id, name, password_hash, role, projects, disabled, created_at FROM users";

pub async fn count_users(db: &Db) -> ApiResult<i64> {
    Ok(db.conn().await?.query_one("SELECT count(*) FROM users", &[]).await?.get(0))
}

/// Create the first admin unless a user exists (two starters race safely: the
/// advisory lock serialises them).
pub async fn create_first_admin(db: &Db, name: &str, password_hash: &str) -> ApiResult<bool> {
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock(7263528)", &[]).await?;
    let exists = tx.query_one("SELECT EXISTS (SELECT 1 FROM users)", &[]).await?.get::<_, bool>(0);
    if exists {
        return Ok(false);
    }
    tx.execute("INSERT INTO users (name, password_hash, role) VALUES ($1, $2, 'admin')", &[&name, &password_hash])
        .await?;
    tx.commit().await?;
    Ok(true)
}

pub async fn create_user(
    db: &Db,
    name: &str,
    password_hash: &str,
    role: Role,
    projects: Option<&[i64]>,
) -> ApiResult<i64> {
    let conn = db.conn().await?;
    let row = conn
        .query_one(
            "INSERT INTO users (name, password_hash, role, projects) VALUES ($1, $2, $3, $4) RETURNING id",
            &[&name, &password_hash, &role.as_str(), &projects],
        )
        .await?;
    Ok(row.get(0))
}

pub async fn user_by_name(db: &Db, name: &str) -> ApiResult<Option<UserRow>> {
    let conn = db.conn().await?;
    Ok(conn.query_opt(&format!("{USER} WHERE name = $1"), &[&name]).await?.as_ref().map(user))
}

pub async fn user_by_id(db: &Db, id: i64) -> ApiResult<Option<UserRow>> {
    let conn = db.conn().await?;
    Ok(conn.query_opt(&format!("{USER} WHERE id = $1"), &[&id]).await?.as_ref().map(user))
}

pub async fn list_users(db: &Db) -> ApiResult<Vec<UserRow>> {
    let conn = db.conn().await?;
    Ok(conn.query(&format!("{USER} ORDER BY name"), &[]).await?.iter().map(user).collect())
}

/// Change what is given; a new password or a disabled user ends their sessions.
pub async fn update_user(
    db: &Db,
    id: i64,
    role: Option<Role>,
    projects: Option<Option<Vec<i64>>>,
    password_hash: Option<&str>,
    disabled: Option<bool>,
) -> ApiResult<bool> {
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await?;
    let n = tx
        .execute(
            "UPDATE users SET role = COALESCE($2, role),
                 projects = CASE WHEN $3 THEN $4 ELSE projects END,
                 password_hash = COALESCE($5, password_hash),
                 disabled = COALESCE($6, disabled), updated_at = now()
             WHERE id = $1",
            &[
                &id,
                &role.map(Role::as_str),
                &projects.is_some(),
                &projects.clone().flatten(),
                &password_hash,
                &disabled,
            ],
        )
        .await?;
    if password_hash.is_some() || disabled == Some(true) {
        tx.execute("UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL", &[&id]).await?;
    }
    tx.commit().await?;
    Ok(n == 1)
}

pub async fn delete_user(db: &Db, id: i64) -> ApiResult<bool> {
    Ok(db.conn().await?.execute("DELETE FROM users WHERE id = $1", &[&id]).await? == 1)
}

pub async fn create_session(db: &Db, id_hash: &[u8], user_id: i64, ttl_secs: i64) -> ApiResult<DateTime<Utc>> {
    let conn = db.conn().await?;
    let row = conn
        .query_one(
            "INSERT INTO sessions (id_hash, user_id, expires_at)
             VALUES ($1, $2, now() + make_interval(secs => $3::bigint)) RETURNING expires_at",
            &[&id_hash, &user_id, &ttl_secs],
        )
        .await?;
    Ok(row.get(0))
}

/// The signed-in user of a live session.
pub async fn session_principal(db: &Db, id_hash: &[u8]) -> ApiResult<Option<Principal>> {
    let conn = db.conn().await?;
    let stmt = conn
        .prepare_cached(
            "SELECT u.id, u.name, u.role, u.projects FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND NOT u.disabled",
        )
        .await?;
    Ok(conn.query_opt(&stmt, &[&id_hash]).await?.map(|row| Principal {
        name: row.get("name"),
        user_id: Some(row.get("id")),
        token_id: None,
        role: role(&row, "role"),
        projects: row.get("projects"),
        via: Via::Session,
    }))
}

pub async fn revoke_session(db: &Db, id_hash: &[u8]) -> ApiResult<bool> {
    let conn = db.conn().await?;
    Ok(conn
        .execute("UPDATE sessions SET revoked_at = now() WHERE id_hash = $1 AND revoked_at IS NULL", &[&id_hash])
        .await?
        == 1)
}

pub async fn revoke_user_sessions(db: &Db, user_id: i64) -> ApiResult<u64> {
    let conn = db.conn().await?;
    Ok(conn
        .execute("UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL", &[&user_id])
        .await?)
}

/// A stored token, without its digest.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub projects: Option<Vec<i64>>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

pub struct NewToken<'a> {
    pub name: &'a str,
    pub token_hash: &'a [u8],
    pub role: Role,
    pub projects: Option<&'a [i64]>,
    pub created_by: Option<i64>,
    pub ttl_secs: i64,
}

pub async fn create_token(db: &Db, t: &NewToken<'_>) -> ApiResult<(i64, DateTime<Utc>)> {
    let conn = db.conn().await?;
    let row = conn
        .query_one(
            "INSERT INTO api_tokens (name, token_hash, role, projects, created_by, expires_at)
             VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::bigint)) RETURNING id, expires_at",
            &[&t.name, &t.token_hash, &t.role.as_str(), &t.projects, &t.created_by, &t.ttl_secs],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// How often a token's `last_used_at` is written: a read per request, a write per minute.
const LAST_USED_EVERY_SECS: f64 = 60.0;

/// The principal of a live token; marks it used (at most once a minute, so that
/// a busy CI token does not turn every read into a write on one row).
pub async fn token_principal(db: &Db, token_hash: &[u8]) -> ApiResult<Option<Principal>> {
    let conn = db.conn().await?;
    let stmt = conn
        .prepare_cached(
            "SELECT id, name, role, projects,
                    COALESCE(extract(epoch FROM now() - last_used_at)::float8, 1e9) AS idle_secs
             FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()",
        )
        .await?;
    let Some(row) = conn.query_opt(&stmt, &[&token_hash]).await? else {
        return Ok(None);
    };
    let id: i64 = row.get("id");
    if row.get::<_, f64>("idle_secs") >= LAST_USED_EVERY_SECS {
        let touch = conn.prepare_cached("UPDATE api_tokens SET last_used_at = now() WHERE id = $1").await?;
        conn.execute(&touch, &[&id]).await?;
    }
    Ok(Some(Principal {
        name: format!("token:{}", row.get::<_, &str>("name")),
        user_id: None,
        token_id: Some(id),
        role: role(&row, "role"),
        projects: row.get("projects"),
        via: Via::Token,
    }))
}

pub async fn list_tokens(db: &Db) -> ApiResult<Vec<TokenRow>> {
    let conn = db.conn().await?;
    let rows = conn
        .query(
            "SELECT id, name, role, projects, created_by, created_at, expires_at, revoked_at, last_used_at
             FROM api_tokens ORDER BY id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| TokenRow {
            id: r.get("id"),
            name: r.get("name"),
            role: role(r, "role"),
            projects: r.get("projects"),
            created_by: r.get("created_by"),
            created_at: r.get("created_at"),
            expires_at: r.get("expires_at"),
            revoked_at: r.get("revoked_at"),
            last_used_at: r.get("last_used_at"),
        })
        .collect())
}

pub async fn revoke_token(db: &Db, id: i64) -> ApiResult<bool> {
    let conn = db.conn().await?;
    Ok(conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", &[&id]).await?
        == 1)
}

/// One audit row to write.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor: String,
    pub user_id: Option<i64>,
    pub token_id: Option<i64>,
    pub via: &'static str,
    pub address: String,
    pub route: String,
    pub ids: serde_json::Value,
    pub project_ids: Vec<i64>,
    pub status: i32,
    pub message: String,
}

pub async fn audit(db: &Db, e: &AuditEntry) -> ApiResult<()> {
    let conn = db.conn().await?;
    let stmt = conn
        .prepare_cached(
            "INSERT INTO audit_log (actor, user_id, token_id, via, address, route, ids, project_ids, status, message)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .await?;
    conn.execute(
        &stmt,
        &[
            &e.actor,
            &e.user_id,
            &e.token_id,
            &e.via,
            &e.address,
            &e.route,
            &tokio_postgres::types::Json(&e.ids),
            &e.project_ids,
            &e.status,
            &e.message,
        ],
    )
    .await?;
    Ok(())
}

/// A stored audit row.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub entry: AuditEntry,
}

/// Filters of the audit log; all optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub project_id: Option<i64>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: i64,
}

pub async fn audit_rows(db: &Db, f: &AuditFilter) -> ApiResult<Vec<AuditRow>> {
    let conn = db.conn().await?;
    let rows = conn
        .query(
            "SELECT id, at, actor, user_id, token_id, via, address, route, ids, project_ids, status, message
             FROM audit_log
             WHERE ($1::text IS NULL OR actor = $1) AND ($2::bigint IS NULL OR $2 = ANY(project_ids))
               AND ($3::timestamptz IS NULL OR at >= $3) AND ($4::timestamptz IS NULL OR at < $4)
             ORDER BY id DESC LIMIT $5",
            &[&f.actor, &f.project_id, &f.from, &f.to, &f.limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let via: String = r.get("via");
            AuditRow {
                id: r.get("id"),
                at: r.get("at"),
                entry: AuditEntry {
                    actor: r.get("actor"),
                    user_id: r.get("user_id"),
                    token_id: r.get("token_id"),
                    via: match via.as_str() {
                        "session" => "session",
                        "token" => "token",
                        "sso" => "sso",
                        "no-auth" => "no-auth",
                        _ => "none",
                    },
                    address: r.get("address"),
                    route: r.get("route"),
                    ids: r.get::<_, tokio_postgres::types::Json<serde_json::Value>>("ids").0,
                    project_ids: r.get("project_ids"),
                    status: r.get("status"),
                    message: r.get("message"),
                },
            }
        })
        .collect())
}

/// Failed logins within the last `window_secs`: for this name, and from this address.
pub async fn failed_logins(db: &Db, name: &str, address: &str, window_secs: i64) -> ApiResult<(i64, i64)> {
    let conn = db.conn().await?;
    let row = conn
        .query_one(
            "SELECT count(*) FILTER (WHERE actor = $1), count(*) FILTER (WHERE address = $2 AND $2 <> '')
             FROM audit_log WHERE route = '/v1/auth/login' AND status IN (401, 429)
               AND at > now() - make_interval(secs => $3::bigint)",
            &[&name, &address, &window_secs],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// The projects the given ids belong to (for the audit log and a tester's project limit).
pub async fn projects_of(
    db: &Db,
    projects: &[i64],
    scenarios: &[i64],
    scripts: &[i64],
    simple_scripts: &[i64],
    runs: &[i64],
) -> ApiResult<Vec<i64>> {
    let conn = db.conn().await?;
    let stmt = conn
        .prepare_cached(
            "SELECT DISTINCT p FROM (
                 SELECT id AS p FROM projects WHERE id = ANY($1)
                 UNION SELECT project_id FROM scenarios WHERE id = ANY($2)
                 UNION SELECT sc.project_id FROM scripts s JOIN scenarios sc ON sc.id = s.scenario_id WHERE s.id = ANY($3)
                 UNION SELECT sc.project_id FROM simple_scripts s JOIN scenarios sc ON sc.id = s.scenario_id
                       WHERE s.id = ANY($4)
                 UNION SELECT sc.project_id FROM runs r JOIN scenarios sc ON sc.id = r.scenario_id WHERE r.id = ANY($5)
             ) x ORDER BY p",
        )
        .await?;
    Ok(conn
        .query(&stmt, &[&projects, &scenarios, &scripts, &simple_scripts, &runs])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}
