//! The control API (see `docs/agent-api.md`) on axum, like the backend:
//! [`router`] is an ordinary value (routes, the bearer layer of [`auth`],
//! JSON fallbacks for 404 and 405 from [`error`]); [`Server`] binds it and
//! runs it until a shutdown signal, then stops the jobs and keeps answering
//! final reads for a grace period. Handlers ([`handlers`]) are a few lines
//! each; input is read by [`extract`]. With a certificate ([`tls`]) the same
//! router is served over HTTPS.

pub mod auth;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod metrics;
pub mod tls;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::Request;
use axum::http::Uri;
use axum::routing::{get, post, put};
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tower::Layer;

pub use auth::check_auth_config;
pub use handlers::CAPABILITIES;

use crate::engine::{DEFAULT_STOP_WAIT, Registry};
use crate::sys::Sampler;

/// Shared state of the handlers.
pub struct AppState {
    /// The jobs.
    pub registry: Arc<Registry>,
    token: Option<String>,
    sampler: Sampler,
    shutting_down: AtomicBool,
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to bind (port 0 allowed).
    pub addr: SocketAddr,
    /// Bearer token; `None` only with `insecure_no_auth` on loopback.
    pub token: Option<String>,
    /// Allow running without a token (loopback only).
    pub insecure_no_auth: bool,
    /// Worker threads per job (0: one per core).
    pub workers: usize,
    /// How long final reads are answered after a shutdown signal.
    pub shutdown_grace: Duration,
    /// A registered agent (`run_registered`): how long its jobs may take to
    /// end by themselves after a shutdown signal before they are stopped.
    pub drain_timeout: Duration,
    /// Serve HTTPS with this certificate (`--tls-cert`/`--tls-key`).
    pub tls: Option<tls::TlsIdentity>,
}

/// The control routes, behind the bearer layer (which also guards the
/// 404/405 fallbacks: nothing is answered without the token).
pub fn router(state: Arc<AppState>) -> Router {
    // The web UI's log link, opened in a browser: its key is its credential.
    let open = Router::new().route("/api/v1/getTaskLogs", get(handlers::task_logs)).with_state(state.clone());
    Router::new()
        .route("/v1/agent", get(handlers::agent))
        .route("/metrics", get(handlers::metrics))
        .route("/v1/jobs", get(handlers::list))
        .route("/v1/poll", post(handlers::poll))
        .route("/v1/jobs/{id}", put(handlers::start).get(handlers::read))
        .route("/v1/jobs/{id}/rate", post(handlers::rate))
        .route("/v1/jobs/{id}/stop", post(handlers::stop))
        .route("/v1/jobs/{id}/failures", get(handlers::failures))
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(error::no_route)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_bearer))
        .with_state(state)
        .merge(open)
}

