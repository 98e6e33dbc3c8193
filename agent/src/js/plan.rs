//! k6's scenarios as the agent runs them, as arithmetic on each scenario's
//! own clock: how many VUs a closed-model executor wants at a time, what
//! arrival rate an open-model one aims at, and when each ends. Pure: the
//! runtime is [`super::executor`]; [`super::options`] builds these from a
//! script's `options`.
//!
//! The rules (k6's):
//! - **`constant-vus`**: `vus` VUs loop over iterations for `duration`.
//! - **`ramping-vus`**: from `startVUs`, linear between stage targets; a
//!   count between two integers rounds towards the stage's start (so a ramp
//!   from 0 to 10 over 10 s adds a VU each second, and a ramp down removes
//!   one each second). A VU removed by a ramp-down finishes its iteration,
//!   interrupted after `gracefulRampDown`.
//! - **`per-vu-iterations`**: `vus` VUs each run `iterations` iterations,
//!   within `maxDuration`.
//! - **`shared-iterations`**: `vus` VUs share `iterations` iterations, within
//!   `maxDuration`.
//! - **`constant-arrival-rate`** / **`ramping-arrival-rate`**: iterations
//!   start at `rate / timeUnit` (linear between stage targets, a stage of
//!   zero length jumps), on `preAllocatedVUs` up to `maxVUs`; an iteration
//!   that finds no free VU is dropped and counted.
//! - Every scenario starts `startTime` after the test's clock; when its time
//!   is up, iterations still running get `gracefulStop` to end, then are
//!   interrupted. Several scenarios run in parallel.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::tags::Tags;

/// k6's default `gracefulStop` and `gracefulRampDown`.
pub const DEFAULT_GRACEFUL: Duration = Duration::from_secs(30);
/// k6's default `maxDuration` of the iteration-count executors.
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(600);

/// One stage: reach `target` (VUs, or iterations per second) over `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// VUs, or iterations per second.
    pub target: f64,
    /// Length of the stage (0: a jump).
    pub duration: Duration,
}

/// An executor and its own fields.
#[derive(Debug, Clone, PartialEq)]
pub enum Executor {
    /// `vus` VUs for `duration`.
    ConstantVus {
        /// VUs.
        vus: u64,
        /// How long.
        duration: Duration,
    },
    /// VUs following `stages` from `start_vus`.
    RampingVus {
        /// VUs at the start.
        start_vus: u64,
        /// The stages (targets in VUs).
        stages: Vec<Stage>,
        /// How long a VU removed by a ramp-down may finish its iteration.
        graceful_ramp_down: Duration,
    },
    /// `iterations` iterations on each of `vus` VUs.
    PerVuIterations {
        /// VUs.
        vus: u64,
        /// Iterations per VU.
        iterations: u64,
        /// The longest the scenario may run.
        max_duration: Duration,
    },
    /// `iterations` iterations in all, shared by `vus` VUs.
    SharedIterations {
        /// VUs.
        vus: u64,
        /// Iterations in all.
        iterations: u64,
        /// The longest the scenario may run.
        max_duration: Duration,
    },
    /// Iterations started at a rate (open model).
    ArrivalRate {
        /// `constant-arrival-rate` (else `ramping-arrival-rate`).
        constant: bool,
        /// Rate at the start, per second.
        start_rate: f64,
        /// The stages (targets per second).
        stages: Vec<Stage>,
        /// VUs created before the start.
        pre_allocated_vus: u64,
        /// VUs at most.
        max_vus: u64,
    },
}

/// One scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Its name (`options.scenarios` key; `default` for the shortcuts).
    pub name: String,
    /// Its executor.
    pub executor: Executor,
    /// When it starts, after the test's clock.
    pub start_time: Duration,
    /// How long iterations running at its end may go on.
    pub graceful_stop: Duration,
    /// The exported function an iteration calls (`None`: `default`).
    pub exec: Option<String>,
    /// `__ENV` entries added for its iterations.
    pub env: BTreeMap<String, String>,
    /// Tags of its requests (over `options.tags`, under theirs).
    pub tags: Tags,
}

