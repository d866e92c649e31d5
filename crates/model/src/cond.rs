//! Conditions over features: `tts && !legacy-windows`.

use std::fmt;

use schemars::JsonSchema;
use serde::{Serialize, Serializer};

use crate::decode::{Cx, Decode};
use crate::source::{Span, Spanned};
use crate::yaml::Node;

/// How deeply a condition may nest: every `!`, every parenthesis and every
/// `&&` or `||` adds a level (`a && b && c` is three deep). Real conditions
/// are a few levels deep; a bound keeps the parser and everything that walks
/// a condition (evaluation, display, serialisation, comparison, drop; all
/// recursive) within a small, fixed stack, whatever the file holds.
pub const MAX_DEPTH: usize = 128;

/// Words a condition reads as operators: no feature can be named so.
pub const KEYWORDS: [&str; 3] = ["and", "or", "not"];

/// A condition over features. Those made by [`Cond::parse`] are at most
/// [`MAX_DEPTH`] deep, which bounds the recursion of every method here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    Feature(Spanned<String>),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

impl Cond {
    /// Recursive: bounded by the depth `parse` allows.
    pub fn eval(&self, on: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Cond::Feature(f) => on(f),
            Cond::Not(c) => !c.eval(on),
            Cond::And(a, b) => a.eval(on) && b.eval(on),
            Cond::Or(a, b) => a.eval(on) || b.eval(on),
        }
    }
    pub fn features(&self) -> Vec<&Spanned<String>> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }
    fn collect<'a>(&'a self, out: &mut Vec<&'a Spanned<String>>) {
        match self {
            Cond::Feature(f) => out.push(f),
            Cond::Not(c) => c.collect(out),
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.collect(out);
                b.collect(out);
            }
        }
    }

    /// Parses a condition; `base` is the byte offset of `text` in its file.
    pub fn parse(text: &str, base: usize) -> Result<Self, (Span, String)> {
        Self::parse_located(text, base).map_err(|e| (e.span, e.message))
    }

    fn parse_located(text: &str, base: usize) -> Result<Self, CondError> {
        let tokens = tokenize(text, base).map_err(CondError::syntax)?;
        let mut p = CondParser { tokens, pos: 0, end: base + text.len(), nesting: 0 };
        let (c, _) = p.or()?;
        if let Some((_, span)) = p.tokens.get(p.pos) {
            return Err(CondError::syntax((*span, "unexpected text after the condition".into())));
        }
        Ok(c)
    }
}

/// Why a condition does not parse, and what to do about it.
struct CondError {
    code: &'static str,
    span: Span,
    message: String,
    help: &'static str,
}

impl CondError {
    fn syntax((span, message): (Span, String)) -> Self {
        Self {
            code: "bad-condition",
            span,
            message,
            help: "conditions use feature names, `!`, `&&`, `||` and parentheses: `chat && !legacy`",
        }
    }
    fn too_deep(span: Span) -> Self {
        Self {
            code: "condition-too-deep",
            span,
            message: format!("the condition nests more than {MAX_DEPTH} levels deep here"),
            help: "each `!`, parenthesis, `&&` and `||` adds a level: write the condition more simply, \
                   or describe the case with a feature of its own",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Not,
    And,
    Or,
    Open,
    Close,
}

fn tokenize(text: &str, base: usize) -> Result<Vec<(Tok, Span)>, (Span, String)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        let span1 = Span::new(base + i, 1);
        match c {
            ' ' | '\t' | '\n' => i += 1,
            '!' => {
                out.push((Tok::Not, span1));
                i += 1
            }
            '(' => {
                out.push((Tok::Open, span1));
                i += 1
            }
            ')' => {
                out.push((Tok::Close, span1));
                i += 1
            }
            '&' | '|' => {
                if bytes.get(i + 1) != Some(&bytes[i]) {
                    return Err((span1, format!("write `{c}{c}`, not `{c}`")));
                }
                out.push((if c == '&' { Tok::And } else { Tok::Or }, Span::new(base + i, 2)));
                i += 2
            }
            c if c.is_ascii_alphanumeric() => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'-' || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &text[start..i];
                let tok = match word {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    _ => Tok::Name(word.to_string()),
                };
                debug_assert!(matches!(tok, Tok::Name(_)) != KEYWORDS.contains(&word));
                out.push((tok, Span::new(base + start, i - start)));
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err((Span::new(base + i, ch.len_utf8()), format!("unexpected `{ch}` in condition")));
            }
        }
    }
    Ok(out)
}

struct CondParser {
    tokens: Vec<(Tok, Span)>,
    pos: usize,
    end: usize,
    /// Open parentheses and `!` around the current token.
    nesting: usize,
}

/// A parsed subcondition and the depth of its tree.
type Parsed = (Cond, usize);

/// What the parser is in the middle of. The parser keeps these on a stack
/// of its own instead of recursing, so that its stack use does not grow with
/// the nesting of the condition; it reads the tokens in the same order and
/// reports the same first error as a recursive descent over
/// `or := and ('||' and)*`, `and := unary ('&&' unary)*`,
/// `unary := '!' unary | '(' or ')' | NAME` would.
enum Pending {
    /// An `or`: the `||` chain so far and the `&&` chain so far, each with
    /// the operator that waits for its right operand.
    Or { or_chain: Option<(Parsed, Span)>, and_chain: Option<(Parsed, Span)> },
    /// A `!` at this span, waiting for its operand.
    Not(Span),
    /// A `(` at this span, waiting for its `or` and then `)`.
    Open(Span),
}

