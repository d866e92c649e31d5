//! Decoding model types from the YAML tree, collecting every problem.
//!
//! Each struct reads its keys through a [`MapReader`], which remembers which
//! keys were asked for; whatever else the mapping holds is an unknown key and
//! an error (with a "did you mean").

use std::sync::Arc;

use indexmap::IndexMap;
use smallvec::SmallVec;

use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::source::{SourceFile, Span, Spanned};
use crate::yaml::{Node, NodeKind};

/// Where decoded problems go.
pub struct Cx<'a> {
    pub file: &'a Arc<SourceFile>,
    pub diags: &'a mut Diagnostics,
}

impl Cx<'_> {
    pub fn error(&mut self, code: &'static str, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::error(code, self.file, span, message));
        self.diags.items.last_mut().expect("just pushed")
    }
    fn wrong_type(&mut self, n: &Node, expected: &str) {
        self.error("wrong-type", n.span, format!("expected {expected}, found {}", n.describe())).label =
            Some(format!("expected {expected}"));
    }
    /// A string's text as [`String::decode`] reads it, without copying it:
    /// for values parsed further (addresses, role references).
    pub fn text<'n>(&mut self, n: &'n Node<'_>) -> Option<&'n str> {
        match n.as_scalar() {
            Some((t, _)) if !n.is_null() => Some(t),
            _ => {
                self.wrong_type(n, "a string");
                None
            }
        }
    }
    pub fn map<'n>(&mut self, n: &'n Node<'n>, what: &'static str) -> Option<MapReader<'n>> {
        match &n.kind {
            NodeKind::Map(entries) => Some(MapReader { node: n, entries, asked: SmallVec::new(), what, misspelt_required: Vec::new() }),
            _ => {
                self.wrong_type(n, &format!("a mapping ({what})"));
                None
            }
        }
    }
}

/// A type that can be read from a YAML node.
pub trait Decode: Sized {
    /// What a value of this type looks like, for "expected ..." messages.
    fn expected() -> String;
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self>;
}

impl Decode for String {
    fn expected() -> String {
        "a string".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        cx.text(n).map(str::to_string)
    }
}

impl Decode for bool {
    fn expected() -> String {
        "true or false".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        match n.as_scalar() {
            // The YAML 1.2 core schema's spellings (what `describe` calls a boolean).
            Some(("true" | "True" | "TRUE", true)) => Some(true),
            Some(("false" | "False" | "FALSE", true)) => Some(false),
            Some((t, _)) => {
                let help = match t.to_ascii_lowercase().as_str() {
                    "yes" | "y" | "on" => "YAML 1.2 reads `yes`/`on` as text: write `true`".to_string(),
                    "no" | "n" | "off" => "YAML 1.2 reads `no`/`off` as text: write `false`".to_string(),
                    "true" | "false" => {
                        format!("write it without quotes: `{}`", t.to_ascii_lowercase())
                    }
                    _ => "write `true` or `false`".to_string(),
                };
                cx.wrong_type(n, "true or false");
                cx.diags.items.last_mut().expect("just pushed").help = Some(help);
                None
            }
            None => {
                cx.wrong_type(n, "true or false");
                None
            }
        }
    }
}

macro_rules! decode_int {
    ($($t:ty),*) => {$(
        impl Decode for $t {
            fn expected() -> String {
                format!("a whole number from {} to {}", <$t>::MIN, <$t>::MAX)
            }
            fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
                match n.as_scalar() {
                    Some((t, true)) if t.parse::<i128>().is_ok() => match t.parse::<$t>() {
                        Ok(v) => Some(v),
                        Err(_) => {
                            cx.error("out-of-range", n.span, format!("{t} is out of range: expected {}", Self::expected()));
                            None
                        }
                    },
                    _ => {
                        cx.wrong_type(n, &Self::expected());
                        None
                    }
                }
            }
        }
    )*};
}
decode_int!(u16, u32, i64, u64);

