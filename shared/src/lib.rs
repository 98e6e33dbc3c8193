//! Alilo's domain crate: everything the Lambda functions, the local runner and the
//! tests have in common.
//!
//! The split follows the edge of the system: [`wire`] mirrors the v1 contract's JSON
//! (proto names out, proto or lowerCamel names in, numbers-as-strings), [`model`]
//! holds the validated domain types that wire data must be parsed into, [`db`] and
//! [`storage`] do the I/O, and [`http`] turns every failure into the contract's
//! error body. Handlers in `functions/` only glue these together.

pub mod agent_client;
pub mod agent_tls;
pub mod auth;
pub mod aws_secrets;
pub mod config;
pub mod control;
pub mod counts;
pub mod db;
pub mod eject;
pub mod extended;
pub mod http;
pub mod import;
pub mod model;
pub mod original;
pub mod router;
pub mod run_failure;
pub mod service;
pub mod simple_semantics;
pub mod state;
pub mod storage;
pub mod telemetry;
mod tls_signatures;
pub mod verdict;
pub mod wire;

pub use http::{ApiError, ApiJson, ApiResult};
pub use state::AppState;
