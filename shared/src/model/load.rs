//! The load profile of a script: target rate, steps, duration, concurrency cap.
//!
//! The original accepted anything here and failed later (`30s` ran for one second,
//! rps below steps overshot); these types only exist when the value is usable.

use crate::http::quote;
use std::fmt;

/// The longest test we accept. A load generator running for a month is a mistake.
pub const MAX_DURATION_SECS: u64 = 30 * 24 * 3600;
/// The highest target rate of one script. Beyond this a user wants several scripts
/// or a typo was made (an extra zero).
pub const MAX_RPS: u64 = 10_000_000;
/// Steps beyond this are indistinguishable from a linear ramp.
pub const MAX_STEPS: u32 = 1_000;
/// The cap on requests in flight for one script.
pub const MAX_VUS: u64 = 1_000_000;

/// A test duration such as `90s`, `5m`, `1h30m`, `2h`, `1d`: whole units in
/// descending order, each at most once, summing to at least one second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadDuration(u64);

impl LoadDuration {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        if text.is_empty() {
            return Err("is required, e.g. \"90s\", \"5m\" or \"1h30m\"".into());
        }
        let mut total: u64 = 0;
        let mut last_rank: Option<u8> = None;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(format!("{} is not a duration: expected a number at {}", quote(raw), quote(rest)));
            }
            let (number, tail) = rest.split_at(digits);
            let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
            let (unit, tail) = tail.split_at(unit_len);
            let (rank, seconds) = match unit {
                "d" => (0u8, 86_400u64),
                "h" => (1, 3_600),
                "m" => (2, 60),
                "s" => (3, 1),
                "" => return Err(format!("{} needs a time unit (s, m, h or d), e.g. \"{number}s\"", quote(raw))),
                other => {
                    return Err(format!("{} has an unknown unit {}; use s, m, h or d", quote(raw), quote(other)));
                }
            };
            if last_rank.is_some_and(|last| rank <= last) {
                return Err(format!(
                    "{}: units must go from largest to smallest, each once (e.g. \"1h30m\")",
                    quote(raw)
                ));
            }
            last_rank = Some(rank);
            let value: u64 = number.parse().map_err(|_| format!("{} is too long", quote(raw)))?;
            total = value
                .checked_mul(seconds)
                .and_then(|v| total.checked_add(v))
                .filter(|v| *v <= MAX_DURATION_SECS)
                .ok_or_else(|| format!("{} is longer than the maximum of 30d", quote(raw)))?;
            rest = tail;
        }
        if total == 0 {
            return Err(format!("{} must be at least 1s", quote(raw)));
        }
        Ok(Self(total))
    }

    pub fn from_secs(secs: u64) -> Self {
        Self(secs.clamp(1, MAX_DURATION_SECS))
    }

    pub fn secs(self) -> u64 {
        self.0
    }
}

/// The canonical spelling: `1h30m`, `90s` stays `1m30s`.
impl fmt::Display for LoadDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        for (unit, secs) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if rest >= secs {
                write!(f, "{}{unit}", rest / secs)?;
                rest %= secs;
            }
        }
        Ok(())
    }
}

/// Parse a positive whole number within `[1, max]` from a string field.
fn positive(raw: &str, max: u64, what: &str) -> Result<u64, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(format!("is required: a positive whole number of {what}"));
    }
    let value: u64 = text.parse().map_err(|_| format!("{} is not a positive whole number of {what}", quote(raw)))?;
    if value == 0 {
        return Err(format!("must be at least 1 {what}"));
    }
    if value > max {
        return Err(format!("{value} is above the maximum of {max} {what}"));
    }
    Ok(value)
}

/// Target requests per second of one script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rps(u64);

impl Rps {
    pub fn parse(raw: &str) -> Result<Self, String> {
        positive(raw, MAX_RPS, "requests per second").map(Self)
    }
    pub fn get(self) -> u64 {
        self.0
    }
}

/// Number of equal steps the load climbs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steps(u32);

