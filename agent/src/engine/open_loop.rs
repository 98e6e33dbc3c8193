//! The open-model loop of one worker: it asks its [`Schedule`] what is due,
//! sleeps until then and sends it whatever earlier responses are doing.
//!
//! Timing: tokio's timer has millisecond resolution, so a worker sleeps until
//! about the spin window (2 ms, `ALILO_AGENT_SPIN_US`) before the intended time and then yields in a loop
//! until it is due, which keeps the schedule lag well under a millisecond at
//! the cost of some CPU while a send is imminent. While waiting it re-reads
//! the live rate at least every [`RATE_POLL`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::job::Job;
use super::schedule::{Next, Schedule};
use super::worker::Worker;

/// A worker re-reads the rate at least this often while waiting.
pub const RATE_POLL: Duration = Duration::from_millis(10);

/// Sends in a row before yielding, when behind schedule, so responses make
/// progress between sends.
const BURST: u32 = 16;

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
/// `fire` starts what is due at the instant it is given (a request, or a
/// script's iteration).
pub async fn run(w: &Arc<Worker>, fire: impl FnMut(Instant)) {
    let job = &w.job;
    let schedule = Schedule::new(w.index, w.count, job.rate_at(Duration::ZERO), job.mode.duration());
    drive(job, job.origin, schedule, |t| job.rate_at(t), fire).await;
}

/// Drives `schedule` on the clock started at `origin` with the total rate
/// `rate(t)` until it ends or `job` stops, calling `fire` with the intended
/// instant of each send. Shared by simple jobs and a script's arrival-rate
/// scenarios, so both wait the same way: sleep until the spin window, then
/// yield until the instant (a plain `tokio::time::sleep` to the instant ends
/// up to 1-2 ms late, as tokio rounds to its millisecond tick).
pub async fn drive(
    job: &Job,
    origin: Instant,
    mut schedule: Schedule,
    rate: impl Fn(Duration) -> f64,
    mut fire: impl FnMut(Instant),
) {
    let spin = spin_window().as_secs_f64();
    let mut burst = 0u32;
    while !job.stopping() {
        let now = origin.elapsed().as_secs_f64();
        match schedule.next_intended(now, rate(Duration::from_secs_f64(now))) {
            Next::End => return,
            Next::Idle => tokio::time::sleep(RATE_POLL).await,
            Next::Wait(due) => {
                burst = 0;
                let wait = due - now;
                if wait > spin {
                    let d = (wait - spin).min(RATE_POLL.as_secs_f64());
                    tokio::time::sleep(Duration::from_secs_f64(d)).await;
                } else {
                    tokio::task::yield_now().await;
                }
            }
            Next::Send(intended) => {
                fire(origin + Duration::from_secs_f64(intended.max(0.0)));
                burst += 1;
                if burst >= BURST {
                    burst = 0;
                    tokio::task::yield_now().await;
                }
            }
        }
    }
}
