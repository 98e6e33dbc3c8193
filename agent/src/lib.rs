//! `alilo-agent`: the load generator of the Alilo platform.
//!
//! The daemon (`alilo-agent serve`) exposes the control API of
//! [`api`] (documented in `docs/agent-api.md`); `alilo-agent run` runs one
//! job from the command line. Both drive the same [`engine`]:
//!
//! - the **scheduler** ([`engine::schedule`], driven by
//!   [`engine::open_loop`]) turns the profile, the live target and scale
//!   into intended send instants, and sends each at its instant whatever
//!   earlier responses do (open model); jobs, their lifecycle and the
//!   registry are [`engine`]'s other modules;
//! - the **client** ([`client`]) keeps the connections (keep-alive pool per
//!   worker, rustls), in layers: transport → HTTP/1.1 on its own wire code
//!   (requests serialised once, responses parsed in place) or HTTP/2 on
//!   hyper's low-level connection → pool; the load path returns an outcome,
//!   the full exchange ([`client::exchange`], for scripts) the whole
//!   response with k6-style timings;
//! - the **stats** ([`stats`]) fold outcomes into per-second buckets with HDR
//!   histograms measured from the intended time (coordinated-omission
//!   corrected) and from the actual send (service time).
//!
//! Wire types live in the `alilo-agent-api` crate so the backend shares them.

#![deny(missing_docs)]

pub mod api;
pub mod cli;
pub mod client;
pub mod engine;
pub mod failures;
pub mod fleet;
pub mod js;
pub mod stats;
pub mod sys;
pub mod target;
pub mod template;

/// User-Agent sent to targets unless the template sets one.
pub const USER_AGENT: &str = concat!("alilo-agent/", env!("CARGO_PKG_VERSION"));
