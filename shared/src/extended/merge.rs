//! What extended scripts add to each second ([`ScriptBucket`]), merged across
//! agents and seconds exactly:
//! - counts (iterations, dropped and failed iterations, checks, requests by
//!   name, rates, exceptions) are summed;
//! - distributions (iteration duration, request latency by name, trends) are
//!   HDR histograms merged with `alilo_agent_api::hist`, never averaged
//!   percentiles;
//! - counters are summed; a gauge is its value in the newest second (the
//!   largest when several agents report that second);
//! - `vus` and `vus_max` are summed across the agents of a second: `vus` is
//!   the newest second's, `vus_max` the largest.
//!
//! [`ScriptTotals`] accumulates; [`ScriptTotals::figures`] gives the wire
//! shape of `/v1/run/metrics` and `/v1/run/summary`.

use alilo_agent_api::hist;
use alilo_agent_api::script::{CustomMetric, ExceptionSample, PassFail, ScriptBucket};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A distribution's figures, in milliseconds (for a trend: in its own unit).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Distribution {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// One check by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct CheckRow {
    pub name: String,
    pub passes: u64,
    pub fails: u64,
}

/// The requests of one `name` tag (default: the URL without its query).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct RequestRow {
    pub name: String,
    pub requests: u64,
    pub failed: u64,
    /// Latency, ms.
    pub latency: Distribution,
    /// The same requests by tag set (k6's `options.tags`, a scenario's
    /// `tags` and its `scenario` tag, `params.tags`), when they carry tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tagged: Vec<TaggedRow>,
}

/// The requests of one name and one tag set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct TaggedRow {
    pub tags: BTreeMap<String, String>,
    pub requests: u64,
    pub failed: u64,
    /// Latency, ms.
    pub latency: Distribution,
}

/// One group (k6's `group`), by path: what ran directly inside it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct GroupRow {
    /// `::outer::inner`.
    pub path: String,
    /// Times it ran.
    pub runs: u64,
    /// Its duration, ms.
    pub duration: Distribution,
    /// Requests sent inside it (not in nested groups).
    pub requests: u64,
    pub failed_requests: u64,
    /// Checks made inside it.
    pub checks: Vec<CheckRow>,
}

/// An uncaught exception kept with its stack (the first few of a run).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ExceptionRow {
    /// Unix seconds of the second it happened in.
    pub ts: i64,
    pub message: String,
    /// `file:line:column` where it was thrown.
    pub location: String,
    pub stack: String,
    pub vu: u64,
    pub iteration: u64,
}

/// One custom metric.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct MetricRow {
    pub name: String,
    /// `counter`, `gauge`, `rate` or `trend`.
    pub kind: String,
    /// Counter: the sum; gauge: the last value; rate: passes / (passes + fails).
    pub value: f64,
    /// Rate only: non-zero values.
    pub passes: u64,
    /// Rate only: zero values.
    pub fails: u64,
    /// Trend only.
    pub trend: Option<Distribution>,
}

/// What the extended scripts of a set of seconds add up to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ScriptFigures {
    pub iterations: u64,
    pub dropped_iterations: u64,
    pub failed_iterations: u64,
    /// Iteration duration, ms.
    pub iteration_duration: Distribution,
    pub vus: u64,
    pub vus_max: u64,
    /// Passed checks in all (the v1 `checks` field).
    pub checks_passed: u64,
    pub checks_failed: u64,
    pub checks: Vec<CheckRow>,
    pub requests: Vec<RequestRow>,
    pub metrics: Vec<MetricRow>,
    /// Uncaught exceptions by message.
    pub exceptions: BTreeMap<String, u64>,
    /// The first exceptions, oldest first, each with its stack.
    pub exception_samples: Vec<ExceptionRow>,
    /// Groups by path.
    pub groups: Vec<GroupRow>,
}

/// Exception samples a merged figure keeps (each agent sends its job's
/// first few).
pub const MAX_SAMPLES: usize = 10;

#[derive(Debug, Clone, Default)]
struct GroupAcc {
    runs: u64,
    duration: Option<Histogram<u64>>,
    requests: u64,
    failed: u64,
    checks: BTreeMap<String, PassFail>,
}

#[derive(Debug, Clone)]
enum MetricAcc {
    Counter(f64),
    /// (second, value) of the newest second seen.
    Gauge(i64, f64),
    Rate(PassFail),
    Trend(Histogram<u64>),
}

/// Requests sent, failed, and their latency.
type Counted = (u64, u64, Option<Histogram<u64>>);

