//! The API while Postgres is cut off by the chaos proxy (issue #11, items 3, 4 and
//! 8): a reset or a silent partition answers 503 with `Retry-After` within the
//! request deadline, never 500 and never a hang; a pool with every connection in
//! use answers 503 "busy"; and once the network is back the same process serves
//! again, without a restart.

use crate::helpers::{TestApp, spawn_app_with, spawn_app_with_db_proxy};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

/// The deadline these tests give `alilo-local`: short, so a test waits little.
const DEADLINE: Duration = Duration::from_millis(1500);
/// What a loaded 2-core machine may add to the deadline before the answer arrives.
const SLACK: Duration = Duration::from_millis(1500);
/// How long recovery may take once the network is back.
const RECOVERY: Duration = Duration::from_secs(20);

/// Routes that read and write the database, each with a valid body.
fn routes(project: i64) -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("/v1/projects", json!({})),
        ("/v1/project", json!({"id": project})),
        ("/v1/project/create", json!({"project": {"title": "during the outage"}})),
        ("/v1/scenarios", json!({"project_id": project})),
        ("/v1/runs", json!({})),
        ("/v1/agents", json!({})),
    ]
}

/// POST and the status, the `Retry-After` header, the body and the time taken.
async fn timed(app: &TestApp, path: &str, body: &serde_json::Value) -> (StatusCode, Option<String>, String, Duration) {
    let started = Instant::now();
    let response = app
        .client
        .post(format!("{}{path}", app.address))
        .json(body)
        .timeout(DEADLINE * 10)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: no answer: {e}"));
    let status = response.status();
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (status, retry, response.text().await.unwrap(), started.elapsed())
}

