//! The controller at fleet scale (#13), against [`crate::sim`]'s simulated
//! agents: N self-registered agents, runs of 100 jobs each (10 scripts split
//! over 10 agents), a share of the agents killed mid-run. Measures what
//! `bench/fleet/RESULTS.md` reports: pass time (and its phases), metric
//! ingestion (job-seconds stored per second of recording), storage per
//! job-second, the time to move a dead agent's share, Postgres connections.
//!
//! `the_controller_carries_200_agents_and_moves_dead_ones_shares` runs in CI;
//! `bench_fleet_full_scale` (1,000 agents, 10,000 jobs over 100 runs) is
//! ignored and run by `bench/fleet/run.sh`.

use crate::helpers::{TestApp, connect_dsn, spawn_app_with};
use crate::sim::SimFleet;
use alilo_shared::control::{Controller, ControllerOptions, Nudge, TickOutcome};
use serde_json::json;
use std::time::{Duration, Instant};

/// What one simulation measured.
#[derive(Debug, Default, serde::Serialize)]
pub struct Figures {
    pub agents: usize,
    pub runs: usize,
    pub jobs: usize,
    pub start_pass_ms: u128,
    pub steady_passes: usize,
    pub pass_ms_median: u128,
    pub pass_ms_max: u128,
    pub load_ms_median: u128,
    pub poll_ms_median: u128,
    pub act_ms_median: u128,
    /// How long a pass waited for its record's write.
    pub record_ms_median: u128,
    /// The writes' own time (they may end during a later pass).
    pub write_ms_median: u128,
    /// Passes that found a write still going on (worked from memory).
    pub passes_writing: usize,
    /// Passes that counted the database as unreachable (must be none).
    pub passes_outage: usize,
    pub job_seconds_stored: u64,
    /// Job-seconds stored per second of storing them (the COPY alone).
    pub ingest_rows_per_s: f64,
    /// Job-seconds stored per second of whole writes (job updates and commit included).
    pub ingest_write_rows_per_s: f64,
    /// Job-seconds stored per second of the steady phase (the load's own rate: one per job).
    pub stored_per_wall_s: f64,
    /// CPU per steady pass: the controller (this process but the simulated
    /// agents' threads), the simulated agents, Postgres (the pool's backends;
    /// its WAL writer and checkpointer not included).
    pub controller_cpu_ms_per_pass: f64,
    pub sim_cpu_ms_per_pass: f64,
    pub postgres_cpu_ms_per_pass: f64,
    /// Agent calls in flight at once (`ControllerOptions::fan_out`).
    pub fan_out: usize,
    pub metric_rows: i64,
    /// metric_seconds with its indexes, and the table alone.
    pub metric_bytes: i64,
    pub metric_heap_bytes: i64,
    pub bytes_per_job_second: f64,
    /// Per stored row, on average: the latency and service histograms, and the
    /// whole row as Postgres keeps it (`pg_column_size`, compressed if it was).
    pub latency_bytes: f64,
    pub service_bytes: f64,
    pub row_bytes: f64,
    pub killed_agents: usize,
    pub jobs_on_killed: i64,
    /// From the kill to every script run's full share on live agents, as
    /// stored (the pass that places the jobs writes beside the next one).
    pub move_ms: u128,
    pub passes_to_move: usize,
    /// From the kill to the end of the pass that started the dead agents'
    /// shares on live agents (the load moved; stored during the next pass).
    pub placed_ms: u128,
    pub passes_to_place: usize,
    pub max_pg_connections: i64,
    pub agent_calls: u64,
}

/// CPU time (user + system, ms) of the processes whose /proc/<pid>/stat is
/// `stats` (utime and stime: the 12th and 13th fields after the command).
fn cpu_ms(stats: impl IntoIterator<Item = std::path::PathBuf>) -> f64 {
    let mut ticks = 0.0;
    for path in stats {
        let stat = std::fs::read_to_string(path).unwrap_or_default();
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        ticks += rest.split_whitespace().skip(11).take(2).filter_map(|v| v.parse::<f64>().ok()).sum::<f64>();
    }
    // USER_HZ is 100 on Linux.
    ticks * 10.0
}

