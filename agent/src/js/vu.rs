//! A VU: a QuickJS runtime and context of its own, living on a stackful
//! coroutine of its own. It runs the script's init code once, then one call
//! (`default`, `setup` or `teardown`) per [`Input::Start`]. Inside a call,
//! a native that must wait yields an [`Output`] (an HTTP call, a sleep) and
//! gets the answer as the next [`Input`]; [`super::driver`] does the
//! waiting. VU globals live as long as the VU, as in k6.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use generator::{Generator, Gn};
use rquickjs::{CatchResultExt, CaughtError, Context, Ctx, Function, Module, Object, Persistent, Runtime, Value};

use super::ScriptShared;
use super::loader::ScriptLoader;
use super::natives;
use super::plan::ScenarioInfo;
use crate::client::exchange::{HttpRequest, HttpResponse};

/// Stack of a VU's coroutine (machine words: 1 MiB on 64-bit; only the
/// pages touched are resident).
const STACK_WORDS: usize = 128 * 1024;
/// QuickJS's own stack limit inside it, leaving room for native frames.
const JS_STACK_BYTES: usize = 640 * 1024;

/// What a VU is asked to do.
pub enum Input {
    /// Run the init code (the first input).
    Init,
    /// Run one call.
    Start(Start),
    /// The answer to [`Output::Http`], with the call handed back (its
    /// request taken) so that a follow-up hop reuses its name and tags.
    Http(Box<HttpResponse>, Box<HttpCall>),
    /// The answers to [`Output::Batch`], in order, each with its call
    /// handed back (as for [`Input::Http`]).
    Batch(Vec<(HttpResponse, Box<HttpCall>)>),
    /// A sleep ended.
    Woke,
    /// The iteration's time is up while it waited.
    TimedOut,
    /// The job stops: give up waiting, then end.
    Quit,
}

/// Which function a call runs.
#[derive(Debug, Clone)]
pub enum Call {
    /// The default export (or nothing if there is none), with setup's data.
    Default,
    /// `setup()`; its result comes back as JSON.
    Setup,
    /// `teardown(data)`.
    Teardown,
}

/// One call to run.
#[derive(Debug, Clone)]
pub struct Start {
    /// Which function.
    pub call: Call,
    /// Iteration number within the VU (`__ITER`).
    pub iteration: u64,
    /// When to interrupt it.
    pub deadline: Instant,
    /// The scenario it belongs to (its `exec` function and `env`), when the
    /// job runs the script's scenarios.
    pub scenario: Option<Arc<ScenarioInfo>>,
    /// `exec.scenario.iterationInTest`, when counted by the scenario.
    pub iteration_in_scenario: Option<u64>,
}

/// What a VU yields.
pub enum Output {
    /// Init done (or failed, with the error).
    Ready(Result<Exports, String>),
    /// Send this request, answer with [`Input::Http`].
    Http(Box<HttpCall>),
    /// Send these together, answer with [`Input::Batch`].
    Batch(Vec<HttpCall>),
    /// Sleep, answer with [`Input::Woke`].
    Sleep(Duration),
    /// The call ended.
    Done(Box<CallEnd>),
    /// The VU ended (after [`Input::Quit`]).
    Gone,
}

/// What the entry module exports.
#[derive(Debug, Clone, Default)]
pub struct Exports {
    /// `options`, as JSON.
    pub options: Option<String>,
    /// `default`.
    pub default: bool,
    /// `setup`.
    pub setup: bool,
    /// `teardown`.
    pub teardown: bool,
    /// Every exported function's name (a scenario's `exec` must be one).
    pub functions: Vec<String>,
}

