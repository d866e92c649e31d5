//! The change request a firewall team works from: one typed row per source
//! endpoint and destination, its columns declared once ([`CrColumn`]) and
//! read by every writer and by the web UI's filter; the cover sheet
//! (inventory, date, matrix versions, chosen features and parameters,
//! totals per firewall).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::rc::Rc;

use ipnet::IpNet;
use std::sync::Arc;

use portmatrix_model::{FlowTag, IcmpType, PortSet, Proto, RoleRef};
use portmatrix_plan::{Deployment, Endpoint, EndpointKind, Enforcement, Path, Plan, Reason};
use serde::Serialize;

use crate::table::{Cell, ColumnSpec, Record, Style, Table};

/// Where a row's destination is: an endpoint of the plan, or names only
/// (FQDN egress, resolved at run time or by a proxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Destination<'p> {
    Endpoint(&'p Endpoint),
    ByName { role: &'p RoleRef, fqdns: &'p [String] },
}

impl<'p> Destination<'p> {
    pub fn name(&self) -> String {
        match self {
            Destination::Endpoint(e) => e.name.clone(),
            Destination::ByName { role, .. } => role.to_string(),
        }
    }
    pub fn zone(&self) -> Option<&'p str> {
        match self {
            Destination::Endpoint(e) => e.zone.as_deref(),
            Destination::ByName { .. } => None,
        }
    }
    pub fn nets(&self) -> &'p [IpNet] {
        match self {
            Destination::Endpoint(e) => &e.nets,
            Destination::ByName { .. } => &[],
        }
    }
    /// Whether the destination is the host `name`.
    pub fn is_host(&self, name: &str) -> bool {
        matches!(self, Destination::Endpoint(e) if e.kind == EndpointKind::Host && e.name == name)
    }
    /// Whether the destination is the endpoint (host or network) `name`.
    pub fn is_named(&self, name: &str) -> bool {
        matches!(self, Destination::Endpoint(e) if e.name == name)
    }
}

/// What the team does with a row; a spreadsheet offers these in a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Requested,
    Approved,
    Implemented,
    Verified,
    Rejected,
}

impl Status {
    pub const ALL: [Status; 5] = [Status::Requested, Status::Approved, Status::Implemented, Status::Verified, Status::Rejected];
    pub const NAMES: [&'static str; 5] = ["requested", "approved", "implemented", "verified", "rejected"];
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the change request: one source endpoint to one destination
/// for one service. It borrows from the plan: a deployment of ten thousand
/// hosts has tens of millions of rows, which are walked, never copied.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeRequestRow<'p> {
    pub source: &'p Endpoint,
    pub destination: Destination<'p>,
    pub proto: Proto,
    /// Listener ports; empty for ICMP.
    pub ports: &'p PortSet,
    pub icmp: &'p [IcmpType],
    pub src_ports: Option<&'p PortSet>,
    pub reasons: &'p [Arc<Reason>],
    /// What enforces it: the destination's host firewall and/or the network
    /// firewalls on the path, or nothing.
    pub enforced_by: Enforcement,
    pub status: Status,
    /// Filled in by the team.
    pub ticket: &'p str,
}

impl ChangeRequestRow<'_> {
    /// `tcp/443`, `icmp/echo-request`.
    pub fn service(&self) -> String {
        if self.proto.has_ports() {
            format!("{}/{}", self.proto, self.ports)
        } else {
            format!("{}/{}", self.proto, self.icmp.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(","))
        }
    }
    pub fn tags(&self) -> Vec<FlowTag> {
        self.reasons.iter().map(|r| r.tag()).collect()
    }
    /// The zone pair as the change request groups it.
    pub fn zone_pair(&self) -> (String, String) {
        let src = self.source.zone.clone().unwrap_or_else(|| NO_ZONE.into());
        let dst = match &self.destination {
            Destination::Endpoint(e) => e.zone.clone().unwrap_or_else(|| NO_ZONE.into()),
            Destination::ByName { .. } => BY_NAME.into(),
        };
        (src, dst)
    }
    /// Whether the source is the host `name`.
    pub fn from_host(&self, name: &str) -> bool {
        self.source.kind == EndpointKind::Host && self.source.name == name
    }
    /// Whether the row permits traffic to `port` (of `proto` when given).
    pub fn reaches_port(&self, port: u16, proto: Option<Proto>) -> bool {
        self.proto.has_ports() && self.ports.contains(port) && proto.is_none_or(|p| p == self.proto)
    }
    /// Whether `net` overlaps the source's or the destination's addresses.
    pub fn touches(&self, net: &IpNet) -> bool {
        let overlap = |n: &IpNet| n.contains(net) || net.contains(n);
        self.source.nets.iter().any(overlap) || self.destination.nets().iter().any(overlap)
    }
    /// Whether the network firewall `name` enforces the row.
    pub fn crosses(&self, firewall: &str) -> bool {
        self.enforced_by.path.firewalls().iter().any(|f| f == firewall)
    }
}

