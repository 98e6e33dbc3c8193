//! k6's threshold syntax, parsed and evaluated in one place, so that an
//! extended script's `options.thresholds` and the platform's own thresholds
//! (set on a scenario or a script) mean exactly the same thing.
//!
//! A threshold is a *metric key* and an *expression*:
//!
//! - metric key: `http_req_duration`, or with a tag filter
//!   `http_req_duration{name:login}` / `{method:GET,status:200}`;
//! - expression: `<aggregation> <operator> <number>`, e.g. `p(95)<300`,
//!   `rate<0.01`, `avg <= 120.5`, `count>=100`.
//!
//! Aggregations: `avg`, `min`, `med`, `max`, `p(N)` (0 ≤ N ≤ 100, decimals
//! allowed: `p(99.9)`), `count`, `rate`, `value`. Operators: `<`, `<=`, `>`,
//! `>=`, `==`, `===` (same as `==`), `!=`. Which aggregations apply to which
//! kind of metric follows k6 ([`Aggregation::applies_to`]).
//!
//! Errors carry a 1-based column into the text that was parsed, so a caller
//! can point at the character (`p(95<300`: column 5, "expected `)`").

use std::collections::BTreeMap;
use std::fmt;

/// How a metric's samples are summarised before comparing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregation {
    /// Mean.
    Avg,
    /// Smallest sample.
    Min,
    /// Median (`p(50)`).
    Med,
    /// Largest sample.
    Max,
    /// Percentile 0..=100.
    Percentile(f64),
    /// Number of samples (counter total).
    Count,
    /// Per second (counter) or share of non-zero samples (rate metric).
    Rate,
    /// Last value (gauge).
    Value,
}

impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aggregation::Avg => f.write_str("avg"),
            Aggregation::Min => f.write_str("min"),
            Aggregation::Med => f.write_str("med"),
            Aggregation::Max => f.write_str("max"),
            Aggregation::Percentile(p) => write!(f, "p({p})"),
            Aggregation::Count => f.write_str("count"),
            Aggregation::Rate => f.write_str("rate"),
            Aggregation::Value => f.write_str("value"),
        }
    }
}

/// The four kinds of k6 metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A sum (`http_reqs`, `iterations`).
    Counter,
    /// A last value (`vus`).
    Gauge,
    /// Share of non-zero samples (`http_req_failed`, `checks`).
    Rate,
    /// A distribution (`http_req_duration`).
    Trend,
}

impl Aggregation {
    /// Whether k6 accepts this aggregation on a metric of `kind`.
    pub fn applies_to(self, kind: MetricKind) -> bool {
        match kind {
            MetricKind::Counter => matches!(self, Aggregation::Count | Aggregation::Rate),
            MetricKind::Gauge => matches!(self, Aggregation::Value),
            MetricKind::Rate => matches!(self, Aggregation::Rate),
            MetricKind::Trend => matches!(
                self,
                Aggregation::Avg | Aggregation::Min | Aggregation::Med | Aggregation::Max | Aggregation::Percentile(_)
            ),
        }
    }
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==` or `===`
    Eq,
    /// `!=`
    Ne,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        })
    }
}

/// A parsed expression such as `p(95)<300`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expr {
    /// What is measured.
    pub aggregation: Aggregation,
    /// How it is compared.
    pub op: Op,
    /// The bound it is compared with.
    pub bound: f64,
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.aggregation, self.op, self.bound)
    }
}

impl Expr {
    /// Whether `observed` satisfies the expression. NaN never does.
    pub fn holds(&self, observed: f64) -> bool {
        if observed.is_nan() {
            return false;
        }
        match self.op {
            Op::Lt => observed < self.bound,
            Op::Le => observed <= self.bound,
            Op::Gt => observed > self.bound,
            Op::Ge => observed >= self.bound,
            Op::Eq => observed == self.bound,
            Op::Ne => observed != self.bound,
        }
    }
}

/// A metric name with an optional tag filter: `http_req_duration{name:login}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct MetricKey {
    /// The metric's name.
    pub metric: String,
    /// Tag name → value; only samples carrying every tag count.
    pub tags: BTreeMap<String, String>,
}

impl fmt::Display for MetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.metric)?;
        if !self.tags.is_empty() {
            let tags: Vec<String> = self.tags.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            write!(f, "{{{}}}", tags.join(","))?;
        }
        Ok(())
    }
}

