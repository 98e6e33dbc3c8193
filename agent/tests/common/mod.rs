//! What the integration tests share: an agent on loopback and a client of its
//! control API, a loopback site answering with a closure ([`serve`]), a raw
//! HTTP/1.1 server for the framings hyper never produces, a self-signed TLS
//! configuration, a port nobody listens on.

#![allow(dead_code)] // each test crate uses its own part

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Polls `check` every 20 ms until it gives a value, failing with `what`
/// after `limit`: the tests wait for what they need, never a guessed time.
pub async fn eventually<T>(limit: Duration, what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < end, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, offering
/// `alpn` (e.g. `h2` and `http/1.1`).
pub fn tls_config_with_alpn(alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

/// [`tls_config_with_alpn`] offering HTTP/2 and HTTP/1.1.
pub fn tls_config() -> Arc<rustls::ServerConfig> {
    tls_config_with_alpn(&[b"h2", b"http/1.1"])
}

/// A loopback server speaking HTTP/1.1 and h2 (over TLS with `tls`) that
/// answers every request with `answer`.
pub async fn serve<F, Fut>(tls: Option<Arc<rustls::ServerConfig>>, answer: F) -> SocketAddr
where
    F: Fn(http::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = http::Response<http_body_util::Full<bytes::Bytes>>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let (answer, acceptor) = (answer.clone(), acceptor.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let answered = answer(req);
                    async move { Ok::<_, std::convert::Infallible>(answered.await) }
                });
                let server = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                let _ = match acceptor {
                    None => server.serve_connection(hyper_util::rt::TokioIo::new(stream), svc).await,
                    Some(acceptor) => {
                        let Ok(tls) = acceptor.accept(stream).await else { return };
                        server.serve_connection(hyper_util::rt::TokioIo::new(tls), svc).await
                    }
                };
            });
        }
    });
    addr
}

/// What the wire server saw.
#[derive(Default)]
pub struct WireCounts {
    /// Requests read.
    pub requests: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
}

/// A raw HTTP/1.1 server for the framings hyper's target never produces:
/// each request's path picks a response, written in pieces with pauses so
/// the client has to read a head or body across several reads:
/// - `/chunked`: 200, chunked `abcd` + `x` with an extension and a trailer;
/// - `/continue`: a `100 Continue` (with a header of its own), then 201 `abc`;
/// - `/until-close`: an HTTP/1.0 200 whose body `some body` ends when the
///   server closes;
/// - anything else: 200 with `Content-Length: 10`, `0123456789`.
pub async fn wire_server() -> (SocketAddr, Arc<WireCounts>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(WireCounts::default());
    let c = counts.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            c.connections.fetch_add(1, Ordering::Relaxed);
            let c = c.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    buf.drain(..head_end);
                    c.requests.fetch_add(1, Ordering::Relaxed);
                    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                    let (pieces, close): (Vec<&[u8]>, bool) = match path.as_str() {
                        "/chunked" => (
                            vec![
                                b"HTTP/1.1 200 OK\r\nTransfer-",
                                b"Encoding: chunked\r\n\r\n4\r\nab",
                                b"cd\r\n1;ext=1\r\nx\r\n0\r\nTrailer: t\r\n",
                                b"\r\n",
                            ],
                            false,
                        ),
                        "/continue" => (
                            vec![
                                b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n",
                                b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabc",
                            ],
                            false,
                        ),
                        "/until-close" => (vec![b"HTTP/1.0 200 OK\r\n\r\nsome ", b"body"], true),
                        _ => (vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234", b"56789"], false),
                    };
                    for p in pieces {
                        if s.write_all(p).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    if close {
                        return;
                    }
                }
            });
        }
    });
    (addr, counts)
}

/// An agent serving its control API on loopback (stopped when dropped), with
/// a client that signs each call with the agent's `token`.
pub struct Agent {
    pub addr: SocketAddr,
    token: &'static str,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The server's task: it ends once stopped and its grace is over.
    pub task: tokio::task::JoinHandle<()>,
}

impl Agent {
    /// [`Agent::spawn_with`] a shutdown grace of 1 s.
    pub async fn spawn(token: &'static str) -> Agent {
        Self::spawn_with(token, Duration::from_secs(1)).await
    }

    /// An agent whose jobs get `grace` to finish when it is stopped.
    pub async fn spawn_with(token: &'static str, grace: Duration) -> Agent {
        let server = alilo_agent::api::Server::bind(alilo_agent::api::ServeConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            token: Some(token.into()),
            insecure_no_auth: false,
            workers: 2,
            shutdown_grace: grace,
            drain_timeout: Duration::ZERO,
            tls: None,
        })
        .await
        .unwrap();
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run_until_stopped(async {
            let _ = rx.await;
        }));
        Agent { addr, token, stop: Some(tx), task }
    }

    /// Tells the server to shut down (once).
    pub fn stop(&mut self) {
        self.stop.take().expect("stopped once").send(()).unwrap();
    }

    /// One call of the control API: its status and JSON body (`Null` if none).
    pub async fn call(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> (u16, serde_json::Value) {
        call(self.addr, method, path, body, Some(self.token)).await
    }

    /// Job `id`'s status once it has finished or failed.
    pub async fn wait_terminal(&self, id: &str, limit: Duration) -> serde_json::Value {
        eventually(limit, &format!("job {id} ends"), async || {
            let (s, v) = self.call("GET", &format!("/v1/jobs/{id}"), None).await;
            assert_eq!(s, 200, "{v}");
            matches!(v["state"].as_str(), Some("finished" | "failed")).then_some(v)
        })
        .await
    }
}

/// One call of an agent's control API at `addr`, with `token` as its bearer
/// credential if any: the status and JSON body (`Null` if none).
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
    token: Option<&str>,
) -> (u16, serde_json::Value) {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder().method(method).uri(path).header("host", addr.to_string());
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = http_body_util::Full::new(bytes::Bytes::from(body.map(|b| b.to_string()).unwrap_or_default()));
    let resp = send.send_request(req.body(body).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}
