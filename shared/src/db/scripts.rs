//! Extended-script queries. A script's project is its scenario's: it is joined, not
//! stored twice, so moving a script between projects cannot leave them disagreeing.

use super::simple_scripts::simple_script;
use super::{Db, id32};
use crate::http::ApiResult;
use crate::model::scripts::ExtendedScript;
use crate::wire::scripts::{Options, Script, SimpleScript};
use crate::wire::{Selectors, StringMap};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::Json;

pub(crate) const SELECT: &str = "SELECT t.id, sc.project_id, t.scenario_id, t.name, t.title, t.descrip, t.script_file,
    t.ammo_id, t.base_url, t.rps, t.steps, t.duration, t.enabled, t.grafana_url, t.tag, t.selectors, t.additional_env
    FROM scripts t JOIN scenarios sc ON sc.id = t.scenario_id";

pub(crate) fn script(row: &Row) -> Script {
    let Json(selectors): Json<Selectors> = row.get("selectors");
    let Json(additional_env): Json<StringMap> = row.get("additional_env");
    Script {
        name: row.get("name"),
        descrip: row.get("descrip"),
        script_id: id32(row.get("id")),
        project_id: id32(row.get("project_id")),
        scenario_id: id32(row.get("scenario_id")),
        script_file: row.get("script_file"),
        ammo_id: row.get("ammo_id"),
        options: Some(Options {
            rps: row.get::<_, i64>("rps").to_string(),
            steps: row.get::<_, i32>("steps").to_string(),
            duration: row.get("duration"),
        }),
        base_url: row.get("base_url"),
        enabled: row.get("enabled"),
        grafana_url: row.get("grafana_url"),
        tag: row.get("tag"),
        selectors: Some(selectors),
        additional_env,
        title: row.get("title"),
    }
}

pub async fn list(db: &Db, scenario_id: i64) -> ApiResult<Vec<Script>> {
    let conn = db.conn().await?;
    let rows = conn
        .query(
            &conn.prepare_cached(&format!("{SELECT} WHERE t.scenario_id = $1 ORDER BY t.name, t.id")).await?,
            &[&scenario_id],
        )
        .await?;
    Ok(rows.iter().map(script).collect())
}

/// Both kinds of scripts of a scenario, each kind by name, in one statement; `None`
/// when the scenario does not exist. The two tables share one column list (NULL
/// where a kind has no such column) so the decoders read them by the same names,
/// and the LEFT JOIN keeps the scenario's row when it has no scripts. Bounded by
/// `model::page::MAX_UNPAGED_ROWS` (the contract gives this list no paging).
const LIST_BOTH: &str = "SELECT sc.project_id, t.* FROM scenarios sc LEFT JOIN LATERAL (
        SELECT false AS simple, id, scenario_id, name, title, enabled, tag, rps, steps, duration, selectors,
            additional_env, descrip, script_file, ammo_id, base_url, grafana_url,
            NULL AS description, NULL AS monitoring_links, NULL AS path, NULL AS scheme, NULL AS http_method,
            NULL AS query_params, NULL AS headers, NULL AS static_ammo, NULL AS ammo_url, NULL AS is_static_ammo,
            NULL AS max_vus
        FROM scripts WHERE scenario_id = sc.id
        UNION ALL
        SELECT true, id, scenario_id, name, title, enabled, tag, rps, steps, duration, selectors,
            additional_env, NULL, NULL, NULL, NULL, NULL,
            description, monitoring_links, path, scheme, http_method,
            query_params, headers, static_ammo, ammo_url, is_static_ammo,
            max_vus
        FROM simple_scripts WHERE scenario_id = sc.id
    ) t ON true
    WHERE sc.id = $1 ORDER BY t.simple, t.name, t.id LIMIT 10000";

pub async fn list_both(db: &Db, scenario_id: i64) -> ApiResult<Option<(Vec<Script>, Vec<SimpleScript>)>> {
    let conn = db.conn().await?;
    let rows = conn.query(&conn.prepare_cached(LIST_BOTH).await?, &[&scenario_id]).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let (mut scripts, mut simple) = (Vec::new(), Vec::with_capacity(rows.len()));
    for row in &rows {
        match row.get::<_, Option<bool>>("simple") {
            None => {} // the scenario's own row: it has no scripts
            Some(false) => scripts.push(script(row)),
            Some(true) => simple.push(simple_script(row)),
        }
    }
    Ok(Some((scripts, simple)))
}

