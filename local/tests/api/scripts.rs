use crate::helpers::{connect_dsn, spawn_app};
use serde_json::json;

fn script(scenario: i64, name: &str) -> serde_json::Value {
    json!({"name": name, "title": "T", "descrip": "d", "script_id": 0, "project_id": "0", "scenario_id": scenario.to_string(),
        "script_file": " https://files/x.js ", "ammo_id": "", "options": {"rps": "20", "steps": "2", "duration": "5m"},
        "base_url": "https://api", "enabled": true, "grafana_url": ["https://g/1"], "tag": "", "selectors": null,
        "additional_env": {"TOKEN_NAME": "x"}})
}

#[tokio::test]
async fn an_extended_script_round_trips_in_the_contract_shape() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let s = app.create_scenario(project, "S").await;
    let id = app.ok("/v1/script/create", json!({"script": script(s, "flow")})).await["script_id"].as_i64().unwrap();
    let got = app.ok("/v1/script", json!({"script_id": id})).await["script"].clone();
    assert_eq!(got["script_file"], "https://files/x.js");
    assert_eq!(got["options"], json!({"rps": "20", "steps": "2", "duration": "5m"}));
    assert_eq!(got["project_id"], project);
    assert_eq!(got["additional_env"], json!({"TOKEN_NAME": "x"}));
    assert!(got["selectors"].is_object());
    assert!(got.get("http_method").is_none(), "extended scripts have no http_method key");

    let mut changed = script(s, "flow2");
    changed["script_id"] = json!(id);
    changed["options"] = json!({"rps": 40, "steps": "4", "duration": "2h"});
    let updated = app.ok("/v1/script/update", json!({"script": changed})).await;
    assert_eq!(updated["message"], "The script flow2 was updated!");
    let got = app.ok("/v1/scripts", json!({"scenario_id": s})).await;
    assert_eq!(got["scripts"][0]["options"], json!({"rps": "40", "steps": "4", "duration": "2h"}));
    assert_eq!(got["simple_scripts"], json!([]));

    app.ok("/v1/script/delete", json!({"script_id": id})).await;
    app.fails("/v1/script", json!({"script_id": id}), 404, "script").await;
}

#[tokio::test]
async fn extended_script_rules_name_the_field() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let s = app.create_scenario(project, "S").await;
    let mut bad = script(s, "x");
    bad["options"] = json!({"rps": "ten", "steps": "2", "duration": "5"});
    let err = app.fails("/v1/script/create", json!({"script": bad}), 422, "script.options.rps").await;
    assert!(err["message"].as_str().unwrap().contains("script.options.duration"));
    let mut no_options = script(s, "x");
    no_options["options"] = json!(null);
    app.fails("/v1/script/create", json!({"script": no_options}), 422, "script.options.rps").await;
    let mut wrong_project = script(s, "x");
    wrong_project["project_id"] = json!(project + 100);
    app.fails("/v1/script/create", json!({"script": wrong_project}), 422, "script.project_id").await;
    app.fails("/v1/script/create", json!({"script": script(999, "x")}), 404, "scenario 999").await;
    let mut unknown = script(s, "x");
    unknown["script_id"] = json!(4040);
    app.fails("/v1/script/update", json!({"script": unknown}), 404, "script 4040").await;
    assert_eq!(app.count("scripts").await, 0);
}

#[tokio::test]
async fn an_extended_script_moves_and_copies() {
    let app = spawn_app().await;
    let p1 = app.create_project("P1").await;
    let p2 = app.create_project("P2").await;
    let a = app.create_scenario(p1, "a").await;
    let b = app.create_scenario(p2, "b").await;
    let id = app.create_script(a, "flow", "5").await;
    app.ok("/v1/script/move", json!({"script_id": id, "project_id": p2, "scenario_id": b})).await;
    let moved = app.ok("/v1/script", json!({"script_id": id})).await;
    assert_eq!((moved["script"]["scenario_id"].as_i64(), moved["script"]["project_id"].as_i64()), (Some(b), Some(p2)));
    app.fails("/v1/script/move", json!({"script_id": id, "project_id": p1}), 400, "scenario_id").await;
    app.fails("/v1/script/move", json!({"script_id": id, "project_id": p1, "scenario_id": b}), 422, "project_id").await;

    app.ok("/v1/script/copy", json!({"source_script_id": id, "target_scenario_id": a})).await;
    let copies = app.ok("/v1/scripts", json!({"scenario_id": a})).await;
    assert_eq!(copies["scripts"][0]["name"], "Copied_flow");
    assert_eq!(copies["scripts"][0]["project_id"], p1);
    app.fails("/v1/script/copy", json!({"source_script_id": id, "target_scenario_id": 31337}), 404, "scenario 31337")
        .await;
}

#[tokio::test]
async fn both_kinds_are_listed_by_name_as_they_are_read_one_by_one() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let s = app.create_scenario(project, "S").await;
    let empty = app.ok("/v1/scripts", json!({"scenario_id": s})).await;
    assert_eq!(empty, json!({"status": true, "scripts": [], "simple_scripts": [], "message": ""}));
    let extended = [app.create_script(s, "b-flow", "5").await, app.create_script(s, "a-flow", "5").await];
    let simple = [app.create_simple_script(s, "z", "1").await, app.create_simple_script(s, "y", "2").await];
    let other = app.create_scenario(project, "other").await;
    app.create_simple_script(other, "elsewhere", "1").await;

    let listed = app.ok("/v1/scripts", json!({"scenario_id": s})).await;
    let mut scripts = Vec::new();
    for id in [extended[1], extended[0]] {
        scripts.push(app.ok("/v1/script", json!({"script_id": id})).await["script"].clone());
    }
    let mut simple_scripts = Vec::new();
    for id in [simple[1], simple[0]] {
        simple_scripts
            .push(app.ok("/v1/simple-script", json!({"simple_script_id": id})).await["simple_script"].clone());
    }
    assert_eq!(listed["scripts"], json!(scripts));
    assert_eq!(listed["simple_scripts"], json!(simple_scripts));

    app.fails("/v1/scripts", json!({"scenario_id": 4040}), 404, "scenario 4040").await;
    app.fails("/v1/scripts", json!({"scenario_id": 0}), 404, "scenario 0").await;
    // A script inserted behind the API's back (JSONB columns at their '{}' defaults) lists every field.
    let db = connect_dsn(&app.dsn).await;
    db.batch_execute(&format!(
        "INSERT INTO simple_scripts (scenario_id, name, path, scheme, http_method, rps, steps, duration, duration_secs, max_vus)
         VALUES ({other}, 'raw', 'h/p', 'https', 'get', 1, 1, '1m', 60, 1)"
    ))
    .await
    .unwrap();
    let raw = app.ok("/v1/scripts", json!({"scenario_id": other})).await["simple_scripts"][1].clone();
    assert_eq!((raw["name"].as_str(), raw["headers"].clone()), (Some("raw"), json!({})));
    assert_eq!(raw["selectors"]["expr_rps"], "", "every selector is emitted");
}
