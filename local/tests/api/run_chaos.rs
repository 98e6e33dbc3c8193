//! Runs under faults (issue 11): Postgres black-holed for 90 s under a running
//! test, and an agent black-holed while users change the load. Real Postgres
//! behind the [`ChaosProxy`], real agents, a real target that counts what it
//! receives. (An agent killed mid-run and `alilo-local` restarted mid-run are in
//! `runs.rs`.)

use crate::chaos_proxy::ChaosProxy;
use crate::helpers::{TestApp, connect_dsn, eventually, spawn_app_with, spawn_app_with_db_proxy};
use crate::runs::{Agent, Target};
use alilo_shared::control::{Controller, ControllerOptions};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_survives_a_90_s_black_hole_of_postgres_with_every_second_stored() {
    let app = spawn_app_with_db_proxy(|_| {}).await;
    let target = Target::start().await;
    let _agent = app.start_agent("lt").await;
    let scenario = app.new_scenario("Partition").await;
    app.load_script_for(scenario, "a", &target, "/a", 20, "lt", "5m").await;
    let run = app.ok("/v1/run/start", json!({"scenario_id": scenario, "user_name": "alice"})).await;
    let run_id = run["run"]["run_id"].as_i64().unwrap();
    let client = connect_dsn(&app.dsn).await;
    eventually(Duration::from_secs(15), "seconds stored before the cut", async || {
        (app.count("metric_seconds").await >= 3).then_some(())
    })
    .await;

    // 90 s without Postgres: longer than the agents' 60 s lease.
    app.db_proxy().black_hole();
    let cut = Instant::now();
    let at_cut = target.count("/a");
    target.wait_rates(&["/a"], &[20.0], "load while the database is cut").await;
    tokio::time::sleep(Duration::from_secs(75).saturating_sub(cut.elapsed())).await;
    target.wait_rates(&["/a"], &[20.0], "load 75 s into the cut, past the lease").await;
    tokio::time::sleep(Duration::from_secs(90).saturating_sub(cut.elapsed())).await;
    let sent_during = target.count("/a") - at_cut;
    app.db_proxy().restore();
    #[allow(clippy::cast_precision_loss)]
    let rate = sent_during as f64 / cut.elapsed().as_secs_f64();
    assert!((rate - 20.0).abs() < 5.0, "the load went on through the cut at {rate:.1} rps");

    // Recovery without a restart: the run is still running, nothing ended.
    eventually(Duration::from_secs(30), "the API and the run back", async || {
        let (status, body) = app.post("/v1/run", json!({"run_id": run_id})).await;
        (status == 200 && body["run"]["status"] == "STATUS_RUNNING").then_some(())
    })
    .await;
    let ended: i64 = client
        .query_one("SELECT count(*) FROM jobs WHERE state IN ('finished', 'failed', 'lost')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(ended, 0, "a job ended during the outage");

    app.ok("/v1/run/stop", json!({"run_id": run_id})).await;
    eventually(Duration::from_secs(20), "the run stopped", async || {
        (app.ok("/v1/run", json!({"run_id": run_id})).await["run"]["status"] == "STATUS_STOPPED_UNSPECIFIED")
            .then_some(())
    })
    .await;
    // Metrics complete: every second once, and what the target counted is the summary.
    let row = client
        .query_one("SELECT count(*), max(second) - min(second) + 1, count(DISTINCT second) FROM metric_seconds", &[])
        .await
        .unwrap();
    let (stored, span, distinct): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert!(stored >= 90, "{stored} seconds stored: the 90 s cut included");
    assert_eq!((stored, distinct), (span, span), "a second is missing or stored twice");
    let summary = app.ok("/v1/run/summary", json!({"run_id": run_id})).await;
    assert_eq!(summary["total"]["requests"].as_u64(), Some(target.count("/a")), "{summary}");
    let reasons: Vec<String> =
        client.query("SELECT reason FROM jobs", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert!(reasons.iter().all(|r| !r.contains("answering")), "no agent was blamed: {reasons:?}");
}

/// The cause of the 90 s test's failures on a starved machine: a cut landing
/// after a pass had loaded its runs (while it polled, recorded, or ran its
/// hooks) held the controller on a pooled connection until the database came
/// back, so no lease was renewed. A pass is cut at points spread over its length;
/// each must end within its database budget and leave the load running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_cut_off_from_postgres_at_any_point_ends_within_its_budget() {
    // The app's own controller runs once at start and on nudges; this test drives
    // its own, on the same proxied pool.
    let app = spawn_app_with_db_proxy(|s| s.controller_interval_ms = 3_600_000).await;
    let target = Target::start().await;
    let _agent = app.start_agent("lt").await;
    let scenario = app.new_scenario("Cut mid-pass").await;
    app.load_script_for(scenario, "a", &target, "/a", 20, "lt", "5m").await;
    app.ok("/v1/run/start", json!({"scenario_id": scenario, "user_name": "alice"})).await;
    let budget = Duration::from_millis(400);
    let mut controller = Controller::new(ControllerOptions { db_budget: budget, ..ControllerOptions::default() });
    let state = &app.app_state;
    let full = eventually(Duration::from_secs(20), "a full pass that polled the running job", async || {
        let t0 = Instant::now();
        let out = controller.pass(state).await.ok()?;
        (out.polled == 1 && out.outage.is_none()).then(|| t0.elapsed())
    })
    .await;

    for step in 0..=12u32 {
        let at = full * step / 10;
        let cut = async {
            tokio::time::sleep(at).await;
            app.db_proxy().black_hole();
        };
        // Worst case: the record's wait for a connection and its statements, each
        // within the budget, and the hooks within theirs; polls take milliseconds.
        let limit = budget * 4 + Duration::from_secs(2);
        let t0 = Instant::now();
        let (done, ()) = tokio::time::timeout(limit, async { tokio::join!(controller.pass(state), cut) })
            .await
            .unwrap_or_else(|_| panic!("a pass cut {at:?} into it (of {full:?}) still held after {limit:?}"));
        done.unwrap_or_else(|e| panic!("a pass cut {at:?} into it failed: {e}"));
        // The next pass knows the database is gone and rides it out from memory.
        let out = controller.pass(state).await.unwrap();
        assert!(out.outage.is_some() && out.polled == 1, "step {step}: {out:?} after {:?}", t0.elapsed());
        app.db_proxy().restore();
        eventually(Duration::from_secs(20), "a pass that reaches the database again", async || {
            let out = controller.pass(state).await.ok()?;
            // Not from memory behind a write the cut held: a whole pass.
            (out.outage.is_none() && !out.writing).then_some(())
        })
        .await;
    }
    target.wait_rates(&["/a"], &[20.0], "the load after every cut").await;
    assert_eq!(controller.buffered_seconds(), 0, "everything buffered was written");
}

/// A busy pool is not an outage (bench/fleet, finding 5): requests and the
/// pass hooks holding every connection of the shared pool used to make the
/// controller's probe wait for one, count the pass as an outage and, long
/// enough, stop the runs. The controller has a small pool of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_held_by_requests_and_hooks_is_no_outage_for_the_controller() {
    let app = spawn_app_with(|s| s.controller_interval_ms = 3_600_000).await;
    let target = Target::start().await;
    let _agent = app.start_agent("lt").await;
    let scenario = app.new_scenario("Busy pool").await;
    app.load_script_for(scenario, "a", &target, "/a", 20, "lt", "5m").await;
    app.ok("/v1/run/start", json!({"scenario_id": scenario, "user_name": "alice"})).await;
    let state = &app.app_state;
    let budget = Duration::from_millis(500);
    let mut controller = Controller::new(ControllerOptions { db_budget: budget, ..ControllerOptions::default() });
    eventually(Duration::from_secs(20), "a pass that polled the running job", async || {
        let out = controller.pass(state).await.ok()?;
        (out.polled == 1 && out.outage.is_none()).then_some(())
    })
    .await;
    // Every connection of the shared pool taken (the pool blocks once none is left).
    let mut held = Vec::new();
    while let Ok(Ok(conn)) = tokio::time::timeout(Duration::from_millis(300), state.db.conn()).await {
        held.push(conn);
        assert!(held.len() <= 64, "the pool has a bound");
    }
    assert!(!held.is_empty() && held.len() <= alilo_shared::db::POOL_SIZE, "{}", held.len());
    let (status, body) = app.post("/v1/projects", json!({})).await;
    assert_eq!(status, 503, "a request waits for a connection, then answers busy: {body}");
    let stored = app.count("metric_seconds").await;
    for pass in 0..4 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let out = controller.pass(state).await.unwrap();
        assert!(out.outage.is_none() && !out.writing && out.polled == 1 && out.runs == 1, "pass {pass}: {out:?}");
    }
    controller.settle(state).await;
    assert!(app.count("metric_seconds").await >= stored + 3, "the seconds kept reaching the database");
    drop(held);
    app.ok("/v1/projects", json!({})).await;
    target.wait_rates(&["/a"], &[20.0], "the load all along").await;
}

