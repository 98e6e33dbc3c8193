//! Command line: `serve` (the daemon), `run` (one job, live lines and a
//! summary), `target` (the test/benchmark target server).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use alilo_agent_api::script::{ScriptFile, ScriptLoad};
use alilo_agent_api::{
    Bucket, HttpVersion, JobSpec, JobState, JobStatus, Profile, Ramp, RequestTemplate, ScriptSpec, parse_duration,
};
use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::{Parser, Subcommand, ValueEnum};

use crate::api::{ServeConfig, Server};
use crate::engine::Job;
use crate::target::{Target, TargetConfig};

/// The Alilo load agent.
#[derive(Debug, Parser)]
#[command(name = "alilo-agent", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run the daemon with its control API.
    Serve(ServeArgs),
    /// Run one job locally and print a line per second and a summary.
    Run(RunArgs),
    /// Run a test target server (delay, status, stalls).
    Target(TargetArgs),
}

/// `alilo-agent serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Control API port.
    #[arg(long, env = "ALILO_AGENT_PORT", default_value_t = 8888)]
    pub port: u16,
    /// Address to bind.
    #[arg(long, env = "ALILO_AGENT_BIND", default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// Bearer token every request must carry.
    #[arg(long, env = "ALILO_AGENT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Run without a token (only when bound to loopback).
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// Serve the control API over HTTPS with this certificate (PEM, leaf
    /// first). The backend accepts only this certificate for this agent: the
    /// pin printed at start (sha256:…) is reported when registering, or given
    /// to /v1/agent/set as `tls_pin`.
    #[arg(long, env = "ALILO_AGENT_TLS_CERT", requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "ALILO_AGENT_TLS_KEY", requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Serve the control API over HTTPS with a certificate derived from this
    /// agent's credential (ALILO_AGENT_TOKEN, or the one --register answers): no
    /// files, and the backend computes its pin alone (`tls_pin: "derived"`).
    #[arg(long, env = "ALILO_AGENT_TLS_DERIVED", conflicts_with = "tls_cert")]
    pub tls_derived: bool,
    /// Worker threads per job (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// How long final reads are answered after SIGTERM.
    #[arg(long, default_value = "5s")]
    pub shutdown_grace: String,
    /// Join the fleet of the backend at this URL (e.g. http://alilo:8084):
    /// register on start, heartbeat, deregister on SIGTERM. The control API
    /// then requires the credential the backend answers.
    #[arg(long, env = "ALILO_REGISTER_URL")]
    pub register: Option<String>,
    /// The backend's fleet token (its ALILO_FLEET_TOKEN), for --register.
    #[arg(long, env = "ALILO_FLEET_TOKEN", hide_env_values = true)]
    pub fleet_token: Option<String>,
    /// The host name or IP the backend should call this agent at (default: the
    /// bound address, or the local address of the route to the backend).
    #[arg(long, env = "ALILO_AGENT_ADVERTISE")]
    pub advertise: Option<String>,
    /// Tags to register with (comma-separated).
    #[arg(long, env = "ALILO_AGENT_TAGS", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// The rate this agent offers, requests per second (default: measured for
    /// one second against a loopback target at start).
    #[arg(long, env = "ALILO_AGENT_CAPACITY_RPS")]
    pub capacity_rps: Option<f64>,
    /// After SIGTERM, how long a registered agent lets its jobs end before it
    /// stops them (the controller moves their share elsewhere).
    #[arg(long, env = "ALILO_AGENT_DRAIN_TIMEOUT", default_value = "10s")]
    pub drain_timeout: String,
}

/// Ramp kinds on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RampArg {
    /// Flat levels.
    Step,
    /// Linear over the first step.
    Linear,
}

