//! Parse throughput for a real browser "Copy as cURL" command of about 4 KB.
//!
//! The importer runs when a user pastes a command into the UI, so it must stay
//! far below the latency of the request that carries it. Run with
//! `cargo bench -p alilo-shared --bench import`; prints microseconds per command.

use std::hint::black_box;
use std::time::{Duration, Instant};

use alilo_shared::import::{contract_json, parse_curl};

/// Chrome 131 "Copy as cURL (bash)" of a GraphQL call on a logged-in single-page
/// app: client hints, a long analytics-laden cookie, a JSON body with `$'…'`
/// escapes, about 4 KB in all.
const CHROME_COMMAND: &str = r#"curl 'https://app.example.com/api/graphql?op=DashboardQuery&v=2024-11-01&locale=en-US&tz=Europe%2FParis' \
  -H 'accept: application/graphql-response+json, application/json;q=0.9' \
  -H 'accept-language: en-US,en;q=0.9,fr-FR;q=0.8,fr;q=0.7,de;q=0.6' \
  -H 'apollographql-client-name: web-dashboard' \
  -H 'apollographql-client-version: 4.187.2' \
  -H 'authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6IjE2YjJmZDc0In0.eyJzdWIiOiJ1c2VyXzQyIiwib3JnIjoib3JnXzciLCJyb2xlcyI6WyJhZG1pbiIsImJpbGxpbmciXSwiaWF0IjoxNzMyNzM0MDAwLCJleHAiOjE3MzI3Mzc2MDB9.Vx3kQm9PZt0c3R8bYl2nJm5oWq7sHc1uDf4gKe6iLa0NpOr2StUv8WxYz1AbCdEfGhIjKlMnOpQrStUvWxYz0123' \
  -H 'cache-control: no-cache' \
  -H 'content-type: application/json' \
  -b '_ga=GA1.1.1234567890.1700000000; _ga_ABCDEF1234=GS1.1.1732730000.42.1.1732734000.0.0.0; ajs_anonymous_id=%22b7e4c1d2-5f6a-4b3c-8d9e-0f1a2b3c4d5e%22; ajs_user_id=%22user_42%22; intercom-id-abc123=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0; intercom-session-abc123=; intercom-device-id-abc123=1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809; __stripe_mid=7c9e6679-7425-40de-944b-e07fc1f90ae7a1b2c3; __stripe_sid=3f2504e0-4f89-11d3-9a0c-0305e82c3301d4e5f6; csrftoken=Zx81mQ2vT7pL0kR9sY4wN6bH3jF5dC1a; sessionid=s%3Aj8Kp2LmN4oPq6RsT8uVw0XyZ1aBc3DeF.5gHiJkLmNoPqRsTuVwXyZ0123456789abcdefGHIJKL; theme=dark; sidebar_collapsed=false; last_org=org_7; feature_flags=%7B%22newNav%22%3Atrue%2C%22betaCharts%22%3Afalse%7D' \
  -H 'origin: https://app.example.com' \
  -H 'pragma: no-cache' \
  -H 'priority: u=1, i' \
  -H 'referer: https://app.example.com/orgs/org_7/dashboard?range=30d&compare=previous' \
  -H 'sec-ch-ua: "Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"' \
  -H 'sec-ch-ua-arch: "arm"' \
  -H 'sec-ch-ua-bitness: "64"' \
  -H 'sec-ch-ua-full-version-list: "Google Chrome";v="131.0.6778.86", "Chromium";v="131.0.6778.86", "Not_A Brand";v="24.0.0.0"' \
  -H 'sec-ch-ua-mobile: ?0' \
  -H 'sec-ch-ua-model: ""' \
  -H 'sec-ch-ua-platform: "macOS"' \
  -H 'sec-ch-ua-platform-version: "15.1.0"' \
  -H 'sec-fetch-dest: empty' \
  -H 'sec-fetch-mode: cors' \
  -H 'sec-fetch-site: same-origin' \
  -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' \
  -H 'user-agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36' \
  -H 'baggage: sentry-environment=production,sentry-release=web-dashboard%404.187.2,sentry-public_key=0123456789abcdef0123456789abcdef,sentry-trace_id=4bf92f3577b34da6a3ce929d0e0e4736,sentry-sample_rate=0.1,sentry-transaction=%2Forgs%2F%3AorgId%2Fdashboard,sentry-sampled=false' \
  -H 'sentry-trace: 4bf92f3577b34da6a3ce929d0e0e4736-a3ce929d0e0e4736-0' \
  -H 'x-datadog-origin: rum' \
  -H 'x-datadog-parent-id: 1234567890123456789' \
  -H 'x-datadog-sampling-priority: 1' \
  -H 'x-datadog-trace-id: 9876543210987654321' \
  -H 'x-client-features: charts-v2,nav-v3,export-csv,export-xlsx,saved-views,annotations,alerts,anomaly-detection,forecasting,cohorts,funnels,retention' \
  -H 'x-csrf-token: Zx81mQ2vT7pL0kR9sY4wN6bH3jF5dC1a' \
  -H 'x-request-id: 9b2f6c1e-8d4a-4f3b-a5e7-1c0d2b3a4f5e' \
  --data-raw $'{"operationName":"DashboardQuery","variables":{"orgId":"org_7","range":{"from":"2026-10-28T00:00:00.000Z","to":"2026-11-27T23:59:59.999Z"},"compare":"PREVIOUS_PERIOD","filters":[{"field":"country","op":"IN","values":["FR","DE","ES","IT"]},{"field":"plan","op":"NEQ","value":"free"}],"pageSize":50,"note":"it\'s a \\"quoted\\" note\u0021"},"query":"query DashboardQuery($orgId: ID!, $range: DateRange!, $compare: Compare, $filters: [Filter!], $pageSize: Int) {\\n  org(id: $orgId) {\\n    id\\n    name\\n    metrics(range: $range, compare: $compare, filters: $filters) {\\n      revenue { value delta currency }\\n      activeUsers { value delta }\\n      churn { value delta }\\n      series(granularity: DAY) { date revenue activeUsers }\\n    }\\n    topCustomers(first: $pageSize) {\\n      edges { node { id name mrr country plan createdAt } }\\n      pageInfo { endCursor hasNextPage }\\n    }\\n  }\\n}"}'"#;

fn main() {
    // Check once that it parses, and what it gives.
    let req = parse_curl(CHROME_COMMAND).unwrap_or_else(|e| panic!("the bench command must parse: {e}"));
    assert_eq!(req.method, "POST");

    let run = |iterations: u32| {
        let start = Instant::now();
        for _ in 0..iterations {
            let req = parse_curl(black_box(CHROME_COMMAND));
            black_box(&req);
        }
        start.elapsed()
    };
    // Warm up, then size the run to about one second.
    let warm = run(100);
    let iterations = (Duration::from_secs(1).as_nanos() / warm.as_nanos().max(1) * 100).clamp(100, 1_000_000) as u32;
    let elapsed = run(iterations);
    let per_command = elapsed.as_secs_f64() * 1e6 / f64::from(iterations);

    let start = Instant::now();
    for _ in 0..iterations {
        black_box(contract_json(black_box(&req)));
    }
    let render = start.elapsed().as_secs_f64() * 1e6 / f64::from(iterations);

    println!(
        "import/parse_curl: {} bytes, {iterations} iterations, {per_command:.1} µs per command \
         ({:.0} MB/s); contract_json: {render:.1} µs",
        CHROME_COMMAND.len(),
        CHROME_COMMAND.len() as f64 / per_command,
    );
}
