//! A run's report: one self-contained HTML file (inline CSS and SVG, no
//! script, no external resource) that a person can open offline.
//!
//! It shows the verdict and thresholds, a summary table per script (the same
//! numbers as `/v1/run/summary`: exact percentiles of the histograms merged
//! across agents), charts over time (target vs achieved rps, p50/p95/p99,
//! errors by kind, status codes, requests in flight), every load change
//! marked on the time axis with who made it, the agents used, and each
//! script as it was started. Every user-supplied text is escaped.
//!
//! Series are cut into at most [`MAX_POINTS`] intervals, so a long run gives
//! a file of bounded size. The figures are [`crate::control::metrics`]'s, the
//! summary route's: each script's seconds are summed once per interval
//! ([`intervals`]), and the script's whole, the run's intervals and its total
//! combine those sums, so each stored histogram is decoded once.

use super::chart::{self, CSS, Line, Marker, esc};
use crate::control::metrics::{Second, Sum, combine_intervals, intervals};
use crate::counts::Counts;
use crate::db::runs::{RunRow, ScriptRunRow};
use crate::wire::verdicts::{NameDeltas, VerdictResponse};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Most intervals of a chart.
pub const MAX_POINTS: i64 = 600;

/// One line of the summary table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub name: String,
    pub kind: String,
    pub status: String,
    pub target_rps: f64,
    pub achieved_rps: f64,
    pub counts: Counts,
    pub error_rate: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub status_codes: BTreeMap<String, i64>,
    pub errors: BTreeMap<String, i64>,
}

/// One interval of the time series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Point {
    pub ts: i64,
    pub target_rps: f64,
    pub achieved_rps: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    /// Errors per second by kind, responses per second by status code.
    pub errors: BTreeMap<String, f64>,
    pub status: BTreeMap<String, f64>,
    /// Requests in flight, estimated by Little's law (rate × mean latency):
    /// agents do not store it per second.
    pub in_flight: f64,
}

/// Everything a report shows.
#[derive(Debug, Clone)]
pub struct ReportData {
    pub run_id: i64,
    pub title: String,
    pub status: String,
    pub user_name: String,
    pub started: i64,
    pub ended: Option<i64>,
    pub percentage: i32,
    pub verdict: VerdictResponse,
    pub total: Row,
    pub scripts: Vec<Row>,
    pub step: i64,
    pub points: Vec<Point>,
    pub per_script: Vec<(String, Vec<Point>)>,
    /// (Unix second, who, what).
    pub changes: Vec<(i64, String, String)>,
    /// (agent URL, jobs).
    pub agents: Vec<(String, i64)>,
    /// (name, kind, the script as started, JSON).
    pub versions: Vec<(String, String, String)>,
    pub comparison: Option<(i64, Vec<NameDeltas>)>,
}

fn row(name: &str, kind: &str, status: &str, target: f64, sum: &Sum) -> Row {
    let f = sum.figures(None);
    Row {
        name: name.into(),
        kind: kind.into(),
        status: status.into(),
        target_rps: target,
        achieved_rps: f.achieved_rps,
        counts: f.counts,
        error_rate: f.error_rate,
        p50: f.p50,
        p90: f.p90,
        p95: f.p95,
        p99: f.p99,
        max: f.max,
        status_codes: f.status,
        errors: f.errors,
    }
}

#[allow(clippy::cast_precision_loss)]
fn point(ts: i64, sum: &Sum, step: i64) -> Point {
    let f = sum.figures(Some(step));
    let per_s = |n: &i64| *n as f64 / step as f64;
    Point {
        ts,
        target_rps: f.target_rps,
        achieved_rps: f.achieved_rps,
        p50: f.p50,
        p95: f.p95,
        p99: f.p99,
        errors: f.errors.iter().map(|(k, v)| (k.clone(), per_s(v))).collect(),
        status: f.status.iter().map(|(k, v)| (k.clone(), per_s(v))).collect(),
        in_flight: f.achieved_rps * f.mean / 1000.0,
    }
}

