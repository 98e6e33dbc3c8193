//! curl's command line: options as curl 8 reads them, then curl's semantics.
//!
//! Reading follows curl's `getparameter`: a word starting with `--` is a long
//! option (`--name value`; curl has no `--name=value`), a word starting with `-` is
//! one or more short options (`-sSL`), and a short option taking an argument takes
//! the rest of the word (`-XPOST`, `-H'a: b'`) or else the next word. `--` ends the
//! options. Boolean long options accept curl's `--no-` prefix. Every other word is
//! a URL. [`OPTIONS`] is the table: it lists the options that take an argument even
//! when they are ignored, so that `-o file` or `-w '%{http_code}'` consume it.
//!
//! Semantics follow curl 8's `tool_operate.c` and `http.c`: the method (GET; POST
//! with a body; HEAD with `-I`; GET with `-G`; `-X` last), the body (`-d` pieces
//! joined with `&`, `--json` pieces joined as they are, `-F` as multipart), and the
//! headers in curl's order: `Authorization`, `Range`, `User-Agent`,
//! `Accept-Encoding`, `Referer`, `Cookie`, then the `-H` headers in order, then the
//! body's `Content-Type`. A `-H` header of the same name replaces a header curl
//! would add itself, at the `-H` position; `-H 'Name:'` removes it.

use base64::Engine;

use super::address::{self, Address};
use super::shell::Word;
use super::{HttpVersion, ImportError, ImportedRequest, QueryParam};

/// The boundary of `-F` multipart bodies. curl picks a random one; a fixed one
/// makes the imported body deterministic (and testable). It is long and odd
/// enough not to appear in form values; a value containing it is rejected.
pub const MULTIPART_BOUNDARY: &str = "------------------------alilo7MA4YWxkTrZu0gW";

/// What `--compressed` asks for: the encodings of a curl 8 built with zlib,
/// brotli and zstd, in curl's order.
const ACCEPT_ENCODING: &str = "deflate, gzip, br, zstd";

/// What an option does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Header,
    Data(DataKind),
    Form {
        literal: bool,
    },
    Get,
    Head,
    Request,
    User,
    UserAgent,
    Referer,
    Cookie,
    Compressed,
    Insecure,
    Location,
    MaxTime,
    ConnectTimeout,
    Http11,
    Http2,
    Url,
    UrlQuery,
    Range,
    Bearer,
    Globoff,
    /// Output-only or irrelevant to the request: accepted, argument consumed.
    Ignore,
    /// Cannot be honoured: the reason completes "option X cannot be imported: …".
    Refuse(&'static str),
}

/// Flavours of `-d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataKind {
    /// `-d`, `--data`, `--data-ascii`: `@file` reads a file, stripping newlines.
    Ascii,
    /// `--data-binary`: `@file` reads a file as it is.
    Binary,
    /// `--data-raw`: no `@` meaning.
    Raw,
    /// `--data-urlencode`: `content`, `=content`, `name=content`, `@file`,
    /// `name@file`.
    UrlEncode,
    /// `--json`: like `--data-binary`, joined without `&`, JSON headers.
    Json,
}

struct Opt {
    long: &'static str,
    short: Option<char>,
    takes_arg: bool,
    action: Action,
}

const fn opt(long: &'static str, short: Option<char>, takes_arg: bool, action: Action) -> Opt {
    Opt { long, short, takes_arg, action }
}

const CERT: &str = "client certificates cannot be used by the script";
const FILE: &str = "it reads a local file";
const PROXY: &str = "the script connects directly, not through a proxy";
const AUTH: &str = "only Basic authentication (-u) and bearer tokens can be imported";

