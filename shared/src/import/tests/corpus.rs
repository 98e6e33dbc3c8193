//! Real commands — browsers' "Copy as cURL" (bash and cmd) and public API docs —
//! with the request curl sends for each: method, URL, headers in order, body.
//!
//! `{B}` in an expected body or header stands for [`MULTIPART_BOUNDARY`].

use super::super::{HttpVersion, MULTIPART_BOUNDARY, parse_curl};

struct Case {
    name: &'static str,
    command: &'static str,
    method: &'static str,
    url: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: Option<&'static str>,
}

const CHROME_UA: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

const CASES: &[Case] = &[
    // ---------------------------------------------------------------- Chrome, bash
    Case {
        name: "chrome_bash_xhr_get",
        command: r#"curl 'https://api.example.com/v1/users?page=2&per_page=20' \
  -H 'accept: application/json, text/plain, */*' \
  -H 'accept-language: en-US,en;q=0.9' \
  -H 'authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc' \
  -H 'origin: https://app.example.com' \
  -H 'priority: u=1, i' \
  -H 'referer: https://app.example.com/' \
  -H 'sec-ch-ua: "Chromium";v="131", "Not_A Brand";v="24"' \
  -H 'sec-ch-ua-mobile: ?0' \
  -H 'sec-ch-ua-platform: "macOS"' \
  -H 'sec-fetch-dest: empty' \
  -H 'sec-fetch-mode: cors' \
  -H 'sec-fetch-site: same-site' \
  -H 'user-agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'"#,
        method: "GET",
        url: "https://api.example.com/v1/users?page=2&per_page=20",
        headers: &[
            ("accept", "application/json, text/plain, */*"),
            ("accept-language", "en-US,en;q=0.9"),
            ("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc"),
            ("origin", "https://app.example.com"),
            ("priority", "u=1, i"),
            ("referer", "https://app.example.com/"),
            ("sec-ch-ua", r#""Chromium";v="131", "Not_A Brand";v="24""#),
            ("sec-ch-ua-mobile", "?0"),
            ("sec-ch-ua-platform", r#""macOS""#),
            ("sec-fetch-dest", "empty"),
            ("sec-fetch-mode", "cors"),
            ("sec-fetch-site", "same-site"),
            ("user-agent", CHROME_UA),
        ],
        body: None,
    },
    Case {
        name: "chrome_bash_post_json",
        command: r#"curl 'https://app.example.com/api/cart/items' \
  -H 'accept: */*' \
  -H 'content-type: application/json' \
  -H 'origin: https://app.example.com' \
  -H 'x-csrf-token: 7f3a9c' \
  --data-raw '{"sku":"ABC-123","quantity":2,"options":{"gift":false}}'"#,
        method: "POST",
        url: "https://app.example.com/api/cart/items",
        headers: &[
            ("accept", "*/*"),
            ("content-type", "application/json"),
            ("origin", "https://app.example.com"),
            ("x-csrf-token", "7f3a9c"),
        ],
        body: Some(r#"{"sku":"ABC-123","quantity":2,"options":{"gift":false}}"#),
    },
    Case {
        name: "chrome_bash_cookie_flag",
        command: r#"curl 'https://shop.example.com/account/orders?status=open' \
  -H 'accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8' \
  -b '_ga=GA1.1.123456789.1700000000; session_id=s%3Aabc.def; theme=dark' \
  -H 'upgrade-insecure-requests: 1' \
  -H 'user-agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'"#,
        method: "GET",
        url: "https://shop.example.com/account/orders?status=open",
        headers: &[
            ("Cookie", "_ga=GA1.1.123456789.1700000000; session_id=s%3Aabc.def; theme=dark"),
            ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
            ("upgrade-insecure-requests", "1"),
            ("user-agent", CHROME_UA),
        ],
        body: None,
    },
    Case {
        name: "chrome_bash_ansi_c_body",
        command: r#"curl 'https://chat.example.com/api/messages' \
  -H 'content-type: application/json' \
  --data-raw $'{"text":"it\'s done\u0021 \\o/","ts":1700000000}'"#,
        method: "POST",
        url: "https://chat.example.com/api/messages",
        headers: &[("content-type", "application/json")],
        body: Some(r#"{"text":"it's done! \o/","ts":1700000000}"#),
    },
    Case {
        name: "chrome_bash_ansi_c_newlines",
        command: r#"curl 'https://paste.example.com/api/paste' \
  -H 'content-type: text/plain;charset=UTF-8' \
  --data-raw $'line one\nline two\r\n\ttabbed'"#,
        method: "POST",
        url: "https://paste.example.com/api/paste",
        headers: &[("content-type", "text/plain;charset=UTF-8")],
        body: Some("line one\nline two\r\n\ttabbed"),
    },
    Case {
        name: "chrome_bash_login_form",
        command: r#"curl 'https://auth.example.com/login' \
  -H 'content-type: application/x-www-form-urlencoded' \
  -H 'origin: https://auth.example.com' \
  --data-raw 'username=alice%40example.com&password=s3cr%21t&remember=on'"#,
        method: "POST",
        url: "https://auth.example.com/login",
        headers: &[("content-type", "application/x-www-form-urlencoded"), ("origin", "https://auth.example.com")],
        body: Some("username=alice%40example.com&password=s3cr%21t&remember=on"),
    },
    Case {
        name: "chrome_bash_graphql",
        command: r#"curl 'https://api.example.com/graphql' \
  -H 'accept: application/graphql-response+json, application/json' \
  -H 'content-type: application/json' \
  --data-raw '{"operationName":"Viewer","variables":{},"query":"query Viewer {\n  viewer {\n    id\n  }\n}"}'"#,
        method: "POST",
        url: "https://api.example.com/graphql",
        headers: &[
            ("accept", "application/graphql-response+json, application/json"),
            ("content-type", "application/json"),
        ],
        body: Some(r#"{"operationName":"Viewer","variables":{},"query":"query Viewer {\n  viewer {\n    id\n  }\n}"}"#),
    },
    Case {
        name: "chrome_bash_multipart_data_raw",
        command: r#"curl 'https://upload.example.com/profile' \
  -H 'content-type: multipart/form-data; boundary=----WebKitFormBoundaryx8JeYDm0zCCx1Ie5' \
  --data-raw $'------WebKitFormBoundaryx8JeYDm0zCCx1Ie5\r\nContent-Disposition: form-data; name="nickname"\r\n\r\nbob\r\n------WebKitFormBoundaryx8JeYDm0zCCx1Ie5--\r\n'"#,
        method: "POST",
        url: "https://upload.example.com/profile",
        headers: &[("content-type", "multipart/form-data; boundary=----WebKitFormBoundaryx8JeYDm0zCCx1Ie5")],
        body: Some(
            "------WebKitFormBoundaryx8JeYDm0zCCx1Ie5\r\nContent-Disposition: form-data; name=\"nickname\"\r\n\r\nbob\r\n------WebKitFormBoundaryx8JeYDm0zCCx1Ie5--\r\n",
        ),
    },
    Case {
        name: "chrome_bash_delete",
        command: r#"curl 'https://api.example.com/v1/sessions/42' \
  -X 'DELETE' \
  -H 'accept: application/json' \
  -H 'authorization: Bearer t0k3n'"#,
        method: "DELETE",
        url: "https://api.example.com/v1/sessions/42",
        headers: &[("accept", "application/json"), ("authorization", "Bearer t0k3n")],
        body: None,
    },
    Case {
        name: "chrome_bash_patch_with_body",
        command: r#"curl 'https://api.example.com/v1/users/7' \
  -X 'PATCH' \
  -H 'content-type: application/json' \
  --data-raw '{"name":"José Ñúñez"}'"#,
        method: "PATCH",
        url: "https://api.example.com/v1/users/7",
        headers: &[("content-type", "application/json")],
        body: Some(r#"{"name":"José Ñúñez"}"#),
    },
    Case {
        name: "chrome_bash_compressed_legacy",
        command: r#"curl 'https://news.example.com/' -H 'authority: news.example.com' -H 'accept-language: de-DE,de;q=0.9' --compressed"#,
        method: "GET",
        url: "https://news.example.com/",
        headers: &[
            ("Accept-Encoding", "deflate, gzip, br, zstd"),
            ("authority", "news.example.com"),
            ("accept-language", "de-DE,de;q=0.9"),
        ],
        body: None,
    },
    Case {
        name: "chrome_bash_query_with_encoded_values",
        command: r#"curl 'https://search.example.com/api/search?q=caf%C3%A9%20au%20lait&filters=%7B%22price%22%3A%5B0%2C10%5D%7D&sort=-date' \
  -H 'accept: application/json'"#,
        method: "GET",
        url: "https://search.example.com/api/search?q=caf%C3%A9%20au%20lait&filters=%7B%22price%22%3A%5B0%2C10%5D%7D&sort=-date",
        headers: &[("accept", "application/json")],
        body: None,
    },
    // ----------------------------------------------------------------- Chrome, cmd
    Case {
        name: "chrome_cmd_get",
        command: "curl ^\"https://api.example.com/v1/search?q=caf^%^C3^%^A9^&limit=10^\" ^\r\n  -H ^\"accept: application/json^\" ^\r\n  -H ^\"sec-ch-ua: ^\\^\"Chromium^\\^\";v=^\\^\"131^\\^\"^\" ^\r\n  -H ^\"user-agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)^\"",
        method: "GET",
        url: "https://api.example.com/v1/search?q=caf%C3%A9&limit=10",
        headers: &[
            ("accept", "application/json"),
            ("sec-ch-ua", "\"Chromium\";v=\"131\""),
            ("user-agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"),
        ],
        body: None,
    },
    Case {
        name: "chrome_cmd_post_json",
        command: "curl ^\"https://api.example.com/graphql^\" ^\n  -H ^\"content-type: application/json^\" ^\n  --data-raw ^\"^{^\\^\"query^\\^\":^\\^\"^{ me ^{ id ^} ^}^\\^\",^\\^\"vars^\\^\":^[1,2^]^}^\"",
        method: "POST",
        url: "https://api.example.com/graphql",
        headers: &[("content-type", "application/json")],
        body: Some(r#"{"query":"{ me { id } }","vars":[1,2]}"#),
    },
    Case {
        name: "chrome_cmd_newline_and_percent",
        command: "curl ^\"https://paste.example.com/new^\" ^\n  -H ^\"content-type: text/plain^\" ^\n  --data-raw ^\"100^% done^\n\nsecond line with ^%^PATH^%^\"",
        method: "POST",
        url: "https://paste.example.com/new",
        headers: &[("content-type", "text/plain")],
        body: Some("100% done\nsecond line with %PATH%"),
    },
    Case {
        name: "chrome_cmd_cookie_and_delete",
        command: "curl ^\"https://app.example.com/api/items/9^\" ^\n  -X ^\"DELETE^\" ^\n  -b ^\"sid=abc123; lang=en^\" ^\n  -H ^\"accept: */*^\"",
        method: "DELETE",
        url: "https://app.example.com/api/items/9",
        headers: &[("Cookie", "sid=abc123; lang=en"), ("accept", "*/*")],
        body: None,
    },
    Case {
        // Older Chrome: plain "…" around each value, every special character inside
        // ^-escaped, a quote written ^\^" (#14).
        name: "chrome_cmd_old_quoting_header_and_json_body",
        command: "curl \"https://api.example.com/v1/cart\" -H \"sec-ch-ua: ^\\^\"Chromium^\\^\";v=^\\^\"92^\\^\"\" -H \"Content-Type: application/json\" --data-binary \"^{^\\^\"sku^\\^\":^\\^\"a b^\\^\",^\\^\"qty^\\^\":2^}\" --compressed",
        method: "POST",
        url: "https://api.example.com/v1/cart",
        headers: &[
            ("Accept-Encoding", "deflate, gzip, br, zstd"),
            ("sec-ch-ua", "\"Chromium\";v=\"92\""),
            ("Content-Type", "application/json"),
        ],
        body: Some(r#"{"sku":"a b","qty":2}"#),
    },
    Case {
        name: "chrome_cmd_backslashes_in_json",
        command: "curl ^\"https://api.example.com/files^\" ^\n  --data-raw ^\"^{^\\^\"path^\\^\":^\\^\"C:^\\^\\Users^\\^\\bob^\\^\"^}^\"",
        method: "POST",
        url: "https://api.example.com/files",
        headers: &[("Content-Type", "application/x-www-form-urlencoded")],
        body: Some(r#"{"path":"C:\\Users\\bob"}"#),
    },
    // ---------------------------------------------------------------------- Firefox
    Case {
        name: "firefox_bash_get",
        command: r#"curl 'https://developer.example.org/api/v1/search?locale=en-US&q=fetch' --compressed -H 'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0' -H 'Accept: */*' -H 'Accept-Language: en-US,en;q=0.5' -H 'Accept-Encoding: gzip, deflate, br, zstd' -H 'Referer: https://developer.example.org/en-US/' -H 'Connection: keep-alive' -H 'Sec-Fetch-Dest: empty' -H 'Sec-Fetch-Mode: cors' -H 'Sec-Fetch-Site: same-origin' -H 'TE: trailers'"#,
        method: "GET",
        url: "https://developer.example.org/api/v1/search?locale=en-US&q=fetch",
        headers: &[
            ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
            ("Accept", "*/*"),
            ("Accept-Language", "en-US,en;q=0.5"),
            ("Accept-Encoding", "gzip, deflate, br, zstd"),
            ("Referer", "https://developer.example.org/en-US/"),
            ("Connection", "keep-alive"),
            ("Sec-Fetch-Dest", "empty"),
            ("Sec-Fetch-Mode", "cors"),
            ("Sec-Fetch-Site", "same-origin"),
            ("TE", "trailers"),
        ],
        body: None,
    },
    Case {
        name: "firefox_bash_post_json",
        command: r##"curl 'https://tracker.example.org/api/events' \
  -X POST \
  -H 'User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0' \
  -H 'Accept: application/json' \
  -H 'Content-Type: application/json' \
  -H 'Origin: https://tracker.example.org' \
  -H 'Cookie: sid=f00; consent=1' \
  --data-raw '{"event":"click","target":"#buy"}'"##,
        method: "POST",
        url: "https://tracker.example.org/api/events",
        headers: &[
            ("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"),
            ("Accept", "application/json"),
            ("Content-Type", "application/json"),
            ("Origin", "https://tracker.example.org"),
            ("Cookie", "sid=f00; consent=1"),
        ],
        body: Some(r##"{"event":"click","target":"#buy"}"##),
    },
    Case {
        name: "firefox_bash_put",
        command: r#"curl 'https://api.example.org/v2/settings' -X PUT -H 'Accept: application/json' -H 'Content-Type: application/json' --data-raw '{"dark":true}'"#,
        method: "PUT",
        url: "https://api.example.org/v2/settings",
        headers: &[("Accept", "application/json"), ("Content-Type", "application/json")],
        body: Some(r#"{"dark":true}"#),
    },
    Case {
        name: "firefox_windows",
        command: "curl \"https://api.example.org/v2/notes\" ^\n  -X POST ^\n  -H \"Accept: application/json\" ^\n  -H \"Content-Type: application/json\" ^\n  --data-raw \"{\"\"title\"\":\"\"50% off & more\"\"}\"",
        method: "POST",
        url: "https://api.example.org/v2/notes",
        headers: &[("Accept", "application/json"), ("Content-Type", "application/json")],
        body: Some(r#"{"title":"50% off & more"}"#),
    },
    // ----------------------------------------------------------------------- Safari
    Case {
        name: "safari_get",
        command: r#"curl 'https://www.example.com/api/items?limit=5' \
-X 'GET' \
-H 'Accept: application/json' \
-H 'Sec-Fetch-Site: same-origin' \
-H 'Accept-Language: en-GB,en;q=0.9' \
-H 'Sec-Fetch-Mode: cors' \
-H 'Host: www.example.com' \
-H 'User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15' \
-H 'Referer: https://www.example.com/items' \
-H 'Sec-Fetch-Dest: empty'"#,
        method: "GET",
        url: "https://www.example.com/api/items?limit=5",
        headers: &[
            ("Accept", "application/json"),
            ("Sec-Fetch-Site", "same-origin"),
            ("Accept-Language", "en-GB,en;q=0.9"),
            ("Sec-Fetch-Mode", "cors"),
            ("Host", "www.example.com"),
            (
                "User-Agent",
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
            ),
            ("Referer", "https://www.example.com/items"),
            ("Sec-Fetch-Dest", "empty"),
        ],
        body: None,
    },
    Case {
        name: "safari_post",
        command: r#"curl 'https://www.example.com/api/comments' \
-X 'POST' \
-H 'Content-Type: application/json' \
-H 'Accept: */*' \
--data-binary '{"postId":12,"text":"Nice!"}'"#,
        method: "POST",
        url: "https://www.example.com/api/comments",
        headers: &[("Content-Type", "application/json"), ("Accept", "*/*")],
        body: Some(r#"{"postId":12,"text":"Nice!"}"#),
    },
    // ---------------------------------------------------------------------- GitHub
    Case {
        name: "github_get_repo",
        command: r#"curl -L \
  -H "Accept: application/vnd.github+json" \
  -H "Authorization: Bearer <YOUR-TOKEN>" \
  -H "X-GitHub-Api-Version: 2022-11-28" \
  https://api.github.com/repos/OWNER/REPO"#,
        method: "GET",
        url: "https://api.github.com/repos/OWNER/REPO",
        headers: &[
            ("Accept", "application/vnd.github+json"),
            ("Authorization", "Bearer <YOUR-TOKEN>"),
            ("X-GitHub-Api-Version", "2022-11-28"),
        ],
        body: None,
    },
    Case {
        name: "github_create_issue",
        command: r#"curl -L \
  -X POST \
  -H "Accept: application/vnd.github+json" \
  -H "Authorization: Bearer <YOUR-TOKEN>" \
  -H "X-GitHub-Api-Version: 2022-11-28" \
  https://api.github.com/repos/OWNER/REPO/issues \
  -d '{"title":"Found a bug","body":"I'"'"'m having a problem with this.","assignees":["octocat"],"milestone":1,"labels":["bug"]}'"#,
        method: "POST",
        url: "https://api.github.com/repos/OWNER/REPO/issues",
        headers: &[
            ("Accept", "application/vnd.github+json"),
            ("Authorization", "Bearer <YOUR-TOKEN>"),
            ("X-GitHub-Api-Version", "2022-11-28"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        body: Some(
            r#"{"title":"Found a bug","body":"I'm having a problem with this.","assignees":["octocat"],"milestone":1,"labels":["bug"]}"#,
        ),
    },
    Case {
        name: "github_list_issues_query",
        command: r#"curl -L \
  -H "Accept: application/vnd.github+json" \
  -H "Authorization: Bearer $GITHUB_TOKEN" \
  "https://api.github.com/repos/rust-lang/rust/issues?state=open&labels=C-bug&per_page=50""#,
        method: "GET",
        url: "https://api.github.com/repos/rust-lang/rust/issues?state=open&labels=C-bug&per_page=50",
        headers: &[("Accept", "application/vnd.github+json"), ("Authorization", "Bearer $GITHUB_TOKEN")],
        body: None,
    },
    Case {
        name: "github_graphql_continued_string",
        command: "curl -H \"Authorization: bearer TOKEN\" -X POST -d \" \\\n { \\\n   \\\"query\\\": \\\"query { viewer { login }}\\\" \\\n } \\\n\" https://api.github.com/graphql",
        method: "POST",
        url: "https://api.github.com/graphql",
        headers: &[("Authorization", "bearer TOKEN"), ("Content-Type", "application/x-www-form-urlencoded")],
        body: Some(r#"  {    "query": "query { viewer { login }}"  } "#),
    },
    // ---------------------------------------------------------------------- Stripe
    Case {
        name: "stripe_create_customer",
        command: r#"curl https://api.stripe.com/v1/customers \
  -u "sk_test_4eC39HqLyjWDarjtT1zdp7dc:" \
  -d name="Jenny Rosen" \
  --data-urlencode email="jenny.rosen@example.com""#,
        method: "POST",
        url: "https://api.stripe.com/v1/customers",
        headers: &[
            ("Authorization", "Basic c2tfdGVzdF80ZUMzOUhxTHlqV0Rhcmp0VDF6ZHA3ZGM6"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        body: Some("name=Jenny Rosen&email=jenny.rosen%40example.com"),
    },
    Case {
        name: "stripe_list_customers_get",
        command: r#"curl -G https://api.stripe.com/v1/customers \
  -u "sk_test_4eC39HqLyjWDarjtT1zdp7dc:" \
  -d limit=3"#,
        method: "GET",
        url: "https://api.stripe.com/v1/customers?limit=3",
        headers: &[("Authorization", "Basic c2tfdGVzdF80ZUMzOUhxTHlqV0Rhcmp0VDF6ZHA3ZGM6")],
        body: None,
    },
    Case {
        name: "stripe_payment_intent",
        command: r#"curl https://api.stripe.com/v1/payment_intents \
  -u "sk_test_4eC39HqLyjWDarjtT1zdp7dc:" \
  -d amount=2000 \
  -d currency=usd \
  -d "automatic_payment_methods[enabled]"=true"#,
        method: "POST",
        url: "https://api.stripe.com/v1/payment_intents",
        headers: &[
            ("Authorization", "Basic c2tfdGVzdF80ZUMzOUhxTHlqV0Rhcmp0VDF6ZHA3ZGM6"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        body: Some("amount=2000&currency=usd&automatic_payment_methods[enabled]=true"),
    },
    Case {
        name: "stripe_search_get_brackets_in_data",
        command: r#"curl -G https://api.stripe.com/v1/charges \
  -u sk_test_4eC39HqLyjWDarjtT1zdp7dc: \
  -d "created[gte]"=1700000000 \
  -d limit=10"#,
        method: "GET",
        url: "https://api.stripe.com/v1/charges?created%5Bgte%5D=1700000000&limit=10",
        headers: &[("Authorization", "Basic c2tfdGVzdF80ZUMzOUhxTHlqV0Rhcmp0VDF6ZHA3ZGM6")],
        body: None,
    },
    // ----------------------------------------------------------------------- Slack
    Case {
        name: "slack_post_message",
        command: r#"curl -X POST -H 'Authorization: Bearer xoxb-1234-56789abcdefghijklmnop' \
-H 'Content-type: application/json; charset=utf-8' \
--data '{"channel":"C123ABC456","text":"Hello world :tada:"}' \
https://slack.com/api/chat.postMessage"#,
        method: "POST",
        url: "https://slack.com/api/chat.postMessage",
        headers: &[
            ("Authorization", "Bearer xoxb-1234-56789abcdefghijklmnop"),
            ("Content-type", "application/json; charset=utf-8"),
        ],
        body: Some(r#"{"channel":"C123ABC456","text":"Hello world :tada:"}"#),
    },
    Case {
        name: "slack_webhook",
        command: r#"curl -X POST -H 'Content-type: application/json' --data '{"text":"Hello, World!"}' https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"#,
        method: "POST",
        url: "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        headers: &[("Content-type", "application/json")],
        body: Some(r#"{"text":"Hello, World!"}"#),
    },
    Case {
        name: "slack_conversations_history_form",
        command: r#"curl -X POST https://slack.com/api/conversations.history \
  -H "Authorization: Bearer xoxb-your-token" \
  -d channel=C1234567890 -d limit=100"#,
        method: "POST",
        url: "https://slack.com/api/conversations.history",
        headers: &[("Authorization", "Bearer xoxb-your-token"), ("Content-Type", "application/x-www-form-urlencoded")],
        body: Some("channel=C1234567890&limit=100"),
    },
    // ---------------------------------------------------------------------- OpenAI
    Case {
        name: "openai_chat_completions",
        command: r#"curl https://api.openai.com/v1/chat/completions \
  -H "Content-Type: application/json" \
  -H "Authorization: Bearer $OPENAI_API_KEY" \
  -d '{
    "model": "gpt-4o",
    "messages": [
      {
        "role": "user",
        "content": "Say this is a test!"
      }
    ]
  }'"#,
        method: "POST",
        url: "https://api.openai.com/v1/chat/completions",
        headers: &[("Content-Type", "application/json"), ("Authorization", "Bearer $OPENAI_API_KEY")],
        body: Some(
            "{\n    \"model\": \"gpt-4o\",\n    \"messages\": [\n      {\n        \"role\": \"user\",\n        \"content\": \"Say this is a test!\"\n      }\n    ]\n  }",
        ),
    },
    Case {
        name: "openai_list_models",
        command: r#"curl https://api.openai.com/v1/models \
  -H "Authorization: Bearer $OPENAI_API_KEY""#,
        method: "GET",
        url: "https://api.openai.com/v1/models",
        headers: &[("Authorization", "Bearer $OPENAI_API_KEY")],
        body: None,
    },
    Case {
        name: "openai_embeddings_with_org_header",
        command: r#"curl https://api.openai.com/v1/embeddings \
  -H "Authorization: Bearer $OPENAI_API_KEY" \
  -H "OpenAI-Organization: ${ORG_ID}" \
  -H "Content-Type: application/json" \
  -d '{"input": "The food was delicious", "model": "text-embedding-3-small"}'"#,
        method: "POST",
        url: "https://api.openai.com/v1/embeddings",
        headers: &[
            ("Authorization", "Bearer $OPENAI_API_KEY"),
            ("OpenAI-Organization", "${ORG_ID}"),
            ("Content-Type", "application/json"),
        ],
        body: Some(r#"{"input": "The food was delicious", "model": "text-embedding-3-small"}"#),
    },
    // ---------------------------------------------------------------------- Twilio
    Case {
        name: "twilio_send_sms",
        command: r#"curl -X POST "https://api.twilio.com/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID/Messages.json" \
--data-urlencode "Body=Hello from Twilio" \
--data-urlencode "From=+15017122661" \
--data-urlencode "To=+15558675310" \
-u $TWILIO_ACCOUNT_SID:$TWILIO_AUTH_TOKEN"#,
        method: "POST",
        url: "https://api.twilio.com/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID/Messages.json",
        headers: &[
            ("Authorization", "Basic JFRXSUxJT19BQ0NPVU5UX1NJRDokVFdJTElPX0FVVEhfVE9LRU4="),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        body: Some("Body=Hello+from+Twilio&From=%2B15017122661&To=%2B15558675310"),
    },
    Case {
        name: "twilio_list_calls",
        command: r#"curl -X GET "https://api.twilio.com/2010-04-01/Accounts/ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX/Calls.json?Status=completed&PageSize=20" \
-u ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:your_auth_token"#,
        method: "GET",
        url: "https://api.twilio.com/2010-04-01/Accounts/ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX/Calls.json?Status=completed&PageSize=20",
        headers: &[("Authorization", "Basic QUNYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWDp5b3VyX2F1dGhfdG9rZW4=")],
        body: None,
    },
    // --------------------------------------------------------------- Elasticsearch
    Case {
        name: "elasticsearch_search_glued_d",
        command: "curl -X GET \"localhost:9200/my-index-000001/_search?pretty\" -H 'Content-Type: application/json' -d'\n{\n  \"query\": {\n    \"match\": {\n      \"user.id\": \"kimchy\"\n    }\n  }\n}\n'",
        method: "GET",
        url: "http://localhost:9200/my-index-000001/_search?pretty=",
        headers: &[("Content-Type", "application/json")],
        body: Some("\n{\n  \"query\": {\n    \"match\": {\n      \"user.id\": \"kimchy\"\n    }\n  }\n}\n"),
    },
    Case {
        name: "elasticsearch_create_index_xput",
        command: r#"curl -XPUT "http://localhost:9200/my-index-000001?pretty" -H 'Content-Type: application/json' -d'{"settings":{"number_of_shards":1}}'"#,
        method: "PUT",
        url: "http://localhost:9200/my-index-000001?pretty=",
        headers: &[("Content-Type", "application/json")],
        body: Some(r#"{"settings":{"number_of_shards":1}}"#),
    },
    Case {
        name: "elasticsearch_cat_indices_basic_insecure",
        command: r#"curl -u elastic:changeme -k "https://localhost:9200/_cat/indices?v&s=index""#,
        method: "GET",
        url: "https://localhost:9200/_cat/indices?v=&s=index",
        headers: &[("Authorization", "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==")],
        body: None,
    },
    Case {
        name: "elasticsearch_delete_by_query_post",
        command: r#"curl -s -XPOST 'localhost:9200/logs-*/_delete_by_query?conflicts=proceed' -H 'Content-Type: application/json' -d '{"query":{"range":{"@timestamp":{"lt":"now-30d"}}}}'"#,
        method: "POST",
        url: "http://localhost:9200/logs-*/_delete_by_query?conflicts=proceed",
        headers: &[("Content-Type", "application/json")],
        body: Some(r#"{"query":{"range":{"@timestamp":{"lt":"now-30d"}}}}"#),
    },
    // ------------------------------------------------------------------ Kubernetes
    Case {
        name: "kubernetes_list_pods_cacert",
        command: r#"curl --cacert /var/run/secrets/kubernetes.io/serviceaccount/ca.crt \
  --header "Authorization: Bearer $TOKEN" \
  -X GET https://kubernetes.default.svc/api/v1/namespaces/default/pods"#,
        method: "GET",
        url: "https://kubernetes.default.svc/api/v1/namespaces/default/pods",
        headers: &[("Authorization", "Bearer $TOKEN")],
        body: None,
    },
    Case {
        name: "kubernetes_scale_patch",
        command: r#"curl -X PATCH -H 'Content-Type: application/strategic-merge-patch+json' --data '{"spec":{"replicas":3}}' http://localhost:8001/apis/apps/v1/namespaces/default/deployments/nginx"#,
        method: "PATCH",
        url: "http://localhost:8001/apis/apps/v1/namespaces/default/deployments/nginx",
        headers: &[("Content-Type", "application/strategic-merge-patch+json")],
        body: Some(r#"{"spec":{"replicas":3}}"#),
    },
    Case {
        name: "kubernetes_label_selector_query",
        command: r#"curl -k -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:6443/api/v1/pods?labelSelector=app%3Dnginx&limit=500""#,
        method: "GET",
        url: "https://127.0.0.1:6443/api/v1/pods?labelSelector=app%3Dnginx&limit=500",
        headers: &[("Authorization", "Bearer $TOKEN")],
        body: None,
    },
    // ------------------------------------------------------------------------- AWS
    Case {
        name: "aws_api_gateway_api_key",
        command: r#"curl -X POST https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/pets \
  -H 'x-api-key: 9Xkq7LmP2sT4vW8yZ0aB' \
  -H 'Content-Type: application/json' \
  -d '{"type": "dog", "price": 249.99}'"#,
        method: "POST",
        url: "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/pets",
        headers: &[("x-api-key", "9Xkq7LmP2sT4vW8yZ0aB"), ("Content-Type", "application/json")],
        body: Some(r#"{"type": "dog", "price": 249.99}"#),
    },
    Case {
        name: "aws_s3_presigned_get",
        command: r#"curl "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404""#,
        method: "GET",
        url: "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
        headers: &[],
        body: None,
    },
    Case {
        name: "aws_lambda_function_url_json",
        command: r#"curl -v 'https://abcdefg.lambda-url.us-east-1.on.aws/?message=HelloWorld' \
-H 'content-type: application/json' \
-d '{ "example": "test" }'"#,
        method: "POST",
        url: "https://abcdefg.lambda-url.us-east-1.on.aws/?message=HelloWorld",
        headers: &[("content-type", "application/json")],
        body: Some(r#"{ "example": "test" }"#),
    },
    // -------------------------------------------------------------------- Other APIs
    Case {
        name: "sendgrid_mail_send_long_options",
        command: r#"curl --request POST \
--url https://api.sendgrid.com/v3/mail/send \
--header "Authorization: Bearer $SENDGRID_API_KEY" \
--header 'Content-Type: application/json' \
--data '{"personalizations": [{"to": [{"email": "test@example.com"}]}],"from": {"email": "test@example.com"},"subject": "Sending with SendGrid is Fun","content": [{"type": "text/plain", "value": "and easy to do anywhere, even with cURL"}]}'"#,
        method: "POST",
        url: "https://api.sendgrid.com/v3/mail/send",
        headers: &[("Authorization", "Bearer $SENDGRID_API_KEY"), ("Content-Type", "application/json")],
        body: Some(
            r#"{"personalizations": [{"to": [{"email": "test@example.com"}]}],"from": {"email": "test@example.com"},"subject": "Sending with SendGrid is Fun","content": [{"type": "text/plain", "value": "and easy to do anywhere, even with cURL"}]}"#,
        ),
    },
    Case {
        name: "mailgun_messages_form",
        command: r#"curl -s --user 'api:YOUR_API_KEY' \
    https://api.mailgun.net/v3/YOUR_DOMAIN_NAME/messages \
    -F from='Excited User <mailgun@YOUR_DOMAIN_NAME>' \
    -F to=YOU@YOUR_DOMAIN_NAME \
    -F subject='Hello' \
    -F text='Testing some Mailgun awesomeness!'"#,
        method: "POST",
        url: "https://api.mailgun.net/v3/YOUR_DOMAIN_NAME/messages",
        headers: &[
            ("Authorization", "Basic YXBpOllPVVJfQVBJX0tFWQ=="),
            ("Content-Type", "multipart/form-data; boundary={B}"),
        ],
        body: Some(
            "--{B}\r\nContent-Disposition: form-data; name=\"from\"\r\n\r\nExcited User <mailgun@YOUR_DOMAIN_NAME>\r\n--{B}\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\nYOU@YOUR_DOMAIN_NAME\r\n--{B}\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\nHello\r\n--{B}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nTesting some Mailgun awesomeness!\r\n--{B}--\r\n",
        ),
    },
    Case {
        name: "discord_webhook",
        command: r#"curl -H "Content-Type: application/json" -d '{"username": "test", "content": "hello"}' https://discord.com/api/webhooks/123456789012345678/abcDEF"#,
        method: "POST",
        url: "https://discord.com/api/webhooks/123456789012345678/abcDEF",
        headers: &[("Content-Type", "application/json")],
        body: Some(r#"{"username": "test", "content": "hello"}"#),
    },
    Case {
        name: "cloudflare_purge_cache",
        command: r#"curl -X POST "https://api.cloudflare.com/client/v4/zones/023e105f4ecef8ad9ca31a8372d0c353/purge_cache" \
     -H "X-Auth-Email: user@example.com" \
     -H "X-Auth-Key: c2547eb745079dac9320b638f5e225cf483cc5cfdda41" \
     -H "Content-Type: application/json" \
     --data '{"purge_everything":true}'"#,
        method: "POST",
        url: "https://api.cloudflare.com/client/v4/zones/023e105f4ecef8ad9ca31a8372d0c353/purge_cache",
        headers: &[
            ("X-Auth-Email", "user@example.com"),
            ("X-Auth-Key", "c2547eb745079dac9320b638f5e225cf483cc5cfdda41"),
            ("Content-Type", "application/json"),
        ],
        body: Some(r#"{"purge_everything":true}"#),
    },
    Case {
        name: "heroku_apps",
        command: r#"curl -X GET https://api.heroku.com/apps \
  -H "Accept: application/vnd.heroku+json; version=3" \
  -H "Authorization: Bearer $HEROKU_API_KEY""#,
        method: "GET",
        url: "https://api.heroku.com/apps",
        headers: &[("Accept", "application/vnd.heroku+json; version=3"), ("Authorization", "Bearer $HEROKU_API_KEY")],
        body: None,
    },
    Case {
        name: "notion_query_concatenated_quotes",
        command: r#"curl -X POST 'https://api.notion.com/v1/databases/668d797c-76fa-4934-9b05-ad288df2d136/query' \
  -H 'Authorization: Bearer '"$NOTION_API_KEY"'' \
  -H 'Notion-Version: 2022-06-28' \
  -H "Content-Type: application/json" \
--data '{"filter": {"property": "Landmark", "rich_text": {"contains": "Bridge"}}}'"#,
        method: "POST",
        url: "https://api.notion.com/v1/databases/668d797c-76fa-4934-9b05-ad288df2d136/query",
        headers: &[
            ("Authorization", "Bearer $NOTION_API_KEY"),
            ("Notion-Version", "2022-06-28"),
            ("Content-Type", "application/json"),
        ],
        body: Some(r#"{"filter": {"property": "Landmark", "rich_text": {"contains": "Bridge"}}}"#),
    },
    Case {
        name: "google_oauth_token",
        command: r#"curl -d "client_id=abc.apps.googleusercontent.com&client_secret=xyz&code=4/P7q7W91&grant_type=authorization_code&redirect_uri=https%3A//oauth2.example.com/code" https://oauth2.googleapis.com/token"#,
        method: "POST",
        url: "https://oauth2.googleapis.com/token",
        headers: &[("Content-Type", "application/x-www-form-urlencoded")],
        body: Some(
            "client_id=abc.apps.googleusercontent.com&client_secret=xyz&code=4/P7q7W91&grant_type=authorization_code&redirect_uri=https%3A//oauth2.example.com/code",
        ),
    },
    Case {
        name: "pagerduty_enqueue",
        command: r#"curl --request POST \
  --url https://events.pagerduty.com/v2/enqueue \
  --header 'Content-Type: application/json' \
  --data '{"payload":{"summary":"DISK at 99%","severity":"critical","source":"db01"},"routing_key":"R0UT1NGK3Y","event_action":"trigger"}'"#,
        method: "POST",
        url: "https://events.pagerduty.com/v2/enqueue",
        headers: &[("Content-Type", "application/json")],
        body: Some(
            r#"{"payload":{"summary":"DISK at 99%","severity":"critical","source":"db01"},"routing_key":"R0UT1NGK3Y","event_action":"trigger"}"#,
        ),
    },
    Case {
        name: "datadog_series_braced_env",
        command: r#"curl -X POST "https://api.datadoghq.com/api/v2/series" \
-H "Accept: application/json" \
-H "Content-Type: application/json" \
-H "DD-API-KEY: ${DD_API_KEY}" \
-d '{"series":[{"metric":"system.load.1","type":0,"points":[{"timestamp":1700000000,"value":0.7}]}]}'"#,
        method: "POST",
        url: "https://api.datadoghq.com/api/v2/series",
        headers: &[
            ("Accept", "application/json"),
            ("Content-Type", "application/json"),
            ("DD-API-KEY", "${DD_API_KEY}"),
        ],
        body: Some(
            r#"{"series":[{"metric":"system.load.1","type":0,"points":[{"timestamp":1700000000,"value":0.7}]}]}"#,
        ),
    },
    Case {
        name: "shopify_graphql",
        command: r#"curl -X POST \
  https://my-shop.myshopify.com/admin/api/2024-10/graphql.json \
  -H 'Content-Type: application/json' \
  -H 'X-Shopify-Access-Token: shpat_0123456789' \
  -d '{"query": "{ shop { name } }"}'"#,
        method: "POST",
        url: "https://my-shop.myshopify.com/admin/api/2024-10/graphql.json",
        headers: &[("Content-Type", "application/json"), ("X-Shopify-Access-Token", "shpat_0123456789")],
        body: Some(r#"{"query": "{ shop { name } }"}"#),
    },
    Case {
        name: "httpbin_json_option",
        command: r#"curl --json '{"tool": "curl"}' https://httpbin.org/anything"#,
        method: "POST",
        url: "https://httpbin.org/anything",
        headers: &[("Content-Type", "application/json"), ("Accept", "application/json")],
        body: Some(r#"{"tool": "curl"}"#),
    },
    Case {
        name: "json_option_repeated_is_joined_without_ampersand",
        command: r#"curl --json '{"a":' --json '1}' -H 'Accept: application/vnd.api+json' https://httpbin.org/post"#,
        method: "POST",
        url: "https://httpbin.org/post",
        headers: &[("Accept", "application/vnd.api+json"), ("Content-Type", "application/json")],
        body: Some(r#"{"a":1}"#),
    },
    Case {
        name: "jsonplaceholder_create_post",
        command: r#"curl -X POST https://jsonplaceholder.typicode.com/posts -H "Content-Type: application/json; charset=UTF-8" -d '{"title":"foo","body":"bar","userId":1}'"#,
        method: "POST",
        url: "https://jsonplaceholder.typicode.com/posts",
        headers: &[("Content-Type", "application/json; charset=UTF-8")],
        body: Some(r#"{"title":"foo","body":"bar","userId":1}"#),
    },
    Case {
        name: "windows_docs_curl_exe_escaped_quotes",
        command: r#"curl.exe -X POST "https://api.example.com/v1/items" -H "Content-Type: application/json" -d "{\"name\":\"widget\"}""#,
        method: "POST",
        url: "https://api.example.com/v1/items",
        headers: &[("Content-Type", "application/json")],
        body: Some(r#"{"name":"widget"}"#),
    },
    // -------------------------------------------------------------- curl's own rules
    Case {
        name: "head_request",
        command: "curl -I https://www.example.com/",
        method: "HEAD",
        url: "https://www.example.com/",
        headers: &[],
        body: None,
    },
    Case {
        name: "output_only_flags_consume_their_argument",
        command: "curl -sSL -o /dev/null -w '%{http_code}\\n' --retry 3 -D - https://example.com/health",
        method: "GET",
        url: "https://example.com/health",
        headers: &[],
        body: None,
    },
    Case {
        name: "implied_headers_in_curls_order",
        command: "curl -b 'a=1' -e 'https://google.com/;auto' --compressed -A 'Mozilla/5.0' -b 'b=2' -u admin:secret -H 'X-Trace: 1' -r 0-99 https://example.com/",
        method: "GET",
        url: "https://example.com/",
        headers: &[
            ("Authorization", "Basic YWRtaW46c2VjcmV0"),
            ("Range", "bytes=0-99"),
            ("User-Agent", "Mozilla/5.0"),
            ("Accept-Encoding", "deflate, gzip, br, zstd"),
            ("Referer", "https://google.com/"),
            ("Cookie", "a=1;b=2"),
            ("X-Trace", "1"),
        ],
        body: None,
    },
    Case {
        name: "header_replaces_implied_one_at_its_position",
        command: "curl -A 'curl-agent' -H 'Accept:' -H 'X-Empty;' -H 'User-Agent: custom/1.0' -d x=1 -H 'Content-Type:' http://example.com/",
        method: "POST",
        url: "http://example.com/",
        headers: &[("X-Empty", ""), ("User-Agent", "custom/1.0")],
        body: Some("x=1"),
    },
    Case {
        name: "repeated_headers_are_all_sent",
        command: "curl -H 'X-Tag: a' -H 'X-Tag: b' -H 'x-tag: c' example.com",
        method: "GET",
        url: "http://example.com/",
        headers: &[("X-Tag", "a"), ("X-Tag", "b"), ("x-tag", "c")],
        body: None,
    },
    Case {
        name: "data_variants_joined_with_ampersand",
        command: "curl -d a=1 --data 'b=2' --data-ascii c=3 --data-binary 'd=4' --data-raw '@e' http://example.com/form",
        method: "POST",
        url: "http://example.com/form",
        headers: &[("Content-Type", "application/x-www-form-urlencoded")],
        body: Some("a=1&b=2&c=3&d=4&@e"),
    },
    Case {
        name: "data_urlencode_forms",
        command: "curl --data-urlencode 'hello world' --data-urlencode '=a&b' --data-urlencode 'name=José Ü' --data-urlencode 'k=v=w' http://example.com/",
        method: "POST",
        url: "http://example.com/",
        headers: &[("Content-Type", "application/x-www-form-urlencoded")],
        body: Some("hello+world&a%26b&name=Jos%C3%A9+%C3%9C&k=v%3Dw"),
    },
    Case {
        name: "get_moves_data_to_query",
        command: "curl -G --data-urlencode 'q=rust lang' -d 'hl=en' 'https://www.google.com/search?source=hp'",
        method: "GET",
        url: "https://www.google.com/search?source=hp&q=rust%20lang&hl=en",
        headers: &[],
        body: None,
    },
    Case {
        name: "request_overrides_method_and_is_upper_cased",
        command: "curl -X put -d 'x' http://example.com/r",
        method: "PUT",
        url: "http://example.com/r",
        headers: &[("Content-Type", "application/x-www-form-urlencoded")],
        body: Some("x"),
    },
    Case {
        name: "glued_short_options",
        command: r#"curl -sSLkXPOST -H'Content-Type: text/plain' -d'ping' -uadmin:secret https://example.com/echo"#,
        method: "POST",
        url: "https://example.com/echo",
        headers: &[("Authorization", "Basic YWRtaW46c2VjcmV0"), ("Content-Type", "text/plain")],
        body: Some("ping"),
    },
    Case {
        name: "url_option_and_end_of_options",
        command: "curl -s --url 'https://example.com/a/./b/../c#section'",
        method: "GET",
        url: "https://example.com/a/c",
        headers: &[],
        body: None,
    },
    Case {
        name: "scheme_less_url_with_port_and_query",
        command: "curl 'localhost:8080/api/v1/items?tag=a&tag=b' -s",
        method: "GET",
        url: "http://localhost:8080/api/v1/items?tag=a&tag=b",
        headers: &[],
        body: None,
    },
    Case {
        name: "userinfo_in_url_becomes_basic_auth",
        command: "curl https://user:p%40ss@api.example.com/v1/me",
        method: "GET",
        url: "https://api.example.com/v1/me",
        headers: &[("Authorization", "Basic dXNlcjpwQHNz")],
        body: None,
    },
    Case {
        name: "url_user_without_password_has_an_empty_one",
        command: "curl -A '' -e '' http://user@x.test/",
        method: "GET",
        url: "http://x.test/",
        headers: &[("Authorization", "Basic dXNlcjo=")],
        body: None,
    },
    Case {
        name: "oauth2_bearer",
        command: "curl --oauth2-bearer mF_9.B5f-4.1JqM https://api.example.com/resource",
        method: "GET",
        url: "https://api.example.com/resource",
        headers: &[("Authorization", "Bearer mF_9.B5f-4.1JqM")],
        body: None,
    },
    Case {
        name: "form_parts_with_type_and_form_string",
        command: r#"curl -F 'meta={"a":1};type=application/json' -F "name=\"x;y\"" --form-string 'raw=@not-a-file;type=x' https://example.com/upload"#,
        method: "POST",
        url: "https://example.com/upload",
        headers: &[("Content-Type", "multipart/form-data; boundary={B}")],
        body: Some(
            "--{B}\r\nContent-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--{B}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx;y\r\n--{B}\r\nContent-Disposition: form-data; name=\"raw\"\r\n\r\n@not-a-file;type=x\r\n--{B}--\r\n",
        ),
    },
    Case {
        name: "form_with_custom_multipart_type_and_cookie_header",
        command: "curl -H 'Cookie: c=1' -b 'd=2' -A ua -H 'Content-Type: multipart/form-data' -F a=1 http://x.test/",
        method: "POST",
        url: "http://x.test/",
        headers: &[("User-Agent", "ua"), ("Cookie", "c=1"), ("Content-Type", "multipart/form-data; boundary={B}")],
        body: Some("--{B}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--{B}--\r\n"),
    },
    Case {
        name: "get_with_json_keeps_its_headers",
        command: "curl -G --json '{}' -H 'X-A: 1' http://x.test/",
        method: "GET",
        url: "http://x.test/?%7B%7D=",
        headers: &[("X-A", "1"), ("Content-Type", "application/json"), ("Accept", "application/json")],
        body: None,
    },
    Case {
        name: "prompt_and_trailing_semicolon",
        command: "$ curl -H 'Accept: text/plain' https://wttr.in/Paris?format=3 ;\n",
        method: "GET",
        url: "https://wttr.in/Paris?format=3",
        headers: &[("Accept", "text/plain")],
        body: None,
    },
    Case {
        name: "pipe_to_jq_is_ignored",
        command: "curl -s https://api.github.com/users/octocat | jq '.login'",
        method: "GET",
        url: "https://api.github.com/users/octocat",
        headers: &[],
        body: None,
    },
    Case {
        name: "globoff_sends_brackets",
        command: "curl -g 'http://example.com/items?ids[]=1&ids[]=2'",
        method: "GET",
        url: "http://example.com/items?ids%5B%5D=1&ids%5B%5D=2",
        headers: &[],
        body: None,
    },
    Case {
        name: "ipv6_literal_host",
        command: "curl 'http://[::1]:8080/status'",
        method: "GET",
        url: "http://[::1]:8080/status",
        headers: &[],
        body: None,
    },
];

#[test]
fn every_real_command_gives_the_request_curl_sends() {
    assert!(CASES.len() >= 60, "only {} commands", CASES.len());
    let b = |s: &str| s.replace("{B}", MULTIPART_BOUNDARY);
    let mut failures = Vec::new();
    for case in CASES {
        let req = match parse_curl(case.command) {
            Ok(req) => req,
            Err(e) => {
                failures.push(format!("{}: error: {e}", case.name));
                continue;
            }
        };
        let expected_headers: Vec<(String, String)> =
            case.headers.iter().map(|(n, v)| ((*n).to_owned(), b(v))).collect();
        let expected_body = case.body.map(b);
        if req.method != case.method {
            failures.push(format!("{}: method {:?} != {:?}", case.name, req.method, case.method));
        }
        if req.url != case.url {
            failures.push(format!("{}: url {:?} != {:?}", case.name, req.url, case.url));
        }
        if req.headers != expected_headers {
            failures.push(format!("{}: headers\n  got  {:?}\n  want {:?}", case.name, req.headers, expected_headers));
        }
        if req.body != expected_body {
            failures.push(format!("{}: body\n  got  {:?}\n  want {:?}", case.name, req.body, expected_body));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn command_names_are_unique() {
    let mut names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), CASES.len());
}

#[test]
fn connection_flags_are_carried_over() {
    let req = parse_curl("curl -k -L -m 2.5 --connect-timeout 3 --http2 https://example.com/").unwrap();
    assert!(req.insecure);
    assert!(req.follow_redirects);
    assert_eq!(req.timeout_ms, Some(2500));
    assert_eq!(req.connect_timeout_ms, Some(3000));
    assert_eq!(req.http_version, Some(HttpVersion::Http2));

    let req = parse_curl("curl --http1.1 --max-time 10 --no-insecure -k http://x.test").unwrap();
    assert_eq!(req.http_version, Some(HttpVersion::Http1_1));
    assert_eq!(req.timeout_ms, Some(10_000));
    assert!(req.insecure);
    assert!(!req.follow_redirects);

    let req = parse_curl("curl -k --no-insecure http://x.test").unwrap();
    assert!(!req.insecure);
}

#[test]
fn url_parts_are_split_for_the_script() {
    let req = parse_curl("curl 'HTTPS://Api.Example.com:8443/v1/items?q=a+b&x=%2F#frag'").unwrap();
    assert_eq!(req.scheme, "https");
    assert_eq!(req.host, "Api.Example.com:8443");
    assert_eq!(req.path, "/v1/items");
    assert_eq!(
        req.query_params.iter().map(|p| (p.key.as_str(), p.value.as_str())).collect::<Vec<_>>(),
        [("q", "a b"), ("x", "/")]
    );
    assert_eq!(req.url, "https://Api.Example.com:8443/v1/items?q=a%20b&x=%2F");
}

#[test]
fn removed_headers_are_reported() {
    let req = parse_curl("curl -H 'Accept:' -A '' https://example.com/").unwrap();
    assert_eq!(req.removed_headers, ["Accept", "User-Agent"]);
    assert!(req.headers.is_empty());
}

#[test]
fn a_header_without_colon_or_semicolon_is_not_sent_like_curl() {
    let req = parse_curl("curl -H 'nonsense' -H 'X-A;junk' -H 'X-B; ' https://example.com/").unwrap();
    assert!(req.headers.is_empty());
}

#[test]
fn an_empty_header_blocks_only_what_curl_adds_itself() {
    // curl 7.88 sends `X: a` and `Y;a: b` here, and no User-Agent.
    let req = parse_curl("curl -H 'X: a' -H 'X:' -H 'Y;a:b' -H 'Z: ' -H 'User-Agent:' -A ua x.test").unwrap();
    assert_eq!(req.headers, [("X".to_owned(), "a".to_owned()), ("Y;a".to_owned(), "b".to_owned())]);
    assert_eq!(req.removed_headers, ["Z", "User-Agent"]);
}
