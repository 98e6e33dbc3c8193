//! What `alilo-local` serves besides the v1 API for watching runs (#12):
//! `GET /metrics` (Prometheus text, with the `ALILO_METRICS_TOKEN` bearer token
//! or any signed-in role's credentials) and the live run page `/ui/runs/{id}`,
//! which refreshes a server-rendered fragment every second (the report's own
//! SVG charts) and drives the load through the v1 routes.

use alilo_shared::AppState;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

/// The routes, with the scrape token. The pages stand behind the API's guard
/// (any signed-in role, viewer included: they show what `/v1/run` shows, and
/// their buttons call the v1 routes, which need a tester). `/metrics` has its own
/// rule, since a Prometheus server cannot sign in: the scrape token, or any
/// signed-in role's API token or session. A loopback peer is not trusted for
/// itself: behind a reverse proxy on the same host every caller is loopback.
pub fn routes(metrics_token: Option<String>, state: AppState) -> axum::Router {
    let pages = axum::Router::new()
        .route("/ui/runs/{id}", get(page))
        .route("/ui/runs/{id}/live", get(fragment))
        .layer(axum::middleware::from_fn_with_state(state.clone(), alilo_shared::auth::guard::guard));
    axum::Router::new()
        .route("/metrics", get(move |state: State<AppState>, req: Request| metrics(state, metrics_token.clone(), req)))
        .merge(pages)
        .with_state(state)
}

/// Whether the request carries the scrape token (compared in constant time).
pub fn has_scrape_token(headers: &HeaderMap, token: Option<&str>) -> bool {
    let given =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    matches!((token, given), (Some(t), Some(g)) if !t.is_empty() && t.len() == g.len() && t.bytes().zip(g.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0)
}

async fn metrics(State(app): State<AppState>, token: Option<String>, req: Request) -> Response {
    if !has_scrape_token(req.headers(), token.as_deref()) {
        match alilo_shared::auth::guard::authenticate(&app, req.headers(), None).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return (
                    StatusCode::UNAUTHORIZED,
                    "send Authorization: Bearer <ALILO_METRICS_TOKEN> or a viewer's API token\n",
                )
                    .into_response();
            }
            Err(e) => return e.into_response(),
        }
    }
    match alilo_shared::service::verdicts::metrics_text(&app).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        Err(e) => e.into_response(),
    }
}

fn run_id(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

fn no_run(raw: &str) -> Response {
    (StatusCode::NOT_FOUND, format!("no run {raw:?}\n")).into_response()
}

async fn fragment(State(app): State<AppState>, Path(raw): Path<String>) -> Response {
    let Some(id) = run_id(&raw) else { return no_run(&raw) };
    match alilo_shared::service::verdicts::live_fragment(&app, id).await {
        Ok(html) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn page(Path(raw): Path<String>) -> Response {
    match run_id(&raw) {
        Some(id) => Html(PAGE.replace("__RUN_ID__", &id.to_string())).into_response(),
        None => no_run(&raw),
    }
}

/// The page: controls, and the fragment refreshed every second.
const PAGE: &str = r##"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Run __RUN_ID__ live</title>
<style>body{font:14px sans-serif;margin:20px;max-width:1000px}.chart{width:100%;max-width:900px;height:auto;font:11px sans-serif}
.chart .g{stroke:#e4e4e4}.chart .a{fill:#666}.chart .t{font-weight:bold}.chart .m line{stroke:#a0a;stroke-dasharray:4 3}.chart .m text{fill:#a0a;font-size:10px}
.failed{color:#c5221f}.passed{color:#137333}.pending{color:#666}td,th{padding:2px 8px;text-align:left}#msg{color:#555}</style></head>
<body><h1>Run __RUN_ID__</h1>
<p id="controls">Load <input id="level" type="range" min="0" max="300" step="5" value="100"> <output id="levelout">100</output> %
<button id="minus">-10 %</button> <button id="plus">+10 %</button> <button id="stop">Stop</button> <span id="msg"></span></p>
<div id="live">loading…</div>
<script>
const runId = __RUN_ID__;
const $ = (id) => document.getElementById(id);
// Who is signed in: the change log names them for the load changes made here.
let me = "";
fetch("/v1/auth/me", {method: "POST", headers: {"content-type": "application/json"}, body: "{}"})
  .then((r) => r.json()).then((j) => { me = (j.me && j.me.name) || ""; }).catch(() => {});
async function post(path, body) {
  const r = await fetch(path, {method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body)});
  const j = await r.json().catch(() => ({}));
  $("msg").textContent = j.message || (r.ok ? "ok" : "HTTP " + r.status);
  refresh();
  return j;
}
function adjust(pct) {
  pct = Math.max(0, Math.min(10000, pct));
  $("level").value = pct; $("levelout").textContent = pct;
  return post("/v1/run/adjustment", {run_id: runId, adjustment_on_percent: pct, user_name: me});
}
let dragging = false;
$("level").addEventListener("input", () => { dragging = true; $("levelout").textContent = $("level").value; });
$("level").addEventListener("change", () => { dragging = false; adjust(Number($("level").value)); });
$("minus").onclick = () => adjust(Number($("level").value) - 10);
$("plus").onclick = () => adjust(Number($("level").value) + 10);
$("stop").onclick = () => post("/v1/run/stop", {run_id: runId});
document.addEventListener("click", (e) => {
  const b = e.target.closest("button[data-script]");
  if (!b) return;
  const simple = b.dataset.kind === "simple";
  const body = {run_id: runId, increase_by_rps: Number(b.dataset.rps)};
  body[simple ? "simple_script_id" : "script_id"] = Number(b.dataset.script);
  post(simple ? "/v1/run/increase/simple-script" : "/v1/run/increase/script", body);
});
async function refresh() {
  const r = await fetch("/ui/runs/" + runId + "/live");
  if (!r.ok) { $("live").textContent = "HTTP " + r.status; return; }
  $("live").innerHTML = await r.text();
  const cur = document.querySelector("#live #cur-level");
  if (cur && !dragging) { $("level").value = cur.textContent; $("levelout").textContent = cur.textContent; }
}
refresh();
setInterval(refresh, 1000);
</script></body></html>
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scrape_token_must_match_exactly() {
        let bearer = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, format!("Bearer {v}").parse().unwrap());
            h
        };
        assert!(has_scrape_token(&bearer("s3cret"), Some("s3cret")));
        assert!(!has_scrape_token(&bearer("s3cre7"), Some("s3cret")));
        assert!(!has_scrape_token(&bearer("s3cret1"), Some("s3cret")));
        assert!(!has_scrape_token(&bearer(""), Some("")), "an empty token opens nothing");
        assert!(!has_scrape_token(&bearer("s3cret"), None), "no token configured");
        assert!(!has_scrape_token(&HeaderMap::new(), Some("s3cret")));
    }
}
