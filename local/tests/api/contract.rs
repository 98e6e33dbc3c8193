//! The OpenAPI document and the served routes agree, and the contract's routes
//! are all there.

use crate::helpers::spawn_app;
use serde_json::json;

/// Routes of the v1 contract served by the resource functions.
const CONTRACT_ROUTES: &[&str] = &[
    "/v1/projects",
    "/v1/project",
    "/v1/project/create",
    "/v1/project/update",
    "/v1/project/delete",
    "/v1/scenarios",
    "/v1/scenario",
    "/v1/scenario/create",
    "/v1/scenario/update",
    "/v1/scenario/delete",
    "/v1/scenario/duration",
    "/v1/scenario/last-run-status",
    "/v1/scenario/copy",
    "/v1/scenario/steps",
    "/v1/scenario/rps",
    "/v1/scenario/teg",
    "/v1/scenario/grafanaStructure",
    "/v1/scenario/grafanaStructureByIds",
    "/v1/scripts",
    "/v1/script",
    "/v1/script/create",
    "/v1/script/update",
    "/v1/script/delete",
    "/v1/script/move",
    "/v1/script/copy",
    "/v1/simple-script",
    "/v1/simple-script/create",
    "/v1/simple-script/update",
    "/v1/simple-script/delete",
    "/v1/simple-script/move",
    "/v1/simple-script/copy",
    "/v1/agents",
    "/v1/agent",
    "/v1/agent/set",
    "/v1/agent/update",
    "/v1/agent/delete",
    "/v1/agent/tags",
    "/v1/agents/by-tag",
    "/v1/file/upload",
    "/v1/file/data",
    "/v1/files",
    "/v1/s3/getBucketList",
    "/v1/s3/uploadFile",
    "/v1/s3/deleteBucketFile",
    "/v1/search",
    "/v1/page-num",
    "/v1/parsing/CUrl",
    "/v1/runs",
    "/v1/run",
    "/v1/run/stop/script-run",
    "/v1/run/start",
    "/v1/run/stop",
    "/v1/run/by-status",
    "/v1/run/adjustment",
    "/v1/run/increase/script",
    "/v1/run/increase/simple-script",
    "/v1/run/start/script",
    "/v1/run/start/simple-script",
    "/v1/run/timeRange",
    "/v1/run/rps",
    "/v1/run/scriptruns",
    "/v1/run/scriptrun",
    "/v1/run/is-change-loadlevel",
    "/v1/command/new",
    "/v1/remove-logs",
];

#[tokio::test]
async fn every_documented_route_is_served_and_every_contract_route_is_documented() {
    let app = spawn_app().await;
    let doc: serde_json::Value =
        reqwest::get(format!("{}/swagger.json", app.address)).await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for route in CONTRACT_ROUTES {
        assert!(paths.contains_key(*route), "{route} is not documented");
    }
    for (path, item) in paths {
        assert!(item.get("post").is_some(), "{path} is documented without POST");
        let response = app
            .client
            .post(format!("{}{path}", app.address))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_ne!(body["message"], "Not Found", "{path} is documented but not served");
        let schema = &item["post"]["responses"]["200"]["content"]["application/json"]["schema"];
        assert!(!schema.is_null(), "{path} has no documented answer");
    }
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_answer_in_the_error_shape() {
    let app = spawn_app().await;
    app.fails("/v1/nope", json!({}), 404, "Not Found").await;
    let response = app.client.get(format!("{}/v1/projects", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!((body["status"].as_bool(), body["code"].as_i64()), (Some(false), Some(12)));
}

#[tokio::test]
async fn swagger_ui_is_served() {
    let app = spawn_app().await;
    let page = reqwest::get(format!("{}/swagger", app.address)).await.unwrap().text().await.unwrap();
    assert!(page.contains("/swagger.json") && page.contains("swagger-ui-bundle.js"));
    let bundle = reqwest::get(format!("{}/swagger/swagger-ui-bundle.js", app.address)).await.unwrap();
    assert_eq!(bundle.status(), 200);
    assert!(bundle.bytes().await.unwrap().len() > 100_000);
}

/// The lines of one resource of `template.yaml`: from `  Name:` to the next line
/// indented by exactly two spaces (the next resource) or less.
fn template_section(template: &str, resource: &str) -> String {
    let header = format!("  {resource}:");
    let mut lines = template.lines().skip_while(|l| *l != header);
    assert!(lines.next().is_some(), "{resource} missing from template.yaml");
    let is_next_resource = |l: &&str| !l.is_empty() && !l.starts_with("   ") && !l.trim_start().starts_with('#');
    lines.take_while(|l| !is_next_resource(l)).map(|l| format!("{l}\n")).collect()
}

#[test]
fn the_sam_template_routes_each_function_s_paths_to_it() {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let functions = [
        ("ProjectsFunction", alilo_fn_projects::routes()),
        ("ScenariosFunction", alilo_fn_scenarios::routes()),
        ("ScriptsFunction", alilo_fn_scripts::routes()),
        ("AgentsFunction", alilo_fn_agents::routes()),
        ("FilesFunction", alilo_fn_files::routes()),
        ("ParsingFunction", alilo_fn_parsing::routes()),
        ("SearchFunction", alilo_fn_search::routes()),
        ("RunsFunction", alilo_fn_runs::routes()),
        ("AuthFunction", alilo_fn_auth::routes()),
        ("VerdictsFunction", alilo_fn_verdicts::routes()),
    ];
    let mut routed = 0;
    for (resource, routes) in functions {
        let section = template_section(&template, resource);
        for path in routes.split_for_parts().1.paths.paths.keys() {
            assert!(section.contains(&format!("Path: {path}\n")), "{path} is not routed to {resource}");
            routed += 1;
        }
    }
    // The login page is a GET outside the OpenAPI document.
    assert!(template_section(&template, "AuthFunction").contains("Path: /login\n            Method: GET\n"));
    routed += 1;
    assert_eq!(template.matches("Type: HttpApi").count(), routed, "template.yaml routes a path no function serves");
}

#[test]
fn the_template_re_runs_migrations_when_a_new_one_is_added() {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let (last, _) = alilo_shared::db::MIGRATIONS.last().unwrap();
    let number = last.split('_').next().unwrap();
    assert!(
        template.contains(&format!("Revision: \"{number}\"")),
        "bump Migrations.Revision in template.yaml to {number}"
    );
}
