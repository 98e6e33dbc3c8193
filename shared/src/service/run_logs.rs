//! Failed-request logs of script runs (#14): each agent keeps a bounded
//! sample per job (the first and the last failed requests: time, status or
//! error kind, message, the first KB of the body); when a run ends the
//! backend merges its jobs' samples per script run and stores them privately
//! in the bucket (`logs/run-<id>/script-run-<id>.json`). `/v1/run/logs`
//! answers them: from the bucket once stored, else live from the agents.
//! The v1 `log_file_name` names the agent's own copy for the original web
//! UI's link (`service::runs`). `/v1/remove-logs` deletes stored logs older
//! or larger than asked, as the original asked its agents to.

use crate::db;
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::ObjectKey;
use crate::wire::StdResponse;
use crate::wire::runs::{RemoveLogsRequest, RunLogsResponse, ScriptRunByIdRequest};
use alilo_agent_api::{FAILURE_SAMPLE, FailureSample};
use std::collections::BTreeMap;

/// The samples of several jobs of one script run as one: failures counted
/// together, the earliest first ones and the latest last ones.
pub fn merge(samples: &[FailureSample]) -> FailureSample {
    let mut first: Vec<_> = samples.iter().flat_map(|s| s.first.iter().cloned()).collect();
    first.sort_by_key(|f| f.at_ms);
    let rest = first.split_off(first.len().min(FAILURE_SAMPLE));
    let mut last: Vec<_> = samples.iter().flat_map(|s| s.last.iter().cloned()).chain(rest).collect();
    last.sort_by_key(|f| f.at_ms);
    let last = last.split_off(last.len().saturating_sub(FAILURE_SAMPLE));
    FailureSample { total: samples.iter().map(|s| s.total).sum(), first, last }
}

/// The live samples of a run's jobs, merged per script run (jobs whose agent
/// does not answer are left out).
async fn live(app: &AppState, run_id: i64) -> ApiResult<BTreeMap<i64, FailureSample>> {
    let jobs = {
        let conn = app.db.conn().await?;
        db::runs::job_keys_of_run(&conn, run_id).await?
    };
    let mut by: BTreeMap<i64, Vec<FailureSample>> = BTreeMap::new();
    for (script_run_id, base_url, key) in jobs {
        let entry = by.entry(script_run_id).or_default();
        match app.agents.failures(&base_url, &key).await {
            Ok(sample) => entry.push(sample),
            Err(e) => tracing::debug!(script_run_id, error = %e, "no failure sample from the agent"),
        }
    }
    Ok(by.into_iter().map(|(id, samples)| (id, merge(&samples))).collect())
}

/// Stores the failed-request logs of a run that ended; how many were stored.
pub async fn store(app: &AppState, run_id: i64) -> ApiResult<usize> {
    let merged = live(app, run_id).await?;
    for (script_run_id, sample) in &merged {
        let key = ObjectKey::RunLog { run_id, script_run_id: *script_run_id };
        let body = serde_json::to_vec(sample).map_err(ApiError::internal)?;
        app.storage.put(&key, body, "application/json").await.map_err(ApiError::from)?;
    }
    Ok(merged.len())
}

/// `/v1/run/logs {run_id, script_run_id}`: the script run's failed requests.
pub async fn read(app: &AppState, req: ScriptRunByIdRequest) -> ApiResult<RunLogsResponse> {
    if req.run_id <= 0 {
        return Err(ApiError::bad_request("run_id", "is required"));
    }
    if req.script_run_id <= 0 {
        return Err(ApiError::bad_request("script_run_id", "is required"));
    }
    let (run_id, script_run_id) = (i64::from(req.run_id), i64::from(req.script_run_id));
    let known = {
        let conn = app.db.conn().await?;
        db::runs::script_run_rows(&conn, &[run_id]).await?.into_iter().any(|s| s.id == script_run_id)
    };
    if !known {
        return Err(ApiError::not_found(&format!("script_run_id in run {run_id}"), script_run_id));
    }
    let key = ObjectKey::RunLog { run_id, script_run_id }.path();
    let stored = app.storage.get(&key).await.map_err(|e| ApiError::unavailable("object storage", format!("{e:#}")))?;
    let (sample, source) = match stored.and_then(|b| serde_json::from_slice::<FailureSample>(&b).ok()) {
        Some(s) => (s, "stored"),
        None => (live(app, run_id).await?.remove(&script_run_id).unwrap_or_default(), "agents"),
    };
    Ok(RunLogsResponse {
        status: true,
        message: String::new(),
        source: source.into(),
        total: sample.total.to_string(),
        first: sample.first,
        last: sample.last,
    })
}

