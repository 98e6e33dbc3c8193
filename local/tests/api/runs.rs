//! Runs end to end (issue 5): real agents (the `alilo-agent` server, in process on
//! loopback ports) send real HTTP to a real target server that counts what it
//! receives, while `alilo-local`'s controller timer reconciles.
//!
//! Rates are small (20–60 rps) and tolerances generous (±25 %): CI is a loaded
//! 2-core machine.

use crate::helpers::{TestApp, connect_dsn, eventually, spawn_app};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A target that counts the requests it receives per path.
pub(crate) struct Target {
    pub(crate) addr: std::net::SocketAddr,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl Target {
    pub(crate) async fn start() -> Self {
        Self::start_redirecting("", "").await
    }

    /// A target that answers `from` with a 302 to `to` (counted like any path).
    pub(crate) async fn start_redirecting(from: &str, to: &str) -> Self {
        use axum::response::IntoResponse;
        let counts: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
        let seen = counts.clone();
        let (from, to) = (from.to_string(), to.to_string());
        let router = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let seen = seen.clone();
            let redirect = (!from.is_empty() && uri.path() == from).then(|| to.clone());
            async move {
                *seen.lock().unwrap().entry(uri.path().to_string()).or_default() += 1;
                match redirect {
                    Some(to) => (axum::http::StatusCode::FOUND, [(axum::http::header::LOCATION, to)]).into_response(),
                    None => "ok".into_response(),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { addr, counts }
    }

    pub(crate) fn count(&self, path: &str) -> u64 {
        self.counts.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// The paths under `prefix` requested so far.
    pub(crate) fn paths_under(&self, prefix: &str) -> Vec<String> {
        self.counts.lock().unwrap().keys().filter(|p| p.starts_with(prefix)).cloned().collect()
    }

    pub(crate) fn total(&self) -> u64 {
        self.counts.lock().unwrap().values().sum()
    }

    /// Polls 2-second windows until each path's rate is near `want`; fails
    /// after `secs` with the last rates seen.
    pub(crate) async fn until_rates(&self, paths: &[&str], want: &[f64], secs: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.rates(paths, 2.0).await;
            if got.iter().zip(want).all(|(g, w)| near(*g, *w)) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "rates of {paths:?}: got {got:?}, want {want:?} (±25 %)");
        }
    }

    /// Requests per second each path received over `secs`.
    async fn rates(&self, paths: &[&str], secs: f64) -> Vec<f64> {
        let before: Vec<u64> = paths.iter().map(|p| self.count(p)).collect();
        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        #[allow(clippy::cast_precision_loss)]
        paths.iter().zip(before).map(|(p, b)| (self.count(p) - b) as f64 / secs).collect()
    }
}

/// A real agent on a loopback port; `kill` shuts it down like SIGTERM would.
pub(crate) struct Agent {
    pub(crate) port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Agent {
    pub(crate) async fn start() -> Self {
        let server = alilo_agent::api::Server::bind(alilo_agent::api::ServeConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            token: None,
            insecure_no_auth: true,
            workers: 1,
            shutdown_grace: Duration::from_millis(0),
            drain_timeout: Duration::ZERO,
            tls: None,
        })
        .await
        .unwrap();
        let port = server.local_addr().port();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run_until_stopped(async move {
            let _ = rx.await;
        }));
        Self { port, stop: Some(tx), task: Some(task) }
    }

    pub(crate) async fn kill(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

impl TestApp {
    /// A real agent started on a loopback port and registered with `tag`.
    pub(crate) async fn start_agent(&self, tag: &str) -> Agent {
        let agent = Agent::start().await;
        self.register_agent(&agent, tag).await;
        agent
    }

    pub(crate) async fn register_agent(&self, agent: &Agent, tag: &str) -> i64 {
        self.register_agent_at(agent.port, tag).await
    }

    /// An agent reached at a loopback port (e.g. through a proxy).
    pub(crate) async fn register_agent_at(&self, port: u16, tag: &str) -> i64 {
        let body =
            json!({"agent": {"host_name": "127.0.0.1", "port": port.to_string(), "enabled": true, "tags": [tag]}});
        self.ok("/v1/agent/set", body).await["agent_id"].as_i64().unwrap()
    }

    /// A simple script calling `path` on the target at `rps` for 2 minutes.
    pub(crate) async fn load_script(
        &self,
        scenario_id: i64,
        name: &str,
        target: &Target,
        path: &str,
        rps: u32,
        tag: &str,
    ) -> i64 {
        self.load_script_for(scenario_id, name, target, path, rps, tag, "2m").await
    }

    /// [`Self::load_script`] for `duration`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn load_script_for(
        &self,
        scenario_id: i64,
        name: &str,
        target: &Target,
        path: &str,
        rps: u32,
        tag: &str,
        duration: &str,
    ) -> i64 {
        let body = json!({"simple_script": {
            "scenario_id": scenario_id, "name": name, "enabled": true, "tag": tag,
            "path": format!("{}{path}", target.addr), "scheme": "http", "http_method": "get",
            "rps": rps.to_string(), "steps": "1", "duration": duration, "max_v_us": "50"
        }});
        self.ok("/v1/simple-script/create", body).await["simple_script_id"].as_i64().unwrap()
    }

    pub(crate) async fn start_run(&self, scenario_id: i64, percentage: i32) -> Value {
        let body = json!({"scenario_id": scenario_id, "percentage_of_target": percentage, "user_name": "alice"});
        self.ok("/v1/run/start", body).await["run"].clone()
    }

    pub(crate) async fn run(&self, run_id: i64) -> Value {
        self.ok("/v1/run", json!({"run_id": run_id})).await["run"].clone()
    }

    /// Ask the run to stop and wait until it has (at most 15 s).
    pub(crate) async fn stop_and_wait(&self, run_id: i64) -> Value {
        self.ok("/v1/run/stop", json!({"run_id": run_id})).await;
        self.wait_status(run_id, "STATUS_STOPPED_UNSPECIFIED", 15).await
    }

    /// Wait until the run has `status` (at most `secs`).
    pub(crate) async fn wait_status(&self, run_id: i64, status: &str, secs: u64) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let run = self.run(run_id).await;
            if run["status"] == status || tokio::time::Instant::now() > deadline {
                assert_eq!(run["status"], status, "{run}");
                return run;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn near(got: f64, want: f64) -> bool {
    (got - want).abs() <= want * 0.25 + 2.0
}

fn assert_rates(got: &[f64], want: &[f64], what: &str) {
    for (g, w) in got.iter().zip(want) {
        assert!(near(*g, *w), "{what}: got {got:?}, want {want:?} (±25 %)");
    }
}

impl Target {
    /// Measure the paths' rates over 2 s windows until they are near `want`
    /// (at most 20 s): a change takes effect when it does, with no guessed wait.
    pub(crate) async fn wait_rates(&self, paths: &[&str], want: &[f64], what: &str) {
        let end = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.rates(paths, 2.0).await;
            if got.iter().zip(want).all(|(g, w)| near(*g, *w)) {
                return;
            }
            assert!(tokio::time::Instant::now() < end, "{what}: got {got:?}, want {want:?} (±25 %) for 20 s");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_runs_on_two_agents_follows_changes_and_stops_cleanly() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let (a1, a2) = (Agent::start().await, Agent::start().await);
    app.register_agent(&a1, "lt").await;
    app.register_agent(&a2, "lt").await;
    let scenario = app.new_scenario("Checkout").await;
    app.load_script(scenario, "a", &target, "/a", 40, "lt").await;
    app.load_script(scenario, "b", &target, "/b", 20, "lt").await;
    let c = app.load_script(scenario, "c", &target, "/c", 20, "lt").await;
    let paths = ["/a", "/b", "/c"];

    let run = app.start_run(scenario, 100).await;
    let run_id = run["run_id"].as_i64().unwrap();
    assert_eq!(run["user_name"], "token:test-admin", "the caller, never the body's user_name");
    assert_eq!(run["script_runs"].as_array().unwrap().len(), 3);
    assert_eq!(run["script_runs"][0]["pid"], "-1");
    assert!(run["script_runs"][0]["script"].is_null() && run["script_runs"][0]["simple_script"].is_object());
    // Least-loaded first: a (40) on one agent, b and c (20 each) on the other.
    let agents: Vec<&str> =
        run["script_runs"].as_array().unwrap().iter().map(|s| s["agent"]["port"].as_str().unwrap()).collect();
    assert_ne!(agents[0], agents[1]);
    assert_eq!(agents[1], agents[2]);
    app.wait_status(run_id, "STATUS_RUNNING", 5).await;

    target.wait_rates(&paths, &[40.0, 20.0, 20.0], "100 %").await;
    assert_rates(&target.rates(&paths, 3.0).await, &[40.0, 20.0, 20.0], "100 %, steady");
    let rps: f64 = app.ok("/v1/run/rps", json!({"run_id": run_id})).await["rps"].as_str().unwrap().parse().unwrap();
    assert!(near(rps, 80.0), "current rps {rps}");
    let level = app.ok("/v1/run/is-change-loadlevel", json!({"run_id": run_id})).await;
    assert_eq!((level["current_level"].as_i64(), level["can_change"].as_bool()), (Some(100), Some(true)));

    app.ok("/v1/run/adjustment", json!({"run_id": run_id, "adjustment_on_percent": 50, "user_name": "bob"})).await;
    target.wait_rates(&paths, &[20.0, 10.0, 10.0], "50 %").await;
    let who: String = crate::helpers::connect_dsn(&app.dsn)
        .await
        .query_one("SELECT who FROM run_changes WHERE run_id = $1 AND percentage = 50", &[&run_id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(who, "token:test-admin", "the change is the caller's, not the body's \"bob\"");

    app.ok("/v1/run/adjustment", json!({"run_id": run_id, "adjustment_on_percent": 150})).await;
    target.wait_rates(&paths, &[60.0, 30.0, 30.0], "150 %").await;

    app.ok("/v1/run/increase/simple-script", json!({"run_id": run_id, "simple_script_id": c, "increase_by_rps": 20}))
        .await;
    let b_run = run["script_runs"][1]["run_script_id"].as_i64().unwrap();
    let stopped = app.ok("/v1/run/stop/script-run", json!({"run_id": run_id, "run_script_id": b_run})).await;
    assert_eq!(stopped["run"]["run_script_id"], b_run);
    target.wait_rates(&paths, &[60.0, 0.0, 50.0], "b stopped, c +20").await;

    let run = app.run(run_id).await;
    assert_eq!(run["percentage_of_target"], 150);
    let a_metrics = eventually(Duration::from_secs(10), "a's live rps near 60", async || {
        let run = app.run(run_id).await;
        let m = run["script_runs"][0]["metrics"].clone();
        near(m["rps"].as_str()?.parse().ok()?, 60.0).then_some(m)
    })
    .await;
    assert_ne!(a_metrics["rt95p"], "0.00", "{a_metrics}");

    let stop = app.ok("/v1/run/stop", json!({"run_id": run_id})).await;
    assert!(["STATUS_STOPPING", "STATUS_STOPPED_UNSPECIFIED"].contains(&stop["run"]["status"].as_str().unwrap()));
    app.wait_status(run_id, "STATUS_STOPPED_UNSPECIFIED", 10).await;
    let after = target.total();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(target.total(), after, "requests reached the target after the run stopped");

    // Every change is recorded with who and what; the summary and time series have the numbers.
    assert!(app.count("run_changes").await >= 6);
    let summary = app.ok("/v1/run/summary", json!({"run_id": run_id})).await;
    assert!(summary["total"]["requests"].as_i64().unwrap() > 300, "{summary}");
    let series = app.ok("/v1/run/metrics", json!({"run_id": run_id, "step": 2})).await;
    assert!(series["total"].as_array().unwrap().len() >= 4, "{series}");
    assert_eq!(series["scripts"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_agent_s_share_moves_to_the_other_and_the_metrics_stay() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let (mut a1, a2) = (Agent::start().await, Agent::start().await);
    app.register_agent(&a1, "lt").await;
    app.register_agent(&a2, "lt").await;
    let scenario = app.new_scenario("Kill").await;
    app.load_script(scenario, "a", &target, "/a", 30, "lt").await;
    app.load_script(scenario, "b", &target, "/b", 30, "lt").await;
    let run = app.start_run(scenario, 100).await;
    let run_id = run["run_id"].as_i64().unwrap();
    let first_port = run["script_runs"][0]["agent"]["port"].as_str().unwrap().to_string();
    target.wait_rates(&["/a", "/b"], &[30.0, 30.0], "before").await;

    // Kill the agent running "a".
    let (victim, _survivor) =
        if first_port == a1.port.to_string() { (&mut a1, &a2) } else { panic!("plan put a on a2") };
    victim.kill().await;
    let a2_port = a2.port.to_string();
    eventually(Duration::from_secs(20), "a moved to the survivor", async || {
        let run = app.run(run_id).await;
        (run["script_runs"][0]["agent"]["port"] == a2_port.as_str()).then_some(())
    })
    .await;
    target.wait_rates(&["/a", "/b"], &[30.0, 30.0], "after the kill").await;
    let run = app.run(run_id).await;
    assert_eq!(run["status"], "STATUS_RUNNING");
    let summary = app.ok("/v1/run/summary", json!({"run_id": run_id})).await;
    assert!(summary["scripts"][0]["requests"].as_i64().unwrap() > 60, "{summary}");
    // The audit says what happened, and that the share moved.
    let what = app.changes(run_id).await;
    assert!(what.iter().any(|w| w.starts_with("job ") && w.contains("lost") && w.contains("moves")), "{what:?}");

    app.ok("/v1/run/stop", json!({"run_id": run_id})).await;
    // The survivor's jobs stop at once; the dead agent's job counts as ended only
    // once its lease has run out (it might still send), so the run says STOPPING.
    let client = crate::helpers::connect_dsn(&app.dsn).await;
    eventually(Duration::from_secs(10), "the survivor's jobs stopped", async || {
        let live: i64 = client
            .query_one("SELECT count(*) FROM jobs WHERE state NOT IN ('finished', 'failed', 'lost')", &[])
            .await
            .unwrap()
            .get(0);
        (live == 0).then_some(())
    })
    .await;
    let run = app.run(run_id).await;
    assert_eq!(run["status"], "STATUS_STOPPING", "{run}");
    let after = target.total();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(target.total(), after, "requests reached the target after the run stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_starts_give_one_run_and_nineteen_409s_and_ticks_are_idempotent() {
    // The app's controller passes only when nudged: this test drives the others.
    let app = crate::helpers::spawn_app_with(|s| s.controller_interval_ms = 3_600_000).await;
    let target = Target::start().await;
    let _agent = app.start_agent("lt").await;
    let scenario = app.new_scenario("Race").await;
    app.load_script(scenario, "a", &target, "/a", 10, "lt").await;
    let body = json!({"scenario_id": scenario, "user_name": "alice"});
    // A start calls no agent, so twenty of them race on the database alone.
    let answers = futures::future::join_all((0..20).map(|_| app.post("/v1/run/start", body.clone()))).await;
    let (won, lost): (Vec<_>, Vec<_>) = answers.iter().partition(|(status, _)| status.as_u16() == 200);
    assert_eq!(won.len(), 1, "{answers:?}");
    assert!(lost.iter().all(|(status, _)| status.as_u16() == 409), "{answers:?}");
    assert!(lost.iter().all(|(_, b)| b["message"].as_str().unwrap().contains("scenario_id")), "{lost:?}");
    assert_eq!(app.count("runs").await, 1);
    let run_id = won[0].1["run"]["run_id"].as_i64().unwrap();

    let state = &app.app_state;
    eventually(Duration::from_secs(10), "the run running with a second stored", async || {
        alilo_shared::control::tick(state).await.unwrap();
        (app.run(run_id).await["status"] == "STATUS_RUNNING" && app.count("metric_seconds").await >= 1).then_some(())
    })
    .await;
    // A run claimed by one controller is not loaded by another until released.
    {
        use alilo_shared::db::control::{PassRecord, load, record};
        let mut conn = state.db.conn().await.unwrap();
        let claim = Duration::from_secs(20);
        assert_eq!(load(&mut conn, "a", claim).await.unwrap().len(), 1, "a claims the run");
        assert_eq!(load(&mut conn, "b", claim).await.unwrap().len(), 0, "b must not act on a's run");
        assert_eq!(load(&mut conn, "a", claim).await.unwrap().len(), 1, "a renews its own claim");
        record(&mut conn, "a", &PassRecord { release: vec![run_id], ..PassRecord::default() }).await.unwrap();
        assert_eq!(load(&mut conn, "b", claim).await.unwrap().len(), 1, "released, b may claim it");
        record(&mut conn, "b", &PassRecord { release: vec![run_id], ..PassRecord::default() }).await.unwrap();
    }
    let (t1, t2) = tokio::join!(alilo_shared::control::tick(state), alilo_shared::control::tick(state));
    let (t1, t2) = (t1.unwrap(), t2.unwrap());
    // Whether they overlapped or not, the run was worked on and nothing had to change.
    assert!(t1.runs + t2.runs >= 1, "{t1:?} {t2:?}");
    assert_eq!(t1.actions + t2.actions, 0, "nothing to change: {t1:?} {t2:?}");
    let again = alilo_shared::control::tick(state).await.unwrap();
    assert_eq!(again.actions, 0, "{again:?}");
    assert_eq!(app.count("jobs").await, 1);
    let dupes = app.count("(SELECT job_id, second FROM metric_seconds GROUP BY 1, 2 HAVING count(*) > 1) d").await;
    assert_eq!(dupes, 0);
    app.ok("/v1/run/stop", json!({"run_id": run_id})).await;
}

/// The roll-up is guarded by the run's version in one statement of its own
/// (`db::control::settle`): a user's change made while a pass is under way wins
/// over the pass's stale roll-up, and a roll-up at the current version is written
/// with the release of the claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_during_a_pass_wins_over_its_roll_up() {
    use alilo_shared::db::control::{Rollup, load, settle};
    use alilo_shared::model::run::{RunStatus, ScriptRunStatus};
    let app = crate::helpers::spawn_app_with(|s| s.controller_interval_ms = 3_600_000).await;
    let target = Target::start().await;
    let _agent = app.start_agent("lt").await;
    let scenario = app.new_scenario("Guard").await;
    app.load_script(scenario, "a", &target, "/a", 10, "lt").await;
    let run_id = app.start_run(scenario, 100).await["run_id"].as_i64().unwrap();
    let state = &app.app_state;
    let mut conn = state.db.conn().await.unwrap();
    let claim = Duration::from_secs(20);
    // Claimed by "t" (once the app's own controller, nudged by the start, let go).
    let loaded = eventually(Duration::from_secs(10), "the run claimed", async || {
        load(&mut conn, "t", claim).await.unwrap().pop()
    })
    .await;
    let sr = loaded.script_runs[0].id;
    let stale = |status, script| Rollup {
        run_id,
        version: loaded.version,
        was: loaded.status,
        status,
        script_runs: vec![(sr, script)],
    };
    let statuses = async || {
        let row = connect_dsn(&app.dsn)
            .await
            .query_one(
                "SELECT r.status, s.status, r.ended_at IS NOT NULL, r.claimed_by FROM runs r
                 JOIN script_runs s ON s.run_id = r.id WHERE r.id = $1",
                &[&run_id],
            )
            .await
            .unwrap();
        (row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, bool>(2), row.get::<_, Option<String>>(3))
    };
    let before = statuses().await;

    // A user stops the run while the pass is under way: the pass's roll-up, from
    // before the stop, is dropped.
    app.ok("/v1/run/stop", json!({"run_id": run_id})).await;
    let lost = settle(&conn, "t", &[stale(RunStatus::Running, ScriptRunStatus::Failed)], &[]).await.unwrap();
    assert_eq!(lost, 1);
    assert_eq!(statuses().await, ("STATUS_STOPPING".into(), before.1, false, Some("t".into())));

    // The next pass loads the stop and rolls up at the current version: written,
    // with the claim released.
    let current = load(&mut conn, "t", claim).await.unwrap().pop().expect("still claimed by t");
    assert_eq!(current.version, loaded.version + 1);
    let rollup = Rollup { version: current.version, ..stale(RunStatus::Stopped, ScriptRunStatus::Stopped) };
    assert_eq!(settle(&conn, "t", &[rollup], &[run_id]).await.unwrap(), 0);
    let want = ("STATUS_STOPPED_UNSPECIFIED".to_string(), "STATUS_STOPPED_UNSPECIFIED".to_string(), true, None);
    assert_eq!(statuses().await, want);
}

#[tokio::test]
async fn refusals_name_the_problem() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let scenario = app.new_scenario("Refusals").await;
    app.fails("/v1/run/start", json!({"scenario_id": scenario}), 422, "no enabled scripts").await;
    app.load_script(scenario, "a", &target, "/a", 10, "nowhere").await;
    app.fails("/v1/run/start", json!({"scenario_id": scenario}), 422, "nowhere").await;
    app.fails(
        "/v1/run/start",
        json!({"scenario_id": scenario, "percentage_of_target": 20000}),
        422,
        "percentage_of_target",
    )
    .await;
    // An enabled extended script no longer blocks its scenario (issue 9): the refusal is about the agents.
    let ext = app.create_script(scenario, "checkout_js", "10").await;
    // Its script file is outside our bucket: an outside URL the target allow-list (unset) refuses.
    let outside = ".script_file: data files from other hosts";
    app.fails("/v1/run/start", json!({"scenario_id": scenario}), 422, outside).await;
    app.fails("/v1/run/start/script", json!({"script_id": ext}), 422, outside).await;
    app.fails("/v1/run/start", json!({"scenario_id": 999_999}), 404, "scenario").await;
    app.fails("/v1/run", json!({"run_id": 0}), 400, "run_id").await;
    app.fails("/v1/run", json!({"run_id": 424_242}), 404, "run").await;
    app.fails("/v1/run/adjustment", json!({"run_id": 424_242, "adjustment_on_percent": 50}), 404, "run").await;
    app.fails("/v1/command/new", json!({"command_type": "TYPE_STOP_SCRIPT", "run_id": 1}), 400, "script_ids").await;
    let runs = app.ok("/v1/runs", json!({"project_id": "0", "scenario_id": "0", "limit": 0, "page_number": 0})).await;
    assert_eq!((runs["runs"].as_array().unwrap().len(), runs["total_pages"].as_str()), (0, Some("0")));
    let by_status = app.ok("/v1/run/by-status", json!({"run_status": "STATUS_RUNNING"})).await;
    assert_eq!(by_status["runs"], json!([]));
    let logs = app.ok("/v1/remove-logs", json!({"more_than_mb": "100", "more_than_days": 7})).await;
    assert!(logs["message"].as_str().unwrap().starts_with("removed 0 stored run logs"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smoke_run_and_the_command_service_drive_a_simple_script() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let _agent = app.start_agent("lt").await;
    let scenario = app.new_scenario("Smoke").await;
    let id = app.load_script(scenario, "a", &target, "/a", 50, "lt").await;
    let run = app.ok("/v1/run/start/simple-script", json!({"simple_script_id": id})).await["run"].clone();
    assert_eq!(run["title"], "Smoke_test_a");
    assert_eq!(run["user_name"], "token:test-admin");
    let run_id = run["run_id"].as_i64().unwrap();
    app.fails("/v1/run/adjustment", json!({"run_id": run_id, "adjustment_on_percent": 50}), 422, "smoke").await;
    app.fails("/v1/run/start", json!({"scenario_id": scenario}), 409, "active run").await;
    target.wait_rates(&["/a"], &[2.0], "smoke runs at 2 rps").await;
    let command = app.ok("/v1/command/new", json!({"command_type": "TYPE_STOP_SCENARIO", "run_id": run_id})).await;
    assert_eq!(command["command"]["status"], "STATUS_COMPLETED", "{command}");
    assert_eq!(command["command"]["type"], "TYPE_STOP_SCENARIO");
    app.wait_status(run_id, "STATUS_STOPPED_UNSPECIFIED", 10).await;
    let range = app.ok("/v1/run/timeRange", json!({"run_id": run_id})).await;
    assert!(range["to_ts"].as_str().unwrap() >= range["from_ts"].as_str().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alilo_local_starts_a_registered_local_agent_that_runs_untagged_scripts() {
    let app = crate::helpers::spawn_app_with(|s| s.no_agent = false).await;
    let agents = app.ok("/v1/agents", json!({})).await;
    let list = agents["agents"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{agents}");
    assert_eq!((list[0]["enabled"].as_bool(), list[0]["tags"].clone()), (Some(true), json!(["local"])));
    let target = Target::start().await;
    let project = app.create_project("Local").await;
    let scenario = app.create_scenario(project, "Local").await;
    app.load_script(scenario, "a", &target, "/a", 20, "local").await;
    let run = app.start_run(scenario, 100).await;
    let run_id = run["run_id"].as_i64().unwrap();
    target.wait_rates(&["/a"], &[20.0], "local agent").await;
    let by_project = app.ok("/v1/runs", json!({"project_id": project.to_string()})).await;
    assert_eq!(by_project["runs"][0]["run_id"].as_i64(), Some(run_id));
    assert_eq!(by_project["runs"][0]["user_name"], "token:test-admin");
    app.stop_and_wait(run_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_alilo_local_mid_run_loses_no_second() {
    let mut app = spawn_app().await;
    let target = Target::start().await;
    let _agent = app.start_agent("lt").await;
    let scenario = app.new_scenario("Restart").await;
    app.load_script(scenario, "a", &target, "/a", 20, "lt").await;
    let run_id = app.start_run(scenario, 100).await["run_id"].as_i64().unwrap();
    eventually(Duration::from_secs(10), "two seconds stored", async || {
        (app.count("metric_seconds").await >= 2).then_some(())
    })
    .await;

    let before = target.count("/a");
    let down = std::time::Instant::now();
    // alilo-local (API and controller) is down for 2 s, then rebuilt.
    app.restart(Duration::from_secs(2)).await;
    // The agent kept sending while no controller ran (over the whole restart: on
    // a loaded machine the rebuild adds to the 2 s).
    let rate = (target.count("/a") - before) as f64 / down.elapsed().as_secs_f64();
    assert!(near(rate, 20.0), "the load paused during the restart: {rate:.1} rps");
    target.wait_rates(&["/a"], &[20.0], "after the restart").await;

    // The new controller resumed from the stored cursor: every second is there, once.
    // One query, so the controller cannot store a second between two counts.
    let client = crate::helpers::connect_dsn(&app.dsn).await;
    let (stored, span, distinct): (i64, i64, i64) =
        eventually(Duration::from_secs(30), "seconds after the restart", async || {
            let row = client
                .query_one(
                    "SELECT count(*), max(second) - min(second) + 1, count(DISTINCT second) FROM metric_seconds",
                    &[],
                )
                .await
                .unwrap();
            let got: (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
            (got.0 >= 8).then_some(got)
        })
        .await;
    assert_eq!((stored, distinct), (span, span), "a second is missing or stored twice");
    app.stop_and_wait(run_id).await;
    // Metrics are complete: what the target counted is what the summary says.
    let summary = app.ok("/v1/run/summary", json!({"run_id": run_id})).await;
    assert_eq!(summary["total"]["requests"].as_u64(), Some(target.count("/a")), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_file_in_the_private_bucket_reaches_the_agent_presigned() {
    let app = spawn_app().await;
    let target = Target::start().await;
    let _agent = app.start_agent("lt").await;
    let rows = br#"[{"id": "7"}, {"id": "8"}]"#;
    let s3_url = app.upload_data_file("ids.json", rows, "application/json").await;
    let scenario = app.new_scenario("Data").await;
    let body = json!({"simple_script": {
        "scenario_id": scenario, "name": "items", "enabled": true, "tag": "lt",
        "path": format!("{}/items/{{{{id}}}}", target.addr), "scheme": "http", "http_method": "get",
        "rps": "20", "steps": "1", "duration": "1m", "max_v_us": "20", "ammo_url": s3_url
    }});
    app.ok("/v1/simple-script/create", body).await;
    let run_id = app.start_run(scenario, 100).await["run_id"].as_i64().unwrap();
    eventually(Duration::from_secs(15), "rows of the data file fill the path", async || {
        (target.count("/items/7") > 5 && target.count("/items/8") > 5).then_some(())
    })
    .await;
    app.ok("/v1/run/stop", json!({"run_id": run_id})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_starts_a_real_run_on_the_local_agent() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.no_agent = false;
        s.demo = true;
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let runs = app.ok("/v1/runs", json!({})).await;
        let run = &runs["runs"][0];
        let rps: f64 = if run.is_object() {
            let id = run["run_id"].as_i64().unwrap();
            app.ok("/v1/run/rps", json!({"run_id": id})).await["rps"].as_str().unwrap().parse().unwrap()
        } else {
            0.0
        };
        if rps > 0.0 {
            assert_eq!(run["title"], "Demo shop");
            assert!(near(rps, 35.0), "the demo aims at 35 rps, got {rps}");
            app.ok("/v1/run/stop", json!({"run_id": run["run_id"]})).await;
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "no demo run with real numbers: {runs}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
