//! Run-core benchmarks (issue 11), ignored by default: `bench/runs/core.sh` runs
//! them on the code before and after the change in one go and prints ratios.
//! This file is self-contained (its own black-hole proxy) so the script can drop
//! it into an older tree (less the part marked after-only).
//!
//! - `/v1/run/adjustment` latency while one of the run's two agents is
//!   black-holed (its TCP accepted, nothing answered);
//! - one controller pass (`control::tick`, a new controller each time, so its
//!   hooks and snapshot included; and, after-only, the loop's own controller kept
//!   across passes) over 100 active runs (one script
//!   each) on 10 agents.

use crate::helpers::spawn_app_with;
use crate::runs::{Agent, Target};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

/// A TCP forwarder to `backend` that, once `cut`, forwards nothing and answers
/// nothing on open and new connections (a silent partition).
struct BlackHole {
    port: u16,
    cut: Arc<AtomicBool>,
}

impl BlackHole {
    async fn start(backend: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let flag = cut.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let flag = flag.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(backend).await else { return };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let f1 = flag.clone();
                    let up = async move { pump(&mut cr, &mut sw, &f1).await };
                    let down = async move { pump(&mut sr, &mut cw, &flag).await };
                    tokio::join!(up, down);
                });
            }
        });
        Self { port, cut }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }
}

/// Copy until closed; while cut, hold the bytes (never read) so nothing flows.
async fn pump(from: &mut tokio::net::tcp::OwnedReadHalf, to: &mut tokio::net::tcp::OwnedWriteHalf, cut: &AtomicBool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if cut.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            continue;
        }
        let n = match tokio::time::timeout(Duration::from_millis(50), from.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(n)) => n,
            Err(_) => continue,
        };
        if cut.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A loopback HTTP server answering "ok" to anything; its address.
