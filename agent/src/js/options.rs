//! A script's k6 `options` as scenarios ([`super::plan`]): the
//! `options.scenarios` with their six executors, or k6's shortcuts (`vus`,
//! `duration`, `iterations`, `stages`), and the command line's overrides of
//! `alilo-agent run`. Pure; every error names the field.
//!
//! k6's rules:
//! - `iterations` → `shared-iterations` (`vus` VUs, `duration` as
//!   `maxDuration`); else `duration` → `constant-vus`; else `stages` →
//!   `ramping-vus` (`vus` as `startVUs`); else `scenarios`; else one VU
//!   running one iteration (`per-vu-iterations`). Two shortcuts at once, or
//!   a shortcut beside `scenarios`, is an error. `vus` alone changes nothing
//!   (a warning).
//! - On the command line `--duration`, `--iterations` (and Alilo's `--rps`)
//!   replace the script's `scenarios` and shortcuts with the default
//!   scenario they describe; `--vus` replaces `vus`.

use std::collections::BTreeMap;
use std::time::Duration;

use alilo_agent_api::parse_duration;
use serde_json::{Map, Value, json};

use super::plan::{DEFAULT_GRACEFUL, DEFAULT_MAX_DURATION, Executor, Scenario, Stage};
use super::tags::Tags;

/// What the scenarios of `options` are, and what was ignored (warnings).
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The scenarios, in name order.
    pub scenarios: Vec<Scenario>,
    /// Things set but without effect, to print.
    pub warnings: Vec<String>,
    /// Whether `options` set the load (scenarios or a shortcut); `false`
    /// for the default of one VU running one iteration.
    pub explicit: bool,
}

impl Resolved {
    /// Whether one scenario is closed-model (VUs looping).
    pub fn has_closed_model(&self) -> bool {
        self.scenarios.iter().any(|s| s.executor.is_closed())
    }

    /// The VUs the scenarios may need at once (a bound: the peaks of
    /// scenarios that never overlap are added too).
    pub fn peak_vus(&self) -> u64 {
        self.scenarios.iter().map(|s| s.executor.peak_vus()).sum()
    }
}

/// The scenarios `options` describe (k6's shortcuts included).
pub fn resolve(options: Option<&Value>) -> Result<Resolved, String> {
    let empty = Map::new();
    let o = match options {
        Some(Value::Object(o)) => o,
        Some(Value::Null) | None => &empty,
        Some(v) => return Err(format!("options: {v} is not an object")),
    };
    let mut warnings = Vec::new();
    let vus = match o.get("vus") {
        Some(v) => Some(count(v).map_err(|e| format!("options.vus: {e}"))?),
        None => None,
    };
    let duration = match o.get("duration") {
        Some(v) => Some(dur(v).map_err(|e| format!("options.duration: {e}"))?),
        None => None,
    };
    let iterations = match o.get("iterations") {
        Some(v) => Some(count(v).map_err(|e| format!("options.iterations: {e}"))?),
        None => None,
    };
    let stages = match o.get("stages") {
        Some(v) => Some(stages_of(v, "options.stages")?).filter(|s| !s.is_empty()),
        None => None,
    };
    let scenarios = o.get("scenarios").filter(|v| !v.is_null());
    let shortcut = |name: &str| -> Result<(), String> {
        if scenarios.is_some() {
            return Err(format!("options: `{name}` and `scenarios` cannot be used together (k6's rule)"));
        }
        Ok(())
    };
    let default = |executor: Executor| Scenario {
        name: "default".into(),
        executor,
        start_time: Duration::ZERO,
        graceful_stop: DEFAULT_GRACEFUL,
        exec: None,
        env: BTreeMap::new(),
        tags: Tags::new(),
    };
    let vus_or_one = vus.unwrap_or(1);
    let mut explicit = true;
    let scenarios = if let Some(iterations) = iterations {
        shortcut("iterations")?;
        if stages.is_some() {
            return Err("options: `iterations` and `stages` cannot be used together (k6's rule)".into());
        }
        if iterations < vus_or_one {
            return Err(format!(
                "options.iterations: {iterations} is fewer than the {vus_or_one} VUs (each VU needs one)"
            ));
        }
        vec![default(Executor::SharedIterations {
            vus: vus_or_one,
            iterations,
            max_duration: duration.unwrap_or(DEFAULT_MAX_DURATION),
        })]
    } else if let Some(duration) = duration {
        shortcut("duration")?;
        if stages.is_some() {
            return Err("options: `duration` and `stages` cannot be used together (k6's rule)".into());
        }
        if duration.is_zero() {
            return Err("options.duration: must be > 0".into());
        }
        positive(vus_or_one, "options.vus")?;
        vec![default(Executor::ConstantVus { vus: vus_or_one, duration })]
    } else if let Some(stages) = stages {
        shortcut("stages")?;
        vec![default(Executor::RampingVus { start_vus: vus_or_one, stages, graceful_ramp_down: DEFAULT_GRACEFUL })]
    } else if let Some(list) = scenarios {
        let list = list.as_object().ok_or_else(|| "options.scenarios: must be an object of scenarios".to_string())?;
        if vus.is_some() {
            warnings.push("options.vus is ignored: the scenarios set their own VUs".into());
        }
        let mut out = Vec::new();
        for (name, s) in list {
            out.push(scenario(name, s)?);
        }
        if out.is_empty() {
            explicit = false;
            vec![default(Executor::PerVuIterations { vus: 1, iterations: 1, max_duration: DEFAULT_MAX_DURATION })]
        } else {
            out
        }
    } else {
        explicit = false;
        if vus.is_some_and(|v| v > 1) {
            warnings.push(format!(
                "options.vus = {vus_or_one} is ignored: it needs `duration`, `iterations` or `stages` (one VU runs one iteration)"
            ));
        }
        vec![default(Executor::PerVuIterations { vus: 1, iterations: 1, max_duration: DEFAULT_MAX_DURATION })]
    };
    warnings.extend(ignored(options));
    Ok(Resolved { scenarios, warnings, explicit })
}

