//! `alilo-agent`: parses the command line and hands it to the library.

use std::process::ExitCode;

use clap::Parser;
use std::io::IsTerminal;

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
        // Colour only on a terminal: no ANSI codes in log files or pipes.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
    alilo_agent::cli::run_main(cli)
}
