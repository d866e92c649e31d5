//! A YAML document as a tree of nodes that know their byte spans.
//!
//! The model is decoded from this tree by hand (see `decode`) rather than by
//! serde, so that one pass reports every problem of a file with its location,
//! and unknown keys are errors.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use granit_parser::{ErrorKind, Event, Parser, ScalarStyle, StructureStyle, Tag};
use hashbrown::HashTable;

use crate::diag::{Diagnostic, Diagnostics};
use crate::source::{SourceFile, Span, MAX_INPUT_BYTES};

/// A scalar's text borrows from the file where it is written as it reads
/// (most are), so a tree of 100,000 nodes holds few strings of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind<'t> {
    /// A scalar; `plain` is false when it was quoted or a block scalar, and
    /// then it is always a string.
    Scalar {
        text: Cow<'t, str>,
        plain: bool,
    },
    Seq(Vec<Node<'t>>),
    Map(Vec<(Node<'t>, Node<'t>)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node<'t> {
    pub kind: NodeKind<'t>,
    pub span: Span,
}

/// A tree that owns its text (granit's, and aliases' copies).
pub type Owned = Node<'static>;

impl Node<'_> {
    /// What kind of YAML value this is, in the words a user would use.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
            NodeKind::Scalar { plain: false, .. } => "a string",
            NodeKind::Scalar { text, plain: true } => match text.as_ref() {
                "" | "~" | "null" | "Null" | "NULL" => "nothing (null)",
                "true" | "false" | "True" | "False" | "TRUE" | "FALSE" => "a boolean",
                t if t.parse::<i64>().is_ok() => "a number",
                t if t.parse::<f64>().is_ok() => "a number",
                _ => "a string",
            },
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, plain: true } if matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL"))
    }
    /// The number of nodes in this tree.
    pub fn size(&self) -> usize {
        1 + match &self.kind {
            NodeKind::Scalar { .. } => 0,
            NodeKind::Seq(items) => items.iter().map(Node::size).sum(),
            NodeKind::Map(entries) => entries.iter().map(|(k, v)| k.size() + v.size()).sum(),
        }
    }
    /// The same tree with texts of its own, free of the file's lifetime.
    pub fn into_owned(self) -> Owned {
        let kind = match self.kind {
            NodeKind::Scalar { text, plain } => NodeKind::Scalar { text: Cow::Owned(text.into_owned()), plain },
            NodeKind::Seq(items) => NodeKind::Seq(items.into_iter().map(Node::into_owned).collect()),
            NodeKind::Map(entries) => NodeKind::Map(entries.into_iter().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()),
        };
        Node { kind, span: self.span }
    }
    pub fn as_scalar(&self) -> Option<(&str, bool)> {
        match &self.kind {
            NodeKind::Scalar { text, plain } => Some((text, *plain)),
            _ => None,
        }
    }
}

/// How deeply lists and mappings may nest, aliases expanded. A matrix needs
/// five levels and an inventory six; the parser itself stops at 255 levels of
/// one kind, and this bound holds for mixed block and flow nesting and for
/// aliases, so that nothing that walks the tree (dropping it included) can
/// recurse deeper than this.
pub const MAX_DEPTH: usize = 256;

/// How many nodes aliases may copy in one file.
const ALIAS_NODES_MAX: usize = 100_000;

/// How many bytes aliases may copy in one file (scalar text plus the size of
/// each node): one long string aliased many times costs what it copies,
/// however few nodes that is.
pub const ALIAS_BYTES_MAX: usize = 16 << 20;

/// How many nodes one file may have, aliases expanded: twice what an
/// inventory of 200,000 hosts holds (about 10 per host). Every node costs
/// memory whatever its text (4,000,000 tiny values take about 330 MiB
/// before they are refused), so this and `MAX_INPUT_BYTES` bound the memory
/// of the tree.
pub const MAX_NODES: usize = 4_000_000;

/// What a subtree costs when an alias copies it.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    nodes: usize,
    bytes: usize,
    /// Levels of lists and mappings: 0 for a scalar.
    depth: usize,
}