/// Why a text is not a threshold, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based character column in the parsed text.
    pub column: usize,
    /// What was expected or is wrong.
    pub message: String,
    /// The text that was parsed.
    pub input: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}, column {}: {}", self.input, self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Longest expression or key accepted (a threshold is a short line).
pub const MAX_LEN: usize = 500;

struct Cursor<'a> {
    input: &'a str,
    chars: Vec<char>,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(input: &'a str) -> Self {
        Self { input, chars: input.chars().collect(), pos: 0 }
    }
    fn error(&self, at: usize, message: impl Into<String>) -> ParseError {
        ParseError { column: at + 1, message: message.into(), input: self.input.to_string() }
    }
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }
    fn number(&mut self, what: &str) -> Result<f64, ParseError> {
        let start = self.pos;
        let text = self.take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'));
        if text.is_empty() {
            return Err(self.error(start, format!("expected {what}")));
        }
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(self.error(start, format!("{text:?} is not a number"))),
        }
    }
}

/// Parses an expression such as `p(95)<300` or `rate < 0.01`.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let mut c = Cursor::new(input);
    if input.len() > MAX_LEN {
        return Err(c.error(MAX_LEN, format!("longer than {MAX_LEN} characters")));
    }
    c.skip_spaces();
    let start = c.pos;
    let word = c.take_while(|ch| ch.is_ascii_alphabetic());
    let aggregation = match word.as_str() {
        "avg" => Aggregation::Avg,
        "min" => Aggregation::Min,
        "med" => Aggregation::Med,
        "max" => Aggregation::Max,
        "count" => Aggregation::Count,
        "rate" => Aggregation::Rate,
        "value" => Aggregation::Value,
        "p" => {
            c.skip_spaces();
            if !c.eat('(') {
                return Err(c.error(c.pos, "expected `(` after `p`, as in p(95)"));
            }
            c.skip_spaces();
            let at = c.pos;
            let p = c.number("a percentile between 0 and 100")?;
            if !(0.0..=100.0).contains(&p) {
                return Err(c.error(at, format!("percentile {p} is not between 0 and 100")));
            }
            c.skip_spaces();
            if !c.eat(')') {
                return Err(c.error(c.pos, "expected `)`"));
            }
            Aggregation::Percentile(p)
        }
        "" => return Err(c.error(start, "expected an aggregation: avg, min, med, max, p(N), count, rate or value")),
        other => {
            return Err(c.error(
                start,
                format!("unknown aggregation {other:?}: use avg, min, med, max, p(N), count, rate or value"),
            ));
        }
    };
    c.skip_spaces();
    let at = c.pos;
    let op_text = c.take_while(|ch| matches!(ch, '<' | '>' | '=' | '!'));
    let op = match op_text.as_str() {
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "==" | "===" => Op::Eq,
        "!=" => Op::Ne,
        "" => return Err(c.error(at, "expected an operator: <, <=, >, >=, == or !=")),
        other => return Err(c.error(at, format!("unknown operator {other:?}: use <, <=, >, >=, == or !="))),
    };
    c.skip_spaces();
    let bound = c.number("a number after the operator")?;
    c.skip_spaces();
    if c.pos < c.chars.len() {
        return Err(c.error(c.pos, "unexpected text after the number"));
    }
    Ok(Expr { aggregation, op, bound })
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'
}