/// An accumulator of script buckets (of any agents, any seconds).
#[derive(Debug, Clone, Default)]
pub struct ScriptTotals {
    buckets: u64,
    iterations: u64,
    dropped: u64,
    failed: u64,
    duration: Option<Histogram<u64>>,
    /// Per second: (vus, vus_max) summed over agents.
    vus: BTreeMap<i64, (u64, u64)>,
    checks: BTreeMap<String, PassFail>,
    requests: BTreeMap<String, Counted>,
    /// By (name, tag set).
    tagged: BTreeMap<(String, BTreeMap<String, String>), Counted>,
    metrics: BTreeMap<String, MetricAcc>,
    exceptions: BTreeMap<String, u64>,
    samples: Vec<(i64, ExceptionSample)>,
    groups: BTreeMap<String, GroupAcc>,
}

/// Adds an encoded histogram into `into` (a bucket that does not decode is
/// skipped: one agent's bad second must not hide the rest).
fn add_hist(into: &mut Option<Histogram<u64>>, encoded: &str) {
    if encoded.is_empty() {
        return;
    }
    if let Ok(h) = hist::decode(encoded) {
        let merged = into.get_or_insert_with(hist::new);
        let _ = merged.add(&h);
    }
}

fn distribution(h: Option<&Histogram<u64>>) -> Distribution {
    match h.filter(|h| !h.is_empty()) {
        None => Distribution::default(),
        Some(h) => {
            #[allow(clippy::cast_precision_loss)]
            let max = h.max() as f64 / 1000.0;
            Distribution {
                count: h.len(),
                mean: h.mean() / 1000.0,
                p50: hist::quantile_ms(h, 0.50),
                p90: hist::quantile_ms(h, 0.90),
                p95: hist::quantile_ms(h, 0.95),
                p99: hist::quantile_ms(h, 0.99),
                max,
            }
        }
    }
}

impl ScriptTotals {
    /// Adds the script part of one agent's second `ts` (Unix seconds).
    pub fn add(&mut self, ts: i64, b: &ScriptBucket) {
        self.buckets += 1;
        self.iterations += b.iterations;
        self.dropped += b.dropped_iterations;
        self.failed += b.failed_iterations;
        add_hist(&mut self.duration, &b.iteration_duration);
        let vus = self.vus.entry(ts).or_default();
        vus.0 += b.vus;
        vus.1 += b.vus_max;
        for (name, c) in &b.checks {
            let acc = self.checks.entry(name.clone()).or_default();
            acc.passes += c.passes;
            acc.fails += c.fails;
        }
        for (name, r) in &b.requests {
            let acc = self.requests.entry(name.clone()).or_default();
            acc.0 += r.sent;
            acc.1 += r.failed;
            add_hist(&mut acc.2, &r.latency);
            for t in &r.tagged {
                let acc = self.tagged.entry((name.clone(), t.tags.clone())).or_default();
                acc.0 += t.sent;
                acc.1 += t.failed;
                add_hist(&mut acc.2, &t.latency);
            }
        }
        for (name, m) in &b.metrics {
            match (self.metrics.get_mut(name), m) {
                (Some(MetricAcc::Counter(sum)), CustomMetric::Counter { value }) => *sum += value,
                (Some(MetricAcc::Gauge(at, last)), CustomMetric::Gauge { value }) => {
                    if ts > *at || (ts == *at && *value > *last) {
                        (*at, *last) = (ts, *value);
                    }
                }
                (Some(MetricAcc::Rate(acc)), CustomMetric::Rate { counts }) => {
                    acc.passes += counts.passes;
                    acc.fails += counts.fails;
                }
                (Some(MetricAcc::Trend(h)), CustomMetric::Trend { hist: encoded }) => {
                    if let Ok(more) = hist::decode(encoded) {
                        let _ = h.add(&more);
                    }
                }
                // New, or the kind changed (a script edited mid-run): the latest kind wins.
                (_, m) => {
                    let acc = match m {
                        CustomMetric::Counter { value } => MetricAcc::Counter(*value),
                        CustomMetric::Gauge { value } => MetricAcc::Gauge(ts, *value),
                        CustomMetric::Rate { counts } => MetricAcc::Rate(*counts),
                        CustomMetric::Trend { hist: encoded } => {
                            let mut h = None;
                            add_hist(&mut h, encoded);
                            MetricAcc::Trend(h.unwrap_or_else(hist::new))
                        }
                    };
                    self.metrics.insert(name.clone(), acc);
                }
            }
        }
        for (message, n) in &b.exceptions {
            *self.exceptions.entry(message.clone()).or_default() += n;
        }
        if !b.exception_samples.is_empty() {
            self.samples.extend(b.exception_samples.iter().map(|e| (ts, e.clone())));
            self.samples.sort_by_key(|(ts, _)| *ts);
            self.samples.truncate(MAX_SAMPLES);
        }
        for (path, g) in &b.groups {
            let acc = self.groups.entry(path.clone()).or_default();
            acc.runs += g.runs;
            add_hist(&mut acc.duration, &g.duration);
            acc.requests += g.requests;
            acc.failed += g.failed_requests;
            for (name, c) in &g.checks {
                let a = acc.checks.entry(name.clone()).or_default();
                a.passes += c.passes;
                a.fails += c.fails;
            }
        }
    }

