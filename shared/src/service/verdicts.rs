//! Verdicts, reports and comparisons of runs (#12): the I/O around the pure
//! rules of [`crate::verdict`].
//!
//! The run core calls one function, [`pass`], at the end of every controller
//! pass. It takes each run's thresholds once (at its first pass), judges the
//! live window of every active run (and stops a run whose `abort_on_fail`
//! threshold keeps failing), and gives every run that has ended its final
//! verdict and its HTML report. Nothing else of the run core is touched.

use crate::control::metrics::{Second, Sum};
use crate::db::runs as runs_db;
use crate::db::verdicts as q;
use crate::db::{id32, known_id};
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::ObjectKey;
use crate::verdict::compare::{self, Side};
use crate::verdict::report::{self, ReportData};
use crate::verdict::rules::{self, LIVE_WINDOW_SECS, ScriptSeconds, Spec, State, WARMUP_SECS};
use crate::wire::StdResponse;
use crate::wire::runs::RunIdRequest;
use crate::wire::verdicts::*;
use alilo_agent_api::threshold::MetricKind;
use deadpool_postgres::GenericClient;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a report's presigned link is valid (S3's longest).
pub const REPORT_LINK_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassOutcome {
    pub judged: usize,
    pub aborted: usize,
    pub finalized: usize,
}

/// The hook of the controller pass: judge every active run's live window,
/// abort what must stop, finalize what ended (verdict, then the report in the
/// background).
pub async fn pass(app: &AppState) -> ApiResult<PassOutcome> {
    let conn = app.db.conn().await?;
    let now = chrono::Utc::now().timestamp();
    let mut out = PassOutcome::default();
    for (run_id, scenario_id, status, started, _ended) in q::runs_to_judge(&conn).await? {
        let v = q::snapshot(&conn, run_id, scenario_id).await?;
        if status != "STATUS_STOPPED_UNSPECIFIED" {
            if v.specs.is_empty() || !v.aborted.is_empty() || now < started + WARMUP_SECS {
                continue;
            }
            out.judged += 1;
            if let Some(why) = judge_live(&conn, &v, started, now).await? {
                abort(app, run_id, &why).await?;
                out.aborted += 1;
            }
        } else {
            finalize(&conn, &v, scenario_id, started).await?;
            out.finalized += 1;
            let app = app.clone();
            tokio::spawn(async move {
                // The agents' failed-request samples, kept in the bucket (#14).
                if let Err(e) = crate::service::run_logs::store(&app, run_id).await {
                    tracing::warn!(run_id, error = %e.message, "failed-request logs not stored");
                }
                if let Err(e) = write_report(&app, run_id).await {
                    tracing::warn!(run_id, error = %e.message, "report not written");
                }
            });
        }
    }
    Ok(out)
}

/// The seconds of a run's script runs from `from` on, grouped by script run.
async fn seconds_by_script(
    conn: &impl GenericClient,
    run_id: i64,
    from: Option<i64>,
) -> ApiResult<(Vec<runs_db::ScriptRunRow>, BTreeMap<i64, Vec<Second>>)> {
    let srs = runs_db::script_run_rows(conn, &[run_id]).await?;
    let ids: Vec<i64> = srs.iter().map(|s| s.id).collect();
    let mut by: BTreeMap<i64, Vec<Second>> = ids.iter().map(|id| (*id, Vec::new())).collect();
    for (id, s) in runs_db::seconds(conn, &ids, from, None).await? {
        by.entry(id).or_default().push(s);
    }
    Ok((srs, by))
}

fn scripts_view<'a>(srs: &'a [runs_db::ScriptRunRow], by: &'a BTreeMap<i64, Vec<Second>>) -> Vec<ScriptSeconds<'a>> {
    srs.iter()
        .map(|s| ScriptSeconds { id: s.id, name: &s.name, seconds: by.get(&s.id).map_or(&[][..], Vec::as_slice) })
        .collect()
}

