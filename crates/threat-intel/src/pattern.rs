//! The bounded subset of the STIX 2.1 patterning language interdict evaluates.
//!
//! Supported: one observation `[ ... ]` (several joined by observation-level `OR`), `AND`,
//! `OR` and parentheses inside it, `NOT` before an operator, and `=`/`==`, `!=`/`<>`, `IN`,
//! `LIKE`, `MATCHES` (the `regex` crate: linear time, size-limited; backreferences and
//! look-around are refused), `ISSUBSET` (IPv4 and IPv6 CIDR) on the object paths of
//! [`Field`]. Everything else (`FOLLOWEDBY`, observation-level `AND`, qualifiers, other
//! objects and properties, `<`, `>`, `EXISTS`, `ISSUPERSET`) parses into an
//! [`PatternError::Unsupported`] naming the construct, so callers can count it.

use std::net::IpAddr;

use crate::value::{host_key, parse_cidr, Cidr};

/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 16 * 1024;
/// Deepest nesting of parentheses/brackets accepted.
pub const MAX_DEPTH: usize = 64;
/// Most comparisons in one pattern.
pub const MAX_TESTS: usize = 1024;
/// Largest `MATCHES` regex, in bytes of source.
pub const MAX_REGEX_LEN: usize = 1024;
/// Largest compiled `MATCHES` regex (bytes, `regex` crate size limit).
pub const MAX_REGEX_COMPILED: usize = 1 << 20;

/// Why a pattern is not evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// Not valid STIX patterning syntax.
    #[error("pattern syntax error at byte {offset}: {message}")]
    Syntax {
        /// Byte offset in the pattern.
        offset: usize,
        /// What was expected.
        message: String,
    },
    /// Valid STIX, outside the subset interdict evaluates.
    #[error("unsupported pattern construct `{construct}` at byte {offset}")]
    Unsupported {
        /// Byte offset in the pattern.
        offset: usize,
        /// Stable name of the construct, e.g. `FOLLOWEDBY`, `path:process:name`, `op:>`.
        construct: String,
    },
    /// Over a size or depth limit.
    #[error("pattern over the limit: {0}")]
    Limit(String),
}

impl PatternError {
    /// A stable key for counting: `syntax`, `limit` or `unsupported:<construct>`.
    pub fn key(&self) -> String {
        match self {
            PatternError::Syntax { .. } => "syntax".into(),
            PatternError::Limit(_) => "limit".into(),
            PatternError::Unsupported { construct, .. } => format!("unsupported:{construct}"),
        }
    }
}

/// An object path interdict evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// `domain-name:value`
    Domain,
    /// `url:value`
    Url,
    /// `ipv4-addr:value`
    Ipv4,
    /// `ipv6-addr:value`
    Ipv6,
    /// `network-traffic:dst_ref.value`
    DstValue,
    /// `network-traffic:dst_ref.type`
    DstType,
    /// `file:hashes.'SHA-256'`
    FileSha256,
    /// `x509-certificate:hashes.'SHA-256'`
    CertSha256,
}

impl Field {
    /// The STIX object path.
    pub fn path(self) -> &'static str {
        match self {
            Field::Domain => "domain-name:value",
            Field::Url => "url:value",
            Field::Ipv4 => "ipv4-addr:value",
            Field::Ipv6 => "ipv6-addr:value",
            Field::DstValue => "network-traffic:dst_ref.value",
            Field::DstType => "network-traffic:dst_ref.type",
            Field::FileSha256 => "file:hashes.'SHA-256'",
            Field::CertSha256 => "x509-certificate:hashes.'SHA-256'",
        }
    }
}

/// A literal in a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// Other literal kinds (timestamp, hex, binary): never equal to the values we match.
    Other(String),
}

/// A comparison operator.
#[derive(Debug, Clone)]
pub enum Op {
    /// `=` / `==`
    Eq(Literal),
    /// `!=` / `<>`
    Ne(Literal),
    /// `IN (...)`
    In(Vec<Literal>),
    /// `LIKE '...'` (`%` any run, `_` one character, anchored; matched without a regex)
    Like(Vec<char>),
    /// `MATCHES '...'` (compiled, unanchored like `re.search`)
    Matches(String, regex::Regex),
    /// `ISSUBSET 'cidr'`
    IsSubset(Option<Cidr>),
}

