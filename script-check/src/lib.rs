//! Save-time checks of extended (k6-style JavaScript) scripts.
//!
//! A script is checked when it is saved, not when it starts, so that a typo
//! answers 422 at once instead of failing a run on every agent:
//!
//! 1. **Syntax**: QuickJS, the engine the agent runs (through `rquickjs`,
//!    compiled from source), *compiles* each file as an ES module without
//!    evaluating it. A syntax error is reported as `file:line:column` with the
//!    engine's own message.
//! 2. **Imports**: every `import` must name a k6 module Alilo supports
//!    ([`k6_modules`], with the functions each exports, read from the
//!    agent's own module sources) or a relative file
//!    uploaded beside the script. Remote `https://` imports and other modules
//!    are refused by name, never silently ignored.
//!
//! The crate does no I/O: [`check_module`] checks one file and returns the
//! relative files it imports, which the caller fetches and checks in turn
//! (see [`check_files`] for the whole walk over an in-memory set).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

pub mod imports;

use imports::Import;

/// The k6 modules the agent implements, read from the agent's own sources
/// (`agent/src/js/modules`), so that what is accepted here is exactly what
/// the agent can run.
const K6_SOURCES: &[(&str, &str)] = &[
    ("k6", include_str!("../../agent/src/js/modules/k6.js")),
    ("k6/http", include_str!("../../agent/src/js/modules/http.js")),
    ("k6/data", include_str!("../../agent/src/js/modules/data.js")),
    ("k6/execution", include_str!("../../agent/src/js/modules/execution.js")),
    ("k6/timers", include_str!("../../agent/src/js/modules/timers.js")),
    ("k6/metrics", include_str!("../../agent/src/js/modules/metrics.js")),
    ("k6/encoding", include_str!("../../agent/src/js/modules/encoding.js")),
    ("k6/crypto", include_str!("../../agent/src/js/modules/crypto.js")),
];

/// The k6 modules an extended script may import, and what each exports
/// (`default` and `* as ns` are always allowed).
pub fn k6_modules() -> &'static [(&'static str, Vec<String>)] {
    static MODULES: OnceLock<Vec<(&'static str, Vec<String>)>> = OnceLock::new();
    MODULES.get_or_init(|| {
        K6_SOURCES
            .iter()
            .map(|(name, source)| {
                let mut names = imports::exports(source);
                names.retain(|n| n != "default");
                names.sort();
                names.dedup();
                (*name, names)
            })
            .collect()
    })
}

/// Largest file QuickJS is asked to compile (the agent refuses larger ones too).
pub const MAX_SOURCE_BYTES: usize = 4 * 1024 * 1024;
/// Memory QuickJS may use to compile one file.
const MEMORY_LIMIT: usize = 64 * 1024 * 1024;
/// Stack QuickJS may use: deeply nested code is a syntax error, not a crash.
const STACK_LIMIT: usize = 256 * 1024;

/// What is wrong with a script, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, by its path beside the entry script (e.g. `lib/util.js`).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// The engine's message, or which import is refused and why.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)
    }
}

impl std::error::Error for Problem {}

/// A relative file a module imports, resolved against the importer's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// Path beside the entry script, e.g. `lib/util.js`.
    pub path: String,
    /// The importing file.
    pub from: String,
    /// The specifier as written, e.g. `./lib/util.js`.
    pub specifier: String,
    /// Where the import is.
    pub line: u32,
    /// Where the import is.
    pub column: u32,
}

impl Dependency {
    /// The problem to report when this file was not uploaded.
    pub fn missing(&self) -> Problem {
        Problem {
            file: self.from.clone(),
            line: self.line,
            column: self.column,
            message: format!(
                "imports {:?}, but no file {:?} was uploaded beside the script",
                self.specifier, self.path
            ),
        }
    }
}

/// Checks one file: it compiles as an ES module, and each import is a
/// supported k6 module (with supported names) or a relative file. Returns
/// the relative files it imports, for the caller to check in turn.
pub fn check_module(path: &str, source: &str) -> Result<Vec<Dependency>, Problem> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(Problem {
            file: path.to_string(),
            line: 1,
            column: 1,
            message: format!("{} bytes is above the limit of {MAX_SOURCE_BYTES} bytes per file", source.len()),
        });
    }
    let requested = compile(path, source)?;
    let mut found = imports::imports(source);
    // The engine's list of static imports is the authority; the scanner adds
    // where each is and the names it takes (and literal dynamic imports).
    for spec in requested {
        if !found.iter().any(|i| i.specifier == spec) {
            found.push(Import { specifier: spec, names: Vec::new(), dynamic: false, line: 1, column: 1 });
        }
    }
    let mut deps = Vec::new();
    for import in found {
        if let Some(dep) = classify(path, &import)? {
            deps.push(dep);
        }
    }
    Ok(deps)
}

