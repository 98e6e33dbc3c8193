//! Object storage over aws-sdk-s3: MinIO, AWS S3, or the embedded endpoint of
//! `alilo-local`, always the same code path. The bucket is private: objects are
//! never made public, and agents get presigned URLs.

use crate::config::S3Config;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use std::time::Duration;

/// Where an object lives in the bucket; each kind owns its key layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectKey {
    /// An uploaded data file: `<project>/<scenario>/<YYYY_MM_DD_HH_MM_SS>_<name>`.
    DataFile { project: String, scenario: String, stamp: String, name: String },
    /// A key chosen in the file browser, already validated by [`ObjectKey::browser`].
    Browser(String),
    /// The HTML report of a run: `reports/run-<id>.html`.
    RunReport { run_id: i64 },
}

/// Longest object key S3 accepts.
const MAX_KEY_BYTES: usize = 1024;

/// A path segment made safe: no separators, no dot-dot, no control characters.
fn segment(field: &str, raw: &str) -> Result<String, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(format!("{field}: is required"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{field}: {text:?} contains a control character"));
    }
    let safe = text.replace(['/', '\\'], "_");
    if safe == "." || safe == ".." {
        return Err(format!("{field}: {text:?} is not a valid name"));
    }
    Ok(safe)
}

impl ObjectKey {
    pub fn data_file(
        project: &str,
        scenario: &str,
        name: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, String> {
        Ok(Self::DataFile {
            project: segment("project_title", project)?,
            scenario: segment("scenario_title", scenario)?,
            stamp: now.format("%Y_%m_%d_%H_%M_%S").to_string(),
            name: segment("name", name)?,
        })
    }

    /// A key typed by a user: relative, no empty or dot-dot segments, bounded.
    pub fn browser(raw: &str) -> Result<Self, String> {
        let key = raw.trim();
        if key.is_empty() {
            return Err("is required: the object's key, e.g. \"project/data.json\"".into());
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(format!("is longer than {MAX_KEY_BYTES} bytes"));
        }
        if key.starts_with('/') || key.chars().any(char::is_control) {
            return Err(format!("{key:?} must be relative and printable"));
        }
        let body = key.strip_suffix('/').unwrap_or(key);
        if body.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
            return Err(format!("{key:?} has an empty, \".\" or \"..\" segment"));
        }
        Ok(Self::Browser(key.to_string()))
    }

    pub fn path(&self) -> String {
        match self {
            Self::DataFile { project, scenario, stamp, name } => format!("{project}/{scenario}/{stamp}_{name}"),
            Self::Browser(key) => key.clone(),
            Self::RunReport { run_id } => format!("reports/run-{run_id}.html"),
        }
    }
}

/// What a put reports back.
#[derive(Debug, Clone)]
pub struct PutOutcome {
    pub etag: String,
    pub size: i64,
}

/// One listed object.
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub key: String,
    pub size: i64,
    pub etag: String,
    pub last_modified: Option<chrono::DateTime<chrono::Utc>>,
    pub storage_class: String,
}

#[derive(Clone)]
pub struct Storage {
    client: aws_sdk_s3::Client,
    bucket: String,
}

fn fault(what: &str, err: impl std::fmt::Debug) -> anyhow::Error {
    anyhow::anyhow!("{what}: {err:?}")
}

