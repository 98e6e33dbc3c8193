//! The agents' control API over TLS with a pinned certificate (#10): real
//! `alilo-agent serve --tls-cert/--tls-key` processes on loopback carry runs
//! for a backend that pinned their certificate (given by an admin, or reported
//! at self-registration); a host presenting another certificate at a pinned
//! address is refused before any request, so it never sees a credential.

use crate::fleet::{AgentProcess, spawn_fleet_app};
use crate::helpers::{TestApp, eventually, spawn_app};
use crate::runs::Target;
use alilo_agent_api::CertPins;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A self-signed certificate for 127.0.0.1 written as PEM files, and its pin.
struct CertFiles {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    pin: String,
    der: Vec<u8>,
    key_der: Vec<u8>,
}

impl CertFiles {
    fn new() -> Self {
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        let dir = std::env::temp_dir().join(format!("alilo-tls-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("agent.crt"), dir.join("agent.key"));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        let pin = CertPins::of_der(ck.cert.der()).to_string();
        Self { dir, cert, key, pin, der: ck.cert.der().to_vec(), key_der: ck.signing_key.serialize_der() }
    }

    /// `--tls-cert FILE --tls-key FILE`.
    fn args(&self) -> Vec<String> {
        vec!["--tls-cert".into(), path(&self.cert), "--tls-key".into(), path(&self.key)]
    }

    /// A rustls server configuration serving this certificate.
    fn server_config(&self) -> std::sync::Arc<rustls::ServerConfig> {
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(self.key_der.clone().into());
        let cfg =
            rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![self.der.clone().into()], key)
                .unwrap();
        std::sync::Arc::new(cfg)
    }
}

impl Drop for CertFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path(p: &std::path::Path) -> String {
    p.to_str().unwrap().to_string()
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A real `alilo-agent serve` process (through `alilo-local agent`) on `port`
/// with the backend's credential for that port, serving TLS.
struct TlsAgent {
    child: Child,
}

impl TlsAgent {
    /// `tls`: `--tls-cert …` or `--tls-derived`.
    async fn start(app: &TestApp, port: u16, tls: &[String]) -> Self {
        let credential = app.app_state.agents.credential(&format!("http://127.0.0.1:{port}"));
        let child = Command::new(env!("CARGO_BIN_EXE_alilo-local"))
            .args(["agent", "serve", "--bind", "127.0.0.1", "--port", &port.to_string(), "--workers", "1"])
            .args(tls)
            .env("ALILO_AGENT_TOKEN", credential)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("alilo-local agent starts");
        eventually(Duration::from_secs(20), "the TLS agent listens", async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()
        })
        .await;
        Self { child }
    }
}

impl Drop for TlsAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The run's change log.
async fn changes(app: &TestApp, run_id: i64) -> Vec<String> {
    crate::helpers::connect_dsn(&app.dsn)
        .await
        .query("SELECT what FROM run_changes WHERE run_id = $1 ORDER BY id", &[&run_id])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A scenario with one script sending `rps` to `path` of `target` on agents tagged `tag`, started.
async fn start_load(app: &TestApp, target: &Target, tag: &str, path: &str, rps: u32) -> i64 {
    let project = app.create_project("TLS").await;
    let scenario = app.create_scenario(project, "Pinned agents").await;
    app.load_script(scenario, "a", target, path, rps, tag).await;
    app.start_run(scenario, 100).await["run_id"].as_i64().unwrap()
}

fn agent_body(port: u16, tag: &str, tls_pin: Option<&str>) -> Value {
    let mut agent = json!({"host_name": "127.0.0.1", "port": port.to_string(), "enabled": true, "tags": [tag]});
    if let Some(pin) = tls_pin {
        agent["tls_pin"] = json!(pin);
    }
    json!({ "agent": agent })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_serving_tls_carries_a_run_for_the_pin_an_admin_gave() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let cert = CertFiles::new();
    let port = free_port();
    let _agent = TlsAgent::start(&app, port, &cert.args()).await;
    // The pin as `openssl x509 -fingerprint -sha256` prints it: stored canonical.
    let openssl = cert.pin["sha256:".len()..]
        .to_ascii_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    let id = app.ok("/v1/agent/set", agent_body(port, "tls", Some(&openssl))).await["agent_id"].as_i64().unwrap();
    let listed = app.ok("/v1/agent", json!({"agent_id": id})).await["agent"].clone();
    assert_eq!(listed["tls_pin"], cert.pin.as_str(), "{listed}");

    let run_id = start_load(&app, &target, "tls", "/tls", 20).await;
    target.until_rates(&["/tls"], &[20.0], 30).await;
    let run = app.stop_and_wait(run_id).await;
    assert_eq!(run["status"], "STATUS_STOPPED_UNSPECIFIED", "{run}");
    let log = changes(&app, run_id).await;
    assert!(!log.iter().any(|c| c.contains("not trusted")), "{log:?}");

    // The control port speaks only TLS: a plain-http call gets no answer.
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/v1/agent")).send().await;
    assert!(plain.is_err(), "{plain:?}");

    // An update without the field (the original UI's body) keeps the pin; "" removes it.
    let mut update = agent_body(port, "tls", None);
    update["agent"]["agent_id"] = json!(id);
    app.ok("/v1/agent/update", update.clone()).await;
    assert_eq!(app.ok("/v1/agent", json!({"agent_id": id})).await["agent"]["tls_pin"], cert.pin.as_str());
    update["agent"]["tls_pin"] = json!("");
    app.ok("/v1/agent/update", update).await;
    let agent = app.ok("/v1/agent", json!({"agent_id": id})).await["agent"].clone();
    assert!(agent.get("tls_pin").is_none(), "{agent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_with_another_certificate_at_a_pinned_address_is_refused_and_sees_no_request() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let (pinned, other) = (CertFiles::new(), CertFiles::new());
    // A TLS listener that records every request it decrypts, serving a certificate
    // that is not the pinned one.
    let impostor = alilo_agent::target::Target::start(
        "127.0.0.1:0".parse().unwrap(),
        alilo_agent::target::TargetConfig {
            tls: Some(other.server_config()),
            keep_requests: 100,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let port = impostor.addr.port();
    app.ok("/v1/agent/set", agent_body(port, "trap", Some(&pinned.pin))).await;
    let run_id = start_load(&app, &target, "trap", "/never", 5).await;

    let refusal = eventually(Duration::from_secs(30), "the change log says the agent is not trusted", async || {
        changes(&app, run_id).await.into_iter().find(|c| c.contains("not trusted"))
    })
    .await;
    assert!(
        refusal.contains(&format!("https://127.0.0.1:{port}"))
            && refusal.contains(&other.pin)
            && refusal.contains(&pinned.pin)
            && refusal.contains("nothing was sent"),
        "{refusal}"
    );
    assert!(impostor.stats.connections.load(Ordering::Relaxed) > 0, "the backend did try the address");
    assert_eq!(impostor.stats.requests.load(Ordering::Relaxed), 0, "no request, so no bearer, reached the impostor");
    assert!(impostor.stats.received.lock().unwrap().is_empty());
    assert_eq!(target.total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_registered_agent_reports_its_pin_and_is_called_over_tls() {
    let app = spawn_fleet_app().await;
    let target = Target::start().await;
    let cert = CertFiles::new();
    let mut extra = cert.args();
    extra.extend(["--capacity-rps".into(), "1000".into()]);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut agent = AgentProcess::start(&app, "selftls", &extra);
    let agents = app.fleet_until("the TLS agent registers", |a| a.len() == 1 && a[0]["healthy"] == true).await;
    assert_eq!(agents[0]["agent"]["tls_pin"], cert.pin.as_str(), "{}", agents[0]);

    let run_id = start_load(&app, &target, "selftls", "/self", 20).await;
    target.until_rates(&["/self"], &[20.0], 30).await;
    app.stop_and_wait(run_id).await;
    let status = agent.terminate(20).await;
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_with_derived_certificates_need_no_pin_configured() {
    let app = spawn_fleet_app().await;
    let target = Target::start().await;
    let derived_pin = |port: &str| {
        let credential = app.app_state.agents.credential(&format!("http://127.0.0.1:{port}"));
        CertPins::of_der(&alilo_agent_api::pin::derived_certificate(&credential).0).to_string()
    };
    // A manual agent started with its credential; the admin says "derived".
    let port = free_port();
    let _manual = TlsAgent::start(&app, port, &["--tls-derived".to_string()]).await;
    let id = app.ok("/v1/agent/set", agent_body(port, "manual", Some("derived"))).await["agent_id"].clone();
    let manual = app.ok("/v1/agent", json!({"agent_id": id})).await["agent"].clone();
    assert_eq!(manual["tls_pin"], derived_pin(&port.to_string()), "{manual}");
    // A self-registered one reports "derived"; the backend computes its pin.
    let _registered = AgentProcess::start(&app, "registered", &["--tls-derived", "--capacity-rps", "1000"]);
    let agents = app.fleet_until("the derived agent registers", |a| a.len() == 2).await;
    let registered = agents.iter().find(|a| a["registered"] == true).unwrap();
    let port = registered["agent"]["port"].as_str().unwrap();
    assert_eq!(registered["agent"]["tls_pin"], derived_pin(port), "{registered}");

    // A run with a script on each, over TLS.
    let project = app.create_project("Derived").await;
    let scenario = app.create_scenario(project, "Derived certificates").await;
    app.load_script(scenario, "m", &target, "/m", 10, "manual").await;
    app.load_script(scenario, "r", &target, "/r", 10, "registered").await;
    let run_id = app.start_run(scenario, 100).await["run_id"].as_i64().unwrap();
    target.until_rates(&["/m", "/r"], &[10.0, 10.0], 30).await;
    let run = app.run(run_id).await;
    assert_eq!(run["status"], "STATUS_RUNNING", "{run}");
    let jobs = crate::helpers::connect_dsn(&app.dsn)
        .await
        .query("SELECT base_url, tls_pin FROM jobs", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, Option<String>>(1)))
        .collect::<Vec<_>>();
    assert!(jobs.len() == 2 && jobs.iter().all(|(url, pin)| url.starts_with("https://") && pin.is_some()), "{jobs:?}");
    app.stop_and_wait(run_id).await;
}

#[tokio::test]
async fn malformed_pins_and_missing_certificate_files_are_named() {
    let app = spawn_fleet_app().await;
    let answer = app.fails("/v1/agent/set", agent_body(8888, "x", Some("sha256:abc")), 422, "agent.tls_pin").await;
    assert!(answer["message"].as_str().unwrap().contains("\"sha256:abc\""), "{answer}");
    assert_eq!(app.count("agents").await, 0, "nothing stored");
    let registration = json!({"host_name": "10.0.0.7", "port": "8888", "capacity_rps": 5, "tls_pin": "md5:00"});
    let (status, body) =
        crate::fleet::fleet_post(&app, "/v1/fleet/register", crate::fleet::FLEET_TOKEN, registration).await;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["message"].as_str().unwrap().starts_with("tls_pin"), "{body}");

    // The agent refuses to start, naming the flag and the file.
    let serve = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_alilo-local"))
            .args(["agent", "serve", "--bind", "127.0.0.1", "--port", "0", "--insecure-no-auth"])
            .args(args)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, err) = serve(&["--tls-cert", "/nonexistent/agent.crt", "--tls-key", "/nonexistent/agent.key"]);
    assert!(!ok && err.contains("--tls-cert /nonexistent/agent.crt"), "{err}");
    let (ok, err) = serve(&["--tls-cert", "/nonexistent/agent.crt"]);
    assert!(!ok && err.contains("--tls-key"), "{err}");
    let (ok, err) = serve(&["--tls-derived"]);
    assert!(!ok && err.contains("--tls-derived") && err.contains("ALILO_AGENT_TOKEN"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_required_agents_without_a_pin_are_refused_and_get_no_work() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.fleet_token = Some(crate::fleet::FLEET_TOKEN.into());
        s.agent_tls_required = true;
    })
    .await;
    // Added by hand or self-registering without a pin: 422 naming the field, nothing stored.
    app.fails("/v1/agent/set", agent_body(8888, "plain", None), 422, "agent.tls_pin").await;
    app.fails("/v1/agent/set", agent_body(8888, "plain", Some("")), 422, "ALILO_AGENT_TLS_REQUIRED").await;
    let registration = json!({"host_name": "10.0.0.7", "port": "8888", "capacity_rps": 5});
    let (status, body) =
        crate::fleet::fleet_post(&app, "/v1/fleet/register", crate::fleet::FLEET_TOKEN, registration).await;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with("tls_pin") && message.contains("ALILO_AGENT_TLS_REQUIRED"), "{body}");
    assert_eq!(app.count("agents").await, 0, "nothing stored");

    // A pinned agent is accepted; removing its pin is not, keeping it (no field) is.
    let id = app.ok("/v1/agent/set", agent_body(9999, "pinned", Some("derived"))).await["agent_id"].clone();
    let mut update = agent_body(9999, "pinned", Some(""));
    update["agent"]["agent_id"] = id.clone();
    app.fails("/v1/agent/update", update.clone(), 422, "agent.tls_pin").await;
    update["agent"].as_object_mut().unwrap().remove("tls_pin");
    app.ok("/v1/agent/update", update).await;
    assert!(app.ok("/v1/agent", json!({"agent_id": id})).await["agent"]["tls_pin"].is_string());

    // An agent stored without a pin before the switch, at a listener that records
    // every connection: no run is planned on it, and it is never called.
    let listener = alilo_agent::target::Target::start(
        "127.0.0.1:0".parse().unwrap(),
        alilo_agent::target::TargetConfig { keep_requests: 100, ..Default::default() },
    )
    .await
    .unwrap();
    crate::helpers::connect_dsn(&app.dsn)
        .await
        .execute(
            "INSERT INTO agents (host_name, port, enabled, tags) VALUES ('127.0.0.1', $1, TRUE, ARRAY['plain'])",
            &[&i32::from(listener.addr.port())],
        )
        .await
        .unwrap();
    let target = Target::start().await;
    let scenario = app.new_scenario("Plain agent").await;
    app.load_script(scenario, "a", &target, "/plain", 5, "plain").await;
    let refused = app
        .fails(
            "/v1/run/start",
            json!({"scenario_id": scenario, "percentage_of_target": 100, "user_name": "alice"}),
            422,
            "ALILO_AGENT_TLS_REQUIRED",
        )
        .await;
    assert!(refused["message"].as_str().unwrap().contains("\"plain\""), "{refused}");
    // A few controller passes later, still nothing reached it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(listener.stats.connections.load(Ordering::Relaxed), 0, "the plain agent was called");
    assert_eq!(target.total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_required_the_local_agent_serves_its_derived_certificate_and_carries_a_run() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.no_agent = false;
        s.agent_tls_required = true;
    })
    .await;
    let agents = app.ok("/v1/agents", json!({})).await;
    let local = agents["agents"][0].clone();
    let port = local["port"].as_str().unwrap();
    let credential = app.app_state.agents.credential(&format!("http://127.0.0.1:{port}"));
    let derived = CertPins::of_der(&alilo_agent_api::pin::derived_certificate(&credential).0).to_string();
    assert_eq!(local["tls_pin"], derived.as_str(), "{agents}");

    let target = Target::start().await;
    let run_id = start_load(&app, &target, "local", "/local", 20).await;
    target.until_rates(&["/local"], &[20.0], 30).await;
    let jobs = app.job_urls().await;
    assert!(jobs.iter().all(|u| u.starts_with("https://127.0.0.1:")) && !jobs.is_empty(), "{jobs:?}");
    app.stop_and_wait(run_id).await;
}
