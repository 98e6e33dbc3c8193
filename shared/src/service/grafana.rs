//! A Grafana dashboard built from the monitoring selectors of scenarios and their
//! scripts: one row per scenario, one time-series panel per expression; then a
//! row of this platform's own series (`/metrics`, remote write): the panels of
//! the shipped dashboard `docs/grafana/alilo-runs.json`, its run picker limited
//! to the scenarios' runs. Built with serde_json so user text is always escaped.

use super::scenarios::existing as existing_scenario;
use crate::db;
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::scenarios::{GrafanaByIdsRequest, Scenario, ScenarioIdRequest};
use crate::wire::{Selectors, StdResponse};
use serde_json::{Value, json};

/// Panels per row of the grid (Grafana's grid is 24 units wide).
const PANELS_PER_ROW: i64 = 3;
const PANEL_WIDTH: i64 = 24 / PANELS_PER_ROW;
const PANEL_HEIGHT: i64 = 8;

/// One expression to chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub source: String,
    pub expr: String,
    pub legend: String,
}

/// The charts of one script's selectors: rate, response time, errors.
pub fn script_charts(name: &str, s: &Selectors) -> Vec<Chart> {
    [
        ("RPS", &s.expr_rps, &s.source_rps, &s.cmt_rps),
        ("Response time", &s.expr_rt, &s.source_rt, &s.cmt_rt),
        ("Errors", &s.expr_err, &s.source_err, &s.cmt_err),
    ]
    .into_iter()
    .filter(|(_, expr, _, _)| !expr.trim().is_empty())
    .map(|(kind, expr, source, cmt)| Chart {
        title: format!("{name}: {kind}"),
        source: source.clone(),
        expr: expr.clone(),
        legend: cmt.clone(),
    })
    .collect()
}

/// A section of the dashboard: a scenario and its charts.
#[derive(Debug, Clone)]
pub struct Section {
    pub scenario_id: i64,
    pub title: String,
    pub charts: Vec<Chart>,
}

/// The dashboard document.
pub fn dashboard(title: &str, sections: &[Section]) -> Value {
    let mut panels = Vec::new();
    let mut id = 1;
    let mut y = 0;
    for section in sections {
        panels.push(json!({"id": id, "type": "row", "title": section.title, "collapsed": false, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []}));
        id += 1;
        y += 1;
        for (i, chart) in section.charts.iter().enumerate() {
            let i = i64::try_from(i).unwrap_or(0);
            panels.push(json!({
                "id": id,
                "type": "timeseries",
                "title": chart.title,
                "datasource": {"uid": chart.source},
                "gridPos": {"h": PANEL_HEIGHT, "w": PANEL_WIDTH, "x": (i % PANELS_PER_ROW) * PANEL_WIDTH, "y": y + (i / PANELS_PER_ROW) * PANEL_HEIGHT},
                "targets": [{"refId": "A", "expr": chart.expr, "legendFormat": chart.legend, "datasource": {"uid": chart.source}}],
            }));
            id += 1;
        }
        let rows = (i64::try_from(section.charts.len()).unwrap_or(0) + PANELS_PER_ROW - 1) / PANELS_PER_ROW;
        y += rows * PANEL_HEIGHT;
    }
    let ids: Vec<String> = sections.iter().map(|s| s.scenario_id.to_string()).collect();
    let (platform, variables) = platform_panels(&ids.join("|"), id, y);
    panels.extend(platform);
    json!({
        "title": title,
        "tags": ["alilo"],
        "timezone": "utc",
        "schemaVersion": 39,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "10s",
        "templating": {"list": variables},
        "panels": panels,
    })
}

/// The shipped dashboard of the platform's own series.
const RUNS_DASHBOARD: &str = include_str!("../../../docs/grafana/alilo-runs.json");

