//! Word splitting: bash and Windows `cmd`, as the shell the command was copied for
//! would read it.
//!
//! The dialect is recognised from the text: a line ending in `^` (cmd's line
//! continuation) or a `^"` with no bash continuation (`\` at a line end) means
//! `cmd`, as Chrome's "Copy as cURL (cmd)" and Firefox's "Copy as cURL (Windows)"
//! produce; anything else is bash.
//!
//! Bash: `'…'`, `"…"` (where `\` escapes only `$ \` " \` and newline), `$'…'`
//! ANSI-C strings (`\n`, `\xHH`, `\uHHHH`, octal, …; Chrome writes them), `\`
//! escapes, backslash-newline continuations, `#` comments. `$NAME` and `${NAME}` are
//! *not* expanded (API docs write `$API_KEY` for the reader to fill in), command
//! substitution is an error. A leading `$ ` prompt and a trailing `;` are tolerated,
//! a trailing `| jq …` is ignored (it only formats the output), and so is what
//! follows `&&` (the caller reports it); other operators (`||`, `;` followed by
//! another command, redirections) are errors, as is a line
//! break that ends the command before more text.
//!
//! cmd: first cmd.exe's pass (`^x` is `x` outside double quotes, `^` at a line end
//! continues the line), then the C runtime's argument splitting (double quotes,
//! `\"`, `""` inside quotes, backslashes literal unless before a quote).

use super::ImportError;

/// One word of the command, with the column (1-based, in characters from the
/// start of the text) where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word {
    pub(super) text: String,
    pub(super) column: usize,
}

/// Splits a pasted command into words and checks that it is one curl command.
/// The returned words start after `curl`.
/// The returned words start after `curl`.
#[cfg(test)]
pub(super) fn split(command: &str) -> Result<Vec<Word>, ImportError> {
    split_first(command).map(|(words, _)| words)
}

/// Like [`split`], but a `&&` ends the command instead of being refused
/// (`curl … && echo done`, a common way to chain a check): the words of the curl
/// command, and the text after `&&`, which is ignored and must be reported.
pub(super) fn split_first(command: &str) -> Result<(Vec<Word>, Option<String>), ImportError> {
    let mut chars: Vec<char> = Vec::with_capacity(command.len());
    chars.extend(command.chars());
    let (words, rest) = if is_cmd(command) { split_cmd(&chars)? } else { split_bash(&chars)? };
    let mut words = words.into_iter();
    match words.next() {
        None => Err(ImportError::whole("the command is empty")),
        Some(first) if is_curl(&first.text) => Ok((words.collect(), rest)),
        Some(first) => Err(ImportError::at(first.column, format!("expected a curl command, found '{}'", first.text))),
    }
}

/// The text after a `&&` at `i`, trimmed.
fn after_and(chars: &[char], i: usize) -> String {
    chars.get(i + 2..).unwrap_or_default().iter().collect::<String>().trim().to_string()
}

fn is_curl(word: &str) -> bool {
    let name = word.rsplit(['/', '\\']).next().unwrap_or(word);
    name.eq_ignore_ascii_case("curl") || name.eq_ignore_ascii_case("curl.exe")
}

/// Recognises the Windows `cmd` dialect (see the module docs).
fn is_cmd(command: &str) -> bool {
    let mut caret_line_end = false;
    let mut backslash_line_end = false;
    for line in command.lines() {
        let line = line.trim_end();
        caret_line_end |= line.ends_with('^');
        backslash_line_end |= line.ends_with('\\');
    }
    caret_line_end || (command.contains("^\"") && !backslash_line_end)
}

/// A word being built: raw bytes (ANSI-C escapes may produce any byte) and the
/// column it started at.
struct Builder {
    words: Vec<Word>,
    bytes: Vec<u8>,
    start: Option<usize>,
}

impl Builder {
    fn new() -> Self {
        Self { words: Vec::new(), bytes: Vec::new(), start: None }
    }

    fn begin(&mut self, column: usize) {
        if self.start.is_none() {
            self.start = Some(column);
        }
    }

    fn push(&mut self, column: usize, c: char) {
        self.begin(column);
        let mut buf = [0u8; 4];
        self.bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }

    fn push_byte(&mut self, column: usize, b: u8) {
        self.begin(column);
        self.bytes.push(b);
    }

