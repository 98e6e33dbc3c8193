//! The full exchange: one request given as method, URL, headers and body,
//! answered with everything a script needs — status, headers, body,
//! protocol, remote address, an error kind and message, and k6-style
//! timings — for callers such as the JavaScript runtime (k6's
//! `http.request`). The load path ([`super::load`]) stays the fast one; this
//! one allocates per request.
//!
//! # Use
//!
//! ```no_run
//! # async fn demo(stats: &alilo_agent::stats::WorkerStats) {
//! use alilo_agent::client::exchange::{Client, HttpRequest};
//! let client = Client::new(stats.io.clone());
//! let mut req = HttpRequest::new(http::Method::POST, "https://api.example.test/login");
//! req.headers.insert("content-type", http::HeaderValue::from_static("application/json"));
//! req.body = r#"{"user": "ann"}"#.into();
//! req.options.timeout = std::time::Duration::from_secs(10);
//! let resp = client.request(req).await;
//! for hop in resp.hops() {
//!     stats.exchanged(hop.outcome(), hop.status >= 200 && hop.status < 400, hop.started, hop.ended);
//! }
//! if let Some(e) = &resp.last.error {
//!     eprintln!("{:?}: {}", e.kind, e.message);
//! }
//! # }
//! ```
//!
//! - **One [`Client`] per worker thread.** It keeps one [`Pool`] per origin
//!   (scheme, host, port, TLS verification, protocol), so a script's calls
//!   reuse keep-alive connections exactly as the load path does; its socket
//!   bytes go to the [`IoCounters`] it was given (the worker's, so they land
//!   in the same per-second buckets). A host is resolved once, on its first
//!   request, and kept for the client's life (as a job resolves its target
//!   once). `&self` methods only: the client can sit in an `Rc` or `Arc`.
//! - **Single-threaded callers welcome.** [`Client::request`] needs a tokio
//!   runtime with time and I/O enabled (a worker's current-thread runtime,
//!   inside a `LocalSet` or not): an HTTP/2 connection's driver is spawned on
//!   it. Nothing in the client holds a lock across an await.
//! - **Recording.** The client computes no statistics. Every request sent on
//!   the wire is a [`Hop`] (redirects included: [`HttpResponse::hops`]) with
//!   its outcome and its start and end instants; record each with
//!   [`WorkerStats::exchanged`](crate::stats::WorkerStats::exchanged).
//!
//! # Semantics
//!
//! - `timeout` bounds the whole call, redirects included: resolving,
//!   connecting, sending and reading every response.
//! - Redirects (301, 302, 303, 307, 308 with a `Location`) are followed up to
//!   `max_redirects`; past that the redirect response itself is returned, as
//!   k6 does. 301/302/303 turn the request into a GET without a body (HEAD
//!   stays HEAD); 307/308 keep method and body. Going to another host drops
//!   `Authorization` and `Cookie`.
//! - Hosts: with [`Client::allowing`], a request (or a redirect) to a host
//!   the job's target allow-list refuses is not sent: it ends in
//!   [`ErrorKind::NotAllowed`] naming the host and the list (`status` 0),
//!   a hop like a failed connection, and the refusal is reported to the
//!   job ([`super::allow`]).
//! - A `Host` header given by the caller is sent on HTTP/1.1 (else the URL's
//!   authority); on HTTP/2 the URL's authority is the `:authority`. A
//!   `User-Agent` is added unless given. `Content-Length` is computed from
//!   the body; a given `Transfer-Encoding` is not sent.
//! - The body is kept up to `max_bytes` ([`ResponseBody::Keep`]); a larger
//!   one ends in [`ErrorKind::BodyTooLarge`] with the status and headers kept
//!   and an empty body (over HTTP/1.1 the rest is still read, so the
//!   connection stays reusable). [`ResponseBody::Discard`] reads and drops it.
//! - Errors: [`ExchangeError`] with an [`ErrorKind`] (the per-second buckets
//!   count [`ErrorKind::counted_as`]) and a message naming what failed;
//!   `status` is 0 when no response head arrived.
//! - Timings, as k6 defines them: `blocked` (waiting for a connection:
//!   resolving a new host, the pool), `connecting` (TCP), `tls_handshaking`,
//!   `sending` (writing the request), `waiting` (until the first response
//!   byte), `receiving` (the rest), `duration` = sending + waiting +
//!   receiving. Connecting and TLS are zero on a reused connection. Over
//!   HTTP/2, hyper writes the request in the background: `sending` is zero
//!   and `waiting` runs from handing it over to the response head.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use tokio::sync::OnceCell;