/// Whether `options` ask for VUs looping (a closed-model executor, or the
/// `duration`, `iterations` or `stages` shortcut), valid or not: the
/// platform's rule reads only these strictly (an arrival-rate scenario k6
/// would refuse still runs the profile there, as it always did).
pub fn looks_closed(options: Option<&Value>) -> bool {
    let Some(Value::Object(o)) = options else { return false };
    if ["duration", "iterations", "stages"].iter().any(|k| o.get(*k).is_some_and(|v| !v.is_null())) {
        return true;
    }
    o.get("scenarios").and_then(Value::as_object).is_some_and(|list| {
        list.values().any(|s| {
            matches!(
                s.get("executor").and_then(Value::as_str),
                Some("constant-vus" | "ramping-vus" | "per-vu-iterations" | "shared-iterations")
            )
        })
    })
}

/// One of `options.scenarios`.
fn scenario(name: &str, v: &Value) -> Result<Scenario, String> {
    let at = |f: &str| format!("options.scenarios.{name}.{f}");
    let o = v.as_object().ok_or_else(|| format!("options.scenarios.{name}: must be an object"))?;
    let executor = o.get("executor").and_then(Value::as_str).ok_or_else(|| format!("{}: required", at("executor")))?;
    let own: &[&str] = match executor {
        "constant-vus" => &["vus", "duration"],
        "ramping-vus" => &["startVUs", "stages", "gracefulRampDown"],
        "per-vu-iterations" | "shared-iterations" => &["vus", "iterations", "maxDuration"],
        "constant-arrival-rate" => &["rate", "timeUnit", "duration", "preAllocatedVUs", "maxVUs"],
        "ramping-arrival-rate" => &["startRate", "timeUnit", "stages", "preAllocatedVUs", "maxVUs"],
        "externally-controlled" => {
            return Err(format!(
                "{}: externally-controlled is not supported by Alilo (its live control is the job's rate and scale)",
                at("executor")
            ));
        }
        e => {
            return Err(format!(
                "{}: unknown executor {e:?} (constant-vus, ramping-vus, per-vu-iterations, shared-iterations, constant-arrival-rate, ramping-arrival-rate)",
                at("executor")
            ));
        }
    };
    const COMMON: [&str; 6] = ["executor", "startTime", "gracefulStop", "exec", "env", "tags"];
    for k in o.keys() {
        if !COMMON.contains(&k.as_str()) && !own.contains(&k.as_str()) {
            return Err(format!("{}: not a field of {executor}", at(k)));
        }
    }
    let get_dur = |f: &str, default: Duration| -> Result<Duration, String> {
        match o.get(f) {
            Some(v) => dur(v).map_err(|e| format!("{}: {e}", at(f))),
            None => Ok(default),
        }
    };
    let get_count = |f: &str, default: Option<u64>| -> Result<u64, String> {
        match o.get(f) {
            Some(v) => count(v).map_err(|e| format!("{}: {e}", at(f))),
            None => default.ok_or_else(|| format!("{}: required", at(f))),
        }
    };
    let required_dur = |f: &str| -> Result<Duration, String> {
        let d = o.get(f).ok_or_else(|| format!("{}: required", at(f)))?;
        let d = dur(d).map_err(|e| format!("{}: {e}", at(f)))?;
        if d.is_zero() {
            return Err(format!("{}: must be > 0", at(f)));
        }
        Ok(d)
    };
    let time_unit = || -> Result<f64, String> {
        let t = get_dur("timeUnit", Duration::from_secs(1))?;
        if t.is_zero() {
            return Err(format!("{}: must be > 0", at("timeUnit")));
        }
        Ok(t.as_secs_f64())
    };
    let vus_of = |f: &str| -> Result<u64, String> {
        let n = get_count(f, Some(1))?;
        positive(n, &at(f))
    };
    let executor = match executor {
        "constant-vus" => Executor::ConstantVus { vus: vus_of("vus")?, duration: required_dur("duration")? },
        "ramping-vus" => {
            let stages =
                stages_of(o.get("stages").ok_or_else(|| format!("{}: required", at("stages")))?, &at("stages"))?;
            if stages.is_empty() {
                return Err(format!("{}: needs at least one stage", at("stages")));
            }
            Executor::RampingVus {
                start_vus: get_count("startVUs", Some(1))?,
                stages,
                graceful_ramp_down: get_dur("gracefulRampDown", DEFAULT_GRACEFUL)?,
            }
        }
        "per-vu-iterations" => Executor::PerVuIterations {
            vus: vus_of("vus")?,
            iterations: positive(get_count("iterations", Some(1))?, &at("iterations"))?,
            max_duration: get_dur("maxDuration", DEFAULT_MAX_DURATION)?,
        },
        "shared-iterations" => {
            let vus = vus_of("vus")?;
            let iterations = get_count("iterations", Some(1))?;
            if iterations < vus {
                return Err(format!("{}: {iterations} is fewer than the {vus} VUs", at("iterations")));
            }
            Executor::SharedIterations { vus, iterations, max_duration: get_dur("maxDuration", DEFAULT_MAX_DURATION)? }
        }
        constant_or_ramping => {
            let constant = constant_or_ramping == "constant-arrival-rate";
            let unit = time_unit()?;
            // k6 requires preAllocatedVUs; given maxVUs alone, Alilo takes
            // it for both.
            let pre = match (o.get("preAllocatedVUs"), o.get("maxVUs")) {
                (None, Some(_)) => get_count("maxVUs", None)?,
                _ => get_count("preAllocatedVUs", None)?,
            };
            let max = get_count("maxVUs", Some(pre))?;
            if max < pre {
                return Err(format!("{}: {max} is fewer than preAllocatedVUs {pre}", at("maxVUs")));
            }
            positive(max, &at("maxVUs"))?;
            let (start_rate, stages) = if constant {
                let rate = o.get("rate").ok_or_else(|| format!("{}: required", at("rate")))?;
                let rate = number(rate).map_err(|e| format!("{}: {e}", at("rate")))? / unit;
                if rate <= 0.0 {
                    return Err(format!("{}: must be > 0", at("rate")));
                }
                (rate, vec![Stage { target: rate, duration: required_dur("duration")? }])
            } else {
                let start = match o.get("startRate") {
                    Some(v) => number(v).map_err(|e| format!("{}: {e}", at("startRate")))? / unit,
                    None => 0.0,
                };
                let mut stages =
                    stages_of(o.get("stages").ok_or_else(|| format!("{}: required", at("stages")))?, &at("stages"))?;
                if stages.is_empty() {
                    return Err(format!("{}: needs at least one stage", at("stages")));
                }
                for s in &mut stages {
                    s.target /= unit;
                }
                (start, stages)
            };
            Executor::ArrivalRate { constant, start_rate, stages, pre_allocated_vus: pre, max_vus: max }
        }
    };
    if executor.length().is_zero() {
        return Err(format!("options.scenarios.{name}: lasts no time"));
    }
    let exec = match o.get("exec") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => return Err(format!("{}: must be the name of an exported function", at("exec"))),
    };
    let mut env = BTreeMap::new();
    match o.get("env") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return Err(format!("{}: must be a string", at(&format!("env.{k}")))),
                };
                env.insert(k.clone(), v);
            }
        }
        Some(_) => return Err(format!("{}: must be an object of strings", at("env"))),
    }
    Ok(Scenario {
        name: name.to_string(),
        executor,
        start_time: get_dur("startTime", Duration::ZERO)?,
        graceful_stop: get_dur("gracefulStop", DEFAULT_GRACEFUL)?,
        exec,
        env,
        tags: super::tags::of_options(o.get("tags"), &at("tags"))?,
    })
}

