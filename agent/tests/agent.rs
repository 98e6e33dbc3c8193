//! End-to-end tests: a real agent control server on loopback drives real
//! jobs against real target servers started here, and the assertions check
//! both what the API reports and what the target actually received.
//!
//! Rates and tolerances are modest on purpose: CI is a loaded 2-core machine
//! running other tests at the same time.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use alilo_agent::api::check_auth_config;
use alilo_agent::target::{Target, TargetConfig};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

mod common;
use common::{Agent, call, eventually, free_port, tls_config, wire_server};

const TOKEN: &str = "test-token-123";

impl Agent {
    async fn start(&self, id: &str, spec: Value) -> Value {
        let (s, v) = self.call("PUT", &format!("/v1/jobs/{id}"), Some(spec)).await;
        assert_eq!(s, 201, "{v}");
        v
    }

    async fn job(&self, id: &str, since: u64) -> Value {
        let (s, v) = self.call("GET", &format!("/v1/jobs/{id}?since={since}"), None).await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// Polls (renewing the lease) until the job has closed at least `seconds` buckets.
    async fn wait_seconds(&self, id: &str, seconds: u64, limit: Duration) -> Value {
        eventually(limit, &format!("job {id} closes {seconds} s"), async || {
            let v = self.job(id, 0).await;
            (v["cursor"].as_u64().unwrap() >= seconds).then_some(v)
        })
        .await
    }
}

async fn target(cfg: TargetConfig) -> Target {
    Target::start("127.0.0.1:0".parse().unwrap(), cfg).await.unwrap()
}

fn spec(url: &str, rps: f64, duration: &str) -> Value {
    json!({
        "request": {"url": url},
        "profile": {"rps": rps, "duration": duration},
    })
}

fn within(actual: f64, want: f64, tol: f64) -> bool {
    (actual - want).abs() <= want * tol
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_rate_is_accurate_and_the_target_receives_it() {
    let t = target(TargetConfig::default()).await;
    let agent = Agent::spawn(TOKEN).await;
    agent.start("rate", spec(&format!("{}/x", t.url(false)), 300.0, "3s")).await;
    let v = agent.wait_terminal("rate", Duration::from_secs(10)).await;
    let sent = v["summary"]["sent"].as_u64().unwrap();
    let received = t.stats.requests.load(Ordering::Relaxed);
    assert!(within(sent as f64, 900.0, 0.15), "sent {sent}");
    assert_eq!(received, sent, "every sent request reached the target");
    assert_eq!(v["summary"]["ok"].as_u64().unwrap(), sent);
    assert_eq!(v["reason"], "completed");
    let buckets = v["buckets"].as_array().unwrap();
    assert!(buckets.len() >= 3, "{buckets:?}");
    for b in &buckets[..3] {
        let s = b["sent"].as_u64().unwrap() as f64;
        assert!(within(s, 300.0, 0.2), "bucket {b}");
        assert_eq!(b["target_rps"], 300.0);
        assert!(!b["latency"].as_str().unwrap().is_empty());
    }
    // Histograms decode and merge across buckets to the summary's count.
    let merged = alilo_agent_api::hist::merge(buckets.iter().map(|b| b["latency"].as_str().unwrap())).unwrap();
    assert_eq!(merged.len(), v["summary"]["latency"]["count"].as_u64().unwrap());
    // Keep-alive: far fewer connections than requests (a loaded machine
    // needs more of them while responses are slow, never one per request).
    let conns = t.stats.connections.load(Ordering::Relaxed);
    assert!(conns * 4 < sent, "{conns} connections for {sent} requests");
    let expected = v["summary"]["expected"].as_f64().unwrap();
    assert!(within(expected, 900.0, 0.05), "expected {expected}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_rate_change_applies_quickly_and_keeps_the_profile_position() {
    let t = target(TargetConfig::default()).await;
    let agent = Agent::spawn(TOKEN).await;
    let mut s = spec(&t.url(false), 100.0, "20s");
    s["profile"]["steps"] = json!(2);
    s["profile"]["rps"] = json!(200.0); // first step: 100 rps
    agent.start("live", s).await;
    agent.wait_seconds("live", 1, Duration::from_secs(5)).await;
    let before = t.stats.requests.load(Ordering::Relaxed);
    let (st, v) = agent.call("POST", "/v1/jobs/live/rate", Some(json!({"scale": 3.0}))).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["scale"], 3.0);
    assert_eq!(v["target_rps"], 200.0, "the profile target is unchanged");
    assert!(within(v["current_rps"].as_f64().unwrap(), 300.0, 0.01), "{v}");
    // The rate the target sees is measured over a window.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = t.stats.requests.load(Ordering::Relaxed) - before;
    assert!(within(after as f64, 450.0, 0.25), "{after} requests in the 1.5 s after x3");
    let (st, v) = agent.call("POST", "/v1/jobs/live/rate", Some(json!({"target_rps": 100.0, "scale": 1.0}))).await;
    assert_eq!(st, 200, "{v}");
    assert!(within(v["current_rps"].as_f64().unwrap(), 50.0, 0.01), "still on step 1: {v}");
    let (st, v) = agent.call("POST", "/v1/jobs/live/stop", None).await;
    assert_eq!(st, 200);
    assert_eq!(v["state"], "finished");
    assert_eq!(v["reason"], "stopped by request");
    assert!(v["summary"]["sent"].as_u64().unwrap() >= before + after);
    let (st, v) = agent.call("POST", "/v1/jobs/live/rate", Some(json!({"scale": 1.0}))).await;
    assert_eq!(st, 409, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_max_vus_are_dropped_and_counted() {
    let t = target(TargetConfig { delay: Duration::from_millis(400), ..Default::default() }).await;
    let agent = Agent::spawn(TOKEN).await;
    let mut s = spec(&t.url(false), 200.0, "1500ms");
    s["max_vus"] = json!(10);
    agent.start("vus", s).await;
    let v = agent.wait_terminal("vus", Duration::from_secs(10)).await;
    let m = &v["summary"];
    let (sent, dropped) = (m["sent"].as_u64().unwrap(), m["dropped"].as_u64().unwrap());
    assert!(t.stats.max_in_flight.load(Ordering::Relaxed) <= 10);
    assert!(dropped > 150, "dropped {dropped}");
    assert!(within((sent + dropped) as f64, 300.0, 0.15), "{sent}+{dropped}");
    // Corrected latency includes the wait from the intended time.
    assert!(m["latency"]["p50"].as_f64().unwrap() >= 390.0, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_nobody_reads_stops_when_its_lease_expires() {
    let t = target(TargetConfig::default()).await;
    let agent = Agent::spawn(TOKEN).await;
    let mut s = spec(&t.url(false), 20.0, "60s");
    s["lease"] = json!("1s");
    agent.start("lease", s).await;
    let j = eventually(Duration::from_secs(6), "the unread job finishes", async || {
        // The list does not renew leases.
        let (_, v) = agent.call("GET", "/v1/jobs", None).await;
        (v["jobs"][0]["state"] == "finished").then(|| v["jobs"][0].clone())
    })
    .await;
    assert!(j["reason"].as_str().unwrap().starts_with("lease expired"), "{j}");
    // Reading renews: a job read every 300 ms outlives a 1 s lease (the
    // pauses are the test: reads 300 ms apart).
    let mut s = spec(&t.url(false), 20.0, "60s");
    s["lease"] = json!("1s");
    agent.start("kept", s).await;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(agent.job("kept", u64::MAX).await["state"], "running");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_is_idempotent_by_id_and_conflicts_on_a_different_spec() {
    let t = target(TargetConfig::default()).await;
    let agent = Agent::spawn(TOKEN).await;
    let s = spec(&t.url(false), 10.0, "10s");
    agent.start("same", s.clone()).await;
    let (st, v) = agent.call("PUT", "/v1/jobs/same", Some(s.clone())).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["id"], "same");
    let (st, v) = agent.call("PUT", "/v1/jobs/same", Some(spec(&t.url(false), 11.0, "10s"))).await;
    assert_eq!(st, 409, "{v}");
    assert!(v["error"].as_str().unwrap().contains("different spec"));
    let (_, v) = agent.call("GET", "/v1/jobs", None).await;
    assert_eq!(v["jobs"].as_array().unwrap().len(), 1);
    let (st, v) = agent.call("POST", "/v1/jobs/same/stop", Some(json!({"wait": "1s"}))).await;
    assert_eq!((st, v["state"].as_str()), (200, Some("finished")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_the_bearer_token() {
    let agent = Agent::spawn(TOKEN).await;
    for (m, p) in [
        ("GET", "/v1/agent"),
        ("GET", "/metrics"),
        ("GET", "/v1/jobs"),
        ("GET", "/v1/jobs/x"),
        ("PUT", "/v1/jobs/x"),
        ("POST", "/v1/jobs/x/stop"),
        ("GET", "/v2/unknown"),
        ("DELETE", "/v1/agent"),
    ] {
        let (s, v) = call(agent.addr, m, p, None, None).await;
        assert_eq!(s, 401, "{m} {p} without token");
        assert!(v["error"].as_str().unwrap().contains("bearer token"));
        let (s, _) = call(agent.addr, m, p, None, Some("wrong")).await;
        assert_eq!(s, 401, "{m} {p} with a wrong token");
    }
    let (s, v) = agent.call("GET", "/v1/agent", None).await;
    assert_eq!(s, 200);
    assert!(v["cpu"]["cores"].as_u64().unwrap() >= 1);
    assert!(v["memory"]["process_rss_bytes"].as_u64().unwrap() > 0);
    assert!(v["capabilities"].as_array().unwrap().contains(&json!("http2")));
    // The daemon refuses to run without a token unless on loopback and told so.
    let any = "0.0.0.0".parse().unwrap();
    let lo = "127.0.0.1".parse().unwrap();
    assert!(check_auth_config(any, None, false).is_err());
    assert!(check_auth_config(any, None, true).is_err());
    assert!(check_auth_config(lo, None, false).is_err());
    assert!(check_auth_config(lo, None, true).is_ok());
    assert!(check_auth_config(any, Some("t"), false).is_ok());
}

/// `GET /metrics` with the token: the content type and the text.
async fn scrape(addr: SocketAddr) -> (String, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri("/metrics")
        .header("host", addr.to_string())
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_string();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (kind, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_give_the_host_and_each_job_in_prometheus_text() {
    let t = target(TargetConfig::default()).await;
    let agent = Agent::spawn(TOKEN).await;
    agent.start("scraped", spec(&format!("{}/m", t.url(false)), 50.0, "30s")).await;
    agent.wait_seconds("scraped", 2, Duration::from_secs(10)).await;
    let (kind, text) = scrape(agent.addr).await;
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("valid exposition");
    let value = |metric: &str, job: Option<&str>| {
        let s = scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && job.is_none_or(|j| s.labels.get("job") == Some(j)))
            .unwrap_or_else(|| panic!("no {metric} in {text}"));
        match s.value {
            prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => panic!("{metric} is not a number"),
        }
    };
    let received = t.stats.requests.load(Ordering::Relaxed) as f64;
    let sent = value("alilo_agent_job_requests_total", Some("scraped"));
    assert!(sent >= 50.0 && sent <= received + 1.0 + 60.0, "sent {sent}, the target saw {received}");
    assert_eq!(value("alilo_agent_job_target_rps", Some("scraped")), 50.0);
    assert_eq!(value("alilo_agent_active_jobs", None), 1.0);
    assert!(value("alilo_agent_cpu_cores", None) >= 1.0);
    assert!(value("alilo_agent_process_resident_bytes", None) > 0.0);
    let state = scrape.samples.iter().find(|s| s.metric == "alilo_agent_job_state").unwrap();
    assert_eq!(state.labels.get("state"), Some("running"));
    agent.call("POST", "/v1/jobs/scraped/stop", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_a_4xx_naming_the_field() {
    let agent = Agent::spawn(TOKEN).await;
    let url = "http://127.0.0.1:9/";
    let with = |f: &dyn Fn(&mut Value)| {
        let mut s = spec(url, 10.0, "5s");
        f(&mut s);
        s
    };
    let cases: Vec<(Value, &str)> = vec![
        (json!({"profile": {"rps": 1, "duration": "1s"}}), "request"),
        (with(&|s| s["request"] = json!({})), "url"),
        (with(&|s| s["request"]["url"] = json!("ftp://x/")), "request.url"),
        (with(&|s| s["request"]["method"] = json!("GE T")), "request.method"),
        (with(&|s| s["profile"]["rps"] = json!(-5)), "profile.rps"),
        (with(&|s| s["profile"]["rps"] = json!("many")), "profile.rps"),
        (with(&|s| s["profile"]["duration"] = json!("soon")), "profile.duration"),
        (with(&|s| s["profile"]["steps"] = json!(0)), "profile.steps"),
        (with(&|s| s["profile"]["ramp"] = json!("zigzag")), "profile.ramp"),
        (with(&|s| s["max_vus"] = json!(0)), "max_vus"),
        (with(&|s| s["timeout"] = json!("later")), "timeout"),
        (with(&|s| s["lease"] = json!("x")), "lease"),
        (with(&|s| s["checks"] = json!({"status": [42]})), "checks.status"),
        (with(&|s| s["data"] = json!({"url": "x", "format": "csv"})), "data.url"),
        (with(&|s| s["data"] = json!({"url": "http://h/", "format": "xml"})), "data.format"),
        (with(&|s| s["surprise"] = json!(1)), "surprise"),
        (with(&|s| s["request"]["headers"] = json!({"bad header": "v"})), "request.headers"),
        (with(&|s| s["allowed_targets"] = json!([{"name": "L", "entries": ["a b"]}])), "allowed_targets[0] (L)"),
        (with(&|s| s["allowed_targets"] = json!([{"name": "L", "entries": []}])), "allowed_targets[0] (L)"),
    ];
    for (body, field) in cases {
        let (s, v) = agent.call("PUT", "/v1/jobs/bad", Some(body.clone())).await;
        assert_eq!(s, 400, "{body} → {v}");
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(field), "{body}: {msg:?} should name {field}");
    }
    let (s, v) = agent.call("PUT", "/v1/jobs/bad%20id", Some(spec(url, 1.0, "1s"))).await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().starts_with("id:"), "{v}");
    let (s, _) = agent.call("PUT", "/v1/jobs/nobody", None).await;
    assert_eq!(s, 400);
    let (s, v) = agent.call("GET", "/v1/jobs/nope", None).await;
    assert_eq!(s, 404, "{v}");
    agent.start("ok", spec(url, 1.0, "30s")).await;
    let (s, v) = agent.call("GET", "/v1/jobs/ok?since=abc", None).await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().starts_with("since"));
    let (s, v) = agent.call("POST", "/v1/jobs/ok/rate", Some(json!({"scale": -1}))).await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("scale"));
    let (s, v) = agent.call("POST", "/v1/jobs/ok/rate", Some(json!({}))).await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = agent.call("POST", "/v1/jobs/ok/stop", Some(json!({"wait": "eventually"}))).await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().starts_with("wait"));
    let (s, v) = agent.call("DELETE", "/v1/jobs", None).await;
    assert_eq!((s, v["error"].as_str()), (405, Some("method DELETE is not allowed on /v1/jobs")));
    let (s, v) = agent.call("GET", "/v2/nothing", None).await;
    assert_eq!((s, v["error"].as_str()), (404, Some("no route GET /v2/nothing")));
    let (s, v) = agent.call("GET", "/v1/jobs/", None).await;
    assert_eq!(s, 200, "a trailing slash routes like none: {v}");
    assert_eq!(v["jobs"][0]["id"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_file_rows_fill_placeholders_in_url_headers_and_body() {
    let t = target(TargetConfig { keep_requests: 100, ..Default::default() }).await;
    let data = target(TargetConfig {
        body: Bytes::from_static(b"id,name\n1,ann\n2,bob smith\n3,\"c,d\"\n"),
        ..Default::default()
    })
    .await;
    let agent = Agent::spawn(TOKEN).await;
    let s = json!({
        "request": {
            "method": "POST",
            "url": format!("{}/users/{{{{id}}}}", t.url(false)),
            "query": {"who": "{{name}}"},
            "headers": {"x-name": "{{name}}", "content-type": "application/json"},
            "body": "{\"id\": {{id}}, \"name\": \"{{name}}\"}"
        },
        "data": {"url": format!("{}/data.csv", data.url(false)), "format": "csv", "selection": "sequential"},
        "profile": {"rps": 30, "duration": "1s"},
    });
    agent.start("data", s).await;
    let v = agent.wait_terminal("data", Duration::from_secs(10)).await;
    assert_eq!(v["state"], "finished", "{v}");
    let got = t.stats.received.lock().unwrap().clone();
    assert!(got.len() >= 20, "{}", got.len());
    let mut seen = std::collections::BTreeSet::new();
    for r in &got {
        assert_eq!(r.method, "POST");
        let name = &r.headers.iter().find(|(k, _)| k == "x-name").unwrap().1;
        let (uri, body) = match name.as_str() {
            "ann" => ("/users/1?who=ann", r#"{"id": 1, "name": "ann"}"#),
            "bob smith" => ("/users/2?who=bob%20smith", r#"{"id": 2, "name": "bob smith"}"#),
            "c,d" => ("/users/3?who=c%2Cd", r#"{"id": 3, "name": "c,d"}"#),
            other => panic!("unexpected row {other:?}"),
        };
        assert_eq!(r.uri, uri);
        assert_eq!(r.body, body);
        seen.insert(name.clone());
    }
    assert_eq!(seen.len(), 3, "every row used");

    // A data file that cannot be fetched fails the job with a clear reason.
    let s = json!({
        "request": {"url": t.url(false)},
        "data": {"url": format!("http://127.0.0.1:{}/missing.csv", free_port()), "format": "csv"},
        "profile": {"rps": 10, "duration": "1s"},
    });
    agent.start("nodata", s).await;
    let v = agent.wait_terminal("nodata", Duration::from_secs(10)).await;
    assert_eq!(v["state"], "failed");
    assert!(v["reason"].as_str().unwrap().starts_with("data file"), "{v}");
    let s = json!({
        "request": {"url": format!("{}/{{{{nope}}}}", t.url(false))},
        "data": {"url": format!("{}/d.csv", data.url(false)), "format": "csv"},
        "profile": {"rps": 10, "duration": "1s"},
    });
    agent.start("badfield", s).await;
    let v = agent.wait_terminal("badfield", Duration::from_secs(10)).await;
    assert_eq!(v["state"], "failed");
    assert!(v["reason"].as_str().unwrap().contains("{{nope}}"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_prior_knowledge_multiplexes_on_few_connections() {
    let t = target(TargetConfig { keep_requests: 5, ..Default::default() }).await;
    let agent = Agent::spawn(TOKEN).await;
    let mut s = spec(&t.url(false), 100.0, "1s");
    s["http"] = json!("http2");
    agent.start("h2", s).await;
    let v = agent.wait_terminal("h2", Duration::from_secs(10)).await;
    assert!(v["summary"]["ok"].as_u64().unwrap() >= 85, "{}", v["summary"]);
    let got = t.stats.received.lock().unwrap().clone();
    assert!(got.iter().all(|r| r.version == "HTTP/2.0"), "{got:?}");
    assert!(t.stats.connections.load(Ordering::Relaxed) <= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_self_signed_certificate() {
    let t = target(TargetConfig { tls: Some(tls_config()), keep_requests: 200, ..Default::default() }).await;
    let url = format!("https://localhost:{}/secure", t.addr.port());
    let agent = Agent::spawn(TOKEN).await;
    // Verification off: HTTP/1.1 and HTTP/2 (ALPN) both work.
    for (id, http, version) in [("tls1", "http1", "HTTP/1.1"), ("tls2", "http2", "HTTP/2.0")] {
        let mut s = spec(&url, 50.0, "1s");
        s["tls_verify"] = json!(false);
        s["http"] = json!(http);
        agent.start(id, s).await;
        let v = agent.wait_terminal(id, Duration::from_secs(10)).await;
        assert!(v["summary"]["ok"].as_u64().unwrap() >= 40, "{id}: {}", v["summary"]);
        assert!(v["summary"]["bytes_received"].as_u64().unwrap() > 0);
        let got = t.stats.received.lock().unwrap().clone();
        assert!(got.iter().any(|r| r.version == version), "{id}");
    }
    // Verification on: the self-signed certificate is refused, counted as TLS.
    let mut s = spec(&url, 20.0, "1s");
    s["timeout"] = json!("2s");
    agent.start("tlsv", s).await;
    let v = agent.wait_terminal("tlsv", Duration::from_secs(10)).await;
    let m = &v["summary"];
    assert_eq!(m["ok"], 0, "{m}");
    assert!(m["errors"]["tls"].as_u64().unwrap() >= 15, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_the_server_closes_are_not_reused_and_cause_no_errors() {
    let t = target(TargetConfig { close: true, ..Default::default() }).await;
    let agent = Agent::spawn(TOKEN).await;
    agent.start("close", spec(&t.url(false), 50.0, "1s")).await;
    let v = agent.wait_terminal("close", Duration::from_secs(10)).await;
    let m = &v["summary"];
    assert!(m["ok"].as_u64().unwrap() >= 45, "{m}");
    assert_eq!(m["failed"], 0, "{m}");
    assert_eq!(t.stats.connections.load(Ordering::Relaxed), t.stats.requests.load(Ordering::Relaxed));
}

/// Issue #10: the backend sends the target allow-lists with the job; the
/// agent refuses a host off any of them before connecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_target_is_off_its_allow_list_fails_without_sending() {
    let agent = Agent::spawn(TOKEN).await;
    let t = target(TargetConfig::default()).await;
    let mut s = spec(&format!("{}/x", t.url(false)), 20.0, "30s");
    s["allowed_targets"] = json!([
        {"name": "ALILO_ALLOWED_TARGETS", "entries": ["127.0.0.0/8"]},
        {"name": "of project 7", "entries": ["shop.example.com"]},
    ]);
    agent.start("refused", s.clone()).await;
    let v = agent.wait_terminal("refused", Duration::from_secs(10)).await;
    assert_eq!(v["state"], "failed", "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(reason.contains("host \"127.0.0.1\" is not in the target allow-list of project 7"), "{reason}");
    assert_eq!(t.stats.connections.load(Ordering::Relaxed), 0, "nothing was sent");

    s["allowed_targets"][1]["entries"] = json!(["shop.example.com", "127.0.0.1"]);
    agent.start("allowed", s).await;
    eventually(Duration::from_secs(10), "the listed target receives load", async || {
        (t.stats.requests.load(Ordering::Relaxed) >= 5).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_counted_by_kind_and_checks_decide_ok() {
    let closed = free_port();
    let slow = target(TargetConfig { delay: Duration::from_millis(800), ..Default::default() }).await;
    let nf = target(TargetConfig { status: 404, ..Default::default() }).await;
    let agent = Agent::spawn(TOKEN).await;
    agent.start("conn", spec(&format!("http://127.0.0.1:{closed}/"), 20.0, "1s")).await;
    let mut s = spec(&slow.url(false), 20.0, "1s");
    s["timeout"] = json!("200ms");
    agent.start("slow", s).await;
    let mut s = spec(&nf.url(false), 20.0, "1s");
    s["checks"] = json!({"status": [404]});
    agent.start("nf", s).await;
    agent.start("nf2", spec(&nf.url(false), 20.0, "1s")).await;
    let v = agent.wait_terminal("conn", Duration::from_secs(10)).await;
    assert!(v["summary"]["errors"]["connect"].as_u64().unwrap() >= 15, "{}", v["summary"]);
    let v = agent.wait_terminal("slow", Duration::from_secs(10)).await;
    assert!(v["summary"]["errors"]["timeout"].as_u64().unwrap() >= 15, "{}", v["summary"]);
    let v = agent.wait_terminal("nf", Duration::from_secs(10)).await;
    assert_eq!(v["summary"]["failed"], 0);
    assert!(v["summary"]["status"]["404"].as_u64().unwrap() >= 15);
    let v = agent.wait_terminal("nf2", Duration::from_secs(10)).await;
    assert_eq!(v["summary"]["ok"], 0, "404 is not 2xx");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_returns_only_new_buckets_and_start_time_aligns_agents() {
    let t = target(TargetConfig::default()).await;
    let agent = Agent::spawn(TOKEN).await;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let start = Instant::now() + Duration::from_millis(800);
    let mut s = spec(&t.url(false), 50.0, "3s");
    s["start_at_ms"] = json!(now_ms + 800);
    let v = agent.start("later", s).await;
    assert_eq!(v["state"], "pending");
    // Look just before the start time: nothing has been sent.
    tokio::time::sleep_until((start - Duration::from_millis(200)).into()).await;
    assert_eq!(t.stats.requests.load(Ordering::Relaxed), 0, "nothing before start_at_ms");
    let v = agent.wait_seconds("later", 1, Duration::from_secs(5)).await;
    let cursor = v["cursor"].as_u64().unwrap();
    let first = v["buckets"].as_array().unwrap();
    assert_eq!(first.len() as u64, cursor);
    assert_eq!(first[0]["ts_ms"].as_u64().unwrap(), now_ms + 800);
    let v = agent.wait_terminal("later", Duration::from_secs(10)).await;
    let v2 = agent.job("later", cursor).await;
    let rest = v2["buckets"].as_array().unwrap();
    assert!(rest.iter().all(|b| b["second"].as_u64().unwrap() >= cursor));
    assert_eq!(first.len() + rest.len(), v["buckets"].as_array().unwrap().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_jobs_and_still_answers_final_reads() {
    let t = target(TargetConfig::default()).await;
    let mut agent = Agent::spawn_with(TOKEN, Duration::from_secs(2)).await;
    agent.start("sd", spec(&t.url(false), 50.0, "60s")).await;
    eventually(Duration::from_secs(5), "the target receives load", async || {
        (t.stats.requests.load(Ordering::Relaxed) > 0).then_some(())
    })
    .await;
    agent.stop();
    // Within the 2 s grace, while the agent still answers.
    let v = agent.wait_terminal("sd", Duration::from_millis(1500)).await;
    assert_eq!(v["state"], "finished", "{v}");
    assert_eq!(v["reason"], "agent shutting down");
    let (s, _) = agent.call("PUT", "/v1/jobs/new", Some(spec(&t.url(false), 1.0, "1s"))).await;
    assert_eq!(s, 503);
    let n = t.stats.requests.load(Ordering::Relaxed);
    // That nothing more comes needs a window to look at.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(t.stats.requests.load(Ordering::Relaxed), n, "no more load");
    tokio::time::timeout(Duration::from_secs(5), &mut agent.task)
        .await
        .expect("server exits after the grace period")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linear_ramp_and_steps_shape_the_load() {
    let t = target(TargetConfig::default()).await;
    let agent = Agent::spawn(TOKEN).await;
    let mut s = spec(&t.url(false), 400.0, "2s");
    s["profile"]["steps"] = json!(2);
    agent.start("steps", s).await;
    let mut s = spec(&t.url(false), 200.0, "2s");
    s["profile"]["ramp"] = json!("linear");
    agent.start("lin", s).await;
    let v = agent.wait_terminal("steps", Duration::from_secs(10)).await;
    let b = v["buckets"].as_array().unwrap();
    assert!(within(b[0]["sent"].as_f64().unwrap(), 200.0, 0.2), "{}", b[0]);
    assert!(within(b[1]["sent"].as_f64().unwrap(), 400.0, 0.2), "{}", b[1]);
    let v = agent.wait_terminal("lin", Duration::from_secs(10)).await;
    // 0→200 over 2 s: 200 requests in all, about 50 in the first second.
    let sent = v["summary"]["sent"].as_f64().unwrap();
    assert!(within(sent, 200.0, 0.2), "{sent}");
    let b = v["buckets"].as_array().unwrap();
    assert!(within(b[0]["sent"].as_f64().unwrap(), 50.0, 0.3), "{}", b[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_framing_is_read_to_its_end_and_keep_alive_is_honoured() {
    let agent = Agent::spawn(TOKEN).await;
    // (path, status, whether the connection is reused, closed loop)
    let cases = [
        ("/length", "200", true, false),
        ("/chunked", "200", true, false),
        ("/continue", "201", true, false),
        ("/until-close", "200", false, false),
        ("/chunked", "200", true, true),
        ("/until-close", "200", false, true),
    ];
    for (i, (path, status, reused, closed)) in cases.into_iter().enumerate() {
        let (addr, counts) = wire_server().await;
        let id = format!("wire{i}");
        let mut s = spec(&format!("http://{addr}{path}"), 40.0, "1s");
        if closed {
            s["closed_loop_connections"] = json!(2);
        }
        agent.start(&id, s).await;
        let v = agent.wait_terminal(&id, Duration::from_secs(10)).await;
        let m = &v["summary"];
        let ok = m["ok"].as_u64().unwrap();
        let (requests, connections) =
            (counts.requests.load(Ordering::Relaxed), counts.connections.load(Ordering::Relaxed));
        assert!(ok >= 30, "{path} (closed loop {closed}): {m}");
        assert_eq!(m["failed"], 0, "{path} (closed loop {closed}): {m}");
        assert_eq!(m["status"][status].as_u64(), Some(ok), "{path}: {m}");
        assert_eq!(requests, ok, "{path}: the server saw each request once");
        if reused {
            assert!(connections <= 4, "{path}: {connections} connections for {requests} requests");
        } else {
            assert_eq!(connections, requests, "{path}: a connection the server closes is not reused");
        }
    }
}