/// One live evaluation; the reason to abort, if a threshold says so.
async fn judge_live(conn: &impl GenericClient, v: &q::VerdictRow, started: i64, now: i64) -> ApiResult<Option<String>> {
    let from = (started + WARMUP_SECS).max(now - LIVE_WINDOW_SECS - 5);
    let (srs, by) = seconds_by_script(conn, v.run_id, Some(from)).await?;
    // The newest stored second may still miss another agent's bucket.
    let Some(latest) = by.values().flatten().map(|s| s.ts).max() else {
        return Ok(None);
    };
    let lo = (latest - LIVE_WINDOW_SECS).max(started + WARMUP_SECS);
    let judged = rules::judge(&v.specs, &scripts_view(&srs, &by), lo, latest);
    let (states, abort) = rules::live_step(&v.specs, &v.states, &judged, now);
    q::save_live(conn, v.run_id, &states).await?;
    Ok(abort.map(|i| {
        let s = &v.specs[i];
        let observed = judged[i].map_or(f64::NAN, |j| rules::round(j.observed));
        format!(
            "aborted by threshold {} (abort_on_fail): observed {observed} over the last {LIVE_WINDOW_SECS} s, failing for {} s",
            s.label(),
            now - states[i].failing_since.unwrap_or(now)
        )
    }))
}

/// Stops a run because a threshold aborts it.
async fn abort(app: &AppState, run_id: i64, why: &str) -> ApiResult<()> {
    let mut conn = app.db.conn().await?;
    let stopping = q::abort(&mut conn, run_id, why).await?;
    drop(conn);
    tracing::info!(run_id, why, "run aborted by a threshold");
    if stopping {
        app.nudge.nudge();
    }
    Ok(())
}

/// The whole-run figures of one script run or of the run, as compared.
fn side(sum: &Sum, target_rps: f64) -> Side {
    let f = sum.figures(None);
    Side {
        done: (f.counts.ok + f.counts.failed).max(0) as u64,
        failed: f.counts.failed.max(0) as u64,
        p50: f.p50,
        p90: f.p90,
        p95: f.p95,
        p99: f.p99,
        achieved_rps: f.achieved_rps,
        target_rps,
    }
}

/// Whole-run aggregates after the warm-up: per script run name, and in total.
async fn run_sides(conn: &impl GenericClient, run_id: i64, started: i64) -> ApiResult<(BTreeMap<String, Side>, Side)> {
    let (srs, by) = seconds_by_script(conn, run_id, Some(started + WARMUP_SECS)).await?;
    let mut per_name: BTreeMap<String, (Sum, f64)> = BTreeMap::new();
    let mut total = Sum::default();
    for sr in &srs {
        let agg = Sum::of(by.get(&sr.id).into_iter().flatten());
        total.merge(&agg);
        let e = per_name.entry(sr.name.clone()).or_default();
        e.0.merge(&agg);
        e.1 += agg.target_rps();
    }
    let target = total.target_rps();
    Ok((per_name.into_iter().map(|(n, (a, t))| (n, side(&a, t))).collect(), side(&total, target)))
}

