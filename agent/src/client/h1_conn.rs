//! One HTTP/1.1 keep-alive connection: writes a request serialised once,
//! reads the response into a buffer the connection keeps for its whole life
//! and frames it with [`super::h1`]. The load path ([`H1Conn::exchange`])
//! skips the body; a full exchange ([`H1Conn::exchange_with`]) hands head,
//! headers, body data and timing points to a [`ResponseSink`]. Both are the
//! same code, the load path's sink doing nothing. It sits on the transport
//! ([`super::transport`]) and knows nothing of pools.
//!
//! The request timeout uses one long-lived timer per connection that is
//! re-armed only when it fires, instead of a timer per request: with
//! responses far faster than the timeout, it almost never touches the timer
//! wheel.

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::error::{ErrorKind, io_error_kind};
use super::h1::{self, Body, MAX_HEAD};
use super::transport::{self, ConnGuard, ConnectTimings, Connected, Endpoint, Io, IoCounters};

/// Read buffer of a connection; grows (up to the head limit) only for
/// responses whose head does not fit.
const BUF: usize = 16 * 1024;

/// What a full exchange does with a response besides framing it. Every
/// method does nothing by default: `()` is the load path's sink.
pub trait ResponseSink {
    /// The request is written and flushed.
    fn written(&mut self) {}
    /// The first bytes of the response arrived.
    fn first_byte(&mut self) {}
    /// A header of the head being read.
    fn header(&mut self, _name: &[u8], _value: &[u8]) {}
    /// The head just read was an interim (1xx) one: forget its headers.
    fn interim(&mut self) {}
    /// The final head was read, with this status; its body comes next.
    fn head(&mut self, _status: u16) {}
    /// A piece of body data (chunked framing removed).
    fn data(&mut self, _bytes: &[u8]) {}
}

impl ResponseSink for () {}

/// An open HTTP/1.1 connection.
pub struct H1Conn {
    io: Io,
    buf: Vec<u8>,
    timer: Pin<Box<Sleep>>,
    reusable: bool,
    remote: SocketAddr,
    opened: Option<ConnectTimings>,
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
            remote: connected.remote,
            opened: Some(connected.timings),
            _guard: ConnGuard::open(),
        }
    }

    /// The address the connection goes to.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// How long opening took, the first time it is asked (`None` for a
    /// reused connection).
    pub fn take_opened(&mut self) -> Option<ConnectTimings> {
        self.opened.take()
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
        self.exchange_with(request, head_request, deadline, &mut ()).await
    }

    /// [`H1Conn::exchange`], telling `sink` what the response carries.
    pub async fn exchange_with(
        &mut self,
        request: &[u8],
        head_request: bool,
        deadline: Instant,
        sink: &mut impl ResponseSink,
    ) -> Result<u16, ErrorKind> {
        let H1Conn { io, buf, timer, reusable, .. } = self;
        *reusable = false;
        let mut work = pin!(exchange(io, buf, request, head_request, sink));
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
    sink: &mut impl ResponseSink,
) -> Result<(u16, bool), ErrorKind> {
    io.write_all(request).await.map_err(io_error)?;
    io.flush().await.map_err(io_error)?;
    sink.written();
    let mut filled = 0;
    let head = loop {
        let parsed = h1::parse_head_with(&buf[..filled], head_request, |n, v| sink.header(n, v));
        if let Some(head) = parsed.map_err(parse_error)? {
            if head.status >= 200 || head.status == 101 {
                break head;
            }
            sink.interim();
            buf.copy_within(head.len..filled, 0);
            filled -= head.len;
            continue;
        }
        if filled == buf.len() {
            buf.resize((buf.len() * 2).min(MAX_HEAD + BUF), 0);
        }
        match io.read(&mut buf[filled..]).await.map_err(io_error)? {
            0 => return Err(ErrorKind::Reset),
            n => {
                if filled == 0 {
                    sink.first_byte();
                }
                filled += n
            }
        }
    };
    sink.head(head.status);
    let mut body = head.body;
    let (used, mut done) = body.read(&buf[head.len..filled], |d| sink.data(d)).map_err(parse_error)?;
    let mut unasked = filled - head.len - used;
    while !done {
        let n = io.read(&mut buf[..]).await.map_err(io_error)?;
        if n == 0 {
            if body == Body::UntilClose {
                return Ok((head.status, false));
            }
            return Err(ErrorKind::Reset);
        }
        let (used, end) = body.read(&buf[..n], |d| sink.data(d)).map_err(parse_error)?;
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
