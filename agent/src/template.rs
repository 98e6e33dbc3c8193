//! The request template: validated once, rendered per request.
//!
//! Without a data file every request is the same, so the URI, headers and
//! body are built once and cloned. With a data file, `{{name}}` placeholders
//! in the URL (path and query only), header values and body are filled from
//! the row picked for that request (sequentially or at random). Values put
//! into the URL are percent-encoded; header and body values are inserted
//! as they are.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use alilo_agent_api::{DataFormat, RequestTemplate, Selection};
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::Full;

/// Largest data file accepted (64 MiB).
pub const MAX_DATA_BYTES: usize = 64 << 20;

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Lit(String),
    Var(String),
}

/// Splits `s` into literal text and `{{name}}` placeholders.
fn segments(s: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        if start > 0 {
            out.push(Seg::Lit(rest[..start].to_string()));
        }
        out.push(Seg::Var(rest[start + 2..start + 2 + len].trim().to_string()));
        rest = &rest[start + 2 + len + 2..];
    }
    if !rest.is_empty() {
        out.push(Seg::Lit(rest.to_string()));
    }
    out
}

/// Compiled template part: literals and field indexes.
#[derive(Debug, Clone)]
enum Part {
    Lit(String),
    Field(usize),
}

fn compile(segs: &[Seg], fields: &HashMap<String, usize>, what: &str) -> Result<Vec<Part>, String> {
    segs.iter()
        .map(|s| match s {
            Seg::Lit(l) => Ok(Part::Lit(l.clone())),
            Seg::Var(v) => match fields.get(v) {
                Some(&i) => Ok(Part::Field(i)),
                None => {
                    let mut names: Vec<&String> = fields.keys().collect();
                    names.sort();
                    Err(format!("{what}: placeholder {{{{{v}}}}} is not a field of the data file (fields: {names:?})"))
                }
            },
        })
        .collect()
}

fn render(parts: &[Part], row: &[String], url: bool, out: &mut String) {
    for p in parts {
        match p {
            Part::Lit(l) => out.push_str(l),
            Part::Field(i) => {
                let v = row.get(*i).map(String::as_str).unwrap_or("");
                if url {
                    percent_encode(v, out);
                } else {
                    out.push_str(v);
                }
            }
        }
    }
}

fn percent_encode(v: &str, out: &mut String) {
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Rows of a data file: field names and values (non-string JSON values are
/// kept as their JSON text).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Data {
    /// Field names.
    pub fields: Vec<String>,
    /// One value per field, per row.
    pub rows: Vec<Vec<String>>,
    /// Each row as a JSON object, for [`alilo_agent_api::ROW_PLACEHOLDER`].
    pub row_json: Vec<String>,
}

impl Data {
    /// Parses a data file.
    pub fn parse(bytes: &[u8], format: DataFormat) -> Result<Data, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("data is not UTF-8: {e}"))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let format = match format {
            DataFormat::Auto => alilo_agent_api::sniff(bytes),
            f => f,
        };
        let data = match format {
            DataFormat::JsonArray => {
                let v: Vec<serde_json::Map<String, serde_json::Value>> =
                    serde_json::from_str(text).map_err(|e| format!("data is not a JSON array of objects: {e}"))?;
                Data::from_objects(v)
            }
            DataFormat::JsonLines => {
                let mut objs = Vec::new();
                for (n, line) in text.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    objs.push(
                        serde_json::from_str(line)
                            .map_err(|e| format!("data line {}: not a JSON object: {e}", n + 1))?,
                    );
                }
                Data::from_objects(objs)
            }
            DataFormat::Csv | DataFormat::Auto => Data::from_csv(text)?,
        };
        if data.rows.is_empty() {
            return Err("data file has no rows".into());
        }
        Ok(data)
    }

    fn from_objects(objs: Vec<serde_json::Map<String, serde_json::Value>>) -> Data {
        let mut fields: Vec<String> = Vec::new();
        let mut index = HashMap::new();
        for o in &objs {
            for k in o.keys() {
                if !index.contains_key(k) {
                    index.insert(k.clone(), fields.len());
                    fields.push(k.clone());
                }
            }
        }
        let row_json = objs.iter().map(|o| serde_json::Value::Object(o.clone()).to_string()).collect();
        let rows = objs
            .into_iter()
            .map(|o| {
                let mut row = vec![String::new(); fields.len()];
                for (k, v) in o {
                    row[index[&k]] = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                }
                row
            })
            .collect();
        Data { fields, rows, row_json }
    }

    fn from_csv(text: &str) -> Result<Data, String> {
        let mut records = parse_csv(text)?.into_iter();
        let fields = records.next().ok_or("data file has no header line")?;
        let fields: Vec<String> = fields.into_iter().map(|f| f.trim().to_string()).collect();
        let rows: Vec<Vec<String>> = records
            .filter(|r| !(r.len() == 1 && r[0].is_empty()))
            .map(|mut r| {
                r.resize(fields.len(), String::new());
                r
            })
            .collect();
        let row_json = rows
            .iter()
            .map(|r| {
                let o: serde_json::Map<String, serde_json::Value> =
                    fields.iter().cloned().zip(r.iter().map(|v| serde_json::Value::String(v.clone()))).collect();
                serde_json::Value::Object(o).to_string()
            })
            .collect();
        Ok(Data { fields, rows, row_json })
    }
}

