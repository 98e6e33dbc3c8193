//! Verdicts, reports and comparisons (#12), end to end: a real agent sends real
//! HTTP to targets whose latency the test sets, the controller judges the
//! thresholds, aborts, finalizes and writes the report to the real S3 server.

use crate::helpers::{TestApp, spawn_app};
use crate::runs::Agent;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A target answering every request after `delay_ms`.
struct SlowTarget {
    addr: std::net::SocketAddr,
    delay: Arc<AtomicU64>,
}

impl SlowTarget {
    /// Served from a thread and runtime of its own: on the test's runtime,
    /// which also runs the API, the controller and the verdicts' finalize and
    /// report, a busy moment there (a loaded machine, a debug build) held the
    /// "fast" target's answers for tens of ms, the agent measured that honestly,
    /// and the fast run's whole-run p95 failed its 40 ms threshold.
    async fn start(delay_ms: u64) -> Self {
        let delay = Arc::new(AtomicU64::new(delay_ms));
        let d = delay.clone();
        let router = axum::Router::new().fallback(move || {
            let d = d.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(d.load(Ordering::Relaxed))).await;
                "ok"
            }
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        // Detached: it ends with the test process.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, router).await.unwrap();
            });
        });
        Self { addr, delay }
    }
}

/// Polls `check` every 200 ms until it gives a value, for at most `secs`.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    secs: u64,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl TestApp {
    /// A scenario with one simple script loading `target` at `rps`, and thresholds.
    async fn scenario_with(&self, project: i64, title: &str, target: &SlowTarget, rps: u32, thresholds: Value) -> i64 {
        let scenario = self.create_scenario(project, title).await;
        let body = json!({"simple_script": {
            "scenario_id": scenario, "name": format!("s{scenario}"), "enabled": true, "tag": "v",
            "path": format!("{}/x", target.addr), "scheme": "http", "http_method": "get",
            "rps": rps.to_string(), "steps": "1", "duration": "2m", "max_v_us": "100"
        }});
        self.ok("/v1/simple-script/create", body).await;
        self.ok("/v1/thresholds/set", json!({"scenario_id": scenario, "thresholds": thresholds})).await;
        scenario
    }

    async fn start(&self, scenario: i64) -> i64 {
        let body = json!({"scenario_id": scenario, "user_name": "alice"});
        self.ok("/v1/run/start", body).await["run"]["run_id"].as_i64().unwrap()
    }

    async fn verdict(&self, run: i64) -> Value {
        self.ok("/v1/run/verdict", json!({"run_id": run})).await
    }

    /// Waits until the run's verdict is final.
    async fn final_verdict(&self, run: i64) -> Value {
        eventually(60, "a final verdict", || async {
            let v = self.verdict(run).await;
            (v["final"] == true).then_some(v)
        })
        .await
    }
}

fn cell(html: &str, script: &str, key: &str) -> f64 {
    let row = html.split(&format!("<tr data-script=\"{script}\">")).nth(1).expect("the script's row");
    let row = &row[..row.find("</tr>").unwrap()];
    let v = row.split(&format!("<td data-k=\"{key}\">")).nth(1).expect("the cell");
    v[..v.find('<').unwrap()].parse().unwrap()
}

