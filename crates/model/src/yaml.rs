//! A YAML document as a tree of nodes that know their byte spans.
//!
//! The model is decoded from this tree by hand (see `decode`) rather than by
//! serde, so that one pass reports every problem of a file with its location,
//! and unknown keys are errors.

use std::collections::HashMap;
use std::sync::Arc;

use granit_parser::{ErrorKind, Event, Parser, ScalarStyle, StructureStyle, Tag};

use crate::diag::{Diagnostic, Diagnostics};
use crate::source::{SourceFile, Span};

#[derive(Debug, Clone)]
pub enum NodeKind {
    /// A scalar; `plain` is false when it was quoted or a block scalar, and
    /// then it is always a string.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

impl Node {
    /// What kind of YAML value this is, in the words a user would use.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
            NodeKind::Scalar { plain: false, .. } => "a string",
            NodeKind::Scalar { text, plain: true } => match text.as_str() {
                "" | "~" | "null" | "Null" | "NULL" => "nothing (null)",
                "true" | "false" | "True" | "False" | "TRUE" | "FALSE" => "a boolean",
                t if t.parse::<i64>().is_ok() => "a number",
                t if t.parse::<f64>().is_ok() => "a number",
                _ => "a string",
            },
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }
    /// The number of nodes in this tree.
    pub fn size(&self) -> usize {
        1 + match &self.kind {
            NodeKind::Scalar { .. } => 0,
            NodeKind::Seq(items) => items.iter().map(Node::size).sum(),
            NodeKind::Map(entries) => entries.iter().map(|(k, v)| k.size() + v.size()).sum(),
        }
    }
    pub fn as_scalar(&self) -> Option<(&str, bool)> {
        match &self.kind {
            NodeKind::Scalar { text, plain } => Some((text, *plain)),
            _ => None,
        }
    }
}

/// How many nodes aliases may copy in one file.
const ALIAS_NODES_MAX: usize = 100_000;

fn span_of(s: &granit_parser::Span) -> Span {
    let start = s.start.byte_offset().unwrap_or(0);
    let end = s.end.byte_offset().unwrap_or(start);
    Span::new(start, end.saturating_sub(start))
}

enum Frame {
    Seq(Vec<Node>, Span, usize, StructureStyle),
    Map(Vec<(Node, Node)>, Option<Node>, Span, usize, StructureStyle),
}

