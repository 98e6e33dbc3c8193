//! Thresholds over a run's stored seconds: which metrics exist, how seconds
//! are summarised for them, and how a verdict follows.
//!
//! Rules (also in `docs/verdicts.md`):
//! - The first [`WARMUP_SECS`] seconds of a run are left out everywhere:
//!   connections are being opened and the first step is starting, so they say
//!   little about the system under test.
//! - While the run goes, every controller pass judges each threshold over the
//!   last [`LIVE_WINDOW_SECS`] complete seconds (the newest second is left
//!   out: another agent's bucket for it may still be on its way). A threshold
//!   with `abort_on_fail` that keeps failing for its grace period stops the run.
//! - When the run has ended, each threshold is judged once over the whole run
//!   (after the warm-up), merged across agents; that is the verdict. A
//!   threshold with no data at the end fails ("no data"): a typo in a tag
//!   filter must not pass silently.

use super::dist::Layout;
use crate::control::metrics::{Second, Sum};
use alilo_agent_api::threshold::{self, Aggregation, Judged, MetricKey, MetricKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Seconds at the start of a run that no threshold looks at.
pub const WARMUP_SECS: i64 = 10;
/// Seconds each live evaluation looks back over.
pub const LIVE_WINDOW_SECS: i64 = 10;

/// The metrics a platform threshold can watch, their kind and meaning.
pub const METRICS: &[(&str, MetricKind, &str)] = &[
    (
        "http_req_duration",
        MetricKind::Trend,
        "latency from the intended send time, ms (coordinated-omission corrected)",
    ),
    ("http_req_failed", MetricKind::Rate, "share of completed requests that failed their checks or errored"),
    ("http_reqs", MetricKind::Counter, "requests sent (count, or rate per second)"),
    ("dropped_iterations", MetricKind::Counter, "requests not sent because max VUs were in flight"),
    ("rps_of_target", MetricKind::Gauge, "achieved rps divided by target rps (1 = on target)"),
    ("checks", MetricKind::Rate, "share of checks that passed (a simple script's check is its status check)"),
];

/// Tags a platform threshold may filter on: a script run's name (`name` and
/// `script` both mean it).
pub const TAGS: &[&str] = &["name", "script"];

/// A threshold as a run took it at its start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// Row id of the threshold (0 when it came from a script's own options).
    pub id: i64,
    /// `scenario`, `script` or `k6` (an extended script's `options.thresholds`).
    pub origin: String,
    /// The script run it is limited to; `None`: the whole run.
    pub script_run_id: Option<i64>,
    /// That script run's name ("" for the whole run).
    pub script_name: String,
    /// Metric key, e.g. `http_req_duration{name:login}`.
    pub metric: String,
    /// Expression, e.g. `p(95)<300`.
    pub expression: String,
    pub abort_on_fail: bool,
    pub grace_s: i64,
}

impl Spec {
    /// `http_req_duration p(95)<300` (with ` [script login]` when scoped).
    pub fn label(&self) -> String {
        if self.script_name.is_empty() {
            format!("{} {}", self.metric, self.expression)
        } else {
            format!("{} {} [script {}]", self.metric, self.expression, self.script_name)
        }
    }
}

/// Why a platform threshold is refused: the field and the message (with the
/// column for a syntax error).
pub fn validate(metric: &str, expression: &str) -> Result<(), (&'static str, String)> {
    let key = threshold::parse_metric_key(metric).map_err(|e| ("metric", e.to_string()))?;
    let expr = threshold::parse(expression).map_err(|e| ("expression", e.to_string()))?;
    let Some((_, kind, _)) = METRICS.iter().find(|(n, _, _)| *n == key.metric) else {
        let known: Vec<&str> = METRICS.iter().map(|(n, _, _)| *n).collect();
        return Err(("metric", format!("unknown metric {:?}: use one of {}", key.metric, known.join(", "))));
    };
    if let Some(tag) = key.tags.keys().find(|t| !TAGS.contains(&t.as_str())) {
        return Err(("metric", format!("tag {tag:?} cannot be filtered on: use name or script")));
    }
    if !expr.aggregation.applies_to(*kind) {
        return Err((
            "expression",
            format!("{} does not apply to {} (a {kind:?} metric)", expr.aggregation, key.metric).to_lowercase(),
        ));
    }
    Ok(())
}

