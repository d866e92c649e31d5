//! The deployment view of `serve -i INV`: hosts by zone, the change request
//! (filtered by host, zone, port or firewall on its typed rows), a page per
//! managed host and per network firewall with the compiled configuration per
//! target (copy and download), and search by address.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use ipnet::IpNet;
use portmatrix_model::Proto;
use portmatrix_plan::{FirewallInfo, HostInfo, Plan};
use portmatrix_report::change_request::{iter_rows, net_text, ChangeRequestRow};
use portmatrix_report::escape::html as esc;
use portmatrix_report::html::table_html_with_id;
use portmatrix_report::plan_report::{path_text, render_change_request, summary_line};
use portmatrix_report::render::Format;
use portmatrix_report::svg::{to_svg, SvgOptions};
use portmatrix_report::table::Table;
use portmatrix_targets::compile::{compile_firewall, compile_host, CompileError, Compiled};
use portmatrix_targets::{OutputFile, Target};
use serde::Deserialize;

use crate::pages::{layout, url_part};
use crate::results::{counts_html, host_section};
use crate::{download, export_format, field, html, missing, page, App};

/// Query of the deployment page's connection filter. Empty fields count as unset.
#[derive(Debug, Default, Deserialize)]
pub struct PlanFilters {
    pub host: Option<String>,
    pub zone: Option<String>,
    /// `5060`, `5060/udp` or `udp/5060`.
    pub port: Option<String>,
    /// A network firewall: the rows it must permit.
    pub firewall: Option<String>,
}

/// The filter, read from the form: typed, with what could not be read.
struct RowFilter<'q> {
    host: Option<&'q str>,
    zone: Option<&'q str>,
    port: Option<(u16, Option<Proto>)>,
    firewall: Option<&'q str>,
    problems: Vec<String>,
}

impl<'q> RowFilter<'q> {
    fn read(q: &'q PlanFilters) -> Self {
        let mut problems = Vec::new();
        let port = field(&q.port).and_then(|text| match parse_port(text) {
            Ok(p) => Some(p),
            Err(e) => {
                problems.push(e);
                None
            }
        });
        RowFilter { host: field(&q.host), zone: field(&q.zone), port, firewall: field(&q.firewall), problems }
    }
    fn keep(&self, r: &ChangeRequestRow) -> bool {
        self.host.is_none_or(|h| r.source.name == h || r.destination.name() == h)
            && self.zone.is_none_or(|z| r.source.zone.as_deref() == Some(z) || r.destination.zone() == Some(z))
            && self.port.is_none_or(|(p, proto)| r.reaches_port(p, proto))
            && self.firewall.is_none_or(|f| r.crosses(f))
    }
}

/// `5060`, `5060/udp` or `udp/5060`.
fn parse_port(text: &str) -> Result<(u16, Option<Proto>), String> {
    let (a, b) = match text.split_once('/') {
        Some((a, b)) => (a.trim(), Some(b.trim())),
        None => (text.trim(), None),
    };
    let (port, proto) = match (a.parse::<u16>(), b) {
        (Ok(n), p) => (n, p),
        (Err(_), Some(b)) => (b.parse::<u16>().map_err(|_| format!("`{text}` is not a port (0-65535)"))?, Some(a)),
        (Err(_), None) => return Err(format!("`{text}` is not a port (0-65535)")),
    };
    match proto {
        None => Ok((port, None)),
        Some(p) => match Proto::parse(p).filter(|p| p.has_ports()) {
            Some(p) => Ok((port, Some(p))),
            None => Err(format!("`{p}` is not a protocol with ports (tcp, udp, sctp)")),
        },
    }
}

/// The targets that fit a host (the one OS policy of `portmatrix_targets::policy`).
pub fn targets_for(h: &HostInfo) -> Vec<Target> {
    Target::ALL.into_iter().filter(|t| portmatrix_targets::policy::misfit(*t, h).is_none()).collect()
}

