//! How an exchange ends: a status, or an [`ErrorKind`]. Every layer of the
//! client maps its failures here (socket errors in one place, [`io_error_kind`]),
//! so the statistics count the same failure the same way whichever path
//! (HTTP/1.1 or HTTP/2, load path or full exchange) met it.

use std::io;

/// Kinds of failure. The buckets count five of them (`connect`, `timeout`,
/// `tls`, `reset`, `other`); the finer kinds of the full exchange fold into
/// those ([`ErrorKind::counted_as`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// TCP connect failed.
    Connect,
    /// Request timeout.
    Timeout,
    /// TLS handshake / certificate.
    Tls,
    /// Connection reset or closed mid-exchange.
    Reset,
    /// Anything else (a malformed response, among others).
    Other,
    /// The host name does not resolve (counted as `connect`).
    Dns,
    /// The request cannot be sent as given: URL, method or header (counted
    /// as `other`).
    InvalidRequest,
    /// The response body is larger than the caller allowed (counted as `other`).
    BodyTooLarge,
    /// The host is not on the job's target allow-list: nothing was sent
    /// (counted as `other`).
    NotAllowed,
}

impl ErrorKind {
    /// The kind the per-second buckets count this one as.
    pub fn counted_as(self) -> ErrorKind {
        match self {
            ErrorKind::Dns => ErrorKind::Connect,
            ErrorKind::InvalidRequest | ErrorKind::BodyTooLarge | ErrorKind::NotAllowed => ErrorKind::Other,
            k => k,
        }
    }
}

/// What one request ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A complete response with this status.
    Status(u16),
    /// No (complete) response.
    Error(ErrorKind),
}

/// Maps a socket error to an error kind.
pub fn io_error_kind(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => ErrorKind::Reset,
        io::ErrorKind::TimedOut => ErrorKind::Timeout,
        _ => ErrorKind::Other,
    }
}
