//! Tables and their writers. A typed row ([`Record`]) declares its columns
//! once — name, style, whether a compact terminal view shows it — and every
//! writer (terminal, Markdown, CSV, JSON, HTML, XLSX) renders the [`Table`]
//! built from it, so all formats show the same columns. Cells keep their
//! type: numbers stay numbers and lists stay lists in JSON and XLSX.

use std::borrow::Cow;

use comfy_table::{presets, Cell as ComfyCell, CellAlignment, ColumnConstraint, ContentArrangement, Row, Table as Comfy, Width};

use crate::escape;

/// One cell, typed. Ordered by kind, then value (for sorted listings).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cell {
    Text(String),
    Int(i64),
    /// Items joined by `sep` in text formats, an array in JSON.
    List {
        items: Vec<String>,
        sep: &'static str,
    },
}

impl Cell {
    pub fn list<I: IntoIterator<Item = S>, S: ToString>(items: I, sep: &'static str) -> Self {
        Cell::List { items: items.into_iter().map(|s| s.to_string()).collect(), sep }
    }
    /// The cell as text.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Cell::Text(s) => Cow::Borrowed(s),
            Cell::Int(n) => Cow::Owned(n.to_string()),
            Cell::List { items, sep } => Cow::Owned(items.join(sep)),
        }
    }
    /// The cell as text for a terminal table in compact mode: long lists
    /// show their first items and a count of the rest.
    fn compact_text(&self) -> Cow<'_, str> {
        const SHOWN: usize = 3;
        match self {
            Cell::List { items, sep } if items.len() > SHOWN + 1 => {
                Cow::Owned(format!("{}{sep}(+{} more)", items[..SHOWN].join(sep), items.len() - SHOWN))
            }
            c => c.text(),
        }
    }
    fn json(&self) -> serde_json::Value {
        match self {
            Cell::Text(s) => serde_json::Value::String(s.clone()),
            Cell::Int(n) => serde_json::Value::from(*n),
            Cell::List { items, .. } => serde_json::Value::Array(items.iter().cloned().map(serde_json::Value::String).collect()),
        }
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}
impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_string())
    }
}
impl From<&String> for Cell {
    fn from(s: &String) -> Self {
        Cell::Text(s.clone())
    }
}
impl From<usize> for Cell {
    fn from(n: usize) -> Self {
        Cell::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
impl From<i64> for Cell {
    fn from(n: i64) -> Self {
        Cell::Int(n)
    }
}

/// How a column's cells look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    #[default]
    Text,
    /// Addresses, ports, ids: monospace in HTML.
    Mono,
    /// Counts: right-aligned.
    Number,
}

/// A column of a typed row: declared once, read by every writer.
pub trait ColumnSpec: Copy {
    /// The header.
    fn name(self) -> &'static str;
    fn style(self) -> Style {
        Style::Text
    }
    /// Whether the compact terminal view shows it (the wide view shows all).
    fn compact(self) -> bool {
        true
    }
    /// When a compact table does not fit its width, columns are left out,
    /// highest number first; 0 is never left out.
    fn priority(self) -> u8 {
        0
    }
    /// The values a person may choose from (a list in a spreadsheet); empty: free text.
    fn choices(self) -> &'static [&'static str] {
        &[]
    }
}

/// A typed row with declared columns.
pub trait Record {
    type Column: ColumnSpec;
    /// The columns, in order.
    fn columns() -> Vec<Self::Column>;
    fn cell(&self, column: Self::Column) -> Cell;
}

/// A table ready for the writers: header, typed cells, column styles.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    pub styles: Vec<Style>,
    /// Columns only the wide terminal view shows.
    pub wide_only: Vec<bool>,
    /// Which columns a compact view leaves out first when short of width
    /// (highest first; 0: never).
    pub priority: Vec<u8>,
    /// Values to choose from, per column (empty: free text).
    pub choices: Vec<&'static [&'static str]>,
}

/// The longest word of a header, at most 11 characters: the narrowest its column gets.
fn header_word(h: &str) -> usize {
    h.split(' ').map(|w| w.chars().count()).max().unwrap_or(1).min(11)
}

/// How much a terminal table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Density {
    /// Fits the width: long lists shortened, rows at most a few lines,
    /// columns meant for documents (status, ticket) left out.
    #[default]
    Compact,
    /// Every column and every character, no wrapping.
    Wide,
}

