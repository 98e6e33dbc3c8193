//! The open-model schedule of one worker, as arithmetic on seconds since the
//! job's origin: no clock, no I/O. The open loop ([`super::open_loop`]) asks
//! [`Schedule::next_intended`] at every check with the time and the rate in
//! force, and does what it answers.
//!
//! The rules:
//! - **Interleaving.** `W` workers each send every `W/R` seconds; worker `i`
//!   starts at `i/R`, so together they send every `1/R`.
//! - **Late is not skipped.** A request whose intended time has passed is sent
//!   at once with its intended time (the lag shows in the statistics): the
//!   open model never drops what it is behind on.
//! - **Rate changes apply from now, without a burst.** The next send is
//!   `W/rate` after the previous one at the rate read *now*; while waiting,
//!   its intended time is never earlier than the previous check, so an
//!   increase does not make up for the time already waited.
//! - **Rate 0** sends nothing; when the rate comes back the first send is one
//!   interval after the last check, again without catching up.
//! - **The end.** Nothing is due at or after the profile's duration.

use std::time::Duration;

/// What a worker does next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// Send now the request intended at this time (seconds since the
    /// origin; earlier than now when behind schedule, negative never matters).
    Send(f64),
    /// Nothing is due before this time (seconds since the origin). Check
    /// again then, or earlier: the rate may change meanwhile.
    Wait(f64),
    /// The rate is zero: check again later.
    Idle,
    /// The profile is over.
    End,
}

/// The schedule of one worker.
#[derive(Debug, Clone)]
pub struct Schedule {
    workers: f64,
    duration: f64,
    /// Intended time of the previous send.
    last: f64,
    /// While waiting: the time of the previous check, below which the next
    /// intended time never falls.
    floor: f64,
}

impl Schedule {
    /// Worker `index` of `count`, for a profile of `duration` whose rate at
    /// the origin is `first_rate`.
    pub fn new(index: usize, count: usize, first_rate: f64, duration: Duration) -> Schedule {
        let workers = count.max(1) as f64;
        // Worker i's first send is at i/R: one interval before that is (i - W)/R.
        let last = if first_rate > 0.0 { (index as f64 - workers) / first_rate } else { 0.0 };
        Schedule { workers, duration: duration.as_secs_f64(), last, floor: f64::NEG_INFINITY }
    }

