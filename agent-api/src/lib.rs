//! Wire types of the Alilo agent control API, and the pure helpers both the
//! agent and its controller (the backend) need.
//!
//! This crate is deliberately light (serde, serde_json, hdrhistogram, base64;
//! sha2 and rcgen for certificate pins):
//! the backend depends on it next to reqwest to drive agents, and merges the
//! per-second latency histograms of several agents *exactly* with
//! [`hist::merge`] instead of averaging percentiles.
//!
//! The contract itself is documented in `docs/agent-api.md`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod hist;
pub mod pin;
pub mod profile;
pub mod script;
pub mod targets;
pub mod threshold;

pub use pin::CertPins;
pub use profile::{Profile, Ramp};
pub use script::{ScriptBucket, ScriptSpec};

/// Default lease: a job nobody read or changed for this long stops by itself.
pub const DEFAULT_LEASE: &str = "120s";
/// Default request timeout.
pub const DEFAULT_TIMEOUT: &str = "30s";
/// Default cap on requests in flight.
pub const DEFAULT_MAX_VUS: u64 = 1_000;
/// How many closed per-second buckets an agent keeps per job (15 minutes).
pub const BUCKET_RING_SECONDS: usize = 900;

/// A job as the controller asks an agent to run it (`PUT /v1/jobs/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// The request template (unused, and may be left out, when `script` is
    /// set).
    #[serde(default)]
    pub request: RequestTemplate,
    /// An extended script: one call of its default function is one
    /// iteration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<ScriptSpec>,
    /// Optional data file whose rows fill `{{name}}` placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataFile>,
    /// What counts as a successful response.
    #[serde(default)]
    pub checks: Checks,
    /// The load profile.
    pub profile: Profile,
    /// Multiplier applied to the profile's rate (this agent's share).
    #[serde(default = "one")]
    pub scale: f64,
    /// Cap on requests in flight; a request due while the cap is reached is
    /// dropped and counted as such.
    #[serde(default = "default_max_vus")]
    pub max_vus: u64,
    /// Unix time in milliseconds at which the profile's clock starts, so that
    /// several agents step up together. Absent: start now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at_ms: Option<u64>,
    /// Request timeout, e.g. `"10s"` (connect + send + whole response).
    #[serde(default = "default_timeout")]
    pub timeout: String,
    /// Verify the target's TLS certificate (default true).
    #[serde(default = "yes")]
    pub tls_verify: bool,
    /// `http1` (default) or `http2` (ALPN over TLS, prior knowledge over plain
    /// HTTP).
    #[serde(default)]
    pub http: HttpVersion,
    /// Lease, e.g. `"120s"`; `"0"` disables it.
    #[serde(default = "default_lease")]
    pub lease: String,
    /// Closed-loop mode (benchmarks): when set, the job ignores `profile.rps`
    /// and sends as fast as possible over this many connections for
    /// `profile.duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_loop_connections: Option<u32>,
    /// The key of the job's failed-request log: with it, `GET
    /// /api/v1/getTaskLogs?name=<job id>~<key>` answers without the bearer
    /// token (the original web UI's log link, opened in a browser). Absent:
    /// that route answers nothing for this job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_key: Option<String>,
    /// The target allow-lists every request of the job must pass (all of
    /// them: [`targets::Policy`]); a request to another host is never sent
    /// and counts as a failed request of kind `not_allowed`. Empty or absent:
    /// no restriction (older backends, `alilo-agent run`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_targets: Vec<targets::AllowList>,
}

/// Failed requests an agent keeps per job: the first and the last
/// [`FAILURE_SAMPLE`] of them.
pub const FAILURE_SAMPLE: usize = 20;
/// Bytes of a failed response's body kept.
pub const FAILURE_BODY_BYTES: usize = 1024;

