//! Two plans compared: the connections to open and to close, each with its
//! flow and cite and what enforces it, grouped by zone pair, firewall and
//! host; endpoints whose addresses changed; the rule changes per host and
//! network firewall ([`crate::rules`]); flows that left or entered "not deployed".
//!
//! A plan is compared as *atoms*: (source endpoint, destination endpoint,
//! protocol, source ports, ICMP types, flow) → ports. The diff holds, per
//! atom, the ports added and removed, so that applying it to the old plan's
//! atoms gives exactly the new plan's ([`apply`]; a property test checks it).
//! [`atoms`] and [`atom_delta`] expand every atom and serve as the oracle;
//! [`diff_deployments`] computes the same delta group by group
//! ([`crate::grouped`]), which stays small at 10,000 hosts.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use ipnet::IpNet;

use portmatrix_model::{FlowTag, IcmpType, PortSet, Proto};
use portmatrix_plan::{Connection, Endpoint, EndpointKind, Plan, Reason, Sources};

use crate::rules::{RuleDelta, SetChange};
use serde::Serialize;

/// What identifies an atom.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AtomKey {
    pub src: String,
    pub src_kind: EndpointKind,
    pub dst: String,
    pub dst_kind: EndpointKind,
    pub proto: Proto,
    pub src_ports: Option<String>,
    pub icmp: Vec<IcmpType>,
    pub flow: FlowTag,
}

/// The ports of an atom; ICMP atoms hold the set {0}, meaning "present".
pub type Atoms = BTreeMap<AtomKey, PortSet>;

pub(crate) fn present(c: &Connection) -> PortSet {
    if c.proto.has_ports() {
        c.ports.clone()
    } else {
        PortSet::single(0)
    }
}

/// A plan as atoms.
pub fn atoms(plan: &Plan) -> Atoms {
    let mut out: Atoms = BTreeMap::new();
    for c in &plan.connections {
        for s in c.remote_sources() {
            for r in &c.reasons {
                let key = AtomKey {
                    src: s.name.clone(),
                    src_kind: s.kind,
                    dst: c.dst.name.clone(),
                    dst_kind: c.dst.kind,
                    proto: c.proto,
                    src_ports: c.src_ports.as_ref().map(|p| p.to_string()),
                    icmp: c.icmp.clone(),
                    flow: r.tag(),
                };
                let e = out.entry(key).or_default();
                *e = e.union(&present(c));
            }
        }
    }
    out
}

/// One row of a delta change request: a connection to open or to close.
#[derive(Debug, Clone, Serialize)]
pub struct DeltaRow {
    pub src: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_zone: Option<String>,
    /// The source's addresses, in the plan where the row exists (a change
    /// request names addresses, not only names).
    pub src_addresses: Vec<IpNet>,
    pub dst: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_zone: Option<String>,
    pub dst_addresses: Vec<IpNet>,
    pub proto: Proto,
    /// The ports that change (empty for ICMP).
    pub ports: PortSet,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_ports: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub icmp: Vec<IcmpType>,
    pub flow: FlowTag,
    pub purpose: String,
    pub cite: String,
    /// Host firewall and network firewalls on the path, or "nothing" (in the
    /// plan where the row exists: the new one for opened, the old one for closed).
    pub enforced_by: String,
    /// Whether the destination's host firewall enforces it (the first part
    /// of `enforced_by`, typed).
    pub host_firewall: bool,
    /// The network firewalls on the path.
    pub firewalls: Vec<String>,
}

impl DeltaRow {
    pub fn service(&self) -> String {
        portmatrix_plan::service_name(self.proto, &self.ports, &self.icmp)
    }
}