/// An HTTP request of a script, with how to count it.
pub struct HttpCall {
    /// The request.
    pub req: HttpRequest,
    /// The `name` tag (default: the URL without its query).
    pub name: String,
    /// Statuses that count as success: inclusive ranges.
    pub expected: Arc<Vec<(u16, u16)>>,
    /// The group path it was sent in (`::a::b`; empty outside groups).
    pub group: String,
    /// The key of its tags ([`super::tags`]; empty for none).
    pub tags: Arc<str>,
    /// A 401 is expected (a Digest challenge), not a failure.
    pub challenge: bool,
}

/// An uncaught exception.
#[derive(Debug, Clone, PartialEq)]
pub struct JsError {
    /// Its message (`TypeError: x is not a function`).
    pub message: String,
    /// Its stack, if any.
    pub stack: String,
}

/// How a call ended.
#[derive(Debug, Default)]
pub struct CallEnd {
    /// The uncaught exception, if any.
    pub error: Option<JsError>,
    /// The VU cannot go on (out of memory): the job must fail.
    pub fatal: Option<String>,
    /// `setup()`'s result as JSON.
    pub result: Option<String>,
    /// What the call recorded.
    pub events: Events,
}

/// What one call recorded besides its requests, flushed at its end.
#[derive(Debug, Default)]
pub struct Events {
    /// Checks by (group path, name): (passes, fails).
    pub checks: BTreeMap<(String, String), (u64, u64)>,
    /// Groups that ended: (path, duration in µs).
    pub groups: Vec<(String, u64)>,
    /// Custom metric samples: (kind, name, value).
    pub metrics: Vec<(MetricKind, String, f64)>,
    /// The checks and samples above that carry tags, again by their tags'
    /// key ([`super::tags`]): checks by (name, key), samples with their key.
    pub tagged_checks: BTreeMap<(String, Arc<str>), (u64, u64)>,
    /// Custom metric samples with tags: (kind, name, value, key).
    pub tagged_metrics: Vec<(MetricKind, String, f64, Arc<str>)>,
}

/// Kinds of custom metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Summed.
    Counter,
    /// Last value.
    Gauge,
    /// Non-zero out of all.
    Rate,
    /// Distribution.
    Trend,
}

/// Response data a script may read lazily.
pub struct Kept {
    /// The response.
    pub resp: HttpResponse,
    /// `responseType`: `text`, `binary` or `none`.
    pub response_type: ResponseType,
    /// What was sent (for `response.request`).
    pub req_headers: http::HeaderMap,
    /// The body sent.
    pub req_body: bytes::Bytes,
    /// The method sent.
    pub req_method: http::Method,
}

/// How a response body is given to the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    /// A string.
    Text,
    /// An `ArrayBuffer`.
    Binary,
    /// `null` (the body is not even kept).
    None,
}

/// A VU's state that its natives share.
pub struct VuState {
    /// `__VU`.
    pub id: u64,
    /// `__ITER`.
    pub iteration: u64,
    /// The job's shared state.
    pub shared: Arc<ScriptShared>,
    /// Still running init code (no HTTP allowed).
    pub in_init: bool,
    /// Responses of this call, by id (freed at the end of the call).
    pub responses: Vec<Kept>,
    /// What this call recorded.
    pub events: Events,
    /// The current group path (`::a::b`, k6's `group` tag; empty at the top).
    pub group_path: String,
    /// Groups entered and not left: (length of the path before it, when).
    pub group_stack: Vec<(usize, Instant)>,
    /// Expected statuses (`setResponseCallback`).
    pub expected: Arc<Vec<(u16, u16)>>,
    /// When the call must end.
    pub deadline: Option<Instant>,
    /// Console lines logged (capped).
    pub console_lines: u64,
    /// `SharedArray`s this VU has read.
    pub arrays: BTreeMap<String, Arc<Vec<String>>>,
    /// The job stops: every wait throws.
    pub quitting: bool,
    /// The iteration's time is up.
    pub timed_out: bool,
    /// The VU's cookie jar.
    pub jar: super::cookies::Jar,
    /// The scenario of the running call, if the job runs scenarios.
    pub scenario: Option<Arc<ScenarioInfo>>,
    /// `exec.scenario.iterationInTest` of the running call, if counted.
    pub iteration_in_scenario: Option<u64>,
    /// The script has set a timer once (then each call runs the timer loop).
    pub timers_used: bool,
}

