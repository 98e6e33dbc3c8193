//! The HTTP/2 layer: hyper's low-level `client::conn::http2` over a
//! transport stream. One connection carries every request of a worker
//! (multiplexed); its driver runs as a task on the current runtime.

use std::io;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::error::{ErrorKind, io_error_kind};
use super::transport::{ConnGuard, Io};

/// A handle to an HTTP/2 connection: cheap to clone, one per request.
pub type H2Sender = http2::SendRequest<Full<Bytes>>;

/// Speaks HTTP/2 on `io` and spawns the connection's driver on the current
/// runtime; the connection counts as open until the driver ends.
pub async fn handshake(io: Io) -> Result<H2Sender, ErrorKind> {
    let (send, conn) = http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(1 << 20)
        .initial_connection_window_size(4 << 20)
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| classify(&e))?;
    let guard = ConnGuard::open();
    tokio::spawn(async move {
        let _guard = guard;
        let _ = conn.await;
    });
    Ok(send)
}

/// Sends `req` and waits for the response head.
pub async fn send_request(sender: &mut H2Sender, req: Request<Full<Bytes>>) -> Result<Response<Incoming>, ErrorKind> {
    sender.ready().await.map_err(|e| classify(&e))?;
    sender.send_request(req).await.map_err(|e| classify(&e))
}

/// Sends `req` and reads the whole response, dropping the body: its status.
pub async fn exchange(sender: &mut H2Sender, req: Request<Full<Bytes>>) -> Result<u16, ErrorKind> {
    let resp = send_request(sender, req).await?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        frame.map_err(|e| classify(&e))?;
    }
    Ok(status)
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
