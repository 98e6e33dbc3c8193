//! The load client: connections to the target, with keep-alive reuse ours to
//! control (a per-worker pool of idle HTTP/1.1 connections of our own
//! [`H1Conn`], or one shared HTTP/2 connection driven by hyper's low-level
//! `client::conn` API), TLS via rustls with the `ring` provider, and every
//! socket byte counted.
//!
//! The client computes no statistics: it returns an [`Outcome`] and the
//! engine folds it into the per-second buckets.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::h1_conn::H1Conn;

/// Connections open to targets, all jobs (shown by `GET /v1/agent`).
pub static OPEN_CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// Kinds of failure, as counted in the buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// TCP connect failed.
    Connect,
    /// Request timeout.
    Timeout,
    /// TLS handshake / certificate.
    Tls,
    /// Connection reset or closed mid-exchange.
    Reset,
    /// Anything else.
    Other,
}

/// What one request ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A complete response with this status.
    Status(u16),
    /// No (complete) response.
    Error(ErrorKind),
}

/// Where requests go: resolved once at job start.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Resolved addresses (the first one that connects is used).
    pub addrs: Vec<SocketAddr>,
    /// `host[:port]` exactly as in the URL, for the Host header / :authority.
    pub authority: String,
    /// TLS configuration for `https` URLs.
    pub tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    /// HTTP/2 requested.
    pub http2: bool,
}

impl Endpoint {
    /// Resolves `uri`'s host and prepares TLS.
    pub async fn resolve(uri: &Uri, http2: bool, tls_verify: bool) -> Result<Endpoint, String> {
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(format!("URL {uri} must start with http:// or https://")),
        };
        let authority = uri.authority().ok_or_else(|| format!("URL {uri} has no host"))?.clone();
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let addrs: Vec<SocketAddr> =
            tokio::net::lookup_host((host, port)).await.map_err(|e| format!("cannot resolve {host}: {e}"))?.collect();
        if addrs.is_empty() {
            return Err(format!("cannot resolve {host}: no address"));
        }
        let tls = if https {
            let name =
                ServerName::try_from(host.to_string()).map_err(|e| format!("invalid TLS server name {host}: {e}"))?;
            Some((tls_config(tls_verify, http2), name))
        } else {
            None
        };
        Ok(Endpoint { addrs, authority: authority.as_str().to_string(), tls, http2 })
    }
}

/// A rustls client configuration (ring provider) with ALPN set for the
/// requested version.
pub fn tls_config(verify: bool, http2: bool) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let mut cfg = if verify {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerify(provider))).with_no_client_auth()
    };
    cfg.alpn_protocols = if http2 { vec![b"h2".to_vec(), b"http/1.1".to_vec()] } else { vec![b"http/1.1".to_vec()] };
    Arc::new(cfg)
}

/// Accepts any certificate (`tls_verify: false`) but still checks the
/// handshake signatures.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Bytes read from and written to target sockets by one worker.
#[derive(Debug, Default)]
pub struct IoCounters {
    /// Bytes read.
    pub read: AtomicU64,
    /// Bytes written.
    pub written: AtomicU64,
}

/// A stream wrapper that counts bytes (so TLS and headers are included).
pub struct Counted<S> {
    inner: S,
    counters: Arc<IoCounters>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            self.counters.read.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.counters.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            self.counters.written.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A ready-to-use connection.
pub enum Sender {
    /// HTTP/1.1: one request at a time.
    H1(http1::SendRequest<Full<Bytes>>),
    /// HTTP/2: multiplexed, cheap to clone.
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }
}

