//! Two runs side by side: per script name and in total, the change of each
//! figure, flagged only when it is beyond run-to-run noise.
//!
//! The noise rule ([`RULE`]):
//! - latency pN: flagged when the change is more than 10 % of the base *and*
//!   more than 1 ms, and each run has at least `10 / (1 − N/100)` requests
//!   (p50: 20, p90: 100, p95: 200, p99: 1,000): with fewer, pN is decided by a
//!   handful of requests and moves by chance;
//! - error rate: flagged when a two-proportion z-test gives |z| > 3 (about 1
//!   in 370 by chance) and the change is more than 0.1 percentage point;
//! - achieved rps and achieved / target: flagged when the change is more than
//!   5 % of the base.

use crate::wire::verdicts::{Delta, NameDeltas};

/// The rule, as answered by `/v1/run/compare`.
pub const RULE: &str = "latency pN: |change| > 10% of base and > 1 ms, with >= 10/(1-N/100) requests in each run \
    (p99: 1000); error rate: two-proportion z-test |z| > 3 and |change| > 0.1 percentage point; achieved rps and \
    achieved/target: |change| > 5% of base";

/// What one run did for one name (or in total).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Side {
    /// Requests completed (ok + failed).
    pub done: u64,
    pub failed: u64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub achieved_rps: f64,
    pub target_rps: f64,
}

impl Side {
    fn error_rate(&self) -> f64 {
        if self.done == 0 { 0.0 } else { self.failed as f64 / self.done as f64 }
    }
    fn of_target(&self) -> f64 {
        if self.target_rps > 0.0 { self.achieved_rps / self.target_rps } else { 0.0 }
    }
}

/// Which way is worse.
#[derive(Clone, Copy)]
enum Worse {
    Up,
    Down,
}

fn delta(base: f64, run: f64, flagged: bool, worse: Worse) -> Delta {
    let change = run - base;
    let change_percent = if base == 0.0 { None } else { Some(change / base * 100.0) };
    let direction = if !flagged || change == 0.0 {
        "same"
    } else {
        match (worse, change > 0.0) {
            (Worse::Up, true) | (Worse::Down, false) => "worse",
            _ => "better",
        }
    };
    Delta { base, run, change, change_percent, flagged, direction: direction.into() }
}

fn latency(base: &Side, run: &Side, pick: fn(&Side) -> f64, n: f64) -> Delta {
    let needed = (10.0 / (1.0 - n / 100.0)).round() as u64;
    let (b, r) = (pick(base), pick(run));
    let enough = base.done >= needed && run.done >= needed;
    let flagged = enough && (r - b).abs() > 0.10 * b && (r - b).abs() > 1.0;
    delta(b, r, flagged, Worse::Up)
}

/// Two-proportion z statistic of failures out of completed requests.
pub fn z_two_proportions(f1: u64, n1: u64, f2: u64, n2: u64) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 0.0;
    }
    let (p1, p2) = (f1 as f64 / n1 as f64, f2 as f64 / n2 as f64);
    let p = (f1 + f2) as f64 / (n1 + n2) as f64;
    let se = (p * (1.0 - p) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
    if se == 0.0 {
        return 0.0;
    }
    (p2 - p1) / se
}

fn relative(b: f64, r: f64, worse: Worse) -> Delta {
    let flagged = b > 0.0 && ((r - b) / b).abs() > 0.05;
    delta(b, r, flagged, worse)
}

/// The deltas of one name. `None` sides: present in one run only.
pub fn compare(name: &str, base: Option<&Side>, run: Option<&Side>) -> NameDeltas {
    let only_in = match (base, run) {
        (Some(_), None) => "base",
        (None, Some(_)) => "run",
        _ => "",
    };
    let empty = Side::default();
    let (b, r) = (base.unwrap_or(&empty), run.unwrap_or(&empty));
    let both = only_in.is_empty();
    let z = z_two_proportions(b.failed, b.done, r.failed, r.done);
    let er = (b.error_rate(), r.error_rate());
    let er_flagged = both && z.abs() > 3.0 && (er.1 - er.0).abs() > 0.001;
    let mut out = NameDeltas {
        name: name.to_string(),
        only_in: only_in.into(),
        p50: latency(b, r, |s| s.p50, 50.0),
        p90: latency(b, r, |s| s.p90, 90.0),
        p95: latency(b, r, |s| s.p95, 95.0),
        p99: latency(b, r, |s| s.p99, 99.0),
        error_rate: delta(er.0, er.1, er_flagged, Worse::Up),
        achieved_rps: relative(b.achieved_rps, r.achieved_rps, Worse::Down),
        achieved_of_target: relative(b.of_target(), r.of_target(), Worse::Down),
    };
    if !both {
        for d in
            [&mut out.p50, &mut out.p90, &mut out.p95, &mut out.p99, &mut out.achieved_rps, &mut out.achieved_of_target]
        {
            d.flagged = false;
            d.direction = "same".into();
        }
    }
    out
}

/// One line per flagged regression of a name.
pub fn regressions(d: &NameDeltas) -> Vec<String> {
    let fields = [
        ("p50", &d.p50),
        ("p90", &d.p90),
        ("p95", &d.p95),
        ("p99", &d.p99),
        ("error rate", &d.error_rate),
        ("achieved rps", &d.achieved_rps),
        ("achieved/target", &d.achieved_of_target),
    ];
    fields
        .iter()
        .filter(|(_, x)| x.direction == "worse")
        .map(|(what, x)| {
            let pct = x.change_percent.map_or(String::new(), |p| format!(" ({p:+.1}%)"));
            format!("{}: {what} {:.4} -> {:.4}{pct}", d.name, x.base, x.run)
        })
        .collect()
}

