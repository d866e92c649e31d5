//! Reports of a deployment's plan: the change request a firewall team works
//! from (a cover sheet, then the rows by zone pair, per host and per
//! firewall) in XLSX, HTML, Markdown and CSV, and the zone diagram.

use std::fmt::Write as _;

use portmatrix_plan::{Path, Plan};

use crate::change_request::{self, by_zone_pair, host_rows, ChangeRequestRow, Cover, Totals};
use crate::escape::{html as esc, markdown_inline as md};
use crate::graph::RoleGraph;
use crate::html::{anchor, page, table_html, toc};
use crate::render::Format;
use crate::svg::{to_svg, SvgOptions};
use crate::table::Table;
use crate::xlsx::{Part, Sheet};

pub fn hosts_table(p: &Plan) -> Table {
    let mut t = Table::new(&["host", "zone", "os", "managed", "addresses", "roles"]).mono(&["addresses"]);
    for h in &p.hosts {
        t.push(vec![
            crate::table::Cell::from(h.name.as_str()),
            h.zone.clone().unwrap_or_default().into(),
            h.os.map(|o| format!("{o:?}").to_lowercase()).unwrap_or_default().into(),
            if h.managed { "yes" } else { "no" }.into(),
            crate::table::Cell::list(&h.addresses, " "),
            crate::table::Cell::list(&h.roles, " "),
        ]);
    }
    t
}

pub fn local_table(p: &Plan) -> Table {
    let mut t = Table::new(&["host", "service", "reason", "purpose"]).mono(&["service", "reason"]);
    for l in &p.local {
        t.push(vec![l.host.clone(), format!("{}/{}", l.proto, l.ports), l.reason.tag().to_string(), l.reason.purpose.clone()]);
    }
    t
}

/// Every planned connection, one row per source endpoint.
pub fn connections_table(p: &Plan) -> Table {
    Table::of(&change_request::rows(p))
}

/// The change request by zone pair: `(source zone, destination zone)` → rows.
pub fn zone_pair_tables(p: &Plan) -> Vec<((String, String), Table)> {
    let rows = change_request::rows(p);
    by_zone_pair(&rows).into_iter().map(|(k, v)| (k, Table::of(v))).collect()
}

/// Per managed host: what it must accept (inbound) and what it initiates (outbound).
pub fn host_tables(p: &Plan) -> Vec<(String, Table)> {
    let rows = change_request::rows(p);
    host_sheets(p, &rows)
}

fn host_sheets(p: &Plan, rows: &[ChangeRequestRow]) -> Vec<(String, Table)> {
    p.hosts.iter().filter(|h| h.managed).map(|h| (h.name.clone(), Table::of(&host_rows(rows, &h.name)))).collect()
}

/// Per network firewall: the rows it must permit.
pub fn firewall_tables(p: &Plan) -> Vec<(String, Table)> {
    let rows = change_request::rows(p);
    firewall_sheets(p, &rows)
}

fn firewall_sheets(p: &Plan, rows: &[ChangeRequestRow]) -> Vec<(String, Table)> {
    p.firewalls.iter().map(|f| (f.name.clone(), Table::of(rows.iter().filter(|r| r.crosses(&f.name))))).collect()
}

/// Zones, the firewalls between them, and the services between zones.
pub fn zone_graph(p: &Plan) -> RoleGraph {
    crate::zones::zone_graph(p, change_request::iter_rows(p))
}

/// "N hosts · N connections · …": the counts every view of a plan opens with.
pub fn summary_line(p: &Plan, sep: &str) -> String {
    [
        format!("{} hosts", p.hosts.len()),
        format!("{} connections", p.connections.len()),
        format!("{} by name (FQDN egress)", p.egress_fqdn.len()),
        format!("{} local flows", p.local.len()),
    ]
    .join(sep)
}

/// How a zone pair's traffic travels: `servers → core-fw → db`, or why no firewall sees it.
pub fn path_text(path: &Path) -> String {
    match path {
        Path::SameZone => "within one zone: no network firewall on the path".into(),
        Path::NoFirewall => "no firewall joins these zones: no network firewall on the path".into(),
        Path::NoZone => "an end has no zone: no network firewall on the path".into(),
        Path::Firewalls { firewalls, route } => {
            let mut s = route.first().map(|h| h.from_zone.clone()).unwrap_or_default();
            for h in route {
                let _ = write!(s, " → {} → {}", h.firewall, h.to_zone);
            }
            let parallel: Vec<&String> = firewalls.iter().filter(|f| !route.iter().any(|h| &h.firewall == *f)).collect();
            if !parallel.is_empty() {
                let _ = write!(
                    s,
                    " (also through {}, on another shortest path)",
                    parallel.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
                );
            }
            s
        }
    }
}

/// A plan's change request, ready for every format.
pub struct ChangeRequest<'a> {
    pub plan: &'a Plan,
    pub cover: Option<&'a Cover>,
    pub rows: Vec<ChangeRequestRow<'a>>,
    pub totals: Totals,
}