/// The final verdict of an ended run, with the baseline rule when the
/// scenario has one.
async fn finalize(conn: &impl GenericClient, v: &q::VerdictRow, scenario_id: i64, started: i64) -> ApiResult<()> {
    let (srs, by) = seconds_by_script(conn, v.run_id, Some(started + WARMUP_SECS)).await?;
    let mut judged = rules::judge(&v.specs, &scripts_view(&srs, &by), i64::MIN, i64::MAX);
    let mut specs = v.specs.clone();
    let mut baseline_note = String::new();
    if let Some((Some(base_id), tolerance)) = q::baseline(conn, scenario_id).await?
        && base_id != v.run_id
        && let Some(base) = runs_db::run_row_by_id(conn, base_id).await?
    {
        let tolerance = tolerance.unwrap_or(0.0);
        let (_, base_total) = run_sides(conn, base_id, base.started_at.timestamp()).await?;
        let (_, run_total) = run_sides(conn, v.run_id, started).await?;
        if tolerance > 0.0 {
            let worse = compare::worse_than_baseline(&base_total, &run_total, tolerance);
            specs.push(Spec {
                id: 0,
                origin: "baseline".into(),
                script_run_id: None,
                script_name: String::new(),
                metric: format!("baseline run {base_id}"),
                expression: format!("p95 and error rate no worse than +{tolerance}%"),
                abort_on_fail: false,
                grace_s: 0,
            });
            let observed = worse.as_ref().map_or(0.0, |(_, pct)| *pct);
            judged.push(Some(alilo_agent_api::threshold::Judged { observed, passed: worse.is_none() }));
            if let Some((what, pct)) = worse {
                baseline_note = format!("{what} {pct:+.1}% vs baseline run {base_id}");
            }
        }
    }
    let verdict = rules::final_verdict(&specs, &judged, !v.aborted.is_empty());
    let states: Vec<State> = judged
        .iter()
        .enumerate()
        .map(|(i, j)| State {
            passed: Some(j.is_some_and(|j| j.passed)),
            observed: j.map(|j| j.observed),
            failing_since: None,
            ever_failed: v.states.get(i).is_some_and(|s| s.ever_failed) || j.is_none_or(|j| !j.passed),
        })
        .collect();
    let mut info = rules::explain(&specs, &judged, verdict, &v.aborted);
    if !baseline_note.is_empty() {
        info.push_str(&format!(" ({baseline_note})"));
    }
    if specs.len() > v.specs.len() {
        // The baseline rule is recorded with the thresholds it was judged with.
        conn.execute(
            "UPDATE run_verdicts SET thresholds = $2 WHERE run_id = $1",
            &[&v.run_id, &tokio_postgres::types::Json(&specs)],
        )
        .await?;
    }
    q::save_final(conn, v.run_id, &states, verdict.as_str(), &info).await
}

async fn run_exists(app: &AppState, run_id: i32) -> ApiResult<runs_db::RunRow> {
    if run_id == 0 {
        return Err(ApiError::bad_request("run_id", "is required"));
    }
    let id = known_id("run", run_id.into())?;
    let conn = app.db.conn().await?;
    runs_db::run_row_by_id(&conn, id).await?.ok_or_else(|| ApiError::not_found("run", id))
}

fn results(v: &q::VerdictRow) -> Vec<ThresholdResult> {
    v.specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let st = v.states.get(i).cloned().unwrap_or_default();
            ThresholdResult {
                metric: s.metric.clone(),
                expression: s.expression.clone(),
                script: s.script_name.clone(),
                origin: s.origin.clone(),
                abort_on_fail: s.abort_on_fail,
                grace_s: s.grace_s,
                passed: st.passed,
                observed: st.observed.map(rules::round),
                failing_since: st.failing_since,
                ever_failed: st.ever_failed,
            }
        })
        .collect()
}

fn verdict_response(row: &runs_db::RunRow, v: Option<&q::VerdictRow>) -> VerdictResponse {
    let (verdict, is_final, aborted, thresholds) = match v {
        Some(v) => (v.verdict.clone(), v.is_final, v.aborted.clone(), results(v)),
        None => ("pending".to_string(), false, String::new(), Vec::new()),
    };
    let explanation = if is_final {
        row.info.clone()
    } else if aborted.is_empty() {
        String::new()
    } else {
        aborted.clone()
    };
    VerdictResponse {
        status: true,
        message: String::new(),
        run_id: id32(row.id),
        run_status: row.status.to_string(),
        verdict,
        is_final,
        aborted,
        explanation,
        warmup_s: WARMUP_SECS,
        live_window_s: LIVE_WINDOW_SECS,
        thresholds,
        report_link: row.report_link.clone(),
    }
}

