//! Search: case-insensitive literal substring match over projects, scenarios and
//! both kinds of scripts, optionally within one project or scenario.

use super::Db;
use crate::http::ApiResult;
use crate::wire::projects::Project;
use crate::wire::scenarios::Scenario;
use crate::wire::scripts::{Script, SimpleScript};

/// Where to search.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    All,
    Project(i64),
    Scenario(i64),
}

#[derive(Debug, Default)]
pub struct Found {
    pub projects: Vec<Project>,
    pub scenarios: Vec<Scenario>,
    pub scripts: Vec<Script>,
    pub simple_scripts: Vec<SimpleScript>,
}

/// Most hits of each kind returned: a search is for finding, not for exporting.
const MAX_HITS: i64 = 200;

/// `pattern` is an `ILIKE` pattern from [`crate::model::search::like_pattern`].
/// The statements are not cached on purpose: a generic plan cannot know the
/// pattern and falls back to sequential scans instead of the trigram indexes.
pub async fn search(db: &Db, pattern: &str, negate: bool, scope: Scope) -> ApiResult<Found> {
    let conn = db.conn().await?;
    let op = if negate { "NOT ILIKE" } else { "ILIKE" };
    let (project, scenario) = match scope {
        Scope::All => (None, None),
        Scope::Project(p) => (Some(p), None),
        Scope::Scenario(s) => (None, Some(s)),
    };
    let mut found = Found::default();
    if scenario.is_none() {
        let rows = conn
            .query(
                &format!("SELECT id, title, descrip FROM projects WHERE title {op} $1 AND ($2::bigint IS NULL OR id = $2) ORDER BY title, id LIMIT $3"),
                &[&pattern, &project, &MAX_HITS],
            )
            .await?;
        found.projects =
            rows.iter().map(|r| Project { id: super::id32(r.get(0)), title: r.get(1), descrip: r.get(2) }).collect();
        let rows = conn
            .query(
                &format!("SELECT id FROM scenarios WHERE title {op} $1 AND ($2::bigint IS NULL OR project_id = $2) ORDER BY title, id LIMIT $3"),
                &[&pattern, &project, &MAX_HITS],
            )
            .await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        found.scenarios = super::scenarios::get_many(&conn, &ids).await?;
    }
    let filter = format!(
        "WHERE t.name {op} $1 AND ($2::bigint IS NULL OR sc.project_id = $2) AND ($3::bigint IS NULL OR t.scenario_id = $3)
         ORDER BY t.name, t.id LIMIT $4"
    );
    let rows = conn
        .query(&format!("{} {filter}", super::scripts::SELECT), &[&pattern, &project, &scenario, &MAX_HITS])
        .await?;
    found.scripts = rows.iter().map(super::scripts::script).collect();
    let rows = conn
        .query(&format!("{} {filter}", super::simple_scripts::SELECT), &[&pattern, &project, &scenario, &MAX_HITS])
        .await?;
    found.simple_scripts = rows.iter().map(super::simple_scripts::simple_script).collect();
    Ok(found)
}