    /// What to do at `now` (seconds since the origin) when the job's total
    /// rate is `rate` requests per second. A [`Next::Send`] is recorded as
    /// sent.
    pub fn next_intended(&mut self, now: f64, rate: f64) -> Next {
        if now >= self.duration {
            return Next::End;
        }
        if rate <= 0.0 {
            self.last = now;
            self.floor = f64::NEG_INFINITY;
            return Next::Idle;
        }
        let next = (self.last + self.workers / rate).max(self.floor);
        if next >= self.duration {
            self.floor = now;
            return Next::Wait(self.duration);
        }
        if next > now {
            self.floor = now;
            return Next::Wait(next);
        }
        self.last = next;
        self.floor = f64::NEG_INFINITY;
        Next::Send(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alilo_agent_api::profile::{ProfileShape, Ramp};

    /// The open loop re-reads the rate at least this often while waiting.
    const POLL: f64 = 0.01;

    /// Drives a schedule as the open loop does: sends what is due, else
    /// moves the clock to the due time but by at most [`POLL`]. Returns the
    /// intended times of every send.
    fn simulate(index: usize, count: usize, duration: f64, rate: impl Fn(f64) -> f64) -> Vec<f64> {
        let mut s = Schedule::new(index, count, rate(0.0), Duration::from_secs_f64(duration));
        let (mut now, mut sent) = (0.0, Vec::new());
        loop {
            match s.next_intended(now, rate(now)) {
                Next::Send(at) => sent.push(at),
                Next::Wait(at) => now = at.min(now + POLL),
                Next::Idle => now += POLL,
                Next::End => return sent,
            }
        }
    }

    fn assert_times(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
    }

    fn between(sent: &[f64], from: f64, to: f64) -> Vec<f64> {
        sent.iter().copied().filter(|t| *t > from && *t < to).collect()
    }

    #[test]
    fn one_worker_at_a_constant_rate_sends_evenly_from_the_origin() {
        let sent = simulate(0, 1, 1.0, |_| 8.0);
        assert_times(&sent, &[0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875]);
    }

    #[test]
    fn workers_interleave_so_that_together_they_send_evenly() {
        let mut all = Vec::new();
        for i in 0..3 {
            // Ends at 0.99 s so no send falls on the end within rounding.
            let sent = simulate(i, 3, 0.99, |_| 30.0);
            assert_eq!(sent.len(), 10, "worker {i}");
            assert!((sent[0] - i as f64 / 30.0).abs() < 1e-9, "worker {i} starts at i/R: {sent:?}");
            all.extend(sent);
        }
        all.sort_by(f64::total_cmp);
        let want: Vec<f64> = (0..30).map(|k| k as f64 / 30.0).collect();
        assert_times(&all, &want);
    }

    #[test]
    fn a_late_check_sends_everything_due_with_its_intended_time() {
        let mut s = Schedule::new(0, 1, 10.0, Duration::from_secs(1));
        let mut sent = Vec::new();
        while let Next::Send(at) = s.next_intended(0.35, 10.0) {
            sent.push(at);
        }
        assert_times(&sent, &[0.0, 0.1, 0.2, 0.3]);
        assert!(matches!(s.next_intended(0.35, 10.0), Next::Wait(t) if (t - 0.4).abs() < 1e-9));
    }

    #[test]
    fn a_rate_increase_applies_from_the_last_check_without_a_burst() {
        // 10/s, then 100/s from 0.555 s: the check at 0.56 sees the new rate.
        let sent = simulate(0, 1, 0.6, |t| if t < 0.555 { 10.0 } else { 100.0 });
        // Without the floor the request due at 0.51 and every one after it
        // would all go out at 0.56.
        assert_times(&between(&sent, 0.5, 0.6), &[0.55, 0.56, 0.57, 0.58, 0.59]);
    }

    #[test]
    fn a_rate_decrease_applies_at_once() {
        let sent = simulate(0, 1, 1.0, |t| if t < 0.505 { 100.0 } else { 10.0 });
        assert_times(&between(&sent, 0.505, 0.8), &[0.6, 0.7]);
    }

    #[test]
    fn rate_zero_sends_nothing_and_resumes_one_interval_after_the_last_check() {
        let sent = simulate(0, 1, 1.0, |t| if (0.305..0.705).contains(&t) { 0.0 } else { 10.0 });
        // The last check at rate 0 is at 0.70; the rate is back at 0.71.
        assert_times(&sent, &[0.0, 0.1, 0.2, 0.3, 0.8, 0.9]);
        let mut s = Schedule::new(0, 1, 0.0, Duration::from_secs(1));
        assert_eq!(s.next_intended(0.0, 0.0), Next::Idle);
    }

    #[test]
    fn nothing_is_due_at_or_after_the_end() {
        // 8/s: intervals exact in binary, so the ninth send is due at exactly 1.0 s.
        assert_eq!(simulate(0, 1, 1.0, |_| 8.0).len(), 8, "the send due at 1.0 s is not made");
        let mut s = Schedule::new(0, 1, 10.0, Duration::from_millis(950));
        for _ in 0..10 {
            assert!(matches!(s.next_intended(0.94, 10.0), Next::Send(_)));
        }
        assert_eq!(s.next_intended(0.94, 10.0), Next::Wait(0.95), "wait for the end, still reading the rate");
        assert_eq!(s.next_intended(0.95, 10.0), Next::End);
    }

    #[test]
    fn steps_change_the_interval_at_each_level() {
        let shape = ProfileShape { steps: 2, duration: Duration::from_secs(2), ramp: Ramp::Step };
        let sent = simulate(0, 1, 2.0, |t| shape.rate_at(20.0, Duration::from_secs_f64(t)));
        let gaps = |from: f64, to: f64| -> Vec<f64> {
            let s = between(&sent, from, to);
            s.windows(2).map(|w| w[1] - w[0]).collect()
        };
        assert!(gaps(-1.0, 0.95).iter().all(|g| (g - 0.1).abs() < 1e-6), "first step: every 0.1 s: {sent:?}");
        assert!(gaps(1.0, 2.0).iter().all(|g| (g - 0.05).abs() < 1e-6), "second step: every 0.05 s: {sent:?}");
        // The step up applies from the last check before it (within 10 ms).
        assert_eq!(between(&sent, 0.95, 1.0).len(), 1, "{sent:?}");
        assert_eq!(between(&sent, -1.0, 0.95).len(), 10, "{sent:?}");
        assert_eq!(between(&sent, 1.0, 2.0).len(), 20, "{sent:?}");
    }

    #[test]
    fn a_linear_ramp_sends_about_the_integral_of_its_rate() {
        // 0 → 100/s over the first second, then 100/s.
        let shape = ProfileShape { steps: 2, duration: Duration::from_secs(2), ramp: Ramp::Linear };
        let sent = simulate(0, 1, 2.0, |t| shape.rate_at(100.0, Duration::from_secs_f64(t)));
        let ramp = between(&sent, -1.0, 1.0).len();
        assert!((45..=55).contains(&ramp), "about 50 while ramping, got {ramp}");
        let flat = between(&sent, 1.0, 2.0).len();
        assert!((99..=101).contains(&flat), "about 100 once flat, got {flat}");
    }
}
