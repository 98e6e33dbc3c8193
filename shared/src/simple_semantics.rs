//! What a simple script means on the wire: the original's rules (its k6 template
//! `templateSimpleScript`), kept in one place so the job builder only calls them.
//!
//! 1. **An empty scheme means https** (the template writes `https://` + path).
//!    A path that already carries a scheme (`http://h/x`, as the original UI's cURL
//!    import stores it) is used as it is.
//! 2. **A POST with a data file and no static body sends a random element of the
//!    file, serialised as JSON, as the body** (`JSON.stringify(payloads[random])`).
//!    `{{placeholders}}` in the URL and headers are still filled from that element.
//! 3. **A static body is sent as it is**, with or without a data file.
//! 4. **The data file's format is detected**, not assumed to be a JSON array:
//!    extension first (`.csv`, `.jsonl`/`.ndjson`, `.json`), then the content type,
//!    then the first non-blank byte of the content (`[` array, `{` one object per
//!    line, anything else CSV with a header line); a JSON array when nothing says.
//! 5. **Rows are taken at random when the whole row is the body** (as the
//!    original), in order otherwise (each placeholder row once before repeating).

use alilo_agent_api::{DataFile, DataFormat, ROW_PLACEHOLDER, Selection};

/// The URL a simple script's requests go to (rule 1).
pub fn target_url(scheme: &str, path: &str) -> String {
    if path.contains("://") {
        return path.to_string();
    }
    let scheme = scheme.trim();
    format!("{}://{path}", if scheme.is_empty() { "https" } else { scheme })
}

/// The body template of each request (rules 2 and 3): `None` sends no body.
pub fn body(http_method: &str, static_body: &str, has_data_file: bool) -> Option<String> {
    if !static_body.is_empty() {
        return Some(static_body.to_string());
    }
    (has_data_file && http_method.trim().eq_ignore_ascii_case("post")).then(|| ROW_PLACEHOLDER.to_string())
}

/// How rows of the data file are picked (rule 5).
pub fn selection(body: Option<&str>) -> Selection {
    if body.is_some_and(|b| b.contains(ROW_PLACEHOLDER)) { Selection::Random } else { Selection::Sequential }
}

/// The agent's data file: where to fetch it (`url`), its format from `name`
/// (rule 4) and the row selection the `body` needs (rule 5).
pub fn data_file(url: String, name: &str, body: Option<&str>) -> DataFile {
    DataFile { format: data_format(name, None, None), selection: selection(body), url }
}