impl Storage {
    /// A client for the configured endpoint and bucket. The bucket is created when
    /// missing (MinIO and the embedded endpoint; in AWS the template creates it).
    pub async fn connect(cfg: &S3Config) -> anyhow::Result<Self> {
        let credentials = Credentials::new(
            cfg.access_key.expose(),
            cfg.secret_key.expose(),
            cfg.session_token.as_ref().map(|t| t.expose().to_string()),
            None,
            "alilo-config",
        );
        let http =
            aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(cfg.region.clone()))
            .credentials_provider(credentials)
            .http_client(http)
            // S3-compatible servers differ in checksum support; only send what is required.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(url) = cfg.endpoint_url() {
            builder = builder.endpoint_url(url).force_path_style(true);
        }
        let storage = Self { client: aws_sdk_s3::Client::from_conf(builder.build()), bucket: cfg.bucket.clone() };
        if cfg.endpoint.is_some() {
            storage.ensure_bucket().await?;
        }
        Ok(storage)
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn ensure_bucket(&self) -> anyhow::Result<()> {
        if self.client.head_bucket().bucket(&self.bucket).send().await.is_ok() {
            return Ok(());
        }
        match self.client.create_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => Ok(()),
            Err(e) => Err(fault(&format!("cannot create bucket {:?}", self.bucket), e)),
        }
    }

    #[tracing::instrument(skip(self, body), fields(bucket = %self.bucket, size = body.len()))]
    pub async fn put(&self, key: &ObjectKey, body: Vec<u8>, content_type: &str) -> anyhow::Result<PutOutcome> {
        let size = i64::try_from(body.len()).unwrap_or(i64::MAX);
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.path())
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| fault("put_object", e))?;
        Ok(PutOutcome { etag: out.e_tag().unwrap_or_default().trim_matches('"').to_string(), size })
    }

    /// The object's bytes, or `None` when it does not exist.
    pub async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(Some(out.body.collect().await.map_err(|e| fault("get_object body", e))?.to_vec())),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(fault("get_object", e)),
        }
    }

    /// Whether the object exists.
    pub async fn exists(&self, key: &str) -> anyhow::Result<bool> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) => Err(fault("head_object", e)),
        }
    }

    /// Every object of the bucket, following continuation tokens.
    pub async fn list(&self) -> anyhow::Result<Vec<StoredObject>> {
        self.list_under("").await
    }

    /// Every object whose key starts with `prefix`.
    pub async fn list_under(&self, prefix: &str) -> anyhow::Result<Vec<StoredObject>> {
        let mut objects = Vec::new();
        let prefix = (!prefix.is_empty()).then(|| prefix.to_string());
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).set_prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| fault("list_objects_v2", e))?;
            for o in page.contents() {
                objects.push(StoredObject {
                    key: o.key().unwrap_or_default().to_string(),
                    size: o.size().unwrap_or(0),
                    etag: o.e_tag().unwrap_or_default().trim_matches('"').to_string(),
                    last_modified: o.last_modified().and_then(|t| chrono::DateTime::from_timestamp(t.secs(), 0)),
                    storage_class: o.storage_class().map(|c| c.as_str().to_string()).unwrap_or_default(),
                });
            }
        }
        Ok(objects)
    }

    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| fault("delete_object", e))?;
        Ok(())
    }

    /// A time-limited GET URL for an agent to fetch a data file.
    pub async fn presign_get(&self, key: &str, ttl: Duration) -> anyhow::Result<String> {
        let config = PresigningConfig::expires_in(ttl)?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| fault("presign get_object", e))?;
        Ok(req.uri().to_string())
    }

    /// The `s3://bucket/key` name of an object (it is private: this is no link).
    pub fn s3_url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_file_keys_come_from_project_scenario_and_name() {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let key = ObjectKey::data_file("12", "Checkout", "users 2024.csv", at).unwrap();
        assert_eq!(key.path(), "12/Checkout/2023_11_14_22_13_20_users 2024.csv");
    }

    #[test]
    fn names_cannot_escape_their_folder() {
        let at = chrono::Utc::now();
        assert_eq!(ObjectKey::data_file("a/b", "c", "../x", at).unwrap().path().split('/').count(), 3);
        assert!(ObjectKey::data_file("..", "c", "x", at).is_err());
        assert!(ObjectKey::data_file("", "c", "x", at).is_err());
    }

    #[test]
    fn browser_keys_are_relative_and_clean() {
        assert!(ObjectKey::browser("dir/file.json").is_ok());
        assert!(ObjectKey::browser("dir/sub/").is_ok());
        for bad in ["", "/abs", "a//b", "a/../b", "./a", "a\nb"] {
            assert!(ObjectKey::browser(bad).is_err(), "{bad:?}");
        }
    }
}