#[tokio::test]
async fn runs_pass_fail_and_abort_on_their_thresholds_and_get_a_report() {
    let app = spawn_app().await;
    let agent = Agent::start().await;
    app.register_agent(&agent, "v").await;
    let (fast, slow) = (SlowTarget::start(0).await, SlowTarget::start(60).await);
    let project = app.create_project("verdicts").await;
    let latency = |abort: bool| {
        json!([{"metric": "http_req_duration", "expression": "p(95)<40", "abort_on_fail": abort, "grace": "1s"},
               {"metric": "http_req_failed", "expression": "rate<0.01"}])
    };
    let pass = app.scenario_with(project, "<script>alert('pass')</script>", &fast, 20, latency(false)).await;
    let fail = app.scenario_with(project, "fail", &slow, 20, latency(false)).await;
    let abort = app.scenario_with(project, "abort", &slow, 20, latency(true)).await;
    let (rp, rf, ra) = (app.start(pass).await, app.start(fail).await, app.start(abort).await);

    // The abort: stopped by the controller, and saying why.
    let v = app.final_verdict(ra).await;
    assert_eq!(v["verdict"], "failed", "{v}");
    let why = v["aborted"].as_str().unwrap();
    assert!(why.contains("http_req_duration p(95)<40") && why.contains("abort_on_fail"), "{why}");
    assert!(v["explanation"].as_str().unwrap().contains("aborted"), "{v}");
    let run = app.ok("/v1/run", json!({"run_id": ra})).await;
    assert_eq!(run["run"]["status"], "STATUS_STOPPED_UNSPECIFIED");
    assert!(run["run"]["info"].as_str().unwrap().starts_with("verdict: failed"), "{run}");

    // Live: the slow run fails and the fast one passes, without aborting.
    let judged = |run: i64, passed: bool| {
        let app = &app;
        async move {
            eventually(40, "a live judgement", || async {
                let v = app.verdict(run).await;
                (v["thresholds"][0]["passed"] == passed).then_some(v)
            })
            .await
        }
    };
    let live = judged(rf, false).await;
    assert_eq!((live["verdict"].as_str(), live["final"].as_bool()), (Some("pending"), Some(false)), "{live}");
    assert!(live["thresholds"][0]["observed"].as_f64().unwrap() >= 40.0, "{live}");
    judged(rp, true).await;
    for run in [rp, rf] {
        app.ok("/v1/run/stop", json!({"run_id": run})).await;
    }
    let vp = app.final_verdict(rp).await;
    assert_eq!(vp["verdict"], "passed", "{vp}");
    assert_eq!(vp["aborted"], "");
    let vf = app.final_verdict(rf).await;
    assert_eq!(vf["verdict"], "failed", "{vf}");
    assert!(vf["thresholds"][0]["observed"].as_f64().unwrap() >= 60.0, "{vf}");
    assert_eq!(vf["thresholds"][1]["passed"], true, "no errors: {vf}");

    // The summary and the run list say it too.
    let summary = app.ok("/v1/run/summary", json!({"run_id": rf})).await;
    assert_eq!(summary["verdict"]["verdict"], "failed", "{summary}");
    assert!(summary["verdict"]["explanation"].as_str().unwrap().contains("p(95)<40 (observed"), "{summary}");
    let list = app.ok("/v1/runs", json!({"scenario_id": fail})).await;
    assert!(list["runs"][0]["info"].as_str().unwrap().starts_with("verdict: failed"), "{list}");

    // The report: written at the end, linked, numbers equal to the summary's, titles escaped.
    let link = eventually(30, "the report link", || async {
        let run = app.ok("/v1/run", json!({"run_id": rp})).await;
        let link = run["run"]["report_link"].as_str().unwrap_or_default().to_string();
        (!link.is_empty()).then_some(link)
    })
    .await;
    let html = reqwest::get(&link).await.unwrap().text().await.unwrap();
    assert!(!html.contains("<script>"), "user text is escaped");
    assert!(html.contains("&lt;script&gt;alert(&#39;pass&#39;)&lt;/script&gt;"));
    assert!(html.contains("<span id=\"verdict\" class=\"passed\">passed</span>"));
    let summary = app.ok("/v1/run/summary", json!({"run_id": rp})).await;
    let script = &summary["scripts"][0];
    let name = script["name"].as_str().unwrap();
    for key in ["requests", "failed", "p50", "p95", "p99", "max"] {
        let want = script[key].as_f64().unwrap();
        assert!(
            (cell(&html, name, key) - want).abs() < 0.006,
            "{key}: report {} vs summary {want}",
            cell(&html, name, key)
        );
    }

    // Comparing the slow run with the fast one flags p50 as worse (p95 needs
    // 200 requests after the warm-up in each run to be judged at all).
    let cmp = app.ok("/v1/run/compare", json!({"base_run_id": rp, "run_id": rf})).await;
    assert!(cmp["warning"].as_str().unwrap().contains("different scenarios"), "{cmp}");
    assert_eq!(cmp["total"]["p50"]["direction"], "worse", "{cmp}");
    assert_eq!(cmp["scripts"].as_array().unwrap().len(), 2, "different names: one row each: {cmp}");
    assert!(!cmp["regressions"].as_array().unwrap().is_empty());
}

