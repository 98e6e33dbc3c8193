//! The `local` fleet provider (#13, `ALILO_FLEET=local`): `alilo-local` grows
//! its fleet by spawning real agent processes (`alilo-local agent serve
//! --register <this API>`, the same binary), which register themselves like any
//! remote agent; releasing it sends them SIGTERM, so they drain and deregister.
//! For demos, and to test the provider interface for real.

use alilo_shared::control::fleet::{Fleet, FleetError, Offer, agents_needed};
use alilo_shared::db::Db;
use futures::future::BoxFuture;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// Agents spawned by this provider, and how to spawn more.
pub struct LocalFleet {
    /// The binary with the `agent` subcommand (this `alilo-local`).
    pub exe: PathBuf,
    /// This API's URL, where the agents register.
    pub backend: String,
    pub fleet_token: String,
    pub db: Db,
    /// A registered agent is healthy while its last heartbeat is younger.
    pub expiry: Duration,
    /// What each spawned agent announces.
    pub agent_rps: f64,
    pub min: usize,
    pub max: usize,
    /// How long `ensure` waits for new agents to register.
    pub wait: Duration,
    /// Agents serve the certificate derived from their credential
    /// (`--tls-derived`): with `ALILO_AGENT_TLS_REQUIRED`.
    pub tls_derived: bool,
    children: Mutex<Vec<Spawned>>,
}

struct Spawned {
    tag: String,
    child: Child,
}

impl LocalFleet {
    pub fn new(
        exe: PathBuf,
        backend: String,
        fleet_token: String,
        db: Db,
        expiry: Duration,
        config: &alilo_shared::config::FleetConfig,
    ) -> Self {
        Self {
            exe,
            backend,
            fleet_token,
            db,
            expiry,
            agent_rps: config.agent_rps,
            min: config.min,
            max: config.max,
            wait: config.wait,
            tls_derived: false,
            children: Mutex::new(Vec::new()),
        }
    }

    /// Spawned agents serve the certificate derived from their credential.
    #[must_use]
    pub fn with_tls_derived(mut self, tls_derived: bool) -> Self {
        self.tls_derived = tls_derived;
        self
    }

    /// Agents of ours still running (the exited are reaped and forgotten).
    pub fn running(&self) -> usize {
        let mut children = self.children.lock().expect("fleet lock");
        children.retain_mut(|s| matches!(s.child.try_wait(), Ok(None)));
        children.len()
    }

    fn spawn(&self, tag: &str) -> std::io::Result<Child> {
        Command::new(&self.exe)
            .args(["agent", "serve", "--bind", "127.0.0.1", "--port", "0", "--drain-timeout", "5s"])
            .args(["--register", &self.backend, "--tags", tag, "--capacity-rps", &self.agent_rps.to_string()])
            .args(self.tls_derived.then_some("--tls-derived"))
            .env("ALILO_FLEET_TOKEN", &self.fleet_token)
            .env_remove("ALILO_AGENT_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
    }

    async fn offer(&self, tag: &str) -> Result<(usize, f64), FleetError> {
        alilo_shared::db::fleet::offer(&self.db, tag, self.expiry, self.agent_rps)
            .await
            .map_err(|e| FleetError::Failed(format!("cannot read the registry: {}", e.message)))
    }

    async fn grow(&self, capacity_rps: f64, tag: &str) -> Result<Offer, FleetError> {
        let (agents, offered) = self.offer(tag).await?;
        let running = self.running();
        let n = agents_needed(capacity_rps, offered, self.agent_rps, running, self.max);
        if n == 0 {
            if offered < capacity_rps {
                return Err(FleetError::NoCapacity(format!(
                    "{running} local agent(s) run, the maximum (ALILO_FLEET_MAX={}); {offered:.0} of {capacity_rps:.0} rps offered",
                    self.max
                )));
            }
            return Ok(Offer { agents, capacity_rps: offered, started: 0 });
        }
        for _ in 0..n {
            let child = self
                .spawn(tag)
                .map_err(|e| FleetError::Failed(format!("cannot start {} agent serve: {e}", self.exe.display())))?;
            tracing::info!(pid = child.id(), tag, "local fleet: agent started");
            self.children.lock().expect("fleet lock").push(Spawned { tag: tag.to_string(), child });
        }
        let until = tokio::time::Instant::now() + self.wait;
        loop {
            let (now, capacity) = self.offer(tag).await?;
            if now >= agents + n {
                return Ok(Offer { agents: now, capacity_rps: capacity, started: n });
            }
            if tokio::time::Instant::now() >= until {
                return Err(FleetError::Slow(format!(
                    "{} of {n} new local agent(s) registered within {} s",
                    now.saturating_sub(agents),
                    self.wait.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM every agent beyond the minimum (newest first) and wait for them.
    async fn shrink(&self) -> Result<(), FleetError> {
        let leaving: Vec<Spawned> = {
            let mut children = self.children.lock().expect("fleet lock");
            let keep = self.min.min(children.len());
            children.drain(keep..).collect()
        };
        for s in &leaving {
            terminate(&s.child);
        }
        let until = tokio::time::Instant::now() + Duration::from_secs(60);
        for mut s in leaving {
            while matches!(s.child.try_wait(), Ok(None)) {
                if tokio::time::Instant::now() >= until {
                    let _ = s.child.kill();
                    let _ = s.child.wait();
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tracing::info!(pid = s.child.id(), tag = %s.tag, "local fleet: agent stopped");
        }
        Ok(())
    }
}

/// SIGTERM (the agent drains, then deregisters).
fn terminate(child: &Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
}

impl Fleet for LocalFleet {
    fn name(&self) -> &'static str {
        "local"
    }

    fn ensure<'a>(&'a self, capacity_rps: f64, tag: &'a str) -> BoxFuture<'a, Result<Offer, FleetError>> {
        Box::pin(self.grow(capacity_rps, tag))
    }

    fn release(&self) -> BoxFuture<'_, Result<(), FleetError>> {
        Box::pin(self.shrink())
    }
}

impl Drop for LocalFleet {
    /// No orphans: the agents end with this process (they cannot deregister
    /// from an API that is going away; their rows expire as unhealthy).
    fn drop(&mut self) {
        let mut children = self.children.lock().expect("fleet lock");
        for s in children.iter_mut() {
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
    }
}