/// One failed request (a status the checks refuse, or no response).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedRequest {
    /// When it ended, Unix milliseconds.
    pub at_ms: u64,
    /// The response's status; 0 when there was none.
    pub status: u16,
    /// `status`, or the error kind: `connect`, `dns`, `timeout`, `tls`,
    /// `reset`, `invalid_request`, `body_too_large`, `not_allowed`, `other`.
    pub error: String,
    /// What happened, in words.
    pub message: String,
    /// The first [`FAILURE_BODY_BYTES`] of the response body (lossy UTF-8;
    /// HTTP/1.1 responses only).
    #[serde(default)]
    pub body: String,
}

/// `GET /v1/jobs/{id}/failures`: the job's failed-request sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FailureSample {
    /// Failed requests in all (most are only counted).
    pub total: u64,
    /// The first ones, oldest first.
    pub first: Vec<FailedRequest>,
    /// The last ones (after the first), oldest first.
    pub last: Vec<FailedRequest>,
}

fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}
fn default_max_vus() -> u64 {
    DEFAULT_MAX_VUS
}
fn default_timeout() -> String {
    DEFAULT_TIMEOUT.to_string()
}
fn default_lease() -> String {
    DEFAULT_LEASE.to_string()
}

/// The placeholder that stands for the whole row of the data file, serialised as
/// a JSON object (values of a JSON file keep their types; a CSV row's are strings).
/// The original's simple scripts POST a random element of the data file as the
/// body; a body of exactly this placeholder does that.
pub const ROW_PLACEHOLDER: &str = "{{$row}}";

/// The HTTP request sent for every iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestTemplate {
    /// HTTP method (default `GET`).
    #[serde(default = "default_method")]
    pub method: String,
    /// Absolute `http://` or `https://` URL; may contain `{{name}}`.
    pub url: String,
    /// Header name → value; values may contain `{{name}}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Query parameters appended to the URL (values may contain `{{name}}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// Request body (UTF-8); may contain `{{name}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl Default for RequestTemplate {
    fn default() -> Self {
        Self {
            method: default_method(),
            url: String::new(),
            headers: BTreeMap::new(),
            query: BTreeMap::new(),
            body: None,
        }
    }
}

fn default_method() -> String {
    "GET".to_string()
}

/// A data file fetched once when the job starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataFile {
    /// `http://` or `https://` URL (e.g. a presigned object URL).
    pub url: String,
    /// File format.
    pub format: DataFormat,
    /// How rows are picked for each request.
    #[serde(default)]
    pub selection: Selection,
}

/// Format of a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataFormat {
    /// A JSON array of objects.
    JsonArray,
    /// One JSON object per line.
    JsonLines,
    /// CSV with a header line naming the fields.
    Csv,
    /// Not known from the name or the content type: the agent reads it from
    /// the content ([`sniff`]).
    Auto,
}

/// A data file's format from its first bytes (a UTF-8 byte-order mark and
/// white space skipped): `[` opens a JSON array, `{` JSON lines, anything
/// else is CSV (its first line the header). Never [`DataFormat::Auto`].
pub fn sniff(head: &[u8]) -> DataFormat {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => DataFormat::JsonArray,
        Some(b'{') => DataFormat::JsonLines,
        _ => DataFormat::Csv,
    }
}

/// Row selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// Rows in order, wrapping around.
    #[default]
    Sequential,
    /// A uniformly random row per request.
    Random,
}

/// Response checks.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    /// Expected status codes; empty means any 2xx.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<u16>,
}

impl Checks {
    /// Whether a response status passes the checks.
    pub fn passes(&self, status: u16) -> bool {
        if self.status.is_empty() { (200..300).contains(&status) } else { self.status.contains(&status) }
    }
}

/// HTTP version used towards the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpVersion {
    /// HTTP/1.1 with keep-alive.
    #[default]
    Http1,
    /// HTTP/2 (ALPN `h2` over TLS, prior knowledge over plain HTTP).
    Http2,
}

