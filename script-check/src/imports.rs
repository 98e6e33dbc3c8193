//! The imports of an ES module, found by a small tokenizer rather than by
//! running anything.
//!
//! QuickJS compiles the module first ([`crate::check_module`]), so the text is
//! known to be valid JavaScript; this scanner only has to skip what could hide
//! or fake an `import`: comments, strings, template literals (with nested
//! `${…}`) and regular expressions. Whether a `/` starts a regular expression
//! is decided, as every JavaScript tokenizer without a parser does, by the
//! token before it.

/// One import of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The module specifier as written, e.g. `k6/http` or `./lib.js`.
    pub specifier: String,
    /// The exports it takes: a name, `default`, or `*` for a namespace (or a
    /// re-export of everything). Empty for `import "x"` and `import("x")`.
    pub names: Vec<String>,
    /// `import("…")` rather than a declaration.
    pub dynamic: bool,
    /// Where the specifier's string starts, 1-based.
    pub line: u32,
    /// Column of the specifier's string, 1-based, in characters.
    pub column: u32,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Ident(String),
    Punct(char),
    /// `++` or `--`: a `/` after them divides.
    Incr,
    Str(String),
    /// A number, template piece or regular expression: a value.
    Value,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    line: u32,
    column: u32,
}

/// Keywords after which a `/` starts a regular expression.
const BEFORE_EXPRESSION: &[&str] = &[
    "return",
    "typeof",
    "instanceof",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "case",
    "do",
    "else",
    "yield",
    "await",
    "extends",
];

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: u32,
    column: u32,
    /// One entry per open `{`: `true` when it opened a template's `${`.
    braces: Vec<bool>,
    tokens: Vec<Token>,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn push(&mut self, kind: Kind, line: u32, column: u32) {
        self.tokens.push(Token { kind, line, column });
    }

    /// Whether a `/` here starts a regular expression.
    fn regex_allowed(&self) -> bool {
        match self.tokens.last().map(|t| &t.kind) {
            None => true,
            Some(Kind::Ident(word)) => BEFORE_EXPRESSION.contains(&word.as_str()),
            Some(Kind::Punct(c)) => !matches!(c, ')' | ']'),
            Some(Kind::Incr | Kind::Str(_) | Kind::Value) => false,
        }
    }

    fn skip_line_comment(&mut self) {
        while let Some(c) = self.peek(0) {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }

    fn skip_block_comment(&mut self) {
        self.bump();
        self.bump();
        while let Some(c) = self.bump() {
            if c == '*' && self.peek(0) == Some('/') {
                self.bump();
                return;
            }
        }
    }

    fn string(&mut self, quote: char) -> String {
        let mut out = String::new();
        self.bump();
        while let Some(c) = self.bump() {
            match c {
                _ if c == quote => break,
                '\\' => match self.bump() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('\n') | None => {}
                    Some(other) => out.push(other),
                },
                _ => out.push(c),
            }
        }
        out
    }

    /// The rest of a template after its opening `` ` `` or a closing `}` of
    /// a substitution: up to the closing `` ` `` or the next `${`.
    fn template_rest(&mut self) {
        while let Some(c) = self.bump() {
            match c {
                '\\' => {
                    self.bump();
                }
                '`' => return,
                '$' if self.peek(0) == Some('{') => {
                    self.bump();
                    self.braces.push(true);
                    return;
                }
                _ => {}
            }
        }
    }

    fn regex(&mut self) {
        self.bump();
        let mut in_class = false;
        while let Some(c) = self.bump() {
            match c {
                '\\' => {
                    self.bump();
                }
                '[' => in_class = true,
                ']' => in_class = false,
                '/' if !in_class => break,
                '\n' => break,
                _ => {}
            }
        }
        while self.peek(0).is_some_and(is_ident_char) {
            self.bump();
        }
    }

    fn run(mut self) -> Vec<Token> {
        if self.peek(0) == Some('#') && self.peek(1) == Some('!') {
            self.skip_line_comment();
        }
        while let Some(c) = self.peek(0) {
            let (line, column) = (self.line, self.column);
            match c {
                _ if c.is_whitespace() => {
                    self.bump();
                }
                '/' if self.peek(1) == Some('/') => self.skip_line_comment(),
                '/' if self.peek(1) == Some('*') => self.skip_block_comment(),
                '/' if self.regex_allowed() => {
                    self.regex();
                    self.push(Kind::Value, line, column);
                }
                '\'' | '"' => {
                    let s = self.string(c);
                    self.push(Kind::Str(s), line, column);
                }
                '`' => {
                    self.bump();
                    self.template_rest();
                    self.push(Kind::Value, line, column);
                }
                '{' => {
                    self.bump();
                    self.braces.push(false);
                    self.push(Kind::Punct('{'), line, column);
                }
                '}' => {
                    self.bump();
                    if self.braces.pop() == Some(true) {
                        self.template_rest();
                        self.push(Kind::Value, line, column);
                    } else {
                        self.push(Kind::Punct('}'), line, column);
                    }
                }
                '+' | '-' if self.peek(1) == Some(c) => {
                    self.bump();
                    self.bump();
                    self.push(Kind::Incr, line, column);
                }
                _ if c.is_ascii_digit() || (c == '.' && self.peek(1).is_some_and(|d| d.is_ascii_digit())) => {
                    while self.peek(0).is_some_and(|d| is_ident_char(d) || d == '.') {
                        self.bump();
                    }
                    self.push(Kind::Value, line, column);
                }
                _ if is_ident_start(c) => {
                    let mut word = String::new();
                    while let Some(d) = self.peek(0).filter(|d| is_ident_char(*d) || *d == '\\') {
                        word.push(d);
                        self.bump();
                    }
                    self.push(Kind::Ident(word), line, column);
                }
                _ => {
                    self.bump();
                    self.push(Kind::Punct(c), line, column);
                }
            }
        }
        self.tokens
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$' || c == '\\' || (!c.is_ascii() && !c.is_whitespace())
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$' || (!c.is_ascii() && !c.is_whitespace())
}

