//! `alilo-local`: the whole deployment in one process. It serves every function's
//! routes exactly as the gateway would, Swagger UI and the OpenAPI document, applies
//! the migrations, and runs an embedded S3-compatible endpoint when none is
//! configured. Nothing here re-implements a route: it only composes.

pub mod demo;
pub mod embedded_s3;
pub mod fleet_local;
pub mod import_original;
pub mod live;
pub mod local_agent;
pub mod swagger;

use alilo_shared::config::{Config, FleetProvider, Limits, ProcessEnv, Vars};
use alilo_shared::{AppState, db};
use clap::Parser;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::net::TcpListener;
use utoipa_axum::router::OpenApiRouter;

/// Flags override the environment, which overrides `.env`.
#[derive(Debug, Clone, Parser)]
#[command(name = "alilo-local", version, about = "Alilo's whole backend in one process, for a laptop or a test")]
pub struct Settings {
    /// Port to listen on (the original's SERVICE_PORT_DEBUG).
    #[arg(long, env = "SERVICE_PORT_DEBUG", default_value_t = 8084)]
    pub port: u16,
    /// Address to bind; 0.0.0.0 exposes the API to other hosts.
    #[arg(long, env = "ALILO_BIND", default_value = "127.0.0.1")]
    pub bind: String,
    /// Postgres DSN; the database is created when missing.
    #[arg(long = "pg-dsn")]
    pub pg_dsn: Option<String>,
    /// S3-compatible endpoint (host:port or URL); unset = the embedded endpoint.
    #[arg(long = "minio-endpoint")]
    pub minio_endpoint: Option<String>,
    /// Bucket for data files.
    #[arg(long = "minio-bucket")]
    pub minio_bucket: Option<String>,
    /// Access key for the S3 endpoint.
    #[arg(long = "minio-access-key-id")]
    pub minio_access_key_id: Option<String>,
    /// Secret key for the S3 endpoint.
    #[arg(long = "minio-secret-access-key")]
    pub minio_secret_access_key: Option<String>,
    /// Folder of the embedded S3 endpoint's data.
    #[arg(long = "data-dir", env = "ALILO_DATA_DIR", default_value = ".alilo/s3")]
    pub data_dir: PathBuf,
    /// Do not start the local agent (use only registered remote agents).
    #[arg(long = "no-agent", env = "ALILO_NO_AGENT")]
    pub no_agent: bool,
    /// Also create a demo project whose scenario loads a small target served here, and start it.
    #[arg(long)]
    pub demo: bool,
    /// Hosts scripts may target: names, `*.suffix`, IPs, CIDRs, comma-separated
    /// (unset: any target; data files only from the bucket). See docs/security.md.
    #[arg(long = "allowed-targets", env = "ALILO_ALLOWED_TARGETS")]
    pub allowed_targets: Option<String>,
    /// No sign-in: every caller is an admin. For development on loopback only;
    /// refused when `--bind` is not a loopback address.
    #[arg(long = "no-auth", env = "ALILO_NO_AUTH")]
    pub no_auth: bool,
    /// Milliseconds between two run-controller passes.
    #[arg(long = "controller-interval-ms", env = "ALILO_CONTROLLER_INTERVAL_MS", default_value_t = 1000)]
    pub controller_interval_ms: u64,
    /// Milliseconds a request may take before it is answered 503 (`REQUEST_DEADLINE_MS`).
    #[arg(long = "request-deadline-ms")]
    pub request_deadline_ms: Option<u64>,
    /// Seconds of database outage the run-controller rides out (polling its jobs
    /// from memory) before it stops the runs on purpose.
    #[arg(long = "max-db-outage-secs", env = "ALILO_MAX_DB_OUTAGE_SECS", default_value_t = 900)]
    pub max_db_outage_secs: u64,
    /// Megabytes of metrics the run-controller buffers in memory during a
    /// database outage (a job-second takes ~3.3 KB); a full buffer stops the
    /// runs on purpose.
    #[arg(long = "outage-buffer-mb", env = "ALILO_OUTAGE_BUFFER_MB", default_value_t = 1024)]
    pub outage_buffer_mb: u64,
    /// A bound of that buffer in job-seconds besides (none by default).
    #[arg(long = "outage-buffer-seconds", env = "ALILO_OUTAGE_BUFFER_SECONDS")]
    pub outage_buffer_seconds: Option<usize>,
    /// The token self-registering agents present (`alilo-agent serve --register`);
    /// unset: self-registration is off. See docs/fleet.md.
    #[arg(long = "fleet-token", env = "ALILO_FLEET_TOKEN", hide_env_values = true)]
    pub fleet_token: Option<String>,
    /// Seconds between two heartbeats of a self-registered agent (three missed: unhealthy).
    #[arg(long = "fleet-heartbeat-secs")]
    pub fleet_heartbeat_secs: Option<u64>,
    /// Where agents come from: `static` (registered ones only), `local` (spawn
    /// agent processes before a run) or `ecs` (`ALILO_FLEET`; docs/fleet.md).
    #[arg(long = "fleet")]
    pub fleet: Option<String>,
    /// Most agents the fleet grows to (`ALILO_FLEET_MAX`).
    #[arg(long = "fleet-max")]
    pub fleet_max: Option<usize>,
    /// The rate one agent of the fleet offers (`ALILO_FLEET_AGENT_RPS`).
    #[arg(long = "fleet-agent-rps")]
    pub fleet_agent_rps: Option<f64>,
    /// Seconds without an active run before the fleet shrinks to its minimum
    /// (`ALILO_FLEET_QUIET_SECS`).
    #[arg(long = "fleet-quiet-secs")]
    pub fleet_quiet_secs: Option<u64>,
    /// The binary the `local` fleet starts agents with (`<exe> agent serve …`);
    /// default: this `alilo-local`.
    #[arg(long = "fleet-agent-exe")]
    pub fleet_agent_exe: Option<PathBuf>,
    /// Call agents over TLS with a pinned certificate only
    /// (`ALILO_AGENT_TLS_REQUIRED`): agents without a pin are refused and get no
    /// work; the local agent and the local fleet's serve derived certificates.
    #[arg(long = "agent-tls-required")]
    pub agent_tls_required: bool,
}

