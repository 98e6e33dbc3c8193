//! The S3-compatible endpoint `alilo-local` runs when `MINIO_ENDPOINT` is unset:
//! s3s-fs serving a local folder over real HTTP on loopback, with credentials made
//! up at start, so the same aws-sdk-s3 code path runs as against MinIO or AWS.

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use std::path::Path;
use tokio::net::TcpListener;

/// A running embedded endpoint.
pub struct EmbeddedS3 {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serve `data_dir` on `127.0.0.1:<port>` (0 = any free port).
pub async fn start(data_dir: &Path, port: u16) -> anyhow::Result<EmbeddedS3> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create the storage folder {}: {e}", data_dir.display()))?;
    let fs = s3s_fs::FileSystem::new(data_dir).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let access_key = format!("alilo{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let secret_key = uuid::Uuid::new_v4().simple().to_string();
    let service = {
        let mut b = S3ServiceBuilder::new(fs);
        b.set_auth(SimpleAuth::from_single(access_key.clone(), secret_key.clone()));
        b.build()
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let root = data_dir.to_path_buf();
    let task = tokio::spawn(async move {
        let http = ConnBuilder::new(TokioExecutor::new());
        loop {
            let Ok((socket, _)) = listener.accept().await else { continue };
            let (service, root) = (service.clone(), root.clone());
            let handler = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let (service, root) = (service.clone(), root.clone());
                async move {
                    if req.method() == hyper::Method::HEAD && is_folder(&root, req.uri().path()) {
                        let mut missing = hyper::Response::new(s3s::Body::empty());
                        *missing.status_mut() = hyper::StatusCode::NOT_FOUND;
                        return Ok::<_, s3s::HttpError>(missing);
                    }
                    hyper::service::Service::call(&service, req).await
                }
            });
            let conn = http.serve_connection(TokioIo::new(socket), handler).into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
    Ok(EmbeddedS3 { endpoint, access_key, secret_key, task })
}

/// Whether a path-style object path (`/bucket/key`) is a folder on disk. s3s-fs
/// answers a HEAD of a folder (`reports` once `reports/run-1.html` exists) with
/// 500; S3 answers 404, as no object has that key. Storage's conflict check heads
/// every folder of a new key, so without this the second object under a folder
/// was refused as "object storage is unavailable".
fn is_folder(root: &Path, uri_path: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(uri_path.trim_start_matches('/')).decode_utf8_lossy();
    let Some((bucket, key)) = decoded.split_once('/') else { return false };
    let safe = |s: &str| !s.is_empty() && s.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
    safe(bucket) && safe(key.trim_end_matches('/')) && root.join(bucket).join(key).is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_told_from_objects_buckets_and_escapes() {
        let root = std::env::temp_dir().join(format!("alilo-s3-folder-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(root.join("alilo/reports/deep")).unwrap();
        std::fs::write(root.join("alilo/reports/run-1.html"), "x").unwrap();
        let table = [
            ("/alilo/reports", true),
            ("/alilo/reports/deep", true),
            ("/alilo/reports/run-1.html", false),
            ("/alilo/nothing", false),
            ("/alilo", false),
            ("/alilo/", false),
            ("/alilo/../alilo/reports", false),
            ("/alilo/%72eports", true),
        ];
        for (path, folder) in table {
            assert_eq!(is_folder(&root, path), folder, "{path}");
        }
        std::fs::remove_dir_all(root).unwrap();
    }
}
