//! Changes of a run's desired state, as user requests make them: each is one
//! short statement or transaction that bumps the run's `version` (so a controller
//! pass loaded before it does not overwrite it with a stale roll-up) and records
//! who changed what in `run_changes`. None calls an agent: the controller does.

use crate::control::hooks;
use crate::http::ApiResult;
use crate::model::run::{Command, CommandStatus, RunKind, RunStatus, ScriptKind, ScriptRunDesired, ScriptRunStatus};
use deadpool_postgres::GenericClient;
use tokio_postgres::types::Json;

/// One script run of a new run: the script as started, its job, its share per agent.
pub struct NewScriptRun<'a> {
    pub kind: ScriptKind,
    pub script_id: i64,
    pub name: &'a str,
    pub tag: &'a str,
    /// The script as it was when the run started (a wire script).
    pub script: serde_json::Value,
    pub spec: &'a alilo_agent_api::JobSpec,
    pub data_key: Option<&'a str>,
    pub target_rps: i64,
    /// `(agent id, where it answers, share)` per job.
    pub jobs: Vec<(i64, &'a crate::agent_client::Endpoint, f64)>,
}

/// A new run as the start request wants it.
pub struct NewRun<'a> {
    pub scenario_id: i64,
    pub title: &'a str,
    pub kind: RunKind,
    pub percentage: i32,
    pub user_name: &'a str,
    pub preferred_user_name: &'a str,
    pub script_runs: Vec<NewScriptRun<'a>>,
}

/// Write a new run, PREPARED, with its script runs and their jobs (not started
/// yet: the controller starts them), in one transaction. The partial unique index
/// refuses a second active run of the scenario (a 409 from the caller's mapping).
pub async fn create_run(client: &mut deadpool_postgres::Object, new: &NewRun<'_>) -> ApiResult<i64> {
    let tx = client.transaction().await?;
    let run_id: i64 = tx
        .query_one(
            "INSERT INTO runs (scenario_id, title, status, percentage_of_target, user_name, preferred_user_name, kind)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[
                &new.scenario_id,
                &new.title,
                &RunStatus::Prepared,
                &new.percentage,
                &new.user_name,
                &new.preferred_user_name,
                &new.kind,
            ],
        )
        .await?
        .get(0);
    for sr in &new.script_runs {
        let sr_id: i64 = tx
            .query_one(
                "INSERT INTO script_runs (run_id, kind, script_id, name, tag, script, spec, data_key, target_rps,
                     percentage) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                &[
                    &run_id,
                    &sr.kind,
                    &sr.script_id,
                    &sr.name,
                    &sr.tag,
                    &Json(&sr.script),
                    &Json(sr.spec),
                    &sr.data_key,
                    &sr.target_rps,
                    &new.percentage,
                ],
            )
            .await?
            .get(0);
        for (agent_id, at, share) in &sr.jobs {
            tx.execute(
                "INSERT INTO jobs (script_run_id, agent_id, base_url, job_key, share, tls_pin)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&sr_id, agent_id, &at.url(), &uuid::Uuid::new_v4().to_string(), share, &at.pins_text()],
            )
            .await?;
        }
    }
    let who = if new.user_name.is_empty() { "anonymous" } else { new.user_name };
    change(&tx, run_id, None, who, &format!("started at {} %", new.percentage), Some(new.percentage)).await?;
    hooks::at_run_start(&tx, run_id).await?;
    tx.commit().await?;
    Ok(run_id)
}

/// Record a change in the run's audit.
pub async fn change(
    conn: &impl GenericClient,
    run_id: i64,
    script_run_id: Option<i64>,
    who: &str,
    what: &str,
    percentage: Option<i32>,
) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO run_changes (run_id, script_run_id, who, what, percentage) VALUES ($1, $2, $3, $4, $5)",
        &[&run_id, &script_run_id, &who, &what, &percentage],
    )
    .await?;
    Ok(())
}

/// Ask a prepared or running run to stop. False when it was not running.
pub async fn request_stop(conn: &impl GenericClient, run_id: i64, who: &str) -> ApiResult<bool> {
    let n = conn
        .execute(
            "UPDATE runs SET status = $2, version = version + 1, updated_at = now()
             WHERE id = $1 AND status = ANY($3)",
            &[&run_id, &RunStatus::Stopping, &vec![RunStatus::Prepared.as_str(), RunStatus::Running.as_str()]],
        )
        .await?;
    if n == 1 {
        change(conn, run_id, None, who, "stop requested", None).await?;
    }
    Ok(n == 1)
}

