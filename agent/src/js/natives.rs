//! The Rust functions behind the k6 modules, on the hidden global
//! `__alilo`, plus the globals a script sees: `__ENV`, `__VU`, `__ITER`,
//! `open()` and `console`. A native that must wait yields to the driver
//! ([`super::vu::wait`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use rquickjs::convert::Coerced;
use rquickjs::function::IntoJsFunc;
use rquickjs::function::Opt;
use rquickjs::{Array, ArrayBuffer, Ctx, Exception, Function, Object, Result, TypedArray, Value};

use super::vu::{HttpCall, Input, Kept, MetricKind, Output, ResponseType, State, timeout_message, wait};
use crate::client::ErrorKind;
use crate::client::exchange::{HttpRequest, HttpResponse, RequestOptions, ResponseBody};

/// How deep groups may nest.
const MAX_GROUP_DEPTH: usize = 32;
/// Console lines one VU may log (then they are dropped).
const MAX_CONSOLE_LINES: u64 = 1000;

/// The globals defined in JavaScript over the natives.
const PRELUDE: &str = r#"
(() => {
  const A = globalThis.__alilo;
  const fmt = (v) => {
    if (typeof v === "string") return v;
    if (v instanceof Error) return String(v);
    try { const s = JSON.stringify(v); return s === undefined ? String(v) : s; } catch (e) { return String(v); }
  };
  const line = (level) => (...args) => A.log(level, args.map(fmt).join(" "));
  globalThis.console = { log: line("info"), info: line("info"), warn: line("warn"), error: line("error"), debug: line("debug") };
  globalThis.open = (path, mode) => A.open(String(path), mode === "b");
  // Timers (k6's semantics): callbacks run inside the iteration that set
  // them, and the iteration ends only when none is left (an interval runs
  // until it is cleared or the iteration's time is up). The VU's event loop
  // (vu.rs) asks `timersNext` how long to wait and calls `timersFire`.
  const timers = new Map();
  let nextId = 1;
  let seq = 0;
  const add = (what, fn, ms, args, repeat) => {
    if (typeof fn !== "function") throw new TypeError(what + ": the callback must be a function");
    if (A.inInit()) throw new Error(what + " is not supported in the init context (call it inside a function)");
    ms = Number(ms);
    if (!(ms > 0)) ms = 0;
    if (repeat && ms < 1) ms = 1;
    if (timers.size === 0) A.timersUsed();
    const id = nextId++;
    timers.set(id, { id, fn, args, ms, repeat, due: Date.now() + ms, seq: seq++ });
    return id;
  };
  const earliest = () => {
    let best;
    for (const t of timers.values()) if (best === undefined || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t;
    return best;
  };
  globalThis.setTimeout = (fn, ms, ...args) => add("setTimeout", fn, ms, args, false);
  globalThis.setInterval = (fn, ms, ...args) => add("setInterval", fn, ms, args, true);
  globalThis.clearTimeout = (id) => { timers.delete(id); };
  globalThis.clearInterval = (id) => { timers.delete(id); };
  A.timersNext = () => { const t = earliest(); return t === undefined ? -1 : Math.max(0, t.due - Date.now()); };
  A.timersFire = () => {
    const t = earliest();
    if (t === undefined) return;
    if (t.repeat) { t.due += t.ms; t.seq = seq++; } else timers.delete(t.id);
    t.fn(...t.args);
  };
  A.timersClear = () => timers.clear();
  Object.defineProperty(globalThis, "__alilo", { enumerable: false });
})();
"#;

fn set<'js, P, F: IntoJsFunc<'js, P> + 'js>(obj: &Object<'js>, name: &str, f: F) -> Result<()> {
    obj.set(name, Function::new(obj.ctx().clone(), f)?.with_name(name)?)
}

fn throw(ctx: &Ctx<'_>, msg: impl AsRef<str>) -> rquickjs::Error {
    Exception::throw_message(ctx, msg.as_ref())
}

