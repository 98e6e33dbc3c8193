//! Postgres access. One [`Db`] (a connection pool) per process; one module per
//! resource with its queries; the migrations in `migrations/` embedded and applied
//! by [`migrate`].

pub mod agents;
pub mod auth;
pub mod control;
pub mod files;
pub mod fleet;
pub mod projects;
pub mod run_writes;
pub mod runs;
pub mod scenarios;
pub mod script_metrics;
pub mod scripts;
pub mod search;
pub mod seconds;
pub mod simple_scripts;
pub mod tls;
pub mod verdicts;

use crate::config::{Dsn, Limits};
use crate::http::{ApiError, ApiResult};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

/// The ordered migrations, embedded at build time. A test checks this list against
/// the folder so a new file cannot be forgotten.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_resources.sql", include_str!("../../../migrations/0001_resources.sql")),
    ("0002_runs.sql", include_str!("../../../migrations/0002_runs.sql")),
    ("0003_project_count.sql", include_str!("../../../migrations/0003_project_count.sql")),
    ("0004_run_core.sql", include_str!("../../../migrations/0004_run_core.sql")),
    ("0005_security.sql", include_str!("../../../migrations/0005_security.sql")),
    ("0006_verdicts.sql", include_str!("../../../migrations/0006_verdicts.sql")),
    ("0007_script_metrics.sql", include_str!("../../../migrations/0007_script_metrics.sql")),
    ("0008_sso_audit.sql", include_str!("../../../migrations/0008_sso_audit.sql")),
    ("0009_fleet.sql", include_str!("../../../migrations/0009_fleet.sql")),
    ("0010_original_import.sql", include_str!("../../../migrations/0010_original_import.sql")),
    ("0011_fleet_scale.sql", include_str!("../../../migrations/0011_fleet_scale.sql")),
    ("0012_agent_tls.sql", include_str!("../../../migrations/0012_agent_tls.sql")),
    ("0013_project_targets.sql", include_str!("../../../migrations/0013_project_targets.sql")),
];

/// Connections per process. A Lambda instance serves one request at a time; the
/// local runner serves many, and Postgres' default limit is 100.
pub const POOL_SIZE: usize = 16;

/// Connections of the run-controller's own pool ([`Db::control_conn`]): its
/// load, its write beside the next pass, the probe that tells a slow
/// database from an absent one, and the list of healthy agents.
pub const CONTROL_POOL_SIZE: usize = 4;

/// A pool of connections to the configured database, and a small one of the
/// run-controller's own.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// Only the run-controller takes these: requests and the pass hooks
    /// holding every connection of `pool` (a busy pool) must not look to it
    /// like a database that does not answer (an outage, which stops runs
    /// once long enough). Opened on first use, so a process without a
    /// controller never opens one.
    control: Pool,
}

/// Longest time to open a connection: on loopback or in one VPC it takes
/// milliseconds, so a slower one is a database that does not answer.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

impl Db {
    /// Build the pool with the default limits; connections are opened on first use.
    pub fn connect(dsn: &Dsn) -> anyhow::Result<Self> {
        Self::connect_with(dsn, &Limits::default())
    }

    /// Build the pool: every connection carries `statement_timeout` and
    /// `idle_in_transaction_session_timeout`, a wait for a free connection is
    /// bounded by `pool_wait` (then 503 "busy"), and opening one by
    /// [`CONNECT_TIMEOUT`] (then 503 "unavailable").
    pub fn connect_with(dsn: &Dsn, limits: &Limits) -> anyhow::Result<Self> {
        let mut config = dsn.config().clone();
        let settings = [
            ("statement_timeout", limits.statement_timeout),
            ("idle_in_transaction_session_timeout", limits.idle_in_transaction),
        ];
        config.options(with_settings(config.get_options(), &settings));
        config.connect_timeout(CONNECT_TIMEOUT);
        let tls = dsn.tls().connector().map_err(anyhow::Error::msg)?;
        let pool = |size: usize| {
            let recycling = ManagerConfig { recycling_method: RecyclingMethod::Fast };
            let manager = match tls.clone() {
                Some(tls) => Manager::from_config(config.clone(), tls, recycling),
                None => Manager::from_config(config.clone(), NoTls, recycling),
            };
            Pool::builder(manager)
                .max_size(size)
                .wait_timeout(Some(limits.pool_wait))
                .create_timeout(Some(CONNECT_TIMEOUT))
                .recycle_timeout(Some(CONNECT_TIMEOUT))
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .build()
        };
        Ok(Self { pool: pool(POOL_SIZE)?, control: pool(CONTROL_POOL_SIZE)? })
    }