/// `alilo-agent run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// An extended script (k6-style JavaScript) to run instead of `--url`:
    /// one iteration per scheduled instant. Files beside it (its directory
    /// tree) can be imported and `open()`ed.
    pub script: Option<std::path::PathBuf>,
    /// Target URL (simple request).
    #[arg(long, default_value = "")]
    pub url: String,
    /// `__ENV` entry of a script, `KEY=VALUE` (repeatable).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Wall-clock limit of one script iteration.
    #[arg(long, default_value = "60s")]
    pub iteration_timeout: String,
    /// Write a script's summary as JSON to this file (k6's
    /// `--summary-export`).
    #[arg(long)]
    pub summary_export: Option<std::path::PathBuf>,
    /// Target requests per second (open model); for a script, iterations
    /// per second (replaces its scenarios). Without it, `--connections`
    /// runs closed-loop (as fast as possible).
    #[arg(long)]
    pub rps: Option<f64>,
    /// A script's VUs (k6's `--vus`): with `--duration` they loop for that
    /// long (constant-vus), with `--iterations` they share them.
    #[arg(short = 'u', long)]
    pub vus: Option<u64>,
    /// A script's iterations in all, shared by `--vus` VUs (k6's
    /// `--iterations`; replaces its scenarios).
    #[arg(short = 'i', long)]
    pub iterations: Option<u64>,
    /// Closed loop over this many connections (when `--rps` is not given).
    #[arg(short = 'c', long)]
    pub connections: Option<u32>,
    /// Duration, e.g. 30s, 5m, 1h30m (default 10s; for a script it replaces
    /// its scenarios, as k6's `--duration`).
    #[arg(long)]
    pub duration: Option<String>,
    /// Number of steps.
    #[arg(long, default_value_t = 1)]
    pub steps: u32,
    /// Ramp kind.
    #[arg(long, value_enum, default_value = "step")]
    pub ramp: RampArg,
    /// Cap on requests in flight (with `--rps`, a script's VUs at most).
    #[arg(long, default_value_t = 1000)]
    pub max_vus: u64,
    /// Header `Name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,
    /// Request body.
    #[arg(short = 'd', long = "data")]
    pub body: Option<String>,
    /// Method.
    #[arg(short = 'X', long = "method", default_value = "GET")]
    pub method: String,
    /// Use HTTP/2.
    #[arg(long)]
    pub http2: bool,
    /// Do not verify TLS certificates.
    #[arg(long)]
    pub insecure: bool,
    /// Request timeout.
    #[arg(long, default_value = "30s")]
    pub timeout: String,
    /// Worker threads (0: one per core available to the process).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Print the final job status as JSON on stdout (live lines go to stderr).
    #[arg(long)]
    pub json: bool,
    /// No live lines.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `alilo-agent target`.
