//! Object storage over aws-sdk-s3: MinIO, AWS S3, or the embedded endpoint of
//! `alilo-local`, always the same code path. The bucket is private: objects are
//! never made public, and agents get presigned URLs.

use crate::config::S3Config;
use crate::http::{ApiError, quote};
use aws_sdk_s3::config::http::HttpResponse;
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
    /// A run-controller's snapshot of the runs it works on, one per controller
    /// instance, for a new process during a database outage (`control::snapshot`):
    /// `controller/snapshots/<controller id>.json`.
    ControllerSnapshot { controller: String },
    /// The failed-request log of a script run: `logs/run-<id>/script-run-<id>.json`.
    RunLog { run_id: i64, script_run_id: i64 },
}

/// Where the controllers' snapshots are ([`ObjectKey::ControllerSnapshot`]).
pub const CONTROLLER_SNAPSHOTS: &str = "controller/snapshots/";

/// Longest object key S3 accepts (bytes of UTF-8); longer ones fail in the SDK or
/// the server, so they are refused before any request.
pub const MAX_KEY_BYTES: usize = 1024;
/// Most folders in a key: each one costs a lookup when checking for conflicts.
pub const MAX_KEY_DEPTH: usize = 32;
/// Longest content type we pass on (it becomes an HTTP header).
pub const MAX_CONTENT_TYPE_CHARS: usize = 255;

/// Why a key or an object's metadata cannot be stored, naming the request field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    pub field: String,
    pub why: String,
    /// Absent rather than wrong: answered 400, the others 422.
    pub missing: bool,
}

impl KeyError {
    fn new(field: &str, why: impl Into<String>) -> Self {
        Self { field: field.into(), why: why.into(), missing: false }
    }
    fn missing(field: &str, why: impl Into<String>) -> Self {
        Self { field: field.into(), why: why.into(), missing: true }
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        if e.missing { ApiError::bad_request(&e.field, e.why) } else { ApiError::unprocessable(&e.field, e.why) }
    }
}

/// A path segment made safe: no separators, no dot-dot, no control characters.
fn segment(field: &str, raw: &str) -> Result<String, KeyError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(KeyError::missing(field, "is required"));
    }
    if text.len() > MAX_KEY_BYTES {
        return Err(KeyError::new(field, format!("is longer than {MAX_KEY_BYTES} bytes")));
    }
    if text.chars().any(char::is_control) {
        return Err(KeyError::new(field, format!("{} contains a control character", quote(text))));
    }
    let safe = text.replace(['/', '\\'], "_");
    if safe == "." || safe == ".." {
        return Err(KeyError::new(field, format!("{} is not a valid name", quote(text))));
    }
    Ok(safe)
}

/// The content type to store: printable ASCII (it travels as an HTTP header),
/// bounded; blank gives `default`.
pub fn content_type<'a>(field: &str, raw: &'a str, default: &'a str) -> Result<&'a str, KeyError> {
    let text = raw.trim();
    if text.is_empty() {
        return Ok(default);
    }
    if text.chars().count() > MAX_CONTENT_TYPE_CHARS {
        return Err(KeyError::new(field, format!("is longer than {MAX_CONTENT_TYPE_CHARS} characters")));
    }
    if !text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(KeyError::new(field, format!("{} must be printable ASCII, like \"text/csv\"", quote(text))));
    }
    Ok(text)
}

/// Why storage refused or failed an operation.
#[derive(Debug)]
pub enum StorageError {
    /// The request's key or metadata cannot be stored (422, or 400 when missing).
    Invalid(KeyError),
    /// The key is a folder of another object, or an object is one of its folders (409).
    Conflict(String),
    /// The storage server is unreachable or failed (503); the chain is logged.
    Unavailable(anyhow::Error),
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Invalid(k) => k.into(),
            StorageError::Conflict(why) => ApiError::conflict(why),
            StorageError::Unavailable(cause) => ApiError::unavailable("object storage", format!("{cause:#}")),
        }
    }
}

impl From<KeyError> for StorageError {
    fn from(e: KeyError) -> Self {
        StorageError::Invalid(e)
    }
}

impl ObjectKey {
    /// Where [`ObjectKey::RunLog`]s live.
    pub const LOGS_PREFIX: &'static str = "logs/";

