//! The agent's jobs by id: start (idempotent by id and spec), look up, list
//! in start order, stop all at shutdown. Finished jobs are remembered up to
//! [`KEEP_FINISHED`] so final reads keep working.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alilo_agent_api::JobSpec;

use super::job::Job;
use super::validate;

/// Finished jobs remembered.
pub const KEEP_FINISHED: usize = 64;

/// Why starting a job was refused.
#[derive(Debug, PartialEq)]
pub enum StartError {
    /// Invalid spec or id (400), naming the field.
    Invalid(String),
    /// Same id, different spec (409).
    Conflict(String),
}

/// Jobs by id, plus ids in start order.
#[derive(Default)]
struct Jobs {
    by_id: HashMap<String, Arc<Job>>,
    order: Vec<String>,
}

impl Jobs {
    /// Forgets the oldest finished jobs so that at most `KEEP_FINISHED - 1`
    /// remain (room for the one about to be added).
    fn forget_oldest_finished(&mut self) {
        let finished: Vec<&String> =
            self.order.iter().filter(|k| self.by_id.get(*k).is_some_and(|j| j.state().is_terminal())).collect();
        if finished.len() < KEEP_FINISHED {
            return;
        }
        let forget: Vec<String> = finished[..=finished.len() - KEEP_FINISHED].iter().map(|k| (*k).clone()).collect();
        for k in &forget {
            self.by_id.remove(k);
        }
        let by_id = &self.by_id;
        self.order.retain(|k| by_id.contains_key(k));
    }
}

/// All jobs of this agent.
pub struct Registry {
    jobs: Mutex<Jobs>,
    workers: usize,
}

impl Registry {
    /// A registry whose jobs use `workers` threads (0: one per core).
    pub fn new(workers: usize) -> Registry {
        let workers =
            if workers == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { workers };
        Registry { jobs: Mutex::new(Jobs::default()), workers }
    }

    /// Starts a job, or returns the existing one if `spec` is the same.
    /// The flag is true when the job was created.
    pub fn start(&self, id: &str, spec: JobSpec) -> Result<(Arc<Job>, bool), StartError> {
        validate::job_id(id).map_err(StartError::Invalid)?;
        let mut g = self.jobs.lock().expect("registry lock");
        if let Some(j) = g.by_id.get(id) {
            if j.spec == spec {
                j.touch();
                return Ok((j.clone(), false));
            }
            return Err(StartError::Conflict(format!("job {id:?} already exists with a different spec")));
        }
        let job = Job::new(id, spec, self.workers).map_err(StartError::Invalid)?;
        g.forget_oldest_finished();
        g.by_id.insert(id.to_string(), job.clone());
        g.order.push(id.to_string());
        drop(g);
        job.launch();
        Ok((job, true))
    }

    /// A job by id.
    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        self.jobs.lock().expect("registry lock").by_id.get(id).cloned()
    }

    /// Every job, oldest first.
    pub fn all(&self) -> Vec<Arc<Job>> {
        let g = self.jobs.lock().expect("registry lock");
        g.order.iter().filter_map(|k| g.by_id.get(k).cloned()).collect()
    }

    /// Stops every job (shutdown) and waits for them, up to `wait` more.
    pub async fn stop_all(&self, reason: &str, wait: Duration) {
        let jobs = self.all();
        for j in &jobs {
            j.request_stop(reason, wait);
        }
        let deadline = tokio::time::Instant::now() + wait + Duration::from_secs(1);
        for j in jobs {
            let mut rx = j.finished();
            let _ = tokio::time::timeout_at(deadline, rx.wait_for(|d| *d)).await;
        }
    }
}
