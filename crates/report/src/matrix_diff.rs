//! Two versions of a matrix compared, as documents people read: one typed
//! row per added, removed, changed or renamed flow with the cites of both
//! versions ([`MatrixDiffRow`], its columns declared once), the features,
//! parameters and roles that came or went; in Markdown, CSV, XLSX and
//! self-contained HTML (JSON is the diff itself, serialised).

use std::fmt::Write as _;

use portmatrix_diff::matrix::{Change, FlowChange, FlowSummary, NameChanges, Renamed};
use portmatrix_diff::MatrixDiff;

use crate::escape::{html as esc, markdown_inline as md};
use crate::html::{page, table_html, toc};
use crate::render::Format;
use crate::table::{Cell, ColumnSpec, Record, Style, Table};
use crate::xlsx::{Part, Sheet};

/// How a flow differs between the versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
    Renamed,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 4] = [ChangeKind::Added, ChangeKind::Removed, ChangeKind::Changed, ChangeKind::Renamed];
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Changed => "changed",
            ChangeKind::Renamed => "renamed",
        }
    }
    fn heading(self) -> &'static str {
        match self {
            ChangeKind::Added => "Flows added",
            ChangeKind::Removed => "Flows removed",
            ChangeKind::Changed => "Flows changed",
            ChangeKind::Renamed => "Flows renamed",
        }
    }
}

/// One row of a matrix diff, borrowed from the diff.
#[derive(Debug, Clone, Copy)]
pub enum MatrixDiffRow<'d> {
    Added(&'d FlowSummary),
    Removed(&'d FlowSummary),
    Changed(&'d FlowChange),
    Renamed(&'d Renamed),
}

impl MatrixDiffRow<'_> {
    pub fn kind(&self) -> ChangeKind {
        match self {
            MatrixDiffRow::Added(_) => ChangeKind::Added,
            MatrixDiffRow::Removed(_) => ChangeKind::Removed,
            MatrixDiffRow::Changed(_) => ChangeKind::Changed,
            MatrixDiffRow::Renamed(_) => ChangeKind::Renamed,
        }
    }
}

/// A change of a flow in words: `ports widened by 8011-8020 (8000-8010 → 8000-8020)`.
pub fn change_text(c: &Change) -> String {
    match c {
        Change::PortsWidened { added, old, new } => format!("ports widened by {added} ({old} → {new})"),
        Change::PortsNarrowed { removed, old, new } => format!("ports narrowed by {removed} ({old} → {new})"),
        Change::PortsChanged { added, removed, old, new } => format!("ports +{added} -{removed} ({old} → {new})"),
        Change::PortsRewritten { old, new } => format!("port expression {old} → {new}"),
        Change::SourcePorts { old, new } => format!("source ports {old} → {new}"),
        Change::From { old, new } => format!("from {old} → {new}"),
        Change::To { old, new } => format!("to {old} → {new}"),
        Change::Proto { old, new } => format!("protocol {old} → {new}"),
        Change::Icmp { old, new } => format!("ICMP types {old} → {new}"),
        Change::Condition { old, new } => format!("condition {old} → {new}"),
        Change::SameHost { old, new } => format!("same_host {old} → {new}"),
    }
}

fn flow_text(f: &FlowSummary) -> String {
    let when = f.when.as_ref().map(|w| format!(" when {w}")).unwrap_or_default();
    format!("{} → {} {}{when}", f.from, f.to, f.service)
}

/// The columns of a matrix diff, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatrixDiffColumn {
    Change,
    Flow,
    What,
    Purpose,
    OldCite,
    NewCite,
}

impl MatrixDiffColumn {
    pub const ALL: [MatrixDiffColumn; 6] = [
        MatrixDiffColumn::Change,
        MatrixDiffColumn::Flow,
        MatrixDiffColumn::What,
        MatrixDiffColumn::Purpose,
        MatrixDiffColumn::OldCite,
        MatrixDiffColumn::NewCite,
    ];
}

impl ColumnSpec for MatrixDiffColumn {
    fn name(self) -> &'static str {
        match self {
            MatrixDiffColumn::Change => "change",
            MatrixDiffColumn::Flow => "flow",
            MatrixDiffColumn::What => "what",
            MatrixDiffColumn::Purpose => "purpose",
            MatrixDiffColumn::OldCite => "old cite",
            MatrixDiffColumn::NewCite => "new cite",
        }
    }
    fn style(self) -> Style {
        match self {
            MatrixDiffColumn::Flow => Style::Mono,
            _ => Style::Text,
        }
    }
    /// The terminal shows what changed and both cites; the purpose is for documents.
    fn compact(self) -> bool {
        self != MatrixDiffColumn::Purpose
    }
    fn priority(self) -> u8 {
        match self {
            MatrixDiffColumn::Change | MatrixDiffColumn::Flow | MatrixDiffColumn::What => 0,
            MatrixDiffColumn::OldCite | MatrixDiffColumn::NewCite => 1,
            MatrixDiffColumn::Purpose => 2,
        }
    }
}

