//! A job's life, pending → running → stopping → finished (or failed): its
//! supervisor prepares what the workers need (data file, template,
//! endpoint), waits for the start time, runs the worker threads and records
//! the end; its collector closes each second, notes the rate aimed at,
//! notices the end of the profile and stops a job whose lease expired.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use alilo_agent_api::{HttpVersion, JobState};

use super::job::{DEFAULT_STOP_WAIT, Job};
use super::worker::{self, Load, Worker};
use crate::client::fetch::fetch;
use crate::client::{Endpoint, Pool};
use crate::js::driver::run_once;
use crate::js::executor::Plan;
use crate::js::vu::{Call, Exports};
use crate::js::{Files, ScriptShared, VuConfig};
use crate::template::{self, Data, Template};
use alilo_agent_api::script::ScriptLoad;

/// How long to wait for data files.
const DATA_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the collector closes seconds and checks the end and the lease.
const COLLECT_EVERY: Duration = Duration::from_millis(100);

/// What the workers of a job send, once prepared.
enum Prepared {
    Simple(Arc<Template>, Arc<Endpoint>),
    Script(Arc<ScriptShared>),
}

impl Job {
    /// Starts the job's supervisor and collector on the current tokio runtime.
    pub fn launch(self: &Arc<Self>) {
        let job = self.clone();
        tokio::spawn(async move { job.supervise().await });
        let job = self.clone();
        tokio::spawn(async move { job.collect_loop().await });
    }

    /// A script job: its files fetched, its init code run once and its
    /// `setup()` run, before any load.
    async fn prepare_script(self: &Arc<Self>, spec: &alilo_agent_api::ScriptSpec) -> Result<Arc<ScriptShared>, String> {
        let files = Files::load(spec, self.spec.tls_verify).await?;
        crate::js::check::compile(&files).map_err(|e| format!("script: {e}"))?;
        let iteration_timeout = match &spec.iteration_timeout {
            Some(t) => alilo_agent_api::parse_duration(t).map_err(|e| format!("script.iteration_timeout: {e}"))?,
            None => crate::js::DEFAULT_ITERATION_TIMEOUT,
        };
        let config = VuConfig {
            iteration_timeout,
            request_timeout: self.timeout,
            tls_verify: self.spec.tls_verify,
            http2: self.spec.http == HttpVersion::Http2,
            ..VuConfig::default()
        };
        let shared = Arc::new(ScriptShared::new(files, spec.env.clone(), config, self.mode.duration()));
        let _ = self.script.set(shared.clone());
        let (job, sh, stats) = (self.clone(), shared.clone(), self.workers[0].clone());
        let (exports, end) = tokio::task::spawn_blocking(move || run_once(job, sh, stats, Call::Setup))
            .await
            .map_err(|e| format!("script: setup: {e}"))?
            .map_err(|e| format!("script: {e}"))?;
        let plan = self.plan_of(&spec.load, &exports)?;
        let needs_default = plan.as_ref().is_none_or(|p| p.scenarios.iter().any(|s| s.def.exec.is_none()));
        if needs_default && !exports.default {
            return Err("script: the entry module has no default export to run as an iteration".into());
        }
        if let Some(e) = end.error {
            return Err(format!("script: setup() failed: {}", e.message));
        }
        *shared.setup_data.lock().expect("setup lock") = end.result;
        if let Some(p) = plan {
            let _ = self.plan.set(Arc::new(p));
        }
        Ok(shared)
    }

    /// The scenarios the job runs instead of its profile, if any
    /// (`script.load`, see `ScriptLoad`), read from the script's `options`
    /// as its init code exported them. Every `exec` must name an exported
    /// function.
    fn plan_of(&self, load: &ScriptLoad, exports: &Exports) -> Result<Option<Plan>, String> {
        let own = match &exports.options {
            Some(j) => Some(serde_json::from_str::<serde_json::Value>(j).map_err(|e| format!("script: options: {e}"))?),
            None => None,
        };
        let (resolved, reference, clock, cap) = match load {
            ScriptLoad::Profile => return Ok(None),
            ScriptLoad::Options { options, reference_rps } => {
                let r = crate::js::options::resolve(options.as_ref().or(own.as_ref()))
                    .map_err(|e| format!("script: {e}"))?;
                // The scenarios' clock: the job's when it is fixed, else once
                // setup() ran and the VUs are ready.
                let clock = self.spec.start_at_ms.map(|_| self.origin);
                (r, reference_rps.unwrap_or(0.0), clock, None)
            }
            ScriptLoad::Auto { reference_rps } => {
                if !crate::js::options::looks_closed(own.as_ref()) {
                    return Ok(None);
                }
                let r = crate::js::options::resolve(own.as_ref()).map_err(|e| format!("script: {e}"))?;
                if !r.explicit || !r.has_closed_model() {
                    return Ok(None);
                }
                (r, *reference_rps, Some(self.origin), Some(self.mode.duration()))
            }
        };
        for s in &resolved.scenarios {
            if let Some(f) = &s.exec
                && !exports.functions.contains(f)
            {
                return Err(format!("script: options.scenarios.{}.exec: {f} is not an exported function", s.name));
            }
        }
        for w in &resolved.warnings {
            tracing::warn!(job = %self.id, "script: {w}");
        }
        let (target, scale) = self.live_rate();
        let factor = if reference > 0.0 { scale * target / reference } else { scale };
        let global = crate::js::options::global_tags(own.as_ref()).map_err(|e| format!("script: {e}"))?;
        Ok(Some(Plan::new(resolved.scenarios, &global, reference, clock, cap, self.workers.len(), factor)))
    }

