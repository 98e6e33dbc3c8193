//! Latency distributions read straight from the agents' HDR V2 encoding,
//! without building an `hdrhistogram::Histogram` per second; and written back
//! in that encoding, coarser where a second is stored with fewer digits
//! ([`coarsen`], [`encode`]: `crate::control::stored`).
//!
//! Why: a full histogram over 1 µs..1 h at 3 significant figures holds ~23,500
//! counters (184 KiB); decoding one per stored second and adding it to
//! another costs ~100 µs, so a one-hour run of 20 scripts (72,000 seconds)
//! would take seconds to report on. A second holds a few dozen non-zero
//! counters, and this module keeps only those, as (bucket index, count)
//! pairs. Quantiles follow `Histogram::value_at_quantile` exactly (same
//! buckets, same "highest equivalent value"), so the report's numbers are the
//! summary route's numbers.

/// The bucket layout of an encoded histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    unit_magnitude: u32,
    half_magnitude: u32,
    lowest: u64,
    digits: u32,
}

/// The V2 format's cookie (uncompressed).
const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;

impl Layout {
    fn new(lowest: u64, digits: u32) -> Option<Self> {
        if lowest == 0 || digits > 5 {
            return None;
        }
        let largest_single_unit = 2 * 10u64.pow(digits);
        let sub_bucket_count_magnitude = (largest_single_unit as f64).log2().ceil() as u32;
        Some(Self {
            unit_magnitude: 63 - lowest.leading_zeros(),
            half_magnitude: sub_bucket_count_magnitude.max(1) - 1,
            lowest,
            digits,
        })
    }

    /// The agents' layout: 1 µs .. 1 h, 3 significant figures.
    pub fn agents() -> Self {
        Self::new(1, u32::from(alilo_agent_api::hist::SIGFIG)).expect("static layout")
    }

    /// The agents' range with fewer significant figures (1 to 5).
    pub fn with_digits(digits: u32) -> Option<Self> {
        Self::new(1, digits).filter(|_| digits >= 1)
    }

    /// The bucket index holding `value` (`Histogram::index_for`).
    pub fn index_of(&self, value: u64) -> u32 {
        let mask = ((1u64 << (self.half_magnitude + 1)) - 1) << self.unit_magnitude;
        let base = 64 - self.unit_magnitude - self.half_magnitude - 1;
        let bucket = base - (value | mask).leading_zeros();
        #[allow(clippy::cast_possible_truncation)]
        let sub = (value >> (bucket + self.unit_magnitude)) as u32;
        ((bucket + 1) << self.half_magnitude) + sub - (1 << self.half_magnitude)
    }

    fn bucket_and_sub(&self, index: u32) -> (u32, u32) {
        let half = 1u32 << self.half_magnitude;
        let bucket = (index >> self.half_magnitude) as i64 - 1;
        let sub = (index & (half - 1)) + half;
        if bucket < 0 { (0, sub - half) } else { (bucket as u32, sub) }
    }

    /// Lowest value of a bucket index.
    pub fn lowest(&self, index: u32) -> u64 {
        let (b, s) = self.bucket_and_sub(index);
        u64::from(s) << (b + self.unit_magnitude)
    }

    /// Highest value equivalent to a bucket index.
    pub fn highest(&self, index: u32) -> u64 {
        let (b, _) = self.bucket_and_sub(index);
        self.lowest(index) + (1u64 << (b + self.unit_magnitude)) - 1
    }

    fn median(&self, index: u32) -> u64 {
        let (b, _) = self.bucket_and_sub(index);
        self.lowest(index) + ((1u64 << (b + self.unit_magnitude)) >> 1)
    }
}

/// Non-zero counters of a histogram: (bucket index, count).
pub type Sparse = Vec<(u32, u64)>;

