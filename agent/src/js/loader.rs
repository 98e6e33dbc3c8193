//! Module resolution: the k6 modules Alilo implements (JavaScript sources
//! over the natives of [`super::natives`]) and the script's own files by
//! relative path. A remote import, an unknown `k6/...` module or a path
//! outside the script's files is an error that names it.

use std::sync::Arc;

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{Ctx, Error, Module, Result};

use super::files::{self, Files};

/// The built-in modules, by import name.
pub const BUILTINS: &[(&str, &str)] = &[
    ("k6", include_str!("modules/k6.js")),
    ("k6/http", include_str!("modules/http.js")),
    ("k6/encoding", include_str!("modules/encoding.js")),
    ("k6/crypto", include_str!("modules/crypto.js")),
    ("k6/metrics", include_str!("modules/metrics.js")),
    ("k6/data", include_str!("modules/data.js")),
    ("k6/execution", include_str!("modules/execution.js")),
    ("k6/timers", include_str!("modules/timers.js")),
];

/// Why an import cannot be resolved, or `None` when it can: `Ok(path)`.
pub fn resolve(files: &Files, base: &str, name: &str) -> std::result::Result<String, String> {
    if BUILTINS.iter().any(|(n, _)| *n == name) {
        return Ok(name.to_string());
    }
    if name.starts_with("http://") || name.starts_with("https://") {
        return Err(format!(
            "remote import {name} is not allowed: upload the module beside the script and import it by relative path"
        ));
    }
    if name == "k6" || name.starts_with("k6/") {
        let names: Vec<&str> = BUILTINS.iter().map(|(n, _)| *n).collect();
        return Err(format!("module {name} is not supported by Alilo (supported: {})", names.join(", ")));
    }
    if !(name.starts_with("./") || name.starts_with("../") || name.starts_with('/')) {
        return Err(format!(
            "module {name:?} is neither a k6 module nor a relative path (./{name}) to a file of the script"
        ));
    }
    let path = files::normalize(base, name)?;
    if files.get(&path).is_none() {
        return Err(format!("module {name} (imported by {base}) is not among the script's files"));
    }
    Ok(path)
}

/// The resolver and loader of one runtime.
#[derive(Clone)]
pub struct ScriptLoader {
    /// The script's files.
    pub files: Arc<Files>,
}

impl Resolver for ScriptLoader {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> Result<String> {
        resolve(&self.files, base, name).map_err(|e| Error::new_resolving_message(base, name, e))
    }
}

impl Loader for ScriptLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> Result<Module<'js, Declared>> {
        if let Some((_, src)) = BUILTINS.iter().find(|(n, _)| *n == name) {
            return Module::declare(ctx.clone(), name, *src);
        }
        match self.files.get(name) {
            Some(src) => Module::declare(ctx.clone(), name, src.to_vec()),
            None => Err(Error::new_loading_message(name, "not among the script's files")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn imports_resolve_to_builtins_or_the_scripts_files_only() {
        let f =
            Files::from_map("main.js", [("main.js".into(), Bytes::new()), ("lib/a.js".into(), Bytes::new())]).unwrap();
        assert_eq!(resolve(&f, "main.js", "k6/http").unwrap(), "k6/http");
        assert_eq!(resolve(&f, "main.js", "./lib/a.js").unwrap(), "lib/a.js");
        let e = resolve(&f, "main.js", "https://jslib.k6.io/k6-utils/1.4.0/index.js").unwrap_err();
        assert!(e.contains("https://jslib.k6.io/k6-utils/1.4.0/index.js"), "{e}");
        assert!(resolve(&f, "main.js", "k6/ws").unwrap_err().contains("k6/ws is not supported"));
        assert!(resolve(&f, "main.js", "./nope.js").unwrap_err().contains("not among"));
        assert!(resolve(&f, "main.js", "lodash").unwrap_err().contains("lodash"));
    }
}
