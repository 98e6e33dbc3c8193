//! Project queries.

use super::{Db, id32};
use crate::http::ApiResult;
use crate::model::page::Page;
use crate::wire::projects::Project;
use tokio_postgres::Row;

fn project(row: &Row) -> Project {
    Project { id: id32(row.get("id")), title: row.get("title"), descrip: row.get("descrip") }
}

/// LIMIT NULL means "no limit" in Postgres.
pub(crate) fn sql_limit(page: &Page) -> Option<i64> {
    (page.limit != i64::MAX).then_some(page.limit)
}

/// One page and the number of all projects, in one statement. The page walks the
/// (title, id) index and stops at LIMIT (a window count would read and sort every
/// project); the number is summed from the slots the triggers of migration 0003
/// keep, not counted row by row; the LEFT JOIN keeps it when the page is empty.
///
/// Every column of `projects`, in table order, is selected (the unused ones too:
/// the planner would replace them by NULLs) so that the index scan hands on the
/// rows OFFSET skips as stored instead of projecting each one; that is a quarter
/// of the statement's execution time at page 50 of 1,000 projects.
#[tracing::instrument(skip(db))]
pub async fn list(db: &Db, page: Page) -> ApiResult<(Vec<Project>, i64)> {
    let conn = db.conn().await?;
    let rows = conn
        .query(
            &conn
                .prepare_cached(
                    "SELECT n.total, p.id, p.title, p.descrip, p.created_at, p.updated_at
                     FROM (SELECT COALESCE(sum(n), 0)::bigint AS total FROM project_count) n
                     LEFT JOIN LATERAL (SELECT id, title, descrip, created_at, updated_at FROM projects
                         ORDER BY title, id LIMIT $1 OFFSET $2) p ON true
                     ORDER BY p.title, p.id",
                )
                .await?,
            &[&sql_limit(&page), &page.offset],
        )
        .await?;
    let total = rows.first().map_or(0, |r| r.get("total"));
    let projects = rows
        .iter()
        .filter_map(|r| {
            let id: Option<i64> = r.get("id");
            Some(Project { id: id32(id?), title: r.get("title"), descrip: r.get("descrip") })
        })
        .collect();
    Ok((projects, total))
}

#[tracing::instrument(skip(db))]
pub async fn get(db: &Db, id: i64) -> ApiResult<Option<Project>> {
    let conn = db.conn().await?;
    let row = conn
        .query_opt(&conn.prepare_cached("SELECT id, title, descrip FROM projects WHERE id = $1").await?, &[&id])
        .await?;
    Ok(row.as_ref().map(project))
}

#[tracing::instrument(skip(db, descrip))]
pub async fn create(db: &Db, title: &str, descrip: &str) -> ApiResult<i64> {
    let conn = db.conn().await?;
    let row = conn
        .query_one(
            &conn.prepare_cached("INSERT INTO projects (title, descrip) VALUES ($1, $2) RETURNING id").await?,
            &[&title, &descrip],
        )
        .await?;
    Ok(row.get(0))
}

/// `false` when no such project exists.
#[tracing::instrument(skip(db, descrip))]
pub async fn update(db: &Db, id: i64, title: &str, descrip: &str) -> ApiResult<bool> {
    let conn = db.conn().await?;
    let n = conn
        .execute(
            &conn
                .prepare_cached("UPDATE projects SET title = $2, descrip = $3, updated_at = now() WHERE id = $1")
                .await?,
            &[&id, &title, &descrip],
        )
        .await?;
    Ok(n == 1)
}

/// Deletes the project; its scenarios, scripts and runs go with it (ON DELETE CASCADE).
#[tracing::instrument(skip(db))]
pub async fn delete(db: &Db, id: i64) -> ApiResult<bool> {
    let conn = db.conn().await?;
    Ok(conn.execute(&conn.prepare_cached("DELETE FROM projects WHERE id = $1").await?, &[&id]).await? == 1)
}

/// 1-based position of a project in the title order, or `None`.
pub async fn position(db: &Db, id: i64) -> ApiResult<Option<i64>> {
    let conn = db.conn().await?;
    let row = conn
        .query_opt(
            &conn.prepare_cached("SELECT pos FROM (SELECT id, row_number() OVER (ORDER BY title, id) AS pos FROM projects) p WHERE id = $1").await?,
            &[&id],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Project `id`'s target allow-list entries (`Some(None)`: it has none), or
/// `None` when there is no such project.
#[tracing::instrument(skip(db))]
pub async fn targets(db: &Db, id: i64) -> ApiResult<Option<Option<Vec<String>>>> {
    let conn = db.conn().await?;
    let row = conn
        .query_opt(
            &conn
                .prepare_cached(
                    "SELECT t.entries FROM projects p LEFT JOIN project_targets t ON t.project_id = p.id
                     WHERE p.id = $1",
                )
                .await?,
            &[&id],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// The project of scenario `scenario_id` and its target allow-list entries
/// (`None`: it has none), or `None` when there is no such scenario: what a
/// script of that scenario is checked against, in one round trip.
#[tracing::instrument(skip(db))]
pub async fn targets_of_scenario(db: &Db, scenario_id: i64) -> ApiResult<Option<(i64, Option<Vec<String>>)>> {
    let conn = db.conn().await?;
    let row = conn
        .query_opt(
            &conn
                .prepare_cached(
                    "SELECT s.project_id, t.entries FROM scenarios s
                     LEFT JOIN project_targets t ON t.project_id = s.project_id WHERE s.id = $1",
                )
                .await?,
            &[&scenario_id],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Sets (or, with `None`, removes) project `id`'s target allow-list; `false`
/// when there is no such project.
#[tracing::instrument(skip(db))]
pub async fn set_targets(db: &Db, id: i64, entries: Option<&[String]>) -> ApiResult<bool> {
    let conn = db.conn().await?;
    let Some(entries) = entries else {
        conn.execute(&conn.prepare_cached("DELETE FROM project_targets WHERE project_id = $1").await?, &[&id]).await?;
        let exists =
            conn.query_opt(&conn.prepare_cached("SELECT 1 FROM projects WHERE id = $1").await?, &[&id]).await?;
        return Ok(exists.is_some());
    };
    let n = conn
        .execute(
            &conn
                .prepare_cached(
                    "INSERT INTO project_targets (project_id, entries)
                     SELECT id, $2 FROM projects WHERE id = $1
                     ON CONFLICT (project_id) DO UPDATE SET entries = EXCLUDED.entries, updated_at = now()",
                )
                .await?,
            &[&id, &entries],
        )
        .await?;
    Ok(n == 1)
}