/// `/v1/run/verdict`.
pub async fn verdict(app: &AppState, req: RunIdRequest) -> ApiResult<VerdictResponse> {
    if req.run_id == 0 {
        return Err(ApiError::bad_request("run_id", "is required"));
    }
    let id = known_id("run", req.run_id.into())?;
    let conn = app.db.conn().await?;
    // The verdict first, then the run: a verdict read final was committed with
    // its explanation in `runs.info` ([`q::save_final`]), so the run read after
    // it has that explanation (read the other way round, a final verdict could
    // come with the run as it was just before, and no explanation).
    let v = q::verdict(&conn, id).await?;
    let row = runs_db::run_row_by_id(&conn, id).await?.ok_or_else(|| ApiError::not_found("run", id))?;
    Ok(verdict_response(&row, v.as_ref()))
}

/// What `/v1/run/summary` shows of the verdict.
pub async fn brief(conn: &impl GenericClient, run_id: i64) -> ApiResult<Option<VerdictBrief>> {
    let Some(v) = q::verdict(conn, run_id).await? else { return Ok(None) };
    let info: String = conn.query_one("SELECT info FROM runs WHERE id = $1", &[&run_id]).await?.get(0);
    Ok(Some(VerdictBrief {
        verdict: v.verdict,
        is_final: v.is_final,
        explanation: if v.is_final { info } else { v.aborted.clone() },
        aborted: v.aborted,
    }))
}

fn kind_name(k: MetricKind) -> &'static str {
    match k {
        MetricKind::Counter => "counter",
        MetricKind::Gauge => "gauge",
        MetricKind::Rate => "rate",
        MetricKind::Trend => "trend",
    }
}

async fn scenario_exists(conn: &impl GenericClient, scenario_id: i32) -> ApiResult<i64> {
    if scenario_id == 0 {
        return Err(ApiError::bad_request("scenario_id", "is required"));
    }
    let id = known_id("scenario", scenario_id.into())?;
    if conn.query_opt("SELECT 1 FROM scenarios WHERE id = $1", &[&id]).await?.is_none() {
        return Err(ApiError::not_found("scenario", id));
    }
    Ok(id)
}

/// `/v1/thresholds`: every threshold of a scenario and of its scripts.
pub async fn thresholds(app: &AppState, req: ScenarioIdRequest) -> ApiResult<ThresholdsResponse> {
    let conn = app.db.conn().await?;
    let id = scenario_exists(&conn, req.scenario_id).await?;
    let rows = q::thresholds(&conn, id).await?;
    let (base, tolerance) = q::baseline(&conn, id).await?.unwrap_or((None, None));
    Ok(ThresholdsResponse {
        status: true,
        message: String::new(),
        thresholds: rows
            .into_iter()
            .map(|t| ThresholdItem {
                metric: t.metric,
                expression: t.expression,
                abort_on_fail: t.abort_on_fail,
                grace: alilo_agent_api::format_duration(Duration::from_secs(t.grace_s.max(0) as u64)),
                script_id: t.script.as_ref().filter(|s| s.0 == "extended").map_or(0, |s| id32(s.1)),
                simple_script_id: t.script.as_ref().filter(|s| s.0 == "simple").map_or(0, |s| id32(s.1)),
            })
            .collect(),
        baseline_run_id: base.map_or(0, id32),
        baseline_tolerance_percent: tolerance.unwrap_or(0.0),
        warmup_s: WARMUP_SECS,
        metrics: rules::METRICS
            .iter()
            .map(|(n, k, m)| MetricInfo { name: (*n).into(), kind: kind_name(*k).into(), meaning: (*m).into() })
            .collect(),
    })
}

/// Most thresholds one scenario or script may have.
pub const MAX_THRESHOLDS: usize = 50;

