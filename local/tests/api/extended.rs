//! Extended (k6-style JavaScript) scripts through the backend (issue 9): checked
//! when saved, started as jobs like simple scripts, their figures merged.

use crate::helpers::{TestApp, connect_dsn, eventually, spawn_app};
use crate::runs::Target;
use alilo_shared::storage::ObjectKey;
use base64::Engine;
use serde_json::{Value, json};
use std::time::Duration;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

const FLOW: &str = r#"import http from 'k6/http';
import { check } from 'k6';
import { path } from './lib/paths.js';

export default function () {
    const res = http.get(`${__ENV.API_URL}${path}`);
    check(res, { 'status is 200': (r) => r.status === 200 });
}
"#;

const PATHS: &str = "export const path = '/js';\n";

/// The original platform's contract: the data file through `open(__ENV.AMMO_URL)`.
/// Its request runs in a group, and each VU's first iteration throws after
/// it (the summary shows the group and the exception with its stack).
const AMMO_FLOW: &str = r#"import http from 'k6/http';
import { check, group } from 'k6';
import { SharedArray } from 'k6/data';

const targets = new SharedArray('targets', () => JSON.parse(open(__ENV.AMMO_URL)));

export default function () {
    group('catalog', () => {
        const res = http.get(`${__ENV.API_URL}${targets[0].path}`);
        check(res, { 'status is 200': (r) => r.status === 200 });
    });
    if (__ITER === 0) throw new Error('first iteration fails on purpose');
}
"#;

impl TestApp {
    async fn upload(&self, name: &str, text: &str) -> (u16, Value) {
        let (status, body) = self.post("/v1/s3/uploadFile", json!({"name": name, "data": b64(text.as_bytes())})).await;
        (status.as_u16(), body)
    }

    fn extended(scenario: i64, file: &str, base_url: &str, rps: u32) -> Value {
        json!({"scenario_id": scenario, "name": "flow_js", "script_file": file, "base_url": base_url,
            "enabled": true, "tag": "lt", "options": {"rps": rps.to_string(), "steps": "1", "duration": "2m"},
            "additional_env": {"TOKEN": "t"}})
    }
}

#[tokio::test]
async fn a_syntax_error_at_upload_is_a_422_naming_file_line_and_column_and_nothing_is_stored() {
    let app = spawn_app().await;
    let (status, body) = app.upload("flows/main.js", "import http from 'k6/http';\n\nhttp.get('x';\n").await;
    assert_eq!(status, 422, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with("data: flows/main.js:3:"), "{message}");
    assert!(message.contains("SyntaxError"), "{message}");
    assert!(!app.app_state.storage.exists("flows/main.js").await.unwrap(), "a refused script was stored");

    let (status, body) = app.upload("flows/ws.js", "import ws from 'k6/ws';\n").await;
    assert_eq!(status, 422, "{body}");
    assert!(body["message"].as_str().unwrap().contains("\"k6/ws\" is not supported"), "{body}");
    let (status, body) = app.upload("flows/remote.js", "import x from 'https://jslib.k6.io/x.js';\n").await;
    assert_eq!(status, 422, "{body}");
    assert!(body["message"].as_str().unwrap().contains("https://jslib.k6.io/x.js"), "{body}");

    // The data-file upload checks scripts too; other files pass untouched.
    let upload = |name: &str, content: &[u8]| json!({"name": name, "project_title": "1", "scenario_title": "2", "ammo_file": b64(content)});
    app.fails("/v1/file/upload", upload("flow.js", b"export default (;"), 422, "ammo_file: flow.js:1:").await;
    app.ok("/v1/file/upload", upload("users.json", b"[{\"id\": 1}]")).await;
}