impl Settings {
    /// The typed configuration: flags first, then the environment.
    pub fn config(&self) -> Result<Config, String> {
        let mut flags = HashMap::new();
        if let Some(v) = &self.pg_dsn {
            flags.insert("PG_DSN", v.clone());
        }
        if let Some(v) = &self.minio_endpoint {
            flags.insert("MINIO_ENDPOINT", v.clone());
        }
        if let Some(v) = &self.minio_bucket {
            flags.insert("MINIO_BUCKET", v.clone());
        }
        if let Some(v) = &self.minio_access_key_id {
            flags.insert("MINIO_ACCESS_KEY_ID", v.clone());
        }
        if let Some(v) = &self.minio_secret_access_key {
            flags.insert("MINIO_SECRET_ACCESS_KEY", v.clone());
        }
        if let Some(v) = self.request_deadline_ms {
            flags.insert("REQUEST_DEADLINE_MS", v.to_string());
        }
        if let Some(v) = &self.allowed_targets {
            flags.insert("ALILO_ALLOWED_TARGETS", v.clone());
        }
        if let Some(v) = &self.fleet_token {
            flags.insert("ALILO_FLEET_TOKEN", v.clone());
        }
        if let Some(v) = self.fleet_heartbeat_secs {
            flags.insert("ALILO_FLEET_HEARTBEAT_SECS", v.to_string());
        }
        if let Some(v) = &self.fleet {
            flags.insert("ALILO_FLEET", v.clone());
        }
        if let Some(v) = self.fleet_max {
            flags.insert("ALILO_FLEET_MAX", v.to_string());
        }
        if let Some(v) = self.fleet_agent_rps {
            flags.insert("ALILO_FLEET_AGENT_RPS", v.to_string());
        }
        if let Some(v) = self.fleet_quiet_secs {
            flags.insert("ALILO_FLEET_QUIET_SECS", v.to_string());
        }
        if self.agent_tls_required {
            flags.insert("ALILO_AGENT_TLS_REQUIRED", "true".into());
        }
        Config::from_vars(&Overlay(flags))
    }
}

