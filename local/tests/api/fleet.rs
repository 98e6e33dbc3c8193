//! Agents that join and leave by themselves (#13): real `alilo-agent serve
//! --register` processes (`alilo-local agent …`, the same library) register
//! with the fleet token, heartbeat, carry runs, and leave on SIGTERM after their
//! jobs drained or moved; one killed with SIGKILL stops heartbeating and the
//! planner skips it.

use crate::helpers::{TestApp, eventually, spawn_app_with};
use crate::runs::Target;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) const FLEET_TOKEN: &str = "fleet-token-for-tests-0123456789";

/// `alilo-local` accepting self-registration, heartbeats every second (so an
/// agent is unhealthy 3 s after its last one).
pub(crate) async fn spawn_fleet_app() -> TestApp {
    spawn_app_with(|s| {
        s.fleet_token = Some(FLEET_TOKEN.into());
        s.fleet_heartbeat_secs = Some(1);
    })
    .await
}

/// A real agent process registering itself with `app`.
pub(crate) struct AgentProcess {
    child: Child,
}

impl AgentProcess {
    pub(crate) fn start(app: &TestApp, tags: &str, extra: &[&str]) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_alilo-local"))
            .args(["agent", "serve", "--bind", "127.0.0.1", "--port", "0", "--workers", "1"])
            .args(["--register", &app.address, "--tags", tags, "--shutdown-grace", "5s"])
            .args(extra)
            .env("ALILO_FLEET_TOKEN", FLEET_TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("alilo-local agent starts");
        Self { child }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal}");
    }

    /// SIGTERM, then the exit (at most `secs`).
    pub(crate) async fn terminate(&mut self, secs: u64) -> std::process::ExitStatus {
        self.signal("-TERM");
        let end = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(tokio::time::Instant::now() < end, "the agent did not exit within {secs} s of SIGTERM");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: no deregistration, no more heartbeats.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

impl TestApp {
    pub(crate) async fn fleet(&self) -> Vec<Value> {
        self.ok("/v1/fleet/agents", json!({})).await["agents"].as_array().unwrap().clone()
    }

    /// The control URL of every job placed so far.
    pub(crate) async fn job_urls(&self) -> Vec<String> {
        let db = crate::helpers::connect_dsn(&self.dsn).await;
        db.query("SELECT base_url FROM jobs", &[]).await.unwrap().iter().map(|r| r.get(0)).collect()
    }

    /// The fleet's agents carrying `tag`, once `check` holds for that list.
    pub(crate) async fn fleet_until(&self, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        eventually(Duration::from_secs(30), what, async || {
            let agents = self.fleet().await;
            check(&agents).then_some(agents)
        })
        .await
    }
}

fn with_tag<'a>(agents: &'a [Value], tag: &str) -> Vec<&'a Value> {
    agents.iter().filter(|a| a["agent"]["tags"].as_array().unwrap().iter().any(|t| t == tag)).collect()
}

