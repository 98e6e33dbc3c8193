//! The original's rows as ours, pure: each function takes a row as the
//! original stores it and gives the values we insert, or why the row cannot
//! come over (the import reports it and goes on).

use crate::model::load::LoadDuration;
use serde_json::{Map, Value, json};

/// A project of the original (`projects`).
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub id: i64,
    pub title: String,
    pub descrip: String,
}

/// A scenario of the original (`scenarios`; `selectors` is JSON text).
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub id: i64,
    pub project_id: i64,
    pub title: String,
    pub descrip: String,
    pub selectors: String,
}

/// The monitoring columns both script tables of the original have.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Monitoring {
    pub expr_rps: String,
    pub source_rps: String,
    pub cmt_rps: String,
    pub expr_rt: String,
    pub source_rt: String,
    pub cmt_rt: String,
    pub expr_err: String,
    pub source_err: String,
    pub cmt_err: String,
}

/// An extended script of the original (`scripts`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    pub id: i64,
    pub scenario_id: i64,
    pub name: String,
    pub descrip: String,
    pub script_file: String,
    pub ammo_id: String,
    pub base_url: String,
    pub rps: Option<i32>,
    pub steps: Option<i32>,
    pub duration: String,
    pub enabled: bool,
    pub grafana_url: Vec<String>,
    pub tag: String,
    pub monitoring: Monitoring,
    pub additional_env: String,
}

/// A simple script of the original (`simple_scripts`; numbers are text there).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimpleScript {
    pub id: i64,
    pub scenario_id: i64,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub monitoring_links: Vec<String>,
    pub tag: String,
    pub scheme: String,
    pub path: String,
    pub http_method: String,
    pub static_ammo: String,
    pub ammo_url: String,
    pub is_static_ammo: bool,
    pub rps: String,
    pub duration: String,
    pub steps: String,
    pub max_v_us: String,
    pub query_params: String,
    pub headers: String,
    pub monitoring: Monitoring,
    pub additional_env: String,
}

/// An agent of the original (`agent`; the port is text there).
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub id: i64,
    pub host_name: String,
    pub port: String,
    pub enabled: bool,
    pub tags: Vec<String>,
}

/// A text cut to `max` characters, or `fallback` when blank.
pub fn text(raw: &str, max: usize, fallback: &str) -> String {
    let t = raw.trim();
    if t.is_empty() { fallback.to_string() } else { t.chars().take(max).collect() }
}

/// A file URL of the original's bucket as ours: an `http(s)://host/<bucket>/<key>`
/// (whatever the host: MinIO is reached by several names) becomes
/// `s3://<our bucket>/<key>`; anything else is kept as it is.
pub fn file_url(raw: &str, source_bucket: &str, our_bucket: &str) -> String {
    let url = raw.trim();
    let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) else {
        return url.to_string();
    };
    let path = rest.split_once('/').map_or("", |(_, p)| p);
    let path = path.split(['?', '#']).next().unwrap_or(path);
    match path.strip_prefix(source_bucket).and_then(|p| p.strip_prefix('/')) {
        Some(key) if !key.is_empty() && !source_bucket.is_empty() => format!("s3://{our_bucket}/{key}"),
        _ => url.to_string(),
    }
}

/// Selectors as our JSON object.
pub fn selectors(m: &Monitoring) -> Value {
    json!({"expr_rps": m.expr_rps, "source_rps": m.source_rps, "cmt_rps": m.cmt_rps,
        "expr_rt": m.expr_rt, "source_rt": m.source_rt, "cmt_rt": m.cmt_rt,
        "expr_err": m.expr_err, "source_err": m.source_err, "cmt_err": m.cmt_err})
}

/// A JSON text that must hold an object (`""` and anything else: `{}`), its
/// values as strings.
pub fn object(raw: &str) -> Value {
    match serde_json::from_str::<Value>(raw.trim()) {
        Ok(Value::Object(m)) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, Value::String(v))
                })
                .collect::<Map<String, Value>>(),
        ),
        _ => json!({}),
    }
}

