//! ParsingService: cURL commands and HAR files into requests and simple scripts.

use super::scenarios::existing as existing_scenario;
use crate::auth::targets::Effective;
use crate::db;
use crate::http::{ApiError, ApiResult};
use crate::import::{self, HarFilter, ImportedRequest};
use crate::model::scripts::SimpleScriptInput;
use crate::state::AppState;
use crate::wire::StringMap;
use crate::wire::parsing::*;
use crate::wire::scripts::{QueryParams, SimpleScript};

/// The profile an imported script gets when the request names none: small enough
/// that an accidental start does no harm.
const DEFAULT_RPS: &str = "1";
const DEFAULT_STEPS: &str = "1";
const DEFAULT_DURATION: &str = "1m";
const DEFAULT_MAX_VUS: &str = "100";

fn or_default(value: &str, default: &str) -> String {
    if value.trim().is_empty() { default.to_string() } else { value.to_string() }
}

pub async fn parse_curl(_app: &AppState, req: ParseCurlRequest) -> ApiResult<ParseCurlResponse> {
    let parsed = curl(&req.curl)?;
    Ok(ParseCurlResponse { status: true, message: ignored_note(&parsed), json: import::contract_json(&parsed) })
}

/// Says what of the pasted text was not imported (what followed `&&`), or nothing.
fn ignored_note(r: &ImportedRequest) -> String {
    r.ignored_after_and
        .as_deref()
        .map_or_else(String::new, |rest| format!("imported the curl command only; ignored what follows '&&': {rest}"))
}

fn curl(command: &str) -> ApiResult<ImportedRequest> {
    if command.trim().is_empty() {
        return Err(ApiError::bad_request("curl", "is required: a curl command"));
    }
    import::parse_curl(command).map_err(|e| ApiError::unprocessable("curl", e))
}

/// Headers for the v1 shape, a map: repeated names are joined with `, ` as
/// RFC 9110 allows (cookies with `; `).
fn header_map(headers: &[(String, String)]) -> StringMap {
    let mut map: StringMap = StringMap::new();
    for (name, value) in headers {
        let existing = map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned();
        match existing {
            Some(key) => {
                let separator = if name.eq_ignore_ascii_case("cookie") { "; " } else { ", " };
                let joined = format!("{}{separator}{value}", map[&key]);
                map.insert(key, joined);
            }
            None => {
                map.insert(name.clone(), value.clone());
            }
        }
    }
    map
}

/// The wire simple script that stores an imported request.
fn simple_script(scenario_id: i32, name: &str, r: &ImportedRequest, p: &ImportProfile) -> SimpleScript {
    // The original UI lists scripts by title and saves only names matching
    // `^[a-zA-Z0-9_]+$`: give both when the user gave no name.
    let name = if name.trim().is_empty() { import::script_name(&r.method, &r.path) } else { name.to_string() };
    SimpleScript {
        name,
        title: import::script_title(&r.method, &r.path),
        scenario_id,
        enabled: p.enabled,
        tag: p.tag.clone(),
        path: format!("{}{}", r.host, r.path),
        scheme: r.scheme.clone(),
        http_method: r.method.to_ascii_lowercase(),
        query_params: r
            .query_params
            .iter()
            .map(|q| QueryParams { key: q.key.clone(), value: q.value.clone() })
            .collect(),
        headers: header_map(&r.headers),
        is_static_ammo: r.body.is_some(),
        static_ammo: r.body.clone().unwrap_or_default(),
        rps: or_default(&p.rps, DEFAULT_RPS),
        steps: or_default(&p.steps, DEFAULT_STEPS),
        duration: or_default(&p.duration, DEFAULT_DURATION),
        max_v_us: or_default(&p.max_v_us, DEFAULT_MAX_VUS),
        ..Default::default()
    }
}

/// Validate an imported request as a simple script; a method the script cannot
/// send is named.
/// The allow-lists `lists` (global AND the scenario's project's) refuse a
/// request to a host they do not name: 422 naming the host and the list.
fn input(app: &AppState, lists: &Effective, wire: &SimpleScript, r: &ImportedRequest) -> ApiResult<SimpleScriptInput> {
    let script = parsed(app, wire, r)?;
    super::targets::check_simple(app, lists, "curl", &script.path, &script.ammo_url)?;
    Ok(script)
}

fn parsed(app: &AppState, wire: &SimpleScript, r: &ImportedRequest) -> ApiResult<SimpleScriptInput> {
    SimpleScriptInput::parse(wire, app.limits.max_static_ammo).map_err(|e| {
        if e.message.contains("simple_script.http_method") {
            ApiError::unprocessable(
                "curl",
                format!(
                    "the method {} cannot be stored in a simple script (get, post, head, put, patch, delete)",
                    r.method
                ),
            )
        } else {
            e
        }
    })
}

