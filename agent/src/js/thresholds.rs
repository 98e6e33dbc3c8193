//! k6 `options.thresholds` for the standalone runner: parsed and judged by
//! `alilo_agent_api::threshold` (the one meaning shared with the platform)
//! on the run's totals; a failed threshold makes `alilo-agent run` exit 99.

use alilo_agent_api::threshold::{self, Aggregation, Judged, MetricKey};
use alilo_agent_api::{JobStatus, hist};
use hdrhistogram::Histogram;

use super::summary::{Folded, ScriptTotals};

/// One threshold's verdict.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// `http_req_duration{name:login}`.
    pub key: String,
    /// `p(95)<300`.
    pub source: String,
    /// The value and whether it held; `None`: no data for it.
    pub judged: Option<Judged>,
    /// Stop the test when it fails (`abortOnFail`).
    pub abort_on_fail: bool,
    /// Not acted on before the test has run this long (`delayAbortEval`).
    pub grace: std::time::Duration,
}

impl Verdict {
    /// Whether it failed (no data is not a failure).
    pub fn failed(&self) -> bool {
        self.judged.is_some_and(|j| !j.passed)
    }
}

/// Judges `options.thresholds` on a finished run.
pub fn judge(options: &serde_json::Value, st: &JobStatus, t: &ScriptTotals) -> Result<Vec<Verdict>, String> {
    let Some(th) = options.get("thresholds") else { return Ok(Vec::new()) };
    let list = threshold::parse_options(th).map_err(|e| format!("options.{e}"))?;
    Ok(list
        .into_iter()
        .map(|x| Verdict {
            key: x.key.to_string(),
            source: x.source.clone(),
            judged: x.expr.judge(&|a: Aggregation| observe(&x.key, a, st, t)),
            abort_on_fail: x.abort_on_fail,
            grace: x.grace,
        })
        .collect())
}

/// Whether `options` hold a threshold with `abortOnFail`.
pub fn any_abort(options: &serde_json::Value) -> bool {
    options
        .get("thresholds")
        .and_then(|th| threshold::parse_options(th).ok())
        .is_some_and(|list| list.iter().any(|x| x.abort_on_fail))
}

/// The first `abortOnFail` threshold failing after `elapsed` of test (its
/// `delayAbortEval` past), which stops a standalone run.
pub fn aborting(verdicts: &[Verdict], elapsed: std::time::Duration) -> Option<&Verdict> {
    verdicts.iter().find(|v| v.abort_on_fail && v.failed() && elapsed >= v.grace)
}

fn trend(h: &Histogram<u64>, a: Aggregation) -> Option<f64> {
    if h.is_empty() {
        return None;
    }
    let ms = |v: f64| v / 1000.0;
    Some(match a {
        Aggregation::Avg => ms(h.mean()),
        Aggregation::Min => ms(h.min() as f64),
        Aggregation::Med => ms(h.value_at_quantile(0.5) as f64),
        Aggregation::Max => ms(h.max() as f64),
        Aggregation::Percentile(p) => ms(h.value_at_quantile(p / 100.0) as f64),
        Aggregation::Count => h.len() as f64,
        _ => return None,
    })
}

fn observe(key: &MetricKey, a: Aggregation, st: &JobStatus, t: &ScriptTotals) -> Option<f64> {
    let secs = st.summary.duration_s;
    let name = key.tags.get("name");
    let rate = |n: u64, d: u64| if d == 0 { None } else { Some(n as f64 / d as f64) };
    // A filter on other tags than `name` (`{scenario:login}`, the script's
    // own tags) selects the requests by tag set.
    if key.tags.keys().any(|k| k != "name")
        && matches!(key.metric.as_str(), "http_req_duration" | "http_req_failed" | "http_reqs")
    {
        let (sent, failed, h) = t.requests_matching(&key.tags)?;
        return match (key.metric.as_str(), a) {
            ("http_req_duration", a) => trend(&h, a),
            ("http_req_failed", Aggregation::Rate) => rate(failed, sent),
            ("http_reqs", Aggregation::Count) => Some(sent as f64),
            ("http_reqs", Aggregation::Rate) if secs > 0.0 => Some(sent as f64 / secs),
            _ => None,
        };
    }
    match key.metric.as_str() {
        "http_req_duration" => match name {
            Some(n) => t.request_hist(n).and_then(|h| trend(h, a)),
            None => hist::decode(&st.summary.latency_hist).ok().and_then(|h| trend(&h, a)),
        },
        "http_req_failed" => match (name, a) {
            (Some(n), Aggregation::Rate) => t.request_counts(n).and_then(|(s, f)| rate(f, s)),
            (None, Aggregation::Rate) => rate(st.summary.failed, st.summary.sent),
            _ => None,
        },
        "http_reqs" => {
            let sent = match name {
                Some(n) => t.request_counts(n)?.0,
                None => st.summary.sent,
            };
            match a {
                Aggregation::Count => Some(sent as f64),
                Aggregation::Rate if secs > 0.0 => Some(sent as f64 / secs),
                _ => None,
            }
        }
        "iterations" => match a {
            Aggregation::Count => Some(t.iterations as f64),
            Aggregation::Rate if secs > 0.0 => Some(t.iterations as f64 / secs),
            _ => None,
        },
        "dropped_iterations" => match a {
            Aggregation::Count => Some(t.dropped as f64),
            Aggregation::Rate if secs > 0.0 => Some(t.dropped as f64 / secs),
            _ => None,
        },
        "iteration_duration" => t.duration_hist().and_then(|h| trend(h, a)),
        "checks" if key.tags.keys().any(|k| k != "check") => {
            let (p, f) = t.checks_matching(&key.tags)?;
            matches!(a, Aggregation::Rate).then(|| rate(p, p + f)).flatten()
        }
        "checks" => {
            let (p, f) = match key.tags.get("check") {
                Some(c) => t.checks.get(c).map(|c| (c.passes, c.fails))?,
                None => t.checks.values().fold((0, 0), |x, c| (x.0 + c.passes, x.1 + c.fails)),
            };
            matches!(a, Aggregation::Rate).then(|| rate(p, p + f)).flatten()
        }
        "vus_max" => matches!(a, Aggregation::Value).then_some(t.vus_max as f64),
        m if !key.tags.is_empty() => match (t.metric_matching(m, &key.tags)?, a) {
            (Folded::Counter(x), Aggregation::Count) => Some(x),
            (Folded::Counter(x), Aggregation::Rate) if secs > 0.0 => Some(x / secs),
            (Folded::Gauge(x), Aggregation::Value) => Some(x),
            (Folded::Rate(p, f), Aggregation::Rate) => rate(p, p + f),
            (Folded::Trend(h), a) => trend(&h, a),
            _ => None,
        },
        m => match (t.metric(m)?, a) {
            (Folded::Counter(x), Aggregation::Count) => Some(*x),
            (Folded::Counter(x), Aggregation::Rate) if secs > 0.0 => Some(x / secs),
            (Folded::Gauge(x), Aggregation::Value) => Some(*x),
            (Folded::Rate(p, f), Aggregation::Rate) => rate(*p, p + f),
            (Folded::Trend(h), a) => trend(h, a),
            _ => None,
        },
    }
}
