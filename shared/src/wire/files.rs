//! UploadService (data files) and the S3 browser's shapes.

use super::de;
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

/// `bytes` fields print as standard padded base64.
pub fn base64_out<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    use base64::Engine;
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct AmmoUploadRequest {
    #[serde(deserialize_with = "de::string")]
    #[schema(required = true)]
    pub name: String,
    #[serde(deserialize_with = "de::string")]
    pub description: String,
    #[serde(alias = "bucketName", deserialize_with = "de::string")]
    pub bucket_name: String,
    #[serde(alias = "projectTitle", deserialize_with = "de::string")]
    #[schema(required = true)]
    pub project_title: String,
    #[serde(alias = "scenarioTitle", deserialize_with = "de::string")]
    #[schema(required = true)]
    pub scenario_title: String,
    /// The file's content, base64.
    #[serde(alias = "ammoFile", deserialize_with = "de::bytes")]
    #[schema(value_type = String, format = Byte)]
    pub ammo_file: Vec<u8>,
    #[serde(alias = "contentType", deserialize_with = "de::string")]
    pub content_type: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AmmoFile {
    pub ammo_id: i32,
    /// The object key.
    pub name: String,
    pub descrip: String,
    /// Where the file is stored (`s3://bucket/key`); the bucket is private, agents
    /// receive presigned URLs.
    pub s3_url: String,
    #[serde(serialize_with = "base64_out")]
    #[schema(value_type = String, format = Byte)]
    pub ammo_file: Vec<u8>,
    pub bucket_name: String,
    pub size: String,
    pub content_type: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AmmoFileResponse {
    pub status: bool,
    pub message: String,
    pub ammo_file: Option<AmmoFile>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct AmmoIdRequest {
    #[serde(alias = "ammoId", deserialize_with = "de::i32")]
    #[schema(required = true)]
    pub ammo_id: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetAllAmmoResponse {
    pub status: bool,
    pub message: String,
    pub ammo_files: Vec<AmmoFile>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Owner {
    pub id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StorageObject {
    pub key: String,
    pub last_modified: String,
    pub etag: String,
    pub size: String,
    pub storage_class: String,
    pub owner: Option<Owner>,
    #[serde(rename = "type")]
    pub content_type: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum ObjectType {
    #[serde(rename = "ROOT")]
    Root,
    #[serde(rename = "DIR")]
    Dir,
    #[serde(rename = "FILE")]
    File,
    #[serde(rename = "EMPTY")]
    Empty,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ObjectNode {
    pub name: String,
    pub storage_object: Option<StorageObject>,
    #[serde(rename = "type")]
    pub node_type: ObjectType,
    #[schema(no_recursion)]
    pub children: Vec<ObjectNode>,
    pub level: i32,
    pub bucket_name: String,
    pub path: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetBucketListResponse {
    pub result: ObjectNode,
    pub bucket_name: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct UploadFileRequest {
    /// The object key.
    #[serde(deserialize_with = "de::string")]
    #[schema(required = true)]
    pub name: String,
    #[serde(alias = "contentType", deserialize_with = "de::string")]
    pub content_type: String,
    #[serde(deserialize_with = "de::bytes")]
    #[schema(value_type = String, format = Byte)]
    pub data: Vec<u8>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadFileResponse {
    pub name: String,
    pub e_tag: String,
    pub size: String,
    pub last_modified: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct DeleteFileRequest {
    #[serde(deserialize_with = "de::string")]
    #[schema(required = true)]
    pub path: String,
    /// Ignored: the configured bucket is used.
    #[serde(rename = "bucketName", alias = "bucket_name", deserialize_with = "de::string")]
    pub bucket_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteFileResponse {
    pub path: String,
}
