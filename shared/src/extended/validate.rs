//! Save-time checks of extended scripts, with the agent's engine
//! (`alilo-script-check`): at create and update the script and every file it
//! imports are read from the bucket and checked; at upload a `.js` file is
//! checked on its own (the files it imports may come later).
//!
//! A script outside our bucket (`script_file` an outside `http(s)` URL) is
//! stored as typed: the backend does not fetch outside URLs, so the agent
//! checks it when the job starts.

use super::location::{Location, split_key};
use crate::auth::targets::Effective;
use crate::http::{ApiError, ApiResult};
use crate::storage::Storage;
use crate::wire::scripts::Script;
use alilo_script_check::{Dependency, Problem, check_module};
use std::collections::BTreeSet;

/// Whether a file name is a JavaScript module the engine should check.
pub fn is_script(name: &str) -> bool {
    let lower = name.trim().to_ascii_lowercase();
    lower.ends_with(".js") || lower.ends_with(".mjs")
}

fn storage_fault(err: anyhow::Error) -> ApiError {
    ApiError::unavailable("object storage", format!("{err:#}"))
}

/// Compiles on a blocking thread: QuickJS is synchronous and a large file
/// takes milliseconds.
async fn check(path: String, text: String) -> Result<Vec<Dependency>, Problem> {
    let fallback = Problem { file: path.clone(), line: 1, column: 1, message: "the check did not finish".into() };
    tokio::task::spawn_blocking(move || check_module(&path, &text)).await.unwrap_or(Err(fallback))
}

fn utf8(path: &str, bytes: Vec<u8>) -> Result<String, Problem> {
    String::from_utf8(bytes).map_err(|e| Problem {
        file: path.to_string(),
        line: 1,
        column: 1,
        message: format!("is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
    })
}

/// `script.script_file` and `script.ammo_id` of a script being saved: the
/// script compiles, its imports are supported and uploaded, its data file
/// exists. 422 naming the field and `file:line:column`.
pub async fn stored_script(storage: &Storage, script_file: &str, ammo_id: &str) -> ApiResult<()> {
    let bucket = storage.bucket().to_string();
    // An empty `script_file` is stored (the contract allows it); the run refuses it.
    let location =
        Location::parse(script_file, &bucket).map_err(|why| ApiError::unprocessable("script.script_file", why))?;
    if let Some(Location::Bucket { key }) =
        Location::parse(ammo_id, &bucket).map_err(|why| ApiError::unprocessable("script.ammo_id", why))?
        && !storage.exists(&key).await.map_err(storage_fault)?
    {
        return Err(ApiError::unprocessable("script.ammo_id", format!("no object {key:?} in the bucket {bucket:?}")));
    }
    let Some(Location::Bucket { key }) = location else { return Ok(()) };
    let (folder, entry) = split_key(&key);
    // Problems name files by their key, as the owner uploaded them.
    let field = |mut p: Problem| {
        p.file = format!("{folder}{}", p.file);
        ApiError::unprocessable("script.script_file", p)
    };
    let mut seen = BTreeSet::from([entry.to_string()]);
    let mut todo: Vec<(String, Option<Dependency>)> = vec![(entry.to_string(), None)];
    while let Some((path, via)) = todo.pop() {
        let object = format!("{folder}{path}");
        let Some(bytes) = storage.get(&object).await.map_err(storage_fault)? else {
            return Err(match via {
                Some(dep) => field(dep.missing()),
                None => ApiError::unprocessable(
                    "script.script_file",
                    format!("no object {object:?} in the bucket {bucket:?}: upload the script first"),
                ),
            });
        };
        let text = utf8(&path, bytes).map_err(field)?;
        for dep in check(path, text).await.map_err(field)? {
            if seen.insert(dep.path.clone()) {
                todo.push((dep.path.clone(), Some(dep)));
            }
        }
    }
    Ok(())
}

/// Whether `lists` let the script's `base_url` host through (an empty one
/// names no host); the refusal names the host and the list.
fn base_url_allowed(lists: &Effective, s: &Script) -> Result<(), String> {
    match crate::auth::targets::host_of(s.base_url.trim()).filter(|_| !s.base_url.trim().is_empty()) {
        Some(host) => lists.check_target(&host),
        None => Ok(()),
    }
}

/// The target allow-lists (`docs/security.md`) for an extended script being
/// saved: its `base_url` host must pass `lists`; 422 naming the field, the
/// host and the list. The hosts its code calls are known only when it runs:
/// the agents check those against the same lists (`JobSpec::allowed_targets`).
pub fn base_url(lists: &Effective, s: &Script) -> ApiResult<()> {
    base_url_allowed(lists, s).map_err(|why| ApiError::unprocessable("script.base_url", why))
}

/// The target allow-lists for an extended script about to run: its
/// `base_url` host must be allowed, and a `script_file` or `ammo_id` outside
/// our bucket is an outside data URL. 422 naming the field.
pub fn targets(app: &crate::AppState, lists: &Effective, s: &Script) -> ApiResult<()> {
    let field = format!("script {:?}", s.name);
    base_url_allowed(lists, s).map_err(|why| ApiError::unprocessable(&format!("{field}.base_url"), why))?;
    for (name, raw) in [("script_file", &s.script_file), ("ammo_id", &s.ammo_id)] {
        if let Ok(Some(Location::External { url })) = Location::parse(raw, app.storage.bucket()) {
            lists
                .check_data_url(&url, app.storage.bucket())
                .map_err(|why| ApiError::unprocessable(&format!("{field}.{name}"), why))?;
        }
    }
    Ok(())
}

/// An uploaded file: a `.js`/`.mjs` one must compile and import only
/// supported modules (its relative imports are checked when a script using
/// it is saved). Other files pass.
pub async fn uploaded_file(field: &str, name: &str, bytes: &[u8]) -> ApiResult<()> {
    if !is_script(name) {
        return Ok(());
    }
    let path = name.trim().to_string();
    let text = utf8(&path, bytes.to_vec()).map_err(|p| ApiError::unprocessable(field, p))?;
    check(path, text).await.map_err(|p| ApiError::unprocessable(field, p))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_told_by_their_extension() {
        assert!(is_script("flows/main.js") && is_script("LIB.MJS ") && !is_script("ammo.json"));
    }

    #[tokio::test]
    async fn an_uploaded_script_with_a_syntax_error_is_a_422_naming_where() {
        let e = uploaded_file("data", "f/main.js", b"export default function ( {}").await.unwrap_err();
        assert_eq!(e.status.as_u16(), 422);
        assert!(e.message.starts_with("data: f/main.js:1:"), "{}", e.message);
        assert!(uploaded_file("data", "f/ammo.json", b"{ not js").await.is_ok());
        assert!(
            uploaded_file("data", "f/lib.js", b"import { a } from './missing.js'; export const b = a;").await.is_ok()
        );
    }
}
