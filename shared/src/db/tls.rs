//! Postgres over TLS (rustls), as libpq's `sslmode` asks: RDS enforces TLS.
//!
//! tokio-postgres knows `disable`, `prefer` and `require` only, and no CA file, so
//! [`TlsSettings::split`] takes `sslmode` and `sslrootcert` out of the DSN (or
//! `PGSSLMODE` / `PGSSLROOTCERT`, libpq's own variables) and this module builds
//! the connector:
//!
//! | sslmode | TLS | certificate checked |
//! |---|---|---|
//! | `disable`, `allow`, `prefer` (default) | no | — |
//! | `require` | yes | no (encryption only, as libpq without a root file) |
//! | `verify-ca` | yes | chain to `sslrootcert` (else the Mozilla roots); any host name |
//! | `verify-full` | yes | chain and host name |
//!
//! `prefer` stays plain so a local server without TLS needs nothing.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::CertificateError;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// libpq's `sslmode`, all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "disable" | "allow" => Ok(Self::Disable),
            "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            "verify-ca" => Ok(Self::VerifyCa),
            "verify-full" => Ok(Self::VerifyFull),
            other => {
                Err(format!("sslmode={other:?} is invalid: use disable, prefer, require, verify-ca or verify-full"))
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// Whether connections use TLS at all.
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Require | Self::VerifyCa | Self::VerifyFull)
    }
}

/// What the DSN (or the environment) asks of TLS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsSettings {
    pub mode: SslMode,
    /// `sslrootcert`: a PEM file of the CAs to trust (e.g. the RDS bundle).
    pub root_cert: Option<String>,
}

impl TlsSettings {
    /// Take `sslmode` and `sslrootcert` out of a DSN (URL or key=value form): the
    /// DSN tokio-postgres can parse, and the settings. `env_mode` / `env_root` are
    /// `PGSSLMODE` / `PGSSLROOTCERT`, used when the DSN names none.
    pub fn split(raw: &str, env_mode: Option<&str>, env_root: Option<&str>) -> Result<(String, Self), String> {
        let (rest, found) = if raw.contains("://") { split_url(raw) } else { split_key_values(raw) };
        let mut mode = None;
        let mut root_cert = None;
        for (key, value) in found {
            match key.as_str() {
                "sslmode" => mode = Some(SslMode::parse(&value).map_err(|e| format!("PG_DSN: {e}"))?),
                _ => root_cert = Some(value).filter(|v| !v.is_empty()),
            }
        }
        let mode = match (mode, env_mode) {
            (Some(m), _) => m,
            (None, Some(m)) => SslMode::parse(m).map_err(|e| format!("PGSSLMODE: {e}"))?,
            (None, None) => SslMode::Prefer,
        };
        let root_cert = root_cert.or_else(|| env_root.map(str::to_string).filter(|v| !v.trim().is_empty()));
        Ok((rest, Self { mode, root_cert }))
    }

    /// The rustls connector these settings need, or `None` for a plain connection.
    pub fn connector(&self) -> Result<Option<MakeRustls>, String> {
        if !self.mode.uses_tls() {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS for Postgres: {e}"))?;
        let verifier: Arc<dyn ServerCertVerifier> = match self.mode {
            SslMode::Require => Arc::new(EncryptOnly(provider)),
            _ => {
                let roots = Arc::new(self.roots()?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .map_err(|e| format!("TLS for Postgres: {e}"))?;
                if self.mode == SslMode::VerifyCa {
                    Arc::new(AnyName(webpki, provider)) as Arc<dyn ServerCertVerifier>
                } else {
                    webpki as Arc<dyn ServerCertVerifier>
                }
            }
        };
        let config = builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth();
        Ok(Some(MakeRustls { config: Arc::new(config) }))
    }

    fn roots(&self) -> Result<rustls::RootCertStore, String> {
        let mut roots = rustls::RootCertStore::empty();
        let Some(path) = &self.root_cert else {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            return Ok(roots);
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(Iterator::collect)
            .map_err(|e| format!("sslrootcert {path:?} cannot be read as PEM certificates: {e}"))?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(format!("sslrootcert {path:?} holds no usable certificate"));
        }
        Ok(roots)
    }
}

/// `sslmode`/`sslrootcert` pairs out of a URL's query.
fn split_url(raw: &str) -> (String, Vec<(String, String)>) {
    let Some((base, query)) = raw.split_once('?') else {
        return (raw.to_string(), Vec::new());
    };
    let mut kept = Vec::new();
    let mut found = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "sslmode" || k == "sslrootcert" {
            let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned();
            found.push((k.to_string(), v));
        } else {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    (rest, found)
}

/// `sslmode`/`sslrootcert` out of `key=value key='quoted value'` form.
fn split_key_values(raw: &str) -> (String, Vec<(String, String)>) {
    let mut kept = Vec::new();
    let mut found = Vec::new();
    for token in key_value_tokens(raw) {
        let (k, v) = token.split_once('=').map_or((token.trim(), ""), |(k, v)| (k.trim(), v.trim()));
        if k == "sslmode" || k == "sslrootcert" {
            let v = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(v).replace("\\'", "'");
            found.push((k.to_string(), v));
        } else {
            kept.push(token);
        }
    }
    (kept.join(" "), found)
}

/// The `key=value` tokens of a key=value DSN; a quoted value may hold spaces.
fn key_value_tokens(raw: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    let (mut start, mut quoted, mut escaped) = (None, false, false);
    for (i, c) in raw.char_indices() {
        if start.is_none() {
            if !c.is_whitespace() {
                start = Some(i);
            } else {
                continue;
            }
        }
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '\'' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                // `key = value` with spaces around `=` stays one token.
                let so_far = &raw[start.unwrap_or(i)..i];
                let next = raw[i..].trim_start();
                if so_far.ends_with('=') || next.starts_with('=') {
                    continue;
                }
                tokens.push(so_far);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        tokens.push(&raw[s..]);
    }
    tokens
}

/// `sslmode=require`: any certificate, but the handshake itself is checked.
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    crate::tls_signatures::signatures!(0);
}

/// `sslmode=verify-ca`: the chain is checked, the host name is not; the
/// handshake signatures with the provider's algorithms (as WebPKI's own).
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>, Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    crate::tls_signatures::signatures!(1);
}

/// tokio-postgres' TLS hook over rustls.
#[derive(Clone)]
pub struct MakeRustls {
    config: Arc<rustls::ClientConfig>,
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, Self::Error> {
        Ok(RustlsConnect { config: self.config.clone(), name: ServerName::try_from(domain.to_string())? })
    }
}

pub struct RustlsConnect {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let tls = tokio_rustls::TlsConnector::from(self.config).connect(self.name, stream).await?;
            Ok(RustlsStream(tls))
        })
    }
}

pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    /// No SCRAM channel binding: the server then authenticates without it, as
    /// with libpq's default `channel_binding=prefer` against a server that
    /// does not insist.
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_are_taken_out_of_the_dsn() {
        let ca = "/etc/ssl/rds.pem";
        // (dsn, PGSSLMODE, PGSSLROOTCERT) -> (what tokio-postgres gets, mode, root)
        type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a str, SslMode, Option<&'a str>);
        let table: &[Case] = &[
            ("postgres://u@h/db", None, None, "postgres://u@h/db", SslMode::Prefer, None),
            (
                "postgres://u:p@h:5432/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Frds.pem",
                None,
                None,
                "postgres://u:p@h:5432/db",
                SslMode::VerifyFull,
                Some(ca),
            ),
            (
                "postgres://u@h/db?application_name=x&sslmode=require",
                None,
                None,
                "postgres://u@h/db?application_name=x",
                SslMode::Require,
                None,
            ),
            ("postgres://u@h/db", Some("verify-ca"), Some(ca), "postgres://u@h/db", SslMode::VerifyCa, Some(ca)),
            // The DSN wins over the environment.
            ("postgres://u@h/db?sslmode=disable", Some("require"), None, "postgres://u@h/db", SslMode::Disable, None),
            (
                "host=h user=u password='a b' sslmode=verify-full sslrootcert='/etc/ssl/rds.pem' dbname=d",
                None,
                None,
                "host=h user=u password='a b' dbname=d",
                SslMode::VerifyFull,
                Some(ca),
            ),
            ("host=h sslmode = require dbname=d", None, None, "host=h dbname=d", SslMode::Require, None),
        ];
        for (dsn, env_mode, env_root, rest, mode, root) in table {
            let (got_rest, got) = TlsSettings::split(dsn, *env_mode, *env_root).unwrap();
            assert_eq!((got_rest.as_str(), got.mode, got.root_cert.as_deref()), (*rest, *mode, *root), "{dsn}");
            got_rest.parse::<tokio_postgres::Config>().unwrap_or_else(|e| panic!("{got_rest}: {e}"));
        }
    }

    #[test]
    fn a_bad_sslmode_names_where_it_came_from() {
        let err = TlsSettings::split("postgres://h/d?sslmode=strict", None, None).unwrap_err();
        assert!(err.starts_with("PG_DSN: sslmode=\"strict\""), "{err}");
        let err = TlsSettings::split("postgres://h/d", Some("yes"), None).unwrap_err();
        assert!(err.starts_with("PGSSLMODE:"), "{err}");
    }

    #[test]
    fn a_missing_or_empty_root_file_is_named() {
        let missing = TlsSettings { mode: SslMode::VerifyFull, root_cert: Some("/nonexistent/ca.pem".into()) };
        let err = missing.connector().err().unwrap();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        assert!(TlsSettings::default().connector().unwrap().is_none(), "prefer stays plain");
        assert!(TlsSettings { mode: SslMode::Require, root_cert: None }.connector().unwrap().is_some());
    }
}
