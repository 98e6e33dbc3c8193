//! Joining the fleet by itself (`alilo-agent serve --register URL`, #13).
//!
//! - **Register** on start with the fleet token: the address the backend should
//!   call (`--advertise`, or the local address of the route to the backend), the
//!   tags, the capacity (`--capacity-rps`, or [`measure_capacity`]) and the
//!   version. The answer is the agent's own credential, which its control API
//!   then requires, and the heartbeat period. A backend that cannot be reached
//!   yet (started together, e.g. by docker compose) is retried with backoff; a
//!   refusal (401 wrong token, 403 off, 4xx bad input) ends the agent.
//! - **Heartbeat** every period, each wait drawn in ±20 % (jitter), with the
//!   live CPU, memory, in-flight and job figures. Failures back off
//!   exponentially with full jitter up to [`MAX_BACKOFF`], so the agents of a
//!   partition that heals do not all call at once. A 404 (deleted by an admin,
//!   or a new database) registers again.
//! - **Leave** on SIGTERM ([`crate::api::Server::run_registered`]): a last
//!   heartbeat says "draining" (the planner gives it no new work), jobs get
//!   `--drain-timeout` to end, the rest are stopped with "agent shutting down"
//!   (the controller moves their share), their final seconds are read, and the
//!   agent deregisters.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::client::exchange::{Client, HttpRequest};
use crate::client::transport::IoCounters;

/// The longest wait between two failed calls to the backend.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long one call to the backend may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`measure_capacity`] loads its loopback target.
pub const MEASURE_FOR: Duration = Duration::from_secs(1);

/// What the agent tells the backend about itself.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    /// Where the backend calls it.
    pub host_name: String,
    /// Its control port.
    pub port: u16,
    /// Its tags.
    pub tags: Vec<String>,
    /// The rate it offers.
    pub capacity_rps: f64,
    /// Its version.
    pub version: String,
    /// The pin of the certificate its control API serves (`--tls-cert`): the
    /// backend then calls it over HTTPS and accepts only that certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_pin: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Registered {
    credential: String,
    heartbeat_secs: u64,
    #[serde(default)]
    agent_id: i64,
}

/// Live figures of a heartbeat.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Figures {
    /// Host CPU busy, percent.
    pub cpu_percent: f64,
    /// Host memory in use, percent.
    pub memory_percent: f64,
    /// Requests in flight.
    pub in_flight: u64,
    /// Jobs pending or running.
    pub active_jobs: u64,
    /// Shutting down.
    pub draining: bool,
}

#[derive(Serialize)]
struct Heartbeat<'a> {
    host_name: &'a str,
    port: u16,
    #[serde(flatten)]
    figures: Figures,
}

#[derive(Serialize)]
struct Address<'a> {
    host_name: &'a str,
    port: u16,
}

/// Why a call to the backend failed.
#[derive(Debug)]
pub enum CallError {
    /// Worth retrying: unreachable, timeout, 5xx, 429.
    Transient(String),
    /// The backend refused: retrying the same call cannot help.
    Refused(u16, String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Transient(m) => write!(f, "{m}"),
            CallError::Refused(s, m) => write!(f, "the backend answered {s}: {m}"),
        }
    }
}

/// A registered member of the fleet.
#[derive(Debug, Clone)]
pub struct Member {
    backend: String,
    fleet_token: Arc<str>,
    /// What it registered with.
    pub registration: Registration,
    /// Its own credential (what its control API requires).
    pub credential: String,
    /// The heartbeat period the backend asked for.
    pub heartbeat: Duration,
    /// Its id in the registry.
    pub agent_id: i64,
}

/// A duration in `[base × (1 − spread), base × (1 + spread)]`, uniformly.
pub fn jittered(base: Duration, spread: f64) -> Duration {
    base.mul_f64(1.0 + spread * (2.0 * unit() - 1.0))
}

/// The wait after `failures` failures in a row: exponential from `base`,
/// capped at [`MAX_BACKOFF`], drawn uniformly below it ("full jitter").
pub fn backoff(base: Duration, failures: u32) -> Duration {
    let cap = base.saturating_mul(1u32 << failures.min(16)).min(MAX_BACKOFF);
    cap.mul_f64(unit()).max(Duration::from_millis(100))
}