/// What a VU needs to know of the scenario its iteration belongs to.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScenarioInfo {
    /// `exec.scenario.name`.
    pub name: String,
    /// `exec.scenario.executor`.
    pub executor: &'static str,
    /// The function to call (`None`: `default`).
    pub exec: Option<String>,
    /// `__ENV` additions.
    pub env: BTreeMap<String, String>,
    /// When it started (`exec.scenario.startTime`), once it has.
    pub started: std::sync::OnceLock<std::time::Instant>,
    /// How long it starts iterations (`exec.scenario.progress`).
    pub length: Duration,
    /// The tags of its requests before their own ([`super::tags::of_scenario`]).
    pub tags: Arc<Tags>,
    /// Their key.
    pub tag_key: Arc<str>,
}

impl Scenario {
    /// Its [`ScenarioInfo`], with the test-wide tags `global`.
    pub fn info(&self, global: &Tags) -> ScenarioInfo {
        let tags = super::tags::of_scenario(global, &self.tags, &self.name);
        ScenarioInfo {
            tag_key: super::tags::key(&tags),
            tags: Arc::new(tags),
            name: self.name.clone(),
            executor: self.executor.name(),
            exec: self.exec.clone(),
            env: self.env.clone(),
            started: std::sync::OnceLock::new(),
            length: self.executor.length(),
        }
    }

    /// When it stops starting iterations, on the test's clock.
    pub fn end(&self) -> Duration {
        self.start_time + self.executor.length()
    }
}

/// VUs of `total` that worker `index` of `count` runs.
pub fn share(total: u64, index: usize, count: usize) -> u64 {
    let count = count.max(1) as u64;
    total / count + u64::from((index as u64) < total % count)
}

/// `n × factor`, rounded to the nearest integer.
pub fn scaled(n: u64, factor: f64) -> u64 {
    if !factor.is_finite() || factor <= 0.0 { 0 } else { (n as f64 * factor).round() as u64 }
}

impl Executor {
    /// k6's name of the executor.
    pub fn name(&self) -> &'static str {
        match self {
            Executor::ConstantVus { .. } => "constant-vus",
            Executor::RampingVus { .. } => "ramping-vus",
            Executor::PerVuIterations { .. } => "per-vu-iterations",
            Executor::SharedIterations { .. } => "shared-iterations",
            Executor::ArrivalRate { constant: true, .. } => "constant-arrival-rate",
            Executor::ArrivalRate { constant: false, .. } => "ramping-arrival-rate",
        }
    }

    /// Whether VUs loop over iterations (closed model).
    pub fn is_closed(&self) -> bool {
        !matches!(self, Executor::ArrivalRate { .. })
    }

    /// How long it starts iterations, on its own clock.
    pub fn length(&self) -> Duration {
        match self {
            Executor::ConstantVus { duration, .. } => *duration,
            Executor::RampingVus { stages, .. } | Executor::ArrivalRate { stages, .. } => {
                stages.iter().map(|s| s.duration).sum()
            }
            Executor::PerVuIterations { max_duration, .. } | Executor::SharedIterations { max_duration, .. } => {
                *max_duration
            }
        }
    }

    /// VUs wanted at `t` on its own clock (closed model; 0 for arrival
    /// rates and after the end).
    pub fn vus_at(&self, t: Duration) -> u64 {
        if t >= self.length() {
            return 0;
        }
        match self {
            Executor::ConstantVus { vus, .. }
            | Executor::PerVuIterations { vus, .. }
            | Executor::SharedIterations { vus, .. } => *vus,
            Executor::RampingVus { start_vus, stages, .. } => {
                let v = along(*start_vus as f64, stages, t);
                // Towards the stage's start: up by floor, down by ceil.
                let (from, to) = stage_ends(*start_vus as f64, stages, t);
                if to >= from { v.floor() as u64 } else { v.ceil() as u64 }
            }
            Executor::ArrivalRate { .. } => 0,
        }
    }

    /// The most VUs it may want (before the factor).
    pub fn peak_vus(&self) -> u64 {
        match self {
            Executor::ConstantVus { vus, .. }
            | Executor::PerVuIterations { vus, .. }
            | Executor::SharedIterations { vus, .. } => *vus,
            Executor::RampingVus { start_vus, stages, .. } => {
                stages.iter().map(|s| s.target.max(0.0).ceil() as u64).fold(*start_vus, u64::max)
            }
            Executor::ArrivalRate { max_vus, .. } => *max_vus,
        }
    }

    /// Iterations per second aimed at, at `t` on its own clock (open model;
    /// 0 for the closed model and after the end).
    pub fn rate_at(&self, t: Duration) -> f64 {
        match self {
            Executor::ArrivalRate { start_rate, stages, .. } if t < self.length() => {
                along(*start_rate, stages, t).max(0.0)
            }
            _ => 0.0,
        }
    }
}

