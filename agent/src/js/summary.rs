//! The end-of-run summary of a script job for `alilo-agent run script.js`:
//! the `script` parts of all its buckets folded into one, printed like
//! k6's summary (checks, iterations, requests by name, custom metrics,
//! exceptions) and exported as JSON (`--summary-export`).

use std::collections::BTreeMap;

use alilo_agent_api::script::{CustomMetric, ExceptionSample, MAX_EXCEPTION_SAMPLES, PassFail, ScriptBucket};
use alilo_agent_api::{Bucket, hist};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use super::tags::Tags;

/// A script job's figures over all its seconds.
#[derive(Default)]
pub struct ScriptTotals {
    /// Iterations completed.
    pub iterations: u64,
    /// Iterations dropped (no free VU).
    pub dropped: u64,
    /// Iterations with an uncaught exception.
    pub failed: u64,
    /// Most VUs allocated.
    pub vus_max: u64,
    duration: Option<Histogram<u64>>,
    /// Checks by name.
    pub checks: BTreeMap<String, PassFail>,
    requests: BTreeMap<String, (u64, u64, Histogram<u64>)>,
    /// By name and tag set.
    tagged: BTreeMap<(String, Tags), (u64, u64, Histogram<u64>)>,
    /// Checks with tags, by name and tag set.
    tagged_checks: BTreeMap<(String, Tags), PassFail>,
    /// Custom metrics with tags, by name and tag set.
    tagged_metrics: BTreeMap<(String, Tags), Folded>,
    metrics: BTreeMap<String, Folded>,
    /// Exceptions by message.
    pub exceptions: BTreeMap<String, u64>,
    /// The first exceptions with their stack.
    pub exception_samples: Vec<ExceptionSample>,
    /// Groups by path.
    pub groups: BTreeMap<String, GroupTotals>,
    /// k6's `summaryTrendStats` for the text (empty: `avg min med max
    /// p(90) p(95)`); the JSON has those and these.
    pub trend_stats: Vec<String>,
}

/// A group over the run.
#[derive(Default)]
pub struct GroupTotals {
    /// Times it ran.
    pub runs: u64,
    duration: Option<Histogram<u64>>,
    /// Requests sent inside it.
    pub requests: u64,
    /// Of which failed.
    pub failed: u64,
    /// Checks made inside it.
    pub checks: BTreeMap<String, PassFail>,
}

/// Adds one second of a custom metric to `map[key]`.
fn fold<K: Ord>(map: &mut BTreeMap<K, Folded>, key: K, m: &CustomMetric) {
    match (map.get_mut(&key), m) {
        (Some(Folded::Counter(a)), CustomMetric::Counter { value }) => *a += value,
        (Some(Folded::Gauge(a)), CustomMetric::Gauge { value }) => *a = *value,
        (Some(Folded::Rate(p, f)), CustomMetric::Rate { counts }) => {
            *p += counts.passes;
            *f += counts.fails;
        }
        (Some(Folded::Trend(h)), CustomMetric::Trend { hist: e }) => {
            if let Ok(x) = hist::decode(e) {
                let _ = h.add(&x);
            }
        }
        (Some(_), _) => {}
        (None, m) => {
            let f = match m {
                CustomMetric::Counter { value } => Folded::Counter(*value),
                CustomMetric::Gauge { value } => Folded::Gauge(*value),
                CustomMetric::Rate { counts } => Folded::Rate(counts.passes, counts.fails),
                CustomMetric::Trend { hist: e } => Folded::Trend(hist::decode(e).unwrap_or_else(|_| hist::new())),
            };
            map.insert(key, f);
        }
    }
}

/// A custom metric over the run.
#[derive(Clone)]
pub enum Folded {
    /// Sum.
    Counter(f64),
    /// Last value.
    Gauge(f64),
    /// Non-zero and zero samples.
    Rate(u64, u64),
    /// Values × 1000.
    Trend(Histogram<u64>),
}