impl TestApp {
    /// Waits until the run has sent `n` requests, then stops it.
    async fn run_until_requests(&self, run: i64, n: f64) {
        eventually(90, "enough requests", || async {
            let s = self.ok("/v1/run/summary", json!({"run_id": run})).await;
            (s["total"]["requests"].as_f64().unwrap_or(0.0) >= n).then_some(())
        })
        .await;
        self.ok("/v1/run/stop", json!({"run_id": run})).await;
    }
}

#[tokio::test]
async fn a_run_slower_than_the_scenarios_baseline_by_more_than_the_tolerance_fails() {
    let app = spawn_app().await;
    let agent = Agent::start().await;
    app.register_agent(&agent, "v").await;
    let target = SlowTarget::start(0).await;
    let project = app.create_project("baseline").await;
    let lenient = json!([{"metric": "http_req_failed", "expression": "rate<0.5"}]);
    let scenario = app.scenario_with(project, "checkout", &target, 40, lenient).await;

    // The release's run: fast. Enough requests after the 10 s warm-up (p95
    // needs 200 in each run to be judged beyond noise).
    let base = app.start(scenario).await;
    app.run_until_requests(base, 800.0).await;
    assert_eq!(app.final_verdict(base).await["verdict"], "passed");
    let body = json!({"scenario_id": scenario, "run_id": base, "tolerance_percent": 20});
    app.ok("/v1/scenario/baseline", body).await;
    let t = app.ok("/v1/thresholds", json!({"scenario_id": scenario})).await;
    assert_eq!((t["baseline_run_id"].as_i64(), t["baseline_tolerance_percent"].as_f64()), (Some(base), Some(20.0)));

    // The next build answers 40 ms slower: its own thresholds hold, the baseline rule does not.
    target.delay.store(40, Ordering::Relaxed);
    let next = app.start(scenario).await;
    app.run_until_requests(next, 800.0).await;
    let v = app.final_verdict(next).await;
    assert_eq!(v["verdict"], "failed", "{v}");
    let rule = v["thresholds"].as_array().unwrap().iter().find(|t| t["metric"] == format!("baseline run {base}"));
    let rule = rule.unwrap_or_else(|| panic!("the baseline rule is listed: {v}"));
    assert_eq!(rule["passed"], false, "{v}");
    assert!(rule["observed"].as_f64().unwrap() > 20.0, "p95 worse by more than 20 %: {v}");
    let why = v["explanation"].as_str().unwrap();
    assert!(why.contains(&format!("vs baseline run {base}")) && why.contains("p95"), "{why}");
    let run = app.ok("/v1/run", json!({"run_id": next})).await;
    assert!(run["run"]["info"].as_str().unwrap().contains("verdict: failed"), "{run}");
}

