//! A worker's idle VUs: created on helper threads (init code never runs on
//! the scheduler's thread), a few at a time, up to the worker's cap, and
//! handed out one per iteration. Both ways a script job starts iterations
//! draw on one: the platform's open model ([`super::driver::ScriptWorker::fire`])
//! and k6's executors ([`super::executor`]). VUs are not `Send`, so a pool
//! lives on its worker's thread.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use super::ScriptShared;
use super::vu::Vu;
use crate::engine::Job;

/// VUs a worker creates at the same time at most.
const CREATING_AT_ONCE: u64 = 4;
/// Idle VUs a pool keeps ready while it may grow.
const SPARE_VUS: usize = 2;

/// One worker's VUs.
pub struct Pool {
    job: Arc<Job>,
    shared: Arc<ScriptShared>,
    idle: RefCell<Vec<Vu>>,
    allocated: Cell<u64>,
    creating: Cell<u64>,
    cap: u64,
}

impl Pool {
    /// An empty pool that creates at most `cap` VUs.
    pub fn new(job: Arc<Job>, shared: Arc<ScriptShared>, cap: u64) -> Self {
        Pool { job, shared, idle: RefCell::new(Vec::new()), allocated: Cell::new(0), creating: Cell::new(0), cap }
    }

    /// Creates `n` VUs, a few at a time, and waits for them; `false` when
    /// one failed (the job failed).
    pub async fn fill(&self, n: u64) -> bool {
        let mut left = n.min(self.cap);
        while left > 0 {
            let batch = left.min(CREATING_AT_ONCE);
            let mut made = Vec::new();
            for _ in 0..batch {
                let shared = self.shared.clone();
                made.push(tokio::task::spawn_blocking(move || Vu::new(shared)));
            }
            for m in made {
                if !self.adopt(m.await) {
                    return false;
                }
            }
            left -= batch;
        }
        true
    }

    /// Starts creating `n` VUs (at most the cap) without waiting for them:
    /// iterations due before the first is ready find none.
    pub fn preallocate(self: &Rc<Self>, n: u64) {
        for _ in 0..n.min(self.cap) {
            self.spawn_creation();
        }
    }

    /// An idle VU, or a new one (awaited); `None` at the cap, while
    /// [`CREATING_AT_ONCE`] are being created (the caller retries at its
    /// next tick: a large step up never starts hundreds of threads), or on
    /// failure.
    pub async fn take(&self) -> Option<Vu> {
        if let Some(vu) = self.idle.borrow_mut().pop() {
            return Some(vu);
        }
        if self.allocated.get() + self.creating.get() >= self.cap || self.creating.get() >= CREATING_AT_ONCE {
            return None;
        }
        self.creating.set(self.creating.get() + 1);
        let shared = self.shared.clone();
        let made = tokio::task::spawn_blocking(move || Vu::new(shared)).await;
        self.creating.set(self.creating.get() - 1);
        if self.job.stopping() || !self.adopt(made) {
            return None;
        }
        self.idle.borrow_mut().pop()
    }

    /// An idle VU now, or `None` (an open-model iteration does not wait: it
    /// is dropped). When fewer than [`SPARE_VUS`] are left idle and the pool
    /// may grow, one is created for later, so a rising load finds VUs ready.
    pub fn try_take(self: &Rc<Self>) -> Option<Vu> {
        let vu = self.idle.borrow_mut().pop();
        if self.idle.borrow().len() < SPARE_VUS
            && self.creating.get() < CREATING_AT_ONCE
            && self.allocated.get() + self.creating.get() < self.cap
        {
            self.spawn_creation();
        }
        vu
    }

    /// Takes back a VU whose iteration ended (unless the job stops).
    pub fn give(&self, vu: Vu) {
        if !self.job.stopping() {
            self.idle.borrow_mut().push(vu);
        }
    }

    /// Ends the idle VUs.
    pub fn clear(&self) {
        self.idle.borrow_mut().clear();
    }

    /// Creates one VU on a helper thread and adds it to the idle ones.
    fn spawn_creation(self: &Rc<Self>) {
        self.creating.set(self.creating.get() + 1);
        let me = self.clone();
        tokio::task::spawn_local(async move {
            let shared = me.shared.clone();
            let made = tokio::task::spawn_blocking(move || Vu::new(shared)).await;
            if !me.job.stopping() {
                me.adopt(made);
            }
            me.creating.set(me.creating.get() - 1);
        });
    }

    /// Adds a created VU to the idle ones; a VU that could not be created
    /// fails the job (`false`).
    fn adopt(&self, made: Result<Result<Vu, String>, tokio::task::JoinError>) -> bool {
        let e = match made {
            Ok(Ok(vu)) => {
                self.allocated.set(self.allocated.get() + 1);
                self.idle.borrow_mut().push(vu);
                return true;
            }
            Ok(Err(e)) => e,
            Err(e) => e.to_string(),
        };
        self.job.fail_now(format!("script: init failed: {e}"));
        false
    }
}