/// Counts a connection in [`OPEN_CONNECTIONS`] while alive.
pub struct ConnGuard;
impl ConnGuard {
    /// Counts one more open connection.
    pub fn open() -> ConnGuard {
        OPEN_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        ConnGuard
    }
}
impl Drop for ConnGuard {
    fn drop(&mut self) {
        OPEN_CONNECTIONS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A TCP stream, with or without TLS, counting its bytes.
pub enum Io {
    /// Plain TCP.
    Plain(Counted<TcpStream>),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::client::TlsStream<Counted<TcpStream>>>),
}

impl AsyncRead for Io {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Opens TCP (and TLS). The flag tells whether HTTP/2 is to be spoken
/// (requested over plain HTTP, or negotiated by ALPN).
pub async fn connect_io(ep: &Endpoint, counters: &Arc<IoCounters>) -> Result<(Io, bool), ErrorKind> {
    let mut last = None;
    let mut tcp = None;
    for addr in &ep.addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(tcp) = tcp else {
        tracing::debug!(error = ?last, "connect failed");
        return Err(ErrorKind::Connect);
    };
    let _ = tcp.set_nodelay(true);
    let io = Counted { inner: tcp, counters: counters.clone() };
    match &ep.tls {
        None => Ok((Io::Plain(io), ep.http2)),
        Some((cfg, name)) => {
            let tls = tokio_rustls::TlsConnector::from(cfg.clone()).connect(name.clone(), io).await.map_err(|e| {
                tracing::debug!(error = %e, "TLS handshake failed");
                ErrorKind::Tls
            })?;
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            Ok((Io::Tls(Box::new(tls)), h2))
        }
    }
}

/// Opens a connection (TCP, TLS, HTTP handshake) and spawns its driver on the
/// current runtime.
pub async fn connect(ep: &Endpoint, counters: &Arc<IoCounters>) -> Result<Sender, ErrorKind> {
    let (io, h2) = connect_io(ep, counters).await?;
    handshake(io, h2).await
}

async fn handshake<S>(io: S, h2: bool) -> Result<Sender, ErrorKind>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    if h2 {
        let (send, conn) = http2::Builder::new(TokioExecutor::new())
            .initial_stream_window_size(1 << 20)
            .initial_connection_window_size(4 << 20)
            .handshake(io)
            .await
            .map_err(|e| classify(&e))?;
        OPEN_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let _g = ConnGuard;
            let _ = conn.await;
        });
        Ok(Sender::H2(send))
    } else {
        let (send, conn) = http1::Builder::new().handshake(io).await.map_err(|e| classify(&e))?;
        OPEN_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let _g = ConnGuard;
            let _ = conn.await;
        });
        Ok(Sender::H1(send))
    }
}

/// Maps a socket error to an error kind.
pub fn io_error_kind(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => ErrorKind::Reset,
        io::ErrorKind::TimedOut => ErrorKind::Timeout,
        _ => ErrorKind::Other,
    }
}

/// Maps a hyper error to an error kind.
pub fn classify(e: &hyper::Error) -> ErrorKind {
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return io_error_kind(io);
        }
        src = s.source();
    }
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        return ErrorKind::Reset;
    }
    ErrorKind::Other
}

/// Connections of one worker: idle HTTP/1.1 senders, or the shared HTTP/2 one.
pub struct Pool {
    ep: Arc<Endpoint>,
    counters: Arc<IoCounters>,
    idle: Mutex<Vec<http1::SendRequest<Full<Bytes>>>>,
    h2: tokio::sync::Mutex<Option<http2::SendRequest<Full<Bytes>>>>,
    h1_fallback: std::sync::atomic::AtomicBool,
    /// Idle connections of the HTTP/1.1 load path, most recently used last.
    h1_idle: Mutex<std::collections::VecDeque<(H1Conn, std::time::Instant)>>,
}

/// Idle HTTP/1.1 connections unused for this long are closed, so a burst's
/// connections (and their buffers) do not stay forever.
const IDLE_TTL: Duration = Duration::from_secs(5);

