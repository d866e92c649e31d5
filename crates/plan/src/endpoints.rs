//! Pass 1: the inventory's hosts and networks as endpoints with prefixes.
//!
//! A network stands for the addresses of its zone: where its CIDRs contain
//! hosts or more specific networks of *other* zones, those are taken out of
//! it (and the plan says so), so that `outside: 0.0.0.0/0` does not open a
//! firewall into the data centre while the change request says "outside".

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use ipnet::IpNet;
use portmatrix_model::{Diagnostic, Inventory};

use crate::addrset::difference;
use crate::types::{Endpoint, EndpointKind, HostInfo};

/// Maps keyed by the inventory's names, looked up once or more per host:
/// hashed with foldhash (seeded per process), several times faster than
/// the standard SipHash on short names.
type NameMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

pub(crate) struct Endpoints<'i> {
    pub hosts: NameMap<&'i str, Arc<Endpoint>>,
    pub networks: BTreeMap<&'i str, Arc<Endpoint>>,
    /// The hosts carrying each (product, role), sorted as endpoints sort:
    /// built once, so that resolving a flow's ends neither scans every host
    /// nor sorts thousands of them again.
    pub by_role: NameMap<(&'i str, &'i str), Vec<Arc<Endpoint>>>,
    /// Hosts with two roles or more: only they can have two roles listen
    /// on one port, and most hosts of a large site have one.
    pub multi_role: HashSet<&'i str, foldhash::fast::RandomState>,
}

pub(crate) fn host_infos(inv: &Inventory) -> Vec<HostInfo> {
    inv.hosts
        .iter()
        .map(|(n, h)| HostInfo {
            name: n.value.clone(),
            addresses: h.addresses.iter().map(|a| a.value).collect(),
            zone: h.zone.as_ref().map(|z| z.value.clone()),
            os: h.os,
            managed: h.managed,
            roles: h.roles.iter().map(|r| r.value.clone()).collect(),
        })
        .collect()
}

pub(crate) fn build<'i>(
    inv: &'i Inventory,
    file: &std::sync::Arc<portmatrix_model::SourceFile>,
    warnings: &mut Vec<Diagnostic>,
) -> Endpoints<'i> {
    let mut by_role: NameMap<(&str, &str), Vec<Arc<Endpoint>>> = NameMap::default();
    let multi_role = inv.hosts.iter().filter(|(_, h)| h.roles.len() > 1).map(|(k, _)| k.value.as_str()).collect();
    let hosts = inv
        .hosts
        .iter()
        .map(|(k, h)| {
            let ep = Arc::new(Endpoint {
                name: k.value.clone(),
                kind: EndpointKind::Host,
                zone: h.zone.as_ref().map(|z| z.value.clone()),
                nets: h.addresses.iter().map(|a| IpNet::from(a.value)).collect(),
            });
            for r in &h.roles {
                let carriers = by_role.entry((r.value.product.value.as_str(), r.value.role.value.as_str())).or_default();
                // A role written twice on one host is one carrier.
                if !carriers.last().is_some_and(|c| Arc::ptr_eq(c, &ep)) {
                    carriers.push(ep.clone());
                }
            }
            (k.value.as_str(), ep)
        })
        .collect();
    for carriers in by_role.values_mut() {
        carriers.sort();
    }
    let networks = inv
        .networks
        .iter()
        .map(|(k, n)| {
            let cidrs: Vec<IpNet> = n.cidrs.iter().map(|c| c.value).collect();
            let zone = n.zone.as_ref().map(|z| z.value.as_str());
            let nets = match zone {
                Some(z) => {
                    let (holes, what) = foreign_addresses(inv, z, &cidrs);
                    if holes.is_empty() {
                        cidrs
                    } else {
                        warnings.push(
                            Diagnostic::warning(
                                "network-spans-zones",
                                file,
                                k.span,
                                format!("network `{}` (zone {z}) contains {what}: they are taken out of it", k.value),
                            )
                            .with_help(
                                "rules for this network admit only its own zone's addresses; narrow its `cidrs:` to say so explicitly",
                            ),
                        );
                        difference(&cidrs, &holes)
                    }
                }
                None => cidrs,
            };
            let ep = Endpoint { name: k.value.clone(), kind: EndpointKind::Network, zone: zone.map(str::to_string), nets };
            (k.value.as_str(), Arc::new(ep))
        })
        .collect();
    Endpoints { hosts, networks, by_role, multi_role }
}

/// Addresses inside `cidrs` that belong to other zones: hosts of other
/// zones, and networks of other zones more specific than the CIDR holding
/// them. Returns them and a description for the warning.
fn foreign_addresses(inv: &Inventory, zone: &str, cidrs: &[IpNet]) -> (Vec<IpNet>, String) {
    let inside = |n: &IpNet| cidrs.iter().any(|c| c.contains(n) && c.prefix_len() < n.prefix_len());
    let other_zone = |z: &Option<portmatrix_model::matrix::Name>| z.as_ref().is_some_and(|z| z.value != zone);
    let mut holes = Vec::new();
    let mut hosts: Vec<&str> = Vec::new();
    let mut nets: Vec<&str> = Vec::new();
    for (name, h) in inv.hosts.iter().filter(|(_, h)| other_zone(&h.zone)) {
        let before = holes.len();
        holes.extend(h.addresses.iter().map(|a| IpNet::from(a.value)).filter(|n| inside(n)));
        if holes.len() > before {
            hosts.push(&name.value);
        }
    }
    for (name, n) in inv.networks.iter().filter(|(_, n)| other_zone(&n.zone)) {
        let before = holes.len();
        holes.extend(n.cidrs.iter().map(|c| c.value).filter(|c| inside(c)));
        if holes.len() > before {
            nets.push(&name.value);
        }
    }
    let list = |what: &str, v: &[&str]| -> Option<String> {
        (!v.is_empty()).then(|| {
            let shown: Vec<&str> = v.iter().copied().take(3).collect();
            let more = if v.len() > 3 { format!(" and {} more", v.len() - 3) } else { String::new() };
            format!("{what} {}{more}", shown.join(", "))
        })
    };
    let what = [list("host(s)", &hosts), list("network(s)", &nets)].into_iter().flatten().collect::<Vec<_>>().join(" and ");
    (holes, format!("{what} of other zones"))
}