/// curl 8's options that a pasted command may contain. Names are curl's.
const OPTIONS: &[Opt] = &[
    // What the request is.
    opt("header", Some('H'), true, Action::Header),
    opt("data", Some('d'), true, Action::Data(DataKind::Ascii)),
    opt("data-ascii", None, true, Action::Data(DataKind::Ascii)),
    opt("data-binary", None, true, Action::Data(DataKind::Binary)),
    opt("data-raw", None, true, Action::Data(DataKind::Raw)),
    opt("data-urlencode", None, true, Action::Data(DataKind::UrlEncode)),
    opt("json", None, true, Action::Data(DataKind::Json)),
    opt("form", Some('F'), true, Action::Form { literal: false }),
    opt("form-string", None, true, Action::Form { literal: true }),
    opt("get", Some('G'), false, Action::Get),
    opt("head", Some('I'), false, Action::Head),
    opt("request", Some('X'), true, Action::Request),
    opt("user", Some('u'), true, Action::User),
    opt("user-agent", Some('A'), true, Action::UserAgent),
    opt("referer", Some('e'), true, Action::Referer),
    opt("cookie", Some('b'), true, Action::Cookie),
    opt("compressed", None, false, Action::Compressed),
    opt("insecure", Some('k'), false, Action::Insecure),
    opt("location", Some('L'), false, Action::Location),
    opt("location-trusted", None, false, Action::Location),
    opt("max-time", Some('m'), true, Action::MaxTime),
    opt("connect-timeout", None, true, Action::ConnectTimeout),
    opt("http1.1", None, false, Action::Http11),
    opt("http2", None, false, Action::Http2),
    opt("http2-prior-knowledge", None, false, Action::Http2),
    opt("url", None, true, Action::Url),
    opt("url-query", None, true, Action::UrlQuery),
    opt("range", Some('r'), true, Action::Range),
    opt("oauth2-bearer", None, true, Action::Bearer),
    opt("globoff", Some('g'), false, Action::Globoff),
    opt("basic", None, false, Action::Ignore),
    opt("path-as-is", None, false, Action::Refuse("the script normalises the path")),
    // Output and progress only.
    opt("silent", Some('s'), false, Action::Ignore),
    opt("show-error", Some('S'), false, Action::Ignore),
    opt("verbose", Some('v'), false, Action::Ignore),
    opt("include", Some('i'), false, Action::Ignore),
    opt("fail", Some('f'), false, Action::Ignore),
    opt("fail-with-body", None, false, Action::Ignore),
    opt("fail-early", None, false, Action::Ignore),
    opt("progress-bar", Some('#'), false, Action::Ignore),
    opt("no-progress-meter", None, false, Action::Ignore),
    opt("no-buffer", Some('N'), false, Action::Ignore),
    opt("output", Some('o'), true, Action::Ignore),
    opt("output-dir", None, true, Action::Ignore),
    opt("create-dirs", None, false, Action::Ignore),
    opt("remote-name", Some('O'), false, Action::Ignore),
    opt("remote-name-all", None, false, Action::Ignore),
    opt("remote-header-name", Some('J'), false, Action::Ignore),
    opt("remote-time", Some('R'), false, Action::Ignore),
    opt("write-out", Some('w'), true, Action::Ignore),
    opt("dump-header", Some('D'), true, Action::Ignore),
    opt("trace", None, true, Action::Ignore),
    opt("trace-ascii", None, true, Action::Ignore),
    opt("trace-time", None, false, Action::Ignore),
    opt("trace-ids", None, false, Action::Ignore),
    opt("stderr", None, true, Action::Ignore),
    opt("styled-output", None, false, Action::Ignore),
    opt("cookie-jar", Some('c'), true, Action::Ignore),
    opt("junk-session-cookies", Some('j'), false, Action::Ignore),
    opt("raw", None, false, Action::Ignore),
    opt("tr-encoding", None, false, Action::Ignore),
    opt("max-redirs", None, true, Action::Ignore),
    opt("post301", None, false, Action::Ignore),
    opt("post302", None, false, Action::Ignore),
    opt("post303", None, false, Action::Ignore),
    opt("retry", None, true, Action::Ignore),
    opt("retry-delay", None, true, Action::Ignore),
    opt("retry-max-time", None, true, Action::Ignore),
    opt("retry-connrefused", None, false, Action::Ignore),
    opt("retry-all-errors", None, false, Action::Ignore),
    opt("speed-limit", Some('Y'), true, Action::Ignore),
    opt("speed-time", Some('y'), true, Action::Ignore),
    opt("limit-rate", None, true, Action::Ignore),
    opt("max-filesize", None, true, Action::Ignore),
    opt("keepalive-time", None, true, Action::Ignore),
    opt("keepalive", None, false, Action::Ignore),
    opt("tcp-nodelay", None, false, Action::Ignore),
    opt("tcp-fastopen", None, false, Action::Ignore),
    opt("ipv4", Some('4'), false, Action::Ignore),
    opt("ipv6", Some('6'), false, Action::Ignore),
    opt("parallel", Some('Z'), false, Action::Ignore),
    opt("parallel-max", None, true, Action::Ignore),
    opt("disable", Some('q'), false, Action::Ignore),
    opt("ssl", None, false, Action::Ignore),
    opt("ssl-reqd", None, false, Action::Ignore),
    opt("ssl-no-revoke", None, false, Action::Ignore),
    opt("ssl-revoke-best-effort", None, false, Action::Ignore),
    opt("tlsv1", Some('1'), false, Action::Ignore),
    opt("tlsv1.0", None, false, Action::Ignore),
    opt("tlsv1.1", None, false, Action::Ignore),
    opt("tlsv1.2", None, false, Action::Ignore),
    opt("tlsv1.3", None, false, Action::Ignore),
    opt("tls-max", None, true, Action::Ignore),
    opt("ciphers", None, true, Action::Ignore),
    opt("cacert", None, true, Action::Ignore),
    opt("capath", None, true, Action::Ignore),
    opt("proto", None, true, Action::Ignore),
    opt("proto-redir", None, true, Action::Ignore),
    opt("proto-default", None, true, Action::Ignore),
    opt("resolve", None, true, Action::Ignore),
    opt("connect-to", None, true, Action::Ignore),
    opt("dns-servers", None, true, Action::Ignore),
    opt("doh-url", None, true, Action::Ignore),
    opt("interface", None, true, Action::Ignore),
    opt("expect100-timeout", None, true, Action::Ignore),
    // Cannot be honoured.
    opt("upload-file", Some('T'), true, Action::Refuse("it uploads a local file")),
    opt("cert", Some('E'), true, Action::Refuse(CERT)),
    opt("key", None, true, Action::Refuse(CERT)),
    opt("cert-type", None, true, Action::Refuse(CERT)),
    opt("key-type", None, true, Action::Refuse(CERT)),
    opt("pass", None, true, Action::Refuse(CERT)),
    opt("config", Some('K'), true, Action::Refuse(FILE)),
    opt("netrc", Some('n'), false, Action::Refuse(FILE)),
    opt("netrc-file", None, true, Action::Refuse(FILE)),
    opt("netrc-optional", None, false, Action::Refuse(FILE)),
    opt("etag-compare", None, true, Action::Refuse(FILE)),
    opt("etag-save", None, true, Action::Ignore),
    opt("variable", None, true, Action::Refuse("curl variables are not expanded")),
    opt("proxy", Some('x'), true, Action::Refuse(PROXY)),
    opt("proxy-user", Some('U'), true, Action::Refuse(PROXY)),
    opt("socks5", None, true, Action::Refuse(PROXY)),
    opt("socks5-hostname", None, true, Action::Refuse(PROXY)),
    opt("preproxy", None, true, Action::Refuse(PROXY)),
    opt("unix-socket", None, true, Action::Refuse("the script connects over TCP")),
    opt("abstract-unix-socket", None, true, Action::Refuse("the script connects over TCP")),
    opt("digest", None, false, Action::Refuse(AUTH)),
    opt("ntlm", None, false, Action::Refuse(AUTH)),
    opt("negotiate", None, false, Action::Refuse(AUTH)),
    opt("anyauth", None, false, Action::Refuse(AUTH)),
    opt("aws-sigv4", None, true, Action::Refuse("an AWS signature is computed per request")),
    opt("continue-at", Some('C'), true, Action::Refuse("resuming depends on a local file")),
    opt("time-cond", Some('z'), true, Action::Refuse("it may read a local file's date")),
    opt("http1.0", Some('0'), false, Action::Refuse("the script speaks HTTP/1.1 or HTTP/2")),
    opt("http3", None, false, Action::Refuse("the script speaks HTTP/1.1 or HTTP/2")),
    opt("http3-only", None, false, Action::Refuse("the script speaks HTTP/1.1 or HTTP/2")),
    opt("next", Some(':'), false, Action::Refuse("it makes several requests")),
    opt("request-target", None, true, Action::Refuse("the script sends the URL's path")),
];