/// The targets that write a network firewall's forward rules.
pub fn firewall_targets() -> Vec<Target> {
    Target::ALL.into_iter().filter(|t| t.backend().capabilities().forward).collect()
}

/// A target by its name (`nftables`, ...).
pub fn target_named(s: &str) -> Option<Target> {
    Target::ALL.into_iter().find(|t| t.name() == s)
}

/// Rows a page shows at most: a large deployment has millions; the page
/// says how many matched and the downloads hold them all.
pub const SHOWN_ROWS: usize = 2_000;

/// The rows of the plan that `keep` accepts: the first [`SHOWN_ROWS`] of
/// them, and how many there are.
fn matching<'p>(p: &'p Plan, keep: impl Fn(&ChangeRequestRow) -> bool) -> (Vec<ChangeRequestRow<'p>>, usize) {
    let mut shown = Vec::new();
    let mut n = 0;
    for r in iter_rows(p).filter(|r| keep(r)) {
        n += 1;
        if shown.len() < SHOWN_ROWS {
            shown.push(r);
        }
    }
    (shown, n)
}

/// A table of matching rows, with a caption that says when some are not shown.
fn rows_table(rows: &[ChangeRequestRow], n: usize, caption: Option<String>, id: &str) -> String {
    let caption = match (caption, rows.len() < n) {
        (Some(c), true) => Some(format!("{c}; the first {} shown — filter, or download the change request", rows.len())),
        (None, true) => Some(format!("{n} rows; the first {} shown — filter, or download the change request", rows.len())),
        (c, false) => c,
    };
    table_html_with_id(&Table::of(rows), caption.as_deref(), Some(id))
}

fn crumbs(here: &str) -> String {
    let mut o = String::from("<a href=\"/\">Catalog</a> › <a href=\"/d\">Deployment</a>");
    if !here.is_empty() {
        let _ = write!(o, " › <span aria-current=\"page\">{}</span>", esc(here));
    }
    o
}

fn no_deployment() -> Response {
    missing("No deployment: start the server with `portmatrix serve -i INVENTORY`.")
}

pub(crate) fn host_link(p: &Plan, name: &str) -> String {
    match p.host(name) {
        Some(h) if h.managed => format!("<a href=\"/d/host/{}\">{}</a>", url_part(name), esc(name)),
        _ => esc(name),
    }
}

fn firewall_link(name: &str) -> String {
    format!("<a href=\"/d/firewall/{}\">{}</a>", url_part(name), esc(name))
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

fn filter_form(p: &Plan, zones: &[String], q: &PlanFilters) -> String {
    let mut b = String::from("<form class=\"filters\" method=\"get\" action=\"/d\" role=\"search\" aria-label=\"Filter connections\">");
    let hosts: Vec<String> = p.hosts.iter().map(|h| h.name.clone()).collect();
    b.push_str(&select("c-host", "host", "Host", &hosts, field(&q.host)));
    b.push_str(&select("c-zone", "zone", "Zone", zones, field(&q.zone)));
    if !p.firewalls.is_empty() {
        let fws: Vec<String> = p.firewalls.iter().map(|f| f.name.clone()).collect();
        b.push_str(&select("c-firewall", "firewall", "Firewall", &fws, field(&q.firewall)));
    }
    let _ = writeln!(
        b,
        "<label for=\"c-port\">Port<input id=\"c-port\" name=\"port\" type=\"search\" inputmode=\"numeric\" size=\"10\" placeholder=\"5060/udp\" value=\"{}\"></label><button class=\"primary\" type=\"submit\">Filter</button><a class=\"button\" href=\"/d\">Clear</a></form>",
        esc(field(&q.port).unwrap_or(""))
    );
    b
}

fn hosts_by_zone(p: &Plan) -> BTreeMap<String, Vec<&HostInfo>> {
    let mut by_zone: BTreeMap<String, Vec<&HostInfo>> = BTreeMap::new();
    for h in &p.hosts {
        by_zone.entry(h.zone.clone().unwrap_or_else(|| "(no zone)".into())).or_default().push(h);
    }
    by_zone
}

fn hosts_section(p: &Plan) -> String {
    let mut b = String::from("<h2 id=\"hosts\">Hosts by zone</h2>\n");
    for (zone, hosts) in &hosts_by_zone(p) {
        let _ = writeln!(b, "<h3>Zone {}</h3>\n<table class=\"hosts\"><thead><tr><th scope=\"col\">host</th><th scope=\"col\">addresses</th><th scope=\"col\">os</th><th scope=\"col\">managed</th><th scope=\"col\">roles</th></tr></thead><tbody>", esc(zone));
        for h in hosts {
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td class=\"ports\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                host_link(p, &h.name),
                esc(&h.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" ")),
                h.os.map(|o| format!("{o:?}").to_lowercase()).unwrap_or_default(),
                if h.managed { "yes" } else { "no" },
                esc(&h.roles.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(" "))
            );
        }
        b.push_str("</tbody></table>\n");
    }
    b
}

