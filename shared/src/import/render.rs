//! The v1 contract's answer to `POST /v1/parsing/CUrl`: the `json` string.
//!
//! Decisions the contract leaves open:
//! - `url` is the URL *without* its query string; the query is in `query_params`
//!   (decoded), so that it is not said twice.
//! - `headers` is an object, so a name sent several times is written once, its
//!   values joined with `, ` (with `; ` for `Cookie`), at its first position; the
//!   object keeps the order curl sends the headers in.
//! - `body` is `""` when there is none; a body that is valid JSON is compacted
//!   (whitespace outside strings removed, keys kept in their order).

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::{ImportedRequest, QueryParam};

#[derive(Serialize)]
struct Contract<'a> {
    method: &'a str,
    url: String,
    query_params: &'a [QueryParam],
    headers: Headers,
    body: String,
}

/// Headers as an ordered JSON object.
struct Headers(Vec<(String, String)>);

impl Serialize for Headers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// The contract's `json` string: 2-space indented JSON with a trailing newline.
pub fn contract_json(req: &ImportedRequest) -> String {
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, value) in &req.headers {
        match headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((n, joined)) => {
                let separator = if n.eq_ignore_ascii_case("cookie") { "; " } else { ", " };
                joined.push_str(separator);
                joined.push_str(value);
            }
            None => headers.push((name.clone(), value.clone())),
        }
    }
    let body = req.body.as_deref().map_or_else(String::new, |b| compact_json(b).unwrap_or_else(|| b.to_owned()));
    let contract = Contract {
        method: if req.method.is_empty() { "GET" } else { &req.method },
        url: req.url_without_query(),
        query_params: &req.query_params,
        headers: Headers(headers),
        body,
    };
    let mut out = serde_json::to_string_pretty(&contract).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    out.push('\n');
    out
}

/// The body without insignificant whitespace, if it is a JSON object or array.
pub(super) fn compact_json(body: &str) -> Option<String> {
    let trimmed = body.trim();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return None;
    }
    serde_json::from_str::<serde::de::IgnoredAny>(trimmed).ok()?;
    let mut out = String::with_capacity(trimmed.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in trimmed.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn json_is_compacted_keeping_key_order_and_string_spaces() {
        assert_eq!(
            compact_json("{ \"z\": 1,\n  \"a\": [ \"x y\", \"q\\\" \" ] }").as_deref(),
            Some("{\"z\":1,\"a\":[\"x y\",\"q\\\" \"]}")
        );
        assert_eq!(compact_json("a=1&b=2"), None);
        assert_eq!(compact_json("{not json"), None);
    }
}
