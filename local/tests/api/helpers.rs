//! `spawn_app()`: a fresh schema on the real Postgres, a fresh bucket on a real
//! S3-compatible server, and `alilo-local` on a free port, per test.
//!
//! Postgres: `ALILO_TEST_PG_DSN` (default: the local server's `test` database).
//! S3: `ALILO_TEST_S3_ENDPOINT` with `ALILO_TEST_S3_ACCESS_KEY` and
//! `ALILO_TEST_S3_SECRET_KEY` (`.ci/run` starts moto's server), or else the s3s-fs
//! endpoint over HTTP on loopback, in a temporary folder.
//!
//! [`spawn_app_with_db_proxy`] puts a [`ChaosProxy`] between the app and Postgres
//! (the test's own [`TestApp::dsn`] stays direct, so a test can look at the
//! database while the app's network is cut).

use crate::chaos_proxy::ChaosProxy;
use alilo_local::{Application, Settings};
use alilo_shared::auth::Role;
use reqwest::StatusCode;
use serde_json::Value;
use std::path::PathBuf;

pub const DEFAULT_TEST_DSN: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Polls `check` every 50 ms until it gives a value, failing with `what` after
/// `limit`: tests wait for what they need, never a guessed time.
pub async fn eventually<T>(limit: std::time::Duration, what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let end = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < end, "not within {limit:?}: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub schema: String,
    /// The test's schema, reached directly (never through the proxy).
    pub dsn: String,
    pub bucket: String,
    pub app_state: alilo_shared::AppState,
    _embedded: Option<alilo_local::embedded_s3::EmbeddedS3>,
    data_dir: PathBuf,
    server: tokio::task::JoinHandle<()>,
    settings: Settings,
    db_proxy: Option<ChaosProxy>,
}

/// A connection to the test's schema (its DSN carries the search path).
pub async fn connect_dsn(dsn: &str) -> tokio_postgres::Client {
    connect(dsn).await
}

/// One connection with the test's schema first on the search path.
async fn connect(dsn: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(dsn, tokio_postgres::NoTls).await.expect("test Postgres reachable");
    tokio::spawn(conn);
    client
}

