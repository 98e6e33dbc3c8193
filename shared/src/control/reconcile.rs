//! Reconciliation: the desired state of a run against what its agents report,
//! turned into actions. Pure; [`super::pass`] does the I/O around it.
//!
//! Level-triggered: the same input gives the same actions, and once the actions
//! succeeded the next pass over the new state gives none. Rules, per job not ended:
//! 1. a job whose script run or run is stopping is stopped (again, until it ends);
//! 2. a job whose agent failed [`LOST_AFTER`] polls in a row is lost, and its share
//!    moves to the least-loaded healthy agent carrying the script's tag (joining
//!    that agent's job of the same script run when it has one); so does a job its
//!    agent ended early on its own (shutdown), and a job whose lease ran out while
//!    no controller renewed it (an outage of ours, not the agent's: its own agent
//!    may take the share back);
//! 3. a job not started yet, or forgotten by its agent, is started (idempotent);
//! 4. a job whose last sent rate or scale differs from the desired one gets a rate
//!    change.

use super::plan::{Candidate, least_loaded};
use std::collections::BTreeMap;

/// Consecutive failed polls after which an agent's job is considered lost.
pub const LOST_AFTER: i32 = 3;

/// What the agent said about a job this pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// It answered (the state is already folded into `ended`).
    Seen,
    /// It did not answer.
    Unreachable,
    /// It answered that it does not know the job.
    Forgotten,
    /// Not polled (not started yet).
    Skipped,
    /// The agent ended the job before its time and not on our request (it shut
    /// down): its share moves like a lost one's.
    Abandoned,
    /// The agent ended the job because its lease ran out: no controller renewed
    /// it in time. The agent is healthy; the share moves, possibly back to it.
    Expired,
}

/// A job as the controller sees it after polling.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub id: i64,
    pub script_run_id: i64,
    pub agent_id: Option<i64>,
    pub share: f64,
    /// Finished, failed or lost.
    pub ended: bool,
    /// Not yet accepted by its agent.
    pub started: bool,
    /// The job (its script run, or its run) should stop.
    pub stop_wanted: bool,
    /// Target rps and scale the agent was last told.
    pub sent: Option<(f64, f64)>,
    pub poll: Poll,
    /// Failed polls in a row, this pass included.
    pub poll_failures: i32,
}

/// A script run's desired target (before shares) and its agent tag.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptRunView {
    pub id: i64,
    pub tag: String,
    pub desired_rps: f64,
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start (or re-start: idempotent) a job at this rate and scale.
    Start { job: i64, rps: f64, scale: f64 },
    /// Change a running job's rate and scale.
    Rate { job: i64, rps: f64, scale: f64 },
    /// Stop a job.
    Stop { job: i64 },
    /// The job's agent stopped answering.
    Lost { job: i64 },
    /// Add `share` of the script run to an existing job (whose rate follows).
    Grow { job: i64, share: f64 },
    /// Start a new job of the script run on `agent_id` with `share`.
    Place { script_run_id: i64, agent_id: i64, share: f64, rps: f64 },
}

/// Two rates equal for control purposes (floating noise is not a change).
fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

/// Whether a job's share must move elsewhere.
pub fn is_lost(job: &JobView) -> bool {
    (job.poll == Poll::Unreachable && job.poll_failures >= LOST_AFTER)
        || matches!(job.poll, Poll::Abandoned | Poll::Expired)
}

