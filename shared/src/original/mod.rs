//! The way over from the original (#14): [`import`] reads an installation of
//! the original platform (its Postgres schema and its MinIO bucket) and
//! creates the same projects, scenarios, scripts, simple scripts and agents
//! here, and copies its files into our bucket.
//!
//! - **Only reads the source**: one `READ ONLY` transaction on its database;
//!   objects are listed and read, never written.
//! - **Ids are kept where free**; where one is taken here the row gets a new
//!   id and the report lists the mapping. Every imported row is recorded in
//!   `original_import` (migration 0010), in our schema.
//! - **Idempotent**: a row already recorded is left alone, a file already in
//!   our bucket with the same size is not copied again, so a second run
//!   changes nothing.
//! - Rows deleted in the original (`deleted_at`) stay behind; a row that
//!   breaks one of our rules (no rps, a duration that does not parse) stays
//!   behind with its reason in the report.
//! - File links (`script_file`, `ammo_id`, `ammo_url`) into the original's
//!   bucket become `s3://<our bucket>/<key>`: the keys are kept.
//! - Scripts and simple scripts pass the target allow-lists as a cURL import
//!   does (docs/security.md): the global list AND the project's. One that
//!   targets a host they do not name, or reads a data file from outside our
//!   bucket that they do not allow, stays behind, listed in
//!   [`Report::refused`] with the field, the host and the list; an import run
//!   again once the lists allow it brings it over.
//!
//! The source schema is read by name (`--pg-schema`, default `public`), so
//! the original's tables (`projects`, `scenarios`, … the same names as ours)
//! never meet ours: ours live in our own database or schema.

pub mod convert;

use crate::auth::targets::{Effective, TargetList};
use crate::extended::location::Location;
use crate::state::AppState;
use crate::storage::{ObjectKey, Storage};
use anyhow::Context as _;
use convert::{Agent, Monitoring, Project, Scenario, Script, SimpleScript};
use serde::Serialize;
use std::collections::BTreeMap;
use tokio_postgres::types::Json;

/// Where the original lives.
pub struct Source {
    /// Its Postgres DSN.
    pub dsn: String,
    /// Its schema (default `public`).
    pub schema: String,
    /// Its bucket, when files are to be copied.
    pub files: Option<Storage>,
    /// Its bucket's name (file links name it).
    pub bucket: String,
}

/// What an import did.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Report {
    /// Rows created here, by kind.
    pub created: BTreeMap<String, usize>,
    /// Rows imported before (left alone), by kind.
    pub already: BTreeMap<String, usize>,
    /// Rows whose id was taken here: (kind, the original's id, ours).
    pub remapped: Vec<(String, i64, i64)>,
    /// Rows left behind: (kind, the original's id, why).
    pub skipped: Vec<(String, i64, String)>,
    /// Scripts the target allow-lists refuse, left behind: (kind, the
    /// original's id, the field, host and list, as a 422 of the API says).
    pub refused: Vec<(String, i64, String)>,
    pub files_copied: usize,
    pub files_present: usize,
}

/// A schema name as an identifier (letters, digits, `_`).
fn schema_name(raw: &str) -> anyhow::Result<String> {
    let ok = !raw.is_empty()
        && raw.len() <= 63
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !raw.as_bytes()[0].is_ascii_digit();
    anyhow::ensure!(ok, "--pg-schema {raw:?} is not a plain schema name");
    Ok(raw.to_string())
}

/// The original's rows (deleted ones left out).
struct Rows {
    projects: Vec<Project>,
    scenarios: Vec<Scenario>,
    scripts: Vec<Script>,
    simple: Vec<SimpleScript>,
    agents: Vec<Agent>,
}

const MONITORING: &str = "expr_rps, source_rps::text, cmt_rps, expr_rt, source_rt::text, cmt_rt, \
                          expr_err, source_err::text, cmt_err";

fn monitoring(r: &tokio_postgres::Row, at: usize) -> Monitoring {
    Monitoring {
        expr_rps: r.get(at),
        source_rps: r.get(at + 1),
        cmt_rps: r.get(at + 2),
        expr_rt: r.get(at + 3),
        source_rt: r.get(at + 4),
        cmt_rt: r.get(at + 5),
        expr_err: r.get(at + 6),
        source_err: r.get(at + 7),
        cmt_err: r.get(at + 8),
    }
}