/// The value at `t` of a line through `stages` starting at `start`.
fn along(start: f64, stages: &[Stage], t: Duration) -> f64 {
    let (mut from, mut at) = (start, Duration::ZERO);
    for s in stages {
        if t < at + s.duration {
            let f = (t - at).as_secs_f64() / s.duration.as_secs_f64();
            return from + (s.target - from) * f;
        }
        from = s.target;
        at += s.duration;
    }
    from
}

/// The start and target values of the stage in force at `t`.
fn stage_ends(start: f64, stages: &[Stage], t: Duration) -> (f64, f64) {
    let (mut from, mut at) = (start, Duration::ZERO);
    for s in stages {
        if t < at + s.duration {
            return (from, s.target);
        }
        from = s.target;
        at += s.duration;
    }
    (from, from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    fn stage(target: f64, secs: f64) -> Stage {
        Stage { target, duration: s(secs) }
    }

    #[test]
    fn ramping_vus_rounds_towards_the_stages_start() {
        let e = Executor::RampingVus {
            start_vus: 0,
            stages: vec![stage(10.0, 10.0), stage(10.0, 5.0), stage(0.0, 10.0)],
            graceful_ramp_down: DEFAULT_GRACEFUL,
        };
        let at: Vec<u64> =
            [0.0, 0.99, 1.0, 5.5, 9.99, 12.0, 15.0, 15.5, 16.0, 24.99].iter().map(|t| e.vus_at(s(*t))).collect();
        assert_eq!(at, vec![0, 0, 1, 5, 9, 10, 10, 10, 9, 1]);
        assert_eq!(e.vus_at(s(25.0)), 0, "nothing after the end");
        assert_eq!((e.length(), e.peak_vus()), (s(25.0), 10));
    }

    #[test]
    fn constant_and_iteration_executors_keep_their_vus_until_their_end() {
        let c = Executor::ConstantVus { vus: 3, duration: s(2.0) };
        assert_eq!((c.vus_at(s(0.0)), c.vus_at(s(1.99)), c.vus_at(s(2.0))), (3, 3, 0));
        let p = Executor::PerVuIterations { vus: 2, iterations: 5, max_duration: DEFAULT_MAX_DURATION };
        assert_eq!((p.vus_at(s(0.0)), p.length()), (2, DEFAULT_MAX_DURATION));
        assert!(c.is_closed() && p.is_closed());
    }

    #[test]
    fn arrival_rates_interpolate_and_a_zero_length_stage_jumps() {
        let e = Executor::ArrivalRate {
            constant: false,
            start_rate: 0.0,
            stages: vec![stage(10.0, 10.0), stage(30.0, 0.0), stage(30.0, 5.0)],
            pre_allocated_vus: 1,
            max_vus: 5,
        };
        assert!((e.rate_at(s(5.0)) - 5.0).abs() < 1e-9);
        assert!((e.rate_at(s(10.0)) - 30.0).abs() < 1e-9, "the jump");
        assert_eq!(e.rate_at(s(15.0)), 0.0);
        assert!(!e.is_closed());
        assert_eq!(e.vus_at(s(1.0)), 0);
    }

    #[test]
    fn shares_split_vus_over_workers_and_scale() {
        let all: Vec<u64> = (0..3).map(|i| share(7, i, 3)).collect();
        assert_eq!(all, vec![3, 2, 2]);
        assert_eq!((share(1, 0, 2), share(1, 1, 2)), (1, 0));
        assert_eq!((scaled(10, 0.5), scaled(3, 0.5), scaled(10, 0.0), scaled(4, 1.5)), (5, 2, 0, 6));
    }
}
