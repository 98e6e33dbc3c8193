//! Scenario queries.

use super::projects::sql_limit;
use super::{Db, id32};
use crate::http::ApiResult;
use crate::model::page::Page;
use crate::wire::scenarios::{Scenario, ScenarioSelector};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::Json;

/// Columns of a scenario plus the status of its latest run.
const COLUMNS: &str = "s.id, s.project_id, s.title, s.descrip, s.selectors,
    COALESCE((SELECT r.status FROM runs r WHERE r.scenario_id = s.id ORDER BY r.id DESC LIMIT 1), '') AS last_run_status";

fn scenario(row: &Row) -> Scenario {
    let Json(selectors): Json<Vec<ScenarioSelector>> = row.get("selectors");
    Scenario {
        scenario_id: id32(row.get("id")),
        project_id: id32(row.get("project_id")),
        title: row.get("title"),
        descrip: row.get("descrip"),
        last_run_status: row.get("last_run_status"),
        selectors,
    }
}

#[tracing::instrument(skip(db))]
pub async fn list(db: &Db, project_id: i64, page: Page) -> ApiResult<(Vec<Scenario>, i64)> {
    let conn = db.conn().await?;
    let sql = format!(
        "SELECT {COLUMNS}, count(*) OVER () AS total FROM scenarios s WHERE s.project_id = $1
         ORDER BY s.title, s.id LIMIT $2 OFFSET $3"
    );
    let rows = conn.query(&conn.prepare_cached(&sql).await?, &[&project_id, &sql_limit(&page), &page.offset]).await?;
    let total: i64 = match rows.first() {
        Some(row) => row.get("total"),
        None => conn
            .query_one(
                &conn.prepare_cached("SELECT count(*) FROM scenarios WHERE project_id = $1").await?,
                &[&project_id],
            )
            .await?
            .get(0),
    };
    Ok((rows.iter().map(scenario).collect(), total))
}

#[tracing::instrument(skip(db))]
pub async fn get(db: &Db, id: i64) -> ApiResult<Option<Scenario>> {
    let conn = db.conn().await?;
    get_with(&conn, id).await
}

pub async fn get_with(conn: &impl GenericClient, id: i64) -> ApiResult<Option<Scenario>> {
    let row = conn
        .query_opt(&conn.prepare_cached(&format!("SELECT {COLUMNS} FROM scenarios s WHERE s.id = $1")).await?, &[&id])
        .await?;
    Ok(row.as_ref().map(scenario))
}

/// Scenarios by id, in the order given; unknown ids are left out. Takes the
/// caller's connection: a caller holding one must not wait for a second.
pub async fn get_many(conn: &impl GenericClient, ids: &[i64]) -> ApiResult<Vec<Scenario>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM scenarios s JOIN unnest($1::bigint[]) WITH ORDINALITY AS i(id, n) ON i.id = s.id ORDER BY i.n"
    );
    let rows = conn.query(&conn.prepare_cached(&sql).await?, &[&ids]).await?;
    Ok(rows.iter().map(scenario).collect())
}

pub async fn create_with(
    conn: &impl GenericClient,
    project_id: i64,
    title: &str,
    descrip: &str,
    selectors: &[ScenarioSelector],
) -> ApiResult<i64> {
    let row = conn
        .query_one(
            &conn.prepare_cached("INSERT INTO scenarios (project_id, title, descrip, selectors) VALUES ($1, $2, $3, $4) RETURNING id").await?,
            &[&project_id, &title, &descrip, &Json(selectors)],
        )
        .await?;
    Ok(row.get(0))
}

#[tracing::instrument(skip(db, descrip, selectors))]
pub async fn create(
    db: &Db,
    project_id: i64,
    title: &str,
    descrip: &str,
    selectors: &[ScenarioSelector],
) -> ApiResult<i64> {
    let conn = db.conn().await?;
    create_with(&conn, project_id, title, descrip, selectors).await
}

/// Title, description and selectors; `false` when no such scenario exists.
#[tracing::instrument(skip(db, descrip, selectors))]
pub async fn update(db: &Db, id: i64, title: &str, descrip: &str, selectors: &[ScenarioSelector]) -> ApiResult<bool> {
    let conn = db.conn().await?;
    let n = conn
        .execute(
            &conn
                .prepare_cached(
                    "UPDATE scenarios SET title = $2, descrip = $3, selectors = $4, updated_at = now() WHERE id = $1",
                )
                .await?,
            &[&id, &title, &descrip, &Json(selectors)],
        )
        .await?;
    Ok(n == 1)
}

#[tracing::instrument(skip(db))]
pub async fn delete(db: &Db, id: i64) -> ApiResult<bool> {
    let conn = db.conn().await?;
    Ok(conn.execute(&conn.prepare_cached("DELETE FROM scenarios WHERE id = $1").await?, &[&id]).await? == 1)
}