/// `POST /v1/jobs/{id}/rate`: exactly one or both of the fields.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateChange {
    /// New scale factor (multiplies the profile's rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// New profile target rps (the steps keep their position: the level
    /// becomes `target_rps·i/N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_rps: Option<f64>,
}

/// `POST /v1/jobs/{id}/stop` (body optional).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopRequest {
    /// How long to wait for requests in flight, e.g. `"5s"` (default 5 s,
    /// at most 60 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
}

/// Life cycle of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Accepted, waiting for `start_at_ms` or for the data file.
    Pending,
    /// Issuing requests.
    Running,
    /// No longer issuing; waiting for requests in flight.
    Stopping,
    /// Done (see `reason`: completed, stopped, lease expired, shutdown).
    Finished,
    /// Could not run (see `reason`).
    Failed,
}

impl JobState {
    /// Finished or failed.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Finished | JobState::Failed)
    }
}

/// `GET /v1/jobs/{id}?since=<cursor>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    /// Caller-chosen id.
    pub id: String,
    /// State.
    pub state: JobState,
    /// Why the job is finished or failed, e.g. `"completed"`, `"stopped"`,
    /// `"lease expired: no read or change for 120s"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Rate the scheduler aims at right now (profile level × scale).
    pub current_rps: f64,
    /// Profile target (may have been changed live).
    pub target_rps: f64,
    /// Current scale.
    pub scale: f64,
    /// Requests in flight.
    pub in_flight: u64,
    /// Milliseconds since the profile's clock started (0 while pending).
    pub elapsed_ms: u64,
    /// Pass this as `since` next time to get only new buckets.
    pub cursor: u64,
    /// Closed per-second buckets with `second >= since`, oldest first.
    pub buckets: Vec<Bucket>,
    /// Cumulative summary since the start.
    pub summary: Summary,
}

/// `POST /v1/poll`: read several jobs at once (one call per agent and pass
/// instead of one per job), each since its own cursor; renews each one's
/// lease as `GET /v1/jobs/{id}` does. Agents that serve it announce the
/// capability [`BATCH_POLL`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollRequest {
    /// The jobs to read (at most [`MAX_POLL_JOBS`]).
    pub jobs: Vec<PollJob>,
}

/// One job of a [`PollRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollJob {
    /// The job's id.
    pub id: String,
    /// Buckets with `second >= since` (default 0).
    #[serde(default)]
    pub since: u64,
}

/// The capability of an agent that serves `POST /v1/poll`.
pub const BATCH_POLL: &str = "batch-poll";
/// Most jobs one `POST /v1/poll` may name.
pub const MAX_POLL_JOBS: usize = 10_000;

/// The answer to `POST /v1/poll`: one entry per job asked, in the order asked.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PollResponse {
    /// Each job's status, or why it has none.
    pub jobs: Vec<Polled>,
}

/// One job of a [`PollResponse`]: its status, as `GET /v1/jobs/{id}?since=`
/// answers it, or `found: false` for a job the agent does not know (what that
/// route answers 404 for).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Polled {
    /// The id asked for.
    pub id: String,
    /// Whether the agent knows the job.
    pub found: bool,
    /// Its status when found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<JobStatus>,
}

/// Counts by error kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// TCP connect failed or was refused.
    pub connect: u64,
    /// The request did not complete within the timeout.
    pub timeout: u64,
    /// TLS handshake or certificate failure.
    pub tls: u64,
    /// Connection reset or closed mid-exchange.
    pub reset: u64,
    /// Anything else (protocol errors, …).
    pub other: u64,
}

impl ErrorCounts {
    /// Sum of every kind.
    pub fn total(&self) -> u64 {
        self.connect + self.timeout + self.tls + self.reset + self.other
    }
    /// Adds another set of counts.
    pub fn add(&mut self, o: &ErrorCounts) {
        self.connect += o.connect;
        self.timeout += o.timeout;
        self.tls += o.tls;
        self.reset += o.reset;
        self.other += o.other;
    }
}

