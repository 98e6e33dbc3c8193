//! The run-controller in AWS Lambda: clients built once per cold start; each
//! scheduled invocation loops controller passes until shortly before its deadline.

use lambda_runtime::{LambdaEvent, service_fn};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = alilo_shared::router::state_from_env().await?;
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let now_ms =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
        let left = Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
        Ok::<_, lambda_runtime::Error>(alilo_fn_run_controller::run_until(state, Instant::now() + left).await)
    }))
    .await
}
