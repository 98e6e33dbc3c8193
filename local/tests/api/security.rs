//! Who may do what (issue #10), through HTTP against the real app: cross-site
//! refusal, the rule table over every documented route, sessions, tokens, the
//! audit log, the target allow-list and each agent's own credential.

use crate::helpers::{Caller, TestApp, eventually, post_with, spawn_app, spawn_app_with};
use alilo_shared::auth::rules::{self, Need, Role};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn audit(app: &TestApp, filter: Value) -> Vec<Value> {
    app.ok("/v1/audit", filter).await["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_cross_site_request_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let body = json!({"project": {"title": "Evil"}}).to_string();
    let url = format!("{}/v1/project/create", app.address);
    // The issue's reproduction: a page on evil.example posting text/plain.
    let response = app
        .client
        .post(&url)
        .header("origin", "http://evil.example")
        .header("content-type", "text/plain")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let refused: Value = response.json().await.unwrap();
    assert!(refused["message"].as_str().unwrap().contains("evil.example"), "{refused}");
    // JSON from another origin: still refused.
    let (status, _) =
        post_with(&app.client, &app.address, "/v1/project/create", body.clone(), "application/json").await;
    assert_eq!(status, StatusCode::OK, "the same request without an Origin (curl) passes");
    let response = app
        .client
        .post(&url)
        .header("origin", "http://evil.example")
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    for form in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let (status, answer) = post_with(&app.client, &app.address, "/v1/project/create", body.clone(), form).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{form}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains("Content-Type"), "{answer}");
    }
    // The API's own origin (the UI served with it, or behind its nginx) passes.
    let own = app.address.clone();
    let response = app
        .client
        .post(&url)
        .header("origin", own)
        .header("content-type", "application/json")
        .body(json!({"project": {"title": "Mine"}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut titles: Vec<String> = app.ok("/v1/projects", json!({})).await["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap().to_string())
        .collect();
    titles.sort();
    assert_eq!(titles, ["Evil", "Mine"], "only the two accepted requests created a project");
}

#[test]
fn every_documented_route_has_a_rule() {
    let doc = alilo_local::openapi();
    let mut missing = Vec::new();
    for path in doc.paths.paths.keys() {
        if !rules::RULES.iter().any(|r| r.path == path) {
            missing.push(path.clone());
        }
    }
    assert!(missing.is_empty(), "routes without a row in shared/src/auth/rules.rs: {missing:?}");
    for rule in rules::RULES {
        assert!(
            rule.path == "/login" || doc.paths.paths.contains_key(rule.path),
            "{} has a rule but is not served",
            rule.path
        );
    }
}

/// Every documented route: without credentials 401, a viewer on a change 403, an
/// admin neither. A new route cannot escape: the walk reads the OpenAPI document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rule_table_guards_every_documented_route() {
    let app = spawn_app().await;
    let anonymous = app.anonymous();
    let viewer = app.as_role(Role::Viewer, None).await;
    let tester = app.as_role(Role::Tester, None).await;
    let doc = alilo_local::openapi();
    let mut paths: Vec<&String> = doc.paths.paths.keys().collect();
    paths.sort();
    for path in paths {
        let rule = rules::rule_for(path);
        let (status, answer) = anonymous.post(path, json!({})).await;
        if rule.need == Need::Nothing {
            assert_ne!(status, StatusCode::FORBIDDEN, "{path}");
            continue;
        }
        if rule.need == Need::Fleet {
            // The fleet's own credential, never a user's: refused with or without one.
            let address = json!({"host_name": "10.0.0.1", "port": 8888});
            let (status, answer) = anonymous.post(path, address.clone()).await;
            assert!([StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status), "{path}: {answer}");
            let (status, answer) = app.post(path, address).await;
            assert!([StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status), "{path} as admin: {answer}");
            continue;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} without credentials: {answer}");
        assert_eq!(answer["code"], 16, "{path}");
        let (status, answer) = viewer.post(path, json!({})).await;
        if rule.mutates || rule.need > Need::Read {
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} as viewer: {answer}");
            assert!(answer["message"].as_str().unwrap().contains("permission"), "{path}: {answer}");
        } else {
            assert!(
                status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                "{path} as viewer: {answer}"
            );
        }
        let (status, answer) = tester.post(path, json!({})).await;
        assert_eq!(status == StatusCode::FORBIDDEN, rule.need == Need::Admin, "{path} as tester: {answer}");
        let (status, answer) = app.post(path, json!({})).await;
        assert!(
            status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED && status.as_u16() < 500,
            "{path} as admin: {status} {answer}"
        );
    }
}

#[tokio::test]
async fn a_tester_limited_to_projects_changes_only_those() {
    let app = spawn_app().await;
    let mine = app.create_project("Mine").await;
    let theirs = app.create_project("Theirs").await;
    let their_scenario = app.create_scenario(theirs, "S").await;
    let tester = app.as_role(Role::Tester, Some(&[mine])).await;
    let ok = |c: &Caller<'_>, path: &'static str, body: Value| {
        let c = c.client.clone();
        let address = app.address.clone();
        async move { post_with(&c, &address, path, body.to_string(), "application/json").await }
    };
    let (status, answer) =
        ok(&tester, "/v1/scenario/create", json!({"scenario": {"project_id": mine, "title": "Mine too"}})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) =
        ok(&tester, "/v1/scenario/create", json!({"scenario": {"project_id": theirs, "title": "No"}})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains(&format!("project {theirs}")), "{answer}");
    let (status, _) = ok(&tester, "/v1/scenario/delete", json!({"scenario_id": their_scenario})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = ok(&tester, "/v1/project/delete", json!({"id": theirs})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = ok(&tester, "/v1/project/create", json!({"project": {"title": "New"}})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a limited tester cannot create projects");
    let (status, _) = ok(&tester, "/v1/scenarios", json!({"project_id": theirs})).await;
    assert_eq!(status, StatusCode::OK, "reading is not limited");
    assert_eq!(app.count("scenarios").await, 2);
}

/// Log in as `name`; the Set-Cookie header and the answer.
async fn login(app: &TestApp, name: &str, password: &str) -> (StatusCode, Option<String>, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/auth/login", app.address))
        .header("content-type", "application/json")
        .body(json!({"name": name, "password": password}).to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let cookie = response.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_string());
    (status, cookie, response.json().await.unwrap())
}

async fn with_cookie(app: &TestApp, cookie: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/json")
        .header("cookie", cookie)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_user_signs_in_with_a_cookie_and_signs_out() {
    let app = spawn_app().await;
    app.ok("/v1/auth/user/create", json!({"name": "alice", "password": "correct horse battery", "role": "tester"}))
        .await;
    let (status, cookie, answer) = login(&app, "alice", "correct horse battery").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let set_cookie = cookie.expect("a session cookie");
    for flag in ["alilo_session=", "HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(set_cookie.contains(flag), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let (status, me) = with_cookie(&app, &cookie, "/v1/auth/me", json!({})).await;
    assert_eq!(
        (status, me["me"]["name"].as_str(), me["me"]["role"].as_str()),
        (StatusCode::OK, Some("alice"), Some("tester"))
    );
    let (status, _) =
        with_cookie(&app, &cookie, "/v1/project/create", json!({"project": {"title": "By cookie"}})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) =
        with_cookie(&app, &cookie, "/v1/agent/set", json!({"agent": {"host_name": "h", "port": "1"}})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "registering agents is admin-only");
    let (status, _) = with_cookie(&app, &cookie, "/v1/auth/logout", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = with_cookie(&app, &cookie, "/v1/projects", json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the session ended: {answer}");
    for bad in ["alilo_session=zzz", "alilo_session=", "alilo_session=%00%ff", "alilo_session"] {
        let (status, _) = with_cookie(&app, bad, "/v1/projects", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
    }
    let (status, _, _) = login(&app, "alice", "wrong password!!").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = login(&app, "nobody", "wrong password!!").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let page = reqwest::get(format!("{}/login?next=/x", app.address)).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("/v1/auth/login") && !html.contains("next=/x"));
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_name() {
    let app = spawn_app().await;
    app.ok("/v1/auth/user/create", json!({"name": "bob", "password": "correct horse battery", "role": "viewer"})).await;
    for _ in 0..alilo_shared::service::auth::MAX_FAILED_PER_NAME {
        assert_eq!(login(&app, "bob", "not the password").await.0, StatusCode::UNAUTHORIZED);
    }
    let (status, _, answer) = login(&app, "bob", "correct horse battery").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    let rows = audit(&app, json!({"actor": "bob"})).await;
    assert!(rows.iter().all(|r| r["route"] == "/v1/auth/login"));
    assert_eq!(rows.iter().filter(|r| r["status"] == 401).count(), 10);
}

#[tokio::test]
async fn tokens_are_shown_once_listed_revoked_and_expire() {
    let app = spawn_app().await;
    let created = app.ok("/v1/auth/token/create", json!({"name": "ci", "role": "viewer", "expires_in_days": 30})).await;
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("alilo_"));
    let bearer = |t: &str| {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("authorization", format!("Bearer {t}").parse().unwrap());
        reqwest::Client::builder().default_headers(h).build().unwrap()
    };
    let ci = bearer(&token);
    let (status, _) = post_with(&ci, &app.address, "/v1/projects", "{}", "application/json").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post_with(&ci, &app.address, "/v1/project/create", "{}", "application/json").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let listed = app.ok("/v1/auth/tokens", json!({})).await;
    assert!(!listed.to_string().contains(&token), "a listing never shows a token");
    let row = listed["tokens"].as_array().unwrap().iter().find(|t| t["name"] == "ci").unwrap().clone();
    assert!(row["last_used_at"].is_string(), "{row}");
    app.ok("/v1/auth/token/revoke", json!({"id": created["id"]})).await;
    let (status, _) = post_with(&ci, &app.address, "/v1/projects", "{}", "application/json").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, expired, _) =
        alilo_shared::service::auth::issue_token(&app.app_state, "old", Role::Admin, None, None, -1).await.unwrap();
    let (status, _) = post_with(&bearer(&expired), &app.address, "/v1/projects", "{}", "application/json").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for bad in ["Bearer", "Basic abc", "Bearer alilo_unknown"] {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/projects", app.address))
            .header("authorization", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{bad}");
    }
    app.fails("/v1/auth/token/create", json!({"name": "x", "role": "root"}), 422, "role").await;
    app.fails(
        "/v1/auth/token/create",
        json!({"name": "x", "role": "viewer", "expires_in_days": 9999}),
        422,
        "expires_in_days",
    )
    .await;
}

#[tokio::test]
async fn every_change_and_refusal_is_audited() {
    let app = spawn_app().await;
    let project = app.create_project("Audited").await;
    let scenario = app.create_scenario(project, "S").await;
    app.anonymous().post("/v1/project/delete", json!({"id": project})).await;
    app.as_role(Role::Viewer, None).await.post("/v1/scenario/delete", json!({"scenario_id": scenario})).await;
    app.fails("/v1/scenario/delete", json!({"scenario_id": 999_999}), 404, "999999").await;
    app.ok("/v1/projects", json!({})).await;

    let rows = audit(&app, json!({})).await;
    let routes: Vec<(&str, i64, &str)> = rows
        .iter()
        .map(|r| (r["route"].as_str().unwrap(), r["status"].as_i64().unwrap(), r["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        routes,
        [
            ("/v1/scenario/delete", 404, "token:test-admin"),
            ("/v1/scenario/delete", 403, "token:test-viewer"),
            ("/v1/project/delete", 401, "anonymous"),
            ("/v1/scenario/create", 200, "token:test-admin"),
            ("/v1/project/create", 200, "token:test-admin"),
        ],
        "newest first; reads are not audited"
    );
    let create = &rows[4];
    assert_eq!(create["ids"]["id"], json!([project]), "{create}");
    assert_eq!(rows[3]["project_ids"], json!([project]), "{}", rows[3]);
    assert_eq!(rows[3]["ids"]["scenario_id"], json!([scenario]));
    let by_project = audit(&app, json!({"project_id": project})).await;
    assert!(by_project.iter().all(|r| r["project_ids"] == json!([project])) && !by_project.is_empty());
    let later = audit(&app, json!({"from": "2999-01-01T00:00:00Z"})).await;
    assert!(later.is_empty());
}

/// A listener that records the Authorization header of every request.
async fn recorder() -> (u16, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    let router = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let record = record.clone();
        async move {
            let auth = headers.get("authorization").map(|v| v.to_str().unwrap_or("?").to_string()).unwrap_or_default();
            record.lock().unwrap().push(auth);
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, "no")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_host_learns_only_its_own_credential() {
    let app = spawn_app_with(|s| s.no_agent = false).await;
    let (port, seen) = recorder().await;
    app.ok(
        "/v1/agent/set",
        json!({"agent": {"host_name": "127.0.0.1", "port": port.to_string(), "enabled": true, "tags": ["trap"]}}),
    )
    .await;
    let project = app.create_project("P").await;
    let scenario = app.create_scenario(project, "S").await;
    let script = json!({"simple_script": {"scenario_id": scenario, "name": "a", "enabled": true, "tag": "trap",
        "path": "127.0.0.1:9/x", "scheme": "http", "http_method": "get", "rps": "1", "steps": "1", "duration": "1m", "max_v_us": "1"}});
    app.ok("/v1/simple-script/create", script).await;
    app.post("/v1/run/start", json!({"scenario_id": scenario, "percentage_of_target": 100})).await;
    // A start calls no agent; the controller's pass starts the job on the host.
    let received = eventually(Duration::from_secs(20), "the backend calls the registered host", async || {
        let received = seen.lock().unwrap().clone();
        (!received.is_empty()).then_some(received)
    })
    .await;
    let own = app.app_state.agents.credential(&format!("http://127.0.0.1:{port}"));
    assert!(received.iter().all(|h| *h == format!("Bearer {own}")), "{received:?}");
    // The local agent (another port) refuses that credential.
    let local =
        app.ok("/v1/agents/by-tag", json!({"tag": "local"})).await["agents"][0]["port"].as_str().unwrap().to_string();
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{local}/v1/agent"))
        .bearer_auth(&own)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let real = app.app_state.agents.credential(&format!("http://127.0.0.1:{local}"));
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{local}/v1/agent"))
        .bearer_auth(&real)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "the local agent's own credential opens it");
    let given = app.ok("/v1/agent/credential", json!({"host_name": "127.0.0.1", "port": port.to_string()})).await;
    assert_eq!(given["credential"], own.as_str());
}

#[tokio::test]
async fn data_files_come_only_from_our_bucket_unless_listed() {
    let app = spawn_app().await;
    let project = app.create_project("P").await;
    let scenario = app.create_scenario(project, "S").await;
    let mut script = crate::helpers::simple_script(scenario, "exfil", "1");
    script["ammo_url"] = json!("http://127.0.0.1:9/secret.json");
    let answer =
        app.fails("/v1/simple-script/create", json!({"simple_script": script.clone()}), 422, "127.0.0.1").await;
    assert!(answer["message"].as_str().unwrap().contains("ALILO_ALLOWED_TARGETS"), "{answer}");
    script["ammo_url"] = json!(format!("s3://{}/data/a.json", app.bucket));
    app.ok("/v1/simple-script/create", json!({"simple_script": script.clone()})).await;
    script["ammo_url"] = json!("s3://another-bucket/a.json");
    app.fails("/v1/simple-script/create", json!({"simple_script": script}), 422, "simple_script.ammo_url").await;
    // Data-file contents need a role above viewer.
    let viewer = app.as_role(Role::Viewer, None).await;
    assert_eq!(viewer.post("/v1/s3/getBucketList", json!({})).await.0, StatusCode::FORBIDDEN);
    assert_eq!(viewer.post("/v1/file/data", json!({"ammo_id": 1})).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_target_allow_list_refuses_save_import_and_start() {
    let app = spawn_app_with(|s| s.allowed_targets = Some("*.allowed.example, 127.0.0.0/8".into())).await;
    let project = app.create_project("P").await;
    let scenario = app.create_scenario(project, "S").await;
    let mut script = crate::helpers::simple_script(scenario, "ok", "1");
    app.ok("/v1/simple-script/create", json!({"simple_script": script.clone()})).await;
    script["path"] = json!("shop.allowed.example/items");
    app.ok("/v1/simple-script/create", json!({"simple_script": script.clone()})).await;
    script["path"] = json!("evil.example/items");
    let answer = app.fails("/v1/simple-script/create", json!({"simple_script": script}), 422, "evil.example").await;
    assert!(answer["message"].as_str().unwrap().contains("ALILO_ALLOWED_TARGETS"));
    app.fails(
        "/v1/parsing/curl/import",
        json!({"scenario_id": scenario, "curl": "curl https://evil.example/api"}),
        422,
        "evil.example",
    )
    .await;
    // A script stored before the list changed is refused at start.
    let conn = crate::helpers::connect_dsn(&app.dsn).await;
    conn.execute("UPDATE simple_scripts SET path = 'evil.example/x' WHERE name = 'ok'", &[]).await.unwrap();
    app.fails("/v1/run/start", json!({"scenario_id": scenario, "percentage_of_target": 100}), 422, "evil.example")
        .await;
}

#[tokio::test]
async fn the_first_admin_is_created_once_with_a_working_password() {
    let app = spawn_app().await;
    assert_eq!(app.count("users").await, 1, "the first start created the admin");
    let db = &app.app_state.db;
    assert!(alilo_shared::service::auth::bootstrap_admin(db).await.unwrap().is_none(), "never twice");
    crate::helpers::connect_dsn(&app.dsn).await.execute("DELETE FROM users", &[]).await.unwrap();
    let password = alilo_shared::service::auth::bootstrap_admin(db).await.unwrap().expect("a fresh database");
    let (status, cookie, _) = login(&app, "admin", &password).await;
    assert_eq!(status, StatusCode::OK);
    assert!(cookie.is_some());
    assert!(alilo_shared::service::auth::bootstrap_admin(db).await.unwrap().is_none());
}

#[tokio::test]
async fn no_auth_is_refused_off_loopback() {
    let settings = alilo_local::Settings {
        port: 0,
        bind: "0.0.0.0".into(),
        pg_dsn: Some("postgres://postgres@127.0.0.1:1/none".into()),
        minio_endpoint: None,
        minio_bucket: None,
        minio_access_key_id: None,
        minio_secret_access_key: None,
        data_dir: std::env::temp_dir(),
        no_agent: true,
        no_auth: true,
        allowed_targets: None,
        demo: false,
        controller_interval_ms: 1000,
        request_deadline_ms: None,
        max_db_outage_secs: 900,
        outage_buffer_mb: 1024,
        outage_buffer_seconds: None,
        fleet_token: None,
        fleet_heartbeat_secs: None,
        fleet: None,
        fleet_max: None,
        fleet_agent_rps: None,
        fleet_quiet_secs: None,
        fleet_agent_exe: None,
        agent_tls_required: false,
    };
    let err = alilo_local::Application::build(&settings).await.err().expect("refused");
    assert!(err.0.contains("--no-auth") && err.0.contains("0.0.0.0"), "{err}");
    assert!(
        alilo_local::is_loopback("127.0.0.1")
            && alilo_local::is_loopback("::1")
            && !alilo_local::is_loopback("10.0.0.1")
    );
}

/// Everything written to the log, kept for a test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A session's full log (debug level: sign-in, tokens, a run on the local agent)
/// holds no password, session id, token or agent credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_log() {
    let captured = Captured::default();
    let subscriber =
        tracing_subscriber::fmt().with_writer(captured.clone()).with_max_level(tracing::Level::DEBUG).finish();
    tracing::subscriber::set_global_default(subscriber).expect("this test owns its process's log (nextest)");

    let app = spawn_app_with(|s| s.no_agent = false).await;
    let password = "a very secret passphrase 42";
    app.ok("/v1/auth/user/create", json!({"name": "dave", "password": password, "role": "tester"})).await;
    let (_, cookie, _) = login(&app, "dave", password).await;
    let session = cookie.unwrap().split(';').next().unwrap().trim_start_matches("alilo_session=").to_string();
    let (status, _) = with_cookie(&app, &format!("alilo_session={session}"), "/v1/projects", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let token = app.ok("/v1/auth/token/create", json!({"name": "ci", "role": "tester"})).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let local =
        app.ok("/v1/agents/by-tag", json!({"tag": "local"})).await["agents"][0]["port"].as_str().unwrap().to_string();
    let credential =
        app.ok("/v1/agent/credential", json!({"host_name": "127.0.0.1", "port": local})).await["credential"]
            .as_str()
            .unwrap()
            .to_string();
    let target = crate::runs::Target::start().await;
    let project = app.create_project("Logged").await;
    let scenario = app.create_scenario(project, "S").await;
    app.load_script(scenario, "a", &target, "/a", 20, "local").await;
    let run = app.ok("/v1/run/start", json!({"scenario_id": scenario, "percentage_of_target": 100})).await;
    let run_id = run["run"]["run_id"].as_i64().unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while target.count("/a") < 5 {
        assert!(tokio::time::Instant::now() < deadline, "the run sent no load");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.ok("/v1/run/stop", json!({"run_id": run_id})).await;
    let (status, _) = post_with(&app.anonymous().client, &app.address, "/v1/projects", "{}", "application/json").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The first admin's one-time password, made again on an emptied user table.
    crate::helpers::connect_dsn(&app.dsn).await.execute("DELETE FROM users", &[]).await.unwrap();
    let admin = alilo_shared::service::auth::bootstrap_admin(&app.app_state.db).await.unwrap().expect("no user left");
    assert_eq!(login(&app, "admin", &admin).await.0, StatusCode::OK);

    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).to_string();
    assert!(log.contains("local agent started"), "the log was captured: {} bytes", log.len());
    let secrets = [
        ("password", password),
        ("session id", session.as_str()),
        ("token", token.as_str()),
        ("agent credential", credential.as_str()),
        ("first admin's password", admin.as_str()),
    ];
    for (what, secret) in secrets {
        assert!(!log.contains(secret), "the {what} is in the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_constant_use_revoked_by_another_process_stops_within_the_cache_ttl() {
    let app = spawn_app().await;
    let (_, token, _) =
        alilo_shared::service::auth::issue_token(&app.app_state, "busy", Role::Viewer, None, None, 3600).await.unwrap();
    let me = || async {
        reqwest::Client::new()
            .post(format!("{}/v1/auth/me", app.address))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap()
            .status()
    };
    // In use past the refresh age: every call answered (the refresh runs behind them).
    let started = std::time::Instant::now();
    while started.elapsed() < alilo_shared::auth::cache::REFRESH_AFTER + Duration::from_millis(1500) {
        assert_eq!(me().await, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Revoked as another process would (its own memory cleared, not ours).
    crate::helpers::connect_dsn(&app.dsn)
        .await
        .execute("UPDATE api_tokens SET revoked_at = now() WHERE name = 'busy'", &[])
        .await
        .unwrap();
    let revoked = std::time::Instant::now();
    eventually(Duration::from_secs(10), "the revoked token is refused", async || {
        (me().await == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
    // Within the TTL (plus the time one refresh takes), never later, though in use.
    let took = revoked.elapsed();
    assert!(took <= alilo_shared::auth::cache::TTL + Duration::from_secs(1), "{took:?}");
    assert_eq!(me().await, StatusCode::UNAUTHORIZED, "and it stays refused");
}
