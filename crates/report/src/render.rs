//! `render`: a whole matrix as a document people read — Markdown, CSV,
//! XLSX, self-contained HTML, Graphviz DOT, Mermaid or SVG.

use portmatrix_model::Matrix;

use crate::escape::{markdown_block, markdown_inline};
use crate::graph::RoleGraph;
use crate::matrix_table::{flows_table, FlowFilter};
use crate::svg::SvgOptions;
use crate::table::Table;

/// The formats of `render`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Md,
    Csv,
    Xlsx,
    Html,
    Dot,
    Mermaid,
    Svg,
}

impl Format {
    pub const ALL: [Format; 7] = [Format::Md, Format::Csv, Format::Xlsx, Format::Html, Format::Dot, Format::Mermaid, Format::Svg];
    pub fn extension(self) -> &'static str {
        match self {
            Format::Md => "md",
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Html => "html",
            Format::Dot => "dot",
            Format::Mermaid => "mmd",
            Format::Svg => "svg",
        }
    }
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Md => "text/markdown; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Html => "text/html; charset=utf-8",
            Format::Dot => "text/vnd.graphviz; charset=utf-8",
            Format::Mermaid => "text/plain; charset=utf-8",
            Format::Svg => "image/svg+xml",
        }
    }
    /// Whether the output is binary (not UTF-8 text).
    pub fn is_binary(self) -> bool {
        self == Format::Xlsx
    }
}

/// Renders a matrix. Text formats are UTF-8.
pub fn render_matrix(m: &Matrix, format: Format) -> Result<Vec<u8>, String> {
    Ok(match format {
        Format::Md => matrix_markdown(m).into_bytes(),
        Format::Csv => flows_table(m, &FlowFilter::default()).to_csv().into_bytes(),
        Format::Xlsx => crate::xlsx::matrix_xlsx(m).map_err(|e| format!("cannot write XLSX: {e}"))?,
        Format::Html => crate::html::matrix_report(m).into_bytes(),
        Format::Dot => crate::diagram::to_dot(&RoleGraph::of(m)).into_bytes(),
        Format::Mermaid => crate::diagram::to_mermaid(&RoleGraph::of(m)).into_bytes(),
        Format::Svg => crate::svg::to_svg(&RoleGraph::drawing(m), &SvgOptions::default()).into_bytes(),
    })
}

/// The roles of a matrix as a table.
pub fn roles_table(m: &Matrix) -> Table {
    let mut t = Table::new(&["id", "title", "external", "os", "aliases", "fqdns", "about"]).mono(&["id"]);
    for (id, r) in &m.roles {
        t.push(vec![
            id.value.clone(),
            r.title.clone(),
            if r.external { "yes".into() } else { "no".into() },
            r.os.map(|o| format!("{o:?}").to_lowercase()).unwrap_or_default(),
            r.aliases.join(", "),
            r.fqdns.iter().map(|f| f.value.as_str()).collect::<Vec<_>>().join(", "),
            r.about.clone().unwrap_or_default().trim().to_string(),
        ]);
    }
    t
}

/// Features and parameters in one table: what a deployment may set.
pub fn settings_table(m: &Matrix) -> Table {
    let mut t = Table::new(&["kind", "name", "default", "range", "notes", "about"]).mono(&["name", "default"]);
    for (name, f) in &m.features {
        t.push(vec![
            "feature".into(),
            name.value.clone(),
            f.default.to_string(),
            String::new(),
            f.exclusive.as_ref().map(|x| format!("exclusive: {x}")).unwrap_or_default(),
            f.about.clone().unwrap_or_default().trim().to_string(),
        ]);
    }
    for (name, p) in &m.params {
        let range = match (p.min, p.max) {
            (None, None) => String::new(),
            (a, b) => format!("{}..{}", a.map(|v| v.to_string()).unwrap_or_default(), b.map(|v| v.to_string()).unwrap_or_default()),
        };
        t.push(vec![
            "param".into(),
            name.value.clone(),
            p.default.as_ref().map(|d| d.value.to_string()).unwrap_or_else(|| "(set by deployment)".into()),
            range,
            if p.configurable { "configurable".into() } else { String::new() },
            p.about.clone().unwrap_or_default().trim().to_string(),
        ]);
    }
    t
}

pub fn requirements_table(m: &Matrix) -> Table {
    let mut t = Table::new(&["id", "about", "cite"]).mono(&["id"]);
    for r in &m.requirements {
        t.push(vec![r.id.value.clone(), r.about.trim().to_string(), r.cite.clone()]);
    }
    t
}

/// A Markdown document: summary, roles, settings, flows, requirements.
/// Every text from the matrix is escaped: no HTML or links pass through.
pub fn matrix_markdown(m: &Matrix) -> String {
    let md = markdown_inline;
    let mut o = format!("# {} — {}\n\n", md(&m.matrix.value), md(&m.title));
    o.push_str(&format!("Version: {}", md(&m.version.value)));
    if let Some(v) = &m.vendor {
        o.push_str(&format!(" · Vendor: {}", md(v)));
    }
    o.push_str("\n\n");
    if let Some(s) = &m.source {
        o.push_str(&format!("Source: {}\n\n", md(&s.document)));
    }
    if let Some(a) = &m.about {
        o.push_str(&markdown_block(a.trim()));
        o.push_str("\n\n");
    }
    o.push_str(&format!("## Flows ({})\n\n", m.flows.len()));
    o.push_str(&flows_table(m, &FlowFilter::default()).to_markdown());
    o.push_str(&format!("\n## Roles ({})\n\n", m.roles.len()));
    o.push_str(&roles_table(m).to_markdown());
    let settings = settings_table(m);
    if !settings.rows.is_empty() {
        o.push_str("\n## Features and parameters\n\n");
        o.push_str(&settings.to_markdown());
    }
    if !m.requirements.is_empty() {
        o.push_str("\n## Other requirements\n\n");
        o.push_str(&requirements_table(m).to_markdown());
    }
    o
}
