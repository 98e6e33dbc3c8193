//! k6's executors end to end: a real agent runs scripts whose `options`
//! set the load (`script.load`), against a loopback site started here, and
//! each test checks the executor's semantics by what the site received:
//! requests per VU, iterations, the ramp's shape, scenarios in parallel,
//! graceful stops, live VU changes; then `alilo-agent run` with `--vus`,
//! `--duration`, `--iterations` and an `abortOnFail` threshold.
//!
//! Every request carries `vu` (`__VU`), and the site notes when it arrived.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

mod common;
use common::{Agent, eventually};

const TOKEN: &str = "executor-test-token";

/// A request as the site saw it: path under `/t/<id>`, query pairs, when.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: BTreeMap<String, String>,
    at: Instant,
}

impl Seen {
    fn q(&self, k: &str) -> &str {
        self.query.get(k).map_or("", String::as_str)
    }
}

struct Site {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<(String, Seen)>>>,
}

impl Site {
    async fn start() -> Site {
        let seen: Arc<Mutex<Vec<(String, Seen)>>> = Arc::default();
        let s = seen.clone();
        let addr = common::serve(None, move |req: http::Request<hyper::body::Incoming>| {
            let s = s.clone();
            async move {
                let at = Instant::now();
                let path = req.uri().path().to_string();
                let query =
                    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect();
                let _ = req.into_body().collect().await;
                let mut segs = path.splitn(4, '/'); // "", "t", id, rest
                let (_, _, id, rest) = (segs.next(), segs.next(), segs.next(), segs.next());
                let id = id.unwrap_or("").to_string();
                let rest = format!("/{}", rest.unwrap_or(""));
                s.lock().unwrap().push((id, Seen { path: rest, query, at }));
                http::Response::new(Full::new(Bytes::from_static(b"ok")))
            }
        })
        .await;
        Site { addr, seen }
    }

    fn base(&self, id: &str) -> String {
        format!("http://{}/t/{id}", self.addr)
    }

    fn seen(&self, id: &str) -> Vec<Seen> {
        self.seen.lock().unwrap().iter().filter(|(i, _)| i == id).map(|(_, s)| s.clone()).collect()
    }

    fn under(&self, id: &str, path: &str) -> Vec<Seen> {
        self.seen(id).into_iter().filter(|s| s.path == path).collect()
    }
}

/// Requests per `vu` query value.
fn per_vu(seen: &[Seen]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for s in seen {
        *m.entry(s.q("vu").to_string()).or_default() += 1;
    }
    m
}

impl Agent {
    /// Starts `js` as job `id` (its load from `load`), `BASE` in `__ENV`.
    async fn start(&self, site: &Site, id: &str, js: &str, load: Value, profile: Value) {
        let spec = json!({
            "script": {"entry": "main.js", "files": [{"path": "main.js", "content": js}],
                       "env": {"BASE": site.base(id)}, "load": load},
            "profile": profile,
            "timeout": "5s",
        });
        let (s, v) = self.call("PUT", &format!("/v1/jobs/{id}"), Some(spec)).await;
        assert_eq!(s, 201, "{id}: {v}");
    }

    /// Runs `js` with its own options as the load; the final status.
    async fn run_options(&self, site: &Site, id: &str, js: &str) -> Value {
        self.start(site, id, js, json!({"from": "options"}), json!({"rps": 0, "duration": "1s"})).await;
        let st = self.wait_terminal(id, Duration::from_secs(40)).await;
        assert_eq!(st["state"], "finished", "{id}: {st}");
        st
    }
}

/// Iterations counted by the job's buckets.
fn iterations(st: &Value) -> u64 {
    st["buckets"].as_array().unwrap().iter().filter_map(|b| b["script"]["iterations"].as_u64()).sum()
}