/// One second of a job.
///
/// `sent`, `dropped` and `bytes_sent` count what was *issued* during that
/// second; `ok`, `failed`, `status`, `errors`, `latency` and `service` count
/// what *completed* during it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Second index since the profile's clock started (the cursor unit).
    pub second: u64,
    /// Unix time (ms) at which this second started.
    pub ts_ms: u64,
    /// Rate the scheduler aimed at, at the start of the second.
    pub target_rps: f64,
    /// Requests sent.
    pub sent: u64,
    /// Responses that passed the checks.
    pub ok: u64,
    /// Responses that failed the checks, plus errors.
    pub failed: u64,
    /// Requests not started because `max_vus` were in flight.
    pub dropped: u64,
    /// Responses by status code (`"200": 998`).
    pub status: BTreeMap<String, u64>,
    /// Errors by kind.
    pub errors: ErrorCounts,
    /// Bytes written to the target's sockets (TLS included).
    pub bytes_sent: u64,
    /// Bytes read from the target's sockets (TLS included).
    pub bytes_received: u64,
    /// Coordinated-omission corrected latency (from the intended send time),
    /// microseconds, HDR V2 format, base64. Decode with [`hist::decode`].
    pub latency: String,
    /// Service time (from the actual send), same encoding.
    pub service: String,
    /// Schedule lag p99 in microseconds (actual − intended send time).
    pub lag_p99_us: u64,
    /// Worst schedule lag of the second, microseconds.
    pub lag_max_us: u64,
    /// What an extended script adds (absent for simple requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<ScriptBucket>,
}

/// Percentiles of one distribution, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Maximum.
    pub max: f64,
}

/// Cumulative figures of a job.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Requests sent.
    pub sent: u64,
    /// Responses that passed the checks.
    pub ok: u64,
    /// Failed responses plus errors.
    pub failed: u64,
    /// Dropped because of `max_vus`.
    pub dropped: u64,
    /// Responses by status code.
    pub status: BTreeMap<String, u64>,
    /// Errors by kind.
    pub errors: ErrorCounts,
    /// Bytes written.
    pub bytes_sent: u64,
    /// Bytes read.
    pub bytes_received: u64,
    /// Seconds the job has been issuing (or issued).
    pub duration_s: f64,
    /// `sent / duration_s`.
    pub achieved_rps: f64,
    /// Requests the profile asked for so far (∫ rate dt).
    pub expected: f64,
    /// Coordinated-omission corrected latency, ms.
    pub latency: Percentiles,
    /// Service time, ms.
    pub service: Percentiles,
    /// Schedule lag (actual − intended send), ms.
    pub schedule_lag: Percentiles,
    /// Corrected latency histogram of the whole job (HDR V2, base64, µs).
    pub latency_hist: String,
}

/// `GET /v1/jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobList {
    /// Every job the agent still remembers.
    pub jobs: Vec<JobBrief>,
}

/// One line of [`JobList`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobBrief {
    /// Id.
    pub id: String,
    /// State.
    pub state: JobState,
    /// Reason, when finished or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Rate aimed at now.
    pub current_rps: f64,
    /// In flight.
    pub in_flight: u64,
    /// Requests sent so far.
    pub sent: u64,
}

/// `GET /v1/agent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Crate version.
    pub version: String,
    /// Feature names, e.g. `"http2"`, `"tls"`, `"data-files"`.
    pub capabilities: Vec<String>,
    /// Host CPU.
    pub cpu: CpuInfo,
    /// Host memory.
    pub memory: MemoryInfo,
    /// Host network (all interfaces but loopback; loopback included when it is
    /// the only one).
    pub network: NetworkInfo,
    /// Connections the agent holds open to targets.
    pub open_connections: u64,
    /// Jobs pending or running.
    pub active_jobs: u64,
    /// Jobs remembered.
    pub jobs: u64,
    /// Requests in flight, all jobs.
    pub in_flight: u64,
}

