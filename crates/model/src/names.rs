//! Identities that travel from YAML to verdict: inventory names (with their
//! grammar), `PRODUCT/ROLE` references and `product/flow` tags.
//!
//! Inventory names end up in file names, nftables set and table names,
//! iptables chains, comments, PowerShell strings, HTTP headers. The grammar
//! below keeps every one of those safe by construction; renderers escape as
//! well (defence in depth). A `/` never occurs inside a name, which is what
//! makes `PRODUCT/ROLE` and `product/flow` unambiguous.

use std::fmt;

use schemars::JsonSchema;
use serde::{Serialize, Serializer};

use crate::decode::{Cx, Decode};
use crate::source::{Span, Spanned};
use crate::yaml::Node;

/// Longest inventory name (a DNS label's length): long enough for host
/// names, short enough for interface-derived and chain identifiers.
pub const NAME_MAX: usize = 63;

/// Whether `s` follows the inventory name grammar
/// `[A-Za-z0-9][A-Za-z0-9._-]*`, at most [`NAME_MAX`] characters.
pub fn is_inventory_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= NAME_MAX
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The form backends may reduce a name to (case and punctuation folded):
/// two names of one kind must differ in it, or one backend would merge them.
/// Every character folds to one ASCII byte; names of up to 64 characters
/// stay inline, so comparing 10,000 host names allocates nothing.
pub fn folded_key(s: &str) -> smallvec::SmallVec<[u8; 64]> {
    if !s.is_ascii() {
        return s.chars().map(|c| fold_char(c) as u8).collect();
    }
    let mut key = smallvec::SmallVec::from_slice(s.as_bytes());
    for b in &mut key {
        *b = fold_char(char::from(*b)) as u8;
    }
    key
}

fn fold_char(c: char) -> char {
    if c.is_ascii_alphanumeric() {
        c.to_ascii_lowercase()
    } else {
        '_'
    }
}

/// Why a text is not an inventory name, with a hint, or `None` when it is one.
pub fn name_problem(s: &str) -> Option<(String, String)> {
    if is_inventory_name(s) {
        return None;
    }
    let shown: String = s.chars().take(40).flat_map(char::escape_debug).collect();
    let what = if s.is_empty() {
        "an empty name".to_string()
    } else if s.len() > NAME_MAX {
        format!("`{shown}…` is longer than {NAME_MAX} characters")
    } else if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        format!("`{shown}` contains {}", describe_char(c))
    } else {
        format!("`{shown}` does not start with a letter or digit")
    };
    let fixed: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
        .collect::<String>()
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .chars()
        .take(NAME_MAX)
        .collect();
    let mut hint = "names use ASCII letters, digits, `.`, `_` and `-`, start with a letter or digit, and have at most 63 characters \
                    (they become file names, set names and comments)"
        .to_string();
    if is_inventory_name(&fixed) {
        hint.push_str(&format!(": e.g. `{fixed}`"));
    }
    Some((what, hint))
}

fn describe_char(c: char) -> String {
    match c {
        '/' => "`/` (names become file names, and `/` separates PRODUCT/ROLE)".into(),
        '\n' | '\r' => "a line break".into(),
        '"' | '\'' | '`' => format!("the quote {c}"),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c if !c.is_ascii() => format!("the non-ASCII character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

/// Reports `name` when it breaks the inventory name grammar.
pub fn check_inventory_name(cx: &mut Cx, name: &Spanned<String>, what: &str) {
    if let Some((problem, hint)) = name_problem(&name.value) {
        cx.error("bad-name", name.span, format!("{problem}: not a valid {what} name")).help = Some(hint);
    }
}

/// `PRODUCT/ROLE`: a role of one product of the inventory. Parsed once, at
/// load; nothing downstream splits the text again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleRef {
    pub product: Spanned<String>,
    pub role: Spanned<String>,
}

impl RoleRef {
    pub fn new(product: impl Into<String>, role: impl Into<String>) -> Self {
        Self { product: Spanned::synthetic(product.into()), role: Spanned::synthetic(role.into()) }
    }
    pub fn is(&self, product: &str, role: &str) -> bool {
        self.product.value == product && self.role.value == role
    }
    /// Parses `PRODUCT/ROLE` written at `span` (product and role spans point
    /// into the file), or says why not.
    pub fn parse(s: &str, span: Span) -> Result<Self, &'static str> {
        let (p, r) = s.split_once('/').ok_or("no `/` between product and role")?;
        if p.is_empty() || r.is_empty() || r.contains('/') {
            return Err("write exactly one product and one role around one `/`");
        }
        Ok(Self {
            product: Spanned::new(p.to_string(), Span::new(span.offset, p.len())),
            role: Spanned::new(r.to_string(), Span::new(span.offset + p.len() + 1, r.len())),
        })
    }
}

impl fmt::Display for RoleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.product.value, self.role.value)
    }
}

