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
    app.ok(
        "/v1/s3/uploadFile",
        json!({"name": "ammo.csv", "path": "ammo.csv", "contentType": "text/csv", "data": data}),
    )
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

fn follows_the_ui_name_rule(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The scenario page's script table (`scriptService.getAllScripts`): POST
/// `/v1/scripts` with `{scenario_id}` as a string; the table shows each row's
/// `title` (a blank one cannot be clicked) and the edit form refuses to save a
/// `name` not matching `^[a-zA-Z0-9_]+$` (`SimpleScriptGeneralModal`).
async fn table_rows(app: &crate::helpers::TestApp, scenario: i64) -> Vec<(String, String)> {
    let listed = app.ok("/v1/scripts", json!({"scenario_id": scenario.to_string()})).await;
    listed["simple_scripts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["title"].as_str().unwrap().to_string(), s["name"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test]
async fn imported_scripts_have_a_title_for_the_table_and_a_name_the_edit_form_saves() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let s = app.create_scenario(project, "S").await;
    app.ok(
        "/v1/parsing/curl/import",
        json!({"scenario_id": s, "curl": "curl -X POST 'https://shop.example.com/api/cart-items?x=1' -d a=1"}),
    )
    .await;
    let entry = |url: &str| {
        json!({"_resourceType": "fetch", "request": {"method": "GET", "url": url, "httpVersion": "HTTP/2",
            "headers": [], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
            "response": {"status": 200}, "startedDateTime": "2026-01-01T00:00:00Z", "time": 1})
    };
    let har = json!({"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"},
        "entries": [entry("https://shop.example.com/"), entry("https://shop.example.com/api/товары")]}});
    app.ok("/v1/parsing/har/import", json!({"scenario_id": s, "har": har})).await;

    let rows = table_rows(&app, s).await;
    let titles: Vec<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(titles.len(), 3, "{rows:?}");
    assert!(titles.contains(&"POST /api/cart-items") && titles.contains(&"GET /"), "{rows:?}");
    let names: Vec<&str> = rows.iter().map(|(_, n)| n.as_str()).collect();
    assert!(names.contains(&"post_api_cart_items") && names.contains(&"get_root"), "{rows:?}");
    for (title, name) in &rows {
        assert!(!title.trim().is_empty(), "a blank title in {rows:?}");
        assert!(follows_the_ui_name_rule(name), "{name:?} fails ^[a-zA-Z0-9_]+$");
    }
}

/// `alilo-local --demo`, then the demo scenario's script table in the UI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_scripts_have_titles_and_names_the_ui_accepts() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.no_agent = false;
        s.demo = true;
    })
    .await;
    // The demo is created once the server runs: poll for its run.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let runs = loop {
        let runs = app.ok("/v1/runs", json!({})).await;
        if runs["runs"][0].is_object() {
            break runs;
        }
        assert!(tokio::time::Instant::now() < deadline, "no demo run: {runs}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let projects = app.ok("/v1/projects", json!({})).await;
    let project = projects["projects"][0]["id"].as_i64().unwrap();
    let scenarios = app.ok("/v1/scenarios", json!({"project_id": project.to_string()})).await;
    let scenario = scenarios["scenarios"][0]["scenario_id"].as_i64().unwrap();
    let rows = table_rows(&app, scenario).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (title, name) in &rows {
        assert!(!title.trim().is_empty() && follows_the_ui_name_rule(name), "{rows:?}");
    }
    app.ok("/v1/run/stop", json!({"run_id": runs["runs"][0]["run_id"]})).await;
}

