//! k6's tags on a script's requests: which apply, in which order, and the
//! key under which a request's tag set is counted.
//!
//! The rules (k6's):
//! - A request carries the test-wide `options.tags`, then its scenario's
//!   `tags`, then the system tag `scenario` (the scenario's name, so a
//!   scenario's own `scenario` tag cannot hide it), then its `params.tags`:
//!   a later layer wins over an earlier one for the same tag.
//! - `name` is not part of the set: it is the key of the per-name breakdown
//!   (`params.tags.name`, `http.url`'s template or the URL without its
//!   query); a threshold's `{name:…}` filter matches it.
//! - Tag values are strings; a number or a boolean is written as JavaScript
//!   prints it. Anything else is refused, naming the field.
//! - A set is counted under its [`key`]: the JSON object of the sorted
//!   tags, `""` for none, so that equal sets share a key whatever order the
//!   script wrote them in.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

/// Tag name → value.
pub type Tags = BTreeMap<String, String>;

/// The key of a tag set (empty for none).
pub fn key(tags: &Tags) -> Arc<str> {
    if tags.is_empty() { Arc::from("") } else { Arc::from(serde_json::to_string(tags).unwrap_or_default()) }
}

/// The tag set of a [`key`].
pub fn parse_key(key: &str) -> Tags {
    if key.is_empty() { Tags::new() } else { serde_json::from_str(key).unwrap_or_default() }
}

/// Tags from k6's options (`options.tags`, a scenario's `tags`), `field`
/// naming them in an error.
pub fn of_options(v: Option<&Value>, field: &str) -> Result<Tags, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(Tags::new()) };
    let o = v.as_object().ok_or_else(|| format!("{field}: must be an object of tag name → value"))?;
    o.iter()
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(format!("{field}.{k}: a tag's value must be a string, number or boolean")),
            };
            Ok((k.clone(), value))
        })
        .collect()
}

/// The tags of a scenario's requests before their own: `global`, then the
/// scenario's, then `scenario` = its name.
pub fn of_scenario(global: &Tags, scenario: &Tags, name: &str) -> Tags {
    let mut t = global.clone();
    t.extend(scenario.iter().map(|(k, v)| (k.clone(), v.clone())));
    t.insert("scenario".into(), name.into());
    t
}

/// `base` with a request's own tags over it (`name` left out).
pub fn with_request(base: &Tags, request: impl IntoIterator<Item = (String, String)>) -> Tags {
    let mut t = base.clone();
    t.extend(request.into_iter().filter(|(k, _)| k != "name"));
    t
}

/// The key of `base` (whose key is `base_key`) with `own` tags over it:
/// `base_key` itself when there are none, so most samples allocate nothing.
pub fn key_with(base: &Tags, base_key: &Arc<str>, own: Vec<(String, String)>) -> Arc<str> {
    if own.is_empty() { base_key.clone() } else { key(&with_request(base, own)) }
}

/// Whether a request named `name` with tags `key` passes a threshold's tag
/// filter (`name` compared with the name, the others with the tags).
pub fn matches(filter: &Tags, name: &str, tags: &Tags) -> bool {
    matches_named(filter, "name", name, tags)
}

/// [`matches`] where the sample's name is the filter's tag `name_tag`
/// (`check` for checks).
pub fn matches_named(filter: &Tags, name_tag: &str, name: &str, tags: &Tags) -> bool {
    filter.iter().all(|(k, v)| if k == name_tag { v == name } else { tags.get(k) == Some(v) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    #[test]
    fn later_layers_win_and_the_scenario_tag_is_its_name() {
        let global = tags(&[("env", "staging"), ("team", "a"), ("scenario", "mine")]);
        let scenario = tags(&[("team", "b"), ("flow", "login"), ("scenario", "x")]);
        let base = of_scenario(&global, &scenario, "login");
        assert_eq!(base, tags(&[("env", "staging"), ("team", "b"), ("flow", "login"), ("scenario", "login")]));
        let req = with_request(&base, [("flow".into(), "logout".into()), ("name".into(), "n".into())]);
        assert_eq!(req, tags(&[("env", "staging"), ("team", "b"), ("flow", "logout"), ("scenario", "login")]));
    }

    #[test]
    fn equal_sets_share_a_key_and_the_key_reads_back() {
        let a = tags(&[("b", "2"), ("a", "1")]);
        let b = tags(&[("a", "1"), ("b", "2")]);
        assert_eq!(key(&a), key(&b));
        assert_eq!(parse_key(&key(&a)), a);
        assert_eq!(&*key(&Tags::new()), "");
        assert!(parse_key("").is_empty());
    }

    #[test]
    fn option_tags_are_strings_numbers_or_booleans() {
        let t = of_options(Some(&json!({"a": "x", "n": 3, "b": true})), "options.tags").unwrap();
        assert_eq!(t, tags(&[("a", "x"), ("n", "3"), ("b", "true")]));
        assert!(of_options(None, "options.tags").unwrap().is_empty());
        let e = of_options(Some(&json!({"a": {"x": 1}})), "options.scenarios.s.tags").unwrap_err();
        assert!(e.contains("options.scenarios.s.tags.a"), "{e}");
        assert!(of_options(Some(&json!([1])), "options.tags").unwrap_err().contains("must be an object"));
    }

    #[test]
    fn a_filter_matches_the_name_and_every_tag() {
        let t = tags(&[("scenario", "login"), ("flow", "x")]);
        assert!(matches(&tags(&[("scenario", "login")]), "http://a/", &t));
        assert!(matches(&tags(&[("scenario", "login"), ("name", "http://a/")]), "http://a/", &t));
        assert!(!matches(&tags(&[("scenario", "other")]), "http://a/", &t));
        assert!(!matches(&tags(&[("name", "b")]), "http://a/", &t));
        assert!(!matches(&tags(&[("missing", "1")]), "http://a/", &t));
    }
}