/// A comparison expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// All must hold.
    And(Vec<Expr>),
    /// One must hold.
    Or(Vec<Expr>),
    /// `field [NOT] op`.
    Test {
        /// The object path.
        field: Field,
        /// `NOT` before the operator.
        negated: bool,
        /// The operator and its operand.
        op: Op,
    },
}

/// A parsed pattern: one or more observations, any of which matching is a match.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// Observation expressions joined by `OR`.
    pub observations: Vec<Expr>,
}

/// One object interdict can observe (a single SCO as the matcher sees it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    /// A domain name (normalised: lowercase A-labels, no trailing dot).
    Domain(String),
    /// A URL as found.
    Url(String),
    /// An IP address.
    Ip(IpAddr),
    /// A file's SHA-256 (lowercase hex).
    FileSha256(String),
    /// A certificate's SHA-256 (lowercase hex).
    CertSha256(String),
    /// A network-traffic object whose `dst_ref` is a domain name or address.
    Traffic(Box<Object>),
}

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LBrack,
    RBrack,
    LParen,
    RParen,
    Comma,
    Colon,
    Dot,
    Op(&'static str),
    Word(String),
    Str(String),
    Num(String),
    Prefixed(char, String),
}

struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

fn syntax(offset: usize, message: impl Into<String>) -> PatternError {
    PatternError::Syntax {
        offset,
        message: message.into(),
    }
}

fn unsupported(offset: usize, c: impl Into<String>) -> PatternError {
    PatternError::Unsupported {
        offset,
        construct: c.into(),
    }
}

impl<'a> Lexer<'a> {
    fn skip_ws(&mut self) -> Result<(), PatternError> {
        loop {
            let rest = &self.s[self.pos..];
            let mut it = rest.char_indices();
            match it.next() {
                Some((_, c)) if c.is_whitespace() => self.pos += c.len_utf8(),
                Some(_) if rest.starts_with("/*") => match rest[2..].find("*/") {
                    Some(e) => self.pos += e + 4,
                    None => return Err(syntax(self.pos, "unterminated comment")),
                },
                Some(_) if rest.starts_with("//") => {
                    self.pos += rest.find('\n').unwrap_or(rest.len());
                }
                _ => return Ok(()),
            }
        }
    }

    fn string(&mut self) -> Result<String, PatternError> {
        // At the opening quote.
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let bytes = self.s.as_bytes();
        loop {
            let Some(&b) = bytes.get(self.pos) else {
                return Err(syntax(start, "unterminated string literal"));
            };
            match b {
                b'\'' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => match bytes.get(self.pos + 1) {
                    Some(b'\'') => {
                        out.push('\'');
                        self.pos += 2;
                    }
                    Some(b'\\') => {
                        out.push('\\');
                        self.pos += 2;
                    }
                    _ => {
                        return Err(syntax(
                            self.pos,
                            "only \\' and \\\\ are escapes in STIX string literals",
                        ))
                    }
                },
                _ => {
                    let c = self.s[self.pos..].chars().next().unwrap_or('\u{fffd}');
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }

    fn next(&mut self) -> Result<Option<(usize, Tok)>, PatternError> {
        self.skip_ws()?;
        let start = self.pos;
        let rest = &self.s[self.pos..];
        let Some(c) = rest.chars().next() else {
            return Ok(None);
        };
        let one = |t: Tok, l: &mut Lexer<'_>| {
            l.pos += 1;
            Ok(Some((start, t)))
        };
        match c {
            '[' => return one(Tok::LBrack, self),
            ']' => return one(Tok::RBrack, self),
            '(' => return one(Tok::LParen, self),
            ')' => return one(Tok::RParen, self),
            ',' => return one(Tok::Comma, self),
            ':' => return one(Tok::Colon, self),
            '.' if !rest[1..].starts_with(|c: char| c.is_ascii_digit()) => {
                return one(Tok::Dot, self)
            }
            '\'' => return Ok(Some((start, Tok::Str(self.string()?)))),
            _ => {}
        }
        for op in ["==", "!=", "<>", "<=", ">=", "=", "<", ">"] {
            if rest.starts_with(op) {
                self.pos += op.len();
                return Ok(Some((start, Tok::Op(op))));
            }
        }
        if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' {
            let len = rest
                .char_indices()
                .skip(1)
                .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '+' || *c == '-'))
                .map_or(rest.len(), |(i, _)| i);
            self.pos += len;
            return Ok(Some((start, Tok::Num(rest[..len].to_string()))));
        }
        if c.is_ascii_alphabetic() || c == '_' {
            if matches!(c, 't' | 'h' | 'b') && rest[1..].starts_with('\'') {
                self.pos += 1;
                let s = self.string()?;
                return Ok(Some((start, Tok::Prefixed(c, s))));
            }
            let len = rest
                .char_indices()
                .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
                .map_or(rest.len(), |(i, _)| i);
            self.pos += len;
            return Ok(Some((start, Tok::Word(rest[..len].to_string()))));
        }
        Err(syntax(
            start,
            format!("unexpected character `{}`", c.escape_debug()),
        ))
    }
}