    fn finish(&mut self) {
        if let Some(column) = self.start.take() {
            let bytes = std::mem::take(&mut self.bytes);
            let text = match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            };
            self.words.push(Word { text, column });
        }
    }
}

fn at(chars: &[char], i: usize) -> Option<char> {
    chars.get(i).copied()
}

/// Whether only blanks (and `;`) remain from `i` on.
fn only_blanks_from(chars: &[char], i: usize) -> bool {
    chars.get(i..).unwrap_or_default().iter().all(|c| c.is_whitespace() || *c == ';')
}

/// Index of the first character after a leading `$ ` prompt and blanks.
fn skip_prompt(chars: &[char]) -> usize {
    let mut i = 0;
    while at(chars, i).is_some_and(char::is_whitespace) {
        i += 1;
    }
    if at(chars, i) == Some('$') && at(chars, i + 1).is_some_and(char::is_whitespace) {
        i += 1;
    }
    i
}

fn split_bash(chars: &[char]) -> Result<(Vec<Word>, Option<String>), ImportError> {
    let mut b = Builder::new();
    let mut i = skip_prompt(chars);
    while let Some(c) = at(chars, i) {
        let column = i + 1;
        match c {
            ' ' | '\t' | '\r' => {
                b.finish();
                i += 1;
            }
            '\n' => {
                b.finish();
                if !only_blanks_from(chars, i) {
                    return Err(ImportError::at(
                        column,
                        "line break ends the command before its end (end the line with \
                         '\\' to continue it)",
                    ));
                }
                break;
            }
            '\\' => match at(chars, i + 1) {
                None => {
                    b.push(column, '\\');
                    i += 1;
                }
                Some('\n') => i += 2,
                Some('\r') if at(chars, i + 2) == Some('\n') => i += 3,
                Some(next) => {
                    b.push(column, next);
                    i += 2;
                }
            },
            '\'' => {
                b.begin(column);
                let mut j = i + 1;
                loop {
                    match at(chars, j) {
                        None => return Err(ImportError::at(column, "unterminated quote")),
                        Some('\'') => break,
                        Some(q) => b.push(column, q),
                    }
                    j += 1;
                }
                i = j + 1;
            }
            '"' => {
                b.begin(column);
                i = double_quoted(chars, i, &mut b)?;
            }
            '$' => match at(chars, i + 1) {
                Some('\'') => {
                    b.begin(column);
                    i = ansi_c(chars, i, &mut b)?;
                }
                Some('"') => {
                    b.begin(column);
                    i = double_quoted(chars, i + 1, &mut b)?;
                }
                Some('(') => {
                    return Err(ImportError::at(column, "command substitution '$(…)' cannot be imported"));
                }
                _ => {
                    b.push(column, '$');
                    i += 1;
                }
            },
            '`' => {
                return Err(ImportError::at(column, "command substitution '`…`' cannot be imported"));
            }
            '#' if b.start.is_none() => {
                while at(chars, i).is_some_and(|c| c != '\n') {
                    i += 1;
                }
            }
            ';' => {
                b.finish();
                if !only_blanks_from(chars, i) {
                    return Err(ImportError::at(
                        column,
                        "';' is followed by another command: only one command can be imported",
                    ));
                }
                break;
            }
            '|' if at(chars, i + 1) != Some('|') => {
                // `curl … | jq .` only formats what curl prints: the request is the same.
                b.finish();
                break;
            }
            '&' if at(chars, i + 1) == Some('&') => {
                b.finish();
                return Ok((b.words, Some(after_and(chars, i))));
            }
            '|' | '&' | '<' | '>' | '(' | ')' => {
                let op = match (c, at(chars, i + 1)) {
                    ('|', Some('|')) => "||".to_owned(),
                    ('&', Some('&')) => "&&".to_owned(),
                    _ => c.to_string(),
                };
                return Err(ImportError::at(
                    column,
                    format!("shell operator '{op}' cannot be imported: paste the curl command alone"),
                ));
            }
            _ => {
                b.push(column, c);
                i += 1;
            }
        }
    }
    b.finish();
    Ok((b.words, None))
}