use super::allow::Allow;
use super::error::{ErrorKind, Outcome};
use super::h1;
use super::h1_conn::ResponseSink;
use super::h2;
use super::pool::{Conn, Pool};
use super::transport::{ConnectTimings, Endpoint, IoCounters, ResolveError};

/// Default request timeout (k6's).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default redirects followed (k6's).
pub const DEFAULT_MAX_REDIRECTS: u32 = 10;
/// Default cap on a kept response body (32 MiB).
pub const DEFAULT_MAX_BODY: usize = 32 << 20;
/// Origins a client keeps pools for; past this, one is forgotten (its idle
/// connections closed) for each new one.
const MAX_ORIGINS: usize = 256;

/// What to do with response bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBody {
    /// Keep the body, up to this many bytes.
    Keep {
        /// Larger bodies end in [`ErrorKind::BodyTooLarge`].
        max_bytes: usize,
    },
    /// Read it and drop it (k6's `discardResponseBodies`).
    Discard,
}

/// How a request is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOptions {
    /// Bounds the whole call, redirects included.
    pub timeout: Duration,
    /// Redirects followed at most.
    pub max_redirects: u32,
    /// Verify the server's certificate (webpki roots).
    pub tls_verify: bool,
    /// HTTP/2: ALPN `h2` over TLS (HTTP/1.1 if the server refuses), prior
    /// knowledge over plain HTTP.
    pub http2: bool,
    /// Keep or discard the body.
    pub response_body: ResponseBody,
}

impl Default for RequestOptions {
    fn default() -> Self {
        RequestOptions {
            timeout: DEFAULT_TIMEOUT,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            tls_verify: true,
            http2: false,
            response_body: ResponseBody::Keep { max_bytes: DEFAULT_MAX_BODY },
        }
    }
}

/// A request.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Absolute `http://` or `https://` URL (a fragment is ignored).
    pub url: String,
    /// Headers, in order.
    pub headers: HeaderMap,
    /// Body (may be empty).
    pub body: Bytes,
    /// How to send it.
    pub options: RequestOptions,
}

impl HttpRequest {
    /// A request without headers or body, with the default options.
    pub fn new(method: Method, url: impl Into<String>) -> HttpRequest {
        HttpRequest {
            method,
            url: url.into(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            options: RequestOptions::default(),
        }
    }
}

/// The HTTP version a response came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 (or an HTTP/1.0 server's answer).
    Http11,
    /// HTTP/2.
    Http2,
}

impl Protocol {
    /// As k6 names it: `HTTP/1.1` or `HTTP/2.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http11 => "HTTP/1.1",
            Protocol::Http2 => "HTTP/2.0",
        }
    }
}

/// Where the time of one request went (k6's `timings`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Waiting for a connection (resolving a new host, the pool).
    pub blocked: Duration,
    /// TCP connect (zero on a reused connection).
    pub connecting: Duration,
    /// TLS handshake (zero on a reused or plain connection).
    pub tls_handshaking: Duration,
    /// Writing the request.
    pub sending: Duration,
    /// From the request written to the first byte of the response.
    pub waiting: Duration,
    /// From the first byte to the end of the response.
    pub receiving: Duration,
    /// `sending + waiting + receiving` (k6's `http_req_duration`).
    pub duration: Duration,
}

/// Why a request has no (complete) response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What failed, naming the URL, host or limit.
    pub message: String,
}

/// One request sent on the wire.
#[derive(Debug, Clone)]
pub struct Hop {
    /// Method sent.
    pub method: Method,
    /// URL requested.
    pub url: String,
    /// Response status; 0 when no response head arrived.
    pub status: u16,
    /// The version spoken, once connected.
    pub proto: Option<Protocol>,
    /// The server's address, once connected.
    pub remote_addr: Option<SocketAddr>,
    /// Where the time went.
    pub timings: Timings,
    /// Why it failed, if it did.
    pub error: Option<ExchangeError>,
    /// When this request started (before waiting for a connection).
    pub started: Instant,
    /// When its response ended (or it failed).
    pub ended: Instant,
}

