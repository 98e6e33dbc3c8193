//! Cross-site request refusal: which state-changing requests a browser may have
//! been tricked into sending, decided from the headers alone (no I/O).
//!
//! Two independent checks, both before authentication:
//! - **Origin.** A browser names the page that sent a request in `Sec-Fetch-Site`
//!   (modern browsers) and `Origin` (every browser, on every cross-origin POST).
//!   A request is refused (403) when `Sec-Fetch-Site` says `cross-site` or
//!   `same-site`, or `Origin` names another host than the API's own (`Host`, or
//!   `X-Forwarded-Host` behind a proxy), unless that origin is listed in
//!   `ALILO_ALLOWED_ORIGINS`. A request with neither header is not from a page
//!   (curl, CI): it passes, and its credentials decide.
//!   The original UI behind its nginx is same-origin for the browser
//!   (`Sec-Fetch-Site: same-origin`), although nginx rewrites `Host`.
//! - **Content type.** A page can send `text/plain`, form or multipart bodies to
//!   any site without a CORS preflight. A body must be `application/json` (what the
//!   UI sends) or `application/octet-stream` (the UI's file upload, which a page
//!   cannot send cross-site without a preflight we never answer); anything else is
//!   refused with 415. A request without a body needs no content type (axios sends
//!   none when there is no data).

use axum::http::{HeaderMap, Method, header};

/// Why a request was refused, with the status to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 403: sent by a page of another origin.
    CrossSite(String),
    /// 415: a body that is not JSON.
    ContentType(String),
}

/// The origins, besides the API's own, whose pages may call the API
/// (`ALILO_ALLOWED_ORIGINS`: comma-separated `scheme://host[:port]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    /// Parse the comma-separated list; each entry must be an origin, not a URL with a path.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (scheme, rest) = entry
                .split_once("://")
                .ok_or_else(|| format!("ALLOWED_ORIGINS entry {entry:?} is not scheme://host[:port]"))?;
            if !(scheme == "http" || scheme == "https") || rest.is_empty() || rest.contains('/') {
                return Err(format!("ALLOWED_ORIGINS entry {entry:?} is not scheme://host[:port]"));
            }
            out.push(entry.trim_end_matches('/').to_ascii_lowercase());
        }
        Ok(Self(out))
    }

    fn contains(&self, origin: &str) -> bool {
        self.0.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }
}

/// Methods that change nothing; they are not checked. (Every v1 route is POST.)
fn safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// The authority (`host[:port]`) of an origin `scheme://host[:port]`.
fn authority(origin: &str) -> Option<&str> {
    origin.split_once("://").map(|(_, rest)| rest).filter(|a| !a.is_empty() && !a.contains('/'))
}

/// Whether `origin` is the API's own: its authority is the `Host` (or forwarded host) of the request.
fn own_origin(headers: &HeaderMap, origin: &str) -> bool {
    let Some(authority) = authority(origin) else {
        return false;
    };
    [header_str(headers, "x-forwarded-host"), header_str(headers, header::HOST.as_str())]
        .into_iter()
        .flatten()
        .flat_map(|h| h.split(','))
        .any(|h| h.trim().eq_ignore_ascii_case(authority))
}

/// The origin check (see the module doc).
pub fn check_origin(method: &Method, headers: &HeaderMap, allowed: &AllowedOrigins) -> Result<(), Refusal> {
    if safe(method) {
        return Ok(());
    }
    let origin = header_str(headers, header::ORIGIN.as_str());
    let listed = origin.is_some_and(|o| allowed.contains(o));
    match header_str(headers, "sec-fetch-site") {
        Some(site) if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site") => {
            if listed {
                return Ok(());
            }
            return Err(Refusal::CrossSite(format!(
                "cross-site request refused: Origin {:?} is not this API's origin nor in ALILO_ALLOWED_ORIGINS",
                origin.unwrap_or("(none)")
            )));
        }
        // The browser itself says the page is ours (or the user typed the URL).
        Some(_) => return Ok(()),
        None => {}
    }
    match origin {
        None => Ok(()),
        Some(o) if listed || own_origin(headers, o) => Ok(()),
        Some(o) => Err(Refusal::CrossSite(format!(
            "cross-site request refused: Origin {o:?} is not this API's origin nor in ALILO_ALLOWED_ORIGINS"
        ))),
    }
}