/// The shipped dashboard's panels under a row of their own, numbered from
/// `id` and placed from `y`, and its template variables with the run picker
/// limited to runs of the scenarios matching `scenarios` (a regex of ids).
fn platform_panels(scenarios: &str, mut id: i64, y: i64) -> (Vec<Value>, Vec<Value>) {
    let shipped: Value = serde_json::from_str(RUNS_DASHBOARD).expect("docs/grafana/alilo-runs.json is JSON");
    let mut panels = vec![json!({"id": id, "type": "row", "title": "Alilo: live run series", "collapsed": false,
        "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})];
    for panel in shipped["panels"].as_array().into_iter().flatten() {
        id += 1;
        let mut panel = panel.clone();
        panel["id"] = json!(id);
        let at = panel["gridPos"]["y"].as_i64().unwrap_or(0);
        panel["gridPos"]["y"] = json!(y + 1 + at);
        panels.push(panel);
    }
    let mut variables = shipped["templating"]["list"].as_array().cloned().unwrap_or_default();
    for v in &mut variables {
        if v["name"] == "run" {
            v["query"] = json!(format!("label_values(alilo_run_info{{scenario_id=~\"{scenarios}\"}}, run_id)"));
        }
    }
    (panels, variables)
}

async fn section(app: &AppState, scenario: &Scenario) -> ApiResult<Section> {
    let id = i64::from(scenario.scenario_id);
    let mut charts: Vec<Chart> = scenario
        .selectors
        .iter()
        .filter(|s| !s.expr.trim().is_empty())
        .map(|s| Chart { title: s.name.clone(), source: s.source.clone(), expr: s.expr.clone(), legend: s.cmt.clone() })
        .collect();
    for s in db::scripts::list(&app.db, id).await? {
        charts.extend(script_charts(&s.name, &s.selectors.unwrap_or_default()));
    }
    for s in db::simple_scripts::list(&app.db, id).await? {
        charts.extend(script_charts(&s.name, &s.selectors.unwrap_or_default()));
    }
    Ok(Section { scenario_id: id, title: scenario.title.clone(), charts })
}

fn render(doc: &Value) -> ApiResult<StdResponse> {
    let text = serde_json::to_string_pretty(doc).map_err(ApiError::internal)?;
    Ok(StdResponse::ok(text))
}

pub async fn structure(app: &AppState, req: ScenarioIdRequest) -> ApiResult<StdResponse> {
    let scenario = existing_scenario(app, req.scenario_id).await?;
    let section = section(app, &scenario).await?;
    render(&dashboard(&scenario.title, &[section]))
}

pub async fn structure_by_ids(app: &AppState, req: GrafanaByIdsRequest) -> ApiResult<StdResponse> {
    if req.scenario_ids.is_empty() {
        return Err(ApiError::bad_request("scenario_ids", "is required"));
    }
    let mut sections = Vec::with_capacity(req.scenario_ids.len());
    for id in &req.scenario_ids {
        let scenario = existing_scenario(app, *id).await?;
        sections.push(section(app, &scenario).await?);
    }
    let title = if req.title.trim().is_empty() { "Alilo scenarios" } else { req.title.trim() };
    render(&dashboard(title, &sections))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_expression_becomes_a_panel_under_its_scenario_row() {
        let selectors = Selectors {
            expr_rps: "sum(rate(x[1m]))".into(),
            source_rps: "prom".into(),
            expr_err: "e".into(),
            ..Default::default()
        };
        let charts = script_charts("checkout", &selectors);
        assert_eq!(charts.len(), 2);
        let doc = dashboard("D", &[Section { scenario_id: 7, title: "S \"quoted\"".into(), charts }]);
        let panels = doc["panels"].as_array().unwrap();
        assert_eq!(panels[0]["type"], "row");
        assert_eq!(panels[0]["title"], "S \"quoted\"");
        assert_eq!(panels[1]["targets"][0]["expr"], "sum(rate(x[1m]))");
        assert_eq!(panels[1]["datasource"]["uid"], "prom");
        assert_eq!(panels[2]["gridPos"]["x"], 8);
        // Then the platform's own series, below, for this scenario's runs only.
        assert_eq!((panels[3]["type"].as_str(), panels[3]["gridPos"]["y"].as_i64()), (Some("row"), Some(9)));
        assert!(panels[4..].iter().all(|p| p["gridPos"]["y"].as_i64().unwrap() >= 10));
        let exprs: Vec<&str> = panels.iter().filter_map(|p| p["targets"][0]["expr"].as_str()).collect();
        assert!(exprs.iter().any(|e| e.contains("alilo_script_target_rps")), "{exprs:?}");
        let ids: std::collections::BTreeSet<i64> = panels.iter().map(|p| p["id"].as_i64().unwrap()).collect();
        assert_eq!(ids.len(), panels.len(), "panel ids are unique");
        let run = doc["templating"]["list"].as_array().unwrap().iter().find(|v| v["name"] == "run").unwrap();
        assert_eq!(run["query"], "label_values(alilo_run_info{scenario_id=~\"7\"}, run_id)");
    }
}