impl Hop {
    fn new(method: Method, url: String) -> Hop {
        let now = Instant::now();
        Hop {
            method,
            url,
            status: 0,
            proto: None,
            remote_addr: None,
            timings: Timings::default(),
            error: None,
            started: now,
            ended: now,
        }
    }

    /// What the statistics count: the status, or the error kind.
    pub fn outcome(&self) -> Outcome {
        match &self.error {
            Some(e) => Outcome::Error(e.kind),
            None => Outcome::Status(self.status),
        }
    }
}

/// The answer to [`Client::request`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The last request of the chain: its URL, status, protocol, address,
    /// timings and error.
    pub last: Hop,
    /// Its response headers.
    pub headers: HeaderMap,
    /// Its body (empty when discarded, too large, or on error).
    pub body: Bytes,
    /// The requests before it (redirects followed), oldest first.
    pub redirects: Vec<Hop>,
}

impl HttpResponse {
    /// The final status (0 when no response head arrived).
    pub fn status(&self) -> u16 {
        self.last.status
    }

    /// Every request sent, oldest first: the redirects, then the last one.
    pub fn hops(&self) -> impl Iterator<Item = &Hop> {
        self.redirects.iter().chain(std::iter::once(&self.last))
    }
}

/// Pools by origin.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Origin {
    https: bool,
    authority: String,
    tls_verify: bool,
    http2: bool,
}

/// One worker's client for full exchanges: a pool per origin.
pub struct Client {
    counters: Arc<IoCounters>,
    /// The job's target allow-list: an origin it refuses gets no pool.
    allow: Arc<Allow>,
    pools: Mutex<HashMap<Origin, Arc<OnceCell<Arc<Pool>>>>>,
    /// Parsed URLs by their text: a script sends the same URLs again and
    /// again, and parsing one (IDNA included) costs more instructions than
    /// the rest of its request's preparation (callgrind).
    urls: Mutex<HashMap<String, url::Url>>,
}

/// URLs [`Client`] keeps parsed (the map is emptied when full).
const MAX_PARSED_URLS: usize = 256;

impl Client {
    /// A client whose connections count their bytes in `counters`.
    pub fn new(counters: Arc<IoCounters>) -> Client {
        Client { counters, allow: Allow::open(), pools: Mutex::new(HashMap::new()), urls: Mutex::new(HashMap::new()) }
    }

    /// This client, sending only to the hosts `allow` lets through (redirects
    /// included): a request to another host is not sent; it ends in
    /// [`ErrorKind::NotAllowed`] and is reported to `allow`.
    pub fn allowing(mut self, allow: Arc<Allow>) -> Client {
        self.allow = allow;
        self
    }

    /// Drops every idle connection and forgets every origin.
    pub fn clear(&self) {
        let pools: Vec<_> = self.pools.lock().expect("client lock").drain().collect();
        for (_, cell) in pools {
            if let Some(pool) = cell.get() {
                pool.clear();
            }
        }
    }

    /// Sends `req`, following redirects; never panics on bad input (it is
    /// an [`ErrorKind::InvalidRequest`]).
    pub async fn request(&self, req: HttpRequest) -> HttpResponse {
        let HttpRequest { mut method, url, mut headers, mut body, options } = req;
        let deadline = tokio::time::Instant::now() + options.timeout;
        let mut redirects = Vec::new();
        let mut url = match self.parse_url(&url) {
            Ok(u) => u,
            Err(message) => {
                let mut hop = Hop::new(method, url);
                hop.error = Some(ExchangeError { kind: ErrorKind::InvalidRequest, message });
                return HttpResponse { last: hop, headers: HeaderMap::new(), body: Bytes::new(), redirects };
            }
        };
        loop {
            let follow = redirects.len() < options.max_redirects as usize;
            let wire =
                OnWire { method: &method, url: &url, headers: &headers, body: &body, options: &options, deadline };
            let mut resp = self.send_once(&wire, follow).await;
            let location = match redirect_location(&resp, follow) {
                Some(l) => l,
                None => return HttpResponse { redirects, ..resp },
            };
            let next = match url.join(&location).map_err(|e| e.to_string()).and_then(check_scheme) {
                Ok(u) => u,
                Err(why) => {
                    resp.last.error = Some(ExchangeError {
                        kind: ErrorKind::InvalidRequest,
                        message: format!("redirect to {location:?} from {url}: {why}"),
                    });
                    return HttpResponse { redirects, ..resp };
                }
            };
            if matches!(resp.last.status, 301..=303) {
                if method != Method::HEAD {
                    method = Method::GET;
                }
                body = Bytes::new();
                headers.remove(header::CONTENT_TYPE);
                headers.remove(header::CONTENT_LENGTH);
            }
            if next.host_str() != url.host_str() {
                // Credentials are for the host they were given for.
                headers.remove(header::AUTHORIZATION);
                headers.remove(header::COOKIE);
            }
            redirects.push(resp.last);
            url = next;
        }
    }

