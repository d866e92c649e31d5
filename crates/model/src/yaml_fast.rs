//! A fast path for the YAML that matrices and inventories are written in.
//!
//! `parse` reads a strict subset of YAML straight into the tree that
//! `yaml::parse` builds from granit's events, with the same kinds, texts,
//! `plain` flags, key order and byte spans. The subset: block mappings and
//! sequences (compact `- key: value` and `- - item` included, and sequences
//! at their key's indentation), flow collections on one line, plain and
//! quoted scalars on one line, folded block scalars (`>`) with the default
//! chomping and no more-indented lines, comments and blank lines.
//!
//! Anything else, and anything that is not valid YAML, makes it return
//! `None`: the caller then parses the text with granit, which reports the
//! problems. Declining is always safe; only a tree returned here must be
//! exact, which `tests/yaml_fast.rs` checks against granit.
//!
//! Spans follow granit's tokens: a block mapping starts at its first key and
//! a block sequence at its first `-` (a sequence at its key's indentation at
//! what follows that `-` on its line); a block collection ends where the next
//! token starts (the first character of the next line that is neither blank
//! nor a comment, or the end of the text); an empty value is `~` at the `:`
//! of its key, or, in a sequence, at the end of the `-`'s line.

use std::borrow::Cow;
use std::hash::BuildHasher;

use foldhash::fast::RandomState;

use hashbrown::HashTable;

use crate::source::{Span, MAX_INPUT_BYTES};
use crate::yaml::{Node, NodeKind, MAX_NODES};

/// Nesting beyond this is declined: real files need six levels, and the
/// recursion below stays shallow whatever the input.
const MAX_FAST_DEPTH: usize = 64;

/// A YAML implicit key may not run past 1024 characters; keys longer than
/// this many bytes are declined rather than measured exactly.
const MAX_KEY_BYTES: usize = 512;

/// Mappings with more entries than this find duplicate keys by hash.
const LINEAR_KEYS: usize = 16;

/// The tree of `text`, or `None` when the text is outside the subset.
pub(crate) fn parse(text: &str) -> Option<Node<'_>> {
    if text.len() > MAX_INPUT_BYTES || !simple_text(text.as_bytes()) {
        return None;
    }
    let mut p = Parser {
        text,
        s: text.as_bytes(),
        pos: 0,
        nodes: 0,
        depth: 0,
        hasher: RandomState::default(),
        items: Vec::new(),
        entries: Vec::new(),
    };
    let (line, indent) = p.next_content(0)?;
    p.pos = line + indent;
    let root = p.block_node(indent)?;
    // Whatever follows the root at a smaller indentation is an error.
    match p.next_content(p.pos) {
        None => Some(root),
        Some(_) => None,
    }
}

/// Whether every character is one the subset can take without a second
/// look: no tabs, carriage returns, other controls, byte order marks,
/// Unicode line separators or non-characters. Blocks of printable ASCII
/// are passed over by a test the compiler vectorises.
fn simple_text(s: &[u8]) -> bool {
    const BLOCK: usize = 64;
    let mut base = 0;
    for block in s.chunks(BLOCK) {
        let unusual = block.iter().fold(false, |acc, b| acc | (b.wrapping_sub(0x20) >= 0x5f && *b != b'\n'));
        if unusual && (base..base + block.len()).any(|i| unwanted_at(s, i)) {
            return false;
        }
        base += block.len();
    }
    true
}

/// Whether the byte at `i` is, or starts, a character the subset refuses.
fn unwanted_at(s: &[u8], i: usize) -> bool {
    let next = |k: usize| s.get(i + k).copied();
    match s[i] {
        b'\n' | 0x20..=0x7e => false,
        0x00..=0x1f | 0x7f => true,
        // U+0080..U+009F: C1 controls, NEL among them.
        0xc2 => next(1).is_some_and(|n| n < 0xa0),
        // U+2028, U+2029: line and paragraph separators.
        0xe2 => next(1) == Some(0x80) && matches!(next(2), Some(0xa8 | 0xa9)),
        // U+FEFF (a byte order mark), U+FFFE, U+FFFF.
        0xef => matches!((next(1), next(2)), (Some(0xbb), Some(0xbf)) | (Some(0xbf), Some(0xbe | 0xbf))),
        _ => false,
    }
}

