//! The plan as interval tables: the only module that reads
//! `portmatrix_plan` types. Everything else in this crate works on
//! [`IntentTable`], so a change of the plan's types is a change here only.
//!
//! One [`Intent`] per thing the deployment means to allow:
//! - every planned connection (basis `connection`): exactly what `explain`
//!   permits;
//! - every flow between roles on one host (basis `local`): no rule is
//!   needed, so traffic from one of the host's addresses (or from loopback,
//!   which cannot tell hosts apart) to another of them is credited to it;
//! - every egress to destinations known only by name (basis `fqdn-egress`):
//!   a flow log carries addresses, not names, so traffic from the flow's
//!   sources to an address *outside every network and host of the inventory*
//!   on the flow's protocol and ports is credited to it, and the results say
//!   that the name was not checked.
//!
//! A record is credited to the connections it matches first; only when it
//! matches none, to local flows; only then to FQDN egress.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use portmatrix_model::{FlowTag, IcmpType, Proto};
use portmatrix_plan::{Connection, EndpointKind, Plan};
use serde::{Deserialize, Serialize};

/// An IANA protocol number, as flow logs carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IpProto(pub u8);

impl IpProto {
    pub const ICMP: IpProto = IpProto(1);
    pub const TCP: IpProto = IpProto(6);
    pub const UDP: IpProto = IpProto(17);
    pub const ICMPV6: IpProto = IpProto(58);
    pub const SCTP: IpProto = IpProto(132);

    /// Whether records of this protocol carry ports (`explain` compares them).
    pub fn has_ports(self) -> bool {
        matches!(self, IpProto::TCP | IpProto::UDP | IpProto::SCTP)
    }
    pub fn is_icmp(self) -> bool {
        matches!(self, IpProto::ICMP | IpProto::ICMPV6)
    }
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            IpProto::ICMP => "icmp",
            IpProto::TCP => "tcp",
            IpProto::UDP => "udp",
            IpProto::ICMPV6 => "icmpv6",
            IpProto::SCTP => "sctp",
            _ => return None,
        })
    }
    /// `tcp`, `udp`, ... or the number for protocols the plan never names.
    pub fn parse(s: &str) -> Option<Self> {
        if let Ok(n) = s.parse::<u8>() {
            return Some(IpProto(n));
        }
        [IpProto::ICMP, IpProto::TCP, IpProto::UDP, IpProto::ICMPV6, IpProto::SCTP]
            .into_iter()
            .find(|p| p.name().is_some_and(|n| n.eq_ignore_ascii_case(s)))
    }
}

impl fmt::Display for IpProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "proto-{}", self.0),
        }
    }
}

fn ip_proto(p: Proto) -> IpProto {
    match p {
        Proto::Tcp => IpProto::TCP,
        Proto::Udp => IpProto::UDP,
        Proto::Sctp => IpProto::SCTP,
        Proto::Icmp => IpProto::ICMP,
        Proto::Icmpv6 => IpProto::ICMPV6,
    }
}

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AddrRange {
    pub lo: IpAddr,
    pub hi: IpAddr,
}

impl AddrRange {
    pub fn of_net(n: &IpNet) -> Self {
        Self { lo: n.network(), hi: n.broadcast() }
    }
    pub fn contains(&self, a: IpAddr) -> bool {
        a.is_ipv4() == self.lo.is_ipv4() && self.lo <= a && a <= self.hi
    }
    /// The smallest set of prefixes covering exactly this range.
    pub fn to_prefixes(self) -> Vec<IpNet> {
        match (self.lo, self.hi) {
            (IpAddr::V4(a), IpAddr::V4(b)) => ipnet::Ipv4Subnets::new(a, b, 0).map(IpNet::V4).collect(),
            (IpAddr::V6(a), IpAddr::V6(b)) => ipnet::Ipv6Subnets::new(a, b, 0).map(IpNet::V6).collect(),
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.to_prefixes();
        let parts: Vec<String> =
            p.iter().map(|n| if n.prefix_len() == n.max_prefix_len() { n.addr().to_string() } else { n.to_string() }).collect();
        f.write_str(&parts.join(" "))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// A planned connection: what `explain` permits.
    Connection,
    /// A flow between roles on one host.
    Local,
    /// Egress to destinations known by name only; the address is not checked.
    FqdnEgress,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Connection => "connection",
            Basis::Local => "local",
            Basis::FqdnEgress => "fqdn-egress",
        }
    }
}

/// Why an intent exists: one flow of one product.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FlowReason {
    /// `product/flow-id`, the tag generated rules carry.
    pub tag: FlowTag,
    pub cite: String,
    pub purpose: String,
}

