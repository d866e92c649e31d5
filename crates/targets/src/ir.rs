//! The typed ruleset every backend renders, and an evaluator of it.
//!
//! Backends never read the plan's connections: they render a [`Ruleset`],
//! which carries its base policy as data (return traffic, loopback,
//! essential ICMP) and its accept rules with their reasons. The evaluator
//! answers "does this ruleset accept this packet"; the property tests compare
//! it with `explain`, and the exact check compares rulesets read back from a
//! kernel with it.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use portmatrix_model::{FlowTag, IcmpType, PortSet, Proto};
use portmatrix_plan::{Connection, EndpointKind, Packet, Plan};

use crate::groups::AddressBook;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(net: &IpNet) -> Self {
        match net {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }
    pub fn of_addr(a: &IpAddr) -> Self {
        if a.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }
    /// The ICMP protocol of this family.
    pub fn icmp(self) -> Proto {
        match self {
            Family::V4 => Proto::Icmp,
            Family::V6 => Proto::Icmpv6,
        }
    }
}

/// What a ruleset filters: a host's input, or a network firewall's forwarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Chain {
    Input,
    Forward,
}

/// Who a ruleset is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    Host(String),
    Firewall(String),
}

impl Subject {
    pub fn name(&self) -> &str {
        match self {
            Subject::Host(n) | Subject::Firewall(n) => n,
        }
    }
    pub fn describe(&self) -> String {
        match self {
            Subject::Host(n) => format!("host `{n}` (input)"),
            Subject::Firewall(n) => format!("firewall `{n}` (forward)"),
        }
    }
}

/// The rules every generated ruleset starts with, as data, so that every
/// backend renders the same policy and the evaluator knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasePolicy {
    /// Accept packets of established and related connections.
    pub return_traffic: bool,
    /// Drop packets conntrack finds invalid.
    pub drop_invalid: bool,
    /// Accept everything on the loopback interface (input only).
    pub loopback: bool,
    /// ICMP messages accepted from anywhere (errors that path MTU discovery
    /// and unreachables need; on input also IPv6 neighbour discovery).
    pub icmp: Vec<(Proto, IcmpType)>,
}

impl BasePolicy {
    pub fn for_chain(chain: Chain) -> Self {
        use IcmpType::*;
        let mut icmp: Vec<(Proto, IcmpType)> =
            [DestinationUnreachable, TimeExceeded, ParameterProblem].into_iter().map(|t| (Proto::Icmp, t)).collect();
        icmp.extend([DestinationUnreachable, PacketTooBig, TimeExceeded, ParameterProblem].into_iter().map(|t| (Proto::Icmpv6, t)));
        if chain == Chain::Input {
            // Neighbour discovery is link-local: a host needs it, a router never forwards it.
            icmp.extend([NeighborSolicitation, NeighborAdvertisement, RouterAdvertisement].into_iter().map(|t| (Proto::Icmpv6, t)));
        }
        BasePolicy { return_traffic: true, drop_invalid: true, loopback: chain == Chain::Input, icmp }
    }
    /// ICMP types of one protocol the base policy accepts.
    pub fn icmp_types(&self, proto: Proto) -> Vec<IcmpType> {
        self.icmp.iter().filter(|(p, _)| *p == proto).map(|(_, t)| *t).collect()
    }
    /// Whether the base policy accepts a new packet (not loopback, not part
    /// of an existing connection): only its ICMP messages.
    pub fn accepts(&self, p: &Packet) -> bool {
        matches!(p.icmp_type, Some(t) if self.icmp.contains(&(p.proto, t)))
    }
}

/// The name of a rule's source group: who its sources are (roles, hosts
/// or networks; see `groups.rs`), shared by every rule with the same
/// initiators. ASCII letters, digits and `_`, starting with a letter, at
/// most [`GroupName::MAX`] bytes, so every syntax takes it unquoted and a
/// backend can add `_v6` within ipset's 31-byte limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupName(Arc<str>);

