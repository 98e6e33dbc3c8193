//! The control API (see `docs/agent-api.md`): a small hyper server whose
//! handlers parse, call the [`Registry`], and answer JSON. Every route needs
//! `Authorization: Bearer <ALILO_AGENT_TOKEN>`; errors are
//! `{"error": "..."}` naming the field.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use alilo_agent_api::{AgentInfo, ErrorBody, JobList, RateChange, StopRequest, parse_duration};
use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;

use crate::engine::{DEFAULT_STOP_WAIT, MAX_STOP_WAIT, Registry, StartError};
use crate::sys::Sampler;

/// Largest request body accepted (1 MiB).
const MAX_BODY: usize = 1 << 20;

/// Capabilities announced by `GET /v1/agent`.
pub const CAPABILITIES: &[&str] =
    &["http1", "http2", "tls", "data-files", "ramp-linear", "live-rate", "closed-loop", "hdr-v2-base64"];

/// A JSON error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }
    fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, m)
    }
    fn not_found(id: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, format!("no job with id {id:?}"))
    }
}

fn json<T: Serialize>(status: StatusCode, v: &T) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(v).expect("wire types serialize");
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts")
}

fn error(e: ApiError) -> Response<Full<Bytes>> {
    let mut r = json(e.status, &ErrorBody { error: e.message });
    if e.status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    }
    r
}

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
}

/// A bound control server.
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
    grace: Duration,
}

/// Refuses to run without a token unless on loopback with the explicit flag.
pub fn check_auth_config(ip: IpAddr, token: Option<&str>, insecure_no_auth: bool) -> anyhow::Result<()> {
    match token {
        Some(t) if !t.is_empty() => Ok(()),
        _ if insecure_no_auth && ip.is_loopback() => Ok(()),
        _ if insecure_no_auth => {
            bail!("--insecure-no-auth is only allowed when bound to loopback, not {ip}; set ALILO_AGENT_TOKEN")
        }
        _ => bail!(
            "refusing to start without a token: set ALILO_AGENT_TOKEN (or bind to 127.0.0.1 with --insecure-no-auth)"
        ),
    }
}

impl Server {
    /// Checks the auth settings and binds.
    pub async fn bind(cfg: ServeConfig) -> anyhow::Result<Server> {
        check_auth_config(cfg.addr.ip(), cfg.token.as_deref(), cfg.insecure_no_auth)?;
        let listener = TcpListener::bind(cfg.addr).await.with_context(|| format!("binding {}", cfg.addr))?;
        Ok(Server {
            listener,
            state: Arc::new(AppState {
                registry: Arc::new(Registry::new(cfg.workers)),
                token: cfg.token.filter(|t| !t.is_empty()),
                sampler: Sampler::start(),
                shutting_down: AtomicBool::new(false),
            }),
            grace: cfg.shutdown_grace,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener")
    }

    /// The handlers' state.
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves; then stops every job, answers final
    /// reads during the grace period, and returns.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) {
        let state = self.state.clone();
        let listener = self.listener;
        let accept = async {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(&state, req).await) }
                    });
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        };
        tokio::pin!(accept);
        tokio::select! {
            _ = &mut accept => {}
            _ = shutdown => {}
        }
        tracing::info!("shutting down: stopping jobs");
        self.state.shutting_down.store(true, Ordering::SeqCst);
        let registry = self.state.registry.clone();
        let grace = self.grace;
        tokio::select! {
            _ = &mut accept => {}
            _ = async {
                registry.stop_all("agent shutting down", DEFAULT_STOP_WAIT.min(grace)).await;
                tokio::time::sleep(grace).await;
            } => {}
        }
    }
}

fn authorized(state: &AppState, req: &Request<Incoming>) -> bool {
    let Some(token) = &state.token else {
        return true;
    };
    let Some(v) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(given) = v.strip_prefix("Bearer ") else {
        return false;
    };
    // Constant-time comparison.
    let (a, b) = (given.trim().as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Routes one request.
pub async fn handle(state: &AppState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if !authorized(state, &req) {
        return error(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token in the Authorization header",
        ));
    }
    match route(state, req).await {
        Ok(r) => r,
        Err(e) => error(e),
    }
}

fn query_u64(req: &Request<Incoming>, name: &str) -> Result<Option<u64>, ApiError> {
    let Some(q) = req.uri().query() else {
        return Ok(None);
    };
    for pair in q.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == name {
            return v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("{name}: {v:?} must be a non-negative integer (a cursor)"))
            });
        }
    }
    Ok(None)
}

