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
//! The buffer is bounded in memory: [`OutageLimits::max_buffered_bytes`] (a
//! buffered second is held as stored, ~3.3 KB for a wide latency
//! distribution, [`crate::db::seconds::Row`]), and optionally in job-seconds.
//! When the outage outlasts [`OutageLimits::max_outage`] or the buffer is
//! full, the controller stops the runs it knows on purpose (their final
//! seconds kept) and records why once the database is back, rather than
//! letting the jobs die by lease with no reason. A bound in bytes scales with
//! the jobs by itself: 1 GiB holds ~50 minutes of 100 jobs (so the 15-minute
//! limit comes first) and ~30 s of 10,000 (a count of job-seconds sized for
//! 100 jobs, the old 50,000, was 5 s at 10,000: bench/fleet).

use std::time::Duration;

/// Memory for the buffer when nothing says otherwise: half of a Lambda
/// function's memory, else 1 GiB.
const DEFAULT_BUFFER_MB: usize = 1024;

/// Bounds of an outage the controller rides out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutageLimits {
    /// `ALILO_MAX_DB_OUTAGE_SECS` (default 900 s: agents keep 15 minutes of
    /// seconds, so nothing past it could be recovered from them either).
    pub max_outage: Duration,
    /// `ALILO_OUTAGE_BUFFER_MB`, in bytes: the memory the buffered seconds may
    /// take (default 1,024 MB; in AWS Lambda half the function's memory).
    pub max_buffered_bytes: usize,
    /// `ALILO_OUTAGE_BUFFER_SECONDS`: a bound in job-seconds besides, when set.
    pub max_buffered_seconds: Option<usize>,
}

impl Default for OutageLimits {
    fn default() -> Self {
        Self {
            max_outage: Duration::from_secs(900),
            max_buffered_bytes: DEFAULT_BUFFER_MB << 20,
            max_buffered_seconds: None,
        }
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
        if let Some(mb) = var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")? {
            limits.max_buffered_bytes = megabytes(mb / 2);
        }
        if let Some(mb) = var("ALILO_OUTAGE_BUFFER_MB")? {
            limits.max_buffered_bytes = megabytes(mb);
        }
        if let Some(n) = var("ALILO_OUTAGE_BUFFER_SECONDS")? {
            limits.max_buffered_seconds = Some(usize::try_from(n).unwrap_or(usize::MAX));
        }
        Ok(limits)
    }

    /// Why the buffer is full, if it is.
    fn full(&self, buffered: Buffered) -> Option<String> {
        if buffered.bytes >= self.max_buffered_bytes {
            Some(format!("the memory buffer of {} MB (ALILO_OUTAGE_BUFFER_MB) is full", self.max_buffered_bytes >> 20))
        } else {
            let max = self.max_buffered_seconds.filter(|max| buffered.seconds >= *max)?;
            Some(format!("the memory buffer of {max} job-seconds (ALILO_OUTAGE_BUFFER_SECONDS) is full"))
        }
    }
}

/// `mb` megabytes in bytes.
pub fn megabytes(mb: u64) -> usize {
    usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
}

fn var(name: &str) -> Result<Option<u64>, String> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().map(Some).map_err(|_| format!("{name}={v:?} is not a whole number")),
        Err(_) => Ok(None),
    }
}

/// What the buffer holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Buffered {
    /// Job-seconds.
    pub seconds: usize,
    /// Their memory, in bytes.
    pub bytes: usize,
}

/// What to do with the known runs in this pass of an outage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Keep polling from memory.
    RideOut,
    /// Stop them now, for this reason.
    Stop(String),
}

/// The verdict after `outage_for` with `buffered` held.
pub fn verdict(outage_for: Duration, buffered: Buffered, limits: &OutageLimits) -> Verdict {
    let secs = outage_for.as_secs();
    if outage_for >= limits.max_outage {
        Verdict::Stop(format!(
            "stopped by the run-controller: the database was unreachable for {secs} s, longer than the {} s allowed \
             (ALILO_MAX_DB_OUTAGE_SECS); the seconds measured until then are kept",
            limits.max_outage.as_secs()
        ))
    } else if let Some(full) = limits.full(buffered) {
        Verdict::Stop(format!(
            "stopped by the run-controller: the database was unreachable for {secs} s and {full}; the seconds \
             measured until then are kept"
        ))
    } else {
        Verdict::RideOut
    }
}

/// The verdict while a write is still going on (a database slower than the
/// agents' seconds come, not an outage): only the buffer's bound stops runs.
pub fn behind(buffered: Buffered, limits: &OutageLimits) -> Verdict {
    match limits.full(buffered) {
        Some(full) => Verdict::Stop(format!(
            "stopped by the run-controller: the database stores seconds more slowly than the agents measure them, \
             and {full}; the seconds measured until then are kept"
        )),
        None => Verdict::RideOut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> OutageLimits {
        OutageLimits { max_outage: Duration::from_secs(600), max_buffered_bytes: 1 << 20, max_buffered_seconds: None }
    }

    fn held(seconds: usize, bytes: usize) -> Buffered {
        Buffered { seconds, bytes }
    }

    #[test]
    fn an_outage_within_limits_is_ridden_out_and_either_limit_stops_with_its_reason() {
        let limits = limits();
        assert_eq!(verdict(Duration::from_secs(90), held(999, (1 << 20) - 1), &limits), Verdict::RideOut);
        let Verdict::Stop(why) = verdict(Duration::from_secs(600), held(0, 0), &limits) else { panic!("stops") };
        assert!(why.contains("600 s") && why.contains("ALILO_MAX_DB_OUTAGE_SECS"), "{why}");
        let Verdict::Stop(why) = verdict(Duration::from_secs(90), held(10, 1 << 20), &limits) else { panic!("stops") };
        assert!(
            why.contains("buffer of 1 MB") && why.contains("ALILO_OUTAGE_BUFFER_MB") && why.contains("90 s"),
            "{why}"
        );
    }

    #[test]
    fn a_count_of_job_seconds_bounds_the_buffer_only_when_set() {
        let mut limits = limits();
        assert_eq!(verdict(Duration::from_secs(9), held(1_000_000, 1000), &limits), Verdict::RideOut);
        limits.max_buffered_seconds = Some(1000);
        let Verdict::Stop(why) = verdict(Duration::from_secs(9), held(1000, 1000), &limits) else { panic!("stops") };
        assert!(why.contains("1000 job-seconds (ALILO_OUTAGE_BUFFER_SECONDS)"), "{why}");
    }

    #[test]
    fn a_slow_database_stops_runs_only_when_the_buffer_is_full() {
        let limits = limits();
        assert_eq!(behind(held(999, 1000), &limits), Verdict::RideOut);
        let Verdict::Stop(why) = behind(held(1000, 1 << 20), &limits) else { panic!("stops") };
        assert!(why.contains("more slowly") && why.contains("ALILO_OUTAGE_BUFFER_MB"), "{why}");
        assert!(!why.contains("unreachable"), "{why}");
    }

    #[test]
    fn the_default_buffer_is_a_gibibyte_or_half_a_lambda_function() {
        assert_eq!(OutageLimits::default().max_buffered_bytes, 1 << 30);
        assert_eq!(megabytes(128), 128 << 20);
    }
}