/// CPU of this process, and of the Postgres backends serving `pids`.
fn cpu_now(pids: &[i32]) -> (f64, f64) {
    let backends = pids.iter().map(|p| std::path::PathBuf::from(format!("/proc/{p}/stat")));
    (cpu_ms([std::path::PathBuf::from("/proc/self/stat")]), cpu_ms(backends))
}

/// The Postgres backends of the app's pool (kept across passes).
async fn backends(app: &TestApp) -> Vec<i32> {
    connect_dsn(&app.dsn)
        .await
        .query("SELECT pid FROM pg_stat_activity WHERE application_name = $1", &[&app.schema])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn median(mut v: Vec<u128>) -> u128 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// The app, with no controller of its own running (a pass every hour, no
/// nudges): the simulation drives its own [`Controller`].
async fn quiet_app() -> TestApp {
    spawn_app_with(|s| {
        s.controller_interval_ms = 3_600_000;
        // The simulated agents do not heartbeat: they stay healthy for 15 minutes.
        s.fleet_heartbeat_secs = Some(300);
    })
    .await
}

/// Script runs whose whole share is not on live, unended jobs of agents other than `dead`.
async fn unmoved(app: &TestApp, dead: &[i64]) -> i64 {
    connect_dsn(&app.dsn)
        .await
        .query_one(
            "SELECT count(*) FROM (
                 SELECT s.id, COALESCE(sum(j.share) FILTER (WHERE j.state IN ('starting', 'pending', 'running')
                                                         AND NOT (j.agent_id = ANY($1))), 0) AS live
                 FROM script_runs s LEFT JOIN jobs j ON j.script_run_id = s.id GROUP BY s.id) x
             WHERE live < 0.999",
            &[&dead],
        )
        .await
        .unwrap()
        .get(0)
}

async fn pg_connections(app: &TestApp) -> i64 {
    connect_dsn(&app.dsn)
        .await
        .query_one("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", &[&app.schema])
        .await
        .unwrap()
        .get(0)
}

