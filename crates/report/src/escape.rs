//! Escaping for every text format the renderers write, so that no text from
//! a matrix, an inventory or a vendor document can leave its string: HTML
//! (and SVG), Markdown, and CSV cells that spreadsheets would evaluate.

/// Text for HTML or XML content and attribute values.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Characters that start a formula in a spreadsheet (OWASP's list for CSV
/// injection): `=`, `+`, `-`, `@`, tab and carriage return.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A CSV cell that no spreadsheet evaluates: a cell starting with a formula
/// character gets a leading apostrophe (OWASP's rule), which spreadsheets
/// show as text and do not display. Quoting is the CSV writer's job.
pub fn csv_cell(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(FORMULA_START) {
        std::borrow::Cow::Owned(format!("'{s}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Inline Markdown text that renders as exactly these characters: HTML is
/// escaped as entities (no raw HTML reaches a renderer), and the characters
/// that make links, images, emphasis, code or table cells are escaped with
/// a backslash. Line breaks become `<br>` (the only HTML the writers emit
/// themselves), so a cell stays one table row.
pub fn markdown_inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '!' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\r' => {}
            '\n' => out.push_str("<br>"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A paragraph of Markdown text: [`markdown_inline`] for each line, and a
/// line that would start a block (a heading, quote, list item, rule or
/// setext underline) has its first character escaped.
pub fn markdown_block(s: &str) -> String {
    let mut lines = Vec::new();
    for line in s.lines() {
        let trimmed = line.trim_start();
        let mut esc = markdown_inline(trimmed);
        let first = trimmed.chars().next();
        if matches!(first, Some('-' | '+' | '=' | '>')) {
            esc.insert(0, '\\');
        }
        // `1.` or `1)` starts an ordered list.
        let digits = trimmed.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && matches!(trimmed[digits..].chars().next(), Some('.' | ')')) {
            esc.insert(digits, '\\');
        }
        lines.push(esc);
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        for s in ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(csv_cell(s), format!("'{s}"), "{s:?}");
        }
        for s in ["10.0.0.1", "tcp/443", "", "a=b", " =x"] {
            assert_eq!(csv_cell(s), s, "{s:?}");
        }
    }

    #[test]
    fn markdown_block_escapes_block_starts() {
        assert_eq!(markdown_block("# h\n- item\n12. x\nplain"), "\\# h\n\\- item\n12\\. x\nplain");
        assert_eq!(markdown_inline("<b>[x](y)</b>"), "&lt;b&gt;\\[x\\](y)&lt;/b&gt;");
    }
}
