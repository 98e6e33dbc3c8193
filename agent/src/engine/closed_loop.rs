//! The closed loop of one worker (benchmarks): its share of the job's
//! connections each send the next request as soon as the previous response
//! ends, for the profile's duration. A request is counted when it completes
//! and has no schedule (no lag).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::worker::Worker;
use crate::client::{ErrorKind, H1Conn, Outcome, load};

/// Runs this worker's share of `connections` until the end or a stop.
pub async fn run(w: &Arc<Worker>, connections: u32) {
    let n = w.count as u32;
    let mine = connections / n + u32::from((w.index as u32) < connections % n);
    let end = w.job.origin + w.job.mode.duration();
    let mut tasks = Vec::new();
    for _ in 0..mine {
        let w = w.clone();
        tasks.push(tokio::spawn(async move { connection(&w, end).await }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

fn running(w: &Worker, end: Instant) -> bool {
    !w.job.stopping() && Instant::now() < end
}

/// Counts a request in flight; its actual send time.
fn begin(w: &Worker) -> Instant {
    w.begin();
    Instant::now()
}

/// Records one closed-loop request.
fn record(w: &Worker, outcome: Outcome, actual: Instant) {
    w.stats.closed_done(outcome, w.passes(outcome), actual);
    w.end();
}

/// One closed-loop connection: each response's end sends the next request;
/// a failed exchange opens a new connection. HTTP/2 uses the worker's shared
/// connection.
async fn connection(w: &Worker, end: Instant) {
    let timeout = w.job.timeout;
    if w.pool().endpoint().http2 {
        return over_pool(w, end).await;
    }
    let head = w.tpl().is_head();
    while running(w, end) {
        let mut actual = begin(w);
        let deadline = tokio::time::Instant::from_std(actual + timeout);
        let mut conn = match H1Conn::open(w.pool().endpoint(), w.pool().counters(), deadline).await {
            Ok(c) => c,
            Err(k) => {
                record(w, Outcome::Error(k), actual);
                if k == ErrorKind::Connect {
                    // Refused at once: do not spin on a target that is down.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                continue;
            }
        };
        loop {
            let deadline = tokio::time::Instant::from_std(actual + timeout);
            let outcome = match conn.exchange(&w.tpl().next_h1(), head, deadline).await {
                Ok(s) => Outcome::Status(s),
                Err(k) => Outcome::Error(k),
            };
            record(w, outcome, actual);
            if !conn.reusable() || !running(w, end) {
                break;
            }
            actual = begin(w);
        }
    }
}

/// Closed loop over the worker's pool (the shared HTTP/2 connection).
async fn over_pool(w: &Worker, end: Instant) {
    while running(w, end) {
        let actual = begin(w);
        let outcome = load::send(w.pool(), w.tpl(), w.job.timeout).await;
        record(w, outcome, actual);
    }
}