fn firewalls_section(p: &Plan) -> String {
    if p.firewalls.is_empty() {
        return String::new();
    }
    let mut b = String::from("<h2 id=\"firewalls\">Network firewalls</h2>\n<ul class=\"firewalls\">");
    for f in &p.firewalls {
        let _ = write!(b, "<li>{} <span class=\"muted\">joins {}</span></li>", firewall_link(&f.name), esc(&f.zones.join(", ")));
    }
    b.push_str("</ul>\n");
    b
}

fn downloads_section() -> String {
    let mut b = String::from("<h2 id=\"downloads\">Downloads</h2>\n<p class=\"downloads\">");
    for (f, name) in [
        (Format::Xlsx, "Change request (XLSX)"),
        (Format::Csv, "CSV"),
        (Format::Md, "Markdown"),
        (Format::Html, "HTML report"),
        (Format::Svg, "Zone diagram (SVG)"),
    ] {
        let _ = write!(b, "<a href=\"/d/export/{}\" download>{name}</a>", f.extension());
    }
    b.push_str("</p>\n");
    b
}

fn search_form(value: &str) -> String {
    format!(
        "<form class=\"filters\" method=\"get\" action=\"/d/search\" role=\"search\" aria-label=\"Find an address\"><label for=\"s-addr\">Address or prefix<input id=\"s-addr\" name=\"addr\" type=\"search\" size=\"24\" placeholder=\"10.10.0.11 or 10.20.0.0/16\" value=\"{}\"></label><button class=\"primary\" type=\"submit\">Find</button></form>\n",
        esc(value)
    )
}

