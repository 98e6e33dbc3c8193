//! The engine: jobs, their schedulers and their collectors.
//!
//! A job runs on `W` worker threads, each with its own single-threaded tokio
//! runtime, its own connections and its own statistics (like wrk's threads:
//! no cross-core traffic on the hot path). Each worker owns `1/W` of the
//! rate: it computes each request's *intended* send time from the profile
//! and the live target/scale, sleeps until then, and sends it whatever the
//! earlier responses are doing (open model). One loop serves every profile;
//! the closed-loop mode (benchmarks) is a separate, trivial loop.
//!
//! Timing: tokio's timer has millisecond resolution, so a worker sleeps until
//! about 1 ms before the intended time and then yields in a loop until it is
//! due, which keeps the schedule lag well under a millisecond at the cost of
//! some CPU while a send is imminent.
//!
//! A collector task (on the caller's runtime) closes each second, merges the
//! workers' seconds into one [`Bucket`], watches the lease and the end of the
//! profile, and keeps the ring of the last 15 minutes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alilo_agent_api::profile::ProfileShape;
use alilo_agent_api::{Bucket, HttpVersion, JobBrief, JobSpec, JobState, JobStatus, RateChange, parse_duration};
use tokio::sync::{Notify, watch};

use crate::client::fetch::fetch;
use crate::client::load;
use crate::client::{self, Endpoint, H1Conn, Outcome, Pool};
use crate::stats::{Collected, WorkerStats};
use crate::template::{self, Data, Template};

/// How long to wait for data files.
const DATA_TIMEOUT: Duration = Duration::from_secs(30);
/// Default wait for requests in flight on stop.
pub const DEFAULT_STOP_WAIT: Duration = Duration::from_secs(5);
/// Upper bound of any wait for requests in flight.
pub const MAX_STOP_WAIT: Duration = Duration::from_secs(60);
/// A worker re-reads the rate at least this often while waiting.
const RATE_POLL: Duration = Duration::from_millis(10);
/// Spin (yield) instead of sleeping when a send is this close.
/// tokio rounds a sleep's deadline up to its next millisecond tick, so a
/// sleep may end up to 1 ms late (2 ms with epoll's rounding): by default a
/// worker sleeps until 2 ms before a send, then spins. `ALILO_AGENT_SPIN_US`
/// overrides the window (0: never spin, lag up to ~1-2 ms but no CPU burnt).
fn spin_window() -> Duration {
    static SPIN: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *SPIN.get_or_init(|| {
        std::env::var("ALILO_AGENT_SPIN_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_micros)
            .unwrap_or(Duration::from_millis(2))
    })
}
/// Finished jobs remembered.
const KEEP_FINISHED: usize = 64;

/// What the job does.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Open(ProfileShape),
    Closed { connections: u32, duration: Duration },
}

impl Mode {
    fn duration(&self) -> Duration {
        match self {
            Mode::Open(s) => s.duration,
            Mode::Closed { duration, .. } => *duration,
        }
    }
}

struct Record {
    state: JobState,
    reason: Option<String>,
    collected: Collected,
    issuing_since: Option<Instant>,
    issuing_until: Option<Instant>,
    expected: f64,
    last_tick: Option<Instant>,
}

