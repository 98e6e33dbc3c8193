//! Run-control benchmarks (issue 5), ignored by default: `bench/runs/run.sh` runs
//! them with `--run-ignored only` and they print their figures.
//!
//! - start latency: `/v1/run/start` of a scenario of 50 simple scripts on 4
//!   agents, until every job reports `running` on its agent;
//! - adjustment propagation: `/v1/run/adjustment` until every job's
//!   `current_rps` on its agent is at the new level;
//! - one controller pass (`control::tick`) over 100 active script runs on 10 agents.
//!
//! The agents are real servers in this process; the target counts requests.

use crate::helpers::{TestApp, spawn_app_with};
use crate::runs::{Agent, Target};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn jobs(client: &reqwest::Client, agents: &[Agent]) -> Vec<Value> {
    let mut out = Vec::new();
    for a in agents {
        let list: Value =
            client.get(format!("http://127.0.0.1:{}/v1/jobs", a.port)).send().await.unwrap().json().await.unwrap();
        out.extend(list["jobs"].as_array().cloned().unwrap_or_default());
    }
    out
}

/// Wait until `done` holds over the live jobs of every agent; the time it took.
async fn until(client: &reqwest::Client, agents: &[Agent], n: usize, done: impl Fn(&Value) -> bool) -> Duration {
    let t0 = Instant::now();
    loop {
        let all = jobs(client, agents).await;
        let live: Vec<&Value> = all.iter().filter(|j| j["state"] == "running" || j["state"] == "pending").collect();
        if live.len() >= n && live.iter().all(|j| done(j)) {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "timed out: {} live jobs", live.len());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn scenario(app: &TestApp, target: &Target, scripts: usize, rps: u32) -> i64 {
    let project = app.create_project("Bench").await;
    let scenario = app.create_scenario(project, "Bench").await;
    for i in 0..scripts {
        app.load_script(scenario, &format!("s{i:03}"), target, &format!("/s{i}"), rps, "b").await;
    }
    scenario
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bench/runs/run.sh"]
async fn bench_start_and_adjustment_50_scripts_on_4_agents() {
    // The controller is not needed: start and changes push to the agents at once.
    let app = spawn_app_with(|s| s.controller_interval_ms = 3_600_000).await;
    let target = Target::start().await;
    let mut agents = Vec::new();
    for _ in 0..4 {
        let a = Agent::start().await;
        app.register_agent(&a, "b").await;
        agents.push(a);
    }
    let client = reqwest::Client::new();
    for round in 0..3 {
        let scenario = scenario(&app, &target, 50, 2).await;
        let t0 = Instant::now();
        let run = app.ok("/v1/run/start", json!({"scenario_id": scenario, "user_name": "bench"})).await;
        let answered = t0.elapsed();
        let sending = answered + until(&client, &agents, 50, |_| true).await;
        let run_id = run["run"]["run_id"].as_i64().unwrap();
        println!(
            "start[{round}]: 50 scripts on 4 agents: answered {:.0} ms, every job running {:.0} ms",
            ms(answered),
            ms(sending)
        );
        let t0 = Instant::now();
        app.ok("/v1/run/adjustment", json!({"run_id": run_id, "adjustment_on_percent": 50})).await;
        let answered = t0.elapsed();
        let applied =
            answered + until(&client, &agents, 50, |j| (j["current_rps"].as_f64().unwrap() - 1.0).abs() < 0.01).await;
        println!(
            "adjustment[{round}]: 100 % -> 50 % on 50 jobs: answered {:.0} ms, every agent at the new rate {:.0} ms",
            ms(answered),
            ms(applied)
        );
        app.ok("/v1/run/stop", json!({"run_id": run_id})).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bench/runs/run.sh"]
async fn bench_controller_pass_100_script_runs_on_10_agents() {
    let app = spawn_app_with(|s| s.controller_interval_ms = 3_600_000).await;
    let target = Target::start().await;
    let mut agents = Vec::new();
    for _ in 0..10 {
        let a = Agent::start().await;
        app.register_agent(&a, "b").await;
        agents.push(a);
    }
    let scenario = scenario(&app, &target, 100, 1).await;
    let run = app.ok("/v1/run/start", json!({"scenario_id": scenario, "user_name": "bench"})).await;
    let run_id = run["run"]["run_id"].as_i64().unwrap();
    let mut times = Vec::new();
    for pass in 0..8 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t0 = Instant::now();
        let outcome = alilo_shared::control::tick(&app.app_state).await.unwrap();
        let took = t0.elapsed();
        println!(
            "pass[{pass}]: {} runs, {} jobs polled, {} seconds stored, {} actions: {:.0} ms",
            outcome.runs,
            outcome.polled,
            outcome.stored_seconds,
            outcome.actions,
            ms(took)
        );
        times.push(ms(took));
    }
    times.sort_by(f64::total_cmp);
    println!("controller pass over 100 script runs on 10 agents: median {:.0} ms, max {:.0} ms", times[4], times[7]);
    let summary = app.ok("/v1/run/summary", json!({"run_id": run_id})).await;
    let (rows, bytes) = (summary["stored_seconds"].as_i64().unwrap(), summary["stored_bytes"].as_i64().unwrap());
    #[allow(clippy::cast_precision_loss)]
    let per_row = bytes as f64 / rows.max(1) as f64;
    println!(
        "storage: {rows} metric rows, {bytes} bytes = {per_row:.0} bytes per job-second = {:.1} MB per script-hour on one agent",
        per_row * 3600.0 / 1e6
    );
    app.ok("/v1/run/stop", json!({"run_id": run_id})).await;
}