pub fn deployment(app: &App, p: &Plan, q: &PlanFilters) -> String {
    let mut b = format!("<h1>Deployment <span class=\"muted\">{}</span></h1>\n", esc(&p.inventory));
    let _ = writeln!(b, "<p class=\"meta\">{}</p>", esc(&summary_line(p, " · ")));
    let _ = writeln!(b, "<nav class=\"noprint\" aria-label=\"on this page\"><p>On this page: <a href=\"#zones\">zones</a> · <a href=\"#hosts\">hosts</a> · <a href=\"#firewalls\">firewalls</a> · <a href=\"#connections\">connections</a> · <a href=\"#downloads\">downloads</a> · <a href=\"/d/explain\">explain a packet</a></p></nav>");
    b.push_str(&search_form(""));
    if let Some(r) = &app.results {
        let _ = writeln!(
            b,
            "<section class=\"panel\" id=\"results-panel\"><h2><a href=\"/results\">Probe results</a> <span class=\"muted\">{}</span></h2>",
            esc(&r.file)
        );
        b.push_str(&counts_html(r));
        b.push_str("</section>\n");
    }
    if let Some(a) = &app.audit {
        let _ = writeln!(
            b,
            "<section class=\"panel\" id=\"audit-panel\"><h2><a href=\"/audit\">Flow audit</a> <span class=\"muted\">{}</span></h2>",
            esc(&a.file)
        );
        b.push_str(&crate::audit::counts_html(a));
        b.push_str("</section>\n");
    }
    if let Some(c) = &app.comparison {
        let _ = writeln!(
            b,
            "<section class=\"panel\" id=\"changes-panel\"><h2><a href=\"/diff/deployment\">Changes from {}</a></h2><p>{} connection(s) to open, {} to close; <a href=\"/diff/deployment/export/xlsx\" download>delta change request (XLSX)</a>.</p></section>",
            esc(&c.diff.old),
            c.diff.opened.len(),
            c.diff.closed.len()
        );
    }
    if !p.warnings.is_empty() {
        b.push_str("<details><summary>Warnings of the plan</summary><ul>");
        for w in &p.warnings {
            let _ = write!(b, "<li>{}</li>", esc(&w.message));
        }
        b.push_str("</ul></details>\n");
    }
    b.push_str("<h2 id=\"zones\">Zones</h2>\n<div class=\"diagram\">\n");
    b.push_str(app.zone_svg.get_or_init(|| {
        to_svg(&portmatrix_report::zones::zone_graph(p, iter_rows(p)), &SvgOptions { fit_width: true, ..Default::default() })
    }));
    b.push_str("</div>\n");
    b.push_str(&hosts_section(p));
    b.push_str(&firewalls_section(p));

    b.push_str("<h2 id=\"connections\">Planned connections</h2>\n");
    let zones: Vec<String> = hosts_by_zone(p).into_keys().collect();
    b.push_str(&filter_form(p, &zones, q));
    let filter = RowFilter::read(q);
    for e in &filter.problems {
        let _ = writeln!(b, "<p role=\"alert\"><mark>{}</mark></p>", esc(e));
    }
    let (kept, n) = matching(p, |r| filter.keep(r));
    let caption = format!("{n} of {} rows", portmatrix_report::change_request::row_count(p));
    b.push_str(&rows_table(&kept, n, Some(caption), "conn-table"));
    b.push_str(&downloads_section());
    layout(&format!("Deployment {}", p.inventory), &crumbs(""), &b)
}

/// The files of a compiled configuration: a heading, copy and download
/// buttons, and the text. `base` is the URL the file index is appended to.
fn config_files(out: &mut String, n: &mut usize, base: &str, c: &Compiled) {
    if !c.warnings.is_empty() {
        out.push_str("<ul class=\"warnings\">");
        for w in &c.warnings {
            let _ = write!(out, "<li>{}</li>", esc(w));
        }
        out.push_str("</ul>\n");
    }
    for (i, f) in c.files.iter().enumerate() {
        *n += 1;
        let id = format!("cfg-{n}");
        let file = file_name(f);
        let _ = writeln!(
            out,
            "<h4><code>{}</code></h4>\n<p class=\"noprint\"><a class=\"button\" href=\"{base}/{i}\" download=\"{}\" data-file=\"{}\">Download {}</a> <button type=\"button\" data-copy=\"{id}\" hidden>Copy</button></p>\n<pre class=\"config\" id=\"{id}\" tabindex=\"0\">{}</pre>",
            esc(&f.name),
            esc(file),
            esc(&f.name),
            esc(file),
            esc(&f.contents)
        );
    }
}

fn file_name(f: &OutputFile) -> &str {
    f.name.rsplit('/').next().unwrap_or(&f.name)
}