/// An endpoint whose addresses differ between the plans.
#[derive(Debug, Clone, Serialize)]
pub struct Readdressed {
    pub name: String,
    pub old: Vec<String>,
    pub new: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeploymentDiff {
    pub old: String,
    pub new: String,
    pub opened: Vec<DeltaRow>,
    pub closed: Vec<DeltaRow>,
    pub readdressed: Vec<Readdressed>,
    pub hosts_added: Vec<String>,
    pub hosts_removed: Vec<String>,
    /// Flows that are no longer deployed (newly absent or excluded), and
    /// flows deployed again.
    pub newly_not_deployed: Vec<String>,
    pub deployed_again: Vec<String>,
    /// Per host and network firewall, the rules its ruleset gains and loses
    /// (rules that change only in their source set's members are not listed).
    pub rules: Vec<RuleDelta>,
    /// Address sets whose members change, once for every ruleset that holds them.
    pub sets: Vec<SetChange>,
}

impl DeploymentDiff {
    pub fn is_empty(&self) -> bool {
        self.opened.is_empty()
            && self.closed.is_empty()
            && self.readdressed.is_empty()
            && self.hosts_added.is_empty()
            && self.hosts_removed.is_empty()
            && self.newly_not_deployed.is_empty()
            && self.deployed_again.is_empty()
            && self.rules.is_empty()
    }
    /// Rows grouped by (source zone, destination zone).
    pub fn by_zone_pair(rows: &[DeltaRow]) -> BTreeMap<(String, String), Vec<&DeltaRow>> {
        let mut m: BTreeMap<(String, String), Vec<&DeltaRow>> = BTreeMap::new();
        for r in rows {
            m.entry((r.src_zone.clone().unwrap_or_default(), r.dst_zone.clone().unwrap_or_default())).or_default().push(r);
        }
        m
    }
    /// Rows each network firewall must change (a row appears under every
    /// firewall on its path).
    pub fn by_firewall(rows: &[DeltaRow]) -> BTreeMap<String, Vec<&DeltaRow>> {
        let mut m: BTreeMap<String, Vec<&DeltaRow>> = BTreeMap::new();
        for r in rows {
            for f in &r.firewalls {
                m.entry(f.clone()).or_default().push(r);
            }
        }
        m
    }
    /// Rows by destination host.
    pub fn by_host(rows: &[DeltaRow]) -> BTreeMap<String, Vec<&DeltaRow>> {
        let mut m: BTreeMap<String, Vec<&DeltaRow>> = BTreeMap::new();
        for r in rows {
            m.entry(r.dst.clone()).or_default().push(r);
        }
        m
    }
}

/// Where an atom's row gets its context in one plan.
struct Index<'p> {
    plan: &'p Plan,
    endpoints: BTreeMap<(EndpointKind, String), Endpoint>,
    reasons: BTreeMap<FlowTag, Arc<Reason>>,
    dsts: BTreeMap<(EndpointKind, String), &'p Connection>,
}

impl<'p> Index<'p> {
    fn new(plan: &'p Plan) -> Self {
        let mut endpoints = BTreeMap::new();
        let mut reasons = BTreeMap::new();
        let mut dsts = BTreeMap::new();
        // Connections share their source sets: visit each set's members once.
        let mut seen: HashSet<*const Sources> = HashSet::new();
        for c in &plan.connections {
            let members = if seen.insert(Arc::as_ptr(&c.sources)) { c.sources.members.as_slice() } else { &[] };
            for e in members.iter().map(|m| &**m).chain(std::iter::once(&*c.dst)) {
                endpoints.entry((e.kind, e.name.clone())).or_insert_with(|| e.clone());
            }
            for r in &c.reasons {
                reasons.entry(r.tag()).or_insert_with(|| r.clone());
            }
            dsts.entry((c.dst.kind, c.dst.name.clone())).or_insert(c);
        }
        Index { plan, endpoints, reasons, dsts }
    }

    fn row(&self, key: &AtomKey, ports: PortSet) -> DeltaRow {
        let src = self.endpoints.get(&(key.src_kind, key.src.clone()));
        let dst = self.endpoints.get(&(key.dst_kind, key.dst.clone()));
        let reason = self.reasons.get(&key.flow);
        let enforcement = match (src, self.dsts.get(&(key.dst_kind, key.dst.clone()))) {
            (Some(s), Some(c)) => Some(self.plan.enforcement(s, c)),
            _ => None,
        };
        DeltaRow {
            src: key.src.clone(),
            src_zone: src.and_then(|s| s.zone.clone()),
            src_addresses: src.map(|s| s.nets.clone()).unwrap_or_default(),
            dst: key.dst.clone(),
            dst_zone: dst.and_then(|d| d.zone.clone()),
            dst_addresses: dst.map(|d| d.nets.clone()).unwrap_or_default(),
            proto: key.proto,
            ports: if key.proto.has_ports() { ports } else { PortSet::new() },
            src_ports: key.src_ports.clone(),
            icmp: key.icmp.clone(),
            flow: key.flow.clone(),
            purpose: reason.map(|r| r.purpose.clone()).unwrap_or_default(),
            cite: reason.map(|r| r.cite.clone()).unwrap_or_default(),
            enforced_by: enforcement.as_ref().map(|e| e.describe()).unwrap_or_else(|| "nothing".into()),
            host_firewall: enforcement.as_ref().is_some_and(|e| e.host_firewall),
            firewalls: enforcement.map(|e| e.path.firewalls().to_vec()).unwrap_or_default(),
        }
    }
}

