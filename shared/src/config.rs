//! Typed configuration, read once from the environment (and `.env` when present).
//!
//! The variable names are the original backend's (`PG_DSN`, `MINIO_*`) so existing
//! `.env` files keep working. Secrets never reach a log: [`Dsn`] displays without
//! its password and [`Secret`] displays as `***`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The DSN `alilo-local` uses when `PG_DSN` is unset: the machine's own server.
pub const DEFAULT_PG_DSN: &str = "postgres://postgres@127.0.0.1:5432/alilo";
/// Bucket used when `MINIO_BUCKET` is unset.
pub const DEFAULT_BUCKET: &str = "alilo";
/// Largest uploaded file. Lambda's 6 MB payload limit with base64 overhead allows
/// about 4.4 MB in AWS; locally the same limit keeps both deployments alike.
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 4 * 1024 * 1024;
/// Longest static body of a simple script (the original's `MAX_STATIC_AMMO_LENGTH`).
pub const DEFAULT_MAX_STATIC_AMMO: usize = 5000;

/// A value that must not be printed.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A Postgres connection string (URL or key=value form) that prints without its password.
#[derive(Clone)]
pub struct Dsn {
    raw: Secret,
    parsed: tokio_postgres::Config,
    /// `sslmode` / `sslrootcert` (libpq's names), which tokio-postgres does not read.
    tls: crate::db::tls::TlsSettings,
}

impl Dsn {
    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::parse_with(raw, None, None)
    }

    /// With `PGSSLMODE` / `PGSSLROOTCERT` for a DSN that names neither.
    pub fn parse_with(raw: &str, env_mode: Option<&str>, env_root: Option<&str>) -> Result<Self, String> {
        let (rest, tls) = crate::db::tls::TlsSettings::split(raw, env_mode, env_root)?;
        let mut parsed =
            tokio_postgres::Config::from_str(&rest).map_err(|e| format!("PG_DSN is not a valid Postgres DSN: {e}"))?;
        parsed.ssl_mode(if tls.mode.uses_tls() {
            tokio_postgres::config::SslMode::Require
        } else {
            tokio_postgres::config::SslMode::Disable
        });
        Ok(Self { raw: Secret::new(raw), parsed, tls })
    }

    pub fn tls(&self) -> &crate::db::tls::TlsSettings {
        &self.tls
    }

    pub fn config(&self) -> &tokio_postgres::Config {
        &self.parsed
    }

    pub fn raw(&self) -> &str {
        self.raw.expose()
    }

    /// The database name, `postgres`' default being the user name.
    pub fn dbname(&self) -> String {
        self.parsed
            .get_dbname()
            .map(str::to_string)
            .or_else(|| self.parsed.get_user().map(str::to_string))
            .unwrap_or_else(|| "postgres".into())
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.parsed;
        let host = c
            .get_hosts()
            .first()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".into());
        let port = c.get_ports().first().copied().unwrap_or(5432);
        let user = c.get_user().unwrap_or("");
        let password = if c.get_password().is_some() { ":***" } else { "" };
        write!(f, "postgres://{user}{password}@{host}:{port}/{}", self.dbname())?;
        match self.tls.mode {
            crate::db::tls::SslMode::Prefer => Ok(()),
            mode => write!(f, "?sslmode={}", mode.as_str()),
        }
    }
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dsn({self})")
    }
}

/// Where objects are stored.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// `MINIO_ENDPOINT` (host:port or URL); `None` = AWS S3 (in Lambda) or the
    /// embedded endpoint (in `alilo-local`).
    pub endpoint: Option<String>,
    pub access_key: Secret,
    pub secret_key: Secret,
    pub session_token: Option<Secret>,
    pub bucket: String,
    /// `MINIO_SECURE`: https to the endpoint.
    pub secure: bool,
    pub region: String,
}