pub const NO_ZONE: &str = "(no zone)";
pub const BY_NAME: &str = "(by name)";

/// Addresses as a person reads them: a host address without `/32`.
pub fn net_text(n: &IpNet) -> String {
    if n.prefix_len() == n.max_prefix_len() {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

/// The columns of the change request, in order. The first eleven keep the
/// order earlier versions wrote, so spreadsheets built on them still line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrColumn {
    Source,
    SourceAddresses,
    SourceZone,
    Destination,
    DestinationAddresses,
    DestinationZone,
    Service,
    SourcePorts,
    Reason,
    Purpose,
    Cite,
    EnforcedBy,
    Status,
    Ticket,
}

impl CrColumn {
    pub const ALL: [CrColumn; 14] = [
        CrColumn::Source,
        CrColumn::SourceAddresses,
        CrColumn::SourceZone,
        CrColumn::Destination,
        CrColumn::DestinationAddresses,
        CrColumn::DestinationZone,
        CrColumn::Service,
        CrColumn::SourcePorts,
        CrColumn::Reason,
        CrColumn::Purpose,
        CrColumn::Cite,
        CrColumn::EnforcedBy,
        CrColumn::Status,
        CrColumn::Ticket,
    ];
}

impl ColumnSpec for CrColumn {
    fn name(self) -> &'static str {
        match self {
            CrColumn::Source => "source",
            CrColumn::SourceAddresses => "source addresses",
            CrColumn::SourceZone => "source zone",
            CrColumn::Destination => "destination",
            CrColumn::DestinationAddresses => "destination addresses",
            CrColumn::DestinationZone => "destination zone",
            CrColumn::Service => "service",
            CrColumn::SourcePorts => "source ports",
            CrColumn::Reason => "reason",
            CrColumn::Purpose => "purpose",
            CrColumn::Cite => "cite",
            CrColumn::EnforcedBy => "enforced by",
            CrColumn::Status => "status",
            CrColumn::Ticket => "ticket",
        }
    }
    fn style(self) -> Style {
        match self {
            CrColumn::SourceAddresses | CrColumn::DestinationAddresses | CrColumn::Service | CrColumn::SourcePorts | CrColumn::Reason => {
                Style::Mono
            }
            _ => Style::Text,
        }
    }
    fn compact(self) -> bool {
        !matches!(self, CrColumn::Cite | CrColumn::Status | CrColumn::Ticket)
    }
    fn priority(self) -> u8 {
        match self {
            CrColumn::Source | CrColumn::Destination | CrColumn::Service => 0,
            CrColumn::EnforcedBy | CrColumn::Reason => 1,
            CrColumn::SourceZone | CrColumn::DestinationZone => 2,
            CrColumn::SourceAddresses | CrColumn::DestinationAddresses => 3,
            CrColumn::SourcePorts => 4,
            CrColumn::Purpose => 5,
            CrColumn::Cite | CrColumn::Status | CrColumn::Ticket => 6,
        }
    }
    fn choices(self) -> &'static [&'static str] {
        match self {
            CrColumn::Status => &Status::NAMES,
            _ => &[],
        }
    }
}

