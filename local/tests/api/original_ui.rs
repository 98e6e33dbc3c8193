//! The original web UI (aliexpressru/alilo-frontend) against this backend: each
//! test sends exactly the body the UI's source sends and asserts on the fields the
//! UI reads. A test cannot open a browser, so each comment names the UI action.

use crate::helpers::spawn_app;
use base64::Engine;
use serde_json::json;

/// Bucket page → a file's "Delete" → "Delete" in the confirmation
/// (`FileDeleteModal` → `filesService.deleteFile`): POST `/api/delete/file` with
/// `{bucketName, path}`, the path without its leading slash. The UI reads nothing
/// from the answer and reloads the tree; the alias keeps `/v1/s3/deleteBucketFile`'s rules.
#[tokio::test]
async fn the_bucket_page_deletes_a_file_through_api_delete_file() {
    let app = spawn_app().await;
    let data = base64::engine::general_purpose::STANDARD.encode(b"id\n1\n");
    app.ok("/v1/s3/uploadFile", json!({"name": "ammo.csv", "path": "ammo.csv", "contentType": "text/csv", "data": data}))
        .await;

    let (status, _) = app.post("/api/delete/file", json!({"bucketName": "alilo", "path": "ammo.csv"})).await;
    assert_eq!(status, 200);
    let (_, tree) = app.post_raw("/v1/s3/getBucketList", "").await;
    assert_eq!(tree["result"]["children"], json!([]), "the file is gone from the tree the UI reloads");

    // The same rules as /v1/s3/deleteBucketFile: a missing file is a 404 naming it, a path is required.
    app.fails("/api/delete/file", json!({"bucketName": "alilo", "path": "ammo.csv"}), 404, "ammo.csv").await;
    app.fails("/api/delete/file", json!({"bucketName": "alilo", "path": ""}), 400, "path").await;
}

/// Agents page, opening one agent (`agentService.getAgent`): POST `/v1/agent/get`
/// with `{agent_id}`; the UI reads `status`, `message` and
/// `agent.{agent_id, host_name, port, enabled, tags}`.
#[tokio::test]
async fn the_agents_page_reads_one_agent_through_v1_agent_get() {
    let app = spawn_app().await;
    let agent = json!({"agent": {"agent_id": 0, "host_name": "load-1", "port": "8888", "enabled": true,
        "tags": ["eu"], "cpu_used": 0, "mem_used": 0, "ports_used": 0}});
    let id = app.ok("/v1/agent/set", agent).await["agent_id"].as_i64().unwrap();

    let got = app.ok("/v1/agent/get", json!({"agent_id": id})).await;
    assert_eq!(got["status"], true);
    assert!(got["message"].is_string());
    let a = &got["agent"];
    assert_eq!(
        (&a["agent_id"], &a["host_name"], &a["port"], &a["enabled"], &a["tags"]),
        (&json!(id), &json!("load-1"), &json!("8888"), &json!(true), &json!(["eu"]))
    );
    app.fails("/v1/agent/get", json!({"agent_id": id + 1}), 404, &format!("agent {}", id + 1)).await;
}

/// The search box (`searchService.search`): POST `/v1/search/script` with
/// `{search_query, not_like, project_id, scenario_id}` (the UI sends 0 for "any");
/// it reads `status`, `message`, `scripts` and `simple_scripts`.
#[tokio::test]
async fn the_search_box_finds_scripts_through_v1_search_script() {
    let app = spawn_app().await;
    let project = app.create_project("Shop").await;
    let scenario = app.create_scenario(project, "Checkout").await;
    app.create_simple_script(scenario, "pay_card", "1").await;
    app.create_script(scenario, "pay_read", "1").await;
    app.create_script(scenario, "browse", "1").await;

    let body = json!({"search_query": "pay", "not_like": false, "project_id": 0, "scenario_id": 0});
    let found = app.ok("/v1/search/script", body).await;
    assert_eq!(found["status"], true);
    assert!(found["message"].is_string());
    let names = |kind: &str| -> Vec<String> {
        found[kind].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names("scripts"), ["pay_read"]);
    assert_eq!(names("simple_scripts"), ["pay_card"]);

    let scoped = json!({"search_query": "pay", "not_like": false, "project_id": 0, "scenario_id": scenario});
    assert_eq!(app.ok("/v1/search/script", scoped).await["scripts"].as_array().unwrap().len(), 1);
}
