//! A TCP proxy between the system under test and Postgres that can pass traffic,
//! reset connections, black-hole them silently, and be restored — so tests cut the
//! real database's network instead of mocking it (in the spirit of crates.io's
//! `src/tests/util/chaosproxy.rs`).
//!
//! Faults, and what a client sees:
//! - [`ChaosProxy::reset`]: every open connection and every new one is closed with
//!   a TCP RST (`SO_LINGER` 0): reads fail with "connection reset" at once, like a
//!   restarted database host or a firewall that rejects.
//! - [`ChaosProxy::black_hole`]: open connections stop forwarding in both directions
//!   and new ones are accepted but never forwarded. Nothing is closed and nothing
//!   answers: a silent partition, where only the client's own timeouts help.
//! - [`ChaosProxy::black_hole_new_connections`]: only new connections are held; the
//!   open ones keep working (a pool that must not open connections).
//! - [`ChaosProxy::restore`]: traffic flows again. Held connections resume where
//!   they stopped (the bytes the proxy did not read waited in the kernel, as on a
//!   healed network) and held new connections are connected to Postgres then.
//!
//! Dropping the proxy closes its listener and every connection.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    None,
    /// Close every connection with an RST, open and new.
    Reset,
    /// Forward nothing, close nothing.
    BlackHole,
    /// Hold new connections; open ones keep forwarding.
    BlackHoleNewConnections,
}

/// A running proxy to one Postgres server. See the module doc.
pub struct ChaosProxy {
    address: SocketAddr,
    fault: watch::Sender<Fault>,
    accepted: Arc<AtomicUsize>,
}

impl ChaosProxy {
    /// Listen on a free loopback port, forwarding to `backend`.
    pub async fn start(backend: SocketAddr) -> ChaosProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("the chaos proxy binds a loopback port");
        let address = listener.local_addr().unwrap();
        let (fault, watched) = watch::channel(Fault::None);
        let accepted = Arc::new(AtomicUsize::new(0));
        tokio::spawn(accept_loop(listener, backend, watched, accepted.clone()));
        ChaosProxy { address, fault, accepted }
    }

    /// A proxy to the server of a URL-form Postgres DSN, and the same DSN pointing
    /// through it (user, database and options kept).
    pub async fn for_dsn(dsn: &str) -> (ChaosProxy, String) {
        let config = tokio_postgres::Config::from_str(dsn).expect("a valid Postgres DSN");
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            Some(tokio_postgres::config::Host::Unix(_)) => panic!("the chaos proxy needs a TCP Postgres, not a socket"),
            None => "127.0.0.1".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let backend = tokio::net::lookup_host((host.as_str(), port))
            .await
            .expect("the Postgres host resolves")
            .next()
            .expect("the Postgres host has an address");
        let proxy = ChaosProxy::start(backend).await;
        let mut url = url::Url::parse(dsn).expect("the chaos proxy needs a URL-form DSN (postgres://…)");
        url.set_ip_host(proxy.address.ip()).unwrap();
        url.set_port(Some(proxy.address.port())).unwrap();
        (proxy, url.to_string())
    }

    /// Where the proxy listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Close every open and new connection with a TCP RST.
    pub fn reset(&self) {
        self.fault.send_replace(Fault::Reset);
    }

    /// Stop forwarding on every connection and hold new ones, closing nothing.
    pub fn black_hole(&self) {
        self.fault.send_replace(Fault::BlackHole);
    }

    /// Hold new connections; open ones keep working.
    pub fn black_hole_new_connections(&self) {
        self.fault.send_replace(Fault::BlackHoleNewConnections);
    }

    /// Forward again; held connections resume.
    pub fn restore(&self) {
        self.fault.send_replace(Fault::None);
    }

    /// Connections accepted since the start, whatever happened to them.
    pub fn connections_accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Accept until the proxy is dropped (its sender closes the channel).
async fn accept_loop(
    listener: TcpListener,
    backend: SocketAddr,
    mut fault: watch::Receiver<Fault>,
    accepted: Arc<AtomicUsize>,
) {
    loop {
        tokio::select! {
            conn = listener.accept() => {
                let Ok((client, _)) = conn else { continue };
                accepted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(client, backend, fault.clone()));
            }
            changed = fault.changed() => if changed.is_err() { return },
        }
    }
}

/// One client connection: held while new connections are held, then connected to
/// Postgres and forwarded until either side closes, a reset, or the proxy's end.
async fn serve(mut client: TcpStream, backend: SocketAddr, mut fault: watch::Receiver<Fault>) {
    loop {
        let now = *fault.borrow_and_update();
        match now {
            Fault::None => break,
            Fault::Reset => return reset(&client),
            Fault::BlackHole | Fault::BlackHoleNewConnections => {
                if fault.changed().await.is_err() {
                    return;
                }
            }
        }
    }
    let Ok(mut server) = TcpStream::connect(backend).await else { return reset(&client) };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    if forward(&mut client, &mut server, &mut fault).await == Ending::Reset {
        reset(&client);
        reset(&server);
    }
}

#[derive(PartialEq, Eq)]
enum Ending {
    Closed,
    Reset,
}

