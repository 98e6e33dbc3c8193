//! The full exchange (`client::exchange`), the API the JavaScript runtime
//! calls: real loopback servers (the agent's target, a raw HTTP/1.1 wire
//! server, an axum server that redirects), asserting what the caller gets
//! and what the server received.

mod common;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use alilo_agent::client::exchange::{Client, HttpRequest, HttpResponse, Protocol, ResponseBody};
use alilo_agent::client::{Allow, ErrorKind, Refusals};
use alilo_agent::stats::{Collected, WorkerStats};
use alilo_agent::target::{Target, TargetConfig};
use alilo_agent_api::targets::{AllowList, Policy};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use common::{free_port, tls_config, tls_config_with_alpn, wire_server};

async fn target(cfg: TargetConfig) -> Target {
    Target::start("127.0.0.1:0".parse().unwrap(), cfg).await.unwrap()
}

fn client() -> Client {
    Client::new(Default::default())
}

fn get(url: impl Into<String>) -> HttpRequest {
    HttpRequest::new(Method::GET, url)
}

fn assert_ok(resp: &HttpResponse) {
    assert!(resp.last.error.is_none(), "{:?}", resp.last.error);
}

#[tokio::test]
async fn a_request_returns_status_headers_body_protocol_address_and_timings() {
    let t = target(TargetConfig { keep_requests: 10, ..Default::default() }).await;
    let mut req = HttpRequest::new(Method::POST, format!("{}/items?q=1#fragment", t.url(false)));
    req.headers.insert("x-trace", "abc".parse().unwrap());
    req.headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    req.body = Bytes::from_static(br#"{"a": 1}"#);
    let resp = client().request(req).await;
    assert_ok(&resp);
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body, "ok");
    assert_eq!(resp.headers[header::CONTENT_TYPE], "text/plain");
    assert_eq!(resp.last.proto, Some(Protocol::Http11));
    assert_eq!(resp.last.proto.unwrap().as_str(), "HTTP/1.1");
    assert_eq!(resp.last.remote_addr, Some(t.addr));
    assert_eq!(resp.last.url, format!("{}/items?q=1", t.url(false)), "the fragment is not sent");
    let tm = resp.last.timings;
    assert!(tm.connecting > Duration::ZERO, "{tm:?}");
    assert_eq!(tm.tls_handshaking, Duration::ZERO);
    assert_eq!(tm.duration, tm.sending + tm.waiting + tm.receiving);
    assert!(resp.last.ended - resp.last.started >= tm.duration, "{tm:?}");
    assert!(resp.redirects.is_empty());

    let got = t.stats.received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.uri.as_str(), r.body.as_str()), ("POST", "/items?q=1", r#"{"a": 1}"#));
    let h = |name: &str| r.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(h("x-trace").as_deref(), Some("abc"));
    assert_eq!(h("host"), Some(t.addr.to_string()));
    assert_eq!(h("content-length").as_deref(), Some("8"));
    assert!(h("user-agent").unwrap().starts_with("alilo-agent/"));
}

#[tokio::test]
async fn keep_alive_connections_are_reused_and_requests_land_in_the_worker_stats() {
    let t = target(TargetConfig::default()).await;
    let stats = WorkerStats::new(Instant::now());
    let client = Client::new(stats.io.clone());
    let mut hops = Vec::new();
    for _ in 0..5 {
        let resp = client.request(get(t.url(false))).await;
        assert_ok(&resp);
        for hop in resp.hops() {
            stats.exchanged(hop.outcome(), hop.status == 200, hop.started, hop.ended);
        }
        hops.push(resp.last);
    }
    assert_eq!(t.stats.connections.load(Ordering::Relaxed), 1, "one keep-alive connection for five requests");
    assert!(hops[0].timings.connecting > Duration::ZERO);
    assert!(hops[1..].iter().all(|h| h.timings.connecting == Duration::ZERO), "reused: no connecting");

    let stats = Arc::new(stats);
    let mut collected = Collected::new(0);
    collected.collect(std::slice::from_ref(&stats), None);
    let s = collected.summary(Duration::from_secs(1), 0.0);
    assert_eq!((s.sent, s.ok, s.failed), (5, 5, 0));
    assert_eq!(s.status.get("200"), Some(&5));
    assert_eq!(s.latency.count, 5);
    assert!(s.bytes_sent > 0 && s.bytes_received > 0, "the socket bytes are the worker's: {s:?}");
}

