//! The engine: jobs, their workers and their collectors, one module per job
//! to do:
//!
//! | module | owns |
//! | --- | --- |
//! | [`validate`](mod@validate) | the checks of a spec, an id and a rate change, pure, naming the field |
//! | [`job`] | [`Job`]: its shared state (live rate, stop flag, in-flight count, collected seconds) and what the API reads and changes |
//! | [`lifecycle`] | a job's supervisor (prepare, start the workers, finish) and its collector (close seconds, watch the end and the lease) |
//! | [`worker`] | a worker thread with its runtime, its pool and its statistics; sending one request |
//! | [`schedule`] | the open-model arithmetic: when each request is due, pure |
//! | [`open_loop`], [`closed_loop`] | the two sending loops of a worker |
//! | [`registry`] | the agent's jobs by id |
//!
//! A job runs on `W` worker threads, each with its own single-threaded tokio
//! runtime, its own connections and its own statistics (like wrk's threads:
//! no cross-core traffic on the hot path). Each worker owns `1/W` of the
//! rate: it computes each request's *intended* send time from the profile
//! and the live target/scale, sleeps until then, and sends it whatever the
//! earlier responses are doing (open model). One loop serves every profile;
//! the closed-loop mode (benchmarks) is a separate, trivial loop.
//!
//! A collector task (on the caller's runtime) closes each second, merges the
//! workers' seconds into one bucket, watches the lease and the end of the
//! profile, and keeps the ring of the last 15 minutes.

pub mod closed_loop;
pub mod job;
pub mod lifecycle;
pub mod open_loop;
pub mod registry;
pub mod schedule;
pub mod validate;
pub mod worker;

pub use job::{DEFAULT_STOP_WAIT, Job, MAX_STOP_WAIT};
pub use registry::{Registry, StartError};
pub use validate::validate;
