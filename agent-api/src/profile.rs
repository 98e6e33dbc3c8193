//! Load profile math: the rate a job aims at, at time `t` since its start.
//!
//! `steps = N` over `duration = D` means N levels `rps·i/N` (i = 1…N), each
//! held `D/N`. Rates are real numbers, so a level is never above the target
//! whatever `rps` and `N` are (the original rounded levels up and overshot
//! when `rps < steps`). `ramp = linear` ramps from 0 to the target over the
//! first step (`D/N`), then holds the target.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{DurationError, parse_duration};

/// How the rate rises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ramp {
    /// N flat levels `rps·i/N`.
    #[default]
    Step,
    /// Linear from 0 to `rps` over the first step, then flat.
    Linear,
}

/// The load profile of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Target requests per second (before the job's scale).
    pub rps: f64,
    /// Number of steps (≥ 1).
    #[serde(default = "one_step")]
    pub steps: u32,
    /// Total duration, e.g. `"90s"`, `"5m"`, `"1h30m"`.
    pub duration: String,
    /// `step` (default) or `linear`.
    #[serde(default)]
    pub ramp: Ramp,
}

fn one_step() -> u32 {
    1
}

/// A validated profile with the duration parsed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileShape {
    /// Number of steps (≥ 1).
    pub steps: u32,
    /// Total duration.
    pub duration: Duration,
    /// Ramp kind.
    pub ramp: Ramp,
}

impl Profile {
    /// Parses the duration and checks the numbers, naming the field.
    pub fn shape(&self) -> Result<ProfileShape, String> {
        if !self.rps.is_finite() || self.rps < 0.0 {
            return Err(format!("profile.rps must be a number >= 0, got {}", self.rps));
        }
        if self.steps == 0 {
            return Err("profile.steps must be >= 1, got 0".into());
        }
        let duration = parse_duration(&self.duration).map_err(|DurationError(e)| format!("profile.duration: {e}"))?;
        if duration.is_zero() {
            return Err("profile.duration must be > 0".into());
        }
        Ok(ProfileShape { steps: self.steps, duration, ramp: self.ramp })
    }
}

impl ProfileShape {
    /// Length of one step.
    pub fn step_len(&self) -> Duration {
        self.duration / self.steps
    }

    /// Index (0-based) of the step in force at `t`, clamped to the last one.
    pub fn step_at(&self, t: Duration) -> u32 {
        let step = self.step_len().as_secs_f64();
        if step <= 0.0 {
            return self.steps - 1;
        }
        ((t.as_secs_f64() / step) as u64).min(self.steps as u64 - 1) as u32
    }

    /// Fraction (0..=1) of the target rate in force at `t`; 0 once the
    /// duration is over.
    pub fn fraction_at(&self, t: Duration) -> f64 {
        if t >= self.duration {
            return 0.0;
        }
        match self.ramp {
            Ramp::Step => (self.step_at(t) as f64 + 1.0) / self.steps as f64,
            Ramp::Linear => {
                let step = self.step_len().as_secs_f64();
                if step <= 0.0 { 1.0 } else { (t.as_secs_f64() / step).min(1.0) }
            }
        }
    }

    /// Rate (requests per second) for target `rps` at time `t`.
    pub fn rate_at(&self, rps: f64, t: Duration) -> f64 {
        rps * self.fraction_at(t)
    }

