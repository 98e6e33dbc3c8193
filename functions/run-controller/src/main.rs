//! The run-controller in AWS Lambda: clients and the controller (with its outage
//! memory) built once per cold start; each scheduled invocation loops controller
//! passes until shortly before its deadline. Invocations of one instance never
//! overlap, so the mutex is never contended.

use alilo_shared::control::{Controller, ControllerOptions, outage::OutageLimits};
use lambda_runtime::{LambdaEvent, service_fn};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = alilo_shared::router::state_from_env().await?;
    let state = &state;
    let outage = OutageLimits::from_env()?;
    let controller = tokio::sync::Mutex::new(Controller::new(ControllerOptions { outage, ..Default::default() }));
    let controller = &controller;
    let remote_write =
        std::env::var("PROMETHEUS_RW_URL").ok().filter(|u| !u.is_empty()).map(|url| (reqwest::Client::new(), url));
    let remote_write = &remote_write;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let now_ms =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
        let left = Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
        let mut controller = controller.lock().await;
        Ok::<_, lambda_runtime::Error>(
            alilo_fn_run_controller::run_until(state, &mut controller, Instant::now() + left, remote_write).await,
        )
    }))
    .await
}
