//! Conditions over features: `tts && !legacy-windows`.

use std::fmt;

use schemars::JsonSchema;
use serde::{Serialize, Serializer};

use crate::decode::{Cx, Decode};
use crate::source::{Span, Spanned};
use crate::yaml::Node;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    Feature(Spanned<String>),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

impl Cond {
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
        let tokens = tokenize(text, base)?;
        let mut p = CondParser { tokens, pos: 0, end: base + text.len() };
        let c = p.or()?;
        if let Some((_, span)) = p.tokens.get(p.pos) {
            return Err((*span, "unexpected text after the condition".into()));
        }
        Ok(c)
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
}

impl CondParser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.0)
    }
    fn or(&mut self) -> Result<Cond, (Span, String)> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            left = Cond::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Cond, (Span, String)> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            left = Cond::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Cond, (Span, String)> {
        let Some((tok, span)) = self.tokens.get(self.pos).cloned() else {
            return Err((Span::new(self.end, 0), "the condition ends too early: a feature name is missing".into()));
        };
        self.pos += 1;
        match tok {
            Tok::Not => Ok(Cond::Not(Box::new(self.unary()?))),
            Tok::Name(n) => Ok(Cond::Feature(Spanned::new(n, span))),
            Tok::Open => {
                let c = self.or()?;
                match self.tokens.get(self.pos) {
                    Some((Tok::Close, _)) => {
                        self.pos += 1;
                        Ok(c)
                    }
                    _ => Err((span, "this parenthesis is never closed".into())),
                }
            }
            _ => Err((span, "expected a feature name, `!` or `(` here".into())),
        }
    }
}

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
        match Cond::parse(&text, base) {
            Ok(c) => Some(c),
            Err((span, msg)) => {
                cx.error("bad-condition", span, msg).help =
                    Some("conditions use feature names, `!`, `&&`, `||` and parentheses: `chat && !legacy`".into());
                None
            }
        }
    }
}