// ---------------------------------------------------------------- parser

struct Parser {
    toks: Vec<(usize, Tok)>,
    i: usize,
    end: usize,
    depth: usize,
    tests: usize,
}

fn kw(t: &Tok, k: &str) -> bool {
    matches!(t, Tok::Word(w) if w.eq_ignore_ascii_case(k))
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|(_, t)| t)
    }
    fn off(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |(o, _)| *o)
    }
    fn bump(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).map(|(_, t)| t.clone());
        self.i += 1;
        t
    }
    fn expect(&mut self, t: &Tok, what: &str) -> Result<(), PatternError> {
        let off = self.off();
        match self.bump() {
            Some(ref x) if x == t => Ok(()),
            _ => Err(syntax(off, format!("expected {what}"))),
        }
    }
    fn enter(&mut self) -> Result<(), PatternError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(PatternError::Limit(format!(
                "nested deeper than {MAX_DEPTH} at byte {}",
                self.off()
            )));
        }
        Ok(())
    }

    /// observationExpressions joined by OR (AND and FOLLOWEDBY are unsupported).
    fn observations(&mut self, out: &mut Vec<Expr>) -> Result<(), PatternError> {
        self.observation(out)?;
        loop {
            match self.peek() {
                Some(t) if kw(t, "OR") => {
                    self.bump();
                    self.observation(out)?;
                }
                Some(t) if kw(t, "AND") => return Err(unsupported(self.off(), "observation AND")),
                Some(t) if kw(t, "FOLLOWEDBY") => {
                    return Err(unsupported(self.off(), "FOLLOWEDBY"))
                }
                Some(t) if kw(t, "WITHIN") || kw(t, "REPEATS") || kw(t, "START") => {
                    let w = match t {
                        Tok::Word(w) => w.to_ascii_uppercase(),
                        _ => String::new(),
                    };
                    return Err(unsupported(self.off(), w));
                }
                _ => return Ok(()),
            }
        }
    }

    fn observation(&mut self, out: &mut Vec<Expr>) -> Result<(), PatternError> {
        self.enter()?;
        let off = self.off();
        match self.bump() {
            Some(Tok::LBrack) => {
                let e = self.or_expr()?;
                self.expect(&Tok::RBrack, "`]` closing the observation")?;
                out.push(e);
            }
            Some(Tok::LParen) => {
                self.observations(out)?;
                self.expect(&Tok::RParen, "`)` closing the observation group")?;
            }
            _ => return Err(syntax(off, "expected `[` or `(` starting an observation")),
        }
        self.depth -= 1;
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Expr, PatternError> {
        let mut v = vec![self.and_expr()?];
        while self.peek().is_some_and(|t| kw(t, "OR")) {
            self.bump();
            v.push(self.and_expr()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::Or(v)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, PatternError> {
        let mut v = vec![self.test()?];
        while self.peek().is_some_and(|t| kw(t, "AND")) {
            self.bump();
            v.push(self.test()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::And(v)
        })
    }

    fn test(&mut self) -> Result<Expr, PatternError> {
        if self.peek() == Some(&Tok::LParen) {
            self.enter()?;
            self.bump();
            let e = self.or_expr()?;
            self.expect(&Tok::RParen, "`)` closing the comparison group")?;
            self.depth -= 1;
            return Ok(e);
        }
        self.tests += 1;
        if self.tests > MAX_TESTS {
            return Err(PatternError::Limit(format!(
                "more than {MAX_TESTS} comparisons"
            )));
        }
        if self.peek().is_some_and(|t| kw(t, "EXISTS") || kw(t, "NOT")) {
            // `NOT EXISTS` / `EXISTS path`.
            return Err(unsupported(self.off(), "EXISTS"));
        }
        let path_off = self.off();
        let path = self.path()?;
        let mut negated = false;
        if self.peek().is_some_and(|t| kw(t, "NOT")) {
            self.bump();
            negated = true;
        }
        let op_off = self.off();
        let op_tok = self
            .bump()
            .ok_or_else(|| syntax(op_off, "expected a comparison operator"))?;
        let op_name = match &op_tok {
            Tok::Op(o) => o.to_string(),
            Tok::Word(w) => w.to_ascii_uppercase(),
            _ => return Err(syntax(op_off, "expected a comparison operator")),
        };
        let op = match op_name.as_str() {
            "=" | "==" => Op::Eq(self.literal()?),
            "!=" | "<>" => Op::Ne(self.literal()?),
            "IN" => {
                self.expect(&Tok::LParen, "`(` after IN")?;
                let mut v = vec![self.literal()?];
                while self.peek() == Some(&Tok::Comma) {
                    self.bump();
                    v.push(self.literal()?);
                    if v.len() > MAX_TESTS {
                        return Err(PatternError::Limit(format!(
                            "IN list longer than {MAX_TESTS}"
                        )));
                    }
                }
                self.expect(&Tok::RParen, "`)` closing the IN list")?;
                Op::In(v)
            }
            "LIKE" => Op::Like(self.string_lit("LIKE")?.chars().collect()),
            "MATCHES" => {
                let off = self.off();
                let s = self.string_lit("MATCHES")?;
                if s.len() > MAX_REGEX_LEN {
                    return Err(PatternError::Limit(format!(
                        "MATCHES regex longer than {MAX_REGEX_LEN} bytes"
                    )));
                }
                let re = regex::RegexBuilder::new(&s)
                    .size_limit(MAX_REGEX_COMPILED)
                    .dfa_size_limit(MAX_REGEX_COMPILED)
                    .nest_limit(MAX_DEPTH as u32)
                    .build()
                    .map_err(|e| match e {
                        regex::Error::CompiledTooBig(_) => {
                            PatternError::Limit("MATCHES regex compiles too big".into())
                        }
                        _ => unsupported(
                            off,
                            "MATCHES regex (backreference, look-around or PCRE-only syntax)",
                        ),
                    })?;
                Op::Matches(s, re)
            }
            "ISSUBSET" => {
                let s = self.string_lit("ISSUBSET")?;
                Op::IsSubset(parse_cidr(&s))
            }
            "<" | ">" | "<=" | ">=" | "ISSUPERSET" => {
                return Err(unsupported(op_off, format!("op:{op_name}")))
            }
            _ => return Err(syntax(op_off, format!("unknown operator `{op_name}`"))),
        };
        let field = match path {
            Ok(f) => f,
            Err(p) => return Err(unsupported(path_off, format!("path:{p}"))),
        };
        Ok(Expr::Test { field, negated, op })
    }

    fn string_lit(&mut self, what: &str) -> Result<String, PatternError> {
        let off = self.off();
        match self.bump() {
            Some(Tok::Str(s)) => Ok(s),
            _ => Err(syntax(
                off,
                format!("expected a string literal after {what}"),
            )),
        }
    }

    fn literal(&mut self) -> Result<Literal, PatternError> {
        let off = self.off();
        Ok(match self.bump() {
            Some(Tok::Str(s)) => Literal::Str(s),
            Some(Tok::Num(n)) => {
                if let Ok(i) = n.parse::<i64>() {
                    Literal::Int(i)
                } else if let Ok(f) = n.parse::<f64>() {
                    Literal::Float(f)
                } else {
                    return Err(syntax(off, format!("bad number `{n}`")));
                }
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Some(Tok::Prefixed(c, s)) => Literal::Other(format!("{c}'{s}'")),
            _ => return Err(syntax(off, "expected a literal")),
        })
    }

    /// Parses an object path; returns the field or the path text when unsupported.
    fn path(&mut self) -> Result<Result<Field, String>, PatternError> {
        let off = self.off();
        let ty = match self.bump() {
            Some(Tok::Word(w)) => w,
            _ => {
                return Err(syntax(
                    off,
                    "expected an object path such as `domain-name:value`",
                ))
            }
        };
        self.expect(&Tok::Colon, "`:` after the object type")?;
        let mut comps: Vec<String> = Vec::new();
        let off = self.off();
        match self.bump() {
            Some(Tok::Word(w)) => comps.push(w),
            Some(Tok::Str(s)) => comps.push(format!("'{s}'")),
            _ => return Err(syntax(off, "expected a property name")),
        }
        loop {
            match self.peek() {
                Some(Tok::Dot) => {
                    self.bump();
                    let off = self.off();
                    match self.bump() {
                        Some(Tok::Word(w)) => comps.push(w),
                        Some(Tok::Str(s)) => comps.push(format!("'{s}'")),
                        _ => return Err(syntax(off, "expected a property name after `.`")),
                    }
                }
                Some(Tok::LBrack) => {
                    self.bump();
                    let off = self.off();
                    let idx = match self.bump() {
                        Some(Tok::Num(n)) => n,
                        Some(Tok::Op(_)) | Some(Tok::Word(_)) => "*".into(),
                        _ => return Err(syntax(off, "expected an index or `*`")),
                    };
                    self.expect(&Tok::RBrack, "`]` closing the index")?;
                    comps.push(format!("[{idx}]"));
                }
                _ => break,
            }
            if comps.len() > 16 {
                return Err(PatternError::Limit(
                    "object path longer than 16 components".into(),
                ));
            }
        }
        let text = format!("{ty}:{}", comps.join("."));
        let f = match (
            ty.as_str(),
            comps
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice(),
        ) {
            ("domain-name", ["value"]) => Field::Domain,
            ("url", ["value"]) => Field::Url,
            ("ipv4-addr", ["value"]) => Field::Ipv4,
            ("ipv6-addr", ["value"]) => Field::Ipv6,
            ("network-traffic", ["dst_ref", "value"]) => Field::DstValue,
            ("network-traffic", ["dst_ref", "type"]) => Field::DstType,
            ("file", ["hashes", h]) if is_sha256_key(h) => Field::FileSha256,
            ("x509-certificate", ["hashes", h]) if is_sha256_key(h) => Field::CertSha256,
            _ => return Ok(Err(text)),
        };
        Ok(Ok(f))
    }
}

fn is_sha256_key(h: &str) -> bool {
    matches!(
        h,
        "'SHA-256'" | "SHA256" | "'SHA256'" | "sha256" | "'sha256'"
    )
}

/// `LIKE` as the reference matcher does it: `%` any run, `_` one character, anchored at
/// both ends. Iterative with one backtrack point per `%`: O(pattern × value) at worst,
/// both bounded (pattern by [`MAX_PATTERN_LEN`]).
fn like_match(p: &[char], v: &str) -> bool {
    let v: Vec<char> = v.chars().collect();
    let (mut i, mut j) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while j < v.len() {
        match p.get(i) {
            Some('%') => {
                star = Some((i, j));
                i += 1;
            }
            Some(c) if *c == '_' || *c == v[j] => {
                i += 1;
                j += 1;
            }
            _ => match star {
                Some((si, sj)) => {
                    i = si + 1;
                    j = sj + 1;
                    star = Some((si, sj + 1));
                }
                None => return false,
            },
        }
    }
    p[i.min(p.len())..].iter().all(|c| *c == '%')
}

/// Parses a pattern of the supported subset.
pub fn parse(pattern: &str) -> Result<Pattern, PatternError> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(PatternError::Limit(format!(
            "pattern is {} bytes, more than {MAX_PATTERN_LEN}",
            pattern.len()
        )));
    }
    let mut lx = Lexer { s: pattern, pos: 0 };
    let mut toks = Vec::new();
    while let Some(t) = lx.next()? {
        toks.push(t);
    }
    let mut p = Parser {
        toks,
        i: 0,
        end: pattern.len(),
        depth: 0,
        tests: 0,
    };
    let mut obs = Vec::new();
    p.observations(&mut obs)?;
    if p.i < p.toks.len() {
        return Err(syntax(p.off(), "unexpected text after the pattern"));
    }
    Ok(Pattern { observations: obs })
}

// ---------------------------------------------------------------- evaluation

impl Pattern {
    /// Whether the pattern matches an object.
    pub fn matches(&self, o: &Object) -> bool {
        self.observations.iter().any(|e| eval(e, o))
    }

    /// Whether the pattern matches one observation made of several objects (a network
    /// connection and its destination address, say). As in the OASIS reference matcher, the
    /// comparisons of one observation expression bind to one root object (with the objects
    /// it references): `[domain-name:value = 'a' AND ipv4-addr:value = '1.2.3.4']` never
    /// matches.
    pub fn matches_observation(&self, objects: &[Object]) -> bool {
        objects.iter().any(|o| self.matches(o))
    }
}

/// The value of a field on an object, as a string, or `None` when the object has no such
/// property (then every comparison is false, as in the reference matcher).
fn value(field: Field, o: &Object) -> Option<String> {
    match (field, o) {
        (Field::Domain, Object::Domain(d)) => Some(d.clone()),
        (Field::Url, Object::Url(u)) => Some(u.clone()),
        (Field::Ipv4, Object::Ip(ip @ IpAddr::V4(_))) => Some(ip.to_string()),
        (Field::Ipv6, Object::Ip(ip @ IpAddr::V6(_))) => Some(ip.to_string()),
        (Field::FileSha256, Object::FileSha256(h)) => Some(h.clone()),
        (Field::CertSha256, Object::CertSha256(h)) => Some(h.clone()),
        (Field::DstValue, Object::Traffic(inner)) => match inner.as_ref() {
            Object::Domain(d) => Some(d.clone()),
            Object::Ip(ip) => Some(ip.to_string()),
            _ => None,
        },
        (Field::DstType, Object::Traffic(inner)) => match inner.as_ref() {
            Object::Domain(_) => Some("domain-name".into()),
            Object::Ip(IpAddr::V4(_)) => Some("ipv4-addr".into()),
            Object::Ip(IpAddr::V6(_)) => Some("ipv6-addr".into()),
            _ => None,
        },
        _ => None,
    }
}

/// Equality with interdict's documented deviations: hosts compare case-insensitively after
/// IDNA; hashes case-insensitively; IP addresses by value (so `::1` equals `0::1`).
fn equal(field: Field, o: &Object, v: &str, lit: &Literal) -> bool {
    let Literal::Str(l) = lit else { return false };
    let host_like = matches!(field, Field::Domain)
        || (field == Field::DstValue
            && matches!(o, Object::Traffic(b) if matches!(**b, Object::Domain(_))));
    if host_like {
        return host_key(l).is_some_and(|k| k == v);
    }
    match field {
        Field::Ipv4 | Field::Ipv6 | Field::DstValue => {
            match (v.parse::<IpAddr>(), l.parse::<IpAddr>()) {
                (Ok(a), Ok(b)) => a == b,
                _ => v == l,
            }
        }
        Field::FileSha256 | Field::CertSha256 => v.eq_ignore_ascii_case(l),
        _ => v == l,
    }
}

fn eval(e: &Expr, o: &Object) -> bool {
    match e {
        Expr::And(v) => v.iter().all(|e| eval(e, o)),
        Expr::Or(v) => v.iter().any(|e| eval(e, o)),
        Expr::Test { field, negated, op } => {
            let Some(v) = value(*field, o) else {
                return false;
            };
            let r = match op {
                Op::Eq(l) => equal(*field, o, &v, l),
                Op::Ne(l) => !equal(*field, o, &v, l),
                Op::In(ls) => ls.iter().any(|l| equal(*field, o, &v, l)),
                Op::Like(p) => like_match(p, &v),
                Op::Matches(_, re) => re.is_match(&v),
                Op::IsSubset(c) => match (c, v.parse::<IpAddr>()) {
                    (Some(c), Ok(ip)) => c.contains(ip),
                    _ => match (c, parse_cidr(&v)) {
                        (Some(c), Some(inner)) => c.contains_cidr(&inner),
                        _ => false,
                    },
                },
            };
            r != *negated
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Object {
        Object::Domain(s.into())
    }
    fn ip(s: &str) -> Object {
        Object::Ip(s.parse().unwrap())
    }

    #[test]
    fn parses_and_matches_the_shapes_seen_in_feeds() {
        let p = parse("[domain-name:value = 'Evil.Example.']").unwrap();
        assert!(p.matches(&d("evil.example")));
        assert!(!p.matches(&d("x.evil.example")));
        let p = parse("[domain-name:value LIKE '%.evil.example']").unwrap();
        assert!(p.matches(&d("a.evil.example")));
        assert!(!p.matches(&d("evil.example")));
        let p = parse("[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '5.6.7.8']").unwrap();
        assert!(p.matches(&Object::Traffic(Box::new(ip("5.6.7.8")))));
        assert!(!p.matches(&ip("5.6.7.8")));
        let p = parse("[ipv4-addr:value ISSUBSET '198.51.100.0/24' OR ipv6-addr:value ISSUBSET '2001:db8::/32']").unwrap();
        assert!(p.matches(&ip("198.51.100.7")));
        assert!(p.matches(&ip("2001:db8::9")));
        assert!(!p.matches(&ip("198.51.101.7")));
        let p = parse(
            "[url:value MATCHES '^https?://[a-z]+\\\\.evil/'] OR [file:hashes.'SHA-256' = 'AB']",
        )
        .unwrap();
        assert!(p.matches(&Object::Url("https://abc.evil/x".into())));
        assert!(p.matches(&Object::FileSha256("ab".into())));
        let p = parse("[domain-name:value NOT IN ('a.com', 'b.com')]").unwrap();
        assert!(p.matches(&d("c.com")) && !p.matches(&d("a.com")));
        let p = parse("[domain-name:value = 'bücher.example']").unwrap();
        assert!(p.matches(&d("xn--bcher-kva.example")));
    }

    #[test]
    fn like_is_anchored_with_percent_and_underscore() {
        let l = |p: &str, v: &str| like_match(&p.chars().collect::<Vec<_>>(), v);
        assert!(l("%.evil.example", "a.evil.example"));
        assert!(!l("%.evil.example", "evil.example"));
        assert!(l("_.evil%", "a.evil.example"));
        assert!(!l("_.evil", "ab.evil"));
        assert!(l("%", ""));
        assert!(l("a%b%c", "axxbyyc"));
        assert!(!l("a%b%c", "axxbyy"));
        assert!(l("%%", "x"));
        assert!(!l("", "x"));
        assert!(l("10.%", "10.1.2.3"));
    }

    #[test]
    fn unsupported_constructs_are_named() {
        let k = |s: &str| parse(s).unwrap_err().key();
        assert_eq!(k("[file:name = 'x']"), "unsupported:path:file:name");
        assert_eq!(
            k("[domain-name:value = 'a'] FOLLOWEDBY [domain-name:value = 'b']"),
            "unsupported:FOLLOWEDBY"
        );
        assert_eq!(
            k("[domain-name:value = 'a'] AND [domain-name:value = 'b']"),
            "unsupported:observation AND"
        );
        assert_eq!(
            k("[domain-name:value = 'a'] WITHIN 5 SECONDS"),
            "unsupported:WITHIN"
        );
        assert_eq!(k("[file:size > 5]"), "unsupported:op:>");
        assert_eq!(
            k("[url:value MATCHES '(a)\\\\1']"),
            "unsupported:MATCHES regex (backreference, look-around or PCRE-only syntax)"
        );
        assert_eq!(k("[domain-name:value = 'a'"), "syntax");
        assert_eq!(k("domain-name:value = 'a'"), "syntax");
    }

    #[test]
    fn hostile_patterns_are_bounded() {
        let deep = format!(
            "{}[domain-name:value = 'a']{}",
            "(".repeat(10_000),
            ")".repeat(10_000)
        );
        assert_eq!(parse(&deep).unwrap_err().key(), "limit");
        let long = format!("[domain-name:value = '{}']", "a".repeat(1 << 20));
        assert_eq!(parse(&long).unwrap_err().key(), "limit");
        let inner = format!(
            "[domain-name:value = 'a' AND {}domain-name:value = 'a'{}]",
            "(".repeat(100),
            ")".repeat(100)
        );
        assert_eq!(parse(&inner).unwrap_err().key(), "limit");
        // Catastrophic for a backtracking engine, linear here.
        let p = parse("[url:value MATCHES '^(a+)+$']").unwrap();
        assert!(!p.matches(&Object::Url(format!("{}!", "a".repeat(100_000)))));
        let p = parse("[url:value MATCHES '(x{1000}){1000}']");
        assert!(p.is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = parse(&s);
        }
        #[test]
        fn never_panics_on_pattern_like_text(s in "[\\[\\]()' =a-z:._%!<>,0-9\\\\-]{0,120}") {
            if let Ok(p) = parse(&s) { let _ = p.matches(&Object::Domain("a.b".into())); }
        }
    }
}