    /// A pooled connection.
    pub async fn conn(&self) -> ApiResult<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }

    /// A connection of the run-controller's own pool (see [`Db`]): only its
    /// database steps take one.
    pub async fn control_conn(&self) -> ApiResult<deadpool_postgres::Object> {
        Ok(self.control.get().await?)
    }

    /// Check that the database answers.
    pub async fn ping(&self) -> Result<(), String> {
        let conn = self.pool.get().await.map_err(|e| e.to_string())?;
        conn.simple_query("SELECT 1").await.map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// The connection's startup options with `settings` (in milliseconds) added,
/// keeping the DSN's own (e.g. a `search_path`).
fn with_settings(options: Option<&str>, settings: &[(&str, std::time::Duration)]) -> String {
    let added = settings.iter().map(|(name, value)| format!("-c {name}={}", value.as_millis()));
    options
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(String::from)
        .into_iter()
        .chain(added)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Create the configured database when it does not exist yet, by connecting to the
/// server's `postgres` database with the same credentials.
pub async fn ensure_database(dsn: &Dsn) -> Result<(), String> {
    let name = dsn.dbname();
    let tls = dsn.tls().connector()?;
    match open(dsn.config(), tls.as_ref()).await {
        Ok(_) => return Ok(()),
        Err(e)
            if e.as_db_error().is_some_and(|d| d.code() == &tokio_postgres::error::SqlState::INVALID_CATALOG_NAME) => {}
        Err(e) => return Err(format!("cannot connect to Postgres at {dsn}: {}", root_cause(&e))),
    }
    let mut admin = dsn.config().clone();
    admin.dbname("postgres");
    let client = open(&admin, tls.as_ref())
        .await
        .map_err(|e| format!("cannot connect to Postgres at {dsn}: {}", root_cause(&e)))?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    match client.batch_execute(&format!("CREATE DATABASE {quoted}")).await {
        Ok(()) => {
            tracing::info!(database = %name, "created the database");
            Ok(())
        }
        Err(e) if e.as_db_error().is_some_and(|d| d.code() == &tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {
            Ok(())
        }
        Err(e) => Err(format!("cannot create database {name:?} at {dsn}: {}", root_cause(&e))),
    }
}

/// One connection outside the pool, over TLS when the DSN asks for it.
pub async fn open(
    config: &tokio_postgres::Config,
    tls: Option<&tls::MakeRustls>,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    match tls {
        Some(tls) => {
            let (client, connection) = config.connect(tls.clone()).await?;
            tokio::spawn(connection);
            Ok(client)
        }
        None => {
            let (client, connection) = config.connect(NoTls).await?;
            tokio::spawn(connection);
            Ok(client)
        }
    }
}

/// The innermost message of an error chain: "Connection refused (os error 111)".
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    let text = current.to_string();
    if text.is_empty() { err.to_string() } else { text }
}

/// Apply the migrations not applied yet, in order, each in its own transaction,
/// under an advisory lock so concurrent starters do not race.
pub async fn migrate(db: &Db) -> anyhow::Result<Vec<&'static str>> {
    let mut conn = db.pool.get().await?;
    conn.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             name TEXT PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let tx = conn.transaction().await?;
    // A migration may rewrite a large table: `statement_timeout` guards requests, not this.
    tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
    // One lock id for Alilo's migrations, held until commit.
    tx.execute("SELECT pg_advisory_xact_lock(7263527)", &[]).await?;
    let mut applied = Vec::new();
    for (name, sql) in MIGRATIONS {
        let done = tx.query_opt("SELECT 1 FROM schema_migrations WHERE name = $1", &[name]).await?.is_some();
        if done {
            continue;
        }
        tx.batch_execute(sql).await.map_err(|e| anyhow::anyhow!("migration {name} failed: {e}"))?;
        tx.execute("INSERT INTO schema_migrations (name) VALUES ($1)", &[name]).await?;
        applied.push(*name);
    }
    tx.commit().await?;
    Ok(applied)
}

/// Contract ids are int32; ours are int64. An id that does not fit is answered as
/// a fault rather than silently truncated.
pub fn id32(id: i64) -> i32 {
    i32::try_from(id).unwrap_or_else(|_| {
        tracing::error!(id, "an id exceeds the v1 contract's int32 range");
        -1
    })
}

/// Refuse the ids no row can have (0 and negatives) with a 404 naming the entity.
pub fn known_id(entity: &str, id: i64) -> ApiResult<i64> {
    if id <= 0 {
        return Err(ApiError::not_found(entity, id));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_settings_are_added_to_the_dsn_options() {
        let ms = |n| std::time::Duration::from_millis(n);
        let settings = [("statement_timeout", ms(5000)), ("idle_in_transaction_session_timeout", ms(15000))];
        assert_eq!(
            super::with_settings(None, &settings),
            "-c statement_timeout=5000 -c idle_in_transaction_session_timeout=15000"
        );
        assert_eq!(
            super::with_settings(Some(" -csearch_path=t_1,public "), &settings[..1]),
            "-csearch_path=t_1,public -c statement_timeout=5000"
        );
    }

    #[test]
    fn every_migration_file_is_embedded_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let embedded: Vec<&str> = super::MIGRATIONS.iter().map(|(n, _)| *n).collect();
        assert_eq!(files, embedded);
    }
}
