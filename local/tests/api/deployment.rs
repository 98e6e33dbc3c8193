//! What a deployment relies on (issue #10): single sign-on through the gateway's
//! JWT authorizer (real API Gateway v2 events with validated claims), Postgres
//! over TLS against the machine's own server, secrets read from Secrets Manager
//! (moto's) at cold start, and who may scrape `/metrics`.

use crate::helpers::{TestApp, spawn_app};
use alilo_shared::auth::Role;
use alilo_shared::auth::sso::SsoConfig;
use alilo_shared::config::{Config, Dsn};
use alilo_shared::db::Db;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

const ISSUER: &str = "https://idp.example.com/realms/corp";

/// An HTTP API (payload 2.0) event; `claims`: what a JWT authorizer validated.
fn event(path: &str, body: &str, claims: Option<Value>) -> String {
    let mut context = json!({
        "accountId": "123456789012", "apiId": "abc", "domainName": "abc.execute-api.eu-west-1.amazonaws.com",
        "domainPrefix": "abc", "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "10.0.0.9", "userAgent": "sso"},
        "requestId": "r1", "routeKey": format!("POST {path}"), "stage": "$default", "time": "29/Nov/2026:12:00:00 +0000", "timeEpoch": 1_795_000_000_000u64
    });
    if let Some(claims) = claims {
        context["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
    }
    json!({
        "version": "2.0", "routeKey": format!("POST {path}"), "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "abc.execute-api.eu-west-1.amazonaws.com", "authorization": "Bearer eyJhbGciOi.x.y"},
        "requestContext": context, "body": body, "isBase64Encoded": false
    })
    .to_string()
}

async fn call(app: &axum::Router, event: &str) -> (u16, Value) {
    let request = lambda_http::request::from_str(event).expect("a valid API Gateway v2 event");
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn with_sso(test: &TestApp, sso: Option<SsoConfig>) -> alilo_shared::AppState {
    let mut state = test.app_state.clone();
    let mut auth = (*state.auth).clone();
    auth.sso = sso;
    state.auth = Arc::new(auth);
    state
}

fn sso_config() -> SsoConfig {
    SsoConfig::from_vars(&[("ALILO_OIDC_ISSUER", ISSUER), ("ALILO_OIDC_ROLE_MAP", "lt-admins=admin,lt-qa=tester")])
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn sso_claims_from_the_gateway_sign_a_person_in_with_the_mapped_role() {
    let test = spawn_app().await;
    let projects = alilo_shared::router::gateway_app(alilo_fn_projects::routes(), with_sso(&test, Some(sso_config())));
    let claims = |groups: &str| {
        Some(json!({"iss": ISSUER, "sub": "0042", "email": "dana@corp.example", "alilo_role": groups, "aud": "alilo"}))
    };

    // A tester by group, on the /sso route set: the prefix is taken off.
    let (status, created) =
        call(&projects, &event("/sso/v1/project/create", r#"{"project":{"title":"By SSO"}}"#, claims("[staff lt-qa]")))
            .await;
    assert_eq!(status, 200, "{created}");
    let rows = test.ok("/v1/audit", json!({"actor": "sso:dana@corp.example"})).await["events"].clone();
    assert_eq!(rows[0]["route"], "/v1/project/create", "{rows}");
    assert_eq!(rows[0]["via"], "sso", "{rows}");

    // A person whose groups map to no role: 403 naming the claim.
    let (status, refused) = call(&projects, &event("/sso/v1/projects", "{}", claims("[staff]"))).await;
    assert_eq!(status, 403, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("alilo_role"), "{refused}");

    // A viewer reads and changes nothing.
    let (status, _) = call(&projects, &event("/sso/v1/projects", "{}", claims("viewer"))).await;
    assert_eq!(status, 200);
    let (status, _) =
        call(&projects, &event("/sso/v1/project/create", r#"{"project":{"title":"No"}}"#, claims("viewer"))).await;
    assert_eq!(status, 403);

    // Claims of another issuer: 401.
    let foreign = json!({"iss": "https://evil.example", "sub": "1", "alilo_role": "admin"});
    let (status, _) = call(&projects, &event("/sso/v1/projects", "{}", Some(foreign))).await;
    assert_eq!(status, 401);

    // Without the authorizer's claims the /sso path is just a path: no credentials, 401.
    let (status, _) = call(&projects, &event("/sso/v1/projects", "{}", None)).await;
    assert_eq!(status, 401);

    // SSO not configured here: claims are refused, never trusted.
    let plain = alilo_shared::router::gateway_app(alilo_fn_projects::routes(), with_sso(&test, None));
    let (status, refused) = call(&plain, &event("/sso/v1/projects", "{}", claims("admin"))).await;
    assert_eq!(status, 401, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("ALILO_OIDC_ISSUER"), "{refused}");
}

/// Whether the machine's Postgres serves TLS (Debian's default: on, with the
/// snakeoil certificate for `localhost`).
async fn server_tls() -> Option<&'static str> {
    const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    let client = crate::helpers::connect_dsn("postgres://postgres@127.0.0.1:5432/postgres").await;
    let ssl: String = client.query_one("SHOW ssl", &[]).await.ok()?.get(0);
    (ssl == "on" && std::path::Path::new(SNAKEOIL).exists()).then_some(SNAKEOIL)
}

async fn tls_in_use(dsn: &str) -> Result<bool, String> {
    let dsn = Dsn::parse(dsn)?;
    let db = Db::connect(&dsn).map_err(|e| e.to_string())?;
    let conn = db.conn().await.map_err(|e| e.message)?;
    let row = conn
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test]
async fn postgres_connections_use_tls_when_the_dsn_asks() {
    let Some(ca) = server_tls().await else {
        eprintln!("SKIPPED: the local Postgres has ssl=off or no snakeoil certificate");
        return;
    };
    let base = "postgres://postgres@localhost:5432/postgres";
    let by_ip = "postgres://postgres@127.0.0.1:5432/postgres";
    let full = format!("{base}?sslmode=verify-full&sslrootcert={ca}");
    // (DSN, whether TLS is in use or, when refused, words one of which the
    // error holds (none: any error), why)
    type Case = (String, Result<bool, &'static [&'static str]>, &'static str);
    let cases: [Case; 6] = [
        (base.to_string(), Ok(false), "prefer (the default) stays plain"),
        (format!("{base}?sslmode=require"), Ok(true), "require encrypts, checking no certificate"),
        (full.clone(), Ok(true), "the server's certificate names localhost"),
        (
            format!("{by_ip}?sslmode=verify-full&sslrootcert={ca}"),
            Err(&["unavailable", "certificate"]),
            "127.0.0.1 is not a name in the certificate",
        ),
        (format!("{by_ip}?sslmode=verify-ca&sslrootcert={ca}"), Ok(true), "verify-ca checks the chain, not the name"),
        (format!("{base}?sslmode=verify-full"), Err(&[]), "a self-signed certificate is not under the public roots"),
    ];
    for (dsn, want, why) in cases {
        match (tls_in_use(&dsn).await, want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{why}: {dsn}"),
            (Err(err), Err(words)) => {
                assert!(words.is_empty() || words.iter().any(|w| err.contains(w)), "{why}: {dsn}: {err}")
            }
            (got, want) => panic!("{why}: {dsn}: {got:?}, expected {want:?}"),
        }
    }
    // `ensure_database` (alilo-local's first step) goes the same way.
    alilo_shared::db::ensure_database(&Dsn::parse(&full).unwrap()).await.unwrap();
}

#[tokio::test]
async fn secrets_come_from_secrets_manager_at_cold_start() {
    let endpoint = std::env::var("ALILO_TEST_S3_ENDPOINT").expect("ALILO_TEST_S3_ENDPOINT (moto) for this test");
    let aws = [
        ("ALILO_SECRETS_ENDPOINT", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "eu-west-1"),
    ];
    let client = alilo_shared::aws_secrets::client(&aws);
    let id = uuid::Uuid::new_v4().simple().to_string();
    let rds =
        json!({"username": "alilo", "password": "p@ss:w/rd", "host": "db.internal", "port": 6432, "dbname": "alilo"});
    let dsn_arn = client
        .create_secret()
        .name(format!("alilo-dsn-{id}"))
        .secret_string(rds.to_string())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let key_arn = client
        .create_secret()
        .name(format!("alilo-key-{id}"))
        .secret_string("fleet-key-from-the-secret")
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();

    let vars = [
        aws[0],
        aws[1],
        aws[2],
        aws[3],
        ("PG_DSN_SECRET_ARN", dsn_arn.as_str()),
        ("ALILO_AGENT_KEY_SECRET_ARN", key_arn.as_str()),
        ("ALILO_AGENT_KEY", "the plain variable loses"),
        ("PGSSLMODE", "require"),
    ];
    let resolved = alilo_shared::aws_secrets::resolve(&vars).await.unwrap();
    let config = Config::from_vars(&resolved).unwrap();
    assert_eq!(config.dsn.to_string(), "postgres://alilo:***@db.internal:6432/alilo?sslmode=require");
    assert_eq!(config.dsn.config().get_password(), Some(&b"p@ss:w/rd"[..]));
    assert_eq!(config.agent_key.expose(), "fleet-key-from-the-secret");

    let missing = [aws[0], aws[1], aws[2], aws[3], ("PG_DSN_SECRET_ARN", "alilo-no-such-secret")];
    let err = alilo_shared::aws_secrets::resolve(&missing).await.err().expect("an unknown secret is an error");
    assert!(err.starts_with("PG_DSN_SECRET_ARN: cannot read secret \"alilo-no-such-secret\""), "{err}");
}

#[tokio::test]
async fn metrics_need_a_credential_even_from_loopback() {
    let app = spawn_app().await;
    let url = format!("{}/metrics", app.address);
    let anonymous = reqwest::get(&url).await.unwrap();
    assert_eq!(anonymous.status(), 401, "a loopback peer is not trusted for itself");
    let viewer = app.as_role(Role::Viewer, None).await;
    let scraped = viewer.client.get(&url).send().await.unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped.text().await.unwrap().contains("# TYPE"), "Prometheus text");
    let bad = reqwest::Client::new().get(&url).bearer_auth("alilo_not_a_token").send().await.unwrap();
    assert_eq!(bad.status(), 401);
}

/// `cargo run -p alilo-local` stores files in its embedded endpoint (s3s-fs): a
/// second object under a folder (a second report, a second upload into `flows/`)
/// was refused as "object storage is unavailable" (found by docs/check_readme.py).
#[tokio::test]
async fn the_embedded_store_takes_a_second_object_under_a_folder() {
    use alilo_shared::config::{S3Config, Secret};
    use alilo_shared::storage::{ObjectKey, Storage};
    let dir = std::env::temp_dir().join(format!("alilo-embedded-{}", uuid::Uuid::new_v4().simple()));
    let s3 = alilo_local::embedded_s3::start(&dir, 0).await.unwrap();
    let storage = Storage::connect(&S3Config {
        endpoint: Some(s3.endpoint.clone()),
        access_key: Secret::new(s3.access_key.clone()),
        secret_key: Secret::new(s3.secret_key.clone()),
        session_token: None,
        bucket: "alilo".into(),
        secure: false,
        region: "us-east-1".into(),
    })
    .await
    .unwrap();
    for run_id in [1, 2, 1] {
        let key = ObjectKey::RunReport { run_id };
        storage
            .put(&key, b"<html></html>".to_vec(), "text/html")
            .await
            .unwrap_or_else(|e| panic!("run {run_id}: {e:?}"));
    }
    for name in ["flows/a.js", "flows/b.js"] {
        storage
            .put(&ObjectKey::Browser(name.into()), b"export default function () {}".to_vec(), "text/javascript")
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    // A file where a folder is, and a folder where a file is, are still conflicts.
    assert!(storage.put(&ObjectKey::Browser("flows/a.js/x".into()), b"x".to_vec(), "text/plain").await.is_err());
    assert!(storage.put(&ObjectKey::Browser("flows".into()), b"x".to_vec(), "text/plain").await.is_err());
    drop(s3);
    let _ = std::fs::remove_dir_all(dir);
}