async fn read_source(source: &Source) -> anyhow::Result<Rows> {
    let schema = schema_name(&source.schema)?;
    let (mut client, conn) = tokio_postgres::connect(&source.dsn, tokio_postgres::NoTls)
        .await
        .context("cannot connect to the original's Postgres (--pg-dsn)")?;
    tokio::spawn(conn);
    let tx = client.build_transaction().read_only(true).start().await?;
    tx.batch_execute(&format!("SET LOCAL search_path TO \"{schema}\"")).await?;
    let s = |r: &tokio_postgres::Row, i: usize| r.get::<_, Option<String>>(i).unwrap_or_default();
    let projects = tx
        .query("SELECT id, title, descrip FROM projects WHERE deleted_at IS NULL ORDER BY id", &[])
        .await
        .context("reading the original's projects")?
        .iter()
        .map(|r| Project { id: r.get(0), title: r.get(1), descrip: s(r, 2) })
        .collect();
    let scenarios = tx
        .query(
            "SELECT scenario_id, project_id, title, descrip, selectors FROM scenarios WHERE deleted_at IS NULL
             ORDER BY scenario_id",
            &[],
        )
        .await
        .context("reading the original's scenarios")?
        .iter()
        .map(|r| Scenario { id: r.get(0), project_id: r.get(1), title: r.get(2), descrip: s(r, 3), selectors: s(r, 4) })
        .collect();
    let scripts = tx
        .query(
            &format!(
                "SELECT script_id, scenario_id, name, descrip, script_file, ammo_id, base_url, options_rps,
                        options_steps, options_duration, enabled, grafana_url, tag, additional_env, {MONITORING}
                 FROM scripts WHERE deleted_at IS NULL ORDER BY script_id"
            ),
            &[],
        )
        .await
        .context("reading the original's scripts")?
        .iter()
        .map(|r| Script {
            id: r.get(0),
            scenario_id: r.get(1),
            name: r.get(2),
            descrip: s(r, 3),
            script_file: s(r, 4),
            ammo_id: s(r, 5),
            base_url: s(r, 6),
            rps: r.get(7),
            steps: r.get(8),
            duration: s(r, 9),
            enabled: r.get(10),
            grafana_url: r.get(11),
            tag: r.get(12),
            additional_env: r.get(13),
            monitoring: monitoring(r, 14),
        })
        .collect();
    let simple = tx
        .query(
            &format!(
                "SELECT script_id, scenario_id, name, description, enabled, monitoring_links, tag, scheme::text,
                        path, http_method::text, static_ammo, ammo_url, is_static_ammo, rps, duration, steps,
                        max_v_us, query_params, headers, additional_env, {MONITORING}
                 FROM simple_scripts WHERE deleted_at IS NULL ORDER BY script_id"
            ),
            &[],
        )
        .await
        .context("reading the original's simple scripts")?
        .iter()
        .map(|r| SimpleScript {
            id: r.get(0),
            scenario_id: r.get(1),
            name: r.get(2),
            description: r.get(3),
            enabled: r.get(4),
            monitoring_links: r.get(5),
            tag: r.get(6),
            scheme: r.get(7),
            path: r.get(8),
            http_method: r.get(9),
            static_ammo: r.get(10),
            ammo_url: r.get(11),
            is_static_ammo: r.get(12),
            rps: r.get(13),
            duration: r.get(14),
            steps: r.get(15),
            max_v_us: r.get(16),
            query_params: r.get(17),
            headers: r.get(18),
            additional_env: r.get(19),
            monitoring: monitoring(r, 20),
        })
        .collect();
    let agents = tx
        .query(
            "SELECT agent_id, host_name, port, enabled, tags FROM agent WHERE deleted_at IS NULL ORDER BY agent_id",
            &[],
        )
        .await
        .context("reading the original's agents")?
        .iter()
        .map(|r| Agent { id: r.get(0), host_name: r.get(1), port: r.get(2), enabled: r.get(3), tags: r.get(4) })
        .collect();
    tx.rollback().await?;
    Ok(Rows { projects, scenarios, scripts, simple, agents })
}

/// One kind of row being written: its table, what was done.
struct Writer<'a> {
    tx: &'a deadpool_postgres::Transaction<'a>,
    report: &'a mut Report,
    /// (kind, the original's id) → ours, for rows imported now or before.
    map: BTreeMap<(&'static str, i64), i64>,
}