/// Installs `__alilo` and the globals into a VU's context.
pub fn install<'js>(ctx: &Ctx<'js>, state: &State) -> Result<()> {
    let g = ctx.globals();
    let a = Object::new(ctx.clone())?;
    let shared = state.borrow().shared.clone();
    let env = Object::new(ctx.clone())?;
    for (k, v) in &shared.env {
        env.set(k.as_str(), v.as_str())?;
    }
    g.set("__ENV", env)?;
    g.set("__VU", state.borrow().id)?;
    g.set("__ITER", 0)?;

    let st = state.clone();
    set(&a, "log", move |level: String, msg: String| {
        let mut s = st.borrow_mut();
        s.console_lines += 1;
        if s.console_lines <= MAX_CONSOLE_LINES {
            let vu = s.id;
            match level.as_str() {
                "error" => tracing::error!(target: "script", vu, "{msg}"),
                "warn" => tracing::warn!(target: "script", vu, "{msg}"),
                "debug" => tracing::debug!(target: "script", vu, "{msg}"),
                _ => tracing::info!(target: "script", vu, "{msg}"),
            }
        }
    })?;

    let st = state.clone();
    set(&a, "inInit", move || st.borrow().in_init)?;
    let st = state.clone();
    set(&a, "timersUsed", move || st.borrow_mut().timers_used = true)?;

    let st = state.clone();
    set(&a, "open", move |ctx: Ctx<'js>, path: String, binary: bool| -> Result<Value<'js>> {
        let files = st.borrow().shared.files.clone();
        let bytes = files.open(&files.entry, &path).map_err(|e| throw(&ctx, e))?;
        if binary {
            Ok(ArrayBuffer::new_copy(ctx, &bytes[..])?.into_value())
        } else {
            Ok(rquickjs::String::from_str(ctx, &String::from_utf8_lossy(&bytes))?.into_value())
        }
    })?;

    // k6
    let st = state.clone();
    set(&a, "check", move |name: String, ok: bool, tags: Opt<Value<'js>>| -> Result<()> {
        let own = own_tags(tags.0)?;
        let mut s = st.borrow_mut();
        let tags = sample_tags(&s, own);
        let bump = |e: &mut (u64, u64)| if ok { e.0 += 1 } else { e.1 += 1 };
        if !tags.is_empty() {
            bump(s.events.tagged_checks.entry((name.clone(), tags)).or_default());
        }
        let key = (s.group_path.clone(), name);
        bump(s.events.checks.entry(key).or_default());
        Ok(())
    })?;
    let st = state.clone();
    set(&a, "groupEnter", move |ctx: Ctx<'js>, name: String| -> Result<()> {
        if name.contains("::") {
            return Err(throw(&ctx, format!("group name {name:?} may not contain '::'")));
        }
        let mut s = st.borrow_mut();
        if s.group_stack.len() >= MAX_GROUP_DEPTH {
            return Err(throw(&ctx, format!("groups nest at most {MAX_GROUP_DEPTH} deep")));
        }
        let before = s.group_path.len();
        s.group_stack.push((before, Instant::now()));
        s.group_path.push_str("::");
        s.group_path.push_str(&name);
        Ok(())
    })?;
    let st = state.clone();
    set(&a, "groupLeave", move || {
        let mut s = st.borrow_mut();
        if let Some((before, since)) = s.group_stack.pop() {
            let path = s.group_path.clone();
            s.events.groups.push((path, since.elapsed().as_micros() as u64));
            s.group_path.truncate(before);
        }
    })?;
    let st = state.clone();
    set(&a, "sleep", move |ctx: Ctx<'js>, secs: f64| -> Result<()> {
        if !secs.is_finite() || secs <= 0.0 {
            return Ok(());
        }
        if st.borrow().in_init {
            return Err(throw(&ctx, "sleep() is not allowed in the init context"));
        }
        if st.borrow().quitting {
            return Err(throw(&ctx, "the job is stopping"));
        }
        let answer = wait(Output::Sleep(Duration::from_secs_f64(secs.min(86_400.0))));
        waited(&ctx, &st, answer).map(|_| ())
    })?;

    // k6/http
    let st = state.clone();
    set(
        &a,
        "request",
        move |ctx: Ctx<'js>,
              method: String,
              url: Value<'js>,
              body: Value<'js>,
              params: Opt<Value<'js>>|
              -> Result<f64> {
            let (call, kept, follow) = build(&ctx, &st, &method, url, body, params.0)?;
            let (resp, kept) = send_following(&ctx, &st, call, kept, follow)?;
            Ok(response(&st, resp, kept))
        },
    )?;
    let st = state.clone();
    set(&a, "batch", move |ctx: Ctx<'js>, reqs: Vec<Vec<Value<'js>>>| -> Result<Vec<f64>> {
        let mut chains = Vec::new();
        for r in reqs {
            let mut it = r.into_iter();
            let method: String =
                it.next().map(|m| m.get::<Coerced<String>>().map(|c| c.0)).transpose()?.unwrap_or_default();
            let url = it.next().unwrap_or_else(|| Value::new_undefined(ctx.clone()));
            let body = it.next().unwrap_or_else(|| Value::new_null(ctx.clone()));
            let params = it.next();
            let (call, kept, follow) = build(&ctx, &st, &method, url, body, params)?;
            if follow.digest.is_some() {
                return Err(throw(
                    &ctx,
                    "params.auth digest is not supported in http.batch (send it with http.request)",
                ));
            }
            chains.push(Chain::new(call, kept, follow));
        }
        // Sent together; each request's redirects are followed here, hop by
        // hop, as for http.request: every hop's cookies are in the jar
        // before the next round is sent (with the jar's cookies).
        let mut done: Vec<Option<HttpResponse>> = chains.iter().map(|_| None).collect();
        let mut pending: Vec<usize> = (0..chains.len()).collect();
        while !pending.is_empty() {
            let calls: Vec<HttpCall> = pending.iter().map(|i| *chains[*i].take_call()).collect();
            let answers = match waited(&ctx, &st, wait(Output::Batch(calls)))? {
                Input::Batch(a) => a,
                _ => return Err(throw(&ctx, "internal error: unexpected answer to a batch")),
            };
            let mut next = Vec::new();
            for (i, (resp, call)) in pending.into_iter().zip(answers) {
                if let Some(r) = chains[i].step(&st, resp, call)? {
                    done[i] = Some(r);
                } else {
                    next.push(i);
                }
            }
            pending = next;
        }
        Ok(chains.into_iter().zip(done).map(|(c, r)| response(&st, r.expect("every chain ended"), c.kept)).collect())
    })?;
    let st = state.clone();
    set(&a, "responseBody", move |ctx: Ctx<'js>, id: usize| -> Result<Value<'js>> {
        let s = st.borrow();
        let Some(k) = s.responses.get(id) else {
            return Err(throw(&ctx, "the response's body is gone: responses are readable only during their iteration"));
        };
        match k.response_type {
            ResponseType::None => Ok(Value::new_null(ctx)),
            ResponseType::Binary => Ok(ArrayBuffer::new_copy(ctx, &k.resp.body[..])?.into_value()),
            ResponseType::Text => {
                Ok(rquickjs::String::from_str(ctx, &String::from_utf8_lossy(&k.resp.body))?.into_value())
            }
        }
    })?;
    let st = state.clone();
    set(&a, "htmlSelect", move |ctx: Ctx<'js>, id: usize, steps: Vec<Vec<Value<'js>>>| -> Result<Array<'js>> {
        let mut parsed = Vec::with_capacity(steps.len());
        for s in steps {
            let kind: String =
                s.first().map(|v| v.get::<Coerced<String>>().map(|c| c.0)).transpose()?.unwrap_or_default();
            let arg = s.get(1).cloned().unwrap_or_else(|| Value::new_undefined(ctx.clone()));
            parsed.push(match kind.as_str() {
                "find" => super::html::Step::Find(arg.get::<Coerced<String>>()?.0),
                _ => super::html::Step::Eq(arg.get::<Coerced<f64>>()?.0 as i64),
            });
        }
        let found = {
            let s = st.borrow();
            let Some(k) = s.responses.get(id) else {
                return Err(throw(
                    &ctx,
                    "the response's body is gone: responses are readable only during their iteration",
                ));
            };
            super::html::select(&String::from_utf8_lossy(&k.resp.body), &parsed).map_err(|e| throw(&ctx, e))?
        };
        let out = Array::new(ctx.clone())?;
        for (i, e) in found.into_iter().enumerate() {
            let el = Array::new(ctx.clone())?;
            el.set(0, e.name)?;
            el.set(1, e.text)?;
            el.set(2, e.html)?;
            let attrs = Object::new(ctx.clone())?;
            for (k, v) in e.attrs {
                attrs.set(k, v)?;
            }
            el.set(3, attrs)?;
            out.set(i, el)?;
        }
        Ok(out)
    })?;
    let st = state.clone();
    set(&a, "responseHeaders", move |ctx: Ctx<'js>, id: usize| -> Result<Object<'js>> {
        let s = st.borrow();
        let o = Object::new(ctx.clone())?;
        if let Some(k) = s.responses.get(id) {
            headers_object(&o, &k.resp.headers)?;
        }
        Ok(o)
    })?;
    let st = state.clone();
    set(&a, "responseTimings", move |ctx: Ctx<'js>, id: usize| -> Result<Object<'js>> {
        let s = st.borrow();
        let o = Object::new(ctx.clone())?;
        if let Some(k) = s.responses.get(id) {
            let t = &k.resp.last.timings;
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            o.set("blocked", ms(t.blocked))?;
            o.set("connecting", ms(t.connecting))?;
            o.set("tls_handshaking", ms(t.tls_handshaking))?;
            o.set("sending", ms(t.sending))?;
            o.set("waiting", ms(t.waiting))?;
            o.set("receiving", ms(t.receiving))?;
            o.set("duration", ms(t.duration))?;
        }
        Ok(o)
    })?;
    let st = state.clone();
    set(&a, "responseCookies", move |ctx: Ctx<'js>, id: usize| -> Result<Object<'js>> {
        let s = st.borrow();
        let o = Object::new(ctx.clone())?;
        if let Some(k) = s.responses.get(id) {
            for v in k.resp.headers.get_all(http::header::SET_COOKIE) {
                let Ok(v) = v.to_str() else { continue };
                let first = v.split(';').next().unwrap_or("");
                let Some((name, value)) = first.split_once('=') else { continue };
                let c = Object::new(ctx.clone())?;
                c.set("name", name.trim())?;
                c.set("value", value.trim())?;
                let list: Vec<Object> = o.get::<_, Option<Vec<Object>>>(name.trim())?.unwrap_or_default();
                let mut list = list;
                list.push(c);
                o.set(name.trim(), list)?;
            }
        }
        Ok(o)
    })?;
    let st = state.clone();
    set(&a, "responseMeta", move |ctx: Ctx<'js>, id: usize| -> Result<Object<'js>> {
        let s = st.borrow();
        let o = Object::new(ctx.clone())?;
        if let Some(k) = s.responses.get(id) {
            o.set("url", k.resp.last.url.as_str())?;
            o.set("proto", k.resp.last.proto.map(|p| p.as_str()).unwrap_or(""))?;
            o.set("error", error_code(&k.resp).1)?;
        }
        Ok(o)
    })?;
    let st = state.clone();
    set(&a, "responseRemote", move |ctx: Ctx<'js>, id: usize| -> Result<Object<'js>> {
        let s = st.borrow();
        let o = Object::new(ctx.clone())?;
        let addr = s.responses.get(id).and_then(|k| k.resp.last.remote_addr);
        o.set("ip", addr.map(|a| a.ip().to_string()).unwrap_or_default())?;
        o.set("port", addr.map(|a| a.port()).unwrap_or(0))?;
        Ok(o)
    })?;
    let st = state.clone();
    set(&a, "responseRequest", move |ctx: Ctx<'js>, id: usize| -> Result<Object<'js>> {
        let s = st.borrow();
        let o = Object::new(ctx.clone())?;
        if let Some(k) = s.responses.get(id) {
            o.set("method", k.req_method.as_str())?;
            o.set("url", k.resp.hops().next().map(|h| h.url.as_str()).unwrap_or(""))?;
            o.set("body", String::from_utf8_lossy(&k.req_body).as_ref())?;
            let h = Object::new(ctx.clone())?;
            headers_object(&h, &k.req_headers)?;
            o.set("headers", h)?;
        }
        Ok(o)
    })?;
    let st = state.clone();
    set(&a, "setExpected", move |ranges: Option<Vec<Vec<f64>>>| {
        let ranges = ranges
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.len() == 2)
            .map(|r| (r[0].clamp(0.0, 999.0) as u16, r[1].clamp(0.0, 999.0) as u16))
            .collect();
        st.borrow_mut().expected = std::sync::Arc::new(ranges);
    })?;

    // The VU's cookie jar (`http.cookieJar()`).
    let st = state.clone();
    set(&a, "jarSet", move |url: String, name: String, value: String, o: Object<'js>| -> Result<()> {
        let Ok(u) = url::Url::parse(&url) else { return Ok(()) };
        let options = super::cookies::SetOptions {
            domain: o.get("domain")?,
            path: o.get("path")?,
            expires: o.get("expires")?,
            max_age: o.get::<_, Option<f64>>("max_age")?.map(|s| s as i64),
            secure: o.get("secure")?,
        };
        st.borrow_mut().jar.set(&u, &name, &value, &options, std::time::SystemTime::now());
        Ok(())
    })?;
    let st = state.clone();
    set(&a, "jarGet", move |ctx: Ctx<'js>, url: String| -> Result<Object<'js>> {
        let o = Object::new(ctx.clone())?;
        if let Ok(u) = url::Url::parse(&url) {
            let s = st.borrow();
            for c in s.jar.for_url(&u, std::time::SystemTime::now()) {
                let mut values: Vec<String> = o.get::<_, Option<Vec<String>>>(c.name.as_str())?.unwrap_or_default();
                values.push(c.value.clone());
                o.set(c.name.as_str(), values)?;
            }
        }
        Ok(o)
    })?;
    let st = state.clone();
    set(&a, "jarClear", move |url: String, name: Opt<String>| {
        if let Ok(u) = url::Url::parse(&url) {
            st.borrow_mut().jar.clear(&u, name.0.as_deref());
        }
    })?;

    // k6/metrics
    let st = state.clone();
    set(
        &a,
        "metric",
        move |ctx: Ctx<'js>, kind: String, name: String, value: f64, tags: Opt<Value<'js>>| -> Result<()> {
            let kind = match kind.as_str() {
                "counter" => MetricKind::Counter,
                "gauge" => MetricKind::Gauge,
                "rate" => MetricKind::Rate,
                "trend" => MetricKind::Trend,
                k => return Err(throw(&ctx, format!("unknown metric type {k}"))),
            };
            if !value.is_finite() {
                return Err(throw(&ctx, format!("metric {name}: {value} is not a finite number")));
            }
            let own = own_tags(tags.0)?;
            let mut s = st.borrow_mut();
            let tags = sample_tags(&s, own);
            if !tags.is_empty() {
                s.events.tagged_metrics.push((kind, name.clone(), value, tags));
            }
            s.events.metrics.push((kind, name, value));
            Ok(())
        },
    )?;

    // k6/encoding and k6/crypto
    set(&a, "b64encode", |ctx: Ctx<'js>, input: Value<'js>, variant: String| -> Result<String> {
        let bytes = input_bytes(&ctx, &input)?;
        Ok(b64(&ctx, &variant)?.encode(bytes))
    })?;
    set(&a, "b64decode", |ctx: Ctx<'js>, input: String, variant: String, as_string: bool| -> Result<Value<'js>> {
        let engine = b64(&ctx, &variant)?;
        let bytes = engine
            .decode(input.trim_end_matches('=').as_bytes())
            .or_else(|_| engine.decode(input.as_bytes()))
            .map_err(|e| throw(&ctx, format!("b64decode: {e}")))?;
        if as_string {
            Ok(rquickjs::String::from_str(ctx, &String::from_utf8_lossy(&bytes))?.into_value())
        } else {
            Ok(ArrayBuffer::new(ctx, bytes)?.into_value())
        }
    })?;
    set(&a, "hash", |ctx: Ctx<'js>, alg: String, input: Value<'js>, enc: String| -> Result<Value<'js>> {
        let data = input_bytes(&ctx, &input)?;
        let digest = super::crypto::digest(&alg, &data).map_err(|e| throw(&ctx, e))?;
        encode_out(&ctx, digest, &enc)
    })?;
    set(
        &a,
        "hmac",
        |ctx: Ctx<'js>, alg: String, secret: Value<'js>, input: Value<'js>, enc: String| -> Result<Value<'js>> {
            let key = input_bytes(&ctx, &secret)?;
            let data = input_bytes(&ctx, &input)?;
            let mac = super::crypto::hmac(&alg, &key, &data).map_err(|e| throw(&ctx, e))?;
            encode_out(&ctx, mac, &enc)
        },
    )?;
    set(&a, "randomBytes", |ctx: Ctx<'js>, n: usize| -> Result<ArrayBuffer<'js>> {
        if n > 1 << 20 {
            return Err(throw(&ctx, "randomBytes: at most 1 MiB"));
        }
        let mut buf = vec![0u8; n];
        getrandom::fill(&mut buf).map_err(|e| throw(&ctx, format!("randomBytes: {e}")))?;
        ArrayBuffer::new(ctx, buf)
    })?;
    set(&a, "concat", |ctx: Ctx<'js>, parts: Vec<Value<'js>>| -> Result<ArrayBuffer<'js>> {
        let mut out = Vec::new();
        for p in &parts {
            out.extend_from_slice(&input_bytes(&ctx, p)?);
        }
        ArrayBuffer::new(ctx, out)
    })?;

    // k6/data
    let st = state.clone();
    set(&a, "sharedArray", move |ctx: Ctx<'js>, name: String, f: Function<'js>| -> Result<usize> {
        let shared = st.borrow().shared.clone();
        let existing = shared.shared_arrays.lock().expect("arrays lock").get(&name).cloned();
        let arr = match existing {
            Some(a) => a,
            None => {
                let v: Vec<Value> = f.call(())?;
                let mut elems = Vec::with_capacity(v.len());
                for e in v {
                    elems.push(
                        ctx.json_stringify(e)?.map(|s| s.to_string()).transpose()?.unwrap_or_else(|| "null".into()),
                    );
                }
                let arr = Arc::new(elems);
                shared.shared_arrays.lock().expect("arrays lock").entry(name.clone()).or_insert(arr).clone()
            }
        };
        let len = arr.len();
        st.borrow_mut().arrays.insert(name, arr);
        Ok(len)
    })?;
    let st = state.clone();
    set(&a, "sharedGet", move |ctx: Ctx<'js>, name: String, i: usize| -> Result<String> {
        let s = st.borrow();
        s.arrays
            .get(&name)
            .and_then(|a| a.get(i).cloned())
            .ok_or_else(|| throw(&ctx, format!("SharedArray {name}: no element {i}")))
    })?;

    // k6/execution
    let st = state.clone();
    set(&a, "vuId", move || st.borrow().id)?;
    let st = state.clone();
    set(&a, "iterationInVu", move || st.borrow().iteration)?;
    let (sh, st) = (shared.clone(), state.clone());
    set(&a, "iterationInTest", move || {
        st.borrow()
            .iteration_in_scenario
            .unwrap_or_else(|| sh.iterations_started.load(std::sync::atomic::Ordering::Relaxed).saturating_sub(1))
    })?;
    let st = state.clone();
    set(&a, "scenarioName", move || {
        st.borrow().scenario.as_ref().map_or_else(|| "default".to_string(), |s| s.name.clone())
    })?;
    let st = state.clone();
    set(&a, "scenarioExecutor", move || {
        st.borrow().scenario.as_ref().map_or("ramping-arrival-rate", |s| s.executor).to_string()
    })?;
    let sh = shared.clone();
    let st = state.clone();
    set(&a, "startTime", move || {
        // The scenario's start when the job runs scenarios, else the job's.
        let started = st.borrow().scenario.as_ref().and_then(|s| s.started.get().copied()).unwrap_or(sh.started);
        crate::engine::job::unix_ms().saturating_sub(started.elapsed().as_millis() as u64) as f64
    })?;
    let (sh, st) = (shared.clone(), state.clone());
    set(&a, "progress", move || {
        let (started, length) = match st.borrow().scenario.as_ref().and_then(|s| Some((*s.started.get()?, s.length))) {
            Some(x) => x,
            None => (sh.started, sh.duration),
        };
        if length.is_zero() { 0.0 } else { (started.elapsed().as_secs_f64() / length.as_secs_f64()).min(1.0) }
    })?;
    let sh = shared.clone();
    set(&a, "vusActive", move || sh.vus_active.load(std::sync::atomic::Ordering::Relaxed))?;
    let sh = shared.clone();
    set(&a, "vusInitialized", move || sh.vus_created.load(std::sync::atomic::Ordering::Relaxed))?;
    let sh = shared.clone();
    set(&a, "iterationsCompleted", move || sh.iterations_completed.load(std::sync::atomic::Ordering::Relaxed))?;
    let sh = shared.clone();
    set(&a, "runDuration", move || sh.started.elapsed().as_secs_f64() * 1000.0)?;
    let sh = shared.clone();
    set(&a, "abort", move |ctx: Ctx<'js>, reason: String| -> Result<()> {
        let mut a = sh.abort.lock().expect("abort lock");
        if a.is_none() {
            *a = Some(reason.clone());
        }
        Err(throw(&ctx, format!("test aborted: {reason}")))
    })?;

    g.set("__alilo", a)?;
    ctx.eval::<(), _>(PRELUDE)?;
    Ok(())
}