impl Cost {
    fn scalar(text: &str) -> Self {
        Self { nodes: 1, bytes: std::mem::size_of::<Owned>() + text.len(), depth: 0 }
    }
    fn collection() -> Self {
        Self { nodes: 1, bytes: std::mem::size_of::<Owned>(), depth: 1 }
    }
    fn add_child(&mut self, child: Cost) {
        self.nodes += child.nodes;
        self.bytes += child.bytes;
        self.depth = self.depth.max(child.depth + 1);
    }
}

fn span_of(s: &granit_parser::Span) -> Span {
    let start = s.start.byte_offset().unwrap_or(0);
    let end = s.end.byte_offset().unwrap_or(start);
    Span::new(start, end.saturating_sub(start))
}

/// A list or mapping whose end has not been read yet.
struct Frame {
    kind: FrameKind,
    /// What its children cost so far.
    cost: Cost,
    /// Where it starts.
    span: Span,
    anchor: usize,
    style: StructureStyle,
}

enum FrameKind {
    Seq(Vec<Owned>),
    Map {
        entries: Vec<(Owned, Owned)>,
        /// A key read, its value not yet.
        pending: Option<Owned>,
        /// Indices of `entries` by key text: duplicate keys are found in
        /// constant time, so a mapping of 200,000 hosts is checked in linear
        /// time.
        keys: HashTable<usize>,
    },
}

impl Frame {
    /// Where an open `{` or `[` stands, if this is a flow collection.
    fn flow_open(&self) -> Option<(Span, char, char)> {
        match (&self.kind, self.style) {
            (FrameKind::Seq(_), StructureStyle::Flow) => Some((self.span, '[', ']')),
            (FrameKind::Map { .. }, StructureStyle::Flow) => Some((self.span, '{', '}')),
            _ => None,
        }
    }
}

/// The byte range of the line that holds `offset`.
fn line_of(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    (start, end)
}

/// A syntax error's location and hint, sharpened for the common slips.
fn syntax_error(file: &Arc<SourceFile>, kind: &ErrorKind, info: String, off: usize, stack: &[Frame]) -> Diagnostic {
    let text = &file.text;
    let tab = matches!(
        kind,
        ErrorKind::TabNotAllowed
            | ErrorKind::TabInBlockIndentation
            | ErrorKind::TabInIndentation
            | ErrorKind::TabAtBlockScalarStart
            | ErrorKind::TabInPlainScalar
    ) || info.contains("tab");
    if tab {
        // Point at the tab itself: the parser stops just after it.
        let (start, end) = line_of(text, off);
        let before = text[..off.min(text.len())].rfind('\t').filter(|i| *i >= start);
        let at = before.or_else(|| text[start..end].find('\t').map(|i| start + i));
        let span = at.map_or(Span::new(off, 0), |i| Span::new(i, 1));
        let (line, _) = file.line_col(span.offset);
        return Diagnostic::error("yaml-syntax", file, span, format!("YAML syntax error: {info}"))
            .with_label("a tab")
            .with_help(format!("YAML indents with spaces only: replace the tabs on line {line} with spaces"));
    }
    let open = stack.iter().rev().find_map(Frame::flow_open);
    let flowish = matches!(
        kind,
        ErrorKind::ExpectedFlowMappingSeparator
            | ErrorKind::ExpectedFlowSequenceSeparator
            | ErrorKind::UnexpectedEofFlowMapping
            | ErrorKind::UnexpectedEofFlowSequence
            | ErrorKind::UnexpectedEofImplicitFlowMapping
            | ErrorKind::UnclosedFlowCollection { .. }
    );
    if let (Some((span, o, c)), true) = (open, flowish) {
        // The unclosed bracket is the offending text; the parser only
        // notices later.
        let (line, col) = file.line_col(off);
        return Diagnostic::error("yaml-syntax", file, Span::new(span.offset, 1), format!("YAML syntax error: {info}"))
            .with_label(format!("this `{o}` is not closed"))
            .with_help(format!("add the `{c}`, or a `,` between its entries (the parser stopped at line {line}, column {col})"));
    }
    let help = match kind {
        ErrorKind::RecursionLimitExceeded => "the values nest too deeply: a matrix needs only a few levels of lists and mappings",
        _ => "check indentation, and quote values that contain ': ' or start with a special character",
    };
    let control = text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
    let help = if control { "the file holds control characters: is it a text file? A matrix is YAML text" } else { help };
    Diagnostic::error("yaml-syntax", file, Span::new(off, 0), format!("YAML syntax error: {info}")).with_label("here").with_help(help)
}

