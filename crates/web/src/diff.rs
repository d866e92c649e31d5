//! The diff views: two versions of a matrix flow by flow (any two matrices
//! the server shows, e.g. `/diff/matrix?old=jtel-acd@previous&new=jtel-acd`),
//! and, when `serve` was given an older inventory to compare with, the
//! deployment diff: what to open and what to close, filtered by firewall and
//! zone pair, and the delta change request to download.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use portmatrix_diff::{diff_matrices, DeploymentDiff, MatrixDiff};
use portmatrix_model::Matrix;
use portmatrix_report::delta::{Action, DeltaChangeRequest, DeltaCover, DeltaRequestRow};
use portmatrix_report::escape::html as esc;
use portmatrix_report::html::{table_html, table_html_with_id};
use portmatrix_report::render::Format;
use portmatrix_report::table::Table;
use serde::Deserialize;

use crate::deploy::SHOWN_ROWS;
use crate::pages::{layout, url_part};
use crate::{download, export_format, field, html, missing, page, App};

/// An older deployment to compare the served one with (`serve --compare OLD`).
pub struct Comparison {
    pub diff: DeploymentDiff,
    /// Both inventories, the date, the matrix versions on each side.
    pub cover: DeltaCover,
}

/// The documents a diff downloads as, besides JSON.
const DOCUMENTS: [(Format, &str); 4] =
    [(Format::Xlsx, "XLSX"), (Format::Html, "HTML report"), (Format::Md, "Markdown"), (Format::Csv, "CSV")];

fn json_download(name: &str, v: &impl serde::Serialize) -> Response {
    let mut body = serde_json::to_string_pretty(v).unwrap_or_default();
    body.push('\n');
    download("application/json", name, body.into_bytes())
}

// --- two versions of a matrix ---

/// Query of the matrix diff: the keys of two matrices the server shows.
#[derive(Debug, Default, Deserialize)]
pub struct MatrixDiffQuery {
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Other matrices the server shows with the same id as `key`: the versions
/// to compare it with.
pub(crate) fn other_versions<'a>(app: &'a App, key: &str) -> Vec<&'a str> {
    let Some(m) = app.matrix(key) else { return Vec::new() };
    app.matrices.iter().filter(|(k, o)| k != key && o.matrix.value == m.matrix.value).map(|(k, _)| k.as_str()).collect()
}

fn matrix_select(app: &App, name: &str, label: &str, current: Option<&str>) -> String {
    let mut o = format!("<label for=\"v-{name}\">{label}<select id=\"v-{name}\" name=\"{name}\"><option value=\"\">(choose)</option>");
    for (k, m) in &app.matrices {
        let sel = if current == Some(k.as_str()) { " selected" } else { "" };
        let _ = write!(o, "<option value=\"{}\"{sel}>{} — {}</option>", esc(k), esc(k), esc(&m.title));
    }
    o.push_str("</select></label>");
    o
}

/// The two matrices of the query, or what is wrong with it (`Ok(None)`: not asked yet).
/// The two chosen matrices with their keys: (old key, old, new key, new).
type KeyedPair<'a> = (&'a str, &'a Matrix, &'a str, &'a Matrix);

fn pair<'a>(app: &'a App, q: &MatrixDiffQuery) -> Result<Option<KeyedPair<'a>>, Vec<String>> {
    let (Some(old), Some(new)) = (field(&q.old), field(&q.new)) else { return Ok(None) };
    let find = |k: &str| app.matrices.iter().find(|(key, _)| key == k).map(|(key, m)| (key.as_str(), m));
    match (find(old), find(new)) {
        (Some((ok, om)), Some((nk, nm))) => Ok(Some((ok, om, nk, nm))),
        (a, b) => Err([(a.is_none(), old), (b.is_none(), new)]
            .into_iter()
            .filter(|(absent, _)| *absent)
            .map(|(_, k)| format!("no matrix `{k}`"))
            .collect()),
    }
}