/// Checks a script and every file it imports, from an in-memory set of the
/// files beside it (path → text). Each file is checked once.
pub fn check_files(entry: &str, files: &BTreeMap<String, String>) -> Result<BTreeSet<String>, Problem> {
    let mut seen = BTreeSet::from([entry.to_string()]);
    let mut todo = vec![(entry.to_string(), None::<Dependency>)];
    while let Some((path, via)) = todo.pop() {
        let Some(text) = files.get(&path) else {
            return Err(match via {
                Some(dep) => dep.missing(),
                None => Problem { file: path, line: 1, column: 1, message: "no such file".into() },
            });
        };
        for dep in check_module(&path, text)? {
            if seen.insert(dep.path.clone()) {
                todo.push((dep.path.clone(), Some(dep)));
            }
        }
    }
    Ok(seen)
}

fn problem_at(path: &str, import: &Import, message: String) -> Problem {
    Problem { file: path.to_string(), line: import.line, column: import.column, message }
}

/// A supported k6 module (its names checked), a relative file, or a refusal.
fn classify(path: &str, import: &Import) -> Result<Option<Dependency>, Problem> {
    let spec = import.specifier.as_str();
    if let Some((_, exports)) = k6_modules().iter().find(|(name, _)| *name == spec) {
        for name in &import.names {
            if name != "default" && name != "*" && !exports.contains(name) {
                return Err(problem_at(
                    path,
                    import,
                    format!("{spec:?} has no export {name:?} in Alilo (supported: {})", exports.join(", ")),
                ));
            }
        }
        return Ok(None);
    }
    if spec.starts_with("http://") || spec.starts_with("https://") {
        return Err(problem_at(
            path,
            import,
            format!(
                "remote import {spec:?} is not supported: upload the module beside the script and import it by a \
                 relative path such as \"./{}\"",
                spec.rsplit('/').next().unwrap_or("module.js")
            ),
        ));
    }
    if spec.starts_with("./") || spec.starts_with("../") {
        let resolved = resolve(path, spec).map_err(|why| problem_at(path, import, why))?;
        return Ok(Some(Dependency {
            path: resolved,
            from: path.to_string(),
            specifier: spec.to_string(),
            line: import.line,
            column: import.column,
        }));
    }
    let supported: Vec<&str> = k6_modules().iter().map(|(name, _)| *name).collect();
    Err(problem_at(
        path,
        import,
        format!(
            "module {spec:?} is not supported: import one of {} or a relative file (\"./lib.js\") uploaded beside \
             the script",
            supported.join(", ")
        ),
    ))
}

/// `spec` (relative) against the folder of `importer`; a path that climbs out
/// of the script's folder is refused.
pub fn resolve(importer: &str, spec: &str) -> Result<String, String> {
    let mut parts: Vec<&str> = importer.split('/').collect();
    parts.pop();
    for segment in spec.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!("import {spec:?} leaves the script's folder"));
                }
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        return Err(format!("import {spec:?} names a folder, not a file"));
    }
    Ok(parts.join("/"))
}

/// Records each module a compiled module requests, and answers with an empty
/// stand-in: compiling loads the imported modules but never runs them.
struct Requests(Arc<Mutex<Vec<String>>>);

impl rquickjs::loader::Resolver for Requests {
    fn resolve<'js>(
        &mut self,
        _ctx: &rquickjs::Ctx<'js>,
        _base: &str,
        name: &str,
        _attributes: Option<rquickjs::loader::ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(name.to_string());
        Ok(format!("alilo-check-stand-in:{name}"))
    }
}

impl rquickjs::loader::Loader for Requests {
    fn load<'js>(
        &mut self,
        ctx: &rquickjs::Ctx<'js>,
        name: &str,
        _attributes: Option<rquickjs::loader::ImportAttributes<'js>>,
    ) -> rquickjs::Result<rquickjs::Module<'js, rquickjs::module::Declared>> {
        rquickjs::Module::declare(ctx.clone(), name, "")
    }
}

