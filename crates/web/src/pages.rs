//! The HTML pages of the web UI.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use portmatrix_model::{Matrix, PortSet, Proto};

use portmatrix_report::graph::RoleGraph;
use portmatrix_report::html::{matrix_summary, table_html, table_html_with_id};
use portmatrix_report::matrix_table::{default_ports, end_roles, flows_table, ports_cell, FlowFilter};
use portmatrix_report::render::Format;
use portmatrix_report::svg::{esc, to_svg, SvgOptions};
use portmatrix_report::table::Table;

use crate::{App, Filters};

pub(crate) fn url_part(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~@".contains(&b) {
            o.push(b as char);
        } else {
            let _ = write!(o, "%{b:02X}");
        }
    }
    o
}

/// A page of the UI: top bar, skip link, stylesheet and the optional script.
pub(crate) fn layout(title: &str, crumbs: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"color-scheme\" content=\"light dark\">\n<title>{} — portmatrix</title>\n<link rel=\"stylesheet\" href=\"/assets/style.css\">\n<script src=\"/assets/app.js\" defer></script>\n</head>\n<body>\n<a class=\"skip\" href=\"#main\">Skip to content</a>\n<header class=\"top\"><a class=\"brand\" href=\"/\">portmatrix</a><nav aria-label=\"breadcrumbs\">{}</nav></header>\n<main id=\"main\" tabindex=\"-1\">\n{}</main>\n</body>\n</html>\n",
        esc(title),
        crumbs,
        body
    )
}

/// Breadcrumbs of a page below the catalog (and the deployment, when there
/// is one): `Catalog › Deployment › current`.
pub(crate) fn view_crumbs(with_deployment: bool, current: &str) -> String {
    let mut crumbs = String::from("<a href=\"/\">Catalog</a>");
    if with_deployment {
        crumbs.push_str(" › <a href=\"/d\">Deployment</a>");
    }
    crumbs.push_str(&format!(" › <span aria-current=\"page\">{}</span>", esc(current)));
    crumbs
}

pub fn not_found(msg: &str) -> String {
    layout(
        "Not found",
        "<a href=\"/\">Catalog</a>",
        &format!("<h1>Not found</h1>\n<p>{}</p>\n<p><a href=\"/\">Back to the catalog</a></p>\n", esc(msg)),
    )
}

pub fn catalog(app: &App) -> String {
    let mut b = String::new();
    if let Some(p) = &app.plan {
        let _ = writeln!(
            b,
            "<section class=\"panel\" id=\"deployment\"><h2><a href=\"/d\">Deployment {}</a></h2><p>{} hosts, {} planned connections. Hosts by zone, the connections to open, and each host's compiled firewall configuration.</p></section>",
            esc(&p.inventory),
            p.hosts.len(),
            p.connections.len()
        );
    }
    if let Some(r) = &app.results {
        let _ = writeln!(
            b,
            "<section class=\"panel\" id=\"results-panel\"><h2><a href=\"/results\">Probe results {}</a></h2><p>{} probes, {} failed. Every probe's verdict, filtered by verdict.</p></section>",
            esc(&r.file),
            r.results.len(),
            r.failed()
        );
    }
    if let Some(a) = &app.audit {
        let s = &a.result.summary;
        let _ = writeln!(
            b,
            "<section class=\"panel\" id=\"audit-panel\"><h2><a href=\"/audit\">Flow audit {}</a></h2><p>{} records against {} planned intents: {} finding(s){}. Every planned flow with what was seen of it, and the traffic no flow explains.</p></section>",
            esc(&a.file),
            s.records,
            s.intents,
            s.findings,
            if s.complete { "" } else { ", evidence incomplete" }
        );
    }
    if let Some(c) = &app.comparison {
        let _ = writeln!(
            b,
            "<section class=\"panel\" id=\"changes-panel\"><h2><a href=\"/diff/deployment\">Changes {} → {}</a></h2><p>{} connection(s) to open, {} to close: the delta change request.</p></section>",
            esc(&c.diff.old),
            esc(&c.diff.new),
            c.diff.opened.len(),
            c.diff.closed.len()
        );
    }
    b.push_str("<h1>Catalog</h1>\n<p class=\"muted\">Port matrices of the products this build knows. Choose one to see its flows, filter them, and open its diagram; or <a href=\"/diff/matrix\">compare two versions</a>.</p>\n<ul class=\"cards\">\n");
    for (key, m) in &app.matrices {
        let k = url_part(key);
        let compare: String = crate::diff::other_versions(app, key)
            .into_iter()
            .map(|other| format!(" · <a href=\"/diff/matrix?old={}&amp;new={k}\">Compare with {}</a>", url_part(other), esc(other)))
            .collect();
        let _ = writeln!(
            b,
            "<li><h2><a href=\"/m/{k}\">{}</a></h2><p class=\"meta\"><code>{}</code> · version {} · {} roles · {} flows</p><p>{}</p><p><a href=\"/m/{k}/diagram\">Diagram</a> · <a href=\"/m/{k}/export/html\">HTML report</a> · <a href=\"/m/{k}/export/xlsx\">XLSX</a>{compare}</p></li>",
            esc(&m.title),
            esc(key),
            esc(&m.version.value),
            m.roles.len(),
            m.flows.len(),
            esc(&m.about.as_deref().map(first_sentence).unwrap_or_default()),
        );
    }
    b.push_str("</ul>\n");
    layout("Catalog", "<a href=\"/\" aria-current=\"page\">Catalog</a>", &b)
}

