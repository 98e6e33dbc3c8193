//! Properties over arbitrary input: the splitter and the option parser never
//! panic and always finish; the query encoding round-trips; whatever parses renders
//! as valid contract JSON.
//!
//! "Always finish" is checked for real: each case runs on its own thread and must
//! answer within [`DEADLINE`], so an endless loop fails the case instead of hanging
//! the suite.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use proptest::prelude::*;

use super::super::{QueryParam, contract_json, decode_query, encode_query, parse_curl, shell};

/// Far above the microseconds a command takes, far below a hung test.
const DEADLINE: Duration = Duration::from_secs(5);

/// Runs the splitter and the parser on `command` on another thread; fails if
/// either panics or does not finish in time.
fn finishes_without_panic(command: String) -> Result<(), TestCaseError> {
    let (tx, rx) = mpsc::channel();
    let shown = format!("{command:?}");
    thread::spawn(move || {
        let outcome = std::panic::catch_unwind(|| {
            let _ = shell::split(&command);
            if let Ok(req) = parse_curl(&command) {
                let json = contract_json(&req);
                assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
            }
        });
        let _ = tx.send(outcome.is_ok());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(true) => Ok(()),
        Ok(false) => Err(TestCaseError::fail(format!("panicked on {shown}"))),
        Err(_) => Err(TestCaseError::fail(format!("did not finish on {shown}"))),
    }
}

/// Pieces that exercise every branch of both shells and of the option parser.
const ALPHABET: &[&str] = &[
    " ",
    "'",
    "\"",
    "\\",
    "\\\n",
    "\n",
    "\r\n",
    "$'",
    "$",
    "$\"",
    "`",
    "$(",
    "^",
    "^\"",
    "^\n",
    "\\^\"",
    "\\x4",
    "\\u00e",
    "\\U0001F600",
    "\\c",
    "\\0",
    ";",
    "|",
    "&",
    "#",
    "<",
    ">",
    "(",
    "-",
    "--",
    "-H",
    "-d",
    "-d@",
    "-sSL",
    "-XPOST",
    "-X",
    "--json",
    "--data-urlencode",
    "--data-raw",
    "-F",
    "--form-string",
    "-G",
    "-I",
    "-u",
    "-A",
    "-e",
    "-b",
    "-m",
    "-k",
    "-L",
    "--url",
    "--url-query",
    "--compressed",
    "--no-location",
    "-o",
    "-w",
    "-T",
    "-E",
    "-g",
    "--http2",
    "--connect-timeout",
    "-r",
    "http://x.test/",
    "https://a.test:8443/p?q=1&r",
    "x.test",
    "[1-2]",
    "{a,b}",
    "[::1]",
    "a=b",
    "=c",
    "n@f",
    "@f",
    "x:",
    "x;",
    "x: y",
    "%",
    "%2",
    "%41",
    "+",
    "=",
    "?",
    "/",
    "..",
    "é",
    "日本",
    "\u{0}",
    "\t",
    "1.5",
    "-1",
    "nan",
    "type=x",
    ";type=a/b",
    "\"q;v\"",
    "<f",
];

fn command_from_tokens() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..40).prop_map(|tokens| format!("curl {}", tokens.concat()))
}

fn any_param() -> impl Strategy<Value = QueryParam> {
    (any::<String>(), any::<String>()).prop_map(|(key, value)| QueryParam { key, value })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics_and_finishes(command in any::<String>()) {
        finishes_without_panic(command)?;
    }

    #[test]
    fn arbitrary_curl_text_never_panics_and_finishes(rest in "\\PC{0,200}") {
        finishes_without_panic(format!("curl {rest}"))?;
    }

    #[test]
    fn token_sequences_never_panic_and_finish(command in command_from_tokens()) {
        finishes_without_panic(command)?;
    }

    #[test]
    fn query_decoding_inverts_encoding(params in prop::collection::vec(any_param(), 0..6)) {
        prop_assert_eq!(decode_query(&encode_query(&params)), params);
    }
}