/// Compiles `source` as a module without evaluating it; the specifiers of
/// its static imports, as the engine saw them.
fn compile(path: &str, source: &str) -> Result<Vec<String>, Problem> {
    let fault = |message: String| Problem { file: path.to_string(), line: 1, column: 1, message };
    let runtime = rquickjs::Runtime::new().map_err(|e| fault(format!("cannot start the engine: {e}")))?;
    runtime.set_memory_limit(MEMORY_LIMIT);
    runtime.set_max_stack_size(STACK_LIMIT);
    let requested = Arc::new(Mutex::new(Vec::new()));
    runtime.set_loader(Requests(requested.clone()), Requests(requested.clone()));
    // Compiling needs the `eval` machinery and the RegExp compiler (regular
    // expression literals are compiled with the module), nothing else.
    use rquickjs::context::intrinsic::{Eval, RegExp, RegExpCompiler};
    let context = rquickjs::Context::custom::<(Eval, RegExpCompiler, RegExp)>(&runtime)
        .map_err(|e| fault(format!("cannot start the engine: {e}")))?;
    context.with(|ctx| match rquickjs::Module::declare(ctx.clone(), path, source) {
        Ok(_) => Ok(()),
        Err(rquickjs::Error::Exception) => {
            let thrown = ctx.catch();
            let exception = thrown.as_object().and_then(|o| rquickjs::Exception::from_object(o.clone()));
            let (name, message, stack) = match exception {
                Some(e) => (
                    e.get::<_, String>("name").unwrap_or_else(|_| "SyntaxError".into()),
                    e.message().unwrap_or_default(),
                    e.stack().unwrap_or_default(),
                ),
                None => ("SyntaxError".into(), format!("{thrown:?}"), String::new()),
            };
            let (line, column) = position(path, &stack).unwrap_or((1, 1));
            Err(Problem { file: path.to_string(), line, column, message: format!("{name}: {message}") })
        }
        Err(e) => Err(fault(e.to_string())),
    })?;
    let list = requested.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    Ok(list)
}