/// The actions for one run. `healthy` are the agents that may take a lost share,
/// with their current load.
pub fn reconcile(jobs: &[JobView], script_runs: &[ScriptRunView], healthy: &[Candidate]) -> Vec<Action> {
    let desired: BTreeMap<i64, &ScriptRunView> = script_runs.iter().map(|s| (s.id, s)).collect();
    let mut shares: BTreeMap<i64, f64> = jobs.iter().map(|j| (j.id, j.share)).collect();
    let mut load: Vec<Candidate> = healthy.to_vec();
    let mut actions = Vec::new();
    let mut lost: Vec<&JobView> = Vec::new();
    for job in jobs.iter().filter(|j| !j.ended) {
        if job.stop_wanted {
            if job.started {
                actions.push(Action::Stop { job: job.id });
            } else {
                // Never accepted by an agent: nothing to stop, it simply ends.
                actions.push(Action::Lost { job: job.id });
            }
        } else if is_lost(job) {
            actions.push(Action::Lost { job: job.id });
            lost.push(job);
        }
    }
    for job in lost {
        let Some(sr) = desired.get(&job.script_run_id) else { continue };
        // The agent that lost the job is no candidate, unless only our lease ran out.
        let others: Vec<Candidate> =
            load.iter().filter(|c| job.poll == Poll::Expired || Some(c.agent_id) != job.agent_id).cloned().collect();
        let Some(target) = least_loaded(&others, &sr.tag).map(|c| c.agent_id) else { continue };
        let existing = jobs.iter().find(|j| {
            j.id != job.id
                && !j.ended
                && !j.stop_wanted
                && !is_lost(j)
                && j.script_run_id == job.script_run_id
                && j.agent_id == Some(target)
        });
        match existing {
            Some(j) => {
                *shares.get_mut(&j.id).expect("every job has a share") += job.share;
                actions.push(Action::Grow { job: j.id, share: job.share });
            }
            None => actions.push(Action::Place {
                script_run_id: job.script_run_id,
                agent_id: target,
                share: job.share,
                rps: sr.desired_rps,
            }),
        }
        if let Some(c) = load.iter_mut().find(|c| c.agent_id == target) {
            c.load_rps += sr.desired_rps * job.share;
        }
    }
    for job in jobs.iter().filter(|j| !j.ended && !j.stop_wanted) {
        if is_lost(job) {
            continue;
        }
        let Some(sr) = desired.get(&job.script_run_id) else { continue };
        let scale = shares[&job.id];
        if !job.started || job.poll == Poll::Forgotten {
            actions.push(Action::Start { job: job.id, rps: sr.desired_rps, scale });
        } else if job.poll != Poll::Unreachable
            && job.sent.is_none_or(|(rps, s)| !same(rps, sr.desired_rps) || !same(s, scale))
        {
            actions.push(Action::Rate { job: job.id, rps: sr.desired_rps, scale });
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: i64, sr: i64, agent: i64, share: f64) -> JobView {
        JobView {
            id,
            script_run_id: sr,
            agent_id: Some(agent),
            share,
            ended: false,
            started: true,
            stop_wanted: false,
            sent: Some((100.0, share)),
            poll: Poll::Seen,
            poll_failures: 0,
        }
    }

    fn sr(id: i64, rps: f64) -> ScriptRunView {
        ScriptRunView { id, tag: String::new(), desired_rps: rps }
    }

    fn agent(id: i64, load: f64) -> Candidate {
        Candidate { agent_id: id, tags: vec![], load_rps: load, capacity_rps: 5000.0 }
    }

    #[test]
    fn a_run_at_its_desired_state_needs_nothing() {
        let jobs = [job(1, 10, 1, 0.5), job(2, 10, 2, 0.5)];
        assert_eq!(reconcile(&jobs, &[sr(10, 100.0)], &[agent(1, 50.0), agent(2, 50.0)]), vec![]);
    }

    #[test]
    fn a_new_percentage_becomes_rate_changes() {
        let jobs = [job(1, 10, 1, 0.5), job(2, 10, 2, 0.5)];
        assert_eq!(
            reconcile(&jobs, &[sr(10, 50.0)], &[]),
            vec![Action::Rate { job: 1, rps: 50.0, scale: 0.5 }, Action::Rate { job: 2, rps: 50.0, scale: 0.5 }]
        );
    }

    #[test]
    fn unstarted_and_forgotten_jobs_are_started() {
        let mut a = job(1, 10, 1, 1.0);
        a.started = false;
        a.sent = None;
        a.poll = Poll::Skipped;
        let mut b = job(2, 11, 1, 1.0);
        b.poll = Poll::Forgotten;
        assert_eq!(
            reconcile(&[a, b], &[sr(10, 20.0), sr(11, 100.0)], &[]),
            vec![Action::Start { job: 1, rps: 20.0, scale: 1.0 }, Action::Start { job: 2, rps: 100.0, scale: 1.0 }]
        );
    }

    #[test]
    fn stopping_jobs_are_stopped_until_they_end_and_ended_jobs_are_left_alone() {
        let mut a = job(1, 10, 1, 1.0);
        a.stop_wanted = true;
        let mut b = job(2, 11, 1, 1.0);
        b.ended = true;
        b.sent = Some((1.0, 1.0));
        let mut c = job(3, 12, 1, 1.0);
        c.stop_wanted = true;
        c.started = false;
        assert_eq!(
            reconcile(&[a, b, c], &[sr(10, 100.0), sr(11, 100.0), sr(12, 100.0)], &[]),
            vec![Action::Stop { job: 1 }, Action::Lost { job: 3 }]
        );
    }

    #[test]
    fn an_agent_is_lost_only_after_repeated_failures() {
        let mut a = job(1, 10, 1, 0.5);
        a.poll = Poll::Unreachable;
        a.poll_failures = LOST_AFTER - 1;
        a.sent = Some((1.0, 1.0));
        // Unreachable but not lost yet: no rate change is attempted either.
        assert_eq!(reconcile(&[a], &[sr(10, 100.0)], &[agent(2, 0.0)]), vec![]);
    }

    #[test]
    fn a_lost_share_joins_the_job_of_the_same_script_on_a_healthy_agent() {
        let mut a = job(1, 10, 1, 0.5);
        a.poll = Poll::Unreachable;
        a.poll_failures = LOST_AFTER;
        let b = job(2, 10, 2, 0.5);
        assert_eq!(
            reconcile(&[a, b], &[sr(10, 100.0)], &[agent(2, 50.0)]),
            vec![
                Action::Lost { job: 1 },
                Action::Grow { job: 2, share: 0.5 },
                Action::Rate { job: 2, rps: 100.0, scale: 1.0 }
            ]
        );
    }

    #[test]
    fn a_lost_share_goes_to_the_least_loaded_agent_when_none_runs_the_script() {
        let mut a = job(1, 10, 1, 1.0);
        a.poll = Poll::Unreachable;
        a.poll_failures = LOST_AFTER + 4;
        let other = job(2, 11, 3, 1.0);
        assert_eq!(
            reconcile(&[a, other], &[sr(10, 100.0), sr(11, 100.0)], &[agent(3, 100.0), agent(4, 0.0)]),
            vec![Action::Lost { job: 1 }, Action::Place { script_run_id: 10, agent_id: 4, share: 1.0, rps: 100.0 }]
        );
    }

    #[test]
    fn a_job_its_agent_abandoned_moves_at_once() {
        let mut a = job(1, 10, 1, 1.0);
        a.poll = Poll::Abandoned;
        assert_eq!(
            reconcile(&[a], &[sr(10, 100.0)], &[agent(2, 0.0)]),
            vec![Action::Lost { job: 1 }, Action::Place { script_run_id: 10, agent_id: 2, share: 1.0, rps: 100.0 }]
        );
    }

    #[test]
    fn a_job_whose_lease_ran_out_while_no_controller_renewed_it_restarts_on_its_healthy_agent() {
        let mut a = job(1, 10, 1, 1.0);
        a.poll = Poll::Expired;
        assert_eq!(
            reconcile(&[a], &[sr(10, 100.0)], &[agent(1, 0.0), agent(2, 50.0)]),
            vec![Action::Lost { job: 1 }, Action::Place { script_run_id: 10, agent_id: 1, share: 1.0, rps: 100.0 }]
        );
    }

    #[test]
    fn a_lost_share_with_no_healthy_carrier_is_only_reported() {
        let mut a = job(1, 10, 1, 1.0);
        a.poll = Poll::Unreachable;
        a.poll_failures = LOST_AFTER;
        assert_eq!(reconcile(&[a], &[sr(10, 100.0)], &[agent(1, 0.0)]), vec![Action::Lost { job: 1 }]);
    }
}
