//! Computing the plan of a deployment.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use portmatrix_model::decode::Cx;
use portmatrix_model::diag::Diagnostics;
use portmatrix_model::matrix::Flow;
use portmatrix_model::ports::ResolveError;
use portmatrix_model::{Diagnostic, Os, PortSet, Proto};
use serde::Serialize;

use crate::deployment::{Deployment, Product};

#[derive(Debug, Clone, Serialize)]
pub struct HostInfo {
    pub name: String,
    pub addresses: Vec<IpAddr>,
    pub zone: Option<String>,
    pub os: Option<Os>,
    pub managed: bool,
    /// `PRODUCT/ROLE`
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointKind {
    Host,
    Network,
}

/// A host or a network, with its addresses as prefixes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Endpoint {
    pub name: String,
    pub kind: EndpointKind,
    pub zone: Option<String>,
    pub nets: Vec<IpNet>,
}

/// The initiators of a connection: the endpoints, and their addresses
/// aggregated into as few prefixes as possible. Shared between the
/// connections of one flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sources {
    /// Creation order: a cheap, deterministic identity for sorting.
    #[serde(skip)]
    pub id: usize,
    pub members: Vec<Endpoint>,
    pub nets: Vec<IpNet>,
}

impl Sources {
    pub fn new(id: usize, mut members: Vec<Endpoint>) -> Self {
        members.sort();
        members.dedup();
        let all: Vec<IpNet> = members.iter().flat_map(|m| m.nets.iter().copied()).collect();
        let nets = IpNet::aggregate(&all);
        Self { id, members, nets }
    }
    pub fn names(&self) -> Vec<&str> {
        self.members.iter().map(|m| m.name.as_str()).collect()
    }
}

/// Why a connection exists: the product, matrix and flow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Reason {
    pub product: String,
    pub matrix: String,
    pub flow: String,
    pub cite: String,
    pub purpose: String,
}

impl Reason {
    /// `product/flow-id`: the tag every generated rule carries.
    pub fn tag(&self) -> String {
        format!("{}/{}", self.product, self.flow)
    }
}

/// One permitted connection pattern between concrete addresses.
#[derive(Debug, Clone, Serialize)]
pub struct Connection {
    pub sources: Arc<Sources>,
    pub dst: Arc<Endpoint>,
    pub proto: Proto,
    /// Listener ports; empty for ICMP.
    pub ports: PortSet,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_ports: Option<PortSet>,
    /// ICMP types for icmp/icmpv6.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub icmp: Vec<String>,
    pub reasons: Vec<Arc<Reason>>,
}

impl Connection {
    /// The sources other than the destination itself: a host among the
    /// sources of its own connection reaches itself locally, with no rule.
    pub fn remote_sources(&self) -> impl Iterator<Item = &Endpoint> + '_ {
        self.sources.members.iter().filter(move |m| !(m.name == self.dst.name && m.kind == self.dst.kind))
    }
    pub fn tags(&self) -> Vec<String> {
        self.reasons.iter().map(|r| r.tag()).collect()
    }
    /// The service as a change request names it: `tcp/443`, `icmp/echo-request`.
    pub fn service(&self) -> String {
        if self.proto.has_ports() {
            format!("{}/{}", self.proto, self.ports)
        } else {
            format!("{}/{}", self.proto, self.icmp.join(","))
        }
    }
}

/// A flow both of whose ends sit on one host: no rule needed.
#[derive(Debug, Clone, Serialize)]
pub struct LocalFlow {
    pub host: String,
    pub proto: Proto,
    pub ports: PortSet,
    pub reason: Arc<Reason>,
}

/// Egress to destinations known only by name.
#[derive(Debug, Clone, Serialize)]
pub struct FqdnEgress {
    pub sources: Arc<Sources>,
    pub role: String,
    pub fqdns: Vec<String>,
    pub proto: Proto,
    pub ports: PortSet,
    pub reason: Arc<Reason>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FirewallInfo {
    pub name: String,
    pub zones: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub inventory: String,
    pub hosts: Vec<HostInfo>,
    pub firewalls: Vec<FirewallInfo>,
    pub connections: Vec<Connection>,
    pub local: Vec<LocalFlow>,
    pub egress_fqdn: Vec<FqdnEgress>,
    /// Problems that do not stop the plan (dropped connections, no admin network).
    #[serde(skip)]
    pub warnings: Vec<Diagnostic>,
}

impl Plan {
    pub fn host(&self, name: &str) -> Option<&HostInfo> {
        self.hosts.iter().find(|h| h.name == name)
    }
    /// Connections that end on `host`.
    pub fn inbound<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a Connection> + 'a {
        self.connections.iter().filter(move |c| c.dst.kind == EndpointKind::Host && c.dst.name == host)
    }
}