const GET: &str = "import http from 'k6/http';\nimport { sleep } from 'k6';\nimport exec from 'k6/execution';\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iteration_count_executors_run_exactly_their_iterations() {
    let site = Site::start().await;
    let agent = Agent::spawn(TOKEN).await;
    // per-vu-iterations: each of 3 VUs runs exactly 4 iterations, __ITER 0..3.
    let per_vu_js = format!(
        "{GET}export const options = {{ scenarios: {{ p: {{ executor: 'per-vu-iterations', vus: 3, iterations: 4 }} }} }};
export default function () {{ http.get(`${{__ENV.BASE}}/x?vu=${{__VU}}&iter=${{__ITER}}&n=${{exec.vu.iterationInScenario}}&s=${{exec.scenario.name}}&e=${{exec.scenario.executor}}`); }}"
    );
    // shared-iterations: 7 iterations over 2 VUs, each iterationInTest once.
    let shared = format!(
        "{GET}export const options = {{ scenarios: {{ sh: {{ executor: 'shared-iterations', vus: 2, iterations: 7 }} }} }};
export default function () {{ http.get(`${{__ENV.BASE}}/x?vu=${{__VU}}&it=${{exec.scenario.iterationInTest}}`); sleep(0.05); }}"
    );
    // k6's shortcut: `iterations` alone is shared-iterations on one VU.
    let shortcut = format!(
        "{GET}export const options = {{ iterations: 5 }};\nexport default function () {{ http.get(`${{__ENV.BASE}}/x?vu=${{__VU}}`); }}"
    );
    // maxDuration ends what the iterations have not: 1 VU, 100 iterations of
    // ~100 ms, 1 s at most.
    let bounded = format!(
        "{GET}export const options = {{ scenarios: {{ m: {{ executor: 'per-vu-iterations', vus: 1, iterations: 100, maxDuration: '1s', gracefulStop: '0s' }} }} }};
export default function () {{ http.get(`${{__ENV.BASE}}/x`); sleep(0.1); }}"
    );
    let (a, b, c, d) = tokio::join!(
        agent.run_options(&site, "pervu", &per_vu_js),
        agent.run_options(&site, "shared", &shared),
        agent.run_options(&site, "short", &shortcut),
        agent.run_options(&site, "bounded", &bounded),
    );
    let n = site.under("bounded", "/x").len();
    assert!((7..=11).contains(&n), "about 10 iterations within maxDuration 1s: {n}");
    assert!((n as u64 - 1..=n as u64).contains(&iterations(&d)), "the one cut is not counted");

    let seen = site.under("pervu", "/x");
    let counts = per_vu(&seen);
    assert_eq!(counts.len(), 3, "three VUs: {counts:?}");
    assert!(counts.values().all(|n| *n == 4), "four iterations each: {counts:?}");
    for vu in counts.keys() {
        let mut iters: Vec<&str> = seen.iter().filter(|s| s.q("vu") == vu).map(|s| s.q("iter")).collect();
        iters.sort_unstable();
        assert_eq!(iters, vec!["0", "1", "2", "3"], "VU {vu}");
    }
    assert!(seen.iter().all(|s| s.q("iter") == s.q("n") && s.q("s") == "p" && s.q("e") == "per-vu-iterations"));
    assert_eq!(iterations(&a), 12, "{a}");

    let seen = site.under("shared", "/x");
    let mut its: Vec<u64> = seen.iter().map(|s| s.q("it").parse().unwrap()).collect();
    its.sort_unstable();
    assert_eq!(its, (0..7).collect::<Vec<_>>(), "each shared iteration once");
    assert_eq!(per_vu(&seen).len(), 2, "two VUs share them");
    assert_eq!(iterations(&b), 7);

    assert_eq!(site.under("short", "/x").len(), 5);
    assert_eq!(per_vu(&site.under("short", "/x")).len(), 1);
    assert_eq!(iterations(&c), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constant_vus_loop_for_their_duration_and_ramping_vus_follow_the_stages() {
    let site = Site::start().await;
    let agent = Agent::spawn(TOKEN).await;
    // 3 VUs for 2 s, an iteration every ~100 ms each.
    let constant = format!(
        "{GET}export const options = {{ vus: 3, duration: '2s' }};
export default function () {{ http.get(`${{__ENV.BASE}}/x?vu=${{__VU}}`); sleep(0.1); }}"
    );
    // 0 → 4 VUs over 2 s, then 4 → 0 over 2 s, removed VUs cut at once:
    // the k-th VU is up from 0.5·k s until 4.5 − 0.5·k s.
    let ramping = format!(
        "{GET}export const options = {{ scenarios: {{ r: {{ executor: 'ramping-vus', startVUs: 0, gracefulRampDown: '0s',
  stages: [{{ duration: '2s', target: 4 }}, {{ duration: '2s', target: 0 }}] }} }} }};