/// RFC 4180 CSV: commas, double quotes, `""` escapes, CRLF or LF.
fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut out = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                out.push(std::mem::take(&mut row));
                any = false;
            }
            c => field.push(c),
        }
    }
    if quoted {
        return Err("data: unterminated quoted CSV field".into());
    }
    if any {
        row.push(field);
        out.push(row);
    }
    Ok(out)
}

/// A validated, ready-to-render request template.
pub struct Template {
    method: Method,
    http2: bool,
    authority: String,
    scheme: String,
    fixed: Option<(Uri, HeaderMap, Bytes)>,
    /// The fixed request serialised for HTTP/1.1, sent as it is.
    fixed_h1: Option<Bytes>,
    path: Vec<Part>,
    headers: Vec<(HeaderName, Vec<Part>)>,
    body: Option<Vec<Part>>,
    data: Data,
    selection: Selection,
    counter: AtomicU64,
}

/// The URL with the query parameters appended (placeholders kept).
pub fn full_url(t: &RequestTemplate) -> String {
    let mut url = t.url.clone();
    for (i, (k, v)) in t.query.iter().enumerate() {
        url.push(if i == 0 && !t.url.contains('?') { '?' } else { '&' });
        let mut tmp = String::new();
        percent_encode(k, &mut tmp);
        url.push_str(&tmp);
        url.push('=');
        for seg in segments(v) {
            match seg {
                Seg::Lit(l) => {
                    let mut tmp = String::new();
                    percent_encode(&l, &mut tmp);
                    url.push_str(&tmp);
                }
                Seg::Var(name) => url.push_str(&format!("{{{{{name}}}}}")),
            }
        }
    }
    url
}

/// Checks the template's syntax, naming the field (used before accepting a
/// job). Returns the URL (placeholders replaced by `x`) for the endpoint.
pub fn validate(t: &RequestTemplate) -> Result<Uri, String> {
    Method::from_bytes(t.method.as_bytes())
        .map_err(|_| format!("request.method: {:?} is not an HTTP method", t.method))?;
    let url = full_url(t);
    let probe: String = segments(&url)
        .iter()
        .map(|s| match s {
            Seg::Lit(l) => l.as_str(),
            Seg::Var(_) => "x",
        })
        .collect();
    let uri: Uri = probe.parse().map_err(|e| format!("request.url: {:?} is not a URL: {e}", t.url))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => {
            return Err(format!("request.url: {:?} must start with http:// or https://", t.url));
        }
    }
    let Some(auth) = uri.authority() else {
        return Err(format!("request.url: {:?} has no host", t.url));
    };
    if url.split("://").nth(1).unwrap_or("").split('/').next().unwrap_or("").contains("{{") {
        return Err(format!(
            "request.url: placeholders are allowed in the path and query only, not in the host ({:?})",
            auth.as_str()
        ));
    }
    for (k, v) in &t.headers {
        HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("request.headers: {k:?} is not a valid header name"))?;
        HeaderValue::from_str(v)
            .map_err(|_| format!("request.headers.{k}: value {v:?} is not a valid header value"))?;
    }
    Ok(uri)
}

