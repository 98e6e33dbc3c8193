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
    if std::env::args().nth(1).as_deref() == Some("import-original") {
        alilo_shared::telemetry::init();
        let args = alilo_local::import_original::Args::parse_from(std::env::args().skip(1));
        return match alilo_local::import_original::run(args).await {
            Ok(report) => {
                println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("alilo-local import-original: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
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