/// Dense identity of an intent inside one [`IntentTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IntentId(pub u32);

impl IntentId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Something the deployment means to allow, as intervals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub id: IntentId,
    pub basis: Basis,
    pub proto: IpProto,
    /// Initiators' addresses (disjoint, sorted).
    pub sources: Vec<AddrRange>,
    pub source_names: Vec<String>,
    /// Listener's addresses (disjoint, sorted).
    pub destinations: Vec<AddrRange>,
    /// Host or network name; for FQDN egress the role and its names.
    pub destination: String,
    /// Whether `destination` names a host of the inventory.
    pub destination_is_host: bool,
    /// Destination ports, inclusive ranges; empty for ICMP.
    pub ports: Vec<(u16, u16)>,
    /// Source ports when the flow restricts them.
    pub src_ports: Option<Vec<(u16, u16)>>,
    /// ICMP types (numbers of this family), `None`: any type.
    pub icmp_types: Option<Vec<u8>>,
    /// ICMP types as the matrix states them.
    #[serde(with = "icmp_names")]
    pub icmp_names: Vec<IcmpType>,
    pub reasons: Vec<FlowReason>,
}

impl Intent {
    /// `tcp/443,8443`, `icmp/echo-request`, `udp/10000-20000`.
    pub fn service(&self) -> String {
        if self.proto.is_icmp() {
            if self.icmp_names.is_empty() {
                format!("{}/any", self.proto)
            } else {
                let names: Vec<&str> = self.icmp_names.iter().map(|t| t.as_str()).collect();
                format!("{}/{}", self.proto, names.join(","))
            }
        } else {
            format!("{}/{}", self.proto, ranges_text(&self.ports))
        }
    }
    pub fn tags(&self) -> Vec<&FlowTag> {
        self.reasons.iter().map(|r| &r.tag).collect()
    }
}

pub fn ranges_text(r: &[(u16, u16)]) -> String {
    let v: Vec<String> = r.iter().map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
    v.join(",")
}

/// A named endpoint of the inventory, for labelling addresses in results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedRange {
    pub name: String,
    pub is_host: bool,
    pub range: AddrRange,
}

/// The plan as the audit reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentTable {
    pub inventory: String,
    pub intents: Vec<Intent>,
    /// Hosts first (exact addresses), then networks; the most specific
    /// label of an address is found by [`IntentTable::label`].
    pub endpoints: Vec<NamedRange>,
    /// Port forwards of the network firewalls: a flow to a forwarded public
    /// address is judged as the firewall forwards it (as `explain` does).
    #[serde(default)]
    pub forwards: Vec<PortForward>,
}

/// Flows to `public` on these ports of `proto` reach `private`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortForward {
    pub public: IpAddr,
    pub proto: IpProto,
    pub ports: Vec<(u16, u16)>,
    pub private: IpAddr,
}

impl PortForward {
    /// The destination a flow really reaches through this forward, if it is forwarded.
    pub fn translate(forwards: &[PortForward], dst: IpAddr, proto: IpProto, port: Option<u16>) -> Option<IpAddr> {
        let port = port?;
        forwards
            .iter()
            .find(|f| f.public == dst && f.proto == proto && f.ports.iter().any(|&(a, b)| a <= port && port <= b))
            .map(|f| f.private)
    }
}

