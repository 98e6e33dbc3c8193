//! Records of uploaded data files; the bytes live in the private bucket.

use super::Db;
use crate::http::ApiResult;
use crate::model::page::MAX_UNPAGED_ROWS;

#[derive(Debug, Clone)]
pub struct AmmoRecord {
    pub id: i64,
    pub object_key: String,
    pub descrip: String,
    pub bucket: String,
    pub size: i64,
    pub content_type: String,
}

fn record(r: &tokio_postgres::Row) -> AmmoRecord {
    AmmoRecord {
        id: r.get("id"),
        object_key: r.get("object_key"),
        descrip: r.get("descrip"),
        bucket: r.get("bucket"),
        size: r.get("size"),
        content_type: r.get("content_type"),
    }
}

const SELECT: &str = "SELECT id, object_key, descrip, bucket, size, content_type FROM ammo_files";

/// Insert or refresh the record of an object key.
pub async fn upsert(
    db: &Db,
    key: &str,
    descrip: &str,
    bucket: &str,
    size: i64,
    content_type: &str,
) -> ApiResult<AmmoRecord> {
    let conn = db.conn().await?;
    let row = conn
        .query_one(
            &conn.prepare_cached("INSERT INTO ammo_files (object_key, descrip, bucket, size, content_type) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (object_key) DO UPDATE SET descrip = EXCLUDED.descrip, size = EXCLUDED.size,
                 content_type = EXCLUDED.content_type, created_at = now()
             RETURNING id, object_key, descrip, bucket, size, content_type").await?,
            &[&key, &descrip, &bucket, &size, &content_type],
        )
        .await?;
    Ok(record(&row))
}

pub async fn get(db: &Db, id: i64) -> ApiResult<Option<AmmoRecord>> {
    let conn = db.conn().await?;
    Ok(conn
        .query_opt(&conn.prepare_cached(&format!("{SELECT} WHERE id = $1")).await?, &[&id])
        .await?
        .as_ref()
        .map(record))
}

pub async fn list(db: &Db) -> ApiResult<Vec<AmmoRecord>> {
    let conn = db.conn().await?;
    Ok(conn
        .query(&conn.prepare_cached(&format!("{SELECT} ORDER BY id LIMIT {MAX_UNPAGED_ROWS}")).await?, &[])
        .await?
        .iter()
        .map(record)
        .collect())
}

/// Forget the record of a deleted object.
pub async fn forget(db: &Db, key: &str) -> ApiResult<()> {
    let conn = db.conn().await?;
    conn.execute(&conn.prepare_cached("DELETE FROM ammo_files WHERE object_key = $1").await?, &[&key]).await?;
    Ok(())
}
