//! Cost of the save-time check of an extended script, which runs on every
//! create, update and upload of a script (and in a Lambda function).
//!
//! Two inputs: a realistic 5-request flow (`bench/script-check/flow.js`, about
//! 4 KB) and a large generated module (about 1 MB). Run with
//! `cargo bench -p alilo-script-check --bench check`, or `bash
//! bench/script-check/run.sh`, which also times Node's parser on the same text
//! as a peer. Prints microseconds per check.

use std::hint::black_box;
use std::time::{Duration, Instant};

use alilo_script_check::check_module;

const FLOW: &str = include_str!("../../bench/script-check/flow.js");

/// A module of about 1 MB: many small functions, as a bundled library is.
fn large() -> String {
    let mut out = String::from("import http from 'k6/http';\n");
    let mut i = 0;
    while out.len() < 1_000_000 {
        out.push_str(&format!(
            "export function step{i}(base, id) {{\n    const url = `${{base}}/items/${{id}}?n={i}`;\n    \
             const res = http.get(url, {{ tags: {{ name: 'step{i}' }} }});\n    return res.status === 200 && {i} > 0;\n}}\n"
        ));
        i += 1;
    }
    out
}

fn per_check_us(name: &str, source: &str) -> f64 {
    check_module(name, source).unwrap_or_else(|p| panic!("the bench script must pass: {p}"));
    let run = |n: u32| {
        let start = Instant::now();
        for _ in 0..n {
            black_box(check_module(name, black_box(source)).is_ok());
        }
        start.elapsed()
    };
    let warm = run(3);
    let n = (Duration::from_secs(2).as_nanos() / (warm.as_nanos() / 3).max(1)).clamp(3, 100_000) as u32;
    run(n).as_secs_f64() * 1e6 / f64::from(n)
}

fn main() {
    let flow = per_check_us("flow.js", FLOW);
    let big = large();
    let large_us = per_check_us("large.js", &big);
    println!("check_module flow.js ({} B): {flow:.0} µs per check", FLOW.len());
    println!("check_module large.js ({} B): {large_us:.0} µs per check", big.len());
    let start = Instant::now();
    black_box(alilo_script_check::imports::imports(black_box(&big)));
    println!("  of which the import scan of large.js: {:.0} µs", start.elapsed().as_secs_f64() * 1e6);
    std::fs::write(std::env::temp_dir().join("alilo-large.js"), big).ok();
}
