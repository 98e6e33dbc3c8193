//! The async side of VUs on one worker thread: a [`Pool`] of VUs (created on
//! demand up to the worker's share of `max_vus`), one iteration per tick of
//! the open-model scheduler ([`ScriptWorker::fire`]), and the driving loop
//! that performs what a VU yields (HTTP through the worker's
//! [`Client`], sleeps) and records it in the worker's per-second stats.
//! Everything here runs on the worker's current-thread runtime, inside a
//! `LocalSet` (VUs are not `Send`).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use alilo_agent_api::script::{ExceptionSample, MAX_EXCEPTION_SAMPLES};

use super::ScriptShared;
use super::plan::ScenarioInfo;
use super::pool::Pool;
use super::vu::{Call, CallEnd, HttpCall, Input, Output, Start, Vu};
use crate::client::exchange::{Client, HttpRequest, HttpResponse};
use crate::client::{ErrorKind, Outcome};
use crate::engine::Job;
use crate::stats::WorkerStats;

/// Longest stack kept with an exception sample.
const MAX_STACK_CHARS: usize = 4000;

/// One worker's VUs and client.
pub struct ScriptWorker {
    /// The job.
    pub job: Arc<Job>,
    /// The job's shared script state.
    pub shared: Arc<ScriptShared>,
    client: Client,
    stats: Arc<WorkerStats>,
    /// The VUs of the open model ([`ScriptWorker::fire`]).
    pool: Rc<Pool>,
    busy: Cell<u64>,
}

impl ScriptWorker {
    /// The VUs of worker `index` of `count`: at most its share of `max_vus`.
    pub fn new(job: Arc<Job>, shared: Arc<ScriptShared>, stats: Arc<WorkerStats>, index: usize, count: usize) -> Self {
        let cap = super::plan::share(job.max_vus, index, count).max(1);
        let client = Client::new(stats.io.clone()).allowing(job.allow.clone());
        let pool = Rc::new(Pool::new(job.clone(), shared.clone(), cap));
        ScriptWorker { job, shared, client, stats, pool, busy: Cell::new(0) }
    }

    /// Iterations running on this worker.
    pub fn busy(&self) -> u64 {
        self.busy.get()
    }

    /// Counts an iteration dropped for want of a free VU.
    pub fn drop_iteration(&self) {
        self.stats.script_dropped();
    }

    /// Starts one iteration due at `intended`, on a free VU (created if the
    /// pool may grow); without one it is dropped and counted.
    pub fn fire(self: &Rc<Self>, intended: Instant) {
        let Some(mut vu) = self.pool.try_take() else {
            self.stats.script_dropped();
            return;
        };
        self.busy.set(self.busy.get() + 1);
        self.job.in_flight.fetch_add(1, Ordering::AcqRel);
        self.shared.vus_active.fetch_add(1, Ordering::Relaxed);
        self.shared.iterations_started.fetch_add(1, Ordering::Relaxed);
        let actual = Instant::now();
        self.stats.iteration_started(actual.saturating_duration_since(intended));
        let me = self.clone();
        tokio::task::spawn_local(async move {
            let iteration = vu.iterations;
            let end = me.call(&mut vu, Call::Default).await;
            me.shared.vus_active.fetch_sub(1, Ordering::Relaxed);
            me.job.in_flight.fetch_sub(1, Ordering::AcqRel);
            me.busy.set(me.busy.get() - 1);
            me.shared.iterations_completed.fetch_add(1, Ordering::Relaxed);
            let us = actual.elapsed().as_micros() as u64;
            me.finish(end, us, vu.id, iteration);
            me.pool.give(vu);
        });
    }

    /// Starts creating `n` VUs (on helper threads) as the load starts;
    /// iterations due before the first is ready are dropped and counted.
    pub fn preallocate(&self, n: u64) {
        self.pool.preallocate(n);
    }

    /// Records a call's end; a fatal one fails the job, an abort stops it.
    fn finish(&self, end: CallEnd, us: u64, vu: u64, iteration: u64) {
        let mut sample = None;
        if let Some(e) = &end.error {
            let n = self.shared.exceptions_logged.fetch_add(1, Ordering::Relaxed);
            if n < MAX_EXCEPTION_SAMPLES as u64 {
                tracing::warn!(job = %self.job.id, message = %e.message, stack = %e.stack, "script exception");
                sample = Some(ExceptionSample {
                    message: e.message.clone(),
                    location: super::vu::location(&e.stack).unwrap_or_default(),
                    stack: e.stack.chars().take(MAX_STACK_CHARS).collect(),
                    vu,
                    iteration,
                });
            }
        }
        let fatal = end.fatal.clone();
        self.stats.script_iteration(us, end.events, end.error.as_ref().map(|e| e.message.as_str()), sample);
        if let Some(f) = fatal {
            self.job.fail_now(format!("script: {f}"));
        } else if let Some(reason) = self.shared.aborted() {
            self.job.request_stop(&format!("aborted by the script: {reason}"), crate::engine::DEFAULT_STOP_WAIT);
        }
    }