    pub fn data_file(
        project: &str,
        scenario: &str,
        name: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, KeyError> {
        let key = Self::DataFile {
            project: segment("project_title", project)?,
            scenario: segment("scenario_title", scenario)?,
            stamp: now.format("%Y_%m_%d_%H_%M_%S").to_string(),
            name: segment("name", name)?,
        };
        let bytes = key.path().len();
        if bytes > MAX_KEY_BYTES {
            return Err(KeyError::new(
                "name",
                format!("the key project_title/scenario_title/time_name is {bytes} bytes, above S3's {MAX_KEY_BYTES}"),
            ));
        }
        Ok(key)
    }

    /// A key typed by a user in request field `field`: relative, no empty or
    /// dot-dot segments, bounded in bytes and depth.
    pub fn browser(field: &str, raw: &str) -> Result<Self, KeyError> {
        let key = raw.trim();
        if key.is_empty() {
            return Err(KeyError::missing(field, "is required: the object's key, e.g. \"project/data.json\""));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(KeyError::new(field, format!("is {} bytes, above S3's {MAX_KEY_BYTES}", key.len())));
        }
        if key.starts_with('/') || key.chars().any(char::is_control) {
            return Err(KeyError::new(field, format!("{} must be relative and printable", quote(key))));
        }
        let body = key.strip_suffix('/').unwrap_or(key);
        if body.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
            return Err(KeyError::new(field, format!("{} has an empty, \".\" or \"..\" segment", quote(key))));
        }
        if body.split('/').count() > MAX_KEY_DEPTH {
            return Err(KeyError::new(field, format!("has more than {MAX_KEY_DEPTH} folders")));
        }
        Ok(Self::Browser(key.to_string()))
    }

    /// The folders above the key: `a/b/c.csv` → `a`, `a/b`.
    fn folders(path: &str) -> impl Iterator<Item = &str> {
        path.trim_end_matches('/').match_indices('/').map(move |(i, _)| &path[..i])
    }

