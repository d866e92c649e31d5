//! HTML tables (Confluence and wiki exports, saved web pages), read with
//! scraper. Merged cells are spread back: a `colspan` repeats its text in
//! every column it covers, a `rowspan` in every row, so that each row has
//! its own copy of a merged "Source" or "Protocol" cell.

use scraper::{ElementRef, Html, Node};

use crate::doc::{mentions_port, squeeze, Document, Prose, Row, Stray, Table, Warning};
use crate::grid;

/// Elements nested deeper than this (from the document root, and again
/// from a table cell) are left out with a review item: real documents
/// nest a few dozen levels, hostile ones 100,000.
pub const MAX_DEPTH: usize = 256;

/// Text of an element with `<br>` and block ends as line breaks. Walks
/// with an explicit stack (no recursion); `deep` is set when elements
/// below [`MAX_DEPTH`] were left out.
fn cell_text(e: ElementRef, deep: &mut bool) -> String {
    enum Step<'a> {
        Enter(ego_tree::NodeRef<'a, Node>, usize),
        /// A block element ends: a line break.
        Close,
    }
    let mut out = String::new();
    let mut stack: Vec<Step> = e.children().rev().map(|c| Step::Enter(c, 1)).collect();
    while let Some(step) = stack.pop() {
        let (node, depth) = match step {
            Step::Close => {
                out.push('\n');
                continue;
            }
            Step::Enter(n, d) => (n, d),
        };
        match node.value() {
            Node::Text(t) => out.push_str(t),
            Node::Element(el) => {
                let name = el.name();
                if name == "br" {
                    out.push('\n');
                    continue;
                }
                if name == "script" || name == "style" {
                    continue;
                }
                if depth >= MAX_DEPTH {
                    *deep = true;
                    continue;
                }
                if matches!(name, "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6") {
                    stack.push(Step::Close);
                }
                stack.extend(node.children().rev().map(|c| Step::Enter(c, depth + 1)));
            }
            _ => {}
        }
    }
    out.lines().map(squeeze).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
}

/// Rows of a table element, without those of nested tables, with spans
/// spread. Each row's cells are (text, whether elements were left out).
fn table_rows(table: ElementRef) -> Vec<(Vec<String>, bool)> {
    let mut trs: Vec<ElementRef> = Vec::new();
    collect_rows(table, &mut trs);
    // (column, rows left, text) of cells that span downwards.
    let mut pending: Vec<(usize, usize, String)> = Vec::new();
    let mut out = Vec::new();
    for tr in trs {
        let mut row: Vec<String> = Vec::new();
        let mut deep = false;
        let place_pending = |row: &mut Vec<String>, pending: &mut Vec<(usize, usize, String)>| loop {
            let col = row.len();
            match pending.iter_mut().find(|p| p.0 == col && p.1 > 0) {
                Some(p) => {
                    row.push(p.2.clone());
                    p.1 -= 1;
                }
                None => break,
            }
        };
        for cell in tr.children().filter_map(ElementRef::wrap).filter(|c| matches!(c.value().name(), "td" | "th")) {
            place_pending(&mut row, &mut pending);
            let text = cell_text(cell, &mut deep);
            let span = |name: &str| cell.value().attr(name).and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(1).clamp(1, 64);
            let (cs, rs) = (span("colspan"), span("rowspan"));
            for _ in 0..cs {
                if rs > 1 {
                    pending.push((row.len(), rs - 1, text.clone()));
                }
                row.push(text.clone());
            }
        }
        place_pending(&mut row, &mut pending);
        pending.retain(|p| p.1 > 0);
        out.push((row, deep));
    }
    out
}

/// The rows of a table: `tr` children, also inside `thead`/`tbody`/`tfoot`
/// (one level; rows of nested tables belong to those tables' cells).
fn collect_rows<'a>(e: ElementRef<'a>, out: &mut Vec<ElementRef<'a>>) {
    for child in e.children().filter_map(ElementRef::wrap) {
        match child.value().name() {
            "tr" => out.push(child),
            "thead" | "tbody" | "tfoot" => {
                out.extend(child.children().filter_map(ElementRef::wrap).filter(|c| c.value().name() == "tr"));
            }
            _ => {}
        }
    }
}

/// State of the walk over the document.
#[derive(Default)]
struct Walk {
    doc: Document,
    title: String,
    intro: Vec<String>,
    tables: usize,
    /// Where the walk left out elements nested too deeply (reported once).
    deep_reported: bool,
}

impl Walk {
    fn too_deep(&mut self, at: String) {
        if !self.deep_reported {
            self.deep_reported = true;
            self.doc.warnings.push(Warning {
                at,
                text: format!("elements nested deeper than {MAX_DEPTH} levels are left out; a real port table is never that deep"),
            });
        }
    }