/// The value of `aggregation` of `metric` over summed seconds; `None` when there
/// is no data.
#[allow(clippy::cast_precision_loss)]
pub fn observe(sum: &Sum, metric: &str, aggregation: Aggregation) -> Option<f64> {
    let secs = sum.seconds.len() as f64;
    let c = &sum.counts;
    let done = (c.ok + c.failed) as f64;
    match (metric, aggregation) {
        ("http_req_duration", a) => {
            if sum.latency.count() == 0 {
                return None;
            }
            let (h, l) = (&sum.latency, Layout::agents());
            Some(match a {
                Aggregation::Avg => h.mean(l) / 1000.0,
                Aggregation::Min => h.min(l) as f64 / 1000.0,
                Aggregation::Max => h.max(l) as f64 / 1000.0,
                Aggregation::Med => h.quantile_ms(l, 0.5),
                Aggregation::Percentile(p) => h.quantile_ms(l, p / 100.0),
                _ => return None,
            })
        }
        ("http_req_failed", Aggregation::Rate) if done > 0.0 => Some(c.failed as f64 / done),
        ("checks", Aggregation::Rate) if done > 0.0 => Some(c.ok as f64 / done),
        ("http_reqs", Aggregation::Count) if secs > 0.0 => Some(c.sent as f64),
        ("http_reqs", Aggregation::Rate) if secs > 0.0 => Some(c.sent as f64 / secs),
        ("dropped_iterations", Aggregation::Count) if secs > 0.0 => Some(c.dropped as f64),
        ("dropped_iterations", Aggregation::Rate) if secs > 0.0 => Some(c.dropped as f64 / secs),
        ("rps_of_target", Aggregation::Value) if sum.target_sum > 0.0 => Some(c.sent as f64 / sum.target_sum),
        _ => None,
    }
}

/// A script run's seconds, as a threshold selects them.
pub struct ScriptSeconds<'a> {
    pub id: i64,
    pub name: &'a str,
    pub seconds: &'a [Second],
}

/// Judges every threshold over the seconds in `[from, to)`. `None`: no data
/// for that threshold (or it cannot be read).
pub fn judge(specs: &[Spec], scripts: &[ScriptSeconds<'_>], from: i64, to: i64) -> Vec<Option<Judged>> {
    // One aggregate per script run, merged per threshold.
    let sums: BTreeMap<i64, Sum> =
        scripts.iter().map(|s| (s.id, Sum::of(s.seconds.iter().filter(|x| x.ts >= from && x.ts < to)))).collect();
    // Thresholds over the same script runs (most are over the whole run)
    // share one merged aggregate.
    let mut merged: BTreeMap<Vec<i64>, Sum> = BTreeMap::new();
    specs
        .iter()
        .map(|spec| {
            let key: MetricKey = threshold::parse_metric_key(&spec.metric).ok()?;
            let expr = threshold::parse(&spec.expression).ok()?;
            let chosen: Vec<i64> = scripts
                .iter()
                .filter(|s| spec.script_run_id.is_none_or(|id| id == s.id))
                .filter(|s| key.tags.iter().all(|(t, v)| TAGS.contains(&t.as_str()) && v == s.name))
                .map(|s| s.id)
                .collect();
            let sum = merged.entry(chosen).or_insert_with_key(|ids| Sum::combine(ids.iter().map(|id| &sums[id])));
            expr.judge(&|a| observe(sum, &key.metric, a))
        })
        .collect()
}

/// A threshold's state across live evaluations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Last judgement: `None` when there was no data.
    pub passed: Option<bool>,
    pub observed: Option<f64>,
    /// Unix second since which it has failed without a break.
    pub failing_since: Option<i64>,
    /// Whether it failed in any live evaluation.
    pub ever_failed: bool,
}

/// The result of one live pass: new states, and the index of the threshold
/// that aborts the run, if one does.
pub fn live_step(specs: &[Spec], prev: &[State], judged: &[Option<Judged>], now: i64) -> (Vec<State>, Option<usize>) {
    let mut abort = None;
    let states = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let old = prev.get(i).cloned().unwrap_or_default();
            let Some(j) = judged.get(i).copied().flatten() else {
                // No data: keep what is known, judge nothing.
                return State { passed: None, ..old };
            };
            let failing_since = if j.passed { None } else { Some(old.failing_since.unwrap_or(now)) };
            if let Some(since) = failing_since
                && spec.abort_on_fail
                && now - since >= spec.grace_s
                && abort.is_none()
            {
                abort = Some(i);
            }
            State {
                passed: Some(j.passed),
                observed: Some(j.observed),
                failing_since,
                ever_failed: old.ever_failed || !j.passed,
            }
        })
        .collect();
    (states, abort)
}