/// A job: its spec, live rate, counters and collected statistics.
pub struct Job {
    /// Caller-chosen id.
    pub id: String,
    /// The spec as accepted.
    pub spec: JobSpec,
    mode: Mode,
    origin: Instant,
    target_bits: AtomicU64,
    scale_bits: AtomicU64,
    max_vus: u64,
    in_flight: AtomicU64,
    stop: AtomicBool,
    stop_notify: Notify,
    stop_wait: Mutex<Duration>,
    timeout: Duration,
    lease: Option<Duration>,
    last_touch: Mutex<Instant>,
    workers: Vec<Arc<WorkerStats>>,
    rec: Mutex<Record>,
    done: watch::Sender<bool>,
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn f(bits: &AtomicU64) -> f64 {
    f64::from_bits(bits.load(Ordering::Relaxed))
}

/// Checks a spec, naming the field of the first problem.
pub fn validate(spec: &JobSpec) -> Result<(), String> {
    template::validate(&spec.request)?;
    if let Some(d) = &spec.data {
        let u: http::Uri = d.url.parse().map_err(|e| format!("data.url: {:?} is not a URL: {e}", d.url))?;
        if !matches!(u.scheme_str(), Some("http" | "https")) {
            return Err(format!("data.url: {:?} must start with http:// or https://", d.url));
        }
    }
    for s in &spec.checks.status {
        if !(100..=599).contains(s) {
            return Err(format!("checks.status: {s} is not an HTTP status code"));
        }
    }
    spec.profile.shape()?;
    if !spec.scale.is_finite() || spec.scale < 0.0 {
        return Err(format!("scale must be a number >= 0, got {}", spec.scale));
    }
    if spec.max_vus == 0 {
        return Err("max_vus must be >= 1".into());
    }
    let t = parse_duration(&spec.timeout).map_err(|e| format!("timeout: {e}"))?;
    if t.is_zero() {
        return Err("timeout must be > 0".into());
    }
    parse_duration(&spec.lease).map_err(|e| format!("lease: {e}"))?;
    if let Some(c) = spec.closed_loop_connections
        && !(1..=100_000).contains(&c)
    {
        return Err(format!("closed_loop_connections must be 1..=100000, got {c}"));
    }
    if let Some(at) = spec.start_at_ms
        && at > unix_ms() + 24 * 3600 * 1000
    {
        return Err(format!("start_at_ms: {at} is more than 24 h in the future"));
    }
    Ok(())
}

impl Job {
    /// Validates `spec` and creates the job (not started: see [`Job::launch`]).
    pub fn new(id: &str, spec: JobSpec, workers: usize) -> Result<Arc<Job>, String> {
        validate(&spec)?;
        let shape = spec.profile.shape()?;
        let mode = match spec.closed_loop_connections {
            Some(c) => Mode::Closed { connections: c, duration: shape.duration },
            None => Mode::Open(shape),
        };
        let workers = match mode {
            Mode::Closed { connections, .. } => workers.min(connections as usize),
            Mode::Open(_) => workers,
        }
        .max(1);
        let now = Instant::now();
        let now_ms = unix_ms();
        let (origin, origin_unix_ms) = match spec.start_at_ms {
            Some(at) if at >= now_ms => (now + Duration::from_millis(at - now_ms), at),
            Some(at) => (now.checked_sub(Duration::from_millis(now_ms - at)).unwrap_or(now), at),
            None => (now, now_ms),
        };
        let lease = parse_duration(&spec.lease).expect("validated");
        let (done, _) = watch::channel(false);
        Ok(Arc::new(Job {
            id: id.to_string(),
            mode,
            origin,
            target_bits: AtomicU64::new(spec.profile.rps.to_bits()),
            scale_bits: AtomicU64::new(spec.scale.to_bits()),
            max_vus: spec.max_vus,
            in_flight: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            stop_notify: Notify::new(),
            stop_wait: Mutex::new(DEFAULT_STOP_WAIT),
            timeout: parse_duration(&spec.timeout).expect("validated"),
            lease: (!lease.is_zero()).then_some(lease),
            last_touch: Mutex::new(now),
            workers: (0..workers).map(|_| Arc::new(WorkerStats::new(origin))).collect(),
            rec: Mutex::new(Record {
                state: JobState::Pending,
                reason: None,
                collected: Collected::new(origin_unix_ms),
                issuing_since: None,
                issuing_until: None,
                expected: 0.0,
                last_tick: None,
            }),
            done,
            spec,
        }))
    }

    /// Starts the job's supervisor on the current tokio runtime.
    pub fn launch(self: &Arc<Self>) {
        let job = self.clone();
        tokio::spawn(async move { job.supervise().await });
        let job = self.clone();
        tokio::spawn(async move { job.collect_loop().await });
    }

