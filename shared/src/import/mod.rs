//! Import: turn a pasted cURL command or a HAR file into request descriptions.
//!
//! This module owns the pure parsing logic behind `POST /v1/parsing/CUrl` and the
//! HAR import: no I/O, no database, no dependency on the rest of the crate, so it
//! can be fuzzed and benchmarked on its own.
//!
//! The pipeline for a cURL command is three steps, each in its own file:
//!
//! 1. `shell` splits the pasted text into words the way the shell it was written
//!    for would: bash (quotes, `$'…'`, backslash-newline continuations) or Windows
//!    `cmd` (the `^` escapes of Chrome's "Copy as cURL (cmd)"). The dialect is
//!    recognised from the text itself.
//! 2. `curl` reads the words as curl 8 reads its command line (combined and glued
//!    short options, long options, output-only flags with their argument) and then
//!    applies curl's semantics: which method, which headers in which order, which
//!    body.
//! 3. `render` writes the v1 contract's `json` string.
//!
//! The central decision: **what curl cannot be made to do identically is an error,
//! never an approximation.** A command that reads a file (`-d @body.json`, `-b
//! cookies.txt`, `-T`), needs a client certificate, globs URLs or names several URLs
//! is rejected with a message naming the option; a malformed command is rejected
//! with the column (counted in characters from the start of the pasted text, line
//! breaks included, starting at 1) and the reason.
//!
//! Headers curl adds on its own (`Host`, `User-Agent: curl/…`, `Accept: */*`,
//! `Content-Length`) are *not* listed: the script's HTTP client computes `Host` and
//! `Content-Length`, and a load test should not pretend to be curl. Headers implied
//! by flags (`-u`, `-A`, `-e`, `-b`, `--json`, `-F`, `-d`, `--compressed`, `-r`,
//! `--oauth2-bearer`) are listed, in the order curl sends them. `-H 'Name:'` removes
//! a header; the names removed this way are in [`ImportedRequest::removed_headers`]
//! so that the runner can drop its own defaults too.
//!
//! Everything here is total: no indexing that can go out of bounds, no `unwrap` on
//! user data, every loop consumes input. The proptest suite in `tests/fuzz.rs`
//! checks both properties (no panic, bounded time) on arbitrary input.

use std::fmt;

use serde::{Deserialize, Serialize};

#[deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]
mod address;
#[deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]
mod curl;
#[deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]
mod har;
#[deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]
mod naming;
#[deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]
mod render;
#[deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]
mod shell;

#[cfg(test)]
mod tests;

pub use address::{decode_query, encode_query};
pub use curl::MULTIPART_BOUNDARY;
pub use naming::{script_name, script_title};
pub use render::contract_json;

/// One HTTP request, as curl would send it (or as the browser sent it, for HAR).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedRequest {
    /// The method, upper-cased (`-X post` is read as `POST`).
    pub method: String,
    /// The full URL: scheme, authority, path and the query re-encoded with
    /// [`encode_query`]; no fragment (curl never sends one).
    pub url: String,
    /// `"http"` or `"https"`; `http` when the command gives no scheme, like curl.
    pub scheme: String,
    /// `host[:port]` as written, without user information.
    pub host: String,
    /// The path, starting with `/`, dot segments removed as curl does.
    pub path: String,
    /// The query, decoded for display (`+` and `%20` are spaces), in order,
    /// duplicates kept.
    pub query_params: Vec<QueryParam>,
    /// Headers in the order curl sends them; names keep their case.
    pub headers: Vec<(String, String)>,
    /// Header names the command removes with `-H 'Name:'` (or `-A ''`): nothing of
    /// that name may be sent, not even a client default.
    pub removed_headers: Vec<String>,
    /// The body, if any.
    pub body: Option<String>,
    /// `-k` / `--insecure`: do not verify the server's certificate.
    pub insecure: bool,
    /// `-L` / `--location`: follow redirects.
    pub follow_redirects: bool,
    /// `-m` / `--max-time`, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// `--connect-timeout`, in milliseconds.
    pub connect_timeout_ms: Option<u64>,
    /// `--http1.1` or `--http2` / `--http2-prior-knowledge`; `None` lets the
    /// client negotiate.
    pub http_version: Option<HttpVersion>,
    /// What followed `&&` after the curl command (`curl … && echo done`): not
    /// imported, and to be reported as ignored. `None` when nothing followed.
    pub ignored_after_and: Option<String>,
}

