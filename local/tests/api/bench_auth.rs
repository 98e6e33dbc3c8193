//! The guard's cost per request (issue #10), ignored by default:
//! `bench/auth/inprocess.sh` runs it and bench/auth/RESULTS.md keeps the figures.
//!
//! The whole router of `alilo-local` is called in process (no sockets, no load
//! generator) on `/v1/auth/me`, a read whose handler touches no database, so what
//! differs between the three variants is the guard alone:
//! - `no-auth`: the same app with authentication off (`--no-auth`);
//! - `bearer`: a viewer's API token;
//! - `cookie`: a viewer's session cookie.
//!
//! Rounds alternate the variants; each call is timed. A credential is looked up
//! in Postgres once, then remembered for 5 s (`auth::cache`): the run lasts long
//! enough to include those look-ups at their real rate.

use crate::helpers::spawn_app;
use alilo_shared::auth::Role;
use axum::body::Body;
use axum::http::Request;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const ROUNDS: usize = 10;

/// A name, the app, and the credential header sent.
type Variant<'a> = (&'a str, &'a axum::Router, Option<(&'a str, &'a str)>);

fn per_round() -> usize {
    std::env::var("BENCH_AUTH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000)
}

fn request(header: Option<(&str, &str)>) -> Request<Body> {
    let mut r = Request::post("/v1/auth/me").header("content-type", "application/json");
    if let Some((k, v)) = header {
        r = r.header(k, v);
    }
    r.body(Body::from("{}")).unwrap()
}

async fn time_calls(app: &axum::Router, header: Option<(&str, &str)>, calls: usize, out: &mut Vec<Duration>) {
    for _ in 0..calls {
        let req = request(header);
        let t = Instant::now();
        let response = app.clone().oneshot(req).await.unwrap();
        let elapsed = t.elapsed();
        assert_eq!(response.status(), 200);
        out.push(elapsed);
    }
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "benchmark: bench/auth/inprocess.sh"]
async fn the_guard_costs_per_request() {
    let test = spawn_app().await;
    let limits = alilo_shared::config::Limits::default();
    let guarded = alilo_local::app(test.app_state.clone(), limits);
    let mut open_state = test.app_state.clone();
    let mut auth = (*open_state.auth).clone();
    auth.enabled = false;
    open_state.auth = Arc::new(auth);
    let open = alilo_local::app(open_state, limits);

    let (_, token, _) =
        alilo_shared::service::auth::issue_token(&test.app_state, "bench", Role::Viewer, None, None, 3600)
            .await
            .unwrap();
    let bearer = format!("Bearer {token}");
    test.ok("/v1/auth/user/create", json!({"name": "bench", "password": "correct horse battery", "role": "viewer"}))
        .await;
    let login = reqwest::Client::new()
        .post(format!("{}/v1/auth/login", test.address))
        .header("content-type", "application/json")
        .body(json!({"name": "bench", "password": "correct horse battery"}).to_string())
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();

    let variants: [Variant; 3] = [
        ("no-auth", &open, None),
        ("bearer", &guarded, Some(("authorization", bearer.as_str()))),
        ("cookie", &guarded, Some(("cookie", cookie.as_str()))),
    ];
    let calls = per_round();
    // `BENCH_AUTH_ONLY=bearer`: time one variant (for callgrind, bench/auth/instructions.sh).
    let only = std::env::var("BENCH_AUTH_ONLY").ok();
    let variants: Vec<Variant> = variants.into_iter().filter(|v| only.as_deref().is_none_or(|o| o == v.0)).collect();
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    for (_, app, header) in &variants {
        time_calls(app, *header, calls / 10, &mut Vec::new()).await; // warm-up
    }
    let started = Instant::now();
    for _ in 0..ROUNDS {
        for (i, (_, app, header)) in variants.iter().enumerate() {
            time_calls(app, *header, calls, &mut times[i]).await;
        }
    }
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    println!(
        "guard cost in process, /v1/auth/me, {ROUNDS} rounds x {calls} calls per variant, {profile} build, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut base = (0.0, 0.0, 0.0);
    for (i, (name, _, _)) in variants.iter().enumerate() {
        let mut t = times[i].clone();
        t.sort();
        let (p50, p99, mean) = (
            quantile(&t, 0.5),
            quantile(&t, 0.99),
            t.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e6 / f64::from(u32::try_from(t.len()).unwrap()),
        );
        if i == 0 {
            base = (p50, p99, mean);
        }
        println!(
            "  {name:<8} p50 {p50:7.1} us  p99 {p99:7.1} us  mean {mean:7.1} us  (vs no-auth: p50 {:+6.1} us, p99 {:+6.1} us, mean {:+6.1} us)",
            p50 - base.0,
            p99 - base.1,
            mean - base.2
        );
        println!(
            "           p90 {:7.1} us  p95 {:7.1} us  p99.9 {:7.1} us  max {:9.1} us  over 1 ms: {}",
            quantile(&t, 0.9),
            quantile(&t, 0.95),
            quantile(&t, 0.999),
            quantile(&t, 1.0),
            t.iter().filter(|d| d.as_micros() > 1000).count()
        );
    }
}