/// The VU's event loop after a call returned `ret`: runs queued promise
/// jobs, waits for and fires due timers until none is left, then turns a
/// rejected promise (an `async` function that threw) into the call's
/// exception. As in k6, the iteration ends only when its timers are done.
pub fn event_loop<'js>(ctx: &Ctx<'js>, st: &State, ret: &Value<'js>) -> Result<()> {
    let mut timers: Option<(Function<'js>, Function<'js>)> = None;
    loop {
        for _ in 0..100_000 {
            if !ctx.execute_pending_job() {
                break;
            }
        }
        if !st.borrow().timers_used {
            break;
        }
        if timers.is_none() {
            let a: Object = ctx.globals().get("__alilo")?;
            timers = Some((a.get("timersNext")?, a.get("timersFire")?));
        }
        let (next, fire) = timers.as_ref().expect("set above");
        let ms: f64 = next.call(())?;
        if ms < 0.0 {
            break;
        }
        let (quitting, deadline) = {
            let s = st.borrow();
            (s.quitting, s.deadline)
        };
        if quitting {
            return Err(throw(ctx, "the job is stopping"));
        }
        if ms > 0.0 {
            let answer = wait(Output::Sleep(Duration::from_secs_f64(ms / 1000.0)));
            waited(ctx, st, answer)?;
        } else if deadline.is_some_and(|d| Instant::now() >= d) {
            let limit = st.borrow().shared.config.iteration_timeout;
            st.borrow_mut().timed_out = true;
            return Err(throw(ctx, timeout_message(limit)));
        }
        fire.call::<_, ()>(())?;
    }
    if let Some(p) = ret.as_promise()
        && let Some(Err(e)) = p.result::<Value>()
    {
        return Err(e);
    }
    Ok(())
}