fn host_nets(addrs: &[IpAddr]) -> Vec<IpNet> {
    addrs.iter().map(|a| IpNet::from(*a)).collect()
}

fn families(nets: &[IpNet]) -> (bool, bool) {
    (nets.iter().any(|n| matches!(n, IpNet::V4(_))), nets.iter().any(|n| matches!(n, IpNet::V6(_))))
}

struct Ctx<'d> {
    dep: &'d Deployment,
    hosts: BTreeMap<&'d str, Arc<Endpoint>>,
    networks: BTreeMap<&'d str, Arc<Endpoint>>,
}

impl<'d> Ctx<'d> {
    /// Endpoints that stand for `role` of product `p`: hosts carrying it and bindings.
    fn role_endpoints(&self, p: &str, role: &str) -> Vec<Arc<Endpoint>> {
        let inv = &self.dep.inventory;
        let mut out: Vec<Arc<Endpoint>> = inv.hosts_with_role(p, role).map(|(n, _)| self.hosts[n.value.as_str()].clone()).collect();
        if let Some(b) = inv.bind.get(format!("{p}/{role}").as_str()) {
            out.extend(b.networks.iter().filter_map(|n| self.networks.get(n.value.as_str()).cloned()));
            out.extend(b.hosts.iter().filter_map(|h| self.hosts.get(h.value.as_str()).cloned()));
        }
        out
    }
}

/// Roles of one product listening on a host: (roles, ports, flow tag).
type Listener = (BTreeSet<String>, PortSet, String);

/// What is missing for a product, collected so each gap is reported once.
#[derive(Default)]
struct Gaps {
    /// (role, flows needing it)
    unplaced: BTreeMap<String, BTreeSet<String>>,
    unbound: BTreeMap<String, BTreeSet<String>>,
    unset: BTreeMap<String, BTreeSet<String>>,
}

