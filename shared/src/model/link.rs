//! Link fields (`monitoring_links`, `grafana_url`): a UI renders them as links, so
//! only absolute http(s) URLs are stored — never `javascript:`, `data:` or a
//! relative path that would resolve against the UI's own origin.

use crate::http::quote;

/// Longest link we store.
pub const MAX_LINK_CHARS: usize = 4096;

/// An absolute `http://` or `https://` URL with a host, trimmed.
pub fn http_link(raw: &str) -> Result<String, String> {
    let text = raw.trim();
    if text.chars().count() > MAX_LINK_CHARS {
        return Err(format!("is longer than {MAX_LINK_CHARS} characters"));
    }
    let parsed = url::Url::parse(text).map_err(|e| format!("{} is not an absolute URL ({e})", quote(text)))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{} must be an http:// or https:// URL", quote(text)));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{} has no host", quote(text)));
    }
    // `Url` percent-encodes control characters; refuse them rather than store a
    // link that differs from what was typed.
    if text.chars().any(char::is_control) {
        return Err(format!("{} contains a control character", quote(text)));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_urls_are_links() {
        for ok in ["https://grafana.example/d/abc?var=1", "http://10.0.0.1:3000/x", " https://a.b "] {
            assert_eq!(http_link(ok).unwrap(), ok.trim());
        }
    }

    #[test]
    fn other_schemes_and_relative_paths_are_refused() {
        for bad in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox",
            "file:///etc/passwd",
            "//evil.example/x",
            "/relative",
            "grafana.example/d/abc",
            "https://",
            "https://a.b/\u{0}",
        ] {
            assert!(http_link(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_refusal_quotes_only_a_prefix() {
        let err = http_link(&format!("javascript:{}", "a".repeat(3000))).unwrap_err();
        assert!(err.len() < 150, "{err}");
    }
}
