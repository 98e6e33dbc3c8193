//! The run-controller: reconciles every active run with its agents.
//!
//! EventBridge invokes it once a minute (its floor); one invocation loops
//! [`Controller::pass`] every [`PERIOD`] until [`MARGIN`] before its deadline, so
//! runs are polled every few seconds. The [`Controller`] is built once per cold
//! start and kept across invocations, so its memory of the last desired state
//! carries a database outage (`docs/runs.md`).

use alilo_shared::AppState;
use alilo_shared::control::Controller;
use std::time::{Duration, Instant};

/// Pause between two passes.
pub const PERIOD: Duration = Duration::from_secs(3);
/// Stop looping this long before the invocation's deadline (a pass takes well
/// under a second; a stop call may wait a few seconds for in-flight requests).
pub const MARGIN: Duration = Duration::from_secs(15);

/// Where to push the live series after each pass (`PROMETHEUS_RW_URL`), and
/// the client that pushes.
pub type RemoteWrite = Option<(reqwest::Client, String)>;

/// Run passes until `deadline − MARGIN`; answers how many passes ran and what
/// they did in total.
pub async fn run_until(
    app: &AppState,
    controller: &mut Controller,
    deadline: Instant,
    remote_write: &RemoteWrite,
) -> serde_json::Value {
    let (mut passes, mut polled, mut stored, mut actions, mut failures, mut outages) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    loop {
        let started = Instant::now();
        match controller.pass(app).await {
            Ok(o) => {
                passes += 1;
                polled += o.polled as u64;
                stored += o.stored_seconds;
                actions += o.actions as u64;
                outages += u64::from(o.outage.is_some());
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, "controller pass failed");
            }
        }
        if let Some((client, url)) = remote_write
            && let Err(e) = alilo_shared::service::verdicts::remote_write(app, client, url).await
        {
            tracing::warn!(error = %e, "remote write failed");
        }
        let next = started + PERIOD;
        if next + MARGIN >= deadline {
            break;
        }
        tokio::time::sleep_until(next.into()).await;
    }
    // The hooks and the snapshot of the last pass run beside it: done before the
    // invocation returns and Lambda freezes the process.
    controller.settle(app).await;
    serde_json::json!({"passes": passes, "polled": polled, "stored_seconds": stored, "actions": actions,
        "failed_passes": failures, "passes_without_database": outages,
        "buffered_seconds": controller.buffered_seconds()})
}