/// Parses a metric key: `http_req_duration` or `http_req_duration{name:login,method:GET}`.
/// Tag values are trimmed and may contain spaces (`{scenario:my scenario}`).
pub fn parse_metric_key(input: &str) -> Result<MetricKey, ParseError> {
    let mut c = Cursor::new(input);
    if input.len() > MAX_LEN {
        return Err(c.error(MAX_LEN, format!("longer than {MAX_LEN} characters")));
    }
    c.skip_spaces();
    let start = c.pos;
    let metric = c.take_while(is_name_char);
    if metric.is_empty() {
        return Err(c.error(start, "expected a metric name such as http_req_duration"));
    }
    let mut tags = BTreeMap::new();
    c.skip_spaces();
    if c.eat('{') {
        loop {
            c.skip_spaces();
            let at = c.pos;
            let name = c.take_while(is_name_char);
            if name.is_empty() {
                return Err(c.error(at, "expected a tag name, as in {name:login}"));
            }
            c.skip_spaces();
            if !c.eat(':') {
                return Err(c.error(c.pos, "expected `:` between a tag's name and its value"));
            }
            let vat = c.pos;
            let value = c.take_while(|ch| ch != ',' && ch != '}').trim().to_string();
            if value.is_empty() {
                return Err(c.error(vat, format!("tag {name:?} has no value")));
            }
            if tags.insert(name.clone(), value).is_some() {
                return Err(c.error(at, format!("tag {name:?} appears twice")));
            }
            if c.eat(',') {
                continue;
            }
            if c.eat('}') {
                break;
            }
            return Err(c.error(c.pos, "expected `,` or `}`"));
        }
        c.skip_spaces();
    }
    if c.pos < c.chars.len() {
        return Err(c.error(c.pos, "unexpected text after the metric name"));
    }
    Ok(MetricKey { metric, tags })
}

/// One threshold: a metric key, an expression and what to do when it fails.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The metric (and tag filter) it watches.
    pub key: MetricKey,
    /// The expression as written (kept for display).
    pub source: String,
    /// The parsed expression.
    pub expr: Expr,
    /// Stop the test when the threshold fails.
    pub abort_on_fail: bool,
    /// How long it must keep failing before the test stops (k6's
    /// `delayAbortEval`).
    pub grace: std::time::Duration,
}