fn tokens(source: &str) -> Vec<Token> {
    Lexer { chars: source.chars().collect(), pos: 0, line: 1, column: 1, braces: Vec::new(), tokens: Vec::new() }.run()
}

fn is_ident(t: Option<&Token>, word: &str) -> bool {
    matches!(t.map(|t| &t.kind), Some(Kind::Ident(w)) if w == word)
}

fn is_punct(t: Option<&Token>, c: char) -> bool {
    matches!(t.map(|t| &t.kind), Some(Kind::Punct(p)) if *p == c)
}

fn string_at(tokens: &[Token], i: usize) -> Option<(String, u32, u32)> {
    match tokens.get(i) {
        Some(Token { kind: Kind::Str(s), line, column }) => Some((s.clone(), *line, *column)),
        _ => None,
    }
}

/// The names of a `{ a, b as c, "d" as e }` list starting at `i` (the `{`):
/// the exported names (`a`, `b`, `d`) and the index after the `}`.
fn braced_names(tokens: &[Token], mut i: usize) -> Option<(Vec<String>, usize)> {
    let mut names = Vec::new();
    i += 1;
    loop {
        match tokens.get(i).map(|t| &t.kind) {
            Some(Kind::Punct('}')) => return Some((names, i + 1)),
            Some(Kind::Punct(',')) => i += 1,
            Some(Kind::Ident(name) | Kind::Str(name)) => {
                names.push(name.clone());
                i += 1;
                if is_ident(tokens.get(i), "as") {
                    i += 2;
                }
            }
            _ => return None,
        }
    }
}

