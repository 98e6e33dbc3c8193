//! What a controller keeps outside its process, so that a new process can ride
//! out a database outage that began before it (in AWS each invocation of the
//! scheduled controller may be a cold start). Pure; the pass reads and writes it
//! in the bucket ([`crate::storage::ObjectKey::ControllerSnapshot`]).
//!
//! It holds what renewing leases needs and nothing more: the active runs last
//! loaded and their live jobs (where to reach them, their cursors). A new
//! controller that cannot reach the database starts from it; its cursors may lag
//! the stored ones, which only means reading some seconds again, and a second is
//! stored once whatever reads it. Seconds buffered by a process that died are
//! lost with it, but the agents keep 15 minutes of them, read again from these
//! cursors.

use crate::agent_client::Endpoint;
use crate::model::run::{Job, JobDesired, JobPhase, RunState, RunStatus};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A snapshot is rewritten when its jobs change, and at least this often while
/// they run, so its cursors (and the seconds read again) stay this recent.
pub const REFRESH: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Unix milliseconds when it was taken (from a successful load).
    pub taken_ms: i64,
    pub runs: Vec<RunSnap>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSnap {
    pub id: i64,
    pub status: String,
    pub version: i64,
    pub started_ms: i64,
    pub jobs: Vec<JobSnap>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSnap {
    pub id: i64,
    pub script_run_id: i64,
    pub agent_id: Option<i64>,
    pub base_url: String,
    /// Its agent's certificate pins (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_pin: Option<String>,
    pub key: String,
    pub share: f64,
    pub phase: String,
    pub cursor: u64,
}

impl Snapshot {
    /// The runs as a pass leaves them, with their jobs not ended; jobs placed this
    /// pass (no row yet, negative ids) are left out.
    pub fn of(runs: &[RunState], taken_ms: i64) -> Self {
        let runs = runs
            .iter()
            .map(|r| RunSnap {
                id: r.id,
                status: r.status.as_str().into(),
                version: r.version,
                started_ms: r.started_ms,
                jobs: r
                    .jobs
                    .iter()
                    .filter(|j| j.id > 0 && !j.phase.is_ended())
                    .map(|j| JobSnap {
                        id: j.id,
                        script_run_id: j.script_run_id,
                        agent_id: j.agent_id,
                        base_url: j.base_url.url().to_string(),
                        tls_pin: j.base_url.pins_text(),
                        key: j.key.clone(),
                        share: j.share,
                        phase: j.phase.as_str().into(),
                        cursor: j.cursor,
                    })
                    .collect(),
            })
            .collect();
        Self { taken_ms, runs }
    }

    /// Whether `other` holds the same jobs in the same phases (cursors aside).
    pub fn same_jobs(&self, other: &Self) -> bool {
        let shape = |s: &Self| -> Vec<(i64, i64, String)> {
            s.runs.iter().flat_map(|r| r.jobs.iter().map(move |j| (r.id, j.id, j.phase.clone()))).collect()
        };
        shape(self) == shape(other)
    }

    /// The runs to work from; a run or job whose state cannot be read is left out.
    pub fn runs(&self) -> Vec<RunState> {
        self.runs
            .iter()
            .filter_map(|r| {
                Some(RunState {
                    id: r.id,
                    status: RunStatus::parse(&r.status).ok()?,
                    version: r.version,
                    started_ms: r.started_ms,
                    script_runs: Vec::new(),
                    jobs: r
                        .jobs
                        .iter()
                        .filter_map(|j| {
                            Some(Job {
                                id: j.id,
                                script_run_id: j.script_run_id,
                                agent_id: j.agent_id,
                                base_url: Endpoint::stored(j.base_url.clone(), j.tls_pin.as_deref()),
                                key: j.key.clone(),
                                share: j.share,
                                desired: JobDesired::Run,
                                phase: JobPhase::parse(&j.phase).ok()?,
                                sent: None,
                                cursor: j.cursor,
                                poll_failures: 0,
                                unseen_for: None,
                            })
                        })
                        .collect(),
                })
            })
            .collect()
    }

    /// Whether it may still be worked from after `max_outage`: older, every job
    /// it names has ended by lease long ago.
    pub fn usable(&self, now_ms: i64, max_outage: Duration) -> bool {
        let age = u64::try_from(now_ms.saturating_sub(self.taken_ms)).unwrap_or(0);
        Duration::from_millis(age) < max_outage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: i64, phase: JobPhase, cursor: u64) -> Job {
        Job {
            id,
            script_run_id: 10,
            agent_id: Some(1),
            base_url: "http://a:8888".into(),
            key: format!("k{id}"),
            share: 0.5,
            desired: JobDesired::Run,
            phase,
            sent: Some((20.0, 0.5)),
            cursor,
            poll_failures: 1,
            unseen_for: Some(0.4),
        }
    }

    fn run(jobs: Vec<Job>) -> RunState {
        RunState { id: 7, status: RunStatus::Running, version: 3, started_ms: 1_000, script_runs: Vec::new(), jobs }
    }

    #[test]
    fn a_snapshot_keeps_the_live_jobs_and_gives_them_back_through_json() {
        let runs =
            [run(vec![job(1, JobPhase::Running, 42), job(2, JobPhase::Finished, 9), job(-5, JobPhase::Starting, 0)])];
        let snap = Snapshot::of(&runs, 5_000);
        let back: Snapshot = serde_json::from_slice(&serde_json::to_vec(&snap).unwrap()).unwrap();
        let got = back.runs();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].id, got[0].status, got[0].version, got[0].started_ms), (7, RunStatus::Running, 3, 1_000));
        assert_eq!(got[0].jobs.len(), 1, "ended and unrecorded jobs are left out");
        let j = &got[0].jobs[0];
        assert_eq!((j.id, j.key.as_str(), j.phase, j.cursor, j.share), (1, "k1", JobPhase::Running, 42, 0.5));
    }

    #[test]
    fn a_pinned_job_comes_back_pinned_so_memory_never_calls_it_over_http() {
        let pin = alilo_agent_api::CertPins::of_der(b"agent cert").to_string();
        let pinned = Job { base_url: Endpoint::of("a", "8888", Some(&pin)), ..job(1, JobPhase::Running, 42) };
        let snap = Snapshot::of(&[run(vec![pinned.clone()])], 5_000);
        let back: Snapshot = serde_json::from_slice(&serde_json::to_vec(&snap).unwrap()).unwrap();
        assert_eq!(back.runs()[0].jobs[0].base_url, pinned.base_url);
        assert_eq!(back.runs()[0].jobs[0].base_url.url(), "https://a:8888");
    }

    #[test]
    fn only_a_change_of_jobs_makes_a_different_snapshot() {
        let a = Snapshot::of(&[run(vec![job(1, JobPhase::Running, 42)])], 5_000);
        let moved = Snapshot::of(&[run(vec![job(1, JobPhase::Running, 99)])], 9_000);
        assert!(a.same_jobs(&moved), "cursors and time are no change");
        let ended = Snapshot::of(&[run(vec![job(1, JobPhase::Finished, 99)])], 9_000);
        assert!(!a.same_jobs(&ended));
        let stopping = Snapshot::of(&[run(vec![job(1, JobPhase::Stopping, 42)])], 9_000);
        assert!(!a.same_jobs(&stopping));
    }

    #[test]
    fn a_snapshot_older_than_the_outage_limit_is_not_used() {
        let snap = Snapshot::of(&[], 1_000);
        assert!(snap.usable(1_000 + 899_000, Duration::from_secs(900)));
        assert!(!snap.usable(1_000 + 900_000, Duration::from_secs(900)));
    }
}