/// `/v1/thresholds/set`: replaces the thresholds of a scenario or of one of
/// its scripts. A bad one is a 422 naming `thresholds[i].<field>` and the
/// column.
pub async fn set_thresholds(app: &AppState, req: SetThresholdsRequest) -> ApiResult<StdResponse> {
    let mut conn = app.db.conn().await?;
    let scenario = scenario_exists(&conn, req.scenario_id).await?;
    let script = match (req.script_id, req.simple_script_id) {
        (0, 0) => None,
        (id, 0) => Some(("extended", i64::from(id))),
        (0, id) => Some(("simple", i64::from(id))),
        _ => return Err(ApiError::unprocessable("script_id", "set script_id or simple_script_id, not both")),
    };
    if let Some((kind, id)) = script
        && !q::script_in_scenario(&conn, kind, id, scenario).await?
    {
        let field = if kind == "simple" { "simple_script_id" } else { "script_id" };
        return Err(ApiError::not_found(&format!("{field} in scenario {scenario}"), id));
    }
    if req.thresholds.len() > MAX_THRESHOLDS {
        return Err(ApiError::unprocessable("thresholds", format!("more than {MAX_THRESHOLDS}")));
    }
    let mut rows = Vec::new();
    for (i, t) in req.thresholds.iter().enumerate() {
        rules::validate(t.metric.trim(), t.expression.trim())
            .map_err(|(field, why)| ApiError::unprocessable(&format!("thresholds[{i}].{field}"), why))?;
        let grace = if t.grace.trim().is_empty() {
            Duration::ZERO
        } else {
            alilo_agent_api::parse_duration(&t.grace)
                .map_err(|e| ApiError::unprocessable(&format!("thresholds[{i}].grace"), e))?
        };
        if grace > Duration::from_secs(86_400) {
            return Err(ApiError::unprocessable(&format!("thresholds[{i}].grace"), "must be at most 24h"));
        }
        rows.push(q::ThresholdRow {
            id: 0,
            script: None,
            metric: t.metric.trim().to_string(),
            expression: t.expression.trim().to_string(),
            abort_on_fail: t.abort_on_fail,
            grace_s: i32::try_from(grace.as_secs()).unwrap_or(86_400),
        });
    }
    q::replace_thresholds(&mut conn, scenario, script, &rows).await?;
    Ok(StdResponse::ok(format!("{} thresholds set", rows.len())))
}

/// `/v1/scenario/baseline`.
pub async fn set_baseline(app: &AppState, req: SetBaselineRequest) -> ApiResult<StdResponse> {
    let conn = app.db.conn().await?;
    let scenario = scenario_exists(&conn, req.scenario_id).await?;
    if !req.tolerance_percent.is_finite() || !(0.0..=10_000.0).contains(&req.tolerance_percent) {
        return Err(ApiError::unprocessable("tolerance_percent", "must be between 0 and 10000"));
    }
    let run = if req.run_id == 0 {
        None
    } else {
        let row = run_exists(app, req.run_id).await?;
        if row.scenario_id != scenario {
            return Err(ApiError::unprocessable(
                "run_id",
                format!("run {} is of scenario {}, not {scenario}", row.id, row.scenario_id),
            ));
        }
        Some(row.id)
    };
    let tolerance = (req.tolerance_percent > 0.0).then_some(req.tolerance_percent);
    q::set_baseline(&conn, scenario, run, tolerance).await?;
    Ok(StdResponse::ok(match run {
        Some(r) => format!("run {r} is the baseline of scenario {scenario}"),
        None => format!("scenario {scenario} has no baseline"),
    }))
}

