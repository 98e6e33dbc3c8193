//! The migrate function in AWS Lambda.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    alilo_shared::telemetry::init();
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| async move {
        alilo_fn_migrate::handle(event.payload).await.map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))
    }))
    .await
}
