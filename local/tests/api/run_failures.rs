//! #14: a script run's failure reaches `script_run.info` (the run page of the
//! original UI shows it under the script) in words a user can act on. One test
//! per kind of failure; each polls the run as the run page does (`/v1/run`).

use crate::helpers::{TestApp, spawn_app};
use crate::runs::Agent;
use serde_json::{Value, json};
use std::time::Duration;

/// Creates `script` in a new scenario, starts a run, and waits for the first
/// script run's `info` to be set; that info.
async fn info_of_a_run_of(app: &TestApp, mut script: Value) -> String {
    let project = app.create_project("P").await;
    let scenario = app.create_scenario(project, "S").await;
    script["scenario_id"] = json!(scenario);
    app.ok("/v1/simple-script/create", json!({"simple_script": script})).await;
    let run =
        app.ok("/v1/run/start", json!({"scenario_id": scenario, "percentage_of_target": 100, "user_name": "a"})).await;
    let run_id = run["run"]["run_id"].as_i64().unwrap();
    let info = wait_info(app, run_id, 15, |i| !i.is_empty()).await;
    let _ = app.post("/v1/run/stop", json!({"run_id": run_id})).await;
    info
}

/// The app with one agent, tagged `lt` (stopped when the agent is dropped).
async fn app_with_an_agent() -> (TestApp, Agent) {
    let app = spawn_app().await;
    let agent = Agent::start().await;
    app.register_agent(&agent, "lt").await;
    (app, agent)
}

fn script(path: &str, method: &str) -> Value {
    json!({"name": "s", "enabled": true, "tag": "lt", "path": path, "scheme": "http", "http_method": method,
        "rps": "5", "steps": "1", "duration": "1m", "max_v_us": "5"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_data_file_is_explained_in_info() {
    let (app, _agent) = app_with_an_agent().await;
    let s3_url = app.upload_data_file("rows.json", b"not json at all", "application/json").await;
    let mut s = script("127.0.0.1:9/x/{{id}}", "get");
    s["ammo_url"] = json!(s3_url);
    let info = info_of_a_run_of(&app, s).await;
    assert!(info.starts_with("The data file could not be read (data is not a JSON array of objects"), "{info}");
    assert!(info.contains("upload it as a JSON array of objects, JSON lines, or CSV"), "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placeholder_naming_no_column_is_explained_in_info() {
    let (app, _agent) = app_with_an_agent().await;
    let s3_url = app.upload_data_file("ids.csv", b"id\n1\n", "text/csv").await;
    let mut s = script("127.0.0.1:9/x/{{user}}", "get");
    s["ammo_url"] = json!(s3_url);
    let info = info_of_a_run_of(&app, s).await;
    assert!(info.starts_with("A {{placeholder}} of the script names no column of its data file"), "{info}");
    assert!(info.contains("{{user}}"), "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_that_cannot_be_resolved_is_explained_in_info() {
    let (app, _agent) = app_with_an_agent().await;
    let info = info_of_a_run_of(&app, script("no-such-host.invalid/x", "get")).await;
    assert!(info.starts_with("The script's URL cannot be used (") && info.contains("empty means https"), "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_refusing_the_job_is_explained_in_info() {
    let (app, _agent) = app_with_an_agent().await;
    // A placeholder in the host: stored as typed, refused by the agent.
    let info = info_of_a_run_of(&app, script("{{host}}/x", "get")).await;
    assert!(info.starts_with("The agent refused the job ("), "{info}");
    assert!(info.contains("placeholders are allowed in the path and query only"), "{info}");
}

/// A run of one script sending 10 rps to `target`'s `/x` (on the agents tagged
/// `lt`), once the target receives its load: the run's id.
async fn a_run_under_load(app: &TestApp, target: &crate::runs::Target) -> i64 {
    let project = app.create_project("P").await;
    let scenario = app.create_scenario(project, "S").await;
    app.load_script(scenario, "s", target, "/x", 10, "lt").await;
    let run_id = app.start_run(scenario, 100).await["run_id"].as_i64().unwrap();
    crate::helpers::eventually(Duration::from_secs(20), "the job running", async || {
        (target.count("/x") > 5).then_some(())
    })
    .await;
    run_id
}

/// Waits until the run's first script run has an `info` that `done` accepts.
async fn wait_info(app: &TestApp, run_id: i64, secs: u64, done: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let run = app.ok("/v1/run", json!({"run_id": run_id})).await["run"].clone();
        let info = run["script_runs"][0]["info"].as_str().unwrap_or_default().to_string();
        if done(&info) {
            return info;
        }
        assert!(tokio::time::Instant::now() < deadline, "no such info after {secs} s: {run}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A running script whose only agent goes away (every connection to it reset):
/// after three failed polls the job is lost and `info` says so, and where to look.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_stops_answering_mid_run_is_explained_in_info() {
    let app = spawn_app().await;
    let agent = Agent::start().await;
    let proxy = crate::chaos_proxy::ChaosProxy::start(([127, 0, 0, 1], agent.port).into()).await;
    app.register_agent_at(proxy.address().port(), "lt").await;
    let target = crate::runs::Target::start().await;
    let run_id = a_run_under_load(&app, &target).await;
    proxy.reset();
    let info = wait_info(&app, run_id, 30, |i| !i.is_empty()).await;
    assert!(info.starts_with("The agent stopped answering the controller (agent stopped answering (3 polls"), "{info}");
    assert!(info.contains("check that it runs"), "{info}");
    proxy.restore();
    let _ = app.post("/v1/run/stop", json!({"run_id": run_id})).await;
}

/// The controller itself goes away (alilo-local down) for longer than the
/// agents' 60 s lease: the healthy agent stops the job on its own; when the
/// controller is back it reads why, and `info` says the controller, not the
/// agent, was at fault. (Before, such a job was recorded as finished and its
/// reason never reached `info`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_that_expired_during_a_controller_outage_is_explained_in_info() {
    let (mut app, _agent) = app_with_an_agent().await;
    let target = crate::runs::Target::start().await;
    let run_id = a_run_under_load(&app, &target).await;
    app.restart(Duration::from_secs(66)).await;
    let info = wait_info(&app, run_id, 30, |i| !i.is_empty()).await;
    assert!(
        info.starts_with("The agent stopped the job because the controller stopped reaching it (lease expired"),
        "{info}"
    );
    assert!(info.contains("the agent was healthy"), "{info}");
    let _ = app.post("/v1/run/stop", json!({"run_id": run_id})).await;
}
