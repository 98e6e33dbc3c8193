//! HAR files (Chrome, Firefox, Safari DevTools exports) to requests.
//!
//! Each entry is kept or skipped with a reason:
//! - non-HTTP URLs (`data:`, `blob:`, `ws:`, `chrome-extension:`) are skipped;
//! - entries the browser never sent (Chrome's `_error`, e.g. blocked by a client)
//!   are skipped;
//! - the host filter and the resource-type filter apply. The type is Chrome's
//!   `_resourceType`; Firefox and Safari do not record it, so it is inferred from
//!   the response's MIME type, then from the URL's extension (`xhr` for JSON, XML,
//!   text; `document` for HTML; `script`, `stylesheet`, `image`, `font`, `media`
//!   for assets; `other` otherwise). `X-Requested-With` marks an `xhr`;
//! - a multipart form whose text the HAR lacks and that uploads a file is skipped
//!   (the file's content is not in the HAR).
//!
//! Headers: HTTP/2 pseudo-headers (`:authority`, `:method`, `:path`, `:scheme`)
//! and the headers the client computes or that describe one connection (`Host`,
//! `Content-Length`, `Connection`, `Keep-Alive`, `Proxy-Connection`,
//! `Transfer-Encoding`, `Upgrade`, `TE`, `Trailer`) are dropped; the rest keep
//! their order and case, `Cookie` included.
//!
//! Body: `postData.text`; without it, `postData.params` are encoded as the
//! browser would (`application/x-www-form-urlencoded`, or multipart with the
//! importer's boundary). The query comes from the URL (`queryString` repeats it).
//!
//! Duplicates (same method, URL and body) are merged into the first one, whose
//! `merged_duplicates` counts them; headers do not count, since they differ in
//! nothing but trace ids and cookies from one call to the next.

use std::collections::HashMap;

use serde_json::Value;

use super::address::{self, Address};
use super::{
    DEFAULT_RESOURCE_TYPES, HarEntry, HarFilter, HarImport, HarSkip, ImportError, ImportedRequest, MULTIPART_BOUNDARY,
};

/// Headers a replay must not copy: the client computes them, or they describe
/// the browser's connection rather than the request.
const DROPPED_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
];

pub(super) fn parse(har_json: &str, filter: &HarFilter) -> Result<HarImport, ImportError> {
    let root: Value = serde_json::from_str(har_json)
        .map_err(|e| ImportError::whole(format!("the HAR file is not valid JSON: {e}")))?;
    let entries = root
        .get("log")
        .and_then(|log| log.get("entries"))
        .and_then(Value::as_array)
        .ok_or_else(|| ImportError::whole("not a HAR file: 'log.entries' is missing"))?;
    let types: Vec<String> = if filter.resource_types.is_empty() {
        DEFAULT_RESOURCE_TYPES.iter().map(|t| (*t).to_owned()).collect()
    } else {
        filter.resource_types.iter().map(|t| t.trim().to_ascii_lowercase()).collect()
    };

    let mut requests: Vec<HarEntry> = Vec::new();
    let mut skipped = Vec::new();
    let mut seen: HashMap<(String, String, Option<String>), usize> = HashMap::new();
    for (n, entry) in entries.iter().enumerate() {
        let request = entry.get("request");
        let method = text(request, "method").unwrap_or("GET").to_ascii_uppercase();
        let Some(url) = text(request, "url") else {
            skipped.push(HarSkip { method, url: String::new(), reason: format!("entry {} has no request URL", n + 1) });
            continue;
        };
        let skip = |reason: String| HarSkip { method: method.clone(), url: url.to_owned(), reason };
        let scheme = url.split_once(':').map_or(String::new(), |(s, _)| s.to_ascii_lowercase());
        if scheme != "http" && scheme != "https" {
            skipped.push(skip(format!("scheme '{scheme}': only http and https requests can be imported")));
            continue;
        }
        let address = match address::parse_address(url, true) {
            Ok(a) => a,
            Err(why) => {
                skipped.push(skip(why));
                continue;
            }
        };
        if let Some(error) =
            entry.get("response").and_then(|r| r.get("_error")).and_then(Value::as_str).filter(|e| !e.is_empty())
        {
            skipped.push(skip(format!("the browser did not send it ({error})")));
            continue;
        }
        if !host_selected(&filter.hosts, &address.host) {
            skipped.push(skip(format!(
                "host '{}' is not selected (selected: {})",
                address.host,
                filter.hosts.join(", ")
            )));
            continue;
        }
        let resource_type = resource_type(entry);
        if !types.contains(&resource_type) {
            skipped.push(skip(format!(
                "resource type '{resource_type}' is not selected (selected: {})",
                types.join(", ")
            )));
            continue;
        }
        let mut headers = headers(request);
        let body = match body(request, &mut headers) {
            Ok(body) => body,
            Err(why) => {
                skipped.push(skip(why));
                continue;
            }
        };
        let imported = to_request(method, address, headers, body);
        let key = (imported.method.clone(), imported.url.clone(), imported.body.clone());
        if let Some(first) = seen.get(&key).and_then(|i| requests.get_mut(*i)) {
            first.merged_duplicates += 1;
            continue;
        }
        seen.insert(key, requests.len());
        requests.push(HarEntry { request: imported, resource_type, merged_duplicates: 0 });
    }
    Ok(HarImport { requests, skipped })
}

fn text<'a>(value: Option<&'a Value>, key: &str) -> Option<&'a str> {
    value.and_then(|v| v.get(key)).and_then(Value::as_str)
}

