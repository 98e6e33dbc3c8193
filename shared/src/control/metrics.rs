//! Metrics over stored seconds: sums of counts, and percentiles from histograms
//! merged across agents and seconds (never an average of percentiles).
//!
//! [`Sum`] is the one place seconds are summed, for every reader: the summary
//! and metrics routes, the live v1 metrics, the report, the thresholds. Each
//! stored histogram is decoded once, into its few non-zero counters
//! ([`crate::verdict::dist`], not a full `hdrhistogram::Histogram` per second),
//! and larger sums (a whole script, the run) combine already-summed parts, so a
//! report over one hour of 20 scripts takes about a second.

use crate::counts::Counts;
use crate::verdict::dist::{self, Dist, Layout};
use std::collections::{BTreeMap, BTreeSet};

/// One stored second of one job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Second {
    /// Unix seconds at which the second started.
    pub ts: i64,
    pub target_rps: f64,
    pub counts: Counts,
    pub status: BTreeMap<String, i64>,
    pub errors: BTreeMap<String, i64>,
    /// Corrected latency histogram (HDR V2 bytes, µs, [`super::stored`]); empty = none.
    pub latency: Vec<u8>,
}

/// Figures over a set of seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Distinct seconds covered.
    pub seconds: i64,
    pub counts: Counts,
    /// Sum over jobs of the aimed rate, averaged over the seconds.
    pub target_rps: f64,
    /// `sent / seconds`.
    pub achieved_rps: f64,
    /// `failed / (ok + failed)`, 0 when nothing completed.
    pub error_rate: f64,
    /// Latency in milliseconds.
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
    pub status: BTreeMap<String, i64>,
    pub errors: BTreeMap<String, i64>,
}

/// Seconds summed: counts, status codes, errors by kind, and their latency
/// histograms merged (a histogram that cannot be read is left out).
#[derive(Debug, Clone, Default)]
pub struct Sum {
    /// Distinct seconds covered.
    pub seconds: BTreeSet<i64>,
    pub counts: Counts,
    /// Sum over jobs and seconds of the aimed rate.
    pub target_sum: f64,
    pub latency: Dist,
    pub status: BTreeMap<String, i64>,
    /// Errors by kind (kinds counted 0 are left out).
    pub errors: BTreeMap<String, i64>,
}