export default function () {{ http.get(`${{__ENV.BASE}}/x?vu=${{__VU}}`); sleep(0.1); }}"
    );
    let started = Instant::now();
    let (a, _) = tokio::join!(agent.run_options(&site, "const", &constant), agent.run_options(&site, "ramp", &ramping));
    let seen = site.under("const", "/x");
    let counts = per_vu(&seen);
    assert_eq!(counts.len(), 3, "{counts:?}");
    for (vu, n) in &counts {
        assert!((14..=21).contains(n), "VU {vu}: about 20 iterations of ~100 ms in 2 s, got {n}: {counts:?}");
    }
    let first = seen.iter().map(|s| s.at).min().unwrap();
    let last = seen.iter().map(|s| s.at).max().unwrap();
    assert!(last - first < Duration::from_millis(2300), "no iteration starts after 2 s: {:?}", last - first);
    assert!(iterations(&a) >= 42, "{a}");
    assert!(started.elapsed() < Duration::from_secs(30));

    let mut counts: Vec<usize> = per_vu(&site.under("ramp", "/x")).into_values().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    // Up for 3.5, 2.5, 1.5 and 0.5 s: about 35, 25, 15 and 5 iterations.
    assert_eq!(counts.len(), 4, "{counts:?}");
    let want = [35.0, 25.0, 15.0, 5.0];
    for (got, want) in counts.iter().zip(want) {
        let got = *got as f64;
        assert!((got - want).abs() <= want * 0.25 + 2.0, "ramp shape {counts:?} vs {want:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_run_in_parallel_with_their_own_exec_env_and_start_time() {
    let site = Site::start().await;
    let agent = Agent::spawn(TOKEN).await;
    let js = format!(
        "{GET}export const options = {{ scenarios: {{
  browse: {{ executor: 'constant-vus', vus: 1, duration: '1s', exec: 'browse', env: {{ WHO: 'browser' }} }},
  buy: {{ executor: 'per-vu-iterations', vus: 2, iterations: 2, exec: 'buy', startTime: '500ms', env: {{ WHO: 'buyer' }} }},
  api: {{ executor: 'constant-arrival-rate', rate: 10, timeUnit: '1s', duration: '1s', preAllocatedVUs: 2 }},
}} }};
export function browse() {{ http.get(`${{__ENV.BASE}}/browse?who=${{__ENV.WHO}}&s=${{exec.scenario.name}}`); sleep(0.1); }}
export function buy() {{ http.get(`${{__ENV.BASE}}/buy?who=${{__ENV.WHO}}&s=${{exec.scenario.name}}&since=${{Date.now() - exec.scenario.startTime}}&p=${{exec.scenario.progress}}`); }}
export default function () {{ http.get(`${{__ENV.BASE}}/api?who=${{__ENV.WHO}}&s=${{exec.scenario.name}}`); }}"
    );
    let st = agent.run_options(&site, "multi", &js).await;
    let (browse, buy, api) = (site.under("multi", "/browse"), site.under("multi", "/buy"), site.under("multi", "/api"));
    assert!((7..=11).contains(&browse.len()), "browse: one VU, ~100 ms iterations for 1 s: {}", browse.len());
    assert_eq!(buy.len(), 4, "buy: 2 VUs × 2 iterations");
    assert!((8..=11).contains(&api.len()), "api: 10/s for 1 s: {}", api.len());
    assert!(browse.iter().all(|s| s.q("who") == "browser" && s.q("s") == "browse"));
    assert!(buy.iter().all(|s| s.q("who") == "buyer" && s.q("s") == "buy"));
    // exec.scenario.startTime is the scenario's start (500 ms in), not the test's.
    for s in &buy {
        let since: f64 = s.q("since").parse().unwrap();
        let p: f64 = s.q("p").parse().unwrap();
        assert!((0.0..300.0).contains(&since), "ms since buy started: {since}");
        assert!((0.0..0.05).contains(&p), "progress of a 10 m maxDuration: {p}");
    }
    assert!(api.iter().all(|s| s.q("who") == "undefined" && s.q("s") == "api"), "no env of another scenario leaks");
    let t0 = browse.iter().chain(&api).map(|s| s.at).min().unwrap();
    let first_buy = buy.iter().map(|s| s.at).min().unwrap();
    assert!(first_buy - t0 >= Duration::from_millis(400), "buy starts at 500 ms: {:?}", first_buy - t0);
    assert_eq!(iterations(&st), (browse.len() + buy.len() + api.len()) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ramping_arrival_rate_starts_the_integral_of_its_rate_and_drops_beyond_max_vus() {
    let site = Site::start().await;
    let agent = Agent::spawn(TOKEN).await;
    // 0 → 20/s over 2 s, then 20/s for 1 s: 20 + 20 iterations.
    let ramp = format!(
        "{GET}export const options = {{ scenarios: {{ r: {{ executor: 'ramping-arrival-rate', startRate: 0, timeUnit: '1s',
  preAllocatedVUs: 2, maxVUs: 10, stages: [{{ target: 20, duration: '2s' }}, {{ target: 20, duration: '1s' }}] }} }} }};