/// The content-type check (see the module doc). `has_body`: the request carries bytes.
pub fn check_content_type(method: &Method, headers: &HeaderMap, has_body: bool) -> Result<(), Refusal> {
    if safe(method) {
        return Ok(());
    }
    let Some(raw) = headers.get(header::CONTENT_TYPE) else {
        return if has_body {
            Err(Refusal::ContentType("Content-Type: required for a request body; use application/json".into()))
        } else {
            Ok(())
        };
    };
    let value = raw.to_str().unwrap_or("").trim();
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let json = essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json || essence == "application/octet-stream" {
        Ok(())
    } else {
        Err(Refusal::ContentType(format!("Content-Type: {value:?} is not accepted; use application/json")))
    }
}

/// Whether a request has a body, from its framing headers.
pub fn has_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    header_str(headers, header::CONTENT_LENGTH.as_str()).and_then(|l| l.parse::<u64>().ok()).is_some_and(|l| l > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn origin_ok(pairs: &[(&'static str, &'static str)]) -> bool {
        let allowed = AllowedOrigins::parse("https://ui.example.com").unwrap();
        check_origin(&Method::POST, &headers(pairs), &allowed).is_ok()
    }

    #[test]
    fn a_request_from_another_origin_is_refused() {
        assert!(!origin_ok(&[("host", "api:8084"), ("origin", "http://evil.example")]));
        assert!(!origin_ok(&[("host", "api:8084"), ("origin", "null")]));
        assert!(!origin_ok(&[
            ("host", "api:8084"),
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "cross-site")
        ]));
        assert!(!origin_ok(&[("host", "api:8084"), ("sec-fetch-site", "same-site")]), "a sibling subdomain");
    }

    #[test]
    fn the_own_origin_a_listed_origin_and_non_browsers_pass() {
        assert!(origin_ok(&[("host", "localhost:8084"), ("origin", "http://localhost:8084")]));
        assert!(origin_ok(&[
            ("host", "backend:8084"),
            ("x-forwarded-host", "alilo.corp"),
            ("origin", "https://alilo.corp")
        ]));
        assert!(origin_ok(&[
            ("host", "api:8084"),
            ("origin", "https://ui.example.com"),
            ("sec-fetch-site", "cross-site")
        ]));
        assert!(origin_ok(&[("host", "api:8084")]), "curl sends neither header");
    }

    #[test]
    fn the_ui_behind_nginx_is_same_origin_for_the_browser() {
        // nginx rewrites Host to the upstream; the browser still says same-origin.
        assert!(origin_ok(&[
            ("host", "backend:8084"),
            ("origin", "http://site.loc"),
            ("sec-fetch-site", "same-origin")
        ]));
    }

    #[test]
    fn reads_by_get_are_not_checked() {
        let h = headers(&[("origin", "http://evil.example"), ("content-type", "text/plain")]);
        assert!(check_origin(&Method::GET, &h, &AllowedOrigins::default()).is_ok());
        assert!(check_content_type(&Method::GET, &h, true).is_ok());
    }

    #[test]
    fn only_json_and_octet_stream_bodies_are_accepted() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "application/octet-stream",
            "application/merge-patch+json",
        ] {
            let h = headers(&[("content-type", ok)]);
            assert!(check_content_type(&Method::POST, &h, true).is_ok(), "{ok}");
        }
        for bad in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/json"] {
            let h = headers(&[("content-type", bad)]);
            assert!(
                matches!(check_content_type(&Method::POST, &h, true), Err(Refusal::ContentType(m)) if m.contains("Content-Type")),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_body_needs_a_content_type_but_no_body_needs_none() {
        assert!(check_content_type(&Method::POST, &HeaderMap::new(), false).is_ok());
        assert!(check_content_type(&Method::POST, &HeaderMap::new(), true).is_err());
        assert!(has_body(&headers(&[("content-length", "2")])));
        assert!(!has_body(&headers(&[("content-length", "0")])));
    }

    #[test]
    fn allowed_origins_must_be_origins() {
        assert!(AllowedOrigins::parse("https://a.example, http://b:3000").is_ok());
        assert!(AllowedOrigins::parse("https://a.example/path").is_err());
        assert!(AllowedOrigins::parse("a.example").is_err());
    }
}
