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
//! run asks for, with [`HEADROOM`]), [`agents_needed`], and [`release_due`]
//! (when to release). A provider error never stops a run from starting on the agents
//! already there, and is never retried in a loop: the run's info says why.

use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::time::Duration;

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

/// What the database says about the fleet's work, to judge a release
/// ([`crate::db::fleet::idle`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Idle {
    /// A run is active (whichever controller holds it).
    pub active: bool,
    /// Since the fleet last had work: the last run ended, or a start asked the
    /// provider for agents. `None`: neither ever happened.
    pub idle_for: Option<Duration>,
    /// The fleet was released since then.
    pub released_since: bool,
}

/// Whether to shrink the fleet now: no run active and none for `quiet`, and no
/// release since. Pure; judged on what the database says rather than on a
/// controller's memory, so a controller that starts cold (a new Lambda
/// instance) decides as a warm one would, and the release is claimed in the
/// database so two controllers release once.
pub fn release_due(idle: &Idle, quiet: Duration) -> bool {
    !idle.active && !idle.released_since && idle.idle_for.is_some_and(|d| d >= quiet)
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
        let quiet = Duration::from_secs(300);
        let idle = |active, secs: Option<u64>, released_since| Idle {
            active,
            idle_for: secs.map(Duration::from_secs),
            released_since,
        };
        for (state, due, why) in [
            (idle(false, Some(299), false), false, "not quiet long enough"),
            (idle(false, Some(300), false), true, "quiet for the period"),
            (idle(false, Some(900), true), false, "released once already"),
            (idle(true, Some(900), false), false, "a run is active"),
            (idle(false, None, false), false, "no run ever ended and the fleet never grew"),
        ] {
            assert_eq!(release_due(&state, quiet), due, "{why}");
        }
    }
}