impl Writer<'_> {
    /// Whether the row was imported before (counted), else whether its id is free here.
    async fn plan(&mut self, kind: &'static str, table: &str, id: i64) -> anyhow::Result<Option<bool>> {
        if self.map.contains_key(&(kind, id)) {
            *self.report.already.entry(kind.into()).or_default() += 1;
            return Ok(None);
        }
        let taken = self.tx.query_opt(&format!("SELECT 1 FROM {table} WHERE id = $1"), &[&id]).await?.is_some();
        Ok(Some(!taken))
    }

    async fn done(&mut self, kind: &'static str, source: i64, ours: i64) -> anyhow::Result<()> {
        self.tx
            .execute(
                "INSERT INTO original_import (kind, source_id, target_id) VALUES ($1, $2, $3)",
                &[&kind, &source, &ours],
            )
            .await?;
        self.map.insert((kind, source), ours);
        *self.report.created.entry(kind.into()).or_default() += 1;
        if source != ours {
            self.report.remapped.push((kind.into(), source, ours));
        }
        Ok(())
    }

    fn skip(&mut self, kind: &str, id: i64, why: impl Into<String>) {
        self.report.skipped.push((kind.into(), id, why.into()));
    }

    fn refuse(&mut self, kind: &str, id: i64, why: impl Into<String>) {
        self.report.refused.push((kind.into(), id, why.into()));
    }

    fn parent(&self, kind: &'static str, id: i64) -> Option<i64> {
        self.map.get(&(kind, id)).copied()
    }
}

/// The target allow-lists that apply to the scripts of our scenario
/// `scenario`: the global list AND its project's, read in the import's
/// transaction (which may have created the project).
async fn lists_of(app: &AppState, tx: &deadpool_postgres::Transaction<'_>, scenario: i64) -> anyhow::Result<Effective> {
    let row = tx
        .query_one(
            "SELECT s.project_id, t.entries FROM scenarios s LEFT JOIN project_targets t ON t.project_id = s.project_id
             WHERE s.id = $1",
            &[&scenario],
        )
        .await?;
    let (project, entries): (i64, Option<Vec<String>>) = (row.get(0), row.get(1));
    let list = TargetList::from_entries(entries.unwrap_or_default())
        .map_err(|e| anyhow::anyhow!("project {project}'s stored target allow-list {e}: set it again"))?;
    Ok(Effective::of_project(&app.auth.targets, project, Some(list)))
}

/// Why the lists refuse an extended script (its `base_url` host, or its
/// `script_file` / `ammo_id` outside our bucket), as its save and start would.
fn refused_script(app: &AppState, lists: &Effective, base_url: &str, files: [(&str, &str); 2]) -> Option<String> {
    let field = "script";
    if let Some(host) = crate::auth::targets::host_of(base_url.trim()).filter(|_| !base_url.trim().is_empty())
        && let Err(why) = lists.check_target(&host)
    {
        return Some(format!("{field}.base_url: {why}"));
    }
    let bucket = app.storage.bucket();
    files.into_iter().find_map(|(name, raw)| match Location::parse(raw, bucket) {
        Ok(Some(Location::External { url })) => {
            lists.check_data_url(&url, bucket).err().map(|why| format!("{field}.{name}: {why}"))
        }
        _ => None,
    })
}

/// Moves `table`'s identity to at least its highest id and `top`.
async fn set_identity(tx: &deadpool_postgres::Transaction<'_>, table: &str, top: i64) -> anyhow::Result<()> {
    tx.execute(
        &format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT COALESCE(max(id), 0) FROM {table}), $1, 1))"
        ),
        &[&top],
    )
    .await?;
    Ok(())
}