fn by_long(name: &str) -> Option<&'static Opt> {
    OPTIONS.iter().find(|o| o.long == name)
}

fn by_short(c: char) -> Option<&'static Opt> {
    OPTIONS.iter().find(|o| o.short == Some(c))
}

/// Everything the options said, before curl's semantics are applied.
#[derive(Default)]
struct Parsed {
    urls: Vec<(String, usize)>,
    request: Option<String>,
    headers: Vec<(String, String)>,
    removed: Vec<String>,
    /// `-d` pieces, already in their final form, and whether each is `--json`.
    data: Vec<(String, bool)>,
    json: bool,
    form: Vec<FormPart>,
    form_column: usize,
    data_column: usize,
    get: bool,
    head: bool,
    user: Option<(String, usize)>,
    bearer: Option<String>,
    user_agent: Option<String>,
    referer: Option<String>,
    cookies: Vec<String>,
    compressed: bool,
    insecure: bool,
    location: bool,
    max_time_ms: Option<u64>,
    connect_timeout_ms: Option<u64>,
    http_version: Option<HttpVersion>,
    url_query: Vec<String>,
    range: Option<String>,
    globoff: bool,
}

struct FormPart {
    name: String,
    value: String,
    content_type: Option<String>,
    filename: Option<String>,
}

