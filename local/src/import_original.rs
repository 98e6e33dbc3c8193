//! `alilo-local import-original`: brings an installation of the original
//! platform over (`alilo_shared::original`): its Postgres (`--from-pg-dsn`,
//! `--from-pg-schema`) and its MinIO bucket (`--from-minio-*`) into this
//! deployment's database and bucket (the usual `--pg-dsn`, `--minio-*` flags
//! and variables). It prints a JSON report; run it again and nothing changes.

use crate::{Application, Settings};
use alilo_shared::config::{S3Config, Secret};
use alilo_shared::original::{self, Source};
use clap::Parser;

/// The command's flags: the original's, then ours.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "alilo-local import-original",
    about = "Import projects, scenarios, scripts, agents and files of the original platform"
)]
pub struct Args {
    /// The original's Postgres DSN (only read).
    #[arg(long = "from-pg-dsn", env = "FROM_PG_DSN")]
    pub from_pg_dsn: String,
    /// The original's schema.
    #[arg(long = "from-pg-schema", default_value = "public")]
    pub from_pg_schema: String,
    /// The original's MinIO endpoint (host:port or URL); unset: no files are copied.
    #[arg(long = "from-minio-endpoint", env = "FROM_MINIO_ENDPOINT")]
    pub from_minio_endpoint: Option<String>,
    /// The original's bucket (file links name it).
    #[arg(long = "from-minio-bucket", env = "FROM_MINIO_BUCKET", default_value = "alilo")]
    pub from_minio_bucket: String,
    #[arg(long = "from-minio-access-key-id", env = "FROM_MINIO_ACCESS_KEY_ID", default_value = "")]
    pub from_minio_access_key_id: String,
    #[arg(long = "from-minio-secret-access-key", env = "FROM_MINIO_SECRET_ACCESS_KEY", default_value = "")]
    pub from_minio_secret_access_key: String,
    /// This deployment (where the rows and files go).
    #[command(flatten)]
    pub target: Settings,
}

/// The original's side of `args`.
pub fn source(args: &Args) -> Source {
    let files = args.from_minio_endpoint.as_ref().map(|endpoint| {
        alilo_shared::storage::Storage::reader(&S3Config {
            endpoint: Some(endpoint.clone()),
            access_key: Secret::new(args.from_minio_access_key_id.clone()),
            secret_key: Secret::new(args.from_minio_secret_access_key.clone()),
            session_token: None,
            bucket: args.from_minio_bucket.clone(),
            secure: false,
            region: "us-east-1".into(),
        })
    });
    Source {
        dsn: args.from_pg_dsn.clone(),
        schema: args.from_pg_schema.clone(),
        files,
        bucket: args.from_minio_bucket.clone(),
    }
}

/// Runs the import against this deployment (built as `alilo-local` would be,
/// migrations applied, on a free port and without its agent).
pub async fn run(args: Args) -> anyhow::Result<original::Report> {
    let mut settings = args.target.clone();
    settings.port = 0;
    settings.no_agent = true;
    settings.demo = false;
    let app = Application::build(&settings).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    original::import(app.state(), &source(&args)).await
}
