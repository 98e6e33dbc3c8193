//! Prometheus remote-write (protocol 1.0) of the same series `/metrics`
//! exposes, for AWS, where nothing can scrape a Lambda: the run-controller
//! pushes them to `PROMETHEUS_RW_URL` after each pass, as the original's k6
//! did.
//!
//! The series are read back from our own text exposition ([`super::prom`]),
//! so a scrape and a push can never disagree. The body is a protobuf
//! `WriteRequest` written by hand (three small messages: no code generator),
//! compressed as a Snappy block of literals only: a valid block every Snappy
//! decoder reads, at the cost of no compression, which for a few hundred
//! series per push is no cost worth a dependency.

/// One series: its labels (`__name__` first, the rest sorted, as the protocol
/// wants them sorted by name) and its value now.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Reads the samples of a text exposition (comments skipped; a line that
/// cannot be read is left out).
pub fn from_text(text: &str) -> Vec<Series> {
    text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).filter_map(line).collect()
}

fn line(l: &str) -> Option<Series> {
    let name_end = l.find(['{', ' '])?;
    let mut labels = vec![("__name__".to_string(), l[..name_end].to_string())];
    let mut rest = &l[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices();
        loop {
            let (start, c) = chars.next()?;
            if c == '}' {
                rest = &body[start + 1..];
                break;
            }
            if c == ',' {
                continue;
            }
            let eq = body[start..].find("=\"")? + start;
            let name = body[start..eq].to_string();
            let mut value = String::new();
            // Skip up to the opening quote.
            while chars.next()?.0 < eq + 1 {}
            loop {
                match chars.next()?.1 {
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => break,
                    other => value.push(other),
                }
            }
            labels.push((name, value));
        }
    }
    let value = match rest.split_whitespace().next()? {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    labels[1..].sort();
    Some(Series { labels, value })
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field.
fn bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// `WriteRequest { repeated TimeSeries timeseries = 1; }`, each with
/// `repeated Label labels = 1; repeated Sample samples = 2;`, a label
/// `{ string name = 1; string value = 2; }`, a sample
/// `{ double value = 1; int64 timestamp = 2; }` (milliseconds).
pub fn encode(series: &[Series], timestamp_ms: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(series.len() * 96);
    let mut ts = Vec::new();
    let mut part = Vec::new();
    for s in series {
        ts.clear();
        for (name, value) in &s.labels {
            part.clear();
            bytes_field(&mut part, 1, name.as_bytes());
            bytes_field(&mut part, 2, value.as_bytes());
            bytes_field(&mut ts, 1, &part);
        }
        part.clear();
        varint(&mut part, 1 << 3 | 1);
        part.extend_from_slice(&s.value.to_le_bytes());
        varint(&mut part, 2 << 3);
        varint(&mut part, timestamp_ms as u64);
        bytes_field(&mut ts, 2, &part);
        bytes_field(&mut out, 1, &ts);
    }
    out
}

/// A Snappy block (the raw format, not the framed one) holding `raw` as
/// literals.
pub fn snappy_literals(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 60_000 * 5 + 10);
    varint(&mut out, raw.len() as u64);
    for chunk in raw.chunks(65_536) {
        let n = chunk.len() - 1;
        if n < 60 {
            out.push((n as u8) << 2);
        } else if n < 256 {
            out.extend_from_slice(&[60 << 2, n as u8]);
        } else {
            out.push(61 << 2);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        out.extend_from_slice(chunk);
    }
    out
}

/// The request body for `series` at `timestamp_ms`.
pub fn body(series: &[Series], timestamp_ms: i64) -> Vec<u8> {
    snappy_literals(&encode(series, timestamp_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lines_become_series_with_unescaped_sorted_labels() {
        let text = "# HELP x y\n# TYPE x gauge\nalilo_a{run_id=\"3\",script=\"a\\\"b\\\\c\\nd\"} 12.5\nalilo_b 7\nalilo_c{z=\"1\",a=\"2\"} NaN\n";
        let got = from_text(text);
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0].labels,
            vec![
                ("__name__".into(), "alilo_a".into()),
                ("run_id".into(), "3".into()),
                ("script".into(), "a\"b\\c\nd".into())
            ]
        );
        assert_eq!(got[0].value, 12.5);
        assert_eq!(got[1].labels, vec![("__name__".into(), "alilo_b".into())]);
        assert_eq!(got[2].labels[1], ("a".into(), "2".into()), "sorted by name");
        assert!(got[2].value.is_nan());
    }

    #[test]
    fn a_series_encodes_to_the_protobuf_bytes_of_the_protocol() {
        let s = Series { labels: vec![("__name__".into(), "m".into())], value: 1.0 };
        let got = encode(&[s], 300);
        // TimeSeries(1) { Label(1) { name(1) "__name__", value(2) "m" }, Sample(2) { 1.0, ts 300 } }
        let label = [&[0x0a, 8][..], b"__name__", &[0x12, 1], b"m"].concat();
        let sample = [&[0x09][..], &1.0f64.to_le_bytes(), &[0x10, 0xac, 0x02]].concat();
        let ts = [&[0x0a, label.len() as u8][..], &label, &[0x12, sample.len() as u8], &sample].concat();
        assert_eq!(got, [&[0x0a, ts.len() as u8][..], &ts].concat());
    }

    #[test]
    fn snappy_literal_blocks_carry_their_length_and_every_byte() {
        let short = snappy_literals(b"abc");
        assert_eq!(short, vec![3, 2 << 2, b'a', b'b', b'c']);
        let long: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let block = snappy_literals(&long);
        assert_eq!(&block[..3], &[0xf0, 0xa2, 0x04], "varint of 70,000");
        assert_eq!(block.len(), 3 + 3 + 65_536 + 3 + (70_000 - 65_536));
    }
}