impl ScriptTotals {
    /// Folds the `script` part of every bucket; `None` for a simple job.
    pub fn of(buckets: &[Bucket]) -> Option<ScriptTotals> {
        ScriptTotals::of_scripts(buckets.iter().filter_map(|b| b.script.as_ref()))
    }

    /// Folds the `script` parts of a job's seconds; `None` when there is none.
    pub fn of_scripts<'a>(seconds: impl IntoIterator<Item = &'a ScriptBucket>) -> Option<ScriptTotals> {
        let mut t = ScriptTotals::default();
        let mut any = false;
        for s in seconds {
            any = true;
            t.iterations += s.iterations;
            t.dropped += s.dropped_iterations;
            t.failed += s.failed_iterations;
            t.vus_max = t.vus_max.max(s.vus_max);
            if let Ok(h) = hist::decode(&s.iteration_duration) {
                let _ = t.duration.get_or_insert_with(hist::new).add(&h);
            }
            for (k, v) in &s.checks {
                let c = t.checks.entry(k.clone()).or_default();
                c.passes += v.passes;
                c.fails += v.fails;
            }
            for (k, v) in &s.requests {
                let r = t.requests.entry(k.clone()).or_insert_with(|| (0, 0, hist::new()));
                r.0 += v.sent;
                r.1 += v.failed;
                if let Ok(h) = hist::decode(&v.latency) {
                    let _ = r.2.add(&h);
                }
                for x in &v.tagged {
                    let r = t.tagged.entry((k.clone(), x.tags.clone())).or_insert_with(|| (0, 0, hist::new()));
                    r.0 += x.sent;
                    r.1 += x.failed;
                    if let Ok(h) = hist::decode(&x.latency) {
                        let _ = r.2.add(&h);
                    }
                }
            }
            for (k, v) in &s.metrics {
                fold(&mut t.metrics, k.clone(), v);
            }
            for c in &s.tagged_checks {
                let e = t.tagged_checks.entry((c.name.clone(), c.tags.clone())).or_default();
                e.passes += c.passes;
                e.fails += c.fails;
            }
            for m in &s.tagged_metrics {
                fold(&mut t.tagged_metrics, (m.name.clone(), m.tags.clone()), &m.metric);
            }
            for (k, v) in &s.exceptions {
                *t.exceptions.entry(k.clone()).or_default() += v;
            }
            for e in &s.exception_samples {
                if t.exception_samples.len() < MAX_EXCEPTION_SAMPLES {
                    t.exception_samples.push(e.clone());
                }
            }
            for (path, g) in &s.groups {
                let acc = t.groups.entry(path.clone()).or_default();
                acc.runs += g.runs;
                acc.requests += g.requests;
                acc.failed += g.failed_requests;
                if let Ok(h) = hist::decode(&g.duration) {
                    let _ = acc.duration.get_or_insert_with(hist::new).add(&h);
                }
                for (k, c) in &g.checks {
                    let a = acc.checks.entry(k.clone()).or_default();
                    a.passes += c.passes;
                    a.fails += c.fails;
                }
            }
        }
        any.then_some(t)
    }

    /// Latency (µs) of the requests named `name`.
    pub fn request_hist(&self, name: &str) -> Option<&Histogram<u64>> {
        self.requests.get(name).map(|r| &r.2)
    }

    /// (sent, failed) of the requests named `name`.
    pub fn request_counts(&self, name: &str) -> Option<(u64, u64)> {
        self.requests.get(name).map(|r| (r.0, r.1))
    }

    /// (sent, failed, latency) of the requests a threshold's tag `filter`
    /// selects ([`super::tags::matches`]); `None` when none.
    pub fn requests_matching(&self, filter: &Tags) -> Option<(u64, u64, Histogram<u64>)> {
        let mut out: Option<(u64, u64, Histogram<u64>)> = None;
        for ((name, tags), r) in &self.tagged {
            if super::tags::matches(filter, name, tags) {
                let o = out.get_or_insert_with(|| (0, 0, hist::new()));
                o.0 += r.0;
                o.1 += r.1;
                let _ = o.2.add(&r.2);
            }
        }
        out
    }

    /// (passes, fails) of the checks a threshold's tag `filter` selects
    /// (`check` matching the name); `None` when none.
    pub fn checks_matching(&self, filter: &Tags) -> Option<(u64, u64)> {
        self.tagged_checks
            .iter()
            .filter(|((name, tags), _)| super::tags::matches_named(filter, "check", name, tags))
            .map(|(_, c)| (c.passes, c.fails))
            .reduce(|a, b| (a.0 + b.0, a.1 + b.1))
    }

    /// Custom metric `metric`'s samples a threshold's tag `filter` selects,
    /// folded over their tag sets; `None` when none.
    pub fn metric_matching(&self, metric: &str, filter: &Tags) -> Option<Folded> {
        let mut out: Option<Folded> = None;
        for ((name, tags), f) in &self.tagged_metrics {
            if name != metric || !filter.iter().all(|(k, v)| tags.get(k) == Some(v)) {
                continue;
            }
            out = Some(match (out, f) {
                (None, f) => f.clone(),
                (Some(Folded::Counter(a)), Folded::Counter(b)) => Folded::Counter(a + b),
                // Several tag sets of a gauge: no single last value in order; the largest.
                (Some(Folded::Gauge(a)), Folded::Gauge(b)) => Folded::Gauge(a.max(*b)),
                (Some(Folded::Rate(p, n)), Folded::Rate(p2, n2)) => Folded::Rate(p + p2, n + n2),
                (Some(Folded::Trend(mut h)), Folded::Trend(h2)) => {
                    let _ = h.add(h2);
                    Folded::Trend(h)
                }
                (Some(o), _) => o,
            });
        }
        out
    }

    /// Iteration duration (µs).
    pub fn duration_hist(&self) -> Option<&Histogram<u64>> {
        self.duration.as_ref()
    }

    /// A custom metric by name.
    pub fn metric(&self, name: &str) -> Option<&Folded> {
        self.metrics.get(name)
    }

    /// The human-readable summary.
    pub fn text(&self, seconds: f64) -> String {
        let mut out = String::new();
        let per_s = |n: u64| if seconds > 0.0 { n as f64 / seconds } else { 0.0 };
        let (p, f): (u64, u64) = self.checks.values().fold((0, 0), |a, c| (a.0 + c.passes, a.1 + c.fails));
        if p + f > 0 {
            out.push_str(&format!("checks     {:.2}% ✓ {p} ✗ {f}\n", p as f64 * 100.0 / (p + f) as f64));
            for (name, c) in &self.checks {
                let mark = if c.fails == 0 { '✓' } else { '✗' };
                out.push_str(&format!("  {mark} {name}  ({} ✓ / {} ✗)\n", c.passes, c.fails));
            }
        }
        out.push_str(&format!(
            "iterations {} ({:.1}/s), {} dropped, {} with an exception, VUs max {}\n",
            self.iterations,
            per_s(self.iterations),
            self.dropped,
            self.failed,
            self.vus_max
        ));
        if let Some(h) = &self.duration {
            out.push_str(&format!("iteration_duration {}\n", self.trend_ms(h)));
        }
        if !self.requests.is_empty() {
            out.push_str("http_req_duration by name\n");
            for (name, (sent, failed, h)) in &self.requests {
                out.push_str(&format!("  {name}  {sent} sent, {failed} failed  {}\n", self.trend_ms(h)));
            }
        }
        for (name, m) in &self.metrics {
            let v = match m {
                Folded::Counter(x) => format!("{x} ({:.2}/s)", if seconds > 0.0 { x / seconds } else { 0.0 }),
                Folded::Gauge(x) => format!("{x}"),
                Folded::Rate(p, f) => {
                    format!("{:.2}% ✓ {p} ✗ {f}", if p + f > 0 { *p as f64 * 100.0 / (p + f) as f64 } else { 0.0 })
                }
                Folded::Trend(h) => self.trend_ms(h),
            };
            out.push_str(&format!("{name}  {v}\n"));
        }
        if !self.groups.is_empty() {
            out.push_str("groups\n");
            for (path, g) in &self.groups {
                out.push_str(&format!("  █ {path}  {} runs, {} requests ({} failed)", g.runs, g.requests, g.failed));
                if let Some(h) = &g.duration {
                    out.push_str(&format!("  group_duration {}", self.trend_ms(h)));
                }
                out.push('\n');
                for (name, c) in &g.checks {
                    let mark = if c.fails == 0 { '✓' } else { '✗' };
                    out.push_str(&format!("      {mark} {name}  ({} ✓ / {} ✗)\n", c.passes, c.fails));
                }
            }
        }
        for (msg, n) in &self.exceptions {
            out.push_str(&format!("exception  {n} × {msg}\n"));
        }
        for e in &self.exception_samples {
            let at = if e.location.is_empty() { String::new() } else { format!(" at {}", e.location) };
            out.push_str(&format!("  first: {}{at} (VU {}, iteration {})\n", e.message, e.vu, e.iteration));
        }
        out
    }

    /// The JSON of `--summary-export`, shaped like k6's (`metrics` by name,
    /// trends in milliseconds).
    pub fn json(&self, seconds: f64) -> Value {
        let mut metrics = serde_json::Map::new();
        metrics.insert(
            "iterations".into(),
            json!({"count": self.iterations, "rate": if seconds > 0.0 { self.iterations as f64 / seconds } else { 0.0 }}),
        );
        metrics.insert("dropped_iterations".into(), json!({"count": self.dropped}));
        metrics.insert("vus_max".into(), json!({"value": self.vus_max}));
        if let Some(h) = &self.duration {
            metrics.insert("iteration_duration".into(), self.trend_json(h));
        }
        let (p, f): (u64, u64) = self.checks.values().fold((0, 0), |a, c| (a.0 + c.passes, a.1 + c.fails));
        metrics.insert("checks".into(), json!({"passes": p, "fails": f}));
        for (name, m) in &self.metrics {
            let v = match m {
                Folded::Counter(x) => json!({"type": "counter", "count": x}),
                Folded::Gauge(x) => json!({"type": "gauge", "value": x}),
                Folded::Rate(p, f) => json!({"type": "rate", "passes": p, "fails": f}),
                Folded::Trend(h) => {
                    let mut t = self.trend_json(h);
                    t["type"] = json!("trend");
                    t
                }
            };
            metrics.insert(name.clone(), v);
        }
        let requests: serde_json::Map<String, Value> = self
            .requests
            .iter()
            .map(|(k, (s, f, h))| {
                let mut t = self.trend_json(h);
                t["sent"] = json!(s);
                t["failed"] = json!(f);
                (k.clone(), t)
            })
            .collect();
        json!({
            "metrics": metrics,
            "checks": self.checks.iter().map(|(k, c)| (k.clone(), json!({"passes": c.passes, "fails": c.fails}))).collect::<serde_json::Map<_, _>>(),
            "requests": requests,
            "exceptions": self.exceptions,
            "exception_samples": self.exception_samples,
            "groups": self.groups.iter().map(|(k, g)| {
                let mut v = g.duration.as_ref().map(|h| self.trend_json(h)).unwrap_or_else(|| json!({}));
                v["runs"] = json!(g.runs);
                v["requests"] = json!(g.requests);
                v["failed_requests"] = json!(g.failed);
                v["checks"] = json!(g.checks.iter().map(|(n, c)| (n.clone(), json!({"passes": c.passes, "fails": c.fails}))).collect::<serde_json::Map<_, _>>());
                (k.clone(), v)
            }).collect::<serde_json::Map<_, _>>(),
        })
    }
}