/// Ids of the scenarios of a project.
pub async fn ids_of_project(conn: &impl GenericClient, project_id: i64) -> ApiResult<Vec<i64>> {
    let rows = conn
        .query(&conn.prepare_cached("SELECT id FROM scenarios WHERE project_id = $1").await?, &[&project_id])
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Sum of the target rates of the enabled scripts of both kinds.
pub async fn rps_sum(db: &Db, id: i64) -> ApiResult<i64> {
    let conn = db.conn().await?;
    let row = conn
        .query_one(
            &conn
                .prepare_cached(
                    "SELECT (SELECT COALESCE(sum(rps), 0) FROM scripts WHERE scenario_id = $1 AND enabled)::bigint
                  + (SELECT COALESCE(sum(rps), 0) FROM simple_scripts WHERE scenario_id = $1 AND enabled)::bigint",
                )
                .await?,
            &[&id],
        )
        .await?;
    Ok(row.get(0))
}

/// 1-based position of a scenario among its project's scenarios in title order.
pub async fn position(db: &Db, id: i64) -> ApiResult<Option<i64>> {
    let conn = db.conn().await?;
    let row = conn
        .query_opt(
            &conn
                .prepare_cached(
                    "SELECT pos FROM (SELECT id, row_number() OVER (ORDER BY title, id) AS pos FROM scenarios
                 WHERE project_id = (SELECT project_id FROM scenarios WHERE id = $1)) p WHERE id = $1",
                )
                .await?,
            &[&id],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Names of the scripts (both kinds) in `scenario_ids` for which `conflict` holds,
/// a SQL condition over `steps` and `duration_secs` with `$2` as the new value.
async fn conflicting_names(
    conn: &impl GenericClient,
    scenario_ids: &[i64],
    conflict: &str,
    value: i64,
) -> ApiResult<Vec<String>> {
    let rows = conn
        .query(
            &conn.prepare_cached(&format!(
                "SELECT name FROM scripts WHERE scenario_id = ANY($1) AND {conflict}
                 UNION ALL SELECT name FROM simple_scripts WHERE scenario_id = ANY($1) AND {conflict} ORDER BY 1 LIMIT 20"
            )).await?,
            &[&scenario_ids, &value],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Set the duration of every script of the scenarios; refuses (listing them) when
/// some script has more steps than the new duration has seconds.
pub async fn set_duration(db: &Db, scenario_ids: &[i64], text: &str, secs: i64) -> ApiResult<u64> {
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await?;
    let clash = conflicting_names(&tx, scenario_ids, "steps > $2::bigint", secs).await?;
    if !clash.is_empty() {
        return Err(crate::http::ApiError::unprocessable(
            "duration",
            format!("{text} is shorter than the steps of {} (each step needs at least 1s)", clash.join(", ")),
        ));
    }
    let mut n = 0;
    for table in ["scripts", "simple_scripts"] {
        n += tx
            .execute(
                &tx.prepare_cached(&format!("UPDATE {table} SET duration = $2, duration_secs = $3, updated_at = now() WHERE scenario_id = ANY($1)")).await?,
                &[&scenario_ids, &text, &secs],
            )
            .await?;
    }
    tx.commit().await?;
    Ok(n)
}

/// Set the steps of every script of the scenarios; refuses when a script's
/// duration is too short for that many steps.
pub async fn set_steps(db: &Db, scenario_ids: &[i64], steps: i32) -> ApiResult<u64> {
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await?;
    let clash = conflicting_names(&tx, scenario_ids, "duration_secs < $2::bigint", i64::from(steps)).await?;
    if !clash.is_empty() {
        return Err(crate::http::ApiError::unprocessable(
            "steps",
            format!("{steps} steps do not fit in the duration of {} (each step needs at least 1s)", clash.join(", ")),
        ));
    }
    let mut n = 0;
    for table in ["scripts", "simple_scripts"] {
        n += tx
            .execute(
                &tx.prepare_cached(&format!(
                    "UPDATE {table} SET steps = $2, updated_at = now() WHERE scenario_id = ANY($1)"
                ))
                .await?,
                &[&scenario_ids, &steps],
            )
            .await?;
    }
    tx.commit().await?;
    Ok(n)
}

/// Set the agent tag of every script of a scenario.
pub async fn set_tag(db: &Db, scenario_id: i64, tag: &str) -> ApiResult<u64> {
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await?;
    let mut n = 0;
    for table in ["scripts", "simple_scripts"] {
        n += tx
            .execute(
                &tx.prepare_cached(&format!("UPDATE {table} SET tag = $2, updated_at = now() WHERE scenario_id = $1"))
                    .await?,
                &[&scenario_id, &tag],
            )
            .await?;
    }
    tx.commit().await?;
    Ok(n)
}
