//! What the controller does while the database is unreachable. Pure policy; the
//! pass does the I/O.
//!
//! The controller remembers the last desired state it loaded (the runs and their
//! jobs, with cursors). While Postgres is unreachable it keeps polling those jobs
//! from that memory, which renews their leases on the agents, so the load goes on;
//! the seconds and job states it reads are buffered in memory and written when the
//! database answers again. Nothing is re-planned meanwhile: no desired state can
//! change while the database is down.
//!
//! The buffer is bounded. When the outage outlasts [`OutageLimits::max_outage`]
//! or the buffer holds [`OutageLimits::max_buffered_seconds`], the controller
//! stops the runs it knows on purpose (their final seconds kept) and records why
//! once the database is back, rather than letting the jobs die by lease with no
//! reason.

use std::time::Duration;

/// Bounds of an outage the controller rides out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutageLimits {
    /// `ALILO_MAX_DB_OUTAGE_SECS` (default 900 s: agents keep 15 minutes of
    /// seconds, so nothing past it could be recovered from them either).
    pub max_outage: Duration,
    /// `ALILO_OUTAGE_BUFFER_SECONDS` (default 50,000 job-seconds, about 50 MB:
    /// 100 jobs for over 8 minutes).
    pub max_buffered_seconds: usize,
}

impl Default for OutageLimits {
    fn default() -> Self {
        Self { max_outage: Duration::from_secs(900), max_buffered_seconds: 50_000 }
    }
}

impl OutageLimits {
    /// The limits from the environment, defaults where unset; an invalid value is
    /// named.
    pub fn from_env() -> Result<Self, String> {
        let mut limits = Self::default();
        if let Some(secs) = var("ALILO_MAX_DB_OUTAGE_SECS")? {
            limits.max_outage = Duration::from_secs(secs);
        }
        if let Some(n) = var("ALILO_OUTAGE_BUFFER_SECONDS")? {
            limits.max_buffered_seconds = usize::try_from(n).unwrap_or(usize::MAX);
        }
        Ok(limits)
    }
}

fn var(name: &str) -> Result<Option<u64>, String> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().map(Some).map_err(|_| format!("{name}={v:?} is not a whole number")),
        Err(_) => Ok(None),
    }
}

/// What to do with the known runs in this pass of an outage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Keep polling from memory.
    RideOut,
    /// Stop them now, for this reason.
    Stop(String),
}

/// The verdict after `outage_for` with `buffered` job-seconds held.
pub fn verdict(outage_for: Duration, buffered: usize, limits: &OutageLimits) -> Verdict {
    let secs = outage_for.as_secs();
    if outage_for >= limits.max_outage {
        Verdict::Stop(format!(
            "stopped by the run-controller: the database was unreachable for {secs} s, longer than the {} s allowed \
             (ALILO_MAX_DB_OUTAGE_SECS); the seconds measured until then are kept",
            limits.max_outage.as_secs()
        ))
    } else if buffered >= limits.max_buffered_seconds {
        Verdict::Stop(format!(
            "stopped by the run-controller: the database was unreachable for {secs} s and the memory buffer of {} \
             job-seconds (ALILO_OUTAGE_BUFFER_SECONDS) is full; the seconds measured until then are kept",
            limits.max_buffered_seconds
        ))
    } else {
        Verdict::RideOut
    }
}

/// The verdict while a write is still going on (a database slower than the
/// agents' seconds come, not an outage): only the buffer's bound stops runs.
pub fn behind(buffered: usize, limits: &OutageLimits) -> Verdict {
    if buffered >= limits.max_buffered_seconds {
        Verdict::Stop(format!(
            "stopped by the run-controller: the database stores seconds more slowly than the agents measure them, \
             and the memory buffer of {} job-seconds (ALILO_OUTAGE_BUFFER_SECONDS) is full; the seconds measured \
             until then are kept",
            limits.max_buffered_seconds
        ))
    } else {
        Verdict::RideOut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_within_limits_is_ridden_out_and_either_limit_stops_with_its_reason() {
        let limits = OutageLimits { max_outage: Duration::from_secs(600), max_buffered_seconds: 1000 };
        assert_eq!(verdict(Duration::from_secs(90), 999, &limits), Verdict::RideOut);
        let Verdict::Stop(why) = verdict(Duration::from_secs(600), 0, &limits) else { panic!("stops") };
        assert!(why.contains("600 s") && why.contains("ALILO_MAX_DB_OUTAGE_SECS"), "{why}");
        let Verdict::Stop(why) = verdict(Duration::from_secs(90), 1000, &limits) else { panic!("stops") };
        assert!(why.contains("buffer") && why.contains("90 s"), "{why}");
    }

    #[test]
    fn a_slow_database_stops_runs_only_when_the_buffer_is_full() {
        let limits = OutageLimits { max_outage: Duration::from_secs(600), max_buffered_seconds: 1000 };
        assert_eq!(behind(999, &limits), Verdict::RideOut);
        let Verdict::Stop(why) = behind(1000, &limits) else { panic!("stops") };
        assert!(why.contains("more slowly") && why.contains("ALILO_OUTAGE_BUFFER_SECONDS"), "{why}");
        assert!(!why.contains("unreachable"), "{why}");
    }
}