/// `/v1/run/compare`.
pub async fn compare_runs(app: &AppState, req: CompareRequest) -> ApiResult<CompareResponse> {
    if req.base_run_id == 0 {
        return Err(ApiError::bad_request("base_run_id", "is required"));
    }
    let base = run_exists(app, req.base_run_id).await?;
    let run = run_exists(app, req.run_id).await?;
    let conn = app.db.conn().await?;
    let (bn, bt) = run_sides(&conn, base.id, base.started_at.timestamp()).await?;
    let (rn, rt) = run_sides(&conn, run.id, run.started_at.timestamp()).await?;
    let warning = if base.scenario_id == run.scenario_id {
        String::new()
    } else {
        format!(
            "the runs are of different scenarios ({} and {}): names are matched as they are",
            base.scenario_id, run.scenario_id
        )
    };
    let names: std::collections::BTreeSet<&String> = bn.keys().chain(rn.keys()).collect();
    let scripts: Vec<NameDeltas> = names.into_iter().map(|n| compare::compare(n, bn.get(n), rn.get(n))).collect();
    let total = compare::compare("total", Some(&bt), Some(&rt));
    let regressions = std::iter::once(&total).chain(&scripts).flat_map(compare::regressions).collect();
    Ok(CompareResponse {
        status: true,
        message: String::new(),
        warning,
        rule: compare::RULE.into(),
        total: Some(total),
        scripts,
        regressions,
    })
}

/// `/v1/run/report`: writes the run's report now (running or ended) and
/// answers its link. 409 while another report of the run is being written.
pub async fn report(app: &AppState, req: RunIdRequest) -> ApiResult<ReportResponse> {
    let row = run_exists(app, req.run_id).await?;
    {
        let conn = app.db.conn().await?;
        q::snapshot(&conn, row.id, row.scenario_id).await?;
    }
    let (link, bytes) = write_report(app, row.id).await?;
    Ok(ReportResponse { status: true, message: String::new(), report_link: link, bytes: bytes as i64 })
}

/// Gathers, renders and stores a run's report; sets `report_link`.
pub async fn write_report(app: &AppState, run_id: i64) -> ApiResult<(String, usize)> {
    let conn = app.db.conn().await?;
    if !q::claim_report(&conn, run_id).await? {
        return Err(ApiError::conflict(format!("a report of run {run_id} is being written; try again in a moment")));
    }
    let result = async {
        let data = gather(&conn, run_id).await?;
        let html = report::render(&data);
        let bytes = html.len();
        let key = ObjectKey::RunReport { run_id };
        app.storage.put(&key, html.into_bytes(), "text/html; charset=utf-8").await.map_err(ApiError::from)?;
        let link = app
            .storage
            .presign_get(&key.path(), REPORT_LINK_TTL)
            .await
            .map_err(|e| ApiError::unavailable("object storage", format!("{e:#}")))?;
        Ok::<_, ApiError>((key.path(), link, bytes))
    }
    .await;
    match result {
        Ok((key, link, bytes)) => {
            q::finish_report(&conn, run_id, Some((&key, &link))).await?;
            Ok((link, bytes))
        }
        Err(e) => {
            q::finish_report(&conn, run_id, None).await?;
            Err(e)
        }
    }
}

/// Everything a report shows, read in a few queries.
pub async fn gather(conn: &impl GenericClient, run_id: i64) -> ApiResult<ReportData> {
    let row = runs_db::run_row_by_id(conn, run_id).await?.ok_or_else(|| ApiError::not_found("run", run_id))?;
    let v = q::verdict(conn, run_id).await?;
    let (srs, by) = seconds_by_script(conn, run_id, None).await?;
    let changes = q::changes(conn, run_id).await?;
    let agents = q::agents_of_run(conn, run_id).await?;
    let mut comparison = None;
    if let Some((Some(base_id), _)) = q::baseline(conn, row.scenario_id).await?
        && base_id != run_id
        && let Some(base) = runs_db::run_row_by_id(conn, base_id).await?
    {
        let (bn, bt) = run_sides(conn, base_id, base.started_at.timestamp()).await?;
        let (rn, rt) = run_sides(conn, run_id, row.started_at.timestamp()).await?;
        let names: std::collections::BTreeSet<&String> = bn.keys().chain(rn.keys()).collect();
        let mut deltas = vec![compare::compare("total", Some(&bt), Some(&rt))];
        deltas.extend(names.into_iter().map(|n| compare::compare(n, bn.get(n), rn.get(n))));
        comparison = Some((base_id, deltas));
    }
    let verdict = verdict_response(&row, v.as_ref());
    Ok(report::data(&row, verdict, &srs, &by, changes, agents, comparison))
}

