//! Pass 2: each active flow of each product → connections, local flows and
//! FQDN egress; what is missing (unplaced roles, unbound audiences, unset
//! parameters) is collected per product and reported once.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use portmatrix_model::decode::Cx;
use portmatrix_model::diag::Diagnostics;
use portmatrix_model::matrix::{Flow, Name};
use portmatrix_model::ports::ResolveError;
use portmatrix_model::{Diagnostic, FlowTag, IcmpType, PortExpr, PortSet, Proto, RoleRef, Spanned};

use crate::deployment::{Deployment, Product};
use crate::endpoints::Endpoints;
use crate::types::{Connection, Endpoint, EndpointKind, FqdnEgress, LocalFlow, NotDeployed, Reason, Sources};

/// Roles of one product listening on a host with their ports, and the flow
/// that needs it: the input of the listener-conflict pass.
pub(crate) type Listeners = HashMap<(String, Proto), Vec<(BTreeSet<RoleRef>, PortSet, FlowTag)>>;

/// What the flow pass produces.
#[derive(Default)]
pub(crate) struct FlowOutput {
    pub connections: Vec<Connection>,
    pub local: Vec<LocalFlow>,
    pub egress: Vec<FqdnEgress>,
    pub not_deployed: Vec<NotDeployed>,
    pub listeners: Listeners,
    pub warnings: Vec<Diagnostic>,
    /// Source sets by their members, so that flows with the same initiators
    /// share one (and their connections merge).
    /// Keyed by the endpoints' `Arc` addresses (one `Arc` per endpoint).
    source_sets: HashMap<Vec<usize>, Arc<Sources>>,
    /// Only connections to this host are kept (see [`crate::plan_for_host`]).
    pub focus: Option<String>,
    /// Every source set some connection uses, kept or not, by id.
    pub groups: std::collections::BTreeMap<usize, Arc<Sources>>,
}

impl FlowOutput {
    /// Records a connection: its source set always, the connection itself
    /// when the plan is not focused on another host.
    pub(crate) fn keep(&mut self, c: Connection) {
        self.note_sources(&c.sources);
        if self.wants(&c.dst) {
            self.connections.push(c);
        }
    }

    /// Whether connections to `dst` are kept (the plan is not focused on another host).
    fn wants(&self, dst: &Endpoint) -> bool {
        self.focus.is_none() || (dst.kind == EndpointKind::Host && self.wants_host(&dst.name))
    }

    /// Whether connections to the host `name` are kept.
    pub(crate) fn wants_host(&self, name: &str) -> bool {
        self.focus.as_ref().is_none_or(|h| name == h)
    }

    pub(crate) fn note_sources(&mut self, s: &Arc<Sources>) {
        self.groups.entry(s.id).or_insert_with(|| s.clone());
    }
}

/// What is missing for a product, collected so each gap is reported once:
/// (what, flows needing it).
#[derive(Default)]
struct Gaps {
    unplaced: BTreeMap<String, BTreeSet<FlowTag>>,
    unbound: BTreeMap<String, BTreeSet<FlowTag>>,
    unset: BTreeMap<String, BTreeSet<FlowTag>>,
    out_of_range: BTreeSet<String>,
    /// Absent roles the current flow met: (role, why).
    absent: Vec<(String, String)>,
}

pub(crate) fn plan_flows(dep: &Deployment, eps: &Endpoints, diags: &mut Diagnostics, focus: Option<&str>) -> FlowOutput {
    let mut out = FlowOutput { focus: focus.map(str::to_string), ..FlowOutput::default() };
    for prod in dep.products.values() {
        let mut gaps = Gaps::default();
        let mut ends = Ends::default();
        for f in &prod.matrix.flows {
            if !f.when.as_ref().is_none_or(|w| w.eval(&|x| prod.feature_on(x))) {
                continue;
            }
            if let Some(why) = prod.excluded.get(&f.id.value) {
                out.not_deployed.push(NotDeployed { reason: reason_of(prod, f), why: format!("excluded: {why}") });
                continue;
            }
            plan_flow(dep, eps, prod, f, &mut gaps, &mut ends, &mut out);
        }
        report_gaps(&mut Cx { file: &dep.file, diags }, prod, gaps);
    }
    out
}