    /// Total rate aimed at, `t` after the origin.
    fn rate_at(&self, t: Duration) -> f64 {
        match self.mode {
            Mode::Open(shape) => shape.rate_at(f(&self.target_bits), t) * f(&self.scale_bits),
            Mode::Closed { .. } => 0.0,
        }
    }

    fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }

    /// Renews the lease.
    pub fn touch(&self) {
        *self.last_touch.lock().expect("lease lock") = Instant::now();
    }

    /// State now.
    pub fn state(&self) -> JobState {
        self.rec.lock().expect("job lock").state
    }

    /// A receiver that turns `true` when the job is finished or failed.
    pub fn finished(&self) -> watch::Receiver<bool> {
        self.done.subscribe()
    }

    /// Asks the job to stop issuing; requests in flight get `wait`.
    pub fn request_stop(&self, reason: &str, wait: Duration) {
        let mut r = self.rec.lock().expect("job lock");
        if r.state.is_terminal() || self.stop.load(Ordering::SeqCst) {
            return;
        }
        *self.stop_wait.lock().expect("stop lock") = wait.min(MAX_STOP_WAIT);
        r.reason = Some(reason.to_string());
        if r.state == JobState::Running {
            let now = Instant::now();
            self.advance_expected(&mut r, now);
            r.state = JobState::Stopping;
            r.issuing_until = Some(now);
        }
        self.stop.store(true, Ordering::SeqCst);
        self.stop_notify.notify_waiters();
    }

    /// Applies a live rate change.
    pub fn change_rate(&self, c: &RateChange) -> Result<(), String> {
        if c.scale.is_none() && c.target_rps.is_none() {
            return Err("give scale or target_rps".into());
        }
        if let Some(s) = c.scale
            && (!s.is_finite() || s < 0.0)
        {
            return Err(format!("scale must be a number >= 0, got {s}"));
        }
        if let Some(t) = c.target_rps
            && (!t.is_finite() || t < 0.0)
        {
            return Err(format!("target_rps must be a number >= 0, got {t}"));
        }
        if let Some(s) = c.scale {
            self.scale_bits.store(s.to_bits(), Ordering::Relaxed);
        }
        if let Some(t) = c.target_rps {
            self.target_bits.store(t.to_bits(), Ordering::Relaxed);
        }
        Ok(())
    }

    /// A one-line view.
    pub fn brief(&self) -> JobBrief {
        let r = self.rec.lock().expect("job lock");
        JobBrief {
            id: self.id.clone(),
            state: r.state,
            reason: r.reason.clone(),
            current_rps: self.current_rps(r.state),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            sent: r.collected.ring.iter().map(|b| b.sent).sum(),
        }
    }

