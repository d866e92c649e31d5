//! Markdown pipe tables (GitHub style), read with pulldown-cmark. The text
//! before a table gives its title (a heading, or the last short line of the
//! paragraph above it) and its introduction.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use crate::doc::{mentions_port, Document, Prose, Row, Stray, Table};
use crate::text::LineIndex;

#[derive(Default)]
struct Ctx {
    /// Lines of prose seen since the last table, with their line numbers
    /// and whether they were a heading.
    prose: Vec<(usize, String, bool)>,
}

impl Ctx {
    fn title_and_intro(&self) -> (String, String) {
        // The nearest heading or short line that does not end a sentence.
        let recent: Vec<&(usize, String, bool)> = self.prose.iter().rev().take(6).collect();
        for (k, (_, text, heading)) in recent.iter().enumerate() {
            let t = text.trim();
            let short = t.len() <= 90 && !t.ends_with('.') && !t.ends_with(':') && !t.starts_with("- ");
            if *heading || short {
                let intro: Vec<&str> = recent[..k].iter().rev().map(|(_, s, _)| s.as_str()).collect();
                return (t.to_string(), intro.join(" "));
            }
        }
        (String::new(), recent.iter().rev().map(|(_, s, _)| s.as_str()).collect::<Vec<_>>().join(" "))
    }
}

fn delimiter_row(l: &str) -> bool {
    let t = l.trim();
    t.contains('-') && t.contains('|') && t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' ' | '\t'))
}

/// Exports often run tables into the surrounding text without blank lines,
/// which Markdown then reads as paragraph text (before) or as more rows
/// (after). A blank line is put before every header row and after every
/// table's last row. Returns the text and, for each of its lines, the
/// 1-based line of the original.
fn separate_tables(text: &str) -> (String, Vec<usize>) {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out: Vec<&str> = Vec::with_capacity(lines.len() + 16);
    let mut map: Vec<usize> = Vec::with_capacity(lines.len() + 16);
    let mut in_table = false;
    for (i, l) in lines.iter().enumerate() {
        let starts = l.contains('|') && !delimiter_row(l) && lines.get(i + 1).is_some_and(|n| delimiter_row(n));
        if starts {
            if out.last().is_some_and(|p| !p.trim().is_empty()) {
                out.push("");
                map.push(i + 1);
            }
            in_table = true;
        } else if in_table && !l.contains('|') {
            in_table = false;
            if !l.trim().is_empty() {
                out.push("");
                map.push(i + 1);
            }
        }
        out.push(l);
        map.push(i + 1);
    }
    (out.join("\n"), map)
}

