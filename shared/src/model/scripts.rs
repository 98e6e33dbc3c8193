//! Scripts as they are stored: the wire shapes checked field by field.

use super::Violations;
use super::load::{LoadDuration, LoadProfile, MaxVus, Rps, Steps};
use super::request::{self, HttpMethod};
use super::text;
use crate::http::ApiResult;
use crate::http::quote;
use crate::wire::scripts::{QueryParams, Script, SimpleScript};
use crate::wire::{Selectors, StringMap};

const MAX_URL_CHARS: usize = 4096;
const MAX_TAG_CHARS: usize = 100;

/// An extended script ready to store.
#[derive(Debug, Clone)]
pub struct ExtendedScript {
    pub name: String,
    pub title: String,
    pub descrip: String,
    pub script_file: String,
    pub ammo_id: String,
    pub base_url: String,
    pub profile: LoadProfile,
    pub duration_text: String,
    pub enabled: bool,
    pub grafana_url: Vec<String>,
    pub tag: String,
    pub selectors: Selectors,
    pub additional_env: StringMap,
}

/// Parse the profile fields shared by both kinds: every problem is recorded under
/// `prefix.field`.
fn profile(v: &mut Violations, prefix: &str, rps: &str, steps: &str, duration: &str) -> Option<(LoadProfile, String)> {
    let rps = v.check(&format!("{prefix}.rps"), Rps::parse(rps));
    let steps = v.check(&format!("{prefix}.steps"), Steps::parse(steps));
    let parsed = v.check(&format!("{prefix}.duration"), LoadDuration::parse(duration));
    let (rps, steps, duration_value) = (rps?, steps?, parsed?);
    let profile = v.check(&format!("{prefix}.steps"), LoadProfile::new(rps, steps, duration_value))?;
    Some((profile, duration.trim().to_string()))
}

fn env(v: &mut Violations, field: &str, env: &StringMap) -> StringMap {
    let mut out = StringMap::new();
    for (k, val) in env {
        let key = k.trim();
        if key.is_empty() || key.contains('=') || key.chars().any(char::is_control) {
            v.add(field, format!("{} is not a valid variable name", quote(key)));
        } else {
            out.insert(key.to_string(), val.clone());
        }
    }
    out
}

/// Links a UI renders: absolute http(s) URLs only (see [`super::link`]).
fn url_list(v: &mut Violations, field: &str, urls: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(urls.len());
    for (i, url) in urls.iter().map(|u| u.trim()).enumerate().filter(|(_, u)| !u.is_empty()) {
        if let Some(ok) = v.check(&format!("{field}[{i}]"), super::link::http_link(url)) {
            out.push(ok);
        }
    }
    out
}

impl ExtendedScript {
    pub fn parse(s: &Script) -> ApiResult<Self> {
        let mut v = Violations::new();
        let name = v.check("script.name", text::title(&s.name));
        let title = v.check("script.title", text::line(&s.title, text::MAX_TITLE_CHARS));
        let descrip = v.check("script.descrip", text::description(&s.descrip));
        let script_file = v.check("script.script_file", text::line(&s.script_file, MAX_URL_CHARS));
        let ammo_id = v.check("script.ammo_id", text::line(&s.ammo_id, MAX_URL_CHARS));
        let base_url = v.check("script.base_url", text::line(&s.base_url, MAX_URL_CHARS));
        let tag = v.check("script.tag", text::line(&s.tag, MAX_TAG_CHARS));
        let options = s.options.clone().unwrap_or_default();
        let profile = profile(&mut v, "script.options", &options.rps, &options.steps, &options.duration);
        let grafana_url = url_list(&mut v, "script.grafana_url", &s.grafana_url);
        let additional_env = env(&mut v, "script.additional_env", &s.additional_env);
        v.nul_free("script.additional_env", &s.additional_env);
        v.nul_free("script.selectors", &s.selectors);
        v.into_result()?;
        let (profile, duration_text) = profile.expect("checked");
        Ok(Self {
            name: name.expect("checked"),
            title: title.expect("checked"),
            descrip: descrip.expect("checked"),
            script_file: script_file.expect("checked"),
            ammo_id: ammo_id.expect("checked"),
            base_url: base_url.expect("checked"),
            profile,
            duration_text,
            enabled: s.enabled,
            grafana_url,
            tag: tag.expect("checked"),
            selectors: s.selectors.clone().unwrap_or_default(),
            additional_env,
        })
    }
}

/// A simple script ready to store.
#[derive(Debug, Clone)]
pub struct SimpleScriptInput {
    pub name: String,
    pub title: String,
    pub description: String,
    pub enabled: bool,
    pub monitoring_links: Vec<String>,
    pub tag: String,
    pub path: String,
    pub scheme: String,
    pub method: HttpMethod,
    pub query_params: Vec<QueryParams>,
    pub headers: StringMap,
    pub static_ammo: String,
    pub ammo_url: String,
    pub is_static_ammo: bool,
    pub profile: LoadProfile,
    pub duration_text: String,
    pub max_vus: MaxVus,
    pub selectors: Selectors,
    pub additional_env: StringMap,
}

/// An error that outranks the rest: a body above the limit is a 413.
fn static_ammo_size(s: &SimpleScript, max_static_ammo: usize) -> ApiResult<()> {
    if s.is_static_ammo && s.static_ammo.len() > max_static_ammo {
        return Err(crate::http::ApiError::too_large(
            "simple_script.static_ammo",
            format!("{} bytes is above the limit of {max_static_ammo} bytes", s.static_ammo.len()),
        ));
    }
    Ok(())
}