    fn current_rps(&self, state: JobState) -> f64 {
        if state == JobState::Running { self.rate_at(self.elapsed()) } else { 0.0 }
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The full status with buckets from `since`.
    pub fn status(&self, since: u64) -> JobStatus {
        let r = self.rec.lock().expect("job lock");
        let buckets: Vec<Bucket> = r.collected.since(since);
        let cursor = r.collected.next_sec;
        let issuing = match (r.issuing_since, r.issuing_until) {
            (Some(s), Some(u)) => u.saturating_duration_since(s),
            (Some(s), None) => s.elapsed(),
            _ => Duration::ZERO,
        };
        JobStatus {
            id: self.id.clone(),
            state: r.state,
            reason: r.reason.clone(),
            current_rps: self.current_rps(r.state),
            target_rps: f(&self.target_bits),
            scale: f(&self.scale_bits),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            elapsed_ms: if r.issuing_since.is_some() { self.elapsed().as_millis() as u64 } else { 0 },
            cursor,
            buckets,
            summary: r.collected.summary(issuing, r.expected),
        }
    }

    fn fail(&self, reason: String) {
        tracing::warn!(job = %self.id, %reason, "job failed");
        let mut r = self.rec.lock().expect("job lock");
        r.state = JobState::Failed;
        r.reason = Some(reason);
        drop(r);
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.done.send(true);
    }

    async fn wait_stop(&self, d: Duration) -> bool {
        let notified = self.stop_notify.notified();
        if self.stop.load(Ordering::SeqCst) {
            return true;
        }
        tokio::select! {
            _ = notified => true,
            _ = tokio::time::sleep(d) => self.stop.load(Ordering::SeqCst),
        }
    }

    async fn prepare(&self) -> Result<(Arc<Template>, Arc<Endpoint>), String> {
        let http2 = self.spec.http == HttpVersion::Http2;
        let data = match &self.spec.data {
            Some(d) => {
                let bytes = fetch(&d.url, self.spec.tls_verify, DATA_TIMEOUT, template::MAX_DATA_BYTES)
                    .await
                    .map_err(|e| format!("data file: {e}"))?;
                let data = Data::parse(&bytes, d.format).map_err(|e| format!("data file: {e}"))?;
                Some((data, d.selection))
            }
            None => None,
        };
        let tpl = Template::new(&self.spec.request, data, http2)?;
        let uri = template::validate(&self.spec.request)?;
        let ep = Endpoint::resolve(&uri, http2, self.spec.tls_verify).await.map_err(|e| format!("request.url: {e}"))?;
        Ok((Arc::new(tpl), Arc::new(ep)))
    }

    async fn supervise(self: Arc<Self>) {
        let (tpl, ep) = match self.prepare().await {
            Ok(x) => x,
            Err(e) => return self.fail(e),
        };
        // Wait for the start time (or a stop).
        let until = self.origin.saturating_duration_since(Instant::now());
        if !until.is_zero() && self.wait_stop(until).await {
            return self.finish();
        }
        if self.stop.load(Ordering::SeqCst) {
            return self.finish();
        }
        {
            let mut r = self.rec.lock().expect("job lock");
            r.state = JobState::Running;
            r.issuing_since = Some(Instant::now().max(self.origin));
        }
        tracing::info!(job = %self.id, workers = self.workers.len(), "job running");
        let n = self.workers.len();
        let mut waits = Vec::new();
        for (i, stats) in self.workers.iter().enumerate() {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            waits.push(rx);
            let ctx = Arc::new(Worker {
                job: self.clone(),
                index: i,
                count: n,
                tpl: tpl.clone(),
                pool: Arc::new(Pool::new(ep.clone(), stats.io.clone())),
                stats: stats.clone(),
                local_in_flight: AtomicU64::new(0),
            });
            let spawned = std::thread::Builder::new().name(format!("alilo-worker-{i}")).spawn(move || {
                worker_main(ctx);
                let _ = tx.send(());
            });
            if let Err(e) = spawned {
                self.request_stop(&format!("cannot start a worker thread: {e}"), Duration::ZERO);
            }
        }
        for w in waits {
            let _ = w.await;
        }
        self.finish();
    }

    fn finish(&self) {
        let mut r = self.rec.lock().expect("job lock");
        if r.state.is_terminal() {
            return;
        }
        r.collected.collect(&self.workers, None);
        if r.issuing_since.is_some() && r.issuing_until.is_none() {
            r.issuing_until = Some(Instant::now().min(self.origin + self.mode.duration()));
        }
        if let Some(until) = r.issuing_until {
            self.advance_expected(&mut r, until);
        }
        r.state = JobState::Finished;
        if r.reason.is_none() {
            r.reason = Some("completed".into());
        }
        tracing::info!(job = %self.id, reason = ?r.reason, "job finished");
        drop(r);
        let _ = self.done.send(true);
    }

    /// Integrates the rate aimed at (profile × live target and scale) up to
    /// `until`, in steps of at most 10 ms, for "achieved vs asked".
    fn advance_expected(&self, r: &mut Record, until: Instant) {
        let Some(start) = r.last_tick.or(r.issuing_since) else {
            return;
        };
        let until = until.min(self.origin + self.mode.duration());
        let mut t = start;
        while t < until {
            let step = (until - t).min(Duration::from_millis(10));
            let mid = (t + step / 2).saturating_duration_since(self.origin);
            r.expected += self.rate_at(mid) * step.as_secs_f64();
            t += step;
        }
        r.last_tick = Some(until.max(start));
    }

    async fn collect_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = Instant::now();
            let elapsed = now.saturating_duration_since(self.origin);
            {
                let mut r = self.rec.lock().expect("job lock");
                if r.state.is_terminal() {
                    return;
                }
                if r.state == JobState::Running {
                    let rate = self.rate_at(elapsed);
                    let sec = elapsed.as_secs();
                    r.collected.note_target(sec, rate);
                    self.advance_expected(&mut r, now);
                    if elapsed >= self.mode.duration() {
                        let end = self.origin + self.mode.duration();
                        self.advance_expected(&mut r, end);
                        r.state = JobState::Stopping;
                        r.issuing_until = Some(self.origin + self.mode.duration());
                    }
                    r.collected.collect(&self.workers, Some(sec));
                } else if r.state == JobState::Stopping {
                    r.collected.collect(&self.workers, Some(elapsed.as_secs()));
                }
            }
            if let Some(lease) = self.lease {
                let idle = self.last_touch.lock().expect("lease lock").elapsed();
                if idle > lease {
                    self.request_stop(
                        &format!("lease expired: no read or change for {}", alilo_agent_api::format_duration(lease)),
                        DEFAULT_STOP_WAIT,
                    );
                }
            }
        }
    }
}