#[tokio::test]
async fn every_response_framing_is_read_whole() {
    let (addr, counts) = wire_server().await;
    let client = client();
    let cases = [
        ("/length", 200, "0123456789"),
        ("/chunked", 200, "abcdx"),
        ("/continue", 201, "abc"),
        ("/chunked", 200, "abcdx"),
        ("/until-close", 200, "some body"),
    ];
    for (path, status, body) in cases {
        let resp = client.request(get(format!("http://{addr}{path}"))).await;
        assert_ok(&resp);
        assert_eq!((resp.status(), resp.body.as_ref()), (status, body.as_bytes()), "{path}");
        if path == "/continue" {
            assert!(!resp.headers.contains_key("x-interim"), "the interim head's headers are not the response's");
            assert_eq!(resp.headers[header::CONTENT_LENGTH], "3");
        }
    }
    // Everything before the body that ends at close shared one connection.
    assert_eq!(counts.connections.load(Ordering::Relaxed), 1);
    let resp = client.request(get(format!("http://{addr}/length"))).await;
    assert_ok(&resp);
    assert_eq!(counts.connections.load(Ordering::Relaxed), 2, "a connection the server closed is not reused");
}

/// An axum server that redirects (axum's `Redirect::to` is a 303,
/// `temporary` a 307, `permanent` a 308), and at `/final` says what it
/// received.
async fn redirect_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new()
        .route("/start", axum::routing::any(|| async { Redirect::to("/hop") }))
        .route("/hop", axum::routing::any(move || async move { Redirect::permanent(&format!("http://{addr}/final")) }))
        .route("/302", axum::routing::any(|| async { (StatusCode::FOUND, [(header::LOCATION, "/final")]) }))
        .route("/303", axum::routing::any(|| async { (StatusCode::SEE_OTHER, [(header::LOCATION, "/final")]) }))
        .route("/307", axum::routing::any(|| async { Redirect::temporary("/final") }))
        .route("/loop", axum::routing::any(|| async { Redirect::to("/loop") }))
        .route(
            "/elsewhere",
            axum::routing::any(move || async move { Redirect::to(&format!("http://localhost:{}/final", addr.port())) }),
        )
        .route("/nowhere", axum::routing::any(|| async { (StatusCode::FOUND, [(header::LOCATION, "ftp://x/")]) }))
        .route("/final", axum::routing::any(echo));
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

async fn echo(method: Method, headers: HeaderMap, req: Request) -> Response {
    let body = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap();
    let auth = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    format!("{method} body={} auth={auth}", String::from_utf8_lossy(&body)).into_response()
}

fn post(url: String) -> HttpRequest {
    let mut req = HttpRequest::new(Method::POST, url);
    req.body = Bytes::from_static(b"payload");
    req.headers.insert(header::AUTHORIZATION, "Bearer t".parse().unwrap());
    req
}