impl IntentTable {
    /// The single adapter from the plan.
    pub fn from_plan(plan: &Plan) -> Self {
        let mut intents = Vec::new();
        for c in &plan.connections {
            intents.push(connection_intent(c, IntentId(intents.len() as u32)));
        }
        for l in &plan.local {
            let Some(host) = plan.host(&l.host) else { continue };
            let mut own: Vec<AddrRange> = host.addresses.iter().map(|a| AddrRange { lo: *a, hi: *a }).collect();
            own.extend(loopback());
            let own = merge_ranges(own);
            let proto = ip_proto(l.proto);
            intents.push(Intent {
                id: IntentId(intents.len() as u32),
                basis: Basis::Local,
                proto,
                sources: own.clone(),
                source_names: vec![l.host.clone()],
                destinations: own,
                destination: l.host.clone(),
                destination_is_host: true,
                ports: if proto.has_ports() { l.ports.ranges().collect() } else { Vec::new() },
                src_ports: None,
                icmp_types: None,
                icmp_names: Vec::new(),
                reasons: vec![reason(&l.reason)],
            });
        }
        let known = known_ranges(plan);
        for e in &plan.egress_fqdn {
            let proto = ip_proto(e.proto);
            let sources = merge_ranges(e.sources.nets.iter().map(AddrRange::of_net).collect());
            let families: BTreeSet<bool> = sources.iter().map(|r| r.lo.is_ipv4()).collect();
            let destinations: Vec<AddrRange> = complement(&known).into_iter().filter(|r| families.contains(&r.lo.is_ipv4())).collect();
            intents.push(Intent {
                id: IntentId(intents.len() as u32),
                basis: Basis::FqdnEgress,
                proto,
                sources,
                source_names: e.sources.names().iter().map(|s| s.to_string()).collect(),
                destinations,
                destination: format!("{} ({})", e.role, e.fqdns.join(" ")),
                destination_is_host: false,
                ports: if proto.has_ports() { e.ports.ranges().collect() } else { Vec::new() },
                src_ports: None,
                icmp_types: None,
                icmp_names: Vec::new(),
                reasons: vec![reason(&e.reason)],
            });
        }
        let mut endpoints: Vec<NamedRange> = Vec::new();
        for h in &plan.hosts {
            for a in &h.addresses {
                endpoints.push(NamedRange { name: h.name.clone(), is_host: true, range: AddrRange { lo: *a, hi: *a } });
            }
        }
        let mut networks: BTreeSet<(String, AddrRange)> = BTreeSet::new();
        for c in &plan.connections {
            for ep in c.endpoints() {
                if ep.kind == EndpointKind::Network {
                    networks.extend(ep.nets.iter().map(|n| (ep.name.clone(), AddrRange::of_net(n))));
                }
            }
        }
        endpoints.extend(networks.into_iter().map(|(name, range)| NamedRange { name, is_host: false, range }));
        let forwards = plan
            .forwards
            .iter()
            .map(|f| PortForward { public: f.public, proto: ip_proto(f.proto), ports: f.ports.ranges().collect(), private: f.private })
            .collect();
        Self { inventory: plan.inventory.clone(), intents, endpoints, forwards }
    }

    pub fn get(&self, id: IntentId) -> &Intent {
        &self.intents[id.index()]
    }

    /// The inventory name of an address: its host, else the smallest
    /// network containing it.
    pub fn label(&self, a: IpAddr) -> Option<&str> {
        if let Some(h) = self.endpoints.iter().find(|e| e.is_host && e.range.contains(a)) {
            return Some(&h.name);
        }
        self.endpoints.iter().filter(|e| !e.is_host && e.range.contains(a)).min_by_key(|e| range_size(&e.range)).map(|e| e.name.as_str())
    }

    /// A short fingerprint of the table, so that a cluster can refuse to mix
    /// results of different plans.
    pub fn fingerprint(&self) -> u64 {
        // FNV-1a over the canonical JSON: stable across runs and machines.
        let json = serde_json::to_vec(self).expect("intent table serialises");
        json.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
    }
}

fn range_size(r: &AddrRange) -> u128 {
    match (r.lo, r.hi) {
        (IpAddr::V4(a), IpAddr::V4(b)) => u128::from(u32::from(b) - u32::from(a)),
        (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(b) - u128::from(a),
        _ => u128::MAX,
    }
}

fn reason(r: &portmatrix_plan::Reason) -> FlowReason {
    FlowReason { tag: r.tag(), cite: r.cite.clone(), purpose: r.purpose.clone() }
}

fn connection_intent(c: &Connection, id: IntentId) -> Intent {
    let proto = ip_proto(c.proto);
    let (icmp_types, icmp_names) = if proto.is_icmp() {
        // A type the family lacks (`packet-too-big` in ICMPv4) matches no record.
        let family = if proto == IpProto::ICMP { Proto::Icmp } else { Proto::Icmpv6 };
        let numbers: Vec<u8> = c.icmp.iter().filter_map(|t| t.number(family)).collect::<BTreeSet<u8>>().into_iter().collect();
        (Some(numbers), c.icmp.clone())
    } else {
        (None, Vec::new())
    };
    Intent {
        id,
        basis: Basis::Connection,
        proto,
        sources: merge_ranges(c.sources.nets.iter().map(AddrRange::of_net).collect()),
        source_names: c.sources.names().iter().map(|s| s.to_string()).collect(),
        destinations: merge_ranges(c.dst.nets.iter().map(AddrRange::of_net).collect()),
        destination: c.dst.name.clone(),
        destination_is_host: c.dst.kind == EndpointKind::Host,
        ports: if proto.has_ports() { c.ports.ranges().collect() } else { Vec::new() },
        src_ports: c.src_ports.as_ref().filter(|_| proto.has_ports()).map(|s| s.ranges().collect()),
        icmp_types,
        icmp_names,
        reasons: c.reasons.iter().map(|r| reason(r)).collect(),
    }
}

fn loopback() -> [AddrRange; 2] {
    [
        AddrRange { lo: IpAddr::from([127, 0, 0, 0]), hi: IpAddr::from([127, 255, 255, 255]) },
        AddrRange { lo: IpAddr::from(std::net::Ipv6Addr::LOCALHOST), hi: IpAddr::from(std::net::Ipv6Addr::LOCALHOST) },
    ]
}

/// Every address the inventory names (hosts, networks) and loopback.
fn known_ranges(plan: &Plan) -> Vec<AddrRange> {
    let mut all: Vec<AddrRange> = plan.hosts.iter().flat_map(|h| h.addresses.iter().map(|a| AddrRange { lo: *a, hi: *a })).collect();
    for c in &plan.connections {
        for ep in c.endpoints() {
            all.extend(ep.nets.iter().map(AddrRange::of_net));
        }
    }
    for e in &plan.egress_fqdn {
        for ep in &e.sources.members {
            all.extend(ep.nets.iter().map(AddrRange::of_net));
        }
    }
    all.extend(loopback());
    merge_ranges(all)
}

fn as_u128(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(v) => (true, u128::from(u32::from(v))),
        IpAddr::V6(v) => (false, u128::from(v)),
    }
}