/// Shared handle on a VU's state.
pub type State = Rc<RefCell<VuState>>;

/// The message of an interrupted iteration.
pub fn timeout_message(limit: Duration) -> String {
    format!("iteration exceeded its time limit of {}", alilo_agent_api::format_duration(limit))
}

/// Waits inside a native: yields `out`, returns the driver's answer.
#[allow(deprecated)] // the free `yield_` is the one a 'static native can call
pub fn wait(out: Output) -> Input {
    generator::yield_::<Input, Output>(out).unwrap_or(Input::Quit)
}

/// A VU as its driver holds it. It is `Send` while suspended (everything
/// it yields and is given is), so a VU can be created (its init code run)
/// on a helper thread and handed to the worker that runs it: the QuickJS
/// runtime lives on the coroutine's own stack and heap and is only ever
/// used by one thread at a time.
pub struct Vu {
    co: Generator<'static, Input, Output>,
    /// `__VU`.
    pub id: u64,
    /// Which functions the script exports.
    pub exports: Exports,
    /// Iterations run.
    pub iterations: u64,
    quit: Arc<AtomicBool>,
}

impl Vu {
    /// Creates a VU and runs its init code.
    pub fn new(shared: Arc<ScriptShared>) -> Result<Vu, String> {
        let id = shared.next_vu_id();
        Vu::with_id(shared, id)
    }

    /// The VU of `setup()` and `teardown()` (`__VU` 0, as in k6).
    pub fn new_special(shared: Arc<ScriptShared>) -> Result<Vu, String> {
        Vu::with_id(shared, 0)
    }

    fn with_id(shared: Arc<ScriptShared>, id: u64) -> Result<Vu, String> {
        let quit = Arc::new(AtomicBool::new(false));
        let q = quit.clone();
        let mut co = Gn::<Input>::new_opt(STACK_WORDS, move || body(shared, id, q));
        match co.send(Input::Init) {
            Output::Ready(Ok(exports)) => Ok(Vu { co, id, exports, iterations: 0, quit }),
            Output::Ready(Err(e)) => {
                let _ = co.raw_send(Some(Input::Quit));
                Err(e)
            }
            _ => Err("the VU did not start".into()),
        }
    }

    /// Resumes the VU with `input`.
    pub fn send(&mut self, input: Input) -> Output {
        if self.co.is_done() {
            return Output::Gone;
        }
        self.co.raw_send(Some(input)).unwrap_or(Output::Gone)
    }
}

impl Drop for Vu {
    /// Ends the coroutine by letting the script unwind (each wait throws),
    /// never by cancelling it across QuickJS's frames.
    fn drop(&mut self) {
        self.quit.store(true, Ordering::Relaxed);
        for _ in 0..8 {
            if self.co.is_done() {
                return;
            }
            let _ = self.co.raw_send(Some(Input::Quit));
        }
    }
}