impl ImportedRequest {
    /// The URL without its query string: what the v1 contract calls `url`.
    pub fn url_without_query(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, self.path)
    }

    /// The first header of that name (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One query parameter, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryParam {
    /// The name, decoded.
    pub key: String,
    /// The value, decoded; `""` for a piece without `=`.
    pub value: String,
}

/// The HTTP version a command insists on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpVersion {
    /// `--http1.1`.
    Http1_1,
    /// `--http2` or `--http2-prior-knowledge`.
    Http2,
}

/// Why a command or a HAR file cannot be imported.
///
/// `column` is counted in characters from the start of the pasted text (line
/// breaks count as one character), starting at 1; it is `None` when the problem
/// has no single position (no URL at all, invalid HAR JSON, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportError {
    /// Where the problem is, if it has one position.
    pub column: Option<usize>,
    /// What is wrong, quoting the input at fault.
    pub message: String,
}

impl ImportError {
    pub(crate) fn at(column: usize, message: impl Into<String>) -> Self {
        Self { column: Some(column), message: message.into() }
    }

    pub(crate) fn whole(message: impl Into<String>) -> Self {
        Self { column: None, message: message.into() }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(f, "{} at column {column}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ImportError {}

/// Parses a pasted cURL command (bash or Windows `cmd` syntax) into the request
/// curl would send.
pub fn parse_curl(command: &str) -> Result<ImportedRequest, ImportError> {
    let (words, rest) = shell::split_first(command)?;
    let mut request = curl::interpret(&words)?;
    request.ignored_after_and = rest;
    Ok(request)
}

/// Which HAR entries to import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HarFilter {
    /// Hosts to keep, compared case-insensitively with the URL's host (with or
    /// without port); `.example.com` or `*.example.com` also keeps subdomains.
    /// Empty keeps every host.
    pub hosts: Vec<String>,
    /// Resource types to keep (`xhr`, `fetch`, `document`, `script`, `stylesheet`,
    /// `image`, `font`, `media`, `websocket`, `other`, …). Empty means
    /// [`DEFAULT_RESOURCE_TYPES`].
    pub resource_types: Vec<String>,
}

/// The resource types imported when a [`HarFilter`] names none: what a load test
/// replays, not the static assets a CDN serves.
pub const DEFAULT_RESOURCE_TYPES: [&str; 3] = ["xhr", "fetch", "document"];

/// The outcome of a HAR import: what was kept and what was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HarImport {
    /// The requests kept, in the order of the file, duplicates merged.
    pub requests: Vec<HarEntry>,
    /// The entries not imported, in the order of the file.
    pub skipped: Vec<HarSkip>,
}

/// One request kept from a HAR file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HarEntry {
    /// The request as the browser sent it (see the `har` module for what is dropped).
    pub request: ImportedRequest,
    /// The DevTools resource type (`_resourceType`), or the one inferred from the
    /// response's MIME type when the browser does not record it (Firefox, Safari).
    pub resource_type: String,
    /// How many later entries were the same request (method, URL, body) and were
    /// merged into this one.
    pub merged_duplicates: usize,
}

/// One HAR entry that was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HarSkip {
    /// The entry's method.
    pub method: String,
    /// The entry's URL, as recorded.
    pub url: String,
    /// Why it was skipped, e.g. `resource type 'image' is not selected (selected: xhr,
    /// fetch, document)`.
    pub reason: String,
}

/// Reads a HAR file (Chrome, Firefox or Safari export) and keeps the requests the
/// filter selects, merging duplicates.
pub fn parse_har(har_json: &str, filter: &HarFilter) -> Result<HarImport, ImportError> {
    har::parse(har_json, filter)
}