impl S3Config {
    /// The endpoint as a URL (`MINIO_ENDPOINT` may be a bare `host:port`).
    pub fn endpoint_url(&self) -> Option<String> {
        self.endpoint.as_ref().map(|e| {
            if e.contains("://") { e.clone() } else { format!("{}://{e}", if self.secure { "https" } else { "http" }) }
        })
    }
}

/// Highest load percentage a run may be set to (the original clamped at 10 000 %).
pub const DEFAULT_MAX_RUN_PERCENTAGE: i32 = 10_000;
/// Highest total target rate of one run: above this a typo is likelier than intent.
pub const DEFAULT_MAX_RUN_RPS: u64 = 1_000_000;
/// The rate one agent is given of a script before the script is split across more
/// agents: a 2-core agent sustains about this much with room to spare.
pub const DEFAULT_AGENT_CAPACITY_RPS: u64 = 5_000;
/// Seconds between two heartbeats of a self-registered agent (the backend tells
/// the agent at registration). Three missed heartbeats make it unhealthy: 30 s
/// by default, the time a dead agent's new work keeps going elsewhere.
pub const DEFAULT_FLEET_HEARTBEAT_SECS: u64 = 10;

/// How long a request may take before it is answered 503 with `Retry-After`: below
/// API Gateway's 30 s and the functions' 29 s timeout, above every bound below.
pub const DEFAULT_REQUEST_DEADLINE_MS: u64 = 10_000;
/// Postgres cancels a statement running longer (`statement_timeout`): a list or
/// search on an index takes milliseconds, so this only stops runaway work.
pub const DEFAULT_STATEMENT_TIMEOUT_MS: u64 = 5_000;
/// How long a request waits for a pooled connection before it is answered 503
/// "busy": long enough to ride out a burst (a shorter wait turned a 256-connection
/// burst into false 503s), short enough to leave the statement's `statement_timeout`
/// inside the request deadline.
pub const DEFAULT_POOL_WAIT_MS: u64 = 5_000;
/// Postgres ends a session left idle inside a transaction this long
/// (`idle_in_transaction_session_timeout`): our transactions send their statements
/// back to back and never wait on the network in between, so a gap this long is a
/// frozen or cut-off process, whose locks (a run's row) must not outlive it.
pub const DEFAULT_IDLE_IN_TRANSACTION_MS: u64 = 15_000;

/// Limits that protect the service and its users.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_upload_bytes: usize,
    pub max_static_ammo: usize,
    /// `MAX_RUN_PERCENTAGE`: the highest load level of a run.
    pub max_run_percentage: i32,
    /// `MAX_RUN_RPS`: the highest total target rate of a run.
    pub max_run_rps: u64,
    /// `AGENT_CAPACITY_RPS`: the rate per agent before a script is split.
    pub agent_capacity_rps: u64,
    /// `REQUEST_DEADLINE_MS`: a request still unanswered then gets 503.
    pub request_deadline: Duration,
    /// `PG_STATEMENT_TIMEOUT_MS`: Postgres' `statement_timeout` on every connection.
    pub statement_timeout: Duration,
    /// `PG_POOL_WAIT_MS`: the longest wait for a pooled connection.
    pub pool_wait: Duration,
    /// `PG_IDLE_IN_TRANSACTION_TIMEOUT_MS`: Postgres'
    /// `idle_in_transaction_session_timeout` on every connection.
    pub idle_in_transaction: Duration,
    /// `ALILO_FLEET_HEARTBEAT_SECS`: how often self-registered agents heartbeat.
    pub fleet_heartbeat: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_static_ammo: DEFAULT_MAX_STATIC_AMMO,
            max_run_percentage: DEFAULT_MAX_RUN_PERCENTAGE,
            max_run_rps: DEFAULT_MAX_RUN_RPS,
            agent_capacity_rps: DEFAULT_AGENT_CAPACITY_RPS,
            request_deadline: Duration::from_millis(DEFAULT_REQUEST_DEADLINE_MS),
            statement_timeout: Duration::from_millis(DEFAULT_STATEMENT_TIMEOUT_MS),
            pool_wait: Duration::from_millis(DEFAULT_POOL_WAIT_MS),
            idle_in_transaction: Duration::from_millis(DEFAULT_IDLE_IN_TRANSACTION_MS),
            fleet_heartbeat: Duration::from_secs(DEFAULT_FLEET_HEARTBEAT_SECS),
        }
    }
}