fn points(sums: &BTreeMap<i64, Sum>, step: i64) -> Vec<Point> {
    sums.iter().map(|(ts, sum)| point(*ts, sum, step)).collect()
}

/// Cuts seconds into intervals of `step` from `start`.
pub fn series(seconds: &[&Second], start: i64, step: i64) -> Vec<Point> {
    points(&intervals(seconds.iter().copied(), start, step), step)
}

/// The interval that keeps a run of `secs` seconds under [`MAX_POINTS`].
pub fn step_for(secs: i64) -> i64 {
    ((secs + MAX_POINTS - 1) / MAX_POINTS).max(1)
}

/// Builds the report's data from the rows of a run.
pub fn data(
    run: &RunRow,
    verdict: VerdictResponse,
    srs: &[ScriptRunRow],
    by: &BTreeMap<i64, Vec<Second>>,
    changes: Vec<(i64, String, String)>,
    agents: Vec<(String, i64)>,
    comparison: Option<(i64, Vec<NameDeltas>)>,
) -> ReportData {
    let started = run.started_at.timestamp();
    let last = by.values().flatten().map(|s| s.ts).max().unwrap_or(started);
    let step = step_for(last - started + 1);
    // Each script's seconds, decoded once into intervals; everything else combines those.
    let cut: Vec<BTreeMap<i64, Sum>> =
        srs.iter().map(|sr| intervals(by.get(&sr.id).into_iter().flatten(), started, step)).collect();
    let wholes: Vec<Sum> = cut.iter().map(|parts| Sum::combine(parts.values())).collect();
    let scripts: Vec<Row> = srs
        .iter()
        .zip(&wholes)
        .map(|(sr, whole)| row(&sr.name, sr.kind.as_str(), sr.status.as_str(), sr.desired_rps(), whole))
        .collect();
    let target: f64 = srs.iter().map(ScriptRunRow::desired_rps).sum();
    let per_script = srs.iter().zip(&cut).map(|(sr, parts)| (sr.name.clone(), points(parts, step))).collect();
    let totals = combine_intervals(&cut);
    ReportData {
        run_id: run.id,
        title: run.title.clone(),
        status: run.status.to_string(),
        user_name: run.user_name.clone(),
        started,
        ended: run.ended_at.map(|t| t.timestamp()),
        percentage: run.percentage,
        verdict,
        total: row("total", "", run.status.as_str(), target, &Sum::combine(&wholes)),
        scripts,
        step,
        points: points(&totals, step),
        per_script,
        changes,
        agents,
        versions: srs
            .iter()
            .map(|sr| {
                (sr.name.clone(), sr.kind.to_string(), serde_json::to_string_pretty(&sr.script).unwrap_or_default())
            })
            .collect(),
        comparison,
    }
}