/// POST to a fleet route with a bearer.
/// A POST to the fleet routes with `bearer`: its status and JSON answer.
pub(crate) async fn fleet_post(app: &TestApp, path: &str, bearer: &str, body: Value) -> (StatusCode, Value) {
    let client = reqwest::Client::new();
    let r = client.post(format!("{}{path}", app.address)).bearer_auth(bearer).json(&body).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_registers_heartbeats_and_deregisters_on_sigterm() {
    let app = spawn_fleet_app().await;
    let mut agent = AgentProcess::start(&app, "eu, gpu", &["--capacity-rps", "1234"]);
    let agents = app
        .fleet_until("the agent registers and heartbeats", |a| {
            a.len() == 1
                && a[0]["heartbeat_age_secs"].as_f64().is_some_and(|s| s < 3.0)
                && a[0]["agent"]["mem_used"] != 0
        })
        .await;
    let a = &agents[0];
    assert_eq!(
        (a["registered"].as_bool(), a["healthy"].as_bool(), a["draining"].as_bool()),
        (Some(true), Some(true), Some(false)),
        "{a}"
    );
    assert_eq!(a["agent"]["host_name"], "127.0.0.1");
    assert_eq!(a["agent"]["tags"], json!(["eu", "gpu"]));
    assert_eq!(a["agent"]["enabled"], true);
    assert_eq!(a["capacity_rps"], 1234.0);
    assert_eq!(a["version"], env!("CARGO_PKG_VERSION"));
    // The registry (the contract's shape) shows the live figures too.
    let listed = app.ok("/v1/agents", json!({})).await["agents"][0].clone();
    assert!(listed["mem_used"].as_i64().unwrap() > 0, "{listed}");

    // The agent's control API requires the credential the backend derived for it.
    let base = format!("http://127.0.0.1:{}", a["agent"]["port"].as_str().unwrap());
    let credential = app.app_state.agents.credential(&base);
    let client = reqwest::Client::new();
    let answer = client.get(format!("{base}/v1/agent")).bearer_auth(&credential).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let refused = client.get(format!("{base}/v1/agent")).bearer_auth("another").send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    let status = agent.terminate(20).await;
    assert!(status.success(), "{status}");
    assert_eq!(app.count("agents").await, 0, "the agent deregistered itself");
}

#[tokio::test]
async fn registration_needs_the_fleet_token_and_an_address_is_one_row() {
    let app = spawn_fleet_app().await;
    let body = |tags: Value| json!({"host_name": "10.0.0.7", "port": "8888", "tags": tags, "capacity_rps": 500, "version": "0.1.0"});
    let (status, answer) = fleet_post(&app, "/v1/fleet/register", "wrong-token", body(json!(["a"]))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("wrong fleet token"), "{answer}");
    assert_eq!(app.count("agents").await, 0, "a refused registration stores nothing");
    let (status, answer) = app.post("/v1/fleet/register", body(json!(["a"]))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an admin's API token is not the fleet token: {answer}");

    let (status, first) = fleet_post(&app, "/v1/fleet/register", FLEET_TOKEN, body(json!(["a"]))).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["credential"], app.app_state.agents.credential("http://10.0.0.7:8888"));
    assert_eq!(first["heartbeat_secs"], 1);
    let (status, again) = fleet_post(&app, "/v1/fleet/register", FLEET_TOKEN, body(json!(["b", "c"]))).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["agent_id"], first["agent_id"], "the same address is the same agent");
    assert_eq!(app.count("agents").await, 1, "never a second row");
    assert_eq!(app.fleet().await[0]["agent"]["tags"], json!(["b", "c"]), "the registration updated it");

    // Heartbeats and deregistration need that agent's own credential.
    let credential = first["credential"].as_str().unwrap();
    let beat = json!({"host_name": "10.0.0.7", "port": 8888, "cpu_percent": 42.4, "memory_percent": 61.0,
        "in_flight": 17, "active_jobs": 2});
    let (status, answer) = fleet_post(&app, "/v1/fleet/heartbeat", FLEET_TOKEN, beat.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the fleet token is not an agent's credential: {answer}");
    let other = app.app_state.agents.credential("http://10.0.0.8:8888");
    let (status, _) = fleet_post(&app, "/v1/fleet/heartbeat", &other, beat.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "another agent's credential");
    let (status, answer) = fleet_post(&app, "/v1/fleet/heartbeat", credential, beat).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let listed = app.fleet().await[0].clone();
    assert_eq!(
        (
            &listed["agent"]["cpu_used"],
            &listed["agent"]["mem_used"],
            &listed["agent"]["ports_used"],
            &listed["in_flight"]
        ),
        (&json!(42), &json!(61), &json!(17), &json!(17)),
        "{listed}"
    );
    let unknown = json!({"host_name": "10.0.0.8", "port": 8888});
    let (status, _) = fleet_post(&app, "/v1/fleet/heartbeat", &other, unknown).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a heartbeat of an unregistered address: register again");

    // Bad input names the field and stores nothing.
    for (bad, field) in [
        (json!({"host_name": "10.0.0.9", "port": 1, "capacity_rps": 0}), "capacity_rps"),
        (json!({"host_name": "bad host", "port": 1, "capacity_rps": 5}), "host_name"),
        (json!({"host_name": "10.0.0.9", "port": 70000, "capacity_rps": 5}), "port"),
    ] {
        let (status, answer) = fleet_post(&app, "/v1/fleet/register", FLEET_TOKEN, bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(answer["message"].as_str().unwrap().starts_with(field), "{answer}");
    }
    assert_eq!(app.count("agents").await, 1);

    let (status, _) =
        fleet_post(&app, "/v1/fleet/deregister", credential, json!({"host_name": "10.0.0.7", "port": 8888})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.count("agents").await, 0);

    // A manual agent is registered as before, and self-registration needs a token configured.
    app.ok(
        "/v1/agent/set",
        json!({"agent": {"host_name": "10.0.0.1", "port": "8888", "enabled": true, "tags": ["m"]}}),
    )
    .await;
    let off = crate::helpers::spawn_app().await;
    let (status, answer) = fleet_post(&off, "/v1/fleet/register", FLEET_TOKEN, body(json!([]))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("ALILO_FLEET_TOKEN"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_stops_heartbeating_is_skipped_and_a_draining_one_moves_its_share() {
    let app = spawn_fleet_app().await;
    let target = Target::start().await;
    let mut first = AgentProcess::start(&app, "fleet", &["--capacity-rps", "1000", "--drain-timeout", "1s"]);
    app.fleet_until("the first agent is healthy", |a| with_tag(a, "fleet").iter().any(|x| x["healthy"] == true)).await;
    let project = app.create_project("Fleet").await;
    let scenario = app.create_scenario(project, "Self-registered").await;
    app.load_script(scenario, "a", &target, "/a", 20, "fleet").await;
    let run = app.start_run(scenario, 100).await;
    let run_id = run["run_id"].as_i64().unwrap();
    target.until_rates(&["/a"], &[20.0], 30).await;

    // A second agent joins; the first leaves on SIGTERM: its job is stopped
    // after the drain timeout, the controller moves its share, it deregisters.
    let mut second = AgentProcess::start(&app, "fleet", &["--capacity-rps", "1000"]);
    app.fleet_until("two healthy agents", |a| {
        with_tag(a, "fleet").iter().filter(|x| x["healthy"] == true).count() == 2
    })
    .await;
    let status = first.terminate(30).await;
    assert!(status.success(), "{status}");
    let agents = app.fleet().await;
    assert_eq!(agents.len(), 1, "the first agent deregistered: {agents:?}");
    target.until_rates(&["/a"], &[20.0], 30).await;
    let run = app.run(run_id).await;
    let port = agents[0]["agent"]["port"].clone();
    assert_eq!(run["script_runs"][0]["agent"]["port"], port, "the share moved to the second agent: {run}");

    // SIGKILL: no deregistration; three missed heartbeats make it unhealthy and
    // the planner skips it (a new run finds no agent carrying the tag).
    app.ok("/v1/run/stop", json!({"run_id": run_id})).await;
    app.wait_status(run_id, "STATUS_STOPPED_UNSPECIFIED", 20).await;
    second.kill();
    let agents = app.fleet_until("the killed agent is unhealthy", |a| a.len() == 1 && a[0]["healthy"] == false).await;
    assert!(agents[0]["heartbeat_age_secs"].as_f64().unwrap() >= 3.0, "{:?}", agents[0]);
    app.fails("/v1/run/start", json!({"scenario_id": scenario, "percentage_of_target": 100}), 422, "\"fleet\"").await;
}

/// The run's change log lines written by the fleet.
async fn fleet_notes(app: &TestApp, run_id: i64) -> Vec<String> {
    crate::helpers::connect_dsn(&app.dsn)
        .await
        .query("SELECT what FROM run_changes WHERE run_id = $1 AND who = 'fleet' ORDER BY id", &[&run_id])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_fleet_starts_agents_for_a_run_says_when_it_cannot_and_shrinks_when_quiet() {
    let app = spawn_app_with(|s| {
        s.fleet = Some("local".into());
        s.fleet_max = Some(1);
        s.fleet_agent_rps = Some(10.0);
        s.fleet_quiet_secs = Some(2);
        s.fleet_heartbeat_secs = Some(1);
        s.fleet_agent_exe = Some(env!("CARGO_BIN_EXE_alilo-local").into());
    })
    .await;
    let target = Target::start().await;
    let project = app.create_project("Local fleet").await;
    let first = app.create_scenario(project, "Tagged").await;
    app.load_script(first, "x", &target, "/x", 8, "x").await;
    assert_eq!(app.count("agents").await, 0, "no agent before the run");

    // 8 rps with headroom is 10: one agent of 10 rps, started and registered before planning.
    let run = app.start_run(first, 100).await;
    let run_id = run["run_id"].as_i64().unwrap();
    let notes = fleet_notes(&app, run_id).await;
    assert!(notes.len() == 1 && notes[0].starts_with("fleet local: started 1 agent(s) for tag \"x\""), "{notes:?}");
    assert_eq!(run["script_runs"][0]["agent"]["tags"], json!(["x"]), "{run}");
    target.until_rates(&["/x"], &[8.0], 30).await;

    // A second run wants 25 rps of any agent: the fleet is at its maximum, so
    // the run says why and starts on the agent already there.
    let second = app.create_scenario(project, "Untagged").await;
    app.load_script(second, "any", &target, "/any", 20, "").await;
    let run2 = app.start_run(second, 100).await;
    let run2_id = run2["run_id"].as_i64().unwrap();
    let notes = fleet_notes(&app, run2_id).await;
    assert!(
        notes.len() == 1 && notes[0].contains("the fleet cannot grow") && notes[0].contains("ALILO_FLEET_MAX=1"),
        "{notes:?}"
    );
    assert_eq!(run2["script_runs"][0]["agent"]["port"], run["script_runs"][0]["agent"]["port"]);
    target.until_rates(&["/any"], &[20.0], 30).await;

    // No run for the quiet period: the agent is told to leave and deregisters.
    for id in [run_id, run2_id] {
        app.ok("/v1/run/stop", json!({"run_id": id})).await;
        app.wait_status(id, "STATUS_STOPPED_UNSPECIFIED", 20).await;
    }
    eventually(Duration::from_secs(40), "the quiet fleet shrinks to no agent", async || {
        (app.count("agents").await == 0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_required_the_local_fleet_starts_agents_serving_derived_certificates() {
    let app = spawn_app_with(|s| {
        s.fleet = Some("local".into());
        s.fleet_max = Some(1);
        s.fleet_agent_rps = Some(10.0);
        s.fleet_heartbeat_secs = Some(1);
        s.fleet_agent_exe = Some(env!("CARGO_BIN_EXE_alilo-local").into());
        s.agent_tls_required = true;
    })
    .await;
    let target = Target::start().await;
    let scenario = app.new_scenario("Local fleet over TLS").await;
    app.load_script(scenario, "x", &target, "/tls", 8, "x").await;
    let run_id = app.start_run(scenario, 100).await["run_id"].as_i64().unwrap();
    target.until_rates(&["/tls"], &[8.0], 30).await;
    let agents = app.fleet().await;
    assert!(agents.len() == 1 && agents[0]["agent"]["tls_pin"].as_str().is_some_and(|p| p.starts_with("sha256:")));
    let jobs = app.job_urls().await;
    assert!(!jobs.is_empty() && jobs.iter().all(|u| u.starts_with("https://")), "{jobs:?}");
    app.ok("/v1/run/stop", json!({"run_id": run_id})).await;
    app.wait_status(run_id, "STATUS_STOPPED_UNSPECIFIED", 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_agent_is_healthy_in_the_fleet_listing_only_while_it_answers() {
    let app = crate::helpers::spawn_app().await;
    let mut live = app.start_agent("manual").await;
    // An address where nothing listens.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    app.register_agent_at(dead, "manual").await;
    let health = |agents: &[Value], port: u16| -> Option<bool> {
        agents
            .iter()
            .find(|a| a["agent"]["port"].as_str() == Some(port.to_string().as_str()))
            .and_then(|a| a["healthy"].as_bool())
    };
    let agents = app.fleet().await;
    assert_eq!((health(&agents, live.port), health(&agents, dead)), (Some(true), Some(false)), "{agents:?}");
    assert!(agents.iter().all(|a| a["registered"] == false));

    // It stops answering: the next listing says so.
    live.kill().await;
    let agents = app.fleet().await;
    assert_eq!(health(&agents, live.port), Some(false), "{agents:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ecs_fleet_sets_the_service_s_desired_count_and_says_when_it_cannot_grow() {
    use alilo_shared::control::fleet::{Fleet, FleetError};
    use alilo_shared::control::fleet_ecs::{EcsAccess, EcsFleet};
    // moto's server implements ECS; CI runs it for S3 already.
    let Ok(endpoint) = std::env::var("ALILO_TEST_ECS_ENDPOINT").or_else(|_| std::env::var("ALILO_TEST_S3_ENDPOINT"))
    else {
        eprintln!("SKIPPED: set ALILO_TEST_ECS_ENDPOINT (or ALILO_TEST_S3_ENDPOINT) to a moto server");
        return;
    };
    let app = spawn_fleet_app().await;
    let access = EcsAccess {
        region: "us-east-1".into(),
        endpoint: Some(endpoint),
        access_key: "test".into(),
        secret_key: "test".into(),
        session_token: None,
    };
    let cluster = format!("alilo-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let config = |service: &str| alilo_shared::config::FleetConfig {
        provider: alilo_shared::config::FleetProvider::Ecs,
        min: 0,
        max: 3,
        agent_rps: 100.0,
        wait: Duration::from_secs(3),
        ecs_cluster: cluster.clone(),
        ecs_service: service.into(),
        ..Default::default()
    };
    let expiry = Duration::from_secs(60);
    let fleet = EcsFleet::new(&access, &config("agents"), app.app_state.db.clone(), expiry);
    let ecs = fleet.client();
    ecs.create_cluster().cluster_name(&cluster).send().await.expect("moto creates the cluster");
    let container =
        aws_sdk_ecs::types::ContainerDefinition::builder().name("agent").image("alilo-agent").memory(512).build();
    ecs.register_task_definition().family("alilo-agent").container_definitions(container).send().await.unwrap();
    ecs.create_service()
        .cluster(&cluster)
        .service_name("agents")
        .task_definition("alilo-agent")
        .desired_count(0)
        .send()
        .await
        .unwrap();

    // The tasks' agents register when the service asks for them (moto runs no container).
    let watcher = {
        let (client, address) = (fleet.client().clone(), app.address.clone());
        let cluster = cluster.clone();
        tokio::spawn(async move {
            let mut registered = 0;
            for _ in 0..200 {
                let out = client.describe_services().cluster(&cluster).services("agents").send().await.unwrap();
                let desired = out.services()[0].desired_count();
                while registered < desired.min(2) {
                    registered += 1;
                    let body = json!({"host_name": format!("10.0.1.{registered}"), "port": 8888, "tags": ["ecs"],
                        "capacity_rps": 100, "version": "0.1.0"});
                    let r = reqwest::Client::new()
                        .post(format!("{address}/v1/fleet/register"))
                        .bearer_auth(FLEET_TOKEN)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), StatusCode::OK);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    // 150 rps at 100 per agent: two tasks, both registered in time.
    let offer = fleet.ensure(150.0, "ecs").await.expect("the fleet grows");
    assert_eq!((offer.started, offer.agents, offer.capacity_rps), (2, 2, 200.0), "{offer:?}");
    assert_eq!(fleet.desired_count().await.unwrap(), 2);
    let again = fleet.ensure(150.0, "ecs").await.unwrap();
    assert_eq!(again.started, 0, "enough already: nothing asked of ECS");

    // 1,000 rps: the service is raised to its maximum of 3, whose task never registers.
    let err = fleet.ensure(1000.0, "ecs").await.unwrap_err();
    assert!(matches!(&err, FleetError::Slow(m) if m.contains("0 of 1 new ECS task(s)")), "{err}");
    assert_eq!(fleet.desired_count().await.unwrap(), 3);
    let err = fleet.ensure(1000.0, "ecs").await.unwrap_err();
    assert!(matches!(&err, FleetError::NoCapacity(m) if m.contains("ALILO_FLEET_MAX=3")), "{err}");

    fleet.release().await.unwrap();
    assert_eq!(fleet.desired_count().await.unwrap(), 0, "released to the minimum");
    watcher.abort();

    let missing = EcsFleet::new(&access, &config("no-such-service"), app.app_state.db.clone(), expiry);
    let err = missing.ensure(150.0, "other").await.unwrap_err();
    assert!(matches!(&err, FleetError::Failed(m) if m.contains("no-such-service")), "{err}");
}