    /// `url` parsed, from the cache when it was parsed before.
    fn parse_url(&self, url: &str) -> Result<url::Url, String> {
        if let Some(u) = self.urls.lock().expect("urls lock").get(url) {
            return Ok(u.clone());
        }
        let u = parse_url(url)?;
        let mut urls = self.urls.lock().expect("urls lock");
        if urls.len() >= MAX_PARSED_URLS {
            urls.clear();
        }
        urls.insert(url.to_string(), u.clone());
        Ok(u)
    }

    /// The pool for `uri`'s origin, resolving its host on first use.
    async fn pool(&self, uri: &Uri, https: bool, options: &RequestOptions) -> Result<Arc<Pool>, ResolveError> {
        let origin = Origin {
            https,
            authority: uri.authority().map(|a| a.as_str().to_ascii_lowercase()).unwrap_or_default(),
            tls_verify: options.tls_verify || !https,
            http2: options.http2,
        };
        let cell = {
            let mut pools = self.pools.lock().expect("client lock");
            if !pools.contains_key(&origin) && pools.len() >= MAX_ORIGINS {
                let forget = pools.keys().next().cloned();
                if let Some(cell) = forget.and_then(|k| pools.remove(&k))
                    && let Some(pool) = cell.get()
                {
                    pool.clear();
                }
            }
            pools.entry(origin).or_default().clone()
        };
        cell.get_or_try_init(|| async {
            let ep = Endpoint::resolve(uri, options.http2, options.tls_verify, self.allow.policy()).await?;
            Ok(Arc::new(Pool::new(Arc::new(ep), self.counters.clone())))
        })
        .await
        .cloned()
    }

    /// One request on the wire; `follow` tells whether a redirect would be
    /// followed (then its body is not kept).
    async fn send_once(&self, wire: &OnWire<'_>, follow: bool) -> HttpResponse {
        let OnWire { url, options, .. } = *wire;
        let mut hop = Hop::new(wire.method.clone(), url.to_string());
        let mut sink = Collect::new(options.response_body, follow);
        let result = self.exchange(wire, &mut hop, &mut sink).await;
        hop.ended = Instant::now();
        let t = &mut hop.timings;
        t.duration = t.sending + t.waiting + t.receiving;
        match result {
            Ok(status) => {
                hop.status = status;
                if sink.too_large {
                    let max = match options.response_body {
                        ResponseBody::Keep { max_bytes } => max_bytes,
                        ResponseBody::Discard => 0,
                    };
                    hop.error = Some(ExchangeError {
                        kind: ErrorKind::BodyTooLarge,
                        message: format!("response body of {url} is larger than {max} bytes"),
                    });
                    sink.body.clear();
                }
            }
            Err((kind, detail)) => {
                hop.error = Some(ExchangeError { kind, message: error_message(kind, url, options, detail) });
                sink.body.clear();
            }
        }
        HttpResponse { last: hop, headers: sink.headers, body: Bytes::from(sink.body), redirects: Vec::new() }
    }