fn resolve(e: &Spanned<PortExpr>, prod: &Product, f: &Flow, gaps: &mut Gaps) -> Option<PortSet> {
    match e.resolve(&|n| prod.params.get(n).copied()) {
        Ok(s) => Some(s),
        Err(ResolveError::Unset(p)) => {
            gaps.unset.entry(p.value.clone()).or_default().insert(FlowTag::new(&prod.name, &f.id.value));
            None
        }
        Err(ResolveError::OutOfRange { message, .. }) => {
            gaps.out_of_range.insert(format!("{message} (in flow {})", f.id.value));
            None
        }
    }
}

fn plan_flow<'m>(
    dep: &Deployment,
    eps: &Endpoints,
    prod: &'m Product,
    f: &'m Flow,
    gaps: &mut Gaps,
    ends: &mut Ends<'m>,
    out: &mut FlowOutput,
) {
    let ports = match &f.ports {
        Some(e) => match resolve(e, prod, f, gaps) {
            Some(s) => s,
            None => return,
        },
        None => PortSet::new(),
    };
    let src_ports = match &f.src_ports {
        Some(e) => match resolve(e, prod, f, gaps) {
            Some(s) => Some(s),
            None => return,
        },
        None => None,
    };
    let reason = reason_of(prod, f);
    if f.same_host {
        plan_same_host(dep, prod, f, &ports, &reason, out);
        return;
    }
    gaps.absent.clear();
    let flow = FlowTag::new(&prod.name, &f.id.value);
    let src_end = ends.resolve(dep, eps, prod, &f.from, false);
    src_end.note_gaps(&flow, gaps);
    let dst_end = ends.resolve(dep, eps, prod, &f.to, true);
    dst_end.note_gaps(&flow, gaps);
    let (src, dst, fqdn_dst) = (&src_end.endpoints, &dst_end.endpoints, &dst_end.fqdn);
    if (src.is_empty() || (dst.is_empty() && fqdn_dst.is_empty())) && !gaps.absent.is_empty() {
        let why: Vec<String> = gaps.absent.iter().map(|(r, w)| format!("{r} ({w})")).collect();
        out.not_deployed.push(NotDeployed { reason, why: format!("absent: {}", why.join(", ")) });
        return;
    }
    if src.is_empty() {
        return;
    }
    let sources = src_end.sources.get_or_init(|| source_set(out, src)).clone();
    for (role, fqdns) in fqdn_dst {
        for p in f.protos() {
            out.egress.push(FqdnEgress {
                sources: sources.clone(),
                role: role.clone(),
                fqdns: fqdns.clone(),
                proto: p,
                ports: ports.clone(),
                reason: reason.clone(),
            });
        }
    }
    let shape = Shape {
        ports,
        src_ports,
        icmp: if f.icmp.is_empty() { vec![IcmpType::EchoRequest] } else { f.icmp.iter().map(|t| t.value).collect() },
    };
    let m = &prod.matrix;
    let listener_roles: BTreeSet<&str> = f.to.iter().flat_map(|n| m.expand(n)).filter(|r| !m.roles[*r].external).collect();
    let protos: Vec<Proto> = f.protos().collect();
    for d in dst {
        connect(dep, eps, Some((prod, &listener_roles)), &protos, &sources, d, &shape, &reason, out);
    }
}

fn reason_of(prod: &Product, f: &Flow) -> Arc<Reason> {
    Arc::new(Reason {
        product: prod.name.clone(),
        matrix: prod.matrix.key(),
        flow: f.id.value.clone(),
        cite: f.cite.clone(),
        purpose: f.purpose.clone(),
    })
}