impl SimpleScriptInput {
    pub fn parse(s: &SimpleScript, max_static_ammo: usize) -> ApiResult<Self> {
        static_ammo_size(s, max_static_ammo)?;
        let mut v = Violations::new();
        let name = v.check("simple_script.name", text::title(&s.name));
        let title = v.check("simple_script.title", text::line(&s.title, text::MAX_TITLE_CHARS));
        let description = v.check("simple_script.description", text::description(&s.description));
        let tag = v.check("simple_script.tag", text::line(&s.tag, MAX_TAG_CHARS));
        let scheme = v.check("simple_script.scheme", request::scheme(&s.scheme));
        let path = scheme.as_ref().and_then(|sc| v.check("simple_script.path", request::target(&s.path, sc)));
        let method = v.check("simple_script.http_method", HttpMethod::parse(&s.http_method));
        let headers = v.check("simple_script.headers", request::headers(&s.headers));
        let profile = profile(&mut v, "simple_script", &s.rps, &s.steps, &s.duration);
        let max_vus = v.check("simple_script.max_v_us", MaxVus::parse(&s.max_v_us));
        let mut query_params = Vec::with_capacity(s.query_params.len());
        for q in &s.query_params {
            let key = q.key.trim();
            if key.is_empty() {
                v.add("simple_script.query_params", format!("a parameter with value {:?} has no key", q.value));
            } else if key.chars().chain(q.value.chars()).any(char::is_control) {
                v.add("simple_script.query_params", format!("{} contains a control character", quote(key)));
            } else {
                query_params.push(QueryParams { key: key.to_string(), value: q.value.trim().to_string() });
            }
        }
        let static_ammo = if s.is_static_ammo { s.static_ammo.clone() } else { String::new() };
        if let Some(h) = &headers
            && s.is_static_ammo
            && !static_ammo.trim().is_empty()
            && request::declares_json(h)
        {
            v.check("simple_script.static_ammo", request::json_body(&static_ammo));
        }
        let ammo_url = v.check("simple_script.ammo_url", text::line(&s.ammo_url, MAX_URL_CHARS));
        if let Some(u) = ammo_url.as_deref()
            && !u.is_empty()
            && !(u.starts_with("http://") || u.starts_with("https://") || u.starts_with("s3://"))
        {
            v.add("simple_script.ammo_url", format!("{} must be an http(s):// or s3:// URL", quote(u)));
        }
        let monitoring_links = url_list(&mut v, "simple_script.monitoring_links", &s.monitoring_links);
        let additional_env = env(&mut v, "simple_script.additional_env", &s.additional_env);
        v.nul_free("simple_script.additional_env", &s.additional_env);
        v.nul_free("simple_script.selectors", &s.selectors);
        v.nul_free("simple_script.headers", &s.headers);
        v.nul_free("simple_script.static_ammo", &s.static_ammo);
        v.into_result()?;
        let (profile, duration_text) = profile.expect("checked");
        Ok(Self {
            name: name.expect("checked"),
            title: title.expect("checked"),
            description: description.expect("checked"),
            enabled: s.enabled,
            monitoring_links,
            tag: tag.expect("checked"),
            path: path.expect("checked"),
            scheme: scheme.expect("checked"),
            method: method.expect("checked"),
            query_params,
            headers: headers.expect("checked"),
            static_ammo,
            ammo_url: ammo_url.expect("checked"),
            is_static_ammo: s.is_static_ammo,
            profile,
            duration_text,
            max_vus: max_vus.expect("checked"),
            selectors: s.selectors.clone().unwrap_or_default(),
            additional_env,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simple() -> SimpleScript {
        SimpleScript {
            name: "get items".into(),
            path: "api.example.com/items".into(),
            scheme: "https".into(),
            http_method: "get".into(),
            rps: "100".into(),
            steps: "5".into(),
            duration: "5m".into(),
            max_v_us: "50".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_complete_simple_script_parses() {
        let s = SimpleScriptInput::parse(&simple(), 5000).unwrap();
        assert_eq!(s.profile.duration.secs(), 300);
        assert_eq!(s.duration_text, "5m");
    }

    #[test]
    fn every_method_is_accepted() {
        for m in ["get", "post", "head", "put", "patch", "delete", "del", "GET"] {
            let mut s = simple();
            s.http_method = m.into();
            assert!(SimpleScriptInput::parse(&s, 5000).is_ok(), "{m}");
        }
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let mut s = simple();
        s.rps = "0".into();
        s.duration = "30".into();
        s.max_v_us = "-1".into();
        s.http_method = "trace".into();
        let err = SimpleScriptInput::parse(&s, 5000).unwrap_err();
        assert_eq!(err.status.as_u16(), 422);
        for field in
            ["simple_script.rps", "simple_script.duration", "simple_script.max_v_us", "simple_script.http_method"]
        {
            assert!(err.message.contains(field), "{field} missing from {}", err.message);
        }
    }

    #[test]
    fn a_json_body_must_be_json_and_fit() {
        let mut s = simple();
        s.is_static_ammo = true;
        s.headers.insert("Content-Type".into(), "application/json".into());
        s.static_ammo = "{\"a\": ".into();
        assert!(SimpleScriptInput::parse(&s, 5000).unwrap_err().message.contains("static_ammo"));
        s.static_ammo = format!("\"{}\"", "x".repeat(6000));
        assert_eq!(SimpleScriptInput::parse(&s, 5000).unwrap_err().status.as_u16(), 413);
    }

    #[test]
    fn an_extended_script_needs_a_complete_profile() {
        let s = Script { name: "flow".into(), ..Default::default() };
        let err = ExtendedScript::parse(&s).unwrap_err();
        assert!(err.message.contains("script.options.rps"), "{}", err.message);
    }
}