impl GroupName {
    pub const MAX: usize = 28;
    /// A name read back from a ruleset, or `None` when it breaks the rules above.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= 31
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        ok.then(|| GroupName(s.into()))
    }
    /// For names `groups.rs` built from sanitised words.
    pub(crate) fn new_unchecked(s: String) -> Self {
        debug_assert!(Self::parse(&s).is_some_and(|n| n.0.len() <= Self::MAX), "{s:?}");
        GroupName(s.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for GroupName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One accept rule. `src` is never empty: a rule without an address match
/// would accept the whole world, and is never built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub family: Family,
    /// Who the sources are; `src` holds their addresses of this family
    /// (on a network firewall, those whose path crosses it).
    pub group: GroupName,
    pub src: Vec<IpNet>,
    /// Destination addresses; empty on a host's input chain (the host itself).
    pub dst: Vec<IpNet>,
    pub proto: Proto,
    pub dports: PortSet,
    pub sports: Option<PortSet>,
    /// Never empty for ICMP rules.
    pub icmp: Vec<IcmpType>,
    /// Why the rule exists.
    pub reasons: Vec<FlowTag>,
    /// On a network firewall: the zones the sources and the destination are
    /// in (zone-based appliances write a policy per zone pair).
    pub zones: Option<(String, String)>,
}

impl Rule {
    /// Reasons as one comment, shortened to fit nftables' 128-byte limit.
    pub fn comment(&self) -> String {
        comment_of(&self.reasons)
    }

    /// Whether the rule accepts `p`. An unknown source port or ICMP type
    /// (`None`) is accepted when some value would be: the same question
    /// `explain` answers.
    pub fn permits(&self, p: &Packet) -> bool {
        self.proto == p.proto
            && self.src.iter().any(|n| n.contains(&p.src))
            && (self.dst.is_empty() || self.dst.iter().any(|n| n.contains(&p.dst)))
            && (!self.proto.has_ports() || self.dports.contains(p.port))
            && match (&self.sports, p.src_port) {
                (Some(s), Some(sp)) => s.contains(sp),
                _ => true,
            }
            && (self.proto.has_ports() || p.icmp_type.is_none_or(|t| self.icmp.contains(&t)))
    }
}

/// Tags joined into one comment of at most 120 bytes (nftables allows 128).
pub fn comment_of(reasons: &[FlowTag]) -> String {
    let tags: Vec<String> = reasons.iter().map(FlowTag::to_string).collect();
    let joined = tags.join(" ");
    if joined.len() <= 120 {
        return joined;
    }
    let mut out = String::new();
    for (i, r) in tags.iter().enumerate() {
        let more = format!(" +{} more", tags.len() - i);
        if out.len() + r.len() + 1 + more.len() > 120 {
            out.push_str(&more);
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(r);
    }
    out
}

/// A port forward as a firewall renders it: packets to `public` with one
/// of `ports` go on to `private` (same ports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dnat {
    pub public: IpAddr,
    pub private: IpAddr,
    /// The host behind the forward.
    pub host: String,
    pub proto: Proto,
    pub ports: PortSet,
    /// The flows that need the forward (the plan's connections to the host
    /// on these ports); the inventory's forward itself when none does.
    pub reasons: Vec<FlowTag>,
}

impl Dnat {
    pub fn family(&self) -> Family {
        Family::of_addr(&self.public)
    }
    /// Whether the forward translates `p`.
    pub fn matches(&self, p: &Packet) -> bool {
        p.dst == self.public && p.proto == self.proto && self.ports.contains(p.port)
    }
}

/// The port forwards of firewall `fw`, each with the flows that use it.
fn dnat_of(plan: &Plan, fw: &str, warnings: &mut Vec<String>) -> Vec<Dnat> {
    let mut out = Vec::new();
    for f in plan.forwards.iter().filter(|f| f.firewall == fw) {
        let mut reasons: Vec<FlowTag> = plan
            .inbound(&f.host)
            .filter(|c| {
                c.proto == f.proto && c.dst.nets.iter().any(|n| n.contains(&f.private)) && !c.ports.intersection(&f.ports).is_empty()
            })
            // Only flows from sources whose traffic crosses this firewall.
            .filter(|c| {
                c.remote_sources().any(|s| plan.topology.path(s.zone.as_deref(), c.dst.zone.as_deref()).firewalls().iter().any(|x| x == fw))
            })
            .flat_map(|c| c.tags())
            .collect();
        reasons.sort();
        reasons.dedup();
        if reasons.is_empty() {
            warnings.push(format!(
                "port forward {}:{}/{} to {}: no planned flow uses it; the forward rules drop what it translates",
                f.public, f.ports, f.proto, f.host
            ));
            reasons.push(FlowTag::new("inventory", "port-forward"));
        }
        out.push(Dnat { public: f.public, private: f.private, host: f.host.clone(), proto: f.proto, ports: f.ports.clone(), reasons });
    }
    out
}

/// A host's input ruleset or a firewall's forward ruleset.
#[derive(Debug, Clone)]
pub struct Ruleset {
    pub subject: Subject,
    pub chain: Chain,
    pub base: BasePolicy,
    pub rules: Vec<Rule>,
    /// A network firewall's port forwards, applied before its rules judge
    /// a packet (destination NAT in prerouting).
    pub dnat: Vec<Dnat>,
    /// Addresses of the host (input rulesets), to evaluate destination matches.
    pub own: Vec<IpAddr>,
    pub warnings: Vec<String>,
}

impl Ruleset {
    pub fn name(&self) -> &str {
        self.subject.name()
    }
    pub fn forward(&self) -> bool {
        self.chain == Chain::Forward
    }
    /// Default deny: a new packet passes when the base policy or a rule
    /// accepts it, after the port forwards translated its destination. An
    /// input ruleset sees only packets to the host itself.
    pub fn permits(&self, p: &Packet) -> bool {
        let p = &self.translated(p);
        if self.chain == Chain::Input && !self.own.contains(&p.dst) {
            return false;
        }
        self.base.accepts(p) || self.rules.iter().any(|r| r.permits(p))
    }
    /// The packet as the filter sees it: with the destination a port
    /// forward translates it to (the first forward that matches, as in
    /// prerouting).
    pub fn translated(&self, p: &Packet) -> Packet {
        match self.dnat.iter().find(|d| d.matches(p)) {
            Some(d) => Packet { dst: d.private, ..*p },
            None => *p,
        }
    }
    /// The rules that accept `p` (not the base policy).
    pub fn matching(&self, p: &Packet) -> Vec<&Rule> {
        self.rules.iter().filter(|r| r.permits(p)).collect()
    }
}

fn split_family(nets: &[IpNet], fam: Family) -> Vec<IpNet> {
    nets.iter().copied().filter(|n| Family::of(n) == fam).collect()
}

/// The rules of one connection, one per address family both ends share.
fn rules_of(
    c: &Connection,
    group: &GroupName,
    src: &[IpNet],
    dst: Vec<IpNet>,
    zones: Option<(String, String)>,
    warnings: &mut Vec<String>,
) -> Vec<Rule> {
    let fams: &[Family] = match c.proto {
        Proto::Icmp => &[Family::V4],
        Proto::Icmpv6 => &[Family::V6],
        _ => &[Family::V4, Family::V6],
    };
    let dst_fams: Vec<Family> = c.dst.nets.iter().map(Family::of).collect();
    let mut out = Vec::new();
    for &fam in fams.iter().filter(|f| dst_fams.contains(f)) {
        let s = split_family(src, fam);
        if s.is_empty() {
            // Never a rule without an address match: that would widen it to everyone.
            let other = if fam == Family::V4 { Family::V6 } else { Family::V4 };
            if fams.len() == 1 || split_family(src, other).is_empty() {
                let tags: Vec<String> = c.tags().iter().map(FlowTag::to_string).collect();
                warnings.push(format!(
                    "dropped {} to {} ({}): no source address of the {fam:?} family",
                    c.service(),
                    c.dst.name,
                    tags.join(" ")
                ));
            }
            continue;
        }
        out.push(Rule {
            family: fam,
            group: group.clone(),
            src: s,
            dst: split_family(&dst, fam),
            proto: c.proto,
            dports: c.ports.clone(),
            sports: c.src_ports.clone(),
            icmp: c.icmp.clone(),
            reasons: c.tags(),
            zones: zones.clone(),
        });
    }
    out
}

/// Why a ruleset cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesetError {
    UnknownHost { name: String, known: Vec<String> },
    Unmanaged(String),
    UnknownFirewall { name: String, known: Vec<String> },
}