/// `import … from "x"` starting after `import`: the names and the string.
fn import_clause(tokens: &[Token], mut i: usize) -> Option<(Vec<String>, (String, u32, u32))> {
    let mut names = Vec::new();
    loop {
        if is_ident(tokens.get(i), "from")
            && let Some(spec) = string_at(tokens, i + 1)
        {
            return Some((names, spec));
        }
        match tokens.get(i).map(|t| &t.kind) {
            Some(Kind::Ident(_)) if names.is_empty() => {
                names.push("default".to_string());
                i += 1;
            }
            Some(Kind::Punct('*')) => {
                names.push("*".to_string());
                i += 3; // * as name
            }
            Some(Kind::Punct('{')) => {
                let (more, next) = braced_names(tokens, i)?;
                names.extend(more);
                i = next;
            }
            Some(Kind::Punct(',')) => i += 1,
            _ => return None,
        }
    }
}

/// `export * [as x] from "y"` or `export { … } from "y"`, starting after
/// `export`; `None` for a local export.
fn re_export(tokens: &[Token], i: usize) -> Option<(Vec<String>, (String, u32, u32))> {
    if is_punct(tokens.get(i), '*') {
        let from = if is_ident(tokens.get(i + 1), "as") { i + 3 } else { i + 1 };
        if is_ident(tokens.get(from), "from") {
            return string_at(tokens, from + 1).map(|s| (vec!["*".to_string()], s));
        }
        return None;
    }
    if is_punct(tokens.get(i), '{') {
        let (names, next) = braced_names(tokens, i)?;
        if is_ident(tokens.get(next), "from") {
            return string_at(tokens, next + 1).map(|s| (names, s));
        }
    }
    None
}

/// Every static import, re-export and `import("literal")` of a module, in
/// order. Computed dynamic imports (`import(name)`) cannot be known before
/// the script runs and are left to the agent.
pub fn imports(source: &str) -> Vec<Import> {
    let tokens = tokens(source);
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let Kind::Ident(word) = &t.kind else { continue };
        // `obj.import`, `{ import: 1 }` and `import.meta` are no imports.
        if i > 0 && is_punct(tokens.get(i - 1), '.') {
            continue;
        }
        let found = match word.as_str() {
            "import" if is_punct(tokens.get(i + 1), '(') => string_at(&tokens, i + 2)
                .map(|(specifier, line, column)| Import { specifier, names: Vec::new(), dynamic: true, line, column }),
            "import" if is_punct(tokens.get(i + 1), '.') || is_punct(tokens.get(i + 1), ':') => None,
            "import" => match string_at(&tokens, i + 1) {
                Some((specifier, line, column)) => {
                    Some(Import { specifier, names: Vec::new(), dynamic: false, line, column })
                }
                None => import_clause(&tokens, i + 1).map(|(names, (specifier, line, column))| Import {
                    specifier,
                    names,
                    dynamic: false,
                    line,
                    column,
                }),
            },
            "export" => re_export(&tokens, i + 1).map(|(names, (specifier, line, column))| Import {
                specifier,
                names,
                dynamic: false,
                line,
                column,
            }),
            _ => None,
        };
        out.extend(found);
    }
    out
}