/// `/v1/remove-logs {more_than_mb, more_than_days}`: deletes the stored logs
/// older than `more_than_days` days or larger than `more_than_mb` MB (0: that
/// rule is off; both 0 is refused, as it would delete nothing).
pub async fn remove(app: &AppState, req: RemoveLogsRequest) -> ApiResult<StdResponse> {
    if req.more_than_mb < 0 {
        return Err(ApiError::unprocessable("more_than_mb", "must not be negative"));
    }
    if req.more_than_days < 0 {
        return Err(ApiError::unprocessable("more_than_days", "must not be negative"));
    }
    if req.more_than_mb == 0 && req.more_than_days == 0 {
        return Err(ApiError::bad_request("more_than_days", "give more_than_days or more_than_mb (or both)"));
    }
    let now = chrono::Utc::now();
    let objects = app
        .storage
        .list_under(ObjectKey::LOGS_PREFIX, 100_000)
        .await
        .map_err(|e| ApiError::unavailable("object storage", format!("{e:#}")))?;
    let (mut removed, mut bytes) = (0, 0);
    for o in objects {
        let age = o.last_modified.map(|t| (now - t).num_seconds());
        if removable(o.size, age, req.more_than_mb, req.more_than_days) {
            app.storage.delete(&o.key).await.map_err(|e| ApiError::unavailable("object storage", format!("{e:#}")))?;
            removed += 1;
            bytes += o.size;
        }
    }
    Ok(StdResponse::ok(format!("removed {removed} stored run logs ({bytes} bytes)")))
}

/// Whether a stored log of `size` bytes, `age` seconds old, goes: older than
/// `days` days or larger than `mb` MB (a rule at 0 is off).
pub fn removable(size: i64, age: Option<i64>, mb: i64, days: i64) -> bool {
    (days > 0 && age.is_some_and(|a| a > days * 86_400)) || (mb > 0 && size > mb * 1_048_576)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alilo_agent_api::FailedRequest;

    fn failed(at_ms: u64) -> FailedRequest {
        FailedRequest { at_ms, status: 500, error: "status".into(), message: "m".into(), body: String::new() }
    }

    #[test]
    fn logs_go_when_older_or_larger_than_asked_and_a_rule_at_zero_is_off() {
        let day = 86_400;
        let cases = [
            (100, Some(8 * day), 0, 7, true),
            (100, Some(6 * day), 0, 7, false),
            (100, None, 0, 7, false),
            (3 * 1_048_576, Some(0), 2, 0, true),
            (2 * 1_048_576, Some(0), 2, 0, false),
            (3 * 1_048_576, Some(9 * day), 0, 0, false),
            (100, Some(9 * day), 1, 7, true),
        ];
        for (size, age, mb, days, want) in cases {
            assert_eq!(removable(size, age, mb, days), want, "{size} B, {age:?} s, > {mb} MB or > {days} d");
        }
    }

    #[test]
    fn merged_samples_keep_the_earliest_first_and_the_latest_last() {
        let a = FailureSample { total: 100, first: (0..20).map(|i| failed(i * 2)).collect(), last: vec![failed(900)] };
        let b = FailureSample { total: 5, first: (0..5).map(|i| failed(i * 2 + 1)).collect(), last: vec![] };
        let m = merge(&[a, b]);
        assert_eq!(m.total, 105);
        assert_eq!(m.first.len(), FAILURE_SAMPLE);
        assert_eq!(m.first.iter().map(|f| f.at_ms).take(4).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
        assert_eq!(m.last.last().unwrap().at_ms, 900);
        assert!(m.last.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        assert!(m.first.last().unwrap().at_ms < m.last[0].at_ms, "no failure is in both");
        assert_eq!(merge(&[]), FailureSample::default());
    }
}
