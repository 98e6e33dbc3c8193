//! Bad input is a 4xx naming the field, never a default that does harm, a 500 or an
//! echo of the whole value (issue #11, items 3, 4 and 5).

use crate::helpers::{connect_dsn, simple_script, spawn_app};
use serde_json::json;

#[tokio::test]
async fn an_adjustment_without_a_percentage_is_a_400_not_a_stop() {
    let app = spawn_app().await;
    app.fails("/v1/run/adjustment", json!({"run_id": 1}), 400, "adjustment_on_percent: is required").await;
    app.fails("/v1/run/adjustment", json!({"run_id": 1, "adjustment_on_percent": null}), 400, "adjustment_on_percent")
        .await;
}

#[tokio::test]
async fn nul_characters_in_json_column_fields_are_a_422_naming_the_field() {
    let app = spawn_app().await;
    let project = app.create_project("nul").await;
    let scenario = app.create_scenario(project, "nul").await;
    let cases = [
        ("additional_env", json!({"TOKEN": "a\u{0}b"}), "simple_script.additional_env.TOKEN"),
        ("selectors", json!({"expr_rps": "rate(x\u{0})"}), "simple_script.selectors.expr_rps"),
        ("headers", json!({"X-A": "a\u{0}"}), "simple_script.headers"),
    ];
    for (field, value, named) in cases {
        let mut script = simple_script(scenario, "nul", "10");
        script[field] = value;
        app.fails("/v1/simple-script/create", json!({"simple_script": script}), 422, named).await;
    }
    let body = json!({"script": {"scenario_id": scenario, "name": "x", "script_file": "https://files/x.js",
        "options": {"rps": "1", "steps": "1", "duration": "1m"}, "additional_env": {"K": "\u{0}"}}});
    app.fails("/v1/script/create", body, 422, "script.additional_env.K").await;
    assert_eq!(app.count("simple_scripts").await + app.count("scripts").await, 0);
}

#[tokio::test]
async fn link_fields_take_only_http_urls() {
    let app = spawn_app().await;
    let project = app.create_project("links").await;
    let scenario = app.create_scenario(project, "links").await;
    for bad in ["javascript:alert(1)", "data:text/html,x", "/relative", "grafana.example/d"] {
        let mut script = simple_script(scenario, "links", "10");
        script["monitoring_links"] = json!(["https://ok.example/d", bad]);
        app.fails(
            "/v1/simple-script/create",
            json!({"simple_script": script}),
            422,
            "simple_script.monitoring_links[1]",
        )
        .await;
        let body = json!({"script": {"scenario_id": scenario, "name": "x", "script_file": "https://files/x.js",
            "options": {"rps": "1", "steps": "1", "duration": "1m"}, "grafana_url": [bad]}});
        app.fails("/v1/script/create", body, 422, "script.grafana_url[0]").await;
    }
    let mut script = simple_script(scenario, "links", "10");
    script["monitoring_links"] = json!(["https://grafana.example/d/abc?var=1"]);
    app.ok("/v1/simple-script/create", json!({"simple_script": script})).await;
}

#[tokio::test]
async fn an_error_quotes_only_a_short_prefix_of_a_huge_value() {
    let app = spawn_app().await;
    let huge = "9x".repeat(500_000);
    for (path, body) in [
        ("/v1/project", json!({"id": huge})),
        ("/v1/project/create", json!({"project": {"title": format!("a\u{1}{huge}")}})),
        ("/v1/scenarios", json!({"project_id": [huge]})),
    ] {
        let (status, answer) = app.post(path, body).await;
        assert!(status.is_client_error(), "{path}: {status}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.len() < 700, "{path} echoed {} bytes", message.len());
    }
}

#[tokio::test]
async fn a_list_without_a_limit_is_one_bounded_page_and_the_ui_pickers_get_10_000() {
    let app = spawn_app().await;
    connect_dsn(&app.dsn)
        .await
        .batch_execute("INSERT INTO projects (title, descrip) SELECT format('p %s', lpad(n::text, 5, '0')), '' FROM generate_series(1, 1200) n")
        .await
        .unwrap();
    let all = app.ok("/v1/projects", json!({})).await;
    assert_eq!(all["projects"].as_array().unwrap().len(), 1000);
    assert_eq!(all["total_pages"], "2");
    let second = app.ok("/v1/projects", json!({"limit": 0, "page_number": 2})).await;
    assert_eq!(second["projects"].as_array().unwrap().len(), 200);
    // The UI's pickers ask for 10,000 on page 0; its table for a page size.
    let picker = app.ok("/v1/projects", json!({"limit": 10_000, "page_number": 0})).await;
    assert_eq!((picker["projects"].as_array().unwrap().len(), picker["total_pages"].as_str()), (1200, Some("1")));
    let table = app.ok("/v1/projects", json!({"limit": 20, "page_number": 3})).await;
    assert_eq!(table["projects"][0]["title"], "p 00041");
    let capped = app.ok("/v1/projects", json!({"limit": 1_000_000})).await;
    assert_eq!(capped["projects"].as_array().unwrap().len(), 1200, "a limit above the maximum is the maximum");
}