/// Drops the timers a call left (it threw, or its time is up).
pub fn clear_timers(ctx: &Ctx<'_>, st: &State) -> Result<()> {
    if st.borrow().timers_used {
        let a: Object = ctx.globals().get("__alilo")?;
        a.get::<_, Function>("timersClear")?.call::<_, ()>(())?;
    }
    Ok(())
}

/// Turns the driver's answer to a wait into a value or an exception.
fn waited(ctx: &Ctx<'_>, st: &State, answer: Input) -> Result<Input> {
    match answer {
        Input::Quit => {
            st.borrow_mut().quitting = true;
            Err(throw(ctx, "the job is stopping"))
        }
        Input::TimedOut => {
            let limit = st.borrow().shared.config.iteration_timeout;
            st.borrow_mut().timed_out = true;
            Err(throw(ctx, timeout_message(limit)))
        }
        a => Ok(a),
    }
}

/// The response object a script sees (its body, headers and timings are
/// getters of `Response.prototype` in `modules/http.js`).
///
/// What comes back is one number, `(id × 2048 + error_code) × 1024 +
/// status`, decoded by the `Response` constructor: an array or named
/// properties set from Rust cost thousands of instructions per request
/// (callgrind), a number none. Everything else is read lazily by id.
fn response(st: &State, resp: HttpResponse, kept: KeptReq) -> f64 {
    let (code, _) = error_code(&resp);
    let status = resp.last.status.min(1023);
    let mut s = st.borrow_mut();
    let id = s.responses.len();
    s.responses.push(Kept {
        resp,
        response_type: kept.response_type,
        req_headers: kept.headers,
        req_body: kept.body,
        req_method: kept.method,
    });
    ((id as f64) * 2048.0 + f64::from(code.min(2047))) * 1024.0 + f64::from(status)
}

