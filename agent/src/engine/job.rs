//! A job's shared state and what the control API does with it: read its
//! status, renew its lease, change its rate, ask it to stop. The state is
//! shared by the API, the job's supervisor and collector ([`super::lifecycle`])
//! and its workers ([`super::worker`]); the live rate and the stop flag are
//! atomics the workers read without a lock.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alilo_agent_api::profile::ProfileShape;
use alilo_agent_api::{Bucket, JobBrief, JobSpec, JobState, JobStatus, RateChange, parse_duration};
use tokio::sync::{Notify, watch};

use super::validate;
use crate::client::Allow;
use crate::js::ScriptShared;
use crate::js::executor::Plan;
use crate::stats::{Collected, WorkerStats};
use alilo_agent_api::targets::Policy;

/// Default wait for requests in flight on stop.
pub const DEFAULT_STOP_WAIT: Duration = Duration::from_secs(5);
/// Upper bound of any wait for requests in flight.
pub const MAX_STOP_WAIT: Duration = Duration::from_secs(60);

/// What the job does.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Open model: requests at the profile's rate.
    Open(ProfileShape),
    /// Closed loop: as fast as responses come back over `connections`.
    Closed {
        /// Connections in all (split across workers).
        connections: u32,
        /// How long.
        duration: Duration,
    },
}

impl Mode {
    /// How long the job issues requests.
    pub fn duration(&self) -> Duration {
        match self {
            Mode::Open(s) => s.duration,
            Mode::Closed { duration, .. } => *duration,
        }
    }
}

/// The job's mutable record, behind one lock.
pub struct Record {
    /// State now.
    pub state: JobState,
    /// Why it ended (or is ending).
    pub reason: Option<String>,
    /// Closed seconds and cumulative figures.
    pub collected: Collected,
    /// When issuing began.
    pub issuing_since: Option<Instant>,
    /// When issuing ended.
    pub issuing_until: Option<Instant>,
    /// Requests the profile asked for so far.
    pub expected: f64,
    /// Up to when `expected` is integrated.
    pub last_tick: Option<Instant>,
}

/// The live target and scale, read by the workers at every scheduling step.
struct LiveRate {
    target_bits: AtomicU64,
    scale_bits: AtomicU64,
}

impl LiveRate {
    fn target(&self) -> f64 {
        f64::from_bits(self.target_bits.load(Ordering::Relaxed))
    }
    fn scale(&self) -> f64 {
        f64::from_bits(self.scale_bits.load(Ordering::Relaxed))
    }
}

/// A job: its spec, live rate, counters and collected statistics.
pub struct Job {
    /// Caller-chosen id.
    pub id: String,
    /// The spec as accepted.
    pub spec: JobSpec,
    /// Open or closed loop.
    pub mode: Mode,
    /// When the profile's clock starts (`start_at_ms`, or creation).
    pub origin: Instant,
    rate: LiveRate,
    /// Cap on requests in flight.
    pub max_vus: u64,
    /// Requests in flight, all workers.
    pub in_flight: AtomicU64,
    /// Set once: stop issuing.
    pub stop: AtomicBool,
    pub(super) stop_notify: Notify,
    /// How long workers wait for requests in flight once stopped.
    pub stop_wait: Mutex<Duration>,
    /// Per request.
    pub timeout: Duration,
    pub(super) lease: Option<Duration>,
    last_touch: Mutex<Instant>,
    /// Its final status was read (a read after it ended): a leaving agent waits for it.
    final_read: AtomicBool,
    /// One statistics accumulator per worker.
    pub workers: Vec<Arc<WorkerStats>>,
    pub(super) rec: Mutex<Record>,
    pub(super) done: watch::Sender<bool>,
    /// A script job's shared state, once prepared.
    pub script: OnceLock<Arc<ScriptShared>>,
    /// The failed-request sample.
    pub failures: Arc<crate::failures::FailureLog>,
    /// The spec's target allow-lists, reporting refusals to `failures`.
    pub allow: Arc<Allow>,
    /// A script job's scenarios, when it runs them rather than its profile
    /// (set once prepared).
    pub plan: OnceLock<Arc<Plan>>,
}

