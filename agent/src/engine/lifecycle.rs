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
use super::worker::{self, Worker};
use crate::client::fetch::fetch;
use crate::client::{Endpoint, Pool};
use crate::template::{self, Data, Template};

/// How long to wait for data files.
const DATA_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the collector closes seconds and checks the end and the lease.
const COLLECT_EVERY: Duration = Duration::from_millis(100);

impl Job {
    /// Starts the job's supervisor and collector on the current tokio runtime.
    pub fn launch(self: &Arc<Self>) {
        let job = self.clone();
        tokio::spawn(async move { job.supervise().await });
        let job = self.clone();
        tokio::spawn(async move { job.collect_loop().await });
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
        let count = self.workers.len();
        let mut waits = Vec::new();
        for (index, stats) in self.workers.iter().enumerate() {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            waits.push(rx);
            let w = Arc::new(Worker::new(
                self.clone(),
                index,
                count,
                tpl.clone(),
                Arc::new(Pool::new(ep.clone(), stats.io.clone())),
                stats.clone(),
            ));
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
        self.finish();
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
                    if elapsed >= self.mode.duration() {
                        let end = self.origin + self.mode.duration();
                        self.advance_expected(&mut r, end);
                        r.state = JobState::Stopping;
                        r.issuing_until = Some(end);
                    }
                    r.collected.collect(&self.workers, Some(sec));
                } else if r.state == JobState::Stopping {
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