#[tokio::test]
async fn bad_thresholds_unknown_runs_and_busy_reports_are_refused() {
    let app = spawn_app().await;
    let project = app.create_project("p").await;
    let scenario = app.create_scenario(project, "s").await;
    let set = |t: Value| json!({"scenario_id": scenario, "thresholds": [t]});
    app.fails(
        "/v1/thresholds/set",
        set(json!({"metric": "http_req_duration", "expression": "p(95<300"})),
        422,
        "thresholds[0].expression: \"p(95<300\", column 5: expected `)`",
    )
    .await;
    app.fails(
        "/v1/thresholds/set",
        set(json!({"metric": "latency", "expression": "p(95)<300"})),
        422,
        "thresholds[0].metric: unknown metric",
    )
    .await;
    app.fails(
        "/v1/thresholds/set",
        set(json!({"metric": "http_req_failed", "expression": "p(95)<3"})),
        422,
        "p(95) does not apply to http_req_failed",
    )
    .await;
    app.fails(
        "/v1/thresholds/set",
        set(json!({"metric": "checks", "expression": "rate>0.9", "grace": "soon"})),
        422,
        "thresholds[0].grace",
    )
    .await;
    app.fails("/v1/thresholds/set", json!({"scenario_id": 999_999, "thresholds": []}), 404, "scenario").await;
    app.fails(
        "/v1/thresholds/set",
        json!({"scenario_id": scenario, "simple_script_id": 999_999, "thresholds": []}),
        404,
        "simple_script_id",
    )
    .await;
    assert_eq!(app.count("thresholds").await, 0, "nothing stored from a refused request");

    // A good set replaces the scenario's, and reads back.
    app.ok(
        "/v1/thresholds/set",
        set(json!({"metric": "http_req_duration{name:login}", "expression": "p(99) < 800",
        "abort_on_fail": true, "grace": "30s"})),
    )
    .await;
    let t = app.ok("/v1/thresholds", json!({"scenario_id": scenario})).await;
    assert_eq!(t["thresholds"][0]["expression"], "p(99) < 800");
    assert_eq!(t["thresholds"][0]["grace"], "30s");
    assert_eq!(t["warmup_s"], 10);
    assert!(t["metrics"].as_array().unwrap().iter().any(|m| m["name"] == "rps_of_target"));

    app.fails("/v1/run/report", json!({"run_id": 424_242}), 404, "run").await;
    app.fails("/v1/run/verdict", json!({"run_id": 424_242}), 404, "run").await;
    app.fails("/v1/run/compare", json!({"base_run_id": 1, "run_id": 2}), 404, "run").await;
    app.fails("/v1/run/compare", json!({"run_id": 2}), 400, "base_run_id").await;

    // One report of a run at a time.
    let db = crate::helpers::connect_dsn(&app.dsn).await;
    let run: i64 = db
        .query_one(
            "INSERT INTO runs (scenario_id, title, status) VALUES ($1, 'r', 'STATUS_STOPPED_UNSPECIFIED') RETURNING id",
            &[&scenario],
        )
        .await
        .unwrap()
        .get(0);
    let first = app.ok("/v1/run/report", json!({"run_id": run})).await;
    assert!(first["bytes"].as_i64().unwrap() > 1000, "{first}");
    db.execute("UPDATE run_verdicts SET report_busy_since = now() WHERE run_id = $1", &[&run]).await.unwrap();
    app.fails("/v1/run/report", json!({"run_id": run}), 409, "being written").await;
}

/// `/metrics` with 100 active script runs (10 runs of 10), each with 10 s of
/// stored seconds: the scrape's time over HTTP, Postgres included. Ignored by
/// default; `bench/verdicts/run.sh` runs it.
#[tokio::test]
#[ignore = "benchmark: bench/verdicts/run.sh"]
async fn metrics_scrape_bench() {
    // No controller pass after the first: these runs have no real agents.
    let app = crate::helpers::spawn_app_with(|s| s.controller_interval_ms = 3_600_000).await;
    let project = app.create_project("bench").await;
    let db = crate::helpers::connect_dsn(&app.dsn).await;
    let mut h = alilo_agent_api::hist::new();
    for v in 0..200u64 {
        alilo_agent_api::hist::record(&mut h, 2_000 + v * 37);
    }
    let latency = alilo_shared::control::stored::latency(&alilo_agent_api::hist::encode(&h));
    for r in 0..10 {
        let scenario = app.create_scenario(project, &format!("s{r}")).await;
        let run: i64 = db
            .query_one(
                "INSERT INTO runs (scenario_id, title, status) VALUES ($1, $2, 'STATUS_RUNNING') RETURNING id",
                &[&scenario, &format!("run {r}")],
            )
            .await
            .unwrap()
            .get(0);
        for s in 0..10 {
            let sr: i64 = db
                .query_one(
                    "INSERT INTO script_runs (run_id, kind, script_id, name, script, spec, target_rps, percentage)
                     VALUES ($1, 'simple', $2, $3, '{}', '{}', 50, 100) RETURNING id",
                    &[&run, &(s as i64), &format!("script-{s}")],
                )
                .await
                .unwrap()
                .get(0);
            let job: i64 = db
                .query_one(
                    "INSERT INTO jobs (script_run_id, base_url, job_key, share, state) VALUES ($1, 'http://a', $2, 1, 'running')
                     RETURNING id",
                    &[&sr, &uuid::Uuid::new_v4().to_string()],
                )
                .await
                .unwrap()
                .get(0);
            db.execute(
                "INSERT INTO metric_seconds (job_id, second, ts, target_rps, sent, ok, failed, dropped, bytes_sent,
                     bytes_received, status, errors, latency)
                 SELECT $1, g, now() - make_interval(secs => 10 - g), 50, 50, 49, 1, 0, 0, 0, '{\"200\": 49}',
                        '{\"timeout\": 1}', $2
                 FROM generate_series(0, 9) g",
                &[&job, &latency],
            )
            .await
            .unwrap();
        }
    }
    let get = || async {
        let t = std::time::Instant::now();
        let text = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
        (t.elapsed().as_secs_f64() * 1000.0, text)
    };
    let (_, text) = get().await;
    assert_eq!(text.matches("alilo_script_achieved_rps{").count(), 100, "{text}");
    let mut times = Vec::new();
    for _ in 0..50 {
        times.push(get().await.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "/metrics scrape, 100 active script runs: median {:.2} ms, p90 {:.2} ms, max {:.2} ms ({} bytes; goal < 10 ms)",
        times[25],
        times[45],
        times[49],
        text.len()
    );
}