fn first_sentence(s: &str) -> String {
    let s = s.trim();
    let s = match s.find(". ") {
        Some(i) => &s[..=i],
        None => s,
    };
    if s.chars().count() > 260 {
        let mut t: String = s.chars().take(259).collect();
        t.push('…');
        t
    } else {
        s.to_string()
    }
}

fn crumbs(key: &str, m: &Matrix, here: &str) -> String {
    let k = url_part(key);
    let mut o = format!("<a href=\"/\">Catalog</a> › <a href=\"/m/{k}\">{}</a>", esc(&m.title));
    if !here.is_empty() {
        let _ = write!(o, " › <span aria-current=\"page\">{}</span>", esc(here));
    }
    o
}

/// The filters of the query, checked against the matrix; problems are shown, not fatal.
fn flow_filter(m: &Matrix, q: &Filters) -> (FlowFilter, Vec<String>) {
    let mut problems = Vec::new();
    let mut f = FlowFilter { role: q.role().map(str::to_string), feature: q.feature().map(str::to_string), ..Default::default() };
    if let Some(p) = q.proto() {
        match Proto::parse(p) {
            Some(p) => f.proto = Some(p),
            None => problems.push(format!("unknown protocol `{p}`")),
        }
    }
    if let Some(text) = q.port() {
        let (port, proto) = match text.split_once('/') {
            Some((a, b)) => (a.trim(), Some(b.trim())),
            None => (text, None),
        };
        match port.parse::<u16>() {
            Ok(p) => f.port = Some(p),
            Err(_) => problems.push(format!("`{port}` is not a port (0-65535)")),
        }
        if let Some(pr) = proto {
            match Proto::parse(pr) {
                Some(p) => f.proto = Some(p),
                None => problems.push(format!("unknown protocol `{pr}`")),
            }
        }
    }
    if let Some(feat) = &f.feature {
        if !m.features.contains_key(feat.as_str()) {
            problems.push(format!("`{}` has no feature `{feat}`", m.matrix.value));
        }
    }
    if let Some(r) = &f.role {
        if r != "any" && !m.roles.keys().any(|id| portmatrix_report::matrix_table::role_matches(m, id, r)) {
            problems.push(format!("`{}` has no role `{r}`", m.matrix.value));
        }
    }
    (f, problems)
}

fn select(name: &str, label: &str, options: &[(String, String)], current: Option<&str>) -> String {
    let mut o = format!("<label for=\"f-{name}\">{label}<select id=\"f-{name}\" name=\"{name}\"><option value=\"\">(all)</option>");
    for (v, text) in options {
        let sel = if current == Some(v.as_str()) { " selected" } else { "" };
        let _ = write!(o, "<option value=\"{}\"{sel}>{}</option>", esc(v), esc(text));
    }
    o.push_str("</select></label>");
    o
}

fn filter_form(action: &str, m: &Matrix, q: &Filters) -> String {
    let roles: Vec<(String, String)> = m.roles.iter().map(|(id, r)| (id.value.clone(), format!("{} ({})", r.title, id.value))).collect();
    let features: Vec<(String, String)> = m.features.keys().map(|k| (k.value.clone(), k.value.clone())).collect();
    let protos: Vec<(String, String)> = Proto::ALL.iter().map(|p| (p.as_str().to_string(), p.as_str().to_string())).collect();
    let mut o = format!("<form class=\"filters\" method=\"get\" action=\"{}\" role=\"search\" aria-label=\"Filter flows\">", esc(action));
    o.push_str(&select("role", "Role", &roles, q.role()));
    if !features.is_empty() {
        o.push_str(&select("feature", "Feature", &features, q.feature()));
    }
    o.push_str(&select("proto", "Protocol", &protos, q.proto()));
    let _ = write!(
        o,
        "<label for=\"f-port\">Port<input id=\"f-port\" name=\"port\" type=\"search\" inputmode=\"numeric\" placeholder=\"5060 or 5060/udp\" size=\"14\" value=\"{}\"></label>",
        esc(q.port().unwrap_or(""))
    );
    let _ = writeln!(
        o,
        "<button class=\"primary\" type=\"submit\">Filter</button><a class=\"button\" href=\"{}\">Clear</a></form>",
        esc(action)
    );
    o
}

