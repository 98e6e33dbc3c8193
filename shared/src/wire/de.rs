//! Deserializers for the contract's lenient scalars (section 1.3 of the contract):
//! integers arrive as JSON numbers or decimal strings, `null` means "unset", and a
//! string field must be a string.
//!
//! Use them with `#[serde(default, deserialize_with = "de::i32")]` and friends.

use crate::http::quote;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::collections::BTreeMap;
use std::fmt;

/// An integer given as a number or as a decimal string, within `[min, max]`.
struct IntVisitor {
    min: i64,
    max: i64,
    what: &'static str,
}

impl<'de> Visitor<'de> for IntVisitor {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an integer ({}) as a number or a decimal string", self.what)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        if v < self.min || v > self.max {
            return Err(E::custom(format!("{v} is out of range for {}", self.what)));
        }
        Ok(Some(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => Err(E::custom(format!("{v} is out of range for {}", self.what))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if v.fract() != 0.0 || !v.is_finite() || v.abs() > 9.0e15 {
            return Err(E::custom(format!("{v} is not an integer")));
        }
        #[allow(clippy::cast_possible_truncation)]
        self.visit_i64(v as i64)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let parsed = parse_decimal(v).ok_or_else(|| E::custom(format!("{} is not an integer", quote(v))))?;
        self.visit_i64(parsed)
    }
}

/// A decimal integer as the contract allows it in a string: optional sign, digits.
pub fn parse_decimal(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').or_else(|| s.strip_prefix('+')).unwrap_or(s);
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn int<'de, D: Deserializer<'de>>(d: D, min: i64, max: i64, what: &'static str) -> Result<Option<i64>, D::Error> {
    d.deserialize_option(IntVisitor { min, max, what })
}

/// `int32`: number or decimal string; `null` → 0.
pub fn i32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    Ok(opt_i32(d)?.unwrap_or(0))
}

/// proto3 `optional int32`: `null` or absent → `None`.
pub fn opt_i32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    #[allow(clippy::cast_possible_truncation)]
    Ok(int(d, i64::from(i32::MIN), i64::from(i32::MAX), "int32")?.map(|v| v as i32))
}

/// `int64`: number or decimal string; `null` → 0.
pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(int(d, i64::MIN, i64::MAX, "int64")?.unwrap_or(0))
}

/// A list of int32 ids, each a number or a decimal string.
pub fn i32_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i32>, D::Error> {
    #[derive(Deserialize)]
    struct Id(#[serde(deserialize_with = "i32")] i32);
    let ids: Option<Vec<Id>> = Option::deserialize(d)?;
    Ok(ids.unwrap_or_default().into_iter().map(|Id(v)| v).collect())
}

/// A list of int64 ids, each a number or a decimal string.
pub fn i64_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Id(#[serde(deserialize_with = "i64")] i64);
    let ids: Option<Vec<Id>> = Option::deserialize(d)?;
    Ok(ids.unwrap_or_default().into_iter().map(|Id(v)| v).collect())
}

/// A string field; `null` → `""`. A number is refused (contract 1.3).
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// A field the contract types as a string but that carries a number (`rps`,
/// `steps`, `max_v_us`): a string or a JSON integer is accepted; `null` → `""`.
pub fn numeric_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        S(String),
        I(i64),
        U(u64),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        None => String::new(),
        Some(Raw::S(s)) => s,
        Some(Raw::I(i)) => i.to_string(),
        Some(Raw::U(u)) => u.to_string(),
    })
}

/// A bool; `null` → `false`.
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or_default())
}

/// A list of strings; `null` → `[]`.
pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// A list of messages; `null` → `[]`.
pub fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A `map<string,string>`; `null` → `{}`.
pub fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default())
}

/// `bytes`: standard or URL-safe base64, padded or not; `null` → empty.
pub fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(Vec::new());
    };
    let trimmed = text.trim_end_matches('=');
    STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed))
        .map_err(|e| de::Error::custom(format!("not valid base64: {e}")))
}

/// An enum given by value name or number. Unknown names are refused with the list of
/// known ones (the original silently ignored them; we say what is wrong instead).
pub fn enum_value<'de, D: Deserializer<'de>>(d: D, names: &[&'static str]) -> Result<i32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Name(String),
        Number(i64),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(0),
        Some(Raw::Number(n)) => i32::try_from(n).map_err(|_| de::Error::custom(format!("{n} is out of range"))),
        Some(Raw::Name(name)) => names
            .iter()
            .position(|known| *known == name)
            .and_then(|i| i32::try_from(i).ok())
            .or_else(|| parse_decimal(&name).and_then(|n| i32::try_from(n).ok()))
            .ok_or_else(|| de::Error::custom(format!("unknown value {name:?}, expected one of {}", names.join(", ")))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Deserialize, Debug, Default)]
    #[serde(default)]
    struct Ids {
        #[serde(deserialize_with = "i32")]
        a: i32,
        #[serde(deserialize_with = "opt_i32")]
        b: Option<i32>,
        #[serde(deserialize_with = "i64")]
        c: i64,
    }

    fn ids(json: &str) -> Result<Ids, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn integers_arrive_as_numbers_or_decimal_strings() {
        let v = ids(r#"{"a": "12", "b": 7, "c": "-9000000000"}"#).unwrap();
        assert_eq!((v.a, v.b, v.c), (12, Some(7), -9_000_000_000));
    }

    #[test]
    fn null_means_unset() {
        let v = ids(r#"{"a": null, "b": null, "c": null}"#).unwrap();
        assert_eq!((v.a, v.b, v.c), (0, None, 0));
    }

    #[test]
    fn non_integral_and_out_of_range_values_are_refused() {
        for bad in [
            r#"{"a": 1.5}"#,
            r#"{"a": "1.5"}"#,
            r#"{"a": "x"}"#,
            r#"{"a": 3000000000}"#,
            r#"{"a": ""}"#,
            r#"{"a": true}"#,
            r#"{"a": " 1"}"#,
        ] {
            assert!(ids(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn a_whole_float_is_an_integer() {
        assert_eq!(ids(r#"{"a": 3.0}"#).unwrap().a, 3);
    }

    proptest! {
        #[test]
        fn decimal_strings_round_trip(n in any::<i64>()) {
            prop_assert_eq!(parse_decimal(&n.to_string()), Some(n));
        }

        #[test]
        fn int32_strings_never_panic_and_agree_with_numbers(s in "\\PC{0,24}") {
            let json = serde_json::json!({ "a": s }).to_string();
            let from_string = ids(&json).ok().map(|v| v.a);
            let expected = parse_decimal(&s).and_then(|n| i32::try_from(n).ok());
            prop_assert_eq!(from_string, expected);
        }
    }
}
