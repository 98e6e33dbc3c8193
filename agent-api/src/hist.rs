//! Latency histograms on the wire: HDR histograms of microseconds, serialized
//! in the HdrHistogram V2 format (uncompressed, portable to the Java/Go/JS
//! implementations) and base64-encoded, so a controller can merge the
//! per-second histograms of several agents exactly.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};

/// Highest trackable latency: one hour in microseconds (larger values are
/// clamped).
pub const MAX_MICROS: u64 = 3_600_000_000;
/// Significant figures kept (0.1 % relative error).
pub const SIGFIG: u8 = 3;

/// A new empty histogram with the agent's bounds.
pub fn new() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, SIGFIG).expect("static bounds are valid")
}

/// Records `micros`, clamping to the trackable range.
pub fn record(h: &mut Histogram<u64>, micros: u64) {
    h.saturating_record(micros.clamp(1, MAX_MICROS));
}

/// Serializes to base64 of the V2 format. An empty histogram is `""`.
pub fn encode(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return String::new();
    }
    let mut buf = Vec::with_capacity(256);
    V2Serializer::new().serialize(h, &mut buf).expect("writing to a Vec cannot fail");
    STANDARD.encode(buf)
}

/// Decodes what [`encode`] produced (`""` is an empty histogram).
pub fn decode(s: &str) -> Result<Histogram<u64>, String> {
    if s.is_empty() {
        return Ok(new());
    }
    let bytes = STANDARD.decode(s).map_err(|e| format!("histogram is not base64: {e}"))?;
    decode_v2(&bytes)
}

/// Decodes the V2 bytes themselves (what the backend stores, without base64);
/// no bytes is an empty histogram.
pub fn decode_v2(mut bytes: &[u8]) -> Result<Histogram<u64>, String> {
    if bytes.is_empty() {
        return Ok(new());
    }
    let h: Histogram<u64> =
        Deserializer::new().deserialize(&mut bytes).map_err(|e| format!("histogram is not HDR V2: {e:?}"))?;
    let mut out = new();
    out.add(&h).map_err(|e| format!("histogram out of range: {e:?}"))?;
    Ok(out)
}

/// Merges several encoded histograms into one.
pub fn merge<'a>(encoded: impl IntoIterator<Item = &'a str>) -> Result<Histogram<u64>, String> {
    let mut out = new();
    for s in encoded {
        let h = decode(s)?;
        out.add(&h).map_err(|e| format!("histogram out of range: {e:?}"))?;
    }
    Ok(out)
}

/// Value at quantile `q` (0..=1) in milliseconds.
pub fn quantile_ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    h.value_at_quantile(q) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trips_counts_and_percentiles() {
        let mut h = new();
        for v in 1..=10_000u64 {
            record(&mut h, v * 10);
        }
        let d = decode(&encode(&h)).unwrap();
        assert_eq!(d.len(), 10_000);
        assert_eq!(d.value_at_quantile(0.99), h.value_at_quantile(0.99));
        assert_eq!(d.max(), h.max());
    }

    #[test]
    fn merging_two_agents_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (new(), new(), new());
        for v in 0..5_000u64 {
            record(&mut a, 1_000 + v);
            record(&mut all, 1_000 + v);
        }
        for v in 0..100u64 {
            record(&mut b, 500_000 + v * 1000);
            record(&mut all, 500_000 + v * 1000);
        }
        let m = merge([encode(&a).as_str(), encode(&b).as_str(), ""]).unwrap();
        assert_eq!(m.len(), all.len());
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(m.value_at_quantile(q), all.value_at_quantile(q), "q={q}");
        }
    }

    #[test]
    fn an_empty_histogram_is_an_empty_string() {
        assert_eq!(encode(&new()), "");
        assert!(decode("").unwrap().is_empty());
        assert!(decode("not base64!").is_err());
    }

    #[test]
    fn out_of_range_values_are_clamped_not_lost() {
        let mut h = new();
        record(&mut h, 0);
        record(&mut h, u64::MAX);
        assert_eq!(h.len(), 2);
    }
}
