//! HTML tables (Confluence and wiki exports, saved web pages), read with
//! scraper. Merged cells are spread back: a `colspan` repeats its text in
//! every column it covers, a `rowspan` in every row, so that each row has
//! its own copy of a merged "Source" or "Protocol" cell.

use scraper::{ElementRef, Html, Node, Selector};

use crate::doc::{mentions_port, squeeze, Document, Row, Stray, Table};
use crate::grid;

/// Text of an element with `<br>` and block ends as line breaks.
fn cell_text(e: ElementRef) -> String {
    let mut out = String::new();
    walk(e, &mut out);
    out.lines().map(squeeze).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
}

fn walk(e: ElementRef, out: &mut String) {
    for child in e.children() {
        match child.value() {
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
                if let Some(ce) = ElementRef::wrap(child) {
                    walk(ce, out);
                }
                if matches!(name, "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6") {
                    out.push('\n');
                }
            }
            _ => {}
        }
    }
}

fn is_inside_table(e: ElementRef) -> bool {
    e.ancestors().any(|a| a.value().as_element().is_some_and(|el| el.name() == "table"))
}

/// Rows of a table element, without those of nested tables, with spans spread.
fn table_rows(table: ElementRef) -> Vec<Vec<String>> {
    let mut trs: Vec<ElementRef> = Vec::new();
    collect_rows(table, &mut trs);
    // (column, rows left, text) of cells that span downwards.
    let mut pending: Vec<(usize, usize, String)> = Vec::new();
    let mut out = Vec::new();
    for tr in trs {
        let mut row: Vec<String> = Vec::new();
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
            let text = cell_text(cell);
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
        out.push(row);
    }
    out
}

fn collect_rows<'a>(e: ElementRef<'a>, out: &mut Vec<ElementRef<'a>>) {
    for child in e.children().filter_map(ElementRef::wrap) {
        match child.value().name() {
            "tr" => out.push(child),
            "thead" | "tbody" | "tfoot" => collect_rows(child, out),
            _ => {}
        }
    }
}

/// Reads every table of an HTML document.
pub fn extract(text: &str) -> Document {
    let html = Html::parse_document(text);
    let mut doc = Document::default();
    let sel = Selector::parse("h1, h2, h3, h4, h5, h6, p, caption, table, li").expect("valid selector");
    let mut title = String::new();
    let mut intro: Vec<String> = Vec::new();
    let mut n = 0;
    for e in html.select(&sel) {
        let name = e.value().name();
        if name != "table" && is_inside_table(e) {
            continue;
        }
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                title = squeeze(&cell_text(e));
                if doc.title.is_none() && !title.is_empty() {
                    doc.title = Some(title.clone());
                }
                intro.clear();
            }
            "p" | "li" => {
                let t = squeeze(&cell_text(e));
                if !t.is_empty() {
                    if mentions_port(&t) {
                        doc.strays.push(Stray { line: 0, text: t.clone() });
                    }
                    intro.push(t);
                }
            }
            "table" => {
                if is_inside_table(e) {
                    continue;
                }
                n += 1;
                let caption = e
                    .children()
                    .filter_map(ElementRef::wrap)
                    .find(|c| c.value().name() == "caption")
                    .map(|c| squeeze(&cell_text(c)))
                    .unwrap_or_default();
                let rows: Vec<Row> = table_rows(e)
                    .into_iter()
                    .enumerate()
                    .map(|(i, cells)| Row { cells, line: None, end_line: None, number: i + 1 })
                    .collect();
                for c in grid::cut(&rows) {
                    let idx = doc.tables.len() + 1;
                    let mut rows = c.rows;
                    for (m, r) in rows.iter_mut().enumerate() {
                        r.number = m + 1;
                    }
                    let t = if !caption.is_empty() {
                        caption.clone()
                    } else if !c.preamble.is_empty() {
                        c.preamble.join(" ")
                    } else {
                        title.clone()
                    };
                    doc.tables.push(Table {
                        index: idx,
                        origin: format!("HTML table {n}"),
                        title: t,
                        intro: intro.join(" "),
                        header: c.header,
                        rows: if c.ports { rows } else { Vec::new() },
                        perspective: None,
                        how: if c.ports { "HTML table" } else { "HTML table (no port column)" },
                    });
                }
                intro.clear();
            }
            _ => {}
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

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
