//! Source files, byte spans and values that remember where they were written.

use std::sync::{Arc, OnceLock};

use schemars::JsonSchema;
use serde::{Serialize, Serializer};

/// The largest input file the loader reads: 64 MiB. A real matrix is a few
/// dozen KiB and an inventory of 200,000 hosts about 20 MiB; anything larger
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
}

/// Granularity of the line index: small enough that locating an offset is
/// cheap, large enough that the index of a 64 MiB file is 16,384 entries.
const LINE_BLOCK: usize = 4096;

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Arc<Self> {
        Arc::new(Self { name: name.into(), text: text.into(), newlines_before_block: OnceLock::new() })
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
        let bytes = self.text.as_bytes();
        let block = offset / LINE_BLOCK;
        let before_block = self.newlines_before_block().get(block).copied().unwrap_or(0);
        let in_block = bytes[block * LINE_BLOCK..offset].iter().filter(|b| **b == b'\n').count();
        let line = before_block + in_block + 1;
        let line_start = bytes[..offset].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        // Offsets inside a character (never made by the loader) count the
        // character they are in.
        let col = bytes[line_start..offset].iter().filter(|b| (**b as i8) >= -0x40).count() + 1;
        (line, col)
    }
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
