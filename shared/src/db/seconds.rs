//! Storing the agents' seconds (`metric_seconds`), the controller's largest
//! write: one row per job and second, 10,000 a second at 1,000 agents (#13).
//!
//! Rows are built once, when a bucket is read from its agent ([`Row::of`]:
//! JSON columns serialized, histograms as [`crate::control::stored`] keeps
//! them), so what the controller holds until the write, an outage's buffer
//! included, costs memory in stored size (~3 KB a second, against ~7 KB of
//! the wire's base64), and a write retried after a failure does not convert
//! again. They are sent with `COPY … FROM STDIN (FORMAT binary)`: no SQL text
//! to parse per row, no text to turn into JSONB or bytea on the server. COPY
//! cannot skip a row stored before, which happens only when an earlier write
//! committed but its answer was lost (a timeout on our side): the COPY then
//! fails on the primary key inside a savepoint, and the same rows go again as
//! one multi-row `INSERT … ON CONFLICT DO NOTHING`.

use crate::control::stored;
use crate::http::ApiResult;
use alilo_agent_api::Bucket;
use bytes::{BufMut, BytesMut};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// JSON text sent as a `jsonb` (or `json`) value as it is.
#[derive(Debug, Clone, PartialEq)]
struct Jsonb(Vec<u8>);

impl Jsonb {
    fn of<T: serde::Serialize>(value: &T) -> Self {
        Self(serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec()))
    }
}

impl ToSql for Jsonb {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        if *ty == Type::JSONB {
            // The binary format of jsonb: a version byte, then the text.
            out.put_u8(1);
        }
        out.put_slice(&self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::JSONB | Type::JSON)
    }

    to_sql_checked!();
}

/// One second of one job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The job's second (the agent's cursor unit).
    pub second: i64,
    ts: SystemTime,
    target_rps: f64,
    /// sent, ok, failed, dropped, bytes_sent, bytes_received.
    counts: [i64; 6],
    status: Jsonb,
    errors: Jsonb,
    latency: Vec<u8>,
    service: Vec<u8>,
    script: Option<Jsonb>,
}

#[allow(clippy::cast_possible_wrap)]
impl Row {
    /// The row of a bucket an agent reported.
    pub fn of(b: &Bucket) -> Self {
        Self {
            second: b.second as i64,
            ts: UNIX_EPOCH + Duration::from_millis(b.ts_ms),
            target_rps: b.target_rps,
            counts: [b.sent, b.ok, b.failed, b.dropped, b.bytes_sent, b.bytes_received].map(|v| v as i64),
            status: Jsonb::of(&b.status),
            errors: Jsonb::of(&b.errors),
            latency: stored::latency(&b.latency),
            service: stored::service(&b.service),
            script: b.script.as_ref().map(Jsonb::of),
        }
    }

    /// What it holds in memory, in bytes: the bound of an outage's buffer.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.status.0.len()
            + self.errors.0.len()
            + self.latency.len()
            + self.service.len()
            + self.script.as_ref().map_or(0, |s| s.0.len())
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
pub async fn store(tx: &tokio_postgres::Transaction<'_>, seconds: &[(i64, &Row)]) -> ApiResult<u64> {
    if seconds.is_empty() {
        return Ok(0);
    }
    // A buffer may hold a second twice (read again after a lost answer).
    let mut rows: Vec<(i64, &Row)> = seconds.to_vec();
    rows.sort_by_key(|(job, r)| (*job, r.second));
    rows.dedup_by_key(|(job, r)| (*job, r.second));
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

async fn copy(tx: &tokio_postgres::Transaction<'_>, rows: &[(i64, &Row)]) -> Result<u64, tokio_postgres::Error> {
    let sink = tx.copy_in(&format!("COPY metric_seconds ({COLUMNS}) FROM STDIN (FORMAT binary)")).await?;
    let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &TYPES));
    for (job_id, r) in rows {
        let c = &r.counts;
        let values: [&(dyn ToSql + Sync); 15] = [
            job_id,
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
async fn insert(tx: &tokio_postgres::Transaction<'_>, rows: &[(i64, &Row)]) -> ApiResult<u64> {
    let jobs: Vec<i64> = rows.iter().map(|(job, _)| *job).collect();
    let rows: Vec<&Row> = rows.iter().map(|(_, r)| *r).collect();
    let seconds: Vec<i64> = rows.iter().map(|r| r.second).collect();
    let count = |i: usize| rows.iter().map(|r| r.counts[i]).collect::<Vec<i64>>();
    let ts: Vec<SystemTime> = rows.iter().map(|r| r.ts).collect();
    let rps: Vec<f64> = rows.iter().map(|r| r.target_rps).collect();
    let status: Vec<&Jsonb> = rows.iter().map(|r| &r.status).collect();
    let errors: Vec<&Jsonb> = rows.iter().map(|r| &r.errors).collect();
    let latency: Vec<&[u8]> = rows.iter().map(|r| r.latency.as_slice()).collect();
    let service: Vec<&[u8]> = rows.iter().map(|r| r.service.as_slice()).collect();
    let script: Vec<Option<&Jsonb>> = rows.iter().map(|r| r.script.as_ref()).collect();
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
