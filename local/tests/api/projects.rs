use crate::helpers::{connect_dsn, spawn_app};
use serde_json::json;

#[tokio::test]
async fn the_readme_check_lists_projects_with_an_empty_body() {
    let app = spawn_app().await;
    let (status, body) = app.post_raw("/v1/projects", "").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": true, "projects": [], "message": "", "total_pages": "0"}));
}

#[tokio::test]
async fn a_project_is_created_read_updated_and_deleted() {
    let app = spawn_app().await;
    let id = app.create_project("  Shop: 50% load  ").await;
    let got = app.ok("/v1/project", json!({"id": id.to_string()})).await;
    assert_eq!(got["project"], json!({"id": id, "title": "Shop: 50% load", "descrip": ""}));

    app.ok("/v1/project/update", json!({"project": {"id": id, "title": "Store", "descrip": "main"}})).await;
    let got = app.ok("/v1/project", json!({"id": id})).await;
    assert_eq!(got["project"]["title"], "Store");
    assert_eq!(got["project"]["descrip"], "main");

    app.ok("/v1/project/delete", json!({"id": id})).await;
    app.fails("/v1/project", json!({"id": id}), 404, &format!("project {id} not found")).await;
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let app = spawn_app().await;
    app.fails("/v1/project", json!({"id": 999}), 404, "project 999").await;
    app.fails("/v1/project/update", json!({"project": {"id": 999, "title": "x"}}), 404, "project 999").await;
    app.fails("/v1/project/delete", json!({"id": "999"}), 404, "project 999").await;
    app.fails("/v1/project", json!({}), 404, "project 0").await;
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let app = spawn_app().await;
    app.fails("/v1/project/create", json!({}), 400, "project: is required").await;
    app.fails("/v1/project/create", json!({"project": {"title": "  "}}), 422, "project.title").await;
    app.fails("/v1/project/create", json!({"project": {"title": 5}}), 400, "project.title").await;
    app.fails("/v1/project/create", json!({"project": {"title": "x".repeat(201)}}), 422, "project.title").await;
    app.fails("/v1/project", json!({"id": "1.5"}), 400, "id").await;
    let (status, body) = app.post_raw("/v1/project", r#"{"id": 1, "id": 2}"#).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("duplicate field `id`"), "{body}");
    let (status, body) = app.post_raw("/v1/project", "{not json").await;
    assert_eq!((status.as_u16(), body["code"].as_i64()), (400, Some(3)));
    assert_eq!(app.count("projects").await, 0);
}

#[tokio::test]
async fn deleting_a_project_leaves_nothing_orphaned() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let scenario = app.create_scenario(project, "S").await;
    app.create_simple_script(scenario, "a", "5").await;
    app.create_script(scenario, "b", "5").await;
    app.ok("/v1/project/delete", json!({"id": project})).await;
    for table in ["scenarios", "scripts", "simple_scripts"] {
        assert_eq!(app.count(table).await, 0, "{table}");
    }
}

#[tokio::test]
async fn pagination_is_consistent_at_the_edges() {
    let app = spawn_app().await;
    for i in 0..21 {
        app.create_project(&format!("p{i:02}")).await;
    }
    let page = |limit: i32, page: i32| json!({"limit": limit, "page_number": page});
    let titles = |body: &serde_json::Value| -> Vec<String> {
        body["projects"].as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap().to_string()).collect()
    };
    let first = app.ok("/v1/projects", page(10, 0)).await;
    assert_eq!(first["total_pages"], "3");
    assert_eq!(titles(&first)[0], "p00");
    assert_eq!(titles(&app.ok("/v1/projects", page(10, 1)).await), titles(&first));
    let third = app.ok("/v1/projects", page(10, 3)).await;
    assert_eq!(titles(&third), ["p20"]);
    let beyond = app.ok("/v1/projects", page(10, 4)).await;
    assert_eq!((beyond["projects"].as_array().unwrap().len(), beyond["total_pages"].as_str()), (0, Some("3")));
    let all = app.ok("/v1/projects", page(0, 0)).await;
    assert_eq!((titles(&all).len(), all["total_pages"].as_str()), (21, Some("1")));
    let exact = app.ok("/v1/projects", page(7, 3)).await;
    assert_eq!((titles(&exact).len(), exact["total_pages"].as_str()), (7, Some("3")));
    let strings = app.ok("/v1/projects", json!({"limit": "10", "page_number": "2"})).await;
    assert_eq!(titles(&strings)[0], "p10");
}

#[tokio::test]
async fn the_page_count_follows_projects_written_outside_the_api() {
    let app = spawn_app().await;
    let db = connect_dsn(&app.dsn).await;
    let pages = || async { app.ok("/v1/projects", json!({"limit": 10})).await["total_pages"].clone() };
    // One statement inserting many (the bench's seed does so), then deletes and a rollback.
    db.batch_execute("INSERT INTO projects (title) SELECT 'p' || g FROM generate_series(1, 25) g").await.unwrap();
    assert_eq!(pages().await, "3");
    let one = app.create_project("api").await;
    db.batch_execute("DELETE FROM projects WHERE title IN ('p1', 'p2', 'p3', 'p4', 'p5', 'p6')").await.unwrap();
    assert_eq!(pages().await, "2");
    db.batch_execute("BEGIN; INSERT INTO projects (title) SELECT 'q' || g FROM generate_series(1, 50) g; ROLLBACK")
        .await
        .unwrap();
    app.ok("/v1/project/delete", json!({"id": one})).await;
    assert_eq!(pages().await, "2");
    db.batch_execute("TRUNCATE projects CASCADE").await.unwrap();
    assert_eq!(pages().await, "0");
    app.create_project("again").await;
    assert_eq!(pages().await, "1");
}