/// The options that change how a script's requests are made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientOptions {
    /// `insecureSkipTLSVerify`: do not verify certificates.
    pub insecure_skip_tls_verify: bool,
    /// `discardResponseBodies`: responses' bodies are `null` unless a
    /// request asks for them (`responseType`).
    pub discard_response_bodies: bool,
}

/// The [`ClientOptions`] of `options`.
pub fn client_options(options: Option<&Value>) -> Result<ClientOptions, String> {
    let flag = |k: &str| -> Result<bool, String> {
        match options.and_then(|o| o.get(k)) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(format!("options.{k}: {v} is not true or false")),
        }
    };
    Ok(ClientOptions {
        insecure_skip_tls_verify: flag("insecureSkipTLSVerify")?,
        discard_response_bodies: flag("discardResponseBodies")?,
    })
}

/// The test-wide `options.tags` (k6's `tags`), on every request.
pub fn global_tags(options: Option<&Value>) -> Result<Tags, String> {
    super::tags::of_options(options.and_then(|o| o.get("tags")), "options.tags")
}

/// k6's `summaryTrendStats` (the standalone summary's trend columns):
/// `avg`, `min`, `med`, `max`, `count`, `p(N)` with N in 0..=100.
pub fn trend_stats(options: Option<&Value>) -> Result<Vec<String>, String> {
    let Some(v) = options.and_then(|o| o.get("summaryTrendStats")).filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let list = v.as_array().ok_or_else(|| format!("options.summaryTrendStats: {v} is not a list of stats"))?;
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            let s = s.as_str().unwrap_or("");
            let percentile = s
                .strip_prefix("p(")
                .and_then(|r| r.strip_suffix(')'))
                .and_then(|n| n.trim().parse::<f64>().ok())
                .is_some_and(|n| (0.0..=100.0).contains(&n));
            if matches!(s, "avg" | "min" | "med" | "max" | "count") || percentile {
                Ok(s.to_string())
            } else {
                Err(format!("options.summaryTrendStats[{i}]: {s:?} is not avg, min, med, max, count or p(N)"))
            }
        })
        .collect()
}