    /// Requests the profile asks for between 0 and `t` (∫ rate dt), for a
    /// fixed target.
    pub fn expected_until(&self, rps: f64, t: Duration) -> f64 {
        let t = t.min(self.duration).as_secs_f64();
        let step = self.step_len().as_secs_f64();
        match self.ramp {
            Ramp::Step => {
                let n = self.steps as f64;
                let mut total = 0.0;
                let mut start = 0.0;
                for i in 1..=self.steps {
                    if start >= t {
                        break;
                    }
                    let end = (start + step).min(t);
                    total += rps * i as f64 / n * (end - start);
                    start += step;
                }
                total
            }
            Ramp::Linear => {
                let ramp_t = t.min(step);
                rps * ramp_t * ramp_t / (2.0 * step) + rps * (t - ramp_t).max(0.0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(rps: f64, steps: u32, duration: &str, ramp: Ramp) -> ProfileShape {
        Profile { rps, steps, duration: duration.into(), ramp }.shape().unwrap()
    }

    fn s(x: f64) -> Duration {
        Duration::from_secs_f64(x)
    }

    #[test]
    fn four_steps_over_forty_seconds_hold_each_level_ten_seconds() {
        let p = shape(100.0, 4, "40s", Ramp::Step);
        let table = [
            (0.0, 25.0),
            (9.999, 25.0),
            (10.0, 50.0),
            (19.9, 50.0),
            (20.0, 75.0),
            (30.0, 100.0),
            (39.99, 100.0),
            (40.0, 0.0),
        ];
        for (t, want) in table {
            assert_eq!(p.rate_at(100.0, s(t)), want, "t={t}");
        }
    }

    #[test]
    fn levels_never_exceed_the_target_for_any_rps_and_steps() {
        for rps in [0.0, 1.0, 3.0, 7.0, 9.5, 10.0, 99.0, 1000.0, 12345.0] {
            for steps in 1..=64u32 {
                let p = shape(rps, steps, "64s", Ramp::Step);
                let mut prev = 0.0;
                for k in 0..640 {
                    let r = p.rate_at(rps, s(k as f64 * 0.1));
                    assert!(r <= rps + 1e-9, "rps={rps} steps={steps} r={r}");
                    assert!(r >= prev - 1e-9, "levels must not decrease");
                    prev = r;
                }
                assert!((p.rate_at(rps, s(63.99)) - rps).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn fewer_rps_than_steps_gives_fractional_levels_not_overshoot() {
        let p = shape(3.0, 10, "100s", Ramp::Step);
        assert!((p.rate_at(3.0, s(0.0)) - 0.3).abs() < 1e-12);
        assert!((p.rate_at(3.0, s(55.0)) - 1.8).abs() < 1e-12);
        assert!((p.rate_at(3.0, s(99.0)) - 3.0).abs() < 1e-12);
    }

    #[test]
    fn one_step_is_flat_at_the_target() {
        let p = shape(500.0, 1, "30s", Ramp::Step);
        assert_eq!(p.rate_at(500.0, s(0.0)), 500.0);
        assert_eq!(p.rate_at(500.0, s(29.9)), 500.0);
        assert_eq!(p.duration, Duration::from_secs(30));
    }

    #[test]
    fn linear_ramps_from_zero_to_target_over_the_first_step() {
        let p = shape(100.0, 4, "40s", Ramp::Linear);
        assert_eq!(p.rate_at(100.0, s(0.0)), 0.0);
        assert!((p.rate_at(100.0, s(5.0)) - 50.0).abs() < 1e-9);
        assert_eq!(p.rate_at(100.0, s(10.0)), 100.0);
        assert_eq!(p.rate_at(100.0, s(35.0)), 100.0);
        assert_eq!(p.rate_at(100.0, s(40.0)), 0.0);
    }

    #[test]
    fn expected_requests_integrate_the_levels() {
        let p = shape(100.0, 4, "40s", Ramp::Step);
        // 25·10 + 50·10 + 75·10 + 100·10
        assert!((p.expected_until(100.0, s(40.0)) - 2500.0).abs() < 1e-6);
        assert!((p.expected_until(100.0, s(15.0)) - 500.0).abs() < 1e-6);
        let l = shape(100.0, 4, "40s", Ramp::Linear);
        // ramp: 100·10/2 = 500, then 100·30
        assert!((l.expected_until(100.0, s(40.0)) - 3500.0).abs() < 1e-6);
    }

    #[test]
    fn invalid_profiles_name_the_field() {
        let bad = |p: Profile, field: &str| {
            let e = p.shape().unwrap_err();
            assert!(e.contains(field), "{e}");
        };
        let base = Profile { rps: 1.0, steps: 1, duration: "1s".into(), ramp: Ramp::Step };
        bad(Profile { rps: -1.0, ..base.clone() }, "profile.rps");
        bad(Profile { steps: 0, ..base.clone() }, "profile.steps");
        bad(Profile { duration: "soon".into(), ..base.clone() }, "profile.duration");
        bad(Profile { duration: "0s".into(), ..base }, "profile.duration");
    }
}