/// Imports everything of `source` into `app`'s database and bucket.
pub async fn import(app: &AppState, source: &Source) -> anyhow::Result<Report> {
    let rows = read_source(source).await?;
    let our_bucket = app.storage.bucket().to_string();
    let mut report = Report::default();
    let mut conn = app.db.conn().await.map_err(|e| anyhow::anyhow!(e.message))?;
    let tx = conn.transaction().await?;
    let recorded = tx.query("SELECT kind, source_id, target_id FROM original_import", &[]).await?;
    let mut w = Writer { tx: &tx, report: &mut report, map: BTreeMap::new() };
    for r in &recorded {
        let kind: String = r.get(0);
        let kind: &'static str = match kind.as_str() {
            "project" => "project",
            "scenario" => "scenario",
            "script" => "script",
            "simple_script" => "simple_script",
            "agent" => "agent",
            _ => continue,
        };
        w.map.insert((kind, r.get(1)), r.get(2));
    }
    let url = |raw: &str| convert::file_url(raw, &source.bucket, &our_bucket);
    // A row whose id is taken here gets one past both ours and the original's,
    // so it never takes the id of an original row imported after it.
    let highest = |ids: &mut dyn Iterator<Item = i64>| ids.max().unwrap_or(0);
    for (table, top) in [
        ("projects", highest(&mut rows.projects.iter().map(|r| r.id))),
        ("scenarios", highest(&mut rows.scenarios.iter().map(|r| r.id))),
        ("scripts", highest(&mut rows.scripts.iter().map(|r| r.id))),
        ("simple_scripts", highest(&mut rows.simple.iter().map(|r| r.id))),
        ("agents", highest(&mut rows.agents.iter().map(|r| r.id))),
    ] {
        set_identity(&tx, table, top).await?;
    }

    for p in &rows.projects {
        let Some(free) = w.plan("project", "projects", p.id).await? else { continue };
        let title = convert::text(&p.title, 200, &format!("Project {}", p.id));
        let id: i64 = w
            .tx
            .query_one(
                "INSERT INTO projects (id, title, descrip) VALUES (COALESCE($1, nextval(pg_get_serial_sequence('projects', 'id'))), $2, $3) RETURNING id",
                &[&free.then_some(p.id), &title, &p.descrip],
            )
            .await?
            .get(0);
        w.done("project", p.id, id).await?;
    }
    for s in &rows.scenarios {
        let Some(project) = w.parent("project", s.project_id) else {
            w.skip("scenario", s.id, format!("its project {} was not imported", s.project_id));
            continue;
        };
        let Some(free) = w.plan("scenario", "scenarios", s.id).await? else { continue };
        let selectors = match serde_json::from_str::<serde_json::Value>(&s.selectors) {
            Ok(v @ serde_json::Value::Array(_)) => v,
            _ => serde_json::json!([]),
        };
        let id: i64 = w
            .tx
            .query_one(
                "INSERT INTO scenarios (id, project_id, title, descrip, selectors)
                 VALUES (COALESCE($1, nextval(pg_get_serial_sequence('scenarios', 'id'))), $2, $3, $4, $5) RETURNING id",
                &[&free.then_some(s.id), &project, &convert::text(&s.title, 200, &format!("Scenario {}", s.id)), &s.descrip, &Json(&selectors)],
            )
            .await?
            .get(0);
        w.done("scenario", s.id, id).await?;
    }
    for s in &rows.scripts {
        let Some(scenario) = w.parent("scenario", s.scenario_id) else {
            w.skip("script", s.id, format!("its scenario {} was not imported", s.scenario_id));
            continue;
        };
        let load = match convert::load(s.rps.map(i64::from), s.steps.map(i64::from), &s.duration) {
            Ok(l) => l,
            Err(why) => {
                w.skip("script", s.id, why);
                continue;
            }
        };
        let Some(free) = w.plan("script", "scripts", s.id).await? else { continue };
        let lists = lists_of(app, w.tx, scenario).await?;
        let (script_file, ammo_id) = (url(&s.script_file), url(&s.ammo_id));
        if let Some(why) =
            refused_script(app, &lists, &s.base_url, [("script_file", &script_file), ("ammo_id", &ammo_id)])
        {
            w.refuse("script", s.id, why);
            continue;
        }
        let name = convert::text(&s.name, 200, &format!("script_{}", s.id));
        let id: i64 = w
            .tx
            .query_one(
                "INSERT INTO scripts (id, scenario_id, name, title, descrip, script_file, ammo_id, base_url, rps, steps,
                     duration, duration_secs, enabled, grafana_url, tag, selectors, additional_env)
                 VALUES (COALESCE($1, nextval(pg_get_serial_sequence('scripts', 'id'))), $2, $3, $3, $4, $5, $6, $7,
                     $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id",
                &[
                    &free.then_some(s.id),
                    &scenario,
                    &name,
                    &s.descrip,
                    &url(&s.script_file),
                    &url(&s.ammo_id),
                    &s.base_url,
                    &load.0,
                    &load.1,
                    &load.2,
                    &load.3,
                    &s.enabled,
                    &s.grafana_url,
                    &s.tag,
                    &Json(convert::selectors(&s.monitoring)),
                    &Json(convert::object(&s.additional_env)),
                ],
            )
            .await?
            .get(0);
        w.done("script", s.id, id).await?;
    }
    for s in &rows.simple {
        let Some(scenario) = w.parent("scenario", s.scenario_id) else {
            w.skip("simple_script", s.id, format!("its scenario {} was not imported", s.scenario_id));
            continue;
        };
        let numbers = convert::number(&s.rps)
            .and_then(|rps| Ok((rps, convert::number(&s.steps)?, convert::number(&s.max_v_us)?)))
            .and_then(|(rps, steps, vus)| Ok((convert::load(rps, steps, &s.duration)?, vus)));
        let (load, max_vus) = match numbers {
            Ok((load, vus)) => (load, vus.filter(|v| *v > 0).unwrap_or(alilo_agent_api::DEFAULT_MAX_VUS as i64)),
            Err(why) => {
                w.skip("simple_script", s.id, why);
                continue;
            }
        };
        if s.path.trim().is_empty() {
            w.skip("simple_script", s.id, "its path is empty");
            continue;
        }
        let Some(free) = w.plan("simple_script", "simple_scripts", s.id).await? else { continue };
        let lists = lists_of(app, w.tx, scenario).await?;
        if let Err(e) =
            crate::service::targets::check_simple(app, &lists, "simple_script", s.path.trim(), &url(&s.ammo_url))
        {
            w.refuse("simple_script", s.id, e.message);
            continue;
        }
        let name = convert::text(&s.name, 200, &format!("script_{}", s.id));
        let id: i64 =
            w.tx.query_one(
                "INSERT INTO simple_scripts (id, scenario_id, name, title, description, enabled, monitoring_links, tag,
                     path, scheme, http_method, query_params, headers, static_ammo, ammo_url, is_static_ammo, rps,
                     steps, duration, duration_secs, max_vus, selectors, additional_env)
                 VALUES (COALESCE($1, nextval(pg_get_serial_sequence('simple_scripts', 'id'))), $2, $3, $3, $4, $5,
                     $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) RETURNING id",
                &[
                    &free.then_some(s.id),
                    &scenario,
                    &name,
                    &s.description,
                    &s.enabled,
                    &s.monitoring_links,
                    &s.tag,
                    &s.path.trim(),
                    &s.scheme,
                    &s.http_method,
                    &Json(convert::query_params(&s.query_params)),
                    &Json(convert::object(&s.headers)),
                    &s.static_ammo,
                    &url(&s.ammo_url),
                    &s.is_static_ammo,
                    &load.0,
                    &load.1,
                    &load.2,
                    &load.3,
                    &max_vus,
                    &Json(convert::selectors(&s.monitoring)),
                    &Json(convert::object(&s.additional_env)),
                ],
            )
            .await?
            .get(0);
        w.done("simple_script", s.id, id).await?;
    }
    for a in &rows.agents {
        let Some(port) = a.port.trim().parse::<i32>().ok().filter(|p| (1..=65_535).contains(p)) else {
            w.skip("agent", a.id, format!("port {:?} is not 1 to 65535", a.port));
            continue;
        };
        let host = a.host_name.trim();
        if host.is_empty() || host.len() > 253 {
            w.skip("agent", a.id, "its host name is empty or too long");
            continue;
        }
        let Some(free) = w.plan("agent", "agents", a.id).await? else { continue };
        let same: Option<i64> =
            w.tx.query_opt("SELECT id FROM agents WHERE host_name = $1 AND port = $2", &[&host, &port])
                .await?
                .map(|r| r.get(0));
        let id = match same {
            Some(id) => id,
            None => w
                .tx
                .query_one(
                    "INSERT INTO agents (id, host_name, port, enabled, tags)
                     VALUES (COALESCE($1, nextval(pg_get_serial_sequence('agents', 'id'))), $2, $3, $4, $5) RETURNING id",
                    &[&free.then_some(a.id), &host, &port, &a.enabled, &a.tags],
                )
                .await?
                .get(0),
        };
        w.done("agent", a.id, id).await?;
    }
    // Explicit ids leave the identity behind: move it past them.
    for table in ["projects", "scenarios", "scripts", "simple_scripts", "agents"] {
        set_identity(&tx, table, 0).await?;
    }
    tx.commit().await?;

    if let Some(files) = &source.files {
        let ours: BTreeMap<String, i64> =
            app.storage.list_under("", 1_000_000).await?.into_iter().map(|o| (o.key, o.size)).collect();
        for o in files.list_under("", 1_000_000).await.context("listing the original's bucket")? {
            if o.key.ends_with('/') {
                continue;
            }
            if ours.get(&o.key) == Some(&o.size) {
                report.files_present += 1;
                continue;
            }
            let body =
                files.get(&o.key).await?.with_context(|| format!("{} vanished from the original's bucket", o.key))?;
            app.storage
                .put(&ObjectKey::Browser(o.key.clone()), body, "application/octet-stream")
                .await
                .map_err(|e| anyhow::anyhow!("copying {}: {e:?}", o.key))?;
            report.files_copied += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_schema_is_a_plain_name() {
        assert_eq!(schema_name("public").unwrap(), "public");
        assert_eq!(schema_name("orig_1").unwrap(), "orig_1");
        for bad in ["", "a\"b", "x; DROP TABLE y", "1abc", &"a".repeat(64)] {
            assert!(schema_name(bad).is_err(), "{bad:?}");
        }
    }
}