/// The coroutine: init, then one call per input until [`Input::Quit`].
fn body(shared: Arc<ScriptShared>, id: u64, quit: Arc<AtomicBool>) -> Output {
    let deadline: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
    let rt = match Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return Output::Ready(Err(format!("cannot create a JavaScript runtime: {e}"))),
    };
    rt.set_memory_limit(shared.config.memory_limit);
    rt.set_max_stack_size(JS_STACK_BYTES);
    let d = deadline.clone();
    let q = quit.clone();
    rt.set_interrupt_handler(Some(Box::new(move || {
        q.load(Ordering::Relaxed) || d.get().is_some_and(|d| Instant::now() >= d)
    })));
    let loader = ScriptLoader { files: shared.files.clone() };
    rt.set_loader(loader.clone(), loader);
    let ctx = match Context::full(&rt) {
        Ok(c) => c,
        Err(e) => return Output::Ready(Err(format!("cannot create a JavaScript context: {e}"))),
    };
    let state: State = Rc::new(RefCell::new(VuState {
        id,
        iteration: 0,
        shared: shared.clone(),
        in_init: true,
        responses: Vec::new(),
        events: Events::default(),
        group_path: String::new(),
        group_stack: Vec::new(),
        expected: Arc::new(vec![(200, 399)]),
        deadline: None,
        console_lines: 0,
        arrays: BTreeMap::new(),
        quitting: false,
        timed_out: false,
        jar: Default::default(),
        scenario: None,
        iteration_in_scenario: None,
        timers_used: false,
    }));
    // Init: natives, then the entry module; keep its exported functions.
    deadline.set(Some(Instant::now() + shared.config.iteration_timeout));
    let init = ctx.with(|ctx| -> Result<(Exports, Funcs), String> {
        natives::install(&ctx, &state).catch(&ctx).map_err(|e| describe(&e).message)?;
        let entry = shared.files.entry.clone();
        let src = shared.files.get(&entry).cloned().unwrap_or_default();
        let run = || -> rquickjs::Result<Object> {
            let m = Module::declare(ctx.clone(), entry.as_str(), src.to_vec())?;
            let (m, p) = m.eval()?;
            p.finish::<()>()?;
            m.namespace()
        };
        let ns = run().catch(&ctx).map_err(|e| {
            let e = describe(&e);
            format!("{}{}", e.message, location(&e.stack).map(|l| format!(" at {l}")).unwrap_or_default())
        })?;
        let get = |name: &str| -> Option<Persistent<Function<'static>>> {
            ns.get::<_, Option<Function>>(name).ok().flatten().map(|f| Persistent::save(&ctx, f))
        };
        let mut functions = Vec::new();
        for key in ns.keys::<String>().flatten() {
            if ns.get::<_, Value>(key.as_str()).is_ok_and(|v| v.is_function()) {
                functions.push(key);
            }
        }
        let funcs = Funcs {
            default: get("default"),
            setup: get("setup"),
            teardown: get("teardown"),
            ns: Persistent::save(&ctx, ns.clone()),
            named: HashMap::new(),
        };
        let options = match ns.get::<_, Option<Value>>("options") {
            Ok(Some(v)) if !v.is_undefined() => ctx.json_stringify(v).ok().flatten().and_then(|s| s.to_string().ok()),
            _ => None,
        };
        let exports = Exports {
            options,
            default: funcs.default.is_some(),
            setup: funcs.setup.is_some(),
            teardown: funcs.teardown.is_some(),
            functions,
        };
        Ok((exports, funcs))
    });
    deadline.set(None);
    state.borrow_mut().in_init = false;
    let (exports, mut funcs) = match init {
        Ok(x) => x,
        Err(e) => {
            drop(ctx);
            return Output::Ready(Err(e));
        }
    };
    let mut data: Option<Persistent<Value<'static>>> = None;
    // The scenario whose `env` is in `__ENV` now (none: the job's own).
    let mut env_of: Option<Arc<ScenarioInfo>> = None;
    let mut input = wait(Output::Ready(Ok(exports.clone())));
    loop {
        let start = match input {
            Input::Start(s) => s,
            Input::Quit => break,
            _ => {
                input = wait(Output::Done(Box::default()));
                continue;
            }
        };
        {
            let mut s = state.borrow_mut();
            s.iteration = start.iteration;
            s.deadline = Some(start.deadline);
            s.timed_out = false;
            s.quitting = false;
            s.scenario = start.scenario.clone();
            s.iteration_in_scenario = start.iteration_in_scenario;
            s.group_path.clear();
            s.group_stack.clear();
        }
        deadline.set(Some(start.deadline));
        let env_wanted = start.scenario.clone().filter(|s| !s.env.is_empty());
        if env_wanted.as_ref().map(Arc::as_ptr) != env_of.as_ref().map(Arc::as_ptr) {
            ctx.with(|ctx| set_env(&ctx, &shared.env, env_wanted.as_deref()));
            env_of = env_wanted;
        }
        let mut end = CallEnd::default();
        ctx.with(|ctx| {
            let _ = ctx.globals().set("__ITER", start.iteration);
            let r: rquickjs::Result<Option<String>> = (|| match start.call {
                Call::Default => {
                    let exec = start.scenario.as_ref().and_then(|s| s.exec.as_deref()).filter(|e| *e != "default");
                    let f = match exec {
                        None => match &funcs.default {
                            Some(f) => f.clone().restore(&ctx)?,
                            None => return Ok(None),
                        },
                        Some(name) => funcs.named(&ctx, name)?,
                    };
                    if data.is_none() {
                        let json = shared.setup_data.lock().expect("setup lock").clone();
                        let v = match json {
                            Some(j) => ctx.json_parse(j)?,
                            None => Value::new_undefined(ctx.clone()),
                        };
                        data = Some(Persistent::save(&ctx, v));
                    }
                    let d = data.clone().map(|d| d.restore(&ctx)).transpose()?;
                    let ret = f.call::<_, Value>((d,))?;
                    natives::event_loop(&ctx, &state, &ret)?;
                    Ok(None)
                }
                Call::Setup => {
                    let Some(f) = &funcs.setup else { return Ok(None) };
                    let mut v: Value = f.clone().restore(&ctx)?.call(())?;
                    natives::event_loop(&ctx, &state, &v)?;
                    if let Some(p) = v.as_promise() {
                        v = p.result::<Value>().transpose()?.unwrap_or_else(|| Value::new_undefined(ctx.clone()));
                    }
                    Ok(ctx.json_stringify(v)?.map(|s| s.to_string()).transpose()?)
                }
                Call::Teardown => {
                    let Some(f) = &funcs.teardown else { return Ok(None) };
                    let json = shared.setup_data.lock().expect("setup lock").clone();
                    let v = match json {
                        Some(j) => ctx.json_parse(j)?,
                        None => Value::new_undefined(ctx.clone()),
                    };
                    let ret = f.clone().restore(&ctx)?.call::<_, Value>((v,))?;
                    natives::event_loop(&ctx, &state, &ret)?;
                    Ok(None)
                }
            })();
            let r = r.catch(&ctx);
            // Timers of a call that threw die with it.
            let _ = natives::clear_timers(&ctx, &state);
            match r {
                Ok(result) => end.result = result,
                Err(e) => {
                    let mut err = describe(&e);
                    let s = state.borrow();
                    if s.timed_out || (err.message.contains("interrupted") && Instant::now() >= start.deadline) {
                        err.message = timeout_message(shared.config.iteration_timeout);
                    } else if s.quitting || quit.load(Ordering::Relaxed) {
                        err.message = "the job stopped during the iteration".into();
                    }
                    end.error = Some(err);
                }
            }
        });
        deadline.set(None);
        // Out of memory: QuickJS may not even manage to build the error, so
        // the runtime's usage decides too (read outside `with`: it locks).
        if let Some(err) = &end.error {
            let limit = shared.config.memory_limit as i64;
            let used = rt.memory_usage().malloc_size;
            if err.message.contains("out of memory") || used > limit - limit / 8 {
                end.fatal = Some(format!("VU {id} ran out of memory (limit {} MiB per VU)", limit >> 20));
            }
        }
        {
            let mut s = state.borrow_mut();
            end.events = std::mem::take(&mut s.events);
            s.responses.clear();
        }
        if end.fatal.is_some() {
            rt.run_gc();
        }
        input = wait(Output::Done(Box::new(end)));
    }
    // Free the script's values before the runtime goes.
    drop(funcs);
    drop(data);
    drop(ctx);
    Output::Gone
}

