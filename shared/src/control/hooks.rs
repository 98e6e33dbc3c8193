//! Where other features plug into the run-controller, each in one place; the
//! pass calls them at the points named.
//!
//! - [`observe`]: every job status an agent reported this pass (a poll, or the
//!   answer to a start or a stop), before it is recorded;
//! - [`after_pass`]: after every pass whose record reached the database, with the
//!   runs it worked on as they stand after it, in a task of its own beside the
//!   next passes (one at a time, cut short after 60 s): a hook must never hold
//!   the controller, whose passes renew the agents' leases. The verdicts (#12)
//!   judge thresholds, stop a run an `abort_on_fail` threshold fails, and
//!   finalize ended runs;
//! - [`at_run_start`]: inside the transaction that writes a new run, so whatever
//!   it writes commits (or not) with the run (e.g. a snapshot of its thresholds).

use crate::http::ApiResult;
use crate::model::run::{Job, RunState};
use crate::state::AppState;
use alilo_agent_api::JobStatus;

/// A job's status as its agent reported it, in run `run_id`.
pub fn observe(_run_id: i64, _job: &Job, _status: &JobStatus) {}

/// The end of a recorded pass: the runs as this pass leaves them (the record may
/// have lost a race with a user change). Idempotent: it may be cut short and runs
/// again after the next pass.
pub async fn after_pass(app: &AppState, _runs: &[RunState]) {
    // Verdicts (#12): thresholds judged, aborts, final verdicts and reports.
    if let Err(e) = crate::service::verdicts::pass(app).await {
        tracing::warn!(error = %e, "verdicts not evaluated this pass");
    }
}

/// Inside the run-start transaction, after the run and its script runs are written.
pub async fn at_run_start(_tx: &impl deadpool_postgres::GenericClient, _run_id: i64) -> ApiResult<()> {
    Ok(())
}