/// Milliseconds since the Unix epoch now.
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Job {
    /// Validates `spec` and creates the job (not started: see [`Job::launch`]).
    pub fn new(id: &str, spec: JobSpec, workers: usize) -> Result<Arc<Job>, String> {
        let now_ms = unix_ms();
        validate::validate(&spec, now_ms)?;
        let shape = spec.profile.shape()?;
        let mode = match spec.closed_loop_connections {
            Some(c) => Mode::Closed { connections: c, duration: shape.duration },
            None => Mode::Open(shape),
        };
        let workers = match mode {
            Mode::Closed { connections, .. } => workers.min(connections as usize),
            // Each worker owns a share of a script's VUs: at least one.
            Mode::Open(_) if spec.script.is_some() => workers.min(spec.max_vus as usize),
            Mode::Open(_) => workers,
        }
        .max(1);
        let now = Instant::now();
        let (origin, origin_unix_ms) = match spec.start_at_ms {
            Some(at) if at >= now_ms => (now + Duration::from_millis(at - now_ms), at),
            Some(at) => (now.checked_sub(Duration::from_millis(now_ms - at)).unwrap_or(now), at),
            None => (now, now_ms),
        };
        let lease = parse_duration(&spec.lease).expect("validated");
        let failures = Arc::new(crate::failures::FailureLog::default());
        let allow = Arc::new(Allow::new(Policy::from_wire(&spec.allowed_targets)?, failures.clone()));
        let (done, _) = watch::channel(false);
        Ok(Arc::new(Job {
            id: id.to_string(),
            mode,
            origin,
            rate: LiveRate {
                target_bits: AtomicU64::new(spec.profile.rps.to_bits()),
                scale_bits: AtomicU64::new(spec.scale.to_bits()),
            },
            max_vus: spec.max_vus,
            in_flight: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            stop_notify: Notify::new(),
            stop_wait: Mutex::new(DEFAULT_STOP_WAIT),
            timeout: parse_duration(&spec.timeout).expect("validated"),
            lease: (!lease.is_zero()).then_some(lease),
            last_touch: Mutex::new(now),
            final_read: AtomicBool::new(false),
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
            script: OnceLock::new(),
            failures,
            allow,
            plan: OnceLock::new(),
        }))
    }

    /// A script job's VUs: (running an iteration, allocated).
    pub fn script_vus(&self) -> Option<(u64, u64)> {
        self.script.get().map(|s| (s.vus_active.load(Ordering::Relaxed), s.vus_created.load(Ordering::Relaxed)))
    }

    /// The live target rps and scale.
    pub fn live_rate(&self) -> (f64, f64) {
        (self.rate.target(), self.rate.scale())
    }

    /// How long after the origin the job starts work: its profile's
    /// duration, or the end of its scenarios on their clock.
    pub fn duration(&self) -> Duration {
        match self.plan.get() {
            Some(p) => {
                let clock = p.clock().unwrap_or_else(Instant::now);
                clock.saturating_duration_since(self.origin) + p.end
            }
            None => self.mode.duration(),
        }
    }

    /// Total rate aimed at, `t` after the origin.
    pub fn rate_at(&self, t: Duration) -> f64 {
        if let Some(p) = self.plan.get() {
            let Some(clock) = p.clock() else { return 0.0 };
            let Some(t) = (self.origin + t).checked_duration_since(clock) else { return 0.0 };
            return p.rate_at(t) * p.factor(self);
        }
        match self.mode {
            Mode::Open(shape) => shape.rate_at(self.rate.target(), t) * self.rate.scale(),
            Mode::Closed { .. } => 0.0,
        }
    }

    pub(super) fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }

    /// Whether the job was asked to stop (or failed).
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Renews the lease.
    pub fn touch(&self) {
        *self.last_touch.lock().expect("lease lock") = Instant::now();
    }

    /// Marks a read: once the job has ended, its final status has been read.
    pub fn read_now(&self) {
        if self.state().is_terminal() {
            self.final_read.store(true, Ordering::SeqCst);
        }
    }

    /// Whether a read came after the job ended.
    pub fn final_read(&self) -> bool {
        self.final_read.load(Ordering::SeqCst)
    }

    /// How long since the last renewal.
    pub(super) fn untouched_for(&self) -> Duration {
        self.last_touch.lock().expect("lease lock").elapsed()
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
        validate::rate_change(c)?;
        if let Some(s) = c.scale {
            self.rate.scale_bits.store(s.to_bits(), Ordering::Relaxed);
        }
        if let Some(t) = c.target_rps {
            self.rate.target_bits.store(t.to_bits(), Ordering::Relaxed);
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
            target_rps: self.rate.target(),
            scale: self.rate.scale(),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            elapsed_ms: if r.issuing_since.is_some() { self.elapsed().as_millis() as u64 } else { 0 },
            cursor,
            buckets,
            summary: r.collected.summary(issuing, r.expected),
        }
    }

    /// Integrates the rate aimed at (profile × live target and scale) up to
    /// `until`, in steps of at most 10 ms, for "achieved vs asked".
    pub(super) fn advance_expected(&self, r: &mut Record, until: Instant) {
        let Some(start) = r.last_tick.or(r.issuing_since) else {
            return;
        };
        let until = until.min(self.origin + self.duration());
        let mut t = start;
        while t < until {
            let step = (until - t).min(Duration::from_millis(10));
            let mid = (t + step / 2).saturating_duration_since(self.origin);
            r.expected += self.rate_at(mid) * step.as_secs_f64();
            t += step;
        }
        r.last_tick = Some(until.max(start));
    }
}