/// Reads the words after `curl` and returns the request curl would send.
pub(super) fn interpret(words: &[Word]) -> Result<ImportedRequest, ImportError> {
    let parsed = read_options(words)?;
    build(parsed)
}

fn read_options(words: &[Word]) -> Result<Parsed, ImportError> {
    let mut p = Parsed::default();
    let mut rest = words.iter();
    let mut options_ended = false;
    while let Some(word) = rest.next() {
        let text = word.text.as_str();
        if options_ended || !text.starts_with('-') || text == "-" {
            p.urls.push((word.text.clone(), word.column));
            continue;
        }
        if text == "--" {
            options_ended = true;
            continue;
        }
        if let Some(long) = text.strip_prefix("--") {
            let (o, negated) = match by_long(long) {
                Some(o) => (o, false),
                None => match long.strip_prefix("no-").and_then(by_long) {
                    Some(o) if !o.takes_arg => (o, true),
                    _ => return Err(unknown(text, word.column)),
                },
            };
            let arg = if o.takes_arg { Some(next_arg(&mut rest, text, word.column)?) } else { None };
            apply(&mut p, o, text, word.column, negated, arg)?;
            continue;
        }
        // Short options, possibly several in one word; one taking an argument
        // takes the rest of the word or the next word.
        let chars = text.char_indices().skip(1);
        for (offset, c) in chars {
            let Some(o) = by_short(c) else {
                return Err(ImportError::at(
                    word.column,
                    if text.chars().count() > 2 {
                        format!("unknown option '-{c}' in '{text}'")
                    } else {
                        format!("unknown option '-{c}'")
                    },
                ));
            };
            let name = format!("-{c}");
            if o.takes_arg {
                let glued = text.get(offset + c.len_utf8()..).unwrap_or("");
                let arg = if glued.is_empty() {
                    next_arg(&mut rest, &name, word.column)?
                } else {
                    Word { text: glued.to_owned(), column: word.column }
                };
                apply(&mut p, o, &name, word.column, false, Some(arg))?;
                break;
            }
            apply(&mut p, o, &name, word.column, false, None)?;
        }
    }
    Ok(p)
}