/// k6's `error_code` and `error` of a response.
pub fn error_code(resp: &HttpResponse) -> (u32, String) {
    if let Some(e) = &resp.last.error {
        let code = match e.kind {
            ErrorKind::Timeout => 1050,
            ErrorKind::Dns => 1100,
            ErrorKind::Connect => 1212,
            ErrorKind::Reset => 1220,
            ErrorKind::Tls => 1300,
            ErrorKind::InvalidRequest => 1020,
            ErrorKind::BodyTooLarge | ErrorKind::NotAllowed | ErrorKind::Other => 1000,
        };
        return (code, e.message.clone());
    }
    let s = resp.last.status;
    if (400..600).contains(&s) { (1000 + s as u32, String::new()) } else { (0, String::new()) }
}

/// The `Set-Cookie`s of a response to `url`, into the VU's jar.
fn store_cookies(st: &State, url: &str, headers: &HeaderMap) {
    if !headers.contains_key(http::header::SET_COOKIE) {
        return;
    }
    let Ok(u) = url::Url::parse(url) else { return };
    let now = std::time::SystemTime::now();
    let mut s = st.borrow_mut();
    for v in headers.get_all(http::header::SET_COOKIE) {
        if let Ok(v) = v.to_str() {
            s.jar.store(&u, v, now);
        }
    }
}

/// Adds the jar's cookies for `url` to `headers`, except names already
/// given (by `params.cookies` or a `Cookie` header).
fn add_jar_cookies(st: &State, url: &str, headers: &mut HeaderMap) {
    let s = st.borrow();
    if s.jar.is_empty() {
        return;
    }
    let Ok(u) = url::Url::parse(url) else { return };
    let jar = s.jar.for_url(&u, std::time::SystemTime::now());
    if jar.is_empty() {
        return;
    }
    let given: Vec<String> = headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';').filter_map(|p| p.split_once('=')).map(|(k, _)| k.trim().to_string()))
        .collect();
    let mut pairs: Vec<String> =
        headers.get_all(http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect();
    let before = pairs.len();
    pairs.extend(jar.iter().filter(|c| !given.contains(&c.name)).map(|c| format!("{}={}", c.name, c.value)));
    // One `Cookie` header (RFC 6265 5.4): the script's, then the jar's.
    if pairs.len() > before
        && let Ok(v) = HeaderValue::from_str(&pairs.join("; "))
    {
        headers.insert(http::header::COOKIE, v);
    }
}