/// A uniform draw in [0, 1).
fn unit() -> f64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// The API's base URL from `--register` (`http://host:8084`, a trailing `/` or
/// a path such as `/prod` kept as given, without a final `/`).
pub fn backend_base(url: &str) -> anyhow::Result<String> {
    let u = url::Url::parse(url.trim()).with_context(|| format!("--register {url:?} is not a URL"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        bail!("--register {url:?}: give the backend's http(s) URL, e.g. http://alilo:8084");
    }
    Ok(u.as_str().trim_end_matches('/').to_string())
}

/// The address the backend should call: `advertise` when given, else the bound
/// IP when it is a specific one, else the local IP of the route to the backend
/// (no packet is sent: a UDP socket is only connected).
pub async fn detect_host(advertise: Option<&str>, bound: IpAddr, backend: &str) -> anyhow::Result<String> {
    if let Some(a) = advertise.map(str::trim).filter(|a| !a.is_empty()) {
        return Ok(a.to_string());
    }
    if !bound.is_unspecified() {
        return Ok(bound.to_string());
    }
    let u = url::Url::parse(backend)?;
    let host = u.host_str().context("the backend URL has no host")?.trim_matches(['[', ']']).to_string();
    let port = u.port_or_known_default().unwrap_or(80);
    let remote: SocketAddr = tokio::net::lookup_host((host.as_str(), port))
        .await
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("{host} has no address"))?;
    let local = if remote.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let socket = tokio::net::UdpSocket::bind(local).await?;
    socket.connect(remote).await.with_context(|| format!("no route to {remote}"))?;
    Ok(socket.local_addr()?.ip().to_string())
}

/// The rate this agent can send, measured for [`MEASURE_FOR`]: a closed loop on
/// its own request path against a target it serves itself on loopback. The
/// target shares the machine, so this is a floor of what a remote target gets.
pub async fn measure_capacity(workers: usize) -> anyhow::Result<f64> {
    use alilo_agent_api::{HttpVersion, JobSpec, Profile, Ramp, RequestTemplate};
    let target = crate::target::Target::start("127.0.0.1:0".parse()?, crate::target::TargetConfig::default()).await?;
    let workers =
        if workers == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { workers };
    let spec = JobSpec {
        request: RequestTemplate {
            method: "GET".into(),
            url: target.url(false),
            headers: Default::default(),
            query: Default::default(),
            body: None,
        },
        script: None,
        data: None,
        checks: Default::default(),
        profile: Profile { rps: 0.0, steps: 1, duration: format!("{}ms", MEASURE_FOR.as_millis()), ramp: Ramp::Step },
        scale: 1.0,
        max_vus: 1000,
        start_at_ms: None,
        timeout: "5s".into(),
        tls_verify: false,
        log_key: None,
        allowed_targets: Vec::new(),
        http: HttpVersion::Http1,
        lease: "0".into(),
        closed_loop_connections: Some(u32::try_from(8 * workers).unwrap_or(64)),
    };
    let job = crate::engine::Job::new("capacity", spec, workers).map_err(|e| anyhow::anyhow!(e))?;
    job.launch();
    let mut done = job.finished();
    let _ = tokio::time::timeout(MEASURE_FOR + Duration::from_secs(10), done.wait_for(|d| *d)).await;
    let summary = job.status(u64::MAX).summary;
    if summary.ok == 0 {
        bail!("the capacity measurement sent nothing that succeeded; give --capacity-rps");
    }
    Ok(summary.ok as f64 / summary.duration_s.max(0.1))
}

/// POST `body` to `backend + path` with a bearer; the JSON answer.
async fn call<T: for<'de> Deserialize<'de>>(
    backend: &str,
    path: &str,
    bearer: &str,
    body: &impl Serialize,
) -> Result<T, CallError> {
    // A client per call: the backend's address is resolved again each time (a
    // load balancer's addresses change), and a call every few seconds needs no pool.
    let client = Client::new(Arc::new(IoCounters::default()));
    let mut req = HttpRequest::new(http::Method::POST, format!("{backend}{path}"));
    req.headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    let auth = http::HeaderValue::from_str(&format!("Bearer {bearer}"))
        .map_err(|_| CallError::Refused(0, "the token is not a valid header value".into()))?;
    req.headers.insert(http::header::AUTHORIZATION, auth);
    req.body = serde_json::to_vec(body).expect("serialisable").into();
    req.options.timeout = CALL_TIMEOUT;
    req.options.max_redirects = 0;
    let resp = client.request(req).await;
    client.clear();
    if let Some(e) = &resp.last.error {
        return Err(CallError::Transient(format!("{backend}{path}: {}", e.message)));
    }
    let status = resp.status();
    let text = String::from_utf8_lossy(&resp.body);
    if !(200..300).contains(&status) {
        let message = serde_json::from_slice::<serde_json::Value>(&resp.body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.chars().take(200).collect());
        return Err(if status >= 500 || status == 429 || status == 408 {
            CallError::Transient(format!("{backend}{path} answered {status}: {message}"))
        } else {
            CallError::Refused(status, message)
        });
    }
    serde_json::from_slice(&resp.body)
        .map_err(|e| CallError::Transient(format!("{backend}{path}: unexpected answer ({e}): {text}")))
}

impl Member {
    /// Register once.
    pub async fn register_once(
        backend: &str,
        fleet_token: &str,
        registration: Registration,
    ) -> Result<Member, CallError> {
        let r: Registered = call(backend, "/v1/fleet/register", fleet_token, &registration).await?;
        Ok(Member {
            backend: backend.to_string(),
            fleet_token: fleet_token.into(),
            registration,
            credential: r.credential,
            heartbeat: Duration::from_secs(r.heartbeat_secs.clamp(1, 3600)),
            agent_id: r.agent_id,
        })
    }