#[tokio::test]
async fn redirects_are_followed_with_k6s_method_rules_and_each_hop_is_reported() {
    let addr = redirect_server().await;
    let client = client();

    let resp = client.request(post(format!("http://{addr}/start"))).await;
    assert_ok(&resp);
    assert_eq!((resp.status(), resp.body.as_ref()), (200, &b"GET body= auth=Bearer t"[..]), "303 then 308");
    assert_eq!(resp.last.url, format!("http://{addr}/final"));
    let hops: Vec<(String, u16, Method)> = resp.hops().map(|h| (h.url.clone(), h.status, h.method.clone())).collect();
    assert_eq!(
        hops,
        [
            (format!("http://{addr}/start"), 303, Method::POST),
            (format!("http://{addr}/hop"), 308, Method::GET),
            (format!("http://{addr}/final"), 200, Method::GET),
        ]
    );

    for status in ["302", "303"] {
        let resp = client.request(post(format!("http://{addr}/{status}"))).await;
        assert_eq!(resp.body, "GET body= auth=Bearer t", "{status} turns POST into a GET without a body");
    }
    let resp = client.request(post(format!("http://{addr}/307"))).await;
    assert_eq!(resp.body, "POST body=payload auth=Bearer t", "307 keeps method and body");
    let mut head = post(format!("http://{addr}/303"));
    head.method = Method::HEAD;
    let resp = client.request(head).await;
    assert_eq!((resp.status(), resp.last.method.clone()), (200, Method::HEAD), "HEAD stays HEAD");

    let resp = client.request(post(format!("http://{addr}/elsewhere"))).await;
    assert_ok(&resp);
    assert_eq!(resp.body, "GET body= auth=", "credentials are not sent to another host");
    assert!(resp.last.url.starts_with("http://localhost:"), "{}", resp.last.url);

    let resp = client.request(get(format!("http://{addr}/nowhere"))).await;
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.last.error.as_ref().map(|e| e.kind), Some(ErrorKind::InvalidRequest));
    assert!(resp.last.error.unwrap().message.contains("ftp://x/"));
}

#[tokio::test]
async fn a_redirect_past_the_limit_is_returned_as_it_is() {
    let addr = redirect_server().await;
    let mut req = get(format!("http://{addr}/loop"));
    req.options.max_redirects = 3;
    let resp = client().request(req).await;
    assert_ok(&resp);
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.redirects.len(), 3, "three followed, the fourth returned");
    assert_eq!(resp.headers[header::LOCATION], "/loop");
    let mut req = get(format!("http://{addr}/start"));
    req.options.max_redirects = 0;
    assert_eq!(client().request(req).await.status(), 303, "0: never follow");
}

#[test]
fn a_single_threaded_runtime_multiplexes_concurrent_http2_requests_on_one_connection() {
    // As a worker thread running JavaScript VUs would: a current-thread
    // runtime, a LocalSet, the client shared by `Rc`.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let t =
            target(TargetConfig { keep_requests: 20, delay: Duration::from_millis(50), ..Default::default() }).await;
        let client = Rc::new(client());
        let mut tasks = Vec::new();
        for i in 0..10 {
            let client = client.clone();
            let mut req = get(format!("{}/{i}", t.url(false)));
            req.options.http2 = true;
            tasks.push(tokio::task::spawn_local(async move { client.request(req).await }));
        }
        let started = Instant::now();
        for task in tasks {
            let resp = task.await.unwrap();
            assert_ok(&resp);
            assert_eq!((resp.status(), resp.body.as_ref()), (200, &b"ok"[..]));
            assert_eq!(resp.last.proto.map(Protocol::as_str), Some("HTTP/2.0"));
            assert_eq!(resp.last.remote_addr, Some(t.addr));
        }
        assert!(started.elapsed() < Duration::from_millis(400), "concurrent, not one after the other");
        assert_eq!(t.stats.connections.load(Ordering::Relaxed), 1);
        let got = t.stats.received.lock().unwrap().clone();
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|r| r.version == "HTTP/2.0"));
    });
}

