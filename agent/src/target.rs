//! A small HTTP target server for tests and benchmarks: configurable delay,
//! status and periodic stalls, HTTP/1.1 and HTTP/2 (prior knowledge or ALPN
//! over TLS), and it reports what it received so tests assert on what really
//! reached the wire (`alilo-agent target` runs it from the command line).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// How the target behaves.
#[derive(Clone)]
pub struct TargetConfig {
    /// Delay before every response.
    pub delay: Duration,
    /// Status of every response.
    pub status: u16,
    /// Stall period: every `stall_every`, the last `stall_for` of the period
    /// holds every response until the period ends (zero: never).
    pub stall_every: Duration,
    /// Stall length.
    pub stall_for: Duration,
    /// Response body.
    pub body: Bytes,
    /// Serve TLS with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Keep up to this many received requests for inspection.
    pub keep_requests: usize,
    /// Count requests per 10 ms (for the rate-change benchmark).
    pub rate_log: bool,
    /// Answer `Connection: close` (no keep-alive).
    pub close: bool,
}

impl Default for TargetConfig {
    fn default() -> Self {
        TargetConfig {
            delay: Duration::ZERO,
            status: 200,
            stall_every: Duration::ZERO,
            stall_for: Duration::ZERO,
            body: Bytes::from_static(b"ok"),
            tls: None,
            keep_requests: 0,
            rate_log: false,
            close: false,
        }
    }
}

/// A request the target received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// HTTP version, e.g. `HTTP/2.0`.
    pub version: String,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// Body as text.
    pub body: String,
}

/// What the target saw.
#[derive(Default)]
pub struct TargetStats {
    /// Requests received.
    pub requests: AtomicU64,
    /// Requests being answered now.
    pub in_flight: AtomicU64,
    /// Highest `in_flight` seen.
    pub max_in_flight: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
    /// The first `keep_requests` requests.
    pub received: Mutex<Vec<Received>>,
    /// Unix time / 10 ms → requests (when `rate_log`).
    pub per_10ms: Mutex<BTreeMap<u64, u64>>,
}

/// A running target.
pub struct Target {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it saw.
    pub stats: Arc<TargetStats>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Target {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Target {
    /// Starts on `addr` (port 0 for any).
    pub async fn start(addr: SocketAddr, cfg: TargetConfig) -> std::io::Result<Target> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(TargetStats::default());
        let st = stats.clone();
        let cfg = Arc::new(cfg);
        let started = Instant::now();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                st.connections.fetch_add(1, Ordering::Relaxed);
                let (st, cfg) = (st.clone(), cfg.clone());
                tokio::spawn(async move {
                    let svc = {
                        let (st, cfg) = (st.clone(), cfg.clone());
                        service_fn(move |req| {
                            let (st, cfg) = (st.clone(), cfg.clone());
                            async move { Ok::<_, std::convert::Infallible>(answer(&st, &cfg, started, req).await) }
                        })
                    };
                    let builder = auto::Builder::new(TokioExecutor::new());
                    match &cfg.tls {
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                        }
                        Some(tls) => {
                            let Ok(s) = tokio_rustls::TlsAcceptor::from(tls.clone()).accept(stream).await else {
                                return;
                            };
                            let _ = builder.serve_connection(TokioIo::new(s), svc).await;
                        }
                    }
                });
            }
        });
        Ok(Target { addr, stats, task })
    }

    /// `http://addr` (or `https://`).
    pub fn url(&self, tls: bool) -> String {
        format!("{}://{}", if tls { "https" } else { "http" }, self.addr)
    }
}

async fn answer(
    st: &TargetStats,
    cfg: &TargetConfig,
    started: Instant,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    st.requests.fetch_add(1, Ordering::Relaxed);
    let now_in = st.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    st.max_in_flight.fetch_max(now_in, Ordering::Relaxed);
    if cfg.rate_log {
        let slot = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64 / 10).unwrap_or(0);
        *st.per_10ms.lock().expect("rate log lock").entry(slot).or_default() += 1;
    }
    let keep = cfg.keep_requests > 0 && st.received.lock().expect("received lock").len() < cfg.keep_requests;
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    if keep {
        let r = Received {
            method: parts.method.to_string(),
            uri: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
            version: format!("{:?}", parts.version),
            headers: parts.headers.iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let mut g = st.received.lock().expect("received lock");
        if g.len() < cfg.keep_requests {
            g.push(r);
        }
    }
    if !cfg.delay.is_zero() {
        tokio::time::sleep(cfg.delay).await;
    }
    if !cfg.stall_every.is_zero() && !cfg.stall_for.is_zero() {
        let every = cfg.stall_every.as_nanos();
        let phase = started.elapsed().as_nanos() % every;
        let stall_from = every.saturating_sub(cfg.stall_for.as_nanos());
        if phase >= stall_from {
            tokio::time::sleep(Duration::from_nanos((every - phase) as u64)).await;
        }
    }
    st.in_flight.fetch_sub(1, Ordering::Relaxed);
    let mut r = Response::builder().status(cfg.status).header(http::header::CONTENT_TYPE, "text/plain");
    if cfg.close {
        r = r.header(http::header::CONNECTION, "close");
    }
    r.body(Full::new(cfg.body.clone())).expect("valid status")
}
