//! One worker thread of a job: its own single-threaded runtime, its own
//! connection pool and its own statistics. It runs the job's loop (open or
//! closed), then waits a bounded time for its requests in flight and drops
//! its connections. [`Worker::fire`] is how the open loop sends one request:
//! the `max_vus` cap, the in-flight counts and the recording of the outcome.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::job::{Job, Mode};
use super::{closed_loop, open_loop};
use crate::client::{Outcome, Pool, load};
use crate::js::ScriptShared;
use crate::js::driver::ScriptWorker;
use crate::stats::WorkerStats;
use crate::template::Template;

/// What a worker sends.
pub enum Load {
    /// A simple script: the template, on this worker's connections.
    Simple(Arc<Template>, Arc<Pool>),
    /// An extended script: iterations of its VUs.
    Script(Arc<ScriptShared>),
}

/// One worker thread's share of a job.
pub struct Worker {
    /// The job.
    pub job: Arc<Job>,
    /// This worker's index, `0..count`.
    pub index: usize,
    /// Workers of the job.
    pub count: usize,
    /// What to send.
    pub load: Load,
    /// This worker's statistics.
    pub stats: Arc<WorkerStats>,
    local_in_flight: AtomicU64,
}

impl Worker {
    /// A worker of `job` (not running: see [`run`]).
    pub fn new(job: Arc<Job>, index: usize, count: usize, load: Load, stats: Arc<WorkerStats>) -> Worker {
        Worker { job, index, count, load, stats, local_in_flight: AtomicU64::new(0) }
    }

    /// The template (simple jobs only).
    pub fn tpl(&self) -> &Template {
        match &self.load {
            Load::Simple(t, _) => t,
            Load::Script(_) => unreachable!("a script job has no template"),
        }
    }

    /// The connections (simple jobs only).
    pub fn pool(&self) -> &Pool {
        match &self.load {
            Load::Simple(_, p) => p,
            Load::Script(_) => unreachable!("a script job has no template pool"),
        }
    }

    /// Counts a request in flight (job and worker).
    pub fn begin(&self) {
        self.job.in_flight.fetch_add(1, Ordering::AcqRel);
        self.local_in_flight.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts a request no longer in flight.
    pub fn end(&self) {
        self.local_in_flight.fetch_sub(1, Ordering::AcqRel);
        self.job.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether a response passes the job's checks.
    pub fn passes(&self, outcome: Outcome) -> bool {
        matches!(outcome, Outcome::Status(s) if self.job.spec.checks.passes(s))
    }

    /// Sends one request due at `intended`, unless `max_vus` are in flight
    /// (then it is dropped and counted).
    pub fn fire(self: &Arc<Self>, intended: Instant) {
        let job = &self.job;
        if job.in_flight.fetch_add(1, Ordering::AcqRel) >= job.max_vus {
            job.in_flight.fetch_sub(1, Ordering::AcqRel);
            self.stats.dropped();
            return;
        }
        self.local_in_flight.fetch_add(1, Ordering::AcqRel);
        let actual = Instant::now();
        self.stats.sent(actual.saturating_duration_since(intended));
        let w = self.clone();
        tokio::spawn(async move {
            let mut body = load::FailedBody::new(&w.job.spec.checks);
            let outcome = load::send_with(w.pool(), w.tpl(), w.job.timeout, &mut body).await;
            let passes = w.passes(outcome);
            w.stats.done(outcome, passes, intended, actual);
            if !passes {
                w.job.failures.record(outcome, super::job::unix_ms(), &body.bytes);
            }
            w.end();
        });
    }
}

/// The body of a worker thread.
pub fn run(w: Arc<Worker>) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            w.job.request_stop(&format!("cannot start a worker runtime: {e}"), Duration::ZERO);
            return;
        }
    };
    if let Load::Script(shared) = &w.load {
        return run_script(&w, shared.clone(), rt);
    }
    rt.block_on(async {
        match w.job.mode {
            Mode::Open(_) => open_loop::run(&w, |t| w.fire(t)).await,
            Mode::Closed { connections, .. } => closed_loop::run(&w, connections).await,
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
        w.pool().clear();
    });
    // Requests still in flight are abandoned with the runtime.
    let left = w.local_in_flight.swap(0, Ordering::AcqRel);
    w.job.in_flight.fetch_sub(left, Ordering::AcqRel);
    drop(rt);
}

/// VUs a script job's worker creates at most before its first iteration.
const MAX_PREALLOCATED_VUS: u64 = 32;

/// The body of a script job's worker thread: the open loop starts
/// iterations on this worker's VUs; at the end, running iterations get the
/// same bounded wait as requests in flight, then every VU is ended.
fn run_script(w: &Arc<Worker>, shared: Arc<ScriptShared>, rt: tokio::runtime::Runtime) {
    let local = tokio::task::LocalSet::new();
    let sw = Rc::new(ScriptWorker::new(w.job.clone(), shared, w.stats.clone(), w.index, w.count));
    local.block_on(&rt, async {
        if let Some(plan) = w.job.plan.get() {
            crate::js::executor::run(sw.clone(), plan.clone(), w.index, w.count).await;
        } else {
            // Enough VUs for 10 ms of this worker's share of the top rate.
            let share = w.job.spec.profile.rps * w.job.spec.scale / w.count as f64;
            sw.preallocate(((share * 0.01).ceil() as u64).clamp(1, MAX_PREALLOCATED_VUS));
            open_loop::run(w, |t| sw.fire(t)).await;
        }
        let wait = if w.job.stop.load(Ordering::SeqCst) {
            *w.job.stop_wait.lock().expect("stop lock")
        } else {
            w.job
                .timeout
                .min(Duration::from_secs(10))
                .max(sw.shared.config.iteration_timeout.min(Duration::from_secs(60)))
        };
        let deadline = Instant::now() + wait;
        while sw.busy() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    // Iterations still running are ended (their VUs unwind) with the tasks.
    sw.shared.stopping.store(true, Ordering::Relaxed);
    {
        let _in_rt = rt.enter();
        drop(local);
    }
    let left = sw.busy();
    w.job.in_flight.fetch_sub(left, Ordering::AcqRel);
    sw.shared.vus_active.fetch_sub(left, Ordering::Relaxed);
    sw.shutdown();
    drop(sw);
    drop(rt);
}