impl Sum {
    /// Sums seconds of jobs, decoding each histogram once.
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a Second>) -> Self {
        let layout = Layout::agents();
        let mut sum = Sum::default();
        let mut parts = Vec::new();
        for s in rows {
            sum.seconds.insert(s.ts);
            sum.add_counts(s.counts, s.target_rps);
            sum.count(&s.status, &s.errors);
            if let Ok(p) = dist::decode(&s.latency, layout) {
                parts.push(p);
            }
        }
        sum.latency = Dist::merge(&parts);
        sum
    }

    /// Several sums in one (their histograms merged in one pass).
    pub fn combine<'a>(parts: impl IntoIterator<Item = &'a Sum>) -> Self {
        let mut sum = Sum::default();
        let mut dists = Vec::new();
        for o in parts {
            sum.seconds.extend(o.seconds.iter().copied());
            sum.add_counts(o.counts, o.target_sum);
            sum.count(&o.status, &o.errors);
            dists.push(o.latency.counts());
        }
        sum.latency = Dist::merge(dists);
        sum
    }

    /// Adds another sum (another script run over the same time).
    pub fn merge(&mut self, o: &Sum) {
        self.seconds.extend(o.seconds.iter().copied());
        self.add_counts(o.counts, o.target_sum);
        self.count(&o.status, &o.errors);
        self.latency.add(&o.latency);
    }

    fn add_counts(&mut self, counts: Counts, target: f64) {
        self.counts += counts;
        self.target_sum += target;
    }

    fn count(&mut self, status: &BTreeMap<String, i64>, errors: &BTreeMap<String, i64>) {
        for (k, v) in status {
            *self.status.entry(k.clone()).or_default() += v;
        }
        for (k, v) in errors.iter().filter(|(_, v)| **v > 0) {
            *self.errors.entry(k.clone()).or_default() += v;
        }
    }

    /// Requests sent per second covered.
    #[allow(clippy::cast_precision_loss)]
    pub fn achieved_rps(&self) -> f64 {
        if self.seconds.is_empty() { 0.0 } else { self.counts.sent as f64 / self.seconds.len() as f64 }
    }

    /// Rate aimed at per second covered (all jobs together).
    #[allow(clippy::cast_precision_loss)]
    pub fn target_rps(&self) -> f64 {
        if self.seconds.is_empty() { 0.0 } else { self.target_sum / self.seconds.len() as f64 }
    }

    /// The figures; `span` is the number of seconds the rates are computed over
    /// (`None`: the distinct seconds covered).
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_wrap)]
    pub fn figures(&self, span: Option<i64>) -> Figures {
        let seconds = span.unwrap_or(self.seconds.len() as i64);
        let done = self.counts.ok + self.counts.failed;
        let mut f = Figures {
            seconds,
            counts: self.counts,
            error_rate: if done > 0 { self.counts.failed as f64 / done as f64 } else { 0.0 },
            status: self.status.clone(),
            errors: self.errors.clone(),
            ..Figures::default()
        };
        if seconds > 0 {
            f.achieved_rps = self.counts.sent as f64 / seconds as f64;
            f.target_rps = self.target_sum / self.seconds.len().max(1) as f64;
        }
        if self.latency.count() > 0 {
            let l = Layout::agents();
            f.p50 = self.latency.quantile_ms(l, 0.50);
            f.p90 = self.latency.quantile_ms(l, 0.90);
            f.p95 = self.latency.quantile_ms(l, 0.95);
            f.p99 = self.latency.quantile_ms(l, 0.99);
            f.max = self.latency.max(l) as f64 / 1000.0;
            f.mean = self.latency.mean(l) / 1000.0;
        }
        f
    }
}

/// Sum the seconds and merge their histograms. `span` is the number of seconds the
/// rates are computed over (`None`: the distinct seconds present).
pub fn figures<'a>(rows: impl IntoIterator<Item = &'a Second>, span: Option<i64>) -> Figures {
    Sum::of(rows).figures(span)
}

/// Seconds cut into intervals of `step` from `start` (a second before `start`
/// falls in the interval before it), each summed once.
pub fn intervals<'a>(rows: impl IntoIterator<Item = &'a Second>, start: i64, step: i64) -> BTreeMap<i64, Sum> {
    let step = step.max(1);
    let mut groups: BTreeMap<i64, Vec<&Second>> = BTreeMap::new();
    for s in rows {
        groups.entry(start + (s.ts - start).div_euclid(step) * step).or_default().push(s);
    }
    groups.into_iter().map(|(ts, rows)| (ts, Sum::of(rows))).collect()
}

/// Several sets of intervals (one per script run) as one: each interval's sums
/// combined.
pub fn combine_intervals<'a>(cuts: impl IntoIterator<Item = &'a BTreeMap<i64, Sum>>) -> BTreeMap<i64, Sum> {
    let mut by_ts: BTreeMap<i64, Vec<&Sum>> = BTreeMap::new();
    for (ts, sum) in cuts.into_iter().flatten() {
        by_ts.entry(*ts).or_default().push(sum);
    }
    by_ts.into_iter().map(|(ts, sums)| (ts, Sum::combine(sums))).collect()
}

/// Group seconds into intervals of `step` seconds starting at `from`: the start of
/// each non-empty interval and its figures (rates over `step`).
pub fn series(rows: &[Second], from: i64, step: i64) -> Vec<(i64, Figures)> {
    figures_of(&intervals(rows.iter().filter(|s| s.ts >= from), from, step), step)
}

