use crate::helpers::{simple_script, spawn_app};
use serde_json::json;

#[tokio::test]
async fn a_simple_script_round_trips_and_the_ui_update_shape_works() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let s = app.create_scenario(project, "S").await;
    let mut body = simple_script(s, "items", "100");
    body["options"] = json!("");
    body["max_v_us"] = json!(25);
    let id =
        app.ok("/v1/simple-script/create", json!({"simple_script": body})).await["simple_script_id"].as_i64().unwrap();
    let got = app.ok("/v1/simple-script", json!({"simple_script_id": id})).await["simple_script"].clone();
    assert_eq!(got["max_v_us"], "25");
    assert_eq!(got["query_params"], json!([{"key": "q", "value": "1"}]));
    assert_eq!(got["headers"], json!({"Accept": "application/json"}));
    assert_eq!(got["http_method"], "get");
    assert_eq!(got["rps"], "100");

    let mut update = got.clone();
    update["rps"] = json!("250");
    update["http_method"] = json!("DELETE");
    update["is_static_ammo"] = json!(false);
    update["static_ammo"] = json!("ignored");
    let answer = app.ok("/v1/simple-script/update", json!({"simpleScript": update})).await;
    assert_eq!(answer["message"], "The script items was updated!");
    let got = app.ok("/v1/simple-script", json!({"simple_script_id": id})).await["simple_script"].clone();
    assert_eq!(
        (got["rps"].as_str(), got["http_method"].as_str(), got["static_ammo"].as_str()),
        (Some("250"), Some("del"), Some(""))
    );

    app.ok("/v1/simple-script/delete", json!({"simple_script_id": id})).await;
    app.fails("/v1/simple-script/delete", json!({"simple_script_id": id}), 404, "simple script").await;
}

#[tokio::test]
async fn every_method_and_duration_is_stored_exactly() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let s = app.create_scenario(project, "S").await;
    for (method, duration) in
        [("get", "30s"), ("post", "5m"), ("head", "1h30m"), ("put", "2h"), ("patch", "90s"), ("delete", "1d")]
    {
        let mut body = simple_script(s, method, "1");
        body["http_method"] = json!(method);
        body["duration"] = json!(duration);
        let id = app.ok("/v1/simple-script/create", json!({"simple_script": body})).await["simple_script_id"]
            .as_i64()
            .unwrap();
        let got = app.ok("/v1/simple-script", json!({"simple_script_id": id})).await;
        assert_eq!(got["simple_script"]["duration"], duration);
    }
}

#[tokio::test]
async fn simple_script_rules_name_every_bad_field() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let s = app.create_scenario(project, "S").await;
    let cases = [
        ("rps", json!("0"), "simple_script.rps"),
        ("rps", json!("-5"), "simple_script.rps"),
        ("rps", json!("abc"), "simple_script.rps"),
        ("max_v_us", json!(0), "simple_script.max_v_us"),
        ("steps", json!("0"), "simple_script.steps"),
        ("steps", json!("1001"), "simple_script.steps"),
        ("steps", json!("100"), "simple_script.steps"),
        ("duration", json!("30"), "simple_script.duration"),
        ("duration", json!("30x"), "simple_script.duration"),
        ("http_method", json!("trace"), "simple_script.http_method"),
        ("path", json!("has space/x"), "simple_script.path"),
        ("path", json!(""), "simple_script.path"),
        ("scheme", json!("ftp"), "simple_script.scheme"),
        ("headers", json!({"Bad Name": "x"}), "simple_script.headers"),
        ("headers", json!({"X": "a\r\nInjected: 1"}), "simple_script.headers"),
        ("ammo_url", json!("file:///etc/passwd"), "simple_script.ammo_url"),
    ];
    for (field, value, needle) in cases {
        let mut body = simple_script(s, "x", "10");
        body[field] = value.clone();
        app.fails("/v1/simple-script/create", json!({"simple_script": body}), 422, needle).await;
    }
    let mut json_body = simple_script(s, "x", "10");
    json_body["headers"] = json!({"Content-Type": "application/json"});
    json_body["is_static_ammo"] = json!(true);
    json_body["static_ammo"] = json!("{\"broken\": ");
    app.fails("/v1/simple-script/create", json!({"simple_script": json_body}), 422, "simple_script.static_ammo").await;
    json_body["static_ammo"] = json!(format!("\"{}\"", "x".repeat(6000)));
    app.fails("/v1/simple-script/create", json!({"simple_script": json_body}), 413, "simple_script.static_ammo").await;
    let mut wrong_type = simple_script(s, "x", "10");
    wrong_type["enabled"] = json!("yes");
    app.fails("/v1/simple-script/create", json!({"simple_script": wrong_type}), 400, "simple_script.enabled").await;
    app.fails(
        "/v1/simple-script/create",
        json!({"simple_script": simple_script(424242, "x", "1")}),
        404,
        "scenario 424242",
    )
    .await;
    app.fails("/v1/simple-script/create", json!({}), 400, "simple_script").await;
    assert_eq!(app.count("simple_scripts").await, 0);
}

#[tokio::test]
async fn a_simple_script_moves_and_copies() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let a = app.create_scenario(project, "a").await;
    let b = app.create_scenario(project, "b").await;
    let id = app.create_simple_script(a, "items", "7").await;
    app.fails(
        "/v1/simple-script/move",
        json!({"simple_script_id": id, "target_scenario_id": 0}),
        400,
        "target_scenario_id",
    )
    .await;
    app.ok("/v1/simple-script/move", json!({"simple_script_id": id, "target_scenario_id": b})).await;
    let moved = app.ok("/v1/simple-script", json!({"simple_script_id": id})).await;
    assert_eq!(moved["simple_script"]["scenario_id"], b);
    let copy = app.ok("/v1/simple-script/copy", json!({"source_simple_script_id": id, "target_scenario_id": a})).await;
    let copy_id = copy["simple_script_id"].as_i64().unwrap();
    assert_ne!(copy_id, id);
    let got = app.ok("/v1/simple-script", json!({"simple_script_id": copy_id})).await;
    assert_eq!(
        (got["simple_script"]["name"].as_str(), got["simple_script"]["scenario_id"].as_i64()),
        (Some("Copied_items"), Some(a))
    );
    app.fails(
        "/v1/simple-script/copy",
        json!({"source_simple_script_id": 999, "target_scenario_id": a}),
        404,
        "simple script 999",
    )
    .await;
}
