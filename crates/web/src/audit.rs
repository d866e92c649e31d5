//! Flow audit results (`serve --audit FILE`): the JSON that `portmatrix
//! audit flows --format json` writes, read back with the audit's own types
//! for the "Audit" page and the host pages.
//!
//! Findings come first (planned but rejected, accepted but unplanned); every
//! row names its flows and cites, or for unplanned traffic the address,
//! service and a sample source. The page says when the evidence is
//! incomplete (unreadable lines, unusable rows, SKIPDATA windows), because a
//! clean audit of half the logs is not a clean audit.

use std::fmt::Write as _;
use std::path::Path;

use portmatrix_audit::results::{iso_time, PlannedRow, Traffic, UnplannedRow};
use portmatrix_audit::{AuditResult, FlowClass};
use portmatrix_plan::Plan;
use portmatrix_report::escape::html as esc;
use serde::Deserialize;

use crate::pages::url_part;

/// How many rows of each table a page shows; the filters narrow the rest.
const PAGE_ROWS: usize = 2_000;

/// An audit result as loaded.
#[derive(Debug, Clone)]
pub struct AuditView {
    /// The file name, for the page.
    pub file: String,
    pub result: AuditResult,
}

impl AuditView {
    pub fn findings(&self) -> u64 {
        self.result.summary.findings
    }
}

/// Reads and parses an audit file; the error names the file.
pub fn load_audit(path: &Path) -> Result<AuditView, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("audit file {}: {e}", path.display()))?;
    let result = AuditResult::from_json(&text).map_err(|e| format!("audit file {}: {e}", path.display()))?;
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string());
    Ok(AuditView { file, result })
}

/// Query of the audit page. Empty form fields count as unset.
#[derive(Debug, Default, Deserialize)]
pub struct AuditFilters {
    pub class: Option<String>,
    /// A host or network name, or an address: rows whose source or
    /// destination it is.
    pub host: Option<String>,
    /// `5432`, `tcp/5432` or `tcp`.
    pub service: Option<String>,
}

fn get(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn class_parse(s: &str) -> Option<FlowClass> {
    FlowClass::ALL.into_iter().find(|c| c.as_str() == s)
}

/// What each class means to the reader, findings first.
fn class_meaning(c: FlowClass) -> &'static str {
    match c {
        FlowClass::PlannedRejected => "planned but rejected: a required flow a firewall drops",
        FlowClass::UnplannedAccepted => "accepted but not planned: drift or over-permission",
        FlowClass::PlannedSeen => "planned and seen",
        FlowClass::PlannedNeverSeen => "planned, never seen in the period: recertify or remove",
        FlowClass::UnplannedRejected => "rejected and not planned: expected noise",
    }
}

fn host_link(name: &str, plan: Option<&Plan>) -> String {
    match plan.and_then(|p| p.host(name)) {
        Some(_) => format!("<a href=\"/d/host/{}\">{}</a>", url_part(name), esc(name)),
        None => esc(name),
    }
}

fn time_cell(t: Option<i64>) -> String {
    t.map_or_else(|| "-".to_string(), iso_time)
}

fn traffic_cells(t: &Traffic) -> String {
    format!(
        "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"ports\">{}</td><td class=\"ports\">{}</td>",
        t.records,
        t.packets,
        t.bytes,
        time_cell(t.first_seen),
        time_cell(t.last_seen)
    )
}

/// Whether a service filter (`5432`, `tcp/5432`, `tcp`) matches `service`
/// as the audit writes it (`tcp/5432`, `udp/5000-5999`, `icmp/type-8`).
fn service_matches(filter: &str, service: &str) -> bool {
    let filter = filter.to_ascii_lowercase();
    let (proto, ports) = service.split_once('/').unwrap_or((service, ""));
    let (want_proto, want_port) = match filter.split_once('/') {
        Some((p, n)) => (Some(p), Some(n)),
        None if filter.parse::<u32>().is_ok() => (None, Some(filter.as_str())),
        None => (Some(filter.as_str()), None),
    };
    if want_proto.is_some_and(|p| p != proto) {
        return false;
    }
    let Some(want) = want_port else { return true };
    let Ok(n) = want.parse::<u32>() else { return ports == want };
    ports.split(',').any(|part| match part.split_once('-') {
        Some((lo, hi)) => lo.parse::<u32>().is_ok_and(|lo| lo <= n) && hi.parse::<u32>().is_ok_and(|hi| n <= hi),
        None => part.parse::<u32>() == Ok(n),
    })
}

/// A row of either table, for filtering.
struct Subject<'a> {
    class: FlowClass,
    names: Vec<&'a str>,
    service: String,
}

