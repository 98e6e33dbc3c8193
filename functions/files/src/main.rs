//! The files function in AWS Lambda: build the clients once per cold start, then serve.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = alilo_shared::router::state_from_env().await?;
    let routes = alilo_fn_files::routes_with_limit(state.limits.max_upload_bytes);
    lambda_http::run(alilo_shared::router::gateway_app(routes, state)).await
}