pub async fn get(db: &Db, id: i64) -> ApiResult<Option<Script>> {
    let conn = db.conn().await?;
    let row = conn.query_opt(&conn.prepare_cached(&format!("{SELECT} WHERE t.id = $1")).await?, &[&id]).await?;
    Ok(row.as_ref().map(script))
}

pub async fn create(db: &Db, scenario_id: i64, s: &ExtendedScript) -> ApiResult<i64> {
    let conn = db.conn().await?;
    let row = conn
        .query_one(
            &conn.prepare_cached("INSERT INTO scripts (scenario_id, name, title, descrip, script_file, ammo_id, base_url, rps, steps,
                 duration, duration_secs, enabled, grafana_url, tag, selectors, additional_env)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id").await?,
            &[
                &scenario_id,
                &s.name,
                &s.title,
                &s.descrip,
                &s.script_file,
                &s.ammo_id,
                &s.base_url,
                &(s.profile.rps.get() as i64),
                &(s.profile.steps.get() as i32),
                &s.duration_text,
                &(s.profile.duration.secs() as i64),
                &s.enabled,
                &s.grafana_url,
                &s.tag,
                &Json(&s.selectors),
                &Json(&s.additional_env),
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// Overwrite every stored field; `false` when no such script exists.
pub async fn update(db: &Db, id: i64, scenario_id: i64, s: &ExtendedScript) -> ApiResult<bool> {
    let conn = db.conn().await?;
    let n = conn
        .execute(
            &conn.prepare_cached("UPDATE scripts SET scenario_id = $2, name = $3, title = $4, descrip = $5, script_file = $6, ammo_id = $7,
                 base_url = $8, rps = $9, steps = $10, duration = $11, duration_secs = $12, enabled = $13,
                 grafana_url = $14, tag = $15, selectors = $16, additional_env = $17, updated_at = now()
             WHERE id = $1").await?,
            &[
                &id,
                &scenario_id,
                &s.name,
                &s.title,
                &s.descrip,
                &s.script_file,
                &s.ammo_id,
                &s.base_url,
                &(s.profile.rps.get() as i64),
                &(s.profile.steps.get() as i32),
                &s.duration_text,
                &(s.profile.duration.secs() as i64),
                &s.enabled,
                &s.grafana_url,
                &s.tag,
                &Json(&s.selectors),
                &Json(&s.additional_env),
            ],
        )
        .await?;
    Ok(n == 1)
}

pub async fn delete(db: &Db, id: i64) -> ApiResult<bool> {
    let conn = db.conn().await?;
    Ok(conn.execute(&conn.prepare_cached("DELETE FROM scripts WHERE id = $1").await?, &[&id]).await? == 1)
}

pub async fn set_scenario(db: &Db, id: i64, scenario_id: i64) -> ApiResult<bool> {
    let conn = db.conn().await?;
    let n = conn
        .execute(
            &conn.prepare_cached("UPDATE scripts SET scenario_id = $2, updated_at = now() WHERE id = $1").await?,
            &[&id, &scenario_id],
        )
        .await?;
    Ok(n == 1)
}

/// Copy scripts (all of a scenario, or one) into `target`, named `Copied_<name>`.
/// Returns how many were copied.
pub async fn copy_into(
    conn: &impl GenericClient,
    target: i64,
    source_scenario: Option<i64>,
    one: Option<i64>,
) -> ApiResult<u64> {
    Ok(conn
        .execute(
            &conn.prepare_cached("INSERT INTO scripts (scenario_id, name, title, descrip, script_file, ammo_id, base_url, rps, steps,
                 duration, duration_secs, enabled, grafana_url, tag, selectors, additional_env)
             SELECT $1, left('Copied_' || name, 200), title, descrip, script_file, ammo_id, base_url, rps, steps,
                 duration, duration_secs, enabled, grafana_url, tag, selectors, additional_env
             FROM scripts WHERE ($2::bigint IS NULL OR scenario_id = $2) AND ($3::bigint IS NULL OR id = $3)
             ORDER BY id").await?,
            &[&target, &source_scenario, &one],
        )
        .await?)
}
