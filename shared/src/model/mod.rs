//! Validated domain types. Wire data from [`crate::wire`] becomes these through
//! `parse` constructors that say, per field, what is wrong; nothing reaches the
//! database without passing through here.

pub mod link;
pub mod load;
pub mod page;
pub mod request;
pub mod run;
pub mod scripts;
pub mod search;
pub mod text;

use crate::http::ApiError;

/// Where a NUL character (`\u0000`) sits in a value bound for a JSON column: Postgres'
/// `jsonb` and `text` cannot hold it, so it is refused by field instead of failing
/// in the database. `field` names the value; the answer names the key inside it.
pub fn nul_free(field: &str, value: &impl serde::Serialize) -> Result<(), (String, String)> {
    fn walk(path: &mut String, v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::String(s) if s.contains('\0') => Some(path.clone()),
            serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(path, item);
                path.truncate(len);
                found
            }),
            serde_json::Value::Object(map) => map.iter().find_map(|(k, item)| {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                if k.contains('\0') {
                    return Some(path.clone());
                }
                let found = walk(path, item);
                path.truncate(len);
                found
            }),
            _ => None,
        }
    }
    let Ok(json) = serde_json::to_value(value) else { return Ok(()) };
    let mut path = field.to_string();
    match walk(&mut path, &json) {
        Some(at) => Err((at.replace('\0', "\\0"), "contains a NUL character, which cannot be stored".into())),
        None => Ok(()),
    }
}

/// Field-level problems collected while parsing one request, so the user sees every
/// mistake at once rather than one per round trip.
#[derive(Debug, Default)]
pub struct Violations(Vec<(String, String)>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, why: impl Into<String>) {
        self.0.push((field.into(), why.into()));
    }

    /// Keep the value of `result`, or record its error under `field`.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(why) => {
                self.add(field, why);
                None
            }
        }
    }

    /// Record a NUL character inside `value` under the key that holds it.
    pub fn nul_free(&mut self, field: &str, value: &impl serde::Serialize) {
        if let Err((at, why)) = nul_free(field, value) {
            self.add(at, why);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was recorded, else a 422 listing every problem.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let message = self.0.iter().map(|(f, w)| format!("{f}: {w}")).collect::<Vec<_>>().join("; ");
        Err(ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_character_is_found_by_the_key_that_holds_it() {
        let env: std::collections::BTreeMap<&str, &str> = [("A", "ok"), ("TOKEN", "x\0y")].into();
        let (at, why) = nul_free("simple_script.additional_env", &env).unwrap_err();
        assert_eq!(at, "simple_script.additional_env.TOKEN");
        assert!(why.contains("NUL"));
        let nested = serde_json::json!({"list": ["a", {"deep": "\u{0}"}]});
        assert_eq!(nul_free("s", &nested).unwrap_err().0, "s.list[1].deep");
        let key = serde_json::json!({"bad\u{0}key": "v"});
        assert_eq!(nul_free("s", &key).unwrap_err().0, "s.bad\\0key");
    }

    #[test]
    fn values_without_nul_pass() {
        assert!(nul_free("s", &serde_json::json!({"a": ["b", 1, null, {"c": "d\u{1}"}]})).is_ok());
        assert!(nul_free("s", &"plain").is_ok());
    }
}