/// A YAML tag is never part of this format. The parser does not give the
/// tag's position: look for its text before the value (on the value's line
/// or, for a block collection, the lines just before it).
fn tag_error(file: &Arc<SourceFile>, tag: &Tag, node: Span) -> Diagnostic {
    let text = &file.text;
    let suffix = tag.suffix();
    let end = node.offset.min(text.len());
    let mut floor = end.saturating_sub(1024);
    while !text.is_char_boundary(floor) {
        floor += 1;
    }
    let hay = &text[floor..end];
    let needle = format!("!{suffix}");
    let span = match hay.rfind(&needle) {
        Some(i) => {
            let mut from = floor + i;
            while from > floor && text.as_bytes()[from - 1] == b'!' {
                from -= 1;
            }
            Span::new(from, floor + i + needle.len() - from)
        }
        None => node,
    };
    let written = match &text[span.offset..span.offset + span.len] {
        "" => needle.as_str(),
        w => w,
    };
    Diagnostic::error("yaml-tag", file, span, format!("`{written}` is a YAML tag here, not a value")).with_label("read as a tag").with_help(
        format!(
            "a value that starts with `!` is a YAML tag: quote it (`\"{written}\"`); in a condition, write `not {}`",
            written.trim_start_matches('!')
        ),
    )
}

/// Builds the tree from the parser's events within the bounds above.
struct Builder<'f> {
    file: &'f Arc<SourceFile>,
    stack: Vec<Frame>,
    /// Anchored nodes with what copying them costs: aliases copy them.
    anchors: HashMap<usize, (Owned, Cost)>,
    alias_nodes: usize,
    alias_bytes: usize,
    nodes: usize,
    hasher: RandomState,
    root: Option<Owned>,
}

/// Why building stopped early.
type Stop = Box<Diagnostic>;

impl<'f> Builder<'f> {
    fn new(file: &'f Arc<SourceFile>) -> Self {
        Self {
            file,
            stack: Vec::new(),
            anchors: HashMap::new(),
            alias_nodes: 0,
            alias_bytes: 0,
            nodes: 0,
            hasher: RandomState::new(),
            root: None,
        }
    }

    fn too_deep(&self, span: Span) -> Stop {
        let (line, _) = self.file.line_col(self.stack.first().map_or(span.offset, |f| f.span.offset));
        Box::new(
            Diagnostic::error("yaml-too-deep", self.file, span, format!("lists and mappings nest more than {MAX_DEPTH} levels deep here"))
                .with_label("too deep")
                .with_help(format!(
                    "a matrix needs five levels and an inventory six; this nesting starts on line {line} \
                     (aliases count with the value they copy)"
                )),
        )
    }

    /// Counts nodes against `MAX_NODES`.
    fn count(&mut self, nodes: usize, span: Span) -> Result<(), Stop> {
        self.nodes += nodes;
        if self.nodes > MAX_NODES {
            return Err(Box::new(
                Diagnostic::error("yaml-too-large", self.file, span, format!("the file holds more than {MAX_NODES} values"))
                    .with_label("the limit is reached here")
                    .with_help(
                        "an inventory of 200,000 hosts has about 2,000,000 values: split the file, or check that it is the right one",
                    ),
            ));
        }
        Ok(())
    }

