use crate::helpers::{simple_script, spawn_app};
use serde_json::json;

#[tokio::test]
async fn scenarios_are_listed_by_title_with_the_ui_stray_fields_ignored() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let b = app.create_scenario(project, "beta").await;
    let a = app.create_scenario(project, "1st alpha").await;
    let body = json!({"project_id": project.to_string(), "limit": 10, "page_number": 1, "headers": {"x": "y"}});
    let list = app.ok("/v1/scenarios", body).await;
    let ids: Vec<i64> =
        list["scenarios"].as_array().unwrap().iter().map(|s| s["scenario_id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [a, b]);
    assert_eq!(list["scenarios"][0]["last_run_status"], "");
    assert_eq!(list["scenarios"][0]["selectors"], json!([]));
    assert_eq!(list["total_pages"], "1");
    app.fails("/v1/scenarios", json!({"project_id": 9999}), 404, "project 9999").await;
}

#[tokio::test]
async fn a_scenario_is_created_updated_and_deleted_with_its_scripts() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    app.fails("/v1/scenario/create", json!({"scenario": {"title": "x"}}), 400, "scenario.project_id").await;
    app.fails("/v1/scenario/create", json!({"scenario": {"project_id": 4242, "title": "x"}}), 404, "project 4242")
        .await;
    app.fails("/v1/scenario/create", json!({"scenario": {"project_id": project, "title": ""}}), 422, "scenario.title")
        .await;
    let id = app.create_scenario(project, "Checkout: 2 steps").await;
    let got = app.ok("/v1/scenario", json!({"scenario_id": id})).await;
    assert_eq!(got["scenario"]["title"], "Checkout: 2 steps");
    assert_eq!(got["scenario"]["project_id"], project);
    let updated =
        app.ok("/v1/scenario/update", json!({"scenario": {"scenario_id": id, "title": "Pay", "descrip": "d"}})).await;
    assert_eq!(updated["message"], "Scenario Pay successfully updated");
    app.create_simple_script(id, "s", "3").await;
    app.ok("/v1/scenario/delete", json!({"scenario_id": id})).await;
    assert_eq!(app.count("simple_scripts").await, 0);
    app.fails("/v1/scenario", json!({"scenario_id": id}), 404, "scenario").await;
}

#[tokio::test]
async fn duration_and_steps_apply_to_one_scenario_or_a_whole_project() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let one = app.create_scenario(project, "one").await;
    let two = app.create_scenario(project, "two").await;
    let a = app.create_simple_script(one, "a", "10").await;
    let b = app.create_script(two, "b", "10").await;

    app.ok("/v1/scenario/duration", json!({"scenario_id": one, "duration": "30s"})).await;
    let got = app.ok("/v1/simple-script", json!({"simple_script_id": a})).await;
    assert_eq!(got["simple_script"]["duration"], "30s");
    let other = app.ok("/v1/script", json!({"script_id": b})).await;
    assert_eq!(other["script"]["options"]["duration"], "1m");

    app.ok("/v1/scenario/duration", json!({"project_id": project, "duration": "1h30m"})).await;
    let other = app.ok("/v1/script", json!({"script_id": b})).await;
    assert_eq!(other["script"]["options"]["duration"], "1h30m");

    app.ok("/v1/scenario/steps", json!({"project_id": project, "steps": 5})).await;
    let got = app.ok("/v1/simple-script", json!({"simple_script_id": a})).await;
    assert_eq!(got["simple_script"]["steps"], "5");

    app.fails("/v1/scenario/duration", json!({"scenario_id": one, "duration": "30"}), 422, "duration").await;
    app.fails("/v1/scenario/duration", json!({"scenario_id": one, "duration": "3s"}), 422, "a").await;
    app.fails("/v1/scenario/steps", json!({"scenario_id": one, "steps": "0"}), 422, "steps").await;
    app.fails("/v1/scenario/steps", json!({"steps": "2"}), 400, "scenario_id").await;
    app.fails("/v1/scenario/steps", json!({"scenario_id": 777, "steps": "2"}), 404, "scenario 777").await;
}

#[tokio::test]
async fn rps_sums_the_enabled_scripts_of_both_kinds() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let s = app.create_scenario(project, "S").await;
    app.create_simple_script(s, "a", "120").await;
    app.create_script(s, "b", "30").await;
    let mut disabled = simple_script(s, "c", "1000");
    disabled["enabled"] = json!(false);
    app.ok("/v1/simple-script/create", json!({"simple_script": disabled})).await;
    let got = app.ok("/v1/scenario/rps", json!({"scenario_id": s})).await;
    assert_eq!(got, json!({"status": true, "rps": "150"}));
}

