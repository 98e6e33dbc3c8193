//! HTTP Digest access authentication (RFC 7616) for `params.auth:
//! "digest"`: the answer to a server's `WWW-Authenticate: Digest` challenge,
//! with MD5 or SHA-256 (and their `-sess` variants) and `qop=auth` (or no
//! qop, RFC 2069). `auth-int` is not offered: a server that insists on it
//! gets no answer and its 401 stands.

use super::crypto;

/// A server's Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Challenge {
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `opaque`, echoed back.
    pub opaque: Option<String>,
    /// `algorithm`, upper-cased (`MD5` when absent).
    pub algorithm: String,
    /// Whether `qop` offers `auth`.
    pub qop_auth: bool,
    /// Whether the challenge had a `qop` at all.
    pub qop_given: bool,
}

/// The challenge to answer among the `WWW-Authenticate` values: the
/// strongest supported one (SHA-256 before MD5).
pub fn pick<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
    let mut best: Option<Challenge> = None;
    for v in values {
        let Some(c) = parse(v) else { continue };
        let rank = |c: &Challenge| u8::from(c.algorithm.starts_with("SHA-256"));
        if best.as_ref().is_none_or(|b| rank(&c) > rank(b)) {
            best = Some(c);
        }
    }
    best
}

/// Parses one `Digest realm="…", nonce="…", …` value; `None` when it is not
/// a Digest challenge this client can answer.
pub fn parse(value: &str) -> Option<Challenge> {
    let v = value.trim();
    let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
    if !scheme.eq_ignore_ascii_case("digest") {
        return None;
    }
    let mut c = Challenge { algorithm: "MD5".into(), ..Challenge::default() };
    for (k, val) in params(rest) {
        match k.to_ascii_lowercase().as_str() {
            "realm" => c.realm = val,
            "nonce" => c.nonce = val,
            "opaque" => c.opaque = Some(val),
            "algorithm" => c.algorithm = val.to_ascii_uppercase(),
            "qop" => {
                c.qop_given = true;
                c.qop_auth = val.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth"));
            }
            _ => {}
        }
    }
    let supported = matches!(c.algorithm.as_str(), "MD5" | "MD5-SESS" | "SHA-256" | "SHA-256-SESS");
    (supported && !c.nonce.is_empty() && (!c.qop_given || c.qop_auth)).then_some(c)
}

/// `k=v, k="v, with comma"` pairs.
fn params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect::<String>().trim().to_string();
        if key.is_empty() {
            return out;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => val.extend(chars.next()),
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                val.push(c);
                chars.next();
            }
            val = val.trim().to_string();
        }
        out.push((key, val));
    }
}

fn h(alg: &str, data: &str) -> String {
    let name = if alg.starts_with("SHA-256") { "sha256" } else { "md5" };
    crypto::digest(name, data.as_bytes()).unwrap_or_default().iter().map(|b| format!("{b:02x}")).collect()
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The `Authorization` value answering `c` for `method uri` (the request
/// target: path and query), with client nonce `cnonce` and nonce count 1.
pub fn authorization(c: &Challenge, user: &str, pass: &str, method: &str, uri: &str, cnonce: &str) -> String {
    let alg = c.algorithm.as_str();
    let nc = "00000001";
    let mut ha1 = h(alg, &format!("{user}:{}:{pass}", c.realm));
    if alg.ends_with("-SESS") {
        ha1 = h(alg, &format!("{ha1}:{}:{cnonce}", c.nonce));
    }
    let ha2 = h(alg, &format!("{method}:{uri}"));
    let response = if c.qop_auth {
        h(alg, &format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", c.nonce))
    } else {
        h(alg, &format!("{ha1}:{}:{ha2}", c.nonce))
    };
    let mut out = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", algorithm={}, response=\"{response}\"",
        quote(user),
        quote(&c.realm),
        quote(&c.nonce),
        quote(uri),
        c.algorithm
    );
    if c.qop_auth {
        out.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{}\"", quote(cnonce)));
    }
    if let Some(o) = &c.opaque {
        out.push_str(&format!(", opaque=\"{}\"", quote(o)));
    }
    out
}

/// A fresh client nonce (16 random bytes, hex).
pub fn cnonce() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 section 3.9.1: the same request answered with MD5 and SHA-256.
    #[test]
    fn rfc_7616_examples() {
        let challenge = |alg: &str| {
            format!(
                "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm={alg}, \
                 nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
                 opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
            )
        };
        let (md5, sha) = (challenge("MD5"), challenge("SHA-256"));
        let c = pick([md5.as_str(), sha.as_str()]).unwrap();
        assert_eq!(c.algorithm, "SHA-256", "the stronger one is answered");
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let a = authorization(&c, "Mufasa", "Circle of Life", "GET", "/dir/index.html", cnonce);
        assert!(a.contains("response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""), "{a}");
        assert!(a.contains("opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""), "{a}");
        let c = parse(&md5).unwrap();
        let a = authorization(&c, "Mufasa", "Circle of Life", "GET", "/dir/index.html", cnonce);
        assert!(a.contains("response=\"8ca523f5e9506fed4657c9700eebdbec\""), "{a}");
        assert!(a.contains("qop=auth, nc=00000001"), "{a}");
    }

    #[test]
    fn what_cannot_be_answered_is_refused() {
        assert!(parse("Basic realm=\"x\"").is_none());
        assert!(parse("Digest realm=\"x\", nonce=\"n\", algorithm=SHA-512-256").is_none());
        assert!(parse("Digest realm=\"x\", nonce=\"n\", qop=\"auth-int\"").is_none());
        assert!(parse("Digest realm=\"x\"").is_none(), "no nonce");
        let c = parse("Digest realm=\"a, \\\"b\\\"\", nonce=n1").unwrap();
        assert_eq!((c.realm.as_str(), c.nonce.as_str(), c.qop_given), ("a, \"b\"", "n1", false));
    }
}