pub fn plan(dep: &Deployment) -> Result<Plan, Vec<Diagnostic>> {
    let inv = &dep.inventory;
    let file = &dep.file;
    let mut diags = Diagnostics::default();
    let mut warnings: Vec<Diagnostic> = Vec::new();

    let hosts_info: Vec<HostInfo> = inv
        .hosts
        .iter()
        .map(|(n, h)| HostInfo {
            name: n.value.clone(),
            addresses: h.addresses.iter().map(|a| a.value).collect(),
            zone: h.zone.as_ref().map(|z| z.value.clone()),
            os: h.os,
            managed: h.managed,
            roles: h.roles.iter().map(|r| r.value.clone()).collect(),
        })
        .collect();
    let ctx = Ctx {
        dep,
        hosts: hosts_info
            .iter()
            .zip(inv.hosts.keys())
            .map(|(h, k)| {
                (
                    k.value.as_str(),
                    Arc::new(Endpoint {
                        name: h.name.clone(),
                        kind: EndpointKind::Host,
                        zone: h.zone.clone(),
                        nets: host_nets(&h.addresses),
                    }),
                )
            })
            .collect(),
        networks: inv
            .networks
            .iter()
            .map(|(k, n)| {
                (
                    k.value.as_str(),
                    Arc::new(Endpoint {
                        name: k.value.clone(),
                        kind: EndpointKind::Network,
                        zone: n.zone.as_ref().map(|z| z.value.clone()),
                        nets: n.cidrs.iter().map(|c| c.value).collect(),
                    }),
                )
            })
            .collect(),
    };

    let mut next_id = 0usize;
    let mut source_sets: HashMap<Vec<(EndpointKind, String)>, Arc<Sources>> = HashMap::new();
    let mut connections: Vec<Connection> = Vec::new();
    let mut local: Vec<LocalFlow> = Vec::new();
    let mut egress: Vec<FqdnEgress> = Vec::new();
    // host -> proto -> [(listener roles, ports, flow tag)] for conflict checks
    let mut listeners: HashMap<(String, Proto), Vec<Listener>> = HashMap::new();

    for prod in dep.products.values() {
        let m = &prod.matrix;
        let mut gaps = Gaps::default();
        for f in &m.flows {
            if let Some(w) = &f.when {
                if !w.eval(&|x| prod.feature_on(x)) {
                    continue;
                }
            }
            let tag = format!("{}/{}", prod.name, f.id.value);
            let resolve = |e: &portmatrix_model::Spanned<portmatrix_model::PortExpr>, gaps: &mut Gaps| match e
                .resolve(&|n| prod.params.get(n).copied())
            {
                Ok(s) => Some(s),
                Err(ResolveError::Unset(p)) => {
                    gaps.unset.entry(p.value.clone()).or_default().insert(tag.clone());
                    None
                }
                Err(ResolveError::OutOfRange { message, .. }) => {
                    gaps.unset.entry(format!("{message} (in flow {})", f.id.value)).or_default();
                    None
                }
            };
            let ports = match &f.ports {
                Some(e) => match resolve(e, &mut gaps) {
                    Some(s) => s,
                    None => continue,
                },
                None => PortSet::new(),
            };
            let src_ports = match &f.src_ports {
                Some(e) => match resolve(e, &mut gaps) {
                    Some(s) => Some(s),
                    None => continue,
                },
                None => None,
            };
            let reason = Arc::new(Reason {
                product: prod.name.clone(),
                matrix: m.key(),
                flow: f.id.value.clone(),
                cite: f.cite.clone(),
                purpose: f.purpose.clone(),
            });

            if f.same_host {
                plan_same_host(&ctx, prod, f, &ports, &reason, &mut local);
                continue;
            }

            let src = end_endpoints(&ctx, prod, f, &f.from, &tag, &mut gaps, None);
            let mut fqdn_dst: Vec<(String, Vec<String>)> = Vec::new();
            let dst = end_endpoints(&ctx, prod, f, &f.to, &tag, &mut gaps, Some(&mut fqdn_dst));
            if src.is_empty() {
                continue;
            }
            // Flows with the same initiators share one source set, so that
            // their connections to a host merge into one row and one rule.
            let key: Vec<(EndpointKind, String)> = src.iter().map(|e| (e.kind, e.name.clone())).collect();
            let sources = source_sets
                .entry(key)
                .or_insert_with(|| {
                    next_id += 1;
                    Arc::new(Sources::new(next_id, src.iter().map(|e| (**e).clone()).collect()))
                })
                .clone();
            for (role, fqdns) in fqdn_dst {
                for p in f.protos() {
                    egress.push(FqdnEgress {
                        sources: sources.clone(),
                        role: role.clone(),
                        fqdns: fqdns.clone(),
                        proto: p,
                        ports: ports.clone(),
                        reason: reason.clone(),
                    });
                }
            }
            let icmp: Vec<String> =
                if f.icmp.is_empty() { vec!["echo-request".to_string()] } else { f.icmp.iter().map(|t| t.value.clone()).collect() };
            let listener_roles: BTreeSet<&str> = f.to.iter().flat_map(|n| m.expand(n)).filter(|r| !m.roles[*r].external).collect();
            for d in dst {
                let is_member = sources.members.iter().any(|s| s.name == d.name && s.kind == d.kind);
                // A host among its own sources: that part is local. The shared
                // source set still names the host (harmless: its own traffic
                // never crosses its input chain), which keeps planning linear.
                if is_member && d.kind == EndpointKind::Host {
                    for p in f.protos() {
                        local.push(LocalFlow { host: d.name.clone(), proto: p, ports: ports.clone(), reason: reason.clone() });
                    }
                    if sources.members.len() == 1 {
                        continue;
                    }
                }
                if d.kind == EndpointKind::Host {
                    if let Some(h) = inv.hosts.get(d.name.as_str()) {
                        let on_host: BTreeSet<String> = h
                            .roles
                            .iter()
                            .filter_map(|r| r.value.split_once('/'))
                            .filter(|(p, r)| *p == prod.name && listener_roles.contains(r))
                            .map(|(p, r)| format!("{p}/{r}"))
                            .collect();
                        if !on_host.is_empty() {
                            for p in f.protos().filter(|p| p.has_ports()) {
                                listeners.entry((d.name.clone(), p)).or_default().push((on_host.clone(), ports.clone(), tag.clone()));
                            }
                        }
                    }
                }
                let (d4, d6) = families(&d.nets);
                let (s4, s6) = families(&sources.nets);
                for p in f.protos() {
                    let ok = match p {
                        Proto::Icmp => d4 && s4,
                        Proto::Icmpv6 => d6 && s6,
                        _ => (d4 && s4) || (d6 && s6),
                    };
                    if !ok {
                        warnings.push(
                            Diagnostic::warning(
                                "no-common-family",
                                file,
                                prod.span,
                                format!("{tag}: no {p} rule towards `{}`: its addresses and the sources' share no address family", d.name),
                            )
                            .with_help("give the host an address of the sources' family, or ignore if the flow is not needed there"),
                        );
                        continue;
                    }
                    connections.push(Connection {
                        sources: sources.clone(),
                        dst: d.clone(),
                        proto: p,
                        ports: if p.has_ports() { ports.clone() } else { PortSet::new() },
                        src_ports: if p.has_ports() { src_ports.clone() } else { None },
                        icmp: if p.has_ports() { Vec::new() } else { icmp.clone() },
                        reasons: vec![reason.clone()],
                    });
                }
            }
        }
        report_gaps(&mut Cx { file, diags: &mut diags }, prod, gaps);
    }

    // Management access on every managed host.
    match &inv.admin {
        Some(admin) => {
            let members: Vec<Endpoint> =
                admin.networks.iter().filter_map(|n| ctx.networks.get(n.value.as_str()).map(|e| (**e).clone())).collect();
            let sources = Arc::new(Sources::new(0, members));
            for h in hosts_info.iter().filter(|h| h.managed) {
                let (flow, port, what) =
                    if h.os == Some(Os::Windows) { ("admin-rdp", 3389, "remote desktop") } else { ("admin-ssh", 22, "ssh") };
                let reason = Arc::new(Reason {
                    product: "inventory".into(),
                    matrix: inv.inventory.value.clone(),
                    flow: flow.into(),
                    cite: "inventory admin networks".into(),
                    purpose: format!("management access ({what}) from the admin networks"),
                });
                connections.push(Connection {
                    sources: sources.clone(),
                    dst: ctx.hosts[h.name.as_str()].clone(),
                    proto: Proto::Tcp,
                    ports: PortSet::single(port),
                    src_ports: None,
                    icmp: Vec::new(),
                    reasons: vec![reason],
                });
            }
        }
        None => warnings.push(
            Diagnostic::warning("no-admin-network", file, inv.inventory.span, "the inventory declares no admin network")
                .with_help("add `admin: { networks: [NAME] }`; without it, generated firewalls keep no management access"),
        ),
    }

    // Port conflicts between different internal roles on one host.
    let mut keys: Vec<&(String, Proto)> = listeners.keys().collect();
    keys.sort();
    for key in keys {
        let entries = &listeners[key];
        for (j, (roles_j, ports_j, tag_j)) in entries.iter().enumerate() {
            for (roles_i, ports_i, tag_i) in &entries[..j] {
                if roles_i.is_disjoint(roles_j) && ports_i.overlaps(ports_j) {
                    let span = inv.hosts.get_key_value(key.0.as_str()).map(|(k, _)| k.span).unwrap_or_default();
                    diags.push(
                        Diagnostic::error(
                            "port-conflict",
                            file,
                            span,
                            format!(
                                "host `{}`: {} and {} both listen on {}/{} ({tag_i}, {tag_j})",
                                key.0,
                                roles_i.iter().cloned().collect::<Vec<_>>().join("+"),
                                roles_j.iter().cloned().collect::<Vec<_>>().join("+"),
                                key.1,
                                ports_i.intersection(ports_j)
                            ),
                        )
                        .with_help("put these roles on different hosts, or change one port through its parameter"),
                    );
                }
            }
        }
    }

    if diags.has_errors() {
        return Err(diags.sorted());
    }

    // Deterministic order; identical connections from several flows merge.
    connections.sort_by(|a, b| {
        (&a.dst.name, a.proto, &a.ports, &a.src_ports, &a.icmp, a.sources.id, &a.reasons).cmp(&(
            &b.dst.name,
            b.proto,
            &b.ports,
            &b.src_ports,
            &b.icmp,
            b.sources.id,
            &b.reasons,
        ))
    });
    let mut merged: Vec<Connection> = Vec::with_capacity(connections.len());
    for c in connections {
        if let Some(last) = merged.last_mut() {
            if last.dst == c.dst
                && last.proto == c.proto
                && last.ports == c.ports
                && last.src_ports == c.src_ports
                && last.icmp == c.icmp
                && Arc::ptr_eq(&last.sources, &c.sources)
            {
                for r in c.reasons {
                    if !last.reasons.contains(&r) {
                        last.reasons.push(r);
                    }
                }
                continue;
            }
        }
        merged.push(c);
    }
    local.sort_by(|a, b| (&a.host, a.proto, &a.ports, &a.reason).cmp(&(&b.host, b.proto, &b.ports, &b.reason)));
    local.dedup_by(|a, b| a.host == b.host && a.proto == b.proto && a.ports == b.ports && a.reason == b.reason);
    egress.sort_by(|a, b| (&a.role, a.proto, &a.ports, &a.reason).cmp(&(&b.role, b.proto, &b.ports, &b.reason)));

    Ok(Plan {
        inventory: inv.inventory.value.clone(),
        hosts: hosts_info,
        firewalls: inv
            .firewalls
            .iter()
            .map(|(k, f)| FirewallInfo { name: k.value.clone(), zones: f.zones.iter().map(|z| z.value.clone()).collect() })
            .collect(),
        connections: merged,
        local,
        egress_fqdn: egress,
        warnings,
    })
}