/// Everything a function needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub dsn: Dsn,
    pub s3: S3Config,
    pub limits: Limits,
    /// `ALILO_AGENT_KEY` (formerly `ALILO_AGENT_TOKEN`): the fleet key from which
    /// each agent's own bearer credential is derived (`auth::secrets::agent_credential`).
    pub agent_key: Secret,
    /// Sessions, tokens, cross-site checks, the target allow-list.
    pub auth: crate::auth::AuthConfig,
    /// Where agents come from (#13).
    pub fleet: FleetConfig,
}

/// The fleet's variables under their other names (see [`FleetConfig::from_vars`]).
struct Aliases<'a, V: Vars>(&'a V);

impl<V: Vars> Vars for Aliases<'_, V> {
    fn var(&self, name: &str) -> Option<String> {
        let alias = match name {
            "ALILO_FLEET" => "ALILO_FLEET_PROVIDER",
            "ALILO_FLEET_MIN" => "ALILO_FLEET_MIN_TASKS",
            "ALILO_FLEET_MAX" => "ALILO_FLEET_MAX_TASKS",
            "ALILO_FLEET_AGENT_RPS" => "ALILO_FLEET_CAPACITY_RPS",
            "ALILO_FLEET_ECS_CLUSTER" => "ALILO_ECS_CLUSTER",
            "ALILO_FLEET_ECS_SERVICE" => "ALILO_ECS_SERVICE",
            _ => return self.0.var(name),
        };
        self.0.var(name).or_else(|| self.0.var(alias))
    }
}

/// Which fleet provider (`ALILO_FLEET`), and its bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    /// `static` (default), `local` (alilo-local spawns agents) or `ecs`.
    pub provider: FleetProvider,
    /// `ALILO_FLEET_MIN`: agents kept when the fleet is released.
    pub min: usize,
    /// `ALILO_FLEET_MAX`: agents at most.
    pub max: usize,
    /// `ALILO_FLEET_AGENT_RPS`: what one new agent is counted to offer before it
    /// announces its capacity (and what `local` agents announce).
    pub agent_rps: f64,
    /// `ALILO_FLEET_QUIET_SECS`: no active run for this long releases the fleet.
    pub quiet: Duration,
    /// `ALILO_FLEET_WAIT_SECS`: how long a run start waits for new agents to register.
    pub wait: Duration,
    /// `ALILO_FLEET_ECS_CLUSTER`, `ALILO_FLEET_ECS_SERVICE`: the service whose
    /// desired count is the fleet (`ecs`).
    pub ecs_cluster: String,
    pub ecs_service: String,
    /// `ALILO_FLEET_ECS_ENDPOINT`: another ECS endpoint (tests: moto's server).
    pub ecs_endpoint: Option<String>,
}

/// The fleet providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetProvider {
    Static,
    Local,
    Ecs,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            provider: FleetProvider::Static,
            min: 0,
            max: 10,
            agent_rps: 1000.0,
            quiet: Duration::from_secs(600),
            wait: Duration::from_secs(5),
            ecs_cluster: String::new(),
            ecs_service: String::new(),
            ecs_endpoint: None,
        }
    }
}

