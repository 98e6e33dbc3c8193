//! Storing the agents' seconds (`metric_seconds`), the controller's largest
//! write: one row per job and second, 10,000 a second at 1,000 agents (#13).
//!
//! Rows are built once ([`StoredSecond`]: histograms as [`crate::control::stored`]
//! keeps them) and sent with `COPY … FROM STDIN (FORMAT binary)`: no SQL text
//! to parse per row, no text to turn into JSONB or bytea on the server. COPY
//! cannot skip a row stored before, which happens only when an earlier write
//! committed but its answer was lost (a timeout on our side): the COPY then
//! fails on the primary key inside a savepoint, and the same rows go again as
//! one multi-row `INSERT … ON CONFLICT DO NOTHING`.

use crate::control::stored;
use crate::http::ApiResult;
use alilo_agent_api::{Bucket, ErrorCounts, ScriptBucket};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{Json, ToSql, Type};

/// One second as stored.
struct StoredSecond<'a> {
    job_id: i64,
    second: i64,
    ts: SystemTime,
    target_rps: f64,
    /// sent, ok, failed, dropped, bytes_sent, bytes_received.
    counts: [i64; 6],
    status: Json<&'a BTreeMap<String, u64>>,
    errors: Json<&'a ErrorCounts>,
    latency: Vec<u8>,
    service: Vec<u8>,
    script: Option<Json<&'a ScriptBucket>>,
}

#[allow(clippy::cast_possible_wrap)]
impl<'a> StoredSecond<'a> {
    fn of(job_id: i64, b: &'a Bucket) -> Self {
        Self {
            job_id,
            second: b.second as i64,
            ts: UNIX_EPOCH + Duration::from_millis(b.ts_ms),
            target_rps: b.target_rps,
            counts: [b.sent, b.ok, b.failed, b.dropped, b.bytes_sent, b.bytes_received].map(|v| v as i64),
            status: Json(&b.status),
            errors: Json(&b.errors),
            latency: stored::latency(&b.latency),
            service: stored::service(&b.service),
            script: b.script.as_ref().map(Json),
        }
    }
}

const COLUMNS: &str = "job_id, second, ts, target_rps, sent, ok, failed, dropped, bytes_sent, bytes_received, status, errors, latency, \
     service, script";

const TYPES: [Type; 15] = [
    Type::INT8,
    Type::INT8,
    Type::TIMESTAMPTZ,
    Type::FLOAT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::JSONB,
    Type::JSONB,
    Type::BYTEA,
    Type::BYTEA,
    Type::JSONB,
];

/// Store seconds, each (job, second) once, inside `tx`; answers how many rows
/// are new.
pub async fn store(tx: &tokio_postgres::Transaction<'_>, seconds: &[(i64, &Bucket)]) -> ApiResult<u64> {
    if seconds.is_empty() {
        return Ok(0);
    }
    // A buffer may hold a second twice (read again after a lost answer).
    let mut unique: Vec<(i64, &Bucket)> = seconds.to_vec();
    unique.sort_by_key(|(job, b)| (*job, b.second));
    unique.dedup_by_key(|(job, b)| (*job, b.second));
    let rows: Vec<StoredSecond> = unique.iter().map(|(job, b)| StoredSecond::of(*job, b)).collect();
    tx.batch_execute("SAVEPOINT seconds").await?;
    match copy(tx, &rows).await {
        Ok(n) => {
            tx.batch_execute("RELEASE SAVEPOINT seconds").await?;
            Ok(n)
        }
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            tx.batch_execute("ROLLBACK TO SAVEPOINT seconds").await?;
            insert(tx, &rows).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn copy(tx: &tokio_postgres::Transaction<'_>, rows: &[StoredSecond<'_>]) -> Result<u64, tokio_postgres::Error> {
    let sink = tx.copy_in(&format!("COPY metric_seconds ({COLUMNS}) FROM STDIN (FORMAT binary)")).await?;
    let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &TYPES));
    for r in rows {
        let c = &r.counts;
        let values: [&(dyn ToSql + Sync); 15] = [
            &r.job_id,
            &r.second,
            &r.ts,
            &r.target_rps,
            &c[0],
            &c[1],
            &c[2],
            &c[3],
            &c[4],
            &c[5],
            &r.status,
            &r.errors,
            &r.latency,
            &r.service,
            &r.script,
        ];
        writer.as_mut().write(&values).await?;
    }
    writer.finish().await
}

/// The same rows as one statement that skips those stored before.
async fn insert(tx: &tokio_postgres::Transaction<'_>, rows: &[StoredSecond<'_>]) -> ApiResult<u64> {
    let jobs: Vec<i64> = rows.iter().map(|r| r.job_id).collect();
    let seconds: Vec<i64> = rows.iter().map(|r| r.second).collect();
    let count = |i: usize| rows.iter().map(|r| r.counts[i]).collect::<Vec<i64>>();
    let ts: Vec<SystemTime> = rows.iter().map(|r| r.ts).collect();
    let rps: Vec<f64> = rows.iter().map(|r| r.target_rps).collect();
    let status: Vec<&Json<&BTreeMap<String, u64>>> = rows.iter().map(|r| &r.status).collect();
    let errors: Vec<&Json<&ErrorCounts>> = rows.iter().map(|r| &r.errors).collect();
    let latency: Vec<&[u8]> = rows.iter().map(|r| r.latency.as_slice()).collect();
    let service: Vec<&[u8]> = rows.iter().map(|r| r.service.as_slice()).collect();
    let script: Vec<&Option<Json<&ScriptBucket>>> = rows.iter().map(|r| &r.script).collect();
    Ok(tx
        .execute(
            &format!(
                "INSERT INTO metric_seconds ({COLUMNS})
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::float8[], $5::bigint[],
                                      $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[],
                                      $11::jsonb[], $12::jsonb[], $13::bytea[], $14::bytea[], $15::jsonb[])
                 ON CONFLICT (job_id, second) DO NOTHING"
            ),
            &[
                &jobs,
                &seconds,
                &ts,
                &rps,
                &count(0),
                &count(1),
                &count(2),
                &count(3),
                &count(4),
                &count(5),
                &status,
                &errors,
                &latency,
                &service,
                &script,
            ],
        )
        .await?)
}