/// The verdict of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No thresholds.
    None,
    /// Still running.
    Pending,
    Passed,
    Failed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::None => "none",
            Verdict::Pending => "pending",
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Self {
        match s {
            "none" => Verdict::None,
            "passed" => Verdict::Passed,
            "failed" => Verdict::Failed,
            _ => Verdict::Pending,
        }
    }
}

/// The final verdict from the whole-run judgements: failed when a threshold
/// failed or had no data, or the run was aborted.
pub fn final_verdict(specs: &[Spec], judged: &[Option<Judged>], aborted: bool) -> Verdict {
    if specs.is_empty() && !aborted {
        return Verdict::None;
    }
    if aborted || judged.iter().any(|j| j.is_none_or(|j| !j.passed)) { Verdict::Failed } else { Verdict::Passed }
}

/// One line saying why a run failed (or that it passed), for `runs.info`.
pub fn explain(specs: &[Spec], judged: &[Option<Judged>], verdict: Verdict, aborted: &str) -> String {
    match verdict {
        Verdict::None => String::new(),
        Verdict::Pending => "verdict pending".into(),
        Verdict::Passed => format!("verdict: passed ({} thresholds)", specs.len()),
        Verdict::Failed => {
            let failed: Vec<String> = specs
                .iter()
                .zip(judged)
                .filter(|(_, j)| j.is_none_or(|j| !j.passed))
                .map(|(s, j)| match j {
                    Some(j) => format!("{} (observed {})", s.label(), round(j.observed)),
                    None => format!("{} (no data)", s.label()),
                })
                .collect();
            let mut out = String::from("verdict: failed");
            if !aborted.is_empty() {
                out.push_str(&format!("; {aborted}"));
            }
            if !failed.is_empty() {
                out.push_str(&format!("; {}", failed.join("; ")));
            }
            out
        }
    }
}