impl Steps {
    pub fn parse(raw: &str) -> Result<Self, String> {
        #[allow(clippy::cast_possible_truncation)]
        positive(raw, u64::from(MAX_STEPS), "steps").map(|v| Self(v as u32))
    }
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Maximum requests in flight of one script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxVus(u64);

impl MaxVus {
    pub fn parse(raw: &str) -> Result<Self, String> {
        positive(raw, MAX_VUS, "virtual users").map(Self)
    }
    pub fn get(self) -> u64 {
        self.0
    }
}

/// A complete, consistent profile: every step lasts at least one second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadProfile {
    pub rps: Rps,
    pub steps: Steps,
    pub duration: LoadDuration,
}

impl LoadProfile {
    pub fn new(rps: Rps, steps: Steps, duration: LoadDuration) -> Result<Self, String> {
        if u64::from(steps.get()) > duration.secs() {
            return Err(format!("{} steps do not fit in {duration}: each step must last at least 1s", steps.get()));
        }
        Ok(Self { rps, steps, duration })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations_parse_exactly() {
        for (text, secs) in
            [("30s", 30), ("5m", 300), ("1h30m", 5400), ("2h", 7200), ("90s", 90), ("1d2h3m4s", 93_784), (" 10m ", 600)]
        {
            assert_eq!(LoadDuration::parse(text).unwrap().secs(), secs, "{text}");
        }
    }

    #[test]
    fn thirty_seconds_is_not_one_second() {
        assert_eq!(LoadDuration::parse("30s").unwrap().secs(), 30);
    }

    #[test]
    fn durations_without_a_unit_or_with_a_bad_one_are_refused() {
        for bad in ["", "5", "5x", "m", "1m1h", "1m1m", "-5m", "1.5m", "0s", "31d", "99999999999999999999s", "5 m"] {
            assert!(LoadDuration::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn a_duration_displays_canonically() {
        assert_eq!(LoadDuration::parse("90s").unwrap().to_string(), "1m30s");
        assert_eq!(LoadDuration::parse("1h30m").unwrap().to_string(), "1h30m");
    }

    #[test]
    fn rates_steps_and_vus_are_positive_and_bounded() {
        assert_eq!(Rps::parse("120").unwrap().get(), 120);
        assert!(Rps::parse("0").is_err());
        assert!(Rps::parse("-5").is_err());
        assert!(Rps::parse("1.5").is_err());
        assert!(Rps::parse("").is_err());
        assert!(Rps::parse("10000001").is_err());
        assert!(Steps::parse("1001").is_err());
        assert_eq!(Steps::parse("3").unwrap().get(), 3);
        assert!(MaxVus::parse("0").is_err());
    }

    #[test]
    fn steps_must_fit_in_the_duration() {
        let rps = Rps::parse("10").unwrap();
        assert!(LoadProfile::new(rps, Steps::parse("31").unwrap(), LoadDuration::parse("30s").unwrap()).is_err());
        assert!(LoadProfile::new(rps, Steps::parse("30").unwrap(), LoadDuration::parse("30s").unwrap()).is_ok());
    }

    proptest! {
        #[test]
        fn duration_parsing_never_panics(s in "\\PC{0,16}") {
            let _ = LoadDuration::parse(&s);
        }

        #[test]
        fn canonical_durations_round_trip(secs in 1u64..=MAX_DURATION_SECS) {
            let d = LoadDuration::from_secs(secs);
            prop_assert_eq!(LoadDuration::parse(&d.to_string()).unwrap(), d);
        }

        #[test]
        fn composed_durations_sum(h in 0u64..48, m in 0u64..60, s in 0u64..60) {
            prop_assume!(h + m + s > 0);
            let mut text = String::new();
            if h > 0 { text += &format!("{h}h"); }
            if m > 0 { text += &format!("{m}m"); }
            if s > 0 { text += &format!("{s}s"); }
            prop_assert_eq!(LoadDuration::parse(&text).unwrap().secs(), h * 3600 + m * 60 + s);
        }

        #[test]
        fn numbers_as_strings_parse_like_numbers(n in 0u64..20_000_000) {
            let parsed = Rps::parse(&n.to_string()).ok().map(Rps::get);
            prop_assert_eq!(parsed, (1..=MAX_RPS).contains(&n).then_some(n));
        }
    }
}