impl std::fmt::Display for RulesetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
        match self {
            RulesetError::UnknownHost { name, known } => write!(f, "no host `{name}` in the inventory; hosts: {}", list(known)),
            RulesetError::Unmanaged(n) => write!(f, "host `{n}` is not managed (managed: false): no rules are compiled for it"),
            RulesetError::UnknownFirewall { name, known } => write!(f, "no firewall `{name}` in the inventory; firewalls: {}", list(known)),
        }
    }
}

impl std::error::Error for RulesetError {}

/// The input ruleset of a managed host.
pub fn host_ruleset(plan: &Plan, host: &str) -> Result<Ruleset, RulesetError> {
    host_ruleset_with(plan, &AddressBook::of(plan), plan.inbound(host), host)
}

/// The input ruleset of a managed host from its inbound connections, with
/// group names from `book` (compiling many hosts computes both once).
pub fn host_ruleset_with<'p>(
    plan: &'p Plan,
    book: &AddressBook,
    inbound: impl IntoIterator<Item = &'p Connection>,
    host: &str,
) -> Result<Ruleset, RulesetError> {
    let h = plan
        .host(host)
        .ok_or_else(|| RulesetError::UnknownHost { name: host.to_string(), known: plan.hosts.iter().map(|h| h.name.clone()).collect() })?;
    if !h.managed {
        return Err(RulesetError::Unmanaged(host.to_string()));
    }
    let mut warnings = Vec::new();
    let mut rules: Vec<Rule> = Vec::new();
    for c in inbound {
        rules.extend(rules_of(c, &book.name(&c.sources), &c.sources.nets, Vec::new(), None, &mut warnings));
    }
    Ok(Ruleset {
        subject: Subject::Host(host.to_string()),
        chain: Chain::Input,
        base: BasePolicy::for_chain(Chain::Input),
        rules,
        dnat: Vec::new(),
        own: h.addresses.clone(),
        warnings,
    })
}