/// Seconds of the live window `/metrics` and the live page use.
pub const LIVE_SECS: i64 = 5;

/// Figures of every active run over its live window, for `/metrics`.
pub async fn live(
    conn: &impl GenericClient,
) -> ApiResult<(Vec<crate::verdict::prom::LiveRun>, Vec<crate::verdict::prom::LiveScript>)> {
    use crate::verdict::prom::{LiveRun, LiveScript};
    let rows = conn
        .query(
            "SELECT r.id, r.title, r.status, r.percentage_of_target, v.thresholds, v.state, r.scenario_id FROM runs r
             LEFT JOIN run_verdicts v ON v.run_id = r.id
             WHERE r.status IN ('STATUS_PREPARED', 'STATUS_RUNNING', 'STATUS_STOPPING') ORDER BY r.id",
            &[],
        )
        .await?;
    let mut runs = Vec::new();
    for r in &rows {
        let specs: Vec<Spec> =
            r.get::<_, Option<tokio_postgres::types::Json<Vec<Spec>>>>(4).map(|j| j.0).unwrap_or_default();
        let states: Vec<State> =
            r.get::<_, Option<tokio_postgres::types::Json<Vec<State>>>>(5).map(|j| j.0).unwrap_or_default();
        runs.push(LiveRun {
            run_id: r.get(0),
            scenario_id: r.get(6),
            title: r.get(1),
            status: r.get(2),
            percentage: r.get(3),
            thresholds: specs
                .iter()
                .enumerate()
                .map(|(i, s)| (s.label(), states.get(i).and_then(|s| s.passed)))
                .collect(),
        });
    }
    let run_ids: Vec<i64> = runs.iter().map(|r| r.run_id).collect();
    let srs = runs_db::script_run_rows(conn, &run_ids).await?;
    let ids: Vec<i64> = srs.iter().map(|s| s.id).collect();
    let from = chrono::Utc::now().timestamp() - LIVE_SECS - 3;
    let mut by: BTreeMap<i64, Vec<Second>> = BTreeMap::new();
    for (id, s) in runs_db::seconds(conn, &ids, Some(from), None).await? {
        by.entry(id).or_default().push(s);
    }
    let scripts = srs
        .iter()
        .map(|sr| {
            let mine = by.get(&sr.id).map_or(&[][..], Vec::as_slice);
            // The last complete seconds: the newest may miss an agent's bucket.
            let latest = mine.iter().map(|s| s.ts).max().unwrap_or(0);
            let sum = Sum::of(mine.iter().filter(|s| s.ts < latest && s.ts >= latest - LIVE_SECS));
            let f = sum.figures(None);
            let secs = sum.seconds.len().max(1) as f64;
            LiveScript {
                run_id: sr.run_id,
                script: sr.name.clone(),
                target_rps: sr.desired_rps(),
                achieved_rps: f.achieved_rps,
                error_rate: f.error_rate,
                dropped_per_s: f.counts.dropped as f64 / secs,
                p50: f.p50,
                p90: f.p90,
                p95: f.p95,
                p99: f.p99,
                count: sum.latency.count(),
                sum_ms: f.mean * sum.latency.count() as f64,
                errors: f.errors.iter().map(|(k, v)| (k.clone(), *v as f64 / secs)).collect(),
                in_flight: f.achieved_rps * f.mean / 1000.0,
            }
        })
        .collect();
    Ok((runs, scripts))
}

