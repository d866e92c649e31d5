//! Reports of a deployment's plan: the connections a firewall team must
//! open, as a change request (a sheet per zone pair and per host), and a
//! diagram of the zones with the services between them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use portmatrix_plan::{Connection, Endpoint, Plan};

use crate::graph::{Edge, Node, RoleGraph};
use crate::html::{page, table_html};
use crate::render::Format;
use crate::svg::{esc, to_svg, SvgOptions};
use crate::table::Table;

const HEADER: [&str; 11] = [
    "source",
    "source addresses",
    "source zone",
    "destination",
    "destination addresses",
    "destination zone",
    "service",
    "source ports",
    "reason",
    "purpose",
    "cite",
];

/// One row of the change request: one source endpoint to one destination.
struct Row<'p> {
    src: &'p Endpoint,
    dst: &'p str,
    dst_zone: String,
    cells: Vec<String>,
}

fn nets(e: &Endpoint) -> String {
    e.nets.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(" ")
}

fn conn_rows(p: &Plan) -> Vec<Row<'_>> {
    let mut out = Vec::new();
    for c in &p.connections {
        for m in c.remote_sources() {
            out.push(Row { src: m, dst: &c.dst.name, dst_zone: c.dst.zone.clone().unwrap_or_default(), cells: conn_cells(c, m) });
        }
    }
    for e in &p.egress_fqdn {
        for m in &e.sources.members {
            out.push(Row {
                src: m,
                dst: &e.role.role.value,
                dst_zone: "(by name)".into(),
                cells: vec![
                    m.name.clone(),
                    nets(m),
                    m.zone.clone().unwrap_or_default(),
                    e.role.to_string(),
                    e.fqdns.join(" "),
                    "(by name: resolved address set or proxy allowlist)".into(),
                    format!("{}/{}", e.proto, e.ports),
                    String::new(),
                    e.reason.tag().to_string(),
                    e.reason.purpose.clone(),
                    e.reason.cite.clone(),
                ],
            });
        }
    }
    out
}

fn conn_cells(c: &Connection, m: &Endpoint) -> Vec<String> {
    vec![
        m.name.clone(),
        nets(m),
        m.zone.clone().unwrap_or_default(),
        c.dst.name.clone(),
        c.dst.nets.iter().map(|n| n.addr().to_string()).collect::<Vec<_>>().join(" "),
        c.dst.zone.clone().unwrap_or_default(),
        c.service(),
        c.src_ports.as_ref().map(|s| s.to_string()).unwrap_or_default(),
        c.tags().iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" "),
        c.reasons.iter().map(|r| r.purpose.as_str()).collect::<Vec<_>>().join("; "),
        c.reasons.iter().map(|r| r.cite.as_str()).collect::<Vec<_>>().join("; "),
    ]
}

/// Every planned connection, one row per source endpoint.
pub fn connections_table(p: &Plan) -> Table {
    let mut t = Table::new(&HEADER);
    for r in conn_rows(p) {
        t.push(r.cells);
    }
    t
}

pub fn hosts_table(p: &Plan) -> Table {
    let mut t = Table::new(&["host", "zone", "os", "managed", "addresses", "roles"]);
    for h in &p.hosts {
        t.push(vec![
            h.name.clone(),
            h.zone.clone().unwrap_or_default(),
            h.os.map(|o| format!("{o:?}").to_lowercase()).unwrap_or_default(),
            if h.managed { "yes".into() } else { "no".into() },
            h.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" "),
            h.roles.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(" "),
        ]);
    }
    t
}

pub fn local_table(p: &Plan) -> Table {
    let mut t = Table::new(&["host", "service", "reason", "purpose"]);
    for l in &p.local {
        t.push(vec![l.host.clone(), format!("{}/{}", l.proto, l.ports), l.reason.tag().to_string(), l.reason.purpose.clone()]);
    }
    t
}

/// The change request by zone pair: `(source zone, destination zone)` → rows.
pub fn zone_pair_tables(p: &Plan) -> Vec<((String, String), Table)> {
    let mut pairs: BTreeMap<(String, String), Table> = BTreeMap::new();
    for r in conn_rows(p) {
        let key = (
            r.src.zone.clone().unwrap_or_else(|| "(no zone)".into()),
            if r.dst_zone.is_empty() { "(no zone)".into() } else { r.dst_zone.clone() },
        );
        pairs.entry(key).or_insert_with(|| Table::new(&HEADER)).push(r.cells);
    }
    pairs.into_iter().collect()
}

/// Per managed host: what it must accept (inbound) and what it initiates (outbound).
pub fn host_tables(p: &Plan) -> Vec<(String, Table)> {
    let rows = conn_rows(p);
    let mut header = vec!["direction"];
    header.extend(HEADER);
    p.hosts
        .iter()
        .filter(|h| h.managed)
        .map(|h| {
            let mut t = Table::new(&header);
            for (dir, keep) in [("in", true), ("out", false)] {
                for r in &rows {
                    let hit =
                        if keep { r.dst == h.name } else { r.src.name == h.name && r.src.kind == portmatrix_plan::EndpointKind::Host };
                    if hit {
                        let mut cells = vec![dir.to_string()];
                        cells.extend(r.cells.iter().cloned());
                        t.push(cells);
                    }
                }
            }
            (h.name.clone(), t)
        })
        .collect()
}

/// Builds the zone graph: nodes by id, edges by pair.
struct ZoneGraph {
    own: Vec<String>,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
}

