//! Checks of a script before its job starts: the spec's fields, then every
//! JavaScript file it carries inline is compiled (a syntax error names
//! `file:line:column`) and its imports resolved (an unsupported module, a
//! remote import or a missing file is named). Nothing of the script runs.

use alilo_agent_api::{ScriptSpec, parse_duration};
use rquickjs::{CatchResultExt, Module};

use super::files::{self, Files, normalize};
use super::loader;
use super::vu::{describe, location, with_context};

/// Checks the fields of `spec`, naming the first one at fault.
pub fn spec(spec: &ScriptSpec) -> Result<(), String> {
    normalize("", &spec.entry).map_err(|e| format!("script.entry: {e}"))?;
    if spec.files.is_empty() {
        return Err("script.files: give at least the entry module".into());
    }
    let mut seen = std::collections::HashSet::new();
    for (i, f) in spec.files.iter().enumerate() {
        let p = normalize("", &f.path).map_err(|e| format!("script.files[{i}].path: {e}"))?;
        if !seen.insert(p.clone()) {
            return Err(format!("script.files[{i}].path: {p} is given twice"));
        }
        match (&f.content, &f.url) {
            (Some(c), None) if c.len() > files::MAX_FILE_BYTES => {
                return Err(format!("script.files[{i}].content: larger than {} bytes", files::MAX_FILE_BYTES));
            }
            (Some(_), None) => {}
            (None, Some(u)) => {
                let uri: http::Uri =
                    u.parse().map_err(|e| format!("script.files[{i}].url: {u:?} is not a URL: {e}"))?;
                if !matches!(uri.scheme_str(), Some("http" | "https")) {
                    return Err(format!("script.files[{i}].url: {u:?} must start with http:// or https://"));
                }
            }
            _ => return Err(format!("script.files[{i}]: give exactly one of content and url")),
        }
    }
    let entry = normalize("", &spec.entry).expect("checked");
    if !seen.contains(&entry) {
        return Err(format!("script.entry: {:?} is not among script.files", spec.entry));
    }
    if !files::is_module(&entry) {
        return Err(format!("script.entry: {:?} must be a .js or .mjs module", spec.entry));
    }
    if let Some(t) = &spec.iteration_timeout {
        let d = parse_duration(t).map_err(|e| format!("script.iteration_timeout: {e}"))?;
        if d.is_zero() {
            return Err("script.iteration_timeout must be > 0".into());
        }
    }
    let inline = std::sync::Arc::new(Files::inline(spec)?);
    compile(&inline).map_err(|e| format!("script: {e}"))
}

/// Compiles every module of `files` and resolves its static imports.
pub fn compile(files: &std::sync::Arc<Files>) -> Result<(), String> {
    let mut modules: Vec<(&str, &bytes::Bytes)> = files.modules().collect();
    modules.sort_by_key(|(p, _)| *p);
    for (path, src) in modules {
        let text = std::str::from_utf8(src).map_err(|_| format!("{path}: not UTF-8 text"))?;
        for import in imports(text) {
            loader::resolve(files, path, &import).map_err(|e| format!("{path}: {e}"))?;
        }
        with_context(files, |ctx| {
            Module::declare(ctx.clone(), path, text.as_bytes().to_vec()).map(|_| ()).catch(&ctx).map_err(|e| {
                let e = describe(&e);
                match location(&e.stack) {
                    Some(l) => format!("{l}: {}", e.message),
                    None => format!("{path}: {}", e.message),
                }
            })
        })??;
    }
    Ok(())
}

/// The static import specifiers of a module (`import … from "x"`,
/// `import "x"`, `export … from "x"`), found by a light scan.
pub fn imports(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in src.lines() {
        let t = line.trim_start();
        if !(t.starts_with("import") || t.starts_with("export") || t.starts_with('}')) {
            continue;
        }
        let rest = if let Some(i) = t.find(" from ") {
            &t[i + 6..]
        } else if let Some(r) = t.strip_prefix("import ") {
            r
        } else if t.starts_with('}') && t.contains("from") {
            t.split_once("from").map(|(_, r)| r).unwrap_or("")
        } else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else { continue };
        if let Some(end) = rest[1..].find(q) {
            out.push(rest[1..1 + end].to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_of(files: &[(&str, &str)]) -> ScriptSpec {
        ScriptSpec {
            entry: files[0].0.into(),
            files: files
                .iter()
                .map(|(p, c)| alilo_agent_api::script::ScriptFile {
                    path: (*p).into(),
                    content: Some((*c).into()),
                    url: None,
                })
                .collect(),
            env: Default::default(),
            iteration_timeout: None,
            load: Default::default(),
        }
    }

    #[test]
    fn a_valid_script_passes() {
        let s = spec_of(&[
            (
                "main.js",
                "import http from 'k6/http';\nimport { f } from './lib.js';\nexport default function () { f(); }\n",
            ),
            ("lib.js", "export function f() {}\n"),
        ]);
        assert_eq!(spec(&s), Ok(()));
    }

    #[test]
    fn a_syntax_error_names_file_line_and_column() {
        let s = spec_of(&[("main.js", "export default function () {\n  let x = (1 + ;\n}\n")]);
        let e = spec(&s).unwrap_err();
        assert!(e.starts_with("script: main.js:2:"), "{e}");
        assert!(e.contains("SyntaxError"), "{e}");
    }

    #[test]
    fn unsupported_and_remote_imports_are_named() {
        let e = spec(&spec_of(&[("main.js", "import ws from 'k6/ws';\nexport default function () {}\n")])).unwrap_err();
        assert!(e.contains("k6/ws"), "{e}");
        let e = spec(&spec_of(&[(
            "main.js",
            "import { uuidv4 } from 'https://jslib.k6.io/k6-utils/1.4.0/index.js';\nexport default function () {}\n",
        )]))
        .unwrap_err();
        assert!(e.contains("remote import https://jslib.k6.io/k6-utils/1.4.0/index.js"), "{e}");
    }

    #[test]
    fn bad_fields_are_named() {
        let mut s = spec_of(&[("main.js", "export default function () {}")]);
        s.entry = "other.js".into();
        assert!(spec(&s).unwrap_err().starts_with("script.entry"));
        let mut s = spec_of(&[("main.js", "export default function () {}")]);
        s.iteration_timeout = Some("soon".into());
        assert!(spec(&s).unwrap_err().starts_with("script.iteration_timeout"));
        let mut s = spec_of(&[("main.js", "")]);
        s.files[0].url = Some("ftp://x".into());
        assert!(spec(&s).unwrap_err().starts_with("script.files[0]"));
    }
}