#[allow(clippy::cast_possible_wrap)]
fn timeout(r: &ImportedRequest) -> Option<i64> {
    r.timeout_ms.map(|t| t.min(i64::MAX as u64) as i64).filter(|t| *t > 0)
}

pub async fn import_curl(app: &AppState, req: ImportCurlRequest) -> ApiResult<ImportCurlResponse> {
    let scenario = existing_scenario(app, req.scenario_id).await?;
    let parsed = curl(&req.curl)?;
    let wire = simple_script(scenario.scenario_id, &req.name, &parsed, &req.profile());
    let lists = super::targets::of_scenario(app, scenario.scenario_id.into()).await?;
    let script = input(app, &lists, &wire, &parsed)?;
    let conn = app.db.conn().await?;
    let id = db::simple_scripts::create(&conn, scenario.scenario_id.into(), &script, parsed.insecure, timeout(&parsed))
        .await?;
    // Release the connection before taking another from the pool.
    drop(conn);
    let stored = db::simple_scripts::get(&app.db, id).await?;
    Ok(ImportCurlResponse { status: true, message: ignored_note(&parsed), simple_script: stored })
}

pub async fn import_har(app: &AppState, req: ImportHarRequest) -> ApiResult<ImportHarResponse> {
    let scenario = existing_scenario(app, req.scenario_id).await?;
    let text = match &req.har {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(_) => req.har.to_string(),
        _ => return Err(ApiError::bad_request("har", "is required: the HAR document, as an object or a string")),
    };
    let filter = HarFilter { hosts: req.hosts.clone(), resource_types: req.resource_types.clone() };
    let har = import::parse_har(&text, &filter).map_err(|e| ApiError::unprocessable("har", e))?;
    let mut skipped: Vec<HarSkipped> =
        har.skipped.into_iter().map(|s| HarSkipped { method: s.method, url: s.url, reason: s.reason }).collect();
    let lists = super::targets::of_scenario(app, scenario.scenario_id.into()).await?;
    let profile = req.profile();
    let mut ready = Vec::new();
    for entry in &har.requests {
        let wire = simple_script(scenario.scenario_id, "", &entry.request, &profile);
        match input(app, &lists, &wire, &entry.request) {
            Ok(script) => ready.push((script, entry)),
            Err(e) => skipped.push(HarSkipped {
                method: entry.request.method.clone(),
                url: entry.request.url.clone(),
                reason: e.message,
            }),
        }
    }
    let mut conn = app.db.conn().await?;
    let tx = conn.transaction().await?;
    let mut ids = Vec::with_capacity(ready.len());
    for (script, entry) in &ready {
        ids.push(
            db::simple_scripts::create(
                &tx,
                scenario.scenario_id.into(),
                script,
                entry.request.insecure,
                timeout(&entry.request),
            )
            .await?,
        );
    }
    tx.commit().await?;
    drop(conn);
    let mut created = Vec::with_capacity(ids.len());
    for id in ids {
        created.extend(db::simple_scripts::get(&app.db, id).await?);
    }
    Ok(ImportHarResponse {
        status: true,
        message: format!("created {} scripts, skipped {} requests", created.len(), skipped.len()),
        created,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_headers_are_joined() {
        let headers = vec![
            ("Accept".to_string(), "a".to_string()),
            ("accept".to_string(), "b".to_string()),
            ("Cookie".to_string(), "x=1".to_string()),
            ("cookie".to_string(), "y=2".to_string()),
        ];
        let map = header_map(&headers);
        assert_eq!(map["Accept"], "a, b");
        assert_eq!(map["Cookie"], "x=1; y=2");
    }

    #[test]
    fn an_imported_request_becomes_a_simple_script() {
        let r = import::parse_curl("curl -k -X PUT 'https://api.example.com:8443/v1/items?id=7&q=a%20b' -H 'Content-Type: application/json' -d '{\"a\": 1}'").unwrap();
        let wire = simple_script(3, "", &r, &ImportProfile::default());
        assert_eq!(wire.path, "api.example.com:8443/v1/items");
        assert_eq!((wire.scheme.as_str(), wire.http_method.as_str()), ("https", "put"));
        assert_eq!(wire.query_params[1].value, "a b");
        assert!(wire.is_static_ammo);
        assert_eq!((wire.name.as_str(), wire.title.as_str()), ("put_v1_items", "PUT /v1/items"));
        assert!(SimpleScriptInput::parse(&wire, 5000).is_ok());
        assert!(r.insecure);
    }
}
