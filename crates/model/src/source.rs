//! Source files, byte spans and values that remember where they were written.

use std::sync::{Arc, OnceLock};

use schemars::JsonSchema;
use serde::{Serialize, Serializer};

/// The largest input file the loader reads: 64 MiB. A real matrix is a few
/// dozen KiB and an inventory of 200,000 hosts about 17 MB; anything larger
/// is refused before it is parsed, so that no file can make the loader hold
/// more than a bounded amount of memory.
pub const MAX_INPUT_BYTES: usize = 64 << 20;

/// A file the user gave us (or an embedded catalog file), kept whole so that
/// diagnostics can quote it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    /// Newlines before each block of `LINE_BLOCK` bytes, built on first use:
    /// locating an offset then scans at most one block, not the whole file
    /// (a file with 100,000 findings would otherwise take quadratic time).
    newlines_before_block: OnceLock<Vec<usize>>,
    /// The text as snippets show it, built on first use: `None` when it has
    /// no hidden characters; else a copy of the same length in bytes with
    /// each control, bidi or invisible character replaced by `?`s (a
    /// carriage return by a space).
    shown: OnceLock<Option<String>>,
}

/// Characters a terminal acts on or hides instead of showing: controls (but
/// newline and tab), bidi overrides and isolates, zero-width characters and
/// line separators. Diagnostics never print them raw: a value holding
/// `ESC[2J` or U+202E could otherwise rewrite what the reader sees.
pub fn is_hidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// `text` with every hidden character written as an escape (`\u{202e}`).
pub fn escape_hidden(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_hidden(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Granularity of the line index: small enough that locating an offset is
/// cheap, large enough that the index of a 64 MiB file is 16,384 entries.
const LINE_BLOCK: usize = 4096;

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Arc<Self> {
        Arc::new(Self { name: name.into(), text: text.into(), newlines_before_block: OnceLock::new(), shown: OnceLock::new() })
    }

    /// The text with hidden characters replaced, byte for byte the same
    /// length (so that every span means the same in both).
    fn shown(&self) -> &str {
        let shown = self.shown.get_or_init(|| {
            self.text.contains(is_hidden).then(|| {
                let shown_as = |c: char| match c {
                    // Windows line ends: show nothing odd at every line end.
                    '\r' => " ".to_string(),
                    c if is_hidden(c) => "?".repeat(c.len_utf8()),
                    c => c.to_string(),
                };
                self.text.chars().map(shown_as).collect()
            })
        });
        shown.as_deref().unwrap_or(&self.text)
    }

    fn newlines_before_block(&self) -> &[usize] {
        self.newlines_before_block.get_or_init(|| {
            let mut seen = 0;
            let mut out = Vec::with_capacity(self.text.len() / LINE_BLOCK + 1);
            for block in self.text.as_bytes().chunks(LINE_BLOCK) {
                out.push(seen);
                seen += block.iter().filter(|b| **b == b'\n').count();
            }
            out
        })
    }

    /// 1-based line and column (in characters) of a byte offset. Costs one
    /// index block plus the length of the line up to `offset`.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let (line, line_start) = self.line_and_start(offset);
        // Offsets inside a character (never made by the loader) count the
        // character they are in.
        let col = self.text.as_bytes()[line_start..offset].iter().filter(|b| (**b as i8) >= -0x40).count() + 1;
        (line, col)
    }

    /// 1-based line of `offset` (at most the text's length) and where that line starts.
    fn line_and_start(&self, offset: usize) -> (usize, usize) {
        let bytes = self.text.as_bytes();
        let block = offset / LINE_BLOCK;
        let before_block = self.newlines_before_block().get(block).copied().unwrap_or(0);
        let in_block = bytes[block * LINE_BLOCK..offset].iter().filter(|b| **b == b'\n').count();
        let line_start = bytes[..offset].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        (before_block + in_block + 1, line_start)
    }
}

/// How many bytes of context a snippet shows at most on each side of what
/// it points at: a diagnostic on a 50 MB line quotes a window of it, not the
/// line (the renderer also fails on columns past 65,535).
pub const SNIPPET_CONTEXT_BYTES: usize = 400;

/// The start of the line that holds `offset`, looking back no further than `floor`.
fn line_start_after(bytes: &[u8], offset: usize, floor: usize) -> usize {
    bytes[floor..offset].iter().rposition(|b| *b == b'\n').map_or(floor, |i| floor + i + 1)
}

/// Just past the end of the line that holds `offset` (its newline
/// included), looking no further than `ceiling`.
fn line_end_before(bytes: &[u8], offset: usize, ceiling: usize) -> usize {
    bytes[offset..ceiling].iter().position(|b| *b == b'\n').map_or(ceiling, |i| offset + i + 1)
}

/// Snippets for diagnostics, as miette's own `str` source gives them (whole
/// lines of context before and after), but located through the line index,
/// cut to `SNIPPET_CONTEXT_BYTES` on each side of the span (rendering a
/// diagnostic costs the same in a 60 MB file as in a small one), and with
/// hidden characters replaced (see [`is_hidden`]).
impl miette::SourceCode for SourceFile {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let shown = self.shown();
        let bytes = shown.as_bytes();
        let (from, to) = (span.offset(), span.offset() + span.len());
        if to > bytes.len() {
            return Err(miette::MietteError::OutOfBounds);
        }
        let floor = floor_char_boundary(shown, from.saturating_sub(SNIPPET_CONTEXT_BYTES));
        let ceiling = ceil_char_boundary(shown, to.max(from).saturating_add(SNIPPET_CONTEXT_BYTES).min(bytes.len()));
        let (start, end) = if before == 0 && after == 0 {
            (from, to)
        } else {
            let mut start = line_start_after(bytes, from, floor);
            for _ in 0..before {
                if start <= floor {
                    break;
                }
                start = line_start_after(bytes, start - 1, floor);
            }
            // The span's last line, then `after` more.
            let mut end = line_end_before(bytes, to.saturating_sub(1).max(from), ceiling);
            for _ in 0..after {
                if end >= ceiling {
                    break;
                }
                end = line_end_before(bytes, end, ceiling);
            }
            (start, end.max(to))
        };
        let (line, line_start) = self.line_and_start(start);
        let data = &bytes[start..end];
        let line_count = data.iter().filter(|b| **b == b'\n').count();
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            data,
            (start, end - start).into(),
            line - 1,
            // miette counts columns in bytes.
            start - line_start,
            line_count,
        )))
    }
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// Byte range in a source file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
}

impl Span {
    pub const fn new(offset: usize, len: usize) -> Self {
        Self { offset, len }
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(s: Span) -> Self {
        (s.offset, s.len).into()
    }
}

/// A value with the span it was read from. Equality and ordering ignore the
/// span, so two `Spanned` values written in different places compare equal.
#[derive(Debug, Clone, Default)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub const fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
    /// A value made by the program, not read from a file.
    pub fn synthetic(value: T) -> Self {
        Self { value, span: Span::default() }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl<T: Eq> Eq for Spanned<T> {}
impl<T: PartialOrd> PartialOrd for Spanned<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.value.partial_cmp(&other.value)
    }
}
impl<T: Ord> Ord for Spanned<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}
impl<T: std::hash::Hash> std::hash::Hash for Spanned<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state)
    }
}
impl<T: std::fmt::Display> std::fmt::Display for Spanned<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: Serialize> Serialize for Spanned<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
    fn inline_schema() -> bool {
        T::inline_schema()
    }
}