impl FleetConfig {
    /// Each setting also answers to the name `template.yaml` gives it
    /// (`ALILO_FLEET_PROVIDER`, `ALILO_FLEET_MIN_TASKS`, `ALILO_FLEET_MAX_TASKS`,
    /// `ALILO_FLEET_CAPACITY_RPS`, `ALILO_ECS_CLUSTER`, `ALILO_ECS_SERVICE`).
    pub fn from_vars(vars: &impl Vars) -> Result<Self, String> {
        let vars = &Aliases(vars);
        let d = Self::default();
        let provider = match vars.var("ALILO_FLEET").map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("static") => FleetProvider::Static,
            Some("local") => FleetProvider::Local,
            Some("ecs") => FleetProvider::Ecs,
            Some(other) => return Err(format!("ALILO_FLEET={other:?} is invalid: use static, local or ecs")),
        };
        let min: usize = parse_var(vars, "ALILO_FLEET_MIN", d.min)?;
        let max: usize = parse_var(vars, "ALILO_FLEET_MAX", d.max)?;
        if max == 0 || min > max {
            return Err(format!("ALILO_FLEET_MIN={min} and ALILO_FLEET_MAX={max}: need 0 <= min <= max and max >= 1"));
        }
        let agent_rps: f64 = parse_var(vars, "ALILO_FLEET_AGENT_RPS", d.agent_rps)?;
        if !(agent_rps.is_finite() && agent_rps > 0.0) {
            return Err(format!("ALILO_FLEET_AGENT_RPS={agent_rps} is invalid: a rate above 0"));
        }
        let quiet = Duration::from_secs(parse_var(vars, "ALILO_FLEET_QUIET_SECS", d.quiet.as_secs())?);
        let wait = Duration::from_secs(parse_var(vars, "ALILO_FLEET_WAIT_SECS", d.wait.as_secs())?);
        let ecs_cluster = vars.var("ALILO_FLEET_ECS_CLUSTER").unwrap_or_default();
        let ecs_service = vars.var("ALILO_FLEET_ECS_SERVICE").unwrap_or_default();
        if provider == FleetProvider::Ecs && (ecs_cluster.is_empty() || ecs_service.is_empty()) {
            return Err("ALILO_FLEET=ecs needs ALILO_FLEET_ECS_CLUSTER and ALILO_FLEET_ECS_SERVICE".into());
        }
        let ecs_endpoint = vars.var("ALILO_FLEET_ECS_ENDPOINT");
        Ok(Self { provider, min, max, agent_rps, quiet, wait, ecs_cluster, ecs_service, ecs_endpoint })
    }
}

/// A source of variables: the process environment in production, a map in tests.
pub trait Vars {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment; empty values count as unset.
pub struct ProcessEnv;

impl Vars for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl<const N: usize> Vars for [(&str, &str); N] {
    fn var(&self, name: &str) -> Option<String> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_string())
    }
}

fn parse_var<T: FromStr>(vars: &impl Vars, name: &str, default: T) -> Result<T, String>
where
    T::Err: fmt::Display,
{
    match vars.var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e| format!("{name}={v:?} is invalid: {e}")),
    }
}

/// A positive number of milliseconds.
fn millis(vars: &impl Vars, name: &str, default: u64) -> Result<Duration, String> {
    match parse_var(vars, name, default)? {
        0 => Err(format!("{name}=0 is invalid: it must be at least 1 (milliseconds)")),
        ms => Ok(Duration::from_millis(ms)),
    }
}

fn parse_bool(vars: &impl Vars, name: &str) -> Result<bool, String> {
    match vars.var(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
        Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
        Some(v) => Err(format!("{name}={v:?} is invalid: use true or false")),
    }
}

impl Config {
    /// Read `.env` (if present) and the environment.
    pub fn from_env() -> Result<Self, String> {
        let _ = dotenvy::dotenv();
        Self::from_vars(&ProcessEnv)
    }

    /// As [`Config::from_env`], with the secrets `*_SECRET_ARN` names read from
    /// AWS Secrets Manager first (`aws_secrets`): what a function does at cold start.
    pub async fn from_env_and_secrets() -> Result<Self, String> {
        let _ = dotenvy::dotenv();
        Self::from_vars(&crate::aws_secrets::resolve(&ProcessEnv).await?)
    }