#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    /// Port (0: any; the chosen address is printed).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Address.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Delay before each response, e.g. 100ms.
    #[arg(long, default_value = "0")]
    pub delay: String,
    /// Response status.
    #[arg(long, default_value_t = 200)]
    pub status: u16,
    /// Stall period, e.g. 5s (with --stall-for).
    #[arg(long, default_value = "0")]
    pub stall_every: String,
    /// Stall length, e.g. 500ms.
    #[arg(long, default_value = "0")]
    pub stall_for: String,
    /// Write `unix_ms count` per 10 ms to this file on exit.
    #[arg(long)]
    pub rate_log: Option<String>,
    /// Exit after this long (default: until SIGTERM/SIGINT).
    #[arg(long)]
    pub run_for: Option<String>,
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Runs the parsed command line as the process (`alilo-agent`, or
/// `alilo-local agent`): the control plane is light, so it gets one thread
/// (each job's workers run their own single-threaded runtimes on their own
/// threads); an error is printed and exits with 2.
pub fn run_main(cli: Cli) -> ExitCode {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    match rt.block_on(main(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the parsed command line.
pub async fn main(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::Serve(a) => serve(a).await,
        Cmd::Run(a) => run(a).await,
        Cmd::Target(a) => target(a).await,
    }
}

async fn serve(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = ServeConfig {
        addr: SocketAddr::new(a.bind, a.port),
        token: a.token.clone(),
        insecure_no_auth: a.insecure_no_auth,
        workers: a.workers,
        shutdown_grace: parse_duration(&a.shutdown_grace).map_err(|e| anyhow::anyhow!("--shutdown-grace: {e}"))?,
        drain_timeout: parse_duration(&a.drain_timeout).map_err(|e| anyhow::anyhow!("--drain-timeout: {e}"))?,
        tls: match (&a.tls_cert, &a.tls_key) {
            (Some(cert), Some(key)) => Some(crate::api::tls::load(cert, key)?),
            _ => None,
        },
    };
    if let Some(url) = &a.register {
        return serve_registered(&a, url, cfg).await;
    }
    if a.tls_derived {
        // The current credential: the first during a rotation (`new,old`).
        let credential = cfg.token.as_deref().and_then(|t| t.split(',').map(str::trim).find(|t| !t.is_empty()));
        let credential = credential.context(
            "--tls-derived derives the certificate from the agent's credential: set ALILO_AGENT_TOKEN (or use --register)",
        )?;
        cfg.tls = Some(crate::api::tls::derived(credential)?);
    }
    let server = Server::bind(cfg).await?;
    tracing::info!(url = %server.url(), tls_pin = ?server.tls_pins().map(|p| p.to_string()), "alilo-agent listening");
    eprintln!("alilo-agent listening on {}{}", server.url(), pin_note(&server));
    server.run_until_stopped(shutdown_signal()).await;
    Ok(ExitCode::SUCCESS)
}

/// `serve --register`: bind (the port is part of the identity), find the
/// address and capacity, register, then serve with the credential the backend
/// answered (and `--token`'s, if given, during a rotation).
async fn serve_registered(a: &ServeArgs, url: &str, mut cfg: ServeConfig) -> anyhow::Result<ExitCode> {
    let backend = crate::fleet::backend_base(url)?;
    let token = a
        .fleet_token
        .clone()
        .filter(|t| !t.trim().is_empty())
        .context("--register needs the backend's fleet token: set ALILO_FLEET_TOKEN (or --fleet-token)")?;
    if let Some(c) = a.capacity_rps
        && !(c.is_finite() && c > 0.0)
    {
        bail!("--capacity-rps {c}: give a rate above 0");
    }
    let listener = tokio::net::TcpListener::bind(cfg.addr).await.with_context(|| format!("binding {}", cfg.addr))?;
    let port = listener.local_addr()?.port();
    let host = crate::fleet::detect_host(a.advertise.as_deref(), a.bind, &backend).await?;
    let capacity_rps = match a.capacity_rps {
        Some(c) => c,
        None => {
            let c = crate::fleet::measure_capacity(a.workers).await?;
            tracing::info!(capacity_rps = c.round(), "capacity measured against a loopback target");
            c
        }
    };
    let registration = crate::fleet::Registration {
        host_name: host,
        port,
        tags: a.tags.iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect(),
        capacity_rps,
        version: env!("CARGO_PKG_VERSION").to_string(),
        tls_pin: if a.tls_derived {
            // Derived from the credential this registration answers: the backend computes it.
            Some(alilo_agent_api::pin::DERIVED.to_string())
        } else {
            cfg.tls.as_ref().map(|t| t.pins.to_string())
        },
    };
    let member = crate::fleet::Member::register(&backend, &token, registration).await?;
    cfg.token = Some(match cfg.token.take().filter(|t| !t.is_empty()) {
        Some(own) => format!("{},{own}", member.credential),
        None => member.credential.clone(),
    });
    cfg.insecure_no_auth = false;
    if a.tls_derived {
        cfg.tls = Some(crate::api::tls::derived(&member.credential)?);
    }
    let server = Server::with_listener(listener, cfg)?;
    tracing::info!(url = %server.url(), agent_id = member.agent_id, backend = %backend,
        "alilo-agent listening, registered");
    eprintln!(
        "alilo-agent listening on {} as {}:{} (agent {} of {backend}){}",
        server.url(),
        member.registration.host_name,
        port,
        member.agent_id,
        pin_note(&server)
    );
    server.run_registered(shutdown_signal(), member).await;
    Ok(ExitCode::SUCCESS)
}

/// `; certificate sha256:…` when serving TLS: what an admin pins.
fn pin_note(server: &Server) -> String {
    server.tls_pins().map(|p| format!("; certificate {p}")).unwrap_or_default()
}

/// Builds the job spec of `alilo-agent run`.
pub fn run_spec(a: &RunArgs) -> anyhow::Result<JobSpec> {
    Ok(run_plan(a)?.0)
}

/// The job spec of `alilo-agent run` and, for a script, the effective
/// `options` it runs (the script's, with the command line's overrides:
/// [`crate::js::options::with_overrides`]) and what they resolve to.
pub fn run_plan(a: &RunArgs) -> anyhow::Result<(JobSpec, Option<(serde_json::Value, crate::js::options::Resolved)>)> {
    let mut headers = BTreeMap::new();
    for h in &a.headers {
        let (k, v) = h.split_once(':').with_context(|| format!("-H {h:?}: expected \"Name: value\""))?;
        headers.insert(k.trim().to_string(), v.trim().to_string());
    }
    let duration = a.duration.clone().unwrap_or_else(|| "10s".into());
    let mut profile = Profile {
        rps: a.rps.unwrap_or(0.0),
        steps: a.steps,
        duration: duration.clone(),
        ramp: match a.ramp {
            RampArg::Step => Ramp::Step,
            RampArg::Linear => Ramp::Linear,
        },
    };
    let mut max_vus = a.max_vus;
    let mut closed = None;
    let (script, plan) = match &a.script {
        Some(path) => {
            if a.connections.is_some() {
                bail!("--connections is for --url; a script's load is --vus/--duration/--iterations or --rps");
            }
            if a.rps.is_none() && (a.steps != 1 || matches!(a.ramp, RampArg::Linear)) {
                bail!(
                    "--steps and --ramp shape --rps; without --rps the script's options (or --vus/--duration/--iterations) set the load"
                );
            }
            let mut spec = script_spec(path, &a.env, &a.iteration_timeout)?;
            let own = crate::js::read_options(&spec).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let overrides = crate::js::options::Overrides {
                vus: a.vus,
                duration: a.duration.clone().or_else(|| a.rps.map(|_| duration.clone())),
                iterations: a.iterations,
                rps: a.rps.map(|rps| crate::js::options::Rps {
                    rps,
                    steps: a.steps,
                    linear: matches!(a.ramp, RampArg::Linear),
                    max_vus: a.max_vus,
                }),
            };
            let options =
                crate::js::options::with_overrides(own.as_ref(), &overrides).map_err(|e| anyhow::anyhow!(e))?;
            let resolved = crate::js::options::resolve(Some(&options)).map_err(|e| anyhow::anyhow!(e))?;
            let end = resolved.scenarios.iter().map(crate::js::plan::Scenario::end).max().unwrap_or_default();
            profile = Profile {
                rps: 0.0,
                steps: 1,
                duration: alilo_agent_api::format_duration(end.max(Duration::from_millis(1))),
                ramp: Ramp::Step,
            };
            max_vus = resolved.peak_vus().max(1);
            spec.load = ScriptLoad::Options { options: Some(options.clone()), reference_rps: None };
            (Some(spec), Some((options, resolved)))
        }
        None => {
            if a.url.is_empty() {
                bail!("give a script file or --url");
            }
            if a.vus.is_some() || a.iterations.is_some() {
                bail!("--vus and --iterations are for scripts; --url takes --rps or --connections");
            }
            closed = match (a.rps, a.connections) {
                (Some(_), Some(_)) => bail!("give --rps (open model) or --connections (closed loop), not both"),
                (None, None) => bail!("give --rps (open model) or --connections (closed loop)"),
                (None, Some(c)) => Some(c),
                (Some(_), None) => None,
            };
            (None, None)
        }
    };
    let spec = JobSpec {
        request: RequestTemplate {
            method: a.method.clone(),
            url: a.url.clone(),
            headers,
            query: BTreeMap::new(),
            body: a.body.clone(),
        },
        script,
        data: None,
        checks: Default::default(),
        profile,
        scale: 1.0,
        max_vus,
        start_at_ms: None,
        timeout: a.timeout.clone(),
        tls_verify: !a.insecure,
        http: if a.http2 { HttpVersion::Http2 } else { HttpVersion::Http1 },
        lease: "0".into(),
        closed_loop_connections: closed,
        log_key: None,
        allowed_targets: Vec::new(),
    };
    Ok((spec, plan))
}

/// A script file and the files of its directory tree (what it may import
/// or `open()`), at most [`MAX_SCRIPT_FILES`] files.
pub fn script_spec(path: &std::path::Path, env: &[String], iteration_timeout: &str) -> anyhow::Result<ScriptSpec> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let entry = path.file_name().context("the script path names no file")?.to_string_lossy().into_owned();
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "node_modules" {
                continue;
            }
            let p = e.path();
            if e.file_type()?.is_dir() {
                stack.push(p);
            } else if e.metadata()?.len() <= crate::js::files::MAX_FILE_BYTES as u64 {
                let rel = p.strip_prefix(dir).unwrap_or(&p).to_string_lossy().replace('\\', "/");
                let Ok(content) = std::fs::read_to_string(&p) else { continue };
                files.push(ScriptFile { path: rel, content: Some(content), url: None });
                if files.len() > MAX_SCRIPT_FILES {
                    bail!(
                        "{} holds more than {MAX_SCRIPT_FILES} files: put the script in a directory of its own",
                        dir.display()
                    );
                }
            }
        }
    }
    let mut vars = BTreeMap::new();
    for kv in env {
        let (k, v) = kv.split_once('=').with_context(|| format!("-e {kv:?}: expected KEY=VALUE"))?;
        vars.insert(k.to_string(), v.to_string());
    }
    Ok(ScriptSpec {
        entry,
        files,
        env: vars,
        iteration_timeout: Some(iteration_timeout.to_string()),
        load: ScriptLoad::Profile,
    })
}

