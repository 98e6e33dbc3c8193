//! The Prometheus text exposition (format 0.0.4) of live run figures, for
//! `GET /metrics` of `alilo-local`.
//!
//! Figures are over each script run's live window (the last complete
//! seconds, as `/v1/run` shows them), so a scrape reads a few rows per script
//! run and never a whole run's history. Latency is a summary (quantiles, sum
//! and count over the window).

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A script run of an active run, over its live window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveScript {
    pub run_id: i64,
    pub script: String,
    pub target_rps: f64,
    pub achieved_rps: f64,
    pub error_rate: f64,
    pub dropped_per_s: f64,
    /// Latency quantiles (ms) and the window's completed requests and latency sum.
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub count: u64,
    pub sum_ms: f64,
    /// Errors per second by kind.
    pub errors: BTreeMap<String, f64>,
    /// Requests in flight, estimated as rate × mean latency.
    pub in_flight: f64,
}

/// An active run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveRun {
    pub run_id: i64,
    pub scenario_id: i64,
    pub title: String,
    pub status: String,
    pub percentage: i32,
    /// (threshold label, passing now: `None` not judged yet).
    pub thresholds: Vec<(String, Option<bool>)>,
}

/// Escapes a label value: backslash, double quote and newline.
pub fn label(v: &str) -> String {
    v.replace('\\', r"\\").replace('"', r#"\""#).replace('\n', r"\n")
}

fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else if v.is_nan() {
        "NaN".into()
    } else if v > 0.0 {
        "+Inf".into()
    } else {
        "-Inf".into()
    }
}

/// Renders the exposition.
pub fn render(runs: &[LiveRun], scripts: &[LiveScript]) -> String {
    let mut out = String::with_capacity(256 + scripts.len() * 1200);
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(&mut out, "alilo_run_info", "gauge", "An active run (1), with its scenario, title and status.");
    for r in runs {
        let _ = writeln!(
            out,
            "alilo_run_info{{run_id=\"{}\",scenario_id=\"{}\",title=\"{}\",status=\"{}\"}} 1",
            r.run_id,
            r.scenario_id,
            label(&r.title),
            label(&r.status)
        );
    }
    family(&mut out, "alilo_run_load_percent", "gauge", "The run's load level, percent of its targets.");
    for r in runs {
        let _ = writeln!(out, "alilo_run_load_percent{{run_id=\"{}\"}} {}", r.run_id, r.percentage);
    }
    family(
        &mut out,
        "alilo_run_threshold_passing",
        "gauge",
        "1 while a threshold holds, 0 while it fails (absent: not judged yet).",
    );
    for r in runs {
        for (t, passed) in &r.thresholds {
            if let Some(p) = passed {
                let _ = writeln!(
                    out,
                    "alilo_run_threshold_passing{{run_id=\"{}\",threshold=\"{}\"}} {}",
                    r.run_id,
                    label(t),
                    u8::from(*p)
                );
            }
        }
    }
    let key = |s: &LiveScript| format!("run_id=\"{}\",script=\"{}\"", s.run_id, label(&s.script));
    type Pick = fn(&LiveScript) -> f64;
    let gauges: [(&str, &str, Pick); 6] = [
        ("alilo_script_target_rps", "Rate the script run should have now.", |s| s.target_rps),
        ("alilo_script_achieved_rps", "Requests sent per second over the live window.", |s| s.achieved_rps),
        ("alilo_script_error_rate", "Failed share of completed requests over the live window.", |s| s.error_rate),
        ("alilo_script_dropped_per_second", "Requests dropped (max VUs reached) per second.", |s| s.dropped_per_s),
        ("alilo_script_in_flight", "Requests in flight, estimated as rate x mean latency.", |s| s.in_flight),
        ("alilo_script_window_requests", "Requests completed in the live window.", |s| s.count as f64),
    ];
    for (name, help, pick) in gauges {
        family(&mut out, name, "gauge", help);
        for s in scripts {
            let _ = writeln!(out, "{name}{{{}}} {}", key(s), num(pick(s)));
        }
    }
    family(&mut out, "alilo_script_errors_per_second", "gauge", "Errors per second by kind over the live window.");
    for s in scripts {
        for (kind, v) in &s.errors {
            let _ = writeln!(out, "alilo_script_errors_per_second{{{},kind=\"{}\"}} {}", key(s), label(kind), num(*v));
        }
    }
    family(
        &mut out,
        "alilo_script_latency_milliseconds",
        "summary",
        "Latency from the intended send time (coordinated-omission corrected) over the live window, merged across agents.",
    );
    for s in scripts {
        for (q, v) in [("0.5", s.p50), ("0.9", s.p90), ("0.95", s.p95), ("0.99", s.p99)] {
            let _ = writeln!(out, "alilo_script_latency_milliseconds{{{},quantile=\"{q}\"}} {}", key(s), num(v));
        }
        let _ = writeln!(out, "alilo_script_latency_milliseconds_sum{{{}}} {}", key(s), num(s.sum_ms));
        let _ = writeln!(out, "alilo_script_latency_milliseconds_count{{{}}} {}", key(s), s.count);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_every_sample_line_is_well_formed() {
        let runs = [LiveRun {
            run_id: 3,
            scenario_id: 9,
            title: "a \"quoted\"\nback\\slash".into(),
            status: "STATUS_RUNNING".into(),
            percentage: 150,
            thresholds: vec![("http_req_duration p(95)<300".into(), Some(false)), ("x".into(), None)],
        }];
        let scripts = [LiveScript {
            run_id: 3,
            script: "login".into(),
            target_rps: 10.0,
            achieved_rps: 9.5,
            p95: 12.25,
            count: 40,
            sum_ms: 300.0,
            errors: BTreeMap::from([("timeout".to_string(), 0.5)]),
            ..LiveScript::default()
        }];
        let text = render(&runs, &scripts);
        assert!(text.contains(r#"title="a \"quoted\"\nback\\slash""#), "{text}");
        assert!(text.contains(r#"alilo_run_threshold_passing{run_id="3",threshold="http_req_duration p(95)<300"} 0"#));
        assert!(!text.contains("threshold=\"x\""), "not judged: absent");
        assert!(text.contains(r#"alilo_script_latency_milliseconds{run_id="3",script="login",quantile="0.95"} 12.25"#));
        assert!(text.contains(r#"alilo_script_errors_per_second{run_id="3",script="login",kind="timeout"} 0.5"#));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok() || value == "NaN", "{line}");
            assert!(series.starts_with("alilo_") && series.ends_with('}'), "{line}");
        }
    }
}