    /// Whether any script bucket was added (`false` for a simple script).
    pub fn is_empty(&self) -> bool {
        self.buckets == 0
    }

    /// Passed checks in all.
    pub fn checks_passed(&self) -> u64 {
        self.checks.values().map(|c| c.passes).sum()
    }

    /// The merged figures.
    pub fn figures(&self) -> ScriptFigures {
        ScriptFigures {
            iterations: self.iterations,
            dropped_iterations: self.dropped,
            failed_iterations: self.failed,
            iteration_duration: distribution(self.duration.as_ref()),
            vus: self.vus.values().next_back().map_or(0, |v| v.0),
            vus_max: self.vus.values().map(|v| v.1).max().unwrap_or(0),
            checks_passed: self.checks_passed(),
            checks_failed: self.checks.values().map(|c| c.fails).sum(),
            checks: self
                .checks
                .iter()
                .map(|(name, c)| CheckRow { name: name.clone(), passes: c.passes, fails: c.fails })
                .collect(),
            requests: self
                .requests
                .iter()
                .map(|(name, (sent, failed, h))| RequestRow {
                    name: name.clone(),
                    requests: *sent,
                    failed: *failed,
                    latency: distribution(h.as_ref()),
                    tagged: self
                        .tagged
                        .range((name.clone(), BTreeMap::new())..)
                        .take_while(|((n, _), _)| n == name)
                        .map(|((_, tags), (sent, failed, h))| TaggedRow {
                            tags: tags.clone(),
                            requests: *sent,
                            failed: *failed,
                            latency: distribution(h.as_ref()),
                        })
                        .collect(),
                })
                .collect(),
            metrics: self
                .metrics
                .iter()
                .map(|(name, m)| {
                    let mut row = MetricRow { name: name.clone(), ..MetricRow::default() };
                    match m {
                        MetricAcc::Counter(sum) => (row.kind, row.value) = ("counter".into(), *sum),
                        MetricAcc::Gauge(_, last) => (row.kind, row.value) = ("gauge".into(), *last),
                        MetricAcc::Rate(c) => {
                            row.kind = "rate".into();
                            (row.passes, row.fails) = (c.passes, c.fails);
                            let total = c.passes + c.fails;
                            #[allow(clippy::cast_precision_loss)]
                            if total > 0 {
                                row.value = c.passes as f64 / total as f64;
                            }
                        }
                        MetricAcc::Trend(h) => {
                            row.kind = "trend".into();
                            row.trend = Some(distribution(Some(h)));
                        }
                    }
                    row
                })
                .collect(),
            exceptions: self.exceptions.clone(),
            exception_samples: self
                .samples
                .iter()
                .map(|(ts, e)| ExceptionRow {
                    ts: *ts,
                    message: e.message.clone(),
                    location: e.location.clone(),
                    stack: e.stack.clone(),
                    vu: e.vu,
                    iteration: e.iteration,
                })
                .collect(),
            groups: self
                .groups
                .iter()
                .map(|(path, g)| GroupRow {
                    path: path.clone(),
                    runs: g.runs,
                    duration: distribution(g.duration.as_ref()),
                    requests: g.requests,
                    failed_requests: g.failed,
                    checks: g
                        .checks
                        .iter()
                        .map(|(name, c)| CheckRow { name: name.clone(), passes: c.passes, fails: c.fails })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Merges `(second, bucket)` pairs; `None` when none carries a script part.
pub fn merge<'a>(buckets: impl IntoIterator<Item = (i64, &'a ScriptBucket)>) -> Option<ScriptFigures> {
    let mut totals = ScriptTotals::default();
    for (ts, b) in buckets {
        totals.add(ts, b);
    }
    (!totals.is_empty()).then(|| totals.figures())
}

/// Groups `(second, bucket)` pairs into intervals of `step` seconds from
/// `from` (as `control::metrics::series`): each interval's start and figures.
pub fn series<'a>(
    buckets: impl IntoIterator<Item = (i64, &'a ScriptBucket)>,
    from: i64,
    step: i64,
) -> BTreeMap<i64, ScriptFigures> {
    let step = step.max(1);
    let mut groups: BTreeMap<i64, ScriptTotals> = BTreeMap::new();
    for (ts, b) in buckets.into_iter().filter(|(ts, _)| *ts >= from) {
        groups.entry(from + (ts - from) / step * step).or_default().add(ts, b);
    }
    groups.into_iter().map(|(start, totals)| (start, totals.figures())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alilo_agent_api::script::NamedRequests;

    fn encoded(values: &[u64]) -> String {
        let mut h = hist::new();
        for v in values {
            hist::record(&mut h, *v);
        }
        hist::encode(&h)
    }

    fn bucket(iterations: u64, passes: u64, fails: u64, latencies_us: &[u64]) -> ScriptBucket {
        ScriptBucket {
            iterations,
            dropped_iterations: 1,
            failed_iterations: 0,
            iteration_duration: encoded(latencies_us),
            vus: 3,
            vus_max: 10,
            checks: BTreeMap::from([("status is 200".to_string(), PassFail { passes, fails })]),
            requests: BTreeMap::from([(
                "GET /items".to_string(),
                NamedRequests { sent: iterations, failed: fails, latency: encoded(latencies_us), tagged: Vec::new() },
            )]),
            metrics: BTreeMap::new(),
            exceptions: BTreeMap::from([("TypeError: x is undefined".to_string(), 2)]),
            ..ScriptBucket::default()
        }
    }

    #[test]
    fn groups_merge_by_path_and_exception_samples_keep_the_oldest() {
        use alilo_agent_api::script::GroupBucket;
        let group = |runs: u64, us: u64, fails: u64| GroupBucket {
            runs,
            duration: encoded(&[us]),
            requests: 2,
            failed_requests: fails,
            checks: BTreeMap::from([("ok".to_string(), PassFail { passes: 1, fails })]),
        };
        let sample =
            |m: &str| ExceptionSample { message: m.into(), location: "main.js:3:9".into(), ..Default::default() };
        let mut a = ScriptBucket::default();
        a.groups.insert("::login".into(), group(1, 10_000, 0));
        a.groups.insert("::login::form".into(), group(1, 4_000, 1));
        a.exception_samples = (0..8).map(|i| sample(&format!("late {i}"))).collect();
        let mut b = ScriptBucket::default();
        b.groups.insert("::login".into(), group(2, 30_000, 1));
        b.exception_samples = vec![sample("early")];
        let f = merge([(200, &a), (100, &b), (201, &a)]).unwrap();
        let paths: Vec<&str> = f.groups.iter().map(|g| g.path.as_str()).collect();
        assert_eq!(paths, ["::login", "::login::form"]);
        let login = &f.groups[0];
        assert_eq!((login.runs, login.requests, login.failed_requests), (4, 6, 1));
        assert_eq!(login.checks, vec![CheckRow { name: "ok".into(), passes: 3, fails: 1 }]);
        assert!((login.duration.max - 30.0).abs() < 0.1, "{:?}", login.duration);
        assert_eq!(f.exception_samples.len(), MAX_SAMPLES);
        assert_eq!((f.exception_samples[0].ts, f.exception_samples[0].message.as_str()), (100, "early"));
        assert_eq!(f.exception_samples[0].location, "main.js:3:9");
    }

    #[test]
    fn counts_sum_across_agents_and_seconds() {
        let a = bucket(10, 9, 1, &[1_000]);
        let b = bucket(20, 20, 0, &[2_000]);
        let f = merge([(100, &a), (100, &b), (101, &a)]).unwrap();
        assert_eq!((f.iterations, f.dropped_iterations), (40, 3));
        assert_eq!((f.checks_passed, f.checks_failed), (38, 2));
        assert_eq!(f.checks, vec![CheckRow { name: "status is 200".into(), passes: 38, fails: 2 }]);
        assert_eq!((f.requests[0].requests, f.requests[0].failed), (40, 2));
        assert_eq!(f.exceptions["TypeError: x is undefined"], 6);
        // Two agents in second 100, one in 101: vus of the newest second, vus_max of the busiest.
        assert_eq!((f.vus, f.vus_max), (3, 20));
    }

    #[test]
    fn tagged_requests_merge_by_name_and_tag_set() {
        use alilo_agent_api::script::TaggedRequests;
        let tags = |s: &str| BTreeMap::from([("scenario".to_string(), s.to_string())]);
        let tagged =
            |s: &str, sent: u64, us: u64| TaggedRequests { tags: tags(s), sent, failed: 0, latency: encoded(&[us]) };
        let mut a = bucket(3, 3, 0, &[1_000]);
        a.requests.get_mut("GET /items").unwrap().tagged = vec![tagged("login", 2, 1_000), tagged("browse", 1, 9_000)];
        let mut b = bucket(4, 4, 0, &[1_000]);
        b.requests.get_mut("GET /items").unwrap().tagged = vec![tagged("login", 4, 2_000)];
        let f = merge([(100, &a), (100, &b)]).unwrap();
        let rows: Vec<(String, u64)> =
            f.requests[0].tagged.iter().map(|t| (t.tags["scenario"].clone(), t.requests)).collect();
        assert_eq!(rows, vec![("browse".into(), 1), ("login".into(), 6)], "one row per tag set, agents summed");
        assert!((f.requests[0].tagged[1].latency.max - 2.0).abs() < 0.01, "{:?}", f.requests[0].tagged[1]);
    }

    #[test]
    fn percentiles_come_from_merged_histograms_not_averages() {
        // 99 fast iterations on one agent, one slow on another: p50 stays fast, max is the slow one.
        let fast = bucket(99, 0, 0, &[1_000; 99]);
        let slow = bucket(1, 0, 0, &[500_000]);
        let f = merge([(1, &fast), (1, &slow)]).unwrap();
        assert_eq!(f.iteration_duration.count, 100);
        assert!((f.iteration_duration.p50 - 1.0).abs() < 0.01, "{:?}", f.iteration_duration);
        assert!((f.iteration_duration.max - 500.0).abs() < 1.0, "{:?}", f.iteration_duration);
        assert!((f.requests[0].latency.p99 - 1.0).abs() < 0.01, "{:?}", f.requests[0].latency);
    }

    #[test]
    fn custom_metrics_merge_by_kind() {
        let mut a = ScriptBucket::default();
        let mut b = ScriptBucket::default();
        let mut trend = hist::new();
        hist::record(&mut trend, 250_000); // 250.0 in the trend's unit (× 1000)
        a.metrics = BTreeMap::from([
            ("orders".to_string(), CustomMetric::Counter { value: 2.0 }),
            ("queue".to_string(), CustomMetric::Gauge { value: 7.0 }),
            ("ok".to_string(), CustomMetric::Rate { counts: PassFail { passes: 3, fails: 1 } }),
            ("cart_ms".to_string(), CustomMetric::Trend { hist: hist::encode(&trend) }),
        ]);
        b.metrics = BTreeMap::from([
            ("orders".to_string(), CustomMetric::Counter { value: 3.5 }),
            ("queue".to_string(), CustomMetric::Gauge { value: 4.0 }),
            ("ok".to_string(), CustomMetric::Rate { counts: PassFail { passes: 1, fails: 3 } }),
            ("cart_ms".to_string(), CustomMetric::Trend { hist: hist::encode(&trend) }),
        ]);
        let f = merge([(10, &a), (11, &b)]).unwrap();
        let by: BTreeMap<&str, &MetricRow> = f.metrics.iter().map(|m| (m.name.as_str(), m)).collect();
        assert_eq!((by["orders"].kind.as_str(), by["orders"].value), ("counter", 5.5));
        assert_eq!((by["queue"].kind.as_str(), by["queue"].value), ("gauge", 4.0), "the newest second's value");
        assert_eq!((by["ok"].value, by["ok"].passes, by["ok"].fails), (0.5, 4, 4));
        let t = by["cart_ms"].trend.as_ref().unwrap();
        assert_eq!(t.count, 2);
        assert!((t.p50 - 250.0).abs() < 0.5, "{t:?}");
    }

    #[test]
    fn series_group_seconds_into_steps() {
        let b = bucket(1, 1, 0, &[1_000]);
        let got = series([(99, &b), (100, &b), (104, &b), (105, &b), (109, &b)], 100, 5);
        let iterations: Vec<(i64, u64)> = got.iter().map(|(t, f)| (*t, f.iterations)).collect();
        assert_eq!(iterations, vec![(100, 2), (105, 2)]);
    }

    #[test]
    fn simple_seconds_give_no_script_figures() {
        assert!(merge(std::iter::empty()).is_none());
    }

    #[test]
    fn a_bucket_that_does_not_decode_is_skipped_not_fatal() {
        let mut bad = bucket(5, 5, 0, &[1_000]);
        bad.iteration_duration = "not base64!".into();
        let good = bucket(5, 5, 0, &[3_000]);
        let f = merge([(1, &bad), (1, &good)]).unwrap();
        assert_eq!((f.iterations, f.iteration_duration.count), (10, 1));
    }
}