/// A matrix's page; `versions`: the other versions the server shows, to compare with.
pub fn matrix(key: &str, m: &Matrix, q: &Filters, versions: &[&str]) -> String {
    let k = url_part(key);
    let (filter, problems) = flow_filter(m, q);
    let mut b = format!("<h1>{} <span class=\"muted\">{}</span></h1>\n", esc(&m.title), esc(key));
    b.push_str(&matrix_summary(m));
    let compare: String = versions
        .iter()
        .map(|other| format!(" · <a href=\"/diff/matrix?old={}&amp;new={k}\">Compare with {}</a>", url_part(other), esc(other)))
        .collect();
    let _ = writeln!(b, "<p class=\"noprint\"><a href=\"/m/{k}/diagram\">Open the diagram</a>{compare}</p>");
    b.push_str("<h2 id=\"flows\">Flows</h2>\n");
    b.push_str(&filter_form(&format!("/m/{k}"), m, q));
    for p in &problems {
        let _ = writeln!(b, "<p role=\"alert\"><mark>{}</mark></p>", esc(p));
    }
    if let Some(r) = q.role() {
        if m.roles.contains_key(r) || r == "any" {
            b.push_str(&role_panel(key, m, r));
        }
    }
    let t = flows_table(m, &filter);
    let caption = format!("{} of {} flows", t.rows.len(), m.flows.len());
    b.push_str(&table_html_with_id(&t, Some(&caption), Some("flow-table")));
    b.push_str(&settings_and_downloads(key, m));
    layout(&m.title, &crumbs(key, m, ""), &b)
}

fn settings_and_downloads(key: &str, m: &Matrix) -> String {
    let k = url_part(key);
    let mut b = String::new();
    let settings = portmatrix_report::render::settings_table(m);
    if !settings.rows.is_empty() {
        b.push_str("<h2 id=\"settings\">Features and parameters</h2>\n");
        b.push_str(&table_html(&settings, None));
    }
    b.push_str("<h2 id=\"downloads\">Downloads</h2>\n<p class=\"downloads\">");
    for f in Format::ALL {
        let _ = write!(b, "<a href=\"/m/{k}/export/{}\" download>{}</a>", f.extension(), format_name(f));
    }
    b.push_str("</p>\n");
    b
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Md => "Markdown",
        Format::Csv => "CSV",
        Format::Xlsx => "XLSX",
        Format::Html => "HTML report",
        Format::Dot => "Graphviz DOT",
        Format::Mermaid => "Mermaid",
        Format::Svg => "SVG",
    }
}

/// What a role listens on and whom it talks to: summary and tables.
pub fn role_panel(key: &str, m: &Matrix, role: &str) -> String {
    let (summary, tables) = role_parts(key, m, role);
    format!("{summary}{tables}</section>\n")
}

