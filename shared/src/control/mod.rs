//! Run control: planning and reconciliation as pure functions ([`plan`],
//! [`reconcile`], [`metrics`]), and the one I/O step around them ([`converge`],
//! [`tick`]) that the run service calls after a change and the run-controller
//! calls on a schedule.
//!
//! The desired state lives in Postgres (runs, script_runs, jobs); the agents hold
//! the actual state. [`converge`] locks one run's row, optionally polls its jobs
//! (storing new seconds idempotently), reconciles, and pushes the actions to the
//! agents. [`tick`] does it for every active run with `SKIP LOCKED`, so two
//! controllers never work on the same run and running twice changes nothing.

pub mod metrics;
pub mod plan;
pub mod reconcile;
mod step;

pub use step::{Converged, TickOutcome, converge, job_spec, tick};