/// k6's default `summaryTrendStats`.
const DEFAULT_TREND_STATS: [&str; 6] = ["avg", "min", "med", "max", "p(90)", "p(95)"];

impl ScriptTotals {
    /// The trend stats of the text.
    fn stats(&self) -> Vec<&str> {
        if self.trend_stats.is_empty() {
            DEFAULT_TREND_STATS.to_vec()
        } else {
            self.trend_stats.iter().map(String::as_str).collect()
        }
    }

    /// The trend stats of a histogram of µs (or of a value × 1000), in ms
    /// (or in the value's unit): `avg=…ms min=…ms …`.
    fn trend_ms(&self, h: &Histogram<u64>) -> String {
        self.stats()
            .iter()
            .map(|s| match trend_stat(h, s) {
                Some(v) if *s == "count" => format!("count={v}"),
                Some(v) => format!("{s}={v:.2}ms"),
                None => format!("{s}=?"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// k6's default stats, `p(99)` and the `summaryTrendStats`.
    fn trend_json(&self, h: &Histogram<u64>) -> Value {
        let mut v = serde_json::Map::new();
        for s in DEFAULT_TREND_STATS.iter().copied().chain(["p(99)"]).chain(self.trend_stats.iter().map(String::as_str))
        {
            v.insert(s.to_string(), json!(trend_stat(h, s).unwrap_or(0.0)));
        }
        Value::Object(v)
    }
}

/// One of k6's trend stats (`avg`, `min`, `med`, `max`, `count`, `p(N)`) of
/// a histogram of µs, in ms; `None` for a stat k6 does not have.
pub fn trend_stat(h: &Histogram<u64>, stat: &str) -> Option<f64> {
    let ms = |x: f64| x / 1000.0;
    let empty = h.is_empty();
    let q = |p: f64| if empty { 0.0 } else { ms(h.value_at_quantile(p) as f64) };
    Some(match stat {
        "count" => h.len() as f64,
        "avg" => {
            if empty {
                0.0
            } else {
                ms(h.mean())
            }
        }
        "min" => {
            if empty {
                0.0
            } else {
                ms(h.min() as f64)
            }
        }
        "max" => {
            if empty {
                0.0
            } else {
                ms(h.max() as f64)
            }
        }
        "med" => q(0.5),
        p => {
            let n: f64 = p.strip_prefix("p(")?.strip_suffix(')')?.trim().parse().ok()?;
            if !(0.0..=100.0).contains(&n) {
                return None;
            }
            q(n / 100.0)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::js::acc::ScriptAcc;
    use crate::js::vu::Events;

    #[test]
    fn the_summary_shows_groups_by_path_and_the_first_exceptions_where_they_were_thrown() {
        let second = |iteration: u64| {
            let mut acc = ScriptAcc::default();
            let mut ev = Events::default();
            ev.checks.insert(("::login".into(), "is 200".into()), (1, 0));
            ev.groups.push(("::login".into(), 4_000));
            acc.request("http://x/login", "::login", &std::sync::Arc::from(""), true, 900);
            let sample = ExceptionSample {
                message: "TypeError: x is undefined".into(),
                location: "main.js:7:12".into(),
                stack: "    at default (main.js:7:12)\n".into(),
                vu: 1,
                iteration,
            };
            acc.iteration(5_000, ev, Some("TypeError: x is undefined"), Some(sample));
            acc.bucket(1, 1)
        };
        let seconds: Vec<ScriptBucket> = (0..7).map(second).collect();
        let t = ScriptTotals::of_scripts(&seconds).unwrap();
        let text = t.text(7.0);
        assert!(text.contains("groups\n  █ ::login  7 runs, 7 requests (0 failed)"), "{text}");
        assert!(text.contains("      ✓ is 200  (7 ✓ / 0 ✗)"), "{text}");
        assert!(text.contains("exception  7 × TypeError: x is undefined"), "{text}");
        assert_eq!(text.matches("first: TypeError: x is undefined at main.js:7:12").count(), MAX_EXCEPTION_SAMPLES);
        let json = t.json(7.0);
        assert_eq!(json["groups"]["::login"]["runs"], 7);
        assert_eq!(json["groups"]["::login"]["checks"]["is 200"]["passes"], 7);
        assert_eq!(json["exception_samples"][0]["location"], "main.js:7:12");
        assert_eq!(json["exception_samples"].as_array().unwrap().len(), MAX_EXCEPTION_SAMPLES);
    }
}