    fn open(&mut self, kind: FrameKind, span: Span, anchor: usize, style: StructureStyle) -> Result<(), Stop> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.too_deep(Span::new(span.offset, span.len.min(1))));
        }
        self.count(1, span)?;
        self.stack.push(Frame { kind, cost: Cost::collection(), span, anchor, style });
        Ok(())
    }

    fn close(&mut self, end: Span) -> Option<(Owned, Cost, usize)> {
        let frame = self.stack.pop()?;
        let stop = end.offset + end.len;
        let span = Span::new(frame.span.offset, stop.max(frame.span.offset) - frame.span.offset);
        let kind = match frame.kind {
            FrameKind::Seq(items) => NodeKind::Seq(items),
            FrameKind::Map { entries, .. } => NodeKind::Map(entries),
        };
        Some((Node { kind, span }, frame.cost, frame.anchor))
    }

    /// A copy of an anchored node, charged to the alias budgets.
    fn alias(&mut self, id: usize, span: Span) -> Result<(Owned, Cost), Stop> {
        let Some((node, cost)) = self.anchors.get(&id) else {
            // The parser reports unknown anchors itself; this is a fallback.
            return Err(Box::new(
                Diagnostic::error("yaml-alias", self.file, span, "alias to an unknown anchor")
                    .with_help("define the anchor (`&name`) before the alias (`*name`) that uses it"),
            ));
        };
        let cost = *cost;
        if self.stack.len() + cost.depth > MAX_DEPTH {
            return Err(self.too_deep(span));
        }
        if self.alias_nodes + cost.nodes > ALIAS_NODES_MAX {
            return Err(Box::new(
                Diagnostic::error("yaml-alias", self.file, span, "aliases expand to too many values").with_label("this alias").with_help(
                    format!("the file's aliases copy more than {ALIAS_NODES_MAX} values: write the values out, or nest aliases less"),
                ),
            ));
        }
        if self.alias_bytes + cost.bytes > ALIAS_BYTES_MAX {
            return Err(Box::new(
                Diagnostic::error("yaml-alias", self.file, span, "aliases expand to too much text").with_label("this alias").with_help(
                    format!(
                        "the file's aliases copy more than {} MiB (this one {} bytes): write the values out, or alias less",
                        ALIAS_BYTES_MAX >> 20,
                        cost.bytes
                    ),
                ),
            ));
        }
        let copy = Node { kind: node.kind.clone(), span };
        self.alias_nodes += cost.nodes;
        self.alias_bytes += cost.bytes;
        self.count(cost.nodes, span)?;
        Ok((copy, cost))
    }

    /// Adds a finished node to the collection being read (or makes it the
    /// document), reporting a key that its mapping already has. An anchored
    /// node is kept for its aliases: that copy counts against `MAX_NODES`.
    fn attach(&mut self, node: Owned, cost: Cost, anchor: usize, diags: &mut Diagnostics) -> Result<(), Stop> {
        if anchor != 0 {
            self.count(cost.nodes, node.span)?;
            self.anchors.insert(anchor, (node.clone(), cost));
        }
        let hasher = &self.hasher;
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        frame.cost.add_child(cost);
        match &mut frame.kind {
            FrameKind::Seq(items) => items.push(node),
            FrameKind::Map { entries, pending, keys } => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    if let Some((k, _)) = key.as_scalar() {
                        let text_of = |i: &usize| entries[*i].0.as_scalar().map(|s| s.0);
                        let hash = hasher.hash_one(k);
                        if let Some(first) = keys.find(hash, |i| text_of(i) == Some(k)) {
                            let (line, _) = self.file.line_col(entries[*first].0.span.offset);
                            diags.push(
                                Diagnostic::error("duplicate-key", self.file, key.span, format!("key `{k}` appears twice in this mapping"))
                                    .with_label("second occurrence")
                                    .with_help(format!("the first is on line {line}; keep one")),
                            );
                        } else {
                            let index = entries.len();
                            keys.insert_unique(hash, index, |i| hasher.hash_one(text_of(i).unwrap_or_default()));
                        }
                    }
                    entries.push((key, node));
                }
            },
        }
        Ok(())
    }
}