/// `options` keys Alilo acts on; [`ignored`] names the others.
const HONOURED: [&str; 10] = [
    "scenarios",
    "vus",
    "duration",
    "iterations",
    "stages",
    "thresholds",
    "insecureSkipTLSVerify",
    "discardResponseBodies",
    "summaryTrendStats",
    "tags",
];

/// A warning for every key of `options` Alilo does not act on (k6 has
/// many: `rps`, `batch`, `userAgent`, `hosts`…).
pub fn ignored(options: Option<&Value>) -> Vec<String> {
    let Some(Value::Object(o)) = options else { return Vec::new() };
    o.keys()
        .filter(|k| !HONOURED.contains(&k.as_str()))
        .map(|k| format!("options.{k} is not supported by Alilo: ignored"))
        .collect()
}

/// The command-line overrides of `alilo-agent run`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--vus`.
    pub vus: Option<u64>,
    /// `--duration`.
    pub duration: Option<String>,
    /// `--iterations`.
    pub iterations: Option<u64>,
    /// `--rps` with `--steps`, `--ramp` and `--max-vus` (Alilo's open-model
    /// shortcut).
    pub rps: Option<Rps>,
}

/// Alilo's `--rps`: an arrival rate for `--duration`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rps {
    /// Iterations per second.
    pub rps: f64,
    /// Equal steps up to `rps`.
    pub steps: u32,
    /// Linear from 0 over the first step (else flat steps).
    pub linear: bool,
    /// VUs at most.
    pub max_vus: u64,
}

