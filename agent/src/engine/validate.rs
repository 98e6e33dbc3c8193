//! The checks a job's input must pass before anything starts: a spec, a job
//! id, a rate change. Pure (the clock is a parameter), and every message
//! starts with the field at fault, as `docs/agent-api.md` promises.

use alilo_agent_api::{JobSpec, RateChange, parse_duration};

use crate::template;

/// A `start_at_ms` may be at most this far ahead (24 h).
const MAX_START_AHEAD_MS: u64 = 24 * 3600 * 1000;

/// Checks a spec at `now_unix_ms`, naming the field of the first problem.
pub fn validate(spec: &JobSpec, now_unix_ms: u64) -> Result<(), String> {
    match &spec.script {
        Some(script) => {
            crate::js::check::spec(script)?;
            if spec.closed_loop_connections.is_some() {
                return Err("closed_loop_connections: not available for extended scripts".into());
            }
            if spec.data.is_some() {
                return Err("data: an extended script reads its data with open() or SharedArray, not data".into());
            }
        }
        None => {
            template::validate(&spec.request)?;
        }
    }
    if let Some(d) = &spec.data {
        let u: http::Uri = d.url.parse().map_err(|e| format!("data.url: {:?} is not a URL: {e}", d.url))?;
        if !matches!(u.scheme_str(), Some("http" | "https")) {
            return Err(format!("data.url: {:?} must start with http:// or https://", d.url));
        }
    }
    for s in &spec.checks.status {
        if !(100..=599).contains(s) {
            return Err(format!("checks.status: {s} is not an HTTP status code"));
        }
    }
    spec.profile.shape()?;
    if !spec.scale.is_finite() || spec.scale < 0.0 {
        return Err(format!("scale must be a number >= 0, got {}", spec.scale));
    }
    if spec.max_vus == 0 {
        return Err("max_vus must be >= 1".into());
    }
    let t = parse_duration(&spec.timeout).map_err(|e| format!("timeout: {e}"))?;
    if t.is_zero() {
        return Err("timeout must be > 0".into());
    }
    parse_duration(&spec.lease).map_err(|e| format!("lease: {e}"))?;
    if let Some(c) = spec.closed_loop_connections
        && !(1..=100_000).contains(&c)
    {
        return Err(format!("closed_loop_connections must be 1..=100000, got {c}"));
    }
    if let Some(k) = &spec.log_key
        && (k.len() < 16 || k.len() > 128 || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        return Err("log_key must be 16 to 128 letters, digits, '-' or '_'".into());
    }
    alilo_agent_api::targets::Policy::from_wire(&spec.allowed_targets)?;
    if let Some(at) = spec.start_at_ms
        && at > now_unix_ms + MAX_START_AHEAD_MS
    {
        return Err(format!("start_at_ms: {at} is more than 24 h in the future"));
    }
    Ok(())
}

/// Checks a caller-chosen job id: 1 to 64 characters of `A-Z a-z 0-9 - _ .`.
pub fn job_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!("id: {id:?} must be 1 to 64 characters of A-Z a-z 0-9 - _ ."));
    }
    Ok(())
}

/// Checks a live rate change: at least one field, each a number >= 0.
pub fn rate_change(c: &RateChange) -> Result<(), String> {
    if c.scale.is_none() && c.target_rps.is_none() {
        return Err("give scale or target_rps".into());
    }
    if let Some(s) = c.scale
        && (!s.is_finite() || s < 0.0)
    {
        return Err(format!("scale must be a number >= 0, got {s}"));
    }
    if let Some(t) = c.target_rps
        && (!t.is_finite() || t < 0.0)
    {
        return Err(format!("target_rps must be a number >= 0, got {t}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> JobSpec {
        serde_json::from_value(serde_json::json!({
            "request": {"url": "http://127.0.0.1:9/"},
            "profile": {"rps": 10, "duration": "5s"},
        }))
        .unwrap()
    }

    #[test]
    fn a_minimal_spec_is_valid() {
        assert_eq!(validate(&spec(), 0), Ok(()));
    }

    #[test]
    fn a_start_time_more_than_a_day_ahead_is_refused() {
        let now = 1_800_000_000_000;
        let mut s = spec();
        s.start_at_ms = Some(now + MAX_START_AHEAD_MS);
        assert_eq!(validate(&s, now), Ok(()));
        s.start_at_ms = Some(now + MAX_START_AHEAD_MS + 1);
        assert!(validate(&s, now).unwrap_err().starts_with("start_at_ms:"));
        s.start_at_ms = Some(now - 60_000);
        assert_eq!(validate(&s, now), Ok(()), "a past start time starts at once");
    }

    #[test]
    fn each_bad_number_names_its_field() {
        type Change = fn(&mut JobSpec);
        let cases: [(Change, &str); 7] = [
            (|s| s.scale = f64::NAN, "scale"),
            (|s| s.max_vus = 0, "max_vus"),
            (|s| s.timeout = "0".into(), "timeout"),
            (|s| s.closed_loop_connections = Some(0), "closed_loop_connections"),
            (|s| s.log_key = Some("short".into()), "log_key"),
            (|s| s.checks.status = vec![600], "checks.status"),
            (
                |s| {
                    s.allowed_targets =
                        vec![alilo_agent_api::targets::AllowList { name: "L".into(), entries: vec!["a b".into()] }]
                },
                "allowed_targets[0]",
            ),
        ];
        for (change, field) in cases {
            let mut s = spec();
            change(&mut s);
            let e = validate(&s, 0).unwrap_err();
            assert!(e.starts_with(field), "{e:?} should start with {field}");
        }
    }

    #[test]
    fn job_ids_are_short_and_url_safe() {
        for ok in ["a", "run-42_agent.1", &"x".repeat(64)] {
            assert_eq!(job_id(ok), Ok(()), "{ok}");
        }
        for bad in ["", "a b", "a/b", "é", &"x".repeat(65)] {
            assert!(job_id(bad).unwrap_err().starts_with("id:"), "{bad:?}");
        }
    }

    #[test]
    fn a_rate_change_needs_a_field_and_non_negative_numbers() {
        let rc = |scale, target_rps| RateChange { scale, target_rps };
        assert!(rate_change(&rc(None, None)).is_err());
        assert!(rate_change(&rc(Some(-1.0), None)).unwrap_err().starts_with("scale"));
        assert!(rate_change(&rc(None, Some(f64::INFINITY))).unwrap_err().starts_with("target_rps"));
        assert_eq!(rate_change(&rc(Some(0.0), Some(1500.0))), Ok(()));
    }
}