/// `params.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    None,
    Basic,
    Digest,
}

/// How a request's answers are followed up (by a [`Chain`]).
struct Follow {
    /// The first hop expects a 401 challenge (so it is not a failure).
    challenge: bool,
    /// Redirects to follow (`params.redirects`, 10 by default).
    max_redirects: u32,
    /// `auth: "digest"`: the URL's credentials.
    digest: Option<(String, String)>,
    /// The `Cookie` header the script gave (before the jar's were added).
    explicit_cookies: Vec<HeaderValue>,
}

/// Sends a request, following redirects here rather than in the client so
/// that each hop's `Set-Cookie` lands in the VU's jar before the next hop
/// is sent (with the jar's cookies for its URL), and answering one Digest
/// challenge. Every hop is recorded by the driver as it is sent.
fn send_following(
    ctx: &Ctx<'_>,
    st: &State,
    call: HttpCall,
    kept: KeptReq,
    follow: Follow,
) -> Result<(HttpResponse, KeptReq)> {
    let mut chain = Chain::new(call, kept, follow);
    loop {
        let answer = wait(Output::Http(chain.take_call()));
        let (resp, back) = match waited(ctx, st, answer)? {
            Input::Http(resp, back) => (*resp, back),
            _ => return Err(throw(ctx, "internal error: unexpected answer to an HTTP call")),
        };
        if let Some(r) = chain.step(st, resp, back)? {
            return Ok((r, chain.kept));
        }
    }
}

/// One request of a script followed hop by hop: redirects (each hop's
/// `Set-Cookie` into the jar before the next is sent) and one Digest
/// challenge. [`Chain::step`] takes each answer and prepares the next hop.
struct Chain {
    /// The call to send next (taken while it is sent).
    call: Option<Box<HttpCall>>,
    kept: KeptReq,
    follow: Follow,
    started: Instant,
    timeout: Duration,
    options: RequestOptions,
    /// What a follow-up hop sends (method, body, headers): copied from the
    /// request only once there is one, so a plain request copies nothing.
    again: Option<(http::Method, Bytes, HeaderMap)>,
    hops: Vec<crate::client::exchange::Hop>,
    digest_sent: bool,
    /// The script's own cookies go to the host it named, not beyond.
    same_host: bool,
}

impl Chain {
    fn new(call: HttpCall, kept: KeptReq, follow: Follow) -> Chain {
        Chain {
            started: Instant::now(),
            timeout: call.req.options.timeout,
            options: call.req.options.clone(),
            call: Some(Box::new(call)),
            kept,
            follow,
            again: None,
            hops: Vec::new(),
            digest_sent: false,
            same_host: true,
        }
    }

    /// The call to send now.
    fn take_call(&mut self) -> Box<HttpCall> {
        self.call.take().expect("a chain's call is sent once per hop")
    }

    /// Takes the answer to the hop sent (and its call back): the chain's
    /// response when it ends, else `None` with the next hop ready.
    fn step(&mut self, st: &State, mut resp: HttpResponse, mut call: Box<HttpCall>) -> Result<Option<HttpResponse>> {
        store_cookies(st, &resp.last.url, &resp.headers);
        let kept = &self.kept;
        let url = resp.last.url.as_str();
        let next = if resp.last.error.is_some() {
            None
        } else if resp.last.status == 401 && !self.digest_sent && self.follow.digest.is_some() {
            let (user, pass) = self.follow.digest.as_ref().expect("checked");
            let offered = resp.headers.get_all(http::header::WWW_AUTHENTICATE);
            let (method, _, headers) =
                self.again.get_or_insert_with(|| (kept.method.clone(), kept.body.clone(), kept.headers.clone()));
            let sent = super::digest::pick(offered.iter().filter_map(|v| v.to_str().ok())).and_then(|c| {
                let u = url::Url::parse(url).ok()?;
                let target = match u.query() {
                    Some(q) => format!("{}?{q}", u.path()),
                    None => u.path().to_string(),
                };
                let cnonce = super::digest::cnonce();
                let value = super::digest::authorization(&c, user, pass, method.as_str(), &target, &cnonce);
                headers.insert(http::header::AUTHORIZATION, HeaderValue::from_str(&value).ok()?);
                Some(url.to_string())
            });
            self.digest_sent |= sent.is_some();
            sent
        } else if matches!(resp.last.status, 301..=303 | 307 | 308)
            && self.hops.len() < self.follow.max_redirects as usize
        {
            let location = resp.headers.get(http::header::LOCATION).and_then(|l| l.to_str().ok()).map(str::to_string);
            match location.map(|l| (url::Url::parse(url).and_then(|u| u.join(&l)), l)) {
                None => None,
                Some((Ok(next), _)) if matches!(next.scheme(), "http" | "https") => {
                    let (method, body, headers) = self
                        .again
                        .get_or_insert_with(|| (kept.method.clone(), kept.body.clone(), kept.headers.clone()));
                    if matches!(resp.last.status, 301..=303) {
                        if *method != http::Method::HEAD {
                            *method = http::Method::GET;
                        }
                        *body = Bytes::new();
                        headers.remove(http::header::CONTENT_TYPE);
                        headers.remove(http::header::CONTENT_LENGTH);
                    }
                    if host_of(next.as_str()) != host_of(url) {
                        // Credentials are for the host they were given for.
                        headers.remove(http::header::AUTHORIZATION);
                        self.same_host = false;
                    }
                    Some(next.to_string())
                }
                Some((r, l)) => {
                    let why = match r {
                        Ok(_) => "only http and https are followed".to_string(),
                        Err(e) => e.to_string(),
                    };
                    let message = format!("redirect to {l:?} from {url}: {why}");
                    resp.last.error =
                        Some(crate::client::exchange::ExchangeError { kind: ErrorKind::InvalidRequest, message });
                    None
                }
            }
        } else {
            None
        };
        let (Some(next), Some((method, body, headers))) = (next, &self.again) else {
            resp.redirects = std::mem::take(&mut self.hops);
            return Ok(Some(resp));
        };
        self.hops.push(resp.last);
        let mut h = headers.clone();
        h.remove(http::header::COOKIE);
        if self.same_host {
            for v in &self.follow.explicit_cookies {
                h.append(http::header::COOKIE, v.clone());
            }
        }
        add_jar_cookies(st, &next, &mut h);
        let left = self.timeout.saturating_sub(self.started.elapsed()).max(Duration::from_millis(1));
        let options = RequestOptions { timeout: left, max_redirects: 0, ..self.options.clone() };
        call.req = HttpRequest { method: method.clone(), url: next, headers: h, body: body.clone(), options };
        call.challenge = false;
        self.call = Some(call);
        Ok(None)
    }
}

