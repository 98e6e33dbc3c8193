//! Search queries: case-insensitive substring matching where `%`, `_` and `\` in
//! the user's text are literal characters, not SQL wildcards.

/// Longest query accepted (the contract's 200 bytes).
pub const MAX_QUERY_BYTES: usize = 200;

/// How the query is anchored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Anywhere,
    Start,
    End,
}

/// The `ILIKE` pattern matching `query` literally at `anchor`.
pub fn like_pattern(query: &str, anchor: Anchor) -> String {
    let mut escaped = String::with_capacity(query.len() + 2);
    for c in query.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    match anchor {
        Anchor::Anywhere => format!("%{escaped}%"),
        Anchor::Start => format!("{escaped}%"),
        Anchor::End => format!("%{escaped}"),
    }
}

/// A search query: trimmed, at most [`MAX_QUERY_BYTES`], no control characters.
pub fn query(raw: &str) -> Result<String, String> {
    let text = raw.trim();
    if text.len() > MAX_QUERY_BYTES {
        return Err(format!("is {} bytes long; the maximum is {MAX_QUERY_BYTES}", text.len()));
    }
    if text.chars().any(char::is_control) {
        return Err("contains a control character".into());
    }
    Ok(text.to_string())
}

/// What `ILIKE pattern` would decide, for testing the escaping without a database:
/// `%` any run, `_` one character, `\x` a literal x; case-insensitive.
#[cfg(test)]
fn ilike(text: &str, pattern: &str) -> bool {
    fn go(t: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| go(&t[i..], rest)),
            Some(('_', rest)) => !t.is_empty() && go(&t[1..], rest),
            Some(('\\', rest)) => match rest.split_first() {
                Some((c, rest)) => t.first() == Some(c) && go(&t[1..], rest),
                None => false,
            },
            Some((c, rest)) => t.first() == Some(c) && go(&t[1..], rest),
        }
    }
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    go(&t, &p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wildcards_in_the_query_are_literal() {
        assert_eq!(like_pattern("50%_a\\b", Anchor::Anywhere), "%50\\%\\_a\\\\b%");
        assert!(!ilike("500 users", &like_pattern("5%", Anchor::Anywhere)));
        assert!(ilike("at 5% load", &like_pattern("5%", Anchor::Anywhere)));
    }

    #[test]
    fn anchors_match_the_start_or_the_end() {
        assert!(ilike("Checkout flow", &like_pattern("check", Anchor::Start)));
        assert!(!ilike("Checkout flow", &like_pattern("flow", Anchor::Start)));
        assert!(ilike("Checkout flow", &like_pattern("FLOW", Anchor::End)));
    }

    #[test]
    fn long_queries_are_refused() {
        assert!(query(&"a".repeat(201)).is_err());
        assert!(query(&"a".repeat(200)).is_ok());
    }

    proptest! {
        #[test]
        fn a_text_always_matches_its_own_escaped_query(text in "[a-z%_\\\\ ]{0,12}", pre in "[a-z]{0,3}", post in "[a-z]{0,3}") {
            let haystack = format!("{pre}{text}{post}");
            prop_assert!(ilike(&haystack, &like_pattern(&text, Anchor::Anywhere)));
        }

        #[test]
        fn an_escaped_query_matches_only_literal_occurrences(q in "[a%_]{1,4}", hay in "[ab%_]{0,8}") {
            let literal = hay.to_lowercase().contains(&q.to_lowercase());
            prop_assert_eq!(ilike(&hay, &like_pattern(&q, Anchor::Anywhere)), literal);
        }
    }
}
