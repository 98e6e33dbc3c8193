//! Extended scripts: k6-style JavaScript run natively by QuickJS
//! (`rquickjs`), one iteration per tick of the job's open-model scheduler.
//! `docs/extended-scripts.md` describes what scripts can use and why it is
//! built this way.
//!
//! | module | owns |
//! | --- | --- |
//! | [`files`] | the script's files by relative path; `open()` reads only those |
//! | [`html`] | `Response.html()`: k6's selection subset over `tl` |
//! | [`loader`] | import resolution: the built-in k6 modules (`modules/*.js`) and the script's own modules; remote imports refused |
//! | [`vu`] | a VU: its own QuickJS runtime on its own stack (a stackful coroutine), init code, one call per iteration |
//! | [`natives`] | the Rust functions behind the k6 modules (HTTP, checks, metrics, encoding, crypto, data) |
//! | [`driver`] | a worker's VU pool and the async side of a VU: it performs the HTTP calls and sleeps a VU yields, and records them |
//! | [`acc`] | what a script adds to a second: iterations, checks, requests by name, custom metrics, exceptions |
//! | [`cookies`] | a VU's cookie jar (RFC 6265 domain, path, expiry, secure) |
//! | [`crypto`] | digests and HMACs of `k6/crypto` |
//! | [`digest`] | HTTP Digest authentication (RFC 7616) for `params.auth: "digest"` |
//! | [`options`] | a script's `options` as scenarios: k6's shortcuts, `options.scenarios`, the command line's overrides |
//! | [`plan`] | each executor's VU count or arrival rate on its own clock, pure |
//! | [`executor`] | a job's scenarios at run time: VU loops (closed model) and arrival-rate schedulers on each worker |
//! | [`summary`] | the end-of-run summary of `alilo-agent run script.js` and its JSON export |
//! | [`tags`] | k6's tags on requests: their layers, precedence and key |
//! | [`thresholds`] | `options.thresholds` judged on a standalone run (exit 99 when one fails) |
//! | [`check`] | checks before a job starts: the spec's fields and a syntax check naming `file:line:column` |
//!
//! # The execution model
//!
//! k6 scripts are synchronous: `http.get()` returns the response. Each VU
//! runs on a stackful coroutine of its own (the `generator` crate), with its
//! own QuickJS runtime (so its memory can be capped and its loops
//! interrupted, and so that a suspended VU holds no lock another VU needs).
//! A native call that must wait (an HTTP request, a sleep) *yields* the
//! coroutine with what to do; the worker's async driver does it on the
//! worker's tokio runtime through the agent's own HTTP client
//! ([`crate::client::exchange`]) and resumes the VU with the answer. So
//! one worker thread interleaves many VUs, each switch costing a few tens of
//! nanoseconds, with no thread per VU.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod acc;
pub mod check;
pub mod cookies;
pub mod crypto;
pub mod digest;
pub mod driver;
pub mod executor;
pub mod files;
pub mod html;
pub mod loader;
pub mod natives;
pub mod options;
pub mod plan;
pub mod pool;
pub mod summary;
pub mod tags;
pub mod thresholds;
pub mod vu;

pub use files::Files;

/// Default memory limit of one VU's runtime.
pub const DEFAULT_VU_MEMORY: usize = 64 << 20;
/// Default wall-clock limit of one iteration.
pub const DEFAULT_ITERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// How a job's VUs run, fixed when the job starts.
#[derive(Debug, Clone)]
pub struct VuConfig {
    /// Memory limit of each VU's runtime, bytes.
    pub memory_limit: usize,
    /// Wall-clock limit of one iteration.
    pub iteration_timeout: Duration,
    /// Default request timeout.
    pub request_timeout: Duration,
    /// Verify TLS certificates.
    pub tls_verify: bool,
    /// Speak HTTP/2.
    pub http2: bool,
}

impl Default for VuConfig {
    fn default() -> Self {
        VuConfig {
            memory_limit: DEFAULT_VU_MEMORY,
            iteration_timeout: DEFAULT_ITERATION_TIMEOUT,
            request_timeout: Duration::from_secs(60),
            tls_verify: true,
            http2: false,
        }
    }
}