impl Record for ChangeRequestRow<'_> {
    type Column = CrColumn;
    fn columns() -> Vec<CrColumn> {
        CrColumn::ALL.to_vec()
    }
    fn cell(&self, c: CrColumn) -> Cell {
        match c {
            CrColumn::Source => Cell::Text(self.source.name.clone()),
            CrColumn::SourceAddresses => Cell::list(self.source.nets.iter().map(net_text), " "),
            CrColumn::SourceZone => Cell::Text(self.source.zone.clone().unwrap_or_default()),
            CrColumn::Destination => Cell::Text(self.destination.name()),
            CrColumn::DestinationAddresses => match &self.destination {
                Destination::Endpoint(e) => Cell::list(e.nets.iter().map(net_text), " "),
                Destination::ByName { fqdns, .. } => Cell::list(fqdns.iter(), " "),
            },
            CrColumn::DestinationZone => Cell::Text(match &self.destination {
                Destination::Endpoint(e) => e.zone.clone().unwrap_or_default(),
                Destination::ByName { .. } => "(by name: resolved address set or proxy allowlist)".into(),
            }),
            CrColumn::Service => Cell::Text(self.service()),
            CrColumn::SourcePorts => Cell::Text(self.src_ports.as_ref().map(|s| s.to_string()).unwrap_or_default()),
            CrColumn::Reason => Cell::list(self.tags(), " "),
            CrColumn::Purpose => Cell::list(self.reasons.iter().map(|r| r.purpose.as_str()), "; "),
            CrColumn::Cite => Cell::list(self.reasons.iter().map(|r| r.cite.as_str()), "; "),
            CrColumn::EnforcedBy => Cell::Text(self.enforced_by.describe()),
            CrColumn::Status => Cell::Text(self.status.to_string()),
            CrColumn::Ticket => Cell::Text(self.ticket.to_string()),
        }
    }
}

/// A source and a destination zone (`None`: no zone).
type ZonePair<'p> = (Option<&'p str>, Option<&'p str>);

/// [`Plan::enforcement`] for many rows: the same answer, with the managed
/// hosts indexed by name and each zone pair's path looked up once (the
/// plan's own lookup scans the hosts, which is quadratic over millions of
/// rows).
struct Enforcer<'p> {
    plan: &'p Plan,
    managed: HashSet<&'p str>,
    paths: RefCell<HashMap<ZonePair<'p>, Path>>,
}

impl<'p> Enforcer<'p> {
    fn new(plan: &'p Plan) -> Self {
        let managed = plan.hosts.iter().filter(|h| h.managed).map(|h| h.name.as_str()).collect();
        Enforcer { plan, managed, paths: RefCell::new(HashMap::new()) }
    }
    fn of(&self, src: &'p Endpoint, dst: &'p Endpoint) -> Enforcement {
        let host_firewall = dst.kind == EndpointKind::Host && self.managed.contains(dst.name.as_str());
        let key = (src.zone.as_deref(), dst.zone.as_deref());
        let path = self.paths.borrow_mut().entry(key).or_insert_with(|| self.plan.topology.path(key.0, key.1)).clone();
        Enforcement { host_firewall, path }
    }
}

/// Every row of the plan's change request, lazily: each connection once per
/// remote source endpoint, then the egress to names.
pub fn iter_rows(p: &Plan) -> impl Iterator<Item = ChangeRequestRow<'_>> + '_ {
    let enforcer = Rc::new(Enforcer::new(p));
    let planned = p.connections.iter().flat_map(move |c| {
        let enforcer = enforcer.clone();
        c.remote_sources().map(move |m| ChangeRequestRow {
            source: m,
            destination: Destination::Endpoint(&c.dst),
            proto: c.proto,
            ports: &c.ports,
            icmp: &c.icmp,
            src_ports: c.src_ports.as_ref(),
            reasons: &c.reasons,
            enforced_by: enforcer.of(m, &c.dst),
            status: Status::default(),
            ticket: "",
        })
    });
    let by_name = p.egress_fqdn.iter().flat_map(|e| {
        e.sources.members.iter().map(move |m| ChangeRequestRow {
            source: m,
            destination: Destination::ByName { role: &e.role, fqdns: &e.fqdns },
            proto: e.proto,
            ports: &e.ports,
            icmp: &[],
            src_ports: None,
            reasons: std::slice::from_ref(&e.reason),
            // No compiled rule covers names: only a proxy or a resolved set would.
            enforced_by: Enforcement { host_firewall: false, path: Path::NoZone },
            status: Status::default(),
            ticket: "",
        })
    });
    planned.chain(by_name)
}