/// Reads `"…"` starting at the quote at `open`; returns the index after the
/// closing quote.
fn double_quoted(chars: &[char], open: usize, b: &mut Builder) -> Result<usize, ImportError> {
    let column = open + 1;
    let mut j = open + 1;
    loop {
        let Some(c) = at(chars, j) else {
            return Err(ImportError::at(column, "unterminated quote"));
        };
        match c {
            '"' => return Ok(j + 1),
            '\\' => match at(chars, j + 1) {
                Some('\n') => j += 2,
                Some(e @ ('$' | '`' | '"' | '\\')) => {
                    b.push(column, e);
                    j += 2;
                }
                _ => {
                    b.push(column, '\\');
                    j += 1;
                }
            },
            '$' if at(chars, j + 1) == Some('(') => {
                return Err(ImportError::at(j + 1, "command substitution '$(…)' cannot be imported"));
            }
            '`' => {
                return Err(ImportError::at(j + 1, "command substitution '`…`' cannot be imported"));
            }
            _ => {
                b.push(column, c);
                j += 1;
            }
        }
    }
}

/// Reads a `$'…'` ANSI-C string starting at the `$` at `dollar`; returns the
/// index after the closing quote.
fn ansi_c(chars: &[char], dollar: usize, b: &mut Builder) -> Result<usize, ImportError> {
    let column = dollar + 1;
    let mut j = dollar + 2;
    loop {
        let Some(c) = at(chars, j) else {
            return Err(ImportError::at(column, "unterminated quote"));
        };
        match c {
            '\'' => return Ok(j + 1),
            '\\' => {
                let Some(e) = at(chars, j + 1) else {
                    return Err(ImportError::at(column, "unterminated quote"));
                };
                j += 2;
                match e {
                    'a' => b.push_byte(column, 0x07),
                    'b' => b.push_byte(column, 0x08),
                    'e' | 'E' => b.push_byte(column, 0x1b),
                    'f' => b.push_byte(column, 0x0c),
                    'n' => b.push_byte(column, b'\n'),
                    'r' => b.push_byte(column, b'\r'),
                    't' => b.push_byte(column, b'\t'),
                    'v' => b.push_byte(column, 0x0b),
                    '\\' | '\'' | '"' | '?' => b.push(column, e),
                    '0'..='7' => {
                        let mut value = e.to_digit(8).unwrap_or(0);
                        let mut n = 1;
                        while n < 3 {
                            match at(chars, j).and_then(|d| d.to_digit(8)) {
                                Some(d) => {
                                    value = value * 8 + d;
                                    j += 1;
                                    n += 1;
                                }
                                None => break,
                            }
                        }
                        b.push_byte(column, (value & 0xff) as u8);
                    }
                    'x' | 'u' | 'U' => {
                        let max = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut value: u32 = 0;
                        let mut n = 0;
                        while n < max {
                            match at(chars, j).and_then(|d| d.to_digit(16)) {
                                Some(d) => {
                                    value = value.wrapping_mul(16).wrapping_add(d);
                                    j += 1;
                                    n += 1;
                                }
                                None => break,
                            }
                        }
                        if n == 0 {
                            b.push(column, '\\');
                            b.push(column, e);
                        } else if e == 'x' {
                            b.push_byte(column, (value & 0xff) as u8);
                        } else {
                            b.push(column, char::from_u32(value).unwrap_or('\u{fffd}'));
                        }
                    }
                    'c' => match at(chars, j) {
                        Some(x) if x.is_ascii() => {
                            b.push_byte(column, (x as u8) & 0x1f);
                            j += 1;
                        }
                        _ => {
                            b.push(column, '\\');
                            b.push(column, 'c');
                        }
                    },
                    other => {
                        b.push(column, '\\');
                        b.push(column, other);
                    }
                }
            }
            _ => {
                b.push(column, c);
                j += 1;
            }
        }
    }
}

/// Characters after cmd.exe's pass, each with its column.
type Stream = Vec<(char, usize)>;

/// Windows `cmd`: cmd.exe's pass, then the C runtime's argument splitting.
fn split_cmd(chars: &[char]) -> Result<(Vec<Word>, Option<String>), ImportError> {
    let (stream, rest) = cmd_pass(chars)?;
    Ok((crt_split(&stream)?, rest))
}