fn from_u128(v4: bool, x: u128) -> IpAddr {
    if v4 {
        IpAddr::from(std::net::Ipv4Addr::from(x as u32))
    } else {
        IpAddr::from(std::net::Ipv6Addr::from(x))
    }
}

/// Sorts and merges overlapping or adjacent ranges of each family.
pub fn merge_ranges(mut v: Vec<AddrRange>) -> Vec<AddrRange> {
    v.retain(|r| r.lo.is_ipv4() == r.hi.is_ipv4() && r.lo <= r.hi);
    v.sort_by_key(|r| (!r.lo.is_ipv4(), as_u128(r.lo).1, as_u128(r.hi).1));
    let mut out: Vec<AddrRange> = Vec::with_capacity(v.len());
    for r in v {
        if let Some(last) = out.last_mut() {
            let (f, hi) = as_u128(last.hi);
            let (g, lo) = as_u128(r.lo);
            if f == g && lo <= hi.saturating_add(1) {
                if r.hi > last.hi {
                    last.hi = r.hi;
                }
                continue;
            }
        }
        out.push(r);
    }
    out
}

/// The addresses of both families outside `known` (merged, sorted).
fn complement(known: &[AddrRange]) -> Vec<AddrRange> {
    let mut out = Vec::new();
    for (v4, max) in [(true, u128::from(u32::MAX)), (false, u128::MAX)] {
        let mut next = Some(0u128);
        for r in known.iter().filter(|r| r.lo.is_ipv4() == v4) {
            let (lo, hi) = (as_u128(r.lo).1, as_u128(r.hi).1);
            if let Some(n) = next {
                if lo > n {
                    out.push(AddrRange { lo: from_u128(v4, n), hi: from_u128(v4, lo - 1) });
                }
            }
            next = if hi >= max { None } else { Some(hi + 1) };
        }
        if let Some(n) = next {
            out.push(AddrRange { lo: from_u128(v4, n), hi: from_u128(v4, max) });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(a: &str, b: &str) -> AddrRange {
        AddrRange { lo: a.parse().unwrap(), hi: b.parse().unwrap() }
    }

    #[test]
    fn merge_joins_adjacent_and_keeps_families_apart() {
        let m = merge_ranges(vec![r("10.0.0.5", "10.0.0.9"), r("::1", "::1"), r("10.0.0.0", "10.0.0.4"), r("10.0.0.20", "10.0.0.30")]);
        assert_eq!(m, vec![r("10.0.0.0", "10.0.0.9"), r("10.0.0.20", "10.0.0.30"), r("::1", "::1")]);
    }

    #[test]
    fn complement_covers_everything_else() {
        let c = complement(&[r("0.0.0.0", "9.255.255.255"), r("10.0.0.1", "10.0.0.1"), r("::", "::ffff")]);
        assert_eq!(c[0], r("10.0.0.0", "10.0.0.0"));
        assert_eq!(c[1], r("10.0.0.2", "255.255.255.255"));
        assert_eq!(c[2], r("::1:0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
        assert_eq!(c.len(), 3);
    }
}

/// ICMP types travel as the names a matrix writes (the model's type has no
/// `Deserialize`; the cluster path reads the table back).
mod icmp_names {
    use portmatrix_model::IcmpType;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &[IcmpType], s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IcmpType>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|n| IcmpType::parse(n).ok_or_else(|| serde::de::Error::custom(format!("unknown ICMP type {n:?}"))))
            .collect()
    }
}