async fn ok_server() -> SocketAddr {
    let router = axum::Router::new().fallback(|| async { "ok" });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bench/runs/core.sh"]
async fn bench_adjustment_with_one_of_two_agents_black_holed() {
    let n: usize = std::env::var("ADJUSTMENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let app = spawn_app_with(|s| s.controller_interval_ms = 1000).await;
    let target = Target::start().await;
    let (healthy, silent) = (Agent::start().await, Agent::start().await);
    let hole = BlackHole::start(([127, 0, 0, 1], silent.port).into()).await;
    app.register_agent(&healthy, "b").await;
    let body =
        json!({"agent": {"host_name": "127.0.0.1", "port": hole.port.to_string(), "enabled": true, "tags": ["b"]}});
    app.ok("/v1/agent/set", body).await;
    let project = app.create_project("Bench").await;
    let scenario = app.create_scenario(project, "Bench").await;
    app.load_script(scenario, "a", &target, "/a", 20, "b").await;
    app.load_script(scenario, "b", &target, "/b", 20, "b").await;
    let run = app.ok("/v1/run/start", json!({"scenario_id": scenario, "user_name": "bench"})).await;
    let run_id = run["run"]["run_id"].as_i64().unwrap();
    let t0 = Instant::now();
    while target.count("/a") == 0 || target.count("/b") == 0 {
        assert!(t0.elapsed() < Duration::from_secs(20), "both agents running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    hole.cut();
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let level = if i % 2 == 0 { 50 } else { 100 };
        let t0 = Instant::now();
        let (status, body) =
            app.post("/v1/run/adjustment", json!({"run_id": run_id, "adjustment_on_percent": level})).await;
        times.push(ms(t0.elapsed()));
        assert_eq!(status, 200, "{body}");
    }
    times.sort_by(f64::total_cmp);
    println!(
        "adjustment with one of two agents black-holed: n {n}, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[n - 1]
    );

    // Starts while the agent is black-holed: one scenario each (a scenario has one
    // active run), planned on both agents carrying the tag.
    let starts = (n / 2).max(1);
    let mut times = Vec::with_capacity(starts);
    for i in 0..starts {
        let scenario = app.create_scenario(project, &format!("Start {i}")).await;
        app.load_script(scenario, "s", &target, "/s", 1, "b").await;
        let t0 = Instant::now();
        let (status, body) = app.post("/v1/run/start", json!({"scenario_id": scenario, "user_name": "bench"})).await;
        times.push(ms(t0.elapsed()));
        assert_eq!(status, 200, "{body}");
    }
    times.sort_by(f64::total_cmp);
    println!(
        "start with one of two agents black-holed: n {starts}, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[starts - 1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bench/runs/core.sh"]
async fn bench_controller_pass_over_100_active_runs_on_10_agents() {
    let app = spawn_app_with(|s| s.controller_interval_ms = 3_600_000).await;
    let mut agents = Vec::new();
    for _ in 0..10 {
        let a = Agent::start().await;
        app.register_agent(&a, "b").await;
        agents.push(a);
    }
    let project = app.create_project("Bench").await;
    let addr = ok_server().await;
    for i in 0..100 {
        let scenario = app.create_scenario(project, &format!("s{i:03}")).await;
        // Long enough to stay active however slow the passes are.
        let body = json!({"simple_script": {
            "scenario_id": scenario, "name": "a", "enabled": true, "tag": "b", "path": format!("{addr}/s{i}"),
            "scheme": "http", "http_method": "get", "rps": "1", "steps": "1", "duration": "30m", "max_v_us": "5"
        }});
        app.ok("/v1/simple-script/create", body).await;
        app.ok("/v1/run/start", json!({"scenario_id": scenario, "user_name": "bench"})).await;
    }
    // Until every job runs and a pass sees all 100 runs (none held by another pass).
    let t0 = Instant::now();
    loop {
        let o = alilo_shared::control::tick(&app.app_state).await.unwrap();
        if o.runs == 100 && o.polled == 100 && o.actions == 0 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "100 runs settled: {o:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut times = Vec::new();
    for pass in 0..10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t0 = Instant::now();
        let o = alilo_shared::control::tick(&app.app_state).await.unwrap();
        let took = ms(t0.elapsed());
        println!(
            "pass[{pass}]: {} runs, {} polled, {} seconds stored, {} actions: {took:.0} ms",
            o.runs, o.polled, o.stored_seconds, o.actions
        );
        // Only passes over all 100 runs count.
        if o.runs == 100 {
            times.push(took);
        }
    }
    assert!(!times.is_empty(), "no pass saw the 100 runs");
    times.sort_by(f64::total_cmp);
    println!(
        "controller pass over 100 active runs on 10 agents: median {:.1} ms, max {:.1} ms",
        percentile(&times, 0.5),
        times[times.len() - 1]
    );
    // after-only:begin (core.sh drops this part from the copy it builds at BEFORE_REF)
    // The loop's own controller, kept across passes as alilo-local and the Lambda
    // keep it: its hooks and snapshot run beside its passes.
    let mut controller = alilo_shared::control::Controller::new(alilo_shared::control::ControllerOptions::default());
    let mut times = Vec::new();
    for pass in 0..10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t0 = Instant::now();
        let o = controller.pass(&app.app_state).await.unwrap();
        let took = ms(t0.elapsed());
        println!(
            "loop pass[{pass}]: {} runs, {} polled, {} seconds stored: {took:.0} ms",
            o.runs, o.polled, o.stored_seconds
        );
        if o.runs == 100 {
            times.push(took);
        }
    }
    controller.settle(&app.app_state).await;
    assert!(!times.is_empty(), "no loop pass saw the 100 runs");
    times.sort_by(f64::total_cmp);
    println!(
        "loop controller pass over 100 active runs on 10 agents: median {:.1} ms, max {:.1} ms",
        percentile(&times, 0.5),
        times[times.len() - 1]
    );
    // after-only:end
}
