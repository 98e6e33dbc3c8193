//! Issue #10, the per-project target allow-list: set by a tester through
//! `/v1/project/targets/set`, combined with `ALILO_ALLOWED_TARGETS` (a host
//! must pass both), checked at save, import and start (422 naming the host
//! and the list), and carried to the agents, which refuse every other host an
//! extended script calls, redirects included, without sending anything there.

use crate::helpers::{eventually, spawn_app, spawn_app_with};
use crate::runs::Target;
use alilo_agent::target::{Target as Listener, TargetConfig};
use alilo_shared::auth::Role;
use base64::Engine;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::Duration;

const GLOBAL: &str = "ALILO_ALLOWED_TARGETS";

#[tokio::test]
async fn a_projects_list_narrows_the_global_one_at_save_import_and_start() {
    let app = spawn_app_with(|s| s.allowed_targets = Some("*.example.com, 127.0.0.0/8".into())).await;
    let project = app.create_project("P").await;
    let scenario = app.create_scenario(project, "S").await;
    let own = format!("of project {project}");

    // A script saved before the project had a list.
    let mut early = crate::helpers::simple_script(scenario, "early", "1");
    early["path"] = json!("api.example.com/items");
    app.ok("/v1/simple-script/create", json!({"simple_script": early})).await;

    let set = |targets: Value| json!({"project_id": project, "allowed_targets": targets});
    let answer = app.ok("/v1/project/targets/set", set(json!(["shop.example.com", "127.0.0.1", "evil.test"]))).await;
    assert_eq!(answer["allowed_targets"], json!(["shop.example.com", "127.0.0.1", "evil.test"]));
    let read = app.ok("/v1/project/targets", json!({"project_id": project})).await;
    assert_eq!(read["global_allowed_targets"], json!(["*.example.com", "127.0.0.0/8"]));
    assert_eq!(read["allowed_targets"], answer["allowed_targets"]);

    // Save: both lists must pass, and the refusal names the list that refused.
    let mut script = crate::helpers::simple_script(scenario, "ok", "1");
    script["path"] = json!("shop.example.com/items");
    app.ok("/v1/simple-script/create", json!({"simple_script": script.clone()})).await;
    for (host, list) in [("api.example.com", own.as_str()), ("evil.test", GLOBAL), ("127.0.0.2", own.as_str())] {
        script["path"] = json!(format!("{host}/items"));
        let refusal = format!("simple_script.path: host \"{host}\" is not in the target allow-list {list}");
        app.fails("/v1/simple-script/create", json!({"simple_script": script.clone()}), 422, &refusal).await;
    }
    let extended = json!({"scenario_id": scenario, "name": "flow_js", "script_file": "https://files/x.js",
        "base_url": "https://api.example.com", "options": {"rps": "1", "steps": "1", "duration": "1m"}});
    let refusal = format!("script.base_url: host \"api.example.com\" is not in the target allow-list {own}");
    app.fails("/v1/script/create", json!({"script": extended}), 422, &refusal).await;

    // Import: cURL is refused; a HAR's refused requests are skipped, naming host and list.
    let curl = json!({"scenario_id": scenario, "curl": "curl https://api.example.com/orders"});
    app.fails(
        "/v1/parsing/curl/import",
        curl,
        422,
        &format!("\"api.example.com\" is not in the target allow-list {own}"),
    )
    .await;
    let entry = |url: &str| json!({"_resourceType": "fetch", "request": {"method": "GET", "url": url, "headers": [], "queryString": []}});
    let har = json!({"log": {"entries": [entry("https://shop.example.com/a"), entry("https://api.example.com/b")]}});
    let imported = app.ok("/v1/parsing/har/import", json!({"scenario_id": scenario, "har": har})).await;
    assert_eq!(imported["created"].as_array().unwrap().len(), 1, "{imported}");
    let reason = imported["skipped"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("\"api.example.com\"") && reason.ends_with(&own), "{reason}");

    // Start: the script saved before the list is refused now.
    let refusal = format!("host \"api.example.com\" is not in the target allow-list {own}");
    app.fails("/v1/run/start", json!({"scenario_id": scenario}), 422, &refusal).await;

    // An empty list removes it: the early script passes again (no agent: the refusal is about agents now).
    let answer = app.ok("/v1/project/targets/set", set(json!([]))).await;
    assert_eq!(answer["allowed_targets"], json!([]));
    let (status, body) = app.post("/v1/run/start", json!({"scenario_id": scenario})).await;
    assert!(!body["message"].as_str().unwrap_or_default().contains("allow-list"), "{status}: {body}");
}

