//! #14: per-job failed-request logs. A target that fails part of its
//! requests; the agent keeps the first and the last failures; `/v1/run/logs`
//! answers them live, then from the bucket once the run ended; the original
//! UI's log link (`http://<agent>:8888/api/v1/getTaskLogs?name=<log_file_name>
//! &head=true&len=10000`, built from `/v1/run/scriptruns`) answers them as
//! text; `/v1/remove-logs` keeps fresh logs.

use crate::helpers::{eventually, spawn_app};
use crate::runs::Agent;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A target failing every other request with a 503 and a body naming it.
async fn flaky_target() -> std::net::SocketAddr {
    let n = Arc::new(AtomicU64::new(0));
    let router = axum::Router::new().fallback(move || {
        let i = n.fetch_add(1, Ordering::Relaxed);
        async move {
            if i.is_multiple_of(2) {
                (axum::http::StatusCode::SERVICE_UNAVAILABLE, format!("upstream pool exhausted #{i}"))
            } else {
                (axum::http::StatusCode::OK, "ok".to_string())
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_requests_are_kept_per_job_readable_live_stored_at_the_end_and_linked_from_the_ui() {
    let app = spawn_app().await;
    let agent = Agent::start().await;
    app.register_agent(&agent, "lt").await;
    let target = flaky_target().await;
    let project = app.create_project("P").await;
    let scenario = app.create_scenario(project, "S").await;
    let script = json!({"scenario_id": scenario, "name": "flaky", "enabled": true, "tag": "lt",
        "path": format!("{target}/pay"), "scheme": "http", "http_method": "get",
        "rps": "20", "steps": "1", "duration": "1m", "max_v_us": "20"});
    app.ok("/v1/simple-script/create", json!({"simple_script": script})).await;
    let run = app.ok("/v1/run/start", json!({"scenario_id": scenario, "user_name": "a"})).await["run"]["run_id"]
        .as_i64()
        .unwrap();

    // The run page's script runs (what the UI polls) name the log.
    let sr = eventually(Duration::from_secs(20), "a script run on its agent", async || {
        let got = app.ok("/v1/run/scriptruns", json!({"run_id": run, "script_name": "flaky"})).await;
        let sr = got["script_runs"][0].clone();
        (!sr["log_file_name"].as_str().unwrap_or_default().is_empty() && sr["agent"].is_object()).then_some(sr)
    })
    .await;
    let sr_id = sr["run_script_id"].as_i64().unwrap();
    let name = sr["log_file_name"].as_str().unwrap().to_string();

    // Live, from the agent: more failures than kept.
    let logs = eventually(Duration::from_secs(30), "more than 20 failures", async || {
        let logs = app.ok("/v1/run/logs", json!({"run_id": run, "script_run_id": sr_id})).await;
        (logs["total"].as_str().unwrap().parse::<u64>().unwrap() > 25).then_some(logs)
    })
    .await;
    assert_eq!(logs["source"], "agents");
    let first = &logs["first"][0];
    assert_eq!((first["status"].as_u64(), first["error"].as_str()), (Some(503), Some("status")), "{logs}");
    assert!(first["body"].as_str().unwrap().starts_with("upstream pool exhausted #"), "{logs}");
    assert_eq!(logs["first"].as_array().unwrap().len(), 20);
    assert!(!logs["last"].as_array().unwrap().is_empty());

    // The original UI's link to the agent (its port stands for 8888 here).
    let link = |name: &str, head: bool| {
        format!("http://127.0.0.1:{}/api/v1/getTaskLogs?name={name}&head={head}&len=10000", agent.port)
    };
    let page = reqwest::get(link(&name, true)).await.unwrap();
    assert_eq!(page.status(), 200);
    let text = page.text().await.unwrap();
    assert!(text.contains("failed requests in all; the first ones:") && text.contains("status 503"), "{text}");
    assert!(text.contains("upstream pool exhausted #0"), "the very first failure: {text}");
    let (job, _) = name.split_once('~').unwrap();
    for wrong in [format!("{job}~{}", "0".repeat(32)), job.to_string(), "nope~x".into()] {
        assert_eq!(reqwest::get(link(&wrong, true)).await.unwrap().status(), 404, "{wrong}");
    }

    // At the end, the merged sample is kept in the bucket and read from there.
    app.ok("/v1/run/stop", json!({"run_id": run})).await;
    let stored = eventually(Duration::from_secs(30), "the stored log", async || {
        let logs = app.ok("/v1/run/logs", json!({"run_id": run, "script_run_id": sr_id})).await;
        (logs["source"] == "stored").then_some(logs)
    })
    .await;
    assert!(stored["total"].as_str().unwrap().parse::<u64>().unwrap() >= 25, "{stored}");
    let key = format!("logs/run-{run}/script-run-{sr_id}.json");
    assert!(app.app_state.storage.get(&key).await.unwrap().is_some(), "{key} is in the bucket");

    // Bad input, unknown ids, and a fresh log surviving /v1/remove-logs.
    app.fails("/v1/run/logs", json!({"run_id": run}), 400, "script_run_id").await;
    app.fails("/v1/run/logs", json!({"run_id": run, "script_run_id": 424_242}), 404, "script_run_id").await;
    app.fails("/v1/remove-logs", json!({"more_than_mb": 0, "more_than_days": 0}), 400, "more_than_days").await;
    app.fails("/v1/remove-logs", json!({"more_than_mb": -1, "more_than_days": 1}), 422, "more_than_mb").await;
    let removed = app.ok("/v1/remove-logs", json!({"more_than_mb": "100", "more_than_days": 7})).await;
    assert!(removed["message"].as_str().unwrap().starts_with("removed 0 stored run logs"), "{removed}");
    assert!(app.app_state.storage.get(&key).await.unwrap().is_some(), "a fresh log stays");
}