impl Subject<'_> {
    fn keep(&self, class: Option<FlowClass>, host: Option<&str>, service: Option<&str>) -> bool {
        class.is_none_or(|c| c == self.class)
            && host.is_none_or(|h| self.names.iter().any(|n| n.eq_ignore_ascii_case(h)))
            && service.is_none_or(|s| service_matches(s, &self.service))
    }
}

fn planned_subject(r: &PlannedRow) -> Subject<'_> {
    let mut names: Vec<&str> = r.sources.iter().map(String::as_str).collect();
    names.push(&r.destination);
    Subject { class: r.class, names, service: r.service.clone() }
}

fn unplanned_subject(r: &UnplannedRow) -> Subject<'_> {
    let names =
        [Some(r.destination_address.as_str()), r.destination.as_deref(), Some(r.sample_source.as_str()), r.sample_source_name.as_deref()];
    Subject { class: r.class, names: names.into_iter().flatten().collect(), service: r.service() }
}

/// A table's start up to its body, and how many of `rows` it shows.
fn table_head(id: &str, what: &str, rows: usize, total: usize, heads: &[&str]) -> (String, usize) {
    let shown = rows.min(PAGE_ROWS);
    let mut o = format!(
        "<table id=\"{}\" class=\"results\">\n<caption>{rows} of {total} {what} rows{}</caption>\n<thead><tr>",
        esc(id),
        if shown < rows { format!(" (the first {shown} shown: filter to see the rest)") } else { String::new() }
    );
    for h in heads {
        let _ = write!(o, "<th scope=\"col\">{h}</th>");
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    (o, shown)
}

/// The planned intents and what was seen of them, findings first (the
/// audit's own order otherwise).
pub fn planned_table(rows: &[&PlannedRow], total: usize, plan: Option<&Plan>, id: &str) -> String {
    let mut sorted = rows.to_vec();
    sorted.sort_by_key(|r| r.class);
    let heads = ["class", "flows", "sources", "destination", "service", "records", "packets", "bytes", "first seen", "last seen", "cites"];
    let (mut o, shown) = table_head(id, "planned", sorted.len(), total, &heads);
    for r in &sorted[..shown] {
        let sources: Vec<String> = r.sources.iter().map(|s| host_link(s, plan)).collect();
        let flows: Vec<String> = r.flows.iter().map(|f| esc(&f.to_string())).collect();
        let cites: Vec<String> = r.cites.iter().map(|c| esc(c)).collect();
        let _ = writeln!(
            o,
            "<tr class=\"{}\" data-class=\"{}\"><td class=\"verdict\">{}</td><td class=\"ports\">{}</td><td>{}</td><td>{}</td><td class=\"ports\">{}</td>{}<td class=\"muted\">{}</td></tr>",
            if r.class.is_finding() { "fail" } else { "ok" },
            r.class.as_str(),
            class_cell(r.class),
            flows.join("<br>"),
            sources.join(", "),
            host_link(&r.destination, plan),
            esc(&r.service),
            traffic_cells(&r.traffic),
            cites.join("<br>"),
        );
    }
    o.push_str("</tbody>\n</table>\n");
    o
}

/// Traffic no intent allows, per destination and service.
pub fn unplanned_table(rows: &[&UnplannedRow], total: usize, plan: Option<&Plan>, id: &str) -> String {
    let mut sorted = rows.to_vec();
    sorted.sort_by_key(|r| r.class);
    let heads = ["class", "destination", "service", "records", "packets", "bytes", "first seen", "last seen", "sources (sample, distinct)"];
    let (mut o, shown) = table_head(id, "unplanned", sorted.len(), total, &heads);
    for r in &sorted[..shown] {
        let dest = match &r.destination {
            Some(n) => format!("{} <span class=\"ports\">{}</span>", host_link(n, plan), esc(&r.destination_address)),
            None => format!("<span class=\"ports\">{}</span>", esc(&r.destination_address)),
        };
        let source = match &r.sample_source_name {
            Some(n) => format!("{} <span class=\"ports\">{}</span>", host_link(n, plan), esc(&r.sample_source)),
            None => format!("<span class=\"ports\">{}</span>", esc(&r.sample_source)),
        };
        let _ = writeln!(
            o,
            "<tr class=\"{}\" data-class=\"{}\"><td class=\"verdict\">{}</td><td>{dest}</td><td class=\"ports\">{}</td>{}<td>{source}, ~{} distinct</td></tr>",
            if r.class.is_finding() { "fail" } else { "ok" },
            r.class.as_str(),
            class_cell(r.class),
            esc(&r.service()),
            traffic_cells(&r.traffic),
            r.sources_estimate,
        );
    }
    o.push_str("</tbody>\n</table>\n");
    o
}

/// The class, in words first; findings in bold.
fn class_cell(c: FlowClass) -> String {
    if c.is_finding() {
        format!("<strong>✗ {}</strong>", c.as_str())
    } else {
        c.as_str().to_string()
    }
}

/// `N records · M findings`, and the rows and records of each class, each a
/// link that filters the page.
pub fn counts_html(view: &AuditView) -> String {
    let s = &view.result.summary;
    let mut o = format!(
        "<p class=\"meta\" id=\"audit-summary\">{} records classified · {} intents · <strong>{} finding(s)</strong>{}</p>\n<ul class=\"counts\" aria-label=\"Classes\">",
        s.records,
        s.intents,
        s.findings,
        if s.complete { "" } else { " · <strong>evidence incomplete</strong>" }
    );
    for c in &s.classes {
        let _ = write!(
            o,
            "<li class=\"c-{0}\" title=\"{1}\"><a href=\"/audit?class={0}#audit-planned\">{0}</a>: <b>{2}</b> rows, {3} records</li>",
            c.class.as_str(),
            class_meaning(c.class),
            c.rows,
            c.traffic.records
        );
    }
    o.push_str("</ul>\n");
    o
}

/// Where the evidence has gaps: unreadable lines (with their numbers),
/// unusable Parquet rows, SKIPDATA windows.
fn evidence_html(view: &AuditView) -> String {
    let s = &view.result.summary;
    let mut o = String::from("<h2 id=\"evidence\">Evidence</h2>\n<table class=\"results\" id=\"audit-inputs\">\n<caption>Inputs</caption>\n<thead><tr><th scope=\"col\">file</th><th scope=\"col\">format</th><th scope=\"col\">records</th><th scope=\"col\">unreadable lines</th></tr></thead>\n<tbody>\n");
    for i in &s.inputs {
        let (records, bad) = match &i.stats {
            Some(st) => (st.records.to_string(), st.bad_lines),
            None => ("(counted by the query)".to_string(), 0),
        };
        let mut cell = bad.to_string();
        if let Some(st) = i.stats.as_ref().filter(|st| st.bad_lines > 0) {
            cell.push_str("<ul class=\"paths\">");
            for b in &st.bad_samples {
                let _ = write!(cell, "<li>line {}: {}</li>", b.line, esc(&b.reason));
            }
            if st.bad_lines > st.bad_samples.len() as u64 {
                let _ = write!(cell, "<li>… and {} more</li>", st.bad_lines - st.bad_samples.len() as u64);
            }
            cell.push_str("</ul>");
        }
        let _ = writeln!(
            o,
            "<tr><td class=\"ports\">{}</td><td>{}</td><td class=\"num\">{records}</td><td>{cell}</td></tr>",
            esc(&i.file),
            esc(i.format.name())
        );
    }
    o.push_str("</tbody>\n</table>\n");
    if s.unusable_rows > 0 {
        let _ = writeln!(
            o,
            "<p role=\"alert\"><mark>{} Parquet row(s) unusable (missing fields, bad addresses or values), not classified.</mark></p>",
            s.unusable_rows
        );
    }
    if s.skipdata > 0 {
        let _ = writeln!(
            o,
            "<p role=\"alert\"><mark>{} SKIPDATA record(s): the flow log service skipped records in those windows.</mark></p>",
            s.skipdata
        );
    }
    o
}

/// The audit page.
pub fn page(view: &AuditView, plan: Option<&Plan>, q: &AuditFilters) -> String {
    let r = &view.result;
    let s = &r.summary;
    let mut b = format!("<h1>Flow audit <span class=\"muted\">{}</span></h1>\n", esc(&view.file));
    let period = r.period().map(|(a, z)| format!(", seen {} .. {}", iso_time(a), iso_time(z))).unwrap_or_default();
    let _ = writeln!(
        b,
        "<p class=\"meta\">Inventory {}, classified on {} from {} input(s){period}.</p>",
        esc(&s.inventory),
        esc(&s.engine),
        s.inputs.len()
    );
    b.push_str(&counts_html(view));
    let verdict = match (s.findings, s.complete) {
        (0, true) => "Clean: every accepted flow is planned and no planned flow was rejected.".to_string(),
        (0, false) => "No finding in what could be read, but the evidence is incomplete (see below).".to_string(),
        (n, _) => format!("{n} finding(s): planned flows rejected or unplanned traffic accepted."),
    };
    let _ = writeln!(b, "<p role=\"status\"><strong>{}</strong></p>", esc(&verdict));
    let _ = writeln!(
        b,
        "<nav class=\"noprint\" aria-label=\"on this page\"><p>On this page: <a href=\"#audit-planned\">planned flows</a> · <a href=\"#audit-unplanned\">unplanned traffic</a> · <a href=\"#evidence\">evidence</a></p></nav>"
    );

    let mut problems = Vec::new();
    let class = match get(&q.class) {
        Some(c) => match class_parse(c) {
            Some(c) => Some(c),
            None => {
                problems.push(format!("unknown class `{c}`"));
                None
            }
        },
        None => None,
    };
    let host = get(&q.host);
    let service = get(&q.service);
    b.push_str("<form class=\"filters\" method=\"get\" action=\"/audit\" role=\"search\" aria-label=\"Filter the audit\"><label for=\"a-class\">Class<select id=\"a-class\" name=\"class\"><option value=\"\">(all)</option>");
    for c in FlowClass::ALL {
        let sel = if class == Some(c) { " selected" } else { "" };
        let _ = write!(b, "<option value=\"{0}\"{sel}>{0}</option>", c.as_str());
    }
    let _ = writeln!(
        b,
        "</select></label><label for=\"a-host\">Host, network or address<input id=\"a-host\" name=\"host\" type=\"search\" size=\"18\" value=\"{}\"></label><label for=\"a-service\">Service<input id=\"a-service\" name=\"service\" type=\"search\" size=\"12\" placeholder=\"tcp/5432\" value=\"{}\"></label><button class=\"primary\" type=\"submit\">Filter</button><a class=\"button\" href=\"/audit\">Clear</a></form>",
        esc(host.unwrap_or("")),
        esc(service.unwrap_or(""))
    );
    for p in &problems {
        let _ = writeln!(b, "<p role=\"alert\"><mark>{}</mark></p>", esc(p));
    }
    let planned: Vec<&PlannedRow> = r.planned.iter().filter(|p| planned_subject(p).keep(class, host, service)).collect();
    let unplanned: Vec<&UnplannedRow> = r.unplanned.iter().filter(|u| unplanned_subject(u).keep(class, host, service)).collect();
    let _ = writeln!(b, "<h2 id=\"audit-planned\">Planned flows</h2>");
    b.push_str(&planned_table(&planned, r.planned.len(), plan, "audit-planned-table"));
    let _ = writeln!(b, "<h2 id=\"audit-unplanned\">Unplanned traffic</h2>");
    b.push_str(&unplanned_table(&unplanned, r.unplanned.len(), plan, "audit-unplanned-table"));
    b.push_str(&evidence_html(view));

    crate::pages::layout(&format!("Audit {}", view.file), &crate::pages::view_crumbs(plan.is_some(), "Audit"), &b)
}

/// The section of a host page: the audited flows from or to the host.
pub fn host_section(view: &AuditView, plan: &Plan, host: &str) -> String {
    let r = &view.result;
    let planned: Vec<&PlannedRow> = r.planned.iter().filter(|p| planned_subject(p).keep(None, Some(host), None)).collect();
    let unplanned: Vec<&UnplannedRow> = r.unplanned.iter().filter(|u| unplanned_subject(u).keep(None, Some(host), None)).collect();
    let findings = planned.iter().filter(|p| p.class.is_finding()).count() + unplanned.iter().filter(|u| u.class.is_finding()).count();
    let mut o = format!(
        "<h2 id=\"audit\">Flow audit ({} planned, {} unplanned rows, {findings} finding(s))</h2>\n",
        planned.len(),
        unplanned.len()
    );
    let _ = writeln!(
        o,
        "<p class=\"meta\">Rows from or to {} in <a href=\"/audit?host={}\">{}</a>.</p>",
        esc(host),
        url_part(host),
        esc(&view.file)
    );
    o.push_str(&planned_table(&planned, r.planned.len(), Some(plan), "host-audit-planned"));
    if !unplanned.is_empty() {
        o.push_str(&unplanned_table(&unplanned, r.unplanned.len(), Some(plan), "host-audit-unplanned"));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_filters_read_ports_ranges_and_protocols() {
        for (filter, service, want) in [
            ("5432", "tcp/5432", true),
            ("tcp/5432", "tcp/5432", true),
            ("udp/5432", "tcp/5432", false),
            ("TCP", "tcp/5432", true),
            ("5500", "udp/5000-5999", true),
            ("6000", "udp/5000-5999", false),
            ("443", "tcp/80,443", true),
            ("8", "icmp/type-8", false),
            ("icmp/type-8", "icmp/type-8", true),
            ("54", "tcp/5432", false),
        ] {
            assert_eq!(service_matches(filter, service), want, "{filter} ~ {service}");
        }
    }

    #[test]
    fn unknown_classes_are_not_filters() {
        assert_eq!(class_parse("planned-rejected"), Some(FlowClass::PlannedRejected));
        assert_eq!(class_parse("planned"), None);
    }
}