fn diff_query(old: &str, new: &str) -> String {
    format!("old={}&new={}", url_part(old), url_part(new))
}

pub fn matrix_diff(app: &App, q: &MatrixDiffQuery) -> String {
    let mut b = String::from("<h1>Compare matrices <span class=\"muted\">flow by flow</span></h1>\n<p class=\"muted\">Choose two versions of a product's matrix (or any two matrices): the flows added, removed, changed (ports widened or narrowed, ends, protocols, conditions) and renamed, each with the cites of both versions — the same as <code>portmatrix diff OLD NEW</code>.</p>\n");
    b.push_str("<form class=\"filters\" method=\"get\" action=\"/diff/matrix\" aria-label=\"Choose two matrices\">");
    b.push_str(&matrix_select(app, "old", "Old", field(&q.old)));
    b.push_str(&matrix_select(app, "new", "New", field(&q.new)));
    b.push_str("<button class=\"primary\" type=\"submit\">Compare</button></form>\n");
    let mut crumb = String::from("<a href=\"/\">Catalog</a> › <span aria-current=\"page\">Compare matrices</span>");
    match pair(app, q) {
        Ok(Some((ok, om, nk, nm))) => {
            let d = diff_matrices(om, nm);
            let _ = writeln!(
                b,
                "<h2 id=\"diff-title\"><a href=\"/m/{}\">{}</a> → <a href=\"/m/{}\">{}</a></h2>",
                url_part(ok),
                esc(ok),
                url_part(nk),
                esc(nk)
            );
            b.push_str(&portmatrix_report::matrix_diff::html_body(&d));
            b.push_str(&downloads("/diff/matrix/export", &format!("?{}", diff_query(ok, nk)), true));
            crumb = format!("<a href=\"/\">Catalog</a> › <span aria-current=\"page\">Compare {} → {}</span>", esc(ok), esc(nk));
        }
        Ok(None) => {}
        Err(problems) => {
            for p in problems {
                let _ = writeln!(b, "<p role=\"alert\"><mark>{}</mark></p>", esc(&p));
            }
        }
    }
    layout("Compare matrices", &crumb, &b)
}

fn downloads(base: &str, query: &str, json: bool) -> String {
    let mut b = String::from("<h2 id=\"downloads\">Downloads</h2>\n<p class=\"downloads\">");
    for (f, name) in DOCUMENTS {
        let _ = write!(b, "<a href=\"{base}/{}{}\" download data-format=\"{}\">{name}</a>", f.extension(), esc(query), f.extension());
    }
    if json {
        let _ = write!(b, "<a href=\"{base}/json{}\" download data-format=\"json\">JSON</a>", esc(query));
    }
    b.push_str("</p>\n");
    b
}

pub async fn matrix_diff_page(State(app): State<Arc<App>>, Query(q): Query<MatrixDiffQuery>) -> Response {
    page(&app, StatusCode::OK, matrix_diff(&app, &q))
}

pub async fn matrix_diff_export(State(app): State<Arc<App>>, Path(format): Path<String>, Query(q): Query<MatrixDiffQuery>) -> Response {
    let (ok, om, nk, nm) = match pair(&app, &q) {
        Ok(Some(p)) => p,
        Ok(None) => return missing("Give two matrices: ?old=KEY&new=KEY."),
        Err(problems) => return missing(&problems.join("; ")),
    };
    let d: MatrixDiff = diff_matrices(om, nm);
    let name = format!("{}-to-{}", ok.replace('@', "_"), nk.replace('@', "_"));
    if format == "json" {
        return json_download(&format!("{name}.json"), &d);
    }
    let Some(f) = export_format(&format) else {
        return missing(&format!("No format `{format}`."));
    };
    match portmatrix_report::matrix_diff::render(&d, f) {
        Ok(bytes) => download(f.media_type(), &format!("{name}.{}", f.extension()), bytes),
        Err(e) => missing(&e),
    }
}

// --- two deployments ---