    /// Resolves, checks out a connection and exchanges; fills `hop`'s
    /// protocol, address and timings as it goes.
    async fn exchange(
        &self,
        wire: &OnWire<'_>,
        hop: &mut Hop,
        sink: &mut Collect,
    ) -> Result<u16, (ErrorKind, Option<String>)> {
        let OnWire { url, headers, body, options, deadline, .. } = *wire;
        let uri: Uri =
            url.as_str().parse().map_err(|e| (ErrorKind::InvalidRequest, Some(format!("{url} is not a URI: {e}"))))?;
        let https = url.scheme() == "https";
        let pool = match tokio::time::timeout_at(deadline, self.pool(&uri, https, options)).await {
            Err(_) => return Err((ErrorKind::Timeout, None)),
            Ok(Err(ResolveError::Url(m))) => return Err((ErrorKind::InvalidRequest, Some(m))),
            Ok(Err(ResolveError::Dns(m))) => return Err((ErrorKind::Dns, Some(m))),
            Ok(Err(ResolveError::NotAllowed(m))) => {
                let m = format!("{m}: the request was not sent");
                self.allow.refused(&m);
                return Err((ErrorKind::NotAllowed, Some(m)));
            }
            Ok(Ok(pool)) => pool,
        };
        let conn = pool.checkout(deadline).await.map_err(|k| (k, None))?;
        let checked_out = Instant::now();
        let opened = |o: Option<ConnectTimings>, hop: &mut Hop| {
            let o = o.unwrap_or_default();
            hop.timings.connecting = o.connecting;
            hop.timings.tls_handshaking = o.tls_handshaking;
            hop.timings.blocked =
                (checked_out - hop.started).saturating_sub(o.connecting).saturating_sub(o.tls_handshaking);
        };
        match conn {
            Conn::H1(mut c) => {
                opened(c.take_opened(), hop);
                hop.proto = Some(Protocol::Http11);
                hop.remote_addr = Some(c.remote());
                let wire = encode_h1(&hop.method, &uri, headers, body);
                let head = hop.method == Method::HEAD;
                let result = c.exchange_with(&wire, head, deadline, sink).await;
                let end = Instant::now();
                let written = sink.written.unwrap_or(end);
                let first = sink.first_byte.unwrap_or(end);
                hop.timings.sending = written.saturating_duration_since(checked_out);
                hop.timings.waiting = first.saturating_duration_since(written);
                hop.timings.receiving = end.saturating_duration_since(first);
                let status = result.map_err(|k| (k, None))?;
                pool.checkin(c);
                Ok(status)
            }
            Conn::H2 { mut sender, remote, opened: o } => {
                opened(o, hop);
                hop.proto = Some(Protocol::Http2);
                hop.remote_addr = Some(remote);
                let req = h2_request(&hop.method, uri, headers, body);
                let resp = tokio::time::timeout_at(deadline, h2::send_request(&mut sender, req))
                    .await
                    .map_err(|_| (ErrorKind::Timeout, None))?
                    .map_err(|k| (k, None))?;
                let head_at = Instant::now();
                hop.timings.waiting = head_at - checked_out;
                let status = resp.status().as_u16();
                sink.headers = resp.headers().clone();
                sink.head(status);
                let mut frames = resp.into_body();
                let read = async {
                    while let Some(frame) = frames.frame().await {
                        let frame = frame.map_err(|e| h2::classify(&e))?;
                        if let Some(d) = frame.data_ref() {
                            sink.data(d);
                            if sink.too_large {
                                // Dropping the stream resets it; the connection stays.
                                break;
                            }
                        }
                    }
                    Ok(())
                };
                let read = tokio::time::timeout_at(deadline, read).await;
                hop.timings.receiving = head_at.elapsed();
                read.map_err(|_| (ErrorKind::Timeout, None))?.map_err(|k| (k, None))?;
                Ok(status)
            }
        }
    }
}

/// One request of a chain, as it goes on the wire.
#[derive(Clone, Copy)]
struct OnWire<'a> {
    method: &'a Method,
    url: &'a url::Url,
    headers: &'a HeaderMap,
    body: &'a Bytes,
    options: &'a RequestOptions,
    /// Of the whole call.
    deadline: tokio::time::Instant,
}

/// Parses a request URL: absolute, `http` or `https`, fragment dropped.
fn parse_url(url: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    check_scheme(u).map_err(|e| format!("{url:?} {e}"))
}