/// One worker thread's share of a job.
struct Worker {
    job: Arc<Job>,
    index: usize,
    count: usize,
    tpl: Arc<Template>,
    pool: Arc<Pool>,
    stats: Arc<WorkerStats>,
    local_in_flight: AtomicU64,
}

fn worker_main(w: Arc<Worker>) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            w.job.request_stop(&format!("cannot start a worker runtime: {e}"), Duration::ZERO);
            return;
        }
    };
    rt.block_on(async {
        match w.job.mode {
            Mode::Open(_) => open_loop(&w).await,
            Mode::Closed { connections, .. } => closed_loop(&w, connections).await,
        }
        // Stop issuing; wait for what is in flight, up to the bound.
        let wait = if w.job.stop.load(Ordering::SeqCst) {
            *w.job.stop_wait.lock().expect("stop lock")
        } else {
            w.job.timeout.min(Duration::from_secs(10))
        };
        let deadline = Instant::now() + wait;
        while w.local_in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        w.pool.clear();
    });
    // Requests still in flight are abandoned with the runtime.
    let left = w.local_in_flight.swap(0, Ordering::AcqRel);
    w.job.in_flight.fetch_sub(left, Ordering::AcqRel);
    drop(rt);
}

/// Sends one request due at `intended` (seconds after the origin).
fn fire(w: &Arc<Worker>, intended: Instant) {
    let job = &w.job;
    if job.in_flight.fetch_add(1, Ordering::AcqRel) >= job.max_vus {
        job.in_flight.fetch_sub(1, Ordering::AcqRel);
        w.stats.dropped();
        return;
    }
    w.local_in_flight.fetch_add(1, Ordering::AcqRel);
    let actual = Instant::now();
    w.stats.sent(actual.saturating_duration_since(intended));
    let w = w.clone();
    tokio::spawn(async move {
        let outcome = load::send(&w.pool, &*w.tpl, w.job.timeout).await;
        let ok = matches!(outcome, Outcome::Status(s) if w.job.spec.checks.passes(s));
        w.stats.done(outcome, ok, intended, actual);
        w.local_in_flight.fetch_sub(1, Ordering::AcqRel);
        w.job.in_flight.fetch_sub(1, Ordering::AcqRel);
    });
}

