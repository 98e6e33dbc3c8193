//! Where agents come from (#13): a [`Fleet`] provider grows the fleet before a
//! run and shrinks it after a quiet period.
//!
//! - [`Fleet::ensure`]`(capacity_rps, tag)`: make healthy agents carrying `tag`
//!   offer at least `capacity_rps` in total, up to the provider's maximum, and
//!   wait (bounded) for new ones to register; answers what is there then.
//! - [`Fleet::release`]: back to the provider's minimum.
//!
//! Implementations: [`StaticFleet`] (today's behaviour: the agents are what
//! they are), `alilo-local`'s `local` provider (spawns agent processes), and
//! [`super::fleet_ecs::EcsFleet`] (an ECS service's desired count).
//!
//! The rules around them are pure and tested here: [`demands_by_tag`] (what a
//! run asks for, with [`HEADROOM`]), [`agents_needed`], and [`Quiet`] (when to
//! release). A provider error never stops a run from starting on the agents
//! already there, and is never retried in a loop: the run's info says why.

use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A run asks its fleet for this much more than its planned rate: room for a
/// raise of the load level and for an agent lost mid-run.
pub const HEADROOM: f64 = 1.25;

/// Why a provider could not (fully) do what was asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FleetError {
    /// The engine refused for now (API throttling, a service being updated).
    #[error("the fleet provider is throttled: {0}")]
    Throttled(String),
    /// The maximum is reached, or the engine has no capacity to place agents.
    #[error("the fleet cannot grow: {0}")]
    NoCapacity(String),
    /// Agents were asked for but not all registered in time.
    #[error("the fleet grew but {0}")]
    Slow(String),
    #[error("the fleet provider failed: {0}")]
    Failed(String),
}

/// What the fleet offers for a tag after [`Fleet::ensure`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Offer {
    /// Healthy agents carrying the tag.
    pub agents: usize,
    /// Their announced capacity in total.
    pub capacity_rps: f64,
    /// Agents this call asked the engine for.
    pub started: usize,
}

/// A source of agents. Object-safe (boxed futures) so the app holds any one.
pub trait Fleet: Send + Sync {
    /// Its name in logs and messages (`static`, `local`, `ecs`).
    fn name(&self) -> &'static str;

    /// Make healthy agents carrying `tag` offer at least `capacity_rps`.
    fn ensure<'a>(&'a self, capacity_rps: f64, tag: &'a str) -> BoxFuture<'a, Result<Offer, FleetError>>;

    /// Shrink to the minimum.
    fn release(&self) -> BoxFuture<'_, Result<(), FleetError>>;
}

/// Today's fleet: agents registered by hand or by themselves; nothing grows.
#[derive(Debug, Clone, Copy, Default)]
pub struct StaticFleet;

impl Fleet for StaticFleet {
    fn name(&self) -> &'static str {
        "static"
    }

    fn ensure<'a>(&'a self, _: f64, _: &'a str) -> BoxFuture<'a, Result<Offer, FleetError>> {
        Box::pin(async { Ok(Offer::default()) })
    }

    fn release(&self) -> BoxFuture<'_, Result<(), FleetError>> {
        Box::pin(async { Ok(()) })
    }
}

/// What a run asks the fleet for: its planned rate per tag, times [`HEADROOM`].
/// Pure.
pub fn demands_by_tag(demands: &[(String, f64)]) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for (tag, rps) in demands {
        *out.entry(tag.clone()).or_default() += rps * HEADROOM;
    }
    out
}

/// How many more agents of `per_agent` rps are needed for `wanted` when
/// `offered` is there, with `running` agents already and at most `max`. Pure.
pub fn agents_needed(wanted: f64, offered: f64, per_agent: f64, running: usize, max: usize) -> usize {
    if offered >= wanted || per_agent <= 0.0 {
        return 0;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let more = ((wanted - offered) / per_agent).ceil() as usize;
    more.min(max.saturating_sub(running))
}

/// When to shrink the fleet: once after the last active run has been gone for
/// `quiet`. Kept by the controller across passes.
#[derive(Debug, Clone)]
pub struct Quiet {
    quiet: Duration,
    last_busy: Instant,
    released: bool,
}

impl Quiet {
    pub fn new(quiet: Duration, now: Instant) -> Self {
        // Nothing to release at start: a fleet left big by a dead controller
        // shrinks after one quiet period.
        Self { quiet, last_busy: now, released: false }
    }

    /// Record a pass that saw `active_runs`; true when the fleet should be
    /// released now (once per quiet period).
    pub fn observe(&mut self, active_runs: usize, now: Instant) -> bool {
        if active_runs > 0 {
            self.last_busy = now;
            self.released = false;
            return false;
        }
        if !self.released && now.duration_since(self.last_busy) >= self.quiet {
            self.released = true;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_asks_for_its_rate_per_tag_with_headroom() {
        let got = demands_by_tag(&[("eu".into(), 100.0), ("".into(), 40.0), ("eu".into(), 60.0)]);
        assert_eq!(got.into_iter().collect::<Vec<_>>(), vec![(String::new(), 50.0), ("eu".into(), 200.0)]);
    }

    #[test]
    fn agents_are_added_for_the_missing_rate_up_to_the_maximum() {
        assert_eq!(agents_needed(1000.0, 1200.0, 500.0, 3, 10), 0, "enough already");
        assert_eq!(agents_needed(1000.0, 0.0, 500.0, 0, 10), 2);
        assert_eq!(agents_needed(1001.0, 0.0, 500.0, 0, 10), 3, "rounded up");
        assert_eq!(agents_needed(10_000.0, 0.0, 500.0, 8, 10), 2, "capped by the maximum");
        assert_eq!(agents_needed(10_000.0, 0.0, 500.0, 12, 10), 0);
    }

    #[test]
    fn the_fleet_is_released_once_after_a_quiet_period() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut q = Quiet::new(Duration::from_secs(300), t0);
        assert!(!q.observe(0, t0 + 299 * s), "not quiet long enough");
        assert!(q.observe(0, t0 + 300 * s));
        assert!(!q.observe(0, t0 + 400 * s), "once");
        assert!(!q.observe(2, t0 + 500 * s), "busy again");
        assert!(!q.observe(0, t0 + 799 * s));
        assert!(q.observe(0, t0 + 800 * s), "quiet again after the last busy pass");
    }
}