/// The summary (opening the panel's `<section>`) and the tables of a role.
fn role_parts(key: &str, m: &Matrix, role: &str) -> (String, String) {
    let k = url_part(key);
    let title = m.role(role).map(|r| r.title.as_str()).unwrap_or("any (bound by the deployment)");
    let mut listens = Table::new(&["proto", "ports", "from", "flow", "when", "purpose"]).mono(&["ports", "flow", "when"]);
    let mut talks = Table::new(&["to", "proto", "ports", "flow", "when", "purpose"]).mono(&["ports", "flow", "when"]);
    let mut peers: Vec<String> = Vec::new();
    let mut summary: BTreeMap<Proto, PortSet> = BTreeMap::new();
    let mut icmp: Vec<String> = Vec::new();
    let names = |v: &[portmatrix_model::matrix::Name]| v.iter().map(|n| n.value.as_str()).collect::<Vec<_>>().join(", ");
    for f in &m.flows {
        let protos = f.protos().map(|p| p.as_str()).collect::<Vec<_>>().join("/");
        let when = f.when.as_ref().map(|w| w.to_string()).unwrap_or_default();
        if end_roles(m, &f.to).contains(&role) {
            listens.push(vec![protos.clone(), ports_cell(m, f), names(&f.from), f.id.value.clone(), when.clone(), f.purpose.clone()]);
            for p in f.protos() {
                if p.has_ports() {
                    if let Some(set) = default_ports(m, f) {
                        let e = summary.entry(p).or_default();
                        *e = e.union(&set);
                    }
                } else if !icmp.contains(&p.as_str().to_string()) {
                    icmp.push(p.as_str().to_string());
                }
            }
        }
        if end_roles(m, &f.from).contains(&role) {
            for n in &f.to {
                if !peers.contains(&n.value) {
                    peers.push(n.value.clone());
                }
            }
            talks.push(vec![names(&f.to), protos, ports_cell(m, f), f.id.value.clone(), when, f.purpose.clone()]);
        }
    }
    let mut o = format!(
        "<section class=\"panel\" id=\"role\" aria-labelledby=\"role-h\"><h2 id=\"role-h\">{} <span class=\"muted\">{}</span></h2>\n",
        esc(title),
        esc(role)
    );
    if let Some(r) = m.role(role) {
        let mut meta = Vec::new();
        if r.external {
            meta.push("external party".to_string());
        }
        if !r.aliases.is_empty() {
            meta.push(format!("also called {}", r.aliases.join(", ")));
        }
        if !r.fqdns.is_empty() {
            meta.push(format!("names: {}", r.fqdns.iter().map(|f| f.value.as_str()).collect::<Vec<_>>().join(", ")));
        }
        if let Some(a) = &r.about {
            meta.push(a.trim().to_string());
        }
        if !meta.is_empty() {
            let _ = writeln!(o, "<p class=\"meta\">{}</p>", esc(&meta.join(" · ")));
        }
    }
    let mut parts: Vec<String> = summary.iter().map(|(p, s)| format!("{p} {s}")).collect();
    parts.extend(icmp);
    let _ = writeln!(
        o,
        "<p id=\"listens-summary\"><b>Listens on:</b> <code>{}</code></p>",
        if parts.is_empty() { "nothing".to_string() } else { esc(&parts.join("; ")) }
    );
    let _ = writeln!(
        o,
        "<p id=\"talks-summary\"><b>Talks to:</b> {}</p>",
        if peers.is_empty() { "nobody (it only listens)".to_string() } else { esc(&peers.join(", ")) }
    );
    let _ = writeln!(o, "<p class=\"noprint\"><a href=\"#role-tables\">Details</a> · <a href=\"/m/{k}?role={}#flows\">This role's flows in the table</a></p>", url_part(role));
    let summary_html = std::mem::take(&mut o);
    let _ = writeln!(o, "<div id=\"role-tables\"><h3>Listens on ({} flows)</h3>", listens.rows.len());
    o.push_str(&table_html_with_id(&listens, None, Some("listens")));
    let _ = writeln!(o, "<h3>Talks to ({} flows)</h3>", talks.rows.len());
    o.push_str(&table_html_with_id(&talks, None, Some("talks")));
    o.push_str("</div>\n");
    (summary_html, o)
}

pub fn diagram(key: &str, m: &Matrix, q: &Filters) -> String {
    let k = url_part(key);
    let mut b = format!("<h1>{} <span class=\"muted\">diagram</span></h1>\n", esc(&m.title));
    b.push_str("<p class=\"muted\">Select a role (click, or Tab to it and press Enter) to see what it listens on and whom it talks to. Dashed boxes are outside parties; dashed arrows depend on features.</p>\n");
    let selected = q.role().filter(|r| m.roles.contains_key(*r) || (*r == "any"));
    let parts = selected.map(|r| role_parts(key, m, r));
    if let Some((summary, _)) = &parts {
        b.push_str(summary);
        b.push_str("</section>\n");
    } else if let Some(r) = q.role() {
        let _ = writeln!(b, "<p role=\"alert\"><mark>`{}` has no role `{}`</mark></p>", esc(&m.matrix.value), esc(r));
    }
    let href = |id: &str| format!("/m/{k}/diagram?role={}#role", url_part(id));
    let opts = SvgOptions { role_href: Some(&href), highlight: selected, label_max: 0, fit_width: true };
    b.push_str("<div class=\"diagram\" id=\"diagram\">\n");
    b.push_str(&to_svg(&RoleGraph::drawing(m), &opts));
    b.push_str("</div>\n");
    if let Some((_, tables)) = &parts {
        b.push_str("<section class=\"panel\" aria-label=\"Flows of the selected role\">\n");
        b.push_str(tables);
        b.push_str("</section>\n");
    }
    let _ = writeln!(b, "<p class=\"downloads noprint\"><a href=\"/m/{k}/export/svg\" download>SVG</a><a href=\"/m/{k}/export/dot\" download>Graphviz DOT</a><a href=\"/m/{k}/export/mmd\" download>Mermaid</a></p>");
    layout(&format!("{} — diagram", m.title), &crumbs(key, m, "Diagram"), &b)
}