/// `options` with the command line's overrides: `--duration`,
/// `--iterations` and `--rps` replace the script's scenarios and shortcuts;
/// `--vus` replaces `vus`.
pub fn with_overrides(options: Option<&Value>, o: &Overrides) -> Result<Value, String> {
    let mut out = match options {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let replacing = o.duration.is_some() || o.iterations.is_some() || o.rps.is_some();
    if replacing {
        for k in ["scenarios", "duration", "iterations", "stages"] {
            out.remove(k);
        }
    }
    if let Some(r) = &o.rps {
        if o.vus.is_some() || o.iterations.is_some() {
            return Err("--rps (an arrival rate) cannot be combined with --vus or --iterations (VUs looping)".into());
        }
        let d = o.duration.as_deref().ok_or("--rps needs --duration")?;
        let total = parse_duration(d).map_err(|e| format!("--duration: {e}"))?;
        if !(r.rps.is_finite() && r.rps > 0.0) {
            return Err(format!("--rps: must be > 0, got {}", r.rps));
        }
        if r.steps == 0 {
            return Err("--steps: must be >= 1".into());
        }
        let step_ms = (total.as_secs_f64() * 1000.0 / f64::from(r.steps)).max(1.0);
        let total_ms = total.as_secs_f64() * 1000.0;
        let pre = ((r.rps * 0.01).ceil() as u64).clamp(1, r.max_vus.max(1));
        let s = if r.linear {
            json!({"executor": "ramping-arrival-rate", "startRate": 0, "timeUnit": "1s",
                "stages": [{"target": r.rps, "duration": step_ms}, {"target": r.rps, "duration": (total_ms - step_ms).max(0.0)}],
                "preAllocatedVUs": pre, "maxVUs": r.max_vus.max(1)})
        } else if r.steps == 1 {
            json!({"executor": "constant-arrival-rate", "rate": r.rps, "timeUnit": "1s", "duration": total_ms,
                "preAllocatedVUs": pre, "maxVUs": r.max_vus.max(1)})
        } else {
            let n = f64::from(r.steps);
            let mut stages = Vec::new();
            for i in 1..=r.steps {
                let level = r.rps * f64::from(i) / n;
                if i > 1 {
                    stages.push(json!({"target": level, "duration": 0}));
                }
                stages.push(json!({"target": level, "duration": step_ms}));
            }
            json!({"executor": "ramping-arrival-rate", "startRate": r.rps / n, "timeUnit": "1s", "stages": stages,
                "preAllocatedVUs": pre, "maxVUs": r.max_vus.max(1)})
        };
        out.insert("scenarios".into(), json!({ "default": s }));
        return Ok(Value::Object(out));
    }
    if let Some(v) = o.vus {
        out.insert("vus".into(), json!(v));
    }
    if let Some(d) = &o.duration {
        out.insert("duration".into(), json!(d));
    }
    if let Some(i) = o.iterations {
        out.insert("iterations".into(), json!(i));
    }
    Ok(Value::Object(out))
}

fn stages_of(v: &Value, at: &str) -> Result<Vec<Stage>, String> {
    let list = v.as_array().ok_or_else(|| format!("{at}: must be a list of {{duration, target}}"))?;
    list.iter()
        .enumerate()
        .map(|(i, st)| {
            let t = st.get("target").ok_or_else(|| format!("{at}[{i}].target: required"))?;
            let target = number(t).map_err(|e| format!("{at}[{i}].target: {e}"))?;
            if target < 0.0 {
                return Err(format!("{at}[{i}].target: must be >= 0"));
            }
            let d = st.get("duration").ok_or_else(|| format!("{at}[{i}].duration: required"))?;
            Ok(Stage { target, duration: dur(d).map_err(|e| format!("{at}[{i}].duration: {e}"))? })
        })
        .collect()
}

fn positive(n: u64, at: &str) -> Result<u64, String> {
    if n == 0 { Err(format!("{at}: must be > 0")) } else { Ok(n) }
}

fn number(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64().filter(|x| x.is_finite()).ok_or_else(|| format!("{v} is not a number")),
        Value::String(s) => s.trim().parse::<f64>().map_err(|_| format!("{s:?} is not a number")),
        _ => Err(format!("{v} is not a number")),
    }
}