impl Serialize for RoleRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for RoleRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RoleRef".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*/[a-z0-9][a-z0-9-]*$", "description": "PRODUCT/ROLE" })
    }
}

impl Decode for RoleRef {
    fn expected() -> String {
        "a role reference `PRODUCT/ROLE`".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let s = cx.text(n)?;
        match RoleRef::parse(s, n.span) {
            Ok(r) => Some(r),
            Err(why) => {
                cx.error("bad-role-ref", n.span, format!("`{s}` is not PRODUCT/ROLE: {why}")).help =
                    Some("write the product's name under `products:`, a `/`, and the role id, e.g. `acd/acd-web`".into());
                None
            }
        }
    }
}

/// `product/flow`: the reason a rule exists, as every output names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowTag {
    /// The product's name in the inventory (or `inventory`/`site` for flows
    /// the inventory adds).
    pub product: String,
    pub flow: String,
}

impl FlowTag {
    pub fn new(product: impl Into<String>, flow: impl Into<String>) -> Self {
        Self { product: product.into(), flow: flow.into() }
    }
    /// Parses `product/flow` as a user writes it (e.g. on the command line).
    pub fn parse(s: &str) -> Option<Self> {
        let (p, f) = s.split_once('/')?;
        (!p.is_empty() && !f.is_empty() && !f.contains('/')).then(|| Self::new(p, f))
    }
}

impl fmt::Display for FlowTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.product, self.flow)
    }
}

impl Serialize for FlowTag {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Read back from results files: `product/flow`.
impl<'de> serde::Deserialize<'de> for FlowTag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FlowTag::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not product/flow")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The folded form as text, character by character: the oracle for
    /// [`folded_key`].
    fn folded(s: &str) -> String {
        s.chars().map(fold_char).collect()
    }

    #[test]
    fn grammar_accepts_plain_names_and_refuses_the_rest() {
        for ok in ["acd-web1", "db1.example.com", "core_fw", "A1", "9"] {
            assert!(is_inventory_name(ok), "{ok}");
        }
        for bad in ["", "-x", ".x", "a/b", "a b", "a\"b", "a\nb", "a\u{2019}b", "a\u{202e}b", "a\0b", "../x", &"x".repeat(64)] {
            assert!(!is_inventory_name(bad), "{bad:?}");
            assert!(name_problem(bad).is_some());
        }
    }

    #[test]
    fn fold_merges_what_backends_merge() {
        assert_eq!(folded("Core-FW"), folded("core_fw"));
        assert_ne!(folded("core-fw1"), folded("core-fw2"));
        for s in ["Core-FW", "ä.b", "x".repeat(70).as_str(), ""] {
            assert_eq!(folded_key(s).as_slice(), folded(s).as_bytes(), "{s}");
        }
    }

    #[test]
    fn role_ref_spans_point_at_each_part() {
        let r = RoleRef::parse("acd/acd-web", Span::new(10, 11)).unwrap();
        assert_eq!(r.product.span, Span::new(10, 3));
        assert_eq!(r.role.span, Span::new(14, 7));
        assert_eq!(r.to_string(), "acd/acd-web");
        assert!(RoleRef::parse("acd", Span::default()).is_err());
        assert!(RoleRef::parse("a/b/c", Span::default()).is_err());
        assert!(RoleRef::parse("/b", Span::default()).is_err());
    }
}
