use crate::helpers::spawn_app;
use serde_json::json;

fn names(body: &serde_json::Value, kind: &str, field: &str) -> Vec<String> {
    body[kind].as_array().unwrap().iter().map(|v| v[field].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn search_is_case_insensitive_literal_and_scoped() {
    let app = spawn_app().await;
    let shop = app.create_project("Shop 50% off").await;
    let blog = app.create_project("Blog").await;
    let checkout = app.create_scenario(shop, "Checkout_EU").await;
    let other = app.create_scenario(blog, "checkoutx").await;
    app.create_simple_script(checkout, "CHECKOUT pay", "1").await;
    app.create_script(other, "checkout-read", "1").await;

    let all = app.ok("/v1/search", json!({"search_query": "checkout"})).await;
    assert_eq!(names(&all, "scenarios", "title"), ["Checkout_EU", "checkoutx"]);
    assert_eq!(names(&all, "simple_scripts", "name"), ["CHECKOUT pay"]);
    assert_eq!(names(&all, "scripts", "name"), ["checkout-read"]);

    let literal = app.ok("/v1/search", json!({"search_query": "50%"})).await;
    assert_eq!(names(&literal, "projects", "title"), ["Shop 50% off"]);
    let underscore = app.ok("/v1/search", json!({"search_query": "t_e"})).await;
    assert_eq!(names(&underscore, "scenarios", "title"), ["Checkout_EU"], "_ is not a wildcard");
    assert!(app.ok("/v1/search", json!({"search_query": "%"})).await["projects"].as_array().unwrap().len() == 1);

    let scoped = app.ok("/v1/search", json!({"search_query": "checkout", "project_id": blog})).await;
    assert_eq!(names(&scoped, "scenarios", "title"), ["checkoutx"]);
    assert_eq!(names(&scoped, "simple_scripts", "name"), Vec::<String>::new());
    let in_scenario = app.ok("/v1/search", json!({"search_query": "pay", "scenario_id": checkout})).await;
    assert_eq!(names(&in_scenario, "simple_scripts", "name"), ["CHECKOUT pay"]);
    assert_eq!(in_scenario["projects"], json!([]));

    let start = app.ok("/v1/search", json!({"search_query": "check", "start_with": true})).await;
    assert_eq!(names(&start, "scenarios", "title").len(), 2);
    let end = app.ok("/v1/search", json!({"search_query": "_eu", "end_with": true})).await;
    assert_eq!(names(&end, "scenarios", "title"), ["Checkout_EU"]);
    let negated = app.ok("/v1/search", json!({"search_query": "shop", "not_like": true})).await;
    assert_eq!(names(&negated, "projects", "title"), ["Blog"]);
}

#[tokio::test]
async fn search_input_is_checked() {
    let app = spawn_app().await;
    app.fails("/v1/search", json!({"search_query": ""}), 400, "search_query").await;
    app.fails("/v1/search", json!({"search_query": "x".repeat(201)}), 422, "search_query").await;
    app.fails("/v1/search", json!({"search_query": "x", "start_with": true, "end_with": false}), 400, "not both").await;
    app.fails("/v1/search", json!({"search_query": "x", "project_id": 1, "scenario_id": 2}), 400, "not both").await;
}

#[tokio::test]
async fn page_num_finds_the_page_of_an_entry() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(app.create_project(&format!("p{i:02}")).await);
    }
    let page = |id: i64, limit: i32| json!({"type_entry": "TYPES_ENTRY_PROJECTS", "id": id, "limit": limit});
    assert_eq!(app.ok("/v1/page-num", page(ids[0], 10)).await["page_num"], 1);
    assert_eq!(app.ok("/v1/page-num", page(ids[9], 10)).await["page_num"], 1, "the 10th of 10 per page is on page 1");
    assert_eq!(app.ok("/v1/page-num", page(ids[10], 10)).await["page_num"], 2);
    assert_eq!(app.ok("/v1/page-num", page(ids[24], 10)).await["page_num"], 3);
    let s = app.create_scenario(ids[0], "s").await;
    assert_eq!(app.ok("/v1/page-num", json!({"type_entry": 2, "id": s, "limit": 5})).await["page_num"], 1);
    app.fails("/v1/page-num", page(99_999, 10), 404, "project 99999").await;
    app.fails("/v1/page-num", page(ids[0], 0), 400, "limit").await;
    app.fails("/v1/page-num", json!({"type_entry": "TYPES_ENTRY_NOPE", "id": 1, "limit": 1}), 400, "type_entry").await;
    app.fails("/v1/page-num", json!({"id": 1, "limit": 1}), 400, "type_entry").await;
}
