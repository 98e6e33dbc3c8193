//! The HTTP request a simple script sends: method, scheme, target, headers, body.

use crate::http::quote;
use std::collections::BTreeMap;

/// The methods a simple script can send. Stored and shown with the original's DB
/// names (`del` for DELETE) so existing clients read them unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
    Head,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub const ALL: [HttpMethod; 6] = [Self::Get, Self::Post, Self::Head, Self::Put, Self::Patch, Self::Delete];

    /// Accepts any case, and both `del` and `delete`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "get" => Ok(Self::Get),
            "post" => Ok(Self::Post),
            "head" => Ok(Self::Head),
            "put" => Ok(Self::Put),
            "patch" => Ok(Self::Patch),
            "del" | "delete" => Ok(Self::Delete),
            "" => Err("is required: one of get, post, head, put, patch, delete".into()),
            other => Err(format!("{} is not supported: use get, post, head, put, patch or delete", quote(other))),
        }
    }

    /// The stored (and wire) name.
    pub fn db_name(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Post => "post",
            Self::Head => "head",
            Self::Put => "put",
            Self::Patch => "patch",
            Self::Delete => "del",
        }
    }

    /// The name on the HTTP request line.
    pub fn http_name(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Head => "HEAD",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// `http`, `https`, or empty (meaning http, as the original's generated script did).
pub fn scheme(raw: &str) -> Result<String, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "" => Ok(String::new()),
        "http" => Ok("http".into()),
        "https" => Ok("https".into()),
        other => Err(format!("{} is not supported: use http or https", quote(other))),
    }
}

/// The request target: `host[:port]/path` (the scheme lives in its own field); a
/// full `http(s)://…` URL is also accepted as typed. It must name a host and contain
/// no whitespace; the query belongs in `query_params`.
pub fn target(raw: &str, scheme: &str) -> Result<String, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err("is required: the host and path to call, e.g. \"api.example.com/v1/items\"".into());
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{} contains whitespace", quote(text)));
    }
    if text.starts_with('/') {
        return Err(format!("{} must start with the host, e.g. \"api.example.com{text}\"", quote(text)));
    }
    if text.len() > 4096 {
        return Err("is longer than 4096 characters".into());
    }
    let full = if text.contains("://") {
        text.to_string()
    } else {
        let scheme = if scheme.is_empty() { "http" } else { scheme };
        format!("{scheme}://{text}")
    };
    let url = url::Url::parse(&full).map_err(|e| format!("{} is not a valid URL: {e}", quote(text)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{}: only http and https are supported", quote(text)));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{} does not name a host", quote(text)));
    }
    Ok(text.to_string())
}

/// An RFC 9110 field name: a non-empty token.
fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Header names must be tokens and values must not break the header block.
pub fn headers(raw: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (name, value) in raw {
        let name = name.trim();
        if !is_token(name) {
            return Err(format!("{} is not a valid header name", quote(name)));
        }
        if value.chars().any(|c| matches!(c, '\r' | '\n' | '\0')) {
            return Err(format!("the value of {} contains a line break or NUL", quote(name)));
        }
        out.insert(name.to_string(), value.trim().to_string());
    }
    Ok(out)
}

/// Whether the headers declare a JSON body.
pub fn declares_json(headers: &BTreeMap<String, String>) -> bool {
    headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("content-type") && {
            let mime = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        }
    })
}

/// A body declared as JSON must be JSON.
pub fn json_body(body: &str) -> Result<(), String> {
    serde_json::from_str::<serde::de::IgnoredAny>(body)
        .map(|_| ())
        .map_err(|e| format!("the body is declared as JSON but is not valid JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_method_parses_and_round_trips() {
        for m in HttpMethod::ALL {
            assert_eq!(HttpMethod::parse(m.db_name()).unwrap(), m);
            assert_eq!(HttpMethod::parse(m.http_name()).unwrap(), m);
        }
        assert_eq!(HttpMethod::parse("delete").unwrap(), HttpMethod::Delete);
        assert!(HttpMethod::parse("trace").is_err());
        assert!(HttpMethod::parse("").is_err());
    }

    #[test]
    fn targets_must_name_a_host() {
        assert!(target("api.example.com/v1", "https").is_ok());
        assert!(target("127.0.0.1:8080/x", "").is_ok());
        assert!(target("https://api.example.com/v1", "").is_ok());
        assert!(target("", "http").is_err());
        assert!(target("api example.com", "http").is_err());
        assert!(target("/only/a/path", "http").is_err());
        assert!(target("ftp://x.com/", "").is_err());
    }

    #[test]
    fn header_names_must_be_tokens() {
        let ok = BTreeMap::from([("X-Id".to_string(), " 1 ".to_string())]);
        assert_eq!(headers(&ok).unwrap()["X-Id"], "1");
        for bad in ["", "Bad Name", "a:b", "é"] {
            let map = BTreeMap::from([(bad.to_string(), "v".to_string())]);
            assert!(headers(&map).is_err(), "{bad:?}");
        }
        let split = BTreeMap::from([("X".to_string(), "a\r\nInjected: 1".to_string())]);
        assert!(headers(&split).is_err());
    }

    #[test]
    fn a_json_body_must_be_json() {
        let json = BTreeMap::from([("content-type".to_string(), "application/json; charset=utf-8".to_string())]);
        assert!(declares_json(&json));
        assert!(json_body("{\"a\":1}").is_ok());
        assert!(json_body("{a:1}").is_err());
    }
}