#[tokio::test]
async fn a_scenario_copies_into_a_new_or_an_existing_scenario() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let src = app.create_scenario(project, "src").await;
    app.create_simple_script(src, "a", "1").await;
    app.create_script(src, "b", "1").await;

    let new = app
        .ok("/v1/scenario/copy", json!({"source_scenario_id": src, "target_scenario_data": {"scenario_id": 0, "project_id": project, "title": "copy"}}))
        .await["scenario_id"]
        .as_i64()
        .unwrap();
    assert_ne!(new, src);
    let scripts = app.ok("/v1/scripts", json!({"scenario_id": new})).await;
    assert_eq!(scripts["simple_scripts"][0]["name"], "Copied_a");
    assert_eq!(scripts["scripts"][0]["name"], "Copied_b");

    let existing = app.create_scenario(project, "existing").await;
    let copied = app.ok("/v1/scenario/copy", json!({"source_scenario_id": src, "target_scenario_id": existing})).await;
    assert_eq!(copied["scenario_id"], existing);
    assert_eq!(app.count("simple_scripts").await, 3);

    app.fails("/v1/scenario/copy", json!({"source_scenario_id": src}), 400, "target").await;
    app.fails(
        "/v1/scenario/copy",
        json!({"source_scenario_id": src, "target_scenario_id": existing, "target_scenario_data": {"project_id": project, "title": "x"}}),
        400,
        "not both",
    )
    .await;
    app.fails(
        "/v1/scenario/copy",
        json!({"source_scenario_id": 999, "target_scenario_id": existing}),
        404,
        "scenario 999",
    )
    .await;
    app.fails(
        "/v1/scenario/copy",
        json!({"source_scenario_id": src, "target_scenario_data": {"project_id": 0, "title": "x"}}),
        400,
        "project_id",
    )
    .await;
}

#[tokio::test]
async fn a_tag_is_set_on_every_script_when_an_agent_carries_it() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let s = app.create_scenario(project, "S").await;
    let a = app.create_simple_script(s, "a", "1").await;
    let b = app.create_script(s, "b", "1").await;
    app.fails(
        "/v1/scenario/teg",
        json!({"scenario_id": s, "tag": "eu"}),
        422,
        "no enabled agent carries the tag \"eu\"",
    )
    .await;
    app.ok("/v1/agent/set", json!({"agent": {"host_name": "h1", "port": "8888", "enabled": true, "tags": ["eu"]}}))
        .await;
    assert_eq!(app.ok("/v1/scenario/teg", json!({"scenario_id": s, "tag": "eu"})).await, json!({"status": true}));
    assert_eq!(app.ok("/v1/simple-script", json!({"simple_script_id": a})).await["simple_script"]["tag"], "eu");
    assert_eq!(app.ok("/v1/script", json!({"script_id": b})).await["script"]["tag"], "eu");
}

#[tokio::test]
async fn the_last_run_status_is_that_of_the_latest_run() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let s = app.create_scenario(project, "S").await;
    let none = app.ok("/v1/scenario/last-run-status", json!({"scenario_id": s})).await;
    assert_eq!((none["last_run_status"].as_str(), none["last_run_id"].as_i64()), (Some(""), Some(0)));
    let conn = app.app_state.db.conn().await.unwrap();
    conn.execute("INSERT INTO runs (scenario_id, title, status) VALUES ($1, 'a', 'STATUS_STOPPED_UNSPECIFIED')", &[&s])
        .await
        .unwrap();
    let row = conn
        .query_one(
            "INSERT INTO runs (scenario_id, title, status) VALUES ($1, 'b', 'STATUS_RUNNING') RETURNING id",
            &[&s],
        )
        .await
        .unwrap();
    let last: i64 = row.get(0);
    let got = app.ok("/v1/scenario/last-run-status", json!({"scenario_id": s})).await;
    assert_eq!((got["last_run_status"].as_str(), got["last_run_id"].as_i64()), (Some("STATUS_RUNNING"), Some(last)));
    let listed = app.ok("/v1/scenarios", json!({"project_id": project})).await;
    assert_eq!(listed["scenarios"][0]["last_run_status"], "STATUS_RUNNING");
}

#[tokio::test]
async fn a_grafana_dashboard_is_built_from_the_selectors() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let s = app.create_scenario(project, "Checkout \"EU\"").await;
    let mut script = simple_script(s, "pay", "1");
    script["selectors"] = json!({"expr_rps": "sum(rate(http_requests_total[1m]))", "source_rps": "prom", "expr_rt": "histogram_quantile(0.99, x)"});
    app.ok("/v1/simple-script/create", json!({"simple_script": script})).await;
    let got = app.ok("/v1/scenario/grafanaStructure", json!({"scenario_id": s})).await;
    let doc: serde_json::Value = serde_json::from_str(got["message"].as_str().unwrap()).unwrap();
    let panels = doc["panels"].as_array().unwrap();
    // The scenario's row and its two charts, then the platform's own series (#12).
    let platform = panels.iter().position(|p| p["title"] == "Alilo: live run series").expect("the platform's row");
    assert_eq!(platform, 3);
    let run = doc["templating"]["list"].as_array().unwrap().iter().find(|v| v["name"] == "run").unwrap();
    assert_eq!(run["query"], format!("label_values(alilo_run_info{{scenario_id=~\"{s}\"}}, run_id)"));
    assert_eq!(panels[0]["title"], "Checkout \"EU\"");
    assert_eq!(panels[1]["targets"][0]["expr"], "sum(rate(http_requests_total[1m]))");
    assert_eq!(panels[1]["datasource"]["uid"], "prom");
    let both =
        app.ok("/v1/scenario/grafanaStructureByIds", json!({"title": "All", "scenario_ids": [s.to_string(), s]})).await;
    let doc: serde_json::Value = serde_json::from_str(both["message"].as_str().unwrap()).unwrap();
    let platform = doc["panels"].as_array().unwrap().iter().position(|p| p["title"] == "Alilo: live run series");
    assert_eq!((doc["title"].as_str(), platform), (Some("All"), Some(6)));
    app.fails("/v1/scenario/grafanaStructureByIds", json!({"scenario_ids": [s, 5555]}), 404, "scenario 5555").await;
}
