//! Job building: the agent job of a script, as it is stored in its script run
//! when the run starts ([`build`]), and as one agent receives it ([`for_agent`]).
//! Pure: no I/O, so each script kind is tested alone.
//!
//! One function per script kind turns the stored script into a [`Built`] job;
//! [`build`] picks it by [`ScriptSource`]. A new kind (extended JS scripts) adds
//! a variant and its function, nothing else.

use crate::model::load::LoadDuration;
use crate::model::request::HttpMethod;
use crate::simple_semantics;
use crate::wire::scripts::SimpleScript;
use alilo_agent_api::{JobSpec, Profile, RequestTemplate};
use std::collections::BTreeMap;

/// The agents' lease on a job: a job nobody polls or changes for this long stops
/// by itself, so a controller that dies (or an agent cut off from it) cannot leave
/// load running for longer.
pub const LEASE_SECS: f64 = 60.0;

/// A script as the run starts it.
#[derive(Debug, Clone, Copy)]
pub enum ScriptSource<'a> {
    Simple(&'a SimpleScript),
    /// An extended (JS) script and the keys listed beside it in the bucket
    /// ([`crate::extended::job`]).
    Extended {
        script: &'a crate::wire::scripts::Script,
        beside: &'a [String],
    },
}

/// The job of a script run, before its share and live rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    pub spec: JobSpec,
    /// The data file's key in our bucket, presigned at each start.
    pub data_key: Option<String>,
}

/// The job of a script, or why it cannot run.
pub fn build(source: ScriptSource<'_>, bucket: &str) -> Result<Built, String> {
    match source {
        ScriptSource::Simple(s) => simple(s, bucket),
        ScriptSource::Extended { script, beside } => {
            Ok(Built { spec: crate::extended::job::job_spec(script, bucket, beside)?, data_key: None })
        }
    }
}

/// A simple script: one request template, its data file, its profile at 100 %.
pub fn simple(s: &SimpleScript, bucket: &str) -> Result<Built, String> {
    let method = HttpMethod::parse(&s.http_method)?;
    // The original's request semantics live in `simple_semantics`.
    let url = simple_semantics::target_url(&s.scheme, &s.path);
    let query: BTreeMap<String, String> = s.query_params.iter().map(|q| (q.key.clone(), q.value.clone())).collect();
    let body = simple_semantics::body(&s.http_method, &s.static_ammo, !s.ammo_url.trim().is_empty());
    let (data, data_key) = match s.ammo_url.trim() {
        "" => (None, None),
        url if url.starts_with("s3://") => {
            let rest = &url["s3://".len()..];
            let (b, key) = rest.split_once('/').ok_or_else(|| format!("ammo_url {url:?} names no object"))?;
            if b != bucket {
                return Err(format!("ammo_url {url:?} is not in our bucket {bucket:?}"));
            }
            (None, Some(key.to_string()))
        }
        url if url.starts_with("http://") || url.starts_with("https://") => {
            (Some(simple_semantics::data_file(url.to_string(), url, body.as_deref())), None)
        }
        url => return Err(format!("ammo_url {url:?} is neither s3://{bucket}/… nor an http(s) URL")),
    };
    let duration = LoadDuration::parse(&s.duration)?.secs();
    let spec = JobSpec {
        request: RequestTemplate {
            method: method.http_name().to_string(),
            url,
            headers: s.headers.clone(),
            query,
            body,
        },
        script: None,
        data,
        checks: Default::default(),
        profile: Profile {
            rps: s.rps.parse::<f64>().map_err(|_| format!("rps {:?} is not a number", s.rps))?,
            steps: s.steps.parse().map_err(|_| format!("steps {:?} is not a number", s.steps))?,
            duration: format!("{duration}s"),
            ramp: Default::default(),
        },
        scale: 1.0,
        max_vus: s.max_v_us.parse().unwrap_or(alilo_agent_api::DEFAULT_MAX_VUS),
        start_at_ms: None,
        timeout: "10s".into(),
        tls_verify: true,
        http: Default::default(),
        lease: format!("{LEASE_SECS}s"),
        closed_loop_connections: None,
        log_key: None,
        allowed_targets: Vec::new(),
    };
    Ok(Built { spec, data_key })
}

/// The job one agent receives: the stored spec at the live rate, its share
/// (`scale`, and as many VUs), the run's clock, and the data file's fresh URL.
#[allow(clippy::cast_sign_loss, clippy::cast_precision_loss, clippy::cast_possible_truncation)]
pub fn for_agent(stored: &JobSpec, rps: f64, scale: f64, started_ms: i64, data_url: Option<String>) -> JobSpec {
    let mut spec = stored.clone();
    spec.profile.rps = rps;
    spec.scale = scale;
    spec.max_vus = ((spec.max_vus as f64 * scale).ceil() as u64).max(1);
    spec.start_at_ms = Some(started_ms.max(0) as u64);
    if let Some(url) = data_url {
        // The presigned URL's path ends with the key, whose extension gives the format.
        let name = url.clone();
        spec.data = Some(simple_semantics::data_file(url, &name, spec.request.body.as_deref()));
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script() -> SimpleScript {
        serde_json::from_value(serde_json::json!({
            "name": "a", "path": "shop.example/items", "scheme": "https", "http_method": "POST", "rps": "40",
            "steps": "2", "duration": "1m", "max_v_us": "10", "static_ammo": "{}",
            "query_params": [{"key": "q", "value": "1"}], "ammo_url": "s3://bkt/data/ids.json"
        }))
        .unwrap()
    }

    #[test]
    fn a_simple_script_becomes_its_request_profile_and_data_key() {
        let built = build(ScriptSource::Simple(&script()), "bkt").unwrap();
        assert_eq!(built.spec.request.method, "POST");
        assert_eq!(built.spec.request.url, "https://shop.example/items");
        assert_eq!(built.spec.request.query.get("q").map(String::as_str), Some("1"));
        assert_eq!(built.spec.request.body.as_deref(), Some("{}"));
        assert_eq!((built.spec.profile.rps, built.spec.profile.steps), (40.0, 2));
        assert_eq!(built.spec.profile.duration, "60s");
        assert_eq!(built.data_key.as_deref(), Some("data/ids.json"));
        assert_eq!(built.spec.lease, "60s");
    }

    #[test]
    fn a_data_file_outside_our_bucket_is_refused_by_name() {
        let err = build(ScriptSource::Simple(&script()), "other").unwrap_err();
        assert!(err.contains("not in our bucket"), "{err}");
    }

    #[test]
    fn an_agent_gets_its_share_of_rate_and_vus_on_the_run_clock() {
        let built = build(ScriptSource::Simple(&script()), "bkt").unwrap();
        let spec = for_agent(&built.spec, 20.0, 0.5, 1_000, Some("https://presigned".into()));
        assert_eq!((spec.profile.rps, spec.scale, spec.max_vus, spec.start_at_ms), (20.0, 0.5, 5, Some(1_000)));
        assert_eq!(spec.data.map(|d| d.url).as_deref(), Some("https://presigned"));
    }
}