    pub fn from_vars(vars: &impl Vars) -> Result<Self, String> {
        let dsn = Dsn::parse_with(
            &vars.var("PG_DSN").unwrap_or_else(|| DEFAULT_PG_DSN.into()),
            vars.var("PGSSLMODE").as_deref(),
            vars.var("PGSSLROOTCERT").as_deref(),
        )?;
        // Inside AWS, the function role's credentials arrive in the standard variables.
        let access_key = vars.var("MINIO_ACCESS_KEY_ID").or_else(|| vars.var("AWS_ACCESS_KEY_ID")).unwrap_or_default();
        let secret_key =
            vars.var("MINIO_SECRET_ACCESS_KEY").or_else(|| vars.var("AWS_SECRET_ACCESS_KEY")).unwrap_or_default();
        let session_token = vars.var("AWS_SESSION_TOKEN").map(Secret::new);
        let s3 = S3Config {
            endpoint: vars.var("MINIO_ENDPOINT").map(|e| e.trim().trim_end_matches('/').to_string()),
            access_key: Secret::new(access_key),
            secret_key: Secret::new(secret_key),
            session_token,
            bucket: vars.var("MINIO_BUCKET").unwrap_or_else(|| DEFAULT_BUCKET.into()),
            secure: parse_bool(vars, "MINIO_SECURE")?,
            region: vars.var("AWS_REGION").unwrap_or_else(|| "us-east-1".into()),
        };
        let limits = Limits {
            max_upload_bytes: parse_var(vars, "MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES)?,
            max_static_ammo: parse_var(vars, "MAX_STATIC_AMMO_LENGTH", DEFAULT_MAX_STATIC_AMMO)?,
            max_run_percentage: parse_var(vars, "MAX_RUN_PERCENTAGE", DEFAULT_MAX_RUN_PERCENTAGE)?,
            max_run_rps: parse_var(vars, "MAX_RUN_RPS", DEFAULT_MAX_RUN_RPS)?,
            agent_capacity_rps: parse_var(vars, "AGENT_CAPACITY_RPS", DEFAULT_AGENT_CAPACITY_RPS)?,
            request_deadline: millis(vars, "REQUEST_DEADLINE_MS", DEFAULT_REQUEST_DEADLINE_MS)?,
            statement_timeout: millis(vars, "PG_STATEMENT_TIMEOUT_MS", DEFAULT_STATEMENT_TIMEOUT_MS)?,
            pool_wait: millis(vars, "PG_POOL_WAIT_MS", DEFAULT_POOL_WAIT_MS)?,
            idle_in_transaction: millis(vars, "PG_IDLE_IN_TRANSACTION_TIMEOUT_MS", DEFAULT_IDLE_IN_TRANSACTION_MS)?,
            fleet_heartbeat: match parse_var(vars, "ALILO_FLEET_HEARTBEAT_SECS", DEFAULT_FLEET_HEARTBEAT_SECS)? {
                secs @ 1..=300 => Duration::from_secs(secs),
                secs => return Err(format!("ALILO_FLEET_HEARTBEAT_SECS={secs} is invalid: seconds between 1 and 300")),
            },
        };
        if limits.agent_capacity_rps == 0 {
            return Err("AGENT_CAPACITY_RPS=0 is invalid: it must be at least 1".into());
        }
        let agent_key =
            Secret::new(vars.var("ALILO_AGENT_KEY").or_else(|| vars.var("ALILO_AGENT_TOKEN")).unwrap_or_default());
        let auth = crate::auth::AuthConfig::from_vars(vars)?;
        let fleet = FleetConfig::from_vars(vars)?;
        Ok(Self { dsn, s3, limits, agent_key, auth, fleet })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dsn_displays_without_its_password() {
        let dsn = Dsn::parse("postgres://alice:s3cret@db.internal:6432/alilo").unwrap();
        let shown = dsn.to_string();
        assert_eq!(shown, "postgres://alice:***@db.internal:6432/alilo");
        assert!(!format!("{dsn:?}").contains("s3cret"));
        let kv = Dsn::parse("host=h user=u password=p dbname=d").unwrap();
        assert_eq!(kv.to_string(), "postgres://u:***@h:5432/d");
    }

    #[test]
    fn defaults_need_no_configuration() {
        let cfg = Config::from_vars(&[("X", "y")]).unwrap();
        assert_eq!(cfg.dsn.dbname(), "alilo");
        assert_eq!(cfg.s3.bucket, "alilo");
        assert!(cfg.s3.endpoint.is_none());
    }

    #[test]
    fn the_original_variable_names_are_read() {
        let cfg = Config::from_vars(&[
            ("MINIO_ENDPOINT", "minio:9000"),
            ("MINIO_SECURE", "true"),
            ("MINIO_BUCKET", "ammo"),
            ("MINIO_ACCESS_KEY_ID", "ak"),
            ("MINIO_SECRET_ACCESS_KEY", "sk"),
        ])
        .unwrap();
        assert_eq!(cfg.s3.endpoint_url().unwrap(), "https://minio:9000");
        assert_eq!(cfg.s3.bucket, "ammo");
        assert_eq!(format!("{:?}", cfg.s3.secret_key), "***");
    }

    #[test]
    fn the_fleet_provider_and_its_bounds_are_read_and_checked() {
        let f = FleetConfig::from_vars(&[("X", "y")]).unwrap();
        assert_eq!(f.provider, FleetProvider::Static);
        let f = FleetConfig::from_vars(&[("ALILO_FLEET", "local"), ("ALILO_FLEET_MAX", "3")]).unwrap();
        assert_eq!((f.provider, f.max), (FleetProvider::Local, 3));
        let err = FleetConfig::from_vars(&[("ALILO_FLEET", "k8s")]).unwrap_err();
        assert!(err.starts_with("ALILO_FLEET="), "{err}");
        let err = FleetConfig::from_vars(&[("ALILO_FLEET", "ecs")]).unwrap_err();
        assert!(err.contains("ALILO_FLEET_ECS_CLUSTER"), "{err}");
        assert!(FleetConfig::from_vars(&[("ALILO_FLEET_MIN", "3"), ("ALILO_FLEET_MAX", "2")]).is_err());
        // The names template.yaml gives them.
        let f = FleetConfig::from_vars(&[
            ("ALILO_FLEET_PROVIDER", "ecs"),
            ("ALILO_ECS_CLUSTER", "c"),
            ("ALILO_ECS_SERVICE", "s"),
            ("ALILO_FLEET_MAX_TASKS", "20"),
            ("ALILO_FLEET_CAPACITY_RPS", "2500"),
        ])
        .unwrap();
        assert_eq!((f.provider, f.ecs_cluster.as_str(), f.max, f.agent_rps), (FleetProvider::Ecs, "c", 20, 2500.0));
    }

    #[test]
    fn a_bad_value_names_the_variable() {
        let err = Config::from_vars(&[("MINIO_SECURE", "maybe")]).unwrap_err();
        assert!(err.starts_with("MINIO_SECURE="), "{err}");
        let err = Config::from_vars(&[("MAX_UPLOAD_BYTES", "lots")]).unwrap_err();
        assert!(err.starts_with("MAX_UPLOAD_BYTES="), "{err}");
        let err = Config::from_vars(&[("ALILO_AGENT_TLS_REQUIRED", "sure")]).unwrap_err();
        assert!(err.starts_with("ALILO_AGENT_TLS_REQUIRED="), "{err}");
    }

    #[test]
    fn agent_tls_is_required_only_when_asked() {
        assert!(!Config::from_vars(&[("X", "y")]).unwrap().auth.agent_tls_required);
        for yes in ["1", "true", "YES", " on "] {
            assert!(Config::from_vars(&[("ALILO_AGENT_TLS_REQUIRED", yes)]).unwrap().auth.agent_tls_required, "{yes}");
        }
        assert!(!Config::from_vars(&[("ALILO_AGENT_TLS_REQUIRED", "0")]).unwrap().auth.agent_tls_required);
    }
}