/// The endpoints of one end of a flow. FQDN-only external destinations go
/// to `fqdn_out` when given.
fn end_endpoints(
    ctx: &Ctx,
    prod: &Product,
    f: &Flow,
    names: &[portmatrix_model::matrix::Name],
    tag: &str,
    gaps: &mut Gaps,
    mut fqdn_out: Option<&mut Vec<(String, Vec<String>)>>,
) -> Vec<Arc<Endpoint>> {
    let m = &prod.matrix;
    let _ = f;
    let mut out = Vec::new();
    for n in names {
        if n.value == "any" {
            let eps = ctx.role_endpoints(&prod.name, "any");
            if eps.is_empty() {
                gaps.unbound.entry("any".into()).or_default().insert(tag.to_string());
            }
            out.extend(eps);
            continue;
        }
        for role in m.expand(n) {
            let eps = ctx.role_endpoints(&prod.name, role);
            if !eps.is_empty() {
                out.extend(eps);
                continue;
            }
            let r = &m.roles[role];
            match (&mut fqdn_out, r.external, r.fqdns.is_empty()) {
                (Some(fq), true, false) => fq.push((format!("{}/{role}", prod.name), r.fqdns.iter().map(|x| x.value.clone()).collect())),
                (_, true, _) => {
                    gaps.unbound.entry(role.to_string()).or_default().insert(tag.to_string());
                }
                (_, false, _) => {
                    gaps.unplaced.entry(role.to_string()).or_default().insert(tag.to_string());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn plan_same_host(ctx: &Ctx, prod: &Product, f: &Flow, ports: &PortSet, reason: &Arc<Reason>, local: &mut Vec<LocalFlow>) {
    let m = &prod.matrix;
    let from: BTreeSet<&str> = f.from.iter().flat_map(|n| m.expand(n)).collect();
    let to: BTreeSet<&str> = f.to.iter().flat_map(|n| m.expand(n)).collect();
    for (name, h) in &ctx.dep.inventory.hosts {
        let mine: BTreeSet<&str> =
            h.roles.iter().filter_map(|r| r.value.split_once('/')).filter(|(p, _)| *p == prod.name).map(|(_, r)| r).collect();
        if !mine.is_disjoint(&from) && !mine.is_disjoint(&to) {
            for p in f.protos() {
                local.push(LocalFlow { host: name.value.clone(), proto: p, ports: ports.clone(), reason: reason.clone() });
            }
        }
    }
}

fn report_gaps(cx: &mut Cx, prod: &Product, gaps: Gaps) {
    let list = |s: &BTreeSet<String>| {
        let v: Vec<&str> = s.iter().map(String::as_str).take(4).collect();
        let more = if s.len() > 4 { format!(" and {} more", s.len() - 4) } else { String::new() };
        format!("{}{more}", v.join(", "))
    };
    let p = &prod.name;
    for (role, flows) in &gaps.unplaced {
        let d = cx.error(
            "role-without-host",
            prod.span,
            format!("role `{role}` of product `{p}` is on no host, but active flows need it: {}", list(flows)),
        );
        d.help = Some(format!("add `{p}/{role}` to a host's `roles:`, or switch off the features these flows depend on"));
    }
    for (role, flows) in &gaps.unbound {
        let d = cx.error(
            "unbound-role",
            prod.span,
            format!("`{p}/{role}` is bound to no network or host, but active flows use it: {}", list(flows)),
        );
        d.help = Some(if role == "any" {
            format!("say what `any` means here: `bind: {{ {p}/any: {{ networks: [NAME] }} }}` — it is never 0.0.0.0/0 by itself")
        } else {
            format!("add `bind: {{ {p}/{role}: {{ networks: [NAME] }} }}` or put `{p}/{role}` on a host")
        });
    }
    for (param, flows) in &gaps.unset {
        if flows.is_empty() {
            cx.error("port-out-of-range", prod.span, format!("product `{p}`: {param}"));
            continue;
        }
        let d = cx.error(
            "param-unset",
            prod.span,
            format!("parameter `{param}` of product `{p}` has no value, but active flows use it: {}", list(flows)),
        );
        d.help = Some(format!("set it: `products: {{ {p}: {{ params: {{ {param}: PORT }} }} }}` (the vendor leaves it to the deployment)"));
    }
}