/// Lines a row may take in a compact terminal table before it is cut.
const COMPACT_ROW_LINES: u16 = 4;
/// The width of a compact table when the caller knows none (output to a
/// pipe or file): what a wide terminal shows.
pub const DEFAULT_WIDTH: u16 = 160;

impl Table {
    /// An untyped table with these column names (all text).
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
            styles: vec![Style::Text; header.len()],
            wide_only: vec![false; header.len()],
            priority: vec![0; header.len()],
            choices: vec![&[]; header.len()],
        }
    }

    /// The table of typed rows.
    pub fn of<'r, R: Record + 'r>(rows: impl IntoIterator<Item = &'r R>) -> Self {
        let cols = R::columns();
        let mut t = Table {
            header: cols.iter().map(|c| c.name().to_string()).collect(),
            rows: Vec::new(),
            styles: cols.iter().map(|c| c.style()).collect(),
            wide_only: cols.iter().map(|c| !c.compact()).collect(),
            priority: cols.iter().map(|c| c.priority()).collect(),
            choices: cols.iter().map(|c| c.choices()).collect(),
        };
        for r in rows {
            t.rows.push(cols.iter().map(|&c| r.cell(c)).collect());
        }
        t
    }

    /// Shows these columns in monospace (HTML).
    pub fn mono(mut self, names: &[&str]) -> Self {
        for (h, s) in self.header.iter().zip(self.styles.iter_mut()) {
            if names.contains(&h.as_str()) {
                *s = Style::Mono;
            }
        }
        self
    }

    pub fn push<C: Into<Cell>>(&mut self, row: Vec<C>) {
        debug_assert_eq!(row.len(), self.header.len());
        self.rows.push(row.into_iter().map(Into::into).collect());
    }

    /// A compact table for the terminal, wrapped to `width` columns when given.
    pub fn to_text(&self, width: Option<u16>) -> String {
        self.to_text_with(width, Density::Compact)
    }

    /// A table for the terminal: compact (wrapped to `width`, or to
    /// [`DEFAULT_WIDTH`] when none is known; columns left out by priority
    /// when they cannot fit, with a note saying which) or wide (every
    /// column, never wrapped).
    pub fn to_text_with(&self, width: Option<u16>, density: Density) -> String {
        let width = width.unwrap_or(DEFAULT_WIDTH);
        let (shown, left_out) = self.text_columns(width, density);
        let mut t = Comfy::new();
        t.load_style(presets::UTF8_FULL_CONDENSED);
        t.set_truncation_indicator("…");
        if density == Density::Compact {
            t.set_content_arrangement(ContentArrangement::Dynamic);
            t.set_width(width);
        } else {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
        t.set_header(shown.iter().map(|&i| self.header[i].as_str()));
        for r in &self.rows {
            let cells = shown.iter().map(|&i| {
                let text = match density {
                    Density::Compact => r[i].compact_text(),
                    Density::Wide => r[i].text(),
                };
                let c = ComfyCell::new(text);
                if self.styles[i] == Style::Number {
                    c.set_alignment(CellAlignment::Right)
                } else {
                    c
                }
            });
            let mut row = Row::from(cells.collect::<Vec<_>>());
            if density == Density::Compact {
                row.max_height(usize::from(COMPACT_ROW_LINES));
            }
            t.add_row(row);
        }
        if density == Density::Compact {
            // Counts keep their width; other columns are no narrower than
            // the longest word of their header, so headers wrap between words.
            t.set_constraints(shown.iter().map(|&i| match self.styles[i] {
                Style::Number => ColumnConstraint::ContentWidth,
                _ => ColumnConstraint::LowerBoundary(Width::Fixed(header_word(&self.header[i]) as u16)),
            }));
        }
        let mut out = t.to_string();
        out.push('\n');
        if !left_out.is_empty() {
            let names: Vec<&str> = left_out.iter().map(|&i| self.header[i].as_str()).collect();
            out.push_str(&format!("(left out for width: {}; the wide view shows every column)\n", names.join(", ")));
        }
        out
    }

    /// The columns a terminal table shows, and those a compact one leaves
    /// out to fit `width` (by priority; document-only columns are not listed).
    fn text_columns(&self, width: u16, density: Density) -> (Vec<usize>, Vec<usize>) {
        let all: Vec<usize> = (0..self.header.len()).filter(|&i| density == Density::Wide || !self.wide_only[i]).collect();
        if density == Density::Wide {
            return (all, Vec::new());
        }
        // What a column needs to be readable: its header's longest word, or
        // its content up to a modest width; plus padding and a border.
        let need = |i: usize| {
            let content = self.rows.iter().map(|r| r[i].compact_text().chars().count()).max().unwrap_or(0);
            header_word(&self.header[i]).max(content.min(14)) + 3
        };
        let mut shown = all;
        let mut left_out = Vec::new();
        while shown.iter().map(|&i| need(i)).sum::<usize>() + 1 > usize::from(width) {
            let Some(&drop) = shown.iter().filter(|&&i| self.priority[i] > 0).max_by_key(|&&i| (self.priority[i], i)) else { break };
            shown.retain(|&i| i != drop);
            left_out.push(drop);
        }
        left_out.sort_unstable();
        (shown, left_out)
    }

    /// A Markdown table; cell text escaped (no HTML, links or emphasis from the data).
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("| {} |\n", self.header.iter().map(|h| escape::markdown_inline(h)).collect::<Vec<_>>().join(" | ")));
        out.push_str(&format!("|{}\n", "---|".repeat(self.header.len())));
        for r in &self.rows {
            out.push_str(&format!("| {} |\n", r.iter().map(|c| escape::markdown_inline(&c.text())).collect::<Vec<_>>().join(" | ")));
        }
        out
    }

    /// CSV with every cell a spreadsheet would evaluate neutralised.
    pub fn to_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(self.header.iter().map(|h| escape::csv_cell(h).into_owned())).expect("write to memory");
        for r in &self.rows {
            w.write_record(r.iter().map(|c| match c {
                // A number is written as digits: nothing to evaluate.
                Cell::Int(n) => n.to_string(),
                c => escape::csv_cell(&c.text()).into_owned(),
            }))
            .expect("write to memory");
        }
        String::from_utf8(w.into_inner().expect("flush to memory")).expect("CSV of UTF-8 strings")
    }

    /// Rows as JSON objects keyed by the header; numbers as numbers, lists as arrays.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.rows
                .iter()
                .map(|r| serde_json::Value::Object(self.header.iter().cloned().zip(r.iter().map(Cell::json)).collect()))
                .collect(),
        )
    }

    /// The text of the cell in column `name` of row `row` (for tests and lookups by header).
    pub fn get(&self, row: usize, name: &str) -> Option<Cow<'_, str>> {
        let i = self.header.iter().position(|h| h == name)?;
        self.rows.get(row).map(|r| r[i].text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(&["name", "count", "purpose"]);
        t.push(vec![Cell::from("a"), Cell::from(3usize), Cell::from("=HYPERLINK(\"http://x\")")]);
        t.push(vec![Cell::from("b"), Cell::Int(-4), Cell::list(["x", "y"], " ")]);
        t
    }

    #[test]
    fn json_keeps_types() {
        let v = sample().to_json();
        assert_eq!(v[0]["count"], serde_json::json!(3));
        assert_eq!(v[1]["count"], serde_json::json!(-4));
        assert_eq!(v[1]["purpose"], serde_json::json!(["x", "y"]));
    }

    #[test]
    fn csv_neutralises_formulas_but_not_numbers() {
        let csv = sample().to_csv();
        assert!(csv.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{csv}");
        assert!(csv.contains("b,-4,x y"), "{csv}");
    }

    #[test]
    fn compact_text_has_no_row_separators_and_fits() {
        let mut t = Table::new(&["id", "about"]);
        for i in 0..5 {
            t.push(vec![format!("row{i}"), "word ".repeat(60)]);
        }
        let text = t.to_text(Some(60));
        assert!(text.lines().all(|l| l.chars().count() <= 60), "{text}");
        // Top border, header, header separator, rows, bottom border: no line between rows.
        let separators = text.lines().filter(|l| l.starts_with('├') || l.starts_with('╞')).count();
        assert_eq!(separators, 1, "{text}");
        assert!(text.contains('…'), "long cells are cut: {text}");
        let wide = t.to_text_with(Some(60), Density::Wide);
        assert!(wide.lines().any(|l| l.chars().count() > 60), "wide shows everything");
        assert!(!wide.contains('…'));
    }
}