/// CPU figures.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CpuInfo {
    /// Logical cores.
    pub cores: u64,
    /// Whole-host busy percentage over the last sampling second (0–100).
    pub usage_percent: f64,
    /// This process's CPU over the last sampling second, in percent of one core.
    pub process_percent: f64,
    /// 1-minute load average.
    pub load1: f64,
}

/// Memory figures.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MemoryInfo {
    /// Host total.
    pub total_bytes: u64,
    /// Host available.
    pub available_bytes: u64,
    /// This process's resident set.
    pub process_rss_bytes: u64,
}

/// Network figures.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NetworkInfo {
    /// Bytes received since boot.
    pub rx_bytes: u64,
    /// Bytes sent since boot.
    pub tx_bytes: u64,
    /// Receive rate over the last sampling second.
    pub rx_bytes_per_s: f64,
    /// Send rate over the last sampling second.
    pub tx_bytes_per_s: f64,
}

/// Body of every 4xx/5xx answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, naming the field.
    pub error: String,
}

/// A duration string that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError(pub String);

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DurationError {}

/// Parses durations like `"90s"`, `"5m"`, `"1h30m"`, `"250ms"`, `"1.5s"`; a
/// bare number is seconds (`"30"` is 30 s, never 1 s).
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let t = s.trim();
    let bad = || DurationError(format!("invalid duration {s:?}: use e.g. \"90s\", \"5m\", \"1h30m\", \"250ms\""));
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = t.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err(bad());
        }
        return Ok(Duration::from_secs_f64(secs));
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(bad()),
        };
        total += n * factor;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > 1e9 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

/// Formats a duration in the form [`parse_duration`] reads back.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let mut s = (ms / 1000) as u64;
    let mut out = String::new();
    for (unit, size) in [("h", 3600), ("m", 60)] {
        if s >= size {
            out.push_str(&format!("{}{unit}", s / size));
            s %= size;
        }
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_documented_form() {
        let cases = [
            ("90s", 90_000),
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("250ms", 250),
            ("1.5s", 1_500),
            ("30", 30_000),
            ("0", 0),
            ("2h", 7_200_000),
            ("1m30s", 90_000),
        ];
        for (s, ms) in cases {
            assert_eq!(parse_duration(s).unwrap().as_millis(), ms, "{s}");
        }
    }

    #[test]
    fn thirty_seconds_is_never_one_second() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
    }

    #[test]
    fn bad_durations_are_rejected_quoting_the_input() {
        for s in ["", "s", "5x", "-3s", "1h-", "abc", "5 m m"] {
            let e = parse_duration(s).unwrap_err();
            assert!(e.0.contains(&format!("{s:?}")), "{e}");
        }
    }

    #[test]
    fn durations_format_round_trip() {
        for s in ["90s", "5m", "1h30m", "250ms", "1h", "0s"] {
            let d = parse_duration(s).unwrap();
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
    }

    #[test]
    fn checks_default_to_2xx() {
        let c = Checks::default();
        assert!(c.passes(200) && c.passes(204) && !c.passes(302) && !c.passes(500));
        let c = Checks { status: vec![404] };
        assert!(c.passes(404) && !c.passes(200));
    }

    #[test]
    fn a_minimal_spec_gets_the_documented_defaults() {
        let s: JobSpec =
            serde_json::from_str(r#"{"request":{"url":"http://127.0.0.1/"},"profile":{"rps":10,"duration":"5s"}}"#)
                .unwrap();
        assert_eq!(s.request.method, "GET");
        assert_eq!(s.scale, 1.0);
        assert_eq!(s.max_vus, DEFAULT_MAX_VUS);
        assert_eq!(s.timeout, "30s");
        assert_eq!(s.lease, "120s");
        assert!(s.tls_verify);
        assert_eq!(s.http, HttpVersion::Http1);
        assert_eq!(s.profile.steps, 1);
        assert_eq!(s.profile.ramp, Ramp::Step);
    }
}
