//! Bench-only: how long the guard itself works on each request (issue #10's
//! budget is 0.2 ms of p99), measured inside the real server under real load.
//!
//! Off unless `ALILO_BENCH_GUARD_TIMES=1` is set at start; then [`start`] reads
//! the clock when the guard begins and [`record`] adds the time it spent before
//! handing the request to the handler (plus, for a change, its work after the
//! handler) to one histogram for the process. `alilo-local` prints the summary
//! and starts over on `SIGUSR1` (`bench/auth/run.sh` sends one after each round).
//!
//! Every added microsecond of end-to-end latency that sign-in can cause is spent
//! here: `--no-auth` runs the same guard with `authenticate` answering at once,
//! so the difference between the two servers' distributions is the cost of
//! authentication and authorization, and that cost per request bounds what it
//! can add to any quantile, p99 included (a request that is `t` slower moves no
//! quantile by more than the largest `t`), short of queueing at saturation.
//! When off, the cost is one load of a boolean per request.

use hdrhistogram::Histogram;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The variable that turns the measurement on.
pub const VAR: &str = "ALILO_BENCH_GUARD_TIMES";

static ON: OnceLock<bool> = OnceLock::new();
static TIMES: Mutex<Option<Histogram<u64>>> = Mutex::new(None);

/// Whether the measurement is on (read from the environment once).
pub fn enabled() -> bool {
    *ON.get_or_init(|| std::env::var(VAR).is_ok_and(|v| v == "1"))
}

/// The clock at the guard's start, when measuring.
pub fn start() -> Option<Instant> {
    enabled().then(Instant::now)
}

/// Add one request's guard time: `spent` so far plus the time since `since`.
pub fn record(since: Option<Instant>, spent: Duration) {
    let Some(since) = since else { return };
    let ns = u64::try_from((spent + since.elapsed()).as_nanos()).unwrap_or(u64::MAX);
    let mut times = TIMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let h = times.get_or_insert_with(|| Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"));
    h.saturating_record(ns.max(1));
}

/// The distribution so far, in µs, as one line; the memory starts over.
pub fn take_summary() -> String {
    let taken = TIMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    let Some(h) = taken else { return "guard-time n=0".into() };
    #[allow(clippy::cast_precision_loss)]
    let us = |ns: u64| ns as f64 / 1000.0;
    format!(
        "guard-time n={} p50_us={:.2} p90_us={:.2} p99_us={:.2} p999_us={:.2} max_us={:.2} mean_us={:.2}",
        h.len(),
        us(h.value_at_quantile(0.5)),
        us(h.value_at_quantile(0.9)),
        us(h.value_at_quantile(0.99)),
        us(h.value_at_quantile(0.999)),
        us(h.max()),
        h.mean() / 1000.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_time_is_summarised_once_then_forgotten() {
        record(None, Duration::from_secs(1));
        record(Some(Instant::now()), Duration::from_micros(40));
        let summary = take_summary();
        assert!(summary.starts_with("guard-time n=1 p50_us=4"), "{summary}");
        assert_eq!(take_summary(), "guard-time n=0");
    }
}
