//! Vendor documents → draft matrix.
//!
//! Finds the port tables of a document (Markdown and HTML tables, CSV/TSV,
//! spreadsheet sheets, tab-separated or column-aligned text as PDF
//! extraction leaves it, and tables whose cells run one per line), maps
//! their columns by meaning, parses the port cells, turns direction columns
//! into initiator → listener flows, and writes a draft matrix in which every
//! flow cites its table and row and every doubtful cell is a review item.
//! It never invents a port: what it cannot read is a review item.
//!
//! The draft is checked with the model before it is returned: it loads.
//! It accepts no lint finding and carries its doubts in a first-class
//! `review:` list, so `portmatrix check` fails until a person has
//! resolved them.

pub mod build;
pub mod delimited;
pub mod doc;
pub mod emit;
pub mod grid;
pub mod header;
pub mod hints;
pub mod html;
pub mod md;
pub mod pdf;
pub mod peer;
pub mod ports;
pub mod prose;
pub mod proto;
pub mod roles;
pub mod score;
pub mod shapes;
pub mod text;
pub mod xlsx;

use std::fmt::Write;

pub use build::{Draft, Review};
pub use doc::{Document, Table};

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Decide from the file name and content.
    Auto,
    /// Markdown pipe tables.
    Md,
    /// CSV or TSV (delimiter guessed).
    Csv,
    /// Spreadsheets: XLSX, XLSM, XLSB, XLS, ODS.
    Xlsx,
    /// HTML tables.
    Html,
    /// Plain text: tab-separated, column-aligned or one-cell-per-line
    /// tables (PDF text), and Markdown pipe tables within it.
    Text,
    /// PDF, read as text through `pdftotext -layout`.
    Pdf,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Md => "md",
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Html => "html",
            Format::Text => "text",
            Format::Pdf => "pdf",
        }
    }
}

/// What to import and how.
#[derive(Debug, Clone)]
pub struct Options {
    pub format: Format,
    /// The document's file name: the draft's `source.document`, and the
    /// default matrix id.
    pub name: String,
    /// Matrix id; default from the file name.
    pub matrix: Option<String>,
    pub title: Option<String>,
    /// Name of the system the document describes, for tables that leave
    /// out one end.
    pub self_name: Option<String>,
}

impl Options {
    pub fn new(name: impl Into<String>) -> Self {
        Self { format: Format::Auto, name: name.into(), matrix: None, title: None, self_name: None }
    }
}

/// A finished import.
#[derive(Debug, Clone)]
pub struct Import {
    pub draft: Draft,
    /// The draft matrix as YAML.
    pub yaml: String,
    /// The format that was read.
    pub format: Format,
    /// Tables found, port tables among them.
    pub tables: usize,
    pub port_tables: usize,
    /// Problems the model found in the draft (empty unless the importer has
    /// a bug): the draft would not pass `portmatrix check`.
    pub check_errors: Vec<String>,
}

impl Import {
    /// Review items, general and per flow.
    pub fn review_count(&self) -> usize {
        self.draft.review.len() + self.draft.flows.iter().map(|f| f.review.len()).sum::<usize>()
    }

    /// The summary printed on stderr.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let d = &self.draft;
        let _ =
            writeln!(s, "read {} as {}: {} table(s) found, {} with ports", d.document, self.format.as_str(), self.tables, self.port_tables);
        for t in &d.tables {
            match &t.mapping {
                Some(m) => {
                    let _ = writeln!(
                        s,
                        "  {} [{}; {}]: {} row(s) -> {} flow(s), {} review item(s)",
                        t.label, t.origin, t.how, t.rows, t.flows, t.reviews
                    );
                    let _ = writeln!(s, "      columns: {m}");
                }
                None => {
                    let _ = writeln!(s, "  {} [{}; {}]: skipped, no port column", t.label, t.origin, t.how);
                }
            }
        }
        if let Some((name, why)) = &d.self_role {
            let _ = writeln!(s, "  the system itself: \"{name}\" ({why})");
        }
        let _ = writeln!(
            s,
            "{} flow(s), {} role(s), {} parameter(s), {} feature(s), {} review item(s)",
            d.flows.len(),
            d.roles.roles.len(),
            d.params.len(),
            d.features.len(),
            self.review_count()
        );
        for e in &self.check_errors {
            let _ = writeln!(s, "  draft check: {e}");
        }
        s
    }
}