/// The open-model scheduler of one worker.
async fn open_loop(w: &Arc<Worker>) {
    let job = &w.job;
    let origin = job.origin;
    let dur = job.mode.duration().as_secs_f64();
    let n = w.count as f64;
    let r0 = job.rate_at(Duration::ZERO);
    // Interleave the workers: worker i's first send is at i/R.
    let mut last = if r0 > 0.0 { (w.index as f64 - n) / r0 } else { 0.0 };
    // While waiting, the intended time is never earlier than the previous
    // check: a rate increase applies from now on, without a burst.
    let mut floor = f64::NEG_INFINITY;
    let mut burst = 0u32;
    loop {
        if job.stop.load(Ordering::Relaxed) {
            return;
        }
        let now_s = origin.elapsed().as_secs_f64();
        if now_s >= dur {
            return;
        }
        let rate = job.rate_at(Duration::from_secs_f64(now_s));
        if rate <= 0.0 {
            last = now_s;
            floor = f64::NEG_INFINITY;
            tokio::time::sleep(RATE_POLL).await;
            continue;
        }
        let next = (last + n / rate).max(floor);
        if next >= dur {
            // The next send falls after the end; wait for the end (or a change).
            floor = now_s;
            tokio::time::sleep(RATE_POLL.min(Duration::from_secs_f64(dur - now_s))).await;
            continue;
        }
        if next > now_s {
            floor = now_s;
            burst = 0;
            let wait = next - now_s;
            let spin = spin_window().as_secs_f64();
            if wait > spin {
                let d = (wait - spin).min(RATE_POLL.as_secs_f64());
                tokio::time::sleep(Duration::from_secs_f64(d)).await;
            } else {
                tokio::task::yield_now().await;
            }
            continue;
        }
        fire(w, origin + Duration::from_secs_f64(next.max(0.0)));
        last = next;
        floor = f64::NEG_INFINITY;
        burst += 1;
        if burst >= 16 {
            // Behind schedule: let responses make progress between sends.
            burst = 0;
            tokio::task::yield_now().await;
        }
    }
}