/// Files a standalone script's directory may hold.
pub const MAX_SCRIPT_FILES: usize = 1000;

fn live_line(b: &Bucket) -> String {
    let it = match &b.script {
        Some(s) => {
            format!("  it {:>6}  exc {:>4}  VUs {:>4}/{:<4}", s.iterations, s.failed_iterations, s.vus, s.vus_max)
        }
        None => String::new(),
    };
    let lat = alilo_agent_api::hist::decode(&b.latency).unwrap_or_else(|_| alilo_agent_api::hist::new());
    let q = |x| alilo_agent_api::hist::quantile_ms(&lat, x);
    let errs = b.errors.total();
    format!(
        "{:>5}s  target {:>8.1}  sent {:>7}  ok {:>7}  failed {:>5}  errors {:>5}  dropped {:>5}  p50 {:>8.2}ms  p99 {:>8.2}ms  lag p99 {:>6.3}ms",
        b.second + 1,
        b.target_rps,
        b.sent,
        b.ok,
        b.failed,
        errs,
        b.dropped,
        q(0.5),
        q(0.99),
        b.lag_p99_us as f64 / 1000.0
    ) + &it
}

/// The final summary, human-readable.
pub fn summary_text(s: &JobStatus, closed: bool) -> String {
    let m = &s.summary;
    let mut out = String::new();
    out.push_str(&format!(
        "\n{} ({}) after {:.2}s\n",
        format!("{:?}", s.state).to_lowercase(),
        s.reason.as_deref().unwrap_or(""),
        m.duration_s
    ));
    if closed {
        out.push_str(&format!("requests  {} sent, {:.1}/s (closed loop)\n", m.sent, m.achieved_rps));
    } else {
        let ratio = if m.expected > 0.0 { m.sent as f64 / m.expected * 100.0 } else { 0.0 };
        out.push_str(&format!(
            "requests  {} sent of {:.0} asked ({ratio:.2} %), achieved {:.1}/s\n",
            m.sent, m.expected, m.achieved_rps
        ));
    }
    out.push_str(&format!("outcome   {} ok, {} failed, {} dropped (max VUs)\n", m.ok, m.failed, m.dropped));
    let codes: Vec<String> = m.status.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    out.push_str(&format!("status    {}\n", codes.join(", ")));
    let e = &m.errors;
    out.push_str(&format!(
        "errors    connect {}, timeout {}, tls {}, reset {}, other {}\n",
        e.connect, e.timeout, e.tls, e.reset, e.other
    ));
    out.push_str(&format!("bytes     {} sent, {} received\n", m.bytes_sent, m.bytes_received));
    out.push_str("latency (ms)        mean      p50      p90      p95      p99    p99.9      max\n");
    for (name, p) in [("corrected  ", &m.latency), ("service    ", &m.service), ("sched. lag ", &m.schedule_lag)] {
        out.push_str(&format!(
            "  {name} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3}\n",
            p.mean, p.p50, p.p90, p.p95, p.p99, p.p999, p.max
        ));
    }
    out
}

