//! What cannot be imported, with the exact message and column users see.

use super::super::{ImportError, parse_curl};

/// (command, `Display` of the error)
const CASES: &[(&str, &str)] = &[
    ("curl -H 'Accept: application/json' 'https://api.example.com/v1/users?page=2", "unterminated quote at column 36"),
    ("curl -H \"X-A: b https://x.test", "unterminated quote at column 9"),
    ("curl --data-raw $'{\"a\":1}", "unterminated quote at column 17"),
    ("curl ^\"https://x.test/ -H a:b", "unterminated quote at column 7"),
    ("", "the command is empty"),
    ("wget https://x.test", "expected a curl command, found 'wget' at column 1"),
    ("curl -s", "the command has no URL"),
    (
        "curl https://a.test https://b.test",
        "several URLs ('https://a.test' and 'https://b.test'): curl would make several \
         requests; import one at a time at column 21",
    ),
    ("curl --frobnicate https://x.test", "unknown option '--frobnicate' at column 6"),
    ("curl -sW https://x.test", "unknown option '-W' in '-sW' at column 6"),
    ("curl --data=a https://x.test", "unknown option '--data=a' (curl takes no '=': write '--data …') at column 6"),
    ("curl https://x.test -H", "option '-H' needs an argument at column 21"),
    (
        "curl -d @body.json https://x.test",
        "option '-d' reads 'body.json' (@file), which cannot be imported: paste the content \
         itself (with --data-raw for a body) at column 9",
    ),
    (
        "curl --data-binary @- https://x.test",
        "option '--data-binary' reads 'standard input' (@file), which cannot be imported: \
         paste the content itself (with --data-raw for a body) at column 20",
    ),
    (
        "curl -d@payload.json https://x.test",
        "option '-d' reads 'payload.json' (@file), which cannot be imported: paste the \
         content itself (with --data-raw for a body) at column 6",
    ),
    (
        "curl --json @req.json https://x.test",
        "option '--json' reads 'req.json' (@file), which cannot be imported: paste the \
         content itself (with --data-raw for a body) at column 13",
    ),
    (
        "curl --data-urlencode 'msg@notes.txt' https://x.test",
        "option '--data-urlencode' reads 'notes.txt' (@file), which cannot be imported: \
         paste the content itself (with --data-raw for a body) at column 23",
    ),
    (
        "curl -F 'photo=@cat.jpg' https://x.test",
        "option '-F' reads 'cat.jpg' (@file), which cannot be imported: paste the content \
         itself (with --data-raw for a body) at column 9",
    ),
    (
        "curl -H @headers.txt https://x.test",
        "option '-H' reads 'headers.txt' (@file), which cannot be imported: paste the \
         content itself (with --data-raw for a body) at column 9",
    ),
    (
        "curl -b cookies.txt https://x.test",
        "option '-b' names the cookie file 'cookies.txt', which cannot be imported: pass the \
         cookies themselves ('-b \"name=value; …\"') at column 9",
    ),
    ("curl -T report.pdf https://x.test/upload", "option '-T' cannot be imported: it uploads a local file at column 6"),
    (
        "curl --upload-file ./a.bin https://x.test",
        "option '--upload-file' cannot be imported: it uploads a local file at column 6",
    ),
    (
        "curl -E client.pem https://x.test",
        "option '-E' cannot be imported: client certificates cannot be used by the script at \
         column 6",
    ),
    (
        "curl --cert c.pem --key k.pem https://x.test",
        "option '--cert' cannot be imported: client certificates cannot be used by the \
         script at column 6",
    ),
    (
        "curl -x http://proxy:3128 https://x.test",
        "option '-x' cannot be imported: the script connects directly, not through a proxy \
         at column 6",
    ),
    ("curl -K curl.cfg", "option '-K' cannot be imported: it reads a local file at column 6"),
    (
        "curl --digest -u a:b https://x.test",
        "option '--digest' cannot be imported: only Basic authentication (-u) and bearer \
         tokens can be imported at column 6",
    ),
    (
        "curl 'https://x.test/file[1-5].txt'",
        "the URL 'https://x.test/file[1-5].txt' uses curl's URL globbing ('['), which makes \
         several requests: import one URL, or add -g/--globoff to send the brackets as they \
         are at column 6",
    ),
    (
        "curl 'https://{www,api}.x.test/'",
        "the URL 'https://{www,api}.x.test/' uses curl's URL globbing ('{'), which makes \
         several requests: import one URL, or add -g/--globoff to send the brackets as they \
         are at column 6",
    ),
    (
        "curl ftp://files.x.test/a.txt",
        "the URL 'ftp://files.x.test/a.txt' uses the scheme 'ftp': only http and https can \
         be imported at column 6",
    ),
    (
        "curl 'https://x.test/a b'",
        "the URL 'https://x.test/a b' contains a space: curl rejects it (encode it, e.g. a \
         space as %20) at column 6",
    ),
    ("curl https://:80/", "the URL 'https://:80/' has an invalid host ':80': empty host at column 6"),
    (
        "curl -u alice https://x.test",
        "-u 'alice' has no password: curl would prompt for it; write 'alice:password' at \
         column 9",
    ),
    ("curl -m soon https://x.test", "option '-m' expects seconds, got 'soon' at column 9"),
    (
        "curl -d a=1 -F b=2 https://x.test",
        "a request cannot have both a -d body and a -F form (curl refuses it too) at column 13",
    ),
    ("curl -I -d a=1 https://x.test", "-I (HEAD) cannot send a -d body (curl refuses it too) at column 9"),
    (
        "curl https://x.test || echo failed",
        "shell operator '||' cannot be imported: paste the curl command alone at column 21",
    ),
    (
        "curl $APISERVER/api/v1/pods",
        "the URL '$APISERVER/api/v1/pods' takes its host from the shell variable '$APISERVER', \
         which only your shell or tool can fill in: replace it with the server's address (e.g. \
         https://api.example.com/…) and import again at column 6",
    ),
    (
        "curl -H 'Accept: */*' \"${BASE}/items\"",
        "the URL '${BASE}/items' takes its host from the shell variable '${BASE}', which only \
         your shell or tool can fill in: replace it with the server's address (e.g. \
         https://api.example.com/…) and import again at column 23",
    ),
    (
        "curl --location '{{base_url}}/v1/orders' -H 'x: y'",
        "the URL '{{base_url}}/v1/orders' takes its host from the template placeholder \
         '{{base_url}}', which only your shell or tool can fill in: replace it with the \
         server's address (e.g. https://api.example.com/…) and import again at column 17",
    ),
    (
        "curl https://{{host}}:8443/x",
        "the URL 'https://{{host}}:8443/x' takes its host from the template placeholder \
         '{{host}}', which only your shell or tool can fill in: replace it with the server's \
         address (e.g. https://api.example.com/…) and import again at column 6",
    ),
    (
        "curl https://x.test > out.json",
        "shell operator '>' cannot be imported: paste the curl command alone at column 21",
    ),
    (
        "curl https://x.test; curl https://y.test",
        "';' is followed by another command: only one command can be imported at column 20",
    ),
    (
        "curl https://x.test\n  -H 'A: b'",
        "line break ends the command before its end (end the line with '\\' to continue it) \
         at column 20",
    ),
    (
        "curl -H \"Authorization: Bearer $(cat token)\" https://x.test",
        "command substitution '$(…)' cannot be imported at column 32",
    ),
    (
        "curl --http3 https://x.test",
        "option '--http3' cannot be imported: the script speaks HTTP/1.1 or HTTP/2 at column 6",
    ),
];

#[test]
fn each_error_names_the_reason_and_the_column() {
    let mut failures = Vec::new();
    for (command, expected) in CASES {
        match parse_curl(command) {
            Ok(req) => failures.push(format!("{command:?}: accepted as {req:?}")),
            Err(e) if e.to_string() != *expected => {
                failures.push(format!("{command:?}:\n  got  {e}\n  want {expected}"));
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_error_is_a_std_error_with_a_column_field() {
    let err: Box<dyn std::error::Error> = Box::new(parse_curl("curl 'x").unwrap_err());
    assert_eq!(err.to_string(), "unterminated quote at column 6");
    assert_eq!(
        parse_curl("curl 'x").unwrap_err(),
        ImportError { column: Some(6), message: "unterminated quote".to_owned() }
    );
}
