//! The deployment view of `serve -i INV`: hosts by zone, the planned
//! connections, and each managed host's compiled configuration per target.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use portmatrix_plan::{HostInfo, Plan};
use portmatrix_targets::{compile_host, OutputFile, Target};
use serde::Deserialize;

use super::pages::{layout, url_part};
use super::results::{counts_html, host_section, Results};
use crate::html::table_html;
use crate::plan_report::{connections_table, zone_graph};
use crate::render::Format;
use crate::svg::{esc, to_svg, SvgOptions};
use crate::table::Table;

/// Query of the deployment page's connection filter.
#[derive(Debug, Default, Deserialize)]
pub struct PlanFilters {
    pub host: Option<String>,
    pub zone: Option<String>,
    pub port: Option<String>,
}

fn get(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The targets that make sense for a host: no Windows Firewall script for a
/// Linux host, no nftables/iptables for a Windows one.
/// The targets that fit a host (the one OS policy of `portmatrix_targets::policy`).
pub fn targets_for(h: &HostInfo) -> Vec<Target> {
    Target::ALL.into_iter().filter(|t| portmatrix_targets::policy::misfit(*t, h).is_none()).collect()
}

/// A target by its name (`nftables`, ...).
pub fn target_named(s: &str) -> Option<Target> {
    Target::ALL.into_iter().find(|t| t.name() == s)
}

/// The file of a host's compiled configuration, by target and index.
pub fn host_file(p: &Plan, host: &str, target: Target, index: usize) -> Option<OutputFile> {
    let h = p.host(host).filter(|h| h.managed)?;
    if !targets_for(h).contains(&target) {
        return None;
    }
    compile_host(p, host, target, &Default::default()).ok().and_then(|c| c.files.into_iter().nth(index))
}

fn crumbs(here: &str) -> String {
    let mut o = String::from("<a href=\"/\">Catalog</a> › <a href=\"/d\">Deployment</a>");
    if !here.is_empty() {
        let _ = write!(o, " › <span aria-current=\"page\">{}</span>", esc(here));
    }
    o
}

pub fn deployment(p: &Plan, q: &PlanFilters, results: Option<&Results>) -> String {
    let mut b = format!("<h1>Deployment <span class=\"muted\">{}</span></h1>\n", esc(&p.inventory));
    let _ = writeln!(b, "<p class=\"meta\">{}</p>", crate::plan_report::summary_line(p, " · "));
    if let Some(r) = results {
        let _ = writeln!(
            b,
            "<section class=\"panel\" id=\"results-panel\"><h2><a href=\"/results\">Probe results</a> <span class=\"muted\">{}</span></h2>",
            esc(&r.file)
        );
        b.push_str(&counts_html(r));
        b.push_str("</section>\n");
    }
    if !p.warnings.is_empty() {
        b.push_str("<details><summary>Warnings of the plan</summary><ul>");
        for w in &p.warnings {
            let _ = write!(b, "<li>{}</li>", esc(&w.message));
        }
        b.push_str("</ul></details>\n");
    }
    b.push_str("<h2 id=\"zones\">Zones</h2>\n<div class=\"diagram\">\n");
    b.push_str(&to_svg(&zone_graph(p), &SvgOptions::default()));
    b.push_str("</div>\n<h2 id=\"hosts\">Hosts by zone</h2>\n");
    let mut by_zone: BTreeMap<String, Vec<&HostInfo>> = BTreeMap::new();
    for h in &p.hosts {
        by_zone.entry(h.zone.clone().unwrap_or_else(|| "(no zone)".into())).or_default().push(h);
    }
    for (zone, hosts) in &by_zone {
        let _ = writeln!(b, "<h3>Zone {}</h3>\n<table class=\"hosts\"><thead><tr><th scope=\"col\">host</th><th scope=\"col\">addresses</th><th scope=\"col\">os</th><th scope=\"col\">managed</th><th scope=\"col\">roles</th></tr></thead><tbody>", esc(zone));
        for h in hosts {
            let name = if h.managed { format!("<a href=\"/d/host/{}\">{}</a>", url_part(&h.name), esc(&h.name)) } else { esc(&h.name) };
            let _ = writeln!(
                b,
                "<tr><td>{name}</td><td class=\"ports\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&h.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" ")),
                h.os.map(|o| format!("{o:?}").to_lowercase()).unwrap_or_default(),
                if h.managed { "yes" } else { "no" },
                esc(&h.roles.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(" "))
            );
        }
        b.push_str("</tbody></table>\n");
    }

    // Connections, filtered by a plain GET form.
    b.push_str("<h2 id=\"connections\">Planned connections</h2>\n");
    let _ = write!(
        b,
        "<form class=\"filters\" method=\"get\" action=\"/d\" role=\"search\" aria-label=\"Filter connections\"><label for=\"c-host\">Host<select id=\"c-host\" name=\"host\"><option value=\"\">(all)</option>"
    );
    for h in &p.hosts {
        let sel = if get(&q.host) == Some(h.name.as_str()) { " selected" } else { "" };
        let _ = write!(b, "<option{sel}>{}</option>", esc(&h.name));
    }
    b.push_str("</select></label><label for=\"c-zone\">Zone<select id=\"c-zone\" name=\"zone\"><option value=\"\">(all)</option>");
    for z in by_zone.keys() {
        let sel = if get(&q.zone) == Some(z.as_str()) { " selected" } else { "" };
        let _ = write!(b, "<option{sel}>{}</option>", esc(z));
    }
    let _ = writeln!(
        b,
        "</select></label><label for=\"c-port\">Port<input id=\"c-port\" name=\"port\" type=\"search\" inputmode=\"numeric\" size=\"10\" value=\"{}\"></label><button class=\"primary\" type=\"submit\">Filter</button><a class=\"button\" href=\"/d\">Clear</a></form>",
        esc(get(&q.port).unwrap_or(""))
    );
    let all = connections_table(p);
    let port: Option<u16> = get(&q.port).and_then(|s| s.split('/').next()).and_then(|s| s.trim().parse().ok());
    let mut t = Table { header: all.header.clone(), rows: Vec::new() };
    for r in &all.rows {
        // Columns: source, source addresses, source zone, destination, destination addresses, destination zone, service, ...
        if let Some(h) = get(&q.host) {
            if r[0] != h && r[3] != h {
                continue;
            }
        }
        if let Some(z) = get(&q.zone) {
            if r[2] != z && r[5] != z {
                continue;
            }
        }
        if let Some(pt) = port {
            let ports = r[6].split_once('/').map(|x| x.1).unwrap_or("");
            if !portmatrix_model::PortSet::parse(ports).is_ok_and(|s| s.contains(pt)) {
                continue;
            }
        }
        t.rows.push(r.clone());
    }
    let caption = format!("{} of {} rows", t.rows.len(), all.rows.len());
    b.push_str(
        &table_html(&t, Some(&caption), &["source addresses", "destination addresses", "service", "source ports", "reason"]).replacen(
            "<table>",
            "<table id=\"conn-table\">",
            1,
        ),
    );
    b.push_str("<h2 id=\"downloads\">Downloads</h2>\n<p class=\"downloads\">");
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
    layout(&format!("Deployment {}", p.inventory), &crumbs(""), &b)
}

pub fn host(p: &Plan, h: &HostInfo, results: Option<&Results>) -> String {
    let mut b =
        format!("<h1>Host {} <span class=\"muted\">zone {}</span></h1>\n", esc(&h.name), esc(h.zone.as_deref().unwrap_or("(none)")));
    let _ = writeln!(
        b,
        "<p class=\"meta\">{} · {} · roles: {}</p>",
        esc(&h.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" ")),
        h.os.map(|o| format!("{o:?}").to_lowercase()).unwrap_or_else(|| "os not given".into()),
        esc(&h.roles.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", "))
    );
    let mut toc: Vec<String> =
        targets_for(h).into_iter().filter(|_| h.managed).map(|t| format!("<a href=\"#target-{0}\">{0}</a>", t.name())).collect();
    toc.push("<a href=\"#inbound\">inbound</a>".into());
    toc.push("<a href=\"#outbound\">outbound</a>".into());
    if results.is_some() {
        toc.push("<a href=\"#results\">probe results</a>".into());
    }
    let _ = writeln!(b, "<nav class=\"noprint\" aria-label=\"on this page\"><p>On this page: {}</p></nav>", toc.join(" · "));
    b.push_str("<h2 id=\"configs\">Compiled configuration</h2>\n");
    if !h.managed {
        b.push_str("<p>This host is not managed: no rules are compiled for it.</p>\n");
    }
    let mut n = 0;
    for target in targets_for(h).into_iter().filter(|_| h.managed) {
        let _ = writeln!(b, "<section class=\"target\" id=\"target-{}\"><h3>{}</h3>", target.name(), target.name());
        match compile_host(p, &h.name, target, &Default::default()) {
            Ok(portmatrix_targets::compile::Compiled { files, warnings }) => {
                if !warnings.is_empty() {
                    b.push_str("<ul class=\"warnings\">");
                    for w in &warnings {
                        let _ = write!(b, "<li>{}</li>", esc(w));
                    }
                    b.push_str("</ul>\n");
                }
                for (i, f) in files.iter().enumerate() {
                    n += 1;
                    let id = format!("cfg-{n}");
                    let base = f.name.rsplit('/').next().unwrap_or(&f.name);
                    let _ = writeln!(
                        b,
                        "<h4><code>{}</code></h4>\n<p class=\"noprint\"><a class=\"button\" href=\"/d/host/{}/file/{}/{i}\" download=\"{}\" data-file=\"{}\">Download {}</a> <button type=\"button\" data-copy=\"{id}\" hidden>Copy</button></p>\n<pre class=\"config\" id=\"{id}\" tabindex=\"0\">{}</pre>",
                        esc(&f.name),
                        url_part(&h.name),
                        target.name(),
                        esc(base),
                        esc(&f.name),
                        esc(base),
                        esc(&f.contents)
                    );
                }
            }
            Err(e) => {
                let _ = writeln!(b, "<p role=\"alert\"><mark>{}</mark></p>", esc(&e.to_string()));
            }
        }
        b.push_str("</section>\n");
    }
    let all = connections_table(p);
    let mut inbound = Table { header: all.header.clone(), rows: Vec::new() };
    let mut outbound = Table { header: all.header.clone(), rows: Vec::new() };
    for r in &all.rows {
        if r[3] == h.name {
            inbound.rows.push(r.clone());
        }
        if r[0] == h.name {
            outbound.rows.push(r.clone());
        }
    }
    let mono = ["source addresses", "destination addresses", "service", "source ports", "reason"];
    let _ = writeln!(b, "<h2 id=\"inbound\">Inbound ({} rows)</h2>", inbound.rows.len());
    b.push_str(&table_html(&inbound, None, &mono));
    let _ = writeln!(b, "<h2 id=\"outbound\">Outbound ({} rows)</h2>", outbound.rows.len());
    b.push_str(&table_html(&outbound, None, &mono));
    if let Some(r) = results {
        b.push_str(&host_section(r, p, &h.name));
    }
    layout(&format!("Host {}", h.name), &crumbs(&h.name), &b)
}
