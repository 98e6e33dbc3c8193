//! UploadService (data files) and the S3 browser, over the private bucket.

use super::valid;
use crate::db::{self, known_id};
use crate::extended;
use crate::http::{ApiError, ApiResult};
use crate::model::text;
use crate::state::AppState;
use crate::storage::{self, ObjectKey, StoredObject};
use crate::wire::Empty;
use crate::wire::files::*;

fn size_limit(app: &AppState, field: &str, len: usize) -> ApiResult<()> {
    let max = app.limits.max_upload_bytes;
    if len > max {
        return Err(ApiError::too_large(field, format!("{len} bytes is above the upload limit of {max} bytes")));
    }
    Ok(())
}

fn storage_fault(err: anyhow::Error) -> ApiError {
    ApiError::unavailable("object storage", format!("{err:#}"))
}

fn ammo_file(app: &AppState, r: &db::files::AmmoRecord, bytes: Vec<u8>) -> AmmoFile {
    AmmoFile {
        ammo_id: db::id32(r.id),
        name: r.object_key.clone(),
        descrip: r.descrip.clone(),
        s3_url: app.storage.s3_url(&r.object_key),
        ammo_file: bytes,
        bucket_name: r.bucket.clone(),
        size: r.size.to_string(),
        content_type: r.content_type.clone(),
    }
}

pub async fn upload(app: &AppState, req: AmmoUploadRequest) -> ApiResult<AmmoFileResponse> {
    size_limit(app, "ammo_file", req.ammo_file.len())?;
    let key = ObjectKey::data_file(&req.project_title, &req.scenario_title, &req.name, chrono::Utc::now())?;
    extended::validate::uploaded_file("ammo_file", &req.name, &req.ammo_file).await?;
    let content_type = storage::content_type("content_type", &req.content_type, "text/plain")?;
    valid("description", text::description(&req.description))?;
    let stored = app.storage.put(&key, req.ammo_file.clone(), content_type).await?;
    let record = db::files::upsert(
        &app.db,
        &key.path(),
        req.description.trim(),
        app.storage.bucket(),
        stored.size,
        content_type,
    )
    .await?;
    Ok(AmmoFileResponse {
        status: true,
        message: String::new(),
        ammo_file: Some(ammo_file(app, &record, req.ammo_file)),
    })
}

pub async fn data(app: &AppState, req: AmmoIdRequest) -> ApiResult<AmmoFileResponse> {
    let id = known_id("data file", req.ammo_id.into())?;
    let record = db::files::get(&app.db, id).await?.ok_or_else(|| ApiError::not_found("data file", id))?;
    let bytes = app
        .storage
        .get(&record.object_key)
        .await
        .map_err(storage_fault)?
        .ok_or_else(|| ApiError::not_found("stored object", &record.object_key))?;
    Ok(AmmoFileResponse { status: true, message: String::new(), ammo_file: Some(ammo_file(app, &record, bytes)) })
}

pub async fn list(app: &AppState, _: Empty) -> ApiResult<GetAllAmmoResponse> {
    let records = db::files::list(&app.db).await?;
    Ok(GetAllAmmoResponse {
        status: true,
        message: String::new(),
        ammo_files: records.iter().map(|r| ammo_file(app, r, Vec::new())).collect(),
    })
}

pub async fn bucket_list(app: &AppState, _: Empty) -> ApiResult<GetBucketListResponse> {
    let max = usize::try_from(crate::model::page::MAX_UNPAGED_ROWS).unwrap_or(usize::MAX);
    let objects = app.storage.list(max).await.map_err(storage_fault)?;
    Ok(GetBucketListResponse {
        result: object_tree(app.storage.bucket(), &objects),
        bucket_name: app.storage.bucket().into(),
    })
}

pub async fn upload_file(app: &AppState, req: UploadFileRequest) -> ApiResult<UploadFileResponse> {
    let key = ObjectKey::browser("name", &req.name)?;
    size_limit(app, "data", req.data.len())?;
    extended::validate::uploaded_file("data", &key.path(), &req.data).await?;
    let content_type = storage::content_type("content_type", &req.content_type, "application/octet-stream")?;
    let stored = app.storage.put(&key, req.data, content_type).await?;
    Ok(UploadFileResponse {
        name: key.path(),
        e_tag: stored.etag,
        size: stored.size.to_string(),
        last_modified: chrono::Utc::now().format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
    })
}

