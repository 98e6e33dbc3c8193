//! The fleet's queries: a self-registered agent's row, written by its
//! registration, heartbeats and deregistration, keyed by its address (unique).

use super::{Db, id32};
use crate::http::ApiResult;
use crate::model::page::MAX_UNPAGED_ROWS;
use crate::wire::agents::Agent;
use crate::wire::fleet::FleetAgent;
use std::time::Duration;

/// A registration ready to store.
#[derive(Debug, Clone)]
pub struct Registration {
    pub host_name: String,
    pub port: i32,
    pub tags: Vec<String>,
    pub capacity_rps: f64,
    pub version: String,
    /// Certificate pins (canonical), or `None` for http.
    pub tls_pin: Option<String>,
}

/// What a heartbeat stores.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    pub cpu_percent: i32,
    pub memory_percent: i32,
    pub in_flight: i64,
    pub active_jobs: i32,
    pub draining: bool,
}

/// Insert or update the agent at this address (never a second row). A new
/// agent is enabled; an existing self-registered one keeps an admin's
/// `enabled`; a manual one becomes self-registered and enabled.
pub async fn register(db: &Db, r: &Registration) -> ApiResult<i64> {
    let conn = db.conn().await?;
    let row = conn
        .query_one(
            &conn
                .prepare_cached(
                    "INSERT INTO agents (host_name, port, enabled, tags, registered, version, capacity_rps, heartbeat_at,
                                         tls_pin)
                     VALUES ($1, $2, TRUE, $3, TRUE, $4, $5, now(), $6)
                     ON CONFLICT (host_name, port) DO UPDATE SET
                         tags = EXCLUDED.tags, version = EXCLUDED.version, capacity_rps = EXCLUDED.capacity_rps,
                         tls_pin = EXCLUDED.tls_pin,
                         enabled = CASE WHEN agents.registered THEN agents.enabled ELSE TRUE END,
                         registered = TRUE, heartbeat_at = now(), draining = FALSE, in_flight = 0,
                         active_jobs = 0, updated_at = now()
                     RETURNING id",
                )
                .await?,
            &[&r.host_name, &r.port, &r.tags, &r.version, &r.capacity_rps, &r.tls_pin],
        )
        .await?;
    Ok(row.get(0))
}

/// Store a heartbeat; `false` when no self-registered agent has this address.
pub async fn heartbeat(db: &Db, host_name: &str, port: i32, f: &Figures) -> ApiResult<bool> {
    let conn = db.conn().await?;
    let n = conn
        .execute(
            &conn
                .prepare_cached(
                    "UPDATE agents SET heartbeat_at = now(), cpu_used = $3, mem_used = $4,
                         ports_used = LEAST($5::bigint, 2147483647)::int, in_flight = $5::bigint, active_jobs = $6, draining = $7
                     WHERE host_name = $1 AND port = $2 AND registered",
                )
                .await?,
            &[&host_name, &port, &f.cpu_percent, &f.memory_percent, &f.in_flight, &f.active_jobs, &f.draining],
        )
        .await?;
    Ok(n == 1)
}

/// Remove a self-registered agent; `false` when none has this address. Its
/// jobs keep their control URL (`jobs.agent_id` becomes NULL).
pub async fn deregister(db: &Db, host_name: &str, port: i32) -> ApiResult<bool> {
    let conn = db.conn().await?;
    let n = conn
        .execute(
            &conn.prepare_cached("DELETE FROM agents WHERE host_name = $1 AND port = $2 AND registered").await?,
            &[&host_name, &port],
        )
        .await?;
    Ok(n == 1)
}

/// Every agent with its fleet figures, by tags then host name; `expiry`: how
/// old a heartbeat may be for a registered agent to count as healthy.
pub async fn list(db: &Db, expiry: Duration) -> ApiResult<Vec<FleetAgent>> {
    let conn = db.conn().await?;
    let rows = conn
        .query(
            &conn
                .prepare_cached(&format!(
                    "SELECT id, host_name, port, enabled, tags, cpu_used, mem_used, ports_used, tls_pin, registered, draining,
                         version, capacity_rps, in_flight, active_jobs,
                         extract(epoch FROM now() - heartbeat_at)::float8 AS age
                     FROM agents ORDER BY tags, host_name, id LIMIT {MAX_UNPAGED_ROWS}"
                ))
                .await?,
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let registered: bool = row.get("registered");
            let draining: bool = row.get("draining");
            let enabled: bool = row.get("enabled");
            let age: Option<f64> = row.get("age");
            FleetAgent {
                agent: Agent {
                    agent_id: id32(row.get("id")),
                    host_name: row.get("host_name"),
                    port: row.get::<_, i32>("port").to_string(),
                    enabled,
                    tags: row.get("tags"),
                    cpu_used: row.get("cpu_used"),
                    mem_used: row.get("mem_used"),
                    ports_used: row.get("ports_used"),
                    tls_pin: row.get("tls_pin"),
                },
                registered,
                healthy: crate::control::agents::listed_healthy(enabled, registered, draining, age, expiry),
                draining,
                version: row.get("version"),
                capacity_rps: row.get("capacity_rps"),
                in_flight: row.get("in_flight"),
                active_jobs: row.get("active_jobs"),
                heartbeat_age_secs: age,
            }
        })
        .collect())
}

/// Healthy self-registered agents carrying `tag` (empty: any) and their
/// capacity in total; `expiry` as in [`list`], `default_rps` for an agent
/// that announced none.
pub async fn offer(db: &Db, tag: &str, expiry: Duration, default_rps: f64) -> ApiResult<(usize, f64)> {
    let conn = db.conn().await?;
    let row = conn
        .query_one(
            &conn
                .prepare_cached(
                    "SELECT count(*), COALESCE(sum(COALESCE(capacity_rps, $3)), 0)::float8 FROM agents
                     WHERE enabled AND registered AND NOT draining
                       AND heartbeat_at > now() - make_interval(secs => $2)
                       AND ($1 = '' OR tags @> ARRAY[$1::text])",
                )
                .await?,
            &[&tag, &expiry.as_secs_f64(), &default_rps],
        )
        .await?;
    Ok((usize::try_from(row.get::<_, i64>(0)).unwrap_or(0), row.get(1)))
}
