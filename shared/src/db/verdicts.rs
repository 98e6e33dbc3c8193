//! Verdict queries: thresholds of a scenario, the verdict row of a run, and
//! the runs a controller pass must judge.

use crate::http::ApiResult;
use crate::verdict::rules::{Spec, State};
use deadpool_postgres::GenericClient;
use tokio_postgres::types::Json;

/// A stored threshold of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdRow {
    pub id: i64,
    /// `(kind, script_id)` of the script it is limited to.
    pub script: Option<(String, i64)>,
    pub metric: String,
    pub expression: String,
    pub abort_on_fail: bool,
    pub grace_s: i32,
}

pub async fn thresholds(conn: &impl GenericClient, scenario_id: i64) -> ApiResult<Vec<ThresholdRow>> {
    let rows = conn
        .query(
            "SELECT id, script_kind, script_id, metric, expression, abort_on_fail, grace_s FROM thresholds
             WHERE scenario_id = $1 ORDER BY position, id",
            &[&scenario_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ThresholdRow {
            id: r.get(0),
            script: r.get::<_, Option<String>>(1).zip(r.get::<_, Option<i64>>(2)),
            metric: r.get(3),
            expression: r.get(4),
            abort_on_fail: r.get(5),
            grace_s: r.get(6),
        })
        .collect())
}