/// Whether a line-starting `---` or `...` (a document marker, or close to
/// one) is at `i`.
fn marker_at(s: &[u8], i: usize) -> bool {
    (i == 0 || s[i - 1] == b'\n') && (s[i..].starts_with(b"---") || s[i..].starts_with(b"..."))
}

/// Bytes that may not start a plain scalar here (YAML indicators).
fn is_indicator(b: u8) -> bool {
    matches!(
        b,
        b'-' | b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`'
    )
}

/// Bytes at which a plain scalar may end, in any context and in flow
/// collections only: `ENDS[byte]` holds their flags.
const ENDS_BLOCK: u8 = 1;
const ENDS_FLOW: u8 = 2;
const ENDS: [u8; 256] = {
    let mut table = [0; 256];
    table[b'\n' as usize] = ENDS_BLOCK;
    table[b':' as usize] = ENDS_BLOCK;
    table[b' ' as usize] = ENDS_BLOCK;
    table[b',' as usize] = ENDS_FLOW;
    table[b'[' as usize] = ENDS_FLOW;
    table[b']' as usize] = ENDS_FLOW;
    table[b'{' as usize] = ENDS_FLOW;
    table[b'}' as usize] = ENDS_FLOW;
    table
};

fn is_flow_indicator(b: u8) -> bool {
    matches!(b, b',' | b'[' | b']' | b'{' | b'}')
}

/// An empty value, as granit reports it: a plain `~`.
fn empty() -> NodeKind<'static> {
    NodeKind::Scalar { text: Cow::Borrowed("~"), plain: true }
}

fn key_text<'n>(node: &'n Node) -> &'n str {
    match &node.kind {
        NodeKind::Scalar { text, .. } => text,
        _ => "",
    }
}

/// The reader. Every slice of `text` it takes starts and ends next to an
/// ASCII byte, so on a character boundary; it slices with `get` all the
/// same, so that a mistake declines instead of panicking.
struct Parser<'t> {
    text: &'t str,
    s: &'t [u8],
    pos: usize,
    nodes: usize,
    depth: usize,
    hasher: RandomState,
    /// The items and entries of the collections being read, innermost
    /// last: each collection takes its own off the top when it closes, in
    /// a vector of exactly their number (the tree of a large inventory is
    /// a third smaller than with vectors grown by pushing).
    items: Vec<Node<'t>>,
    entries: Vec<(Node<'t>, Node<'t>)>,
}

impl<'t> Parser<'t> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.s.get(i).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// Where the line holding `from` ends: its newline, or the end of text.
    fn line_end(&self, from: usize) -> usize {
        self.s[from..].iter().position(|b| *b == b'\n').map_or(self.s.len(), |i| from + i)
    }

    /// Moves to the start of the next line (or the end of the text).
    fn skip_line(&mut self) {
        let end = self.line_end(self.pos);
        self.pos = (end + 1).min(self.s.len());
    }

    /// The first line from `line` (a line start) that is neither blank nor
    /// a comment: its start and indentation.
    fn next_content(&self, mut line: usize) -> Option<(usize, usize)> {
        while line < self.s.len() {
            let indent = self.s[line..].iter().position(|b| *b != b' ')?;
            match self.s[line + indent] {
                b'\n' => line += indent + 1,
                b'#' => line = self.line_end(line + indent) + 1,
                _ => return Some((line, indent)),
            }
        }
        None
    }

    /// Whether a block sequence entry (`-` then a space or line end) is at `i`.
    fn is_entry(&self, i: usize) -> bool {
        self.at(i) == Some(b'-') && matches!(self.at(i + 1), None | Some(b' ' | b'\n'))
    }

    /// A node, counted against `MAX_NODES`.
    fn node(&mut self, kind: NodeKind<'t>, span: Span) -> Option<Node<'t>> {
        self.nodes += 1;
        (self.nodes <= MAX_NODES).then_some(Node { kind, span })
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_FAST_DEPTH).then_some(())
    }

    /// A block collection starting at `self.pos`, in column `col`.
    fn block_node(&mut self, col: usize) -> Option<Node<'t>> {
        if self.is_entry(self.pos) {
            self.block_seq(col, false)
        } else {
            self.block_map(col)
        }
    }

    /// A block mapping whose first key is at `self.pos`, in column `col`.
    /// Leaves `self.pos` at the start of the line that ends it.
    fn block_map(&mut self, col: usize) -> Option<Node<'t>> {
        self.enter()?;
        let start = self.pos;
        let base = self.entries.len();
        let mut index = KeyIndex::default();
        let end = loop {
            let key = self.block_key()?;
            if !index.is_new(&self.entries[base..], key_text(&key), &self.hasher) {
                return None;
            }
            let colon = self.pos - 1;
            let value = self.map_value(col, colon)?;
            self.entries.push((key, value));
            match self.next_content(self.pos) {
                None => {
                    self.pos = self.s.len();
                    break self.s.len();
                }
                Some((line, indent)) if indent == col => self.pos = line + indent,
                Some((line, indent)) if indent < col => {
                    self.pos = line;
                    break line + indent;
                }
                Some(_) => return None,
            }
        };
        self.depth -= 1;
        let entries = self.entries.split_off(base);
        self.node(NodeKind::Map(entries), Span::new(start, end - start))
    }

    /// A key and its `:`; leaves `self.pos` just after the `:`.
    fn block_key(&mut self) -> Option<Node<'t>> {
        let key = match self.peek()? {
            b'\'' | b'"' => self.quoted()?,
            _ => self.plain(false)?,
        };
        self.skip_spaces();
        if self.peek() != Some(b':') || !matches!(self.at(self.pos + 1), None | Some(b' ' | b'\n')) {
            return None;
        }
        self.pos += 1;
        (self.pos - key.span.offset <= MAX_KEY_BYTES).then_some(key)
    }

    /// The value after a block mapping's `:` at `colon`.
    fn map_value(&mut self, col: usize, colon: usize) -> Option<Node<'t>> {
        self.skip_spaces();
        match self.peek() {
            None | Some(b'\n' | b'#') => self.value_below(col, colon, true),
            Some(b'>') => self.folded(col + 1),
            Some(_) => self.inline_value(),
        }
    }

    /// A value on the lines below its key or `-` (in column `col`): a block
    /// collection indented further, a sequence at the key's indentation
    /// when `indentless`, or else an empty value at `at`.
    fn value_below(&mut self, col: usize, at: usize, indentless: bool) -> Option<Node<'t>> {
        self.skip_line();
        match self.next_content(self.pos) {
            Some((line, indent)) if indent > col => {
                self.pos = line + indent;
                self.block_node(indent)
            }
            Some((line, indent)) if indent == col && indentless && self.is_entry(line + indent) => {
                self.pos = line + indent;
                self.block_seq(col, true)
            }
            next => {
                self.pos = next.map_or(self.s.len(), |(line, _)| line);
                self.node(empty(), Span::new(at, 0))
            }
        }
    }

    /// A block sequence whose first `-` is at `self.pos`, in column `col`;
    /// `indentless` when it stands at its key's indentation. Leaves
    /// `self.pos` at the start of the line that ends it.
    fn block_seq(&mut self, col: usize, indentless: bool) -> Option<Node<'t>> {
        self.enter()?;
        let mut start = self.pos;
        let base = self.items.len();
        let end = loop {
            let dash = self.pos;
            self.pos += 1;
            self.skip_spaces();
            // Where granit puts the entry: past the spaces and any comment.
            let mark = if self.peek() == Some(b'#') { self.line_end(self.pos) } else { self.pos };
            if indentless && self.items.len() == base {
                start = mark;
            }
            let item = self.seq_item(col, dash, mark)?;
            self.items.push(item);
            match self.next_content(self.pos) {
                None => {
                    self.pos = self.s.len();
                    break self.s.len();
                }
                Some((line, indent)) if indent == col && self.is_entry(line + indent) => self.pos = line + indent,
                Some((line, indent)) if indent < col || (indent == col && indentless) => {
                    self.pos = line;
                    break line + indent;
                }
                Some(_) => return None,
            }
        };
        self.depth -= 1;
        let items = self.items.split_off(base);
        self.node(NodeKind::Seq(items), Span::new(start, end - start))
    }

    /// The item after a `-` at `dash` (column `col`); `self.pos` is past
    /// the spaces that follow it.
    fn seq_item(&mut self, col: usize, dash: usize, mark: usize) -> Option<Node<'t>> {
        let here = col + (self.pos - dash);
        match self.peek() {
            None | Some(b'\n' | b'#') => self.value_below(col, mark, false),
            Some(b'>') => self.folded(col + 1),
            Some(b'-') if self.is_entry(self.pos) => self.block_seq(here, false),
            Some(_) if self.starts_key() => self.block_map(here),
            Some(_) => self.inline_value(),
        }
    }

    /// Whether a mapping key (a scalar, then `:` and a space or line end)
    /// starts at `self.pos`. Moves nothing.
    fn starts_key(&mut self) -> bool {
        let (from, nodes) = (self.pos, self.nodes);
        let key = match self.peek() {
            Some(b'\'' | b'"') => self.quoted(),
            Some(b'[' | b'{') => None,
            _ => self.plain(false),
        };
        let found = key.is_some() && {
            self.skip_spaces();
            self.peek() == Some(b':') && matches!(self.at(self.pos + 1), None | Some(b' ' | b'\n'))
        };
        self.pos = from;
        self.nodes = nodes;
        found
    }

    /// A flow collection or scalar that ends its line (a comment may follow).
    fn inline_value(&mut self) -> Option<Node<'t>> {
        let node = match self.peek()? {
            b'[' | b'{' => self.flow_node()?,
            b'\'' | b'"' => self.quoted()?,
            _ => self.plain(false)?,
        };
        self.end_of_line()?;
        Some(node)
    }

    /// Spaces, then an optional comment (after at least one space), then
    /// the end of the line; moves past it.
    fn end_of_line(&mut self) -> Option<()> {
        let before = self.pos;
        self.skip_spaces();
        match self.peek() {
            None | Some(b'\n') => {}
            Some(b'#') if self.pos > before => {}
            Some(_) => return None,
        }
        self.skip_line();
        Some(())
    }

    /// A plain scalar on one line; in a flow collection when `flow`.
    fn plain(&mut self, flow: bool) -> Option<Node<'t>> {
        let start = self.pos;
        let first = self.peek()?;
        let dash_ok = first == b'-' && self.at(start + 1).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        // Every line that starts in column 0 outside a comment is read
        // here first, so this is where document markers are declined.
        if first == b' ' || first == b'\n' || (is_indicator(first) && !dash_ok) || marker_at(self.s, start) {
            return None;
        }
        let mask = if flow { ENDS_BLOCK | ENDS_FLOW } else { ENDS_BLOCK };
        let mut end = start;
        loop {
            // Most bytes cannot end a plain scalar: pass over them quickly.
            while self.s.get(end).is_some_and(|b| ENDS[usize::from(*b)] & mask == 0) {
                end += 1;
            }
            let Some(b) = self.at(end) else { break };
            let next = self.at(end + 1);
            let stop = match b {
                b'\n' => true,
                b':' => matches!(next, None | Some(b' ' | b'\n')) || (flow && next.is_some_and(is_flow_indicator)),
                b' ' => next == Some(b'#'),
                b if flow => is_flow_indicator(b),
                _ => false,
            };
            if stop {
                break;
            }
            end += 1;
        }
        self.pos = end;
        while end > start && self.s[end - 1] == b' ' {
            end -= 1;
        }
        let text = Cow::Borrowed(self.text.get(start..end)?);
        self.node(NodeKind::Scalar { text, plain: true }, Span::new(start, end - start))
    }

    /// A single- or double-quoted scalar on one line. Of the escapes, only
    /// `''` in single quotes and `\"`, `\\` in double quotes are read.
    fn quoted(&mut self) -> Option<Node<'t>> {
        let start = self.pos;
        let quote = self.peek()?;
        let mut text = String::new();
        let mut from = start + 1;
        let mut i = from;
        loop {
            match self.at(i)? {
                b'\n' => return None,
                b'\\' if quote == b'"' => {
                    let escaped = self.at(i + 1)?;
                    if escaped != b'"' && escaped != b'\\' {
                        return None;
                    }
                    text.push_str(self.text.get(from..i)?);
                    text.push(escaped as char);
                    i += 2;
                    from = i;
                }
                b'\'' if quote == b'\'' && self.at(i + 1) == Some(b'\'') => {
                    text.push_str(self.text.get(from..=i)?);
                    i += 2;
                    from = i;
                }
                b if b == quote => break,
                _ => i += 1,
            }
        }
        // Without escapes the text is borrowed as written.
        let text = if text.is_empty() {
            Cow::Borrowed(self.text.get(from..i)?)
        } else {
            text.push_str(self.text.get(from..i)?);
            Cow::Owned(text)
        };
        self.pos = i + 1;
        self.node(NodeKind::Scalar { text, plain: false }, Span::new(start, self.pos - start))
    }

    /// A flow collection or scalar inside a flow collection.
    fn flow_node(&mut self) -> Option<Node<'t>> {
        match self.peek()? {
            b'[' => self.flow_seq(),
            b'{' => self.flow_map(),
            b'\'' | b'"' => self.quoted(),
            _ => self.plain(true),
        }
    }

    /// After an entry of a flow collection: a `,` and the next entry, or
    /// the closing bracket. `Some(true)` when the collection is closed.
    fn flow_next(&mut self, close: u8) -> Option<bool> {
        self.skip_spaces();
        match self.peek()? {
            b',' => {
                self.pos += 1;
                self.skip_spaces();
                // A trailing comma is valid YAML, but declined.
                (self.peek()? != close).then_some(false)
            }
            b if b == close => {
                self.pos += 1;
                Some(true)
            }
            _ => None,
        }
    }

    fn flow_seq(&mut self) -> Option<Node<'t>> {
        self.enter()?;
        let start = self.pos;
        self.pos += 1;
        self.skip_spaces();
        let base = self.items.len();
        if self.peek()? == b']' {
            self.pos += 1;
        } else {
            loop {
                let item = self.flow_node()?;
                self.items.push(item);
                if self.flow_next(b']')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        let items = self.items.split_off(base);
        self.node(NodeKind::Seq(items), Span::new(start, self.pos - start))
    }

    fn flow_map(&mut self) -> Option<Node<'t>> {
        self.enter()?;
        let start = self.pos;
        self.pos += 1;
        self.skip_spaces();
        let base = self.entries.len();
        let mut index = KeyIndex::default();
        if self.peek()? == b'}' {
            self.pos += 1;
        } else {
            loop {
                let key = match self.peek()? {
                    b'\'' | b'"' => self.quoted()?,
                    _ => self.plain(true)?,
                };
                self.skip_spaces();
                if self.peek()? != b':' || self.at(self.pos + 1)? != b' ' || self.pos - key.span.offset > MAX_KEY_BYTES {
                    return None;
                }
                if !index.is_new(&self.entries[base..], key_text(&key), &self.hasher) {
                    return None;
                }
                self.pos += 1;
                self.skip_spaces();
                let value = self.flow_node()?;
                self.entries.push((key, value));
                if self.flow_next(b'}')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        let entries = self.entries.split_off(base);
        self.node(NodeKind::Map(entries), Span::new(start, self.pos - start))
    }

    /// A folded block scalar (`>`) at `self.pos`, its lines indented by at
    /// least `min_indent`. Leaves `self.pos` at the start of the line that
    /// ends it.
    fn folded(&mut self, min_indent: usize) -> Option<Node<'t>> {
        self.pos += 1;
        if self.peek()? == b' ' {
            self.skip_spaces();
            if self.peek()? == b'#' {
                self.pos = self.line_end(self.pos);
            }
        }
        if self.peek()? != b'\n' {
            return None;
        }
        let first = self.pos + 1;
        let indent = self.s[first..].iter().position(|b| *b != b' ')?;
        if indent < min_indent || self.s[first + indent] == b'\n' {
            return None;
        }
        let start = first + indent;
        let (text, line, end) = self.folded_lines(first, indent)?;
        self.pos = line;
        self.node(NodeKind::Scalar { text: Cow::Owned(text), plain: false }, Span::new(start, end - start))
    }

    /// The folded text of the lines from `line`, indented by `indent`: the
    /// text, the start of the line that ends them, and where granit ends
    /// the scalar (past that line's indentation).
    fn folded_lines(&self, mut line: usize, indent: usize) -> Option<(String, usize, usize)> {
        let mut text = String::new();
        let mut blanks = 0;
        let end = loop {
            if line == self.s.len() {
                break line;
            }
            let spaces = self.s[line..].iter().position(|b| *b != b' ').unwrap_or(self.s.len() - line);
            let content = line + spaces;
            match self.at(content) {
                // Blank lines are kept only when truly empty.
                Some(b'\n') if spaces == 0 => {
                    blanks += 1;
                    line += 1;
                    continue;
                }
                None | Some(b'\n') => return None,
                Some(_) if spaces < indent => break content,
                Some(_) if spaces > indent => return None,
                Some(_) => {}
            }
            let end = self.line_end(content);
            if end == self.s.len() || self.s[end - 1] == b' ' {
                return None;
            }
            if !text.is_empty() {
                if blanks == 0 {
                    text.push(' ');
                }
                for _ in 0..blanks {
                    text.push('\n');
                }
            }
            blanks = 0;
            text.push_str(self.text.get(content..end)?);
            line = end + 1;
        };
        text.push('\n');
        Some((text, line, end))
    }
}