impl Record for MatrixDiffRow<'_> {
    type Column = MatrixDiffColumn;
    fn columns() -> Vec<MatrixDiffColumn> {
        MatrixDiffColumn::ALL.to_vec()
    }
    fn cell(&self, c: MatrixDiffColumn) -> Cell {
        use MatrixDiffColumn as C;
        match (self, c) {
            (r, C::Change) => Cell::from(r.kind().as_str()),
            (MatrixDiffRow::Added(f) | MatrixDiffRow::Removed(f), C::Flow) => Cell::from(&f.id),
            (MatrixDiffRow::Changed(f), C::Flow) => match &f.old_id {
                Some(old) => Cell::Text(format!("{old} → {}", f.id)),
                None => Cell::from(&f.id),
            },
            (MatrixDiffRow::Renamed(r), C::Flow) => Cell::Text(format!("{} → {}", r.old_id, r.new_id)),
            (MatrixDiffRow::Added(f) | MatrixDiffRow::Removed(f), C::What) => Cell::Text(flow_text(f)),
            (MatrixDiffRow::Changed(f), C::What) => Cell::list(f.changes.iter().map(change_text), "; "),
            (MatrixDiffRow::Renamed(_), C::What) => Cell::from("same ports, ends and conditions"),
            (MatrixDiffRow::Added(f) | MatrixDiffRow::Removed(f), C::Purpose) => Cell::from(&f.purpose),
            (MatrixDiffRow::Changed(f), C::Purpose) => Cell::from(&f.purpose),
            (MatrixDiffRow::Renamed(_), C::Purpose) => Cell::from(""),
            (MatrixDiffRow::Added(_), C::OldCite) | (MatrixDiffRow::Removed(_), C::NewCite) => Cell::from(""),
            (MatrixDiffRow::Added(f), C::NewCite) | (MatrixDiffRow::Removed(f), C::OldCite) => Cell::from(&f.cite),
            (MatrixDiffRow::Changed(f), C::OldCite) => Cell::from(&f.old_cite),
            (MatrixDiffRow::Changed(f), C::NewCite) => Cell::from(&f.new_cite),
            (MatrixDiffRow::Renamed(r), C::OldCite) => Cell::from(&r.old_cite),
            (MatrixDiffRow::Renamed(r), C::NewCite) => Cell::from(&r.new_cite),
        }
    }
}

/// Every row of the diff: added, removed, changed, renamed.
pub fn rows(d: &MatrixDiff) -> Vec<MatrixDiffRow<'_>> {
    let mut out: Vec<MatrixDiffRow> = d.added.iter().map(MatrixDiffRow::Added).collect();
    out.extend(d.removed.iter().map(MatrixDiffRow::Removed));
    out.extend(d.changed.iter().map(MatrixDiffRow::Changed));
    out.extend(d.renamed.iter().map(MatrixDiffRow::Renamed));
    out
}

/// The rows of one kind.
pub fn rows_of(d: &MatrixDiff, kind: ChangeKind) -> Vec<MatrixDiffRow<'_>> {
    rows(d).into_iter().filter(|r| r.kind() == kind).collect()
}

/// "12 flow(s) added, 3 removed, 2 changed, 1 renamed".
pub fn summary_line(d: &MatrixDiff) -> String {
    format!("{} flow(s) added, {} removed, {} changed, {} renamed", d.added.len(), d.removed.len(), d.changed.len(), d.renamed.len())
}

/// Features, parameters and roles that came or went: one row per name.
pub fn names_table(d: &MatrixDiff) -> Table {
    let mut t = Table::new(&["kind", "name", "change"]).mono(&["name"]);
    for (kind, n) in [("feature", &d.features), ("parameter", &d.params), ("role", &d.roles)] {
        let NameChanges { added, removed } = n;
        for a in added {
            t.push(vec![kind, a.as_str(), "added"]);
        }
        for r in removed {
            t.push(vec![kind, r.as_str(), "removed"]);
        }
    }
    t
}

