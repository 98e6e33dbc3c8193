//! What every handler receives: built once per cold start (or once by
//! `alilo-local`), cheap to clone.

use crate::agent_client::AgentClient;
use crate::config::{Config, Limits};
use crate::db::Db;
use crate::storage::Storage;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub storage: Storage,
    pub limits: Limits,
    /// The client of the agents' control API (derives each agent's credential).
    pub agents: AgentClient,
    /// Sessions, tokens, cross-site checks, the target allow-list.
    pub auth: std::sync::Arc<crate::auth::AuthConfig>,
    /// Wakes this process's run-controller after a change of desired state.
    pub nudge: crate::control::Nudge,
    /// Where agents come from (#13): grown before a run, shrunk when quiet.
    pub fleet: std::sync::Arc<dyn crate::control::fleet::Fleet>,
}

impl AppState {
    /// Connect to Postgres and object storage as configured. Migrations are not
    /// applied here: `alilo-local` and the `migrate` step do that.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        let db = Db::connect_with(&config.dsn, &config.limits)?;
        let storage = Storage::connect(&config.s3).await?;
        let mut state = Self {
            db,
            storage,
            limits: config.limits,
            agents: AgentClient::new(config.agent_key.clone()).requiring_tls(config.auth.agent_tls_required),
            auth: std::sync::Arc::new(config.auth.clone()),
            nudge: crate::control::Nudge::default(),
            fleet: std::sync::Arc::new(crate::control::fleet::StaticFleet),
        };
        match config.fleet.provider {
            crate::config::FleetProvider::Ecs => {
                state.fleet = crate::control::fleet_ecs::from_config(config, &state).map_err(anyhow::Error::msg)?;
            }
            crate::config::FleetProvider::Local => {
                tracing::warn!("ALILO_FLEET=local only works in alilo-local; the static fleet is used")
            }
            crate::config::FleetProvider::Static => {}
        }
        Ok(state)
    }
}