/// In AWS each invocation of the controller may be a new process. One that starts
/// while Postgres is unreachable has no memory of its own: it renews the leases
/// of the jobs the controllers left in their snapshots in the bucket (one per
/// instance), buffers their seconds and writes them once the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_controller_in_an_outage_works_from_the_last_snapshot() {
    let app = spawn_app_with_db_proxy(|s| s.controller_interval_ms = 3_600_000).await;
    let target = Target::start().await;
    let _agent = app.start_agent("lt").await;
    let scenario = app.new_scenario("Cold start").await;
    app.load_script_for(scenario, "a", &target, "/a", 20, "lt", "5m").await;
    app.ok("/v1/run/start", json!({"scenario_id": scenario, "user_name": "alice"})).await;
    let state = &app.app_state;
    let mut old = Controller::new(ControllerOptions::default());
    eventually(Duration::from_secs(20), "a pass that polled the running job", async || {
        let out = old.pass(state).await.ok()?;
        (out.polled == 1 && out.outage.is_none()).then_some(())
    })
    .await;
    old.settle(state).await;
    // Under the old controller's own key: instances at once do not overwrite
    // each other's (the app's own controller, nudged by the start, has its own).
    let key = format!("controller/snapshots/{}.json", old.id());
    assert!(state.storage.exists(&key).await.unwrap(), "no snapshot written at {key}");
    drop(old);

    app.db_proxy().black_hole();
    let options = ControllerOptions { db_budget: Duration::from_millis(500), ..ControllerOptions::default() };
    let mut new = Controller::new(options);
    let out = new.pass(state).await.unwrap();
    assert!(out.outage.is_some() && out.polled == 1, "the new controller polled the job it never loaded: {out:?}");
    eventually(Duration::from_secs(10), "seconds read from the agent and buffered", async || {
        let _ = new.pass(state).await;
        (new.buffered_seconds() > 0).then_some(())
    })
    .await;
    app.db_proxy().restore();
    eventually(Duration::from_secs(20), "the buffer written once the database is back", async || {
        let out = new.pass(state).await.ok()?;
        (out.outage.is_none() && new.buffered_seconds() == 0).then_some(())
    })
    .await;
    target.wait_rates(&["/a"], &[20.0], "the load after the cold start").await;
}