    fn heading(&mut self, e: ElementRef) {
        let mut deep = false;
        self.title = squeeze(&cell_text(e, &mut deep));
        if self.doc.title.is_none() && !self.title.is_empty() {
            self.doc.title = Some(self.title.clone());
        }
        self.intro.clear();
        self.doc.prose.push(Prose { line: 0, text: self.title.clone(), heading: true });
        if deep {
            self.too_deep(format!("HTML heading \"{}\"", self.title));
        }
    }

    fn paragraph(&mut self, e: ElementRef) {
        let mut deep = false;
        let t = squeeze(&cell_text(e, &mut deep));
        if deep {
            self.too_deep(format!("HTML paragraph after \"{}\"", self.title));
        }
        if !t.is_empty() {
            if mentions_port(&t) {
                self.doc.strays.push(Stray { line: 0, text: t.clone() });
            }
            self.doc.prose.push(Prose { line: 0, text: t.clone(), heading: false });
            self.intro.push(t);
        }
    }

    fn table(&mut self, e: ElementRef) {
        self.tables += 1;
        let n = self.tables;
        let mut deep = false;
        let caption = e
            .children()
            .filter_map(ElementRef::wrap)
            .find(|c| c.value().name() == "caption")
            .map(|c| squeeze(&cell_text(c, &mut deep)))
            .unwrap_or_default();
        let mut rows: Vec<Row> = Vec::new();
        for (i, (cells, deep_row)) in table_rows(e).into_iter().enumerate() {
            if deep_row {
                self.too_deep(format!("HTML table {n}, row {}", i + 1));
            }
            rows.push(Row { cells, line: None, end_line: None, number: i + 1 });
        }
        for c in grid::cut(&rows) {
            let idx = self.doc.tables.len() + 1;
            let mut rows = c.rows;
            for (m, r) in rows.iter_mut().enumerate() {
                r.number = m + 1;
            }
            let t = if !caption.is_empty() {
                caption.clone()
            } else if !c.preamble.is_empty() {
                c.preamble.join(" ")
            } else {
                self.title.clone()
            };
            self.doc.tables.push(Table {
                index: idx,
                origin: format!("HTML table {n}"),
                title: t,
                intro: self.intro.join(" "),
                header: c.header,
                rows: if c.ports { rows } else { Vec::new() },
                perspective: None,
                how: if c.ports { "HTML table" } else { "HTML table (no port column)" },
            });
        }
        self.intro.clear();
    }
}

/// Tags nested deeper than this in the raw text are dropped (their text is
/// kept) before the HTML parser sees them: the parser's own algorithms
/// walk the stack of open elements, which makes deep nesting quadratic.
pub const MAX_RAW_DEPTH: usize = 512;

/// Elements that never hold others or whose end tag may be left out: they
/// do not deepen the count (old exports leave `<td>`, `<tr>`, `<p>` open).
fn shallow(name: &str) -> bool {
    matches!(
        name,
        "br" | "img"
            | "hr"
            | "input"
            | "meta"
            | "link"
            | "col"
            | "area"
            | "base"
            | "embed"
            | "param"
            | "source"
            | "track"
            | "wbr"
            | "p"
            | "li"
            | "td"
            | "th"
            | "tr"
            | "dt"
            | "dd"
            | "option"
            | "optgroup"
            | "thead"
            | "tbody"
            | "tfoot"
            | "colgroup"
            | "rt"
            | "rp"
            | "caption"
            | "html"
            | "head"
            | "body"
    )
}

