//! Agent queries.

use super::{Db, id32};
use crate::http::ApiResult;
use crate::model::page::MAX_UNPAGED_ROWS;
use crate::wire::agents::Agent;
use tokio_postgres::Row;

const SELECT: &str = "SELECT id, host_name, port, enabled, tags, cpu_used, mem_used, ports_used, tls_pin FROM agents";

fn agent(row: &Row) -> Agent {
    Agent {
        agent_id: id32(row.get("id")),
        host_name: row.get("host_name"),
        port: row.get::<_, i32>("port").to_string(),
        enabled: row.get("enabled"),
        tags: row.get("tags"),
        cpu_used: row.get("cpu_used"),
        mem_used: row.get("mem_used"),
        ports_used: row.get("ports_used"),
        tls_pin: row.get("tls_pin"),
    }
}

/// An agent ready to store.
#[derive(Debug, Clone)]
pub struct AgentInput {
    pub host_name: String,
    pub port: i32,
    pub enabled: bool,
    pub tags: Vec<String>,
    /// Certificate pins (canonical): `None` keeps the stored ones (an update
    /// without the field), `Some(None)` removes them.
    pub tls_pin: Option<Option<String>>,
}

pub async fn list(db: &Db) -> ApiResult<Vec<Agent>> {
    let conn = db.conn().await?;
    let rows = conn
        .query(
            &conn.prepare_cached(&format!("{SELECT} ORDER BY tags, host_name, id LIMIT {MAX_UNPAGED_ROWS}")).await?,
            &[],
        )
        .await?;
    Ok(rows.iter().map(agent).collect())
}

pub async fn get(db: &Db, id: i64) -> ApiResult<Option<Agent>> {
    let conn = db.conn().await?;
    Ok(conn
        .query_opt(&conn.prepare_cached(&format!("{SELECT} WHERE id = $1")).await?, &[&id])
        .await?
        .as_ref()
        .map(agent))
}

pub async fn create(db: &Db, a: &AgentInput) -> ApiResult<i64> {
    let conn = db.conn().await?;
    let row = conn
        .query_one(
            &conn
                .prepare_cached(
                    "INSERT INTO agents (host_name, port, enabled, tags, tls_pin) VALUES ($1, $2, $3, $4, $5)
                     RETURNING id",
                )
                .await?,
            &[&a.host_name, &a.port, &a.enabled, &a.tags, &a.tls_pin.clone().flatten()],
        )
        .await?;
    Ok(row.get(0))
}

pub async fn update(db: &Db, id: i64, a: &AgentInput) -> ApiResult<bool> {
    let conn = db.conn().await?;
    let n = conn
        .execute(
            &conn
                .prepare_cached(
                    "UPDATE agents SET host_name = $2, port = $3, enabled = $4, tags = $5,
                         tls_pin = CASE WHEN $6 THEN $7 ELSE tls_pin END, updated_at = now()
                     WHERE id = $1",
                )
                .await?,
            &[&id, &a.host_name, &a.port, &a.enabled, &a.tags, &a.tls_pin.is_some(), &a.tls_pin.clone().flatten()],
        )
        .await?;
    Ok(n == 1)
}

pub async fn delete(db: &Db, id: i64) -> ApiResult<bool> {
    let conn = db.conn().await?;
    Ok(conn.execute(&conn.prepare_cached("DELETE FROM agents WHERE id = $1").await?, &[&id]).await? == 1)
}

/// Distinct tags of enabled agents, sorted.
pub async fn tags(db: &Db) -> ApiResult<Vec<String>> {
    let conn = db.conn().await?;
    let rows = conn
        .query(
            &conn.prepare_cached(&format!("SELECT DISTINCT unnest(tags) AS tag FROM agents WHERE enabled ORDER BY tag LIMIT {MAX_UNPAGED_ROWS}")).await?,
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Agents (enabled or not) carrying `tag`, by host name.
pub async fn by_tag(db: &Db, tag: &str) -> ApiResult<Vec<Agent>> {
    let conn = db.conn().await?;
    let rows = conn
        .query(
            &conn
                .prepare_cached(&format!(
                    "{SELECT} WHERE tags @> ARRAY[$1::text] ORDER BY host_name, id LIMIT {MAX_UNPAGED_ROWS}"
                ))
                .await?,
            &[&tag],
        )
        .await?;
    Ok(rows.iter().map(agent).collect())
}

/// Whether some enabled agent carries `tag`.
pub async fn enabled_with_tag(db: &Db, tag: &str) -> ApiResult<bool> {
    let conn = db.conn().await?;
    let row = conn
        .query_one(
            &conn
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM agents WHERE enabled AND tags @> ARRAY[$1::text])")
                .await?,
            &[&tag],
        )
        .await?;
    Ok(row.get(0))
}