#[tokio::test]
async fn tls_works_with_a_self_signed_certificate_only_without_verification() {
    let t = target(TargetConfig { tls: Some(tls_config()), ..Default::default() }).await;
    let url = format!("https://localhost:{}/secure", t.addr.port());
    let client = client();
    for (http2, proto) in [(false, Protocol::Http11), (true, Protocol::Http2)] {
        let mut req = get(&url);
        req.options.tls_verify = false;
        req.options.http2 = http2;
        let resp = client.request(req).await;
        assert_ok(&resp);
        assert_eq!((resp.status(), resp.last.proto), (200, Some(proto)));
        assert!(resp.last.timings.tls_handshaking > Duration::ZERO, "{:?}", resp.last.timings);
    }
    let resp = client.request(get(&url)).await;
    let e = resp.last.error.expect("verification refuses a self-signed certificate");
    assert_eq!((e.kind, resp.last.status), (ErrorKind::Tls, 0));
    assert!(e.message.contains(&format!("localhost:{}", t.addr.port())), "{}", e.message);
}

#[tokio::test]
async fn http2_falls_back_to_http1_when_the_server_refuses_h2() {
    let t = target(TargetConfig { tls: Some(tls_config_with_alpn(&[b"http/1.1"])), ..Default::default() }).await;
    let client = client();
    for _ in 0..3 {
        let mut req = get(format!("https://127.0.0.1:{}/", t.addr.port()));
        req.options.tls_verify = false;
        req.options.http2 = true;
        let resp = client.request(req).await;
        assert_ok(&resp);
        assert_eq!((resp.status(), resp.last.proto), (200, Some(Protocol::Http11)));
    }
    assert_eq!(t.stats.connections.load(Ordering::Relaxed), 1, "the HTTP/1.1 connection is pooled");
}

#[tokio::test]
async fn a_body_over_the_limit_is_an_error_and_a_discarded_body_is_not_kept() {
    let big = Bytes::from(vec![b'x'; 10_000]);
    let t = target(TargetConfig { body: big.clone(), ..Default::default() }).await;
    let client = client();
    let mut req = get(t.url(false));
    req.options.response_body = ResponseBody::Keep { max_bytes: 1_000 };
    let resp = client.request(req).await;
    let e = resp.last.error.clone().expect("too large");
    assert_eq!(e.kind, ErrorKind::BodyTooLarge);
    assert!(e.message.contains("1000 bytes"), "{}", e.message);
    assert_eq!((resp.status(), resp.body.len()), (200, 0), "status kept, body not");
    let mut req = get(t.url(false));
    req.options.response_body = ResponseBody::Discard;
    let resp = client.request(req).await;
    assert_ok(&resp);
    assert_eq!((resp.status(), resp.body.len()), (200, 0));
    let resp = client.request(get(t.url(false))).await;
    assert_eq!(resp.body, big, "the default limit keeps it");
    assert_eq!(t.stats.connections.load(Ordering::Relaxed), 1, "the rest of a too large body was read: reused");
}

#[tokio::test]
async fn failures_have_a_kind_and_a_message_naming_what_failed() {
    let client = client();
    let port = free_port();
    let resp = client.request(get(format!("http://127.0.0.1:{port}/"))).await;
    let e = resp.last.error.unwrap();
    assert_eq!((e.kind, resp.last.status), (ErrorKind::Connect, 0));
    assert!(e.message.contains(&format!("127.0.0.1:{port}")), "{}", e.message);

    let slow = target(TargetConfig { delay: Duration::from_secs(3), ..Default::default() }).await;
    let mut req = get(slow.url(false));
    req.options.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let resp = client.request(req).await;
    let e = resp.last.error.unwrap();
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert!(e.message.contains("300ms"), "{}", e.message);
    assert!(started.elapsed() < Duration::from_secs(2), "the timeout bounds the call");

    let resp = client.request(get("http://does-not-exist.invalid/")).await;
    let e = resp.last.error.unwrap();
    assert_eq!(e.kind, ErrorKind::Dns, "{}", e.message);
    assert!(e.message.contains("does-not-exist.invalid"), "{}", e.message);

    for bad in ["not a url", "ftp://example.test/", "http://"] {
        let resp = client.request(get(bad)).await;
        let e = resp.last.error.unwrap();
        assert_eq!(e.kind, ErrorKind::InvalidRequest, "{bad}: {}", e.message);
        assert!(e.message.contains(bad), "{}", e.message);
    }
}