struct Overlay(HashMap<&'static str, String>);

impl Vars for Overlay {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned().or_else(|| ProcessEnv.var(name))
    }
}

/// Every function's routes, merged.
pub fn routes(limits: Limits) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(alilo_fn_projects::routes())
        .merge(alilo_fn_scenarios::routes())
        .merge(alilo_fn_scripts::routes())
        .merge(alilo_fn_agents::routes())
        .merge(alilo_fn_files::routes_with_limit(limits.max_upload_bytes))
        .merge(alilo_fn_parsing::routes())
        .merge(alilo_fn_search::routes())
        .merge(alilo_fn_runs::routes())
        .merge(alilo_fn_auth::routes())
        .merge(alilo_fn_verdicts::routes())
}

/// The OpenAPI document of everything `alilo-local` serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    swagger::describe(routes(Limits::default()).split_for_parts().1)
}

/// The served application for a ready state: API, Swagger, contract fallbacks.
pub fn app(state: AppState, limits: Limits) -> axum::Router {
    let (api, doc) = routes(limits).split_for_parts();
    let api = OpenApiRouter::from(api);
    let live = live::routes(std::env::var("ALILO_METRICS_TOKEN").ok(), state.clone());
    alilo_shared::router::app(api, state).merge(swagger::routes(swagger::describe(doc))).merge(live)
}

/// Why the application could not start, in one line for the user.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// A built, bound application (zero2prod's `Application`).
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    _embedded_s3: Option<embedded_s3::EmbeddedS3>,
    agent: Option<local_agent::LocalAgent>,
    demo: Option<demo::Demo>,
    controller_interval: std::time::Duration,
    controller: alilo_shared::control::ControllerOptions,
}

