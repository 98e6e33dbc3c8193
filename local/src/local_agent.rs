//! The agent `alilo-local` starts by default: the real `alilo-agent` server, in
//! process, on a free loopback port with its own credential (derived from the
//! backend's fleet key for its host and port), registered
//! (enabled, tagged `local`) so a scenario tagged `local` (or untagged) runs on it.
//! With `ALILO_AGENT_TLS_REQUIRED` it serves the certificate derived from its
//! credential (as `alilo-agent serve --tls-derived`), registered with its pin.

use alilo_shared::AppState;
use std::time::Duration;

/// The tag of the local agent.
pub const TAG: &str = "local";

pub struct LocalAgent {
    server: alilo_agent::api::Server,
    pub url: String,
}

/// Bind the agent and register it, replacing the registrations of earlier local agents.
pub async fn start(state: &AppState) -> anyhow::Result<LocalAgent> {
    // The port must be known before the credential: bind, then hand the socket over.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let credential =
        state.agents.credential(&alilo_shared::agent_client::base_url("127.0.0.1", &addr.port().to_string()));
    let tls = if state.agents.tls_required() { Some(alilo_agent::api::tls::derived(&credential)?) } else { None };
    let pin = tls.as_ref().map(|t| t.pins.to_string());
    let server = alilo_agent::api::Server::with_listener(
        listener,
        alilo_agent::api::ServeConfig {
            addr,
            token: Some(credential),
            insecure_no_auth: false,
            workers: 0,
            shutdown_grace: Duration::from_secs(1),
            drain_timeout: Duration::ZERO,
            tls,
        },
    )?;
    let port = i32::from(server.local_addr().port());
    let conn = state.db.conn().await?;
    // Earlier local agents (other ports) are gone: keep them registered but disabled.
    conn.execute(
        "UPDATE agents SET enabled = FALSE, updated_at = now()
         WHERE host_name = '127.0.0.1' AND tags = ARRAY[$1::text] AND port <> $2",
        &[&TAG, &port],
    )
    .await?;
    conn.execute(
        "INSERT INTO agents (host_name, port, enabled, tags, tls_pin) VALUES ('127.0.0.1', $1, TRUE, ARRAY[$2::text], $3)
         ON CONFLICT (host_name, port) DO UPDATE
         SET enabled = TRUE, tags = EXCLUDED.tags, tls_pin = EXCLUDED.tls_pin, updated_at = now()",
        &[&port, &TAG, &pin],
    )
    .await?;
    let url = alilo_shared::agent_client::Endpoint::of("127.0.0.1", &port.to_string(), pin.as_deref()).to_string();
    tracing::info!(%url, "local agent started (tag {TAG:?})");
    Ok(LocalAgent { server, url })
}

impl LocalAgent {
    /// Serve until `stop` turns true; then the agent stops its jobs.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        self.server
            .run_until_stopped(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
    }
}