#[tokio::test]
async fn setting_a_projects_list_is_a_testers_change_checked_and_audited() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let other = app.create_project("Q").await;
    let body = |p: i64, targets: Value| json!({"project_id": p, "allowed_targets": targets});
    app.fails("/v1/project/targets/set", body(project, json!(["ok.example", "bad host"])), 422, "\"bad host\"").await;
    app.fails("/v1/project/targets/set", json!({"project_id": project}), 400, "allowed_targets").await;
    app.fails("/v1/project/targets/set", body(999_999, json!(["a.example"])), 404, "project 999999").await;
    app.fails("/v1/project/targets", json!({"project_id": 999_999}), 404, "project 999999").await;

    let viewer = app.as_role(Role::Viewer, None).await;
    assert_eq!(viewer.post("/v1/project/targets/set", body(project, json!(["a.example"]))).await.0, 403);
    assert_eq!(viewer.post("/v1/project/targets", json!({"project_id": project})).await.0, 200, "reading is open");
    let limited = app.as_role(Role::Tester, Some(&[project])).await;
    assert_eq!(limited.post("/v1/project/targets/set", body(other, json!(["a.example"]))).await.0, 403);
    let (status, answer) = limited.post("/v1/project/targets/set", body(project, json!(["a.example"]))).await;
    assert_eq!(status, 200, "{answer}");

    let events = app.ok("/v1/audit", json!({})).await["events"].clone();
    let sets: Vec<(&str, i64)> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["route"] == "/v1/project/targets/set")
        .map(|e| (e["actor"].as_str().unwrap(), e["status"].as_i64().unwrap()))
        .collect();
    assert_eq!(sets[0], ("token:test-tester", 200), "{events}");
    assert!(sets.contains(&("token:test-viewer", 403)) && sets.contains(&("token:test-admin", 422)), "{sets:?}");
}

/// A k6-style script calling an allowed host, a host off the project's list,
/// and the allowed host's redirect to the refused one.
fn flow(refused: std::net::SocketAddr) -> String {
    format!(
        r#"import http from 'k6/http';
export default function () {{
    http.get(`${{__ENV.API_URL}}/ok`);
    http.get('http://{refused}/direct');
    http.get(`${{__ENV.API_URL}}/redirect`);
}}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extended_script_sends_nothing_to_a_host_off_the_list_not_even_through_a_redirect() {
    let app = spawn_app().await;
    // The refused host: another loopback address, counting every connection.
    let refused = Listener::start("127.0.0.2:0".parse().unwrap(), TargetConfig::default()).await.unwrap();
    let allowed = Target::start_redirecting("/redirect", &format!("http://{}/via-redirect", refused.addr)).await;
    let _agent = app.start_agent("lt").await;
    let project = app.create_project("P").await;
    let scenario = app.create_scenario(project, "S").await;
    app.ok("/v1/project/targets/set", json!({"project_id": project, "allowed_targets": ["127.0.0.1"]})).await;

    let code = base64::engine::general_purpose::STANDARD.encode(flow(refused.addr));
    app.ok("/v1/s3/uploadFile", json!({"name": "allow/main.js", "data": code})).await;
    let script = json!({"scenario_id": scenario, "name": "flow_js", "script_file": "allow/main.js",
        "base_url": format!("http://{}", allowed.addr), "enabled": true, "tag": "lt",
        "options": {"rps": "20", "steps": "1", "duration": "1m"}});
    app.ok("/v1/script/create", json!({"script": script})).await;
    let run = app.ok("/v1/run/start", json!({"scenario_id": scenario})).await["run"].clone();
    let run_id = run["run_id"].as_i64().unwrap();
    let sr_id = run["script_runs"][0]["run_script_id"].as_i64().unwrap();

    eventually(Duration::from_secs(30), "the allowed host receives load", async || {
        (allowed.count("/ok") >= 20 && allowed.count("/redirect") >= 20).then_some(())
    })
    .await;
    let logs = eventually(Duration::from_secs(20), "refusals in the run's log", async || {
        let logs = app.ok("/v1/run/logs", json!({"run_id": run_id, "script_run_id": sr_id})).await;
        (logs["total"].as_str().unwrap().parse::<u64>().unwrap() >= 20).then_some(logs)
    })
    .await;
    let first = &logs["first"][0];
    assert_eq!(first["error"], "not_allowed", "{logs}");
    let message = first["message"].as_str().unwrap();
    let want = format!("host \"127.0.0.2\" is not in the target allow-list of project {project}");
    assert!(message.starts_with(&want) && message.ends_with("not sent"), "{message}");

    let summary = eventually(Duration::from_secs(20), "the refusals in the summary", async || {
        let s = app.ok("/v1/run/summary", json!({"run_id": run_id})).await;
        (s["scripts"][0]["errors"]["other"].as_i64().unwrap_or(0) > 0).then_some(s)
    })
    .await;
    assert!(summary["scripts"][0]["failed"].as_i64().unwrap() > 0, "{summary}");
    app.stop_and_wait(run_id).await;
    assert_eq!(allowed.count("/via-redirect"), 0);
    assert_eq!(refused.stats.connections.load(Ordering::Relaxed), 0, "the refused host was never contacted");
}