    /// Drives one call of `vu` to its end.
    pub async fn call(self: &Rc<Self>, vu: &mut Vu, call: Call) -> CallEnd {
        self.call_in(vu, call, None, None).await
    }

    /// Runs one iteration of a scenario on `vu` (a closed-model executor's
    /// VU loop calls it) and records it. When `cut` fires (the scenario's
    /// graceful stop or ramp-down ran out) the iteration is interrupted: its
    /// waits throw and it is not counted as an iteration or an exception.
    /// `lag`: how late an arrival-rate iteration starts.
    pub async fn iterate(
        self: &Rc<Self>,
        vu: &mut Vu,
        scenario: &Arc<ScenarioInfo>,
        in_scenario: u64,
        cut: &Cut,
        lag: Option<std::time::Duration>,
    ) {
        self.busy.set(self.busy.get() + 1);
        self.job.in_flight.fetch_add(1, Ordering::AcqRel);
        self.shared.vus_active.fetch_add(1, Ordering::Relaxed);
        self.shared.iterations_started.fetch_add(1, Ordering::Relaxed);
        if let Some(lag) = lag {
            self.stats.iteration_started(lag);
        }
        let started = Instant::now();
        let iteration = vu.iterations;
        let call = Start {
            call: Call::Default,
            iteration,
            deadline: started + self.shared.config.iteration_timeout,
            scenario: Some(scenario.clone()),
            iteration_in_scenario: Some(in_scenario),
        };
        let mut end = self.call_in(vu, Call::Default, Some(call), Some(cut)).await;
        self.shared.vus_active.fetch_sub(1, Ordering::Relaxed);
        self.job.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.busy.set(self.busy.get() - 1);
        if cut.fired() && end.fatal.is_none() {
            // Interrupted by the scenario's end: k6 counts it apart, not as
            // an iteration; what it recorded stays.
            self.stats.script_events(std::mem::take(&mut end.events));
            return;
        }
        self.shared.iterations_completed.fetch_add(1, Ordering::Relaxed);
        self.finish(end, started.elapsed().as_micros() as u64, vu.id, iteration);
    }

    /// Drives one call of `vu` to its end (`start`: a scenario's, else the
    /// plain call), giving up its waits once `cut` fires.
    async fn call_in(self: &Rc<Self>, vu: &mut Vu, call: Call, start: Option<Start>, cut: Option<&Cut>) -> CallEnd {
        let start = start.unwrap_or_else(|| Start {
            call,
            iteration: vu.iterations,
            deadline: Instant::now() + self.shared.config.iteration_timeout,
            scenario: None,
            iteration_in_scenario: None,
        });
        let deadline = start.deadline;
        vu.iterations += 1;
        let mut out = vu.send(Input::Start(start));
        let until = tokio::time::Instant::from_std(deadline);
        loop {
            if let Some(c) = cut
                && c.fired()
                && !matches!(out, Output::Done(_) | Output::Ready(_) | Output::Gone)
            {
                out = vu.send(Input::Quit);
                continue;
            }
            out = match out {
                // The request's own timeout already ends at the iteration's
                // deadline (set when it was built): no second timer.
                Output::Http(mut c) => {
                    let req = std::mem::replace(&mut c.req, HttpRequest::new(http::Method::GET, String::new()));
                    // Boxed: the exchange's future is large, and inline it
                    // would be copied into every iteration's task when it
                    // is spawned (callgrind: ~2,700 instructions each).
                    match unless_cut(cut, Box::pin(self.send(req, &c))).await {
                        Some(r) => vu.send(Input::Http(Box::new(r), c)),
                        None => vu.send(Input::Quit),
                    }
                }
                Output::Batch(calls) => {
                    let handles: Vec<_> = calls
                        .into_iter()
                        .map(|c| {
                            let me = self.clone();
                            tokio::task::spawn_local(async move { me.http(c).await })
                        })
                        .collect();
                    let all = async {
                        let mut out = Vec::with_capacity(handles.len());
                        for h in handles {
                            out.push(h.await.ok());
                        }
                        out
                    };
                    match unless_cut(cut, tokio::time::timeout_at(until, all)).await {
                        Some(Ok(rs)) if rs.iter().all(Option::is_some) => {
                            vu.send(Input::Batch(rs.into_iter().flatten().collect()))
                        }
                        Some(_) => vu.send(Input::TimedOut),
                        None => vu.send(Input::Quit),
                    }
                }
                Output::Sleep(d) => {
                    let wake = tokio::time::Instant::now() + d;
                    if wake > until {
                        match unless_cut(cut, tokio::time::sleep_until(until)).await {
                            Some(()) => vu.send(Input::TimedOut),
                            None => vu.send(Input::Quit),
                        }
                    } else {
                        match unless_cut(cut, tokio::time::sleep_until(wake)).await {
                            Some(()) => vu.send(Input::Woke),
                            None => vu.send(Input::Quit),
                        }
                    }
                }
                Output::Done(end) => return *end,
                Output::Ready(_) | Output::Gone => {
                    return CallEnd { fatal: Some("a VU ended unexpectedly".into()), ..Default::default() };
                }
            };
        }
    }

