//! One-off downloads (a job's data file): a GET with a timeout, a size cap
//! and a status check, through a [`Client`] of its own.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::error::ErrorKind;
use super::exchange::{Client, HttpRequest, RequestOptions, ResponseBody};
use super::transport::IoCounters;

/// Fetches a (data) file with a timeout, a size cap and a status check
/// (2xx; redirects are not followed).
pub async fn fetch(url: &str, tls_verify: bool, timeout: Duration, max_bytes: usize) -> Result<Bytes, String> {
    let client = Client::new(Arc::new(IoCounters::default()));
    let mut req = HttpRequest::new(http::Method::GET, url);
    req.options = RequestOptions {
        timeout,
        max_redirects: 0,
        tls_verify,
        http2: false,
        response_body: ResponseBody::Keep { max_bytes },
    };
    let resp = client.request(req).await;
    client.clear();
    if let Some(e) = &resp.last.error {
        return Err(match e.kind {
            ErrorKind::Timeout => format!("fetching {url} took longer than {timeout:?}"),
            ErrorKind::BodyTooLarge => format!("{url} is larger than {max_bytes} bytes"),
            ErrorKind::InvalidRequest => format!("invalid URL: {}", e.message),
            ErrorKind::Connect | ErrorKind::Dns | ErrorKind::Tls => format!("cannot connect to {url}: {}", e.message),
            _ => format!("fetching {url}: {}", e.message),
        });
    }
    let status = resp.status();
    if !(200..300).contains(&status) {
        let status = http::StatusCode::from_u16(status).map(|s| s.to_string()).unwrap_or_else(|_| status.to_string());
        return Err(format!("fetching {url}: status {status}"));
    }
    Ok(resp.body)
}