export default function () {{ http.get(`${{__ENV.BASE}}/x`); }}"
    );
    // 20/s of 300 ms iterations on at most 2 VUs: about 6.7/s run, the rest dropped.
    let capped = format!(
        "{GET}export const options = {{ scenarios: {{ c: {{ executor: 'constant-arrival-rate', rate: 20, duration: '2s',
  preAllocatedVUs: 2 }} }} }};
export default function () {{ http.get(`${{__ENV.BASE}}/x`); sleep(0.3); }}"
    );
    let (a, b) = tokio::join!(agent.run_options(&site, "rar", &ramp), agent.run_options(&site, "cap", &capped));
    let seen = site.under("rar", "/x");
    assert!((36..=42).contains(&seen.len()), "about 40: {}", seen.len());
    let last = seen.iter().map(|s| s.at).max().unwrap();
    let flat = seen.iter().filter(|s| s.at + Duration::from_millis(1000) > last).count();
    let first_s = seen.iter().filter(|s| s.at < last - Duration::from_millis(2000)).count();
    assert!((16..=23).contains(&flat), "20 in the flat last second: {flat}");
    assert!((2..=9).contains(&first_s), "about 5 in the first second of the ramp: {first_s}");
    assert_eq!(iterations(&a), seen.len() as u64);
    let dropped = b["summary"]["dropped"].as_u64().unwrap();
    let ran = site.under("cap", "/x").len() as u64;
    assert_eq!(ran + dropped, 40, "every due iteration runs or is dropped: {b}");
    assert!((10..=16).contains(&ran), "2 VUs × 2 s / 300 ms: {ran}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_lets_iterations_finish_or_cuts_them() {
    let site = Site::start().await;
    let agent = Agent::spawn(TOKEN).await;
    // Each iteration: /a, 700 ms, /b. The scenario lasts 1 s.
    let js = |grace: &str| {
        format!(
            "{GET}export const options = {{ scenarios: {{ s: {{ executor: 'constant-vus', vus: 2, duration: '1s', gracefulStop: '{grace}' }} }} }};
export default function () {{ http.get(`${{__ENV.BASE}}/a`); sleep(0.7); http.get(`${{__ENV.BASE}}/b`); }}"
        )
    };
    let (kept_js, cut_js) = (js("3s"), js("0s"));
    let (kept, cut) =
        tokio::join!(agent.run_options(&site, "kept", &kept_js), agent.run_options(&site, "cut", &cut_js));
    let (a, b) = (site.under("kept", "/a").len(), site.under("kept", "/b").len());
    assert_eq!(a, b, "with gracefulStop 3s every iteration ends");
    assert_eq!(a, 4, "2 VUs × 2 iterations started within 1 s");
    assert_eq!(iterations(&kept), 4);
    let (a, b) = (site.under("cut", "/a").len(), site.under("cut", "/b").len());
    assert_eq!((a, b), (4, 2), "with gracefulStop 0s the second iterations are cut before /b");
    assert_eq!(iterations(&cut), 2, "interrupted iterations are not counted");
    let exc: u64 =
        cut["buckets"].as_array().unwrap().iter().filter_map(|b| b["script"]["failed_iterations"].as_u64()).sum();
    assert_eq!(exc, 0, "nor counted as exceptions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_rate_change_scales_a_closed_model_scripts_vus() {
    let site = Site::start().await;
    let agent = Agent::spawn(TOKEN).await;
    // The platform's rule: closed-model options run, VUs × live rps / 10.
    let js = format!(
        "{GET}export const options = {{ vus: 4, duration: '20s' }};
export default function () {{ http.get(`${{__ENV.BASE}}/x?vu=${{__VU}}`); sleep(0.1); }}"
    );
    agent
        .start(&site, "live", &js, json!({"from": "auto", "reference_rps": 10}), json!({"rps": 10, "duration": "20s"}))
        .await;
    let active = |from: Instant, to: Instant| -> usize {
        per_vu(&site.under("live", "/x").into_iter().filter(|s| s.at >= from && s.at < to).collect::<Vec<_>>()).len()
    };
    eventually(Duration::from_secs(10), "4 VUs", async || {
        let now = Instant::now();
        (active(now - Duration::from_millis(300), now) == 4).then_some(())
    })
    .await;
    // 50 %: 2 VUs, within a tick and the iteration in progress.
    let (s, v) = agent.call("POST", "/v1/jobs/live/rate", Some(json!({"target_rps": 5}))).await;
    assert_eq!(s, 200, "{v}");
    let changed = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after = active(changed + Duration::from_millis(300), Instant::now());
    assert_eq!(after, 2, "50 % of 4 VUs");
    // The agent's share halves too (scale), with the rps back at 100 %: 2.
    let (s, _) = agent.call("POST", "/v1/jobs/live/rate", Some(json!({"target_rps": 20, "scale": 0.25}))).await;
    assert_eq!(s, 200);
    let changed = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(active(changed + Duration::from_millis(300), Instant::now()), 2, "4 × 20/10 × 0.25");
    let (s, _) = agent.call("POST", "/v1/jobs/live/rate", Some(json!({"target_rps": 30, "scale": 1.0}))).await;
    assert_eq!(s, 200);
    let changed = Instant::now();
    // How soon the 8 new VUs (created on helper threads) send.
    let latency = eventually(Duration::from_secs(5), "12 VUs", async || {
        let n = per_vu(&site.under("live", "/x").into_iter().filter(|s| s.at >= changed).collect::<Vec<_>>()).len();
        (n >= 12).then(|| changed.elapsed())
    })
    .await;
    eprintln!("12 VUs sending {latency:?} after the rate change");
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(active(changed + Duration::from_millis(300), Instant::now()), 12, "300 %: 12 VUs");
    let (s, v) = agent.call("POST", "/v1/jobs/live/stop", Some(json!({"wait": "2s"}))).await;
    assert_eq!(s, 200, "{v}");
    let n = site.seen("live").len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(site.seen("live").len(), n, "nothing after the stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_platform_arrival_rate_options_leave_the_profile_and_closed_ones_stay_within_it() {
    let site = Site::start().await;
    let agent = Agent::spawn(TOKEN).await;
    // Arrival-rate options describe the profile's load: the profile runs
    // (even when k6 would refuse them: here preAllocatedVUs is missing).
    let rate = format!(
        "{GET}export const options = {{ scenarios: {{ s: {{ executor: 'constant-arrival-rate', rate: 50, duration: '1m' }} }} }};
export default function () {{ http.get(`${{__ENV.BASE}}/x`); }}"
    );
    // `vus` alone sets no load: the profile runs.
    let vus_alone = format!(
        "{GET}export const options = {{ vus: 3 }};\nexport default function () {{ http.get(`${{__ENV.BASE}}/x`); }}"
    );
    // A closed-model script longer than the profile stops with the profile.
    let long = format!(
        "{GET}export const options = {{ vus: 1, duration: '1m', gracefulStop: '0s' }};\nexport default function () {{ http.get(`${{__ENV.BASE}}/x`); sleep(0.1); }}"
    );
    let auto = json!({"from": "auto", "reference_rps": 5});
    let profile = json!({"rps": 5, "duration": "2s"});
    let started = Instant::now();
    agent.start(&site, "p-rate", &rate, auto.clone(), profile.clone()).await;
    agent.start(&site, "p-vus", &vus_alone, auto.clone(), profile.clone()).await;
    agent.start(&site, "p-long", &long, auto, profile).await;
    for id in ["p-rate", "p-vus", "p-long"] {
        let st = agent.wait_terminal(id, Duration::from_secs(30)).await;
        assert_eq!(st["state"], "finished", "{id}: {st}");
        if id != "p-long" {
            // The profile's 5/s for 2 s, not the options' 50/s (an iteration
            // due before the first VU is ready is dropped and counted).
            let dropped: u64 = st["summary"]["dropped"].as_u64().unwrap();
            assert_eq!(iterations(&st) + dropped, 10, "{id}: {st}");
            assert_eq!(site.under(id, "/x").len() as u64, iterations(&st), "{id}");
        }
    }
    let long = site.under("p-long", "/x").len();
    assert!((12..=21).contains(&long), "one VU for the profile's 2 s: {long}");
    assert!(started.elapsed() < Duration::from_secs(20), "the 1 m scenario ended with the profile");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_exec_function_fails_the_job_naming_it() {
    let site = Site::start().await;
    let agent = Agent::spawn(TOKEN).await;
    let js = format!(
        "{GET}export const options = {{ scenarios: {{ s: {{ executor: 'per-vu-iterations', exec: 'nope' }} }} }};\nexport default function () {{}}"
    );
    agent.start(&site, "noexec", &js, json!({"from": "options"}), json!({"rps": 0, "duration": "1s"})).await;
    let st = agent.wait_terminal("noexec", Duration::from_secs(20)).await;
    assert_eq!(st["state"], "failed");
    assert!(
        st["reason"].as_str().unwrap().contains("options.scenarios.s.exec: nope is not an exported function"),
        "{st}"
    );
    let js = format!("{GET}export const options = {{ vus: 2, iterations: 1 }};\nexport default function () {{}}");
    agent.start(&site, "badopt", &js, json!({"from": "options"}), json!({"rps": 0, "duration": "1s"})).await;
    let st = agent.wait_terminal("badopt", Duration::from_secs(20)).await;
    assert!(st["reason"].as_str().unwrap().contains("options.iterations: 1 is fewer than the 2 VUs"), "{st}");
}

/// Runs `alilo-agent run` on `js` (written to a fresh directory) with `args`.
async fn run_cli(id: &str, js: &str, args: Vec<&str>) -> (Option<i32>, String, String, Duration) {
    let dir = std::env::temp_dir().join(format!("alilo-exec-{id}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("main.js");
    std::fs::write(&path, js).unwrap();
    let started = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_alilo-agent"))
        .arg("run")
        .arg(&path)
        .args(&args)
        .output()
        .await
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_runner_takes_k6s_flags_and_setup_time_is_not_test_time() {
    let site = Site::start().await;
    let script = |id: &str| {
        format!(
            "{GET}export const options = {{ scenarios: {{ big: {{ executor: 'constant-vus', vus: 50, duration: '1h' }} }} }};
export function setup() {{ sleep(1.5); return {{ n: 1 }}; }}
export default function (data) {{ http.get(`${{__ENV.BASE}}/x?vu=${{__VU}}&d=${{data.n}}`); sleep(0.1); }}
",
        ) + &format!("// {id}\n")
    };
    let env = |id: &str| format!("BASE={}", site.base(id));
    let (js_iters, js_vusdur, js_nothing) = (
        script("iters"),
        script("vusdur"),
        format!("{GET}export default function () {{ http.get(`${{__ENV.BASE}}/x?vu=${{__VU}}`); }}"),
    );
    let (env_iters, env_vusdur, env_nothing) = (env("iters"), env("vusdur"), env("nothing"));
    let (iters, vus_dur, nothing) = tokio::join!(
        run_cli("iters", &js_iters, vec!["--vus", "2", "--iterations", "5", "--quiet", "-e", &env_iters]),
        run_cli("vusdur", &js_vusdur, vec!["--vus", "2", "--duration", "1s", "--quiet", "-e", &env_vusdur]),
        run_cli("nothing", &js_nothing, vec!["--quiet", "-e", &env_nothing]),
    );
    assert_eq!(iters.0, Some(0), "{} {}", iters.1, iters.2);
    let seen = site.under("iters", "/x");
    assert_eq!(seen.len(), 5, "--iterations 5 replaces the script's scenario");
    assert!(per_vu(&seen).len() <= 2 && seen.iter().all(|s| s.q("d") == "1"));

    assert_eq!(vus_dur.0, Some(0), "{} {}", vus_dur.1, vus_dur.2);
    let counts = per_vu(&site.under("vusdur", "/x"));
    assert_eq!(counts.len(), 2, "{counts:?}");
    // setup() took 1.5 s: had it counted, the 1 s test would have run nothing.
    assert!(counts.values().all(|n| (7..=11).contains(n)), "about 10 iterations per VU after setup(): {counts:?}");
    assert!(vus_dur.3 >= Duration::from_millis(2400), "setup 1.5 s + 1 s of test: {:?}", vus_dur.3);

    assert_eq!(nothing.0, Some(0), "{} {}", nothing.1, nothing.2);
    assert_eq!(site.under("nothing", "/x").len(), 1, "no options: one VU, one iteration (k6's default)");

    // --rps with --vus is refused, naming both.
    let (code, _, err, _) = run_cli("bad", &script("bad"), vec!["--rps", "5", "--vus", "2"]).await;
    assert_ne!(code, Some(0));
    assert!(err.contains("--rps") && err.contains("--vus"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_on_fail_threshold_stops_the_standalone_run_with_99() {
    let site = Site::start().await;
    let js = format!(
        "{GET}export const options = {{ vus: 1, duration: '60s',
  thresholds: {{ http_req_duration: [{{ threshold: 'max<0', abortOnFail: true }}], iterations: ['count>0'] }} }};
export default function () {{ http.get(`${{__ENV.BASE}}/x`); sleep(0.1); }}"
    );
    let env = format!("BASE={}", site.base("abort"));
    let (code, out, err, took) = run_cli("abort", &js, vec!["--quiet", "-e", &env]).await;
    assert_eq!(code, Some(99), "{out}\n{err}");
    assert!(took < Duration::from_secs(20), "stopped long before its 60 s: {took:?}");
    assert!(err.contains("threshold http_req_duration max<0 crossed (abortOnFail)"), "{err}");
    assert!(out.contains("threshold ✗ http_req_duration max<0"), "{out}");
    let n = site.under("abort", "/x").len();
    assert!(n > 0 && n < 100, "{n}");
    // delayAbortEval: not acted on before its delay; the 1 s test ends first.
    let js = js
        .replace("abortOnFail: true", "abortOnFail: true, delayAbortEval: '30s'")
        .replace("duration: '60s'", "duration: '1s'");
    let (code, out, err, _) = run_cli("delay", &js, vec!["--quiet", "-e", &env]).await;
    assert_eq!(code, Some(99), "the threshold still fails at the end: {out}\n{err}");
    assert!(!err.contains("crossed (abortOnFail)"), "{err}");
}

/// An HTTPS server with a self-signed certificate, answering `tls-ok`.
async fn tls_site() -> SocketAddr {
    common::serve(Some(common::tls_config()), |_req| async {
        http::Response::new(Full::new(Bytes::from_static(b"tls-ok")))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_skip_tls_verify_and_discard_response_bodies_change_the_requests() {
    let site = Site::start().await;
    let agent = Agent::spawn(TOKEN).await;
    let tls = tls_site().await;
    let js = |opts: &str| {
        format!(
            "{GET}export const options = {{ iterations: 1, {opts} }};
export default function () {{
  const s = http.get('https://{tls}/');
  const d = http.get(`${{__ENV.BASE}}/x`);
  const t = http.get(`${{__ENV.BASE}}/x`, {{ responseType: 'text' }});
  http.get(`${{__ENV.BASE}}/report?tls=${{s.status}}&tlsbody=${{s.body}}&body=${{d.body}}&text=${{t.body}}`);
}}"
        )
    };
    let (strict, loose) =
        (js("insecureSkipTLSVerify: false, discardResponseBodies: true"), js("insecureSkipTLSVerify: true"));
    tokio::join!(agent.run_options(&site, "strict", &strict), agent.run_options(&site, "loose", &loose));
    let r = &site.under("strict", "/report")[0];
    assert_eq!(r.q("tls"), "0", "the self-signed certificate is refused: {r:?}");
    assert_eq!((r.q("body"), r.q("text")), ("null", "ok"), "bodies discarded unless asked for: {r:?}");
    let r = &site.under("loose", "/report")[0];
    assert_eq!((r.q("tls"), r.q("tlsbody")), ("200", "tls-ok"), "insecureSkipTLSVerify: {r:?}");
    assert_eq!((r.q("body"), r.q("text")), ("ok", "ok"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_trend_stats_choose_the_summarys_columns() {
    let site = Site::start().await;
    let js = format!(
        "{GET}export const options = {{ iterations: 3, summaryTrendStats: ['min', 'p(99)', 'count'], rps: 5 }};
export default function () {{ http.get(`${{__ENV.BASE}}/x`); }}"
    );
    let env = format!("BASE={}", site.base("stats"));
    let (code, out, err, _) = run_cli("stats", &js, vec!["--quiet", "-e", &env]).await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    let line = out.lines().find(|l| l.starts_with("iteration_duration")).unwrap_or_default();
    assert!(line.contains("min=") && line.contains("p(99)=") && line.contains("count=3"), "{line}");
    assert!(!line.contains("avg="), "{line}");
    assert!(err.contains("options.rps is not supported by Alilo: ignored"), "{err}");
    let bad = js.replace("'count'", "'p(200)'");
    let (code, _, err, _) = run_cli("stats-bad", &bad, vec!["--quiet", "-e", &env]).await;
    assert_ne!(code, Some(0));
    assert!(err.contains("options.summaryTrendStats[2]"), "{err}");
}

/// k6's tag layers (issue #9): `options.tags`, then a scenario's `tags`,
/// then its `scenario` tag, then `params.tags` (or a check's or a metric
/// sample's own tags).
const TAGGED: &str = "import { check } from 'k6';
import { Counter } from 'k6/metrics';
const steps = new Counter('steps');
export const options = {
  tags: { env: 'staging', flow: 'global', scenario: 'hidden' },
  scenarios: {
    login: { executor: 'per-vu-iterations', vus: 1, iterations: 3, exec: 'login', tags: { flow: 'auth' } },
    browse: { executor: 'shared-iterations', vus: 1, iterations: 2 },
  },
  thresholds: {
    'http_reqs{scenario:login}': ['count==3'],
    'http_reqs{flow:auth}': ['count==3'],
    'http_reqs{flow:global}': ['count==2'],
    'http_reqs{scenario:browse,step:item}': ['count==2'],
    'http_req_duration{scenario:login}': ['p(95)<10000'],
    'http_req_failed{env:staging}': ['rate==0'],
    'checks{scenario:login}': ['rate==1'],
    'checks{kind:auth,check:login ok}': ['rate==1'],
    'steps{step:browse}': ['count==4'],
    'steps{scenario:login}': ['count==3'],
  },
};
export function login() {
  const r = http.get(`${__ENV.BASE}/login?s=${exec.scenario.name}`);
  check(r, { 'login ok': (r) => r.status === 200 }, { kind: 'auth' });
  steps.add(1, { step: 'login' });
}
export default function () {
  check(http.get(`${__ENV.BASE}/list`), { 'list ok': (r) => r.status === 200 });
  http.get(`${__ENV.BASE}/item`, { tags: { flow: 'item', step: 'item', name: 'item' } });
  steps.add(2, { step: 'browse' });
}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_scenario_and_request_tags_reach_the_breakdown_and_the_thresholds() {
    let site = Site::start().await;
    let agent = Agent::spawn(TOKEN).await;
    let st = agent.run_options(&site, "tags", &format!("{GET}{TAGGED}")).await;
    assert_eq!((site.under("tags", "/login").len(), site.under("tags", "/item").len()), (3, 2));
    assert!(site.under("tags", "/login").iter().all(|s| s.q("s") == "login"));
    // Each name's rows by tag set, summed over the job's seconds.
    let mut rows: BTreeMap<(String, String), u64> = BTreeMap::new();
    for b in st["buckets"].as_array().unwrap() {
        for (name, r) in b["script"]["requests"].as_object().into_iter().flatten() {
            let name = name.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
            let tagged = r["tagged"].as_array().expect("tagged requests");
            assert_eq!(tagged.iter().map(|t| t["sent"].as_u64().unwrap()).sum::<u64>(), r["sent"].as_u64().unwrap());
            for t in tagged {
                *rows.entry((name.clone(), t["tags"].to_string())).or_default() += t["sent"].as_u64().unwrap();
            }
        }
    }
    let tags = |v: Value| v.to_string();
    let want = BTreeMap::from([
        (("login".into(), tags(json!({"env": "staging", "flow": "auth", "scenario": "login"}))), 3),
        (("list".into(), tags(json!({"env": "staging", "flow": "global", "scenario": "browse"}))), 2),
        (("item".into(), tags(json!({"env": "staging", "flow": "item", "scenario": "browse", "step": "item"}))), 2),
    ]);
    assert_eq!(rows, want, "scenario tags over options.tags, the scenario's name over both, params.tags last");
    let mut checks: BTreeMap<(String, String), u64> = BTreeMap::new();
    for b in st["buckets"].as_array().unwrap() {
        for c in b["script"]["tagged_checks"].as_array().into_iter().flatten() {
            *checks.entry((c["name"].as_str().unwrap().into(), c["tags"].to_string())).or_default() +=
                c["passes"].as_u64().unwrap();
        }
    }
    let want = BTreeMap::from([
        (("login ok".into(), tags(json!({"env": "staging", "flow": "auth", "kind": "auth", "scenario": "login"}))), 3),
        (("list ok".into(), tags(json!({"env": "staging", "flow": "global", "scenario": "browse"}))), 2),
    ]);
    assert_eq!(checks, want, "a check's own tags over its scenario's");

    // The standalone runner judges tag filters on the same rows.
    let env = format!("BASE={}", site.base("tags-cli"));
    let dir = std::env::temp_dir().join(format!("alilo-tags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let export = dir.join("summary.json");
    let export_arg = export.to_string_lossy().into_owned();
    let (code, out, err, _) =
        run_cli("tags-cli", &format!("{GET}{TAGGED}"), vec!["--quiet", "-e", &env, "--summary-export", &export_arg])
            .await;
    assert_eq!(code, Some(0), "every filtered threshold holds: {out}\n{err}");
    let doc: Value = serde_json::from_slice(&std::fs::read(&export).unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let observed = |k: &str| doc["thresholds"][k]["observed"].as_f64();
    assert_eq!(observed("http_reqs{scenario:login} count==3"), Some(3.0), "{doc}");
    assert_eq!(observed("http_reqs{flow:global} count==2"), Some(2.0), "{doc}");
    assert_eq!(observed("http_reqs{scenario:browse,step:item} count==2"), Some(2.0), "{doc}");
    assert_eq!(observed("http_req_failed{env:staging} rate==0"), Some(0.0), "{doc}");
    assert!(observed("http_req_duration{scenario:login} p(95)<10000").is_some(), "{doc}");
    assert_eq!(observed("checks{scenario:login} rate==1"), Some(1.0), "{doc}");
    assert_eq!(observed("checks{check:login ok,kind:auth} rate==1"), Some(1.0), "{doc}");
    assert_eq!(observed("steps{step:browse} count==4"), Some(4.0), "{doc}");
    assert_eq!(observed("steps{scenario:login} count==3"), Some(3.0), "{doc}");
}