/// `GET /metrics`: the Prometheus exposition of every active run.
pub async fn metrics_text(app: &AppState) -> ApiResult<String> {
    let conn = app.db.conn().await?;
    let (runs, scripts) = live(&conn).await?;
    Ok(crate::verdict::prom::render(&runs, &scripts))
}

/// Pushes the series of [`metrics_text`] to a Prometheus remote-write
/// endpoint (`PROMETHEUS_RW_URL`), stamped now; how many series went.
pub async fn remote_write(app: &AppState, client: &reqwest::Client, url: &str) -> anyhow::Result<usize> {
    use crate::verdict::remote_write;
    let series = remote_write::from_text(&metrics_text(app).await.map_err(|e| anyhow::anyhow!(e.message))?);
    let body = remote_write::body(&series, chrono::Utc::now().timestamp_millis());
    let response = client
        .post(url)
        .header("content-encoding", "snappy")
        .header("content-type", "application/x-protobuf")
        .header("x-prometheus-remote-write-version", "0.1.0")
        .body(body)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "remote write to {url} answered {}", response.status());
    Ok(series.len())
}

/// The live page's refreshing part: status, thresholds, charts of the last
/// five minutes (the report's chart code), the change log.
pub async fn live_fragment(app: &AppState, run_id: i64) -> ApiResult<String> {
    use crate::verdict::chart::esc;
    use std::fmt::Write as _;
    let conn = app.db.conn().await?;
    // The verdict before the run, as in [`verdict`].
    let v = q::verdict(&conn, run_id).await?;
    let row = runs_db::run_row_by_id(&conn, run_id).await?.ok_or_else(|| ApiError::not_found("run", run_id))?;
    let started = row.started_at.timestamp();
    let from = (chrono::Utc::now().timestamp() - 300).max(started);
    let (srs, by) = seconds_by_script(&conn, run_id, Some(from)).await?;
    let all: Vec<&Second> = by.values().flatten().collect();
    let points = report::series(&all, started, 1);
    let markers = report::markers(&q::changes(&conn, run_id).await?);
    let mut out = String::with_capacity(64 * 1024);
    let verdict = verdict_response(&row, v.as_ref());
    let _ = write!(
        out,
        "<p>Status <b id=\"status\">{}</b> · load <b id=\"cur-level\">{}</b> % · verdict <b class=\"{2}\">{2}</b></p>",
        esc(row.status.as_str()),
        row.percentage,
        esc(&verdict.verdict)
    );
    out.push_str("<table id=\"scripts\"><tr><th>script</th><th>target rps</th><th></th></tr>");
    for sr in &srs {
        let increase = if sr.kind.as_str() == "simple" { "simple" } else { "script" };
        let _ = write!(
            out,
            "<tr><th>{}</th><td>{:.1}</td><td><button data-kind=\"{increase}\" data-script=\"{}\" data-rps=\"10\">+10 rps</button></td></tr>",
            esc(&sr.name),
            sr.desired_rps(),
            sr.script_id
        );
    }
    out.push_str("</table><table id=\"thresholds\">");
    for t in &verdict.thresholds {
        let class = match t.passed {
            Some(true) => "passed",
            Some(false) => "failed",
            None => "pending",
        };
        let _ = write!(
            out,
            "<tr class=\"{class}\"><th>{} {}</th><td>{}</td><td>{class}</td></tr>",
            esc(&t.metric),
            esc(&t.expression),
            t.observed.map_or("-".into(), |o| o.to_string())
        );
    }
    out.push_str("</table>");
    report::charts(&points, started, &markers, &mut out);
    out.push_str("<h3>Changes</h3><ol>");
    for m in &markers {
        let _ = write!(out, "<li>{}</li>", esc(&m.text));
    }
    out.push_str("</ol>");
    Ok(out)
}
