//! Roll-up: the statuses of a run and its script runs from their jobs, after a
//! pass. Pure.
//!
//! Rules:
//! - a job has ended when it finished or failed, or when it is lost and either
//!   its share moved on (the script run still runs) or its agent's lease on it
//!   has run out since it was last seen ([`super::jobs::LEASE_SECS`]): a run is
//!   never reported stopped while a job may still send;
//! - a script run with a job not ended is RUNNING, or STOPPING when it should
//!   stop; with every job ended it is FAILED when all of them failed, else
//!   STOPPED;
//! - a run whose jobs all ended is STOPPED; a PREPARED run becomes RUNNING once
//!   one of its jobs is pending or running; otherwise it keeps its status.

use super::jobs::LEASE_SECS;
use crate::model::run::{Job, JobPhase, RunStatus, ScriptRunState, ScriptRunStatus};

/// Whether a job can no longer send.
pub fn job_ended(job: &Job, stop_wanted: bool) -> bool {
    match job.phase {
        JobPhase::Finished | JobPhase::Failed => true,
        JobPhase::Lost => !stop_wanted || job.unseen_for.is_none_or(|s| s > LEASE_SECS),
        _ => false,
    }
}

/// The run's new status and each script run's.
pub fn rollup(
    run: RunStatus,
    script_runs: &[ScriptRunState],
    jobs: &[Job],
) -> (RunStatus, Vec<(i64, ScriptRunStatus)>) {
    let mut all_ended = true;
    let mut any_running = false;
    let mut out = Vec::with_capacity(script_runs.len());
    for sr in script_runs {
        let mine: Vec<&Job> = jobs.iter().filter(|j| j.script_run_id == sr.id).collect();
        let live = mine.iter().any(|j| !job_ended(j, sr.stop_wanted));
        let status = if live {
            all_ended = false;
            if sr.stop_wanted {
                ScriptRunStatus::Stopping
            } else {
                any_running |= mine.iter().any(|j| matches!(j.phase, JobPhase::Running | JobPhase::Pending));
                ScriptRunStatus::Running
            }
        } else if !mine.is_empty() && mine.iter().all(|j| j.phase == JobPhase::Failed) {
            ScriptRunStatus::Failed
        } else {
            ScriptRunStatus::Stopped
        };
        out.push((sr.id, status));
    }
    let status = if all_ended {
        RunStatus::Stopped
    } else if run == RunStatus::Prepared && any_running {
        RunStatus::Running
    } else {
        run
    };
    (status, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::run::JobDesired;
    use JobPhase::*;

    fn sr(id: i64, stop_wanted: bool) -> ScriptRunState {
        ScriptRunState {
            id,
            tag: String::new(),
            spec: serde_json::from_value(serde_json::json!({
                "request": {"method": "GET", "url": "http://t/"}, "profile": {"rps": 1.0, "duration": "1m"}
            }))
            .unwrap(),
            data_key: None,
            desired_rps: 1.0,
            stop_wanted,
            status: ScriptRunStatus::Running,
        }
    }

    fn job(sr: i64, phase: JobPhase, unseen_for: Option<f64>) -> Job {
        Job {
            id: 1,
            script_run_id: sr,
            agent_id: Some(1),
            base_url: String::new().into(),
            key: String::new(),
            share: 1.0,
            desired: JobDesired::Run,
            phase,
            sent: None,
            cursor: 0,
            poll_failures: 0,
            unseen_for,
        }
    }

    /// (run status, stop wanted, job phases with seconds unseen) → (run, script run).
    type Case<'a> = (RunStatus, bool, &'a [(JobPhase, Option<f64>)], RunStatus, ScriptRunStatus);

    #[test]
    fn statuses_roll_up_from_jobs() {
        use RunStatus as R;
        use ScriptRunStatus as S;
        let table: &[Case] = &[
            (R::Prepared, false, &[(Starting, None)], R::Prepared, S::Running),
            (R::Prepared, false, &[(Pending, Some(0.0))], R::Running, S::Running),
            (R::Prepared, false, &[(Running, Some(0.0)), (Starting, None)], R::Running, S::Running),
            (R::Running, false, &[(Running, Some(0.0))], R::Running, S::Running),
            (R::Running, false, &[(Finished, Some(0.0))], R::Stopped, S::Stopped),
            (R::Running, false, &[(Failed, Some(0.0)), (Failed, Some(0.0))], R::Stopped, S::Failed),
            (R::Running, false, &[(Failed, Some(0.0)), (Finished, Some(0.0))], R::Stopped, S::Stopped),
            // A lost job whose share moved has ended; the moved share runs on.
            (R::Running, false, &[(Lost, Some(5.0)), (Running, Some(0.0))], R::Running, S::Running),
            (R::Stopping, true, &[(Stopping, Some(0.0))], R::Stopping, S::Stopping),
            (R::Stopping, true, &[(Finished, Some(0.0))], R::Stopped, S::Stopped),
            // Unreachable while stopping: it may still send until its lease runs out.
            (R::Stopping, true, &[(Lost, Some(30.0))], R::Stopping, S::Stopping),
            (R::Stopping, true, &[(Lost, Some(61.0))], R::Stopped, S::Stopped),
            (R::Stopping, true, &[(Lost, None)], R::Stopped, S::Stopped),
            (R::Running, false, &[], R::Stopped, S::Stopped),
        ];
        for (run, stop, phases, want_run, want_sr) in table {
            let jobs: Vec<Job> = phases.iter().map(|(p, u)| job(10, *p, *u)).collect();
            let got = rollup(*run, &[sr(10, *stop)], &jobs);
            assert_eq!(got, (*want_run, vec![(10, *want_sr)]), "{run:?} stop={stop} {phases:?}");
        }
    }

    #[test]
    fn a_run_ends_only_when_every_script_run_has() {
        let jobs = [job(10, Finished, Some(0.0)), job(11, Running, Some(0.0))];
        let (run, srs) = rollup(RunStatus::Running, &[sr(10, false), sr(11, false)], &jobs);
        assert_eq!(run, RunStatus::Running);
        assert_eq!(srs, vec![(10, ScriptRunStatus::Stopped), (11, ScriptRunStatus::Running)]);
    }
}
