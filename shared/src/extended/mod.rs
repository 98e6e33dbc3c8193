//! Extended (k6-style JavaScript) scripts on the backend side.
//!
//! The agent runs them (`agent/src/js`); the backend only has to
//! - check a script when it is saved, with the agent's own engine
//!   ([`validate`], over `alilo-script-check`),
//! - turn a stored script into the job an agent runs ([`job`]: its files as
//!   presigned URLs and the original platform's `__ENV` contract), and
//! - merge what the agents report per second into the run's figures
//!   ([`merge`]).
//!
//! [`location`] says where a script or data file lives (our bucket or an
//! outside URL). Everything but [`validate`] and [`job::presign`] is pure.

pub mod job;
pub mod location;
pub mod merge;
pub mod validate;