impl Template {
    /// Compiles the template against the data file's fields.
    pub fn new(t: &RequestTemplate, data: Option<(Data, Selection)>, http2: bool) -> Result<Template, String> {
        let uri = validate(t)?;
        let (mut data, selection) = data.unwrap_or_default();
        let row = alilo_agent_api::ROW_PLACEHOLDER;
        let uses_row = full_url(t).contains(row)
            || t.headers.values().any(|v| v.contains(row))
            || t.body.as_deref().is_some_and(|b| b.contains(row));
        if uses_row && data.row_json.len() == data.rows.len() {
            // The whole row is one more field, added only when asked for.
            data.fields.push(row.trim_start_matches("{{").trim_end_matches("}}").to_string());
            for (r, json) in data.rows.iter_mut().zip(&data.row_json) {
                r.push(json.clone());
            }
        }
        let fields: HashMap<String, usize> = data.fields.iter().enumerate().map(|(i, f)| (f.clone(), i)).collect();
        let has_data = !data.rows.is_empty();
        let method = Method::from_bytes(t.method.as_bytes()).expect("validated");
        let url = full_url(t);
        let after_scheme = url.split_once("://").map(|x| x.1).unwrap_or("");
        let path_str = match after_scheme.find('/') {
            Some(i) => after_scheme[i..].to_string(),
            None => match after_scheme.find('?') {
                Some(i) => format!("/{}", &after_scheme[i..]),
                None => "/".to_string(),
            },
        };
        let authority = uri.authority().expect("validated").as_str().to_string();
        let scheme = uri.scheme_str().unwrap_or("http").to_string();
        let lit = |s: &str| vec![Seg::Lit(s.to_string())];
        let segs = |s: &str| if has_data { segments(s) } else { lit(s) };
        let path = compile(&segs(&path_str), &fields, "request.url")?;
        let mut headers = Vec::new();
        for (k, v) in &t.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).expect("validated");
            headers.push((name, compile(&segs(v), &fields, &format!("request.headers.{k}"))?));
        }
        let body = match &t.body {
            Some(b) => Some(compile(&segs(b), &fields, "request.body")?),
            None => None,
        };
        let mut tpl = Template {
            method,
            http2,
            authority,
            scheme,
            fixed: None,
            fixed_h1: None,
            path,
            headers,
            body,
            data,
            selection,
            counter: AtomicU64::new(0),
        };
        if !has_data {
            let (u, h, b) = tpl.render_parts(&[])?;
            // Serialised for HTTP/1.1 also when HTTP/2 is asked for: a
            // server whose ALPN refuses h2 gets HTTP/1.1.
            tpl.fixed_h1 = Some(Bytes::from(tpl.serialise_h1(&u, &h, &b)));
            tpl.fixed = Some((u, h, b));
        } else {
            // Render every row once now so a bad value fails the job at start
            // instead of every request.
            for row in &tpl.data.rows {
                tpl.render_parts(row)?;
            }
        }
        Ok(tpl)
    }

    fn render_parts(&self, row: &[String]) -> Result<(Uri, HeaderMap, Bytes), String> {
        let mut path = String::new();
        render(&self.path, row, true, &mut path);
        let uri = if self.http2 { format!("{}://{}{}", self.scheme, self.authority, path) } else { path };
        let uri: Uri = uri.parse().map_err(|e| format!("request.url: rendered URL {uri:?} is invalid: {e}"))?;
        let mut h = HeaderMap::with_capacity(self.headers.len() + 2);
        if !self.http2 {
            h.insert(http::header::HOST, HeaderValue::from_str(&self.authority).map_err(|e| e.to_string())?);
        }
        h.insert(http::header::USER_AGENT, HeaderValue::from_static(crate::USER_AGENT));
        for (name, parts) in &self.headers {
            let mut v = String::new();
            render(parts, row, false, &mut v);
            let v = HeaderValue::from_str(&v)
                .map_err(|_| format!("request.headers.{name}: rendered value {v:?} is invalid"))?;
            h.insert(name.clone(), v);
        }
        let body = match &self.body {
            Some(parts) => {
                let mut b = String::new();
                render(parts, row, false, &mut b);
                Bytes::from(b)
            }
            None => Bytes::new(),
        };
        Ok((uri, h, body))
    }

    fn serialise_h1(&self, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
        let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mut out = Vec::new();
        if self.http2 {
            // Parts made for HTTP/2 carry the authority in the URI, not in a Host header.
            let mut with_host = HeaderMap::with_capacity(headers.len() + 1);
            if let Ok(host) = HeaderValue::from_str(&self.authority) {
                with_host.insert(http::header::HOST, host);
            }
            with_host.extend(headers.iter().map(|(k, v)| (k.clone(), v.clone())));
            crate::client::h1::encode_request(&self.method, target, &with_host, body, &mut out);
        } else {
            crate::client::h1::encode_request(&self.method, target, headers, body, &mut out);
        }
        out
    }

    /// The parts of the next request: the fixed ones, or the next row's.
    fn next_parts(&self) -> (Uri, HeaderMap, Bytes) {
        match &self.fixed {
            Some((u, h, b)) => (u.clone(), h.clone(), b.clone()),
            None => {
                let n = self.counter.fetch_add(1, Ordering::Relaxed);
                let len = self.data.rows.len() as u64;
                let i = match self.selection {
                    Selection::Sequential => n % len,
                    Selection::Random => splitmix64(n ^ 0x9E37_79B9_7F4A_7C15) % len,
                };
                self.render_parts(&self.data.rows[i as usize]).expect("every row was rendered once at start")
            }
        }
    }

    /// Whether responses to these requests have no body (HEAD).
    pub fn is_head(&self) -> bool {
        self.method == Method::HEAD
    }

    /// The next request serialised for HTTP/1.1.
    pub fn next_h1(&self) -> Bytes {
        if let Some(b) = &self.fixed_h1 {
            return b.clone();
        }
        let (uri, headers, body) = self.next_parts();
        Bytes::from(self.serialise_h1(&uri, &headers, &body))
    }

    /// The next request to send.
    pub fn next(&self) -> Request<Full<Bytes>> {
        let (uri, headers, body) = self.next_parts();
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        req
    }
}