/// The keys of a mapping being read, to refuse a duplicate: a scan of the
/// few first keys, then a hash table, so that a mapping of 10,000 hosts is
/// checked in linear time. The table keeps each key's hash with its index,
/// so growing it hashes no key again.
#[derive(Default)]
struct KeyIndex {
    table: Option<HashTable<(u64, usize)>>,
}

impl KeyIndex {
    /// Whether `key` is not yet among `entries`; records it when it is new
    /// (it is about to be pushed as the next entry).
    fn is_new(&mut self, entries: &[(Node, Node)], key: &str, hasher: &RandomState) -> bool {
        let table = match &mut self.table {
            Some(table) => table,
            None if entries.len() < LINEAR_KEYS => return entries.iter().all(|(k, _)| key_text(k) != key),
            None => {
                let mut table = HashTable::with_capacity(4 * LINEAR_KEYS);
                for (i, (k, _)) in entries.iter().enumerate() {
                    let hash = hasher.hash_one(key_text(k));
                    table.insert_unique(hash, (hash, i), |e| e.0);
                }
                self.table.insert(table)
            }
        };
        let hash = hasher.hash_one(key);
        if table.find(hash, |(h, i)| *h == hash && key_text(&entries[*i].0) == key).is_some() {
            return false;
        }
        table.insert_unique(hash, (hash, entries.len()), |e| e.0);
        true
    }
}
