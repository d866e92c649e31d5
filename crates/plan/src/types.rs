//! What a plan is made of: endpoints, connections with their reasons,
//! local flows, FQDN egress, and the plan itself.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use portmatrix_model::{Diagnostic, FlowTag, IcmpType, Os, PortSet, Proto, RoleRef};
use serde::Serialize;

use crate::topology::{Enforcement, Topology};

#[derive(Debug, Clone, Serialize)]
pub struct HostInfo {
    pub name: String,
    pub addresses: Vec<IpAddr>,
    pub zone: Option<String>,
    pub os: Option<Os>,
    pub managed: bool,
    pub roles: Vec<RoleRef>,
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

impl Endpoint {
    pub fn is(&self, other: &Endpoint) -> bool {
        self.kind == other.kind && self.name == other.name
    }
}

/// (has IPv4 addresses, has IPv6 addresses).
pub(crate) fn address_families(nets: &[IpNet]) -> (bool, bool) {
    (nets.iter().any(|n| n.addr().is_ipv4()), nets.iter().any(|n| n.addr().is_ipv6()))
}

/// The initiators of a connection: the endpoints, and their addresses
/// aggregated into as few prefixes as possible. Shared between the
/// connections of one flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sources {
    /// Creation order: a cheap, deterministic identity for sorting.
    #[serde(skip)]
    pub id: usize,
    /// Shared with the plan's endpoint index: a source set names its hosts
    /// without copying them (a 10,000-host set would copy 10,000 names).
    pub members: Vec<Arc<Endpoint>>,
    pub nets: Vec<IpNet>,
    /// Whether `nets` holds IPv4 and IPv6 addresses: asked once per
    /// destination of every flow, so computed once here.
    #[serde(skip)]
    families: (bool, bool),
}

impl Sources {
    pub fn new(id: usize, mut members: Vec<Arc<Endpoint>>) -> Self {
        members.sort();
        members.dedup();
        let all: Vec<IpNet> = members.iter().flat_map(|m| m.nets.iter().copied()).collect();
        let nets = IpNet::aggregate(&all);
        let families = address_families(&nets);
        Self { id, members, nets, families }
    }
    /// (has IPv4 addresses, has IPv6 addresses).
    pub fn families(&self) -> (bool, bool) {
        self.families
    }
    pub fn names(&self) -> Vec<&str> {
        self.members.iter().map(|m| m.name.as_str()).collect()
    }
    /// Whether `e` is one of the members (by name and kind), in O(log n):
    /// members are sorted by name first.
    pub fn contains(&self, e: &Endpoint) -> bool {
        let from = self.members.partition_point(|m| m.name < e.name);
        self.members[from..].iter().take_while(|m| m.name == e.name).any(|m| m.kind == e.kind)
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
    pub fn tag(&self) -> FlowTag {
        FlowTag::new(self.product.clone(), self.flow.clone())
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
    pub icmp: Vec<IcmpType>,
    pub reasons: Vec<Arc<Reason>>,
}

impl Connection {
    /// The sources other than the destination itself: a host among the
    /// sources of its own connection reaches itself locally, with no rule.
    pub fn remote_sources(&self) -> impl Iterator<Item = &Endpoint> + '_ {
        self.sources.members.iter().map(|m| &**m).filter(move |m| !m.is(&self.dst))
    }
    /// Every endpoint the connection names: its sources, then its destination.
    pub fn endpoints(&self) -> impl Iterator<Item = &Endpoint> + '_ {
        self.sources.members.iter().map(|m| &**m).chain(std::iter::once(&*self.dst))
    }
    pub fn tags(&self) -> Vec<FlowTag> {
        self.reasons.iter().map(|r| r.tag()).collect()
    }
    /// The service as a change request names it: `tcp/443`, `icmp/echo-request`.
    pub fn service(&self) -> String {
        service_name(self.proto, &self.ports, &self.icmp)
    }
}

/// A service as a change request names it: `tcp/443`, `icmp/echo-request`.
pub fn service_name(proto: Proto, ports: &PortSet, icmp: &[IcmpType]) -> String {
    if proto.has_ports() {
        format!("{proto}/{ports}")
    } else {
        format!("{proto}/{}", icmp.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(","))
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
    pub role: RoleRef,
    pub fqdns: Vec<String>,
    pub proto: Proto,
    pub ports: PortSet,
    pub reason: Arc<Reason>,
}

/// A flow the site does not deploy: an integration declared absent, or a
/// flow excluded by a site decision. The change request lists it.
#[derive(Debug, Clone, Serialize)]
pub struct NotDeployed {
    pub reason: Arc<Reason>,
    /// "absent: ROLE (why)" or "excluded: why".
    pub why: String,
}

/// An inbound port forward: `public:ports` on `firewall` goes on to
/// `private:ports` of `host` (destination NAT, same ports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Forward {
    pub firewall: String,
    pub public: IpAddr,
    pub host: String,
    pub private: IpAddr,
    pub proto: Proto,
    pub ports: PortSet,
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
    /// Zones, the firewalls between them, and the path between every two.
    pub topology: Topology,
    pub connections: Vec<Connection>,
    pub local: Vec<LocalFlow>,
    pub egress_fqdn: Vec<FqdnEgress>,
    /// Flows left out by the inventory, with the reason.
    pub not_deployed: Vec<NotDeployed>,
    /// Inbound port forwards of the network firewalls.
    pub forwards: Vec<Forward>,
    /// Problems that do not stop the plan (dropped connections, no admin
    /// network, zones no firewall enforces).
    #[serde(skip)]
    pub warnings: Vec<Diagnostic>,
    /// Every source set the deployment's connections use, by id (also those
    /// of connections a focused plan leaves out): address sets are named
    /// over all of them.
    #[serde(skip)]
    pub groups: Vec<Arc<Sources>>,
    /// Host name → index in `hosts`, built on first use.
    #[serde(skip)]
    pub(crate) host_index: std::sync::OnceLock<HostIndex>,
}