fn title(d: &MatrixDiff) -> String {
    format!("Matrix diff: {} → {}", d.old, d.new)
}

/// A Markdown document: summary, then a section per kind of change and the names that came or went.
pub fn markdown(d: &MatrixDiff) -> String {
    let mut o = format!("# {}\n\n{}.\n", md(&title(d)), md(&summary_line(d)));
    for kind in ChangeKind::ALL {
        let rows = rows_of(d, kind);
        if !rows.is_empty() {
            let _ = write!(o, "\n## {} ({})\n\n", kind.heading(), rows.len());
            o.push_str(&Table::of(&rows).to_markdown());
        }
    }
    let names = names_table(d);
    if !names.rows.is_empty() {
        o.push_str("\n## Features, parameters and roles\n\n");
        o.push_str(&names.to_markdown());
    }
    o
}

/// Section anchors of the HTML document (`added`, ...), with their headings.
fn sections(d: &MatrixDiff) -> Vec<(ChangeKind, Vec<MatrixDiffRow<'_>>)> {
    ChangeKind::ALL.into_iter().map(|k| (k, rows_of(d, k))).filter(|(_, r)| !r.is_empty()).collect()
}

/// The body of the HTML document without the page around it (the web UI
/// embeds it): a table of contents, then a section per kind of change.
pub fn html_body(d: &MatrixDiff) -> String {
    let secs = sections(d);
    let names = names_table(d);
    let mut entries: Vec<(String, String)> =
        secs.iter().map(|(k, r)| (k.as_str().to_string(), format!("{} ({})", k.heading(), r.len()))).collect();
    if !names.rows.is_empty() {
        entries.push(("names".into(), "Features, parameters and roles".into()));
    }
    let mut b = format!("<p class=\"meta\" id=\"diff-summary\">{}</p>\n", esc(&summary_line(d)));
    if entries.is_empty() {
        b.push_str("<p id=\"no-change\">The versions open the same flows: nothing changed.</p>\n");
        return b;
    }
    b.push_str(&toc(&entries));
    for (k, rows) in &secs {
        let _ = writeln!(b, "<section id=\"{}\"><h2>{} ({})</h2>", k.as_str(), k.heading(), rows.len());
        b.push_str(&crate::html::table_html_with_id(&Table::of(rows), None, Some(&format!("{}-table", k.as_str()))));
        b.push_str("</section>\n");
    }
    if !names.rows.is_empty() {
        b.push_str("<section id=\"names\"><h2>Features, parameters and roles</h2>\n");
        b.push_str(&table_html(&names, None));
        b.push_str("</section>\n");
    }
    b
}

/// One self-contained HTML file.
pub fn html(d: &MatrixDiff) -> String {
    let mut b = format!("<main id=\"main\">\n<h1>Matrix diff <span class=\"muted\">{} → {}</span></h1>\n", esc(&d.old), esc(&d.new));
    b.push_str(&html_body(d));
    b.push_str("<p class=\"muted\">Generated by portmatrix.</p>\n</main>\n");
    page(&title(d), &b)
}

/// The workbook: a summary sheet, then every change in one sheet with its cites.
pub fn sheets(d: &MatrixDiff) -> Vec<Sheet> {
    let mut summary = vec![
        Part::Title(title(d)),
        Part::Facts(vec![("old".into(), d.old.clone()), ("new".into(), d.new.clone()), ("changes".into(), summary_line(d))]),
    ];
    let names = names_table(d);
    if !names.rows.is_empty() {
        summary.push(Part::Table { caption: Some("Features, parameters and roles".into()), table: names });
    }
    vec![Sheet { name: "Summary".into(), parts: summary }, Sheet::table("Changes", Table::of(&rows(d)))]
}

/// Renders a matrix diff as a document: Markdown, CSV (every row), XLSX or
/// HTML. Diagram formats have no diff.
pub fn render(d: &MatrixDiff, format: Format) -> Result<Vec<u8>, String> {
    Ok(match format {
        Format::Md => markdown(d).into_bytes(),
        Format::Csv => Table::of(&rows(d)).to_csv().into_bytes(),
        Format::Xlsx => crate::xlsx::workbook_of(&sheets(d)).map_err(|e| format!("cannot write XLSX: {e}"))?,
        Format::Html => html(d).into_bytes(),
        Format::Dot | Format::Mermaid | Format::Svg => return Err(format!("a matrix diff has no {} rendering", format.extension())),
    })
}
