//! The gateway edge: real API Gateway (HTTP API, payload v2) events, parsed by
//! lambda_http as in AWS, through a function's routes.

use crate::helpers::spawn_app;
use base64::Engine;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn event(path: &str, body: &str, base64: bool) -> String {
    event_with(path, body, base64, &[])
}

/// An event with extra headers (credentials).
fn event_with(path: &str, body: &str, base64: bool, extra: &[(&str, &str)]) -> String {
    let body = if base64 { base64::engine::general_purpose::STANDARD.encode(body) } else { body.to_string() };
    let mut headers = json!({"content-type": if base64 { "application/octet-stream" } else { "application/json" }, "host": "abc.execute-api.eu-west-1.amazonaws.com"});
    for (k, v) in extra {
        headers[*k] = json!(v);
    }
    json!({
        "version": "2.0",
        "routeKey": format!("POST {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
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
    let (status, _, body) = call_with_cookie(app, event).await;
    (status, body)
}

/// The status, the Set-Cookie header and the JSON answer.
async fn call_with_cookie(app: axum::Router, event: &str) -> (u16, Option<String>, Value) {
    let request = lambda_http::request::from_str(event).expect("a valid API Gateway v2 event");
    let response = app.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let cookie = response.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_string());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, cookie, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn gateway_events_reach_the_function_routes() {
    let test = spawn_app().await;
    let app = alilo_shared::router::app(alilo_fn_projects::routes(), test.app_state.clone());
    let (status, refused) = call(app.clone(), &event("/v1/projects", "{}", false)).await;
    assert_eq!(status, 401, "no credentials: {refused}");
    let (_, token, _) = alilo_shared::service::auth::issue_token(
        &test.app_state,
        "gw",
        alilo_shared::auth::Role::Tester,
        None,
        None,
        600,
    )
    .await
    .unwrap();
    let bearer = format!("Bearer {token}");
    let auth = [("authorization", bearer.as_str())];
    let (status, created) =
        call(app.clone(), &event_with("/v1/project/create", r#"{"project":{"title":"From AWS"}}"#, false, &auth)).await;
    assert_eq!(status, 200, "{created}");
    let (status, listed) = call(app.clone(), &event_with("/v1/projects", r#"{"limit": "10"}"#, true, &auth)).await;
    assert_eq!(status, 200);
    assert_eq!(listed["projects"][0]["title"], "From AWS");
    assert_eq!(listed["projects"][0]["id"], created["id"]);
    let (status, missing) = call(app, &event_with("/v1/scenarios", "{}", false, &auth)).await;
    assert_eq!(
        (status, missing["message"].as_str()),
        (404, Some("Not Found")),
        "a route of another function is not served here"
    );
}

/// The browser's flow through the gateway: sign in with the auth function, then
/// call another function with the cookie alone; a cross-site page is refused.
#[tokio::test]
async fn the_session_cookie_works_through_gateway_events() {
    let test = spawn_app().await;
    test.ok("/v1/auth/user/create", json!({"name": "carol", "password": "correct horse battery", "role": "viewer"}))
        .await;
    let auth = alilo_shared::router::app(alilo_fn_auth::routes(), test.app_state.clone());
    let projects = alilo_shared::router::app(alilo_fn_projects::routes(), test.app_state.clone());
    let (status, cookie, answer) = call_with_cookie(
        auth.clone(),
        &event("/v1/auth/login", r#"{"name": "carol", "password": "correct horse battery"}"#, false),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let set_cookie = cookie.expect("Set-Cookie");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("Secure") && set_cookie.contains("SameSite=Lax"));
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let with_cookie = [("cookie", cookie.as_str())];
    let (status, listed) = call(projects.clone(), &event_with("/v1/projects", "{}", false, &with_cookie)).await;
    assert_eq!(status, 200, "{listed}");
    let (status, _) = call(projects.clone(), &event_with("/v1/project/create", "{}", false, &with_cookie)).await;
    assert_eq!(status, 403, "a viewer changes nothing");
    let cross = [("cookie", cookie.as_str()), ("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")];
    let (status, _) = call(projects.clone(), &event_with("/v1/projects", "{}", false, &cross)).await;
    assert_eq!(status, 403, "another site's page cannot use the cookie");
    let (status, _) = call(auth, &event_with("/v1/auth/logout", "{}", false, &with_cookie)).await;
    assert_eq!(status, 200);
    let (status, _) = call(projects, &event_with("/v1/projects", "{}", false, &with_cookie)).await;
    assert_eq!(status, 401, "signed out");
}