/// How many rows the change request has, without building them.
pub fn row_count(p: &Plan) -> usize {
    p.connections.iter().map(|c| c.remote_sources().count()).sum::<usize>()
        + p.egress_fqdn.iter().map(|e| e.sources.members.len()).sum::<usize>()
}

/// Every row of the plan's change request, in order.
pub fn rows(p: &Plan) -> Vec<ChangeRequestRow<'_>> {
    iter_rows(p).collect()
}

/// Inbound or outbound, seen from one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

/// A change-request row seen from one host: its direction, then the row.
pub struct HostRow<'a, 'p> {
    pub direction: Direction,
    pub row: &'a ChangeRequestRow<'p>,
}

/// The columns of a host's sheet: the direction, then every change-request column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostColumn {
    Direction,
    Cr(CrColumn),
}

impl ColumnSpec for HostColumn {
    fn name(self) -> &'static str {
        match self {
            HostColumn::Direction => "direction",
            HostColumn::Cr(c) => c.name(),
        }
    }
    fn style(self) -> Style {
        match self {
            HostColumn::Direction => Style::Text,
            HostColumn::Cr(c) => c.style(),
        }
    }
    fn compact(self) -> bool {
        match self {
            HostColumn::Direction => true,
            HostColumn::Cr(c) => c.compact(),
        }
    }
    fn priority(self) -> u8 {
        match self {
            HostColumn::Direction => 0,
            HostColumn::Cr(c) => c.priority(),
        }
    }
    fn choices(self) -> &'static [&'static str] {
        match self {
            HostColumn::Direction => &[],
            HostColumn::Cr(c) => c.choices(),
        }
    }
}

impl Record for HostRow<'_, '_> {
    type Column = HostColumn;
    fn columns() -> Vec<HostColumn> {
        std::iter::once(HostColumn::Direction).chain(CrColumn::ALL.map(HostColumn::Cr)).collect()
    }
    fn cell(&self, c: HostColumn) -> Cell {
        match c {
            HostColumn::Direction => Cell::Text(if self.direction == Direction::In { "in" } else { "out" }.into()),
            HostColumn::Cr(c) => self.row.cell(c),
        }
    }
}

/// A managed host's rows: what it must accept, then what it initiates.
pub fn host_rows<'a, 'p>(rows: &'a [ChangeRequestRow<'p>], host: &str) -> Vec<HostRow<'a, 'p>> {
    let inbound = rows.iter().filter(|r| r.destination.is_host(host)).map(|row| HostRow { direction: Direction::In, row });
    let outbound = rows.iter().filter(|r| r.from_host(host)).map(|row| HostRow { direction: Direction::Out, row });
    inbound.chain(outbound).collect()
}

/// Rows grouped by zone pair, in sorted order of the pairs.
pub fn by_zone_pair<'a, 'p>(rows: &'a [ChangeRequestRow<'p>]) -> Vec<((String, String), Vec<&'a ChangeRequestRow<'p>>)> {
    let mut pairs: BTreeMap<(String, String), Vec<&ChangeRequestRow>> = BTreeMap::new();
    for r in rows {
        pairs.entry(r.zone_pair()).or_default().push(r);
    }
    pairs.into_iter().collect()
}

/// One product of the deployment as the cover sheet shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ProductCover {
    pub product: String,
    pub matrix: String,
    pub version: String,
    pub title: String,
    pub settings: Vec<Setting>,
}

/// A feature or parameter of a product: its value in this deployment and the matrix's default.
#[derive(Debug, Clone, Serialize)]
pub struct Setting {
    pub kind: &'static str,
    pub name: String,
    pub value: String,
    pub default: String,
    /// The deployment chose a value other than the default.
    pub changed: bool,
}

/// What a change request is about: the cover sheet. The date is given by
/// the caller so that the same inputs give the same document.
#[derive(Debug, Clone, Serialize)]
pub struct Cover {
    pub inventory: String,
    pub date: String,
    pub products: Vec<ProductCover>,
}