/// What a response keeps of its request.
struct KeptReq {
    response_type: ResponseType,
    headers: HeaderMap,
    body: Bytes,
    method: http::Method,
}

/// An HTTP call from k6's `(method, url, body, params)`.
fn build<'js>(
    ctx: &Ctx<'js>,
    st: &State,
    method: &str,
    url: Value<'js>,
    body: Value<'js>,
    params: Option<Value<'js>>,
) -> Result<(HttpCall, KeptReq, Follow)> {
    let s = st.borrow();
    if s.in_init {
        return Err(throw(ctx, "making HTTP requests in the init context is not supported (move it into a function)"));
    }
    if s.quitting {
        return Err(throw(ctx, "the job is stopping"));
    }
    let config = s.shared.config.clone();
    let client = s.shared.client();
    let expected = s.expected.clone();
    let group = s.group_path.clone();
    let deadline = s.deadline;
    let (base_tags, tag_key) = match &s.scenario {
        Some(sc) => (sc.tags.clone(), sc.tag_key.clone()),
        None => s.shared.global_tags(),
    };
    drop(s);
    let method = http::Method::from_bytes(method.as_bytes())
        .map_err(|_| throw(ctx, format!("invalid HTTP method {method:?}")))?;
    // The URL: a string, or http.url`...` (which carries its name).
    let (mut url, mut name) = match url.as_object() {
        Some(o) if o.contains_key("__url")? => (o.get::<_, String>("__url")?, Some(o.get::<_, String>("__name")?)),
        _ => (url.get::<Coerced<String>>()?.0, None),
    };
    let mut headers = HeaderMap::new();
    let mut options = RequestOptions {
        timeout: config.request_timeout,
        tls_verify: config.tls_verify && !client.insecure_skip_tls_verify,
        http2: config.http2,
        ..Default::default()
    };
    let mut response_type = ResponseType::Text;
    let keep = options.response_body;
    if client.discard_response_bodies {
        // k6's `discardResponseBodies`: `null` unless a request asks.
        response_type = ResponseType::None;
        options.response_body = ResponseBody::Discard;
    }
    let mut auth = Auth::None;
    let mut request_tags = Vec::new();
    if let Some(p) = params.as_ref().and_then(|p| p.as_object()) {
        if let Some(h) = p.get::<_, Option<Object>>("headers")? {
            for kv in h.props::<String, Coerced<String>>() {
                let (k, v) = kv?;
                let n = HeaderName::from_bytes(k.as_bytes())
                    .map_err(|_| throw(ctx, format!("params.headers: invalid header name {k:?}")))?;
                let v = HeaderValue::from_str(&v.0)
                    .map_err(|_| throw(ctx, format!("params.headers: invalid value of {k}")))?;
                headers.append(n, v);
            }
        }
        let mut own = own_tags(p.get::<_, Option<Value>>("tags")?)?;
        if let Some(i) = own.iter().position(|(k, _)| k == "name") {
            name = Some(own.swap_remove(i).1);
        }
        request_tags = own;
        match p.get::<_, Value>("timeout")? {
            v if v.is_number() => {
                options.timeout = Duration::from_secs_f64(v.as_number().unwrap_or(0.0).max(0.0) / 1000.0)
            }
            v if v.is_string() => {
                let t: String = v.get()?;
                options.timeout =
                    alilo_agent_api::parse_duration(&t).map_err(|e| throw(ctx, format!("params.timeout: {e}")))?;
            }
            _ => {}
        }
        if let Some(r) = p.get::<_, Option<f64>>("redirects")? {
            options.max_redirects = r.max(0.0) as u32;
        }
        match p.get::<_, Option<String>>("responseType")?.as_deref() {
            None => {}
            Some("text") => {
                response_type = ResponseType::Text;
                options.response_body = keep;
            }
            Some("binary") => {
                response_type = ResponseType::Binary;
                options.response_body = keep;
            }
            Some("none") => {
                response_type = ResponseType::None;
                options.response_body = ResponseBody::Discard;
            }
            Some(o) => return Err(throw(ctx, format!("params.responseType: {o:?} is not text, binary or none"))),
        }
        match p.get::<_, Option<String>>("auth")?.as_deref() {
            None => {}
            Some("basic") => auth = Auth::Basic,
            Some("digest") => auth = Auth::Digest,
            Some(o) => {
                return Err(throw(ctx, format!("params.auth: {o:?} is not supported by Alilo (basic or digest)")));
            }
        }
        if let Some(c) = p.get::<_, Option<Object>>("cookies")? {
            let mut pairs = Vec::new();
            for kv in c.props::<String, Value>() {
                let (k, v) = kv?;
                let v = match v.as_object() {
                    Some(o) if !v.is_string() => o.get::<_, Coerced<String>>("value")?.0,
                    _ => v.get::<Coerced<String>>()?.0,
                };
                pairs.push(format!("{k}={v}"));
            }
            if !pairs.is_empty() {
                let v = HeaderValue::from_str(&pairs.join("; "))
                    .map_err(|_| throw(ctx, "params.cookies: invalid cookie"))?;
                headers.append(http::header::COOKIE, v);
            }
        }
    }
    // Credentials in the URL become a Basic header (k6's auth: "basic", and
    // its default for user:pass@ URLs), or answer a Digest challenge.
    let mut digest = None;
    if url.contains('@')
        && let Ok(mut u) = url::Url::parse(&url)
        && !u.username().is_empty()
    {
        let user = percent_decode(u.username());
        let pass = percent_decode(u.password().unwrap_or(""));
        if auth == Auth::Digest {
            digest = Some((user, pass));
        } else {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            if let Ok(v) = HeaderValue::from_str(&format!("Basic {token}")) {
                headers.insert(http::header::AUTHORIZATION, v);
            }
        }
        let _ = u.set_username("");
        let _ = u.set_password(None);
        url = u.to_string();
    } else if auth != Auth::None {
        return Err(throw(ctx, "params.auth: give the credentials in the URL (https://user:pass@host/)"));
    }
    // The body: a string, bytes, or an object sent as a form.
    let body_bytes = if body.is_null() || body.is_undefined() {
        Bytes::new()
    } else if let Some(s) = body.as_string() {
        Bytes::from(s.to_string()?)
    } else if body.as_object().is_some_and(|o| o.as_array_buffer().is_some() || o.as_typed_array::<u8>().is_some()) {
        Bytes::from(input_bytes(ctx, &body)?)
    } else if let Some(o) = body.as_object() {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for kv in o.props::<String, Coerced<String>>() {
            let (k, v) = kv?;
            form.append_pair(&k, &v.0);
        }
        if !headers.contains_key(http::header::CONTENT_TYPE) {
            headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        }
        Bytes::from(form.finish())
    } else {
        Bytes::from(body.get::<Coerced<String>>()?.0)
    };
    // Cookies of the VU's jar for this host, unless params gave the same name.
    let explicit_cookies: Vec<HeaderValue> = headers.get_all(http::header::COOKIE).iter().cloned().collect();
    add_jar_cookies(st, &url, &mut headers);
    if let Some(d) = deadline {
        let left = d.saturating_duration_since(Instant::now());
        options.timeout = options.timeout.min(left.max(Duration::from_millis(1)));
    }
    let name = name.unwrap_or_else(|| url.split(['?', '#']).next().unwrap_or(&url).to_string());
    let kept = KeptReq { response_type, headers: headers.clone(), body: body_bytes.clone(), method: method.clone() };
    // Redirects are followed by a `Chain`, hop by hop.
    let follow = Follow { max_redirects: options.max_redirects, challenge: digest.is_some(), digest, explicit_cookies };
    let options = RequestOptions { max_redirects: 0, ..options };
    let req = HttpRequest { method, url, headers, body: body_bytes, options };
    // The request's tags over its scenario's (or the test-wide ones).
    let tags = super::tags::key_with(&base_tags, &tag_key, request_tags);
    Ok((HttpCall { req, name, expected, group, tags, challenge: follow.challenge }, kept, follow))
}

