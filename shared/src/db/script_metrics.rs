//! Reads of what extended scripts add to stored seconds
//! (`metric_seconds.script`, migration 0007); merged by
//! [`crate::extended::merge`].

use crate::http::ApiResult;
use alilo_agent_api::ScriptBucket;
use deadpool_postgres::GenericClient;
use std::collections::BTreeMap;
use tokio_postgres::types::Json;

/// The script part of the stored seconds of script runs, optionally within
/// `[from, to)` Unix seconds: `(script_run_id, second, bucket)`.
pub async fn seconds(
    conn: &impl GenericClient,
    script_run_ids: &[i64],
    from: Option<i64>,
    to: Option<i64>,
) -> ApiResult<Vec<(i64, i64, ScriptBucket)>> {
    let rows = conn
        .query(
            "SELECT j.script_run_id, extract(epoch FROM m.ts)::bigint, m.script
             FROM metric_seconds m JOIN jobs j ON j.id = m.job_id
             WHERE j.script_run_id = ANY($1) AND m.script IS NOT NULL
               AND ($2::bigint IS NULL OR m.ts >= to_timestamp($2::bigint))
               AND ($3::bigint IS NULL OR m.ts < to_timestamp($3::bigint))
             ORDER BY m.ts",
            &[&script_run_ids, &from, &to],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let Json(bucket): Json<ScriptBucket> = r.try_get(2).ok()?;
            Some((r.get(0), r.get(1), bucket))
        })
        .collect())
}

/// Per script run, summed in SQL for the v1 ScriptRun.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Passed checks in all (`checks`).
    pub checks_passed: i64,
    /// Completed iterations in all (`full_iteration_count`).
    pub iterations: i64,
    /// VUs busy in the newest stored second, all agents (`active_vus_count`).
    pub vus: i64,
    /// VUs allocated in the newest stored second, all agents (`vus`).
    pub vus_max: i64,
}

/// [`Totals`] of each script run that has script seconds.
pub async fn totals(conn: &impl GenericClient, script_run_ids: &[i64]) -> ApiResult<BTreeMap<i64, Totals>> {
    let rows = conn
        .query(
            "WITH s AS (
                 SELECT j.script_run_id, m.ts, m.script FROM metric_seconds m JOIN jobs j ON j.id = m.job_id
                 WHERE j.script_run_id = ANY($1) AND m.script IS NOT NULL),
             latest AS (SELECT script_run_id, max(ts) AS ts FROM s GROUP BY script_run_id)
             SELECT s.script_run_id,
                    COALESCE(sum((SELECT sum((c.value->>'passes')::bigint)
                                  FROM jsonb_each(COALESCE(s.script->'checks', '{}'::jsonb)) c)), 0)::bigint,
                    COALESCE(sum((s.script->>'iterations')::bigint), 0)::bigint,
                    COALESCE(sum((s.script->>'vus')::bigint) FILTER (WHERE s.ts = l.ts), 0)::bigint,
                    COALESCE(sum((s.script->>'vus_max')::bigint) FILTER (WHERE s.ts = l.ts), 0)::bigint
             FROM s JOIN latest l ON l.script_run_id = s.script_run_id
             GROUP BY s.script_run_id",
            &[&script_run_ids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), Totals { checks_passed: r.get(1), iterations: r.get(2), vus: r.get(3), vus_max: r.get(4) }))
        .collect())
}
