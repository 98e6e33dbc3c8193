//! Run control: planning, reconciliation and roll-up as pure functions ([`plan`],
//! [`reconcile`], [`rollup`], [`metrics`], [`jobs`], [`outage`], [`snapshot`],
//! [`stored`]), and the one
//! I/O loop around them, the run-controller's [`pass`].
//!
//! The desired state lives in Postgres (runs, script_runs, jobs); the agents hold
//! the actual state. A pass loads the desired state in one short transaction,
//! talks to the agents with no transaction open, and records in another short
//! transaction guarded by each run's `version`. User requests only write the
//! desired state and [`Nudge`] the controller; they never wait on an agent.
//! See `docs/runs.md`.

pub mod agents;
pub mod fleet;
pub mod fleet_ecs;
pub mod hooks;
pub mod jobs;
pub mod metrics;
pub mod outage;
pub mod pass;
pub mod plan;
pub mod reconcile;
pub mod rollup;
pub mod snapshot;
pub mod stored;
pub mod write;

pub use pass::{Controller, ControllerOptions, Nudge, PassTimings, TickOutcome, tick};