/// Closed loop: `connections` (this worker's share) each send as fast as
/// their responses come back.
async fn closed_loop(w: &Arc<Worker>, connections: u32) {
    let n = w.count as u32;
    let mine = connections / n + u32::from((w.index as u32) < connections % n);
    let end = w.job.origin + w.job.mode.duration();
    let mut tasks = Vec::new();
    for _ in 0..mine {
        let w = w.clone();
        tasks.push(tokio::spawn(async move { closed_conn(&w, end).await }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

fn closed_running(w: &Worker, end: Instant) -> bool {
    !w.job.stop.load(Ordering::Relaxed) && Instant::now() < end
}

/// Records one closed-loop request.
fn closed_record(w: &Worker, outcome: Outcome, actual: Instant) {
    let ok = matches!(outcome, Outcome::Status(s) if w.job.spec.checks.passes(s));
    w.stats.closed_done(outcome, ok, actual);
    w.local_in_flight.fetch_sub(1, Ordering::Relaxed);
    w.job.in_flight.fetch_sub(1, Ordering::Relaxed);
}

fn closed_begin(w: &Worker) -> Instant {
    w.job.in_flight.fetch_add(1, Ordering::Relaxed);
    w.local_in_flight.fetch_add(1, Ordering::Relaxed);
    Instant::now()
}

/// One closed-loop connection: each response's end sends the next request;
/// a failed exchange opens a new connection. HTTP/2 uses the worker's shared
/// connection.
async fn closed_conn(w: &Worker, end: Instant) {
    let timeout = w.job.timeout;
    if w.pool.endpoint().http2 {
        return closed_h2(w, end).await;
    }
    let head = w.tpl.is_head();
    while closed_running(w, end) {
        let mut actual = closed_begin(w);
        let deadline = tokio::time::Instant::from_std(actual + timeout);
        let mut conn = match H1Conn::open(w.pool.endpoint(), &w.stats.io, deadline).await {
            Ok(c) => c,
            Err(k) => {
                closed_record(w, Outcome::Error(k), actual);
                if k == client::ErrorKind::Connect {
                    // Refused at once: do not spin on a target that is down.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                continue;
            }
        };
        loop {
            let deadline = tokio::time::Instant::from_std(actual + timeout);
            let outcome = match conn.exchange(&w.tpl.next_h1(), head, deadline).await {
                Ok(s) => Outcome::Status(s),
                Err(k) => Outcome::Error(k),
            };
            closed_record(w, outcome, actual);
            if !conn.reusable() || !closed_running(w, end) {
                break;
            }
            actual = closed_begin(w);
        }
    }
}

/// Closed loop over the worker's shared HTTP/2 connection.
async fn closed_h2(w: &Worker, end: Instant) {
    while closed_running(w, end) {
        let actual = closed_begin(w);
        let outcome = load::send(&w.pool, &*w.tpl, w.job.timeout).await;
        closed_record(w, outcome, actual);
    }
}

/// Why starting a job was refused.
#[derive(Debug, PartialEq)]
pub enum StartError {
    /// Invalid spec or id (400), naming the field.
    Invalid(String),
    /// Same id, different spec (409).
    Conflict(String),
}

/// Jobs by id, plus ids in start order.
type Jobs = (HashMap<String, Arc<Job>>, Vec<String>);

/// All jobs of this agent.
pub struct Registry {
    jobs: Mutex<Jobs>,
    workers: usize,
}

impl Registry {
    /// A registry whose jobs use `workers` threads (0: one per core).
    pub fn new(workers: usize) -> Registry {
        let workers =
            if workers == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { workers };
        Registry { jobs: Mutex::new((HashMap::new(), Vec::new())), workers }
    }

    /// Starts a job, or returns the existing one if `spec` is the same.
    /// The flag is true when the job was created.
    pub fn start(&self, id: &str, spec: JobSpec) -> Result<(Arc<Job>, bool), StartError> {
        if id.is_empty()
            || id.len() > 64
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(StartError::Invalid(format!("id: {id:?} must be 1 to 64 characters of A-Z a-z 0-9 - _ .")));
        }
        let mut g = self.jobs.lock().expect("registry lock");
        if let Some(j) = g.0.get(id) {
            if j.spec == spec {
                j.touch();
                return Ok((j.clone(), false));
            }
            return Err(StartError::Conflict(format!("job {id:?} already exists with a different spec")));
        }
        let job = Job::new(id, spec, self.workers).map_err(StartError::Invalid)?;
        // Forget the oldest finished jobs beyond the bound.
        let finished: Vec<String> =
            g.1.iter().filter(|k| g.0.get(*k).is_some_and(|j| j.state().is_terminal())).cloned().collect();
        if finished.len() >= KEEP_FINISHED {
            for k in &finished[..=finished.len() - KEEP_FINISHED] {
                g.0.remove(k);
            }
            let (map, order) = &mut *g;
            order.retain(|k| map.contains_key(k));
        }
        g.0.insert(id.to_string(), job.clone());
        g.1.push(id.to_string());
        drop(g);
        job.launch();
        Ok((job, true))
    }

    /// A job by id.
    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        self.jobs.lock().expect("registry lock").0.get(id).cloned()
    }

    /// Every job, oldest first.
    pub fn all(&self) -> Vec<Arc<Job>> {
        let g = self.jobs.lock().expect("registry lock");
        g.1.iter().filter_map(|k| g.0.get(k).cloned()).collect()
    }

    /// Stops every job (shutdown) and waits for them, up to `wait` more.
    pub async fn stop_all(&self, reason: &str, wait: Duration) {
        let jobs = self.all();
        for j in &jobs {
            j.request_stop(reason, wait);
        }
        let deadline = tokio::time::Instant::now() + wait + Duration::from_secs(1);
        for j in jobs {
            let mut rx = j.finished();
            let _ = tokio::time::timeout_at(deadline, rx.wait_for(|d| *d)).await;
        }
    }
}
