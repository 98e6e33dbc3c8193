//! The original's simple-script semantics end to end (#14): a real agent sends
//! real requests to a loopback target that records what it received.

use crate::helpers::spawn_app;
use crate::runs::Agent;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A target that records each request's path and body.
struct Recorder {
    addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl Recorder {
    async fn start() -> Self {
        let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let log = seen.clone();
        let router = axum::Router::new().fallback(move |uri: axum::http::Uri, body: String| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push((uri.path().to_string(), body));
                "ok"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { addr, seen }
    }

    /// Waits until `n` requests arrived; what arrived.
    async fn wait_for(&self, n: usize) -> Vec<(String, String)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let seen = self.seen.lock().unwrap().clone();
            if seen.len() >= n {
                return seen;
            }
            assert!(tokio::time::Instant::now() < deadline, "only {} requests arrived", seen.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A POST simple script with a CSV data file and no static body: each request's
/// body is a row of the file as a JSON object, and the path's `{{id}}` is filled
/// from the same row. Before #14 the CSV was read as a JSON array (the run failed
/// with 0 requests) and the body was empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_with_a_csv_data_file_and_no_body_sends_a_random_row_as_json() {
    let app = spawn_app().await;
    let target = Recorder::start().await;
    let agent = Agent::start().await;
    app.register_agent(&agent, "lt").await;
    let s3_url = app.upload_data_file("users.csv", b"id,name\n7,ann\n8,bob\n", "text/csv").await;
    let project = app.create_project("Shop").await;
    let scenario = app.create_scenario(project, "Data").await;
    let script = json!({"simple_script": {
        "scenario_id": scenario, "name": "users", "enabled": true, "tag": "lt",
        "path": format!("{}/users/{{{{id}}}}", target.addr), "scheme": "http", "http_method": "post",
        "rps": "20", "steps": "1", "duration": "1m", "max_v_us": "20", "ammo_url": s3_url, "static_ammo": ""
    }});
    app.ok("/v1/simple-script/create", script).await;
    let run = app
        .ok("/v1/run/start", json!({"scenario_id": scenario, "percentage_of_target": 100, "user_name": "alice"}))
        .await;
    let seen = target.wait_for(20).await;
    app.ok("/v1/run/stop", json!({"run_id": run["run"]["run_id"]})).await;

    let mut ids = std::collections::BTreeSet::new();
    for (path, body) in &seen {
        let row: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("body {body:?} is not JSON"));
        let id = row["id"].as_str().unwrap();
        assert_eq!(path, &format!("/users/{id}"), "the placeholder and the body come from the same row");
        assert_eq!(row["name"], if id == "7" { "ann" } else { "bob" });
        ids.insert(id.to_string());
    }
    assert_eq!(ids.len(), 2, "rows are picked from the whole file: {seen:?}");
}

/// A data file whose name has no extension and whose content type says
/// nothing (`application/octet-stream`, what a browser sends for an unknown
/// file): the agent reads its format from the content, so CSV rows and JSON
/// lines both fill the path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_file_without_extension_or_content_type_is_read_by_its_content() {
    let app = spawn_app().await;
    let target = Recorder::start().await;
    let agent = Agent::start().await;
    app.register_agent(&agent, "lt").await;
    let csv = app.upload_data_file("users", b"\xEF\xBB\xBFid,name\n7,ann\n8,bob\n", "application/octet-stream").await;
    let lines =
        app.upload_data_file("orders", b"{\"id\": \"o1\"}\n{\"id\": \"o2\"}\n", "application/octet-stream").await;
    let project = app.create_project("Shop").await;
    let scenario = app.create_scenario(project, "Sniffed").await;
    for (name, url) in [("users", &csv), ("orders", &lines)] {
        let script = json!({"simple_script": {
            "scenario_id": scenario, "name": name, "enabled": true, "tag": "lt",
            "path": format!("{}/{name}/{{{{id}}}}", target.addr), "scheme": "http", "http_method": "get",
            "rps": "10", "steps": "1", "duration": "1m", "max_v_us": "20", "ammo_url": url
        }});
        app.ok("/v1/simple-script/create", script).await;
    }
    let run = app
        .ok("/v1/run/start", json!({"scenario_id": scenario, "percentage_of_target": 100, "user_name": "alice"}))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let want = ["/orders/o1", "/orders/o2", "/users/7", "/users/8"];
    loop {
        let paths: std::collections::BTreeSet<String> =
            target.seen.lock().unwrap().iter().map(|(p, _)| p.clone()).collect();
        if want.iter().all(|w| paths.contains(*w)) {
            assert!(paths.iter().all(|p| want.contains(&p.as_str())), "only rows' values: {paths:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "paths seen: {paths:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.ok("/v1/run/stop", json!({"run_id": run["run"]["run_id"]})).await;
}