    /// Sends one request of a batch and records every hop of it; hands
    /// the call back for its next hop.
    async fn http(&self, mut c: HttpCall) -> (HttpResponse, Box<HttpCall>) {
        let req = std::mem::replace(&mut c.req, HttpRequest::new(http::Method::GET, String::new()));
        (self.send(req, &c).await, Box::new(c))
    }

    /// Sends `req` of call `c` and records every hop of it; a failed one
    /// goes into the job's failed-request sample, as a simple request's does.
    async fn send(&self, req: HttpRequest, c: &HttpCall) -> HttpResponse {
        let resp = self.client.request(req).await;
        let last = resp.redirects.len();
        for (i, hop) in resp.hops().enumerate() {
            let ok = hop.error.is_none()
                && (c.expected.iter().any(|(lo, hi)| (*lo..=*hi).contains(&hop.status))
                    || (c.challenge && hop.status == 401));
            self.stats.script_request(&c.name, &c.group, &c.tags, hop.outcome(), ok, hop.started, hop.ended);
            // A host off the allow-list was logged by the client already.
            let refused = matches!(hop.outcome(), Outcome::Error(ErrorKind::NotAllowed));
            if !ok && !refused {
                let what = if hop.url.split(['?', '#']).next() == Some(c.name.as_str()) {
                    format!("{} {}", hop.method, hop.url)
                } else {
                    format!("{} {} ({})", hop.method, hop.url, c.name)
                };
                // Only the last hop's body is kept by the client.
                let body = if i == last { &resp.body[..] } else { &[] };
                let error = hop.error.as_ref().map(|e| e.message.as_str());
                let at = crate::engine::job::unix_ms();
                self.job.failures.record_script(hop.outcome(), at, &what, error, body);
            }
        }
        resp
    }

    /// Ends the idle VUs and closes the connections.
    pub fn shutdown(&self) {
        self.pool.clear();
        self.client.clear();
    }
}

/// Interrupts a scenario's iteration from outside: when its graceful stop
/// or ramp-down runs out.
#[derive(Default)]
pub struct Cut {
    fired: Cell<bool>,
    notify: tokio::sync::Notify,
}

impl Cut {
    /// Interrupts the iteration (now, or the next one that starts).
    pub fn fire(&self) {
        self.fired.set(true);
        self.notify.notify_waiters();
    }

    /// Whether it fired.
    pub fn fired(&self) -> bool {
        self.fired.get()
    }

    /// Arms it again (for the next iterations of a restarted VU).
    pub fn reset(&self) {
        self.fired.set(false);
    }

    async fn wait(&self) {
        loop {
            let n = self.notify.notified();
            if self.fired.get() {
                return;
            }
            n.await;
        }
    }
}

/// `f`'s output, or `None` once `cut` fires first.
async fn unless_cut<F: std::future::Future>(cut: Option<&Cut>, f: F) -> Option<F::Output> {
    match cut {
        None => Some(f.await),
        Some(c) => tokio::select! {
            r = f => Some(r),
            () = c.wait() => None,
        },
    }
}

/// Runs `setup()` or `teardown()` once, on a VU of its own (`__VU` 0) on
/// the current thread, recording its requests in `stats`. The init code
/// runs first, so an init error is reported here, before any load.
pub fn run_once(
    job: Arc<Job>,
    shared: Arc<ScriptShared>,
    stats: Arc<WorkerStats>,
    call: Call,
) -> Result<(super::vu::Exports, CallEnd), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let local = tokio::task::LocalSet::new();
    let r = local.block_on(&rt, async {
        let mut vu = Vu::new_special(shared.clone()).map_err(|e| format!("init failed: {e}"))?;
        let exports = vu.exports.clone();
        if matches!(call, Call::Setup) {
            shared.apply_options(exports.options.as_deref())?;
        }
        let wanted = match call {
            Call::Setup => exports.setup,
            Call::Teardown => exports.teardown,
            Call::Default => exports.default,
        };
        if !wanted {
            return Ok((exports, CallEnd::default()));
        }
        let w = Rc::new(ScriptWorker::new(job, shared, stats, 0, 1));
        let mut end = w.call(&mut vu, call).await;
        w.stats.script_events(std::mem::take(&mut end.events));
        w.shutdown();
        Ok((exports, end))
    });
    drop(local);
    drop(rt);
    r
}
