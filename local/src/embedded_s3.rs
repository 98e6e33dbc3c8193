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
    let task = tokio::spawn(async move {
        let http = ConnBuilder::new(TokioExecutor::new());
        loop {
            let Ok((socket, _)) = listener.accept().await else { continue };
            let conn = http.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
    Ok(EmbeddedS3 { endpoint, access_key, secret_key, task })
}