impl CondParser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.0)
    }
    /// Depth of a new node over `below`, refused past `MAX_DEPTH` at `span`.
    fn deeper(below: usize, span: Span) -> Result<usize, CondError> {
        if below >= MAX_DEPTH {
            return Err(CondError::too_deep(span));
        }
        Ok(below + 1)
    }
    /// Reads prefix operators up to a feature name, which it returns.
    fn operand(&mut self, pending: &mut Vec<Pending>) -> Result<Parsed, CondError> {
        loop {
            let Some((tok, span)) = self.tokens.get(self.pos).cloned() else {
                return Err(CondError::syntax((Span::new(self.end, 0), "the condition ends too early: a feature name is missing".into())));
            };
            self.pos += 1;
            match tok {
                Tok::Name(n) => return Ok((Cond::Feature(Spanned::new(n, span)), 1)),
                Tok::Not | Tok::Open => {
                    self.nesting = Self::deeper(self.nesting, span)?;
                    if tok == Tok::Not {
                        pending.push(Pending::Not(span));
                    } else {
                        pending.push(Pending::Open(span));
                        pending.push(Pending::Or { or_chain: None, and_chain: None });
                    }
                }
                _ => return Err(CondError::syntax((span, "expected a feature name, `!` or `(` here".into()))),
            }
        }
    }
    /// The whole condition (up to a token that cannot continue it).
    fn or(&mut self) -> Result<Parsed, CondError> {
        let mut pending = vec![Pending::Or { or_chain: None, and_chain: None }];
        'operand: loop {
            let mut value = self.operand(&mut pending)?;
            // Hand the finished operand to what waits for it, finishing
            // whatever it completes, until something needs another operand.
            loop {
                match pending.last_mut() {
                    Some(Pending::Not(span)) => {
                        let span = *span;
                        pending.pop();
                        self.nesting -= 1;
                        value = (Cond::Not(Box::new(value.0)), Self::deeper(value.1, span)?);
                    }
                    Some(Pending::Or { or_chain, and_chain }) => {
                        if let Some(((left, left_depth), span)) = and_chain.take() {
                            value = (Cond::And(Box::new(left), Box::new(value.0)), Self::deeper(left_depth.max(value.1), span)?);
                        }
                        if self.peek() == Some(&Tok::And) {
                            *and_chain = Some((value, self.tokens[self.pos].1));
                            self.pos += 1;
                            continue 'operand;
                        }
                        if let Some(((left, left_depth), span)) = or_chain.take() {
                            value = (Cond::Or(Box::new(left), Box::new(value.0)), Self::deeper(left_depth.max(value.1), span)?);
                        }
                        if self.peek() == Some(&Tok::Or) {
                            *or_chain = Some((value, self.tokens[self.pos].1));
                            self.pos += 1;
                            continue 'operand;
                        }
                        pending.pop();
                        let Some(Pending::Open(span)) = pending.pop() else {
                            // The outermost `or`: the condition is complete.
                            return Ok(value);
                        };
                        if self.peek() != Some(&Tok::Close) {
                            return Err(CondError::syntax((span, "this parenthesis is never closed".into())));
                        }
                        self.pos += 1;
                        self.nesting -= 1;
                    }
                    Some(Pending::Open(_)) | None => unreachable!("an `or` always waits above a `(` and at the bottom"),
                }
            }
        }
    }
}

/// Recursive: bounded by the depth `parse` allows.
impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn prec(c: &Cond) -> u8 {
            match c {
                Cond::Or(..) => 1,
                Cond::And(..) => 2,
                _ => 3,
            }
        }
        fn wrap(f: &mut fmt::Formatter<'_>, c: &Cond, min: u8) -> fmt::Result {
            if prec(c) < min {
                write!(f, "({c})")
            } else {
                write!(f, "{c}")
            }
        }
        match self {
            Cond::Feature(n) => f.write_str(n),
            Cond::Not(c) => {
                f.write_str("!")?;
                wrap(f, c, 3)
            }
            Cond::And(a, b) => {
                wrap(f, a, 2)?;
                f.write_str(" && ")?;
                wrap(f, b, 3)
            }
            Cond::Or(a, b) => {
                wrap(f, a, 1)?;
                f.write_str(" || ")?;
                wrap(f, b, 2)
            }
        }
    }
}

impl Serialize for Cond {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for Cond {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Condition".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "Boolean expression over feature names: `!`, `&&`, `||`, parentheses"
        })
    }
}

impl Decode for Cond {
    fn expected() -> String {
        "a condition over features, like `tts && !legacy`".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let text = String::decode(n, cx)?;
        let plain = n.as_scalar().is_some_and(|s| s.1);
        let base = if plain { n.span.offset } else { n.span.offset + 1 };
        match Cond::parse_located(&text, base) {
            Ok(c) => Some(c),
            Err(e) => {
                cx.error(e.code, e.span, e.message).help = Some(e.help.into());
                None
            }
        }
    }
}