    /// Runs the script's `teardown()` once the workers are done.
    async fn teardown(self: &Arc<Self>) {
        let Some(shared) = self.script.get().cloned() else { return };
        let (job, stats) = (self.clone(), self.workers[0].clone());
        let r = tokio::task::spawn_blocking(move || run_once(job, shared, stats, Call::Teardown)).await;
        if let Ok(Ok((_, end))) = r
            && let Some(e) = end.error
        {
            tracing::warn!(job = %self.id, message = %e.message, "script teardown() failed");
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
        let ep = Endpoint::resolve(&uri, http2, self.spec.tls_verify, self.allow.policy())
            .await
            .map_err(|e| format!("request.url: {e}"))?;
        Ok((Arc::new(tpl), Arc::new(ep)))
    }

    /// Waits `d` or until a stop is asked: whether a stop was asked.
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

    async fn supervise(self: Arc<Self>) {
        let load = match &self.spec.script {
            Some(s) => {
                let s = s.clone();
                match self.prepare_script(&s).await {
                    Ok(shared) => Prepared::Script(shared),
                    Err(e) => return self.fail(e),
                }
            }
            None => match self.prepare().await {
                Ok((tpl, ep)) => Prepared::Simple(tpl, ep),
                Err(e) => return self.fail(e),
            },
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
        let count = self.workers.len();
        let mut waits = Vec::new();
        for (index, stats) in self.workers.iter().enumerate() {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            waits.push(rx);
            let l = match &load {
                Prepared::Simple(tpl, ep) => {
                    Load::Simple(tpl.clone(), Arc::new(Pool::new(ep.clone(), stats.io.clone())))
                }
                Prepared::Script(shared) => Load::Script(shared.clone()),
            };
            let w = Arc::new(Worker::new(self.clone(), index, count, l, stats.clone()));
            let spawned = std::thread::Builder::new().name(format!("alilo-worker-{index}")).spawn(move || {
                worker::run(w);
                let _ = tx.send(());
            });
            if let Err(e) = spawned {
                self.request_stop(&format!("cannot start a worker thread: {e}"), Duration::ZERO);
            }
        }
        for w in waits {
            let _ = w.await;
        }
        if matches!(load, Prepared::Script(_)) && !self.state().is_terminal() {
            self.teardown().await;
        }
        self.finish();
    }

    /// Fails the job at once (a script's VU ran out of memory, its init
    /// code failed): it stops issuing and ends in `failed` with `reason`.
    pub fn fail_now(&self, reason: String) {
        if !self.state().is_terminal() {
            self.fail(reason);
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

    fn finish(&self) {
        let mut r = self.rec.lock().expect("job lock");
        if r.state.is_terminal() {
            return;
        }
        r.collected.collect(&self.workers, None);
        if r.issuing_since.is_some() && r.issuing_until.is_none() {
            r.issuing_until = Some(Instant::now().min(self.origin + self.duration()));
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

    async fn collect_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(COLLECT_EVERY);
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
                    if elapsed >= self.duration() {
                        let end = self.origin + self.duration();
                        self.advance_expected(&mut r, end);
                        r.state = JobState::Stopping;
                        r.issuing_until = Some(end);
                    }
                    r.collected.script_vus = self.script_vus();
                    r.collected.collect(&self.workers, Some(sec));
                } else if r.state == JobState::Stopping {
                    r.collected.script_vus = self.script_vus();
                    r.collected.collect(&self.workers, Some(elapsed.as_secs()));
                }
            }
            if let Some(lease) = self.lease
                && self.untouched_for() > lease
            {
                self.request_stop(
                    &format!("lease expired: no read or change for {}", alilo_agent_api::format_duration(lease)),
                    DEFAULT_STOP_WAIT,
                );
            }
        }
    }
}