/// Replaces the thresholds of a scenario (or of one of its scripts when
/// `script` is set) in one transaction.
pub async fn replace_thresholds(
    conn: &mut deadpool_postgres::Object,
    scenario_id: i64,
    script: Option<(&str, i64)>,
    rows: &[ThresholdRow],
) -> ApiResult<()> {
    let tx = conn.transaction().await?;
    let (kind, id) = (script.map(|s| s.0), script.map(|s| s.1));
    tx.execute(
        "DELETE FROM thresholds WHERE scenario_id = $1 AND script_kind IS NOT DISTINCT FROM $2
             AND script_id IS NOT DISTINCT FROM $3",
        &[&scenario_id, &kind, &id],
    )
    .await?;
    for (i, t) in rows.iter().enumerate() {
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let position = i as i32;
        tx.execute(
            "INSERT INTO thresholds (scenario_id, script_kind, script_id, metric, expression, abort_on_fail, grace_s,
                 position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[&scenario_id, &kind, &id, &t.metric, &t.expression, &t.abort_on_fail, &t.grace_s, &position],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Whether a script of this kind and id belongs to the scenario.
pub async fn script_in_scenario(conn: &impl GenericClient, kind: &str, id: i64, scenario_id: i64) -> ApiResult<bool> {
    let table = if kind == "simple" { "simple_scripts" } else { "scripts" };
    Ok(conn
        .query_opt(&format!("SELECT 1 FROM {table} WHERE id = $1 AND scenario_id = $2"), &[&id, &scenario_id])
        .await?
        .is_some())
}

/// A scenario's baseline run and tolerance.
pub async fn baseline(conn: &impl GenericClient, scenario_id: i64) -> ApiResult<Option<(Option<i64>, Option<f64>)>> {
    Ok(conn
        .query_opt("SELECT baseline_run_id, baseline_tolerance_percent FROM scenarios WHERE id = $1", &[&scenario_id])
        .await?
        .map(|r| (r.get(0), r.get(1))))
}

pub async fn set_baseline(
    conn: &impl GenericClient,
    scenario_id: i64,
    run_id: Option<i64>,
    tolerance: Option<f64>,
) -> ApiResult<u64> {
    Ok(conn
        .execute(
            "UPDATE scenarios SET baseline_run_id = $2, baseline_tolerance_percent = $3 WHERE id = $1",
            &[&scenario_id, &run_id, &tolerance],
        )
        .await?)
}

/// A run's verdict row.
#[derive(Debug, Clone)]
pub struct VerdictRow {
    pub run_id: i64,
    pub specs: Vec<Spec>,
    pub states: Vec<State>,
    pub verdict: String,
    pub is_final: bool,
    pub aborted: String,
    pub evaluated_at: Option<chrono::DateTime<chrono::Utc>>,
    pub report_key: String,
    pub report_at: Option<chrono::DateTime<chrono::Utc>>,
}

const VERDICT_COLUMNS: &str =
    "run_id, thresholds, state, verdict, final, aborted, evaluated_at, report_key, report_at FROM run_verdicts";

fn verdict_row(r: &tokio_postgres::Row) -> VerdictRow {
    VerdictRow {
        run_id: r.get(0),
        specs: r.get::<_, Json<Vec<Spec>>>(1).0,
        states: r.get::<_, Json<Vec<State>>>(2).0,
        verdict: r.get(3),
        is_final: r.get(4),
        aborted: r.get(5),
        evaluated_at: r.get(6),
        report_key: r.get(7),
        report_at: r.get(8),
    }
}

pub async fn verdict(conn: &impl GenericClient, run_id: i64) -> ApiResult<Option<VerdictRow>> {
    Ok(conn
        .query_opt(&format!("SELECT {VERDICT_COLUMNS} WHERE run_id = $1"), &[&run_id])
        .await?
        .as_ref()
        .map(verdict_row))
}

/// Runs a pass must look at: every active run, and runs ended in the last hour
/// whose verdict is not final yet (or that have none: they ended before a pass
/// saw them). Each with its scenario, status and start (Unix seconds).
pub async fn runs_to_judge(conn: &impl GenericClient) -> ApiResult<Vec<(i64, i64, String, i64, Option<i64>)>> {
    let rows = conn
        .query(
            "SELECT r.id, r.scenario_id, r.status, extract(epoch FROM r.started_at)::bigint,
                    extract(epoch FROM r.ended_at)::bigint
             FROM runs r LEFT JOIN run_verdicts v ON v.run_id = r.id
             WHERE r.status IN ('STATUS_PREPARED', 'STATUS_RUNNING', 'STATUS_STOPPING')
                OR (r.ended_at > now() - interval '1 hour' AND (v.run_id IS NULL OR NOT v.final))
             ORDER BY r.id",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect())
}

/// Takes the thresholds that apply to a run now, once (a second call keeps
/// the first snapshot). Script thresholds follow their script's runs.
pub async fn snapshot(conn: &impl GenericClient, run_id: i64, scenario_id: i64) -> ApiResult<VerdictRow> {
    if let Some(v) = verdict(conn, run_id).await? {
        return Ok(v);
    }
    let rows = thresholds(conn, scenario_id).await?;
    let script_runs = conn
        .query("SELECT id, kind, script_id, name FROM script_runs WHERE run_id = $1 ORDER BY id", &[&run_id])
        .await?;
    let mut specs = Vec::new();
    for t in &rows {
        let base = Spec {
            id: t.id,
            origin: "scenario".into(),
            script_run_id: None,
            script_name: String::new(),
            metric: t.metric.clone(),
            expression: t.expression.clone(),
            abort_on_fail: t.abort_on_fail,
            grace_s: t.grace_s.into(),
        };
        match &t.script {
            None => specs.push(base),
            Some((kind, id)) => {
                for sr in script_runs.iter().filter(|r| r.get::<_, String>(1) == *kind && r.get::<_, i64>(2) == *id) {
                    specs.push(Spec {
                        origin: "script".into(),
                        script_run_id: Some(sr.get(0)),
                        script_name: sr.get(3),
                        ..base.clone()
                    });
                }
            }
        }
    }
    let initial = if specs.is_empty() { "none" } else { "pending" };
    conn.execute(
        "INSERT INTO run_verdicts (run_id, thresholds, verdict) VALUES ($1, $2, $3) ON CONFLICT (run_id) DO NOTHING",
        &[&run_id, &Json(&specs), &initial],
    )
    .await?;
    Ok(verdict(conn, run_id).await?.expect("the verdict row was just made"))
}

/// Records a live evaluation.
pub async fn save_live(conn: &impl GenericClient, run_id: i64, states: &[State]) -> ApiResult<()> {
    conn.execute(
        "UPDATE run_verdicts SET state = $2, evaluated_at = now() WHERE run_id = $1 AND NOT final",
        &[&run_id, &Json(states)],
    )
    .await?;
    Ok(())
}

/// Records that a threshold aborts the run and asks the run to stop (as a
/// user's stop does: the controller, nudged, stops the jobs). False when the
/// run was no longer running.
pub async fn abort(conn: &mut deadpool_postgres::Object, run_id: i64, why: &str) -> ApiResult<bool> {
    let tx = conn.transaction().await?;
    tx.execute("UPDATE run_verdicts SET aborted = $2 WHERE run_id = $1 AND aborted = ''", &[&run_id, &why]).await?;
    let stopping = crate::db::run_writes::request_stop(&tx, run_id, "verdicts").await?;
    if stopping {
        tx.execute(
            "INSERT INTO run_changes (run_id, who, what) VALUES ($1, 'verdicts', $2)",
            &[&run_id, &why.chars().take(1900).collect::<String>()],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(stopping)
}

/// Records the final verdict and its one-line explanation in `runs.info`
/// (so the v1 run list shows it), in one statement: a reader that sees the
/// verdict final sees its explanation too, and a pass cut short between two
/// writes can no longer leave a final verdict without one (a final verdict is
/// never evaluated again).
pub async fn save_final(
    conn: &impl GenericClient,
    run_id: i64,
    states: &[State],
    verdict: &str,
    info: &str,
) -> ApiResult<()> {
    // The explanation is added to what the run already says (why it stopped),
    // never in its place.
    conn.execute(
        "WITH v AS (
             UPDATE run_verdicts SET state = $2, verdict = $3, final = true, evaluated_at = now()
             WHERE run_id = $1 RETURNING run_id
         )
         UPDATE runs SET info = CASE WHEN $4 = '' THEN info WHEN info = '' THEN $4 ELSE info || '; ' || $4 END
         FROM v WHERE runs.id = v.run_id",
        &[&run_id, &Json(states), &verdict, &info],
    )
    .await?;
    Ok(())
}

/// Claims the report of a run: false when another report of it is being
/// written (claims older than 5 minutes are taken over: its writer died).
pub async fn claim_report(conn: &impl GenericClient, run_id: i64) -> ApiResult<bool> {
    Ok(conn
        .execute(
            "UPDATE run_verdicts SET report_busy_since = now() WHERE run_id = $1
                 AND (report_busy_since IS NULL OR report_busy_since < now() - interval '5 minutes')",
            &[&run_id],
        )
        .await?
        == 1)
}

/// Records a written report (or only releases the claim when `done` is None).
pub async fn finish_report(conn: &impl GenericClient, run_id: i64, done: Option<(&str, &str)>) -> ApiResult<()> {
    match done {
        Some((key, link)) => {
            conn.execute(
                "UPDATE run_verdicts SET report_key = $2, report_at = now(), report_busy_since = NULL WHERE run_id = $1",
                &[&run_id, &key],
            )
            .await?;
            conn.execute("UPDATE runs SET report_link = $2 WHERE id = $1", &[&run_id, &link]).await?;
        }
        None => {
            conn.execute("UPDATE run_verdicts SET report_busy_since = NULL WHERE run_id = $1", &[&run_id]).await?;
        }
    }
    Ok(())
}

/// Who changed what and when, for a report's time axis.
pub async fn changes(conn: &impl GenericClient, run_id: i64) -> ApiResult<Vec<(i64, String, String)>> {
    let rows = conn
        .query(
            "SELECT extract(epoch FROM at)::bigint, who, what FROM run_changes WHERE run_id = $1 ORDER BY at, id",
            &[&run_id],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
}

/// The agents that ran a run's jobs: host:port and how many jobs.
pub async fn agents_of_run(conn: &impl GenericClient, run_id: i64) -> ApiResult<Vec<(String, i64)>> {
    let rows = conn
        .query(
            "SELECT j.base_url, count(*) FROM jobs j JOIN script_runs s ON s.id = j.script_run_id
             WHERE s.run_id = $1 GROUP BY j.base_url ORDER BY j.base_url",
            &[&run_id],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