/// Reads every pipe table of a Markdown text.
pub fn extract(original: &str) -> Document {
    let (text, map) = separate_tables(original);
    let text = text.as_str();
    let idx = LineIndex::new(text);
    let mut doc = Document::default();
    let mut ctx = Ctx::default();
    let mut in_table = false;
    let mut in_head = false;
    let mut cell: Option<String> = None;
    let mut row: Vec<String> = Vec::new();
    let mut row_line = 0usize;
    let mut header: Vec<String> = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut table_line = 0usize;
    // Prose being collected (paragraph or heading), with its first line.
    let mut prose: Option<(usize, String, bool)> = None;
    let mut in_code = false;

    let parser = Parser::new_ext(text, Options::ENABLE_TABLES).into_offset_iter();
    for (ev, range) in parser {
        let line = map.get(idx.line_of(range.start).saturating_sub(1)).copied().unwrap_or(0);
        match ev {
            Event::Start(Tag::Table(_)) => {
                in_table = true;
                header.clear();
                rows.clear();
                table_line = line;
            }
            Event::End(TagEnd::Table) => {
                in_table = false;
                let (title, intro) = ctx.title_and_intro();
                if doc.title.is_none() {
                    doc.title = ctx.prose.iter().find(|p| p.2).map(|p| p.1.clone());
                }
                let index = doc.tables.len() + 1;
                doc.tables.push(Table {
                    index,
                    origin: format!("L{table_line}"),
                    title,
                    intro,
                    header: std::mem::take(&mut header),
                    rows: std::mem::take(&mut rows),
                    perspective: None,
                    how: "Markdown table",
                });
                ctx.prose.clear();
            }
            Event::Start(Tag::TableHead) => {
                in_head = true;
                row.clear();
                row_line = line;
            }
            Event::End(TagEnd::TableHead) => {
                in_head = false;
                header = std::mem::take(&mut row);
            }
            Event::Start(Tag::TableRow) => {
                row.clear();
                row_line = line;
            }
            Event::End(TagEnd::TableRow) if !in_head => {
                let number = rows.len() + 1;
                rows.push(Row { cells: std::mem::take(&mut row), line: Some(row_line), end_line: None, number });
            }
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::End(TagEnd::TableCell) => {
                if let Some(c) = cell.take() {
                    row.push(c.trim().to_string());
                }
            }
            Event::Start(Tag::Heading { .. }) => prose = Some((line, String::new(), true)),
            Event::Start(Tag::Paragraph) | Event::Start(Tag::Item) if prose.is_none() => {
                prose = Some((line, String::new(), false));
            }
            Event::End(TagEnd::Heading(_)) | Event::End(TagEnd::Paragraph) | Event::End(TagEnd::Item) => {
                if let Some((l, text, heading)) = prose.take() {
                    for (k, part) in text.split('\n').enumerate() {
                        let part = part.trim();
                        if !part.is_empty() && mentions_port(part) {
                            doc.strays.push(Stray { line: l + k, text: part.to_string() });
                        }
                        // Titles come from single lines ("the last short line above").
                        if !part.is_empty() {
                            ctx.prose.push((l + k, part.to_string(), heading));
                        }
                    }
                    // A paragraph is one text, whatever its line breaks.
                    let whole = crate::doc::squeeze(&text);
                    if !whole.is_empty() {
                        doc.prose.push(Prose { line: l, text: whole, heading });
                    }
                }
            }
            Event::Start(Tag::CodeBlock(_)) => in_code = true,
            Event::End(TagEnd::CodeBlock) => in_code = false,
            Event::Text(t) | Event::Code(t) => {
                if let Some(c) = cell.as_mut() {
                    c.push_str(&t);
                } else if let Some((_, p, _)) = prose.as_mut() {
                    p.push_str(&t);
                } else if in_code {
                    // Commands in code blocks (ufw, firewall-cmd, iptables).
                    for (k, part) in t.split('\n').enumerate() {
                        if !part.trim().is_empty() {
                            doc.prose.push(Prose { line: line + k, text: part.trim().to_string(), heading: false });
                        }
                    }
                }
            }
            Event::InlineHtml(h) | Event::Html(h) => {
                let lower = h.to_ascii_lowercase();
                let br = lower.starts_with("<br");
                // Other "tags" are usually placeholders: "<os-package-mirror>".
                let keep = if br { "\n".to_string() } else { h.to_string() };
                if let Some(c) = cell.as_mut() {
                    c.push_str(&keep);
                } else if let Some((_, p, _)) = prose.as_mut() {
                    p.push_str(&keep);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(c) = cell.as_mut() {
                    c.push('\n');
                } else if let Some((_, p, _)) = prose.as_mut() {
                    p.push('\n');
                }
            }
            _ => {}
        }
        let _ = in_table;
    }
    if doc.title.is_none() {
        doc.title = doc.prose.iter().find(|p| p.heading).map(|p| p.text.clone());
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_with_titles_and_lines() {
        let text = "Intro\nWeb Interface\n| Port | Protocol | Source |\n|---|---|---|\n| 443 | TCP | End users |\n80 | TCP | End users |\n\nAfter.\n";
        let d = extract(text);
        assert_eq!(d.tables.len(), 1);
        let t = &d.tables[0];
        assert_eq!(t.title, "Web Interface");
        assert_eq!(t.header, ["Port", "Protocol", "Source"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].line, Some(5));
        assert_eq!(t.rows[1].cells, ["80", "TCP", "End users"]);
        assert_eq!(t.rows[1].line, Some(6));
    }
}