/// Exit code of `alilo-agent run` when a script's threshold fails (k6's).
pub const THRESHOLDS_FAILED: u8 = 99;

async fn run(a: RunArgs) -> anyhow::Result<ExitCode> {
    let (spec, plan) = run_plan(&a)?;
    // The script's options, for its thresholds (checked before the load).
    let options = plan.as_ref().map(|(o, _)| o.clone());
    if let Some(o) = &options
        && let Some(th) = o.get("thresholds")
    {
        alilo_agent_api::threshold::parse_options(th).map_err(|e| anyhow::anyhow!("options.{e}"))?;
    }
    let trend_stats = crate::js::options::trend_stats(options.as_ref()).map_err(|e| anyhow::anyhow!(e))?;
    if let Some((_, r)) = &plan {
        for w in &r.warnings {
            eprintln!("warning: {w}");
        }
        if !a.quiet {
            for s in &r.scenarios {
                eprintln!(
                    "scenario {}: {} (VUs up to {}, {} + gracefulStop {})",
                    s.name,
                    s.executor.name(),
                    s.executor.peak_vus(),
                    alilo_agent_api::format_duration(s.executor.length()),
                    alilo_agent_api::format_duration(s.graceful_stop),
                );
            }
        }
    }
    let abort_watch = options.as_ref().is_some_and(crate::js::thresholds::any_abort);
    let closed = spec.closed_loop_connections.is_some()
        || plan.as_ref().is_some_and(|(_, r)| r.scenarios.iter().all(|s| s.executor.is_closed()));
    let workers =
        if a.workers == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { a.workers };
    let job = Job::new("cli", spec, workers).map_err(|e| anyhow::anyhow!("{e}"))?;
    job.launch();
    let mut done = job.finished();
    let mut cursor = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let sig = shutdown_signal();
    tokio::pin!(sig);
    let mut interrupted = false;
    let mut aborted: Option<String> = None;
    let mut judged_at = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = done.wait_for(|d| *d) => {}
            _ = &mut sig, if !interrupted => {
                interrupted = true;
                job.request_stop("interrupted", Duration::from_secs(2));
            }
        }
        let st = job.status(cursor);
        cursor = st.cursor;
        if !a.quiet {
            for b in &st.buckets {
                eprintln!("{}", live_line(b));
            }
        }
        if st.state.is_terminal() {
            break;
        }
        // abortOnFail: judged on the run so far at every new second.
        if abort_watch
            && aborted.is_none()
            && cursor > judged_at
            && let Some(options) = &options
        {
            judged_at = cursor;
            let now = job.status(0);
            if let Some(t) = crate::js::summary::ScriptTotals::of(&now.buckets) {
                let verdicts = crate::js::thresholds::judge(options, &now, &t).map_err(|e| anyhow::anyhow!(e))?;
                let elapsed = Duration::from_millis(now.elapsed_ms);
                if let Some(v) = crate::js::thresholds::aborting(&verdicts, elapsed) {
                    let observed = v.judged.map(|j| j.observed).unwrap_or_default();
                    let why = format!("threshold {} {} crossed (abortOnFail): {observed:.3}", v.key, v.source);
                    eprintln!("{why}: stopping the test");
                    job.request_stop(&why, Duration::from_secs(2));
                    aborted = Some(why);
                }
            }
        }
    }
    let st = job.status(0);
    let mut text = summary_text(&st, closed);
    let mut thresholds_failed = false;
    if let Some(mut t) = crate::js::summary::ScriptTotals::of(&st.buckets) {
        t.trend_stats = trend_stats;
        text.push_str(&t.text(st.summary.duration_s));
        let mut doc = t.json(st.summary.duration_s);
        if let Some(options) = &options {
            let verdicts = crate::js::thresholds::judge(options, &st, &t).map_err(|e| anyhow::anyhow!(e))?;
            let mut rows = serde_json::Map::new();
            for v in &verdicts {
                let (mark, value) = match v.judged {
                    Some(j) => (if j.passed { '✓' } else { '✗' }, format!("{:.3}", j.observed)),
                    None => ('?', "no data".into()),
                };
                text.push_str(&format!("threshold {mark} {} {}  ({value})\n", v.key, v.source));
                rows.insert(
                    format!("{} {}", v.key, v.source),
                    serde_json::json!({"ok": !v.failed(), "observed": v.judged.map(|j| j.observed)}),
                );
                thresholds_failed |= v.failed();
            }
            doc["thresholds"] = serde_json::Value::Object(rows);
        }
        if let Some(path) = &a.summary_export {
            let doc = serde_json::to_string_pretty(&doc)?;
            std::fs::write(path, doc).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if a.json {
        eprint!("{text}");
        println!("{}", serde_json::to_string(&st)?);
    } else {
        print!("{text}");
    }
    Ok(if st.state == JobState::Failed {
        eprintln!("job failed: {}", st.reason.unwrap_or_default());
        ExitCode::FAILURE
    } else if let Some(why) = aborted {
        eprintln!("test aborted: {why}");
        ExitCode::from(THRESHOLDS_FAILED)
    } else if thresholds_failed {
        eprintln!("some thresholds have failed");
        ExitCode::from(THRESHOLDS_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

async fn target(a: TargetArgs) -> anyhow::Result<ExitCode> {
    let d = |name: &str, v: &str| parse_duration(v).map_err(|e| anyhow::anyhow!("--{name}: {e}"));
    let cfg = TargetConfig {
        delay: d("delay", &a.delay)?,
        status: a.status,
        stall_every: d("stall-every", &a.stall_every)?,
        stall_for: d("stall-for", &a.stall_for)?,
        body: Bytes::from_static(b"ok"),
        tls: None,
        keep_requests: 0,
        rate_log: a.rate_log.is_some(),
        close: false,
    };
    let t = Target::start(SocketAddr::new(a.bind, a.port), cfg).await?;
    println!("listening on {}", t.addr);
    match &a.run_for {
        Some(r) => {
            let r = d("run-for", r)?;
            tokio::select! {
                _ = tokio::time::sleep(r) => {}
                _ = shutdown_signal() => {}
            }
        }
        None => shutdown_signal().await,
    }
    if let Some(path) = &a.rate_log {
        let log = t.stats.per_10ms.lock().expect("rate log lock");
        let mut out = String::new();
        for (slot, n) in log.iter() {
            out.push_str(&format!("{} {n}\n", slot * 10));
        }
        std::fs::write(path, out).with_context(|| format!("writing {path}"))?;
    }
    Ok(ExitCode::SUCCESS)
}