async fn body<T: DeserializeOwned>(req: Request<Incoming>, optional: bool) -> Result<Option<T>, ApiError> {
    let bytes = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("body: cannot read it ({e}); limit 1 MiB")))?
        .to_bytes();
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return if optional { Ok(None) } else { Err(ApiError::bad_request("body: a JSON object is required")) };
    }
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(de).map(Some).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::bad_request(format!("body: {inner}"))
        } else {
            ApiError::bad_request(format!("{path}: {inner}"))
        }
    })
}

async fn route(state: &AppState, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, ApiError> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    let method = req.method().clone();
    let reg = &state.registry;
    match (method.clone(), parts.as_slice()) {
        (Method::GET, ["v1", "agent"]) => Ok(json(StatusCode::OK, &agent_info(state))),
        (Method::GET, ["v1", "jobs"]) => {
            Ok(json(StatusCode::OK, &JobList { jobs: reg.all().iter().map(|j| j.brief()).collect() }))
        }
        (Method::PUT, ["v1", "jobs", id]) => {
            let id = id.to_string();
            if state.shutting_down.load(Ordering::SeqCst) {
                return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "agent is shutting down"));
            }
            let spec = body(req, false).await?.expect("required body");
            match reg.start(&id, spec) {
                Ok((job, created)) => {
                    Ok(json(if created { StatusCode::CREATED } else { StatusCode::OK }, &job.status(0)))
                }
                Err(StartError::Invalid(m)) => Err(ApiError::bad_request(m)),
                Err(StartError::Conflict(m)) => Err(ApiError::new(StatusCode::CONFLICT, m)),
            }
        }
        (Method::GET, ["v1", "jobs", id]) => {
            let since = query_u64(&req, "since")?.unwrap_or(0);
            let job = reg.get(id).ok_or_else(|| ApiError::not_found(id))?;
            job.touch();
            Ok(json(StatusCode::OK, &job.status(since)))
        }
        (Method::POST, ["v1", "jobs", id, "rate"]) => {
            let job = reg.get(id).ok_or_else(|| ApiError::not_found(id))?;
            let change: RateChange = body(req, false).await?.expect("required body");
            if job.state().is_terminal() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!("job {:?} is {:?}", job.id, job.state()).to_lowercase(),
                ));
            }
            job.change_rate(&change).map_err(ApiError::bad_request)?;
            job.touch();
            Ok(json(StatusCode::OK, &job.status(u64::MAX)))
        }
        (Method::POST, ["v1", "jobs", id, "stop"]) => {
            let since = query_u64(&req, "since")?.unwrap_or(0);
            let job = reg.get(id).ok_or_else(|| ApiError::not_found(id))?;
            let stop: StopRequest = body(req, true).await?.unwrap_or_default();
            let wait = match &stop.wait {
                Some(w) => {
                    parse_duration(w).map_err(|e| ApiError::bad_request(format!("wait: {e}")))?.min(MAX_STOP_WAIT)
                }
                None => DEFAULT_STOP_WAIT,
            };
            job.touch();
            job.request_stop("stopped by request", wait);
            let mut rx = job.finished();
            let _ = tokio::time::timeout(wait + Duration::from_secs(2), rx.wait_for(|d| *d)).await;
            Ok(json(StatusCode::OK, &job.status(since)))
        }
        (_, ["v1", "agent"])
        | (_, ["v1", "jobs"])
        | (_, ["v1", "jobs", _])
        | (_, ["v1", "jobs", _, "rate" | "stop"]) => {
            Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("method {method} is not allowed on {path}")))
        }
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, format!("no route {method} {path}"))),
    }
}

fn agent_info(state: &AppState) -> AgentInfo {
    let (cpu, memory, network) = state.sampler.snapshot();
    let jobs = state.registry.all();
    AgentInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        capabilities: CAPABILITIES.iter().map(|s| s.to_string()).collect(),
        cpu,
        memory,
        network,
        open_connections: crate::client::OPEN_CONNECTIONS.load(Ordering::Relaxed),
        active_jobs: jobs.iter().filter(|j| !j.state().is_terminal()).count() as u64,
        jobs: jobs.len() as u64,
        in_flight: jobs.iter().map(|j| j.in_flight()).sum(),
    }
}