/// A sample's own `tags` argument (an object; anything else: none), as
/// (name, value) pairs.
fn own_tags(v: Option<Value<'_>>) -> Result<Vec<(String, String)>> {
    let Some(o) = v.as_ref().and_then(Value::as_object) else { return Ok(Vec::new()) };
    o.props::<String, Coerced<String>>().map(|kv| kv.map(|(k, v)| (k, v.0))).collect()
}

/// The key of a sample's tags: its scenario's (or the test-wide ones),
/// `own` over them.
fn sample_tags(s: &super::vu::VuState, own: Vec<(String, String)>) -> Arc<str> {
    match &s.scenario {
        Some(sc) => super::tags::key_with(&sc.tags, &sc.tag_key, own),
        None => {
            let (base, key) = s.shared.global_tags();
            super::tags::key_with(&base, &key, own)
        }
    }
}

/// The host (and port) of a URL.
fn host_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    Some(match u.port() {
        Some(p) => format!("{}:{p}", u.host_str()?),
        None => u.host_str()?.to_string(),
    })
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// Header names as k6 shows them (`Content-Type`), values joined by `, `.
fn headers_object(o: &Object<'_>, h: &HeaderMap) -> Result<()> {
    for name in h.keys() {
        let vals: Vec<String> =
            h.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
        o.set(canonical(name.as_str()), vals.join(", "))?;
    }
    Ok(())
}

fn canonical(name: &str) -> String {
    name.split('-')
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The bytes of a string, an `ArrayBuffer` or a `Uint8Array`.
fn input_bytes(ctx: &Ctx<'_>, v: &Value<'_>) -> Result<Vec<u8>> {
    if let Some(s) = v.as_string() {
        return Ok(s.to_string()?.into_bytes());
    }
    if let Some(o) = v.as_object() {
        if let Some(b) = o.as_array_buffer() {
            return Ok(b.as_bytes().unwrap_or_default().to_vec());
        }
        if let Some(t) = o.as_typed_array::<u8>() {
            return Ok(t.as_bytes().unwrap_or_default().to_vec());
        }
        if let Ok(t) = TypedArray::<u8>::from_object(o.clone()) {
            return Ok(t.as_bytes().unwrap_or_default().to_vec());
        }
    }
    if v.is_undefined() || v.is_null() {
        return Err(throw(ctx, "expected a string or an ArrayBuffer, got nothing"));
    }
    Ok(v.get::<Coerced<String>>()?.0.into_bytes())
}

fn b64(ctx: &Ctx<'_>, variant: &str) -> Result<base64::engine::GeneralPurpose> {
    use base64::engine::general_purpose as gp;
    Ok(match variant {
        "std" | "" => gp::STANDARD,
        "rawstd" => gp::STANDARD_NO_PAD,
        "url" => gp::URL_SAFE,
        "rawurl" => gp::URL_SAFE_NO_PAD,
        v => return Err(throw(ctx, format!("base64 encoding {v:?} is not std, rawstd, url or rawurl"))),
    })
}

fn encode_out<'js>(ctx: &Ctx<'js>, bytes: Vec<u8>, enc: &str) -> Result<Value<'js>> {
    use base64::engine::general_purpose as gp;
    let s = match enc {
        "hex" => bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "base64" => gp::STANDARD.encode(&bytes),
        "base64url" => gp::URL_SAFE.encode(&bytes),
        "base64rawurl" => gp::URL_SAFE_NO_PAD.encode(&bytes),
        "binary" => return Ok(ArrayBuffer::new(ctx.clone(), bytes)?.into_value()),
        e => {
            return Err(throw(
                ctx,
                format!("output encoding {e:?} is not hex, base64, base64url, base64rawurl or binary"),
            ));
        }
    };
    Ok(rquickjs::String::from_str(ctx.clone(), &s)?.into_value())
}