impl Application {
    /// Connect, migrate, start the embedded endpoint if needed, and bind.
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        let loopback = is_loopback(&settings.bind);
        if settings.no_auth && !loopback {
            return Err(StartError(format!(
                "--no-auth is for development on loopback only; refusing it with --bind {} (remove --no-auth and sign in)",
                settings.bind
            )));
        }
        let mut config = settings.config().map_err(StartError)?;
        if !loopback && !config.auth.targets.is_set() {
            tracing::warn!(
                "ALILO_ALLOWED_TARGETS is unset and the API is exposed on {}: scripts may target any host",
                settings.bind
            );
        }
        db::ensure_database(&config.dsn).await.map_err(StartError)?;
        let database = db::Db::connect_with(&config.dsn, &config.limits).map_err(|e| StartError(format!("{e:#}")))?;
        db::migrate(&database)
            .await
            .map_err(|e| StartError(format!("cannot migrate the database at {}: {e:#}", config.dsn)))?;
        if !settings.no_auth
            && let Some(password) = alilo_shared::service::auth::bootstrap_admin(&database)
                .await
                .map_err(|e| StartError(format!("cannot create the first admin: {e}")))?
        {
            // To the terminal only, once: never through the log.
            eprintln!(
                "\n  First start: created the user `admin` with the one-time password\n\n      {password}\n\n  \
                 Sign in at /login (or POST /v1/auth/login). It is not shown again.\n"
            );
        }
        let embedded = if config.s3.endpoint.is_none() {
            let s3 = embedded_s3::start(&settings.data_dir, 0)
                .await
                .map_err(|e| StartError(format!("cannot start the embedded S3 endpoint: {e:#}")))?;
            tracing::info!(endpoint = %s3.endpoint, folder = %settings.data_dir.display(), "embedded S3 endpoint started");
            config.s3.endpoint = Some(s3.endpoint.clone());
            config.s3.access_key = alilo_shared::config::Secret::new(s3.access_key.clone());
            config.s3.secret_key = alilo_shared::config::Secret::new(s3.secret_key.clone());
            Some(s3)
        } else {
            None
        };
        let storage = alilo_shared::storage::Storage::connect(&config.s3).await.map_err(|e| {
            StartError(format!(
                "cannot use object storage at {}: {e:#}",
                config.s3.endpoint.as_deref().unwrap_or("AWS")
            ))
        })?;
        if config.agent_key.expose().is_empty() {
            // No configured fleet key: a random one, known only to this process (the
            // local agent's credential is derived from it; remote agents need a fixed key).
            config.agent_key = alilo_shared::config::Secret::new(uuid::Uuid::new_v4().simple().to_string());
        }
        config.auth.enabled = !settings.no_auth;
        if config.fleet.provider == FleetProvider::Local && config.auth.fleet_token.is_none() {
            // The local fleet's agents are ours: a fleet token only this process knows.
            config.auth.fleet_token =
                Some(alilo_shared::config::Secret::new(uuid::Uuid::new_v4().simple().to_string()));
        }
        let agents = alilo_shared::agent_client::AgentClient::new(config.agent_key.clone())
            .requiring_tls(config.auth.agent_tls_required);
        let state = AppState {
            db: database,
            storage,
            limits: config.limits,
            agents,
            auth: std::sync::Arc::new(config.auth.clone()),
            nudge: Default::default(),
            fleet: std::sync::Arc::new(alilo_shared::control::fleet::StaticFleet),
        };
        let agent = if settings.no_agent {
            None
        } else {
            Some(
                local_agent::start(&state)
                    .await
                    .map_err(|e| StartError(format!("cannot start the local agent: {e:#}")))?,
            )
        };
        let demo = if settings.demo {
            Some(demo::Demo::bind().await.map_err(|e| StartError(format!("cannot start the demo target: {e:#}")))?)
        } else {
            None
        };
        let addr = format!("{}:{}", settings.bind, settings.port);
        let listener =
            TcpListener::bind(&addr).await.map_err(|e| StartError(format!("cannot listen on {addr}: {e}")))?;
        let mut state = state;
        state.fleet = fleet_provider(&config, &state, settings, &listener)?;
        let router = app(state.clone(), config.limits);
        Ok(Self {
            listener,
            router,
            state,
            _embedded_s3: embedded,
            agent,
            demo,
            controller_interval: std::time::Duration::from_millis(settings.controller_interval_ms.max(50)),
            controller: alilo_shared::control::ControllerOptions {
                outage: alilo_shared::control::outage::OutageLimits {
                    max_outage: std::time::Duration::from_secs(settings.max_db_outage_secs),
                    max_buffered_bytes: alilo_shared::control::outage::megabytes(settings.outage_buffer_mb),
                    max_buffered_seconds: settings.outage_buffer_seconds,
                },
                fleet_quiet: config.fleet.quiet,
                ..Default::default()
            },
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The local agent's control URL, when one runs.
    pub fn agent_url(&self) -> Option<String> {
        self.agent.as_ref().map(|a| a.url.clone())
    }

    /// Serve until Ctrl-C or SIGTERM, with the controller timer, the local agent
    /// and the demo beside the API; reports which stopped first.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self { listener, router, state, _embedded_s3, agent, demo, controller_interval, controller } = self;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let controller = tokio::spawn(controller_loop(state.clone(), controller_interval, controller, stop_rx.clone()));
        let agent_task = agent.map(|a| tokio::spawn(a.run(stop_rx.clone())));
        #[cfg(unix)]
        if alilo_shared::auth::timing::enabled() {
            tokio::spawn(print_guard_times());
        }
        if let Some(demo) = demo {
            let state = state.clone();
            let port = listener.local_addr()?.port();
            tokio::spawn(async move {
                match demo.start(&state, port).await {
                    Ok(run_id) => tracing::info!(
                        run_id,
                        "demo run started: POST localhost:{port}/v1/run {{\"run_id\":{run_id}}} (signed in)"
                    ),
                    Err(e) => tracing::error!(error = %e, "the demo could not start"),
                }
            });
        }
        // The peer address feeds the audit log, the per-address login limit, and
        // `/metrics` (loopback scrapers need no token).
        let served = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown_signal())
            .await;
        let _ = stop_tx.send(true);
        let _ = controller.await;
        if let Some(task) = agent_task {
            let _ = task.await;
        }
        served
    }
}