/// The names a module exports (`export function f`, `export const a`,
/// `export class C`, `export { a, b as c }`; `default` for a default export).
pub fn exports(source: &str) -> Vec<String> {
    let tokens = tokens(source);
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if !matches!(&t.kind, Kind::Ident(w) if w == "export") || (i > 0 && is_punct(tokens.get(i - 1), '.')) {
            continue;
        }
        match tokens.get(i + 1).map(|t| &t.kind) {
            Some(Kind::Ident(w)) if w == "default" => out.push("default".to_string()),
            Some(Kind::Ident(w)) if matches!(w.as_str(), "function" | "class" | "const" | "let" | "var") => {
                let name_at = if is_punct(tokens.get(i + 2), '*') { i + 3 } else { i + 2 };
                if let Some(Kind::Ident(name)) = tokens.get(name_at).map(|t| &t.kind) {
                    out.push(name.clone());
                }
            }
            Some(Kind::Punct('{')) => {
                let mut j = i + 2;
                while let Some(Kind::Ident(name) | Kind::Str(name)) = tokens.get(j).map(|t| &t.kind) {
                    let mut exported = name.clone();
                    j += 1;
                    if is_ident(tokens.get(j), "as")
                        && let Some(Kind::Ident(alias) | Kind::Str(alias)) = tokens.get(j + 1).map(|t| &t.kind)
                    {
                        exported = alias.clone();
                        j += 2;
                    }
                    out.push(exported);
                    if is_punct(tokens.get(j), ',') {
                        j += 1;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(source: &str) -> Vec<(String, Vec<String>)> {
        imports(source).into_iter().map(|i| (i.specifier, i.names)).collect()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn every_form_of_import_is_found_with_its_names() {
        let src = r#"
import http from 'k6/http';
import { check, sleep as pause } from "k6";
import * as metrics from 'k6/metrics';
import exec, { scenario } from 'k6/execution';
import './side-effect.js';
export { helper } from './lib/helpers.js';
export * from './all.js';
const later = import('./dynamic.js');
"#;
        assert_eq!(
            specs(src),
            vec![
                ("k6/http".into(), names(&["default"])),
                ("k6".into(), names(&["check", "sleep"])),
                ("k6/metrics".into(), names(&["*"])),
                ("k6/execution".into(), names(&["default", "scenario"])),
                ("./side-effect.js".into(), vec![]),
                ("./lib/helpers.js".into(), names(&["helper"])),
                ("./all.js".into(), names(&["*"])),
                ("./dynamic.js".into(), vec![]),
            ]
        );
    }

    #[test]
    fn the_specifier_position_is_reported() {
        let found = imports("// header\n\nimport http from  'k6/ws';\n");
        assert_eq!((found[0].line, found[0].column), (3, 19));
    }

    #[test]
    fn imports_inside_comments_strings_templates_and_regexes_are_not_imports() {
        let src = r#"
// import a from 'k6/ws';
/* import b from 'k6/ws'; */
const s = "import c from 'k6/ws'";
const t = `import d from 'k6/ws' ${ `nested ${ "import e from 'k6/ws'" }` } import f from 'k6/ws'`;
const r = /import g from 'k6\/ws'/g;
const q = x / 2; const w = y / 3; // a division, not a regex
obj.import('k6/ws');
const o = { import: 'k6/ws' };
const m = import.meta.url;
import { check } from 'k6';
"#;
        assert_eq!(specs(src), vec![("k6".into(), names(&["check"]))]);
    }

    #[test]
    fn a_regex_after_return_or_an_operator_is_skipped_but_division_is_not_a_regex() {
        let src = "function f(x) { return /'/.test(x) }\nconst y = (a) / 2 / 'x';\nimport z from './z.js';";
        assert_eq!(specs(src), vec![("./z.js".into(), names(&["default"]))]);
    }

    #[test]
    fn a_string_named_export_and_a_default_alias_are_named() {
        let src = "import { default as h, 'odd name' as o } from 'k6/http';";
        assert_eq!(specs(src), vec![("k6/http".into(), names(&["default", "odd name"]))]);
    }

    #[test]
    fn exports_are_listed_by_their_exported_names() {
        let src = "export function get() {}\nexport const a = 1, b = 2;\nexport class Trend {}\n\
                   export { x, y as z };\nexport default { get };\nexport function* gen() {}";
        assert_eq!(exports(src), names(&["get", "a", "Trend", "x", "z", "default", "gen"]));
    }

    #[test]
    fn a_local_export_and_a_computed_dynamic_import_are_ignored() {
        let src = "export const a = 1; export { a as b }; export default function () {}; import(name);";
        assert!(specs(src).is_empty());
    }
}