/// The shared source set of these initiators.
pub(crate) fn source_set(out: &mut FlowOutput, src: &[Arc<Endpoint>]) -> Arc<Sources> {
    // Each endpoint is one `Arc` made by pass 1, so its address is its identity.
    let key: Vec<usize> = src.iter().map(|e| Arc::as_ptr(e) as usize).collect();
    let next_id = out.source_sets.len() + 1;
    out.source_sets.entry(key).or_insert_with(|| Arc::new(Sources::new(next_id, src.to_vec()))).clone()
}

/// The ports and ICMP types of one flow, resolved.
pub(crate) struct Shape {
    pub ports: PortSet,
    pub src_ports: Option<PortSet>,
    pub icmp: Vec<IcmpType>,
}

/// The connections of one flow to one destination. `listener`: the product
/// and its listening roles, for the port-conflict pass (none for site flows).
#[allow(clippy::too_many_arguments)]
pub(crate) fn connect(
    dep: &Deployment,
    eps: &Endpoints,
    listener: Option<(&Product, &BTreeSet<&str>)>,
    protos: &[Proto],
    sources: &Arc<Sources>,
    d: &Arc<Endpoint>,
    shape: &Shape,
    reason: &Arc<Reason>,
    out: &mut FlowOutput,
) {
    // A listener listens whoever connects, locally or not; only a host with
    // two roles or more can have two listen on one port.
    if let (EndpointKind::Host, Some((prod, roles))) = (d.kind, listener) {
        if eps.multi_role.contains(d.name.as_str()) {
            record_listeners(dep, prod, protos, d, &shape.ports, roles, reason, &mut out.listeners);
        }
    }
    let alone = d.kind == EndpointKind::Host && sources.members.len() == 1 && sources.contains(d);
    if !out.wants(d) {
        // A focused plan builds no connection to another host, but names
        // every source set the whole plan's connections use.
        if !alone && !out.groups.contains_key(&sources.id) && protos.iter().any(|&p| matches!(link(p, sources, d, shape), Link::Open(_))) {
            out.note_sources(sources);
        }
        return;
    }
    // A host among its own sources: that part is local. The shared source
    // set still names the host (harmless: its own traffic never crosses its
    // input chain), which keeps planning linear.
    if d.kind == EndpointKind::Host && sources.contains(d) {
        for &p in protos {
            out.local.push(LocalFlow { host: d.name.clone(), proto: p, ports: shape.ports.clone(), reason: reason.clone() });
        }
    }
    if alone {
        return;
    }
    for &p in protos {
        match link(p, sources, d, shape) {
            Link::NoFamily => out.warnings.push(
                Diagnostic::warning(
                    "no-common-family",
                    &dep.file,
                    listener.map(|(p, _)| p.span).unwrap_or(dep.inventory.inventory.span),
                    format!("{}: no {p} rule towards `{}`: its addresses and the sources' share no address family", reason.tag(), d.name),
                )
                .with_help("give the host an address of the sources' family, or ignore if the flow is not needed there"),
            ),
            // Validation refuses such flows; never emit an ICMP connection
            // without types, which a backend could read as "every type".
            Link::NoTypes => {}
            Link::Open(icmp) => out.keep(Connection {
                sources: sources.clone(),
                dst: d.clone(),
                proto: p,
                ports: if p.has_ports() { shape.ports.clone() } else { PortSet::new() },
                src_ports: if p.has_ports() { shape.src_ports.clone() } else { None },
                icmp,
                reasons: vec![reason.clone()],
            }),
        }
    }
}

/// What one protocol of a flow gives between its sources and a destination.
enum Link {
    /// The two ends share no address family the protocol runs on.
    NoFamily,
    /// An ICMP protocol none of whose types exist in its family.
    NoTypes,
    /// A connection, with its ICMP types (none for TCP and UDP).
    Open(Vec<IcmpType>),
}

