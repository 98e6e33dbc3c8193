//! Integration tests of every v1 route through HTTP against real Postgres and a
//! real S3-compatible server. One binary (linking is the slow part).

mod agents;
mod bench_auth;
mod bench_core;
mod bench_runs;
mod browser;
mod chaos_proxy;
mod contract;
mod deployment;
mod extended;
mod files;
mod fleet;
mod fleet_scale;
mod gateway;
mod helpers;
mod import_original;
mod live_page;
mod openapi;
mod original_ui;
mod parsing;
mod projects;
mod run_chaos;
mod run_failures;
mod run_logs;
mod runs;
mod safe_input;
mod scenarios;
mod scripts;
mod search;
mod security;
mod sim;
mod simple_scripts;
mod simple_semantics;
mod startup;
mod unhealthy_database;
mod verdicts;