impl<'a> ChangeRequest<'a> {
    pub fn new(plan: &'a Plan, cover: Option<&'a Cover>) -> Self {
        let rows = change_request::rows(plan);
        let totals = Totals::of(plan, &rows);
        ChangeRequest { plan, cover, rows, totals }
    }

    /// The cover: facts, products, settings, totals, warnings.
    fn cover_parts(&self) -> Vec<Part> {
        let mut parts = vec![Part::Title(format!("Change request: deployment {}", self.plan.inventory))];
        let mut facts = match self.cover {
            Some(c) => c.facts().into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            None => vec![("inventory".to_string(), self.plan.inventory.clone())],
        };
        facts.push(("planned".into(), summary_line(self.plan, ", ")));
        facts.push(("rows".into(), self.rows.len().to_string()));
        parts.push(Part::Facts(facts));
        if let Some(c) = self.cover {
            parts.push(Part::Table { caption: Some("Products and matrix versions".into()), table: c.products_table() });
            parts.push(Part::Table { caption: Some("Features and parameters".into()), table: c.settings_table() });
        }
        parts.push(Part::Table { caption: Some("Totals per firewall".into()), table: self.totals.table() });
        if !self.plan.warnings.is_empty() {
            let mut t = Table::new(&["code", "warning"]);
            for w in &self.plan.warnings {
                t.push(vec![w.code.to_string(), w.message.clone()]);
            }
            parts.push(Part::Table { caption: Some("Warnings of the plan".into()), table: t });
        }
        parts
    }

    /// The workbook's sheets: cover, hosts, every row, by zone pair, per
    /// host, per firewall, local flows.
    pub fn sheets(&self) -> Vec<Sheet> {
        let p = self.plan;
        let mut s = Vec::new();
        let cover = Sheet { name: "Cover".into(), parts: self.cover_parts() };
        if self.cover.is_some() {
            s.push(cover);
            s.push(Sheet::table("Hosts", hosts_table(p)));
            s.push(Sheet::table("Connections", Table::of(&self.rows)));
        } else {
            s.push(Sheet::table("Hosts", hosts_table(p)));
            s.push(Sheet::table("Connections", Table::of(&self.rows)));
            s.push(Sheet { name: "Totals".into(), ..cover });
        }
        for ((a, b), rows) in by_zone_pair(&self.rows) {
            s.push(Sheet::table(format!("{a} → {b}"), Table::of(rows)));
        }
        for (h, t) in host_sheets(p, &self.rows) {
            s.push(Sheet::table(format!("host {h}"), t));
        }
        for (f, t) in firewall_sheets(p, &self.rows) {
            s.push(Sheet::table(format!("firewall {f}"), t));
        }
        if !p.local.is_empty() {
            s.push(Sheet::table("Local flows", local_table(p)));
        }
        s
    }

    pub fn markdown(&self) -> String {
        let p = self.plan;
        let mut o = format!("# Change request: deployment {}\n\n", md(&p.inventory));
        if let Some(c) = self.cover {
            let _ = writeln!(o, "Date: {}\n", md(&c.date));
        }
        let _ = writeln!(o, "{}, {} rows.\n", summary_line(p, ", "), self.rows.len());
        if let Some(c) = self.cover {
            o.push_str("## Products and matrix versions\n\n");
            o.push_str(&c.products_table().to_markdown());
            o.push_str("\n## Features and parameters\n\n");
            o.push_str(&c.settings_table().to_markdown());
            o.push('\n');
        }
        o.push_str("## Totals per firewall\n\n");
        o.push_str(&self.totals.table().to_markdown());
        for w in &p.warnings {
            let _ = writeln!(o, "\n> warning: {}", md(&w.message));
        }
        o.push_str("\n## Hosts\n\n");
        o.push_str(&hosts_table(p).to_markdown());
        for ((a, b), rows) in by_zone_pair(&self.rows) {
            let _ = writeln!(o, "\n## {} → {} ({} rows)\n", md(&a), md(&b), rows.len());
            let _ = writeln!(o, "Path: {}\n", md(&path_text(&rows[0].enforced_by.path)));
            o.push_str(&Table::of(rows).to_markdown());
        }
        if !p.local.is_empty() {
            o.push_str("\n## Local flows (no rule needed)\n\n");
            o.push_str(&local_table(p).to_markdown());
        }
        o
    }