/// Where a threshold of k6's `options.thresholds` object is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionsError {
    /// `thresholds["http_req_duration"][1]` style path.
    pub path: String,
    /// The position in the text at that path, when it was parsed.
    pub parse: Option<ParseError>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.parse {
            Some(p) => write!(f, "{}: {p}", self.path),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

impl std::error::Error for OptionsError {}

/// Parses k6's `options.thresholds` (as JSON): an object whose keys are metric
/// keys and whose values are an expression, or an array of expressions and
/// `{threshold, abortOnFail, delayAbortEval}` objects.
pub fn parse_options(value: &serde_json::Value) -> Result<Vec<Threshold>, OptionsError> {
    let err = |path: String, message: String| OptionsError { path, parse: None, message };
    let Some(map) = value.as_object() else {
        return Err(err("thresholds".into(), "must be an object of metric → expressions".into()));
    };
    let mut out = Vec::new();
    for (raw_key, v) in map {
        let base = format!("thresholds[{raw_key:?}]");
        let key = parse_metric_key(raw_key).map_err(|p| OptionsError {
            path: base.clone(),
            message: p.message.clone(),
            parse: Some(p),
        })?;
        let items: Vec<&serde_json::Value> = match v {
            serde_json::Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        for (i, item) in items.into_iter().enumerate() {
            let path = format!("{base}[{i}]");
            let (source, abort_on_fail, grace) = match item {
                serde_json::Value::String(s) => (s.clone(), false, std::time::Duration::ZERO),
                serde_json::Value::Object(o) => {
                    let Some(s) = o.get("threshold").and_then(|t| t.as_str()) else {
                        return Err(err(path, "an object needs a `threshold` string".into()));
                    };
                    let abort = match o.get("abortOnFail") {
                        None | Some(serde_json::Value::Null) => false,
                        Some(serde_json::Value::Bool(b)) => *b,
                        Some(_) => return Err(err(format!("{path}.abortOnFail"), "must be true or false".into())),
                    };
                    let grace = match o.get("delayAbortEval") {
                        None | Some(serde_json::Value::Null) => std::time::Duration::ZERO,
                        Some(serde_json::Value::String(d)) => crate::parse_duration(d)
                            .map_err(|e| err(format!("{path}.delayAbortEval"), e.to_string()))?,
                        Some(_) => {
                            return Err(err(format!("{path}.delayAbortEval"), "must be a duration string".into()));
                        }
                    };
                    (s.to_string(), abort, grace)
                }
                _ => return Err(err(path, "must be an expression string or a {threshold, abortOnFail} object".into())),
            };
            let expr = parse(&source).map_err(|p| OptionsError {
                path: path.clone(),
                message: p.message.clone(),
                parse: Some(p),
            })?;
            out.push(Threshold { key: key.clone(), source, expr, abort_on_fail, grace });
        }
    }
    Ok(out)
}

/// What a source of samples can answer for one aggregation. `None`: no data
/// (nothing to judge yet).
pub trait Observe {
    /// The aggregated value, in the metric's unit (ms for durations).
    fn observe(&self, aggregation: Aggregation) -> Option<f64>;
}

impl<F: Fn(Aggregation) -> Option<f64>> Observe for F {
    fn observe(&self, aggregation: Aggregation) -> Option<f64> {
        self(aggregation)
    }
}

/// The outcome of one expression against one source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judged {
    /// The aggregated value.
    pub observed: f64,
    /// Whether the expression holds.
    pub passed: bool,
}

impl Expr {
    /// Evaluates against a source; `None` when it has no data for the
    /// aggregation.
    pub fn judge(&self, source: &impl Observe) -> Option<Judged> {
        source.observe(self.aggregation).map(|observed| Judged { observed, passed: self.holds(observed) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Aggregation::*;

    #[test]
    fn expressions_parse_in_every_k6_form() {
        let cases: &[(&str, Aggregation, Op, f64)] = &[
            ("p(95)<300", Percentile(95.0), Op::Lt, 300.0),
            ("p(99.9) <= 1500", Percentile(99.9), Op::Le, 1500.0),
            (" p( 90 ) < 2.5e2 ", Percentile(90.0), Op::Lt, 250.0),
            ("rate<0.01", Rate, Op::Lt, 0.01),
            ("avg>=10", Avg, Op::Ge, 10.0),
            ("med>5", Med, Op::Gt, 5.0),
            ("min==0", Min, Op::Eq, 0.0),
            ("max===1", Max, Op::Eq, 1.0),
            ("count!=3", Count, Op::Ne, 3.0),
            ("value>=-1", Value, Op::Ge, -1.0),
            ("p(0)<1", Percentile(0.0), Op::Lt, 1.0),
            ("p(100)<1", Percentile(100.0), Op::Lt, 1.0),
        ];
        for (text, aggregation, op, bound) in cases {
            assert_eq!(parse(text), Ok(Expr { aggregation: *aggregation, op: *op, bound: *bound }), "{text}");
        }
    }

    #[test]
    fn bad_expressions_point_at_the_column() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 1, "expected an aggregation"),
            ("p95<300", 2, "expected `(` after `p`"),
            ("p(95<300", 5, "expected `)`"),
            ("p(101)<3", 3, "not between 0 and 100"),
            ("p()<3", 3, "expected a percentile"),
            ("avg 300", 5, "expected an operator"),
            ("avg=>300", 4, "unknown operator \"=>\""),
            ("avg<", 5, "expected a number"),
            ("avg<abc", 5, "expected a number"),
            ("avg<1.2.3", 5, "is not a number"),
            ("avg<300ms", 8, "unexpected text"),
            ("mean<3", 1, "unknown aggregation \"mean\""),
        ];
        for (text, column, message) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.column, *column, "{text}: {e}");
            assert!(e.message.contains(message), "{text}: {e}");
            assert!(e.to_string().contains(&format!("column {column}")), "{e}");
        }
    }

    #[test]
    fn a_huge_expression_is_refused_not_scanned() {
        let e = parse(&"p".repeat(MAX_LEN + 1)).unwrap_err();
        assert!(e.message.contains("longer than"), "{e}");
    }

    #[test]
    fn metric_keys_parse_with_and_without_tags() {
        let k = parse_metric_key("http_req_duration").unwrap();
        assert_eq!((k.metric.as_str(), k.tags.len()), ("http_req_duration", 0));
        let k = parse_metric_key("http_req_duration{name:login, method : GET}").unwrap();
        assert_eq!(k.tags["name"], "login");
        assert_eq!(k.tags["method"], "GET");
        assert_eq!(k.to_string(), "http_req_duration{method:GET,name:login}");
        let k = parse_metric_key("checks{scenario:my scenario}").unwrap();
        assert_eq!(k.tags["scenario"], "my scenario");
    }

    #[test]
    fn bad_metric_keys_point_at_the_column() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 1, "expected a metric name"),
            ("{name:x}", 1, "expected a metric name"),
            ("d{name}", 7, "expected `:`"),
            ("d{:x}", 3, "expected a tag name"),
            ("d{name:}", 8, "has no value"),
            ("d{name:a,name:b}", 10, "appears twice"),
            ("d{name:a", 9, "expected `,` or `}`"),
            ("d x", 3, "unexpected text"),
        ];
        for (text, column, message) in cases {
            let e = parse_metric_key(text).unwrap_err();
            assert_eq!(e.column, *column, "{text}: {e}");
            assert!(e.message.contains(message), "{text}: {e}");
        }
    }

    #[test]
    fn expressions_hold_as_their_operator_says() {
        let cases: &[(&str, f64, bool)] = &[
            ("p(95)<300", 299.9, true),
            ("p(95)<300", 300.0, false),
            ("p(95)<=300", 300.0, true),
            ("rate>0.99", 0.99, false),
            ("rate>=0.99", 0.99, true),
            ("count==3", 3.0, true),
            ("count!=3", 3.0, false),
            ("avg<1", f64::NAN, false),
        ];
        for (text, observed, passed) in cases {
            assert_eq!(parse(text).unwrap().holds(*observed), *passed, "{text} with {observed}");
        }
    }

    #[test]
    fn aggregations_apply_to_metric_kinds_as_in_k6() {
        use MetricKind as K;
        let cases: &[(Aggregation, MetricKind, bool)] = &[
            (Percentile(95.0), K::Trend, true),
            (Avg, K::Trend, true),
            (Rate, K::Trend, false),
            (Rate, K::Rate, true),
            (Avg, K::Rate, false),
            (Count, K::Counter, true),
            (Rate, K::Counter, true),
            (Value, K::Gauge, true),
            (Max, K::Gauge, false),
        ];
        for (a, k, ok) in cases {
            assert_eq!(a.applies_to(*k), *ok, "{a} on {k:?}");
        }
    }

    #[test]
    fn judging_uses_the_sources_aggregate_and_says_when_there_is_none() {
        let source = |a: Aggregation| match a {
            Percentile(95.0) => Some(412.0),
            _ => None,
        };
        let j = parse("p(95)<300").unwrap().judge(&source).unwrap();
        assert_eq!(j, Judged { observed: 412.0, passed: false });
        assert_eq!(parse("avg<300").unwrap().judge(&source), None);
    }

    #[test]
    fn k6_options_thresholds_parse_with_abort_and_delay() {
        let v = serde_json::json!({
            "http_req_duration{name:login}": ["p(95)<300", {"threshold": "p(99)<1000", "abortOnFail": true, "delayAbortEval": "10s"}],
            "http_req_failed": "rate<0.01"
        });
        let t = parse_options(&v).unwrap();
        assert_eq!(t.len(), 3);
        let login: Vec<&Threshold> =
            t.iter().filter(|t| t.key.tags.get("name").is_some_and(|n| n == "login")).collect();
        assert_eq!(login.len(), 2);
        assert!(login[1].abort_on_fail);
        assert_eq!(login[1].grace, std::time::Duration::from_secs(10));
        assert_eq!(login[1].source, "p(99)<1000");
        assert!(t.iter().any(|t| t.key.metric == "http_req_failed" && !t.abort_on_fail));
    }

    #[test]
    fn bad_k6_options_name_the_path_and_column() {
        let cases: &[(serde_json::Value, &str)] = &[
            (serde_json::json!(["p(95)<3"]), "thresholds: must be an object"),
            (serde_json::json!({"d": ["p(95<3"]}), "thresholds[\"d\"][0]: \"p(95<3\", column 5"),
            (serde_json::json!({"d{x}": ["p(95)<3"]}), "thresholds[\"d{x}\"]: \"d{x}\", column 4"),
            (serde_json::json!({"d": [{"abortOnFail": true}]}), "needs a `threshold`"),
            (serde_json::json!({"d": [{"threshold": "avg<1", "abortOnFail": 1}]}), "[0].abortOnFail"),
            (serde_json::json!({"d": [{"threshold": "avg<1", "delayAbortEval": "soon"}]}), "[0].delayAbortEval"),
            (serde_json::json!({"d": [3]}), "must be an expression string"),
        ];
        for (v, want) in cases {
            let e = parse_options(v).unwrap_err().to_string();
            assert!(e.contains(want), "{v}: {e}");
        }
    }
}