/// The entry module's functions, kept across calls.
struct Funcs {
    default: Option<Persistent<Function<'static>>>,
    setup: Option<Persistent<Function<'static>>>,
    teardown: Option<Persistent<Function<'static>>>,
    /// The module's namespace, for scenarios' `exec` functions.
    ns: Persistent<Object<'static>>,
    /// `exec` functions looked up so far.
    named: HashMap<String, Persistent<Function<'static>>>,
}

impl Funcs {
    /// The exported function `name` (a scenario's `exec`).
    fn named<'js>(&mut self, ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Function<'js>> {
        if let Some(f) = self.named.get(name) {
            return f.clone().restore(ctx);
        }
        let ns = self.ns.clone().restore(ctx)?;
        let f: Option<Function> = ns.get(name).ok().flatten();
        let Some(f) = f else {
            return Err(rquickjs::Exception::throw_reference(
                ctx,
                &format!("exec: {name} is not an exported function"),
            ));
        };
        self.named.insert(name.to_string(), Persistent::save(ctx, f.clone()));
        Ok(f)
    }
}

/// Sets `__ENV`: the job's entries, then the scenario's.
fn set_env(ctx: &Ctx<'_>, job: &BTreeMap<String, String>, scenario: Option<&ScenarioInfo>) {
    let Ok(env) = Object::new(ctx.clone()) else { return };
    for (k, v) in job.iter().chain(scenario.into_iter().flat_map(|s| s.env.iter())) {
        let _ = env.set(k.as_str(), v.as_str());
    }
    let _ = ctx.globals().set("__ENV", env);
}