/// Parses one YAML document. Syntax errors, duplicate keys and extra
/// documents are reported; `None` when nothing usable was read.
///
/// Text in the common subset that `yaml_fast` reads is parsed there (several
/// times faster, the same tree); anything else goes through granit, which
/// reports every problem.
pub fn parse<'f>(file: &'f Arc<SourceFile>, diags: &mut Diagnostics) -> Option<Node<'f>> {
    if !within_size(file, diags) {
        return None;
    }
    if let Some(root) = crate::yaml_fast::parse(&file.text) {
        return Some(root);
    }
    parse_events(file, diags)
}

/// `parse` without the fast path: the oracle its tests compare with.
#[doc(hidden)]
pub fn parse_slow(file: &Arc<SourceFile>, diags: &mut Diagnostics) -> Option<Owned> {
    if !within_size(file, diags) {
        return None;
    }
    parse_events(file, diags)
}

/// The fast path alone: `None` when it declines the text.
#[doc(hidden)]
pub fn parse_fast(text: &str) -> Option<Node<'_>> {
    crate::yaml_fast::parse(text)
}

fn within_size(file: &Arc<SourceFile>, diags: &mut Diagnostics) -> bool {
    if file.text.len() > MAX_INPUT_BYTES {
        diags.push(
            Diagnostic::error("too-large", file, Span::default(), format!("the text is larger than {} MiB", MAX_INPUT_BYTES >> 20))
                .with_help("portmatrix reads matrices and inventories of up to 64 MiB: split a larger inventory into several"),
        );
        return false;
    }
    true
}

/// Builds the tree from granit's events, reporting every problem.
fn parse_events(file: &Arc<SourceFile>, diags: &mut Diagnostics) -> Option<Owned> {
    let text_len = file.text.len();
    let mut b = Builder::new(file);
    let mut documents = 0;
    for item in Parser::new_from_str(&file.text) {
        let (event, espan) = match item {
            Ok(x) => x,
            Err(e) => {
                let off = e.marker().byte_offset().unwrap_or(text_len).min(text_len);
                diags.push(syntax_error(file, e.kind(), e.info(), off, &b.stack));
                return None;
            }
        };
        let span = span_of(&espan);
        let step: Result<Option<(Owned, Cost, usize)>, Stop> = match event {
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    diags.push(
                        Diagnostic::error("yaml-multiple-documents", file, span, "more than one YAML document in this file")
                            .with_help("put each matrix or inventory in a file of its own"),
                    );
                    return b.root;
                }
                Ok(None)
            }
            Event::Scalar(text, style, anchor, tag) => {
                if let Some(tag) = tag {
                    diags.push(tag_error(file, &tag, span));
                }
                let cost = Cost::scalar(&text);
                let node =
                    Node { kind: NodeKind::Scalar { text: Cow::Owned(text.into_owned()), plain: style == ScalarStyle::Plain }, span };
                b.count(1, span).map(|()| Some((node, cost, anchor)))
            }
            Event::Alias(id) => b.alias(id, span).map(|(n, cost)| Some((n, cost, 0))),
            Event::SequenceStart(style, anchor, tag) => {
                if let Some(tag) = tag {
                    diags.push(tag_error(file, &tag, span));
                }
                b.open(FrameKind::Seq(Vec::new()), span, anchor, style).map(|()| None)
            }
            Event::MappingStart(style, anchor, tag) => {
                if let Some(tag) = tag {
                    diags.push(tag_error(file, &tag, span));
                }
                let kind = FrameKind::Map { entries: Vec::new(), pending: None, keys: HashTable::new() };
                b.open(kind, span, anchor, style).map(|()| None)
            }
            Event::SequenceEnd | Event::MappingEnd => Ok(b.close(span)),
            _ => Ok(None),
        };
        match step.and_then(|done| done.map_or(Ok(()), |(node, cost, anchor)| b.attach(node, cost, anchor, diags))) {
            Ok(()) => {}
            Err(stop) => {
                diags.push(*stop);
                return None;
            }
        }
    }
    if b.root.is_none() {
        diags.push(
            Diagnostic::error("empty-document", file, Span::new(0, 0), "the file holds no YAML document")
                .with_help("a matrix starts with `matrix: ID`; an inventory with `inventory: NAME`"),
        );
    }
    b.root
}