/// Copy bytes both ways while the fault allows; while black-holed, read nothing so
/// the peers' bytes wait in the kernel.
async fn forward(client: &mut TcpStream, server: &mut TcpStream, fault: &mut watch::Receiver<Fault>) -> Ending {
    let (mut from_client, mut to_client) = client.split();
    let (mut from_server, mut to_server) = server.split();
    let mut up = vec![0u8; 16 * 1024];
    let mut down = vec![0u8; 16 * 1024];
    loop {
        let now = *fault.borrow_and_update();
        match now {
            Fault::Reset => return Ending::Reset,
            Fault::BlackHole => {
                if fault.changed().await.is_err() {
                    return Ending::Closed;
                }
                continue;
            }
            Fault::None | Fault::BlackHoleNewConnections => {}
        }
        let copied = tokio::select! {
            read = from_client.read(&mut up) => match read {
                Ok(0) | Err(_) => false,
                Ok(n) => to_server.write_all(&up[..n]).await.is_ok(),
            },
            read = from_server.read(&mut down) => match read {
                Ok(0) | Err(_) => false,
                Ok(n) => to_client.write_all(&down[..n]).await.is_ok(),
            },
            changed = fault.changed() => changed.is_ok(),
        };
        if !copied {
            return Ending::Closed;
        }
    }
}

/// Close with an RST rather than a FIN: the peer's next read fails at once.
fn reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helpers::{DEFAULT_TEST_DSN, spawn_app_with_db_proxy};
    use std::pin::pin;
    use std::time::Duration;
    use tokio::time::timeout;

    /// Long enough for a loopback query many times over: a held query still
    /// pending after it is held, not slow.
    const HELD: Duration = Duration::from_millis(500);
    /// Ample time for a loopback round trip on a loaded machine.
    const PROMPT: Duration = Duration::from_secs(5);

    async fn proxy() -> (ChaosProxy, String) {
        let base = std::env::var("ALILO_TEST_PG_DSN").unwrap_or_else(|_| DEFAULT_TEST_DSN.into());
        ChaosProxy::for_dsn(&base).await
    }

    async fn connect(dsn: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, conn) = tokio_postgres::connect(dsn, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        Ok(client)
    }

    async fn select_one(client: &tokio_postgres::Client) -> Result<i32, tokio_postgres::Error> {
        Ok(client.query_one("SELECT 1", &[]).await?.get(0))
    }

    #[tokio::test]
    async fn a_reset_fails_open_and_new_connections_at_once_and_restore_heals() {
        let (proxy, dsn) = proxy().await;
        let client = connect(&dsn).await.expect("connects through the proxy");
        assert_eq!(select_one(&client).await.unwrap(), 1);

        proxy.reset();
        let err = timeout(PROMPT, select_one(&client)).await.expect("a reset fails, never hangs").unwrap_err();
        assert!(err.is_closed() || err.to_string().contains("reset"), "{err:?}");
        timeout(PROMPT, connect(&dsn)).await.expect("a reset refuses, never hangs").unwrap_err();

        proxy.restore();
        let client = connect(&dsn).await.expect("connects again once restored");
        assert_eq!(select_one(&client).await.unwrap(), 1);
        assert_eq!(proxy.connections_accepted(), 3);
    }

    #[tokio::test]
    async fn a_black_hole_holds_open_and_new_connections_silently_until_restored() {
        let (proxy, dsn) = proxy().await;
        let client = connect(&dsn).await.unwrap();

        proxy.black_hole();
        let mut query = pin!(select_one(&client));
        assert!(timeout(HELD, &mut query).await.is_err(), "a black-holed query neither answers nor fails");
        let mut opening = pin!(connect(&dsn));
        assert!(timeout(HELD, &mut opening).await.is_err(), "a black-holed connect neither opens nor fails");

        proxy.restore();
        assert_eq!(timeout(PROMPT, query).await.expect("the held query resumes").unwrap(), 1);
        let fresh = timeout(PROMPT, opening).await.expect("the held connect resumes").unwrap();
        assert_eq!(select_one(&fresh).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn holding_new_connections_leaves_open_ones_working() {
        let (proxy, dsn) = proxy().await;
        let client = connect(&dsn).await.unwrap();

        proxy.black_hole_new_connections();
        assert_eq!(timeout(PROMPT, select_one(&client)).await.unwrap().unwrap(), 1);
        let mut opening = pin!(connect(&dsn));
        assert!(timeout(HELD, &mut opening).await.is_err());

        proxy.restore();
        let fresh = timeout(PROMPT, opening).await.unwrap().unwrap();
        assert_eq!(select_one(&fresh).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn an_app_spawned_behind_the_proxy_reaches_postgres_through_it() {
        let app = spawn_app_with_db_proxy(|_| {}).await;
        let before = app.db_proxy().connections_accepted();
        assert!(before > 0, "migrations ran through the proxy");
        app.create_project("through the proxy").await;
        assert_eq!(app.count("projects").await, 1);
        app.db_proxy().reset();
        let (status, _) = app.post("/v1/projects", serde_json::json!({})).await;
        assert!(status.is_server_error(), "{status}");
        app.db_proxy().restore();
        app.ok("/v1/projects", serde_json::json!({})).await;
        assert!(app.db_proxy().connections_accepted() > before, "the pool opened new connections after the reset");
    }
}
