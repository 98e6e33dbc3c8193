//! Simple-script queries.

use super::{Db, id32};
use crate::http::ApiResult;
use crate::model::scripts::SimpleScriptInput;
use crate::wire::scripts::{QueryParams, SimpleScript};
use crate::wire::{Selectors, StringMap};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::{Json, ToSql};

pub(crate) const SELECT: &str = "SELECT t.id, sc.project_id, t.scenario_id, t.name, t.title, t.description, t.enabled,
    t.monitoring_links, t.tag, t.path, t.scheme, t.http_method, t.query_params, t.headers, t.static_ammo, t.ammo_url,
    t.is_static_ammo, t.rps, t.steps, t.duration, t.max_vus, t.selectors, t.additional_env
    FROM simple_scripts t JOIN scenarios sc ON sc.id = t.scenario_id";

/// Where the agents read a simple script's request description: its own route.
pub fn script_file_url(id: i64) -> String {
    format!("/v1/simple-script?simple_script_id={id}")
}

pub(crate) fn simple_script(row: &Row) -> SimpleScript {
    let Json(query_params): Json<Vec<QueryParams>> = row.get("query_params");
    let Json(headers): Json<StringMap> = row.get("headers");
    let Json(selectors): Json<Selectors> = row.get("selectors");
    let Json(additional_env): Json<StringMap> = row.get("additional_env");
    let id: i64 = row.get("id");
    SimpleScript {
        name: row.get("name"),
        description: row.get("description"),
        script_id: id32(id),
        project_id: id32(row.get("project_id")),
        scenario_id: id32(row.get("scenario_id")),
        enabled: row.get("enabled"),
        monitoring_links: row.get("monitoring_links"),
        tag: row.get("tag"),
        path: row.get("path"),
        scheme: row.get("scheme"),
        http_method: row.get("http_method"),
        query_params,
        headers,
        static_ammo: row.get("static_ammo"),
        ammo_url: row.get("ammo_url"),
        is_static_ammo: row.get("is_static_ammo"),
        rps: row.get::<_, i64>("rps").to_string(),
        duration: row.get("duration"),
        steps: row.get::<_, i32>("steps").to_string(),
        max_v_us: row.get::<_, i64>("max_vus").to_string(),
        script_file_url: script_file_url(id),
        selectors: Some(selectors),
        additional_env,
        title: row.get("title"),
    }
}

pub async fn list(db: &Db, scenario_id: i64) -> ApiResult<Vec<SimpleScript>> {
    let conn = db.conn().await?;
    let rows = conn
        .query(
            &conn.prepare_cached(&format!("{SELECT} WHERE t.scenario_id = $1 ORDER BY t.name, t.id")).await?,
            &[&scenario_id],
        )
        .await?;
    Ok(rows.iter().map(simple_script).collect())
}

pub async fn get(db: &Db, id: i64) -> ApiResult<Option<SimpleScript>> {
    let conn = db.conn().await?;
    let row = conn.query_opt(&conn.prepare_cached(&format!("{SELECT} WHERE t.id = $1")).await?, &[&id]).await?;
    Ok(row.as_ref().map(simple_script))
}

const COLUMNS: &str = "name, title, description, enabled, monitoring_links, tag, path, scheme, http_method, query_params,
    headers, static_ammo, ammo_url, is_static_ammo, rps, steps, duration, duration_secs, max_vus, selectors, additional_env";

/// The stored values of a script, ready to bind in [`COLUMNS`] order; written once
/// for both insert and update so the two cannot drift apart.
struct Values<'a> {
    s: &'a SimpleScriptInput,
    method: &'static str,
    query_params: Json<&'a [QueryParams]>,
    headers: Json<&'a StringMap>,
    rps: i64,
    steps: i32,
    duration_secs: i64,
    max_vus: i64,
    selectors: Json<&'a Selectors>,
    additional_env: Json<&'a StringMap>,
}