/// Query of the deployment diff's filter. Empty fields count as unset.
#[derive(Debug, Default, Deserialize)]
pub struct DeltaFilters {
    /// A network firewall: the rows it must change.
    pub firewall: Option<String>,
    /// `SOURCE ZONE → DESTINATION ZONE`, as the zone pair select offers it.
    pub pair: Option<String>,
}

fn pair_text((a, b): &(String, String)) -> String {
    format!("{a} → {b}")
}

fn select(id: &str, name: &str, label: &str, options: &[String], current: Option<&str>) -> String {
    let mut o = format!("<label for=\"{id}\">{label}<select id=\"{id}\" name=\"{name}\"><option value=\"\">(all)</option>");
    for v in options {
        let sel = if current == Some(v.as_str()) { " selected" } else { "" };
        let _ = write!(o, "<option{sel}>{}</option>", esc(v));
    }
    o.push_str("</select></label>");
    o
}

/// A table of matching rows, at most [`SHOWN_ROWS`], saying how many there are.
fn delta_table(rows: &[&DeltaRequestRow], id: &str) -> String {
    if rows.is_empty() {
        return format!("<p id=\"{id}\" class=\"meta\">Nothing.</p>\n");
    }
    let shown = &rows[..rows.len().min(SHOWN_ROWS)];
    let caption = if shown.len() < rows.len() {
        format!("{} rows; the first {} shown — filter, or download the delta change request", rows.len(), shown.len())
    } else {
        format!("{} rows", rows.len())
    };
    table_html_with_id(&Table::of(shown.iter().copied()), Some(&caption), Some(id))
}

