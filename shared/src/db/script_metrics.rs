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

/// Per script run: passed checks and completed iterations in all, summed in
/// SQL (the v1 ScriptRun's `checks` and `full_iteration_count`).
pub async fn totals(conn: &impl GenericClient, script_run_ids: &[i64]) -> ApiResult<BTreeMap<i64, (i64, i64)>> {
    let rows = conn
        .query(
            "SELECT j.script_run_id,
                    COALESCE(sum((SELECT sum((c.value->>'passes')::bigint)
                                  FROM jsonb_each(COALESCE(m.script->'checks', '{}'::jsonb)) c)), 0)::bigint,
                    COALESCE(sum((m.script->>'iterations')::bigint), 0)::bigint
             FROM metric_seconds m JOIN jobs j ON j.id = m.job_id
             WHERE j.script_run_id = ANY($1) AND m.script IS NOT NULL
             GROUP BY j.script_run_id",
            &[&script_run_ids],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), (r.get(1), r.get(2)))).collect())
}