fn varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..9 {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        if i == 8 {
            return Some(value | (u64::from(b) << 56));
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    Some(value)
}

/// Decodes HDR V2 bytes (uncompressed) into their non-zero counters, checking
/// that they have `layout`. No bytes is empty.
pub fn decode(bytes: &[u8], layout: Layout) -> Result<Sparse, String> {
    let mut out = Vec::new();
    counters(bytes, layout, |index, count| out.push((index, count)))?;
    Ok(out)
}

/// Each non-zero counter of HDR V2 bytes of `layout`, in index order.
fn counters(bytes: &[u8], layout: Layout, mut each: impl FnMut(u32, u64)) -> Result<(), String> {
    if bytes.is_empty() {
        return Ok(());
    }
    let be32 = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")));
    let be64 = |at: usize| bytes.get(at..at + 8).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")));
    let header = (|| Some((be32(0)?, be32(4)?, be32(8)?, be32(12)?, be64(16)?, be64(32)?)))()
        .ok_or("histogram header is truncated")?;
    let (cookie, payload_len, offset, digits, lowest, ratio) = header;
    if cookie != V2_COOKIE || offset != 0 || f64::from_bits(ratio) != 1.0 {
        return Err("histogram is not uncompressed HDR V2".into());
    }
    if Layout::new(lowest, digits) != Some(layout) {
        return Err(format!("histogram layout (lowest {lowest}, {digits} digits) is not the one expected"));
    }
    let payload = bytes.get(40..40 + payload_len as usize).ok_or("histogram payload is truncated")?;
    let (mut pos, mut index) = (0usize, 0u64);
    while pos < payload.len() {
        let zz = varint(payload, &mut pos).ok_or("histogram payload is truncated")?;
        let n = ((zz >> 1) as i64) ^ -((zz & 1) as i64);
        if n < 0 {
            index += n.unsigned_abs();
        } else {
            if n > 0 {
                each(u32::try_from(index).map_err(|_| "histogram index out of range")?, n as u64);
            }
            index += 1;
        }
    }
    Ok(())
}

/// HDR V2 bytes of `from` written again with the coarser `to`: byte for byte
/// `encode(&coarsen(&decode(bytes, from)?, from, to), to)`, in one pass and
/// without holding the counters (the stored service histogram of every
/// second, `crate::control::stored`; the three steps were ~15 % of the
/// controller's CPU at 10,000 jobs, bench/fleet).
pub fn recode(bytes: &[u8], from: Layout, to: Layout) -> Result<Vec<u8>, String> {
    let mut payload = Vec::with_capacity(bytes.len() / 2);
    let mut next = 0u32;
    let mut current: Option<(u32, u64)> = None;
    let mut put = |payload: &mut Vec<u8>, (index, count): (u32, u64)| {
        put_counter(payload, &mut next, index, count);
    };
    counters(bytes, from, |index, count| {
        let coarse = to.index_of(from.lowest(index));
        match &mut current {
            Some((at, n)) if *at == coarse => *n += count,
            _ => {
                if let Some(done) = current.replace((coarse, count)) {
                    put(&mut payload, done);
                }
            }
        }
    })?;
    match current {
        Some(last) => put(&mut payload, last),
        None => return Ok(Vec::new()),
    }
    Ok(framed(&payload, to))
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    for _ in 0..8 {
        if value < 0x80 {
            out.push(value as u8);
            return;
        }
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_zigzag(out: &mut Vec<u8>, n: i64) {
    put_varint(out, ((n << 1) ^ (n >> 63)) as u64);
}

/// Encodes counters (sorted by index, each once) as uncompressed HDR V2 of
/// `layout` over the agents' range, byte for byte what the `hdrhistogram`
/// crate writes for the same counters. No counter: no bytes.
#[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
pub fn encode(counts: &[(u32, u64)], layout: Layout) -> Vec<u8> {
    if counts.is_empty() {
        return Vec::new();
    }
    let mut payload = Vec::with_capacity(counts.len() * 2);
    let mut next = 0u32;
    for &(index, count) in counts {
        put_counter(&mut payload, &mut next, index, count);
    }
    framed(&payload, layout)
}

/// One counter of a V2 payload, after the zeros since `next`.
#[allow(clippy::cast_possible_wrap)]
fn put_counter(payload: &mut Vec<u8>, next: &mut u32, index: u32, count: u64) {
    match index - *next {
        0 => {}
        // A single zero is written as a count, a run as its negated length.
        1 => put_zigzag(payload, 0),
        run => put_zigzag(payload, -i64::from(run)),
    }
    put_zigzag(payload, count as i64);
    *next = index + 1;
}

/// A V2 payload with its header.
#[allow(clippy::cast_possible_truncation)]
fn framed(payload: &[u8], layout: Layout) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + payload.len());
    out.extend_from_slice(&V2_COOKIE.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&layout.digits.to_be_bytes());
    out.extend_from_slice(&layout.lowest.to_be_bytes());
    out.extend_from_slice(&alilo_agent_api::hist::MAX_MICROS.to_be_bytes());
    out.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The counters of `from` moved to the coarser `to` (fewer digits): each
/// bucket's counts go to the `to` bucket holding its lowest value, which holds
/// the whole bucket (the layouts nest), as if every value had been recorded
/// with `to`'s precision.
pub fn coarsen(counts: &[(u32, u64)], from: Layout, to: Layout) -> Sparse {
    let mut out: Sparse = Vec::with_capacity(counts.len());
    for &(index, count) in counts {
        let coarse = to.index_of(from.lowest(index));
        match out.last_mut() {
            Some((last, n)) if *last == coarse => *n += count,
            _ => out.push((coarse, count)),
        }
    }
    out
}

/// A merged distribution: counters sorted by index, each index once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dist {
    counts: Sparse,
    total: u64,
}

impl Dist {
    /// Merges several sparse histograms.
    pub fn merge<'a>(parts: impl IntoIterator<Item = &'a Sparse>) -> Self {
        let mut all: Sparse = parts.into_iter().flatten().copied().collect();
        all.sort_unstable_by_key(|(i, _)| *i);
        let mut counts: Sparse = Vec::with_capacity(all.len());
        for (i, c) in all {
            match counts.last_mut() {
                Some((last, n)) if *last == i => *n += c,
                _ => counts.push((i, c)),
            }
        }
        let total = counts.iter().map(|(_, c)| c).sum();
        Self { counts, total }
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The merged counters, sorted by bucket index.
    pub fn counts(&self) -> &Sparse {
        &self.counts
    }

    /// Adds another distribution.
    pub fn add(&mut self, other: &Dist) {
        if !other.counts.is_empty() {
            *self = Dist::merge([&self.counts, &other.counts]);
        }
    }

    /// Value at quantile `q` (0..=1), µs, as `Histogram::value_at_quantile`.
    pub fn quantile(&self, layout: Layout, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let q = q.min(1.0);
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let target = ((q * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in &self.counts {
            seen += c;
            if seen >= target {
                return if q == 0.0 { layout.lowest(*i) } else { layout.highest(*i) };
            }
        }
        self.counts.last().map_or(0, |(i, _)| layout.highest(*i))
    }

    /// Quantile in milliseconds.
    #[allow(clippy::cast_precision_loss)]
    pub fn quantile_ms(&self, layout: Layout, q: f64) -> f64 {
        self.quantile(layout, q) as f64 / 1000.0
    }

    /// Largest value (µs), as `Histogram::max`.
    pub fn max(&self, layout: Layout) -> u64 {
        self.counts.last().map_or(0, |(i, _)| layout.highest(*i))
    }

    /// Smallest value (µs), as `Histogram::min`.
    pub fn min(&self, layout: Layout) -> u64 {
        self.counts.first().map_or(0, |(i, _)| layout.lowest(*i))
    }

    /// Mean (µs), as `Histogram::mean` (each bucket at its middle).
    #[allow(clippy::cast_precision_loss)]
    pub fn mean(&self, layout: Layout) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        self.counts.iter().map(|(i, c)| layout.median(*i) as f64 * *c as f64).sum::<f64>() / self.total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alilo_agent_api::hist;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    fn v2(h: &hdrhistogram::Histogram<u64>) -> Vec<u8> {
        STANDARD.decode(hist::encode(h)).unwrap()
    }

    #[test]
    fn quantiles_equal_the_hdr_crate_s_on_the_same_samples() {
        let layout = Layout::agents();
        let mut a = hist::new();
        let mut b = hist::new();
        for v in 1..=5_000u64 {
            hist::record(&mut a, v * 37 % 90_000 + 1);
        }
        for v in 0..300u64 {
            hist::record(&mut b, 2_000_000 + v * 7_919);
        }
        hist::record(&mut b, 3_599_000_000);
        let mut both = a.clone();
        both.add(&b).unwrap();
        let sa = decode(&v2(&a), layout).unwrap();
        let sb = decode(&v2(&b), layout).unwrap();
        let d = Dist::merge([&sa, &sb, &Vec::new()]);
        assert_eq!(d.count(), both.len());
        for q in [0.0, 0.001, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            assert_eq!(d.quantile(layout, q), both.value_at_quantile(q), "q={q}");
        }
        assert_eq!(d.max(layout), both.max());
        assert_eq!(d.min(layout), both.min());
        assert!((d.mean(layout) - both.mean()).abs() < 1e-6 * both.mean(), "{} vs {}", d.mean(layout), both.mean());
    }

    #[test]
    fn empty_and_broken_encodings() {
        let layout = Layout::agents();
        assert_eq!(decode(b"", layout).unwrap(), Vec::new());
        assert!(decode(b"not a histogram", layout).is_err());
        assert!(decode(&[0, 0, 0], layout).unwrap_err().contains("truncated"));
        assert_eq!(Dist::default().quantile(layout, 0.99), 0);
    }

    #[test]
    fn a_histogram_of_another_layout_is_refused() {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 1_000, 2).unwrap();
        h.record(5).unwrap();
        let mut buf = Vec::new();
        hdrhistogram::serialization::Serializer::serialize(
            &mut hdrhistogram::serialization::V2Serializer::new(),
            &h,
            &mut buf,
        )
        .unwrap();
        let e = decode(&buf, Layout::agents()).unwrap_err();
        assert!(e.contains("not the one expected"), "{e}");
    }

    fn samples() -> hdrhistogram::Histogram<u64> {
        let mut h = hist::new();
        for v in 0..3_000u64 {
            hist::record(&mut h, 5_000 + v * v % 75_000);
        }
        hist::record(&mut h, 1);
        hist::record(&mut h, 2_500_000_000);
        h
    }

    #[test]
    fn encoding_counters_gives_the_agents_bytes_back() {
        let bytes = v2(&samples());
        assert_eq!(encode(&decode(&bytes, Layout::agents()).unwrap(), Layout::agents()), bytes);
        assert_eq!(encode(&[], Layout::agents()), Vec::<u8>::new());
    }

    #[test]
    fn a_coarsened_histogram_is_the_one_recorded_with_fewer_digits() {
        let fine = samples();
        let two = Layout::with_digits(2).unwrap();
        let sparse = decode(&v2(&fine), Layout::agents()).unwrap();
        let coarse = encode(&coarsen(&sparse, Layout::agents(), two), two);
        // The same values recorded at 2 digits by the hdrhistogram crate.
        let mut direct = hdrhistogram::Histogram::<u64>::new_with_bounds(1, hist::MAX_MICROS, 2).unwrap();
        for v in fine.iter_recorded() {
            direct.record_n(v.value_iterated_to(), v.count_at_value()).unwrap();
        }
        let mut want = Vec::new();
        hdrhistogram::serialization::Serializer::serialize(
            &mut hdrhistogram::serialization::V2Serializer::new(),
            &direct,
            &mut want,
        )
        .unwrap();
        assert_eq!(coarse, want);
        assert!(coarse.len() * 3 < v2(&fine).len(), "{} vs {} bytes", coarse.len(), v2(&fine).len());
        // Readable by the crate, every count kept, quantiles within 1 %.
        let back = hist::decode_v2(&coarse).unwrap();
        assert_eq!(back.len(), fine.len());
        for q in [0.5, 0.9, 0.99] {
            let (a, b) = (back.value_at_quantile(q) as f64, fine.value_at_quantile(q) as f64);
            assert!((a - b).abs() <= 0.01 * b, "q={q}: {a} vs {b}");
        }
    }

    #[test]
    fn recoding_in_one_pass_gives_the_bytes_of_the_three_steps() {
        let two = Layout::with_digits(2).unwrap();
        let mut narrow = hist::new();
        hist::record(&mut narrow, 20_000);
        for h in [samples(), narrow, hist::new()] {
            let bytes = v2(&h);
            let steps = encode(&coarsen(&decode(&bytes, Layout::agents()).unwrap(), Layout::agents(), two), two);
            assert_eq!(recode(&bytes, Layout::agents(), two).unwrap(), steps);
        }
        assert_eq!(recode(b"", Layout::agents(), two).unwrap(), Vec::<u8>::new());
        assert!(recode(b"not a histogram", Layout::agents(), two).is_err());
    }

    #[test]
    fn index_of_agrees_with_the_bucket_bounds() {
        for layout in [Layout::agents(), Layout::with_digits(2).unwrap()] {
            for v in [1u64, 2, 1023, 1024, 2047, 2048, 2049, 100_000, 3_600_000_000] {
                let i = layout.index_of(v);
                assert!(layout.lowest(i) <= v && v <= layout.highest(i), "{v} in bucket {i}");
            }
        }
    }
}