fn unknown(option: &str, column: usize) -> ImportError {
    let hint = match option.split_once('=') {
        Some((name, _)) if by_long(name.trim_start_matches('-')).is_some() => {
            format!(" (curl takes no '=': write '{name} …')")
        }
        _ => String::new(),
    };
    ImportError::at(column, format!("unknown option '{option}'{hint}"))
}

fn next_arg<'a>(rest: &mut impl Iterator<Item = &'a Word>, name: &str, column: usize) -> Result<Word, ImportError> {
    rest.next().cloned().ok_or_else(|| ImportError::at(column, format!("option '{name}' needs an argument")))
}

fn file_error(name: &str, column: usize, file: &str) -> ImportError {
    let file = if file == "-" { "standard input" } else { file };
    ImportError::at(
        column,
        format!(
            "option '{name}' reads '{file}' (@file), which cannot be imported: paste the \
             content itself (with --data-raw for a body)"
        ),
    )
}

fn apply(
    p: &mut Parsed,
    o: &Opt,
    name: &str,
    column: usize,
    negated: bool,
    arg: Option<Word>,
) -> Result<(), ImportError> {
    let (value, arg_column) = match arg {
        Some(w) => (w.text, w.column),
        None => (String::new(), column),
    };
    match o.action {
        Action::Header => header(p, &value, name, arg_column)?,
        Action::Data(kind) => {
            if p.data.is_empty() {
                p.data_column = column;
            }
            let piece = data_piece(kind, &value, name, arg_column)?;
            p.json |= kind == DataKind::Json;
            p.data.push((piece, kind == DataKind::Json));
        }
        Action::Form { literal } => {
            if p.form.is_empty() {
                p.form_column = column;
            }
            p.form.push(form_part(&value, literal, name, arg_column)?);
        }
        Action::Get => p.get = !negated,
        Action::Head => p.head = !negated,
        Action::Request => p.request = Some(value),
        Action::User => p.user = Some((value, arg_column)),
        Action::Bearer => p.bearer = Some(value),
        Action::UserAgent => p.user_agent = Some(value),
        Action::Referer => {
            // `-e 'url;auto'`: `;auto` only sets the referer on redirects.
            let referer = value.strip_suffix(";auto").unwrap_or(&value);
            p.referer = (!referer.is_empty()).then(|| referer.to_owned());
        }
        Action::Cookie => {
            if value.starts_with('@') || !value.contains('=') {
                return Err(ImportError::at(
                    arg_column,
                    format!(
                        "option '{name}' names the cookie file '{value}', which cannot be \
                         imported: pass the cookies themselves ('{name} \"name=value; …\"')"
                    ),
                ));
            }
            p.cookies.push(value);
        }
        Action::Compressed => p.compressed = !negated,
        Action::Insecure => p.insecure = !negated,
        Action::Location => p.location = !negated,
        Action::Globoff => p.globoff = !negated,
        Action::MaxTime => p.max_time_ms = Some(seconds_to_ms(&value, name, arg_column)?),
        Action::ConnectTimeout => {
            p.connect_timeout_ms = Some(seconds_to_ms(&value, name, arg_column)?);
        }
        Action::Http11 => p.http_version = Some(HttpVersion::Http1_1),
        Action::Http2 => p.http_version = Some(HttpVersion::Http2),
        Action::Url => p.urls.push((value, arg_column)),
        Action::UrlQuery => {
            // `+content` is appended as it is; anything else as --data-urlencode.
            let piece = match value.strip_prefix('+') {
                Some(raw) => raw.to_owned(),
                None => data_piece(DataKind::UrlEncode, &value, name, arg_column)?,
            };
            p.url_query.push(piece);
        }
        Action::Range => p.range = Some(value),
        Action::Ignore => {}
        Action::Refuse(why) => {
            return Err(ImportError::at(column, format!("option '{name}' cannot be imported: {why}")));
        }
    }
    Ok(())
}