fn link(p: Proto, sources: &Sources, d: &Endpoint, shape: &Shape) -> Link {
    let ((d4, d6), (s4, s6)) = (crate::types::address_families(&d.nets), sources.families());
    let shared = match p {
        Proto::Icmp => d4 && s4,
        Proto::Icmpv6 => d6 && s6,
        _ => (d4 && s4) || (d6 && s6),
    };
    if !shared {
        return Link::NoFamily;
    }
    let icmp: Vec<IcmpType> = if p.has_ports() { Vec::new() } else { shape.icmp.iter().copied().filter(|t| t.exists_in(p)).collect() };
    if p.has_ports() || !icmp.is_empty() {
        Link::Open(icmp)
    } else {
        Link::NoTypes
    }
}

#[allow(clippy::too_many_arguments)]
fn record_listeners(
    dep: &Deployment,
    prod: &Product,
    protos: &[Proto],
    d: &Endpoint,
    ports: &PortSet,
    listener_roles: &BTreeSet<&str>,
    reason: &Reason,
    listeners: &mut Listeners,
) {
    let Some(h) = dep.inventory.hosts.get(d.name.as_str()) else { return };
    // A conflict needs two disjoint, non-empty sets of this host's roles:
    // a host with one role has none (and most hosts of a large site have one).
    if h.roles.len() < 2 {
        return;
    }
    let on_host: BTreeSet<RoleRef> = h
        .roles
        .iter()
        .filter(|r| r.value.product.value == prod.name && listener_roles.contains(r.value.role.value.as_str()))
        .map(|r| r.value.clone())
        .collect();
    if on_host.is_empty() {
        return;
    }
    for &p in protos.iter().filter(|p| p.has_ports()) {
        listeners.entry((d.name.clone(), p)).or_default().push((on_host.clone(), ports.clone(), reason.tag()));
    }
}

/// Endpoints that stand for `role` of product `p`: hosts carrying it and bindings.
pub(crate) fn role_endpoints(dep: &Deployment, eps: &Endpoints, p: &str, role: &str) -> Vec<Arc<Endpoint>> {
    let inv = &dep.inventory;
    let mut out: Vec<Arc<Endpoint>> = eps.by_role.get(&(p, role)).cloned().unwrap_or_default();
    if let Some(b) = inv.binding(p, role) {
        out.extend(b.networks.iter().filter_map(|n| eps.networks.get(n.value.as_str()).cloned()));
        out.extend(b.hosts.iter().filter_map(|h| eps.hosts.get(h.value.as_str()).cloned()));
    }
    out
}

/// One end of a flow (its `from:` or `to:` names) resolved in this
/// deployment: the same names give the same end, so it is resolved once per
/// product and shared by every flow that names it.
#[derive(Default)]
struct End {
    endpoints: Vec<Arc<Endpoint>>,
    /// `any` is named and bound to nothing.
    any_unbound: bool,
    /// Roles the site declares absent: (role, why).
    absent: Vec<(String, String)>,
    /// Roles on no host and bound to nothing: (role, external).
    missing: Vec<(String, bool)>,
    /// External destinations known only by name (on a `to:` end).
    fqdn: Vec<(RoleRef, Vec<String>)>,
    /// The shared source set of `endpoints`, once some flow starts here.
    sources: OnceCell<Arc<Sources>>,
}

impl End {
    /// Records what this end lacks against `flow`.
    fn note_gaps(&self, flow: &FlowTag, gaps: &mut Gaps) {
        if self.any_unbound {
            gaps.unbound.entry("any".into()).or_default().insert(flow.clone());
        }
        gaps.absent.extend(self.absent.iter().cloned());
        for (role, external) in &self.missing {
            let gap = if *external { &mut gaps.unbound } else { &mut gaps.unplaced };
            gap.entry(role.clone()).or_default().insert(flow.clone());
        }
    }
}

/// The ends of one product's flows, by their names and whether the end is
/// a destination (where FQDN-only roles are egress, not gaps).
#[derive(Default)]
struct Ends<'m> {
    resolved: HashMap<(Vec<&'m str>, bool), Rc<End>>,
}

