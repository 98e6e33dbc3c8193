//! Wire types of extended (k6-style JavaScript) scripts: what the controller
//! sends to start one, and the per-second figures a script adds to a bucket.
//!
//! A job with [`JobSpec::script`](crate::JobSpec::script) set runs the
//! script's default function (or its scenario's `exec`) as one iteration,
//! started by the same open-model scheduler as a simple request; its
//! `request` template is then unused.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An extended script as the agent runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptSpec {
    /// Path of the entry module among `files`, e.g. `main.js`.
    pub entry: String,
    /// Every module and data file the script may `import` or `open()`, by
    /// the relative path the script uses. Nothing else is readable.
    pub files: Vec<ScriptFile>,
    /// `__ENV` as the script sees it (`RPS`, `STEPS`, `DURATION`, `API_URL`,
    /// `AMMO_URL` and the script's `additional_env`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Wall-clock limit of one iteration, e.g. `"60s"`; an iteration past it
    /// is interrupted and counted as an exception.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration_timeout: Option<String>,
    /// What sets the load: the job's profile (default) or the script's own
    /// `options` (k6's scenarios and executors).
    #[serde(default, skip_serializing_if = "ScriptLoad::is_profile")]
    pub load: ScriptLoad,
}

/// Where a script job's load comes from.
///
/// With `options`, the script's scenarios run as k6 runs them (the six
/// executors, `startTime`, `gracefulStop`, `exec`, `env`, several in
/// parallel). Their VU counts and arrival rates are multiplied live by the
/// job's *factor*, `scale × target_rps / reference_rps` (just `scale` when
/// `reference_rps` is absent or 0), so a rate change scales a closed-model
/// script's VUs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScriptLoad {
    /// One iteration per scheduled instant of the job's profile (open
    /// model); the script's `options` set no load.
    #[default]
    Profile,
    /// The script's own `options` (or `options` given here, which replace
    /// them: a runner's command-line overrides). The scenarios' clock starts
    /// once `setup()` has run, unless `start_at_ms` is set.
    Options {
        /// k6 options replacing the script's (`scenarios`, `vus`,
        /// `duration`, `iterations`, `stages`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        options: Option<serde_json::Value>,
        /// The target rps at which the scenarios run as written (100 %).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reference_rps: Option<f64>,
    },
    /// The platform's rule: the script's own scenarios when one of them is
    /// closed-model (`constant-vus`, `ramping-vus`, `per-vu-iterations`,
    /// `shared-iterations`, or the `vus`/`duration`/`iterations`/`stages`
    /// shortcuts), on the job's clock and never past the profile's
    /// duration; otherwise the profile.
    Auto {
        /// The target rps at which the scenarios run as written (100 %).
        reference_rps: f64,
    },
}

impl ScriptLoad {
    /// Whether it is the default, [`ScriptLoad::Profile`].
    pub fn is_profile(&self) -> bool {
        matches!(self, ScriptLoad::Profile)
    }
}

/// One file of a script: inline text or a URL the agent fetches once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptFile {
    /// Relative path, as in `import … from "./lib.js"` or `open("ammo.json")`.
    pub path: String,
    /// The file's text, when the controller sends it inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Or an `http(s)` URL (a presigned object URL) to fetch it from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What a script adds to one second's [`Bucket`](crate::Bucket).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScriptBucket {
    /// Iterations completed in this second.
    pub iterations: u64,
    /// Iterations not started because no VU was free.
    pub dropped_iterations: u64,
    /// Iterations that ended with an uncaught exception.
    pub failed_iterations: u64,
    /// Iteration duration, microseconds, HDR V2 base64 ([`crate::hist`]).
    pub iteration_duration: String,
    /// VUs busy at the end of the second, and the pool's size.
    pub vus: u64,
    /// VUs allocated.
    pub vus_max: u64,
    /// Checks by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, PassFail>,
    /// Requests by their `name` tag (default: the URL without its query).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, NamedRequests>,
    /// Custom metrics by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, CustomMetric>,
    /// Exceptions by message.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exceptions: BTreeMap<String, u64>,
    /// The first few exceptions of the job ([`MAX_EXCEPTION_SAMPLES`]), each
    /// with its stack, in the second they happened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exception_samples: Vec<ExceptionSample>,
    /// Groups by path (`::login::form`, k6's `group` tag): the requests and
    /// checks made inside each, and how long it took.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, GroupBucket>,
    /// The checks above that carry tags (k6's layers, as requests'), by
    /// name and tag set: what `checks{scenario:login}` selects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tagged_checks: Vec<TaggedCheck>,
    /// The custom metric samples above that carry tags, by name and tag
    /// set: what `my_trend{step:pay}` selects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tagged_metrics: Vec<TaggedMetric>,
}