/// `-H`: `Name: value` adds, `Name:` removes, `Name;` adds an empty value,
/// `@file` reads a file. A line with neither `:` nor `;` is ignored, as curl does.
fn header(p: &mut Parsed, line: &str, name: &str, column: usize) -> Result<(), ImportError> {
    if let Some(file) = line.strip_prefix('@') {
        return Err(file_error(name, column, file));
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let colon = line.find(':');
    let semicolon = line.find(';');
    match (colon, semicolon) {
        (Some(c), _) => {
            let header = line.get(..c).unwrap_or("").trim();
            let value = line.get(c + 1..).unwrap_or("").trim();
            if header.is_empty() {
                return Err(ImportError::at(column, format!("header '{line}' has no name")));
            }
            if value.is_empty() {
                // Blocks the header curl (or a flag) would add; a `-H` of the same
                // name given before or after is still sent, as curl does.
                p.removed.push(header.to_owned());
            } else {
                p.headers.push((header.to_owned(), value.to_owned()));
            }
        }
        (None, Some(s)) => {
            let header = line.get(..s).unwrap_or("").trim();
            // Only a `;` ending the line means "empty value" (`X; ` is not sent).
            let after = line.get(s + 1..).unwrap_or("");
            if !header.is_empty() && after.is_empty() {
                p.headers.push((header.to_owned(), String::new()));
            }
        }
        (None, None) => {}
    }
    Ok(())
}

fn data_piece(kind: DataKind, value: &str, name: &str, column: usize) -> Result<String, ImportError> {
    match kind {
        DataKind::Raw => Ok(value.to_owned()),
        DataKind::Ascii | DataKind::Binary | DataKind::Json => match value.strip_prefix('@') {
            Some(file) => Err(file_error(name, column, file)),
            None => Ok(value.to_owned()),
        },
        DataKind::UrlEncode => match value.find(['=', '@']) {
            Some(at) if value.get(at..at + 1) == Some("@") => {
                Err(file_error(name, column, value.get(at + 1..).unwrap_or("")))
            }
            Some(eq) => {
                let key = value.get(..eq).unwrap_or("");
                let content = address::curl_escape(value.get(eq + 1..).unwrap_or(""));
                Ok(if key.is_empty() { content } else { format!("{key}={content}") })
            }
            None => Ok(address::curl_escape(value)),
        },
    }
}

/// `-F name=value[;type=…][;filename=…]`, `-F name="quoted;value"`; `@file` and
/// `<file` read files. `--form-string` takes the value literally.
fn form_part(spec: &str, literal: bool, name: &str, column: usize) -> Result<FormPart, ImportError> {
    let Some((field, value)) = spec.split_once('=') else {
        return Err(ImportError::at(column, format!("option '{name}' needs 'name=content', got '{spec}'")));
    };
    let mut part = FormPart { name: field.to_owned(), value: value.to_owned(), content_type: None, filename: None };
    if literal {
        return Ok(part);
    }
    if let Some(file) = value.strip_prefix('@').or_else(|| value.strip_prefix('<')) {
        let file = file.split(';').next().unwrap_or(file);
        return Err(file_error(name, column, file));
    }
    let (content, params) = if let Some(quoted) = value.strip_prefix('"') {
        let mut content = String::new();
        let mut chars = quoted.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        content.push(e);
                    }
                }
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                c => content.push(c),
            }
        }
        let Some(end) = end else {
            return Err(ImportError::at(column, format!("option '{name}' has an unterminated quote in '{spec}'")));
        };
        (content, quoted.get(end..).unwrap_or(""))
    } else {
        match value.find(';') {
            Some(s) => (value.get(..s).unwrap_or("").to_owned(), value.get(s..).unwrap_or("")),
            None => (value.to_owned(), ""),
        }
    };
    part.value = content;
    for param in params.split(';').filter(|s| !s.trim().is_empty()) {
        match param.trim().split_once('=') {
            Some(("type", t)) => part.content_type = Some(t.to_owned()),
            Some(("filename", f)) => part.filename = Some(f.trim_matches('"').to_owned()),
            Some(("headers", _)) | Some(("encoder", _)) => {
                return Err(ImportError::at(
                    column,
                    format!("option '{name}': ';headers=' and ';encoder=' cannot be imported"),
                ));
            }
            _ => {
                // curl keeps an unknown `;x` as part of the content.
                part.value.push(';');
                part.value.push_str(param);
            }
        }
    }
    Ok(part)
}

