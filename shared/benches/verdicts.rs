//! Verdict benchmarks (#12), before/after in one run, as ratios:
//!
//! 1. the report of a one-hour run of 20 scripts (72,000 stored seconds):
//!    time and size (goal: under 2 s and 2 MB);
//! 2. the whole-run figures behind it, with the sparse histogram reader of
//!    `verdict::dist` (`control::metrics::Sum`, what every reader uses) versus
//!    decoding each second into an HDR histogram and merging (what
//!    `control::metrics::figures` did before it used `Sum`);
//! 3. threshold evaluation per controller pass: 10 thresholds over the live
//!    window of 20 scripts, and the final verdict over the whole hour;
//! 4. the `/metrics` exposition of 100 script runs (rendering only; the
//!    scrape over HTTP and Postgres is the ignored test `metrics_scrape_bench`).
//!
//! `cargo bench -p alilo-shared --bench verdicts` (or `bench/verdicts/run.sh`).

use alilo_agent_api::hist;
use alilo_shared::control::metrics::{Second, Sum, figures};
use alilo_shared::counts::Counts;
use alilo_shared::db::runs::{RunRow, ScriptRunRow};
use alilo_shared::model::run::{RunKind, RunStatus, ScriptKind, ScriptRunDesired, ScriptRunStatus};
use alilo_shared::verdict::prom::{self, LiveRun, LiveScript};
use alilo_shared::verdict::report;
use alilo_shared::verdict::rules::{self, ScriptSeconds, Spec};
use alilo_shared::wire::verdicts::VerdictResponse;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

const SCRIPTS: i64 = 20;
const SECONDS: i64 = 3600;
const START: i64 = 1_800_000_000;

/// A second of one script at 50 rps: latencies spread over ~40 buckets, a
/// slow tail, an error now and then.
fn second(script: i64, ts: i64) -> Second {
    let mut h = hist::new();
    let mut x = (script * 7919 + ts * 104_729) as u64;
    for _ in 0..50 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let base = 2_000 + (x >> 33) % 8_000;
        let v = if (x >> 20).is_multiple_of(100) { base * 40 } else { base };
        hist::record(&mut h, v);
    }
    let failed = i64::from(ts % 97 == 0);
    Second {
        ts,
        target_rps: 50.0,
        counts: Counts {
            sent: 50,
            ok: 50 - failed,
            failed,
            dropped: 0,
            bytes_sent: 50 * 200,
            bytes_received: 50 * 1200,
        },
        status: BTreeMap::from([("200".to_string(), 50 - failed), ("503".to_string(), failed)]),
        errors: BTreeMap::new(),
        latency: alilo_shared::control::stored::latency(&hist::encode(&h)),
    }
}

fn spec(metric: &str, expression: &str) -> Spec {
    Spec {
        id: 0,
        origin: "scenario".into(),
        script_run_id: None,
        script_name: String::new(),
        metric: metric.into(),
        expression: expression.into(),
        abort_on_fail: false,
        grace_s: 0,
    }
}

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed().as_secs_f64() * 1000.0)
}

