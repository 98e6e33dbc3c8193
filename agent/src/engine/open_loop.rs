//! The open-model loop of one worker: it computes when its next request is
//! due, sleeps until then and sends it whatever earlier responses are doing.
//!
//! Timing: tokio's timer has millisecond resolution, so a worker sleeps until
//! about [`spin_window`] before the intended time and then yields in a loop
//! until it is due, which keeps the schedule lag well under a millisecond at
//! the cost of some CPU while a send is imminent.

use std::sync::Arc;
use std::time::Duration;

use super::worker::Worker;

/// A worker re-reads the rate at least this often while waiting.
pub const RATE_POLL: Duration = Duration::from_millis(10);

/// Spin (yield) instead of sleeping when a send is this close.
/// tokio rounds a sleep's deadline up to its next millisecond tick, so a
/// sleep may end up to 1 ms late (2 ms with epoll's rounding): by default a
/// worker sleeps until 2 ms before a send, then spins. `ALILO_AGENT_SPIN_US`
/// overrides the window (0: never spin, lag up to ~1-2 ms but no CPU burnt).
fn spin_window() -> Duration {
    static SPIN: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *SPIN.get_or_init(|| {
        std::env::var("ALILO_AGENT_SPIN_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_micros)
            .unwrap_or(Duration::from_millis(2))
    })
}

/// Runs the open-model scheduler of one worker until the profile ends or
/// the job stops.
pub async fn run(w: &Arc<Worker>) {
    let job = &w.job;
    let origin = job.origin;
    let dur = job.mode.duration().as_secs_f64();
    let n = w.count as f64;
    let r0 = job.rate_at(Duration::ZERO);
    // Interleave the workers: worker i's first send is at i/R.
    let mut last = if r0 > 0.0 { (w.index as f64 - n) / r0 } else { 0.0 };
    // While waiting, the intended time is never earlier than the previous
    // check: a rate increase applies from now on, without a burst.
    let mut floor = f64::NEG_INFINITY;
    let mut burst = 0u32;
    loop {
        if job.stopping() {
            return;
        }
        let now_s = origin.elapsed().as_secs_f64();
        if now_s >= dur {
            return;
        }
        let rate = job.rate_at(Duration::from_secs_f64(now_s));
        if rate <= 0.0 {
            last = now_s;
            floor = f64::NEG_INFINITY;
            tokio::time::sleep(RATE_POLL).await;
            continue;
        }
        let next = (last + n / rate).max(floor);
        if next >= dur {
            // The next send falls after the end; wait for the end (or a change).
            floor = now_s;
            tokio::time::sleep(RATE_POLL.min(Duration::from_secs_f64(dur - now_s))).await;
            continue;
        }
        if next > now_s {
            floor = now_s;
            burst = 0;
            let wait = next - now_s;
            let spin = spin_window().as_secs_f64();
            if wait > spin {
                let d = (wait - spin).min(RATE_POLL.as_secs_f64());
                tokio::time::sleep(Duration::from_secs_f64(d)).await;
            } else {
                tokio::task::yield_now().await;
            }
            continue;
        }
        w.fire(origin + Duration::from_secs_f64(next.max(0.0)));
        last = next;
        floor = f64::NEG_INFINITY;
        burst += 1;
        if burst >= 16 {
            // Behind schedule: let responses make progress between sends.
            burst = 0;
            tokio::task::yield_now().await;
        }
    }
}