impl crate::client::load::RequestSource for Template {
    fn next_h1(&self) -> Bytes {
        Template::next_h1(self)
    }
    fn next_h2(&self) -> Request<Full<Bytes>> {
        self.next()
    }
    fn is_head(&self) -> bool {
        Template::is_head(self)
    }
}

/// A fast, well-mixed hash of a counter (row selection needs no crypto).
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn tpl(url: &str, body: Option<&str>) -> RequestTemplate {
        RequestTemplate {
            method: "POST".into(),
            url: url.into(),
            headers: BTreeMap::from([("x-user".to_string(), "{{user}}".to_string())]),
            query: BTreeMap::from([("q".to_string(), "a b".to_string())]),
            body: body.map(String::from),
        }
    }

    #[test]
    fn csv_handles_quotes_and_crlf() {
        let d = Data::parse(b"id,name\r\n1,\"a, \"\"b\"\"\"\r\n2,c\n", DataFormat::Csv).unwrap();
        assert_eq!(d.fields, ["id", "name"]);
        assert_eq!(d.rows, [vec!["1", "a, \"b\""], vec!["2", "c"]]);
    }

    #[test]
    fn a_file_of_unknown_format_is_read_by_its_content() {
        let csv = Data::parse(b"\xEF\xBB\xBFid,name\n1,a\n", DataFormat::Auto).unwrap();
        assert_eq!((csv.fields.clone(), csv.rows.len()), (vec!["id".to_string(), "name".to_string()], 1));
        let lines = Data::parse(b"{\"id\":1}\n{\"id\":2}\n", DataFormat::Auto).unwrap();
        assert_eq!(lines.rows, [vec!["1"], vec!["2"]]);
        let array = Data::parse(b"  [{\"id\":3}]", DataFormat::Auto).unwrap();
        assert_eq!(array.rows, [vec!["3"]]);
    }

    proptest::proptest! {
        /// Arbitrary bytes of unknown format give rows or an error, never a panic.
        #[test]
        fn any_bytes_of_unknown_format_parse_or_fail_cleanly(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = Data::parse(&bytes, DataFormat::Auto);
        }
    }

    #[test]
    fn json_lines_and_arrays_keep_non_strings_as_json() {
        let d = Data::parse(b"{\"id\":1,\"u\":\"x\"}\n\n{\"id\":2}\n", DataFormat::JsonLines).unwrap();
        assert_eq!(d.rows, [vec!["1", "x"], vec!["2", ""]]);
        let d = Data::parse(br#"[{"a":true}]"#, DataFormat::JsonArray).unwrap();
        assert_eq!(d.rows, [vec!["true"]]);
        assert!(Data::parse(b"[]", DataFormat::JsonArray).is_err());
    }

    #[test]
    fn placeholders_fill_url_headers_and_body_sequentially() {
        let data = Data::parse(b"user,id\nann,1\nbob/x,2\n", DataFormat::Csv).unwrap();
        let t = Template::new(
            &tpl("http://h:8080/u/{{id}}/{{user}}", Some("{\"u\":\"{{user}}\"}")),
            Some((data, Selection::Sequential)),
            false,
        )
        .unwrap();
        let r = t.next();
        assert_eq!(r.uri(), "/u/1/ann?q=a%20b");
        assert_eq!(r.headers()["x-user"], "ann");
        assert_eq!(r.headers()["host"], "h:8080");
        let r = t.next();
        assert_eq!(r.uri(), "/u/2/bob%2Fx?q=a%20b");
        assert_eq!(r.headers()["x-user"], "bob/x");
        let r = t.next();
        assert_eq!(r.uri(), "/u/1/ann?q=a%20b", "wraps around");
        let wire = String::from_utf8(t.next_h1().to_vec()).unwrap();
        let ua = crate::USER_AGENT;
        assert_eq!(
            wire,
            format!(
                "POST /u/2/bob%2Fx?q=a%20b HTTP/1.1\r\nhost: h:8080\r\nuser-agent: {ua}\r\n\
                 x-user: bob/x\r\ncontent-length: 13\r\n\r\n{{\"u\":\"bob/x\"}}"
            )
        );
    }

    #[test]
    fn the_row_placeholder_sends_the_whole_row_as_json_with_its_types() {
        let data = Data::parse(br#"[{"id":7,"name":"x y","tags":["a"],"user":"u"}]"#, DataFormat::JsonArray).unwrap();
        let t =
            Template::new(&tpl("http://h/u/{{id}}", Some("{{$row}}")), Some((data, Selection::Random)), false).unwrap();
        let wire = String::from_utf8(t.next_h1().to_vec()).unwrap();
        assert!(wire.starts_with("POST /u/7?"), "placeholders are kept: {wire}");
        assert!(wire.ends_with(r#"{"id":7,"name":"x y","tags":["a"],"user":"u"}"#), "{wire}");
        let csv = Data::parse(b"id,user\n1,ann\n", DataFormat::Csv).unwrap();
        let t = Template::new(&tpl("http://h/", Some("{{$row}}")), Some((csv, Selection::Random)), false).unwrap();
        assert!(String::from_utf8(t.next_h1().to_vec()).unwrap().ends_with(r#"{"id":"1","user":"ann"}"#));
    }

    #[test]
    fn unknown_placeholder_names_the_field() {
        let data = Data::parse(b"id\n1\n", DataFormat::Csv).unwrap();
        let e = Template::new(&tpl("http://h/{{id}}", Some("{{nope}}")), Some((data, Selection::Random)), false)
            .err()
            .unwrap();
        assert!(e.contains("request.headers.x-user") || e.contains("request.body"), "{e}");
    }

    #[test]
    fn placeholders_in_the_host_are_refused() {
        let e = validate(&tpl("http://{{host}}/", None)).unwrap_err();
        assert!(e.starts_with("request.url"), "{e}");
        assert!(validate(&tpl("ftp://h/", None)).unwrap_err().contains("http://"));
    }
}