/// An exception as message and stack.
pub fn describe(e: &CaughtError<'_>) -> JsError {
    match e {
        CaughtError::Exception(ex) => {
            let name: Option<String> = ex.as_object().get("name").ok();
            let msg = ex.message().unwrap_or_default();
            let message = match name {
                Some(n) if !n.is_empty() && n != "Error" => format!("{n}: {msg}"),
                _ => msg,
            };
            JsError { message, stack: ex.stack().unwrap_or_default() }
        }
        CaughtError::Value(v) => JsError { message: value_text(v), stack: String::new() },
        CaughtError::Error(e) => JsError { message: e.to_string(), stack: String::new() },
    }
}

fn value_text(v: &Value<'_>) -> String {
    if let Some(s) = v.as_string() {
        return s.to_string().unwrap_or_default();
    }
    v.ctx()
        .json_stringify(v.clone())
        .ok()
        .flatten()
        .and_then(|s| s.to_string().ok())
        .unwrap_or_else(|| format!("{v:?}"))
}

/// `file:line:column` of the innermost frame of a stack that is the
/// script's own (`    at f (main.js:3:5)`), skipping the built-in k6
/// modules and natives (so `fail()` points at its caller).
pub fn location(stack: &str) -> Option<String> {
    let frames: Vec<&str> = stack
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("at "))
        .map(|l| match (l.rfind('('), l.rfind(')')) {
            (Some(a), Some(b)) if a < b => &l[a + 1..b],
            _ => l.trim_start_matches("at ").trim(),
        })
        .collect();
    let own = |f: &&&str| !(**f == "native" || **f == "k6" || f.starts_with("k6:") || f.starts_with("k6/"));
    frames.iter().find(own).or(frames.first()).map(|f| f.to_string())
}

/// A throwaway context whose imports resolve among `files`, for checks.
pub fn with_context<R>(files: &Arc<super::Files>, f: impl for<'js> FnOnce(Ctx<'js>) -> R) -> Result<R, String> {
    let rt = Runtime::new().map_err(|e| e.to_string())?;
    rt.set_memory_limit(64 << 20);
    let loader = ScriptLoader { files: files.clone() };
    rt.set_loader(loader.clone(), loader);
    let ctx = Context::full(&rt).map_err(|e| e.to_string())?;
    Ok(ctx.with(f))
}