impl<T: Decode> Decode for Spanned<T> {
    fn expected() -> String {
        T::expected()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        T::decode(n, cx).map(|v| Spanned::new(v, n.span))
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn expected() -> String {
        format!("a list of {}", T::expected().trim_start_matches("a "))
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        match &n.kind {
            NodeKind::Seq(items) => {
                // Keep what decoded: the errors are recorded, and the rest can
                // still be validated, so that one run reports everything.
                Some(items.iter().filter_map(|i| T::decode(i, cx)).collect())
            }
            _ => {
                cx.wrong_type(n, &Self::expected());
                None
            }
        }
    }
}

/// A single value or a list of them (`proto: tcp` or `proto: [tcp, udp]`).
#[derive(Debug, Clone)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<T: Decode> Decode for OneOrMany<T> {
    fn expected() -> String {
        format!("{} or a list of them", T::expected())
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        match &n.kind {
            NodeKind::Seq(items) if items.is_empty() => {
                cx.error("empty-list", n.span, "the list is empty").help = Some(format!("give {}", T::expected()));
                None
            }
            NodeKind::Seq(_) => Vec::<T>::decode(n, cx).map(OneOrMany),
            _ => T::decode(n, cx).map(|v| OneOrMany(vec![v])),
        }
    }
}

/// Mappings keyed by names keep the file's order (deterministic output that
/// follows the author's layout).
impl<K: Decode + std::hash::Hash + Eq, T: Decode> Decode for IndexMap<Spanned<K>, T> {
    fn expected() -> String {
        format!("a mapping of names to {}", T::expected().trim_start_matches("a "))
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let NodeKind::Map(entries) = &n.kind else {
            if n.is_null() {
                return Some(IndexMap::new());
            }
            cx.wrong_type(n, &Self::expected());
            if matches!(n.kind, NodeKind::Seq(_)) {
                cx.diags.items.last_mut().expect("just pushed").help =
                    Some("write one `name: value` entry per line, without `- `: here the names are keys, not list items".into());
            }
            return None;
        };
        let mut out = IndexMap::with_capacity(entries.len());
        for (k, v) in entries {
            let key = Spanned::<K>::decode(k, cx);
            let val = T::decode(v, cx);
            if let (Some(k), Some(v)) = (key, val) {
                out.insert(k, v);
            }
        }
        Some(out)
    }
}

