//! HAR exports from Chrome and Firefox, small but shaped like the real ones.

use super::super::{HarFilter, HarImport, ImportedRequest, MULTIPART_BOUNDARY, parse_har};

/// Chrome 131, HTTP/2 site: pseudo-headers, `_resourceType`, a preflight, a
/// request blocked by an extension, static assets, a `data:` image, a duplicate.
const CHROME_HAR: &str = r#"{
  "log": {
    "version": "1.2",
    "creator": { "name": "WebInspector", "version": "537.36" },
    "pages": [{ "startedDateTime": "2026-11-27T20:00:00.000Z", "id": "page_1", "title": "https://app.example.com/dashboard", "pageTimings": {} }],
    "entries": [
      {
        "_initiator": { "type": "other" },
        "_priority": "VeryHigh",
        "_resourceType": "document",
        "cache": {},
        "pageref": "page_1",
        "request": {
          "method": "GET",
          "url": "https://app.example.com/dashboard?tab=overview",
          "httpVersion": "http/2.0",
          "headers": [
            { "name": ":authority", "value": "app.example.com" },
            { "name": ":method", "value": "GET" },
            { "name": ":path", "value": "/dashboard?tab=overview" },
            { "name": ":scheme", "value": "https" },
            { "name": "accept", "value": "text/html,application/xhtml+xml" },
            { "name": "cookie", "value": "sid=abc123" },
            { "name": "user-agent", "value": "Mozilla/5.0 Chrome/131.0.0.0" }
          ],
          "queryString": [{ "name": "tab", "value": "overview" }],
          "cookies": [{ "name": "sid", "value": "abc123" }],
          "headersSize": -1,
          "bodySize": 0
        },
        "response": { "status": 200, "statusText": "", "httpVersion": "http/2.0", "headers": [], "cookies": [], "content": { "size": 5120, "mimeType": "text/html" }, "redirectURL": "", "headersSize": -1, "bodySize": -1, "_transferSize": 2100, "_error": null },
        "serverIPAddress": "203.0.113.10",
        "startedDateTime": "2026-11-27T20:00:00.100Z",
        "time": 85.2,
        "timings": { "blocked": 1, "dns": -1, "ssl": -1, "connect": -1, "send": 0.1, "wait": 80, "receive": 4.1 }
      },
      {
        "_resourceType": "stylesheet",
        "request": { "method": "GET", "url": "https://cdn.example.com/assets/app.3f9a.css", "httpVersion": "http/2.0", "headers": [{ "name": ":authority", "value": "cdn.example.com" }], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0 },
        "response": { "status": 200, "content": { "size": 9000, "mimeType": "text/css" } }
      },
      {
        "_resourceType": "script",
        "request": { "method": "GET", "url": "https://cdn.example.com/assets/app.3f9a.js", "httpVersion": "http/2.0", "headers": [], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0 },
        "response": { "status": 200, "content": { "size": 90000, "mimeType": "application/javascript" } }
      },
      {
        "_resourceType": "image",
        "request": { "method": "GET", "url": "data:image/png;base64,iVBORw0KGgo=", "httpVersion": "", "headers": [], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0 },
        "response": { "status": 200, "content": { "size": 8, "mimeType": "image/png" } }
      },
      {
        "_resourceType": "font",
        "request": { "method": "GET", "url": "https://fonts.gstatic.com/s/inter/v13/UcC73FwrK3iLTeHuS_fvQtMwCp50KnMa1ZL7.woff2", "httpVersion": "http/2.0", "headers": [], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0 },
        "response": { "status": 200, "content": { "size": 48000, "mimeType": "font/woff2" } }
      },
      {
        "_resourceType": "preflight",
        "request": { "method": "OPTIONS", "url": "https://api.example.com/v1/events", "httpVersion": "http/2.0", "headers": [{ "name": "access-control-request-method", "value": "POST" }], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0 },
        "response": { "status": 204, "content": { "size": 0, "mimeType": "x-unknown" } }
      },
      {
        "_resourceType": "fetch",
        "request": {
          "method": "POST",
          "url": "https://api.example.com/v1/events",
          "httpVersion": "http/2.0",
          "headers": [
            { "name": ":authority", "value": "api.example.com" },
            { "name": ":method", "value": "POST" },
            { "name": ":path", "value": "/v1/events" },
            { "name": ":scheme", "value": "https" },
            { "name": "authorization", "value": "Bearer eyJ0.e30.sig" },
            { "name": "content-length", "value": "38" },
            { "name": "content-type", "value": "application/json" },
            { "name": "x-request-id", "value": "7d1e" }
          ],
          "queryString": [],
          "cookies": [],
          "headersSize": -1,
          "bodySize": 38,
          "postData": { "mimeType": "application/json", "text": "{\"type\":\"page_view\",\"path\":\"/dash\"}" }
        },
        "response": { "status": 202, "content": { "size": 2, "mimeType": "application/json" } }
      },
      {
        "_resourceType": "xhr",
        "request": {
          "method": "GET",
          "url": "https://api.example.com/v1/stats?range=7d&tz=Europe%2FParis",
          "httpVersion": "http/2.0",
          "headers": [
            { "name": ":authority", "value": "api.example.com" },
            { "name": "accept", "value": "application/json" },
            { "name": "x-request-id", "value": "aa01" }
          ],
          "queryString": [{ "name": "range", "value": "7d" }, { "name": "tz", "value": "Europe%2FParis" }],
          "cookies": [], "headersSize": -1, "bodySize": 0
        },
        "response": { "status": 200, "content": { "size": 300, "mimeType": "application/json" } }
      },
      {
        "_resourceType": "xhr",
        "request": {
          "method": "GET",
          "url": "https://api.example.com/v1/stats?range=7d&tz=Europe%2FParis",
          "httpVersion": "http/2.0",
          "headers": [{ "name": "accept", "value": "application/json" }, { "name": "x-request-id", "value": "aa02" }],
          "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0
        },
        "response": { "status": 200, "content": { "size": 300, "mimeType": "application/json" } }
      },
      {
        "_resourceType": "xhr",
        "request": { "method": "GET", "url": "https://ads.tracker.example.net/pixel?id=1", "httpVersion": "", "headers": [], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0 },
        "response": { "status": 0, "content": { "size": 0, "mimeType": "" }, "_error": "net::ERR_BLOCKED_BY_CLIENT" }
      },
      {
        "_resourceType": "ping",
        "request": { "method": "POST", "url": "https://app.example.com/beacon", "httpVersion": "http/2.0", "headers": [], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0 },
        "response": { "status": 204, "content": { "size": 0, "mimeType": "" } }
      }
    ]
  }
}"#;