/// What every VU of a job shares (across worker threads).
pub struct ScriptShared {
    /// The script's files.
    pub files: Arc<Files>,
    /// `__ENV`.
    pub env: BTreeMap<String, String>,
    /// Limits and client options.
    pub config: VuConfig,
    /// When the job's clock started.
    pub started: Instant,
    /// Length of the job (for `exec.scenario.progress`).
    pub duration: Duration,
    /// Iterations started in the job (`exec.scenario.iterationInTest`).
    pub iterations_started: AtomicU64,
    /// Iterations completed.
    pub iterations_completed: AtomicU64,
    /// VU ids handed out (`__VU` starts at 1).
    pub vus_created: AtomicU64,
    /// VUs running an iteration.
    pub vus_active: AtomicU64,
    /// `setup()`'s result as JSON, once it ran.
    pub setup_data: Mutex<Option<String>>,
    /// `SharedArray`s by name: their elements as JSON, built once.
    pub shared_arrays: Mutex<HashMap<String, Arc<Vec<String>>>>,
    /// Set by `exec.test.abort()`: why.
    pub abort: Mutex<Option<String>>,
    /// Set when the job stops: waiting VUs give up.
    pub stopping: AtomicBool,
    /// Exceptions logged with their stack so far.
    pub exceptions_logged: AtomicU64,
    /// The script's `insecureSkipTLSVerify` and `discardResponseBodies`,
    /// once its init code ran on the job's first VU.
    pub client_options: std::sync::OnceLock<options::ClientOptions>,
    /// The script's `options.tags` and their key, once its init code ran:
    /// the tags of requests outside scenarios.
    pub global_tags: std::sync::OnceLock<(Arc<tags::Tags>, Arc<str>)>,
}

impl ScriptShared {
    /// The shared state of a job running `files`.
    pub fn new(files: Arc<Files>, env: BTreeMap<String, String>, config: VuConfig, duration: Duration) -> Self {
        ScriptShared {
            files,
            env,
            config,
            started: Instant::now(),
            duration,
            iterations_started: AtomicU64::new(0),
            iterations_completed: AtomicU64::new(0),
            vus_created: AtomicU64::new(0),
            vus_active: AtomicU64::new(0),
            setup_data: Mutex::new(None),
            shared_arrays: Mutex::new(HashMap::new()),
            abort: Mutex::new(None),
            stopping: AtomicBool::new(false),
            exceptions_logged: AtomicU64::new(0),
            client_options: std::sync::OnceLock::new(),
            global_tags: std::sync::OnceLock::new(),
        }
    }

    /// Applies the script's `options` (as JSON) that change its requests,
    /// before its first call; logs the options it ignores.
    pub fn apply_options(&self, json: Option<&str>) -> Result<(), String> {
        let options = match json {
            Some(j) => Some(serde_json::from_str::<serde_json::Value>(j).map_err(|e| format!("options: {e}"))?),
            None => None,
        };
        let _ = self.client_options.set(options::client_options(options.as_ref())?);
        let global = options::global_tags(options.as_ref())?;
        let _ = self.global_tags.set((Arc::new(global.clone()), tags::key(&global)));
        for w in options::ignored(options.as_ref()) {
            tracing::warn!("script: {w}");
        }
        Ok(())
    }

    /// The client options in force (none before the first init).
    pub fn client(&self) -> options::ClientOptions {
        self.client_options.get().copied().unwrap_or_default()
    }

    /// The tags of requests outside scenarios (`options.tags`) and their key.
    pub fn global_tags(&self) -> (Arc<tags::Tags>, Arc<str>) {
        self.global_tags.get().cloned().unwrap_or_else(|| (Arc::default(), Arc::from("")))
    }

    /// A new VU id (1, 2, …).
    pub fn next_vu_id(&self) -> u64 {
        self.vus_created.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Why the script asked to abort, if it did.
    pub fn aborted(&self) -> Option<String> {
        self.abort.lock().expect("abort lock").clone()
    }
}

/// Runs a script's init code once (on a VU of its own) and returns its
/// exported `options` as JSON, for the standalone runner.
pub fn read_options(spec: &alilo_agent_api::ScriptSpec) -> Result<Option<serde_json::Value>, String> {
    let files = Arc::new(Files::inline(spec)?);
    check::compile(&files)?;
    let shared = Arc::new(ScriptShared::new(files, spec.env.clone(), VuConfig::default(), Duration::ZERO));
    let vu = vu::Vu::new_special(shared).map_err(|e| format!("init: {e}"))?;
    match &vu.exports.options {
        Some(j) => serde_json::from_str(j).map(Some).map_err(|e| format!("options: {e}")),
        None => Ok(None),
    }
}
