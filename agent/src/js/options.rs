//! A script's `options` as the standalone runner reads them: the arrival-rate
//! executors map onto the agent's open-model profile. On the platform the
//! profile comes from Alilo and `options` only document the same load.

use alilo_agent_api::{Profile, Ramp, format_duration, parse_duration};
use serde_json::Value;

/// The load a script's `options` ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// The profile.
    pub profile: Profile,
    /// VUs at most.
    pub max_vus: Option<u64>,
}

/// The open-model load of `options`, `None` when they set none; an error
/// names an executor or field the engine cannot honour.
pub fn load(options: &Value) -> Result<Option<Load>, String> {
    let Some(scenarios) = options.get("scenarios").and_then(Value::as_object) else {
        if options.get("vus").is_some() || options.get("stages").is_some() || options.get("iterations").is_some() {
            return Err(
                "options: vus/stages/iterations describe closed-model VUs; Alilo runs arrival rates: give --rps and --duration, or a constant-arrival-rate or ramping-arrival-rate scenario"
                    .into(),
            );
        }
        return Ok(None);
    };
    if scenarios.len() != 1 {
        return Err(format!("options.scenarios: {} scenarios; run one scenario per script", scenarios.len()));
    }
    let (name, s) = scenarios.iter().next().expect("one");
    let field = |f: &str| format!("options.scenarios.{name}.{f}");
    let exec = s.get("executor").and_then(Value::as_str).unwrap_or("");
    let time_unit = match s.get("timeUnit") {
        Some(v) => dur(v).map_err(|e| format!("{}: {e}", field("timeUnit")))?,
        None => 1.0,
    };
    let max_vus = s.get("maxVUs").or_else(|| s.get("preAllocatedVUs")).and_then(Value::as_u64);
    match exec {
        "constant-arrival-rate" => {
            let rate = s.get("rate").and_then(Value::as_f64).ok_or_else(|| format!("{}: required", field("rate")))?;
            let d = s.get("duration").ok_or_else(|| format!("{}: required", field("duration")))?;
            let d = dur(d).map_err(|e| format!("{}: {e}", field("duration")))?;
            Ok(Some(Load {
                profile: Profile {
                    rps: rate / time_unit,
                    steps: 1,
                    duration: format_duration(std::time::Duration::from_secs_f64(d)),
                    ramp: Ramp::Step,
                },
                max_vus,
            }))
        }
        "ramping-arrival-rate" => {
            let stages =
                s.get("stages").and_then(Value::as_array).ok_or_else(|| format!("{}: required", field("stages")))?;
            let mut total = 0.0;
            let mut top: f64 = 0.0;
            let mut levels = Vec::new();
            for (i, st) in stages.iter().enumerate() {
                let t = st
                    .get("target")
                    .and_then(Value::as_f64)
                    .ok_or_else(|| format!("{}[{i}].target: required", field("stages")))?;
                let d = st.get("duration").ok_or_else(|| format!("{}[{i}].duration: required", field("stages")))?;
                total += dur(d).map_err(|e| format!("{}[{i}].duration: {e}", field("stages")))?;
                top = top.max(t);
                if levels.last() != Some(&t) && t > 0.0 {
                    levels.push(t);
                }
            }
            if total <= 0.0 {
                return Err(format!("{}: the stages last no time", field("stages")));
            }
            // Equal steps up to the top rate (what RPS/STEPS/DURATION build).
            Ok(Some(Load {
                profile: Profile {
                    rps: top / time_unit,
                    steps: levels.len().max(1) as u32,
                    duration: format_duration(std::time::Duration::from_secs_f64(total)),
                    ramp: Ramp::Step,
                },
                max_vus,
            }))
        }
        "" => Err(format!("{}: required", field("executor"))),
        e => Err(format!(
            "{}: {e} is a closed-model executor; Alilo runs arrival rates (constant-arrival-rate, ramping-arrival-rate) or --rps",
            field("executor")
        )),
    }
}

/// Seconds of a k6 duration: `"30s"`, `"1m30s"`, or a number of ms.
fn dur(v: &Value) -> Result<f64, String> {
    match v {
        Value::String(s) => parse_duration(s).map(|d| d.as_secs_f64()).map_err(|e| e.to_string()),
        Value::Number(n) => Ok(n.as_f64().unwrap_or(0.0) / 1000.0),
        _ => Err(format!("{v} is not a duration")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arrival_rate_scenarios_become_profiles() {
        let o = json!({"scenarios": {"s": {"executor": "constant-arrival-rate", "rate": 120, "timeUnit": "1m", "duration": "30s", "maxVUs": 50}}});
        let l = load(&o).unwrap().unwrap();
        assert_eq!((l.profile.rps, l.profile.steps, l.max_vus), (2.0, 1, Some(50)));
        assert_eq!(parse_duration(&l.profile.duration).unwrap().as_secs(), 30);
        let o = json!({"scenarios": {"s": {"executor": "ramping-arrival-rate", "stages": [
            {"target": 10, "duration": "10s"}, {"target": 20, "duration": "10s"}, {"target": 30, "duration": "10s"}]}}});
        let l = load(&o).unwrap().unwrap();
        assert_eq!((l.profile.rps, l.profile.steps), (30.0, 3));
        assert_eq!(parse_duration(&l.profile.duration).unwrap().as_secs(), 30);
        assert_eq!(load(&json!({"thresholds": {}})).unwrap(), None);
    }

    #[test]
    fn closed_model_options_are_named() {
        let e = load(&json!({"scenarios": {"s": {"executor": "constant-vus", "vus": 2}}})).unwrap_err();
        assert!(e.contains("options.scenarios.s.executor: constant-vus"), "{e}");
        assert!(load(&json!({"vus": 10, "duration": "1m"})).unwrap_err().contains("vus"));
    }
}
