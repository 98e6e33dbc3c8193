//! `alilo-agent`: parses the command line and hands it to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = alilo_agent::cli::Cli::parse();
    let default = match cli.cmd {
        alilo_agent::cli::Cmd::Serve(_) => "info",
        // A script's console.* lines show, as with `k6 run`.
        alilo_agent::cli::Cmd::Run(_) => "warn,script=info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .init();
    // The control plane is light: one thread. Each job's workers run their
    // own single-threaded runtimes on their own threads.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    match rt.block_on(alilo_agent::cli::main(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
