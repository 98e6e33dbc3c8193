//! The projects function in AWS Lambda: build the clients once per cold start, then serve.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = alilo_shared::router::state_from_env().await?;
    lambda_http::run(alilo_shared::router::gateway_app(alilo_fn_projects::routes(), state)).await
}