/// cmd.exe's pass: removes `^` escapes and `^`-newline continuations outside
/// double quotes, stops at a pipe. Keeps the column of each character.
///
/// Chrome's "Copy as cURL (cmd)" in older versions wrote values in plain
/// `"…"` with every special character `^`-escaped inside (`"^{^\^"a^\^":1^}"`),
/// which cmd.exe itself would mangle; the browser meant the escapes to apply. When
/// a quoted value holds that `^\^"` pattern, carets inside quotes are read as
/// escapes too (see [`old_chrome_quoting`]).
fn cmd_pass(chars: &[char]) -> Result<(Stream, Option<String>), ImportError> {
    let mut out = Vec::with_capacity(chars.len());
    let mut quoted = false;
    let carets_in_quotes = old_chrome_quoting(chars);
    let mut i = skip_prompt(chars);
    while let Some(c) = at(chars, i) {
        let column = i + 1;
        match c {
            '\r' => i += 1,
            '^' if !quoted || carets_in_quotes => {
                let mut j = i + 1;
                while at(chars, j) == Some('\r') {
                    j += 1;
                }
                match at(chars, j) {
                    None => i = j,
                    Some('\n') => {
                        // Continuation: the first character of the next line is taken
                        // literally (which is how Chrome writes a newline: `^` + two).
                        j += 1;
                        while at(chars, j) == Some('\r') {
                            j += 1;
                        }
                        if let Some(next) = at(chars, j) {
                            out.push((next, j + 1));
                        }
                        i = j + 1;
                    }
                    Some(next) => {
                        out.push((next, j + 1));
                        i = j + 1;
                    }
                }
            }
            '"' => {
                quoted = !quoted;
                out.push((c, column));
                i += 1;
            }
            '\n' if !quoted => {
                if !only_blanks_from(chars, i) {
                    return Err(ImportError::at(
                        column,
                        "line break ends the command before its end (end the line with \
                         '^' to continue it)",
                    ));
                }
                break;
            }
            '|' if !quoted && at(chars, i + 1) != Some('|') => break,
            '&' if !quoted && at(chars, i + 1) == Some('&') => return Ok((out, Some(after_and(chars, i)))),
            '&' | '|' | '<' | '>' if !quoted => {
                return Err(ImportError::at(
                    column,
                    format!("shell operator '{c}' cannot be imported: paste the curl command alone"),
                ));
            }
            _ => {
                out.push((c, column));
                i += 1;
            }
        }
    }
    Ok((out, None))
}

/// Whether a plain-quoted value holds `^\^"`: Chrome's old cmd quoting (see
/// [`cmd_pass`]). In today's quoting (`^"…^"`) carets are all outside quotes.
fn old_chrome_quoting(chars: &[char]) -> bool {
    let mut quoted = false;
    let mut i = 0;
    while let Some(c) = at(chars, i) {
        match c {
            '^' if quoted => {
                if at(chars, i + 1) == Some('\\') && at(chars, i + 2) == Some('^') && at(chars, i + 3) == Some('"') {
                    return true;
                }
                i += 1;
            }
            '^' => i += 2,
            '"' => {
                quoted = !quoted;
                i += 1;
            }
            _ => i += 1,
        }
    }
    false
}