#[tokio::test]
async fn create_and_update_check_the_script_and_every_file_it_imports() {
    let app = spawn_app().await;
    let scenario = app.new_scenario("Flows").await;
    let script = TestApp::extended(scenario, "flows/main.js", "http://api", 10);

    app.fails("/v1/script/create", json!({"script": script}), 422, "no object \"flows/main.js\"").await;
    assert_eq!(app.upload("flows/main.js", FLOW).await.0, 200);
    let err = app.fails("/v1/script/create", json!({"script": script}), 422, "script.script_file").await;
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("flows/main.js") || message.contains("main.js:3:"), "{message}");
    assert!(message.contains("\"lib/paths.js\""), "{message}");
    assert_eq!(app.count("scripts").await, 0);

    assert_eq!(app.upload("flows/lib/paths.js", PATHS).await.0, 200);
    let id = app.ok("/v1/script/create", json!({"script": script})).await["script_id"].as_i64().unwrap();

    // A broken module planted behind the upload check is still caught at update.
    let broken = ObjectKey::browser("name", "flows/lib/paths.js").unwrap();
    app.app_state.storage.put(&broken, b"export const path = ;\n".to_vec(), "text/javascript").await.unwrap();
    let mut changed = script.clone();
    changed["script_id"] = json!(id);
    let err = app.fails("/v1/script/update", json!({"script": changed}), 422, "lib/paths.js:1:").await;
    assert!(err["message"].as_str().unwrap().contains("SyntaxError"), "{err}");

    let mut bad_ammo = changed.clone();
    bad_ammo["ammo_id"] = json!(format!("s3://{}/flows/nope.json", app.bucket));
    app.app_state.storage.put(&broken, PATHS.as_bytes().to_vec(), "text/javascript").await.unwrap();
    app.fails("/v1/script/update", json!({"script": bad_ammo}), 422, "script.ammo_id").await;
    app.ok("/v1/script/update", json!({"script": changed})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_mixing_simple_and_extended_scripts_starts_with_the_extended_job_built() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let _agent = app.start_agent("lt").await;
    let scenario = app.new_scenario("Mixed").await;
    app.load_script(scenario, "a", &target, "/a", 20, "lt").await;
    app.upload("flows/main.js", FLOW).await;
    app.upload("flows/lib/paths.js", PATHS).await;
    app.upload("flows/users.json", "[]").await;
    let mut script = TestApp::extended(scenario, "flows/main.js", &format!("http://{}", target.addr), 40);
    script["ammo_id"] = json!(format!("s3://{}/flows/users.json", app.bucket));
    let script_id = app.ok("/v1/script/create", json!({"script": script})).await["script_id"].as_i64().unwrap();

    let run = app.ok("/v1/run/start", json!({"scenario_id": scenario, "user_name": "alice"})).await["run"].clone();
    let kinds: Vec<&str> =
        run["script_runs"].as_array().unwrap().iter().map(|s| s["type_script_run"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["TYPE_SCRIPT_RUN_SIMPLE", "TYPE_SCRIPT_RUN_EXTENDED_UNSPECIFIED"]);
    assert_eq!(run["script_runs"][1]["script"]["script_id"], script_id);

    // The stored job: the entry and the files beside it, the original's __ENV, the profile.
    let db = connect_dsn(&app.dsn).await;
    let row = db.query_one("SELECT spec, target_rps FROM script_runs WHERE kind = 'extended'", &[]).await.unwrap();
    let spec: Value = row.get(0);
    assert_eq!(row.get::<_, i64>(1), 40);
    assert_eq!(spec["script"]["entry"], "main.js");
    let paths: Vec<&str> =
        spec["script"]["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, vec!["lib/paths.js", "main.js", "users.json"]);
    let env = &spec["script"]["env"];
    assert_eq!(env["RPS"], "40");
    assert_eq!(env["STEPS"], "1");
    assert_eq!(env["DURATION"], "2m");
    assert_eq!(env["API_URL"], format!("http://{}", target.addr));
    assert_eq!(env["AMMO_URL"], format!("s3://{}/flows/users.json", app.bucket), "presigned at each start");
    assert_eq!(env["TOKEN"], "t");
    assert_eq!(spec["profile"]["rps"], 40.0);

    // The simple script runs beside it; stopping stops the whole run.
    let run_id = run["run_id"].as_i64().unwrap();
    eventually(Duration::from_secs(10), "the simple script sending", async || (target.count("/a") >= 10).then_some(()))
        .await;
    app.ok("/v1/run/stop", json!({"run_id": run_id})).await;
}

/// Issue 9's acceptance through the backend: a real agent runs the script
/// with its JavaScript runtime, and the target counts both kinds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_scenario_adjusted_to_50_percent_halves_both_kinds_at_the_target() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let _agent = app.start_agent("lt").await;
    let scenario = app.new_scenario("Mixed").await;
    app.load_script(scenario, "a", &target, "/a", 20, "lt").await;
    app.upload("flows/main.js", AMMO_FLOW).await;
    // The data file is uploaded elsewhere, as the UI's data-file upload does.
    let body = json!({"name": "targets.json", "project_title": "1", "scenario_title": "2",
        "ammo_file": b64(br#"[{"path": "/js"}]"#)});
    let ammo = app.ok("/v1/file/upload", body).await["ammo_file"]["s3_url"].as_str().unwrap().to_string();
    let mut script = TestApp::extended(scenario, "flows/main.js", &format!("http://{}", target.addr), 40);
    script["ammo_id"] = json!(ammo);
    let script_id = app.ok("/v1/script/create", json!({"script": script})).await["script_id"].as_i64().unwrap();

    let run = app.ok("/v1/run/start", json!({"scenario_id": scenario, "user_name": "alice"})).await["run"].clone();
    let run_id = run["run_id"].as_i64().unwrap();
    target.until_rates(&["/a", "/js"], &[20.0, 40.0], 15).await;

    app.ok("/v1/run/adjustment", json!({"run_id": run_id, "adjustment_on_percent": 50})).await;
    target.until_rates(&["/a", "/js"], &[10.0, 20.0], 15).await;
    app.ok("/v1/run/increase/script", json!({"run_id": run_id, "script_id": script_id, "increase_by_rps": 10})).await;
    target.until_rates(&["/a", "/js"], &[10.0, 30.0], 15).await;

    // The v1 `checks` of the extended script run counts its passed checks; the summary has them by name.
    eventually(Duration::from_secs(10), "passed checks counted", async || {
        let run = app.run(run_id).await;
        let checks: i64 = run["script_runs"][1]["metrics"]["checks"].as_str().unwrap().parse().unwrap();
        (checks > 0).then_some(())
    })
    .await;
    let run = app.run(run_id).await;
    let m = &run["script_runs"][1]["metrics"];
    assert!(m["full_iteration_count"].as_str().unwrap().parse::<i64>().unwrap() > 0, "{m}");
    assert!(m["vus"].as_str().unwrap().parse::<i64>().unwrap() > 0, "VUs allocated: {m}");
    let summary = app.ok("/v1/run/summary", json!({"run_id": run_id})).await;
    let script = &summary["scripts"][1]["script"];
    assert_eq!(script["checks"][0]["name"], "status is 200", "{summary}");
    assert!(script["checks"][0]["passes"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(script["checks"][0]["fails"], 0, "{summary}");
    assert!(script["iterations"].as_u64().unwrap() > 0, "{summary}");
    // Groups by path and the first exceptions with their stack, merged from the agents' seconds.
    let group = &script["groups"][0];
    assert_eq!(group["path"], "::catalog", "{summary}");
    assert!(group["runs"].as_u64().unwrap() > 0 && group["requests"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(group["checks"][0]["name"], "status is 200", "{summary}");
    assert!(group["duration"]["count"].as_u64().unwrap() > 0, "{summary}");
    let thrown = &script["exception_samples"][0];
    assert_eq!(thrown["message"], "first iteration fails on purpose", "{summary}");
    assert!(thrown["location"].as_str().unwrap().contains(".js:12:"), "{summary}");
    assert!(thrown["stack"].as_str().unwrap().contains("at default"), "{summary}");
    assert_eq!(thrown["iteration"], 0, "{summary}");
    assert!(script["failed_iterations"].as_u64().unwrap() > 0, "{summary}");
    let named = &script["requests"][0];
    assert_eq!(named["name"], format!("http://{}/js", target.addr), "{summary}");
    assert!(named["requests"].as_u64().unwrap() > 0 && named["latency"]["p99"].as_f64().unwrap() > 0.0, "{summary}");
    let series = app.ok("/v1/run/metrics", json!({"run_id": run_id, "step": 2})).await;
    let points = series["scripts"][1]["points"].as_array().unwrap();
    assert!(points.iter().any(|p| p["script"]["iterations"].as_u64() > Some(0)), "{series}");
    assert!(series["scripts"][0]["points"][0].get("script").is_none(), "a simple script has no script part");

    app.stop_and_wait(run_id).await;
    let after = target.count("/js");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(target.count("/js"), after, "the script sent after its run stopped");
}

/// A closed-model script (k6's `vus` + `duration`): 4 VUs, each an
/// iteration every ~200 ms, about 20 requests per second.
const VU_FLOW: &str = r#"import http from 'k6/http';
import { sleep } from 'k6';

export const options = { vus: 4, duration: __ENV.DURATION };

export default function () {
    http.get(`${__ENV.API_URL}/vu`);
    sleep(0.2);
}
"#;

/// Issue 9's live control of a closed-model script through the backend: its
/// own VUs run, and an adjustment scales their number (not a rate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_model_scripts_vus_follow_the_runs_adjustment() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let _agent = app.start_agent("lt").await;
    let scenario = app.new_scenario("Users").await;
    app.upload("flows/vus.js", VU_FLOW).await;
    let script = TestApp::extended(scenario, "flows/vus.js", &format!("http://{}", target.addr), 10);
    app.ok("/v1/script/create", json!({"script": script})).await;

    let run = app.ok("/v1/run/start", json!({"scenario_id": scenario, "user_name": "alice"})).await["run"].clone();
    let run_id = run["run_id"].as_i64().unwrap();
    // 4 VUs × 5 iterations/s, whatever the script's 10 rps says.
    target.until_rates(&["/vu"], &[20.0], 15).await;
    app.ok("/v1/run/adjustment", json!({"run_id": run_id, "adjustment_on_percent": 50})).await;
    target.until_rates(&["/vu"], &[10.0], 15).await;
    app.ok("/v1/run/adjustment", json!({"run_id": run_id, "adjustment_on_percent": 150})).await;
    target.until_rates(&["/vu"], &[30.0], 15).await;
    let run = app.run(run_id).await;
    let vus: i64 = run["script_runs"][0]["metrics"]["vus"].as_str().unwrap().parse().unwrap();
    assert!(vus >= 6, "6 VUs at 150 %: {run}");
    // +5 rps on 15: 20 of the configured 10, twice the VUs (8).
    let script_id = run["script_runs"][0]["script"]["script_id"].clone();
    app.ok("/v1/run/increase/script", json!({"run_id": run_id, "script_id": script_id, "increase_by_rps": 5})).await;
    target.until_rates(&["/vu"], &[40.0], 15).await;

    app.stop_and_wait(run_id).await;
    let after = target.count("/vu");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(target.count("/vu"), after, "the script sent after its run stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extended_script_is_smoke_tested_by_route_and_by_command() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let _agent = app.start_agent("lt").await;
    let scenario = app.new_scenario("Smoke").await;
    app.upload("flows/main.js", FLOW).await;
    app.upload("flows/lib/paths.js", PATHS).await;
    let script = TestApp::extended(scenario, "flows/main.js", &format!("http://{}", target.addr), 500);
    let script_id = app.ok("/v1/script/create", json!({"script": script})).await["script_id"].as_i64().unwrap();

    let run = app.ok("/v1/run/start/script", json!({"script_id": script_id})).await["run"].clone();
    assert_eq!(
        (run["title"].as_str(), run["user_name"].as_str()),
        (Some("Smoke_test_flow_js"), Some("token:test-admin"))
    );
    eventually(Duration::from_secs(10), "the smoke test sending", async || (target.count("/js") >= 3).then_some(()))
        .await;
    let run_id = run["run_id"].as_i64().unwrap();
    app.stop_and_wait(run_id).await;

    let body = json!({"command_type": "TYPE_RUN_SCRIPT", "script_ids": [script_id]});
    let command = app.ok("/v1/command/new", body).await["command"].clone();
    assert_eq!(command["status"], "STATUS_COMPLETED", "{command}");
    let db = connect_dsn(&app.dsn).await;
    let smoke: i64 = db
        .query_one("SELECT count(*) FROM runs WHERE kind = 'smoke' AND title = 'Smoke_test_flow_js'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(smoke, 2);
    let rps: i64 =
        db.query_one("SELECT max(target_rps) FROM script_runs WHERE kind = 'extended'", &[]).await.unwrap().get(0);
    assert_eq!(rps, 2, "a smoke test runs at 2 rps, not the script's 500");
}

/// A closed-model script written for 40 VUs, each naming itself in the path.
const MANY_VUS: &str = r#"import http from 'k6/http';
import { sleep } from 'k6';

export const options = { vus: 40, duration: '1m' };

export default function () {
    http.get(`${__ENV.API_URL}/vu/${__VU}`);
    sleep(0.2);
}
"#;

/// Issue 9: a smoke test of a closed-model script runs a handful of VUs,
/// not the script's own 40.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smoke_test_of_a_closed_model_script_caps_its_vus() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let _agent = app.start_agent("lt").await;
    let scenario = app.new_scenario("SmokeVus").await;
    app.upload("flows/many.js", MANY_VUS).await;
    let script = TestApp::extended(scenario, "flows/many.js", &format!("http://{}", target.addr), 10);
    let script_id = app.ok("/v1/script/create", json!({"script": script})).await["script_id"].as_i64().unwrap();
    let run = app.ok("/v1/run/start/script", json!({"script_id": script_id})).await["run"].clone();
    // 5 VUs × 5 iterations/s: 60 requests take about 2.5 s; 40 VUs would
    // have named themselves long before.
    eventually(Duration::from_secs(20), "the smoke test sending", async || (target.total() >= 60).then_some(())).await;
    app.stop_and_wait(run["run_id"].as_i64().unwrap()).await;
    let vus = target.paths_under("/vu/");
    assert!((1..=5).contains(&vus.len()), "at most 5 VUs in a smoke test: {vus:?}");
}

#[tokio::test]
async fn the_openapi_spec_describes_the_script_figures() {
    let app = spawn_app().await;
    let spec: Value = reqwest::get(format!("{}/swagger.json", app.address)).await.unwrap().json().await.unwrap();
    let schemas = &spec["components"]["schemas"];
    for field in ["checks", "requests", "metrics", "iteration_duration", "checks_passed", "groups", "exception_samples"]
    {
        assert!(schemas["ScriptFigures"]["properties"][field].is_object(), "ScriptFigures.{field} missing");
    }
    // ScriptSummary flattens the Counts: its own fields are a part of an allOf.
    let summary = &schemas["ScriptSummary"];
    let parts = std::iter::once(summary).chain(summary["allOf"].as_array().into_iter().flatten());
    assert!(parts.clone().any(|p| p["properties"]["script"].is_object()), "ScriptSummary.script missing: {summary}");
    assert!(
        parts.clone().any(|p| p["$ref"] == "#/components/schemas/Counts")
            && schemas["Counts"]["properties"]["requests"].is_object(),
        "ScriptSummary.requests missing: {summary}"
    );
}