/// The ports added and removed per atom, from `old` to `new`.
pub fn atom_delta(old: &Atoms, new: &Atoms) -> (Atoms, Atoms) {
    let mut added = Atoms::new();
    let mut removed = Atoms::new();
    let keys: BTreeSet<&AtomKey> = old.keys().chain(new.keys()).collect();
    let empty = PortSet::new();
    for k in keys {
        let (a, b) = (old.get(k).unwrap_or(&empty), new.get(k).unwrap_or(&empty));
        let plus = b.difference(a);
        let minus = a.difference(b);
        if !plus.is_empty() {
            added.insert(k.clone(), plus);
        }
        if !minus.is_empty() {
            removed.insert(k.clone(), minus);
        }
    }
    (added, removed)
}

/// Applies a delta to atoms: `apply(atoms(A), delta(A, B)) == atoms(B)`.
pub fn apply(old: &Atoms, added: &Atoms, removed: &Atoms) -> Atoms {
    let mut out = old.clone();
    for (k, p) in removed {
        if let Some(e) = out.get_mut(k) {
            *e = e.difference(p);
        }
    }
    for (k, p) in added {
        let e = out.entry(k.clone()).or_default();
        *e = e.union(p);
    }
    out.retain(|_, p| !p.is_empty());
    out
}

pub fn diff_deployments(old: &Plan, new: &Plan) -> DeploymentDiff {
    // The connection delta and the rule delta read the plans only: one on
    // each core (at 10,000 hosts each takes about half the diff).
    let ((opened, closed, readdressed), rules) = std::thread::scope(|s| {
        let rules = s.spawn(|| crate::rules::rule_deltas(old, new));
        let (added, removed) = crate::grouped::grouped_delta(old, new);
        let (old_ix, new_ix) = (Index::new(old), Index::new(new));
        let opened: Vec<DeltaRow> = added.into_iter().map(|(k, p)| new_ix.row(&k, p)).collect();
        let closed: Vec<DeltaRow> = removed.into_iter().map(|(k, p)| old_ix.row(&k, p)).collect();
        ((opened, closed, readdressed(&old_ix, &new_ix)), rules.join().expect("the rule delta does not panic"))
    });
    let old_hosts: BTreeSet<&str> = old.hosts.iter().map(|h| h.name.as_str()).collect();
    let new_hosts: BTreeSet<&str> = new.hosts.iter().map(|h| h.name.as_str()).collect();
    let tags = |p: &Plan| -> BTreeSet<String> { p.not_deployed.iter().map(|n| format!("{} ({})", n.reason.tag(), n.why)).collect() };
    let (nd_old, nd_new) = (tags(old), tags(new));
    DeploymentDiff {
        old: old.inventory.clone(),
        new: new.inventory.clone(),
        opened,
        closed,
        readdressed,
        hosts_added: new_hosts.difference(&old_hosts).map(|s| s.to_string()).collect(),
        hosts_removed: old_hosts.difference(&new_hosts).map(|s| s.to_string()).collect(),
        newly_not_deployed: nd_new.difference(&nd_old).cloned().collect(),
        deployed_again: nd_old.difference(&nd_new).cloned().collect(),
        rules: rules.rulesets,
        sets: rules.sets,
    }
}

fn readdressed(old: &Index, new: &Index) -> Vec<Readdressed> {
    let mut out = Vec::new();
    for (k, e) in &new.endpoints {
        if let Some(o) = old.endpoints.get(k) {
            if o.nets != e.nets {
                let s = |n: &[ipnet::IpNet]| n.iter().map(|x| x.to_string()).collect();
                out.push(Readdressed { name: e.name.clone(), old: s(&o.nets), new: s(&e.nets) });
            }
        }
    }
    out
}
