//! The handshake-signature half of our rustls server-certificate verifiers.
//!
//! Each verifier ([`crate::agent_tls`]'s pin, [`crate::db::tls`]'s `sslmode`s)
//! decides in its own way whether a certificate is acceptable, but every one
//! checks the handshake's signatures the same way (the peer must hold the
//! certificate's private key): [`signatures!`] writes those three methods once.

/// The three signature methods of a `rustls::client::danger::ServerCertVerifier`
/// impl, written inside it: `signatures!(FIELD)` checks the handshake's
/// signatures with the algorithms of the `Arc<CryptoProvider>` in `self.FIELD`
/// (what rustls' own WebPKI verifier does with its provider's).
macro_rules! signatures {
    ($field:tt) => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &::rustls::pki_types::CertificateDer<'_>,
            dss: &::rustls::DigitallySignedStruct,
        ) -> Result<::rustls::client::danger::HandshakeSignatureValid, ::rustls::Error> {
            ::rustls::crypto::verify_tls12_signature(message, cert, dss, &self.$field.signature_verification_algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &::rustls::pki_types::CertificateDer<'_>,
            dss: &::rustls::DigitallySignedStruct,
        ) -> Result<::rustls::client::danger::HandshakeSignatureValid, ::rustls::Error> {
            ::rustls::crypto::verify_tls13_signature(message, cert, dss, &self.$field.signature_verification_algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<::rustls::SignatureScheme> {
            self.$field.signature_verification_algorithms.supported_schemes()
        }
    };
}

pub(crate) use signatures;
