//! One HTTP/1.1 keep-alive connection of the load path: writes a request
//! serialised once by the template, reads the response into a buffer the
//! connection keeps for its whole life, and skips the body (see [`super::h1`]).
//! It sits on the transport ([`super::transport`]) and knows nothing of pools.
//!
//! The request timeout uses one long-lived timer per connection that is
//! re-armed only when it fires, instead of a timer per request: with
//! responses far faster than the timeout, it almost never touches the timer
//! wheel.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::error::{ErrorKind, io_error_kind};
use super::h1::{self, Body, MAX_HEAD};
use super::transport::{self, ConnGuard, Connected, Endpoint, Io, IoCounters};

/// Read buffer of a connection; grows (up to the head limit) only for
/// responses whose head does not fit.
const BUF: usize = 16 * 1024;

/// An open HTTP/1.1 connection.
pub struct H1Conn {
    io: Io,
    buf: Vec<u8>,
    timer: Pin<Box<Sleep>>,
    reusable: bool,
    _guard: ConnGuard,
}

impl H1Conn {
    /// Opens TCP (and TLS) to `ep`; `deadline` bounds the whole opening.
    pub async fn open(ep: &Endpoint, counters: &Arc<IoCounters>, deadline: Instant) -> Result<H1Conn, ErrorKind> {
        let connected = tokio::time::timeout_at(deadline, transport::connect(ep, counters))
            .await
            .map_err(|_| ErrorKind::Timeout)??;
        Ok(H1Conn::new(connected, deadline))
    }

    /// HTTP/1.1 over an opened stream; `deadline` arms the connection's timer.
    pub fn new(connected: Connected, deadline: Instant) -> H1Conn {
        H1Conn {
            io: connected.io,
            buf: vec![0; BUF],
            timer: Box::pin(tokio::time::sleep_until(deadline)),
            reusable: true,
            _guard: ConnGuard::open(),
        }
    }

    /// Whether the last exchange left the connection fit for another one.
    pub fn reusable(&self) -> bool {
        self.reusable
    }

    /// Whether an idle connection is still usable: the server has neither
    /// closed it nor sent anything unasked (polled once, without waiting).
    pub fn alive(&mut self) -> bool {
        if !self.reusable {
            return false;
        }
        let mut probe = [0u8; 1];
        let mut probe = ReadBuf::new(&mut probe);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        self.reusable = Pin::new(&mut self.io).poll_read(&mut cx, &mut probe).is_pending();
        self.reusable
    }

    /// Sends `request` and reads the whole response by `deadline`: its status.
    pub async fn exchange(&mut self, request: &[u8], head_request: bool, deadline: Instant) -> Result<u16, ErrorKind> {
        let H1Conn { io, buf, timer, reusable, .. } = self;
        *reusable = false;
        let mut work = pin!(exchange(io, buf, request, head_request));
        let (status, keep_alive) = poll_fn(|cx| {
            if let Poll::Ready(r) = work.as_mut().poll(cx) {
                return Poll::Ready(r);
            }
            while timer.as_mut().poll(cx).is_ready() {
                if Instant::now() >= deadline {
                    return Poll::Ready(Err(ErrorKind::Timeout));
                }
                timer.as_mut().reset(deadline);
            }
            Poll::Pending
        })
        .await?;
        *reusable = keep_alive;
        Ok(status)
    }
}

/// Write, then read a head (skipping interim 1xx ones) and the body: the
/// status, and whether the connection can be reused.
async fn exchange(
    io: &mut Io,
    buf: &mut Vec<u8>,
    request: &[u8],
    head_request: bool,
) -> Result<(u16, bool), ErrorKind> {
    io.write_all(request).await.map_err(io_error)?;
    io.flush().await.map_err(io_error)?;
    let mut filled = 0;
    let head = loop {
        if let Some(head) = h1::parse_head(&buf[..filled], head_request).map_err(parse_error)? {
            if head.status >= 200 || head.status == 101 {
                break head;
            }
            buf.copy_within(head.len..filled, 0);
            filled -= head.len;
            continue;
        }
        if filled == buf.len() {
            buf.resize((buf.len() * 2).min(MAX_HEAD + BUF), 0);
        }
        match io.read(&mut buf[filled..]).await.map_err(io_error)? {
            0 => return Err(ErrorKind::Reset),
            n => filled += n,
        }
    };
    let mut body = head.body;
    let (used, mut done) = body.skip(&buf[head.len..filled]).map_err(parse_error)?;
    let mut unasked = filled - head.len - used;
    while !done {
        let n = io.read(&mut buf[..]).await.map_err(io_error)?;
        if n == 0 {
            if body == Body::UntilClose {
                return Ok((head.status, false));
            }
            return Err(ErrorKind::Reset);
        }
        let (used, end) = body.skip(&buf[..n]).map_err(parse_error)?;
        (unasked, done) = (n - used, end);
    }
    if buf.len() > BUF {
        // A huge head was a one-off: give the memory back.
        buf.truncate(BUF);
        buf.shrink_to_fit();
    }
    // Bytes after the response were not asked for: the stream is out of step.
    Ok((head.status, head.keep_alive && unasked == 0))
}

fn io_error(e: io::Error) -> ErrorKind {
    io_error_kind(&e)
}

fn parse_error(e: h1::ParseError) -> ErrorKind {
    tracing::debug!(error = ?e, "malformed response");
    ErrorKind::Other
}