/// The figures of each interval of `step` seconds (rates over `step`).
pub fn figures_of(intervals: &BTreeMap<i64, Sum>, step: i64) -> Vec<(i64, Figures)> {
    intervals.iter().map(|(start, sum)| (*start, sum.figures(Some(step.max(1))))).collect()
}

/// Format milliseconds as the v1 Metrics do: `"12.35"`.
pub fn ms(value: f64) -> String {
    format!("{value:.2}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use alilo_agent_api::hist;

    fn second(ts: i64, sent: i64, failed: i64, latencies_us: &[u64]) -> Second {
        let mut h = hist::new();
        for l in latencies_us {
            hist::record(&mut h, *l);
        }
        Second {
            ts,
            target_rps: 10.0,
            counts: Counts { sent, ok: sent - failed, failed, ..Counts::default() },
            latency: crate::control::stored::latency(&hist::encode(&h)),
            status: BTreeMap::from([("200".to_string(), sent - failed)]),
            ..Second::default()
        }
    }

    #[test]
    fn percentiles_come_from_merged_histograms_not_averages() {
        // Agent A: 99 fast requests; agent B: 1 slow one. Averaging the two p99s
        // would say ~50 ms; the merged distribution says ~1 ms.
        let a = second(100, 99, 0, &[1_000; 99]);
        let b = second(100, 1, 0, &[100_000]);
        let f = figures([&a, &b], None);
        assert!((f.p99 - 1.0).abs() < 0.01, "{}", f.p99);
        assert!((f.max - 100.0).abs() < 0.1, "{}", f.max);
        assert_eq!((f.seconds, f.counts.sent), (1, 100));
        assert!((f.target_rps - 20.0).abs() < 1e-9, "two jobs of 10 rps aim at 20: {}", f.target_rps);
    }

    #[test]
    fn rates_and_error_rate_are_over_the_window() {
        let rows = [second(10, 20, 2, &[]), second(11, 30, 3, &[]), second(12, 10, 0, &[])];
        let f = figures(&rows, None);
        assert_eq!((f.seconds, f.counts.sent, f.counts.failed), (3, 60, 5));
        assert!((f.achieved_rps - 20.0).abs() < 1e-9);
        assert!((f.error_rate - 5.0 / 60.0).abs() < 1e-9);
        assert_eq!(f.status["200"], 55);
        assert_eq!(f.p99, 0.0, "no latency recorded, no percentile invented");
    }

    #[test]
    fn larger_sums_combine_smaller_ones_to_the_same_figures() {
        let a = [second(10, 20, 2, &[1_000, 2_000]), second(11, 30, 0, &[5_000])];
        let b = [second(10, 10, 1, &[100_000]), second(13, 5, 0, &[])];
        let all: Vec<&Second> = a.iter().chain(&b).collect();
        let whole = figures(all.iter().copied(), None);
        assert_eq!(Sum::combine([&Sum::of(&a), &Sum::of(&b)]).figures(None), whole);
        let mut merged = Sum::of(&a);
        merged.merge(&Sum::of(&b));
        assert_eq!(merged.figures(None), whole);
        let by_interval = combine_intervals([&intervals(&a, 10, 2), &intervals(&b, 10, 2)]);
        assert_eq!(figures_of(&by_interval, 2), figures_of(&intervals(all.iter().copied(), 10, 2), 2));
        assert_eq!((whole.seconds, whole.counts.sent, whole.status["200"], whole.max), (3, 65, 62, 100.031));
    }

    #[test]
    fn series_groups_by_step_from_the_start() {
        let rows = [second(9, 1, 0, &[]), second(10, 10, 0, &[]), second(11, 10, 0, &[]), second(14, 6, 0, &[])];
        let got: Vec<(i64, i64, f64)> =
            series(&rows, 10, 2).into_iter().map(|(t, f)| (t, f.counts.sent, f.achieved_rps)).collect();
        assert_eq!(got, vec![(10, 20, 10.0), (14, 6, 3.0)]);
    }
}