/// An app with two agents carrying "lt", the second behind a proxy (to be
/// black-holed), and a scenario of two scripts at 20 rps ("a" at `/a`, "b" at `/b`):
/// one per agent, "a" on the healthy one (least loaded, ties by id).
async fn with_a_silent_agent(title: &str) -> (TestApp, Target, (Agent, Agent), ChaosProxy, i64) {
    let app = crate::helpers::spawn_app().await;
    let target = Target::start().await;
    let (healthy, silent) = (Agent::start().await, Agent::start().await);
    let proxy = ChaosProxy::start(([127, 0, 0, 1], silent.port).into()).await;
    app.register_agent(&healthy, "lt").await;
    app.register_agent_at(proxy.address().port(), "lt").await;
    let scenario = app.new_scenario(title).await;
    app.load_script(scenario, "a", &target, "/a", 20, "lt").await;
    app.load_script(scenario, "b", &target, "/b", 20, "lt").await;
    (app, target, (healthy, silent), proxy, scenario)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adjustments_answer_at_once_while_an_agent_is_black_holed() {
    let (app, target, _agents, proxy, scenario) = with_a_silent_agent("Silent agent").await;
    let run = app.ok("/v1/run/start", json!({"scenario_id": scenario, "user_name": "alice"})).await;
    let run_id = run["run"]["run_id"].as_i64().unwrap();
    target.wait_rates(&["/a", "/b"], &[20.0, 20.0], "both agents running").await;

    proxy.black_hole();
    let mut times = Vec::new();
    for i in 0..20 {
        let t0 = Instant::now();
        let level = if i % 2 == 0 { 50 } else { 100 };
        app.ok("/v1/run/adjustment", json!({"run_id": run_id, "adjustment_on_percent": level})).await;
        times.push(t0.elapsed());
    }
    times.sort();
    // A dead agent's 2-6 s timeouts never reach a user request (the goal is 50 ms
    // p99; a loaded 2-core CI machine gets ample room).
    assert!(times[18] < Duration::from_millis(1000), "adjustment p95 {:?}; all: {times:?}", times[18]);
    // The healthy agent (least loaded and first, it runs "a") follows the last level, 100 %.
    target.wait_rates(&["/a"], &[20.0], "the healthy agent at the last level").await;
    proxy.restore();
    app.ok("/v1/run/stop", json!({"run_id": run_id})).await;
}

/// `/v1/run/start` calls no agent: with one of its two agents black-holed a start
/// answers at once (it used to probe every agent, waiting out the silent one's 2 s
/// read timeout), and the controller moves the share the silent agent never
/// accepted to the healthy one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_answers_at_once_with_an_agent_black_holed_and_its_share_moves() {
    let (app, target, _agents, proxy, scenario) = with_a_silent_agent("Silent at start").await;

    proxy.black_hole();
    let t0 = Instant::now();
    let run = app.ok("/v1/run/start", json!({"scenario_id": scenario, "user_name": "alice"})).await;
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(1000), "the start took {took:?}");
    let run_id = run["run"]["run_id"].as_i64().unwrap();
    // One script per agent (least loaded, ties by id): "b" went to the silent one,
    // whose job is tried LOST_AFTER times (6 s each) and then moves.
    target.until_rates(&["/a", "/b"], &[20.0, 20.0], 60).await;
    let said = app.changes(run_id).await;
    assert!(said.iter().any(|w| w.contains("never started") && w.contains("moves")), "{said:?}");
    app.ok("/v1/run/stop", json!({"run_id": run_id})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_past_its_limit_stops_the_run_on_purpose_and_says_why() {
    // Past the 4 s limit the controller stops the load itself, long before the
    // agents' 60 s lease would.
    outage_stops_the_run(|s| s.max_db_outage_secs = 4, "ALILO_MAX_DB_OUTAGE_SECS").await;
}

/// The buffer's bound is in bytes (`ALILO_OUTAGE_BUFFER_MB`); one that holds
/// nothing stops the run at the first pass of the outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_outage_buffer_stops_the_run_on_purpose_and_says_why() {
    outage_stops_the_run(|s| s.outage_buffer_mb = 0, "the memory buffer of 0 MB (ALILO_OUTAGE_BUFFER_MB) is full")
        .await;
}

