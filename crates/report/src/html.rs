//! Self-contained HTML: inline CSS, no scripts, no external assets. Follows
//! the system's dark mode, fits the width of the screen and prints cleanly.

use std::fmt::Write as _;

use portmatrix_model::Matrix;

use crate::escape::html as esc;
use crate::graph::RoleGraph;
use crate::matrix_table::{flows_table, FlowFilter};
use crate::render::{requirements_table, roles_table, settings_table};
use crate::svg::{to_svg, SvgOptions};
use crate::table::{Style, Table};

/// The one stylesheet of the HTML report and the web UI.
pub const STYLE: &str = include_str!("../assets/style.css");

/// A whole page with the stylesheet inline.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"color-scheme\" content=\"light dark\">\n<meta name=\"generator\" content=\"portmatrix\">\n<title>{}</title>\n<style>\n{}</style>\n</head>\n<body>\n{}</body>\n</html>\n",
        esc(title),
        STYLE,
        body
    )
}

/// A table as HTML; columns styled as declared (monospace, numbers).
pub fn table_html(t: &Table, caption: Option<&str>) -> String {
    table_html_with_id(t, caption, None)
}

/// [`table_html`] with an `id` on the table element.
pub fn table_html_with_id(t: &Table, caption: Option<&str>, id: Option<&str>) -> String {
    // Tables of many columns (a change request's fourteen) get a smaller
    // type so that they fit the screen without scrolling sideways.
    let class = if t.header.len() > 10 { " class=\"wide\"" } else { "" };
    let mut o = match id {
        Some(id) => format!("<table id=\"{}\"{class}>\n", esc(id)),
        None => format!("<table{class}>\n"),
    };
    if let Some(c) = caption {
        let _ = writeln!(o, "<caption>{}</caption>", esc(c));
    }
    o.push_str("<thead><tr>");
    for h in &t.header {
        let _ = write!(o, "<th scope=\"col\">{}</th>", esc(h));
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    for r in &t.rows {
        o.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let class = match t.styles.get(i).copied().unwrap_or_default() {
                Style::Mono => " class=\"ports\"",
                Style::Number => " class=\"num\"",
                Style::Text => "",
            };
            let _ = write!(o, "<td{class}>{}</td>", esc(&c.text()));
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody>\n</table>\n");
    o
}

/// A table of contents: `(anchor, text)` pairs as a numbered list of links.
pub fn toc(entries: &[(String, String)]) -> String {
    let mut o = String::from("<nav class=\"toc\" aria-labelledby=\"toc-h\"><h2 id=\"toc-h\">Contents</h2>\n<ol>\n");
    for (id, text) in entries {
        let _ = writeln!(o, "<li><a href=\"#{}\">{}</a></li>", esc(id), esc(text));
    }
    o.push_str("</ol>\n</nav>\n");
    o
}

/// An anchor made of ASCII letters, digits and dashes, unique by its number.
pub fn anchor(prefix: &str, n: usize, words: &[&str]) -> String {
    let mut slug = format!("{prefix}-{n}");
    for w in words {
        slug.push('-');
        slug.extend(w.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).take(40));
    }
    slug
}

/// The summary lines of a matrix: version, vendor, source, about.
pub fn matrix_summary(m: &Matrix) -> String {
    let mut o = String::new();
    let _ = write!(o, "<p class=\"meta\">Version <b>{}</b>", esc(&m.version.value));
    if let Some(v) = &m.vendor {
        let _ = write!(o, " · vendor {}", esc(v));
    }
    let _ = writeln!(o, " · {} roles · {} flows</p>", m.roles.len(), m.flows.len());
    if let Some(s) = &m.source {
        let _ = writeln!(o, "<p class=\"meta\">Source: {}</p>", esc(&s.document));
    }
    if let Some(a) = &m.about {
        let _ = writeln!(o, "<p>{}</p>", esc(a.trim()));
    }
    o
}

/// The report of one matrix as a single HTML file.
pub fn matrix_report(m: &Matrix) -> String {
    let mut b = String::from("<main id=\"main\">\n");
    let _ = writeln!(b, "<h1>{} <span class=\"muted\">{}</span></h1>", esc(&m.title), esc(&m.matrix.value));
    b.push_str(&matrix_summary(m));
    let settings = settings_table(m);
    let mut entries = vec![
        ("diagram".to_string(), "Diagram".to_string()),
        ("flows".to_string(), format!("Flows ({})", m.flows.len())),
        ("roles".to_string(), format!("Roles ({})", m.roles.len())),
    ];
    if !settings.rows.is_empty() {
        entries.push(("settings".into(), "Features and parameters".into()));
    }
    if !m.requirements.is_empty() {
        entries.push(("requirements".into(), "Other requirements".into()));
    }
    b.push_str(&toc(&entries));
    b.push_str("<h2 id=\"diagram\">Diagram</h2>\n<p class=\"muted\">Boxes are roles; the shaded group holds the product's own roles, dashed boxes are outside parties. Arrows run from initiator to listener, labelled with protocol and listener ports (parameters at their defaults); dashed arrows depend on features.</p>\n<div class=\"diagram\">\n");
    b.push_str(&to_svg(&RoleGraph::drawing(m), &SvgOptions { fit_width: true, ..Default::default() }));
    b.push_str("</div>\n");
    let _ = writeln!(b, "<h2 id=\"flows\">Flows ({})</h2>", m.flows.len());
    b.push_str(&table_html(&flows_table(m, &FlowFilter::default()), None));
    let _ = writeln!(b, "<h2 id=\"roles\">Roles ({})</h2>", m.roles.len());
    b.push_str(&table_html(&roles_table(m), None));
    if !settings.rows.is_empty() {
        b.push_str("<h2 id=\"settings\">Features and parameters</h2>\n");
        b.push_str(&table_html(&settings, None));
    }
    if !m.requirements.is_empty() {
        b.push_str("<h2 id=\"requirements\">Other requirements</h2>\n");
        b.push_str(&table_html(&requirements_table(m), None));
    }
    b.push_str("<p class=\"muted\">Generated by portmatrix.</p>\n</main>\n");
    page(&format!("{} ({}) — port matrix", m.title, m.matrix.value), &b)
}