/// Guesses the format from the file name, then the content.
pub fn detect(name: &str, bytes: &[u8]) -> Format {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "md" | "markdown" => return Format::Md,
        "csv" | "tsv" => return Format::Csv,
        "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" => return Format::Xlsx,
        "html" | "htm" | "xhtml" => return Format::Html,
        "pdf" => return Format::Pdf,
        _ => {}
    }
    if pdf::is_pdf(bytes) {
        return Format::Pdf;
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Format::Xlsx;
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).to_ascii_lowercase();
    let head = head.trim_start();
    if head.starts_with("<!doctype html") || head.starts_with("<html") || head.contains("<table") {
        return Format::Html;
    }
    Format::Text
}

fn decode(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    s.strip_prefix('\u{feff}').unwrap_or(&s).to_string()
}

/// Whether a text holds a Markdown pipe table (a `|---|` delimiter row).
fn has_pipe_table(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim();
        t.contains('-') && t.contains('|') && t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' ' | '\t'))
    })
}

/// Reads the tables of a document.
pub fn extract(bytes: &[u8], format: Format, name: &str) -> Result<(Document, Format), String> {
    let format = if format == Format::Auto { detect(name, bytes) } else { format };
    let doc = match format {
        Format::Md => md::extract(&decode(bytes)),
        Format::Csv => delimited::extract(&decode(bytes), name),
        Format::Xlsx => xlsx::extract(bytes)?,
        Format::Html => html::extract(&decode(bytes)),
        Format::Pdf => return extract(&pdf::to_text(bytes, name)?, Format::Text, name).map(|(d, _)| (d, Format::Pdf)),
        Format::Text | Format::Auto => {
            let text = decode(bytes);
            if has_pipe_table(&text) {
                // Markdown tables first; the rest of the text as plain text.
                let mut d = md::extract(&text);
                let nlines = text.split('\n').count();
                let mut used = vec![false; nlines];
                for t in &d.tables {
                    let first = t.origin.trim_start_matches('L').parse::<usize>().unwrap_or(1);
                    let last = t.rows.iter().filter_map(|r| r.line).max().unwrap_or(first);
                    for u in used.iter_mut().take(last).skip(first.saturating_sub(1)) {
                        *u = true;
                    }
                }
                let rest = text::extract(&text, &used);
                d.tables.extend(rest.tables);
                d.tables.sort_by_key(|t| t.origin.trim_start_matches('L').parse::<usize>().unwrap_or(usize::MAX));
                for (i, t) in d.tables.iter_mut().enumerate() {
                    t.index = i + 1;
                }
                d.strays = rest.strays;
                d.prose.extend(rest.prose);
                d.prose.sort_by_key(|p| p.line);
                d.prose.dedup_by_key(|p| p.line);
                if d.title.is_none() {
                    d.title = rest.title;
                }
                d
            } else {
                text::extract(&text, &[])
            }
        }
    };
    Ok((doc, format))
}

/// A matrix id from a file name: "Avaya POM 4.0.pdf" → "avaya-pom-4-0".
pub fn id_from_name(name: &str) -> String {
    let stem = std::path::Path::new(name).file_stem().and_then(|s| s.to_str()).unwrap_or(name);
    let id = roles::role_id(stem);
    if id.starts_with("role-") {
        "imported".into()
    } else {
        id
    }
}

/// Imports a document: extraction, draft, YAML, and a check of the YAML
/// with the model. Never panics on any input.
pub fn import(bytes: &[u8], opts: &Options) -> Result<Import, String> {
    let (doc, format) = extract(bytes, opts.format, &opts.name)?;
    let matrix = opts.matrix.clone().map(|m| roles::role_id(&m)).unwrap_or_else(|| id_from_name(&opts.name));
    let bopts = build::BuildOptions { matrix, title: opts.title.clone(), document: opts.name.clone(), self_name: opts.self_name.clone() };
    let mut draft = build::build(&doc, &bopts);
    let tables = doc.tables.len();
    let port_tables = draft.tables.iter().filter(|t| t.mapping.is_some()).count();
    let (yaml, check_errors) = settle(&mut draft);
    Ok(Import { draft, yaml, format, tables, port_tables, check_errors })
}

/// Writes the draft and loads it with the model: a draft that does not
/// load is a bug of the importer. Lint findings are not accepted here
/// (drafts pre-accept nothing): `portmatrix check` reports them with the
/// open review items.
fn settle(draft: &mut Draft) -> (String, Vec<String>) {
    let yaml = emit::to_yaml(draft);
    match portmatrix_model::matrix_from_str("draft.yaml", &yaml) {
        Ok(_) => (yaml, Vec::new()),
        Err(diags) => {
            let errors = diags.iter().map(|d| format!("{} [{}]", d.message, d.code)).collect();
            (yaml, errors)
        }
    }
}
