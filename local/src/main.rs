//! `alilo-local`: see the library docs. `alilo-local agent …` is `alilo-agent …`
//! (the same library, linked in), so the `local` fleet provider and the tests
//! start real agent processes from this one binary.

use clap::Parser;
use std::process::ExitCode;

/// mimalloc: the API's requests are allocation-heavy (rows, JSON), and glibc's
/// malloc was ~14 % of the server's CPU on list endpoints.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("agent") {
        return agent();
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime").block_on(local())
}

/// `alilo-local agent <alilo-agent arguments>`.
fn agent() -> ExitCode {
    let cli = alilo_agent::cli::Cli::parse_from(std::env::args().skip(1));
    alilo_shared::telemetry::init();
    // As `alilo-agent`: the control plane on one thread, each job's workers on their own.
    alilo_agent::cli::run_main(cli)
}

async fn local() -> ExitCode {
    // `.env` first, so that the real environment and then flags override it.
    let _ = dotenvy::dotenv();
    if std::env::args().nth(1).as_deref() == Some("import-original") {
        alilo_shared::telemetry::init();
        let args = alilo_local::import_original::Args::parse_from(std::env::args().skip(1));
        return match alilo_local::import_original::run(args).await {
            Ok(report) => {
                println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
                for (kind, id, why) in &report.refused {
                    eprintln!(
                        "alilo-local import-original: {kind} {id} left behind, refused by the target allow-list: {why}"
                    );
                }
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
