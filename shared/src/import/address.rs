//! URLs as curl reads them, and the query's decoding and re-encoding.
//!
//! The query is kept decoded ([`QueryParam`]) so that the UI can show and edit it;
//! the script re-encodes it with [`encode_query`] when it runs. Decoding treats `+`
//! as a space (as every form parser does); encoding is JavaScript's
//! `encodeURIComponent` (everything but `A–Z a–z 0–9 - _ . ! ~ * ' ( )` is escaped,
//! a space is `%20`), so a query a browser application built comes back byte for
//! byte. What cannot come back exactly, each meaning the same to the server: an
//! empty piece (`a&&b`) is dropped, a key without `=` gets one (`?x` → `?x=`), `+`
//! becomes `%20`, and characters another encoder left literal are escaped (`/` →
//! `%2F`, `:` → `%3A`).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::QueryParam;

/// What [`encode_query`] escapes: what `encodeURIComponent` escapes.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Path bytes that curl would not send raw: controls, space and non-ASCII.
const PATH_BYTES: &AsciiSet = &percent_encoding::CONTROLS.add(b' ').add(b'"').add(b'<').add(b'>');

/// What curl's `curl_easy_escape` (used by `--data-urlencode`) escapes:
/// everything but `A–Z a–z 0–9 - . _ ~`.
const CURL_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Encodes decoded query parameters as the script sends them: `key=value` pairs
/// joined by `&`. `decode_query(&encode_query(p)) == p` for every `p`.
pub fn encode_query(params: &[QueryParam]) -> String {
    let mut out = String::new();
    for (n, p) in params.iter().enumerate() {
        if n > 0 {
            out.push('&');
        }
        out.extend(utf8_percent_encode(&p.key, QUERY_VALUE));
        out.push('=');
        out.extend(utf8_percent_encode(&p.value, QUERY_VALUE));
    }
    out
}

/// Decodes a raw query string (without `?`): pieces split on `&`, empty pieces
/// dropped, each split on its first `=`, `+` read as a space, `%XX` decoded
/// (invalid UTF-8 is replaced by U+FFFD).
pub fn decode_query(raw: &str) -> Vec<QueryParam> {
    raw.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            QueryParam { key: decode_component(key), value: decode_component(value) }
        })
        .collect()
}

fn decode_component(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// What `--data-urlencode` makes of its content: `curl_easy_escape`, then a
/// space written `+` (the form encoding curl's tool applies).
pub(super) fn curl_escape(s: &str) -> String {
    utf8_percent_encode(s, CURL_ESCAPE).to_string().replace("%20", "+")
}

/// A URL split the way the request needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Address {
    pub(super) scheme: String,
    /// `user[:password]`, still percent-encoded.
    pub(super) userinfo: Option<String>,
    pub(super) host: String,
    pub(super) path: String,
    /// The raw query, without `?` (empty when there is none).
    pub(super) query: String,
}

/// Reads a URL as curl does: `http://` when no scheme is given, fragment dropped,
/// dot segments removed. With `globoff` false, `[…]` and `{…}` are curl's URL
/// globbing, which cannot be imported. Errors are messages; the caller adds the
/// position.
pub(super) fn parse_address(raw: &str, globoff: bool) -> Result<Address, String> {
    if raw.is_empty() {
        return Err("the URL is empty".to_owned());
    }
    if let Some(c) = raw.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "the URL '{raw}' contains {}: curl rejects it (encode it, e.g. a space as %20)",
            describe(c)
        ));
    }
    let (scheme, rest) = match raw.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None if raw.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("ftp.")) => ("ftp".to_owned(), raw),
        None => ("http".to_owned(), raw),
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!("the URL '{raw}' uses the scheme '{scheme}': only http and https can be imported"));
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, remainder) = rest.split_at(authority_end);
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => (Some(userinfo.to_owned()), host),
        None => (None, authority),
    };
    if host.is_empty() {
        return Err(format!("the URL '{raw}' has no host"));
    }
    if let Some(why) = host_placeholder(host) {
        return Err(format!(
            "the URL '{raw}' takes its host from {why}, which only your shell or tool can fill in: \
             replace it with the server's address (e.g. https://api.example.com/…) and import again"
        ));
    }
    if !globoff {
        let host_rest = if host.starts_with('[') {
            // An IPv6 literal: curl's globbing skips it too.
            host.find(']').and_then(|end| host.get(end + 1..)).unwrap_or("")
        } else {
            host
        };
        if let Some(c) = host_rest.chars().chain(remainder.chars()).find(|c| "[]{}".contains(*c)) {
            return Err(format!(
                "the URL '{raw}' uses curl's URL globbing ('{c}'), which makes several \
                 requests: import one URL, or add -g/--globoff to send the brackets as they are"
            ));
        }
    }
    if let Err(e) = url::Url::parse(&format!("{scheme}://{host}/")) {
        return Err(format!("the URL '{raw}' has an invalid host '{host}': {e}"));
    }
    let without_fragment = remainder.split('#').next().unwrap_or("");
    let (path, query) = without_fragment.split_once('?').unwrap_or((without_fragment, ""));
    let path = utf8_percent_encode(&remove_dot_segments(path), PATH_BYTES).to_string();
    Ok(Address { scheme, userinfo, host: host.to_owned(), path, query: query.to_owned() })
}