/// One section per target: its files, or why it failed.
fn target_sections(out: &mut String, targets: &[Target], base: &str, compile: &dyn Fn(Target) -> Result<Compiled, CompileError>) {
    let mut n = 0;
    for &target in targets {
        let _ = writeln!(out, "<section class=\"target\" id=\"target-{0}\"><h3>{0}</h3>", target.name());
        match compile(target) {
            Ok(c) => config_files(out, &mut n, &format!("{base}/file/{}", target.name()), &c),
            Err(e) => {
                let _ = writeln!(out, "<p role=\"alert\"><mark>{}</mark></p>", esc(&e.to_string()));
            }
        }
        out.push_str("</section>\n");
    }
}

fn toc(targets: &[Target], extra: &[(&str, &str)]) -> String {
    let mut toc: Vec<String> = targets.iter().map(|t| format!("<a href=\"#target-{0}\">{0}</a>", t.name())).collect();
    toc.extend(extra.iter().map(|(id, text)| format!("<a href=\"#{id}\">{text}</a>")));
    format!("<nav class=\"noprint\" aria-label=\"on this page\"><p>On this page: {}</p></nav>\n", toc.join(" · "))
}

pub fn host(app: &App, p: &Plan, h: &HostInfo) -> String {
    let mut b =
        format!("<h1>Host {} <span class=\"muted\">zone {}</span></h1>\n", esc(&h.name), esc(h.zone.as_deref().unwrap_or("(none)")));
    let _ = writeln!(
        b,
        "<p class=\"meta\">{} · {} · roles: {}</p>",
        esc(&h.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" ")),
        h.os.map(|o| format!("{o:?}").to_lowercase()).unwrap_or_else(|| "os not given".into()),
        esc(&h.roles.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", "))
    );
    let targets: Vec<Target> = if h.managed { targets_for(h) } else { Vec::new() };
    let mut extra = vec![("inbound", "inbound"), ("outbound", "outbound")];
    if app.results.is_some() {
        extra.push(("results", "probe results"));
    }
    if app.audit.is_some() {
        extra.push(("audit", "flow audit"));
    }
    b.push_str(&toc(&targets, &extra));
    b.push_str("<h2 id=\"configs\">Compiled configuration</h2>\n");
    if !h.managed {
        b.push_str("<p>This host is not managed: no rules are compiled for it.</p>\n");
    }
    let base = format!("/d/host/{}", url_part(&h.name));
    target_sections(&mut b, &targets, &base, &|t| compile_host(p, &h.name, t, &Default::default()));
    let (inbound, n_in) = matching(p, |r| r.destination.is_host(&h.name));
    let (outbound, n_out) = matching(p, |r| r.from_host(&h.name));
    let _ = writeln!(b, "<h2 id=\"inbound\">Inbound ({n_in} rows)</h2>");
    b.push_str(&rows_table(&inbound, n_in, None, "inbound-rows"));
    let _ = writeln!(b, "<h2 id=\"outbound\">Outbound ({n_out} rows)</h2>");
    b.push_str(&rows_table(&outbound, n_out, None, "outbound-rows"));
    if let Some(r) = &app.results {
        b.push_str(&host_section(r, p, &h.name));
    }
    if let Some(a) = &app.audit {
        b.push_str(&crate::audit::host_section(a, p, &h.name));
    }
    layout(&format!("Host {}", h.name), &crumbs(&h.name), &b)
}

