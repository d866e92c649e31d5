//! A YAML document as a tree of nodes that know their byte spans.
//!
//! The model is decoded from this tree by hand (see `decode`) rather than by
//! serde, so that one pass reports every problem of a file with its location,
//! and unknown keys are errors.

use std::collections::HashMap;
use std::sync::Arc;

use granit_parser::{Event, Parser, ScalarStyle};

use crate::diag::{Diagnostic, Diagnostics};
use crate::source::{SourceFile, Span};

#[derive(Debug, Clone)]
pub enum NodeKind {
    /// A scalar; `plain` is false when it was quoted or a block scalar, and
    /// then it is always a string.
    Scalar { text: String, plain: bool },
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
    pub fn as_scalar(&self) -> Option<(&str, bool)> {
        match &self.kind {
            NodeKind::Scalar { text, plain } => Some((text, *plain)),
            _ => None,
        }
    }
}

fn span_of(s: &granit_parser::Span) -> Span {
    let start = s.start.byte_offset().unwrap_or(0);
    let end = s.end.byte_offset().unwrap_or(start);
    Span::new(start, end.saturating_sub(start))
}

enum Frame {
    Seq(Vec<Node>, Span, usize),
    Map(Vec<(Node, Node)>, Option<Node>, Span, usize),
}

/// Parses one YAML document. Syntax errors, duplicate keys and extra
/// documents are reported; `None` when nothing usable was read.
pub fn parse(file: &Arc<SourceFile>, diags: &mut Diagnostics) -> Option<Node> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    let text_len = file.text.len();

    for item in Parser::new_from_str(&file.text) {
        let (event, espan) = match item {
            Ok(x) => x,
            Err(e) => {
                let off = e.marker().byte_offset().unwrap_or(text_len);
                diags.push(
                    Diagnostic::error("yaml-syntax", file, Span::new(off, 0), format!("YAML syntax error: {}", e.info()))
                        .with_label("here")
                        .with_help("check indentation, and quote values that contain ': ' or start with a special character"),
                );
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
                if tag.is_some() {
                    diags.push(
                        Diagnostic::error("yaml-tag", file, span, "YAML tags are not used in this format")
                            .with_label("read as a tag")
                            .with_help("a value that starts with `!` is a YAML tag: quote it (`when: \"!legacy\"`) or write `not legacy`"),
                    );
                }
                Some((
                Node {
                    kind: NodeKind::Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
                    span,
                },
                anchor,
            ))
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(n) => Some((Node { kind: n.kind.clone(), span }, 0)),
                None => {
                    diags.push(Diagnostic::error("yaml-alias", file, span, "alias to an unknown anchor"));
                    return None;
                }
            },
            Event::SequenceStart(_, anchor, _) => {
                stack.push(Frame::Seq(Vec::new(), span, anchor));
                None
            }
            Event::MappingStart(_, anchor, _) => {
                stack.push(Frame::Map(Vec::new(), None, span, anchor));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq(items, start, anchor)) => {
                    let end = span.offset + span.len;
                    Some((Node { kind: NodeKind::Seq(items), span: Span::new(start.offset, end.max(start.offset) - start.offset) }, anchor))
                }
                Some(Frame::Map(items, _, start, anchor)) => {
                    let end = span.offset + span.len;
                    Some((Node { kind: NodeKind::Map(items), span: Span::new(start.offset, end.max(start.offset) - start.offset) }, anchor))
                }
                None => None,
            },
            _ => None,
        };
        if let Some((node, anchor)) = finished {
            if anchor != 0 {
                anchors.insert(anchor, node.clone());
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
