//! The flow rules every backend renders, computed once from a ruleset:
//! rules bucketed by address set, destination, protocol and source ports,
//! then split where the flows needing the ports change, so that each
//! rendered rule names exactly the flows that need all of its ports.
//!
//! Address sets are named per ruleset from the rules' source groups
//! ([`SetNames`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use ipnet::IpNet;
use portmatrix_model::{FlowTag, IcmpType, PortSet, Proto};

use crate::groups::with_suffix_max;
use crate::ir::{Family, GroupName, Rule, Ruleset};

/// Names of the address sets of one ruleset: a group's name for its IPv4
/// addresses, `_v6` for IPv6; a group seen with other addresses (a network
/// firewall sees only the sources that cross it) gets a suffix from a hash
/// of those addresses, so a name stands for the same addresses everywhere.
#[derive(Default)]
pub struct SetNames {
    by_key: HashMap<(GroupName, Family, Vec<IpNet>), String>,
    used: HashSet<String>,
    /// Every set: name, family, addresses, in the order rules first use them.
    pub order: Vec<(String, Family, Vec<IpNet>)>,
}

/// A short stable hash of addresses (FNV-1a), for set name suffixes.
fn short_hash(nets: &[IpNet]) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for n in nets {
        for b in n.to_string().bytes().chain([b',']) {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    }
    format!("{:03x}", h & 0xfff)
}

/// ipset's limit (31 bytes), which nftables' (255) also satisfies: the
/// same names serve both.
pub const SET_NAME_MAX: usize = 31;

/// The name of a group's address set of one family: the group's name, `_v6`
/// for IPv6. A ruleset that holds two address lists of one group names the
/// second with a suffix ([`SetNames`]).
pub fn set_base_name(group: &GroupName, family: Family) -> String {
    let fam = if family == Family::V6 { "_v6" } else { "" };
    with_suffix_max(group.as_str(), fam, SET_NAME_MAX)
}

impl SetNames {
    pub fn name(&mut self, r: &Rule) -> String {
        let key = (r.group.clone(), r.family, r.src.clone());
        if let Some(n) = self.by_key.get(&key) {
            return n.clone();
        }
        let fam = if r.family == Family::V6 { "_v6" } else { "" };
        let mut name = set_base_name(&r.group, r.family);
        if self.used.contains(&name) {
            name = with_suffix_max(r.group.as_str(), &format!("{fam}_{}", short_hash(&r.src)), SET_NAME_MAX);
        }
        let mut bump = 2;
        while self.used.contains(&name) {
            name = with_suffix_max(r.group.as_str(), &format!("{fam}_{bump}"), SET_NAME_MAX);
            bump += 1;
        }
        self.used.insert(name.clone());
        self.by_key.insert(key, name.clone());
        self.order.push((name.clone(), r.family, r.src.clone()));
        name
    }
}

/// What the rules of one bucket share: everything but the ports (or ICMP
/// types) and the flows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BucketKey {
    pub family: Family,
    pub proto: Proto,
    /// The address set of the sources.
    pub set: String,
    /// Destinations (network firewalls); empty on a host's input.
    pub dst: Vec<IpNet>,
    pub sports: Option<PortSet>,
    /// Source and destination zone (network firewalls).
    pub zones: Option<(String, String)>,
}

/// The ports (or ICMP types) of one bucket split where the flows needing
/// them change: each part with exactly the flows that need all of it.
fn split_ports(contrib: &[(PortSet, FlowTag)]) -> Vec<(PortSet, Vec<FlowTag>)> {
    let mut atoms: Vec<(PortSet, Vec<FlowTag>)> = Vec::new();
    for (ports, tag) in contrib {
        let mut rest = ports.clone();
        let mut next = Vec::with_capacity(atoms.len() + 1);
        for (a, tags) in atoms {
            let both = a.intersection(&rest);
            if both.is_empty() || tags.contains(tag) {
                rest = rest.difference(&a);
                next.push((a, tags));
                continue;
            }
            let only_a = a.difference(&rest);
            rest = rest.difference(&a);
            let mut with = tags.clone();
            with.push(tag.clone());
            next.push((both, with));
            if !only_a.is_empty() {
                next.push((only_a, tags));
            }
        }
        if !rest.is_empty() {
            next.push((rest, vec![tag.clone()]));
        }
        atoms = next;
    }
    // One rule per set of flows, in the order the flows first appear.
    let mut merged: Vec<(PortSet, Vec<FlowTag>)> = Vec::new();
    for (p, tags) in atoms {
        match merged.iter_mut().find(|(_, t)| *t == tags) {
            Some((q, _)) => *q = q.union(&p),
            None => merged.push((p, tags)),
        }
    }
    merged.sort_by_key(|(p, _)| p.first());
    merged
}

