//! The files function: UploadService (data files) and the S3 browser's v1 routes.
//! Uploads arrive base64 in JSON, so the body limit is the file limit plus a third.

use alilo_shared::AppState;
use alilo_shared::http::BodyLimit;
use alilo_shared::service::files as svc;
use alilo_shared::v1_route;
use alilo_shared::wire::Empty;
use alilo_shared::wire::files::*;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every route this function serves. `max_upload_bytes` sizes the request-body
/// limit so that an oversized file is answered with the 413 that names it.
pub fn routes_with_limit(max_upload_bytes: usize) -> OpenApiRouter<AppState> {
    // base64 turns 3 bytes into 4; leave room for the JSON around it.
    let body_limit = max_upload_bytes / 3 * 4 + 64 * 1024;
    OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(data))
        .routes(routes!(list))
        .routes(routes!(bucket_list))
        .routes(routes!(upload_file))
        .routes(routes!(delete_file))
        .layer(axum::Extension(BodyLimit(body_limit.max(alilo_shared::http::DEFAULT_BODY_LIMIT))))
}

/// The routes with the default upload limit.
pub fn routes() -> OpenApiRouter<AppState> {
    routes_with_limit(alilo_shared::config::DEFAULT_MAX_UPLOAD_BYTES)
}

v1_route!(
    /// Store a data file under `<project_title>/<scenario_title>/<time>_<name>` in the private bucket. A `.js`/`.mjs`
    /// file must compile as a k6 module (422 with `file:line:column` otherwise).
    upload, "/v1/file/upload", "UploadService", AmmoUploadRequest => AmmoFileResponse, svc::upload);
v1_route!(
    /// A stored data file with its content.
    data, "/v1/file/data", "UploadService", AmmoIdRequest => AmmoFileResponse, svc::data);
v1_route!(
    /// Every stored data file (without content).
    list, "/v1/files", "UploadService", Empty => GetAllAmmoResponse, svc::list);
v1_route!(
    /// The bucket's objects as a tree.
    bucket_list, "/v1/s3/getBucketList", "S3Service", Empty => GetBucketListResponse, svc::bucket_list);
v1_route!(
    /// Store an object under the key `name`. A `.js`/`.mjs` file must compile as a k6 module importing only
    /// supported modules (422 with `file:line:column` otherwise).
    upload_file, "/v1/s3/uploadFile", "S3Service", UploadFileRequest => UploadFileResponse, svc::upload_file);
v1_route!(
    /// Delete the object at `path`.
    delete_file, "/v1/s3/deleteBucketFile", "S3Service", DeleteFileRequest => DeleteFileResponse, svc::delete_file);