impl Frame {
    /// Where an open `{` or `[` stands, if this is a flow collection.
    fn flow_open(&self) -> Option<(Span, char, char)> {
        match self {
            Frame::Seq(_, span, _, StructureStyle::Flow) => Some((*span, '[', ']')),
            Frame::Map(_, _, span, _, StructureStyle::Flow) => Some((*span, '{', '}')),
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
/// tag's position: look for its text on the line before the value.
fn tag_error(file: &Arc<SourceFile>, tag: &Tag, node: Span) -> Diagnostic {
    let text = &file.text;
    let suffix = tag.suffix();
    let (start, _) = line_of(text, node.offset);
    let hay = &text[start..node.offset.min(text.len())];
    let needle = format!("!{suffix}");
    let span = match hay.rfind(&needle) {
        Some(i) => {
            let mut from = start + i;
            while from > start && text.as_bytes()[from - 1] == b'!' {
                from -= 1;
            }
            Span::new(from, start + i + needle.len() - from)
        }
        None => node,
    };
    let written = &text[span.offset..span.offset + span.len];
    Diagnostic::error("yaml-tag", file, span, format!("`{written}` is a YAML tag here, not a value")).with_label("read as a tag").with_help(
        format!(
            "a value that starts with `!` is a YAML tag: quote it (`\"{written}\"`); in a condition, write `not {}`",
            written.trim_start_matches('!')
        ),
    )
}

/// Parses one YAML document. Syntax errors, duplicate keys and extra
/// documents are reported; `None` when nothing usable was read.
pub fn parse(file: &Arc<SourceFile>, diags: &mut Diagnostics) -> Option<Node> {
    let mut stack: Vec<Frame> = Vec::new();
    // Anchored nodes with their size in nodes: aliases copy them, and a
    // budget keeps a file of nested aliases ("billion laughs") from
    // exhausting memory.
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    let mut alias_budget = ALIAS_NODES_MAX;
    let mut root: Option<Node> = None;
    let mut documents = 0;
    let text_len = file.text.len();

    for item in Parser::new_from_str(&file.text) {
        let (event, espan) = match item {
            Ok(x) => x,
            Err(e) => {
                let off = e.marker().byte_offset().unwrap_or(text_len).min(text_len);
                diags.push(syntax_error(file, e.kind(), e.info(), off, &stack));
                return None;
            }
        };
        let span = span_of(&espan);
        let finished: Option<(Node, usize)> = match event {
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    diags.push(
                        Diagnostic::error("yaml-multiple-documents", file, span, "more than one YAML document in this file")
                            .with_help("put each matrix or inventory in a file of its own"),
                    );
                    return root;
                }
                None
            }
            Event::Scalar(text, style, anchor, tag) => {
                if let Some(tag) = tag {
                    diags.push(tag_error(file, &tag, span));
                }
                Some((Node { kind: NodeKind::Scalar { text: text.into_owned(), plain: style == ScalarStyle::Plain }, span }, anchor))
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some((_, size)) if *size > alias_budget => {
                    diags.push(
                        Diagnostic::error("yaml-alias", file, span, "aliases expand to too many values")
                            .with_label("this alias")
                            .with_help(format!(
                                "the file's aliases copy more than {ALIAS_NODES_MAX} values: write the values out, or nest aliases less"
                            )),
                    );
                    return None;
                }
                Some((n, size)) => {
                    alias_budget -= size;
                    Some((Node { kind: n.kind.clone(), span }, 0))
                }
                None => {
                    diags.push(Diagnostic::error("yaml-alias", file, span, "alias to an unknown anchor"));
                    return None;
                }
            },
            Event::SequenceStart(style, anchor, tag) => {
                if let Some(tag) = tag {
                    diags.push(tag_error(file, &tag, span));
                }
                stack.push(Frame::Seq(Vec::new(), span, anchor, style));
                None
            }
            Event::MappingStart(style, anchor, tag) => {
                if let Some(tag) = tag {
                    diags.push(tag_error(file, &tag, span));
                }
                stack.push(Frame::Map(Vec::new(), None, span, anchor, style));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq(items, start, anchor, _)) => {
                    let end = span.offset + span.len;
                    Some((Node { kind: NodeKind::Seq(items), span: Span::new(start.offset, end.max(start.offset) - start.offset) }, anchor))
                }
                Some(Frame::Map(items, _, start, anchor, _)) => {
                    let end = span.offset + span.len;
                    Some((Node { kind: NodeKind::Map(items), span: Span::new(start.offset, end.max(start.offset) - start.offset) }, anchor))
                }
                None => None,
            },
            _ => None,
        };
        if let Some((node, anchor)) = finished {
            if anchor != 0 {
                let size = node.size();
                anchors.insert(anchor, (node.clone(), size));
            }
            match stack.last_mut() {
                Some(Frame::Seq(items, ..)) => items.push(node),
                Some(Frame::Map(items, pending, ..)) => match pending.take() {
                    None => *pending = Some(node),
                    Some(key) => {
                        if let Some((k, _)) = key.as_scalar() {
                            if let Some((prev, _)) = items.iter().find(|(pk, _)| pk.as_scalar().map(|s| s.0) == Some(k)) {
                                let (line, _) = file.line_col(prev.span.offset);
                                diags.push(
                                    Diagnostic::error("duplicate-key", file, key.span, format!("key `{k}` appears twice in this mapping"))
                                        .with_label("second occurrence")
                                        .with_help(format!("the first is on line {line}; keep one")),
                                );
                            }
                        }
                        items.push((key, node));
                    }
                },
                None => root = Some(node),
            }
        }
    }
    if root.is_none() {
        diags.push(
            Diagnostic::error("empty-document", file, Span::new(0, 0), "the file holds no YAML document")
                .with_help("a matrix starts with `matrix: ID`; an inventory with `inventory: NAME`"),
        );
    }
    root
}
