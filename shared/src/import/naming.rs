//! The name and title an imported request's script gets when the user gives none.
//!
//! The original web UI lists scripts by `title` and will only save a script whose
//! `name` matches `^[a-zA-Z0-9_]+$`. So an imported script gets both:
//! - a **title** a person reads in the table: `GET /api/items`;
//! - a **name** the UI accepts: `get_api_items` (ASCII letters and digits kept,
//!   every other run of characters one `_`, no `_` at either end).

/// Longest generated name: long enough to tell paths apart, short enough for a table cell.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest generated title (the model's limit for titles is larger).
pub const MAX_TITLE_CHARS: usize = 120;

/// A name matching `^[a-zA-Z0-9_]+$` for a request: the lower-cased method and
/// the path's words, e.g. `POST /api/v2/cart-items` → `post_api_v2_cart_items`.
pub fn script_name(method: &str, path: &str) -> String {
    let method = if method.trim().is_empty() { "GET" } else { method };
    let mut name = String::new();
    let mut gap = false;
    for c in method.chars().chain(std::iter::once('/')).chain(path.chars()) {
        if c.is_ascii_alphanumeric() {
            if gap && !name.is_empty() {
                name.push('_');
            }
            gap = false;
            name.push(c.to_ascii_lowercase());
        } else {
            gap = true;
        }
    }
    if name.is_empty() {
        name.push_str("request");
    }
    if path.trim_matches('/').is_empty() {
        name.push_str("_root");
    }
    let mut cut: String = name.chars().take(MAX_NAME_CHARS).collect();
    while cut.ends_with('_') {
        cut.pop();
    }
    cut
}

/// A readable title for a request: `GET /api/items`, cut with `…` when long.
pub fn script_title(method: &str, path: &str) -> String {
    let method = if method.trim().is_empty() { "GET".to_string() } else { method.trim().to_ascii_uppercase() };
    let path = if path.is_empty() { "/" } else { path };
    let title = format!("{method} {path}");
    if title.chars().count() <= MAX_TITLE_CHARS {
        return title;
    }
    let mut cut: String = title.chars().take(MAX_TITLE_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn passes_the_ui_rule(name: &str) -> bool {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    #[test]
    fn a_name_is_the_method_and_the_path_words_joined_by_underscores() {
        assert_eq!(script_name("POST", "/api/v2/cart-items"), "post_api_v2_cart_items");
        assert_eq!(script_name("GET", "/api/items"), "get_api_items");
        assert_eq!(script_name("get", "/a//b.json/"), "get_a_b_json");
    }

    #[test]
    fn the_root_path_is_named_root() {
        assert_eq!(script_name("GET", "/"), "get_root");
        assert_eq!(script_name("", ""), "get_root");
    }

    #[test]
    fn non_ascii_and_punctuation_never_reach_the_name() {
        for (method, path) in [("GET", "/товары/%D1%82/ü"), ("PUT", "/$x/{{id}}"), ("", "/@@@"), ("GET", "/é")]
        {
            let name = script_name(method, path);
            assert!(passes_the_ui_rule(&name), "{method} {path} → {name:?}");
        }
    }

    #[test]
    fn a_long_path_gives_a_bounded_name_without_a_trailing_underscore() {
        let name = script_name("GET", &"/segment".repeat(40));
        assert!(name.chars().count() <= MAX_NAME_CHARS && !name.ends_with('_'), "{name}");
        assert!(passes_the_ui_rule(&name));
    }

    #[test]
    fn a_title_is_the_method_and_the_path() {
        assert_eq!(script_title("post", "/api/cart"), "POST /api/cart");
        assert_eq!(script_title("", ""), "GET /");
        let long = script_title("GET", &"/x".repeat(200));
        assert_eq!(long.chars().count(), MAX_TITLE_CHARS);
        assert!(long.ends_with('…'));
    }
}
