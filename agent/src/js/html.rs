//! `Response.html()`: k6's selection API over an HTML body, a subset
//! (`find`, `text`, `attr`, `html`, `each`, `size`, `first`, `last`, `eq`).
//! The body is parsed by `tl` (no dependencies, a few thousand lines) each
//! time a selection is evaluated; a selection is the chain of steps that
//! made it, evaluated here, so no parsed document outlives the call.
//!
//! Compound selectors are `tl`'s: tag, `#id`, `.class`, `*`, `[attr]`,
//! `[attr=v]` (and `~=`, `^=`, `$=`, `*=`), and `a.b`; lists (`a, b`), the
//! descendant (`a b`) and child (`a > b`) combinators are evaluated here
//! (`tl` parses but does not match them). Pseudo-classes (`:first-child`)
//! and sibling combinators are refused by name. Text is as written in the
//! page (entities are not decoded).

/// One step of a selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `find(selector)`: the matching descendants of each element.
    Find(String),
    /// `eq(i)` (`first()` is 0, `last()` is -1).
    Eq(i64),
}

/// An element as the script reads it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Tag name, lower case.
    pub name: String,
    /// Its text (descendants' text concatenated).
    pub text: String,
    /// Its inner HTML.
    pub html: String,
    /// Its attributes, in order (valueless ones as "").
    pub attrs: Vec<(String, String)>,
}

/// Elements one selection may return.
pub const MAX_ELEMENTS: usize = 10_000;

/// Evaluates `steps` on `body`.
pub fn select(body: &str, steps: &[Step]) -> Result<Vec<Element>, String> {
    let dom =
        tl::parse(body, tl::ParserOptions::default()).map_err(|e| format!("html(): cannot parse the body: {e}"))?;
    let parser = dom.parser();
    // `None`: the document itself (before the first find).
    let mut current: Option<Vec<tl::NodeHandle>> = None;
    for step in steps {
        match step {
            Step::Find(sel) => {
                let mut out = Vec::new();
                for group in split_list(sel) {
                    out.extend(find(&dom, current.as_deref(), &chain(group).ok_or_else(|| bad(sel))?, sel)?);
                }
                out.sort();
                out.dedup();
                out.truncate(MAX_ELEMENTS);
                current = Some(out);
            }
            Step::Eq(i) => {
                let nodes = current.take().unwrap_or_default();
                let at = if *i < 0 { nodes.len() as i64 + i } else { *i };
                current = Some(usize::try_from(at).ok().and_then(|a| nodes.get(a).copied()).into_iter().collect());
            }
        }
    }
    let Some(nodes) = current else {
        // The document: its text and HTML.
        return Ok(vec![Element {
            name: "#document".into(),
            text: dom.children().iter().filter_map(|h| h.get(parser)).map(|n| n.inner_text(parser)).collect(),
            html: body.to_string(),
            attrs: Vec::new(),
        }]);
    };
    Ok(nodes
        .iter()
        .filter_map(|h| h.get(parser).and_then(tl::Node::as_tag))
        .map(|t| Element {
            name: t.name().as_utf8_str().to_ascii_lowercase(),
            text: t.inner_text(parser).into_owned(),
            html: t.inner_html(parser),
            attrs: t
                .attributes()
                .iter()
                .map(|(k, v)| (k.into_owned(), v.map(|v| v.into_owned()).unwrap_or_default()))
                .collect(),
        })
        .collect())
}

/// How a compound selector relates to the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comb {
    Descendant,
    Child,
}

/// `a, b` → `a`, `b` (outside brackets and quotes).
fn split_list(sel: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None, 0);
    for (i, c) in sel.char_indices() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            ('[', None) => depth += 1,
            (']', None) => depth -= 1,
            (',', None) if depth == 0 => {
                out.push(sel[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(sel[start..].trim());
    out
}

/// `ul#items > li a` → [(Descendant, `ul#items`), (Child, `li`),
/// (Descendant, `a`)]; `None` when it is malformed.
fn chain(group: &str) -> Option<Vec<(Comb, String)>> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut cur, mut comb) = (0i32, None, String::new(), Comb::Descendant);
    let flush = |cur: &mut String, comb: &mut Comb, out: &mut Vec<(Comb, String)>| {
        if !cur.is_empty() {
            out.push((*comb, std::mem::take(cur)));
            *comb = Comb::Descendant;
        }
    };
    for c in group.chars() {
        match (c, quote) {
            ('"' | '\'', None) => {
                quote = Some(c);
                cur.push(c);
            }
            (q, Some(open)) if q == open => {
                quote = None;
                cur.push(c);
            }
            ('[', None) => {
                depth += 1;
                cur.push(c);
            }
            (']', None) => {
                depth -= 1;
                cur.push(c);
            }
            ('>', None) if depth == 0 => {
                flush(&mut cur, &mut comb, &mut out);
                if out.is_empty() {
                    return None;
                }
                comb = Comb::Child;
            }
            (c, None) if depth == 0 && c.is_whitespace() => flush(&mut cur, &mut comb, &mut out),
            (c, _) => cur.push(c),
        }
    }
    flush(&mut cur, &mut comb, &mut out);
    (!out.is_empty() && comb == Comb::Descendant).then_some(out)
}

