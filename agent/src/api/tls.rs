//! The control API over TLS (`serve --tls-cert FILE --tls-key FILE`, #10).
//!
//! [`load`] reads the PEM files into a rustls server configuration and the
//! certificate's pin (`sha256:…` of the leaf, [`CertPins`]), which the agent
//! prints at start and reports when it registers: the backend accepts only that
//! certificate for this agent. [`TlsListener`] is an axum listener whose
//! handshakes run on their own tasks (bounded by [`HANDSHAKE_TIMEOUT`]), so a
//! peer that stalls its handshake holds up no one else's.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use alilo_agent_api::CertPins;
use anyhow::{Context as _, anyhow, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What serving TLS needs: the configuration and the certificate's pin.
#[derive(Debug, Clone)]
pub struct TlsIdentity {
    /// The rustls server configuration (ring, TLS 1.2 and 1.3).
    pub config: Arc<rustls::ServerConfig>,
    /// The pin of the certificate served (its leaf).
    pub pins: CertPins,
}

/// Reads `cert` (PEM, the leaf first, then any chain) and `key` (PEM: PKCS#8,
/// PKCS#1 or SEC1). Errors name the flag and the file.
pub fn load(cert: &Path, key: &Path) -> anyhow::Result<TlsIdentity> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| anyhow!("--tls-cert {}: cannot read it: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!("--tls-cert {}: not a PEM certificate: {e}", cert.display()))?;
    let Some(leaf) = certs.first() else {
        bail!("--tls-cert {}: holds no certificate (-----BEGIN CERTIFICATE-----)", cert.display());
    };
    let pins = CertPins::of_der(leaf);
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            anyhow!("--tls-key {}: holds no private key (-----BEGIN PRIVATE KEY-----)", key.display())
        }
        e => anyhow!("--tls-key {}: cannot read a private key from it: {e}", key.display()),
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("rustls protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, private)
        .map_err(|e| anyhow!("--tls-key {} does not go with --tls-cert {}: {e}", key.display(), cert.display()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsIdentity { config: Arc::new(config), pins })
}

/// Accepts TCP connections and hands axum those whose TLS handshake succeeded.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl TlsListener {
    /// Serves TLS with `config` on a bound listener.
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let accepting = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors and the like: pause, as axum's own loop does.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { ready, addr, accepting })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accepting task holds a sender for as long as it runs, and it
            // runs until this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn bad_files_are_named_with_their_flag() {
        let dir = std::env::temp_dir().join(format!("alilo-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let err = load(&missing, &missing).unwrap_err().to_string();
        assert!(err.starts_with("--tls-cert ") && err.contains("missing.pem"), "{err}");

        let empty = write(&dir, "empty.pem", "no pem here\n");
        let err = load(&empty, &empty).unwrap_err().to_string();
        assert!(err.starts_with("--tls-cert ") && err.contains("no certificate"), "{err}");

        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = write(&dir, "cert.pem", &ck.cert.pem());
        let err = load(&cert, &empty).unwrap_err().to_string();
        assert!(err.starts_with("--tls-key ") && err.contains("no private key"), "{err}");

        let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let wrong_key = write(&dir, "other.key", &other.signing_key.serialize_pem());
        let err = load(&cert, &wrong_key).unwrap_err().to_string();
        assert!(err.contains("does not go with --tls-cert"), "{err}");

        let key = write(&dir, "cert.key", &ck.signing_key.serialize_pem());
        let identity = load(&cert, &key).unwrap();
        assert_eq!(identity.pins, CertPins::of_der(ck.cert.der()), "the pin is the leaf's");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