fn main() {
    let now = chrono::Utc::now();
    let by: BTreeMap<i64, Vec<Second>> =
        (1..=SCRIPTS).map(|s| (s, (0..SECONDS).map(|t| second(s, START + t)).collect())).collect();
    let srs: Vec<ScriptRunRow> = (1..=SCRIPTS)
        .map(|s| ScriptRunRow {
            id: s,
            run_id: 1,
            kind: ScriptKind::Simple,
            script_id: s,
            name: format!("script-{s:02}"),
            script: serde_json::json!({"name": format!("script-{s:02}"), "path": "shop.example/api/items", "rps": "50"}),
            status: ScriptRunStatus::Stopped,
            info: String::new(),
            target_rps: 50,
            percentage: 100,
            extra_rps: 0,
            desired: ScriptRunDesired::Running,
        })
        .collect();
    let run = RunRow {
        id: 1,
        scenario_id: 1,
        project_id: 1,
        title: "Checkout, one hour".into(),
        status: RunStatus::Stopped,
        kind: RunKind::Scenario,
        percentage: 100,
        info: String::new(),
        user_name: "bench".into(),
        preferred_user_name: String::new(),
        report_link: String::new(),
        created_at: now,
        updated_at: now,
        started_at: chrono::DateTime::from_timestamp(START, 0).unwrap(),
        ended_at: chrono::DateTime::from_timestamp(START + SECONDS, 0),
    };
    let verdict = VerdictResponse {
        status: true,
        message: String::new(),
        run_id: 1,
        run_status: run.status.to_string(),
        verdict: "passed".into(),
        is_final: true,
        aborted: String::new(),
        explanation: String::new(),
        warmup_s: rules::WARMUP_SECS,
        live_window_s: rules::LIVE_WINDOW_SECS,
        thresholds: vec![],
        report_link: String::new(),
    };
    let changes: Vec<(i64, String, String)> =
        (1..=12).map(|i| (START + i * 280, "alice".to_string(), format!("adjust to {} %", 100 + i * 10))).collect();

    println!("verdicts bench: {SCRIPTS} scripts x {SECONDS} s = {} stored seconds", SCRIPTS * SECONDS);

    // 1. The report.
    let (html, ms_report) = time(|| {
        let d = report::data(
            &run,
            verdict.clone(),
            &srs,
            &by,
            changes.clone(),
            vec![("http://agent-1:8888".into(), 20)],
            None,
        );
        report::render(&d)
    });
    println!("report: {ms_report:.0} ms, {:.2} MB  (goals: < 2000 ms, < 2 MB)", html.len() as f64 / 1_048_576.0);

    // 2. Whole-run figures, per script and in total: sparse vs HDR decode+merge.
    let (sparse, ms_sparse) = time(|| {
        let sums: Vec<Sum> = by.values().map(Sum::of).collect();
        Sum::combine(&sums).figures(None).p99
    });
    let (hdr, ms_hdr) = time(|| {
        let mut merged = hist::new();
        for s in by.values().flatten() {
            merged.add(hist::decode_v2(&s.latency).expect("an agent's histogram")).expect("same bounds");
        }
        hist::quantile_ms(&merged, 0.99)
    });
    assert_eq!(figures(by.values().flatten(), None).p99, sparse, "one way of summing");
    assert!((sparse - hdr).abs() < 1e-9, "both readers give the same p99: {sparse} vs {hdr}");
    println!(
        "whole-run figures: sparse {ms_sparse:.0} ms vs HDR decode+merge {ms_hdr:.0} ms: {:.1}x faster, same p99 {sparse} ms",
        ms_hdr / ms_sparse
    );

    // 3. Threshold evaluation.
    let specs = [
        spec("http_req_duration", "p(95)<300"),
        spec("http_req_duration", "p(99)<800"),
        spec("http_req_duration", "p(50)<100"),
        spec("http_req_duration", "max<5000"),
        spec("http_req_duration{name:script-03}", "p(95)<200"),
        spec("http_req_failed", "rate<0.01"),
        spec("http_reqs", "rate>500"),
        spec("rps_of_target", "value>=0.95"),
        spec("checks", "rate>0.99"),
        spec("dropped_iterations", "count<10"),
    ];
    let window: BTreeMap<i64, Vec<Second>> =
        by.iter().map(|(id, rows)| (*id, rows[rows.len() - 12..].to_vec())).collect();
    let scripts: Vec<ScriptSeconds<'_>> =
        srs.iter().map(|s| ScriptSeconds { id: s.id, name: &s.name, seconds: &window[&s.id] }).collect();
    let passes = 200;
    let (_, ms_live) = time(|| {
        for _ in 0..passes {
            black_box(rules::judge(&specs, &scripts, START + SECONDS - 11, START + SECONDS - 1));
        }
    });
    println!(
        "live evaluation: {:.3} ms per pass (10 thresholds, 20 scripts, 10 s window)",
        ms_live / f64::from(passes)
    );
    let whole: Vec<ScriptSeconds<'_>> =
        srs.iter().map(|s| ScriptSeconds { id: s.id, name: &s.name, seconds: &by[&s.id] }).collect();
    let (_, ms_final) = time(|| black_box(rules::judge(&specs, &whole, i64::MIN, i64::MAX)));
    println!("final evaluation over the hour: {ms_final:.0} ms");

    // 4. The exposition of 100 script runs.
    let runs: Vec<LiveRun> = (1..=10)
        .map(|r| LiveRun {
            run_id: r,
            scenario_id: r,
            title: format!("run {r}"),
            status: "STATUS_RUNNING".into(),
            percentage: 100,
            thresholds: vec![("http_req_duration p(95)<300".into(), Some(true))],
        })
        .collect();
    let live: Vec<LiveScript> = (0..100)
        .map(|i| LiveScript {
            run_id: i / 10 + 1,
            script: format!("script-{i}"),
            target_rps: 50.0,
            achieved_rps: 49.8,
            p95: 12.5,
            count: 250,
            sum_ms: 2000.0,
            errors: BTreeMap::from([("timeout".to_string(), 0.2)]),
            ..LiveScript::default()
        })
        .collect();
    let n = 1000;
    let (text, ms_prom) = time(|| {
        let mut last = String::new();
        for _ in 0..n {
            last = prom::render(black_box(&runs), black_box(&live));
        }
        last
    });
    println!("/metrics rendering: {:.3} ms for 100 script runs ({} bytes)", ms_prom / f64::from(n), text.len());
}