/// The configured fleet provider (#13). `local` agents register at this API
/// (on loopback when it listens on every address).
fn fleet_provider(
    config: &Config,
    state: &AppState,
    settings: &Settings,
    listener: &TcpListener,
) -> Result<std::sync::Arc<dyn alilo_shared::control::fleet::Fleet>, StartError> {
    Ok(match config.fleet.provider {
        FleetProvider::Static => std::sync::Arc::new(alilo_shared::control::fleet::StaticFleet),
        FleetProvider::Local => {
            let exe = match &settings.fleet_agent_exe {
                Some(exe) => exe.clone(),
                None => std::env::current_exe().map_err(|e| StartError(format!("the local fleet: {e}")))?,
            };
            let port = listener.local_addr().map_err(|e| StartError(e.to_string()))?.port();
            let host = if is_loopback(&settings.bind) || settings.bind == "0.0.0.0" {
                "127.0.0.1".to_string()
            } else {
                settings.bind.clone()
            };
            let token = config.auth.fleet_token.as_ref().map(|t| t.expose().to_string()).unwrap_or_default();
            std::sync::Arc::new(
                fleet_local::LocalFleet::new(
                    exe,
                    format!("http://{host}:{port}"),
                    token,
                    state.db.clone(),
                    alilo_shared::control::agents::expiry(config.limits.fleet_heartbeat),
                    &config.fleet,
                )
                .with_tls_derived(config.auth.agent_tls_required),
            )
        }
        FleetProvider::Ecs => alilo_shared::control::fleet_ecs::from_config(config, state)
            .map_err(|e| StartError(format!("the ECS fleet: {e}")))?,
    })
}

/// Whether `bind` is a loopback address (`127.0.0.1`, `::1`, `localhost`).
pub fn is_loopback(bind: &str) -> bool {
    let host = bind.trim().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The run-controller of `alilo-local`: one pass every `interval`, and one at
/// once after each change of desired state (a nudge), until stopped. One
/// [`Controller`](alilo_shared::control::Controller) for the process, so its
/// memory carries a database outage.
async fn controller_loop(
    state: AppState,
    interval: std::time::Duration,
    options: alilo_shared::control::ControllerOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut controller = alilo_shared::control::Controller::new(options);
    let mut timer = tokio::time::interval(interval);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = timer.tick() => {}
            () = state.nudge.nudged() => {}
            _ = stop.changed() => break,
        }
        if let Err(e) = controller.pass(&state).await {
            tracing::warn!(error = %e, "controller pass failed");
        }
    }
    tracing::info!("run-controller stopped");
}

/// Bench-only (`ALILO_BENCH_GUARD_TIMES=1`): on each `SIGUSR1`, one line on
/// stdout with the guard's time per request since the last (`auth::timing`).
#[cfg(unix)]
async fn print_guard_times() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut usr1) = signal(SignalKind::user_defined1()) else { return };
    while usr1.recv().await.is_some() {
        println!("{}", alilo_shared::auth::timing::take_summary());
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
