//! How one second of one job is stored (#13, migration 0011): compactly, so
//! that 10,000 job-seconds a second go into Postgres with room to spare
//! (`bench/fleet/RESULTS.md`).
//!
//! - `latency` (from the intended send time, coordinated-omission corrected):
//!   the agent's HDR V2 bytes as they came, without their base64 (a quarter
//!   less). Summaries, reports and verdicts read it and need it exact.
//! - `service` (from the actual send): coarsened to [`SERVICE_DIGITS`]
//!   significant digits (buckets 1 % wide instead of 0.1 %), several times
//!   smaller. Nothing reports it; it is kept to tell a slow target from a late
//!   schedule, for which 1 % is plenty.
//!
//! A histogram that cannot be read is stored empty: every reader skips an
//! unreadable one anyway.

use crate::verdict::dist::{self, Layout};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Significant digits of a stored service histogram (the agents send 3).
pub const SERVICE_DIGITS: u32 = 2;

/// The stored latency histogram: the V2 bytes of the agent's base64.
pub fn latency(encoded: &str) -> Vec<u8> {
    STANDARD.decode(encoded).unwrap_or_default()
}

/// The stored service histogram: coarsened to [`SERVICE_DIGITS`], in one
/// pass ([`dist::recode`]) from the base64 decoded into a buffer kept by the
/// thread (its bytes are not kept).
pub fn service(encoded: &str) -> Vec<u8> {
    thread_local! {
        static BYTES: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let coarse = Layout::with_digits(SERVICE_DIGITS).expect("a valid number of digits");
    BYTES.with_borrow_mut(|bytes| {
        bytes.clear();
        match STANDARD.decode_vec(encoded, bytes) {
            Ok(()) => dist::recode(bytes, Layout::agents(), coarse).unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alilo_agent_api::hist;

    #[test]
    fn latency_is_stored_exactly_and_service_within_one_percent() {
        let mut h = hist::new();
        for v in 0..2_000u64 {
            hist::record(&mut h, 5_000 + v * 37 % 70_000);
        }
        let encoded = hist::encode(&h);
        let exact = hist::decode_v2(&latency(&encoded)).unwrap();
        assert_eq!(exact, h);
        let stored = service(&encoded);
        let coarse = hist::decode_v2(&stored).unwrap();
        assert_eq!(coarse.len(), h.len(), "every request counted");
        let (a, b) = (coarse.value_at_quantile(0.99) as f64, h.value_at_quantile(0.99) as f64);
        assert!((a - b).abs() <= 0.01 * b, "{a} vs {b}");
        assert!(stored.len() * 2 < latency(&encoded).len(), "{} vs {}", stored.len(), latency(&encoded).len());
    }

    #[test]
    fn empty_or_unreadable_histograms_are_stored_empty() {
        assert!(latency("").is_empty() && service("").is_empty());
        assert!(latency("not base64!").is_empty() && service("AAAA").is_empty());
    }
}
