//! Extended scripts end to end: a real agent control server runs k6-style
//! scripts (PUT /v1/jobs with `script`) against a real loopback server
//! started here, and each script's test asserts what that server received
//! and what the job's buckets report.
//!
//! Every script runs as its own job under its own path prefix
//! (`/t/<id>/...`), so the scripts of one test run at the same time without
//! mixing their requests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

mod common;
use common::{Agent, eventually};

const TOKEN: &str = "script-test-token";

/// One request as the site saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    headers: BTreeMap<String, String>,
    body: String,
}

/// A small site the scripts talk to, recording every request. Under
/// `/t/<id>`: `/json` a JSON document, `/status/N` status N, `/redirect` a
/// 302 to `json`, `/cookie` a `Set-Cookie`, `/set-scoped` and `/expire-old`
/// cookies with attributes, `/echo` the request as JSON, `/slow` 300 ms
/// late; anything else `ok`.
struct Site {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Site {
    async fn start() -> Site {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let s = seen.clone();
        let addr = common::serve(None, move |req| {
            let s = s.clone();
            async move { answer(&s, req).await }
        })
        .await;
        Site { addr, seen }
    }

    fn base(&self, id: &str) -> String {
        format!("http://{}/t/{id}", self.addr)
    }

    /// Requests under `/t/<id>`, oldest first, with the prefix cut off.
    fn seen(&self, id: &str) -> Vec<Seen> {
        let prefix = format!("/t/{id}");
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.starts_with(&format!("{prefix}/")) || r.path == prefix)
            .map(|r| Seen { path: r.path[prefix.len()..].to_string(), ..r.clone() })
            .collect()
    }
}