/// Scripts page → "Import cURL", pasting a command into the text area
/// (`ModalImportCurl` → `parsingService.parseCUrl`): POST `/v1/parsing/CUrl` with
/// `{curl}`; the UI reads `status`, `message` (shown when not valid) and `json`
/// (parsed for `method`, `url`, `query_params`, `headers`, `body`).
#[tokio::test]
async fn the_import_dialog_reads_old_chrome_cmd_commands_and_chained_commands() {
    let app = spawn_app().await;
    // Chrome's older "Copy as cURL (cmd)": plain quotes, ^\^" inside values.
    let old_chrome = r#"curl "https://shop.example.com/api/cart" -H "sec-ch-ua: ^\^"Chromium^\^";v=^\^"92^\^"" -H "Content-Type: application/json" --data-binary "^{^\^"sku^\^":^\^"a b^\^",^\^"qty^\^":2^}" --compressed"#;
    let answer = app.ok("/v1/parsing/CUrl", json!({"curl": old_chrome})).await;
    let parsed: serde_json::Value = serde_json::from_str(answer["json"].as_str().unwrap()).unwrap();
    assert_eq!(
        (parsed["method"].as_str(), parsed["url"].as_str()),
        (Some("POST"), Some("https://shop.example.com/api/cart"))
    );
    assert_eq!(parsed["headers"]["sec-ch-ua"], r#""Chromium";v="92""#);
    assert_eq!(parsed["body"], r#"{"sku":"a b","qty":2}"#);
    assert_eq!(answer["message"], "", "nothing was left out");

    // A command chained with && imports the curl part and says what was ignored.
    let chained = "curl -s https://shop.example.com/health && echo up";
    let answer = app.ok("/v1/parsing/CUrl", json!({"curl": chained})).await;
    let parsed: serde_json::Value = serde_json::from_str(answer["json"].as_str().unwrap()).unwrap();
    assert_eq!(parsed["url"], "https://shop.example.com/health");
    assert_eq!(answer["message"], "imported the curl command only; ignored what follows '&&': echo up");
}

/// The same dialog with a command whose host is for the shell or a tool to fill
/// in: refused, naming the placeholder and what to do, and nothing is stored by
/// the import route either.
#[tokio::test]
async fn a_url_whose_host_is_a_placeholder_is_refused_naming_it() {
    let app = spawn_app().await;
    let err =
        app.fails("/v1/parsing/CUrl", json!({"curl": "curl -sS $APISERVER/api/v1/pods"}), 422, "'$APISERVER'").await;
    assert!(err["message"].as_str().unwrap().contains("replace it with the server's address"), "{err}");
    app.fails("/v1/parsing/CUrl", json!({"curl": "curl '{{base_url}}/v1/orders'"}), 422, "'{{base_url}}'").await;

    let project = app.create_project("P").await;
    let s = app.create_scenario(project, "S").await;
    app.fails("/v1/parsing/curl/import", json!({"scenario_id": s, "curl": "curl https://${HOST}/x"}), 422, "'${HOST}'")
        .await;
    assert_eq!(app.count("simple_scripts").await, 0);
    let chained = app
        .ok("/v1/parsing/curl/import", json!({"scenario_id": s, "curl": "curl https://h.example/x && echo done"}))
        .await;
    assert!(chained["message"].as_str().unwrap().contains("echo done"), "{chained}");
    assert_eq!(app.count("simple_scripts").await, 1);
}

/// The script table's file link of a simple script (`script_file_url`), opened
/// in a browser: a GET answering the script as an equivalent extended script,
/// to eject it into JavaScript. Before #14 it answered 405 (every v1 route is POST).
#[tokio::test]
async fn a_simple_script_s_file_link_opens_its_equivalent_extended_script() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let s = app.create_scenario(project, "S").await;
    let id = app.create_simple_script(s, "get_items", "10").await;
    let listed = app.ok("/v1/scripts", json!({"scenario_id": s.to_string()})).await;
    let link = listed["simple_scripts"][0]["script_file_url"].as_str().unwrap().to_string();
    assert_eq!(link, format!("/v1/simple-script?simple_script_id={id}"));

    let response = app.client.get(format!("{}{link}", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    let js = response.text().await.unwrap();
    assert!(js.contains("import http from 'k6/http';") && js.contains("export default function ()"), "{js}");
    assert!(js.contains(r#"const url = "http://127.0.0.1:9/items?q=1";"#), "{js}");
    assert!(js.contains(r#""Accept": "application/json","#), "{js}");
    assert!(js.contains("stages: [{ target: 5, duration: '30s' }, { target: 10, duration: '30s' }]"), "{js}");

    let missing =
        app.client.get(format!("{}/v1/simple-script?simple_script_id={}", app.address, id + 1)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let bad = app.client.get(format!("{}/v1/simple-script?simple_script_id=x", app.address)).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("simple_script_id"));
}
