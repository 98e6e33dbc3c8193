//! The ids a request touches, read from its JSON body (and its answer): for the
//! audit log, and to find the projects a limited tester's change lands in. Pure.

use serde_json::{Map, Value};

/// Ids found, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    pub projects: Vec<i64>,
    pub scenarios: Vec<i64>,
    pub scripts: Vec<i64>,
    pub simple_scripts: Vec<i64>,
    pub runs: Vec<i64>,
    /// Every `*_id`/`id` field seen, as `{name: [values]}`, for the audit log.
    pub all: Map<String, Value>,
}

impl Touched {
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
}

fn as_id(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|id| *id > 0)
}

fn push(list: &mut Vec<i64>, id: i64) {
    if !list.contains(&id) {
        list.push(id);
    }
}

/// Deep enough for `{"scenario": {"project_id": …}}`; bounded so a hostile body costs little.
const MAX_DEPTH: usize = 4;
const MAX_IDS: usize = 64;

fn walk(route: &str, value: &Value, parent: Option<&str>, depth: usize, out: &mut Touched) {
    if depth > MAX_DEPTH || out.all.len() >= MAX_IDS {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let k = key.as_str();
                if let Some(id) = as_id(v) {
                    record(route, k, parent, id, out);
                }
                if v.is_object() || v.is_array() {
                    walk(route, v, Some(k), depth + 1, out);
                }
            }
        }
        Value::Array(items) => {
            for v in items.iter().take(MAX_IDS) {
                walk(route, v, parent, depth + 1, out);
            }
        }
        _ => {}
    }
}

fn record(route: &str, key: &str, parent: Option<&str>, id: i64, out: &mut Touched) {
    let simple = route.contains("simple-script") || parent.is_some_and(|p| p.starts_with("simple"));
    let list = match key {
        "project_id" | "projectId" => Some(&mut out.projects),
        "id" if route.starts_with("/v1/project") || parent == Some("project") => Some(&mut out.projects),
        "scenario_id" | "scenarioId" | "target_scenario_id" | "targetScenarioId" | "source_scenario_id"
        | "sourceScenarioId" => Some(&mut out.scenarios),
        "simple_script_id" | "simpleScriptId" | "source_simple_script_id" | "sourceSimpleScriptId" => {
            Some(&mut out.simple_scripts)
        }
        "script_id" | "scriptId" | "source_script_id" | "sourceScriptId" if simple => Some(&mut out.simple_scripts),
        "script_id" | "scriptId" | "source_script_id" | "sourceScriptId" => Some(&mut out.scripts),
        "run_id" | "runId" => Some(&mut out.runs),
        _ => None,
    };
    let audited = key == "id" || key.ends_with("_id") || key.ends_with("Id");
    if let Some(list) = list {
        push(list, id);
    }
    if audited {
        let name = match parent {
            Some(p) if key == "id" => format!("{p}.id"),
            _ => key.to_string(),
        };
        let entry = out.all.entry(name).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = entry
            && !values.contains(&Value::from(id))
        {
            values.push(Value::from(id));
        }
    }
}

/// The ids in a JSON body (anything else: none).
pub fn touched(route: &str, body: &[u8]) -> Touched {
    let mut out = Touched::default();
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        walk(route, &value, None, 0, &mut out);
    }
    out
}

/// Add the ids of an answer (a create's new id) to the audit ids.
pub fn merge_answer(route: &str, answer: &[u8], into: &mut Touched) {
    let found = touched(route, answer);
    for (k, v) in found.all {
        into.all.entry(k).or_insert(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_by_kind_at_any_nesting() {
        let t = touched(
            "/v1/simple-script/update",
            br#"{"simple_script": {"script_id": "7", "scenario_id": 3, "project_id": 0, "name": "x"}}"#,
        );
        assert_eq!((t.simple_scripts.as_slice(), t.scenarios.as_slice()), (&[7][..], &[3][..]));
        assert!(t.projects.is_empty(), "0 is not an id");
        assert_eq!(t.all["script_id"], serde_json::json!([7]));
    }

    #[test]
    fn a_project_route_names_the_project_by_id() {
        let t = touched("/v1/project/delete", br#"{"id": 12}"#);
        assert_eq!(t.projects, [12]);
        let t = touched("/v1/run/start", br#"{"scenario_id": 4, "run_id": "9"}"#);
        assert_eq!((t.scenarios.as_slice(), t.runs.as_slice()), (&[4][..], &[9][..]));
        assert!(t.projects.is_empty());
    }

    #[test]
    fn anything_but_json_touches_nothing() {
        assert!(touched("/v1/run/stop", b"not json").is_empty());
        assert!(touched("/v1/run/stop", b"").is_empty());
    }
}
