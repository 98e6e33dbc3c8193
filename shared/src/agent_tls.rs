//! TLS to an agent's control API with a pinned certificate (#10).
//!
//! An agent serving `--tls-cert` is called over https, and the backend accepts
//! exactly the certificate pinned for it ([`CertPins`]: given by an admin in
//! `/v1/agent/set`, or reported by the agent when it registered with the fleet
//! token). No CA, host name or validity period is consulted: the pin is the
//! whole trust, as with an SSH host key, which suits self-signed agent
//! certificates. The handshake's signatures are still verified (the peer must
//! hold the certificate's private key).
//!
//! A certificate that is not pinned fails the handshake, so no request, and no
//! bearer credential, is ever written to that peer; [`not_pinned`] finds that
//! cause in a client error so callers can say so.

use alilo_agent_api::CertPins;
use rustls::OtherError;
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;

/// A client configuration accepting only a certificate in `pins`.
pub fn pinned_config(pins: &CertPins) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinVerifier { pins: pins.clone(), provider }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// The peer presented a certificate that is not pinned.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the agent presented certificate {presented}, not the one pinned for it ({pinned}); nothing was sent to it")]
pub struct NotPinned {
    pub presented: CertPins,
    pub pinned: CertPins,
}

/// Accepts a server certificate only when it is pinned; checks the handshake
/// signatures with the provider's algorithms.
#[derive(Debug)]
struct PinVerifier {
    pins: CertPins,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pins.accepts(end_entity) {
            return Ok(ServerCertVerified::assertion());
        }
        let why = NotPinned { presented: CertPins::of_der(end_entity), pinned: self.pins.clone() };
        Err(rustls::Error::Other(OtherError(Arc::new(why))))
    }

    crate::tls_signatures::signatures!(provider);
}

/// The [`NotPinned`] behind a client error, if that is why it failed. (An
/// `io::Error`'s `source()` skips the error it wraps, so each one is opened.)
pub fn not_pinned(err: &(dyn std::error::Error + 'static)) -> Option<NotPinned> {
    let mut current = err;
    loop {
        if let Some(found) = as_not_pinned(current) {
            return Some(found);
        }
        current = match current.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => inner,
            None => current.source()?,
        };
    }
}

fn as_not_pinned(e: &(dyn std::error::Error + 'static)) -> Option<NotPinned> {
    match e.downcast_ref::<rustls::Error>()? {
        rustls::Error::Other(OtherError(inner)) => inner.downcast_ref::<NotPinned>().cloned(),
        _ => None,
    }
}