/// `pg_trgm` lives in `public`, shared by every test schema. Concurrent creators
/// race, so a failure is retried once the winner has committed.
async fn ensure_extension(base: &str) {
    let client = connect(base).await;
    for _ in 0..20 {
        if client.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public").await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("cannot create pg_trgm in the test database");
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with settings changed first (e.g. the controller interval).
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn(tweak, false).await
}

/// [`spawn_app_with`], the app reaching Postgres through a [`ChaosProxy`]
/// ([`TestApp::db_proxy`]); it survives [`TestApp::restart`].
pub async fn spawn_app_with_db_proxy(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn(tweak, true).await
}

async fn spawn(tweak: impl FnOnce(&mut Settings), behind_proxy: bool) -> TestApp {
    let base = std::env::var("ALILO_TEST_PG_DSN").unwrap_or_else(|_| DEFAULT_TEST_DSN.into());
    let id = uuid::Uuid::new_v4().simple().to_string();
    let schema = format!("t_{id}");
    ensure_extension(&base).await;
    connect(&base).await.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    // The schema's name as application_name lets the cleanup end this app's sessions.
    let dsn = format!("{base}{separator}options=-csearch_path%3D{schema},public&application_name={schema}");
    let (db_proxy, app_dsn) = if behind_proxy {
        let (proxy, proxied) = ChaosProxy::for_dsn(&dsn).await;
        (Some(proxy), proxied)
    } else {
        (None, dsn.clone())
    };

    let data_dir = std::env::temp_dir().join(format!("alilo-test-{id}"));
    let bucket = format!("t-{}", &id[..20]);
    let (endpoint, access, secret, embedded) = match std::env::var("ALILO_TEST_S3_ENDPOINT") {
        Ok(endpoint) => (
            endpoint,
            std::env::var("ALILO_TEST_S3_ACCESS_KEY").unwrap_or_else(|_| "test".into()),
            std::env::var("ALILO_TEST_S3_SECRET_KEY").unwrap_or_else(|_| "test".into()),
            None,
        ),
        Err(_) => {
            let s3 = alilo_local::embedded_s3::start(&data_dir, 0).await.expect("embedded S3 starts");
            (s3.endpoint.clone(), s3.access_key.clone(), s3.secret_key.clone(), Some(s3))
        }
    };
    let mut settings = Settings {
        port: 0,
        bind: "127.0.0.1".into(),
        pg_dsn: Some(app_dsn),
        minio_endpoint: Some(endpoint),
        minio_bucket: Some(bucket.clone()),
        minio_access_key_id: Some(access),
        minio_secret_access_key: Some(secret),
        data_dir: data_dir.clone(),
        no_agent: true,
        no_auth: false,
        allowed_targets: None,
        demo: false,
        controller_interval_ms: 500,
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
    tweak(&mut settings);
    let app = Application::build(&settings).await.expect("alilo-local builds");
    let kept = settings.clone();
    let address = format!("http://{}", app.local_addr());
    let app_state = app.state().clone();
    let server = tokio::spawn(async move {
        let _ = app.run_until_stopped().await;
    });
    let client = client_as(&app_state, Role::Admin, None).await.0;
    TestApp {
        address,
        client,
        schema,
        dsn,
        bucket,
        app_state,
        _embedded: embedded,
        data_dir,
        server,
        settings: kept,
        db_proxy,
    }
}

/// A client sending a fresh API token of `role` (limited to `projects`) on every
/// request, and the token.
pub async fn client_as(
    state: &alilo_shared::AppState,
    role: Role,
    projects: Option<&[i64]>,
) -> (reqwest::Client, String) {
    let (_, token, _) =
        alilo_shared::service::auth::issue_token(state, &format!("test-{}", role.as_str()), role, projects, None, 3600)
            .await
            .expect("a test token is issued");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    (reqwest::Client::builder().default_headers(headers).build().unwrap(), token)
}

impl TestApp {
    /// The UI's data-file upload (`/v1/file/upload`) of `content`; its `s3_url`.
    pub async fn upload_data_file(&self, name: &str, content: &[u8], content_type: &str) -> String {
        use base64::Engine;
        let body = serde_json::json!({"name": name, "bucket_name": "-", "project_title": "p", "scenario_title": "s",
            "ammo_file": base64::engine::general_purpose::STANDARD.encode(content), "content_type": content_type});
        self.ok("/v1/file/upload", body).await["ammo_file"]["s3_url"].as_str().unwrap().to_string()
    }

    /// This app with another client: a token of `role` (a tester limited to `projects`).
    pub async fn as_role(&self, role: Role, projects: Option<&[i64]>) -> Caller<'_> {
        Caller { app: self, client: client_as(&self.app_state, role, projects).await.0 }
    }

    /// This app with a client that sends no credentials.
    pub fn anonymous(&self) -> Caller<'_> {
        Caller { app: self, client: reqwest::Client::new() }
    }

    /// The proxy between the app and Postgres; only for [`spawn_app_with_db_proxy`].
    pub fn db_proxy(&self) -> &ChaosProxy {
        self.db_proxy.as_ref().expect("spawn_app_with_db_proxy starts the app behind a proxy")
    }

    /// Stop this `alilo-local` (API and controller) and start a new one on the same
    /// database and bucket, on another port.
    pub async fn restart(&mut self, down_for: std::time::Duration) {
        self.server.abort();
        let _ = (&mut self.server).await;
        tokio::time::sleep(down_for).await;
        let app = Application::build(&self.settings).await.expect("alilo-local rebuilds");
        self.address = format!("http://{}", app.local_addr());
        self.app_state = app.state().clone();
        self.server = tokio::spawn(async move {
            let _ = app.run_until_stopped().await;
        });
    }

    /// POST JSON with this app's (admin) client.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        post_with(&self.client, &self.address, path, body.to_string(), "application/json").await
    }

    /// POST a raw body (as the UI's upload does, `application/octet-stream`); the
    /// status and the parsed JSON answer.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
        post_with(&self.client, &self.address, path, body, "application/octet-stream").await
    }

    /// POST and require a 200 with `status: true`.
    pub async fn ok(&self, path: &str, body: Value) -> Value {
        let (status, json) = self.post(path, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {json}");
        if let Some(s) = json.get("status") {
            assert_eq!(s, &Value::Bool(true), "{path}: {json}");
        }
        json
    }

    /// POST and require an error with `code` status whose message contains `needle`.
    pub async fn fails(&self, path: &str, body: Value, code: u16, needle: &str) -> Value {
        let (status, json) = self.post(path, body).await;
        assert_eq!(status.as_u16(), code, "{path}: {json}");
        assert_eq!(json["status"], false, "{path}: {json}");
        let message = json["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{path}: {message:?} should mention {needle:?}");
        assert!(json["code"].is_number() && json["details"].is_array(), "{json}");
        json
    }

    pub async fn create_project(&self, title: &str) -> i64 {
        self.ok("/v1/project/create", serde_json::json!({"project": {"title": title}})).await["id"].as_i64().unwrap()
    }

    pub async fn create_scenario(&self, project_id: i64, title: &str) -> i64 {
        let body = serde_json::json!({"scenario": {"project_id": project_id.to_string(), "title": title}});
        self.ok("/v1/scenario/create", body).await["scenario_id"].as_i64().unwrap()
    }

    /// A scenario titled `title` in a new project "Shop": how most tests begin.
    pub async fn new_scenario(&self, title: &str) -> i64 {
        let project = self.create_project("Shop").await;
        self.create_scenario(project, title).await
    }

    pub async fn create_simple_script(&self, scenario_id: i64, name: &str, rps: &str) -> i64 {
        let body = serde_json::json!({"simple_script": simple_script(scenario_id, name, rps)});
        self.ok("/v1/simple-script/create", body).await["simple_script_id"].as_i64().unwrap()
    }

    pub async fn create_script(&self, scenario_id: i64, name: &str, rps: &str) -> i64 {
        let body = serde_json::json!({"script": {"scenario_id": scenario_id, "name": name, "script_file": "https://files/x.js",
            "enabled": true, "options": {"rps": rps, "steps": "2", "duration": "1m"}}});
        self.ok("/v1/script/create", body).await["script_id"].as_i64().unwrap()
    }

    /// Rows of a table in this test's schema.
    pub async fn count(&self, table: &str) -> i64 {
        connect(&self.dsn).await.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.unwrap().get(0)
    }

    /// What run `run_id`'s change log says, oldest first.
    pub async fn changes(&self, run_id: i64) -> Vec<String> {
        let rows = connect(&self.dsn)
            .await
            .query("SELECT what FROM run_changes WHERE run_id = $1 ORDER BY id", &[&run_id])
            .await
            .unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    }
}

