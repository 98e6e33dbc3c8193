//! The record's write, beside the passes (#13).
//!
//! A pass's record (or the facts buffered before it) is written by a task of
//! its own; the pass waits for it up to the database budget. A write still
//! going on then is left to finish, within its own cap
//! ([`super::ControllerOptions::write_cap`]), while the next passes work from
//! memory: they poll, so the agents' leases are renewed, and buffer what they
//! read. A slow write is therefore not an outage while the database
//! [`answers`]: only a database that cannot be reached within the budget, or
//! a write that outlasts its cap, is (`docs/runs.md`).

use super::outage::Buffered;
use crate::db::control::{PassRecord, Recorded};
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// The error of a database step that did not answer within `budget`.
pub fn db_timeout(budget: Duration) -> ApiError {
    ApiError::unavailable("the database", format!("no answer within {} ms", budget.as_millis()))
}

/// Whether the database answers now: a connection and `SELECT 1`, each within
/// `budget`. Asked while a write goes on, to tell a slow database (the write
/// is left to finish) from one that does not answer (an outage).
pub async fn answers(app: &AppState, budget: Duration) -> ApiResult<()> {
    let conn = tokio::time::timeout(budget, app.db.control_conn()).await.map_err(|_| db_timeout(budget))??;
    match tokio::time::timeout(budget, conn.simple_query("SELECT 1")).await {
        Ok(answer) => answer.map(|_| ()).map_err(Into::into),
        Err(_) => {
            drop(deadpool_postgres::Object::take(conn));
            Err(db_timeout(budget))
        }
    }
}

/// A write in flight, with the facts it writes (buffered again if it fails).
#[derive(Debug)]
pub struct Writing {
    task: JoinHandle<ApiResult<Recorded>>,
    record: Arc<PassRecord>,
    /// When it started: the budget counts from then.
    pub started: Instant,
    /// What its record holds in memory until it ends.
    held: Buffered,
}

impl Writing {
    /// Start writing `rec`: a connection within `budget`, the write within `cap`.
    pub fn start(app: &AppState, controller: &str, budget: Duration, cap: Duration, rec: PassRecord) -> Self {
        let held = Buffered { seconds: rec.buffered_seconds(), bytes: rec.buffered_bytes() };
        let record = Arc::new(rec);
        let (app, controller, rec) = (app.clone(), controller.to_string(), record.clone());
        let task = tokio::spawn(async move {
            let mut conn =
                tokio::time::timeout(budget, app.db.control_conn()).await.map_err(|_| db_timeout(budget))??;
            match tokio::time::timeout(cap, crate::db::control::record(&mut conn, &controller, &rec)).await {
                Ok(done) => done,
                Err(_) => {
                    // A connection cut mid-transaction must not go back to the pool.
                    drop(deadpool_postgres::Object::take(conn));
                    Err(ApiError::unavailable(
                        "the database",
                        format!("a write took longer than {} s (the write cap)", cap.as_secs()),
                    ))
                }
            }
        });
        Self { task, record, started: Instant::now(), held }
    }

    /// The seconds its record holds, and their memory.
    pub fn held(&self) -> Buffered {
        self.held
    }

    /// Its outcome if it ends within `wait`: what it did, or why it failed with
    /// the facts it did not write.
    pub async fn wait(&mut self, wait: Duration) -> Option<Result<Recorded, (ApiError, PassRecord)>> {
        let joined = tokio::time::timeout(wait, &mut self.task).await.ok()?;
        let result = joined.unwrap_or_else(|e| Err(ApiError::internal(format!("the write task ended: {e}"))));
        Some(result.map_err(|e| {
            // The task is over: its reference is gone, so the facts move back.
            let record = std::mem::take(&mut self.record);
            (e, Arc::try_unwrap(record).unwrap_or_else(|r| (*r).clone()))
        }))
    }
}