fn utc(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map_or_else(|| ts.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

const PALETTE: &[&str] = &["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

/// The charts of a series (shared with the live page).
pub fn charts(points: &[Point], start: i64, markers: &[Marker], out: &mut String) {
    let xs: Vec<i64> = points.iter().map(|p| p.ts).collect();
    let col = |f: fn(&Point) -> f64| points.iter().map(f).collect::<Vec<f64>>();
    let (target, achieved) = (col(|p| p.target_rps), col(|p| p.achieved_rps));
    out.push_str(&chart::lines(
        "Target vs achieved",
        "rps",
        start,
        &xs,
        &[
            Line { label: "target", color: "#999", values: &target },
            Line { label: "achieved", color: PALETTE[0], values: &achieved },
        ],
        markers,
    ));
    let (p50, p95, p99) = (col(|p| p.p50), col(|p| p.p95), col(|p| p.p99));
    out.push_str(&chart::lines(
        "Latency",
        "ms",
        start,
        &xs,
        &[
            Line { label: "p50", color: PALETTE[2], values: &p50 },
            Line { label: "p95", color: PALETTE[3], values: &p95 },
            Line { label: "p99", color: PALETTE[1], values: &p99 },
        ],
        markers,
    ));
    let keyed = |pick: fn(&Point) -> &BTreeMap<String, f64>| {
        let keys: std::collections::BTreeSet<&String> = points.iter().flat_map(|p| pick(p).keys()).collect();
        keys.into_iter()
            .map(|k| (k.clone(), points.iter().map(|p| pick(p).get(k).copied().unwrap_or(0.0)).collect::<Vec<f64>>()))
            .collect::<Vec<_>>()
    };
    let errors = keyed(|p| &p.errors);
    let lines: Vec<Line<'_>> = errors
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Line { label: k, color: PALETTE[i % PALETTE.len()], values: v })
        .collect();
    out.push_str(&chart::lines("Errors by kind", "per s", start, &xs, &lines, markers));
    let status = keyed(|p| &p.status);
    let lines: Vec<Line<'_>> = status
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Line { label: k, color: PALETTE[i % PALETTE.len()], values: v })
        .collect();
    out.push_str(&chart::lines("Responses by status", "per s", start, &xs, &lines, markers));
    let in_flight = col(|p| p.in_flight);
    out.push_str(&chart::lines(
        "In flight (rate x mean latency)",
        "requests",
        start,
        &xs,
        &[Line { label: "in flight", color: PALETTE[4], values: &in_flight }],
        markers,
    ));
}

fn f(v: f64) -> String {
    format!("{v:.2}")
}

fn table_row(out: &mut String, r: &Row) {
    let codes: Vec<String> = r.status_codes.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let errors: Vec<String> = r.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let _ = write!(
        out,
        r#"<tr data-script="{}"><th>{}</th><td data-k="target_rps">{}</td><td data-k="achieved_rps">{}</td><td data-k="requests">{}</td><td data-k="ok">{}</td><td data-k="failed">{}</td><td data-k="dropped">{}</td><td data-k="error_rate">{:.4}</td><td data-k="p50">{}</td><td data-k="p90">{}</td><td data-k="p95">{}</td><td data-k="p99">{}</td><td data-k="max">{}</td><td>{}</td><td>{}</td></tr>"#,
        esc(&r.name),
        esc(&r.name),
        f(r.target_rps),
        f(r.achieved_rps),
        r.counts.sent,
        r.counts.ok,
        r.counts.failed,
        r.counts.dropped,
        r.error_rate,
        f(r.p50),
        f(r.p90),
        f(r.p95),
        f(r.p99),
        f(r.max),
        esc(&codes.join(", ")),
        esc(&errors.join(", "))
    );
}

/// The markers of the load changes.
pub fn markers(changes: &[(i64, String, String)]) -> Vec<Marker> {
    changes.iter().map(|(ts, who, what)| Marker { ts: *ts, text: format!("{who}: {what}") }).collect()
}

/// Renders the whole file.
pub fn render(d: &ReportData) -> String {
    let mut out = String::with_capacity(256 * 1024);
    let title = format!("Run {} - {}", d.run_id, d.title);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}\
body{{font:14px sans-serif;margin:24px;color:#222;max-width:1200px}}table{{border-collapse:collapse;margin:8px 0}}\
td,th{{border:1px solid #ddd;padding:3px 6px;text-align:right;font-size:12px}}th{{text-align:left}}\
.passed{{color:#137333}}.failed{{color:#c5221f}}.pending,.none{{color:#666}}pre{{background:#f6f6f6;padding:8px;overflow:auto;font-size:11px}}\
</style></head><body>",
        esc(&title)
    );
    let v = &d.verdict;
    let _ = write!(
        out,
        "<h1>{}</h1><p>Status {} · load {} % · started {} by {} · {}</p>",
        esc(&title),
        esc(&d.status),
        d.percentage,
        utc(d.started),
        esc(&d.user_name),
        d.ended.map_or("still running".to_string(), |e| format!("ended {} ({} s)", utc(e), e - d.started))
    );
    let _ = write!(out, "<h2>Verdict: <span id=\"verdict\" class=\"{0}\">{0}</span></h2>", esc(&v.verdict));
    if !v.explanation.is_empty() {
        let _ = write!(out, "<p>{}</p>", esc(&v.explanation));
    }
    if !v.aborted.is_empty() {
        let _ = write!(out, "<p class=\"failed\">{}</p>", esc(&v.aborted));
    }
    let _ = write!(
        out,
        "<p>Thresholds ignore the first {} s (warm-up); the final verdict covers the rest of the run.</p>",
        v.warmup_s
    );
    if !v.thresholds.is_empty() {
        out.push_str("<table><tr><th>metric</th><th>expression</th><th>script</th><th>from</th><th>abort</th><th>observed</th><th>result</th></tr>");
        for t in &v.thresholds {
            let result = match t.passed {
                Some(true) => "passed",
                Some(false) => "failed",
                None => "pending",
            };
            let _ = write!(
                out,
                "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{result}\">{result}</td></tr>",
                esc(&t.metric),
                esc(&t.expression),
                esc(&t.script),
                esc(&t.origin),
                if t.abort_on_fail { format!("after {} s", t.grace_s) } else { "no".into() },
                t.observed.map_or("-".to_string(), |o| o.to_string()),
            );
        }
        out.push_str("</table>");
    }
    out.push_str("<h2>Summary</h2><table id=\"summary\"><tr><th>script</th><th>target rps</th><th>achieved rps</th><th>requests</th><th>ok</th><th>failed</th><th>dropped</th><th>error rate</th><th>p50 ms</th><th>p90 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>status codes</th><th>errors</th></tr>");
    for r in &d.scripts {
        table_row(&mut out, r);
    }
    table_row(&mut out, &d.total);
    out.push_str("</table>");
    let markers = markers(&d.changes);
    let _ = write!(
        out,
        "<h2>Over time</h2><p>One point per {} s. Dashed lines: load changes (numbered below).</p>",
        d.step
    );
    charts(&d.points, d.started, &markers, &mut out);
    if d.per_script.len() > 1 {
        out.push_str("<h2>Per script</h2>");
        for (name, points) in &d.per_script {
            let xs: Vec<i64> = points.iter().map(|p| p.ts).collect();
            let target: Vec<f64> = points.iter().map(|p| p.target_rps).collect();
            let achieved: Vec<f64> = points.iter().map(|p| p.achieved_rps).collect();
            let p95: Vec<f64> = points.iter().map(|p| p.p95).collect();
            out.push_str(&chart::lines(
                &format!("{name}: rps"),
                "rps",
                d.started,
                &xs,
                &[
                    Line { label: "target", color: "#999", values: &target },
                    Line { label: "achieved", color: PALETTE[0], values: &achieved },
                ],
                &markers,
            ));
            out.push_str(&chart::lines(
                &format!("{name}: p95"),
                "ms",
                d.started,
                &xs,
                &[Line { label: "p95", color: PALETTE[3], values: &p95 }],
                &markers,
            ));
        }
    }
    out.push_str("<h2>Load changes</h2><table><tr><th>#</th><th>time</th><th>who</th><th>what</th></tr>");
    for (i, (ts, who, what)) in d.changes.iter().enumerate() {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><th>{}</th><td style=\"text-align:left\">{}</td></tr>",
            i + 1,
            utc(*ts),
            esc(who),
            esc(what)
        );
    }
    out.push_str("</table><h2>Agents</h2><table><tr><th>agent</th><th>jobs</th></tr>");
    for (url, jobs) in &d.agents {
        let _ = write!(out, "<tr><th>{}</th><td>{jobs}</td></tr>", esc(url));
    }
    out.push_str("</table>");
    if let Some((base, deltas)) = &d.comparison {
        let _ = write!(
            out,
            "<h2>Compared with baseline run {base}</h2><p>{}</p><table><tr><th>name</th><th>p50</th><th>p95</th><th>p99</th><th>error rate</th><th>achieved rps</th></tr>",
            esc(super::compare::RULE)
        );
        for n in deltas {
            let cell = |x: &crate::wire::verdicts::Delta| {
                let pct = x.change_percent.map_or(String::new(), |p| format!(" ({p:+.1}%)"));
                format!(
                    "<td class=\"{}\">{:.2} → {:.2}{pct}</td>",
                    if x.direction == "worse" {
                        "failed"
                    } else if x.direction == "better" {
                        "passed"
                    } else {
                        ""
                    },
                    x.base,
                    x.run
                )
            };
            let _ = write!(
                out,
                "<tr><th>{}</th>{}{}{}{}{}</tr>",
                esc(&n.name),
                cell(&n.p50),
                cell(&n.p95),
                cell(&n.p99),
                cell(&n.error_rate),
                cell(&n.achieved_rps)
            );
        }
        out.push_str("</table>");
    }
    out.push_str("<h2>Scripts as started</h2>");
    for (name, kind, json) in &d.versions {
        let _ =
            write!(out, "<details><summary>{} ({})</summary><pre>{}</pre></details>", esc(name), esc(kind), esc(json));
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alilo_agent_api::hist;

    fn second(ts: i64, sent: i64, latency_us: u64) -> Second {
        let mut h = hist::new();
        for _ in 0..sent {
            hist::record(&mut h, latency_us);
        }
        Second {
            ts,
            target_rps: 10.0,
            counts: crate::counts::Counts { sent, ok: sent, ..Default::default() },
            latency: crate::control::stored::latency(&hist::encode(&h)),
            status: BTreeMap::from([("200".to_string(), sent)]),
            ..Second::default()
        }
    }

    fn verdict() -> VerdictResponse {
        VerdictResponse {
            status: true,
            message: String::new(),
            run_id: 1,
            run_status: "STATUS_STOPPED_UNSPECIFIED".into(),
            verdict: "failed".into(),
            is_final: true,
            aborted: String::new(),
            explanation: "verdict: failed; <script>x</script>".into(),
            warmup_s: 10,
            live_window_s: 10,
            thresholds: vec![],
            report_link: String::new(),
        }
    }

    #[test]
    fn series_cut_into_steps_and_keep_rates_per_second() {
        let rows = [second(100, 10, 1000), second(101, 30, 3000), second(102, 20, 1000)];
        let refs: Vec<&Second> = rows.iter().collect();
        let p = series(&refs, 100, 2);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].ts, p[0].achieved_rps, p[1].achieved_rps), (100, 20.0, 10.0));
        assert_eq!(p[0].target_rps, 10.0);
        assert_eq!(p[0].status["200"], 20.0);
        assert!((p[0].p99 - 3.0).abs() < 0.01);
        assert_eq!((step_for(3600), step_for(600), step_for(601), step_for(0)), (6, 1, 2, 1));
    }

    #[test]
    fn user_text_is_escaped_and_nothing_is_loaded_from_outside() {
        let mut d = ReportData {
            run_id: 7,
            title: "<script>alert('t')</script>".into(),
            status: "STATUS_RUNNING".into(),
            user_name: "<img src=x onerror=alert(1)>".into(),
            started: 100,
            ended: None,
            percentage: 100,
            verdict: verdict(),
            total: Row { name: "total".into(), ..Row::default() },
            scripts: vec![Row { name: "</td><script>s</script>".into(), ..Row::default() }],
            step: 1,
            points: vec![],
            per_script: vec![],
            changes: vec![(101, "<b>bob</b>".into(), "adjust to 50 % <script>".into())],
            agents: vec![("http://a:8888/<x>".into(), 1)],
            versions: vec![("s".into(), "simple".into(), "{\"path\": \"</pre><script>p</script>\"}".into())],
            comparison: None,
        };
        d.points = series(&[&second(100, 5, 1000), &second(101, 5, 1000)], 100, 1);
        let html = render(&d);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"));
        assert!(!html.contains("http://a:8888/<x>"));
        assert!(html.contains("&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;"));
        for external in ["src=\"http", "href=\"http", "@import", "url("] {
            assert!(!html.contains(external), "{external}");
        }
    }
}
