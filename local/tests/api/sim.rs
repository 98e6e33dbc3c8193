//! Simulated agents (#13): this one process serves the agent control API
//! (`docs/agent-api.md`: start, poll (one job, or several with `POST /v1/poll`
//! unless started as an older agent), rate, stop, info) for N agents, each on
//! its own loopback port, without sending any load. A job's seconds are made
//! when polled: one bucket per closed second at the job's current rate, with
//! 0.1 % failures and a real HDR latency histogram (one of a few encoded once:
//! the size of what a real agent sends at a few thousand rps), so the backend
//! stores what it would store for real agents. An agent can be killed: its
//! listener and every open connection close, so the controller's calls fail
//! as for a dead machine. The agents run on a runtime of their own (threads
//! `alilo-sim`), so the benchmark can tell their CPU from the controller's.

use alilo_agent_api::{AgentInfo, Bucket, JobState, JobStatus, PollRequest, PollResponse, Polled, Summary};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// How many seconds a poll returns at most (a real agent keeps 15 minutes).
const RING: u64 = 900;

struct SimJob {
    started: Instant,
    start_unix_ms: u64,
    target_rps: f64,
    scale: f64,
    /// The second at which it stopped (no bucket from there on).
    stopped_at: Option<u64>,
    reason: Option<String>,
}

impl SimJob {
    fn closed(&self) -> u64 {
        let now = self.started.elapsed().as_secs();
        self.stopped_at.map_or(now, |s| s.min(now))
    }

    fn status(&self, id: &str, since: u64) -> JobStatus {
        let closed = self.closed();
        let rate = self.target_rps * self.scale;
        let from = since.max(closed.saturating_sub(RING));
        let buckets = (from..closed).map(|s| bucket(s, self.start_unix_ms + s * 1000, rate)).collect();
        JobStatus {
            id: id.to_string(),
            state: if self.stopped_at.is_some() { JobState::Finished } else { JobState::Running },
            reason: self.reason.clone(),
            current_rps: if self.stopped_at.is_some() { 0.0 } else { rate },
            target_rps: self.target_rps,
            scale: self.scale,
            in_flight: 0,
            elapsed_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            cursor: closed,
            buckets,
            summary: Summary::default(),
        }
    }
}

/// A few latency histograms (µs), encoded once: lognormal-like around 20 ms.
fn histograms() -> &'static [String] {
    static H: OnceLock<Vec<String>> = OnceLock::new();
    H.get_or_init(|| {
        (0..8u64)
            .map(|v| {
                let mut h = alilo_agent_api::hist::new();
                let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ v;
                for _ in 0..2000 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // 5–80 ms, skewed low, with a 1 % tail to 400 ms.
                    let u = (x % 10_000) as f64 / 10_000.0;
                    let us =
                        if x.is_multiple_of(100) { 80_000.0 + u * 320_000.0 } else { 5_000.0 * (1.0 + 15.0 * u * u) };
                    alilo_agent_api::hist::record(&mut h, us as u64);
                }
                alilo_agent_api::hist::encode(&h)
            })
            .collect()
    })
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn bucket(second: u64, ts_ms: u64, rate: f64) -> Bucket {
    let sent = rate.round() as u64;
    let failed = sent / 1000;
    let ok = sent - failed;
    let h = &histograms()[(second % 8) as usize];
    let mut status = BTreeMap::new();
    status.insert("200".to_string(), ok);
    if failed > 0 {
        status.insert("500".to_string(), failed);
    }
    Bucket {
        second,
        ts_ms,
        target_rps: rate,
        sent,
        ok,
        failed,
        dropped: 0,
        status,
        errors: Default::default(),
        bytes_sent: sent * 120,
        bytes_received: sent * 800,
        latency: h.clone(),
        service: h.clone(),
        lag_p99_us: 150,
        lag_max_us: 900,
        script: None,
    }
}

/// One simulated agent's jobs, and the calls it answered.
#[derive(Default)]
pub struct SimAgent {
    jobs: Mutex<HashMap<String, SimJob>>,
    pub calls: AtomicU64,
}

type Shared = Arc<SimAgent>;