    fn html_cover(&self) -> String {
        let mut b = String::from("<section id=\"cover\" aria-labelledby=\"cover-h\"><h2 id=\"cover-h\">Cover</h2>\n<dl class=\"facts\">");
        if let Some(c) = self.cover {
            for (k, v) in c.facts() {
                let _ = write!(b, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
            }
        }
        let _ =
            writeln!(b, "<dt>planned</dt><dd>{}</dd><dt>rows</dt><dd>{}</dd></dl>", esc(&summary_line(self.plan, " · ")), self.rows.len());
        if let Some(c) = self.cover {
            b.push_str("<h3 id=\"products\">Products and matrix versions</h3>\n");
            b.push_str(&table_html(&c.products_table(), None));
            b.push_str("<h3 id=\"settings\">Features and parameters</h3>\n");
            b.push_str(&table_html(&c.settings_table(), None));
        }
        b.push_str("<h3 id=\"totals\">Totals per firewall</h3>\n");
        b.push_str(&table_html(&self.totals.table(), None));
        if !self.plan.warnings.is_empty() {
            b.push_str("<h3 id=\"warnings\">Warnings of the plan</h3>\n<ul class=\"warnings\">");
            for w in &self.plan.warnings {
                let _ = write!(b, "<li><code>{}</code> {}</li>", esc(w.code), esc(&w.message));
            }
            b.push_str("</ul>\n");
        }
        b.push_str("</section>\n");
        b
    }

    pub fn html(&self) -> String {
        let p = self.plan;
        let pairs = by_zone_pair(&self.rows);
        let mut entries =
            vec![("cover".to_string(), "Cover and totals".to_string()), ("zones".into(), "Zones".into()), ("hosts".into(), "Hosts".into())];
        let pair_ids: Vec<String> = pairs.iter().enumerate().map(|(i, ((a, b), _))| anchor("pair", i + 1, &[a, b])).collect();
        for (((a, b), rows), id) in pairs.iter().zip(&pair_ids) {
            entries.push((id.clone(), format!("{a} → {b} ({} rows)", rows.len())));
        }
        if !p.local.is_empty() {
            entries.push(("local".into(), "Local flows".into()));
        }
        let mut b = format!("<main id=\"main\">\n<h1>Change request <span class=\"muted\">deployment {}</span></h1>\n", esc(&p.inventory));
        let _ = writeln!(b, "<p class=\"meta\">{}</p>", esc(&summary_line(p, " · ")));
        b.push_str(&toc(&entries));
        b.push_str(&self.html_cover());
        b.push_str("<h2 id=\"zones\">Zones</h2>\n<p class=\"muted\">Zones with the network firewalls between them (dotted lines: the zones a firewall joins); arrows run from initiator to listener through the firewalls on their path.</p>\n<div class=\"diagram\">\n");
        b.push_str(&to_svg(&crate::zones::zone_graph(p, &self.rows), &SvgOptions { fit_width: true, ..Default::default() }));
        b.push_str("</div>\n<h2 id=\"hosts\">Hosts</h2>\n");
        b.push_str(&table_html(&hosts_table(p), None));
        for (((a, z), rows), id) in pairs.iter().zip(&pair_ids) {
            let _ = writeln!(b, "<section class=\"pair\" id=\"{id}\"><h2>{} → {} ({} rows)</h2>", esc(a), esc(z), rows.len());
            let _ = writeln!(b, "<p class=\"meta\">Path: {}</p>", esc(&path_text(&rows[0].enforced_by.path)));
            b.push_str(&table_html(&Table::of(rows.iter().copied()), None));
            b.push_str("</section>\n");
        }
        if !p.local.is_empty() {
            b.push_str("<h2 id=\"local\">Local flows (no rule needed)</h2>\n");
            b.push_str(&table_html(&local_table(p), None));
        }
        b.push_str("<p class=\"muted\">Generated by portmatrix.</p>\n</main>\n");
        page(&format!("Deployment {} — change request", p.inventory), &b)
    }
}

/// Renders a plan's change request without a cover (no date, no matrix
/// versions): see [`render_change_request`].
pub fn render_plan(p: &Plan, format: Format) -> Result<Vec<u8>, String> {
    render_change_request(p, None, format)
}

/// Renders a plan: the change request (XLSX, HTML and Markdown with the
/// cover when given; CSV is the rows alone) and the zone diagram (DOT,
/// Mermaid, SVG).
pub fn render_change_request(p: &Plan, cover: Option<&Cover>, format: Format) -> Result<Vec<u8>, String> {
    let cr = ChangeRequest::new(p, cover);
    let graph = || crate::zones::zone_graph(p, &cr.rows);
    Ok(match format {
        Format::Md => cr.markdown().into_bytes(),
        Format::Csv => Table::of(&cr.rows).to_csv().into_bytes(),
        Format::Xlsx => crate::xlsx::workbook_of(&cr.sheets()).map_err(|e| format!("cannot write XLSX: {e}"))?,
        Format::Html => cr.html().into_bytes(),
        Format::Dot => crate::diagram::to_dot(&graph()).into_bytes(),
        Format::Mermaid => crate::diagram::to_mermaid(&graph()).into_bytes(),
        Format::Svg => to_svg(&graph(), &SvgOptions::default()).into_bytes(),
    })
}