/// Drops tags nested deeper than [`MAX_RAW_DEPTH`], keeping their text;
/// returns the text and the 1-based line of the first dropped tag.
fn limit_nesting(text: &str) -> (std::borrow::Cow<'_, str>, Option<usize>) {
    let b = text.as_bytes();
    let mut out: Option<String> = None;
    let mut kept_from = 0;
    // One entry per open counted tag: its name and whether it was kept.
    let mut stack: Vec<(String, bool)> = Vec::new();
    let mut first_drop: Option<usize> = None;
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        let start = i + off;
        i = start + 1;
        if b[i..].starts_with(b"!--") {
            i = b[i..].windows(3).position(|w| w == b"-->").map_or(b.len(), |p| i + p + 3);
            continue;
        }
        let closing = b.get(i) == Some(&b'/');
        let name_start = if closing { i + 1 } else { i };
        let name_len = b[name_start..].iter().take_while(|c| c.is_ascii_alphanumeric()).count();
        if name_len == 0 {
            continue;
        }
        let name = text[name_start..name_start + name_len].to_ascii_lowercase();
        let end = b[start..].iter().position(|&c| c == b'>').map_or(b.len(), |p| start + p + 1);
        let self_closing = end >= 2 && b[end - 2] == b'/';
        if matches!(name.as_str(), "script" | "style") && !closing {
            // Raw text: skip to its end tag.
            let close = format!("</{name}");
            i = text[end..].to_ascii_lowercase().find(&close).map_or(b.len(), |p| end + p);
            continue;
        }
        i = end;
        if shallow(&name) || self_closing {
            continue;
        }
        let keep = if closing {
            match stack.iter().rposition(|(n, _)| *n == name) {
                Some(p) => {
                    let kept = stack[p].1;
                    stack.truncate(p);
                    kept
                }
                None => true,
            }
        } else {
            let keep = stack.len() < MAX_RAW_DEPTH;
            stack.push((name, keep));
            keep
        };
        if !keep {
            first_drop.get_or_insert_with(|| text[..start].matches('\n').count() + 1);
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[kept_from..start]);
            kept_from = end;
        }
    }
    match out {
        Some(mut o) => {
            o.push_str(&text[kept_from..]);
            (std::borrow::Cow::Owned(o), first_drop)
        }
        None => (std::borrow::Cow::Borrowed(text), None),
    }
}

/// Reads every table of an HTML document, walking the tree with an
/// explicit stack in document order: headings give titles, paragraphs and
/// list items introductions, tables (not those nested in a table's cells)
/// their rows.
pub fn extract(text: &str) -> Document {
    let (text, dropped) = limit_nesting(text);
    let html = Html::parse_document(&text);
    let mut w = Walk::default();
    if let Some(line) = dropped {
        w.too_deep(format!("HTML line {line}"));
    }
    let mut stack: Vec<(ego_tree::NodeRef<Node>, usize)> = vec![(html.tree.root(), 0)];
    while let Some((node, depth)) = stack.pop() {
        if let Some(e) = ElementRef::wrap(node) {
            match e.value().name() {
                "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                    w.heading(e);
                    continue;
                }
                "p" | "li" => {
                    w.paragraph(e);
                    continue;
                }
                "table" => {
                    w.table(e);
                    continue;
                }
                "script" | "style" => continue,
                _ => {}
            }
        }
        if depth >= MAX_DEPTH {
            let at = if w.title.is_empty() { "HTML document".to_string() } else { format!("HTML after \"{}\"", w.title) };
            w.too_deep(at);
            continue;
        }
        stack.extend(node.children().rev().map(|c| (c, depth + 1)));
    }
    w.doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_limit_spares_unclosed_cells_and_counts_lines() {
        // 2,000 rows whose cells and rows are never closed: nothing dropped.
        let mut html = String::from("<table><tr><th>Source<th>Destination<th>Port<th>Protocol");
        for i in 0..2000 {
            html.push_str(&format!("\n<tr><td>A<td>B<td>{}<td>TCP", 1000 + i));
        }
        let (t, dropped) = limit_nesting(&html);
        assert_eq!(dropped, None);
        assert_eq!(extract(&t).tables[0].rows.len(), 2000);
        // 600 nested <div>s on line 3: those past the limit go, text stays.
        let deep = format!("<p>x</p>\n\n{}deep{}", "<div>".repeat(600), "</div>".repeat(600));
        let (t, dropped) = limit_nesting(&deep);
        assert_eq!(dropped, Some(3));
        assert_eq!(t.matches("<div>").count(), MAX_RAW_DEPTH);
        assert_eq!(t.matches("</div>").count(), MAX_RAW_DEPTH);
        assert!(t.contains("deep"));
    }

    #[test]
    fn spans_are_spread() {
        let html = r#"<html><body><h2>Inbound</h2><p>Open these.</p>
<table><tr><th>Source</th><th>Destination</th><th>Port</th><th>Protocol</th></tr>
<tr><td rowspan="2">Agents</td><td>Web</td><td>443</td><td>TCP</td></tr>
<tr><td>Web</td><td>80</td><td>TCP</td></tr>
<tr><td colspan="2">Admin</td><td>22<br>2222</td><td>TCP</td></tr>
</table></body></html>"#;
        let d = extract(html);
        assert_eq!(d.tables.len(), 1);
        let t = &d.tables[0];
        assert_eq!(t.title, "Inbound");
        assert_eq!(t.rows[1].cells, ["Agents", "Web", "80", "TCP"]);
        assert_eq!(t.rows[2].cells, ["Admin", "Admin", "22\n2222", "TCP"]);
    }
}
