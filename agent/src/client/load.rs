//! The load path: one request of a job's template on a pooled connection,
//! ending in an [`Outcome`] and nothing else. Response bodies are skipped,
//! not kept; this is the path the throughput benchmark measures.
//! [`send_with`] hands the response to a sink as it is read: [`FailedBody`]
//! keeps the first KB of a body the job's checks refuse (HTTP/1.1), for the
//! failed-request sample.

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

use super::error::{ErrorKind, Outcome};
use super::h1_conn::ResponseSink;
use super::h2;
use super::pool::{Conn, Pool};
use alilo_agent_api::{Checks, FAILURE_BODY_BYTES};

/// Where the load path gets its requests from (the job's template): in
/// the form of whichever protocol the pooled connection speaks.
pub trait RequestSource {
    /// The next request serialised for HTTP/1.1 (Host header included).
    fn next_h1(&self) -> Bytes;
    /// The next request for HTTP/2 (absolute URI).
    fn next_h2(&self) -> Request<Full<Bytes>>;
    /// Whether responses carry no body (HEAD).
    fn is_head(&self) -> bool;
}

/// Sends the next request of `source` on a connection of `pool`; `timeout`
/// bounds connecting, sending and reading the whole response.
pub async fn send(pool: &Pool, source: &impl RequestSource, timeout: Duration) -> Outcome {
    send_with(pool, source, timeout, &mut ()).await
}

/// [`send`], telling `sink` what an HTTP/1.1 response carries.
pub async fn send_with(
    pool: &Pool,
    source: &impl RequestSource,
    timeout: Duration,
    sink: &mut impl ResponseSink,
) -> Outcome {
    let deadline = tokio::time::Instant::now() + timeout;
    let result = match pool.checkout(deadline).await {
        Ok(Conn::H1(mut c)) => {
            let r = c.exchange_with(&source.next_h1(), source.is_head(), deadline, sink).await;
            if r.is_ok() {
                pool.checkin(c);
            }
            r
        }
        Ok(Conn::H2 { mut sender, .. }) => {
            tokio::time::timeout_at(deadline, h2::exchange(&mut sender, source.next_h2()))
                .await
                .unwrap_or(Err(ErrorKind::Timeout))
        }
        Err(k) => Err(k),
    };
    match result {
        Ok(status) => Outcome::Status(status),
        Err(kind) => Outcome::Error(kind),
    }
}

/// Keeps the first [`FAILURE_BODY_BYTES`] of a response whose status the
/// checks refuse; a passing response costs one comparison.
pub struct FailedBody<'a> {
    checks: &'a Checks,
    keeping: bool,
    /// The kept bytes.
    pub bytes: Vec<u8>,
}

impl<'a> FailedBody<'a> {
    /// A sink judging statuses by `checks`.
    pub fn new(checks: &'a Checks) -> Self {
        FailedBody { checks, keeping: false, bytes: Vec::new() }
    }
}

impl ResponseSink for FailedBody<'_> {
    fn head(&mut self, status: u16) {
        self.keeping = !self.checks.passes(status);
        self.bytes.clear();
    }

    fn data(&mut self, d: &[u8]) {
        if self.keeping {
            let room = FAILURE_BODY_BYTES.saturating_sub(self.bytes.len());
            self.bytes.extend_from_slice(&d[..d.len().min(room)]);
        }
    }
}