/// Ask script runs of a run to stop, each once.
pub async fn request_script_stop(
    client: &mut deadpool_postgres::Object,
    run_id: i64,
    ids: &[i64],
    who: &str,
) -> ApiResult<()> {
    let tx = client.transaction().await?;
    let stopped: Vec<i64> = tx
        .query(
            "UPDATE script_runs SET desired = $3, updated_at = now(),
                 status = CASE WHEN status = $4 THEN $5 ELSE status END
             WHERE id = ANY($1) AND run_id = $2 AND desired <> $3 RETURNING id",
            &[&ids, &run_id, &ScriptRunDesired::Stopped, &ScriptRunStatus::Running, &ScriptRunStatus::Stopping],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for id in &stopped {
        change(&tx, run_id, Some(*id), who, "script run stop requested", None).await?;
    }
    bump(&tx, run_id).await?;
    tx.commit().await?;
    Ok(())
}

/// A run's new load level, on the run and every script run.
pub async fn set_percentage(
    client: &mut deadpool_postgres::Object,
    run_id: i64,
    from: i32,
    to: i32,
    who: &str,
) -> ApiResult<()> {
    let tx = client.transaction().await?;
    tx.execute(
        "UPDATE runs SET percentage_of_target = $2, version = version + 1, updated_at = now() WHERE id = $1",
        &[&run_id, &to],
    )
    .await?;
    tx.execute("UPDATE script_runs SET percentage = $2, updated_at = now() WHERE run_id = $1", &[&run_id, &to]).await?;
    change(&tx, run_id, None, who, &format!("load {from} % → {to} %"), Some(to)).await?;
    tx.commit().await?;
    Ok(())
}

/// Add `by` rps to the running script run of a script. `None`: no such script run.
pub async fn increase(
    client: &mut deadpool_postgres::Object,
    run_id: i64,
    kind: ScriptKind,
    script_id: i64,
    by: i64,
    who: &str,
) -> ApiResult<Option<i64>> {
    let tx = client.transaction().await?;
    let Some(row) = tx
        .query_opt(
            "UPDATE script_runs SET extra_rps = extra_rps + $4, updated_at = now()
             WHERE run_id = $1 AND kind = $2 AND script_id = $3 AND desired = $5 RETURNING id",
            &[&run_id, &kind, &script_id, &by, &ScriptRunDesired::Running],
        )
        .await?
    else {
        return Ok(None);
    };
    let id: i64 = row.get(0);
    change(&tx, run_id, Some(id), who, &format!("increase by {by} rps"), None).await?;
    bump(&tx, run_id).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// A change of desired state made elsewhere in this transaction.
async fn bump(conn: &impl GenericClient, run_id: i64) -> ApiResult<()> {
    conn.execute("UPDATE runs SET version = version + 1, updated_at = now() WHERE id = $1", &[&run_id]).await?;
    Ok(())
}

/// A command as received.
pub struct NewCommand<'a> {
    pub command: Command,
    pub scope: &'a str,
    pub run_id: Option<i64>,
    pub script_ids: &'a [i64],
    pub hostname: &'a str,
    pub percentage: i32,
    pub increase_rps: i32,
}

/// Store a command being processed; its id.
pub async fn command_received(conn: &impl GenericClient, c: &NewCommand<'_>) -> ApiResult<i64> {
    Ok(conn
        .query_one(
            "INSERT INTO commands (type, scope, run_id, script_ids, status, hostname, percentage_of_target, increase_rps)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[
                &c.command,
                &c.scope,
                &c.run_id,
                &c.script_ids,
                &CommandStatus::Processed,
                &c.hostname,
                &c.percentage,
                &c.increase_rps,
            ],
        )
        .await?
        .get(0))
}

/// Record how a command ended; when it was created and last updated.
pub async fn command_done(
    conn: &impl GenericClient,
    id: i64,
    status: CommandStatus,
    error: &str,
) -> ApiResult<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> {
    let row = conn
        .query_one(
            "UPDATE commands SET status = $2, error_description = $3, updated_at = now() WHERE id = $1
             RETURNING created_at, updated_at",
            &[&id, &status, &error],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}