impl Pool {
    /// An empty pool.
    pub fn new(ep: Arc<Endpoint>, counters: Arc<IoCounters>) -> Pool {
        Pool {
            ep,
            counters,
            idle: Mutex::new(Vec::new()),
            h2: tokio::sync::Mutex::new(None),
            h1_fallback: std::sync::atomic::AtomicBool::new(false),
            h1_idle: Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    /// An idle or new connection.
    pub async fn get(&self) -> Result<Sender, ErrorKind> {
        if self.ep.http2 && !self.h1_fallback.load(Ordering::Relaxed) {
            let mut g = self.h2.lock().await;
            if let Some(s) = g.as_ref()
                && !s.is_closed()
            {
                return Ok(Sender::H2(s.clone()));
            }
            let s = connect(&self.ep, &self.counters).await?;
            match &s {
                Sender::H2(h) => *g = Some(h.clone()),
                // ALPN chose HTTP/1.1: pool like HTTP/1.1 from now on.
                Sender::H1(_) => self.h1_fallback.store(true, Ordering::Relaxed),
            }
            return Ok(s);
        }
        loop {
            let s = self.idle.lock().expect("pool lock").pop();
            match s {
                Some(s) if !s.is_closed() => return Ok(Sender::H1(s)),
                Some(_) => continue,
                None => return connect(&self.ep, &self.counters).await,
            }
        }
    }

    /// Returns a connection whose exchange completed.
    pub fn put(&self, s: Sender) {
        if let Sender::H1(s) = s
            && !s.is_closed()
        {
            self.idle.lock().expect("pool lock").push(s);
        }
    }

    /// Drops every idle connection.
    pub fn clear(&self) {
        self.idle.lock().expect("pool lock").clear();
        self.h1_idle.lock().expect("pool lock").clear();
        if let Ok(mut g) = self.h2.try_lock() {
            *g = None;
        }
    }
}

/// Sends one request on `sender` and reads the whole response.
pub async fn exchange(sender: &mut Sender, req: Request<Full<Bytes>>) -> Result<u16, ErrorKind> {
    let resp = match sender {
        Sender::H1(s) => {
            s.ready().await.map_err(|e| classify(&e))?;
            s.send_request(req).await
        }
        Sender::H2(s) => {
            s.ready().await.map_err(|e| classify(&e))?;
            s.send_request(req).await
        }
    }
    .map_err(|e| classify(&e))?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        frame.map_err(|e| classify(&e))?;
    }
    Ok(status)
}

/// HTTP/2 (or HTTP/1.1 where ALPN refused h2): one request with a shared or
/// pooled hyper connection under a timeout.
pub async fn send(pool: &Pool, req: Request<Full<Bytes>>, timeout: Duration) -> Outcome {
    let work = async {
        let mut s = pool.get().await?;
        let status = exchange(&mut s, req).await?;
        pool.put(s);
        Ok::<u16, ErrorKind>(status)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(status)) => Outcome::Status(status),
        Ok(Err(kind)) => Outcome::Error(kind),
        Err(_) => Outcome::Error(ErrorKind::Timeout),
    }
}

/// HTTP/1.1: one serialised request on an idle or new connection of the pool.
pub async fn send_h1(pool: &Pool, request: &[u8], head_request: bool, timeout: Duration) -> Outcome {
    let deadline = tokio::time::Instant::now() + timeout;
    let idle = loop {
        let c = pool.h1_idle.lock().expect("pool lock").pop_back();
        match c {
            Some((mut c, _)) => {
                if c.alive() {
                    break Some(c);
                }
            }
            None => break None,
        }
    };
    let mut c = match idle {
        Some(c) => c,
        None => match H1Conn::open(&pool.ep, &pool.counters, deadline).await {
            Ok(c) => c,
            Err(k) => return Outcome::Error(k),
        },
    };
    let outcome = match c.exchange(request, head_request, deadline).await {
        Ok(status) => Outcome::Status(status),
        Err(k) => return Outcome::Error(k),
    };
    if c.reusable() {
        // The most recently used is reused first; the least recently used age out.
        let now = std::time::Instant::now();
        let mut q = pool.h1_idle.lock().expect("pool lock");
        for _ in 0..4 {
            match q.front() {
                Some((_, since)) if now.duration_since(*since) > IDLE_TTL => drop(q.pop_front()),
                _ => break,
            }
        }
        q.push_back((c, now));
    }
    outcome
}

/// Fetches a (data) file with a timeout, a size cap and a status check.
pub async fn fetch(url: &str, tls_verify: bool, timeout: Duration, max_bytes: usize) -> Result<Bytes, String> {
    let uri: Uri = url.parse().map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    let work = async {
        let ep = Endpoint::resolve(&uri, false, tls_verify).await?;
        let counters = Arc::new(IoCounters::default());
        let mut s = connect(&ep, &counters).await.map_err(|k| format!("cannot connect to {url}: {k:?}"))?;
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let req = Request::get(path)
            .header(http::header::HOST, ep.authority.as_str())
            .header(http::header::USER_AGENT, crate::USER_AGENT)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let resp = match &mut s {
            Sender::H1(s) => s.send_request(req).await,
            Sender::H2(s) => s.send_request(req).await,
        }
        .map_err(|e| format!("fetching {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("fetching {url}: status {}", resp.status()));
        }
        let mut body = resp.into_body();
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("fetching {url}: {e}"))?;
            if let Some(d) = frame.data_ref() {
                if out.len() + d.len() > max_bytes {
                    return Err(format!("{url} is larger than {max_bytes} bytes"));
                }
                out.extend_from_slice(d);
            }
        }
        Ok(Bytes::from(out))
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| format!("fetching {url} took longer than {timeout:?}"))?
}