    /// Register, retrying while the backend cannot be reached; a refusal is an error.
    pub async fn register(backend: &str, fleet_token: &str, registration: Registration) -> anyhow::Result<Member> {
        let mut failures = 0;
        loop {
            match Self::register_once(backend, fleet_token, registration.clone()).await {
                Ok(m) => return Ok(m),
                Err(CallError::Refused(status, message)) => {
                    bail!("registration at {backend} refused ({status}): {message}")
                }
                Err(CallError::Transient(why)) => {
                    failures += 1;
                    let wait = backoff(Duration::from_secs(1), failures);
                    tracing::warn!(error = %why, retry_in_ms = wait.as_millis() as u64, "registration failed; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One heartbeat; on 404 (unknown to the backend) registers again.
    pub async fn beat(&mut self, figures: Figures) -> Result<(), CallError> {
        let body = Heartbeat { host_name: &self.registration.host_name, port: self.registration.port, figures };
        #[derive(Deserialize)]
        struct Answer {
            heartbeat_secs: u64,
        }
        match call::<Answer>(&self.backend, "/v1/fleet/heartbeat", &self.credential, &body).await {
            Ok(a) => {
                self.heartbeat = Duration::from_secs(a.heartbeat_secs.clamp(1, 3600));
                Ok(())
            }
            Err(CallError::Refused(404, _)) if !figures.draining => {
                tracing::warn!("the backend does not know this agent any more: registering again");
                let again = Self::register_once(&self.backend, &self.fleet_token, self.registration.clone()).await?;
                *self = again;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Heartbeat until `stop` turns true, with jitter and backoff.
    pub async fn heartbeat_loop(mut self, figures: impl Fn() -> Figures, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut failures = 0u32;
        loop {
            let wait = if failures == 0 { jittered(self.heartbeat, 0.2) } else { backoff(self.heartbeat, failures) };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            match self.beat(figures()).await {
                Ok(()) => failures = 0,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, failures, "heartbeat failed");
                }
            }
        }
    }

    /// Leave the fleet (a 404: already gone).
    pub async fn deregister(&self) -> Result<(), CallError> {
        let body = Address { host_name: &self.registration.host_name, port: self.registration.port };
        match call::<serde_json::Value>(&self.backend, "/v1/fleet/deregister", &self.credential, &body).await {
            Ok(_) | Err(CallError::Refused(404, _)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_are_spread_within_a_fifth_of_the_period() {
        let base = Duration::from_secs(10);
        let draws: Vec<Duration> = (0..1000).map(|_| jittered(base, 0.2)).collect();
        assert!(draws.iter().all(|d| *d >= Duration::from_secs(8) && *d <= Duration::from_secs(12)));
        let early = draws.iter().filter(|d| **d < base).count();
        assert!((350..650).contains(&early), "about half early: {early}");
    }

    #[test]
    fn backoff_grows_to_a_cap_and_is_drawn_below_it() {
        let base = Duration::from_secs(1);
        for failures in 0..40 {
            let cap = base.saturating_mul(1 << failures.min(16)).min(MAX_BACKOFF);
            let d = backoff(base, failures);
            assert!(d <= cap.max(Duration::from_millis(100)), "{failures}: {d:?}");
        }
        let late: Vec<Duration> = (0..200).map(|_| backoff(base, 30)).collect();
        assert!(late.iter().any(|d| *d > Duration::from_secs(30)), "the cap is reached");
        assert!(late.iter().any(|d| *d < Duration::from_secs(30)), "spread below it");
    }

    #[test]
    fn the_register_url_is_checked() {
        assert_eq!(backend_base("http://alilo:8084/").unwrap(), "http://alilo:8084");
        assert_eq!(backend_base("https://api.example.com/prod").unwrap(), "https://api.example.com/prod");
        assert!(backend_base("alilo:8084").is_err());
        assert!(backend_base("ftp://x").is_err());
    }

    #[tokio::test]
    async fn a_quick_measurement_gives_the_rate_of_the_agent_s_own_request_path() {
        let rps = measure_capacity(1).await.unwrap();
        assert!(rps > 50.0, "{rps}");
    }

    #[tokio::test]
    async fn an_advertised_or_bound_address_wins_over_detection() {
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        assert_eq!(detect_host(Some("agent-7.internal"), any, "http://x:1").await.unwrap(), "agent-7.internal");
        assert_eq!(detect_host(None, "10.1.2.3".parse().unwrap(), "http://x:1").await.unwrap(), "10.1.2.3");
        assert_eq!(detect_host(None, any, "http://127.0.0.1:8084").await.unwrap(), "127.0.0.1");
    }
}