/// The forward ruleset of a network firewall: for every connection, the
/// sources whose path to the destination crosses this firewall.
pub fn firewall_ruleset(plan: &Plan, fw: &str) -> Result<Ruleset, RulesetError> {
    firewall_ruleset_with(plan, &AddressBook::of(plan), fw)
}

/// [`firewall_ruleset`] with group names from `book`.
pub fn firewall_ruleset_with(plan: &Plan, book: &AddressBook, fw: &str) -> Result<Ruleset, RulesetError> {
    if plan.firewall(fw).is_none() {
        return Err(RulesetError::UnknownFirewall { name: fw.to_string(), known: plan.firewalls.iter().map(|f| f.name.clone()).collect() });
    }
    let mut warnings = Vec::new();
    let mut rules = Vec::new();
    for c in &plan.connections {
        let crossing: Vec<&portmatrix_plan::Endpoint> = c
            .remote_sources()
            .filter(|s| plan.topology.path(s.zone.as_deref(), c.dst.zone.as_deref()).firewalls().iter().any(|f| f == fw))
            .collect();
        if crossing.is_empty() {
            continue;
        }
        let dst = if c.dst.kind == EndpointKind::Host { c.dst.nets.clone() } else { IpNet::aggregate(&c.dst.nets) };
        // One rule per source zone (a crossing source always has one).
        let mut by_zone: std::collections::BTreeMap<&str, Vec<&portmatrix_plan::Endpoint>> = std::collections::BTreeMap::new();
        for m in &crossing {
            by_zone.entry(m.zone.as_deref().unwrap_or_default()).or_default().push(m);
        }
        for (zone, members) in by_zone {
            let src = IpNet::aggregate(&members.iter().flat_map(|m| m.nets.iter().copied()).collect::<Vec<_>>());
            // Named by the members it holds: all of the group, or some.
            let group = if members.len() == c.sources.members.len() { book.name(&c.sources) } else { book.subset(members.iter().copied()) };
            let zones = Some((zone.to_string(), c.dst.zone.clone().unwrap_or_default()));
            rules.extend(rules_of(c, &group, &src, dst.clone(), zones, &mut warnings));
        }
    }
    let dnat = dnat_of(plan, fw, &mut warnings);
    Ok(Ruleset {
        subject: Subject::Firewall(fw.to_string()),
        chain: Chain::Forward,
        base: BasePolicy::for_chain(Chain::Forward),
        rules,
        dnat,
        own: Vec::new(),
        warnings,
    })
}