impl<'m> Ends<'m> {
    fn resolve(&mut self, dep: &Deployment, eps: &Endpoints, prod: &Product, names: &'m [Name], to: bool) -> Rc<End> {
        let key = (names.iter().map(|n| n.value.as_str()).collect(), to);
        self.resolved.entry(key).or_insert_with(|| Rc::new(resolve_end(dep, eps, prod, names, to))).clone()
    }
}

/// The endpoints of one end of a flow. A role named directly must be placed
/// or bound; a group needs only one of its roles to be (the others are not
/// deployed). FQDN-only external roles of a destination end are egress.
fn resolve_end(dep: &Deployment, eps: &Endpoints, prod: &Product, names: &[Name], to: bool) -> End {
    let m = &prod.matrix;
    let mut end = End::default();
    let out = &mut end.endpoints;
    for n in names {
        if n.value == "any" {
            let found = role_endpoints(dep, eps, &prod.name, "any");
            end.any_unbound |= found.is_empty();
            out.extend(found);
            continue;
        }
        let is_group = m.groups.contains_key(n.value.as_str());
        let mut missing: Vec<(String, bool)> = Vec::new();
        let before = out.len();
        for role in m.expand(n) {
            if let Some(why) = prod.absent.get(role) {
                end.absent.push((role.to_string(), why.clone()));
                continue;
            }
            let found = role_endpoints(dep, eps, &prod.name, role);
            if !found.is_empty() {
                out.extend(found);
                continue;
            }
            let r = &m.roles[role];
            if to && r.external && !r.fqdns.is_empty() {
                end.fqdn.push((RoleRef::new(prod.name.clone(), role), r.fqdns.iter().map(|x| x.value.clone()).collect()));
            } else {
                missing.push((role.to_string(), r.external));
            }
        }
        // A group of which some role is deployed: the rest are not, and
        // their part of the flow does not apply.
        if !(is_group && out.len() > before) {
            end.missing.append(&mut missing);
        }
    }
    // Each role's hosts are sorted already: this merges a few runs.
    out.sort();
    out.dedup();
    end
}

fn plan_same_host(dep: &Deployment, prod: &Product, f: &Flow, ports: &PortSet, reason: &Arc<Reason>, out: &mut FlowOutput) {
    let m = &prod.matrix;
    let from: BTreeSet<&str> = f.from.iter().flat_map(|n| m.expand(n)).collect();
    let to: BTreeSet<&str> = f.to.iter().flat_map(|n| m.expand(n)).collect();
    let inv = &dep.inventory;
    // A focused plan keeps the local flows of its host only.
    let hosts: Vec<_> = match &out.focus {
        Some(focus) => inv.hosts.get_key_value(focus.as_str()).into_iter().collect(),
        None => inv.hosts.iter().collect(),
    };
    let local = &mut out.local;
    for (name, h) in hosts {
        let mine: BTreeSet<&str> =
            h.roles.iter().filter(|r| r.value.product.value == prod.name).map(|r| r.value.role.value.as_str()).collect();
        if !mine.is_disjoint(&from) && !mine.is_disjoint(&to) {
            for p in f.protos() {
                local.push(LocalFlow { host: name.value.clone(), proto: p, ports: ports.clone(), reason: reason.clone() });
            }
        }
    }
}

fn report_gaps(cx: &mut Cx, prod: &Product, gaps: Gaps) {
    let list = |s: &BTreeSet<FlowTag>| {
        let v: Vec<String> = s.iter().map(FlowTag::to_string).take(4).collect();
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
        let d = cx.error(
            "param-unset",
            prod.span,
            format!("parameter `{param}` of product `{p}` has no value, but active flows use it: {}", list(flows)),
        );
        d.help = Some(format!("set it: `products: {{ {p}: {{ params: {{ {param}: PORT }} }} }}` (the vendor leaves it to the deployment)"));
    }
    for message in &gaps.out_of_range {
        cx.error("port-out-of-range", prod.span, format!("product `{p}`: {message}")).help =
            Some("a parameter's value takes a port outside 0-65535: lower it".into());
    }
}