/// `/v1/jobs/` routes like `/v1/jobs`, as the API always allowed.
fn trim_trailing_slash(mut req: Request) -> Request {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let pq = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = pq.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

impl AppState {
    /// What a heartbeat reports now.
    pub fn figures(&self) -> crate::fleet::Figures {
        let (cpu, memory, _) = self.sampler.snapshot();
        let jobs = self.registry.all();
        let used = memory.total_bytes.saturating_sub(memory.available_bytes);
        crate::fleet::Figures {
            cpu_percent: cpu.usage_percent,
            memory_percent: if memory.total_bytes == 0 { 0.0 } else { 100.0 * used as f64 / memory.total_bytes as f64 },
            in_flight: jobs.iter().map(|j| j.in_flight()).sum(),
            active_jobs: jobs.iter().filter(|j| !j.state().is_terminal()).count() as u64,
            draining: self.shutting_down.load(Ordering::SeqCst),
        }
    }
}

/// The server running: ends only when the listener fails.
type Serving = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

/// Serves the router on `listener`, over TLS when `tls` is given.
fn serve(listener: TcpListener, tls: Option<Arc<rustls::ServerConfig>>, state: Arc<AppState>) -> Serving {
    let app = tower::util::MapRequestLayer::new(trim_trailing_slash).layer(router(state));
    let app = axum::ServiceExt::<Request>::into_make_service(app);
    match tls {
        Some(config) => match tls::TlsListener::new(listener, config) {
            Ok(listener) => Box::pin(axum::serve(listener, app).into_future()),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        },
        None => {
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            Box::pin(axum::serve(listener, app).into_future())
        }
    }
}

/// A bound control server.
pub struct Server {
    listener: TcpListener,
    tls: Option<tls::TlsIdentity>,
    state: Arc<AppState>,
    grace: Duration,
    drain: Duration,
}

impl Server {
    /// Checks the auth settings and binds.
    pub async fn bind(cfg: ServeConfig) -> anyhow::Result<Server> {
        check_auth_config(cfg.addr.ip(), cfg.token.as_deref(), cfg.insecure_no_auth)?;
        let listener = TcpListener::bind(cfg.addr).await.with_context(|| format!("binding {}", cfg.addr))?;
        Self::with_listener(listener, cfg)
    }

    /// Serve on a listener bound already (its address decides the auth rule, not
    /// `cfg.addr`): a backend that derives the agent's credential from its port
    /// binds first.
    pub fn with_listener(listener: TcpListener, cfg: ServeConfig) -> anyhow::Result<Server> {
        check_auth_config(listener.local_addr()?.ip(), cfg.token.as_deref(), cfg.insecure_no_auth)?;
        Ok(Server {
            listener,
            tls: cfg.tls,
            state: Arc::new(AppState {
                registry: Arc::new(Registry::new(cfg.workers)),
                token: cfg.token.filter(|t| !t.is_empty()),
                sampler: Sampler::start(),
                shutting_down: AtomicBool::new(false),
            }),
            grace: cfg.shutdown_grace,
            drain: cfg.drain_timeout,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener")
    }

    /// The certificate's pin when serving TLS.
    pub fn tls_pins(&self) -> Option<&alilo_agent_api::CertPins> {
        self.tls.as_ref().map(|t| &t.pins)
    }

    /// `https://addr` or `http://addr`: where the control API answers.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls.is_some() { "https" } else { "http" }, self.local_addr())
    }

    /// The handlers' state.
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves as a registered member of the fleet ([`crate::fleet`]): heartbeats
    /// until `shutdown` resolves; then refuses new jobs, says it drains, lets its
    /// jobs end for the drain timeout, stops the rest (the controller moves their
    /// share), answers final reads until each ended job was read or the grace
    /// period passed, deregisters, and returns.
    pub async fn run_registered(self, shutdown: impl Future<Output = ()>, member: crate::fleet::Member) {
        let mut serve = serve(self.listener, self.tls.map(|t| t.config), self.state.clone());
        {
            // Heartbeats beside the server (on this task: no spawn), until the signal.
            let state = self.state.clone();
            let (_stop, never) = tokio::sync::watch::channel(false);
            let beats = member.clone().heartbeat_loop(move || state.figures(), never);
            tokio::select! {
                _ = &mut serve => {}
                _ = shutdown => {}
                _ = beats => {}
            }
        }
        self.state.shutting_down.store(true, Ordering::SeqCst);
        let (state, drain, grace) = (self.state.clone(), self.drain, self.grace);
        let leave = async move {
            let mut member = member;
            if let Err(e) = member.beat(state.figures()).await {
                tracing::warn!(error = %e, "could not tell the backend this agent drains");
            }
            let registry = state.registry.clone();
            // The jobs working at the signal: each must be read once it has ended.
            let working: Vec<_> = registry.all().into_iter().filter(|j| !j.state().is_terminal()).collect();
            let active = || working.iter().filter(|j| !j.state().is_terminal()).count();
            tracing::info!(active = active(), drain_ms = drain.as_millis() as u64, "draining: no new jobs");
            let until = tokio::time::Instant::now() + drain;
            while active() > 0 && tokio::time::Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let moving = active();
            if moving > 0 {
                tracing::info!(jobs = moving, "stopping the jobs left: the controller moves their share");
            }
            registry.stop_all("agent shutting down", DEFAULT_STOP_WAIT.min(grace)).await;
            // The controller reads each job's last seconds (and learns why it ended).
            let until = tokio::time::Instant::now() + grace;
            while tokio::time::Instant::now() < until && working.iter().any(|j| !j.final_read()) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            match member.deregister().await {
                Ok(()) => tracing::info!("deregistered from the fleet"),
                Err(e) => tracing::warn!(error = %e, "could not deregister (the backend marks it unhealthy)"),
            }
        };
        tokio::select! {
            _ = &mut serve => {}
            _ = leave => {}
        }
    }

    /// Serves until `shutdown` resolves; then stops every job, answers final
    /// reads during the grace period, and returns.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) {
        let mut serve = serve(self.listener, self.tls.map(|t| t.config), self.state.clone());
        tokio::select! {
            _ = &mut serve => {}
            _ = shutdown => {}
        }
        tracing::info!("shutting down: stopping jobs");
        self.state.shutting_down.store(true, Ordering::SeqCst);
        let registry = self.state.registry.clone();
        let grace = self.grace;
        tokio::select! {
            _ = &mut serve => {}
            _ = async {
                registry.stop_all("agent shutting down", DEFAULT_STOP_WAIT.min(grace)).await;
                tokio::time::sleep(grace).await;
            } => {}
        }
    }
}