#[derive(serde::Deserialize)]
struct Since {
    #[serde(default)]
    since: u64,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

async fn info(State(a): State<Shared>) -> Json<AgentInfo> {
    a.calls.fetch_add(1, Ordering::Relaxed);
    let active = a.jobs.lock().unwrap().values().filter(|j| j.stopped_at.is_none()).count() as u64;
    Json(AgentInfo {
        version: "sim".into(),
        capabilities: vec![],
        cpu: Default::default(),
        memory: Default::default(),
        network: Default::default(),
        open_connections: 0,
        active_jobs: active,
        jobs: active,
        in_flight: 0,
    })
}

async fn start(
    State(a): State<Shared>,
    Path(id): Path<String>,
    Json(spec): Json<serde_json::Value>,
) -> (StatusCode, Json<JobStatus>) {
    a.calls.fetch_add(1, Ordering::Relaxed);
    let mut jobs = a.jobs.lock().unwrap();
    let created = !jobs.contains_key(&id);
    let job = jobs.entry(id.clone()).or_insert_with(|| SimJob {
        started: Instant::now(),
        start_unix_ms: now_ms(),
        target_rps: spec["profile"]["rps"].as_f64().unwrap_or(0.0),
        scale: spec["scale"].as_f64().unwrap_or(1.0),
        stopped_at: None,
        reason: None,
    });
    (if created { StatusCode::CREATED } else { StatusCode::OK }, Json(job.status(&id, 0)))
}

async fn read(
    State(a): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<Since>,
) -> Result<Json<JobStatus>, StatusCode> {
    a.calls.fetch_add(1, Ordering::Relaxed);
    let jobs = a.jobs.lock().unwrap();
    jobs.get(&id).map(|j| Json(j.status(&id, q.since))).ok_or(StatusCode::NOT_FOUND)
}

async fn poll(State(a): State<Shared>, Json(asked): Json<PollRequest>) -> Json<PollResponse> {
    a.calls.fetch_add(1, Ordering::Relaxed);
    let jobs = a.jobs.lock().unwrap();
    Json(PollResponse {
        jobs: asked
            .jobs
            .into_iter()
            .map(|p| {
                let status = jobs.get(&p.id).map(|j| j.status(&p.id, p.since));
                Polled { id: p.id, found: status.is_some(), status }
            })
            .collect(),
    })
}

async fn rate(
    State(a): State<Shared>,
    Path(id): Path<String>,
    Json(change): Json<serde_json::Value>,
) -> Result<Json<JobStatus>, StatusCode> {
    a.calls.fetch_add(1, Ordering::Relaxed);
    let mut jobs = a.jobs.lock().unwrap();
    let job = jobs.get_mut(&id).ok_or(StatusCode::NOT_FOUND)?;
    if let Some(t) = change["target_rps"].as_f64() {
        job.target_rps = t;
    }
    if let Some(s) = change["scale"].as_f64() {
        job.scale = s;
    }
    Ok(Json(job.status(&id, u64::MAX)))
}

async fn stop(
    State(a): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<Since>,
) -> Result<Json<JobStatus>, StatusCode> {
    a.calls.fetch_add(1, Ordering::Relaxed);
    let mut jobs = a.jobs.lock().unwrap();
    let job = jobs.get_mut(&id).ok_or(StatusCode::NOT_FOUND)?;
    if job.stopped_at.is_none() {
        job.stopped_at = Some(job.started.elapsed().as_secs());
        job.reason = Some("stopped by request".into());
    }
    Ok(Json(job.status(&id, q.since)))
}

/// The routes; `batch`: with `POST /v1/poll` (an older agent has none).
fn router(agent: Shared, batch: bool) -> Router {
    let router = Router::new()
        .route("/v1/agent", get(info))
        .route("/v1/jobs/{id}", put(start).get(read))
        .route("/v1/jobs/{id}/rate", post(rate))
        .route("/v1/jobs/{id}/stop", post(stop));
    let router = if batch { router.route("/v1/poll", post(poll)) } else { router };
    router.with_state(agent)
}

/// One listening simulated agent.
struct Served {
    port: u16,
    agent: Shared,
    /// The accept loop and every connection, aborted by a kill.
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

/// N simulated agents on loopback ports.
pub struct SimFleet {
    served: Vec<Served>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// The name of the simulated agents' threads.
const THREADS: &str = "alilo-sim";

impl SimFleet {
    pub async fn start(n: usize) -> Self {
        Self::start_with(n, true).await
    }

    /// `n` agents; `batch`: serving `POST /v1/poll` (else as older agents).
    pub async fn start_with(n: usize, batch: bool) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(THREADS)
            .enable_all()
            .build()
            .expect("the simulated agents' runtime");
        let mut served = Vec::with_capacity(n);
        for _ in 0..n {
            let std = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
            std.set_nonblocking(true).unwrap();
            let port = std.local_addr().unwrap().port();
            let listener = {
                let _inside = runtime.enter();
                tokio::net::TcpListener::from_std(std).unwrap()
            };
            let agent: Shared = Arc::default();
            let tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
            let app = router(agent.clone(), batch);
            let conns = tasks.clone();
            let accept = runtime.spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else { continue };
                    let _ = stream.set_nodelay(true);
                    let app = app.clone();
                    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let mut app = app.clone();
                        async move { tower::Service::call(&mut app, req).await }
                    });
                    let conn = tokio::spawn(async move {
                        let _ =
                            auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), svc).await;
                    });
                    conns.lock().unwrap().push(conn.abort_handle());
                }
            });
            tasks.lock().unwrap().push(accept.abort_handle());
            served.push(Served { port, agent, tasks });
        }
        Self { served, runtime: Some(runtime) }
    }

    /// CPU time the simulated agents' threads used so far (user + system, ms).
    pub fn cpu_ms() -> f64 {
        let mut ticks = 0.0;
        for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            let Some((comm, rest)) = stat.split_once(" (").and_then(|(_, r)| r.rsplit_once(')')) else { continue };
            if comm.starts_with(THREADS) {
                ticks += rest.split_whitespace().skip(11).take(2).filter_map(|v| v.parse::<f64>().ok()).sum::<f64>();
            }
        }
        // USER_HZ is 100 on Linux.
        ticks * 10.0
    }

    pub fn ports(&self) -> Vec<u16> {
        self.served.iter().map(|s| s.port).collect()
    }

    /// Kill the agent on `port`: no more answers, open connections cut.
    pub fn kill(&self, port: u16) {
        if let Some(s) = self.served.iter().find(|s| s.port == port) {
            for t in s.tasks.lock().unwrap().drain(..) {
                t.abort();
            }
        }
    }

    /// Calls answered by all agents so far.
    pub fn calls(&self) -> u64 {
        self.served.iter().map(|s| s.agent.calls.load(Ordering::Relaxed)).sum()
    }

    /// Jobs the agents hold, running or not.
    pub fn jobs(&self) -> usize {
        self.served.iter().map(|s| s.agent.jobs.lock().unwrap().len()).sum()
    }
}

impl Drop for SimFleet {
    fn drop(&mut self) {
        for s in &self.served {
            for t in s.tasks.lock().unwrap().drain(..) {
                t.abort();
            }
        }
        // Dropped inside the test's runtime: shut down without blocking.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