/// What a client refused, as a job's failed-request log records it.
#[derive(Default)]
struct Refused(std::sync::Mutex<Vec<String>>);

impl Refusals for Refused {
    fn refused(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

/// A client held to one allow-list named `name`, and what it refused.
fn allowing(name: &str, entries: &[&str]) -> (Client, Arc<Refused>) {
    let list = AllowList { name: name.into(), entries: entries.iter().map(|e| e.to_string()).collect() };
    let refused = Arc::new(Refused::default());
    let allow = Allow::new(Policy::from_wire(&[list]).unwrap(), refused.clone());
    (client().allowing(Arc::new(allow)), refused)
}

fn assert_refused(resp: &HttpResponse, host: &str, list: &str) {
    let e = resp.last.error.as_ref().expect("refused");
    assert_eq!((e.kind, resp.status()), (ErrorKind::NotAllowed, 0), "{e:?}");
    let want = format!("host \"{host}\" is not in the target allow-list {list}: the request was not sent");
    assert_eq!(e.message, want);
}

#[tokio::test]
async fn a_host_off_the_jobs_list_is_never_contacted_and_the_refusal_names_host_and_list() {
    let (addr, counts) = wire_server().await;
    let (client, refused) = allowing("of project 7", &["localhost"]);
    let resp = client.request(get(format!("http://{addr}/x"))).await;
    assert_refused(&resp, "127.0.0.1", "of project 7");
    assert_eq!(counts.connections.load(Ordering::Relaxed), 0, "nothing reached the refused address");
    assert_eq!(refused.0.lock().unwrap().len(), 1, "the job hears of the refusal");
    let resp = client.request(get(format!("http://localhost:{}/x", addr.port()))).await;
    assert_ok(&resp);
    assert_eq!(counts.connections.load(Ordering::Relaxed), 1, "the name on the list is served");
}

#[tokio::test]
async fn a_name_passes_an_address_list_only_by_the_addresses_it_resolves_to() {
    let (addr, counts) = wire_server().await;
    let url = format!("http://localhost:{}/x", addr.port());
    let (inside, _) = allowing("L", &["127.0.0.0/8"]);
    let resp = inside.request(get(url.clone())).await;
    assert_ok(&resp);
    assert_eq!(resp.last.remote_addr, Some(addr), "only the listed address is tried");
    let (outside, refused) = allowing("L", &["10.0.0.0/8"]);
    assert_refused(&outside.request(get(url)).await, "localhost", "L");
    assert_eq!(counts.connections.load(Ordering::Relaxed), 1);
    assert_eq!(refused.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_redirect_to_a_host_off_the_list_is_refused_before_it_is_sent() {
    let (elsewhere, counts) = wire_server().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router =
        axum::Router::new().fallback(move || async move { Redirect::temporary(&format!("http://{elsewhere}/stolen")) });
    tokio::spawn(async move { axum::serve(listener, router).await });
    let (client, refused) = allowing("ALILO_ALLOWED_TARGETS", &["localhost"]);
    let resp = client.request(post(format!("http://localhost:{port}/start"))).await;
    let hops: Vec<(u16, bool)> = resp.hops().map(|h| (h.status, h.error.is_some())).collect();
    assert_eq!(hops, [(307, false), (0, true)], "the redirect is answered, its target refused");
    assert_refused(&resp, "127.0.0.1", "ALILO_ALLOWED_TARGETS");
    assert_eq!(counts.connections.load(Ordering::Relaxed), 0, "the payload never left for the other host");
    assert_eq!(refused.0.lock().unwrap().len(), 1);
}
