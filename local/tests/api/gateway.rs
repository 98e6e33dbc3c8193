//! The gateway edge: real API Gateway (HTTP API, payload v2) events, parsed by
//! lambda_http as in AWS, through a function's routes.

use crate::helpers::spawn_app;
use base64::Engine;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn event(path: &str, body: &str, base64: bool) -> String {
    let body = if base64 { base64::engine::general_purpose::STANDARD.encode(body) } else { body.to_string() };
    json!({
        "version": "2.0",
        "routeKey": format!("POST {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": if base64 { "application/octet-stream" } else { "application/json" }, "host": "abc.execute-api.eu-west-1.amazonaws.com"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc", "domainName": "abc.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc", "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "10.0.0.1", "userAgent": "ui"},
            "requestId": "r1", "routeKey": format!("POST {path}"), "stage": "$default", "time": "27/Nov/2026:21:00:00 +0000", "timeEpoch": 1_795_000_000_000u64
        },
        "body": body,
        "isBase64Encoded": base64
    })
    .to_string()
}

async fn call(app: axum::Router, event: &str) -> (u16, Value) {
    let request = lambda_http::request::from_str(event).expect("a valid API Gateway v2 event");
    let response = app.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn gateway_events_reach_the_function_routes() {
    let test = spawn_app().await;
    let app = alilo_shared::router::app(alilo_fn_projects::routes(), test.app_state.clone());
    let (status, created) =
        call(app.clone(), &event("/v1/project/create", r#"{"project":{"title":"From AWS"}}"#, false)).await;
    assert_eq!(status, 200, "{created}");
    let (status, listed) = call(app.clone(), &event("/v1/projects", r#"{"limit": "10"}"#, true)).await;
    assert_eq!(status, 200);
    assert_eq!(listed["projects"][0]["title"], "From AWS");
    assert_eq!(listed["projects"][0]["id"], created["id"]);
    let (status, missing) = call(app, &event("/v1/scenarios", "{}", false)).await;
    assert_eq!(
        (status, missing["message"].as_str()),
        (404, Some("Not Found")),
        "a route of another function is not served here"
    );
}