/// One check's results of one tag set in one second.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaggedCheck {
    /// The check's name.
    pub name: String,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// Times it held.
    pub passes: u64,
    /// Times it did not.
    pub fails: u64,
}

/// One custom metric's samples of one tag set in one second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaggedMetric {
    /// The metric's name.
    pub name: String,
    /// Their tags.
    pub tags: BTreeMap<String, String>,
    /// Their value, as in [`ScriptBucket::metrics`].
    pub metric: CustomMetric,
}

/// Exceptions of a job kept with their stack (later ones are only counted).
pub const MAX_EXCEPTION_SAMPLES: usize = 5;

/// One uncaught exception of an iteration, with where it was thrown.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExceptionSample {
    /// Its message (`TypeError: cannot read property 'id' of undefined`).
    pub message: String,
    /// `file:line:column` of the innermost frame, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub location: String,
    /// The engine's stack (`    at f (main.js:3:5)` lines).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stack: String,
    /// `__VU` of the VU that threw.
    pub vu: u64,
    /// `__ITER` of its iteration.
    pub iteration: u64,
}

/// One group's share of a second: what ran directly inside it (a nested
/// group has its own path).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GroupBucket {
    /// Times the group ended in this second.
    pub runs: u64,
    /// Its duration (k6's `group_duration`), microseconds, HDR V2 base64.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub duration: String,
    /// Requests (hops) sent inside it.
    pub requests: u64,
    /// Of which failed.
    pub failed_requests: u64,
    /// Checks made inside it, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, PassFail>,
}

/// Passes and failures of one check (or one rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PassFail {
    /// Times it held.
    pub passes: u64,
    /// Times it did not.
    pub fails: u64,
}

/// The requests of one name in one second.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NamedRequests {
    /// Requests sent.
    pub sent: u64,
    /// Requests that failed (status not expected, or an error).
    pub failed: u64,
    /// Latency, microseconds, HDR V2 base64.
    pub latency: String,
    /// The same requests by tag set (k6's `options.tags`, the scenario's
    /// `tags` and `scenario` tag, `params.tags`), when they carry tags: what
    /// a threshold's tag filter (`http_req_duration{scenario:login}`)
    /// selects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tagged: Vec<TaggedRequests>,
}

/// The requests of one name and one tag set in one second.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaggedRequests {
    /// Their tags (without `name`).
    pub tags: BTreeMap<String, String>,
    /// Requests sent.
    pub sent: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Latency, microseconds, HDR V2 base64.
    pub latency: String,
}

/// One custom metric's value for a second, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum CustomMetric {
    /// Sum of the values added in the second.
    Counter {
        /// The sum.
        value: f64,
    },
    /// The last value set in the second.
    Gauge {
        /// The value.
        value: f64,
    },
    /// Non-zero values out of all values added.
    Rate {
        /// The counts.
        #[serde(flatten)]
        counts: PassFail,
    },
    /// Values added, as an HDR histogram of the value × 1000 (so that
    /// milliseconds keep microsecond precision), V2 base64.
    Trend {
        /// The histogram.
        hist: String,
    },
}