/// Poll `path` until it answers 200 (at most [`RECOVERY`]).
async fn recovers(app: &TestApp, path: &str, body: serde_json::Value) {
    let started = Instant::now();
    loop {
        let (status, _, text, _) = timed(app, path, &body).await;
        if status == StatusCode::OK {
            return;
        }
        assert!(started.elapsed() < RECOVERY, "{path} did not recover within {RECOVERY:?}: {status} {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_reset_database_answers_503_with_retry_after_and_recovers_without_a_restart() {
    let app = spawn_app_with_db_proxy(|s| s.request_deadline_ms = Some(DEADLINE.as_millis() as u64)).await;
    let project = app.create_project("before the outage").await;
    // Every pooled connection has been used once, so the reset hits open ones too.
    for (path, body) in routes(project) {
        timed(&app, path, &body).await;
    }

    app.db_proxy().reset();
    for (path, body) in routes(project) {
        let (status, retry, text, took) = timed(&app, path, &body).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {text}");
        assert_eq!(retry.as_deref(), Some("1"), "{path}: a 503 says when to retry");
        assert!(text.contains("database is unavailable"), "{path}: {text}");
        assert!(took < DEADLINE + SLACK, "{path} took {took:?}");
    }

    app.db_proxy().restore();
    recovers(&app, "/v1/projects", json!({})).await;
    for (path, body) in routes(project) {
        let (status, _, text, _) = timed(&app, path, &body).await;
        assert_eq!(status, StatusCode::OK, "{path} after the restore: {text}");
    }
    // The first project, the create of the warm-up pass and the one after the restore.
    assert_eq!(app.count("projects").await, 3, "the write after the restore landed, none during the outage");
}

#[tokio::test]
async fn a_black_holed_database_answers_503_within_the_deadline_and_recovers_without_a_restart() {
    let app = spawn_app_with_db_proxy(|s| s.request_deadline_ms = Some(DEADLINE.as_millis() as u64)).await;
    let project = app.create_project("before the partition").await;

    app.db_proxy().black_hole();
    // In parallel, as a user's browser would: none may hang past the deadline.
    let calls = routes(project).into_iter().map(|(path, body)| {
        let app = &app;
        async move { (path, timed(app, path, &body).await) }
    });
    for (path, (status, retry, text, took)) in futures::future::join_all(calls).await {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {text}");
        assert_eq!(retry.as_deref(), Some("1"), "{path}");
        assert!(took < DEADLINE + SLACK, "{path} answered after {took:?}, past the deadline of {DEADLINE:?}");
    }

    app.db_proxy().restore();
    recovers(&app, "/v1/project", json!({"id": project})).await;
    app.ok("/v1/project/create", json!({"project": {"title": "after the partition"}})).await;
}

#[tokio::test]
async fn a_pool_with_every_connection_in_use_answers_503_busy_not_unavailable() {
    let app = spawn_app_with(|_| {}).await;
    app.ok("/v1/projects", json!({})).await;
    // Take every pooled connection (the pool blocks once none is left).
    let mut held = Vec::new();
    while let Ok(Ok(conn)) = tokio::time::timeout(Duration::from_millis(300), app.app_state.db.conn()).await {
        held.push(conn);
        assert!(held.len() <= 64, "the pool has a bound");
    }
    assert!(!held.is_empty());

    let (status, retry, text, _) = timed(&app, "/v1/projects", &json!({})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(text.contains("database is busy"), "{text}");
    assert!(!text.contains("unavailable"), "{text}");

    drop(held);
    app.ok("/v1/projects", json!({})).await;
}

#[tokio::test]
async fn a_statement_past_statement_timeout_is_cancelled_by_postgres() {
    let app = spawn_app_with(|_| {}).await;
    let conn = app.app_state.db.conn().await.unwrap();
    let row = conn.query_one("SHOW statement_timeout", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "5s");
    let err = conn.query("SELECT pg_sleep(6)", &[]).await.unwrap_err();
    let api: alilo_shared::ApiError = err.into();
    assert_eq!(api.status.as_u16(), 503, "{api}");
    assert!(api.message.contains("busy"), "{api}");
}

#[tokio::test]
async fn a_lambda_function_answers_503_within_its_deadline_too() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let test = spawn_app_with_db_proxy(|_| {}).await;
    let mut state = test.app_state.clone();
    state.limits.request_deadline = DEADLINE;
    let (_, token) = crate::helpers::client_as(&test.app_state, alilo_shared::auth::Role::Admin, None).await;
    // The function's router, as its main builds it, fed a real API Gateway v2 event.
    let app = alilo_shared::router::app(alilo_fn_projects::routes(), state);
    let event = json!({
        "version": "2.0", "routeKey": "POST /v1/projects", "rawPath": "/v1/projects", "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "abc.execute-api.eu-west-1.amazonaws.com",
            "authorization": format!("Bearer {token}")},
        "requestContext": {"accountId": "1", "apiId": "abc", "domainName": "abc.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc", "http": {"method": "POST", "path": "/v1/projects", "protocol": "HTTP/1.1",
            "sourceIp": "10.0.0.1", "userAgent": "ui"}, "requestId": "r1", "routeKey": "POST /v1/projects",
            "stage": "$default", "time": "27/Nov/2026:21:00:00 +0000", "timeEpoch": 1_795_000_000_000u64},
        "body": "{}", "isBase64Encoded": false
    })
    .to_string();

    test.db_proxy().black_hole();
    let started = Instant::now();
    let request = lambda_http::request::from_str(&event).expect("a valid API Gateway v2 event");
    let response = app.clone().oneshot(request).await.unwrap();
    let took = started.elapsed();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(took < DEADLINE + SLACK, "answered after {took:?}");
    let body: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!((body["status"].as_bool(), body["code"].as_i64()), (Some(false), Some(14)), "{body}");

    test.db_proxy().restore();
    let started = Instant::now();
    loop {
        let request = lambda_http::request::from_str(&event).unwrap();
        if app.clone().oneshot(request).await.unwrap().status() == 200 {
            break;
        }
        assert!(started.elapsed() < RECOVERY, "the function did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