/// The Microsoft C runtime's argument splitting.
fn crt_split(stream: &[(char, usize)]) -> Result<Vec<Word>, ImportError> {
    let mut b = Builder::new();
    let mut quote_open: Option<usize> = None;
    let mut i = 0;
    while let Some(&(c, column)) = stream.get(i) {
        match c {
            ' ' | '\t' if quote_open.is_none() => {
                b.finish();
                i += 1;
            }
            '\\' => {
                let mut n = 0;
                while stream.get(i + n).is_some_and(|(c, _)| *c == '\\') {
                    n += 1;
                }
                let before_quote = stream.get(i + n).is_some_and(|(c, _)| *c == '"');
                let kept = if before_quote { n / 2 } else { n };
                for _ in 0..kept {
                    b.push(column, '\\');
                }
                i += n;
                if before_quote && n % 2 == 1 {
                    b.push(column, '"');
                    i += 1;
                } else if before_quote {
                    b.begin(column);
                }
            }
            '"' => {
                b.begin(column);
                if quote_open.is_some() {
                    if stream.get(i + 1).is_some_and(|(c, _)| *c == '"') {
                        b.push(column, '"');
                        i += 2;
                    } else {
                        quote_open = None;
                        i += 1;
                    }
                } else {
                    quote_open = Some(column);
                    i += 1;
                }
            }
            '\n' if quote_open.is_none() => {
                b.finish();
                i += 1;
            }
            _ => {
                b.push(column, c);
                i += 1;
            }
        }
    }
    if let Some(column) = quote_open {
        return Err(ImportError::at(column, "unterminated quote"));
    }
    b.finish();
    Ok(b.words)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn texts(command: &str) -> Vec<String> {
        split(command).unwrap().into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn bash_quotes_and_escapes_are_read_as_bash_does() {
        assert_eq!(
            texts(r#"curl 'a b' "c \"d\" \x" e\ f $'g\x41\u00e9\n\'' "$HOME""#),
            ["a b", "c \"d\" \\x", "e f", "gAé\n'", "$HOME"]
        );
    }

    #[test]
    fn backslash_newline_continues_the_word_and_the_line() {
        assert_eq!(texts("curl \\\n  -sS \\\r\n  x\\\ny"), ["-sS", "xy"]);
    }

    #[test]
    fn a_prompt_a_trailing_semicolon_and_a_pipe_are_tolerated() {
        assert_eq!(texts("  $ curl example.com;  \n"), ["example.com"]);
        assert_eq!(texts("curl example.com | jq ."), ["example.com"]);
    }

    #[test]
    fn empty_quotes_make_an_empty_word() {
        assert_eq!(texts("curl -A ''"), ["-A", ""]);
    }

    #[test]
    fn ansi_c_octal_and_control_escapes() {
        assert_eq!(texts(r"curl $'\101\0\cA\q'"), ["A\0\u{1}\\q"]);
    }

    #[test]
    fn cmd_carets_and_continuations_are_read_as_cmd_does() {
        let cmd = "curl ^\"https://x.test/a?b=1^&c=2^\" ^\n  -H ^\"a: b^\" ^\n  --data-raw ^\"^{^\\^\"k^\\^\":^\\^\"v w^\\^\"^}^\"";
        assert_eq!(texts(cmd), ["https://x.test/a?b=1&c=2", "-H", "a: b", "--data-raw", r#"{"k":"v w"}"#]);
    }

    #[test]
    fn cmd_newline_inside_data_is_caret_and_two_newlines() {
        let cmd = "curl ^\"x.test^\" ^\n  --data-raw ^\"a^\n\nb^\"";
        assert_eq!(texts(cmd), ["x.test", "--data-raw", "a\nb"]);
    }

    #[test]
    fn old_chrome_cmd_quoting_escapes_inside_plain_quotes() {
        let cmd = r#"curl "https://x.test/a" -H "sec-ch-ua: ^\^"A^\^";v=^\^"9^\^"" --data-binary "^{^\^"k^\^":^\^"v w^\^"^}""#;
        assert_eq!(
            texts(cmd),
            ["https://x.test/a", "-H", r#"sec-ch-ua: "A";v="9""#, "--data-binary", r#"{"k":"v w"}"#]
        );
    }

    #[test]
    fn what_follows_and_and_is_returned_not_refused() {
        let (words, rest) = split_first("curl -s https://x.test/health && echo ok").unwrap();
        assert_eq!(words.into_iter().map(|w| w.text).collect::<Vec<_>>(), ["-s", "https://x.test/health"]);
        assert_eq!(rest.as_deref(), Some("echo ok"));
        let (_, rest) = split_first("curl ^\"https://x.test^\" && echo ok").unwrap();
        assert_eq!(rest.as_deref(), Some("echo ok"), "cmd too");
        assert_eq!(split_first("curl 'a&&b'").unwrap().1, None, "quoted && is data");
    }

    #[test]
    fn firefox_windows_doubles_quotes_inside_quotes() {
        let cmd = "curl \"https://x.test/\" ^\n  --data-raw \"{\"\"a\"\":1}\"";
        assert_eq!(texts(cmd), ["https://x.test/", "--data-raw", r#"{"a":1}"#]);
    }

    #[test]
    fn the_first_word_must_be_curl() {
        let err = split("wget x").unwrap_err();
        assert_eq!(err.to_string(), "expected a curl command, found 'wget' at column 1");
        assert_eq!(texts("/usr/bin/curl x"), ["x"]);
        assert_eq!(texts("curl.exe ^\"x^\""), ["x"]);
    }
}
