//! Parse throughput for a real browser "Copy as cURL" command of about 4 KB.
//!
//! The importer runs when a user pastes a command into the UI, so it must stay
//! far below the latency of the request that carries it. Run with
//! `cargo bench -p alilo-shared --bench import`; prints microseconds per command.

use std::hint::black_box;
use std::time::{Duration, Instant};

use alilo_shared::import::{contract_json, parse_curl};

/// Chrome 131 "Copy as cURL (bash)" of a GraphQL call on a logged-in single-page
/// app: client hints, a long analytics-laden cookie, a JSON body with `$'…'`
/// escapes, about 4 KB in all.
const CHROME_COMMAND: &str = include_str!("../../bench/import/chrome-4k.curl");

fn main() {
    // Check once that it parses, and what it gives.
    let req = parse_curl(CHROME_COMMAND).unwrap_or_else(|e| panic!("the bench command must parse: {e}"));
    assert_eq!(req.method, "POST");

    let run = |iterations: u32| {
        let start = Instant::now();
        for _ in 0..iterations {
            let req = parse_curl(black_box(CHROME_COMMAND));
            black_box(&req);
        }
        start.elapsed()
    };
    // Warm up, then size the run to about one second.
    let warm = run(100);
    let iterations = (Duration::from_secs(1).as_nanos() / warm.as_nanos().max(1) * 100).clamp(100, 1_000_000) as u32;
    let elapsed = run(iterations);
    let per_command = elapsed.as_secs_f64() * 1e6 / f64::from(iterations);

    let start = Instant::now();
    for _ in 0..iterations {
        black_box(contract_json(black_box(&req)));
    }
    let render = start.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);

    println!(
        "import/parse_curl: {} bytes, {iterations} iterations, {per_command:.1} µs per command \
         ({:.0} MB/s); contract_json: {render:.1} µs",
        CHROME_COMMAND.len(),
        CHROME_COMMAND.len() as f64 / per_command,
    );
}