fn check_scheme(mut u: url::Url) -> Result<url::Url, String> {
    if !matches!(u.scheme(), "http" | "https") {
        return Err("must start with http:// or https://".into());
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    u.set_fragment(None);
    Ok(u)
}

/// The `Location` to follow, when the response is a redirect and
/// redirects are left.
fn redirect_location(resp: &HttpResponse, follow: bool) -> Option<String> {
    if !follow || resp.last.error.is_some() || !matches!(resp.last.status, 301..=303 | 307 | 308) {
        return None;
    }
    resp.headers.get(header::LOCATION)?.to_str().ok().map(str::to_string)
}

/// The request serialised for HTTP/1.1, with Host and User-Agent unless given.
fn encode_h1(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let mut all = HeaderMap::with_capacity(headers.len() + 2);
    if !headers.contains_key(header::HOST)
        && let Some(host) = uri.authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        all.insert(header::HOST, host);
    }
    if !headers.contains_key(header::USER_AGENT) {
        all.insert(header::USER_AGENT, HeaderValue::from_static(crate::USER_AGENT));
    }
    for (k, v) in headers {
        all.append(k.clone(), v.clone());
    }
    let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut out = Vec::new();
    h1::encode_request(method, target, &all, body, &mut out);
    out
}

/// The request for HTTP/2: absolute URI, no connection-specific headers.
fn h2_request(method: &Method, uri: Uri, headers: &HeaderMap, body: &Bytes) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(body.clone()));
    *req.method_mut() = method.clone();
    *req.uri_mut() = uri;
    let h = req.headers_mut();
    if !headers.contains_key(header::USER_AGENT) {
        h.insert(header::USER_AGENT, HeaderValue::from_static(crate::USER_AGENT));
    }
    const CONNECTION_SPECIFIC: [&str; 6] =
        ["host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"];
    for (k, v) in headers {
        if !CONNECTION_SPECIFIC.contains(&k.as_str()) {
            h.append(k.clone(), v.clone());
        }
    }
    req
}

/// What a failure of `kind` says, naming the URL, host or limit.
fn error_message(kind: ErrorKind, url: &url::Url, options: &RequestOptions, detail: Option<String>) -> String {
    if let Some(d) = detail {
        return d;
    }
    let host = url.host_str().unwrap_or("");
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    match kind {
        ErrorKind::Connect => format!("cannot connect to {authority}"),
        ErrorKind::Timeout => {
            format!(
                "request timeout: no complete response within {}",
                alilo_agent_api::format_duration(options.timeout)
            )
        }
        ErrorKind::Tls => format!("TLS handshake with {authority} failed (certificate or protocol)"),
        ErrorKind::Reset => format!("connection to {authority} reset or closed before the response ended"),
        ErrorKind::Dns => format!("cannot resolve {host}"),
        ErrorKind::BodyTooLarge => format!("response body of {url} is too large"),
        ErrorKind::InvalidRequest => format!("{url} cannot be requested"),
        ErrorKind::NotAllowed => format!("{host} is not on the job's target allow-list: the request was not sent"),
        ErrorKind::Other => format!("malformed or unexpected response from {authority}"),
    }
}

/// Collects a response: headers, the body (kept, capped or dropped) and
/// the timing points of an HTTP/1.1 exchange.
struct Collect {
    keep: Option<usize>,
    follow: bool,
    redirect: bool,
    headers: HeaderMap,
    body: Vec<u8>,
    too_large: bool,
    written: Option<Instant>,
    first_byte: Option<Instant>,
}

impl Collect {
    fn new(mode: ResponseBody, follow: bool) -> Collect {
        let keep = match mode {
            ResponseBody::Keep { max_bytes } => Some(max_bytes),
            ResponseBody::Discard => None,
        };
        Collect {
            keep,
            follow,
            redirect: false,
            headers: HeaderMap::new(),
            body: Vec::new(),
            too_large: false,
            written: None,
            first_byte: None,
        }
    }
}

impl ResponseSink for Collect {
    fn written(&mut self) {
        self.written = Some(Instant::now());
    }
    fn first_byte(&mut self) {
        self.first_byte.get_or_insert_with(Instant::now);
    }
    fn header(&mut self, name: &[u8], value: &[u8]) {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            self.headers.append(n, v);
        }
    }
    fn interim(&mut self) {
        self.headers.clear();
    }
    fn head(&mut self, status: u16) {
        // A redirect that will be followed needs no body.
        self.redirect =
            self.follow && matches!(status, 301..=303 | 307 | 308) && self.headers.contains_key(header::LOCATION);
    }
    fn data(&mut self, bytes: &[u8]) {
        let Some(max) = self.keep else {
            return;
        };
        if self.redirect || self.too_large {
            return;
        }
        if self.body.len() + bytes.len() > max {
            self.too_large = true;
            self.body = Vec::new();
            return;
        }
        self.body.extend_from_slice(bytes);
    }
}
