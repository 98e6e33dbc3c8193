//! Metrics over stored seconds: sums of counts, and percentiles from histograms
//! merged across agents and seconds (never an average of percentiles).

use alilo_agent_api::hist;
use std::collections::BTreeMap;

/// One stored second of one job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Second {
    /// Unix seconds at which the second started.
    pub ts: i64,
    pub target_rps: f64,
    pub sent: i64,
    pub ok: i64,
    pub failed: i64,
    pub dropped: i64,
    pub bytes_sent: i64,
    pub bytes_received: i64,
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
    pub sent: i64,
    pub ok: i64,
    pub failed: i64,
    pub dropped: i64,
    pub bytes_sent: i64,
    pub bytes_received: i64,
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
    pub status: BTreeMap<String, i64>,
    pub errors: BTreeMap<String, i64>,
}

/// Sum the seconds and merge their histograms. `span` is the number of seconds the
/// rates are computed over (`None`: the distinct seconds present).
pub fn figures<'a>(rows: impl IntoIterator<Item = &'a Second>, span: Option<i64>) -> Figures {
    let mut f = Figures::default();
    let mut merged = hist::new();
    let mut distinct = std::collections::BTreeSet::new();
    let mut target_sum = 0.0;
    for s in rows {
        distinct.insert(s.ts);
        f.sent += s.sent;
        f.ok += s.ok;
        f.failed += s.failed;
        f.dropped += s.dropped;
        f.bytes_sent += s.bytes_sent;
        f.bytes_received += s.bytes_received;
        target_sum += s.target_rps;
        for (k, v) in &s.status {
            *f.status.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &s.errors {
            if *v > 0 {
                *f.errors.entry(k.clone()).or_default() += v;
            }
        }
        if !s.latency.is_empty()
            && let Ok(h) = hist::decode_v2(&s.latency)
        {
            let _ = merged.add(&h);
        }
    }
    #[allow(clippy::cast_possible_wrap)]
    let seconds = span.unwrap_or(distinct.len() as i64);
    f.seconds = seconds;
    if seconds > 0 {
        #[allow(clippy::cast_precision_loss)]
        {
            f.achieved_rps = f.sent as f64 / seconds as f64;
            f.target_rps = target_sum / distinct.len().max(1) as f64;
        }
    }
    let done = f.ok + f.failed;
    if done > 0 {
        #[allow(clippy::cast_precision_loss)]
        {
            f.error_rate = f.failed as f64 / done as f64;
        }
    }
    if !merged.is_empty() {
        f.p50 = hist::quantile_ms(&merged, 0.50);
        f.p90 = hist::quantile_ms(&merged, 0.90);
        f.p95 = hist::quantile_ms(&merged, 0.95);
        f.p99 = hist::quantile_ms(&merged, 0.99);
        #[allow(clippy::cast_precision_loss)]
        {
            f.max = merged.max() as f64 / 1000.0;
        }
    }
    f
}

/// Group seconds into intervals of `step` seconds starting at `from`: the start of
/// each non-empty interval and its figures (rates over `step`).
pub fn series(rows: &[Second], from: i64, step: i64) -> Vec<(i64, Figures)> {
    let step = step.max(1);
    let mut groups: BTreeMap<i64, Vec<&Second>> = BTreeMap::new();
    for s in rows.iter().filter(|s| s.ts >= from) {
        groups.entry(from + (s.ts - from) / step * step).or_default().push(s);
    }
    groups.into_iter().map(|(start, rows)| (start, figures(rows, Some(step)))).collect()
}

/// Format milliseconds as the v1 Metrics do: `"12.35"`.
pub fn ms(value: f64) -> String {
    format!("{value:.2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(ts: i64, sent: i64, failed: i64, latencies_us: &[u64]) -> Second {
        let mut h = hist::new();
        for l in latencies_us {
            hist::record(&mut h, *l);
        }
        Second {
            ts,
            target_rps: 10.0,
            sent,
            ok: sent - failed,
            failed,
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
        assert_eq!((f.seconds, f.sent), (1, 100));
        assert!((f.target_rps - 20.0).abs() < 1e-9, "two jobs of 10 rps aim at 20: {}", f.target_rps);
    }

    #[test]
    fn rates_and_error_rate_are_over_the_window() {
        let rows = [second(10, 20, 2, &[]), second(11, 30, 3, &[]), second(12, 10, 0, &[])];
        let f = figures(&rows, None);
        assert_eq!((f.seconds, f.sent, f.failed), (3, 60, 5));
        assert!((f.achieved_rps - 20.0).abs() < 1e-9);
        assert!((f.error_rate - 5.0 / 60.0).abs() < 1e-9);
        assert_eq!(f.status["200"], 55);
        assert_eq!(f.p99, 0.0, "no latency recorded, no percentile invented");
    }

    #[test]
    fn series_groups_by_step_from_the_start() {
        let rows = [second(9, 1, 0, &[]), second(10, 10, 0, &[]), second(11, 10, 0, &[]), second(14, 6, 0, &[])];
        let got: Vec<(i64, i64, f64)> =
            series(&rows, 10, 2).into_iter().map(|(t, f)| (t, f.sent, f.achieved_rps)).collect();
        assert_eq!(got, vec![(10, 20, 10.0), (14, 6, 3.0)]);
    }
}