pub async fn delete_file(app: &AppState, req: DeleteFileRequest) -> ApiResult<DeleteFileResponse> {
    let key = ObjectKey::browser("path", &req.path)?.path();
    if !app.storage.exists(&key).await.map_err(storage_fault)? {
        return Err(ApiError::not_found("file", &key));
    }
    app.storage.delete(&key).await.map_err(storage_fault)?;
    db::files::forget(&app.db, &key).await?;
    Ok(DeleteFileResponse { path: key })
}

fn storage_object(o: &StoredObject) -> StorageObject {
    StorageObject {
        key: o.key.clone(),
        last_modified: o
            .last_modified
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default(),
        etag: o.etag.clone(),
        size: o.size.to_string(),
        storage_class: o.storage_class.clone(),
        owner: Some(Owner { id: String::new(), display_name: String::new() }),
        content_type: String::new(),
    }
}

fn node(name: &str, node_type: ObjectType, level: i32, path: String, object: Option<StorageObject>) -> ObjectNode {
    ObjectNode {
        name: name.into(),
        storage_object: object,
        node_type,
        children: Vec::new(),
        level,
        bucket_name: String::new(),
        path,
    }
}

/// The listing as a tree: a DIR node per folder (carrying the first object that
/// created it), a FILE leaf per object, an EMPTY leaf for a key ending in `/`.
pub fn object_tree(bucket: &str, objects: &[StoredObject]) -> ObjectNode {
    let mut root = node("root", ObjectType::Root, 0, "/".into(), None);
    root.bucket_name = bucket.into();
    for o in objects {
        let object = storage_object(o);
        let mut parts: Vec<&str> = o.key.split('/').collect();
        let leaf = parts.pop().unwrap_or_default();
        let mut current = &mut root;
        let mut path = String::from("/");
        for (depth, dir) in parts.iter().enumerate() {
            path.push_str(dir);
            path.push('/');
            let index = match current.children.iter().position(|c| c.node_type == ObjectType::Dir && c.name == *dir) {
                Some(i) => i,
                None => {
                    let level = i32::try_from(depth + 1).unwrap_or(i32::MAX);
                    current.children.push(node(dir, ObjectType::Dir, level, path.clone(), Some(object.clone())));
                    current.children.len() - 1
                }
            };
            current = &mut current.children[index];
        }
        let level = i32::try_from(parts.len() + 1).unwrap_or(i32::MAX);
        let leaf_node = if leaf.is_empty() {
            node("", ObjectType::Empty, level, path.clone(), Some(object))
        } else {
            node(leaf, ObjectType::File, level, format!("{path}{leaf}"), Some(object))
        };
        current.children.push(leaf_node);
    }
    root
}

/// A key from user input, for routes that take one.
pub fn browser_key(field: &str, raw: &str) -> ApiResult<String> {
    Ok(ObjectKey::browser(field, raw)?.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(key: &str) -> StoredObject {
        StoredObject {
            key: key.into(),
            size: 3,
            etag: "e".into(),
            last_modified: None,
            storage_class: "STANDARD".into(),
        }
    }

    #[test]
    fn keys_become_a_tree() {
        let tree = object_tree("b", &[obj("a/b/f.txt"), obj("a/g.txt"), obj("top.csv"), obj("a/empty/")]);
        assert_eq!(tree.node_type, ObjectType::Root);
        assert_eq!(tree.bucket_name, "b");
        let a = &tree.children[0];
        assert_eq!((a.name.as_str(), a.node_type, a.level, a.path.as_str()), ("a", ObjectType::Dir, 1, "/a/"));
        let b = &a.children[0];
        assert_eq!((b.path.as_str(), b.level), ("/a/b/", 2));
        let f = &b.children[0];
        assert_eq!(
            (f.name.as_str(), f.node_type, f.level, f.path.as_str()),
            ("f.txt", ObjectType::File, 3, "/a/b/f.txt")
        );
        assert_eq!(a.children[1].name, "g.txt");
        assert_eq!(tree.children[1].path, "/top.csv");
        let empty = &a.children[2].children[0];
        assert_eq!((empty.name.as_str(), empty.node_type), ("", ObjectType::Empty));
        assert!(f.children.is_empty());
    }
}
