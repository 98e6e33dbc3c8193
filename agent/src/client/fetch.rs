//! One-off downloads (a job's data file): a GET with a timeout, a size cap
//! and a status check, on a connection of its own.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

use super::transport::{self, Endpoint, IoCounters};

/// Fetches a (data) file with a timeout, a size cap and a status check.
pub async fn fetch(url: &str, tls_verify: bool, timeout: Duration, max_bytes: usize) -> Result<Bytes, String> {
    let uri: Uri = url.parse().map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    let work = async {
        let ep = Endpoint::resolve(&uri, false, tls_verify).await.map_err(|e| e.to_string())?;
        let counters = Arc::new(IoCounters::default());
        let c = transport::connect(&ep, &counters).await.map_err(|k| format!("cannot connect to {url}: {k:?}"))?;
        let (mut s, conn) =
            http1::handshake(TokioIo::new(c.io)).await.map_err(|e| format!("cannot connect to {url}: {e}"))?;
        tokio::spawn(conn);
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let req = Request::get(path)
            .header(http::header::HOST, ep.authority.as_str())
            .header(http::header::USER_AGENT, crate::USER_AGENT)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let resp = s.send_request(req).await.map_err(|e| format!("fetching {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("fetching {url}: status {}", resp.status()));
        }
        let mut body = resp.into_body();
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("fetching {url}: {e}"))?;
            if let Some(d) = frame.data_ref() {
                if out.len() + d.len() > max_bytes {
                    return Err(format!("{url} is larger than {max_bytes} bytes"));
                }
                out.extend_from_slice(d);
            }
        }
        Ok(Bytes::from(out))
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| format!("fetching {url} took longer than {timeout:?}"))?
}