/// POST `body` with `content_type`; the status and the parsed JSON answer.
pub async fn post_with(
    client: &reqwest::Client,
    address: &str,
    path: &str,
    body: impl Into<reqwest::Body>,
    content_type: &str,
) -> (StatusCode, Value) {
    let response = client
        .post(format!("{address}{path}"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path} answered non-JSON: {text}"));
    (status, json)
}

/// The app seen through another client (another role, or none).
pub struct Caller<'a> {
    pub app: &'a TestApp,
    pub client: reqwest::Client,
}

impl Caller<'_> {
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        post_with(&self.client, &self.app.address, path, body.to_string(), "application/json").await
    }
}

/// A valid simple script in a scenario.
pub fn simple_script(scenario_id: i64, name: &str, rps: &str) -> Value {
    serde_json::json!({
        "scenario_id": scenario_id, "name": name, "enabled": true, "path": "127.0.0.1:9/items", "scheme": "http",
        "http_method": "get", "rps": rps, "steps": "2", "duration": "1m", "max_v_us": "10",
        "headers": {"Accept": "application/json"}, "query_params": [{"key": "q", "value": "1"}]
    })
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        // Closing the proxied connections ends their sessions, so no lock they hold
        // blocks dropping the schema.
        drop(self.db_proxy.take());
        let base = std::env::var("ALILO_TEST_PG_DSN").unwrap_or_else(|_| DEFAULT_TEST_DSN.into());
        let schema = self.schema.clone();
        // Drop runs inside the test's runtime; clean up on a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let client = connect(&base).await;
                // The test's runtime is blocked in this drop, so a session of the app
                // caught inside a transaction (a controller pass's claim) would hold
                // its locks forever: end the app's sessions first.
                let _ = client
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name = $1 AND pid <> pg_backend_pid()",
                        &[&schema],
                    )
                    .await;
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
            });
        })
        .join();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