pub fn deployment_diff(c: &Comparison, q: &DeltaFilters) -> String {
    let cr = DeltaChangeRequest::new(&c.diff, Some(&c.cover));
    let d = &c.diff;
    let mut b = format!("<h1>Changes <span class=\"muted\">{} → {}</span></h1>\n", esc(&d.old), esc(&d.new));
    let _ = writeln!(
        b,
        "<p class=\"meta\" id=\"delta-summary\">{} to open · {} to close · {} rule change(s) on hosts and firewalls · {} address set(s) changing members</p>",
        cr.totals.all.open,
        cr.totals.all.close,
        d.rules.iter().map(|r| r.added.len() + r.removed.len()).sum::<usize>(),
        d.sets.len()
    );
    let per_ruleset = [
        ("sets", "Address set changes", portmatrix_report::delta::set_changes_table(d)),
        ("rules", "Rule changes per host and firewall", portmatrix_report::delta::rule_changes_table(d)),
    ];
    b.push_str("<nav class=\"noprint\" aria-label=\"on this page\"><p>On this page: <a href=\"#cover\">versions and totals</a> · <a href=\"#open\">to open</a> · <a href=\"#close\">to close</a>");
    for (id, heading, table) in &per_ruleset {
        if !table.rows.is_empty() {
            let _ = write!(b, " · <a href=\"#{id}\">{}</a>", heading.to_lowercase());
        }
    }
    b.push_str(" · <a href=\"#downloads\">downloads</a></p></nav>\n");
    b.push_str("<section id=\"cover\"><h2>Versions and totals</h2>\n<dl class=\"facts\">");
    for (k, v) in c.cover.facts() {
        let _ = write!(b, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    }
    b.push_str("</dl>\n");
    b.push_str(&table_html(&c.cover.products_table(), Some("Products and matrix versions")));
    let settings = c.cover.settings_table();
    if !settings.rows.is_empty() {
        b.push_str(&table_html(&settings, Some("Features and parameters that changed")));
    }
    b.push_str(&table_html_with_id(&cr.totals.table(), Some("Totals per firewall"), Some("delta-totals")));
    let other = portmatrix_report::delta::other_changes_table(d);
    if !other.rows.is_empty() {
        b.push_str(&table_html(&other, Some("Other changes")));
    }
    b.push_str("</section>\n");

    let firewalls: Vec<String> = cr.totals.firewalls.iter().map(|(f, _, _)| f.clone()).collect();
    let pairs: Vec<String> = cr.rows.iter().map(|r| r.zone_pair()).collect::<BTreeSet<_>>().iter().map(pair_text).collect();
    let (fw, zp) = (field(&q.firewall), field(&q.pair));
    b.push_str("<form class=\"filters\" method=\"get\" action=\"/diff/deployment\" role=\"search\" aria-label=\"Filter changes\">");
    b.push_str(&select("d-firewall", "firewall", "Firewall", &firewalls, fw));
    b.push_str(&select("d-pair", "pair", "Zone pair", &pairs, zp));
    b.push_str("<button class=\"primary\" type=\"submit\">Filter</button><a class=\"button\" href=\"/diff/deployment\">Clear</a></form>\n");
    for (given, known, what) in [(fw, &firewalls, "firewall"), (zp, &pairs, "zone pair")] {
        if let Some(g) = given.filter(|g| !known.iter().any(|k| k == g)) {
            let _ = writeln!(b, "<p role=\"alert\"><mark>No row crosses the {what} `{}`.</mark></p>", esc(g));
        }
    }
    let keep = |r: &&DeltaRequestRow| fw.is_none_or(|f| r.crosses(f)) && zp.is_none_or(|p| pair_text(&r.zone_pair()) == p);
    for (a, id, heading) in [(Action::Open, "open", "To open"), (Action::Close, "close", "To close")] {
        let rows: Vec<&DeltaRequestRow> = cr.of_action(a).into_iter().filter(keep).collect();
        let _ = writeln!(b, "<section id=\"{id}\"><h2>{heading} ({})</h2>", rows.len());
        b.push_str(&delta_table(&rows, &format!("{id}-rows")));
        b.push_str("</section>\n");
    }
    // What the compiled rulesets gain and lose, for every host and firewall
    // (the filters above select connections, not rulesets).
    for (id, heading, mut table) in per_ruleset {
        if table.rows.is_empty() {
            continue;
        }
        let total = table.rows.len();
        table.rows.truncate(SHOWN_ROWS);
        let caption = if total > SHOWN_ROWS {
            format!("{total} rows; the first {SHOWN_ROWS} shown — download the delta change request for all")
        } else {
            format!("{total} rows")
        };
        let _ = writeln!(b, "<section id=\"{id}\"><h2>{heading}</h2>");
        b.push_str(&table_html_with_id(&table, Some(&caption), Some(&format!("{id}-rows"))));
        b.push_str("</section>\n");
    }
    b.push_str(&downloads("/diff/deployment/export", "", true));
    layout("Changes", "<a href=\"/\">Catalog</a> › <a href=\"/d\">Deployment</a> › <span aria-current=\"page\">Changes</span>", &b)
}

fn no_comparison() -> Response {
    missing("No older deployment to compare with: start the server with `portmatrix serve -i NEW --compare OLD`.")
}

pub async fn deployment_diff_page(State(app): State<Arc<App>>, Query(q): Query<DeltaFilters>) -> Response {
    match &app.comparison {
        Some(c) => page(&app, StatusCode::OK, deployment_diff(c, &q)),
        None => no_comparison(),
    }
}

pub async fn deployment_diff_export(State(app): State<Arc<App>>, Path(format): Path<String>) -> Response {
    let Some(c) = &app.comparison else {
        return no_comparison();
    };
    let name = format!("{}-to-{}", c.diff.old, c.diff.new);
    if format == "json" {
        return json_download(&format!("{name}.json"), &c.diff);
    }
    let Some(f) = export_format(&format) else {
        return missing(&format!("No format `{format}`."));
    };
    match DeltaChangeRequest::new(&c.diff, Some(&c.cover)).render(f) {
        Ok(bytes) => download(f.media_type(), &format!("{name}.{}", f.extension()), bytes),
        Err(e) => html(StatusCode::NOT_FOUND, crate::pages::not_found(&e)),
    }
}