/// Run the simulation: `agents` simulated agents, `runs` runs of 100 jobs,
/// `steady` passes a second apart, then `killed` agents die.
pub async fn simulate(agents: usize, runs: usize, steady: usize, killed: usize) -> (TestApp, Figures) {
    let app = quiet_app().await;
    let sim = SimFleet::start(agents).await;
    let mut state = app.app_state.clone();
    // Nobody waits on this nudge: the app's own controller stays idle.
    state.nudge = Nudge::default();
    for port in sim.ports() {
        let r = alilo_shared::db::fleet::Registration {
            host_name: "127.0.0.1".into(),
            port: i32::from(port),
            tags: vec!["sim".into()],
            capacity_rps: 5000.0,
            version: "sim".into(),
            tls_pin: None,
        };
        alilo_shared::db::fleet::register(&state.db, &r).await.unwrap();
    }
    let project = app.create_project("Fleet at scale").await;
    for r in 0..runs {
        let scenario = app.create_scenario(project, &format!("Run {r}")).await;
        for s in 0..10 {
            // 50,000 rps over 10 agents of 5,000 (AGENT_CAPACITY_RPS).
            let body = json!({"simple_script": {"scenario_id": scenario, "name": format!("s{s}"), "enabled": true,
                "tag": "sim", "path": "127.0.0.1:9/x", "scheme": "http", "http_method": "get",
                "rps": "50000", "steps": "1", "duration": "1h", "max_v_us": "1000"}});
            app.ok("/v1/simple-script/create", body).await;
        }
        let started = alilo_shared::service::runs::start(
            &state,
            &alilo_shared::auth::Principal::no_auth(),
            serde_json::from_value(json!({"scenario_id": scenario, "percentage_of_target": 100})).unwrap(),
        )
        .await;
        assert!(started.is_ok(), "run {r} starts: {:?}", started.err().map(|e| e.message));
    }
    let mut figures = Figures { agents, runs, jobs: runs * 100, ..Figures::default() };
    let fan_out = std::env::var("FLEET_FAN_OUT").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    figures.fan_out = fan_out;
    let mut controller = Controller::new(ControllerOptions { fan_out, ..ControllerOptions::default() });

    // The first pass starts every job.
    let t = Instant::now();
    let first = controller.pass(&state).await.unwrap();
    figures.start_pass_ms = t.elapsed().as_millis();
    if std::env::var_os("FLEET_DEBUG").is_some() {
        eprintln!("start pass: {first:?}");
    }
    assert_eq!(first.actions, figures.jobs, "the first pass starts every job: {first:?}");
    assert_eq!(sim.jobs(), figures.jobs, "every job reached its agent");

    let mut passes: Vec<TickOutcome> = Vec::new();
    let mut walls = Vec::new();
    // Postgres' share: the pool's backends (opened by the first pass, kept).
    let pids = backends(&app).await;
    let (steady_start, cpu_start, sim_start) = (Instant::now(), cpu_now(&pids), SimFleet::cpu_ms());
    for _ in 0..steady {
        let next = Instant::now() + Duration::from_secs(1);
        tokio::time::sleep_until(next.into()).await;
        let t = Instant::now();
        let out = controller.pass(&state).await.unwrap();
        walls.push(t.elapsed().as_millis());
        if std::env::var_os("FLEET_DEBUG").is_some() {
            eprintln!("steady pass: {out:?}");
        }
        figures.max_pg_connections = figures.max_pg_connections.max(pg_connections(&app).await);
        passes.push(out);
    }
    let steady_wall = steady_start.elapsed().as_secs_f64();
    let (cpu_end, sim_cpu) = (cpu_now(&pids), SimFleet::cpu_ms() - sim_start);
    let per_pass = |ms: f64| ms / steady.max(1) as f64;
    figures.sim_cpu_ms_per_pass = per_pass(sim_cpu);
    figures.controller_cpu_ms_per_pass = per_pass(cpu_end.0 - cpu_start.0 - sim_cpu);
    figures.postgres_cpu_ms_per_pass = per_pass(cpu_end.1 - cpu_start.1);
    let steady_out: Vec<&TickOutcome> = passes.iter().collect();
    figures.steady_passes = steady_out.len();
    figures.pass_ms_median = median(walls.clone());
    figures.pass_ms_max = walls.iter().copied().max().unwrap_or(0);
    figures.load_ms_median = median(steady_out.iter().map(|o| o.timings.load.as_millis()).collect());
    figures.poll_ms_median = median(steady_out.iter().map(|o| o.timings.poll.as_millis()).collect());
    figures.act_ms_median = median(steady_out.iter().map(|o| o.timings.act.as_millis()).collect());
    figures.record_ms_median = median(steady_out.iter().map(|o| o.timings.record.as_millis()).collect());
    figures.write_ms_median =
        median(steady_out.iter().filter(|o| !o.timings.write.is_zero()).map(|o| o.timings.write.as_millis()).collect());
    figures.passes_writing = steady_out.iter().filter(|o| o.writing).count();
    figures.passes_outage = steady_out.iter().filter(|o| o.outage.is_some()).count();
    figures.job_seconds_stored = steady_out.iter().map(|o| o.stored_seconds).sum();
    let copy_s: f64 = steady_out.iter().map(|o| o.timings.seconds_write.as_secs_f64()).sum();
    let write_s: f64 = steady_out.iter().map(|o| o.timings.write.as_secs_f64()).sum();
    figures.ingest_rows_per_s = figures.job_seconds_stored as f64 / copy_s.max(1e-9);
    figures.ingest_write_rows_per_s = figures.job_seconds_stored as f64 / write_s.max(1e-9);
    figures.stored_per_wall_s = figures.job_seconds_stored as f64 / steady_wall.max(1e-9);
    for o in &steady_out {
        assert_eq!(o.polled, figures.jobs, "every job polled each pass");
        assert!(o.outage.is_none(), "the database answered all along: no pass counts an outage: {o:?}");
    }
    // Every job's seconds reached the database (each once: the primary key).
    let with_seconds: i64 = connect_dsn(&app.dsn)
        .await
        .query_one("SELECT count(DISTINCT job_id) FROM metric_seconds", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(with_seconds as usize, figures.jobs, "every job has stored seconds");
    let row = connect_dsn(&app.dsn)
        .await
        .query_one(
            "SELECT count(*), pg_total_relation_size('metric_seconds'), pg_relation_size('metric_seconds')
             FROM metric_seconds",
            &[],
        )
        .await
        .unwrap();
    figures.metric_rows = row.get(0);
    figures.metric_bytes = row.get(1);
    figures.metric_heap_bytes = row.get(2);
    figures.bytes_per_job_second = figures.metric_bytes as f64 / (figures.metric_rows.max(1)) as f64;
    let row = connect_dsn(&app.dsn)
        .await
        .query_one(
            "SELECT avg(octet_length(latency))::float8, avg(octet_length(service))::float8,
                    avg(pg_column_size(m.*))::float8
             FROM metric_seconds m",
            &[],
        )
        .await
        .unwrap();
    (figures.latency_bytes, figures.service_bytes, figures.row_bytes) = (row.get(0), row.get(1), row.get(2));

    // Agents die: their shares move within a few passes a second apart.
    if killed > 0 {
        let ports: Vec<u16> = sim.ports().into_iter().take(killed).collect();
        let conn = connect_dsn(&app.dsn).await;
        let dead: Vec<i64> = conn
            .query(
                "SELECT id FROM agents WHERE port = ANY($1)",
                &[&ports.iter().map(|p| i32::from(*p)).collect::<Vec<_>>()],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        figures.killed_agents = dead.len();
        figures.jobs_on_killed =
            conn.query_one("SELECT count(*) FROM jobs WHERE agent_id = ANY($1)", &[&dead]).await.unwrap().get(0);
        let t = Instant::now();
        for p in &ports {
            sim.kill(*p);
        }
        loop {
            let next = Instant::now() + Duration::from_secs(1);
            let out = controller.pass(&state).await.unwrap();
            figures.passes_to_move += 1;
            if figures.placed_ms == 0 && out.actions > 0 {
                (figures.placed_ms, figures.passes_to_place) = (t.elapsed().as_millis(), figures.passes_to_move);
            }
            figures.max_pg_connections = figures.max_pg_connections.max(pg_connections(&app).await);
            let left = unmoved(&app, &dead).await;
            if std::env::var_os("FLEET_DEBUG").is_some() {
                eprintln!("pass {}: {left} script runs not moved yet; {out:?}", figures.passes_to_move);
            }
            if left == 0 {
                figures.move_ms = t.elapsed().as_millis();
                break;
            }
            assert!(figures.passes_to_move < 30, "dead agents' shares not moved after 30 passes: {out:?}");
            tokio::time::sleep_until(next.into()).await;
        }
    }
    figures.agent_calls = sim.calls();
    eprintln!("FLEET-FIGURES {}", serde_json::to_string(&figures).unwrap());
    (app, figures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_carries_200_agents_and_moves_dead_ones_shares() {
    // 200 agents, 400 jobs over 4 runs, 10 agents (5 %) killed.
    let (_app, f) = simulate(200, 4, 3, 10).await;
    assert_eq!(f.killed_agents, 10);
    assert!(f.jobs_on_killed >= 10, "the killed agents carried jobs: {f:?}");
    // Loose bounds for a debug build on a loaded 2-core CI machine; the goals
    // (1,000 agents: pass < 1 s, move < 5 s) are measured by the benchmark.
    assert!(f.pass_ms_median < 10_000, "{f:?}");
    assert!(f.passes_to_move <= 10, "{f:?}");
    assert!(f.max_pg_connections <= 20, "the pool bounds connections: {f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "the full-scale benchmark: bench/fleet/run.sh"]
async fn bench_fleet_full_scale() {
    let agents = std::env::var("FLEET_AGENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let runs = std::env::var("FLEET_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let killed = std::env::var("FLEET_KILLED").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let (_app, f) = simulate(agents, runs, 10, killed).await;
    assert_eq!(f.jobs, runs * 100);
}