/// A host written as a placeholder for someone else to fill in: a shell variable
/// (`$API`, `${API}`, cmd's `%API%`) or a template's `{{base_url}}` (Postman, API
/// docs). Imported as written it would name a host that cannot exist.
fn host_placeholder(host: &str) -> Option<String> {
    if let Some(start) = host.find("{{") {
        let end = host.get(start..).and_then(|h| h.find("}}")).map_or(host.len(), |e| start + e + 2);
        return Some(format!("the template placeholder '{}'", host.get(start..end).unwrap_or(host)));
    }
    if let Some(start) = host.find('$') {
        let after = host.get(start + 1..).unwrap_or("");
        let len = if after.starts_with('{') {
            after.find('}').map_or(after.len(), |e| e + 1)
        } else {
            after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len())
        };
        if len > 0 {
            return Some(format!("the shell variable '{}'", host.get(start..start + 1 + len).unwrap_or(host)));
        }
    }
    let mut parts = host.split('%');
    parts.next();
    let is_name = |n: &&str| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if let Some(name) = parts.next().filter(is_name).filter(|_| host.matches('%').count() >= 2) {
        return Some(format!("the variable '%{name}%'"));
    }
    None
}

fn describe(c: char) -> String {
    match c {
        ' ' => "a space".to_owned(),
        '\t' => "a tab".to_owned(),
        '\n' | '\r' => "a line break".to_owned(),
        c => format!("the character U+{:04X}", u32::from(c)),
    }
}

/// RFC 3986 §5.2.4, as curl applies it (unless `--path-as-is`); an empty path is
/// `/`.
fn remove_dot_segments(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (n, segment) in segments.iter().enumerate() {
        match *segment {
            "." | ".." => {
                if *segment == ".." {
                    out.pop();
                }
                if n == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn param(key: &str, value: &str) -> QueryParam {
        QueryParam { key: key.to_owned(), value: value.to_owned() }
    }

    #[test]
    fn a_url_without_scheme_is_http_and_keeps_its_port() {
        let a = parse_address("localhost:8080/a/./b/../c?x=1#frag", false).unwrap();
        assert_eq!(a.scheme, "http");
        assert_eq!(a.host, "localhost:8080");
        assert_eq!(a.path, "/a/c");
        assert_eq!(a.query, "x=1");
    }

    #[test]
    fn userinfo_is_not_part_of_the_host() {
        let a = parse_address("https://u:p%40ss@Example.COM:443", false).unwrap();
        assert_eq!(a.userinfo.as_deref(), Some("u:p%40ss"));
        assert_eq!(a.host, "Example.COM:443");
        assert_eq!(a.path, "/");
    }

    #[test]
    fn ipv6_hosts_are_not_globbing() {
        let a = parse_address("http://[::1]:3000/x", false).unwrap();
        assert_eq!(a.host, "[::1]:3000");
        assert!(parse_address("http://x.test/[1-3]", false).is_err());
        assert_eq!(parse_address("http://x.test/[1-3]", true).unwrap().path, "/[1-3]");
    }

    #[test]
    fn the_query_decodes_plus_and_percent_and_re_encodes_exactly() {
        let raw = "q=hello%20world&redirect=%2Fhome&t=12%3A00&e=a%26b&flag=&x=(a)*";
        let params = decode_query(raw);
        assert_eq!(params[0], param("q", "hello world"));
        assert_eq!(params[3], param("e", "a&b"));
        assert_eq!(encode_query(&params), raw);
        assert_eq!(decode_query("a+b=c+d"), [param("a b", "c d")]);
    }

    #[test]
    fn dot_segments() {
        assert_eq!(remove_dot_segments("/a/b/.."), "/a/");
        assert_eq!(remove_dot_segments("/../x"), "/x");
        assert_eq!(remove_dot_segments("/a//b"), "/a//b");
    }
}
