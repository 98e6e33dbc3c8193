//! The load path: one request of a job's template on a pooled connection,
//! ending in an [`Outcome`] and nothing else. Response bodies are skipped,
//! not kept; this is the path the throughput benchmark measures.

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

use super::error::{ErrorKind, Outcome};
use super::h2;
use super::pool::{Conn, Pool};

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
    let deadline = tokio::time::Instant::now() + timeout;
    let result = match pool.checkout(deadline).await {
        Ok(Conn::H1(mut c)) => {
            let r = c.exchange(&source.next_h1(), source.is_head(), deadline).await;
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