/// Firefox 133, HTTP/1.1 names, no `_resourceType`: a document, a form POST with
/// `params` and `text`, a JSON XHR, an image and a script (types from MIME types),
/// a multipart form whose text Firefox left out.
const FIREFOX_HAR: &str = r#"{
  "log": {
    "version": "1.2",
    "creator": { "name": "Firefox", "version": "133.0" },
    "browser": { "name": "Firefox", "version": "133.0" },
    "pages": [{ "startedDateTime": "2026-11-27T21:00:00.000+00:00", "id": "page_1", "pageTimings": { "onContentLoad": 300, "onLoad": 500 }, "title": "Shop" }],
    "entries": [
      {
        "pageref": "page_1",
        "startedDateTime": "2026-11-27T21:00:00.000+00:00",
        "request": {
          "bodySize": 0, "method": "GET", "url": "http://shop.example.org:8080/", "httpVersion": "HTTP/1.1",
          "headers": [
            { "name": "Host", "value": "shop.example.org:8080" },
            { "name": "User-Agent", "value": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0" },
            { "name": "Accept", "value": "text/html,application/xhtml+xml" },
            { "name": "Connection", "value": "keep-alive" },
            { "name": "Upgrade-Insecure-Requests", "value": "1" }
          ],
          "cookies": [], "queryString": [], "headersSize": 400
        },
        "response": { "status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [], "content": { "mimeType": "text/html; charset=utf-8", "size": 1200, "text": "<html></html>" }, "redirectURL": "", "headersSize": 200, "bodySize": 1200 },
        "cache": {}, "timings": { "blocked": 0, "dns": 0, "connect": 0, "ssl": 0, "send": 0, "wait": 20, "receive": 0 }, "time": 20, "_securityState": "insecure", "serverIPAddress": "127.0.0.1", "connection": "8080"
      },
      {
        "request": {
          "bodySize": 41, "method": "POST", "url": "http://shop.example.org:8080/login", "httpVersion": "HTTP/1.1",
          "headers": [
            { "name": "Host", "value": "shop.example.org:8080" },
            { "name": "Content-Type", "value": "application/x-www-form-urlencoded" },
            { "name": "Content-Length", "value": "41" },
            { "name": "Origin", "value": "http://shop.example.org:8080" },
            { "name": "Cookie", "value": "csrftoken=Zx81" }
          ],
          "cookies": [{ "name": "csrftoken", "value": "Zx81" }], "queryString": [], "headersSize": 500,
          "postData": { "mimeType": "application/x-www-form-urlencoded", "params": [{ "name": "user", "value": "alice" }, { "name": "pass", "value": "p@ss word" }], "text": "user=alice&pass=p%40ss+word&csrf=Zx81" }
        },
        "response": { "status": 302, "content": { "mimeType": "text/html", "size": 0 }, "redirectURL": "/account" }
      },
      {
        "request": {
          "bodySize": 0, "method": "GET", "url": "http://shop.example.org:8080/api/cart?currency=EUR", "httpVersion": "HTTP/1.1",
          "headers": [{ "name": "Accept", "value": "application/json" }, { "name": "X-Requested-With", "value": "XMLHttpRequest" }],
          "cookies": [], "queryString": [{ "name": "currency", "value": "EUR" }], "headersSize": 300
        },
        "response": { "status": 200, "content": { "mimeType": "application/json", "size": 80 } }
      },
      {
        "request": { "bodySize": 0, "method": "GET", "url": "http://shop.example.org:8080/img/logo.png", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [], "queryString": [], "headersSize": 200 },
        "response": { "status": 200, "content": { "mimeType": "image/png", "size": 3000 } }
      },
      {
        "request": { "bodySize": 0, "method": "GET", "url": "http://shop.example.org:8080/static/main.js?v=3", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [], "queryString": [], "headersSize": 200 },
        "response": { "status": 304, "content": { "mimeType": "", "size": 0 } }
      },
      {
        "request": {
          "bodySize": 200, "method": "POST", "url": "http://shop.example.org:8080/api/profile", "httpVersion": "HTTP/1.1",
          "headers": [{ "name": "Content-Type", "value": "multipart/form-data; boundary=---------------------------1234" }],
          "cookies": [], "queryString": [], "headersSize": 300,
          "postData": { "mimeType": "multipart/form-data; boundary=---------------------------1234", "params": [{ "name": "nick", "value": "al" }, { "name": "bio", "value": "hi" }] }
        },
        "response": { "status": 200, "content": { "mimeType": "application/json", "size": 2 } }
      },
      {
        "request": {
          "bodySize": 900, "method": "POST", "url": "http://shop.example.org:8080/api/avatar", "httpVersion": "HTTP/1.1",
          "headers": [], "cookies": [], "queryString": [], "headersSize": 300,
          "postData": { "mimeType": "multipart/form-data; boundary=---------------------------99", "params": [{ "name": "file", "value": "", "fileName": "me.jpg", "contentType": "image/jpeg" }] }
        },
        "response": { "status": 200, "content": { "mimeType": "application/json", "size": 2 } }
      }
    ]
  }
}"#;

fn summary(import: &HarImport) -> (Vec<String>, Vec<String>) {
    let kept = import
        .requests
        .iter()
        .map(|e| format!("{} {} [{}] x{}", e.request.method, e.request.url, e.resource_type, e.merged_duplicates + 1))
        .collect();
    let skipped = import.skipped.iter().map(|s| format!("{} {}: {}", s.method, s.url, s.reason)).collect();
    (kept, skipped)
}

fn header_names(req: &ImportedRequest) -> Vec<&str> {
    req.headers.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn chrome_export_keeps_documents_and_api_calls_and_says_why_it_skips() {
    let import = parse_har(CHROME_HAR, &HarFilter::default()).unwrap();
    let (kept, skipped) = summary(&import);
    assert_eq!(
        kept,
        [
            "GET https://app.example.com/dashboard?tab=overview [document] x1",
            "POST https://api.example.com/v1/events [fetch] x1",
            "GET https://api.example.com/v1/stats?range=7d&tz=Europe%2FParis [xhr] x2",
        ]
    );
    assert_eq!(
        skipped,
        [
            "GET https://cdn.example.com/assets/app.3f9a.css: resource type 'stylesheet' is not selected (selected: xhr, fetch, document)",
            "GET https://cdn.example.com/assets/app.3f9a.js: resource type 'script' is not selected (selected: xhr, fetch, document)",
            "GET data:image/png;base64,iVBORw0KGgo=: scheme 'data': only http and https requests can be imported",
            "GET https://fonts.gstatic.com/s/inter/v13/UcC73FwrK3iLTeHuS_fvQtMwCp50KnMa1ZL7.woff2: resource type 'font' is not selected (selected: xhr, fetch, document)",
            "OPTIONS https://api.example.com/v1/events: resource type 'preflight' is not selected (selected: xhr, fetch, document)",
            "GET https://ads.tracker.example.net/pixel?id=1: the browser did not send it (net::ERR_BLOCKED_BY_CLIENT)",
            "POST https://app.example.com/beacon: resource type 'ping' is not selected (selected: xhr, fetch, document)",
        ]
    );
}

#[test]
fn chrome_pseudo_and_computed_headers_are_dropped() {
    let import = parse_har(CHROME_HAR, &HarFilter::default()).unwrap();
    let document = &import.requests[0].request;
    assert_eq!(header_names(document), ["accept", "cookie", "user-agent"]);
    assert_eq!(document.query_params[0].key, "tab");
    let post = &import.requests[1].request;
    assert_eq!(header_names(post), ["authorization", "content-type", "x-request-id"]);
    assert_eq!(post.body.as_deref(), Some(r#"{"type":"page_view","path":"/dash"}"#));
    let stats = &import.requests[2];
    assert_eq!(stats.merged_duplicates, 1);
    assert_eq!(stats.request.query_params[1].value, "Europe/Paris");
    assert_eq!(stats.request.header("x-request-id"), Some("aa01"));
}

#[test]
fn filters_by_host_and_type() {
    let filter = HarFilter {
        hosts: vec!["API.example.com".to_owned()],
        resource_types: vec!["xhr".to_owned(), "Preflight".to_owned()],
    };
    let import = parse_har(CHROME_HAR, &filter).unwrap();
    let (kept, skipped) = summary(&import);
    assert_eq!(
        kept,
        [
            "OPTIONS https://api.example.com/v1/events [preflight] x1",
            "GET https://api.example.com/v1/stats?range=7d&tz=Europe%2FParis [xhr] x2",
        ]
    );
    assert!(skipped.contains(
        &"GET https://app.example.com/dashboard?tab=overview: host 'app.example.com' is not selected (selected: API.example.com)".to_owned()
    ));
    assert!(
        skipped.contains(
            &"POST https://api.example.com/v1/events: resource type 'fetch' is not selected (selected: xhr, preflight)"
                .to_owned()
        )
    );

    let subdomains =
        HarFilter { hosts: vec!["*.example.com".to_owned()], resource_types: vec!["stylesheet".to_owned()] };
    let import = parse_har(CHROME_HAR, &subdomains).unwrap();
    assert_eq!(import.requests.len(), 1);
    assert_eq!(import.requests[0].request.host, "cdn.example.com");
}

#[test]
fn firefox_export_infers_types_and_reads_post_data() {
    let import = parse_har(FIREFOX_HAR, &HarFilter::default()).unwrap();
    let (kept, skipped) = summary(&import);
    assert_eq!(
        kept,
        [
            "GET http://shop.example.org:8080/ [document] x1",
            "POST http://shop.example.org:8080/login [document] x1",
            "GET http://shop.example.org:8080/api/cart?currency=EUR [xhr] x1",
            "POST http://shop.example.org:8080/api/profile [xhr] x1",
        ]
    );
    assert_eq!(
        skipped,
        [
            "GET http://shop.example.org:8080/img/logo.png: resource type 'image' is not selected (selected: xhr, fetch, document)",
            "GET http://shop.example.org:8080/static/main.js?v=3: resource type 'script' is not selected (selected: xhr, fetch, document)",
            "POST http://shop.example.org:8080/api/avatar: a multipart upload of a file: the file's content is not in the HAR",
        ]
    );
    let document = &import.requests[0].request;
    assert_eq!(header_names(document), ["User-Agent", "Accept", "Upgrade-Insecure-Requests"]);
    let login = &import.requests[1].request;
    assert_eq!(header_names(login), ["Content-Type", "Origin", "Cookie"]);
    assert_eq!(login.body.as_deref(), Some("user=alice&pass=p%40ss+word&csrf=Zx81"));
    let profile = &import.requests[3].request;
    let content_type = format!("multipart/form-data; boundary={MULTIPART_BOUNDARY}");
    assert_eq!(profile.header("Content-Type"), Some(content_type.as_str()));
    assert_eq!(
        profile.body.as_deref().unwrap(),
        format!(
            "--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"nick\"\r\n\r\nal\r\n--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"bio\"\r\n\r\nhi\r\n--{MULTIPART_BOUNDARY}--\r\n"
        )
    );
}

#[test]
fn params_without_text_are_form_encoded_like_the_browser() {
    let har = r#"{"log":{"entries":[{"_resourceType":"document","request":{"method":"POST","url":"https://x.test/f","headers":[],
        "postData":{"mimeType":"application/x-www-form-urlencoded","params":[{"name":"q","value":"a b&c"},{"name":"n","value":"é"}]}}}]}}"#;
    let import = parse_har(har, &HarFilter::default()).unwrap();
    assert_eq!(import.requests[0].request.body.as_deref(), Some("q=a+b%26c&n=%C3%A9"));
}

#[test]
fn broken_files_are_errors() {
    let err = parse_har("{\"log\": ", &HarFilter::default()).unwrap_err();
    assert!(err.to_string().starts_with("the HAR file is not valid JSON: "), "{err}");
    assert_eq!(err.column, None);
    let err = parse_har("{\"entries\": []}", &HarFilter::default()).unwrap_err();
    assert_eq!(err.to_string(), "not a HAR file: 'log.entries' is missing");
}