/// The data file's format (rule 4). `name` is its key or URL, `content_type` the
/// stored content type if known, `head` the first bytes if read.
pub fn data_format(name: &str, content_type: Option<&str>, head: Option<&[u8]>) -> DataFormat {
    let path = name.split(['?', '#']).next().unwrap_or(name).to_ascii_lowercase();
    if path.ends_with(".csv") {
        return DataFormat::Csv;
    }
    if path.ends_with(".jsonl") || path.ends_with(".ndjson") {
        return DataFormat::JsonLines;
    }
    if path.ends_with(".json") {
        return DataFormat::JsonArray;
    }
    let mime = content_type.unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "text/csv" | "application/csv" => return DataFormat::Csv,
        "application/x-ndjson" | "application/jsonl" | "application/x-jsonlines" => return DataFormat::JsonLines,
        "application/json" => return DataFormat::JsonArray,
        _ => {}
    }
    // The content: read here when given, else by the agent, which downloads it anyway.
    match head {
        Some(h) if h.iter().any(|b| !b.is_ascii_whitespace()) => alilo_agent_api::sniff(h),
        _ => DataFormat::Auto,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_scheme_means_https() {
        assert_eq!(target_url("", "api.example.com/items"), "https://api.example.com/items");
        assert_eq!(target_url("  ", "h/x"), "https://h/x");
    }

    #[test]
    fn a_given_scheme_is_kept() {
        assert_eq!(target_url("http", "127.0.0.1:8080/x"), "http://127.0.0.1:8080/x");
    }

    #[test]
    fn a_path_with_its_own_scheme_is_used_as_it_is() {
        assert_eq!(target_url("", "http://h.example/api/cart"), "http://h.example/api/cart");
    }

    #[test]
    fn a_post_with_a_data_file_and_no_static_body_sends_a_random_row_as_the_body() {
        let b = body("post", "", true);
        assert_eq!(b.as_deref(), Some(ROW_PLACEHOLDER));
        assert_eq!(selection(b.as_deref()), Selection::Random);
        assert_eq!(body("POST", "", true).as_deref(), Some(ROW_PLACEHOLDER));
    }

    #[test]
    fn a_static_body_is_sent_as_it_is() {
        assert_eq!(body("post", "{\"id\":\"{{id}}\"}", true).as_deref(), Some("{\"id\":\"{{id}}\"}"));
        assert_eq!(body("put", "x", false).as_deref(), Some("x"));
        assert_eq!(selection(Some("{\"id\":\"{{id}}\"}")), Selection::Sequential);
    }

    #[test]
    fn other_methods_or_no_data_file_send_no_body() {
        assert_eq!(body("get", "", true), None);
        assert_eq!(body("put", "", true), None);
        assert_eq!(body("post", "", false), None);
        assert_eq!(selection(None), Selection::Sequential);
    }

    #[test]
    fn the_data_format_comes_from_the_extension_first() {
        assert_eq!(data_format("12/7/1700_users.csv", Some("application/json"), Some(b"[")), DataFormat::Csv);
        assert_eq!(data_format("https://h/x.ndjson?X-Amz=1", None, None), DataFormat::JsonLines);
        assert_eq!(data_format("a.JSONL", None, None), DataFormat::JsonLines);
        assert_eq!(data_format("a.json", Some("text/csv"), None), DataFormat::JsonArray);
    }

    #[test]
    fn then_from_the_content_type() {
        assert_eq!(data_format("ammo", Some("text/csv; charset=utf-8"), Some(b"[")), DataFormat::Csv);
        assert_eq!(data_format("ammo", Some("application/x-ndjson"), None), DataFormat::JsonLines);
        assert_eq!(data_format("ammo", Some("application/json"), Some(b"id,name")), DataFormat::JsonArray);
    }

    #[test]
    fn then_from_the_content() {
        assert_eq!(data_format("ammo", None, Some(b"\xEF\xBB\xBF  [{\"id\":1}]")), DataFormat::JsonArray);
        assert_eq!(data_format("ammo", Some("application/octet-stream"), Some(b"{\"id\":1}\n")), DataFormat::JsonLines);
        assert_eq!(data_format("ammo", None, Some(b"id,name\n1,a\n")), DataFormat::Csv);
    }

    #[test]
    fn nothing_known_lets_the_agent_read_the_content() {
        assert_eq!(data_format("ammo", None, None), DataFormat::Auto);
        assert_eq!(
            data_format("https://h/12/7/1700_users?X-Amz=1", Some("application/octet-stream"), None),
            DataFormat::Auto
        );
        assert_eq!(data_format("ammo", None, Some(b" \n")), DataFormat::Auto);
    }

    proptest::proptest! {
        /// Whatever the bytes, the content decides without a panic, and never
        /// "auto" once there is content to read.
        #[test]
        fn any_content_gives_a_format(head in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let f = data_format("ammo", None, Some(&head));
            proptest::prop_assert!(f != DataFormat::Auto || head.iter().all(u8::is_ascii_whitespace));
        }

        /// A CSV whose header is names, a JSON array and JSON lines of objects
        /// (after any white space and a byte-order mark) are told apart.
        #[test]
        fn generated_files_are_told_apart(
            names in proptest::collection::vec("[a-z][a-z0-9_]{0,8}", 1..5),
            rows in proptest::collection::vec(proptest::collection::vec("[A-Za-z0-9 ._-]{0,12}", 4), 1..5),
            pad in "[ \t\r\n]{0,4}",
            bom in proptest::bool::ANY,
        ) {
            let objects: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| serde_json::Value::Object(names.iter().cloned().zip(r.iter().cloned().map(serde_json::Value::String)).collect()))
                .collect();
            let csv = std::iter::once(names.join(","))
                .chain(rows.iter().map(|r| r[..names.len().min(4)].join(",")))
                .collect::<Vec<_>>()
                .join("\n");
            let array = serde_json::to_string_pretty(&objects).unwrap();
            let lines = objects.iter().map(|o| o.to_string()).collect::<Vec<_>>().join("\n");
            let prefix = format!("{}{pad}", if bom { "\u{feff}" } else { "" });
            for (text, want) in [(csv, DataFormat::Csv), (array, DataFormat::JsonArray), (lines, DataFormat::JsonLines)] {
                let bytes = format!("{prefix}{text}");
                proptest::prop_assert_eq!(data_format("upload", Some("application/octet-stream"), Some(bytes.as_bytes())), want);
            }
        }
    }
}
