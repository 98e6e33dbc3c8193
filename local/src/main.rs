//! `alilo-local`: see the library docs.

use clap::Parser;
use std::process::ExitCode;

/// mimalloc: the API's requests are allocation-heavy (rows, JSON), and glibc's
/// malloc was ~14 % of the server's CPU on list endpoints.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // `.env` first, so that the real environment and then flags override it.
    let _ = dotenvy::dotenv();
    let settings = alilo_local::Settings::parse();
    alilo_shared::telemetry::init();
    let app = match alilo_local::Application::build(&settings).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("alilo-local: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!("Alilo API on http://{}  (Swagger UI: /swagger)", app.local_addr());
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("alilo-local: server stopped: {e}");
            ExitCode::FAILURE
        }
    }
}
