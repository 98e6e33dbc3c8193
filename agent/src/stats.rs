//! Statistics: per-worker per-second accumulators, folded by the job's
//! collector into closed [`Bucket`]s (a ring of the last 15 minutes) and
//! cumulative histograms. Nothing per request is kept: a request becomes a
//! few counter increments and three histogram records.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use alilo_agent_api::script::ExceptionSample;
use alilo_agent_api::{BUCKET_RING_SECONDS, Bucket, ErrorCounts, Percentiles, Summary, hist};
use hdrhistogram::Histogram;

use crate::client::{ErrorKind, IoCounters, Outcome};
use crate::js::acc::ScriptAcc;
use crate::js::vu::Events;

/// Counts of one second of one worker (or, merged, of the job).
pub struct SecondAcc {
    /// Second index since the job's origin.
    pub sec: u64,
    sent: u64,
    ok: u64,
    failed: u64,
    dropped: u64,
    status: BTreeMap<u16, u64>,
    errors: ErrorCounts,
    latency: Histogram<u64>,
    service: Histogram<u64>,
    lag: Histogram<u64>,
    script: Option<Box<ScriptAcc>>,
}

impl SecondAcc {
    fn script(&mut self) -> &mut ScriptAcc {
        self.script.get_or_insert_with(Default::default)
    }