fn host_selected(hosts: &[String], host: &str) -> bool {
    if hosts.is_empty() {
        return true;
    }
    let host = host.to_ascii_lowercase();
    let bare = host.rsplit_once(':').map_or(host.as_str(), |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') { h } else { &host }
    });
    hosts.iter().any(|wanted| {
        let wanted = wanted.trim().to_ascii_lowercase();
        match wanted.strip_prefix("*.").or_else(|| wanted.strip_prefix('.')) {
            Some(domain) => bare == domain || bare.ends_with(&format!(".{domain}")),
            None => wanted == host || wanted == bare,
        }
    })
}

fn header_value<'a>(request: Option<&'a Value>, name: &str) -> Option<&'a str> {
    request
        .and_then(|r| r.get("headers"))
        .and_then(Value::as_array)?
        .iter()
        .find(|h| text(Some(h), "name").is_some_and(|n| n.eq_ignore_ascii_case(name)))
        .and_then(|h| text(Some(h), "value"))
}

/// Chrome's `_resourceType`, or one inferred from the MIME type and URL.
fn resource_type(entry: &Value) -> String {
    if let Some(t) = entry.get("_resourceType").and_then(Value::as_str) {
        return t.to_ascii_lowercase();
    }
    let request = entry.get("request");
    if header_value(request, "X-Requested-With").is_some() {
        return "xhr".to_owned();
    }
    let mime = entry
        .get("response")
        .and_then(|r| r.get("content"))
        .and_then(|c| c.get("mimeType"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let by_mime = match mime.as_str() {
        "text/html" | "application/xhtml+xml" => Some("document"),
        "text/css" => Some("stylesheet"),
        "text/event-stream" => Some("eventsource"),
        m if m.contains("javascript") || m.contains("ecmascript") => Some("script"),
        m if m.starts_with("image/") => Some("image"),
        m if m.starts_with("font/") || m.contains("font") || m.contains("woff") => Some("font"),
        m if m.starts_with("audio/") || m.starts_with("video/") => Some("media"),
        m if m.contains("json") || m.contains("xml") || m == "text/plain" => Some("xhr"),
        _ => None,
    };
    if let Some(t) = by_mime {
        return t.to_owned();
    }
    let path = text(request, "url").unwrap_or("").split(['?', '#']).next().unwrap_or("").to_ascii_lowercase();
    let extension = path.rsplit_once('.').map_or("", |(_, e)| e);
    match extension {
        "js" | "mjs" => "script",
        "css" => "stylesheet",
        "png" | "jpg" | "jpeg" | "gif" | "svg" | "webp" | "ico" | "avif" => "image",
        "woff" | "woff2" | "ttf" | "otf" | "eot" => "font",
        "mp4" | "webm" | "mp3" | "ogg" | "wav" | "m3u8" => "media",
        "html" | "htm" => "document",
        _ => "other",
    }
    .to_owned()
}

fn headers(request: Option<&Value>) -> Vec<(String, String)> {
    request
        .and_then(|r| r.get("headers"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|h| Some((text(Some(h), "name")?, text(Some(h), "value")?)))
                .filter(|(name, _)| {
                    !name.starts_with(':') && !DROPPED_HEADERS.iter().any(|d| name.eq_ignore_ascii_case(d))
                })
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The body, from `postData.text` or else `postData.params`.
fn body(request: Option<&Value>, headers: &mut Vec<(String, String)>) -> Result<Option<String>, String> {
    let Some(post) = request.and_then(|r| r.get("postData")) else {
        return Ok(None);
    };
    if let Some(text) = text(Some(post), "text").filter(|t| !t.is_empty()) {
        return Ok(Some(text.to_owned()));
    }
    let params: Vec<&Value> =
        post.get("params").and_then(Value::as_array).map(|p| p.iter().collect()).unwrap_or_default();
    if params.is_empty() {
        return Ok(text(Some(post), "text").map(str::to_owned));
    }
    let mime = text(Some(post), "mimeType").unwrap_or("").to_ascii_lowercase();
    let field = |p: &Value, key: &str| text(Some(p), key).unwrap_or("").to_owned();
    if mime.starts_with("multipart/") {
        if params.iter().any(|p| p.get("fileName").is_some()) {
            return Err("a multipart upload of a file: the file's content is not in the HAR".to_owned());
        }
        let mut body = String::new();
        for p in &params {
            body.push_str(&format!(
                "--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{}\r\n",
                field(p, "name").replace('"', "%22"),
                field(p, "value")
            ));
        }
        body.push_str(&format!("--{MULTIPART_BOUNDARY}--\r\n"));
        let content_type = format!("multipart/form-data; boundary={MULTIPART_BOUNDARY}");
        match headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case("Content-Type")) {
            Some((_, value)) => *value = content_type,
            None => headers.push(("Content-Type".to_owned(), content_type)),
        }
        return Ok(Some(body));
    }
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for p in &params {
        form.append_pair(&field(p, "name"), &field(p, "value"));
    }
    Ok(Some(form.finish()))
}

fn to_request(
    method: String,
    address: Address,
    headers: Vec<(String, String)>,
    body: Option<String>,
) -> ImportedRequest {
    let query_params = address::decode_query(&address.query);
    let mut url = format!("{}://{}{}", address.scheme, address.host, address.path);
    if !query_params.is_empty() {
        url.push('?');
        url.push_str(&address::encode_query(&query_params));
    }
    ImportedRequest {
        method,
        url,
        scheme: address.scheme,
        host: address.host,
        path: address.path,
        query_params,
        headers,
        removed_headers: Vec::new(),
        body,
        insecure: false,
        follow_redirects: false,
        timeout_ms: None,
        connect_timeout_ms: None,
        http_version: None,
        ignored_after_and: None,
    }
}