async fn answer(seen: &Mutex<Vec<Seen>>, req: http::Request<hyper::body::Incoming>) -> http::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let r = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    seen.lock().unwrap().push(r.clone());
    let mut segs = r.path.splitn(4, '/'); // "", "t", id, rest
    let (_, _, id, rest) = (segs.next(), segs.next(), segs.next().unwrap_or(""), segs.next().unwrap_or(""));
    let resp = http::Response::builder();
    let json_doc = json!({"token": "tok-1", "items": [{"id": 7, "name": "a"}, {"id": 8, "name": "b"}], "n": 2});
    match rest {
        "json" => resp.header("content-type", "application/json").body(Full::new(Bytes::from(json_doc.to_string()))),
        "redirect" => resp.status(302).header("location", format!("/t/{id}/json")).body(Full::new(Bytes::new())),
        "big" => resp.body(Full::new(Bytes::from(vec![b'x'; alilo_agent::js::files::MAX_FILE_BYTES + 1]))),
        "lib.js" => resp.body(Full::new(Bytes::from("export const v = 'remote-ok';"))),
        "ammo.json" => resp.body(Full::new(Bytes::from(r#"[{"q": "a"}, {"q": "b"}]"#))),
        "cookie" => resp.header("set-cookie", "session=s1; Path=/").body(Full::new(Bytes::from("ok"))),
        "redirect-cookie" => resp
            .status(302)
            .header("set-cookie", "hop=h1; Path=/")
            .header("location", format!("/t/{id}/echo"))
            .body(Full::new(Bytes::new())),
        // RFC 6265 scoping: a path, a past expiry, Secure, a foreign domain.
        "set-scoped" => resp
            .header("set-cookie", format!("area=a1; Path=/t/{id}/area"))
            .header("set-cookie", "root=r1; Path=/")
            .header("set-cookie", "sec=s1; Path=/; Secure")
            .header("set-cookie", "foreign=f1; Path=/; Domain=example.com")
            .header("set-cookie", "old=o1; Path=/")
            .body(Full::new(Bytes::from("ok"))),
        "expire-old" => resp
            .header("set-cookie", "old=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
            .body(Full::new(Bytes::from("ok"))),
        s if s.starts_with("digest/") => digest_answer(&s[7..], &r, resp),
        "page" => resp.header("content-type", "text/html").body(Full::new(Bytes::from(
            r##"<html><body><ul id="items"><li class="item"><a href="/i/7">Seven</a></li><li class="item"><a href="/i/8">Eight</a></li></ul>
<form><input type="hidden" name="csrf" value="tok-1"></form></body></html>"##,
        ))),
        "echo" => {
            let v = json!({"method": r.method, "query": r.query, "headers": r.headers, "body": r.body});
            resp.header("content-type", "application/json").body(Full::new(Bytes::from(v.to_string())))
        }
        "slow" => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            resp.body(Full::new(Bytes::from("slow")))
        }
        s if s.starts_with("status/") => {
            let code: u16 = s[7..].parse().unwrap_or(500);
            resp.status(code).body(Full::new(Bytes::from("status")))
        }
        _ => resp.header("x-site", "yes").body(Full::new(Bytes::from("ok"))),
    }
    .unwrap()
}

/// `/digest/<ALGORITHM>`: a Digest-protected page (user `ann`, password
/// `s3cret`), checked here with the digest crates directly (not the agent's
/// code): 401 with a challenge unless the `Authorization` answers it.
fn digest_answer(
    alg: &str,
    r: &Seen,
    resp: http::response::Builder,
) -> Result<http::Response<Full<Bytes>>, http::Error> {
    use sha2::Digest;
    let h = |s: String| -> String {
        let bytes = if alg == "SHA-256" { sha2::Sha256::digest(s).to_vec() } else { md5::Md5::digest(s).to_vec() };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    let (realm, nonce) = ("alilo-test", "nonce-42");
    let fields: BTreeMap<String, String> = r
        .headers
        .get("authorization")
        .and_then(|a| a.strip_prefix("Digest "))
        .map(|a| {
            a.split(", ")
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
                .collect()
        })
        .unwrap_or_default();
    let uri = if r.query.is_empty() { r.path.clone() } else { format!("{}?{}", r.path, r.query) };
    let f = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let ha1 = h(format!("ann:{realm}:s3cret"));
    let ha2 = h(format!("{}:{uri}", r.method));
    let want = h(format!("{ha1}:{nonce}:{}:{}:auth:{ha2}", f("nc"), f("cnonce")));
    let ok = f("username") == "ann"
        && f("uri") == uri
        && f("qop") == "auth"
        && f("opaque") == "op-1"
        && f("algorithm") == alg
        && f("response") == want;
    if ok {
        resp.body(Full::new(Bytes::from("digest-ok")))
    } else {
        resp.status(401)
            .header(
                "www-authenticate",
                format!("Digest realm=\"{realm}\", qop=\"auth\", algorithm={alg}, nonce=\"{nonce}\", opaque=\"op-1\""),
            )
            .body(Full::new(Bytes::from("who are you")))
    }
}

impl Agent {
    /// Starts `js` as job `id` at `rps` for `duration` (with extra files and
    /// `__ENV`), and returns its final status.
    async fn run(&self, id: &str, js: &str, rps: f64, duration: &str, extra: Value) -> Value {
        let mut files = vec![json!({"path": "main.js", "content": js})];
        let mut env = json!({});
        let mut script_extra = json!({});
        if let Some(f) = extra.get("files").and_then(Value::as_array) {
            files.extend(f.iter().cloned());
        }
        if let Some(e) = extra.get("env") {
            env = e.clone();
        }
        if let Some(t) = extra.get("iteration_timeout") {
            script_extra["iteration_timeout"] = t.clone();
        }
        let mut script = json!({"entry": "main.js", "files": files, "env": env});
        if let Some(t) = script_extra.get("iteration_timeout") {
            script["iteration_timeout"] = t.clone();
        }
        let mut spec = json!({
            "script": script,
            "profile": {"rps": rps, "duration": duration},
            "timeout": "5s",
        });
        if let Some(m) = extra.get("max_vus") {
            spec["max_vus"] = m.clone();
        }
        let (s, v) = self.call("PUT", &format!("/v1/jobs/{id}"), Some(spec)).await;
        assert_eq!(s, 201, "{id}: {v}");
        self.wait_terminal(id, Duration::from_secs(30)).await
    }
}

/// Sums of the script figures over a job's buckets.
#[derive(Debug, Default)]
struct Totals {
    iterations: u64,
    dropped: u64,
    failed: u64,
    checks: BTreeMap<String, (u64, u64)>,
    names: BTreeMap<String, (u64, u64)>,
    exceptions: BTreeMap<String, u64>,
    metrics: BTreeMap<String, Vec<Value>>,
    sent: u64,
    /// Groups by path.
    groups: BTreeMap<String, GroupSeen>,
    samples: Vec<Value>,
}

/// One group over a job: (runs, requests, failed requests), checks by name.
#[derive(Debug, Default)]
struct GroupSeen(u64, u64, u64, BTreeMap<String, (u64, u64)>);

fn totals(status: &Value) -> Totals {
    let mut t = Totals::default();
    for b in status["buckets"].as_array().unwrap() {
        t.sent += b["sent"].as_u64().unwrap();
        let Some(s) = b.get("script").filter(|s| !s.is_null()) else { continue };
        t.iterations += s["iterations"].as_u64().unwrap();
        t.dropped += s["dropped_iterations"].as_u64().unwrap();
        t.failed += s["failed_iterations"].as_u64().unwrap();
        for (k, v) in s["checks"].as_object().into_iter().flatten() {
            let e = t.checks.entry(k.clone()).or_default();
            e.0 += v["passes"].as_u64().unwrap();
            e.1 += v["fails"].as_u64().unwrap();
        }
        for (k, v) in s["requests"].as_object().into_iter().flatten() {
            let e = t.names.entry(k.clone()).or_default();
            e.0 += v["sent"].as_u64().unwrap();
            e.1 += v["failed"].as_u64().unwrap();
        }
        for (k, v) in s["exceptions"].as_object().into_iter().flatten() {
            *t.exceptions.entry(k.clone()).or_default() += v.as_u64().unwrap();
        }
        for (k, v) in s["metrics"].as_object().into_iter().flatten() {
            t.metrics.entry(k.clone()).or_default().push(v.clone());
        }
        for (k, v) in s["groups"].as_object().into_iter().flatten() {
            let g = t.groups.entry(k.clone()).or_default();
            g.0 += v["runs"].as_u64().unwrap();
            g.1 += v["requests"].as_u64().unwrap();
            g.2 += v["failed_requests"].as_u64().unwrap();
            assert!(v["runs"].as_u64().unwrap() == 0 || !v["duration"].as_str().unwrap().is_empty(), "{v}");
            for (name, c) in v["checks"].as_object().into_iter().flatten() {
                let e = g.3.entry(name.clone()).or_default();
                e.0 += c["passes"].as_u64().unwrap();
                e.1 += c["fails"].as_u64().unwrap();
            }
        }
        t.samples.extend(s["exception_samples"].as_array().into_iter().flatten().cloned());
    }
    t
}

/// A script as a test case: its source (with `BASE` in `__ENV`), what to
/// check afterwards.
struct Case {
    id: &'static str,
    js: &'static str,
    extra: Value,
    check: fn(&Site, &Value, &Totals),
}

fn one(site: &Site, id: &str) -> Vec<Seen> {
    site.seen(id)
}

/// Runs the cases together: each at 4 iterations/s for 2 s (a loaded CI
/// machine may take a while to prepare dozens of jobs at once).
async fn run_cases(cases: Vec<Case>) {
    let site = Site::start().await;
    let agent = Agent::spawn(TOKEN).await;
    let runs = cases.iter().map(|c| {
        let mut extra = c.extra.clone();
        let env = extra.get("env").cloned().unwrap_or(json!({}));
        let mut env = env.as_object().cloned().unwrap_or_default();
        env.insert("BASE".into(), json!(site.base(c.id)));
        // File URLs and env values may name the site as {BASE}.
        for v in env.values_mut() {
            if let Some(t) = v.as_str() {
                *v = json!(t.replace("{BASE}", &site.base(c.id)));
            }
        }
        extra["env"] = Value::Object(env);
        if let Some(files) = extra.get_mut("files").and_then(Value::as_array_mut) {
            for f in files {
                if let Some(u) = f.get("url").and_then(Value::as_str) {
                    f["url"] = json!(u.replace("{BASE}", &site.base(c.id)));
                }
            }
        }
        let agent = &agent;
        async move { (c.id, agent.run(c.id, c.js, 4.0, "2s", extra).await) }
    });
    let results = futures_join(runs.collect()).await;
    for (c, (id, status)) in cases.iter().zip(results) {
        assert_eq!(c.id, id);
        let t = totals(&status);
        (c.check)(&site, &status, &t);
    }
}

/// Awaits futures concurrently on this task.
async fn futures_join<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = fs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

fn finished(status: &Value) {
    assert_eq!(status["state"], "finished", "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_sends_what_the_script_says() {
    run_cases(vec![
        Case {
            id: "get",
            js: r#"import http from "k6/http";
export default function () { http.get(`${__ENV.BASE}/plain?a=1`); }"#,
            extra: json!({}),
            check: |site, st, t| {
                finished(st);
                let seen = one(site, "get");
                // Some may be dropped while the first VUs are created.
                assert!(!seen.is_empty() && t.iterations + t.dropped >= 4, "{seen:?} {t:?}");
                assert!(seen.iter().all(|r| r.method == "GET" && r.path == "/plain" && r.query == "a=1"));
                assert_eq!(t.iterations, seen.len() as u64);
                assert_eq!(t.sent, seen.len() as u64, "script requests land in the same buckets");
                let name = format!("{}/plain", site.base("get"));
                assert_eq!(t.names[&name].0, seen.len() as u64, "named by the URL without query: {:?}", t.names);
            },
        },
        Case {
            id: "post-json",
            js: r#"import http from "k6/http";
export default function () {
  http.post(`${__ENV.BASE}/p`, JSON.stringify({ user: "ann", n: __ITER }), { headers: { "Content-Type": "application/json", "X-Test": "yes" } });
}"#,
            extra: json!({}),
            check: |site, st, _| {
                finished(st);
                let seen = one(site, "post-json");
                assert!(!seen.is_empty());
                for r in &seen {
                    assert_eq!(r.method, "POST");
                    assert_eq!(r.headers["content-type"], "application/json");
                    assert_eq!(r.headers["x-test"], "yes");
                    let v: Value = serde_json::from_str(&r.body).unwrap();
                    assert_eq!(v["user"], "ann");
                }
            },
        },
        Case {
            id: "methods",
            js: r#"import http from "k6/http";
export default function () {
  const b = __ENV.BASE;
  http.put(`${b}/put`, "p"); http.patch(`${b}/patch`, "q"); http.del(`${b}/del`);
  http.head(`${b}/head`); http.options(`${b}/options`); http.request("GET", `${b}/request`);
}"#,
            extra: json!({"max_vus": 1}),
            check: |site, st, _| {
                finished(st);
                let seen = one(site, "methods");
                let pairs: Vec<(String, String)> = seen.iter().take(6).map(|r| (r.method.clone(), r.path.clone())).collect();
                let want: Vec<(String, String)> = [
                    ("PUT", "/put"),
                    ("PATCH", "/patch"),
                    ("DELETE", "/del"),
                    ("HEAD", "/head"),
                    ("OPTIONS", "/options"),
                    ("GET", "/request"),
                ]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
                assert_eq!(pairs, want);
                assert_eq!(seen[0].body, "p");
            },
        },
        Case {
            id: "form",
            js: r#"import http from "k6/http";
export default function () { http.post(`${__ENV.BASE}/form`, { name: "a b", x: 1 }); }"#,
            extra: json!({}),
            check: |site, st, _| {
                finished(st);
                let r = &one(site, "form")[0];
                assert_eq!(r.headers["content-type"], "application/x-www-form-urlencoded");
                assert_eq!(r.body, "name=a+b&x=1");
            },
        },
        Case {
            id: "flow",
            js: r#"import http from "k6/http";
import { check } from "k6";
export default function () {
  const r = http.get(`${__ENV.BASE}/json`);
  const tok = r.json("token");
  const id = r.json().items[1].id;
  check(r, { "status 200": (x) => x.status === 200, "has items": (x) => x.json("items.#") === 2 });
  http.post(`${__ENV.BASE}/order`, JSON.stringify({ id }), { headers: { Authorization: `Bearer ${tok}` } });
}"#,
            extra: json!({}),
            check: |site, st, t| {
                finished(st);
                let orders: Vec<_> = one(site, "flow").into_iter().filter(|r| r.path == "/order").collect();
                assert!(!orders.is_empty());
                for o in &orders {
                    assert_eq!(o.headers["authorization"], "Bearer tok-1");
                    assert_eq!(o.body, r#"{"id":8}"#);
                }
                assert_eq!(t.checks["status 200"], (t.iterations, 0));
                assert_eq!(t.checks["has items"], (t.iterations, 0));
                assert_eq!(t.names.len(), 2, "two steps, two rows: {:?}", t.names);
            },
        },
        Case {
            id: "checks-fail",
            js: r#"import http from "k6/http";
import { check } from "k6";
export default function () {
  const r = http.get(`${__ENV.BASE}/status/404`);
  check(r, { "is 200": (x) => x.status === 200, "is 404": (x) => x.status === 404, "code": (x) => x.error_code === 1404 });
}"#,
            extra: json!({}),
            check: |site, st, t| {
                finished(st);
                let n = one(site, "checks-fail").len() as u64;
                assert!(n > 0);
                assert_eq!(t.checks["is 200"], (0, n));
                assert_eq!(t.checks["is 404"], (n, 0));
                assert_eq!(t.checks["code"], (n, 0));
                let row = t.names.values().next().unwrap();
                assert_eq!(row.1, n, "404 is a failed request by default");
            },
        },
        Case {
            id: "expected",
            js: r#"import http from "k6/http";
http.setResponseCallback(http.expectedStatuses(404, { min: 200, max: 299 }));
export default function () { http.get(`${__ENV.BASE}/status/404`); }"#,
            extra: json!({}),
            check: |_, st, t| {
                finished(st);
                let row = t.names.values().next().unwrap();
                assert!(row.0 > 0);
                assert_eq!(row.1, 0, "404 is expected: {:?}", t.names);
                assert_eq!(st["summary"]["failed"], 0, "{}", st["summary"]);
            },
        },
        Case {
            id: "redirect",
            js: r#"import http from "k6/http";
import { check } from "k6";
export default function () {
  const r = http.get(`${__ENV.BASE}/redirect`);
  check(r, { "followed": (x) => x.status === 200 && x.url.endsWith("/json") });
  const n = http.get(`${__ENV.BASE}/redirect`, { redirects: 0 });
  check(n, { "not followed": (x) => x.status === 302 });
}"#,
            extra: json!({}),
            check: |_, st, t| {
                finished(st);
                assert_eq!(t.checks["followed"].1, 0, "{:?}", t.checks);
                assert_eq!(t.checks["not followed"].1, 0, "{:?}", t.checks);
                assert!(t.checks["followed"].0 > 0);
            },
        },
        Case {
            id: "response",
            js: r#"import http from "k6/http";
import { check } from "k6";
export default function () {
  const r = http.get(`${__ENV.BASE}/plain`);
  check(r, {
    "body": (x) => x.body === "ok",
    "header": (x) => x.headers["X-Site"] === "yes",
    "timings": (x) => x.timings.duration >= 0 && typeof x.timings.waiting === "number",
    "proto": (x) => x.proto === "HTTP/1.1",
    "no error": (x) => x.error === "" && x.error_code === 0,
    "request": (x) => x.request.method === "GET",
    "remote": (x) => x.remote_ip === "127.0.0.1" && x.remote_port > 0,
  });
}"#,
            extra: json!({}),
            check: |_, st, t| {
                finished(st);
                for name in ["body", "header", "timings", "proto", "no error", "request", "remote"] {
                    assert!(t.checks[name].0 > 0 && t.checks[name].1 == 0, "{name}: {:?}", t.checks);
                }
            },
        },
        Case {
            id: "errors",
            js: r#"import http from "k6/http";
import { check } from "k6";
export default function () {
  const r = http.get("http://127.0.0.1:9/nothing");
  check(r, { "refused": (x) => x.status === 0 && x.error_code === 1212 && x.error !== "" });
}"#,
            extra: json!({}),
            check: |_, st, t| {
                finished(st);
                assert!(t.checks["refused"].0 > 0 && t.checks["refused"].1 == 0, "{:?}", t.checks);
                assert!(st["summary"]["errors"]["connect"].as_u64().unwrap() > 0, "{}", st["summary"]);
            },
        },
        Case {
            id: "params",
            js: r#"import http from "k6/http";
export default function () {
  http.get(`${__ENV.BASE}/item?id=${__ITER}`, { tags: { name: "item" }, timeout: "2s", cookies: { c1: "v1" } });
  http.get(http.url`${__ENV.BASE}/user/${__ITER}`);
}"#,
            extra: json!({}),
            check: |site, st, t| {
                finished(st);
                assert!(t.names.contains_key("item"), "{:?}", t.names);
                assert_eq!(t.names.len(), 2, "{:?}", t.names);
                // As in k6: every interpolation of the template is `${}`.
                assert!(t.names.contains_key("${}/user/${}"), "http.url names by template: {:?}", t.names);
                let r = one(site, "params").into_iter().find(|r| r.path == "/item").unwrap();
                assert_eq!(r.headers["cookie"], "c1=v1");
            },
        },
        Case {
            id: "basic-auth",
            js: r#"import http from "k6/http";
export default function () {
  const u = __ENV.BASE.replace("http://", "http://ann:s%40cret@");
  http.get(`${u}/auth`, { auth: "basic" });
}"#,
            extra: json!({}),
            check: |site, st, _| {
                finished(st);
                let r = &one(site, "basic-auth")[0];
                assert_eq!(r.headers["authorization"], "Basic YW5uOnNAY3JldA==");
            },
        },
        Case {
            id: "batch",
            js: r#"import http from "k6/http";
import { check } from "k6";
export default function () {
  const rs = http.batch([["GET", `${__ENV.BASE}/b1`], ["POST", `${__ENV.BASE}/b2`, "x"], `${__ENV.BASE}/json`]);
  check(rs, { "three": (r) => r.length === 3 && r[2].json("n") === 2 && r[0].body === "ok" });
}"#,
            extra: json!({}),
            check: |site, st, t| {
                finished(st);
                let seen = one(site, "batch");
                assert!(seen.iter().any(|r| r.path == "/b2" && r.method == "POST" && r.body == "x"));
                assert_eq!(t.checks["three"].1, 0, "{:?}", t.checks);
            },
        },
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn globals_modules_and_lifecycle() {
    run_cases(vec![
        Case {
            id: "env-vu-iter",
            js: r#"import http from "k6/http";
export default function () { http.get(`${__ENV.BASE}/x?vu=${__VU}&iter=${__ITER}&env=${__ENV.MY}`); }"#,
            extra: json!({"env": {"MY": "val"}}),
            check: |site, st, _| {
                finished(st);
                let seen = one(site, "env-vu-iter");
                assert!(seen.iter().all(|r| r.query.contains("env=val")));
                assert!(seen.iter().all(|r| !r.query.contains("vu=0")), "__VU starts at 1");
                assert!(seen.iter().any(|r| r.query.contains("iter=0")));
            },
        },
        Case {
            id: "vu-globals",
            js: r#"import http from "k6/http";
let count = 0;
export default function () { count++; http.get(`${__ENV.BASE}/c?count=${count}&iter=${__ITER}`); }"#,
            extra: json!({"max_vus": 1}),
            check: |site, st, _| {
                finished(st);
                for r in one(site, "vu-globals") {
                    let q: BTreeMap<String, u64> = r
                        .query
                        .split('&')
                        .map(|kv| {
                            let (k, v) = kv.split_once('=').unwrap();
                            (k.to_string(), v.parse().unwrap())
                        })
                        .collect();
                    assert_eq!(q["count"], q["iter"] + 1, "globals live across iterations: {}", r.query);
                }
            },
        },
        Case {
            id: "modules",
            js: r#"import http from "k6/http";
import { path, twice } from "./lib/util.js";
export default function () { http.get(`${__ENV.BASE}${path()}?v=${twice(21)}`); }"#,
            extra: json!({"files": [
                {"path": "lib/util.js", "content": "import { base } from '../consts.js';\nexport function path() { return base + '/mod'; }\nexport const twice = (x) => 2 * x;\n"},
                {"path": "consts.js", "content": "export const base = '';\n"}
            ]}),
            check: |site, st, _| {
                finished(st);
                let r = &one(site, "modules")[0];
                assert_eq!((r.path.as_str(), r.query.as_str()), ("/mod", "v=42"));
            },
        },
        Case {
            id: "open",
            js: r#"import http from "k6/http";
const users = JSON.parse(open("./data/users.json"));
const csv = open("data/rows.csv").split("\n");
export default function () { http.post(`${__ENV.BASE}/open`, `${users[__ITER % 2].name},${csv[1]}`); }"#,
            extra: json!({"files": [
                {"path": "data/users.json", "content": "[{\"name\": \"ann\"}, {\"name\": \"bob\"}]"},
                {"path": "data/rows.csv", "content": "h\nrow1"}
            ]}),
            check: |site, st, _| {
                finished(st);
                let bodies: Vec<String> = one(site, "open").into_iter().map(|r| r.body).collect();
                assert!(bodies.contains(&"ann,row1".to_string()), "{bodies:?}");
            },
        },
        Case {
            id: "fetched",
            js: r#"import http from "k6/http";
import { v } from "./lib.js";
const ammo = JSON.parse(open(__ENV.AMMO_URL));
export default function () { http.post(`${__ENV.BASE}/f`, `${v},${ammo[1].q}`); }"#,
            extra: json!({
                "files": [{"path": "lib.js", "url": "{BASE}/lib.js"}, {"path": "ammo.json", "url": "{BASE}/ammo.json"}],
                "env": {"AMMO_URL": "{BASE}/ammo.json"},
            }),
            check: |site, st, _| {
                finished(st);
                let seen = one(site, "fetched");
                let posts: Vec<_> = seen.iter().filter(|r| r.path == "/f").collect();
                assert!(!posts.is_empty() && posts.iter().all(|r| r.body == "remote-ok,b"), "{seen:?}");
                let fetches = seen.iter().filter(|r| r.path == "/lib.js" || r.path == "/ammo.json").count();
                assert_eq!(fetches, 2, "each file is fetched once per job: {seen:?}");
            },
        },
        Case {
            id: "setup-teardown",
            js: r#"import http from "k6/http";
export function setup() { const r = http.get(`${__ENV.BASE}/setup`); return { tok: "from-setup", status: r.status }; }
export default function (data) { http.get(`${__ENV.BASE}/it?tok=${data.tok}&s=${data.status}`); }
export function teardown(data) { http.get(`${__ENV.BASE}/teardown?tok=${data.tok}`); }"#,
            extra: json!({}),
            check: |site, st, _| {
                finished(st);
                let seen = one(site, "setup-teardown");
                assert_eq!(seen.first().unwrap().path, "/setup");
                assert_eq!(seen.last().unwrap().path, "/teardown");
                assert_eq!(seen.last().unwrap().query, "tok=from-setup");
                assert_eq!(seen.iter().filter(|r| r.path == "/setup").count(), 1);
                assert!(seen.iter().filter(|r| r.path == "/it").all(|r| r.query == "tok=from-setup&s=200"));
            },
        },
        Case {
            id: "group-sleep",
            js: r#"import http from "k6/http";
import { group, sleep, check } from "k6";
export default function () {
  const t0 = Date.now();
  group("login", () => { http.get(`${__ENV.BASE}/g`); });
  sleep(0.2);
  check(null, { "slept": () => Date.now() - t0 >= 190 });
}"#,
            extra: json!({}),
            check: |_, st, t| {
                finished(st);
                assert!(t.checks["slept"].0 > 0 && t.checks["slept"].1 == 0, "{:?}", t.checks);
            },
        },
        Case {
            id: "console",
            js: r#"import http from "k6/http";
export default function () { console.log("hello", { a: 1 }); console.error(new Error("x")); http.get(`${__ENV.BASE}/c`); }"#,
            extra: json!({}),
            check: |site, st, t| {
                finished(st);
                assert!(!one(site, "console").is_empty());
                assert_eq!(t.failed, 0);
            },
        },
        Case {
            id: "exceptions",
            js: r#"import http from "k6/http";
import { fail } from "k6";
export default function () {
  http.get(`${__ENV.BASE}/before`);
  if (__ITER % 2 === 0) throw new Error("boom");
  fail("failed on purpose");
}"#,
            extra: json!({"max_vus": 1}),
            check: |site, st, t| {
                finished(st);
                let n = one(site, "exceptions").len() as u64;
                assert!(n >= 2, "the one VU goes on after an exception: {n}");
                assert_eq!(t.iterations, n);
                assert_eq!(t.failed, t.iterations);
                assert!(t.exceptions.get("boom").is_some_and(|c| *c > 0), "{:?}", t.exceptions);
                assert!(t.exceptions.get("failed on purpose").is_some_and(|c| *c > 0), "{:?}", t.exceptions);
            },
        },
        Case {
            id: "async",
            js: r#"import http from "k6/http";
export default async function () { const v = await Promise.resolve(7); http.get(`${__ENV.BASE}/async?v=${v}`); }"#,
            extra: json!({}),
            check: |site, st, _| {
                finished(st);
                let seen = one(site, "async");
                assert!(!seen.is_empty() && seen.iter().all(|r| r.query == "v=7"), "{seen:?}");
            },
        },
        Case {
            id: "init-http",
            js: r#"import http from "k6/http";
http.get(`${__ENV.BASE}/init`);
export default function () {}"#,
            extra: json!({}),
            check: |site, st, _| {
                assert_eq!(st["state"], "failed", "{st}");
                assert!(st["reason"].as_str().unwrap().contains("init context"), "{st}");
                assert!(one(site, "init-http").is_empty());
            },
        },
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k6_modules_beyond_http() {
    run_cases(vec![
        Case {
            id: "encoding",
            js: r#"import http from "k6/http";
import encoding from "k6/encoding";
export default function () {
  const e = encoding.b64encode("hello?>");
  const u = encoding.b64encode("hello?>", "rawurl");
  const d = encoding.b64decode(e, "std", "s");
  http.post(`${__ENV.BASE}/enc`, `e=${e}&u=${u}&d=${d}`);
}"#,
            extra: json!({}),
            check: |site, st, _| {
                finished(st);
                let r = &one(site, "encoding")[0];
                assert_eq!(r.body, "e=aGVsbG8/Pg==&u=aGVsbG8_Pg&d=hello?>");
            },
        },
        Case {
            id: "crypto",
            js: r#"import http from "k6/http";
import crypto from "k6/crypto";
export default function () {
  const h = crypto.sha256("abc", "hex");
  const m = crypto.hmac("sha256", "key", "The quick brown fox jumps over the lazy dog", "hex");
  const c = crypto.createHash("md5"); c.update("a"); c.update("bc");
  const n = crypto.randomBytes(16).byteLength;
  http.post(`${__ENV.BASE}/crypto`, [h, m, c.digest("hex"), n].join(","));
}"#,
            extra: json!({}),
            check: |site, st, _| {
                finished(st);
                let r = &one(site, "crypto")[0];
                assert_eq!(
                    r.body,
                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad,\
                     f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8,\
                     900150983cd24fb0d6963f7d28e17f72,16"
                );
            },
        },
        Case {
            id: "metrics",
            js: r#"import http from "k6/http";
import { Counter, Gauge, Rate, Trend } from "k6/metrics";
const c = new Counter("my_counter"), g = new Gauge("my_gauge"), r = new Rate("my_rate"), t = new Trend("my_trend", true);
export default function () {
  c.add(2); g.add(__ITER); r.add(true); r.add(false); t.add(12.5);
  http.get(`${__ENV.BASE}/m`);
}"#,
            extra: json!({}),
            check: |_, st, t| {
                finished(st);
                let counter: f64 = t.metrics["my_counter"].iter().map(|m| m["value"].as_f64().unwrap()).sum();
                assert_eq!(counter, 2.0 * t.iterations as f64);
                let (p, f): (u64, u64) = t.metrics["my_rate"]
                    .iter()
                    .fold((0, 0), |a, m| (a.0 + m["passes"].as_u64().unwrap(), a.1 + m["fails"].as_u64().unwrap()));
                assert_eq!((p, f), (t.iterations, t.iterations));
                assert!(t.metrics["my_trend"].iter().all(|m| m["type"] == "trend" && m["hist"].is_string()));
                assert!(t.metrics["my_gauge"].iter().all(|m| m["type"] == "gauge"));
            },
        },
        Case {
            id: "shared-array",
            js: r#"import http from "k6/http";
import { SharedArray } from "k6/data";
const rows = new SharedArray("users", () => JSON.parse(open("./users.json")));
export default function () {
  const u = rows[__ITER % rows.length];
  http.post(`${__ENV.BASE}/sa`, `${rows.length}:${u.name}`);
}"#,
            extra: json!({"files": [{"path": "users.json", "content": "[{\"name\": \"ann\"}, {\"name\": \"bob\"}, {\"name\": \"cy\"}]"}]}),
            check: |site, st, _| {
                finished(st);
                let bodies: Vec<String> = one(site, "shared-array").into_iter().map(|r| r.body).collect();
                assert!(bodies.contains(&"3:ann".to_string()), "{bodies:?}");
            },
        },
        Case {
            id: "execution",
            js: r#"import http from "k6/http";
import exec from "k6/execution";
export default function () {
  http.get(`${__ENV.BASE}/e?vu=${exec.vu.idInTest}&it=${exec.vu.iterationInScenario}&test=${exec.scenario.iterationInTest}`);
}"#,
            extra: json!({"max_vus": 1}),
            check: |site, st, _| {
                finished(st);
                let seen = one(site, "execution");
                assert_eq!(seen[0].query, "vu=1&it=0&test=0");
            },
        },
        Case {
            id: "abort",
            js: r#"import http from "k6/http";
import exec from "k6/execution";
export default function () { http.get(`${__ENV.BASE}/a`); exec.test.abort("enough"); }"#,
            extra: json!({}),
            check: |_, st, _| {
                assert!(st["reason"].as_str().unwrap().contains("enough"), "{st}");
            },
        },
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_scripts_are_contained() {
    let site = Site::start().await;
    let agent = Agent::spawn(TOKEN).await;
    let env = |id: &str| json!({"env": {"BASE": site.base(id)}});
    // An infinite loop is interrupted at the iteration limit; the VU is
    // reused afterwards.
    let mut extra = env("loop");
    extra["iteration_timeout"] = json!("300ms");
    extra["max_vus"] = json!(1);
    let js = r#"import http from "k6/http";
export default function () { http.get(`${__ENV.BASE}/l`); if (__ITER < 2) { while (true) {} } }"#;
    let st = agent.run("loop", js, 4.0, "2s", extra).await;
    finished(&st);
    let t = totals(&st);
    assert!(
        t.exceptions.get("iteration exceeded its time limit of 300ms").is_some_and(|n| *n >= 1),
        "{:?}",
        t.exceptions
    );
    assert!(site.seen("loop").len() >= 3, "the VU went on after the interrupt");

    // Unbounded recursion is a RangeError in the iteration, not a crash.
    let js = r#"import http from "k6/http";
function f(n) { return f(n + 1) + 1; }
export default function () { http.get(`${__ENV.BASE}/r`); f(0); }"#;
    let st = agent.run("recursion", js, 4.0, "1s", env("recursion")).await;
    finished(&st);
    let t = totals(&st);
    assert!(t.exceptions.keys().any(|k| k.starts_with("RangeError")), "{:?}", t.exceptions);
    assert_eq!(t.failed, t.iterations);

    // A memory bomb fails the job, not the agent.
    let js = r#"export default function () { const a = []; while (true) { a.push("x".repeat(1 << 16) + a.length); } }"#;
    let st = agent.run("bomb", js, 2.0, "2s", env("bomb")).await;
    assert_eq!(st["state"], "failed", "{st}");
    assert!(st["reason"].as_str().unwrap().contains("out of memory"), "{st}");
    let (s, _) = agent.call("GET", "/v1/agent", None).await;
    assert_eq!(s, 200, "the agent is alive");

    // A file over the size limit fails the job at start, naming it.
    let mut extra = env("huge");
    extra["files"] = json!([{"path": "big.txt", "url": format!("{}/big", site.base("huge"))}]);
    let js = "const big = open('./big.txt');\nexport default function () {}";
    let st = agent.run("huge", js, 2.0, "1s", extra).await;
    assert_eq!(st["state"], "failed", "{st}");
    assert!(st["reason"].as_str().unwrap().contains("big.txt"), "{st}");
    assert!(st["reason"].as_str().unwrap().contains("larger than"), "{st}");

    // An exception in setup fails the job before any load.
    let js = r#"import http from "k6/http";
export function setup() { throw new Error("no setup"); }
export default function () { http.get(`${__ENV.BASE}/x`); }"#;
    let st = agent.run("setup-throws", js, 4.0, "1s", env("setup-throws")).await;
    assert_eq!(st["state"], "failed");
    assert!(st["reason"].as_str().unwrap().contains("no setup"), "{st}");
    assert!(site.seen("setup-throws").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_scripts_get_a_400_naming_the_problem() {
    let agent = Agent::spawn(TOKEN).await;
    let put = |id: &'static str, files: Value| {
        let agent = &agent;
        async move {
            let spec = json!({"script": {"entry": "main.js", "files": files}, "profile": {"rps": 1, "duration": "1s"}});
            agent.call("PUT", &format!("/v1/jobs/{id}"), Some(spec)).await
        }
    };
    let (s, v) =
        put("syntax", json!([{"path": "main.js", "content": "export default function () {\n  let = ;\n}"}])).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().starts_with("script: main.js:2:"), "{v}");
    let (s, v) = put("remote", json!([{"path": "main.js", "content": "import x from 'https://cdn.example.test/x.js';\nexport default function () {}"}])).await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("https://cdn.example.test/x.js"), "{v}");
    let (s, v) = put(
        "unsupported",
        json!([{"path": "main.js", "content": "import ws from 'k6/ws';\nexport default function () {}"}]),
    )
    .await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("k6/ws"), "{v}");
    let (s, v) = put(
        "missing",
        json!([{"path": "main.js", "content": "import { a } from './a.js';\nexport default function () {}"}]),
    )
    .await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("./a.js"), "{v}");
    let (s, v) = put("no-entry", json!([{"path": "other.js", "content": ""}])).await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().starts_with("script.entry"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_rate_changes_and_stop_act_on_scripts() {
    let site = Site::start().await;
    let agent = Agent::spawn(TOKEN).await;
    let js = r#"import http from "k6/http";
export default function () { http.get(`${__ENV.BASE}/r`); }"#;
    let spec = json!({
        "script": {"entry": "main.js", "files": [{"path": "main.js", "content": js}], "env": {"BASE": site.base("rate")}},
        "profile": {"rps": 20, "duration": "60s"},
    });
    let (s, v) = agent.call("PUT", "/v1/jobs/rate", Some(spec)).await;
    assert_eq!(s, 201, "{v}");
    eventually(Duration::from_secs(10), "first iterations", async || (site.seen("rate").len() >= 10).then_some(()))
        .await;
    let (s, v) = agent.call("POST", "/v1/jobs/rate/rate", Some(json!({"target_rps": 100}))).await;
    assert_eq!(s, 200, "{v}");
    let before = site.seen("rate").len();
    tokio::time::sleep(Duration::from_secs(1)).await; // measuring a rate needs a window
    let after = site.seen("rate").len();
    let got = (after - before) as f64;
    assert!((70.0..=130.0).contains(&got), "100 it/s after the change, got {got} in 1 s");
    let (s, v) = agent.call("POST", "/v1/jobs/rate/stop", Some(json!({"wait": "2s"}))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "finished", "{v}");
    let n = site.seen("rate").len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(site.seen("rate").len(), n, "nothing after the stop");
    let t = totals(&v);
    assert_eq!(t.iterations, n as u64, "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iterations_without_a_free_vu_are_dropped_and_counted() {
    let site = Site::start().await;
    let agent = Agent::spawn(TOKEN).await;
    let js = r#"import http from "k6/http";
export default function () { http.get(`${__ENV.BASE}/slow`); }"#;
    let st = agent.run("drop", js, 20.0, "2s", json!({"env": {"BASE": site.base("drop")}, "max_vus": 2})).await;
    finished(&st);
    let t = totals(&st);
    assert!(t.dropped >= 5, "{t:?}");
    assert_eq!(st["summary"]["dropped"].as_u64().unwrap(), t.dropped);
    let seen = site.seen("drop").len() as u64;
    assert_eq!(seen, t.iterations);
    assert_eq!(t.iterations + t.dropped, 40, "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_vu_keeps_its_cookies() {
    run_cases(vec![Case {
        id: "jar",
        js: r#"import http from "k6/http";
import { check } from "k6";
export default function () {
  http.get(`${__ENV.BASE}/cookie`);
  const jar = http.cookieJar();
  jar.set(__ENV.BASE, "extra", "e1");
  check(jar.cookiesForURL(__ENV.BASE), { "jar": (c) => c.session[0] === "s1" });
  http.get(`${__ENV.BASE}/after`);
}"#,
        extra: json!({"max_vus": 1}),
        check: |site, st, t| {
            finished(st);
            let after: Vec<_> = site.seen("jar").into_iter().filter(|r| r.path == "/after").collect();
            assert!(!after.is_empty());
            for r in after {
                assert_eq!(r.headers["cookie"], "extra=e1; session=s1");
            }
            assert_eq!(t.checks["jar"].1, 0, "{:?}", t.checks);
        },
    }])
    .await;
}

#[test]
fn the_standalone_runner_takes_its_load_from_the_scripts_options_unless_flags_replace_them() {
    use alilo_agent::cli::{Cli, Cmd, run_spec};
    use clap::Parser;
    let dir = std::env::temp_dir().join(format!("alilo-js-cli-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(
        dir.join("main.js"),
        r#"import http from "k6/http";
import { x } from "./lib/x.js";
export const options = { scenarios: { s: { executor: "ramping-arrival-rate", maxVUs: 30,
  stages: [{ target: 10, duration: "10s" }, { target: 20, duration: "10s" }] } } };
export default function () { http.get(__ENV.URL + x); }"#,
    )
    .unwrap();
    std::fs::write(dir.join("lib/x.js"), "export const x = '/';").unwrap();
    let path = dir.join("main.js");
    let parse = |extra: &[&str]| {
        let mut args = vec!["alilo-agent", "run", path.to_str().unwrap(), "-e", "URL=http://127.0.0.1:9"];
        args.extend_from_slice(extra);
        match Cli::try_parse_from(args).unwrap().cmd {
            Cmd::Run(a) => run_spec(&a),
            _ => unreachable!(),
        }
    };
    use alilo_agent_api::script::ScriptLoad;
    let scenarios = |spec: &alilo_agent_api::JobSpec| match &spec.script.as_ref().unwrap().load {
        ScriptLoad::Options { options: Some(o), .. } => o["scenarios"].clone(),
        l => panic!("{l:?}"),
    };
    let spec = parse(&[]).unwrap();
    assert_eq!(spec.max_vus, 30, "the scenario's maxVUs");
    assert_eq!(scenarios(&spec)["s"]["executor"], "ramping-arrival-rate", "the script's own scenario runs");
    let script = spec.script.as_ref().unwrap();
    assert_eq!(script.env["URL"], "http://127.0.0.1:9");
    assert!(script.files.iter().any(|f| f.path == "lib/x.js"));
    let spec = parse(&["--rps", "5", "--duration", "3s"]).unwrap();
    let s = scenarios(&spec);
    assert_eq!(
        (s["default"]["executor"].as_str(), s["default"]["rate"].as_f64()),
        (Some("constant-arrival-rate"), Some(5.0))
    );
    assert!(s.get("s").is_none(), "flags win over options");
    std::fs::write(
        dir.join("main.js"),
        "export const options = { vus: 5, duration: '1m' };\nexport default function () {}",
    )
    .unwrap();
    let spec = parse(&[]).unwrap();
    assert_eq!(spec.max_vus, 5, "k6's vus + duration: constant-vus");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The original platform's simple-script template (`templateSimpleScript`),
/// rendered for a GET with headers and query and for a POST of a
/// `SharedArray` ammo file, runs unmodified.
fn original_template(method: &str, url: &str, post: bool) -> String {
    let head = r#"import http from 'k6/http';
import {check, group} from 'k6';
import {SharedArray} from 'k6/data';
import {scenario} from 'k6/execution';

let API_URL = `${__ENV.API_URL}`;
let AMMO_URL = `${__ENV.AMMO_URL}`;
let RPS = `${__ENV.RPS}`;
let DURATION = `${__ENV.DURATION}`;
let STEPS = `${__ENV.STEPS}`;

export let options = {
    insecureSkipTLSVerify: true,
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'p(99.9)', 'p(99.99)', 'count'],
    scenarios: {
        shop: {
            executor: 'ramping-arrival-rate',
            startRate: 1,
            timeUnit: '1s',
            preAllocatedVUs: 1,
            maxVUs: 20,
            stages: [{target: 4, duration: '1s'}]
        }
    }
};

function params() {
    return {
        headers: {
        'X-Shop': 'alilo',
        'Accept': 'application/json',
        },
        tags: {
            url: '/t/ID/items',
            name: '/t/ID/items',
        }
    };
}
"#;
    let ammo = r#"
const payloads = new SharedArray("SharedArray", function () {
  const f = JSON.parse(open(AMMO_URL));
  return f;
});
"#;
    let call = if post {
        "        let payload = JSON.stringify(payloads[Math.floor(Math.random() * payloads.length)]);\n        group('shop', () => {\n            try {\n                response = http.post(url, payload, params());"
    } else {
        "    group('shop', () => {\n        try {\n            response = http.get(url, params());"
    };
    let tail = r#"
            check(response, {
                 "status code should be 200": res => res.status === 200,
                  });
        } catch (e) {
            console.error('Exception: ' + e.message)
        }
    });
    if (scenario.iterationInTest < 5) {
        console.warn("Counter: '" + scenario.iterationInTest + "'")
        console.warn("Data =>\n'" + JSON.stringify(response) + "'");
    }
    if (response && response.status !== 200) {
        console.error("Data broken =>"+
            "\nstatus '" + JSON.stringify(response.status) +
            "'\nstatus_text '" + JSON.stringify(response.status_text) +
            "'\nerror_code '" + JSON.stringify(response.error_code) +
            "'\nerror '" + JSON.stringify(response.error))
    }
};"#;
    let _ = method;
    format!(
        "{head}{}\nconst url = '{url}';\n\nexport default function () {{\n    let response;\n{call}\n{tail}",
        if post { ammo } else { "" }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_simple_script_template_runs_unmodified() {
    let site = Site::start().await;
    let agent = Agent::spawn(TOKEN).await;
    let get = original_template("get", &format!("{}/items?page=2&sort=asc", site.base("orig-get")), false);
    let post = original_template("post", &format!("{}/items", site.base("orig-post")), true);
    let env = |id: &str| {
        json!({
            "env": {"API_URL": site.base(id), "AMMO_URL": format!("{}/ammo.json", site.base(id)), "RPS": "4", "DURATION": "1s", "STEPS": "1"},
            "files": [{"path": "ammo.json", "url": format!("{}/ammo.json", site.base(id))}],
        })
    };
    let (g, p) = tokio::join!(
        agent.run("orig-get", &get, 4.0, "2s", env("orig-get")),
        agent.run("orig-post", &post, 4.0, "2s", env("orig-post"))
    );
    finished(&g);
    finished(&p);
    let gets: Vec<_> = site.seen("orig-get").into_iter().filter(|r| r.path == "/items").collect();
    assert!(!gets.is_empty());
    for r in &gets {
        assert_eq!((r.method.as_str(), r.query.as_str()), ("GET", "page=2&sort=asc"));
        assert_eq!(r.headers["x-shop"], "alilo");
        assert_eq!(r.headers["accept"], "application/json");
    }
    let posts: Vec<_> = site.seen("orig-post").into_iter().filter(|r| r.path == "/items").collect();
    assert!(!posts.is_empty());
    for r in &posts {
        assert_eq!(r.method, "POST");
        assert!(r.body == r#"{"q":"a"}"# || r.body == r#"{"q":"b"}"#, "{}", r.body);
    }
    for (st, n) in [(&g, gets.len()), (&p, posts.len())] {
        let t = totals(st);
        assert_eq!(t.checks["status code should be 200"], (n as u64, 0));
        assert_eq!(t.names["/t/ID/items"].0, n as u64, "named by the template's name tag: {:?}", t.names);
        assert_eq!(t.failed, 0, "{:?}", t.exceptions);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_ends_vus_that_are_sleeping_or_waiting() {
    let site = Site::start().await;
    let agent = Agent::spawn(TOKEN).await;
    let js = r#"import http from "k6/http";
import { sleep } from "k6";
export default function () {
  http.get(`${__ENV.BASE}/before`);
  try { sleep(30); } catch (e) { http.get(`${__ENV.BASE}/after-catch`); }
  sleep(30);
}"#;
    let spec = json!({
        "script": {"entry": "main.js", "files": [{"path": "main.js", "content": js}], "env": {"BASE": site.base("stop")}},
        "profile": {"rps": 5, "duration": "60s"},
    });
    let (s, v) = agent.call("PUT", "/v1/jobs/stop", Some(spec)).await;
    assert_eq!(s, 201, "{v}");
    eventually(Duration::from_secs(10), "VUs asleep", async || (site.seen("stop").len() >= 3).then_some(())).await;
    let t0 = std::time::Instant::now();
    let (s, v) = agent.call("POST", "/v1/jobs/stop/stop", Some(json!({"wait": "1s"}))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "finished", "{v}");
    assert!(t0.elapsed() < Duration::from_secs(5), "the stop took {:?}", t0.elapsed());
    assert!(site.seen("stop").iter().all(|r| r.path == "/before"), "a stopping VU sends nothing more");
    let (s, _) = agent.call("GET", "/v1/agent", None).await;
    assert_eq!(s, 200, "the agent is alive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_threshold_makes_the_standalone_runner_exit_99() {
    let site = Site::start().await;
    let dir = std::env::temp_dir().join(format!("alilo-js-th-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |id: &'static str, thresholds: &'static str| {
        let dir = dir.clone();
        let base = site.base(id);
        async move {
            let js = format!(
                "import http from 'k6/http';\nimport {{ check }} from 'k6';\nexport const options = {{ thresholds: {thresholds} }};\nexport default function () {{ check(http.get(`${{__ENV.BASE}}/x`, {{ tags: {{ name: 'x' }} }}), {{ ok: (r) => r.status === 200 }}); }}\n"
            );
            let path = dir.join(format!("{id}.js"));
            std::fs::write(&path, js).unwrap();
            let export = dir.join(format!("{id}.json"));
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_alilo-agent"))
                .arg("run")
                .arg(&path)
                .args(["--rps", "5", "--duration", "1s", "--quiet", "-e", &format!("BASE={base}")])
                .arg("--summary-export")
                .arg(&export)
                .output()
                .await
                .unwrap();
            let doc: Value = serde_json::from_slice(&std::fs::read(&export).unwrap()).unwrap();
            (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), doc)
        }
    };
    let (code, text, doc) = run(
        "th-pass",
        "{ http_req_failed: ['rate<0.01'], checks: ['rate==1'], 'http_req_duration{name:x}': ['p(95)<5000'] }",
    )
    .await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("threshold ✓ http_req_failed rate<0.01"), "{text}");
    assert!(doc["thresholds"].as_object().unwrap().values().all(|v| v["ok"] == true), "{doc}");
    let (code, text, doc) = run("th-fail", "{ 'http_req_duration{name:x}': ['max<0'], iterations: ['count>0'] }").await;
    assert_eq!(code, Some(99), "{text}");
    assert!(text.contains("threshold ✗ http_req_duration{name:x} max<0"), "{text}");
    assert_eq!(doc["thresholds"]["iterations count>0"]["ok"], true, "{doc}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The requests of job `id` to `path`, in order.
fn to(site: &Site, id: &str, path: &str) -> Vec<Seen> {
    site.seen(id).into_iter().filter(|r| r.path == path).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_groups_redirect_cookies_digest_html_and_exception_stacks() {
    run_cases(vec![
        Case {
            id: "timers",
            js: r#"import http from "k6/http";
import { setTimeout as later } from "k6/timers";
export default function () {
  const B = __ENV.BASE;
  let n = 0;
  const id = setInterval(() => { n++; http.get(`${B}/tick?n=${n}&iter=${__ITER}`); if (n === 3) clearInterval(id); }, 20);
  later((a) => http.get(`${B}/timeout?a=${a}`), 50, "x");
  const never = setTimeout(() => http.get(`${B}/never`), 10);
  clearTimeout(never);
}"#,
            extra: json!({}),
            check: |site, st, t| {
                finished(st);
                assert!(t.iterations >= 4 && t.exceptions.is_empty(), "{t:?}");
                // The iteration waited for its timers: each ran all 3 ticks and the timeout.
                let ticks = to(site, "timers", "/tick");
                assert_eq!(ticks.len() as u64, 3 * t.iterations, "{t:?}");
                for n in 1..=3 {
                    assert_eq!(ticks.iter().filter(|r| r.query.starts_with(&format!("n={n}&"))).count() as u64, t.iterations);
                }
                let timeouts = to(site, "timers", "/timeout");
                assert_eq!(timeouts.len() as u64, t.iterations);
                assert!(timeouts.iter().all(|r| r.query == "a=x"));
                assert!(to(site, "timers", "/never").is_empty(), "a cleared timeout never fires");
            },
        },
        Case {
            id: "async-timer",
            js: r#"import http from "k6/http";
export default async function () {
  await new Promise((resolve) => setTimeout(resolve, 30));
  http.get(`${__ENV.BASE}/after-await`);
  if (__ITER === 1) await Promise.reject(new Error("async boom"));
}"#,
            extra: json!({"max_vus": 1}),
            check: |site, st, t| {
                finished(st);
                assert_eq!(to(site, "async-timer", "/after-await").len() as u64, t.iterations);
                assert!(t.exceptions.get("async boom").is_some_and(|n| *n >= 1), "a rejected async iteration is its exception: {t:?}");
            },
        },
        Case {
            id: "timer-throws",
            js: r#"import http from "k6/http";
export default function () {
  setTimeout(() => { throw new Error("in a timer"); }, 5);
  setTimeout(() => http.get(`${__ENV.BASE}/after-throw`), 40);
}"#,
            extra: json!({}),
            check: |site, st, t| {
                finished(st);
                assert_eq!(t.exceptions.get("in a timer"), Some(&t.iterations), "{t:?}");
                assert!(to(site, "timer-throws", "/after-throw").is_empty(), "the iteration ended with the exception");
            },
        },
        Case {
            id: "groups",
            js: r#"import http from "k6/http";
import { group, check } from "k6";
export default function () {
  group("login", () => {
    http.get(`${__ENV.BASE}/login`);
    group("form", () => {
      const r = http.get(`${__ENV.BASE}/status/404`);
      check(r, { "is 404": (r) => r.status === 404 });
    });
  });
  check(1, { "top": () => true, "is 404": () => false });
  http.get(`${__ENV.BASE}/top`);
}"#,
            extra: json!({}),
            check: |site, st, t| {
                finished(st);
                let n = t.iterations;
                assert_eq!(to(site, "groups", "/login").len() as u64, n);
                let paths: Vec<&str> = t.groups.keys().map(String::as_str).collect();
                assert_eq!(paths, ["::login", "::login::form"], "{t:?}");
                let login = &t.groups["::login"];
                assert_eq!((login.0, login.1, login.2), (n, n, 0), "{t:?}");
                assert!(login.3.is_empty(), "{t:?}");
                let form = &t.groups["::login::form"];
                assert_eq!((form.0, form.1, form.2), (n, n, n), "the 404 is a failed request of the inner group");
                assert_eq!(form.3["is 404"], (n, 0));
                // Checks by name still sum over groups and the top level.
                assert_eq!(t.checks["is 404"], (n, n));
                assert_eq!(t.checks["top"], (n, 0));
            },
        },
        Case {
            id: "redirect-cookie",
            js: r#"import http from "k6/http";
import { check } from "k6";
export default function () {
  const r = http.post(`${__ENV.BASE}/redirect-cookie`, "payload", { cookies: { mine: "m1" } });
  check(r, { "landed": (r) => r.status === 200 && r.url.endsWith("/echo") && r.json("method") === "GET" });
  const none = http.get(`${__ENV.BASE}/redirect-cookie`, { redirects: 0 });
  check(none, { "not followed": (r) => r.status === 302 });
}"#,
            extra: json!({"max_vus": 1}),
            check: |site, st, t| {
                finished(st);
                let echo = to(site, "redirect-cookie", "/echo");
                assert!(!echo.is_empty());
                for r in &echo {
                    // The 302's Set-Cookie was in the jar before the followed request went out.
                    let c = &r.headers["cookie"];
                    assert!(c.contains("hop=h1") && c.contains("mine=m1"), "{c}");
                    assert_eq!((r.method.as_str(), r.body.as_str()), ("GET", ""), "a 302 after a POST is a GET");
                }
                assert_eq!(to(site, "redirect-cookie", "/redirect-cookie").len(), 2 * echo.len());
                assert_eq!(t.checks["landed"], (t.iterations, 0), "{t:?}");
                assert_eq!(t.checks["not followed"], (t.iterations, 0), "{t:?}");
            },
        },
        Case {
            id: "digest",
            js: r#"import http from "k6/http";
import { check } from "k6";
export default function () {
  const base = __ENV.BASE.replace("http://", "http://ann:s3cret@");
  for (const alg of ["MD5", "SHA-256"]) {
    const r = http.get(`${base}/digest/${alg}?x=1`, { auth: "digest" });
    check(r, { [`${alg} ok`]: (r) => r.status === 200 && r.body === "digest-ok" });
  }
  const bad = http.get(`${base.replace("s3cret", "wrong")}/digest/MD5`, { auth: "digest" });
  check(bad, { "wrong password is 401": (r) => r.status === 401 });
}"#,
            extra: json!({}),
            check: |site, st, t| {
                finished(st);
                let n = t.iterations;
                assert!(n > 0);
                for alg in ["MD5", "SHA-256"] {
                    assert_eq!(t.checks[&format!("{alg} ok")], (n, 0), "{t:?}");
                    let seen = to(site, "digest", &format!("/digest/{alg}"));
                    // Per call: the challenge (no credentials), then the answer.
                    let answered = seen.iter().filter(|r| r.headers.contains_key("authorization")).count() as u64;
                    let expected_seen = if alg == "MD5" { 4 * n } else { 2 * n };
                    assert_eq!((seen.len() as u64, answered), (expected_seen, expected_seen / 2), "{alg}: {seen:?}");
                }
                assert_eq!(t.checks["wrong password is 401"], (n, 0), "{t:?}");
                // 2 requests per good call (the challenge is not a failure), 2 for the bad one (no loop).
                assert_eq!(site.seen("digest").len() as u64, 6 * n);
                let failed: u64 = t.names.values().map(|v| v.1).sum();
                assert_eq!(failed, n, "only the wrong password's answer fails: {:?}", t.names);
            },
        },
        Case {
            id: "html",
            js: r##"import http from "k6/http";
export default function () {
  const doc = http.get(`${__ENV.BASE}/page`).html();
  const csrf = doc.find("input[name=csrf]").attr("value");
  const links = [];
  doc.find("#items a").each((i, a) => links.push(`${i}:${a.attr("href")}`));
  const li = doc.find("li.item");
  http.post(`${__ENV.BASE}/submit`, `csrf=${csrf}&links=${links.join(",")}&n=${li.size()}&first=${li.first().text()}&last=${li.last().find("a").text()}&none=${doc.find("table").attr("x", "d")}`);
  try { doc.find("li:first-child").size(); } catch (e) { http.get(`${__ENV.BASE}/refused?m=${encodeURIComponent(e.message)}`); }
}"##,
            extra: json!({}),
            check: |site, st, t| {
                finished(st);
                let submits = to(site, "html", "/submit");
                assert_eq!(submits.len() as u64, t.iterations);
                for r in &submits {
                    assert_eq!(r.body, "csrf=tok-1&links=0:/i/7,1:/i/8&n=2&first=Seven&last=Eight&none=d");
                }
                let refused = to(site, "html", "/refused");
                assert_eq!(refused.len() as u64, t.iterations);
                assert!(refused[0].query.contains("first-child"), "{:?}", refused[0]);
            },
        },
        Case {
            id: "exception-stacks",
            js: r#"import http from "k6/http";
function deep(o) {
  return o.missing.field;
}
export default function () {
  http.get(`${__ENV.BASE}/x`);
  if (__ITER % 2 === 0) deep({});
  throw new Error("always");
}"#,
            extra: json!({"max_vus": 1}),
            check: |site, st, t| {
                finished(st);
                assert_eq!(site.seen("exception-stacks").len() as u64, t.iterations, "the VU goes on after each");
                let total: u64 = t.exceptions.values().sum();
                assert_eq!(total, t.iterations);
                assert!(t.exceptions["always"] > 0, "{t:?}");
                assert!(t.iterations >= 5, "{t:?}");
                assert_eq!(t.samples.len(), 5, "the first five are kept: {t:?}");
                let line = |s: &Value| s["location"].as_str().unwrap().split(':').take(2).collect::<Vec<_>>().join(":");
                let first = &t.samples[0];
                assert!(first["message"].as_str().unwrap().starts_with("TypeError"), "{first}");
                // QuickJS places a property read at its function's line (2 or 3 here).
                assert!(["main.js:2", "main.js:3"].contains(&line(first).as_str()), "{first}");
                let stack = first["stack"].as_str().unwrap();
                assert!(stack.contains("at deep (main.js:") && stack.contains("main.js:7"), "with its callers: {first}");
                assert_eq!(first["iteration"].as_u64(), Some(0), "{first}");
                assert!(first["vu"].as_u64().unwrap() >= 1, "{first}");
                let thrown = t.samples.iter().find(|s| s["message"] == "always").expect("an odd iteration");
                assert_eq!(line(thrown), "main.js:8", "{thrown}");
            },
        },
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jar_scopes_cookies_by_domain_path_expiry_and_secure_and_a_batch_keeps_every_hops() {
    run_cases(vec![
        Case {
            id: "jar-rfc",
            js: r#"import http from "k6/http";
export default function () {
  const B = __ENV.BASE;
  http.get(`${B}/set-scoped`);
  http.get(`${B}/expire-old`);
  http.get(`${B}/area/inside`);
  http.get(`${B}/areas`);
  http.get(`${B.replace("127.0.0.1", "localhost")}/elsewhere`);
}"#,
            extra: json!({"max_vus": 1}),
            check: |site, st, t| {
                finished(st);
                assert!(t.iterations > 0 && t.exceptions.is_empty(), "{t:?}");
                let cookie = |path: &str| -> Vec<String> {
                    to(site, "jar-rfc", path)
                        .iter()
                        .map(|r| r.headers.get("cookie").cloned().unwrap_or_default())
                        .collect()
                };
                let n = t.iterations as usize;
                // Before its expiry `old` goes out; `sec` never does over http; `foreign` was refused.
                assert_eq!(cookie("/expire-old"), vec!["root=r1; old=o1".to_string(); n]);
                assert_eq!(cookie("/area/inside"), vec!["area=a1; root=r1".to_string(); n], "longer path first");
                assert_eq!(cookie("/areas"), vec!["root=r1".to_string(); n], "/areas is not under /area");
                assert_eq!(cookie("/elsewhere"), vec![String::new(); n], "host-only cookies stay on 127.0.0.1");
            },
        },
        Case {
            id: "batch-cookie",
            js: r#"import http from "k6/http";
import { check } from "k6";
export default function () {
  const B = __ENV.BASE;
  const [a, b] = http.batch([["GET", `${B}/redirect-cookie`], ["GET", `${B}/json`]]);
  check(a, { "followed": (r) => r.status === 200 && r.url.endsWith("/echo") });
  check(b, { "json": (r) => r.json("n") === 2 });
  http.get(`${B}/after`);
}"#,
            extra: json!({"max_vus": 1}),
            check: |site, st, t| {
                finished(st);
                assert_eq!(t.checks["followed"], (t.iterations, 0), "{t:?}");
                assert_eq!(t.checks["json"], (t.iterations, 0), "{t:?}");
                // The redirect's Set-Cookie went into the jar before the followed
                // request left, and stays after the batch.
                for path in ["/echo", "/after"] {
                    let seen = to(site, "batch-cookie", path);
                    assert_eq!(seen.len() as u64, t.iterations, "{path}");
                    assert!(
                        seen.iter().all(|r| r.headers.get("cookie").is_some_and(|c| c.contains("hop=h1"))),
                        "{path}: {seen:?}"
                    );
                }
                // Both hops count as requests, as in k6.
                assert_eq!(t.sent, 4 * t.iterations, "{t:?}");
            },
        },
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripts_failed_requests_are_sampled_like_a_simple_scripts() {
    let site = Site::start().await;
    let agent = Agent::spawn(TOKEN).await;
    let refused = format!("http://127.0.0.1:{}/nobody", common::free_port());
    let js = r#"import http from "k6/http";
export default function () {
  http.get(`${__ENV.BASE}/status/503?q=1`, { tags: { name: "unavailable" } });
  http.get(`${__ENV.BASE}/x`);
  http.get(__ENV.REFUSED);
}"#;
    let st = agent
        .run(
            "failures",
            js,
            4.0,
            "1s",
            json!({"max_vus": 1, "env": {"BASE": site.base("failures"), "REFUSED": refused}}),
        )
        .await;
    finished(&st);
    let t = totals(&st);
    let (s, sample) = agent.call("GET", "/v1/jobs/failures/failures", None).await;
    assert_eq!(s, 200, "{sample}");
    assert_eq!(sample["total"].as_u64(), Some(2 * t.iterations), "two failed requests an iteration: {sample}");
    let first = sample["first"].as_array().unwrap();
    let unavailable = first.iter().find(|f| f["status"] == 503).expect("the 503 is kept");
    let message = unavailable["message"].as_str().unwrap();
    assert!(
        message.contains("/t/failures/status/503?q=1 (unavailable): status 503 is not an expected status"),
        "{message}"
    );
    assert_eq!(unavailable["body"], "status", "its body");
    let connect = first.iter().find(|f| f["error"] == "connect").expect("the refused connection is kept");
    assert!(connect["message"].as_str().unwrap().starts_with(&format!("GET {refused}: ")), "{connect}");
}