    pub fn path(&self) -> String {
        match self {
            Self::DataFile { project, scenario, stamp, name } => format!("{project}/{scenario}/{stamp}_{name}"),
            Self::Browser(key) => key.clone(),
            Self::RunReport { run_id } => format!("reports/run-{run_id}.html"),
            Self::ControllerSnapshot { controller } => format!("{CONTROLLER_SNAPSHOTS}{controller}.json"),
            Self::RunLog { run_id, script_run_id } => format!("logs/run-{run_id}/script-run-{script_run_id}.json"),
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

/// An SDK failure of a put: the server refusing the request's key or metadata
/// (400), a conflict (409), or an outage (anything else, 503).
fn put_failure<E: std::fmt::Debug>(key: &str, err: aws_sdk_s3::error::SdkError<E, HttpResponse>) -> StorageError {
    use aws_sdk_s3::error::SdkError;
    let status = match &err {
        SdkError::ServiceError(e) => Some(e.raw().status().as_u16()),
        SdkError::ResponseError(e) => Some(e.raw().status().as_u16()),
        // The request could not be built from our input (e.g. an invalid URI).
        SdkError::ConstructionFailure(_) => {
            return StorageError::Invalid(KeyError::new("name", format!("{} cannot be sent to storage", quote(key))));
        }
        _ => None,
    };
    match status {
        Some(409) => StorageError::Conflict(format!("{} conflicts with a stored object or folder", quote(key))),
        Some(400) => StorageError::Invalid(KeyError::new("name", format!("storage refused the key {}", quote(key)))),
        _ => StorageError::Unavailable(fault("put_object", err)),
    }
}

impl Storage {
    /// A client for the configured endpoint and bucket. The bucket is created when
    /// missing (MinIO and the embedded endpoint; in AWS the template creates it).
    pub async fn connect(cfg: &S3Config) -> anyhow::Result<Self> {
        let storage = Self::client_for(cfg);
        if cfg.endpoint.is_some() {
            storage.ensure_bucket().await?;
        }
        Ok(storage)
    }

    /// A client for a bucket that is only read (the original's, in an
    /// import): nothing is created.
    pub fn reader(cfg: &S3Config) -> Self {
        Self::client_for(cfg)
    }

    fn client_for(cfg: &S3Config) -> Self {
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
        Self { client: aws_sdk_s3::Client::from_conf(builder.build()), bucket: cfg.bucket.clone() }
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

    /// Store an object. A key that is a folder of a stored object, or under a
    /// stored object (`conf` then `conf/child`), is a conflict on every backend, so
    /// the bucket always reads as one tree (some S3 servers refuse it, AWS allows it).
    #[tracing::instrument(skip(self, body), fields(bucket = %self.bucket, size = body.len()))]
    pub async fn put(&self, key: &ObjectKey, body: Vec<u8>, content_type: &str) -> Result<PutOutcome, StorageError> {
        let path = key.path();
        self.refuse_conflicts(&path).await?;
        let size = i64::try_from(body.len()).unwrap_or(i64::MAX);
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&path)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| put_failure(&path, e))?;
        Ok(PutOutcome { etag: out.e_tag().unwrap_or_default().trim_matches('"').to_string(), size })
    }

    /// 409 when a folder of `path` is an object, or `path` (as a file) is a folder
    /// holding objects.
    async fn refuse_conflicts(&self, path: &str) -> Result<(), StorageError> {
        for folder in ObjectKey::folders(path) {
            if self.exists(folder).await.map_err(StorageError::Unavailable)? {
                return Err(StorageError::Conflict(format!(
                    "{} is under {}, which is a file, not a folder",
                    quote(path),
                    quote(folder)
                )));
            }
        }
        if !path.ends_with('/') {
            let inside = format!("{path}/");
            let listed = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&inside)
                .max_keys(1)
                .send()
                .await
                .map_err(|e| StorageError::Unavailable(fault("list_objects_v2", e)))?;
            if !listed.contents().is_empty() {
                return Err(StorageError::Conflict(format!("{} is a folder holding other files", quote(path))));
            }
        }
        Ok(())
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

    /// The bucket's objects by key, following continuation tokens, at most `max`.
    pub async fn list(&self, max: usize) -> anyhow::Result<Vec<StoredObject>> {
        self.list_under("", max).await
    }

    /// The objects whose key starts with `prefix`, at most `max`.
    pub async fn list_under(&self, prefix: &str, max: usize) -> anyhow::Result<Vec<StoredObject>> {
        let mut objects = Vec::new();
        let prefix = (!prefix.is_empty()).then(|| prefix.to_string());
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).set_prefix(prefix).into_paginator().send();
        while objects.len() < max
            && let Some(page) = pages.next().await
        {
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
        objects.truncate(max);
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
        assert!(ObjectKey::browser("name", "dir/file.json").is_ok());
        assert!(ObjectKey::browser("name", "dir/sub/").is_ok());
        for bad in ["", "/abs", "a//b", "a/../b", "./a", "a\nb"] {
            assert!(ObjectKey::browser("name", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_missing_key_is_a_400_and_a_bad_one_a_422_naming_the_field() {
        let missing: ApiError = ObjectKey::browser("path", " ").unwrap_err().into();
        assert_eq!((missing.status.as_u16(), missing.message.starts_with("path: is required")), (400, true));
        let bad: ApiError = ObjectKey::browser("path", "a/../b").unwrap_err().into();
        assert_eq!((bad.status.as_u16(), bad.message.starts_with("path: ")), (422, true));
    }

    #[test]
    fn keys_longer_than_s3_allows_are_refused_before_any_request() {
        let at = chrono::Utc::now();
        let long = "n".repeat(70_000);
        let err = ObjectKey::browser("name", &long).unwrap_err();
        assert!(err.why.contains("70000 bytes") && err.why.len() < 100, "{}", err.why);
        let err = ObjectKey::data_file("p", "s", &long, at).unwrap_err();
        assert_eq!(err.field, "name");
        let err = ObjectKey::data_file("p", "s", &"n".repeat(1_010), at).unwrap_err();
        assert!(err.why.contains("above S3's 1024"), "{}", err.why);
        assert!(ObjectKey::browser("name", &"a/".repeat(40)).is_err());
    }

    #[test]
    fn content_types_are_printable_ascii() {
        assert_eq!(content_type("content_type", " text/csv ", "x").unwrap(), "text/csv");
        assert_eq!(content_type("content_type", "", "application/octet-stream").unwrap(), "application/octet-stream");
        for bad in ["text/\u{7}csv", "text/csvé", "a\r\nX-Injected: 1"] {
            let err = content_type("content_type", bad, "x").unwrap_err();
            assert_eq!(err.field, "content_type", "{bad:?}");
        }
        assert!(content_type("content_type", &"a".repeat(300), "x").is_err());
    }

    #[test]
    fn folders_are_every_prefix_ending_before_a_slash() {
        assert_eq!(ObjectKey::folders("a/b/c.csv").collect::<Vec<_>>(), ["a", "a/b"]);
        assert_eq!(ObjectKey::folders("top.csv").count(), 0);
        assert_eq!(ObjectKey::folders("a/b/").collect::<Vec<_>>(), ["a"]);
    }
}
