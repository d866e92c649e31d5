//! Port sets and the port expressions of the matrix format.

use std::fmt;

use range_set_blaze::RangeSetBlaze;
use schemars::JsonSchema;
use serde::{Serialize, Serializer};

use crate::decode::{Cx, Decode};
use crate::source::{Span, Spanned};
use crate::yaml::{Node, NodeKind};

/// A set of ports (0..=65535), stored as disjoint ranges.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PortSet(RangeSetBlaze<u16>);

impl PortSet {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn all() -> Self {
        Self::range(0, u16::MAX)
    }
    pub fn single(p: u16) -> Self {
        Self(RangeSetBlaze::from_iter([p..=p]))
    }
    /// An inclusive range; empty when `lo > hi`.
    pub fn range(lo: u16, hi: u16) -> Self {
        if lo > hi {
            return Self::new();
        }
        Self(RangeSetBlaze::from_iter([lo..=hi]))
    }
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u16, u16)>) -> Self {
        Self(ranges.into_iter().filter(|(a, b)| a <= b).map(|(a, b)| a..=b).collect())
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn is_all(&self) -> bool {
        *self == Self::all()
    }
    pub fn len(&self) -> usize {
        self.0.len() as usize
    }
    pub fn contains(&self, p: u16) -> bool {
        self.0.contains(p)
    }
    pub fn union(&self, o: &Self) -> Self {
        Self(&self.0 | &o.0)
    }
    pub fn intersection(&self, o: &Self) -> Self {
        Self(&self.0 & &o.0)
    }
    pub fn difference(&self, o: &Self) -> Self {
        Self(&self.0 - &o.0)
    }
    pub fn is_subset(&self, o: &Self) -> bool {
        self.difference(o).is_empty()
    }
    pub fn overlaps(&self, o: &Self) -> bool {
        !self.intersection(o).is_empty()
    }
    /// The ranges, ascending and disjoint, as `(first, last)`.
    pub fn ranges(&self) -> impl Iterator<Item = (u16, u16)> + '_ {
        self.0.ranges().map(|r| (*r.start(), *r.end()))
    }
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.0.iter()
    }
    pub fn first(&self) -> Option<u16> {
        self.0.first()
    }

    /// Parses the canonical form printed by `Display`: `80,443,1000-2000`;
    /// also `any` and the empty string (the empty set).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(Self::new());
        }
        if s.eq_ignore_ascii_case("any") {
            return Ok(Self::all());
        }
        let mut out = Self::new();
        for item in s.split(',') {
            let item = item.trim();
            let (lo, hi) = match item.split_once('-') {
                Some((a, b)) => (parse_port(a)?, parse_port(b)?),
                None => {
                    let p = parse_port(item)?;
                    (p, p)
                }
            };
            if lo > hi {
                return Err(format!("range {item} runs backwards"));
            }
            out = out.union(&Self::range(lo, hi));
        }
        Ok(out)
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    let s = s.trim();
    match s.parse::<u32>() {
        Ok(v) if v <= 65535 => Ok(v as u16),
        Ok(v) => Err(format!("{v} is not a port (0-65535)")),
        Err(_) => Err(format!("`{s}` is not a port number")),
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (a, b) in self.ranges() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}
impl fmt::Debug for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PortSet({self})")
    }
}
/// In JSON a port set is typed: `[80, 443, [8000, 8010]]` (single ports
/// as numbers, ranges as two-number arrays).
impl Serialize for PortSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(None)?;
        for (a, b) in self.ranges() {
            if a == b {
                seq.serialize_element(&a)?;
            } else {
                seq.serialize_element(&[a, b])?;
            }
        }
        seq.end()
    }
}
impl FromIterator<u16> for PortSet {
    fn from_iter<I: IntoIterator<Item = u16>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// A number or a parameter in a port expression, with where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Num(Spanned<u32>),
    Param(Spanned<String>),
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Num(n) => write!(f, "{n}"),
            Term::Param(p) => f.write_str(p),
        }
    }
}

/// One item of a port expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortItem {
    /// `5060`, `jmx_port`
    Single(Term),
    /// `30000-34999`, `rtp_start-rtp_end`
    Range(Term, Term),
    /// `9995+zones`: `zones` ports from 9995 on.
    Count(Term, Term),
    /// `any`: every port.
    Any,
}

/// A port set as written, before parameters have values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortExpr {
    pub items: Vec<PortItem>,
}

/// Why a port expression has no concrete value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// The parameter has no value (no default, not set by the deployment).
    Unset(Spanned<String>),
    /// The value leaves 0..=65535, or a range runs backwards.
    OutOfRange { span: Span, message: String },
}