pub fn firewall(p: &Plan, f: &FirewallInfo) -> String {
    let mut b = format!("<h1>Firewall {} <span class=\"muted\">network firewall</span></h1>\n", esc(&f.name));
    let zones: Vec<String> = f.zones.iter().map(|z| format!("<a href=\"/d?zone={}#connections\">{}</a>", url_part(z), esc(z))).collect();
    let _ = writeln!(b, "<p class=\"meta\">Joins the zones {}.</p>", zones.join(", "));
    let (rows, n) = matching(p, |r| r.crosses(&f.name));
    let targets = firewall_targets();
    b.push_str(&toc(&targets, &[("rows", "rows it permits")]));
    b.push_str("<h2 id=\"configs\">Compiled configuration</h2>\n<p class=\"muted\">Forward rules for every connection whose path through the zones crosses this firewall; the same files as <code>portmatrix compile --firewall</code>.</p>\n");
    let base = format!("/d/firewall/{}", url_part(&f.name));
    target_sections(&mut b, &targets, &base, &|t| compile_firewall(p, &f.name, t, &Default::default()));
    let _ = writeln!(b, "<h2 id=\"rows\">Rows it permits ({n})</h2>");
    b.push_str("<ul class=\"paths\">");
    let mut seen = std::collections::BTreeSet::new();
    for r in iter_rows(p).filter(|r| r.crosses(&f.name)) {
        if seen.insert(r.zone_pair()) {
            let _ = write!(b, "<li>{}</li>", esc(&path_text(&r.enforced_by.path)));
        }
    }
    b.push_str("</ul>\n");
    b.push_str(&rows_table(&rows, n, None, "fw-rows"));
    layout(&format!("Firewall {}", f.name), &crumbs(&f.name), &b)
}

/// Query of the search page.
#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    pub addr: Option<String>,
}

pub fn search(p: &Plan, q: &SearchQuery) -> String {
    let text = field(&q.addr).unwrap_or("");
    let mut b = String::from("<h1>Find an address</h1>\n");
    b.push_str(&search_form(text));
    if !text.is_empty() {
        match text.parse::<IpNet>().or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from)) {
            Ok(net) => b.push_str(&search_results(p, &net)),
            Err(_) => {
                let _ = writeln!(b, "<p role=\"alert\"><mark>`{}` is not an address or prefix</mark></p>", esc(text));
            }
        }
    }
    layout("Find an address", &crumbs("Find an address"), &b)
}

fn search_results(p: &Plan, net: &IpNet) -> String {
    let overlap = |n: &IpNet| n.contains(net) || net.contains(n);
    let mut b = format!("<h2 id=\"found\">{}</h2>\n", esc(&net_text(net)));
    let hosts: Vec<&HostInfo> = p.hosts.iter().filter(|h| h.addresses.iter().any(|a| overlap(&IpNet::from(*a)))).collect();
    b.push_str("<h3>Hosts</h3>\n");
    if hosts.is_empty() {
        b.push_str("<p id=\"found-hosts\">No host has this address.</p>\n");
    } else {
        b.push_str("<ul id=\"found-hosts\">");
        for h in &hosts {
            let _ = write!(
                b,
                "<li>{} <span class=\"muted\">zone {}</span></li>",
                host_link(p, &h.name),
                esc(h.zone.as_deref().unwrap_or("(none)"))
            );
        }
        b.push_str("</ul>\n");
    }
    let mut networks: Vec<(String, Option<String>, Vec<String>)> = Vec::new();
    for c in &p.connections {
        for e in c.endpoints() {
            if e.kind == portmatrix_plan::EndpointKind::Network && e.nets.iter().any(overlap) && !networks.iter().any(|n| n.0 == e.name) {
                networks.push((e.name.clone(), e.zone.clone(), e.nets.iter().map(net_text).collect()));
            }
        }
    }
    b.push_str("<h3>Networks</h3>\n");
    if networks.is_empty() {
        b.push_str("<p>No network of the plan holds this address.</p>\n");
    } else {
        b.push_str("<ul id=\"found-networks\">");
        for (name, zone, nets) in &networks {
            let _ = write!(
                b,
                "<li>{} <span class=\"muted\">zone {} · {}</span></li>",
                esc(name),
                esc(zone.as_deref().unwrap_or("(none)")),
                esc(&nets.join(" "))
            );
        }
        b.push_str("</ul>\n");
    }
    let (rows, n) = matching(p, |r| r.touches(net));
    let _ = writeln!(b, "<h3>Rows of the change request ({n})</h3>");
    b.push_str(&rows_table(&rows, n, None, "found-rows"));
    b
}

// --- handlers ---