/// Positions in `Plan::hosts` found by name, without a copy of each name
/// (10,000 of them, for a one-host compile that looks up a few).
#[derive(Debug, Clone)]
pub(crate) struct HostIndex {
    hasher: foldhash::fast::RandomState,
    table: hashbrown::HashTable<usize>,
}

impl HostIndex {
    fn of(hosts: &[HostInfo]) -> Self {
        let hasher = foldhash::fast::RandomState::default();
        let mut table = hashbrown::HashTable::with_capacity(hosts.len());
        for (i, h) in hosts.iter().enumerate() {
            let hash = hasher.hash_one(h.name.as_str());
            // Names are unique (the inventory is a mapping).
            table.insert_unique(hash, i, |&j| hasher.hash_one(hosts[j].name.as_str()));
        }
        Self { hasher, table }
    }
    fn find(&self, hosts: &[HostInfo], name: &str) -> Option<usize> {
        self.table.find(self.hasher.hash_one(name), |&i| hosts[i].name == name).copied()
    }
}

impl Plan {
    pub fn host(&self, name: &str) -> Option<&HostInfo> {
        let index = self.host_index.get_or_init(|| HostIndex::of(&self.hosts));
        index.find(&self.hosts, name).map(|i| &self.hosts[i])
    }
    pub fn firewall(&self, name: &str) -> Option<&FirewallInfo> {
        self.firewalls.iter().find(|f| f.name == name)
    }
    /// Connections that end on `host`.
    pub fn inbound<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a Connection> + 'a {
        self.connections.iter().filter(move |c| c.dst.kind == EndpointKind::Host && c.dst.name == host)
    }
    /// What enforces traffic from `src` to the destination of `c`: the
    /// destination's host firewall (when managed) and the network firewalls
    /// on the path between their zones.
    pub fn enforcement(&self, src: &Endpoint, c: &Connection) -> Enforcement {
        let host_firewall = c.dst.kind == EndpointKind::Host && self.host(&c.dst.name).is_some_and(|h| h.managed);
        Enforcement { host_firewall, path: self.topology.path(src.zone.as_deref(), c.dst.zone.as_deref()) }
    }
    /// The forward that translates a packet to `dst` (a public address).
    pub fn forward_for(&self, dst: IpAddr, proto: Proto, port: u16) -> Option<&Forward> {
        self.forwards.iter().find(|f| f.public == dst && f.proto == proto && f.ports.contains(port))
    }
    /// The host or network an address belongs to (the most specific network).
    pub fn endpoint_of(&self, addr: IpAddr) -> Option<Endpoint> {
        if let Some(h) = self.hosts.iter().find(|h| h.addresses.contains(&addr)) {
            return Some(Endpoint {
                name: h.name.clone(),
                kind: EndpointKind::Host,
                zone: h.zone.clone(),
                nets: h.addresses.iter().map(|a| IpNet::from(*a)).collect(),
            });
        }
        self.connections
            .iter()
            .flat_map(|c| c.endpoints())
            .filter(|e| e.kind == EndpointKind::Network)
            .filter_map(|e| e.nets.iter().filter(|n| n.contains(&addr)).map(|n| n.prefix_len()).max().map(|len| (len, e)))
            .max_by(|(a, ea), (b, eb)| a.cmp(b).then_with(|| eb.name.cmp(&ea.name)))
            .map(|(_, e)| e.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn endpoint((name, host): (u8, bool)) -> Endpoint {
        Endpoint {
            name: format!("e{}", name % 12),
            kind: if host { EndpointKind::Host } else { EndpointKind::Network },
            zone: None,
            nets: Vec::new(),
        }
    }

    proptest! {
        /// The binary search finds a member exactly when a scan does.
        #[test]
        fn contains_agrees_with_a_scan(members in proptest::collection::vec((any::<u8>(), any::<bool>()), 0..20), probe in (any::<u8>(), any::<bool>())) {
            let s = Sources::new(1, members.into_iter().map(|m| Arc::new(endpoint(m))).collect());
            let e = endpoint(probe);
            prop_assert_eq!(s.contains(&e), s.members.iter().any(|m| m.is(&e)));
        }
    }
}
