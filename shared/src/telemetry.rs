//! Logging in one place: `RUST_LOG` filters (default `info`), JSON lines in Lambda
//! (CloudWatch parses them), plain text elsewhere.
//!
//! Colour only when a person reads the logs on a terminal: logs redirected to a
//! file or a pipe (`alilo-local > run.log`, `| grep`, systemd) would otherwise be
//! full of ANSI escape codes. `NO_COLOR` (https://no-color.org) turns it off too.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    // The fmt layer writes to stdout.
    let ansi = use_colour(std::io::stdout().is_terminal(), std::env::var_os("NO_COLOR").is_some(), in_lambda);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(ansi);
    // `try_init`: tests and the local runner may call this more than once.
    let _ = if in_lambda { builder.without_time().try_init() } else { builder.try_init() };
}

/// Whether log lines get ANSI colour codes.
pub fn use_colour(output_is_terminal: bool, no_color_set: bool, in_lambda: bool) -> bool {
    output_is_terminal && !no_color_set && !in_lambda
}

#[cfg(test)]
mod tests {
    use super::use_colour;

    #[test]
    fn a_terminal_gets_colour() {
        assert!(use_colour(true, false, false));
    }

    #[test]
    fn a_file_or_a_pipe_gets_no_colour() {
        assert!(!use_colour(false, false, false));
    }

    #[test]
    fn no_color_or_lambda_turns_colour_off_even_on_a_terminal() {
        assert!(!use_colour(true, true, false));
        assert!(!use_colour(true, false, true));
    }
}
