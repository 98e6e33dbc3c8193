use crate::helpers::spawn_app;
use serde_json::json;

const CHROME: &str = r#"curl 'https://shop.example.com/api/cart?id=7&q=a%20b' \
  -H 'accept: application/json' \
  -H 'content-type: application/json' \
  -H 'cookie: sid=abc' \
  --data-raw $'{"sku":"x\'1","qty":2}' \
  --compressed"#;

#[tokio::test]
async fn a_curl_command_becomes_the_contract_json_string() {
    let app = spawn_app().await;
    let answer = app.ok("/v1/parsing/CUrl", json!({"curl": CHROME})).await;
    let text = answer["json"].as_str().unwrap();
    assert!(text.ends_with('\n') && text.contains("\n  \"method\""), "2-space indented with a newline: {text:?}");
    let parsed: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(parsed["method"], "POST");
    assert_eq!(parsed["url"], "https://shop.example.com/api/cart");
    assert_eq!(parsed["query_params"], json!([{"key": "id", "value": "7"}, {"key": "q", "value": "a b"}]));
    assert_eq!(parsed["headers"]["cookie"], "sid=abc");
    assert_eq!(parsed["body"], r#"{"sku":"x'1","qty":2}"#);
}

#[tokio::test]
async fn a_malformed_or_unsupported_command_says_where_and_why() {
    let app = spawn_app().await;
    let err = app.fails("/v1/parsing/CUrl", json!({"curl": "curl 'https://x.example/a -H 'b: c"}), 422, "curl:").await;
    assert!(err["message"].as_str().unwrap().contains("column"), "{err}");
    app.fails("/v1/parsing/CUrl", json!({"curl": "curl -d @body.json https://x.example"}), 422, "@").await;
    app.fails("/v1/parsing/CUrl", json!({"curl": ""}), 400, "curl").await;
}

#[tokio::test]
async fn a_curl_command_is_imported_into_a_scenario_as_a_simple_script() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let s = app.create_scenario(project, "S").await;
    let answer =
        app.ok("/v1/parsing/curl/import", json!({"scenario_id": s, "curl": CHROME, "rps": 20, "duration": "2m"})).await;
    let script = &answer["simple_script"];
    assert_eq!(script["path"], "shop.example.com/api/cart");
    assert_eq!((script["scheme"].as_str(), script["http_method"].as_str()), (Some("https"), Some("post")));
    assert_eq!(script["static_ammo"], r#"{"sku":"x'1","qty":2}"#);
    assert_eq!(script["is_static_ammo"], true);
    assert_eq!(
        (script["rps"].as_str(), script["duration"].as_str(), script["steps"].as_str()),
        (Some("20"), Some("2m"), Some("1"))
    );
    assert_eq!((script["name"].as_str(), script["title"].as_str()), (Some("post_api_cart"), Some("POST /api/cart")));
    let id = script["script_id"].as_i64().unwrap();
    let conn = app.app_state.db.conn().await.unwrap();
    let row = conn.query_one("SELECT insecure, timeout_ms FROM simple_scripts WHERE id = $1", &[&id]).await.unwrap();
    assert_eq!((row.get::<_, bool>(0), row.get::<_, Option<i64>>(1)), (false, None));

    let insecure = app
        .ok(
            "/v1/parsing/curl/import",
            json!({"scenario_id": s, "curl": "curl -k -m 2.5 https://h.example/x", "name": "k"}),
        )
        .await;
    let id = insecure["simple_script"]["script_id"].as_i64().unwrap();
    let row = conn.query_one("SELECT insecure, timeout_ms FROM simple_scripts WHERE id = $1", &[&id]).await.unwrap();
    assert_eq!((row.get::<_, bool>(0), row.get::<_, Option<i64>>(1)), (true, Some(2500)));

    app.fails(
        "/v1/parsing/curl/import",
        json!({"scenario_id": s, "curl": "curl -X OPTIONS https://h.example/"}),
        422,
        "OPTIONS",
    )
    .await;
    app.fails("/v1/parsing/curl/import", json!({"scenario_id": 9090, "curl": CHROME}), 404, "scenario 9090").await;
    assert_eq!(app.count("simple_scripts").await, 2);
}

#[tokio::test]
async fn a_har_file_becomes_one_script_per_distinct_request() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let s = app.create_scenario(project, "S").await;
    let entry = |method: &str, url: &str, kind: &str| {
        json!({"_resourceType": kind, "request": {"method": method, "url": url, "httpVersion": "HTTP/2",
            "headers": [{"name": ":authority", "value": "shop.example.com"}, {"name": "accept", "value": "*/*"}],
            "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
            "response": {"status": 200}, "startedDateTime": "2026-01-01T00:00:00Z", "time": 1})
    };
    let har = json!({"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"}, "entries": [
        entry("GET", "https://shop.example.com/", "document"),
        entry("GET", "https://shop.example.com/api/items", "fetch"),
        entry("GET", "https://shop.example.com/api/items", "fetch"),
        entry("GET", "https://shop.example.com/app.js", "script"),
        entry("GET", "https://ads.example.net/pixel", "xhr"),
    ]}});
    let answer =
        app.ok("/v1/parsing/har/import", json!({"scenario_id": s, "har": har, "hosts": ["shop.example.com"]})).await;
    let created: Vec<&str> =
        answer["created"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert_eq!(created, ["shop.example.com/", "shop.example.com/api/items"]);
    let skipped = answer["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped.iter().all(|s| !s["reason"].as_str().unwrap().is_empty()));
    assert_eq!(app.count("simple_scripts").await, 2);
    app.fails("/v1/parsing/har/import", json!({"scenario_id": s, "har": "{nope"}), 422, "har").await;
    app.fails("/v1/parsing/har/import", json!({"scenario_id": s}), 400, "har").await;
}