impl PortExpr {
    pub fn params(&self) -> impl Iterator<Item = &Spanned<String>> {
        self.items.iter().flat_map(|i| {
            let terms: [Option<&Term>; 2] = match i {
                PortItem::Single(a) => [Some(a), None],
                PortItem::Range(a, b) | PortItem::Count(a, b) => [Some(a), Some(b)],
                PortItem::Any => [None, None],
            };
            terms.into_iter().flatten().filter_map(|t| match t {
                Term::Param(p) => Some(p),
                Term::Num(_) => None,
            })
        })
    }

    /// The concrete port set, with `value` giving each parameter's value.
    /// Any `i64` is accepted: arithmetic is checked, and a value that leaves
    /// the port range is an error located at the term that holds it.
    pub fn resolve(&self, value: &dyn Fn(&str) -> Option<i64>) -> Result<PortSet, ResolveError> {
        let term = |t: &Term| -> Result<(i64, Span), ResolveError> {
            match t {
                Term::Num(n) => Ok((i64::from(n.value), n.span)),
                Term::Param(p) => value(p).map(|v| (v, p.span)).ok_or_else(|| ResolveError::Unset(p.clone())),
            }
        };
        let port = |(v, span): (i64, Span), what: &str| -> Result<u16, ResolveError> {
            u16::try_from(v).map_err(|_| ResolveError::OutOfRange { span, message: format!("{what} {v} is not a port (0-65535)") })
        };
        let mut out = PortSet::new();
        for item in &self.items {
            let set = match item {
                PortItem::Any => PortSet::all(),
                PortItem::Single(t) => PortSet::single(port(term(t)?, "port")?),
                PortItem::Range(a, b) => {
                    let (first, last) = (term(a)?, term(b)?);
                    let (lo, hi) = (port(first, "range start")?, port(last, "range end")?);
                    if lo > hi {
                        return Err(ResolveError::OutOfRange {
                            span: cover(first.1, last.1),
                            message: format!("range {lo}-{hi} runs backwards"),
                        });
                    }
                    PortSet::range(lo, hi)
                }
                PortItem::Count(base, count) => {
                    let (b, c) = (term(base)?, term(count)?);
                    let lo = port(b, "base port")?;
                    if c.0 < 1 {
                        return Err(ResolveError::OutOfRange { span: c.1, message: format!("count {} must be at least 1", c.0) });
                    }
                    // `c.0 - 1` cannot overflow (c.0 >= 1); the sum can.
                    let hi = match b.0.checked_add(c.0 - 1) {
                        Some(last) => port((last, c.1), "last port")?,
                        None => {
                            return Err(ResolveError::OutOfRange {
                                span: c.1,
                                message: format!("{} ports from {} run past port 65535", c.0, b.0),
                            })
                        }
                    };
                    PortSet::range(lo, hi)
                }
            };
            out = out.union(&set);
        }
        Ok(out)
    }

    /// Parses a port expression; `span` is where the text stands, so that
    /// errors and parameter names point into the file.
    pub fn parse(text: &str, span: Span) -> Result<Self, (Span, String)> {
        let mut items = Vec::new();
        let mut offset = 0;
        let pieces = text.split(',').count();
        for (i, raw) in text.split(',').enumerate() {
            let lead = raw.len() - raw.trim_start().len();
            let item = raw.trim();
            let item_span = Span::new(span.offset + offset + lead, item.len());
            if item.is_empty() {
                if pieces == 1 {
                    return Err((span, "the port list is empty".into()));
                }
                // Point at the comma that has nothing on one side.
                let comma = if i + 1 < pieces { offset + raw.len() } else { offset - 1 };
                return Err((Span::new(span.offset + comma, 1), "empty item in port list: a comma too many".into()));
            }
            offset += raw.len() + 1;
            items.push(parse_item(item, item_span)?);
        }
        Ok(Self { items })
    }
}

/// The span from the start of `a` to the end of `b`.
fn cover(a: Span, b: Span) -> Span {
    let end = (b.offset + b.len).max(a.offset + a.len);
    Span::new(a.offset, end - a.offset)
}

fn parse_term(s: &str, span: Span) -> Result<Term, (Span, String)> {
    if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() {
        return match s.parse::<u32>() {
            Ok(v) if v <= 65535 => Ok(Term::Num(Spanned::new(v, span))),
            _ => Err((span, format!("{s} is not a port: ports run from 0 to 65535"))),
        };
    }
    let ok = s.starts_with(|c: char| c.is_ascii_lowercase()) && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(Term::Param(Spanned::new(s.to_string(), span)))
    } else {
        Err((span, format!("`{s}` is neither a port number nor a parameter name (parameters use lower case, digits and `_`)")))
    }
}