#[tokio::test]
async fn metrics_and_the_live_page_show_a_running_run() {
    let app = spawn_app().await;
    let agent = Agent::start().await;
    app.register_agent(&agent, "v").await;
    let target = SlowTarget::start(0).await;
    let project = app.create_project("live").await;
    let thresholds = json!([{"metric": "http_req_failed", "expression": "rate<0.5"}]);
    // (prometheus-parse mis-reads escaped quotes in labels; the unit test of
    // `verdict::prom` covers escaping.)
    let scenario = app.scenario_with(project, "live page", &target, 20, thresholds).await;
    let run = app.start(scenario).await;

    // /metrics: the Prometheus text format, read by a Prometheus parser.
    let scrape = eventually(30, "achieved rps in /metrics", || async {
        let response = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
        let text = response.text().await.unwrap();
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("valid exposition");
        let achieved = scrape.samples.iter().find(|s| s.metric == "alilo_script_achieved_rps")?;
        match achieved.value {
            prometheus_parse::Value::Gauge(v) if v > 5.0 => Some(scrape),
            _ => None,
        }
    })
    .await;
    let run_label = run.to_string();
    let info = scrape.samples.iter().find(|s| s.metric == "alilo_run_info").unwrap();
    assert_eq!(info.labels.get("run_id"), Some(run_label.as_str()));
    assert_eq!(info.labels.get("title"), Some("live page"));
    assert!(scrape.samples.iter().any(|s| s.metric == "alilo_script_latency_milliseconds"), "{:?}", scrape.samples);
    assert!(scrape.docs.contains_key("alilo_script_target_rps"));

    // Remote write (what the AWS run-controller does after each pass): the same
    // series, to a receiver that reads them as Prometheus would.
    let (url, received) = remote_write_receiver().await;
    let pushed = alilo_shared::service::verdicts::remote_write(&app.app_state, &reqwest::Client::new(), &url)
        .await
        .expect("the push is accepted");
    let (headers, body) = received.lock().unwrap().clone().expect("the receiver got a push");
    assert_eq!(
        (headers["content-encoding"].as_str(), headers["content-type"].as_str()),
        ("snappy", "application/x-protobuf")
    );
    assert_eq!(headers["x-prometheus-remote-write-version"], "0.1.0");
    let raw = snap::raw::Decoder::new().decompress_vec(&body).expect("a snappy block");
    let series = write_request(&raw);
    assert_eq!(series.len(), pushed);
    let find = |name: &str| {
        series
            .iter()
            .find(|(labels, _, _)| labels.iter().any(|(k, v)| k == "__name__" && v == name))
            .unwrap_or_else(|| panic!("no {name} pushed"))
    };
    let (labels, value, ts) = find("alilo_script_achieved_rps");
    assert!(labels.contains(&("run_id".to_string(), run_label.clone())) && *value > 5.0, "{labels:?} {value}");
    assert!((ts - chrono_now_ms()).abs() < 60_000, "stamped now: {ts}");
    let (labels, _, _) = find("alilo_run_info");
    assert!(labels.contains(&("title".to_string(), "live page".to_string())), "{labels:?}");
    assert!(labels.windows(2).skip(1).all(|w| w[0].0 < w[1].0), "labels sorted by name: {labels:?}");

    // The page, and its refreshing part with the report's charts.
    let page = app.client.get(format!("{}/ui/runs/{run}", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("const runId = {run};")) && page.contains("/v1/run/adjustment"), "{page}");
    let live = || async {
        app.client.get(format!("{}/ui/runs/{run}/live", app.address)).send().await.unwrap().text().await.unwrap()
    };
    let fragment = live().await;
    assert!(fragment.contains("<svg") && fragment.contains("Target vs achieved"), "{fragment}");
    assert!(fragment.contains("<b id=\"cur-level\">100</b>"), "{fragment}");
    // What the slider does: the level and the change log follow.
    app.ok("/v1/run/adjustment", json!({"run_id": run, "adjustment_on_percent": 50})).await;
    let fragment = live().await;
    assert!(fragment.contains("<b id=\"cur-level\">50</b>"), "{fragment}");
    assert!(fragment.contains("load 100 % → 50 %</li>"), "the change log: {fragment}");
    let missing = app.client.get(format!("{}/ui/runs/abc", app.address)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let unknown = app.client.get(format!("{}/ui/runs/424242/live", app.address)).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    app.ok("/v1/run/stop", json!({"run_id": run})).await;
}

fn chrono_now_ms() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

type Pushed = Arc<std::sync::Mutex<Option<(std::collections::HashMap<String, String>, Vec<u8>)>>>;

/// A remote-write receiver on loopback keeping the last push (headers, body).
async fn remote_write_receiver() -> (String, Pushed) {
    let got: Pushed = Arc::default();
    let keep = got.clone();
    let router = axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let keep = keep.clone();
            async move {
                let headers =
                    headers.iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
                *keep.lock().unwrap() = Some((headers, body.to_vec()));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}/api/v1/write"), got)
}

/// Reads a protobuf varint at `at`.
fn varint(b: &[u8], at: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[*at];
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// The fields of a protobuf message: (field number, wire type, payload or varint).
fn fields(b: &[u8]) -> Vec<(u64, u64, Vec<u8>, u64)> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < b.len() {
        let key = varint(b, &mut at);
        match key & 7 {
            0 => out.push((key >> 3, 0, vec![], varint(b, &mut at))),
            1 => {
                out.push((key >> 3, 1, b[at..at + 8].to_vec(), 0));
                at += 8;
            }
            2 => {
                let n = usize::try_from(varint(b, &mut at)).unwrap();
                out.push((key >> 3, 2, b[at..at + n].to_vec(), 0));
                at += n;
            }
            other => panic!("wire type {other} is not in a WriteRequest"),
        }
    }
    out
}

/// A pushed series: labels, value, timestamp (ms).
type PushedSeries = (Vec<(String, String)>, f64, i64);

/// The series of a remote-write `WriteRequest`.
fn write_request(b: &[u8]) -> Vec<PushedSeries> {
    fields(b)
        .into_iter()
        .map(|(n, _, ts, _)| {
            assert_eq!(n, 1, "WriteRequest.timeseries");
            let (mut labels, mut value, mut stamp) = (Vec::new(), f64::NAN, 0);
            for (n, _, part, _) in fields(&ts) {
                let inner = fields(&part);
                match n {
                    1 => labels.push((
                        String::from_utf8(inner[0].2.clone()).unwrap(),
                        String::from_utf8(inner.get(1).map(|f| f.2.clone()).unwrap_or_default()).unwrap(),
                    )),
                    2 => {
                        value = f64::from_le_bytes(inner[0].2.clone().try_into().unwrap());
                        stamp = i64::try_from(inner[1].3).unwrap();
                    }
                    other => panic!("TimeSeries field {other}"),
                }
            }
            (labels, value, stamp)
        })
        .collect()
}