fn split_icmp(contrib: &[(IcmpType, FlowTag)]) -> Vec<(Vec<IcmpType>, Vec<FlowTag>)> {
    let mut by_type: BTreeMap<IcmpType, Vec<FlowTag>> = BTreeMap::new();
    for (t, tag) in contrib {
        let tags = by_type.entry(*t).or_default();
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    let mut merged: Vec<(Vec<IcmpType>, Vec<FlowTag>)> = Vec::new();
    for (t, tags) in by_type {
        match merged.iter_mut().find(|(_, x)| *x == tags) {
            Some((types, _)) => types.push(t),
            None => merged.push((vec![t], tags)),
        }
    }
    merged
}

/// What a flow rule matches besides its sources.
pub enum Service {
    Ports(PortSet),
    Icmp(Vec<IcmpType>),
}

/// One flow rule before it becomes statements.
pub struct FlowRule {
    pub key: BucketKey,
    pub service: Service,
    /// The flows that need every port (or type) of the rule.
    pub tags: Vec<FlowTag>,
}

/// The flow rules of a ruleset: bucketed by everything but ports and flows,
/// split where the flows change, and (on a network firewall) rules that
/// differ only in their destinations merged.
pub fn flow_rules(rs: &Ruleset, sets: &mut SetNames) -> Vec<FlowRule> {
    let mut ports: BTreeMap<BucketKey, Vec<(PortSet, FlowTag)>> = BTreeMap::new();
    let mut icmp: BTreeMap<BucketKey, Vec<(IcmpType, FlowTag)>> = BTreeMap::new();
    let mut order: Vec<BucketKey> = Vec::new();
    for r in &rs.rules {
        let key = BucketKey {
            family: r.family,
            proto: r.proto,
            set: sets.name(r),
            dst: r.dst.clone(),
            sports: r.sports.clone(),
            zones: r.zones.clone(),
        };
        if !ports.contains_key(&key) && !icmp.contains_key(&key) {
            order.push(key.clone());
        }
        if r.proto.has_ports() {
            let v = ports.entry(key).or_default();
            v.extend(r.reasons.iter().map(|t| (r.dports.clone(), t.clone())));
        } else {
            let v = icmp.entry(key).or_default();
            for t in &r.icmp {
                v.extend(r.reasons.iter().map(|tag| (*t, tag.clone())));
            }
        }
    }
    let mut out: Vec<FlowRule> = Vec::new();
    for key in order {
        let parts: Vec<(Service, Vec<FlowTag>)> = match ports.get(&key) {
            Some(c) => split_ports(c).into_iter().map(|(p, t)| (Service::Ports(p), t)).collect(),
            None => split_icmp(&icmp[&key]).into_iter().map(|(i, t)| (Service::Icmp(i), t)).collect(),
        };
        for (service, tags) in parts {
            out.push(FlowRule { key: key.clone(), service, tags });
        }
    }
    if rs.forward() {
        merge_destinations(out)
    } else {
        out
    }
}

/// Rules equal but for their destinations become one rule with all of
/// them: the same packets pass, with fewer rules.
fn merge_destinations(rules: Vec<FlowRule>) -> Vec<FlowRule> {
    let mut out: Vec<FlowRule> = Vec::new();
    type MergeKey = (Family, Proto, String, Option<PortSet>, String, Vec<FlowTag>, Option<(String, String)>);
    let mut index: HashMap<MergeKey, usize> = HashMap::new();
    for r in rules {
        let service = match &r.service {
            Service::Ports(p) => format!("p{p}"),
            Service::Icmp(t) => format!("i{t:?}"),
        };
        let k = (r.key.family, r.key.proto, r.key.set.clone(), r.key.sports.clone(), service, r.tags.clone(), r.key.zones.clone());
        match index.get(&k) {
            Some(&i) => {
                let all: Vec<IpNet> = out[i].key.dst.iter().chain(&r.key.dst).copied().collect();
                out[i].key.dst = IpNet::aggregate(&all);
            }
            None => {
                index.insert(k, out.len());
                out.push(r);
            }
        }
    }
    out
}
