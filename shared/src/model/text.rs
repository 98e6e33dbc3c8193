//! Names and titles: stored as typed (trimmed), never rewritten, but refused when
//! empty, too long or carrying control characters.

use crate::http::quote;

/// Longest title or name we store. Longer ones do not fit any UI column.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest free-text description.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;

/// A required one-line title or name.
pub fn title(raw: &str) -> Result<String, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err("is required and must not be blank".into());
    }
    if text.chars().count() > MAX_TITLE_CHARS {
        return Err(format!("is longer than {MAX_TITLE_CHARS} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{} contains a control character", quote(text)));
    }
    Ok(text.to_string())
}

/// An optional multi-line description.
pub fn description(raw: &str) -> Result<String, String> {
    let text = raw.trim();
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(format!("is longer than {MAX_DESCRIPTION_CHARS} characters"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err("contains a control character".into());
    }
    Ok(text.to_string())
}

/// An optional one-line value (tag, URL, label): trimmed, bounded.
pub fn line(raw: &str, max_chars: usize) -> Result<String, String> {
    let text = raw.trim();
    if text.chars().count() > max_chars {
        return Err(format!("is longer than {max_chars} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{} contains a control character", quote(text)));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_is_trimmed_not_rewritten() {
        assert_eq!(title("  My scenario: 50% load! ").unwrap(), "My scenario: 50% load!");
        assert_eq!(title("1st run").unwrap(), "1st run");
    }

    #[test]
    fn blank_long_or_control_titles_are_refused() {
        assert!(title("   ").is_err());
        assert!(title(&"x".repeat(201)).is_err());
        assert!(title("a\u{0}b").is_err());
        assert!(title(&"é".repeat(200)).is_ok());
    }
}
