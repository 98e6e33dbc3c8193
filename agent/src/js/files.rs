//! A script's files: the entry module, the modules it imports and the data
//! it `open()`s, by the relative path the script uses. Nothing else is
//! readable: not the agent's file system, not another URL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alilo_agent_api::ScriptSpec;
use bytes::Bytes;

use crate::client::fetch::fetch;

/// Largest single file (a module or an `open()`ed data file): 64 MiB.
pub const MAX_FILE_BYTES: usize = 64 << 20;
/// Largest sum of a script's files: 256 MiB.
pub const MAX_TOTAL_BYTES: usize = 256 << 20;
/// How long fetching one file may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// The files of one script, loaded.
#[derive(Debug, Default)]
pub struct Files {
    /// Normalised path of the entry module.
    pub entry: String,
    by_path: HashMap<String, Bytes>,
    /// `url` of a file → its path, so `open(__ENV.AMMO_URL)` reads the
    /// file the controller handed over as that URL.
    by_url: HashMap<String, String>,
}

impl Files {
    /// Loads the inline files of `spec` and fetches the others.
    pub async fn load(spec: &ScriptSpec, tls_verify: bool) -> Result<Arc<Files>, String> {
        let mut files = Files { entry: normalize("", &spec.entry)?, ..Default::default() };
        let mut total = 0usize;
        for (i, f) in spec.files.iter().enumerate() {
            let path = normalize("", &f.path).map_err(|e| format!("script.files[{i}].path: {e}"))?;
            let bytes = match (&f.content, &f.url) {
                (Some(c), None) => Bytes::from(c.clone()),
                (None, Some(url)) => fetch(url, tls_verify, FETCH_TIMEOUT, MAX_FILE_BYTES)
                    .await
                    .map_err(|e| format!("script file {path}: {e}"))?,
                _ => return Err(format!("script.files[{i}]: give exactly one of content and url")),
            };
            if bytes.len() > MAX_FILE_BYTES {
                return Err(format!("script file {path}: larger than {MAX_FILE_BYTES} bytes"));
            }
            total += bytes.len();
            if total > MAX_TOTAL_BYTES {
                return Err(format!("script.files: more than {MAX_TOTAL_BYTES} bytes in all"));
            }
            if let Some(url) = &f.url {
                files.by_url.insert(url.clone(), path.clone());
            }
            files.by_path.insert(path, bytes);
        }
        if !files.by_path.contains_key(&files.entry) {
            return Err(format!("script.entry: {:?} is not among script.files", spec.entry));
        }
        Ok(Arc::new(files))
    }

    /// Files given inline (no fetch), for checks before a job starts.
    pub fn inline(spec: &ScriptSpec) -> Result<Files, String> {
        let mut files = Files { entry: normalize("", &spec.entry)?, ..Default::default() };
        for (i, f) in spec.files.iter().enumerate() {
            let path = normalize("", &f.path).map_err(|e| format!("script.files[{i}].path: {e}"))?;
            // A fetched file counts as present (empty) for import checks.
            let c = f.content.as_deref().unwrap_or("");
            files.by_path.insert(path, Bytes::from(c.to_string()));
        }
        Ok(files)
    }

    /// Files from memory, by path (tests and the standalone runner).
    pub fn from_map(entry: &str, files: impl IntoIterator<Item = (String, Bytes)>) -> Result<Files, String> {
        let mut f = Files { entry: normalize("", entry)?, ..Default::default() };
        for (p, b) in files {
            f.by_path.insert(normalize("", &p)?, b);
        }
        Ok(f)
    }

    /// A file by normalised path.
    pub fn get(&self, path: &str) -> Option<&Bytes> {
        self.by_path.get(path)
    }

    /// What `open(name)` reads from a module at `base`: a file by relative
    /// path, or by the URL it was fetched from.
    pub fn open(&self, base: &str, name: &str) -> Result<Bytes, String> {
        if let Some(p) = self.by_url.get(name) {
            return Ok(self.by_path[p].clone());
        }
        let path = normalize(base, name)?;
        self.by_path.get(&path).cloned().ok_or_else(|| {
            format!(
                "open({name:?}): no such file among the script's files (open reads only the files sent with the script)"
            )
        })
    }

    /// The paths of the JavaScript modules (for the syntax check).
    pub fn modules(&self) -> impl Iterator<Item = (&str, &Bytes)> {
        self.by_path.iter().filter(|(p, _)| is_module(p)).map(|(p, b)| (p.as_str(), b))
    }
}

/// Whether a path names a JavaScript module.
pub fn is_module(path: &str) -> bool {
    path.ends_with(".js") || path.ends_with(".mjs")
}

/// Resolves `name` against the directory of `base` into a normalised path
/// inside the script's tree (`a/b.js`): `.` and `..` are folded, a leading
/// `/` or `./` is dropped, and a path climbing out of the tree is refused.
pub fn normalize(base: &str, name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("empty path".into());
    }
    if name.contains("://") {
        return Err(format!("{name:?} is a URL, not a path among the script's files"));
    }
    let mut parts: Vec<&str> = Vec::new();
    if !name.starts_with('/')
        && let Some((dir, _)) = base.rsplit_once('/')
    {
        parts.extend(dir.split('/').filter(|s| !s.is_empty() && *s != "."));
    }
    for seg in name.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!("{name:?} climbs out of the script's files"));
                }
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        return Err(format!("{name:?} names no file"));
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_relative_to_the_importing_module() {
        assert_eq!(normalize("", "./main.js").unwrap(), "main.js");
        assert_eq!(normalize("main.js", "./lib/a.js").unwrap(), "lib/a.js");
        assert_eq!(normalize("lib/a.js", "./b.js").unwrap(), "lib/b.js");
        assert_eq!(normalize("lib/a.js", "../data.json").unwrap(), "data.json");
        assert_eq!(normalize("lib/a.js", "/data.json").unwrap(), "data.json");
        assert!(normalize("main.js", "../etc/passwd").unwrap_err().contains("climbs out"));
        assert!(normalize("main.js", "https://x.test/a.js").unwrap_err().contains("URL"));
    }

    #[test]
    fn open_reads_only_the_scripts_files_by_path_or_url() {
        let spec: ScriptSpec = serde_json::from_value(serde_json::json!({
            "entry": "main.js",
            "files": [{"path": "main.js", "content": "x"}, {"path": "data/a.csv", "content": "a,b"}],
        }))
        .unwrap();
        let f = Files::inline(&spec).unwrap();
        assert_eq!(f.open("main.js", "./data/a.csv").unwrap(), Bytes::from("a,b"));
        assert!(f.open("main.js", "/etc/passwd").unwrap_err().contains("no such file"));
        let mut f = f;
        f.by_url.insert("https://bucket.test/a.csv?sig".into(), "data/a.csv".into());
        assert_eq!(f.open("main.js", "https://bucket.test/a.csv?sig").unwrap(), Bytes::from("a,b"));
    }
}