/// Whether `run` is worse than `base` by more than `tolerance` percent on p95
/// or on the error rate (the baseline threshold of a scenario): the failing
/// figure and its change, if so. Only flagged (beyond-noise) changes count.
pub fn worse_than_baseline(base: &Side, run: &Side, tolerance: f64) -> Option<(String, f64)> {
    let d = compare("total", Some(base), Some(run));
    let over = |x: &Delta| x.direction == "worse" && x.change_percent.is_none_or(|p| p > tolerance);
    if over(&d.p95) {
        return Some(("p95".into(), d.p95.change_percent.unwrap_or(f64::INFINITY)));
    }
    if over(&d.error_rate) {
        return Some(("error rate".into(), d.error_rate.change_percent.unwrap_or(f64::INFINITY)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(done: u64, failed: u64, p95: f64, rps: f64) -> Side {
        Side { done, failed, p50: p95 / 2.0, p90: p95 * 0.9, p95, p99: p95 * 1.5, achieved_rps: rps, target_rps: 100.0 }
    }

    #[test]
    fn latency_is_flagged_only_beyond_ten_percent_and_one_ms_with_enough_requests() {
        let cases: &[(Side, Side, bool, &str)] = &[
            (side(10_000, 0, 100.0, 100.0), side(10_000, 0, 109.0, 100.0), false, "same"),
            (side(10_000, 0, 100.0, 100.0), side(10_000, 0, 111.0, 100.0), true, "worse"),
            (side(10_000, 0, 100.0, 100.0), side(10_000, 0, 80.0, 100.0), true, "better"),
            (side(10_000, 0, 5.0, 100.0), side(10_000, 0, 5.9, 100.0), false, "same"),
            (side(150, 0, 100.0, 100.0), side(150, 0, 200.0, 100.0), false, "same"),
        ];
        for (b, r, flagged, direction) in cases {
            let d = compare("x", Some(b), Some(r));
            assert_eq!((d.p95.flagged, d.p95.direction.as_str()), (*flagged, *direction), "{b:?} -> {r:?}");
        }
        // p50 needs 20 requests, p99 1000: with 150, p50 is judged and p99 is not.
        let d = compare("x", Some(&side(150, 0, 100.0, 100.0)), Some(&side(150, 0, 200.0, 100.0)));
        assert!(d.p50.flagged && !d.p99.flagged);
    }

    #[test]
    fn error_rate_needs_a_significant_and_visible_change() {
        // 1% -> 1.1% over 10k requests: z ~ 0.7, noise.
        let d = compare("x", Some(&side(10_000, 100, 1.0, 1.0)), Some(&side(10_000, 110, 1.0, 1.0)));
        assert!(!d.error_rate.flagged);
        // 1% -> 3% over 10k: z ~ 10.
        let d = compare("x", Some(&side(10_000, 100, 1.0, 1.0)), Some(&side(10_000, 300, 1.0, 1.0)));
        assert!(d.error_rate.flagged);
        assert_eq!(d.error_rate.direction, "worse");
        assert!((d.error_rate.change - 0.02).abs() < 1e-12);
        assert!((z_two_proportions(100, 10_000, 300, 10_000) - 10.0).abs() < 0.5);
    }

    #[test]
    fn rates_are_flagged_beyond_five_percent_and_lower_is_worse() {
        let d = compare("x", Some(&side(1000, 0, 1.0, 100.0)), Some(&side(1000, 0, 1.0, 94.0)));
        assert_eq!((d.achieved_rps.flagged, d.achieved_rps.direction.as_str()), (true, "worse"));
        assert_eq!(d.achieved_of_target.direction, "worse");
        let d = compare("x", Some(&side(1000, 0, 1.0, 100.0)), Some(&side(1000, 0, 1.0, 96.0)));
        assert!(!d.achieved_rps.flagged);
        assert!((d.achieved_rps.change_percent.unwrap() + 4.0).abs() < 1e-9);
    }

    #[test]
    fn a_name_in_one_run_only_is_marked_and_not_flagged() {
        let d = compare("new", None, Some(&side(1000, 10, 50.0, 10.0)));
        assert_eq!(d.only_in, "run");
        assert!(!d.p95.flagged && !d.error_rate.flagged);
        assert_eq!(regressions(&d), Vec::<String>::new());
    }

    #[test]
    fn the_baseline_threshold_uses_the_tolerance_on_flagged_changes() {
        let base = side(10_000, 0, 100.0, 100.0);
        assert_eq!(worse_than_baseline(&base, &side(10_000, 0, 130.0, 100.0), 50.0), None);
        let (what, pct) = worse_than_baseline(&base, &side(10_000, 0, 130.0, 100.0), 20.0).unwrap();
        assert_eq!(what, "p95");
        assert!((pct - 30.0).abs() < 1e-9);
        assert_eq!(worse_than_baseline(&base, &side(10_000, 0, 105.0, 100.0), 0.0), None, "noise is not worse");
        let r = regressions(&compare("login", Some(&base), Some(&side(10_000, 0, 130.0, 100.0))));
        assert!(r.iter().any(|l| l.starts_with("login: p95 100.0000 -> 130.0000 (+30.0%)")), "{r:?}");
    }
}
