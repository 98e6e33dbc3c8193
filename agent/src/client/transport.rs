//! The transport layer: where requests go ([`Endpoint`], resolved once) and
//! the byte stream to it — TCP, with TLS by rustls (ring provider) for
//! `https`, every socket byte counted ([`Counted`], [`IoCounters`]) and every
//! open connection counted ([`OPEN_CONNECTIONS`]).
//!
//! Nothing here speaks HTTP: [`connect`] returns an [`Io`] stream and whether
//! ALPN chose HTTP/2; the HTTP/1.1 ([`super::h1_conn`]) and HTTP/2
//! ([`super::h2`]) layers sit on top of it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use alilo_agent_api::targets::Policy;
use http::Uri;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::error::ErrorKind;

/// Connections open to targets, all jobs (shown by `GET /v1/agent`).
pub static OPEN_CONNECTIONS: AtomicU64 = AtomicU64::new(0);

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

/// Why an endpoint could not be prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// The URL cannot be used (scheme, host, TLS name).
    Url(String),
    /// The host name does not resolve.
    Dns(String),
    /// The host is not on the job's target allow-list (the message names
    /// the host and the list).
    NotAllowed(String),
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::Url(m) | ResolveError::Dns(m) | ResolveError::NotAllowed(m) => f.write_str(m),
        }
    }
}

impl Endpoint {
    /// Resolves `uri`'s host and prepares TLS. The host must pass `allow`:
    /// by name before resolving it, else by the addresses it resolves to,
    /// of which only those the lists allow are kept.
    pub async fn resolve(uri: &Uri, http2: bool, tls_verify: bool, allow: &Policy) -> Result<Endpoint, ResolveError> {
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(ResolveError::Url(format!("URL {uri} must start with http:// or https://"))),
        };
        let authority = uri.authority().ok_or_else(|| ResolveError::Url(format!("URL {uri} has no host")))?.clone();
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        if let Some(why) = allow.refuses_by_name(host) {
            return Err(ResolveError::NotAllowed(why));
        }
        let tls = if https {
            let name = ServerName::try_from(host.to_string())
                .map_err(|e| ResolveError::Url(format!("invalid TLS server name {host}: {e}")))?;
            Some((tls_config(tls_verify, http2), name))
        } else {
            None
        };
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| ResolveError::Dns(format!("cannot resolve {host}: {e}")))?
            .collect();
        if addrs.is_empty() {
            return Err(ResolveError::Dns(format!("cannot resolve {host}: no address")));
        }
        let addrs = allow.admit(host, addrs, SocketAddr::ip).map_err(ResolveError::NotAllowed)?;
        Ok(Endpoint { addrs, authority: authority.as_str().to_string(), tls, http2 })
    }
}

/// The rustls client configuration (ring provider) with ALPN set for the
/// requested version. One per combination for the whole process, so TLS
/// sessions are resumed across jobs and pools.
pub fn tls_config(verify: bool, http2: bool) -> Arc<rustls::ClientConfig> {
    static CONFIGS: [[OnceLock<Arc<rustls::ClientConfig>>; 2]; 2] =
        [[OnceLock::new(), OnceLock::new()], [OnceLock::new(), OnceLock::new()]];
    CONFIGS[usize::from(verify)][usize::from(http2)].get_or_init(|| build_tls_config(verify, http2)).clone()
}

fn build_tls_config(verify: bool, http2: bool) -> Arc<rustls::ClientConfig> {
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

/// Counts a connection in [`OPEN_CONNECTIONS`] while alive.
pub struct ConnGuard(());

impl ConnGuard {
    /// Counts one more open connection.
    pub fn open() -> ConnGuard {
        OPEN_CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        ConnGuard(())
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

/// How long opening a connection took, step by step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectTimings {
    /// TCP connect (every address tried).
    pub connecting: Duration,
    /// TLS handshake (zero for plain TCP).
    pub tls_handshaking: Duration,
}

/// A freshly opened stream.
pub struct Connected {
    /// The stream.
    pub io: Io,
    /// Whether HTTP/2 is to be spoken: requested over plain HTTP (prior
    /// knowledge), or negotiated by ALPN over TLS.
    pub h2: bool,
    /// The address that accepted the connection.
    pub remote: SocketAddr,
    /// How long it took.
    pub timings: ConnectTimings,
}

/// Opens TCP (and TLS) to `ep`.
pub async fn connect(ep: &Endpoint, counters: &Arc<IoCounters>) -> Result<Connected, ErrorKind> {
    let started = Instant::now();
    let mut last = None;
    let mut tcp = None;
    for addr in &ep.addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                tcp = Some((s, *addr));
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some((tcp, remote)) = tcp else {
        tracing::debug!(error = ?last, "connect failed");
        return Err(ErrorKind::Connect);
    };
    let _ = tcp.set_nodelay(true);
    let connected = Instant::now();
    let connecting = connected - started;
    let io = Counted { inner: tcp, counters: counters.clone() };
    match &ep.tls {
        None => Ok(Connected {
            io: Io::Plain(io),
            h2: ep.http2,
            remote,
            timings: ConnectTimings { connecting, tls_handshaking: Duration::ZERO },
        }),
        Some((cfg, name)) => {
            let tls = tokio_rustls::TlsConnector::from(cfg.clone()).connect(name.clone(), io).await.map_err(|e| {
                tracing::debug!(error = %e, "TLS handshake failed");
                ErrorKind::Tls
            })?;
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            Ok(Connected {
                io: Io::Tls(Box::new(tls)),
                h2,
                remote,
                timings: ConnectTimings { connecting, tls_handshaking: connected.elapsed() },
            })
        }
    }
}