/// The original's `query_params` text (`[{"key":…,"value":…}]`, `[{}]` when
/// none) as our array, empty entries left out.
pub fn query_params(raw: &str) -> Value {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(raw.trim()) else {
        return json!([]);
    };
    Value::Array(
        items
            .into_iter()
            .filter_map(|i| {
                let key = i.get("key")?.as_str()?.to_string();
                let value = i.get("value").and_then(Value::as_str).unwrap_or_default().to_string();
                (!key.is_empty()).then(|| json!({"key": key, "value": value}))
            })
            .collect(),
    )
}

/// The load of a script: rps > 0, steps 1..=1000 (blank: 1), a duration of at
/// least `steps` seconds. Returns (rps, steps, duration, seconds).
pub fn load(rps: Option<i64>, steps: Option<i64>, duration: &str) -> Result<(i64, i32, String, i64), String> {
    let rps = rps.filter(|r| *r > 0).ok_or("rps is not a number above 0")?;
    let steps = steps.unwrap_or(1);
    let steps = i32::try_from(steps).ok().filter(|s| (1..=1000).contains(s)).ok_or("steps is not 1 to 1000")?;
    let secs = LoadDuration::parse(duration).map_err(|e| format!("duration {e}"))?.secs();
    let secs = i64::try_from(secs).map_err(|_| "duration is too long")?;
    if i64::from(steps) > secs {
        return Err(format!("{steps} steps do not fit in {secs} s"));
    }
    Ok((rps, steps, duration.trim().to_string(), secs))
}

/// A number kept as text by the original (`""`: none).
pub fn number(raw: &str) -> Result<Option<i64>, String> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse().map(Some).map_err(|_| format!("{t:?} is not a whole number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_of_the_original_bucket_become_ours_whatever_the_host() {
        let cases = [
            ("http://minio:9000/alilo/p/s/ammo.csv", "s3://ours/p/s/ammo.csv"),
            ("https://minio.example/alilo/script.js?X-Amz-Signature=1", "s3://ours/script.js"),
            ("http://minio:9000/other/p/ammo.csv", "http://minio:9000/other/p/ammo.csv"),
            ("http://minio:9000/alilo/", "http://minio:9000/alilo/"),
            ("https://api.example/alilo-x/y", "https://api.example/alilo-x/y"),
            ("", ""),
            ("s3://ours/k", "s3://ours/k"),
        ];
        for (raw, want) in cases {
            assert_eq!(file_url(raw, "alilo", "ours"), want, "{raw}");
        }
    }

    #[test]
    fn loads_are_checked_as_ours_are() {
        assert_eq!(load(Some(10), Some(2), "1m"), Ok((10, 2, "1m".into(), 60)));
        assert_eq!(load(Some(10), None, " 90s "), Ok((10, 1, "90s".into(), 90)));
        assert!(load(Some(0), Some(1), "1m").unwrap_err().contains("rps"));
        assert!(load(None, Some(1), "1m").unwrap_err().contains("rps"));
        assert!(load(Some(5), Some(0), "1m").unwrap_err().contains("steps"));
        assert!(load(Some(5), Some(100), "30s").unwrap_err().contains("do not fit"));
        assert!(load(Some(5), Some(1), "").unwrap_err().starts_with("duration"));
        assert_eq!(number(" 12 "), Ok(Some(12)));
        assert_eq!(number(""), Ok(None));
        assert!(number("1e3").is_err());
    }

    #[test]
    fn json_texts_become_our_shapes() {
        assert_eq!(object(r#"{"A": "1", "B": 2}"#), json!({"A": "1", "B": "2"}));
        assert_eq!(object(""), json!({}));
        assert_eq!(object("[1]"), json!({}));
        assert_eq!(query_params(r#"[{}]"#), json!([]));
        assert_eq!(
            query_params(r#"[{"key":"q","value":"1"},{"key":""},{"key":"x"}]"#),
            json!([{"key": "q", "value": "1"}, {"key": "x", "value": ""}])
        );
        assert_eq!(query_params("not json"), json!([]));
        assert_eq!(text("  ", 200, "Project 3"), "Project 3");
        assert_eq!(text(&"x".repeat(300), 200, "").len(), 200);
    }
}