impl<'a> Values<'a> {
    #[allow(clippy::cast_possible_wrap)]
    fn of(s: &'a SimpleScriptInput) -> Self {
        Self {
            s,
            method: s.method.db_name(),
            query_params: Json(&s.query_params),
            headers: Json(&s.headers),
            rps: s.profile.rps.get() as i64,
            steps: s.profile.steps.get() as i32,
            duration_secs: s.profile.duration.secs() as i64,
            max_vus: s.max_vus.get() as i64,
            selectors: Json(&s.selectors),
            additional_env: Json(&s.additional_env),
        }
    }

    fn columns(&self) -> [&(dyn ToSql + Sync); 21] {
        let s = self.s;
        [
            &s.name,
            &s.title,
            &s.description,
            &s.enabled,
            &s.monitoring_links,
            &s.tag,
            &s.path,
            &s.scheme,
            &self.method,
            &self.query_params,
            &self.headers,
            &s.static_ammo,
            &s.ammo_url,
            &s.is_static_ammo,
            &self.rps,
            &self.steps,
            &s.duration_text,
            &self.duration_secs,
            &self.max_vus,
            &self.selectors,
            &self.additional_env,
        ]
    }
}

pub async fn create(
    conn: &impl GenericClient,
    scenario_id: i64,
    s: &SimpleScriptInput,
    insecure: bool,
    timeout_ms: Option<i64>,
) -> ApiResult<i64> {
    let values = Values::of(s);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&scenario_id];
    params.extend(values.columns());
    params.extend([&insecure as &(dyn ToSql + Sync), &timeout_ms]);
    let row = conn
        .query_one(
            &conn.prepare_cached(&format!(
                "INSERT INTO simple_scripts (scenario_id, {COLUMNS}, insecure, timeout_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)
                 RETURNING id"
            )).await?,
            &params,
        )
        .await?;
    Ok(row.get(0))
}

/// Overwrite every field of the v1 shape; `false` when no such script exists.
pub async fn update(db: &Db, id: i64, scenario_id: i64, s: &SimpleScriptInput) -> ApiResult<bool> {
    let conn = db.conn().await?;
    let values = Values::of(s);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&id, &scenario_id];
    params.extend(values.columns());
    let updated = conn
        .execute(
            &conn
                .prepare_cached(&format!(
                    "UPDATE simple_scripts SET scenario_id = $2, ({COLUMNS}) =
                 ($3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23),
                 updated_at = now() WHERE id = $1"
                ))
                .await?,
            &params,
        )
        .await?;
    Ok(updated == 1)
}

pub async fn delete(db: &Db, id: i64) -> ApiResult<bool> {
    let conn = db.conn().await?;
    Ok(conn.execute(&conn.prepare_cached("DELETE FROM simple_scripts WHERE id = $1").await?, &[&id]).await? == 1)
}

pub async fn set_scenario(db: &Db, id: i64, scenario_id: i64) -> ApiResult<bool> {
    let conn = db.conn().await?;
    let n = conn
        .execute(
            &conn
                .prepare_cached("UPDATE simple_scripts SET scenario_id = $2, updated_at = now() WHERE id = $1")
                .await?,
            &[&id, &scenario_id],
        )
        .await?;
    Ok(n == 1)
}

/// Copy simple scripts (all of a scenario, or one) into `target` as `Copied_<name>`;
/// returns the new ids in source order.
pub async fn copy_into(
    conn: &impl GenericClient,
    target: i64,
    source_scenario: Option<i64>,
    one: Option<i64>,
) -> ApiResult<Vec<i64>> {
    let rows = conn
        .query(
            &conn.prepare_cached(&format!(
                "INSERT INTO simple_scripts (scenario_id, {COLUMNS}, insecure, timeout_ms)
                 SELECT $1, left('Copied_' || name, 200), title, description, enabled, monitoring_links, tag, path, scheme,
                     http_method, query_params, headers, static_ammo, ammo_url, is_static_ammo, rps, steps, duration,
                     duration_secs, max_vus, selectors, additional_env, insecure, timeout_ms
                 FROM simple_scripts WHERE ($2::bigint IS NULL OR scenario_id = $2) AND ($3::bigint IS NULL OR id = $3)
                 ORDER BY id RETURNING id"
            )).await?,
            &[&target, &source_scenario, &one],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