fn parse_item(item: &str, span: Span) -> Result<PortItem, (Span, String)> {
    if item.eq_ignore_ascii_case("any") {
        return Ok(PortItem::Any);
    }
    for (sep, count) in [('+', true), ('-', false)] {
        if let Some(i) = item.find(sep) {
            let (a, b) = (item[..i].trim(), item[i + 1..].trim());
            let sa = Span::new(span.offset, i);
            let sb = Span::new(span.offset + i + 1, item.len() - i - 1);
            let (ta, tb) = (parse_term(a, sa)?, parse_term(b, sb)?);
            if !count {
                if let (Term::Num(x), Term::Num(y)) = (&ta, &tb) {
                    if x > y {
                        return Err((span, format!("range {x}-{y} runs backwards")));
                    }
                }
            }
            return Ok(if count { PortItem::Count(ta, tb) } else { PortItem::Range(ta, tb) });
        }
    }
    Ok(PortItem::Single(parse_term(item, span)?))
}

impl fmt::Display for PortExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match item {
                PortItem::Any => f.write_str("any")?,
                PortItem::Single(t) => write!(f, "{t}")?,
                PortItem::Range(a, b) => write!(f, "{a}-{b}")?,
                PortItem::Count(a, b) => write!(f, "{a}+{b}")?,
            }
        }
        Ok(())
    }
}

impl Serialize for PortExpr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for PortExpr {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PortExpr".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let item = serde_json::json!({
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 65535},
                {"type": "string", "pattern": "^\\s*(any|[0-9a-z_]+(\\s*[-+]\\s*[0-9a-z_]+)?)(\\s*,\\s*(any|[0-9a-z_]+(\\s*[-+]\\s*[0-9a-z_]+)?))*\\s*$"}
            ]
        });
        schemars::json_schema!({
            "description": "Ports: 5060, \"30000-34999\", \"9995+zones\" (zones ports from 9995), a parameter name, \"any\", or a list of these",
            "anyOf": [item, {"type": "array", "items": item, "minItems": 1}]
        })
    }
}

impl Decode for PortExpr {
    fn expected() -> String {
        "ports: a number, a range like 30000-34999, a parameter, or a list of them".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let parse_one = |n: &Node, cx: &mut Cx| -> Option<Vec<PortItem>> {
            let scalar = n.as_scalar().filter(|_| !matches!(n.describe(), "a boolean" | "nothing (null)"));
            let Some((text, plain)) = scalar else {
                let d = cx.error("wrong-type", n.span, format!("expected {}, found {}", Self::expected(), n.describe()));
                d.label = Some(format!("{} is not a port set", n.describe()));
                d.help = Some("examples: 5060 | 30000-34999 | \"80,443\" | jmx_port | 9995+zones | [1196, 1198-1199]".into());
                return None;
            };
            // Quoted scalars carry their quote; spans then point one byte in.
            let start = if plain { n.span.offset } else { n.span.offset + 1 };
            match PortExpr::parse(text, Span::new(start, text.len())) {
                Ok(e) => Some(e.items),
                Err((span, msg)) => {
                    let hint = if text.contains('>') || text.contains('<') {
                        "write `> 1024` as the range 1025-65535, and `< 1024` as 0-1023".to_string()
                    } else if text.contains('–') || text.contains('—') || text.contains(" to ") {
                        "write ranges with a plain `-`: 30000-34999".to_string()
                    } else if msg.contains("runs backwards") {
                        let range = msg.trim_start_matches("range ").trim_end_matches(" runs backwards");
                        let (hi, lo) = range.split_once('-').unwrap_or((range, range));
                        format!("write the lower port first: {lo}-{hi}")
                    } else if msg.contains("comma too many") {
                        "remove the extra comma".to_string()
                    } else if msg.contains("not a port:") {
                        "ports run from 0 to 65535; check the document for a typo".to_string()
                    } else {
                        "examples: 5060 | 30000-34999 | \"80,443\" | jmx_port | 9995+zones".to_string()
                    };
                    let d = cx.error("bad-port", span, msg);
                    d.help = Some(hint);
                    None
                }
            }
        };
        match &n.kind {
            NodeKind::Seq(items) => {
                let mut out = Vec::new();
                let mut ok = !items.is_empty();
                if items.is_empty() {
                    cx.error("empty-list", n.span, "the port list is empty").help =
                        Some("give at least one port; leave the key out for ICMP flows".into());
                }
                for i in items {
                    match parse_one(i, cx) {
                        Some(v) => out.extend(v),
                        None => ok = false,
                    }
                }
                ok.then_some(PortExpr { items: out })
            }
            _ => parse_one(n, cx).map(|items| PortExpr { items }),
        }
    }
}