/// A whole number >= 0 (`10`, `"10"`, `10.0`).
fn count(v: &Value) -> Result<u64, String> {
    let x = number(v)?;
    if x < 0.0 || x.fract() != 0.0 || x > 1e12 {
        return Err(format!("{v} is not a whole number >= 0"));
    }
    Ok(x as u64)
}

/// A k6 duration: `"30s"`, `"1m30s"`, `"1.5m"`, or a number of ms.
fn dur(v: &Value) -> Result<Duration, String> {
    match v {
        Value::String(s) => parse_k6_duration(s),
        Value::Number(n) => {
            let ms =
                n.as_f64().filter(|x| x.is_finite() && *x >= 0.0).ok_or_else(|| format!("{v} is not a duration"))?;
            Ok(Duration::from_secs_f64(ms / 1000.0))
        }
        _ => Err(format!("{v} is not a duration")),
    }
}

/// Go's duration syntax as k6 takes it (`"1m30s"`, `"1.5m"`, `"500ms"`,
/// `"0"`), or Alilo's.
fn parse_k6_duration(s: &str) -> Result<Duration, String> {
    if let Ok(d) = parse_duration(s) {
        return Ok(d);
    }
    let t = s.trim();
    let mut rest = t;
    let mut total = 0.0;
    if rest.is_empty() {
        return Err(format!("{s:?} is not a duration"));
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let value: f64 = rest[..num_len].parse().map_err(|_| format!("{s:?} is not a duration"))?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(format!("{s:?} is not a duration")),
        };
        rest = &rest[unit_len..];
        total += value * secs;
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(o: Value) -> Scenario {
        let r = resolve(Some(&o)).unwrap();
        assert_eq!(r.scenarios.len(), 1, "{r:?}");
        r.scenarios.into_iter().next().unwrap()
    }

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    #[test]
    fn k6_shortcuts_become_the_default_scenario() {
        let d = one(json!({"vus": 5, "duration": "1m30s"}));
        assert_eq!((d.name.as_str(), &d.executor), ("default", &Executor::ConstantVus { vus: 5, duration: s(90.0) }));
        let i = one(json!({"vus": 2, "iterations": 10}));
        assert_eq!(
            i.executor,
            Executor::SharedIterations { vus: 2, iterations: 10, max_duration: DEFAULT_MAX_DURATION }
        );
        let i = one(json!({"iterations": 3, "duration": "5s"}));
        assert_eq!(i.executor, Executor::SharedIterations { vus: 1, iterations: 3, max_duration: s(5.0) });
        let r = one(json!({"vus": 2, "stages": [{"duration": "10s", "target": 10}]}));
        assert!(matches!(r.executor, Executor::RampingVus { start_vus: 2, .. }));
        let nothing = resolve(None).unwrap();
        assert_eq!(
            nothing.scenarios[0].executor,
            Executor::PerVuIterations { vus: 1, iterations: 1, max_duration: DEFAULT_MAX_DURATION }
        );
        let vus_alone = resolve(Some(&json!({"vus": 10}))).unwrap();
        assert!(vus_alone.warnings[0].contains("options.vus = 10 is ignored"), "{vus_alone:?}");
        assert!(!vus_alone.scenarios.is_empty());
    }

    #[test]
    fn every_executor_reads_its_fields() {
        let o = json!({"scenarios": {
            "a": {"executor": "constant-vus", "vus": 3, "duration": "2s", "exec": "browse", "env": {"K": "v", "N": 1}, "startTime": "1s", "gracefulStop": "0s"},
            "b": {"executor": "ramping-vus", "startVUs": 0, "stages": [{"target": 4, "duration": 2000}], "gracefulRampDown": "500ms"},
            "c": {"executor": "per-vu-iterations", "vus": 2, "iterations": 3, "maxDuration": "1m"},
            "d": {"executor": "shared-iterations", "vus": 2, "iterations": 9},
            "e": {"executor": "constant-arrival-rate", "rate": 120, "timeUnit": "1m", "duration": "30s", "preAllocatedVUs": 5},
            "f": {"executor": "ramping-arrival-rate", "startRate": 1, "timeUnit": "1s", "preAllocatedVUs": 1, "maxVUs": 9,
                  "stages": [{"target": 10, "duration": "10s"}]},
        }});
        let r = resolve(Some(&o)).unwrap();
        let by: BTreeMap<&str, &Scenario> = r.scenarios.iter().map(|s| (s.name.as_str(), s)).collect();
        let a = by["a"];
        assert_eq!(a.executor, Executor::ConstantVus { vus: 3, duration: s(2.0) });
        assert_eq!((a.exec.as_deref(), a.start_time, a.graceful_stop), (Some("browse"), s(1.0), s(0.0)));
        assert_eq!((a.env["K"].as_str(), a.env["N"].as_str()), ("v", "1"));
        assert_eq!(
            by["b"].executor,
            Executor::RampingVus {
                start_vus: 0,
                stages: vec![Stage { target: 4.0, duration: s(2.0) }],
                graceful_ramp_down: s(0.5)
            }
        );
        assert_eq!(by["c"].executor, Executor::PerVuIterations { vus: 2, iterations: 3, max_duration: s(60.0) });
        assert_eq!(
            by["d"].executor,
            Executor::SharedIterations { vus: 2, iterations: 9, max_duration: DEFAULT_MAX_DURATION }
        );
        match &by["e"].executor {
            Executor::ArrivalRate { constant: true, start_rate, max_vus: 5, pre_allocated_vus: 5, .. } => {
                assert!((start_rate - 2.0).abs() < 1e-9)
            }
            e => panic!("{e:?}"),
        }
        assert!(matches!(by["f"].executor, Executor::ArrivalRate { constant: false, max_vus: 9, .. }));
        assert_eq!(by["d"].graceful_stop, DEFAULT_GRACEFUL);
        assert!(r.has_closed_model());
    }

    #[test]
    fn bad_options_are_named() {
        let cases = [
            (json!({"vus": 1, "duration": "1m", "scenarios": {}}), "`duration` and `scenarios`"),
            (json!({"iterations": 2, "stages": [{"duration": "1s", "target": 1}]}), "`iterations` and `stages`"),
            (json!({"vus": 5, "iterations": 2}), "options.iterations: 2 is fewer than the 5 VUs"),
            (json!({"vus": -1, "duration": "1m"}), "options.vus"),
            (json!({"duration": "soon"}), "options.duration"),
            (json!({"scenarios": {"s": {"vus": 1}}}), "options.scenarios.s.executor: required"),
            (
                json!({"scenarios": {"s": {"executor": "constant-vus", "vus": 1}}}),
                "options.scenarios.s.duration: required",
            ),
            (
                json!({"scenarios": {"s": {"executor": "constant-vus", "duration": "1s", "rate": 1}}}),
                "options.scenarios.s.rate: not a field of constant-vus",
            ),
            (json!({"scenarios": {"s": {"executor": "warp"}}}), "unknown executor \"warp\""),
            (
                json!({"scenarios": {"s": {"executor": "externally-controlled"}}}),
                "externally-controlled is not supported",
            ),
            (
                json!({"scenarios": {"s": {"executor": "constant-arrival-rate", "rate": 1, "duration": "1s"}}}),
                "preAllocatedVUs: required",
            ),
            (
                json!({"scenarios": {"s": {"executor": "shared-iterations", "vus": 3, "iterations": 2}}}),
                "s.iterations: 2 is fewer",
            ),
            (
                json!({"scenarios": {"s": {"executor": "per-vu-iterations", "vus": 1.5}}}),
                "s.vus: 1.5 is not a whole number",
            ),
            (
                json!({"scenarios": {"s": {"executor": "ramping-vus", "stages": []}}}),
                "s.stages: needs at least one stage",
            ),
            (json!({"scenarios": {"s": {"executor": "per-vu-iterations", "exec": 3}}}), "s.exec: must be the name"),
        ];
        for (o, want) in cases {
            let e = resolve(Some(&o)).unwrap_err();
            assert!(e.contains(want), "{o}: {e}");
        }
    }

    #[test]
    fn flags_replace_the_scripts_scenarios() {
        let script = json!({"scenarios": {"s": {"executor": "constant-vus", "vus": 9, "duration": "1h"}}, "vus": 3, "thresholds": {}});
        let o =
            with_overrides(Some(&script), &Overrides { duration: Some("5s".into()), ..Default::default() }).unwrap();
        assert_eq!(
            one(o.clone()).executor,
            Executor::ConstantVus { vus: 3, duration: s(5.0) },
            "the script's vus stays"
        );
        assert!(o.get("thresholds").is_some());
        let o = with_overrides(Some(&script), &Overrides { vus: Some(4), iterations: Some(8), ..Default::default() })
            .unwrap();
        assert_eq!(
            one(o).executor,
            Executor::SharedIterations { vus: 4, iterations: 8, max_duration: DEFAULT_MAX_DURATION }
        );
        // --vus alone keeps the scenarios (and is ignored by them).
        let o = with_overrides(Some(&script), &Overrides { vus: Some(4), ..Default::default() }).unwrap();
        assert_eq!(one(o).name, "s");
        let rps = |steps, linear| Overrides {
            duration: Some("10s".into()),
            rps: Some(Rps { rps: 20.0, steps, linear, max_vus: 50 }),
            ..Default::default()
        };
        let c = one(with_overrides(Some(&script), &rps(1, false)).unwrap());
        assert_eq!(c.executor.rate_at(s(9.9)), 20.0);
        assert_eq!(c.executor.length(), s(10.0));
        let st = one(with_overrides(None, &rps(2, false)).unwrap());
        assert_eq!((st.executor.rate_at(s(4.9)), st.executor.rate_at(s(5.0))), (10.0, 20.0));
        assert!(matches!(st.executor, Executor::ArrivalRate { max_vus: 50, .. }));
        let l = one(with_overrides(None, &rps(2, true)).unwrap());
        assert!((l.executor.rate_at(s(2.5)) - 10.0).abs() < 1e-9 && l.executor.rate_at(s(7.0)) == 20.0);
        let bad = Overrides { vus: Some(2), ..rps(1, false) };
        assert!(with_overrides(None, &bad).unwrap_err().contains("--rps"));
    }

    #[test]
    fn closed_model_options_are_told_apart_even_when_invalid() {
        assert!(looks_closed(Some(&json!({"vus": 2, "duration": "soon"}))));
        assert!(looks_closed(Some(&json!({"scenarios": {"s": {"executor": "per-vu-iterations"}}}))));
        assert!(!looks_closed(Some(&json!({"vus": 10}))));
        assert!(!looks_closed(Some(&json!({"scenarios": {"s": {"executor": "constant-arrival-rate"}}}))));
        assert!(!looks_closed(None));
    }

    #[test]
    fn client_options_are_read_and_other_keys_named() {
        let o = json!({"insecureSkipTLSVerify": true, "discardResponseBodies": false, "rps": 10, "vus": 1});
        let c = client_options(Some(&o)).unwrap();
        assert_eq!((c.insecure_skip_tls_verify, c.discard_response_bodies), (true, false));
        assert_eq!(client_options(None).unwrap(), ClientOptions::default());
        let e = client_options(Some(&json!({"discardResponseBodies": "yes"}))).unwrap_err();
        assert!(e.starts_with("options.discardResponseBodies:"), "{e}");
        assert_eq!(ignored(Some(&o)), vec!["options.rps is not supported by Alilo: ignored".to_string()]);
        assert!(resolve(Some(&o)).unwrap().warnings.iter().any(|w| w.contains("options.rps")));
    }

    #[test]
    fn summary_trend_stats_are_checked() {
        let o = json!({"summaryTrendStats": ["avg", "p(99.9)", "count"]});
        assert_eq!(trend_stats(Some(&o)).unwrap(), vec!["avg", "p(99.9)", "count"]);
        assert!(trend_stats(None).unwrap().is_empty());
        let e = trend_stats(Some(&json!({"summaryTrendStats": ["avg", "p(101)"]}))).unwrap_err();
        assert!(e.starts_with("options.summaryTrendStats[1]:"), "{e}");
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_k6_duration("1m30s").unwrap(), s(90.0));
        assert_eq!(parse_k6_duration("1.5m").unwrap(), s(90.0));
        assert_eq!(parse_k6_duration("250ms").unwrap(), s(0.25));
        assert!(parse_k6_duration("1x").is_err());
    }
}