/// A run whose database is black-holed is stopped by the controller on
/// purpose (the settings make it so), with a reason that says `why`.
async fn outage_stops_the_run(settings: impl FnOnce(&mut alilo_local::Settings), why: &str) {
    let app = spawn_app_with_db_proxy(settings).await;
    let target = Target::start().await;
    let _agent = app.start_agent("lt").await;
    let scenario = app.new_scenario("Long partition").await;
    app.load_script(scenario, "a", &target, "/a", 20, "lt").await;
    let run = app.ok("/v1/run/start", json!({"scenario_id": scenario, "user_name": "alice"})).await;
    let run_id = run["run"]["run_id"].as_i64().unwrap();
    eventually(Duration::from_secs(15), "seconds stored before the cut", async || {
        (app.count("metric_seconds").await >= 2).then_some(())
    })
    .await;

    app.db_proxy().black_hole();
    target.wait_rates(&["/a"], &[0.0], "the load stopped on purpose during the outage").await;
    app.db_proxy().restore();

    let run = eventually(Duration::from_secs(30), "the run stopped, with its reason", async || {
        let (status, body) = app.post("/v1/run", json!({"run_id": run_id})).await;
        (status == 200 && body["run"]["status"] == "STATUS_STOPPED_UNSPECIFIED").then_some(body["run"].clone())
    })
    .await;
    let info = run["info"].as_str().unwrap();
    assert!(info.contains("database was unreachable") && info.contains(why), "{info}");
    let client = connect_dsn(&app.dsn).await;
    let said: i64 = client
        .query_one("SELECT count(*) FROM run_changes WHERE what LIKE 'stopped by the run-controller%'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(said, 1);
    let summary = app.ok("/v1/run/summary", json!({"run_id": run_id})).await;
    assert_eq!(summary["total"]["requests"].as_u64(), Some(target.count("/a")), "{summary}");
}

/// A process frozen inside a transaction (a controller caught between its claim's
/// statements, say) must not hold a run's row for ever: Postgres ends its session
/// after `idle_in_transaction_session_timeout`, set on every pooled connection.
#[tokio::test]
async fn a_session_frozen_inside_a_transaction_loses_its_locks() {
    let app = crate::helpers::spawn_app().await;
    let project = app.create_project("Shop").await;
    let limits = alilo_shared::config::Limits {
        idle_in_transaction: Duration::from_millis(300),
        ..alilo_shared::config::Limits::default()
    };
    let dsn = alilo_shared::config::Dsn::parse(&app.dsn).unwrap();
    let db = alilo_shared::db::Db::connect_with(&dsn, &limits).unwrap();
    let frozen = db.conn().await.unwrap();
    let shown: String = frozen.query_one("SHOW idle_in_transaction_session_timeout", &[]).await.unwrap().get(0);
    assert_eq!(shown, "300ms");
    frozen.batch_execute(&format!("BEGIN; SELECT 1 FROM projects WHERE id = {project} FOR UPDATE")).await.unwrap();

    let other = connect_dsn(&app.dsn).await;
    let lock = format!("SELECT 1 FROM projects WHERE id = {project} FOR UPDATE NOWAIT");
    assert!(other.batch_execute(&lock).await.is_err(), "the row is locked while the transaction is young");
    eventually(Duration::from_secs(10), "the row free once the idle transaction is ended", async || {
        other.batch_execute(&lock).await.ok()
    })
    .await;
    assert!(frozen.batch_execute("SELECT 1").await.is_err(), "the frozen session was ended");
    drop(frozen);
    // The pool drops the dead connection and opens a working one.
    db.ping().await.unwrap();
    // The app's own pool carries the default.
    let conn = app.app_state.db.conn().await.unwrap();
    let shown: String = conn.query_one("SHOW idle_in_transaction_session_timeout", &[]).await.unwrap().get(0);
    assert_eq!(shown, "15s");
}