/// Four significant decimals at most, for messages.
pub fn round(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    use alilo_agent_api::hist;

    fn second(ts: i64, sent: i64, failed: i64, latency_us: u64, target: f64) -> Second {
        let mut h = hist::new();
        for _ in 0..(sent - failed) {
            hist::record(&mut h, latency_us);
        }
        Second {
            ts,
            target_rps: target,
            counts: crate::counts::Counts { sent, ok: sent - failed, failed, ..Default::default() },
            latency: crate::control::stored::latency(&hist::encode(&h)),
            ..Second::default()
        }
    }

    fn spec(metric: &str, expression: &str) -> Spec {
        Spec {
            id: 1,
            origin: "scenario".into(),
            script_run_id: None,
            script_name: String::new(),
            metric: metric.into(),
            expression: expression.into(),
            abort_on_fail: false,
            grace_s: 0,
        }
    }

    #[test]
    fn platform_thresholds_are_validated_naming_the_field() {
        type Case<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>);
        let cases: &[Case<'_>] = &[
            ("http_req_duration", "p(95)<300", None),
            ("http_req_duration{name:login}", "max<2000", None),
            ("http_req_failed", "rate<0.01", None),
            ("rps_of_target", "value>=0.95", None),
            ("checks", "rate>0.99", None),
            ("http_reqs", "count>10", None),
            ("http_req_duration", "p(95<300", Some(("expression", "column 5"))),
            ("http_req_duration", "rate<1", Some(("expression", "rate does not apply"))),
            ("latency", "p(95)<300", Some(("metric", "unknown metric \"latency\""))),
            ("http_req_duration{status:500}", "p(95)<3", Some(("metric", "tag \"status\" cannot"))),
            ("http_req_duration{", "p(95)<3", Some(("metric", "column 19"))),
        ];
        for (metric, expression, want) in cases {
            let got = validate(metric, expression);
            match want {
                None => assert_eq!(got, Ok(()), "{metric} {expression}"),
                Some((field, msg)) => {
                    let (f, m) = got.unwrap_err();
                    assert_eq!(f, *field, "{metric} {expression}: {m}");
                    assert!(m.contains(msg), "{metric} {expression}: {m}");
                }
            }
        }
    }

    #[test]
    fn each_metric_is_read_from_merged_seconds() {
        // Two script runs over two seconds: 10 ms and 30 ms, 1 failure in 40.
        let a = [second(100, 10, 0, 10_000, 10.0), second(101, 10, 0, 10_000, 10.0)];
        let b = [second(100, 10, 1, 30_000, 20.0), second(101, 10, 0, 30_000, 20.0)];
        let scripts =
            [ScriptSeconds { id: 1, name: "home", seconds: &a }, ScriptSeconds { id: 2, name: "login", seconds: &b }];
        let specs = [
            spec("http_req_duration", "p(50)<100"),
            spec("http_req_duration", "max<100"),
            spec("http_req_failed", "rate<0.1"),
            spec("http_reqs", "rate>0"),
            spec("rps_of_target", "value>=0.9"),
            spec("http_req_duration{name:home}", "max<100"),
            spec("checks", "rate>0"),
        ];
        let got: Vec<f64> = judge(&specs, &scripts, 0, 1000).into_iter().map(|j| round(j.unwrap().observed)).collect();
        assert!((got[0] - 10.0).abs() < 0.1, "p50 {}", got[0]);
        assert!((got[1] - 30.0).abs() < 0.1, "max {}", got[1]);
        assert_eq!(got[2], round(1.0 / 40.0));
        assert_eq!(got[3], 20.0, "40 requests over 2 seconds");
        assert_eq!(got[4], round(40.0 / 60.0), "40 sent of 60 aimed at");
        assert!((got[5] - 10.0).abs() < 0.1, "only home: {}", got[5]);
        assert_eq!(got[6], round(39.0 / 40.0));
    }

    #[test]
    fn a_script_scoped_threshold_sees_only_its_script_and_the_window_bounds_hold() {
        let a = [second(100, 10, 0, 10_000, 10.0), second(105, 10, 0, 90_000, 10.0)];
        let b = [second(100, 10, 0, 50_000, 10.0)];
        let scripts =
            [ScriptSeconds { id: 1, name: "a", seconds: &a }, ScriptSeconds { id: 2, name: "b", seconds: &b }];
        let mut s = spec("http_req_duration", "max<20");
        s.script_run_id = Some(1);
        let j = judge(std::slice::from_ref(&s), &scripts, 100, 105);
        assert!(j[0].unwrap().passed, "second 105 is outside [100, 105)");
        let j = judge(&[s], &scripts, 100, 106);
        assert!(!j[0].unwrap().passed);
        let j = judge(&[spec("http_req_duration{name:nobody}", "max<20")], &scripts, 0, 1000);
        assert_eq!(j[0], None, "a tag that matches nothing has no data");
    }

    #[test]
    fn abort_waits_for_the_grace_period_and_a_pass_resets_it() {
        let mut s = spec("http_req_duration", "p(95)<300");
        s.abort_on_fail = true;
        s.grace_s = 5;
        let specs = [s];
        let fail = [Some(Judged { observed: 400.0, passed: false })];
        let pass = [Some(Judged { observed: 100.0, passed: true })];
        let (st, abort) = live_step(&specs, &[], &fail, 100);
        assert_eq!((st[0].failing_since, abort), (Some(100), None));
        let (st, abort) = live_step(&specs, &st, &fail, 104);
        assert_eq!(abort, None, "4 s of failure < 5 s grace");
        let (st2, abort) = live_step(&specs, &st, &fail, 105);
        assert_eq!(abort, Some(0));
        assert!(st2[0].ever_failed);
        let (st, _) = live_step(&specs, &st, &pass, 105);
        assert_eq!(st[0].failing_since, None, "passing resets the grace");
        let (st, abort) = live_step(&specs, &st, &[None], 106);
        assert_eq!((st[0].passed, abort), (None, None), "no data judges nothing");
    }

    #[test]
    fn thresholds_without_abort_never_abort() {
        let specs = [spec("http_req_failed", "rate<0.01")];
        let (_, abort) = live_step(&specs, &[], &[Some(Judged { observed: 0.5, passed: false })], 1);
        assert_eq!(abort, None);
    }

    #[test]
    fn the_final_verdict_fails_on_any_failure_missing_data_or_abort() {
        let specs = [spec("a", "avg<1"), spec("b", "avg<1")];
        let ok = Some(Judged { observed: 0.5, passed: true });
        let bad = Some(Judged { observed: 2.0, passed: false });
        assert_eq!(final_verdict(&specs, &[ok, ok], false), Verdict::Passed);
        assert_eq!(final_verdict(&specs, &[ok, bad], false), Verdict::Failed);
        assert_eq!(final_verdict(&specs, &[ok, None], false), Verdict::Failed);
        assert_eq!(final_verdict(&specs, &[ok, ok], true), Verdict::Failed);
        assert_eq!(final_verdict(&[], &[], false), Verdict::None);
        let why = explain(&specs, &[ok, bad], Verdict::Failed, "");
        assert_eq!(why, "verdict: failed; b avg<1 (observed 2)");
        let why = explain(&specs, &[ok, None], Verdict::Failed, "aborted: x");
        assert_eq!(why, "verdict: failed; aborted: x; b avg<1 (no data)");
    }
}