pub async fn deployment_page(State(app): State<Arc<App>>, Query(q): Query<PlanFilters>) -> Response {
    match &app.plan {
        Some(p) => page(&app, StatusCode::OK, deployment(&app, p, &q)),
        None => no_deployment(),
    }
}

pub async fn deployment_export(State(app): State<Arc<App>>, Path(format): Path<String>) -> Response {
    let Some(p) = &app.plan else {
        return no_deployment();
    };
    let Some(f) = export_format(&format) else {
        return missing(&format!("No format `{format}`."));
    };
    match render_change_request(p, app.cover.as_ref(), f) {
        Ok(bytes) => download(f.media_type(), &format!("{}.{}", p.inventory, f.extension()), bytes),
        Err(e) => html(StatusCode::INTERNAL_SERVER_ERROR, crate::pages::not_found(&e)),
    }
}

pub async fn host_page(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    let Some(p) = &app.plan else {
        return no_deployment();
    };
    match p.host(&name) {
        Some(h) => page(&app, StatusCode::OK, host(&app, p, h)),
        None => missing(&format!("No host `{name}`.")),
    }
}

pub async fn firewall_page(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    let Some(p) = &app.plan else {
        return no_deployment();
    };
    match p.firewall(&name) {
        Some(f) => page(&app, StatusCode::OK, firewall(p, f)),
        None => missing(&format!("No network firewall `{name}`.")),
    }
}

pub async fn search_page(State(app): State<Arc<App>>, Query(q): Query<SearchQuery>) -> Response {
    match &app.plan {
        Some(p) => page(&app, StatusCode::OK, search(p, &q)),
        None => no_deployment(),
    }
}

fn file_response(file: Option<OutputFile>, what: &str) -> Response {
    match file {
        Some(f) => {
            let name = file_name(&f).to_string();
            download("text/plain; charset=utf-8", &name, f.contents.into_bytes())
        }
        None => missing(&format!("No such file: {what}.")),
    }
}

pub async fn host_file(State(app): State<Arc<App>>, Path((name, target, index)): Path<(String, String, usize)>) -> Response {
    let Some(p) = &app.plan else {
        return no_deployment();
    };
    let file = target_named(&target)
        .filter(|t| p.host(&name).is_some_and(|h| h.managed && targets_for(h).contains(t)))
        .and_then(|t| compile_host(p, &name, t, &Default::default()).ok())
        .and_then(|c| c.files.into_iter().nth(index));
    file_response(file, &format!("file {index} of target `{target}` for host `{name}`"))
}

pub async fn firewall_file(State(app): State<Arc<App>>, Path((name, target, index)): Path<(String, String, usize)>) -> Response {
    let Some(p) = &app.plan else {
        return no_deployment();
    };
    let file = target_named(&target)
        .filter(|_| p.firewall(&name).is_some())
        .and_then(|t| compile_firewall(p, &name, t, &Default::default()).ok())
        .and_then(|c| c.files.into_iter().nth(index));
    file_response(file, &format!("file {index} of target `{target}` for firewall `{name}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_table_says_how_many_rows_it_leaves_out() {
        let t = rows_table(&[], 5, None, "x");
        assert!(t.contains("<caption>5 rows; the first 0 shown"), "{t}");
        let t = rows_table(&[], 5, Some("5 of 9 rows".into()), "x");
        assert!(t.contains("<caption>5 of 9 rows; the first 0 shown"), "{t}");
        assert!(!rows_table(&[], 0, None, "x").contains("<caption>"));
    }

    #[test]
    fn ports_parse_with_or_without_protocol() {
        assert_eq!(parse_port("5060"), Ok((5060, None)));
        assert_eq!(parse_port("5060/udp"), Ok((5060, Some(Proto::Udp))));
        assert_eq!(parse_port("tcp/22"), Ok((22, Some(Proto::Tcp))));
        assert!(parse_port("nope").is_err());
        assert!(parse_port("22/icmp").is_err());
    }
}