/// `line:column` of the first frame of `path` in a QuickJS stack
/// (`    at main.js:3:12`).
fn position(path: &str, stack: &str) -> Option<(u32, u32)> {
    let needle = format!("{path}:");
    let start = stack.find(&needle)? + needle.len();
    let mut numbers = stack[start..].split(|c: char| !c.is_ascii_digit());
    let line = numbers.next()?.parse().ok()?;
    let column = numbers.next().and_then(|c| c.parse().ok()).unwrap_or(1);
    Some((line, column))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_k6_script_passes_and_lists_its_relative_imports() {
        let src = r#"
import http from 'k6/http';
import { check, sleep } from 'k6';
import { SharedArray } from 'k6/data';
import { helper } from './lib/helpers.js';
export const options = { vus: 1 };
export default function () {
    const res = http.get(`${__ENV.API_URL}/items`);
    check(res, { 'is 200': (r) => r.status === 200 });
    sleep(helper());
}
"#;
        let deps = check_module("main.js", src).unwrap();
        assert_eq!(deps.len(), 1);
        assert_eq!(deps[0].path, "lib/helpers.js");
    }

    #[test]
    fn a_syntax_error_names_file_line_column_and_the_engines_message() {
        let src = "import http from 'k6/http';\n\nexport default function () {\n    http.get('x';\n}\n";
        let p = check_module("flows/main.js", src).unwrap_err();
        assert_eq!(p.file, "flows/main.js");
        assert_eq!(p.line, 4, "{p}");
        assert!(p.message.starts_with("SyntaxError: "), "{p}");
        assert!(p.to_string().starts_with("flows/main.js:4:"), "{p}");
    }

    #[test]
    fn modern_syntax_compiles() {
        let src = r#"
export class Flow { #n = 0; static of() { return new Flow(); } next() { return ++this.#n; } }
export const re = /^order-(\d+)$/iu;
export const big = 10n ** 20n;
export async function later(x) { await null; return x?.y ?? [...(x?.z ?? [])]; }
export function* ids() { yield* [1, 2]; }
const { a = 1, ...rest } = { b: 2 };
export default () => `${a}${JSON.stringify(rest)}`.replace(/[{}]/g, '');
"#;
        check_module("modern.js", src).unwrap();
    }

    #[test]
    fn the_script_is_compiled_not_run() {
        // Running it would never end; compiling it is instant.
        check_module("main.js", "while (true) {}\nexport default function () {}").unwrap();
    }

    #[test]
    fn an_unsupported_module_is_refused_by_name() {
        let p = check_module("main.js", "import ws from 'k6/ws';\nexport default function () {}").unwrap_err();
        assert!(p.message.contains("\"k6/ws\" is not supported"), "{p}");
        assert_eq!((p.line, p.column), (1, 16));
        let p = check_module("main.js", "import _ from 'lodash';").unwrap_err();
        assert!(p.message.contains("\"lodash\""), "{p}");
    }

    #[test]
    fn the_supported_modules_are_the_agents_with_their_exports() {
        let modules: Vec<&str> = k6_modules().iter().map(|(name, _)| *name).collect();
        assert_eq!(
            modules,
            vec!["k6", "k6/http", "k6/data", "k6/execution", "k6/timers", "k6/metrics", "k6/encoding", "k6/crypto"]
        );
        let exports = |m: &str| k6_modules().iter().find(|(name, _)| *name == m).unwrap().1.clone();
        for (m, name) in [("k6", "check"), ("k6/http", "get"), ("k6/data", "SharedArray"), ("k6/metrics", "Trend")] {
            assert!(exports(m).contains(&name.to_string()), "{m} lacks {name}: {:?}", exports(m));
        }
        check_module("main.js", "import { sha256, hmac } from 'k6/crypto';\nimport { scenario } from 'k6/execution';")
            .unwrap();
    }

    #[test]
    fn an_unsupported_function_of_a_k6_module_is_refused_by_name() {
        let p = check_module("main.js", "import { check, retry } from 'k6';").unwrap_err();
        assert!(p.message.contains("no export \"retry\""), "{p}");
    }

    #[test]
    fn a_remote_import_is_refused_naming_the_url() {
        let src = "import { randomItem } from 'https://jslib.k6.io/k6-utils/1.2.0/index.js';";
        let p = check_module("main.js", src).unwrap_err();
        assert!(p.message.contains("https://jslib.k6.io/k6-utils/1.2.0/index.js"), "{p}");
        assert!(p.message.contains("./index.js"), "{p}");
    }

    #[test]
    fn relative_paths_resolve_inside_the_scripts_folder_only() {
        assert_eq!(resolve("main.js", "./lib/a.js").unwrap(), "lib/a.js");
        assert_eq!(resolve("lib/a.js", "../b.js").unwrap(), "b.js");
        assert_eq!(resolve("lib/a.js", "./c/../d.js").unwrap(), "lib/d.js");
        assert!(resolve("main.js", "../outside.js").is_err());
    }

    #[test]
    fn the_whole_tree_is_checked_and_a_missing_file_is_named_where_it_is_imported() {
        let mut files = BTreeMap::new();
        files.insert("main.js".to_string(), "import { a } from './lib/a.js';\nexport default () => a;".to_string());
        files.insert("lib/a.js".to_string(), "import { b } from '../b.js';\nexport const a = b;".to_string());
        let p = check_files("main.js", &files).unwrap_err();
        assert_eq!((p.file.as_str(), p.line), ("lib/a.js", 1));
        assert!(p.message.contains("\"b.js\""), "{p}");
        files.insert("b.js".to_string(), "export const b = 1 +;".to_string());
        let p = check_files("main.js", &files).unwrap_err();
        assert_eq!(p.file, "b.js", "{p}");
        files.insert("b.js".to_string(), "export const b = 1;".to_string());
        let all = check_files("main.js", &files).unwrap();
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn a_cycle_of_imports_is_checked_once() {
        let mut files = BTreeMap::new();
        files.insert("a.js".to_string(), "import './b.js'; export const a = 1;".to_string());
        files.insert("b.js".to_string(), "import './a.js'; export const b = 1;".to_string());
        assert_eq!(check_files("a.js", &files).unwrap().len(), 2);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let src = format!("export const x = {}1{};", "(".repeat(100_000), ")".repeat(100_000));
        let p = check_module("deep.js", &src).unwrap_err();
        assert!(p.message.starts_with("RangeError: "), "{p}");
    }
}