    /// Count one ended request by status or error kind, and as ok or failed.
    fn count(&mut self, outcome: Outcome, ok: bool) {
        match outcome {
            Outcome::Status(s) => *self.status.entry(s).or_default() += 1,
            Outcome::Error(k) => match k.counted_as() {
                ErrorKind::Connect => self.errors.connect += 1,
                ErrorKind::Timeout => self.errors.timeout += 1,
                ErrorKind::Tls => self.errors.tls += 1,
                ErrorKind::Reset => self.errors.reset += 1,
                _ => self.errors.other += 1,
            },
        }
        if ok {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
    }

    /// A request with no schedule, counted as sent when it ended after `us`
    /// µs: its latency and service time are both `us`.
    fn unscheduled(&mut self, outcome: Outcome, ok: bool, us: u64) {
        self.sent += 1;
        self.count(outcome, ok);
        hist::record(&mut self.latency, us);
        hist::record(&mut self.service, us);
    }

    fn new(sec: u64) -> SecondAcc {
        SecondAcc {
            sec,
            sent: 0,
            ok: 0,
            failed: 0,
            dropped: 0,
            status: BTreeMap::new(),
            errors: ErrorCounts::default(),
            latency: hist::new(),
            service: hist::new(),
            lag: hist::new(),
            script: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.sent == 0 && self.dropped == 0 && self.ok == 0 && self.failed == 0 && self.script.is_none()
    }

    fn merge(&mut self, o: &SecondAcc) {
        self.sent += o.sent;
        self.ok += o.ok;
        self.failed += o.failed;
        self.dropped += o.dropped;
        for (k, v) in &o.status {
            *self.status.entry(*k).or_default() += v;
        }
        self.errors.add(&o.errors);
        let _ = self.latency.add(&o.latency);
        let _ = self.service.add(&o.service);
        let _ = self.lag.add(&o.lag);
        if let Some(s) = &o.script {
            self.script().merge(s);
        }
    }
}

/// One worker's open second plus the seconds it closed since the collector's
/// last visit. Guarded by a mutex that only its worker and the collector take.
pub struct WorkerStats {
    origin: Instant,
    inner: Mutex<(SecondAcc, Vec<SecondAcc>)>,
    /// Socket byte counters of this worker's connections.
    pub io: std::sync::Arc<IoCounters>,
}

impl WorkerStats {
    /// Stats whose seconds count from `origin`.
    pub fn new(origin: Instant) -> WorkerStats {
        WorkerStats { origin, inner: Mutex::new((SecondAcc::new(0), Vec::new())), io: Default::default() }
    }

    /// Runs `f` on the accumulator of the current second. The second is
    /// computed under the lock, so the collector never closes a second that
    /// can still receive events.
    fn with<R>(&self, f: impl FnOnce(&mut SecondAcc, Instant) -> R) -> R {
        let mut g = self.inner.lock().expect("stats lock");
        let now = Instant::now();
        let sec = now.saturating_duration_since(self.origin).as_secs();
        let (cur, done) = &mut *g;
        if sec > cur.sec {
            let old = std::mem::replace(cur, SecondAcc::new(sec));
            if !old.is_empty() {
                done.push(old);
            }
        }
        f(cur, now)
    }

    /// A request was sent `lag` after its intended time.
    pub fn sent(&self, lag: Duration) {
        self.with(|a, _| {
            a.sent += 1;
            hist::record(&mut a.lag, lag.as_micros() as u64);
        });
    }

    /// A request could not start (max VUs reached).
    pub fn dropped(&self) {
        self.with(|a, _| a.dropped += 1);
    }

    /// A request ended.
    pub fn done(&self, outcome: Outcome, ok: bool, intended: Instant, actual: Instant) {
        self.with(|a, now| {
            a.count(outcome, ok);
            hist::record(&mut a.latency, (now - intended).as_micros() as u64);
            hist::record(&mut a.service, (now - actual).as_micros() as u64);
        });
    }

    /// Closed loop: a request sent at `actual` ended. One lock per request
    /// (the hot path of the throughput benchmark): it is counted as sent when
    /// it completes, and has no schedule (no lag).
    pub fn closed_done(&self, outcome: Outcome, ok: bool, actual: Instant) {
        self.with(|a, now| a.unscheduled(outcome, ok, (now - actual).as_micros() as u64));
    }

    /// A request of a full exchange (a script's HTTP call, see
    /// [`crate::client::exchange`]) sent at `started`, ended at `ended`.
    /// Recorded afterwards, so it is counted as sent and completed in the
    /// current second, like the closed loop; it has no schedule (no lag), so
    /// latency and service time are both `ended - started`.
    pub fn exchanged(&self, outcome: Outcome, ok: bool, started: Instant, ended: Instant) {
        let us = ended.saturating_duration_since(started).as_micros() as u64;
        self.with(|a, _| a.unscheduled(outcome, ok, us));
    }

    /// A script's iteration started `lag` after its intended time.
    pub fn iteration_started(&self, lag: Duration) {
        self.with(|a, _| {
            hist::record(&mut a.lag, lag.as_micros() as u64);
            a.script();
        });
    }

    /// A script's iteration found no free VU.
    pub fn script_dropped(&self) {
        self.with(|a, _| {
            a.dropped += 1;
            a.script().dropped();
        });
    }

    /// A script's request (one hop) named `name` with tags `tags` (their
    /// key) ended: counted like [`WorkerStats::exchanged`] and in the
    /// per-name breakdown.
    #[allow(clippy::too_many_arguments)]
    pub fn script_request(
        &self,
        name: &str,
        group: &str,
        tags: &std::sync::Arc<str>,
        outcome: Outcome,
        ok: bool,
        started: Instant,
        ended: Instant,
    ) {
        let us = ended.saturating_duration_since(started).as_micros() as u64;
        self.with(|a, _| {
            a.unscheduled(outcome, ok, us);
            a.script().request(name, group, tags, ok, us);
        });
    }

    /// A script's iteration ended after `us` µs with its events, its
    /// exception, and that exception's stack for the first few of a job.
    pub fn script_iteration(&self, us: u64, events: Events, error: Option<&str>, sample: Option<ExceptionSample>) {
        self.with(|a, _| a.script().iteration(us, events, error, sample));
    }

    /// Checks and metrics of `setup()`/`teardown()` (not iterations).
    pub fn script_events(&self, events: Events) {
        self.with(|a, _| a.script().events(events));
    }

    /// Takes the seconds before `before` (all of them if `None`).
    fn take(&self, before: Option<u64>) -> Vec<SecondAcc> {
        let mut g = self.inner.lock().expect("stats lock");
        let (cur, done) = &mut *g;
        let close_cur = match before {
            Some(b) => cur.sec < b,
            None => true,
        };
        if close_cur {
            let next = cur.sec + 1;
            let old = std::mem::replace(cur, SecondAcc::new(next));
            if !old.is_empty() {
                done.push(old);
            }
        }
        std::mem::take(done)
    }
}

/// The job's closed buckets and cumulative figures.
pub struct Collected {
    origin_unix_ms: u64,
    /// Closed buckets, oldest first, at most [`BUCKET_RING_SECONDS`].
    pub ring: VecDeque<Bucket>,
    pending: BTreeMap<u64, SecondAcc>,
    targets: BTreeMap<u64, f64>,
    /// Next second to close.
    pub next_sec: u64,
    total: SecondAcc,
    bytes_sent: u64,
    bytes_received: u64,
    /// A script job's VU gauges (busy, allocated), read at each collection.
    pub script_vus: Option<(u64, u64)>,
}

impl Collected {
    /// Empty.
    pub fn new(origin_unix_ms: u64) -> Collected {
        Collected {
            origin_unix_ms,
            ring: VecDeque::new(),
            pending: BTreeMap::new(),
            targets: BTreeMap::new(),
            next_sec: 0,
            total: SecondAcc::new(0),
            bytes_sent: 0,
            bytes_received: 0,
            script_vus: None,
        }
    }

    /// Notes the rate aimed at during `sec` (first sample wins).
    pub fn note_target(&mut self, sec: u64, rps: f64) {
        self.targets.entry(sec).or_insert(rps);
    }

    /// Closes every second before `now_sec` (every second if `None`).
    pub fn collect(&mut self, workers: &[std::sync::Arc<WorkerStats>], now_sec: Option<u64>) {
        let (mut bs, mut br) = (0, 0);
        for w in workers {
            for acc in w.take(now_sec) {
                match self.pending.get_mut(&acc.sec) {
                    Some(p) => p.merge(&acc),
                    None => {
                        self.pending.insert(acc.sec, acc);
                    }
                }
            }
            bs += w.io.written.swap(0, Ordering::Relaxed);
            br += w.io.read.swap(0, Ordering::Relaxed);
        }
        self.bytes_sent += bs;
        self.bytes_received += br;
        let limit = match now_sec {
            Some(n) => n,
            None => self.pending.keys().next_back().map(|k| k + 1).unwrap_or(self.next_sec).max(self.next_sec),
        };
        if limit <= self.next_sec {
            // Nothing to close: keep the bytes for the next bucket.
            self.bytes_sent -= bs;
            self.bytes_received -= br;
            if let Some(w) = workers.first() {
                w.io.written.fetch_add(bs, Ordering::Relaxed);
                w.io.read.fetch_add(br, Ordering::Relaxed);
            }
            return;
        }
        for sec in self.next_sec..limit {
            let mut acc = self.pending.remove(&sec).unwrap_or_else(|| SecondAcc::new(sec));
            let last = sec + 1 == limit;
            let target = self.targets.range(..=sec).next_back().map(|(_, v)| *v).unwrap_or(0.0);
            let bucket = Bucket {
                second: sec,
                ts_ms: self.origin_unix_ms + sec * 1000,
                target_rps: target,
                sent: acc.sent,
                ok: acc.ok,
                failed: acc.failed,
                dropped: acc.dropped,
                status: acc.status.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                errors: acc.errors,
                bytes_sent: if last { bs } else { 0 },
                bytes_received: if last { br } else { 0 },
                latency: hist::encode(&acc.latency),
                service: hist::encode(&acc.service),
                lag_p99_us: if acc.lag.is_empty() { 0 } else { acc.lag.value_at_quantile(0.99) },
                lag_max_us: acc.lag.max(),
                script: match (&acc.script, self.script_vus) {
                    (Some(s), g) => {
                        let (v, m) = g.unwrap_or_default();
                        Some(s.bucket(v, m))
                    }
                    (None, Some((v, m))) => Some(ScriptAcc::default().bucket(v, m)),
                    (None, None) => None,
                },
            };
            // The script part lives in the buckets only (names and messages
            // may be many: the total would grow with each new one).
            acc.script = None;
            self.total.merge(&acc);
            self.ring.push_back(bucket);
            while self.ring.len() > BUCKET_RING_SECONDS {
                self.ring.pop_front();
            }
        }
        self.next_sec = limit;
        // Keep only the target samples still needed.
        let keep = self.targets.range(..limit).next_back().map(|(k, v)| (*k, *v));
        self.targets.retain(|k, _| *k >= limit);
        if let Some((k, v)) = keep {
            self.targets.insert(k, v);
        }
    }

    /// Buckets with `second >= since`.
    pub fn since(&self, since: u64) -> Vec<Bucket> {
        let start = self.ring.partition_point(|b| b.second < since);
        self.ring.range(start..).cloned().collect()
    }

    /// Cumulative summary. `duration` is how long the job has been issuing,
    /// `expected` what the profile asked for.
    pub fn summary(&self, duration: Duration, expected: f64) -> Summary {
        let t = &self.total;
        let d = duration.as_secs_f64();
        Summary {
            sent: t.sent,
            ok: t.ok,
            failed: t.failed,
            dropped: t.dropped,
            status: t.status.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            errors: t.errors,
            bytes_sent: self.bytes_sent,
            bytes_received: self.bytes_received,
            duration_s: d,
            achieved_rps: if d > 0.0 { t.sent as f64 / d } else { 0.0 },
            expected,
            latency: percentiles(&t.latency),
            service: percentiles(&t.service),
            schedule_lag: percentiles(&t.lag),
            latency_hist: hist::encode(&t.latency),
        }
    }
}

/// Percentiles in milliseconds of a microsecond histogram.
pub fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    let q = |q| hist::quantile_ms(h, q);
    Percentiles {
        count: h.len(),
        mean: h.mean() / 1000.0,
        p50: q(0.5),
        p90: q(0.9),
        p95: q(0.95),
        p99: q(0.99),
        p999: q(0.999),
        max: h.max() as f64 / 1000.0,
    }
}