/// The elements matching `chain` under `scope` (the document when `None`).
fn find(
    dom: &tl::VDom<'_>,
    scope: Option<&[tl::NodeHandle]>,
    chain: &[(Comb, String)],
    sel: &str,
) -> Result<Vec<tl::NodeHandle>, String> {
    let parser = dom.parser();
    let mut current: Option<Vec<tl::NodeHandle>> = scope.map(<[_]>::to_vec);
    for (comb, compound) in chain {
        if compound.contains(':') || compound.contains('+') || (compound.contains('~') && !compound.contains("~=")) {
            return Err(bad(sel));
        }
        let mut out = Vec::new();
        match &current {
            None => out.extend(dom.query_selector(compound).ok_or_else(|| bad(sel))?),
            Some(nodes) => {
                for h in nodes {
                    let Some(tag) = h.get(parser).and_then(tl::Node::as_tag) else { continue };
                    let below: Vec<tl::NodeHandle> =
                        tag.query_selector(parser, compound).ok_or_else(|| bad(sel))?.collect();
                    match comb {
                        Comb::Descendant => out.extend(below),
                        Comb::Child => out.extend(tag.children().top().iter().filter(|c| below.contains(c)).copied()),
                    }
                }
            }
        }
        out.retain(|h| h.get(parser).and_then(tl::Node::as_tag).is_some());
        out.sort();
        out.dedup();
        if out.len() > MAX_ELEMENTS * 10 {
            return Err(format!("html(): selector {sel:?} matches more than {} elements", MAX_ELEMENTS * 10));
        }
        current = Some(out);
    }
    Ok(current.unwrap_or_default())
}

fn bad(sel: &str) -> String {
    format!("html(): selector {sel:?} is not supported (tag, #id, .class, [attr], [attr=value], a b, a > b, a, b)")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<html><body>
<ul id="items"><li class="item a" data-id="7"><a href="/i/7">Seven</a></li><li class="item" data-id="8"><a href="/i/8">Eight</a></li></ul>
<form><input type="hidden" name="csrf" value="tok-1"></form>
</body></html>"#;

    fn find(s: &str) -> Step {
        Step::Find(s.into())
    }

    #[test]
    fn finds_by_selector_and_chains() {
        let items = select(PAGE, &[find("li.item")]).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].text, "Seven");
        assert_eq!(items[1].attrs.iter().find(|(k, _)| k == "data-id").unwrap().1, "8");
        let csrf = select(PAGE, &[find("input[name=csrf]")]).unwrap();
        assert_eq!(csrf[0].attrs.iter().find(|(k, _)| k == "value").unwrap().1, "tok-1");
        let links = select(PAGE, &[find("#items"), find("a")]).unwrap();
        assert_eq!(links.iter().map(|e| e.text.as_str()).collect::<Vec<_>>(), ["Seven", "Eight"]);
        let text = |steps: &[Step]| select(PAGE, steps).unwrap().iter().map(|e| e.text.clone()).collect::<Vec<_>>();
        assert_eq!(text(&[find("#items a")]), ["Seven", "Eight"], "descendant");
        assert_eq!(text(&[find("ul > li > a")]), ["Seven", "Eight"], "child");
        assert!(text(&[find("ul > a")]).is_empty(), "a is not a child of ul");
        assert_eq!(text(&[find("body li.a a, form")]), ["Seven", ""], "a list, in document order");
        let last = select(PAGE, &[find("li"), Step::Eq(-1), find("a")]).unwrap();
        assert_eq!(last[0].attrs[0], ("href".to_string(), "/i/8".to_string()));
        assert!(select(PAGE, &[find("li"), Step::Eq(5)]).unwrap().is_empty());
        assert!(select(PAGE, &[find("table")]).unwrap().is_empty());
    }

    #[test]
    fn unsupported_selectors_are_named() {
        let e = select(PAGE, &[find("li:first-child")]).unwrap_err();
        assert!(e.contains("li:first-child"), "{e}");
    }
}