impl Cover {
    pub fn new(dep: &Deployment, date: &str) -> Self {
        let products = dep
            .products
            .values()
            .map(|p| {
                let m = &p.matrix;
                let mut settings: Vec<Setting> = m
                    .features
                    .iter()
                    .map(|(k, f)| Setting {
                        kind: "feature",
                        name: k.value.clone(),
                        value: on_off(p.feature_on(&k.value)),
                        default: on_off(f.default),
                        changed: p.feature_on(&k.value) != f.default,
                    })
                    .collect();
                settings.extend(m.params.iter().map(|(k, decl)| {
                    let (value, default) = (p.params.get(&k.value).copied(), decl.default.as_ref().map(|d| d.value));
                    Setting {
                        kind: "parameter",
                        name: k.value.clone(),
                        value: value.map(|v| v.to_string()).unwrap_or_else(|| "(not set)".into()),
                        default: default.map(|v| v.to_string()).unwrap_or_else(|| "(none)".into()),
                        changed: value.is_some() && value != default,
                    }
                }));
                ProductCover {
                    product: p.name.clone(),
                    matrix: m.matrix.value.clone(),
                    version: m.version.value.clone(),
                    title: m.title.clone(),
                    settings,
                }
            })
            .collect();
        Cover { inventory: dep.inventory.inventory.value.clone(), date: date.to_string(), products }
    }

    /// Inventory and date as (label, value) pairs.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        vec![("inventory", self.inventory.clone()), ("date", self.date.clone())]
    }

    pub fn products_table(&self) -> Table {
        let mut t = Table::new(&["product", "matrix", "version", "title"]).mono(&["matrix", "version"]);
        for p in &self.products {
            t.push(vec![p.product.as_str(), &p.matrix, &p.version, &p.title]);
        }
        t
    }

    /// Every feature and parameter of every product; `changed` marks a value other than the default.
    pub fn settings_table(&self) -> Table {
        let mut t = Table::new(&["product", "kind", "name", "value", "default", "changed"]).mono(&["name", "value", "default"]);
        for p in &self.products {
            for s in &p.settings {
                t.push(vec![p.product.as_str(), s.kind, &s.name, &s.value, &s.default, if s.value != s.default { "yes" } else { "" }]);
            }
        }
        t
    }
}

fn on_off(b: bool) -> String {
    if b { "on" } else { "off" }.to_string()
}

/// The rows each enforcing party must implement: every network firewall
/// (in inventory order), the host firewalls, and what nothing enforces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub rows: usize,
    pub firewalls: Vec<FirewallTotal>,
    pub host_firewall: usize,
    pub unenforced: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirewallTotal {
    pub firewall: String,
    pub rows: usize,
    pub zone_pairs: usize,
}

impl Totals {
    pub fn of(p: &Plan, rows: &[ChangeRequestRow]) -> Self {
        let firewalls = p
            .firewalls
            .iter()
            .map(|f| {
                let mine: Vec<&ChangeRequestRow> = rows.iter().filter(|r| r.crosses(&f.name)).collect();
                let pairs: std::collections::BTreeSet<(String, String)> = mine.iter().map(|r| r.zone_pair()).collect();
                FirewallTotal { firewall: f.name.clone(), rows: mine.len(), zone_pairs: pairs.len() }
            })
            .collect();
        Totals {
            rows: rows.len(),
            firewalls,
            host_firewall: rows.iter().filter(|r| r.enforced_by.host_firewall).count(),
            unenforced: rows.iter().filter(|r| !r.enforced_by.is_enforced()).count(),
        }
    }

    pub fn table(&self) -> Table {
        let mut t = Table::new(&["enforced by", "rows", "zone pairs"]);
        t.styles[1] = Style::Number;
        t.styles[2] = Style::Number;
        for f in &self.firewalls {
            t.push(vec![Cell::from(format!("firewall {}", f.firewall)), Cell::from(f.rows), Cell::from(f.zone_pairs)]);
        }
        t.push(vec![Cell::from("host firewalls"), Cell::from(self.host_firewall), Cell::from("")]);
        t.push(vec![Cell::from("nothing (no firewall on the path, destination not managed)"), Cell::from(self.unenforced), Cell::from("")]);
        t.push(vec![Cell::from("all rows"), Cell::from(self.rows), Cell::from("")]);
        t
    }
}

/// Rows of the change request as a table (every writer's input).
pub fn table<'r, 'p: 'r>(rows: impl IntoIterator<Item = &'r ChangeRequestRow<'p>>) -> Table {
    Table::of(rows)
}