impl ZoneGraph {
    fn node(&mut self, id: &str, fqdns: &[String]) -> usize {
        if let Some(i) = self.nodes.iter().position(|n| n.id == id) {
            return i;
        }
        let external = !self.own.iter().any(|z| z == id);
        let title = if fqdns.is_empty() { format!("zone {id}") } else { id.to_string() };
        self.nodes.push(Node { id: id.to_string(), title, external, fqdns: fqdns.to_vec() });
        self.nodes.len() - 1
    }
    fn edge(&mut self, a: &str, b: &str, fqdns: &[String], part: String, tag: String) {
        let ia = self.node(a, &[]);
        let ib = self.node(b, fqdns);
        let e = match self.edges.iter().position(|e| e.from == ia && e.to == ib) {
            Some(i) => &mut self.edges[i],
            None => {
                self.edges.push(Edge { from: ia, to: ib, flows: Vec::new(), parts: Vec::new(), conditional: false, local: false });
                self.edges.last_mut().expect("just pushed")
            }
        };
        if !e.parts.contains(&part) {
            e.parts.push(part);
        }
        if !e.flows.contains(&tag) {
            e.flows.push(tag);
        }
    }
}

/// Zones as nodes, services between them as edges. Zones with a managed
/// host are the deployment's own; the others (and FQDN destinations) stand
/// at the edge.
pub fn zone_graph(p: &Plan) -> RoleGraph {
    let zone = |z: &Option<String>| z.clone().unwrap_or_else(|| "(no zone)".into());
    let own = p.hosts.iter().filter(|h| h.managed).map(|h| zone(&h.zone)).collect();
    let mut g = ZoneGraph { own, nodes: Vec::new(), edges: Vec::new() };
    for h in &p.hosts {
        g.node(&zone(&h.zone), &[]);
    }
    for c in &p.connections {
        let dz = zone(&c.dst.zone);
        for m in c.remote_sources() {
            for t in c.tags() {
                g.edge(&zone(&m.zone), &dz, &[], c.service(), t.to_string());
            }
        }
    }
    for e in &p.egress_fqdn {
        for m in &e.sources.members {
            g.edge(
                &zone(&m.zone),
                &format!("{} (by name)", e.role),
                &e.fqdns,
                format!("{}/{}", e.proto, e.ports),
                e.reason.tag().to_string(),
            );
        }
    }
    RoleGraph {
        id: p.inventory.clone(),
        title: "Deployment".into(),
        nodes: g.nodes,
        edges: g.edges,
        wide: Vec::new(),
        group_label: "zones with managed hosts".into(),
    }
}

fn sheets(p: &Plan) -> Vec<(String, Table)> {
    let mut s = vec![("Hosts".to_string(), hosts_table(p)), ("Connections".to_string(), connections_table(p))];
    for ((a, b), t) in zone_pair_tables(p) {
        s.push((format!("{a} → {b}"), t));
    }
    for (h, t) in host_tables(p) {
        s.push((format!("host {h}"), t));
    }
    if !p.local.is_empty() {
        s.push(("Local flows".to_string(), local_table(p)));
    }
    s
}

pub fn plan_markdown(p: &Plan) -> String {
    let mut o = format!("# Deployment {}\n\n", p.inventory);
    let _ = writeln!(o, "{}.\n", summary_line(p, ", "));
    o.push_str("## Hosts\n\n");
    o.push_str(&hosts_table(p).to_markdown());
    for ((a, b), t) in zone_pair_tables(p) {
        let _ = writeln!(o, "\n## {a} → {b} ({} rows)\n", t.rows.len());
        o.push_str(&t.to_markdown());
    }
    if !p.local.is_empty() {
        o.push_str("\n## Local flows (no rule needed)\n\n");
        o.push_str(&local_table(p).to_markdown());
    }
    o
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

pub fn plan_html(p: &Plan) -> String {
    let mut b = format!("<main id=\"main\">\n<h1>Deployment {}</h1>\n", esc(&p.inventory));
    let _ = writeln!(b, "<p class=\"meta\">{}</p>", summary_line(p, " · "));
    b.push_str("<h2>Zones</h2>\n<div class=\"diagram\">\n");
    b.push_str(&to_svg(&zone_graph(p), &SvgOptions::default()));
    b.push_str("</div>\n<h2>Hosts</h2>\n");
    b.push_str(&table_html(&hosts_table(p), None, &["addresses"]));
    for ((a, z), t) in zone_pair_tables(p) {
        let _ = writeln!(b, "<h2>{} → {} ({} rows)</h2>", esc(&a), esc(&z), t.rows.len());
        b.push_str(&table_html(&t, None, &["source addresses", "destination addresses", "service", "source ports", "reason"]));
    }
    if !p.local.is_empty() {
        b.push_str("<h2>Local flows (no rule needed)</h2>\n");
        b.push_str(&table_html(&local_table(p), None, &["service", "reason"]));
    }
    b.push_str("<p class=\"muted\">Generated by portmatrix.</p>\n</main>\n");
    page(&format!("Deployment {} — planned connections", p.inventory), &b)
}

/// Renders a plan: tables (Markdown, CSV, the XLSX change request, HTML)
/// and the zone diagram (DOT, Mermaid, SVG).
pub fn render_plan(p: &Plan, format: Format) -> Result<Vec<u8>, String> {
    Ok(match format {
        Format::Md => plan_markdown(p).into_bytes(),
        Format::Csv => connections_table(p).to_csv().into_bytes(),
        Format::Xlsx => crate::xlsx::workbook(&sheets(p)).map_err(|e| format!("cannot write XLSX: {e}"))?,
        Format::Html => plan_html(p).into_bytes(),
        Format::Dot => crate::diagram::to_dot(&zone_graph(p)).into_bytes(),
        Format::Mermaid => crate::diagram::to_mermaid(&zone_graph(p)).into_bytes(),
        Format::Svg => to_svg(&zone_graph(p), &SvgOptions::default()).into_bytes(),
    })
}