fn seconds_to_ms(value: &str, name: &str, column: usize) -> Result<u64, ImportError> {
    let secs: f64 = value
        .trim()
        .parse()
        .map_err(|_| ImportError::at(column, format!("option '{name}' expects seconds, got '{value}'")))?;
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(ImportError::at(column, format!("option '{name}' expects seconds, got '{value}'")));
    }
    Ok((secs * 1000.0).round() as u64)
}

/// Applies curl's semantics to what the options said.
fn build(p: Parsed) -> Result<ImportedRequest, ImportError> {
    let (raw_url, url_column) = match p.urls.as_slice() {
        [] => return Err(ImportError::whole("the command has no URL")),
        [one] => one.clone(),
        [first, second, ..] => {
            return Err(ImportError::at(
                second.1,
                format!(
                    "several URLs ('{}' and '{}'): curl would make several requests; import \
                     one at a time",
                    first.0, second.0
                ),
            ));
        }
    };
    let has_data = !p.data.is_empty();
    if has_data && !p.form.is_empty() {
        return Err(ImportError::at(
            p.form_column.max(p.data_column),
            "a request cannot have both a -d body and a -F form (curl refuses it too)",
        ));
    }
    if p.head && has_data && !p.get {
        return Err(ImportError::at(p.data_column, "-I (HEAD) cannot send a -d body (curl refuses it too)"));
    }
    if p.get && !p.form.is_empty() {
        return Err(ImportError::at(p.form_column, "-G cannot move a -F form into the query (curl refuses it too)"));
    }
    let address: Address = address::parse_address(&raw_url, p.globoff).map_err(|m| ImportError::at(url_column, m))?;

    // The body: `-d` pieces joined with `&`, `--json` pieces as they are.
    let mut data = String::new();
    for (n, (piece, json)) in p.data.iter().enumerate() {
        if n > 0 && !json {
            data.push('&');
        }
        data.push_str(piece);
    }

    let mut raw_query = address.query.clone();
    let mut extra: Vec<&str> = p.url_query.iter().map(String::as_str).collect();
    if p.get && has_data {
        extra.push(&data);
    }
    for piece in extra {
        if !raw_query.is_empty() {
            raw_query.push('&');
        }
        raw_query.push_str(piece);
    }
    let query_params: Vec<QueryParam> = address::decode_query(&raw_query);

    let body_sent = has_data && !p.get;
    let mut method = if p.head {
        "HEAD"
    } else if p.get {
        "GET"
    } else if body_sent || !p.form.is_empty() {
        "POST"
    } else {
        "GET"
    }
    .to_owned();
    if let Some(m) = &p.request {
        method = m.to_ascii_uppercase();
    }

    let custom = |name: &str| {
        p.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
            || p.removed.iter().any(|n| n.eq_ignore_ascii_case(name))
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut own = |name: &str, value: String| {
        if !custom(name) {
            headers.push((name.to_owned(), value));
        }
    };

    let userinfo = p.user.as_ref().map(|(u, c)| (u.clone(), Some(*c))).or_else(|| {
        // A user in the URL without a password gets an empty one (no prompt).
        address.userinfo.as_ref().map(|u| {
            let user = url_decode(u);
            let user = if user.contains(':') { user } else { format!("{user}:") };
            (user, None)
        })
    });
    if let Some((user, column)) = userinfo {
        if let (false, Some(column)) = (user.contains(':'), column) {
            return Err(ImportError::at(
                column,
                format!("-u '{user}' has no password: curl would prompt for it; write '{user}:password'"),
            ));
        }
        let token = base64::engine::general_purpose::STANDARD.encode(user.as_bytes());
        own("Authorization", format!("Basic {token}"));
    } else if let Some(token) = &p.bearer {
        own("Authorization", format!("Bearer {token}"));
    }
    if let Some(range) = &p.range {
        own("Range", format!("bytes={range}"));
    }
    let mut removed = p.removed.clone();
    match p.user_agent.as_deref() {
        Some("") if !custom("User-Agent") => removed.push("User-Agent".to_owned()),
        Some("") | None => {}
        Some(agent) => own("User-Agent", agent.to_owned()),
    }
    if p.compressed {
        own("Accept-Encoding", ACCEPT_ENCODING.to_owned());
    }
    if let Some(referer) = &p.referer {
        own("Referer", referer.clone());
    }
    if !p.cookies.is_empty() {
        own("Cookie", p.cookies.join(";"));
    }

    let multipart_type = format!("multipart/form-data; boundary={MULTIPART_BOUNDARY}");
    // curl moves a `-H` multipart Content-Type to the end, completed by its boundary.
    let mut has_content_type = false;
    let mut form_type: Option<(String, String)> = None;
    for (name, value) in &p.headers {
        if name.eq_ignore_ascii_case("Content-Type") {
            has_content_type = true;
            if !p.form.is_empty() && value.to_ascii_lowercase().starts_with("multipart/") {
                let base = value.split(';').next().unwrap_or(value).trim();
                form_type = Some((name.clone(), format!("{base}; boundary={MULTIPART_BOUNDARY}")));
                continue;
            }
        }
        headers.push((name.clone(), value.clone()));
    }
    let removed_type = p.removed.iter().any(|n| n.eq_ignore_ascii_case("Content-Type"));
    let can_add = |name: &str, headers: &[(String, String)]| {
        !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
            && !p.removed.iter().any(|n| n.eq_ignore_ascii_case(name))
    };
    if p.json {
        for name in ["Content-Type", "Accept"] {
            if can_add(name, &headers) {
                headers.push((name.to_owned(), "application/json".to_owned()));
            }
        }
    }

    let body = if !p.form.is_empty() {
        if let Some(header) = form_type {
            headers.push(header);
        } else if !has_content_type && !removed_type {
            headers.push(("Content-Type".to_owned(), multipart_type));
        }
        Some(multipart(&p.form, p.form_column)?)
    } else if body_sent {
        if !p.json && !has_content_type && !removed_type {
            headers.push(("Content-Type".to_owned(), "application/x-www-form-urlencoded".to_owned()));
        }
        Some(data)
    } else {
        None
    };

    removed.retain(|r| !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(r)));

    let mut url = format!("{}://{}{}", address.scheme, address.host, address.path);
    if !query_params.is_empty() {
        url.push('?');
        url.push_str(&address::encode_query(&query_params));
    }
    Ok(ImportedRequest {
        method,
        url,
        scheme: address.scheme,
        host: address.host,
        path: address.path,
        query_params,
        headers,
        removed_headers: removed,
        body,
        insecure: p.insecure,
        follow_redirects: p.location,
        timeout_ms: p.max_time_ms,
        connect_timeout_ms: p.connect_timeout_ms,
        http_version: p.http_version,
        ignored_after_and: None,
    })
}

fn url_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The multipart body curl sends for `-F` parts (CRLF line ends, names with `"`
/// escaped as `%22` like curl 8).
fn multipart(parts: &[FormPart], column: usize) -> Result<String, ImportError> {
    let escape = |s: &str| s.replace('"', "%22").replace('\r', "%0D").replace('\n', "%0A");
    let mut body = String::new();
    for part in parts {
        if part.value.contains(MULTIPART_BOUNDARY) {
            return Err(ImportError::at(column, "a -F value contains the multipart boundary"));
        }
        body.push_str("--");
        body.push_str(MULTIPART_BOUNDARY);
        body.push_str("\r\n");
        body.push_str(&format!("Content-Disposition: form-data; name=\"{}\"", escape(&part.name)));
        if let Some(filename) = &part.filename {
            body.push_str(&format!("; filename=\"{}\"", escape(filename)));
        }
        body.push_str("\r\n");
        if let Some(t) = &part.content_type {
            body.push_str(&format!("Content-Type: {t}\r\n"));
        }
        body.push_str("\r\n");
        body.push_str(&part.value);
        body.push_str("\r\n");
    }
    body.push_str("--");
    body.push_str(MULTIPART_BOUNDARY);
    body.push_str("--\r\n");
    Ok(body)
}