/// Reads the keys of one mapping and reports those nobody asked for.
pub struct MapReader<'n> {
    node: &'n Node<'n>,
    entries: &'n [(Node<'n>, Node<'n>)],
    /// Inline: a reader is made for every host of an inventory, and most
    /// ask for a few keys (more spill to the heap).
    asked: SmallVec<[&'static str; 12]>,
    what: &'static str,
    /// Required keys that are missing while what looks like a misspelling
    /// of them is present, with what they expect: `finish` reports them once,
    /// at the misspelling (or as missing, if it was a known key after all).
    misspelt_required: Vec<(&'static str, String)>,
}

impl<'n> MapReader<'n> {
    pub fn span(&self) -> Span {
        self.node.span
    }
    pub fn node(&mut self, key: &'static str) -> Option<&'n Node<'n>> {
        self.asked.push(key);
        self.entries.iter().find(|(k, _)| k.as_scalar().map(|s| s.0) == Some(key)).map(|(_, v)| v)
    }
    /// The key's span, for errors about the key rather than its value.
    pub fn key_span(&self, key: &str) -> Option<Span> {
        self.entries.iter().find(|(k, _)| k.as_scalar().map(|s| s.0) == Some(key)).map(|(k, _)| k.span)
    }
    /// An optional key. A null value counts as absent.
    pub fn opt<T: Decode>(&mut self, cx: &mut Cx, key: &'static str) -> Option<T> {
        let n = self.node(key)?;
        if n.is_null() {
            return None;
        }
        T::decode(n, cx)
    }
    /// How the mapping is named in messages: `flow `pacer`` when it has an id.
    fn title(&self) -> String {
        let id = self
            .entries
            .iter()
            .find(|(k, _)| k.as_scalar().map(|s| s.0) == Some("id"))
            .and_then(|(_, v)| v.as_scalar())
            .map(|s| s.0)
            .filter(|s| !s.is_empty());
        match id {
            Some(id) => format!("{} `{id}`", self.what),
            None => self.what.to_string(),
        }
    }
    /// Where a missing key is reported: the mapping's first key, or the
    /// mapping itself when it is empty.
    fn missing_span(&self) -> Span {
        self.entries.first().map_or(self.node.span, |(k, _)| k.span)
    }
    /// A required key; its absence is reported at the mapping's first key
    /// (or, when a misspelling of the key is present, at the misspelling).
    pub fn req<T: Decode>(&mut self, cx: &mut Cx, key: &'static str) -> Option<T> {
        match self.node(key) {
            Some(n) if !n.is_null() => T::decode(n, cx),
            Some(n) => {
                let span = self.key_span(key).unwrap_or(n.span);
                cx.error("missing-key", span, format!("{} has no value for the required key `{key}`", self.title())).help =
                    Some(format!("give `{key}:` {}", T::expected()));
                None
            }
            None => {
                let misspelt = self
                    .entries
                    .iter()
                    .filter_map(|(k, _)| k.as_scalar().map(|s| s.0))
                    .find(|k| *k != key && did_you_mean(k, [key]).is_some());
                if misspelt.is_some() {
                    self.misspelt_required.push((key, T::expected()));
                    return None;
                }
                let d = cx.error("missing-key", self.missing_span(), format!("{} lacks the required key `{key}`", self.title()));
                d.label = Some(format!("this {} has no `{key}`", self.what));
                d.help = Some(format!("add `{key}:` with {}", T::expected()));
                None
            }
        }
    }
    /// Reports every key that was not asked for, and required keys that are
    /// missing.
    pub fn finish(mut self, cx: &mut Cx) {
        // Most mappings have nothing to report: name this one only if needed
        // (it is read for every one of thousands of hosts).
        if self.misspelt_required.is_empty() && self.entries.iter().all(|(k, _)| k.as_scalar().is_some_and(|s| self.asked.contains(&s.0))) {
            return;
        }
        let title = self.title();
        for (k, v) in self.entries {
            let name = k.as_scalar().map(|s| s.0).unwrap_or("");
            if self.asked.contains(&name) {
                continue;
            }
            // `{ about: a, b }` reads as `about: a` and a key `b` with no
            // value: the comma ended the value.
            if v.is_null() && suggestion_is_none(name, &self.asked) {
                let d = cx.error("unknown-key", k.span, format!("unknown key `{name}` in {title}"));
                d.label = Some("a key without a value".into());
                d.help = Some(format!(
                    "inside `{{ }}` a comma ends a value: if `{name}` belongs to the value before it, quote that value (`about: \"a, {name}\"`); \
                     known keys here: {}",
                    self.asked.join(", ")
                ));
                continue;
            }
            let suggestion = did_you_mean(name, self.asked.iter().copied());
            let hint = match suggestion {
                Some(s) if self.misspelt_required.iter().any(|(req, _)| *req == s) => {
                    self.misspelt_required.retain(|(req, _)| *req != s);
                    format!("did you mean `{s}`? `{s}` is required and missing.")
                }
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known keys here: {}.", self.asked.join(", ")),
            };
            let d = cx.error("unknown-key", k.span, format!("unknown key `{name}` in {title}"));
            d.label = Some("not a key of this format".into());
            d.help = Some(format!("{hint} A misspelt key would silently change the meaning, so it is an error."));
        }
        // A near miss that turned out to be a known key: the required key is
        // simply missing.
        for (key, expected) in std::mem::take(&mut self.misspelt_required) {
            let d = cx.error("missing-key", self.missing_span(), format!("{title} lacks the required key `{key}`"));
            d.label = Some(format!("this {} has no `{key}`", self.what));
            d.help = Some(format!("add `{key}:` with {expected}"));
        }
    }
}

fn suggestion_is_none(name: &str, asked: &[&'static str]) -> bool {
    did_you_mean(name, asked.iter().copied()).is_none()
}
