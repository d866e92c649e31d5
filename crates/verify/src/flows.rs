//! From a plan to probes: which ports each responder listens on and which
//! targets each source probes. The responder and the prober both derive their
//! sides from the same plan with the same sampling, so they agree.
//!
//! Per connection, at most [`ProbeOptions::ports_per_connection`] ports are
//! probed (first, last and evenly spaced). Negative checks, per source and
//! destination host it has flows to: a port of another flow to that host that
//! the source is not allowed, and ports from a fixed list of well-known
//! services (databases, SMB, telnet, SNMP, ...) that no flow opens there. The
//! responder listens on those too, so a pass means the firewall let it in.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use portmatrix_model::Proto as PlanProto;
use portmatrix_plan::{Connection, EndpointKind, Plan};

use crate::probe::{Expect, Target};
use crate::{sample_ports, PortSet, Proto};

/// Well-known admin, file-sharing and database ports (TCP), probed as "must
/// not be reachable" where no flow opens them.
pub const NEGATIVE_TCP: [u16; 8] = [22, 3389, 3306, 5432, 1433, 445, 23, 6379];
/// The same for UDP.
pub const NEGATIVE_UDP: [u16; 3] = [161, 69, 1900];

#[derive(Debug, Clone)]
pub struct ProbeOptions {
    pub ports_per_connection: usize,
    /// Negative probes per ordered pair of endpoints, at most.
    pub negatives_per_pair: usize,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions { ports_per_connection: 8, negatives_per_pair: 5 }
    }
}

/// A host or network that can send or answer probes, with the addresses it
/// has (a network gets representative addresses in the lab).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub kind: EndpointKind,
    pub zone: Option<String>,
    pub addrs: Vec<IpAddr>,
    /// Rules are compiled for it (a managed host).
    pub managed: bool,
}

/// The inventory's hosts, with their addresses.
pub fn host_nodes(plan: &Plan) -> Vec<Node> {
    plan.hosts
        .iter()
        .filter(|h| !h.addresses.is_empty())
        .map(|h| Node {
            name: h.name.clone(),
            kind: EndpointKind::Host,
            zone: h.zone.clone(),
            addrs: h.addresses.clone(),
            managed: h.managed,
        })
        .collect()
}

/// Hosts plus, for every network a connection names, a node with one
/// representative address per family: an address of the network that is no
/// host's, no other representative's and in no more specific network.
pub fn lab_nodes(plan: &Plan) -> Vec<Node> {
    let mut nodes = host_nodes(plan);
    let mut taken: BTreeSet<IpAddr> = nodes.iter().flat_map(|n| n.addrs.iter().copied()).collect();
    let mut networks: BTreeMap<&str, (Option<&str>, Vec<IpNet>)> = BTreeMap::new();
    for c in &plan.connections {
        for e in c.endpoints() {
            if e.kind == EndpointKind::Network {
                networks.entry(&e.name).or_insert((e.zone.as_deref(), e.nets.clone()));
            }
        }
    }
    let all_nets: Vec<IpNet> = networks.values().flat_map(|(_, n)| n.iter().copied()).collect();
    for (name, (zone, nets)) in &networks {
        let mut addrs = Vec::new();
        for v6 in [false, true] {
            let fam: Vec<&IpNet> = nets.iter().filter(|n| matches!(n, IpNet::V6(_)) == v6).collect();
            let pick = fam.iter().find_map(|net| representative(net, &all_nets, &taken));
            if let Some(a) = pick {
                taken.insert(a);
                addrs.push(a);
            }
        }
        if !addrs.is_empty() {
            nodes.push(Node { name: name.to_string(), kind: EndpointKind::Network, zone: zone.map(str::to_string), addrs, managed: false });
        }
    }
    nodes
}

fn representative(net: &IpNet, all: &[IpNet], taken: &BTreeSet<IpAddr>) -> Option<IpAddr> {
    let candidates: Vec<IpAddr> = match net {
        IpNet::V4(n) if n.prefix_len() == 32 => vec![n.addr().into()],
        IpNet::V6(n) if n.prefix_len() == 128 => vec![n.addr().into()],
        IpNet::V4(n) => {
            // Very wide networks (the internet): use the benchmark range.
            let base = if n.prefix_len() < 8 && n.contains(&Ipv4Addr::new(198, 18, 0, 0)) {
                u32::from(Ipv4Addr::new(198, 18, 0, 0))
            } else {
                u32::from(n.network())
            };
            (10..200u32).map(|i| IpAddr::V4(Ipv4Addr::from(base.wrapping_add(i)))).collect()
        }
        IpNet::V6(n) => {
            let probe: Ipv6Addr = "fd00:9f::".parse().expect("literal");
            let base = if n.prefix_len() < 8 && n.contains(&probe) { u128::from(probe) } else { u128::from(n.network()) };
            (0x10..0xc8u128).map(|i| IpAddr::V6(Ipv6Addr::from(base.wrapping_add(i)))).collect()
        }
    };
    candidates
        .into_iter()
        .find(|a| net.contains(a) && !taken.contains(a) && !all.iter().any(|o| o.prefix_len() > net.prefix_len() && o.contains(a)))
}

/// What each responder listens on and what each source probes.
#[derive(Debug, Clone, Default)]
pub struct ProbePlan {
    /// Node → (proto, ports) to listen on.
    pub listen: BTreeMap<String, Vec<(Proto, PortSet)>>,
    /// Source node → targets, required flows first.
    pub targets: BTreeMap<String, Vec<Target>>,
    /// Flows between roles on one host: nothing to probe.
    pub local: Vec<(String, portmatrix_model::FlowTag)>,
    /// What could not be probed, and why.
    pub notes: Vec<String>,
}

fn probe_proto(c: &Connection) -> Option<(Proto, bool)> {
    match c.proto {
        PlanProto::Tcp => Some((Proto::Tcp, false)),
        PlanProto::Udp => Some((Proto::Udp, false)),
        PlanProto::Icmp | PlanProto::Icmpv6 => {
            let echo = c.icmp.contains(&portmatrix_model::IcmpType::EchoRequest);
            echo.then_some((Proto::Icmp, c.proto == PlanProto::Icmpv6))
        }
        PlanProto::Sctp => None,
    }
}

/// Ports that can be probed (not 0).
fn probeable(p: &PortSet) -> PortSet {
    p.difference(&PortSet::single(0))
}

/// The Linux default ephemeral port range.
const EPHEMERAL: (u16, u16) = (32768, 60999);

/// A source port to send from when the flow's source ports do not cover the
/// ephemeral range (e.g. TAPI from port 2748).
fn fixed_src_port(c: &Connection) -> Option<u16> {
    let sp = c.src_ports.as_ref()?;
    if PortSet::range(EPHEMERAL.0, EPHEMERAL.1).is_subset(sp) {
        return None;
    }
    probeable(sp).first()
}

fn is_source(c: &Connection, addrs: &[IpAddr]) -> bool {
    addrs.iter().any(|a| c.sources.nets.iter().any(|n| n.contains(a)))
}

/// The probe plan over `nodes` (hosts only for a real deployment; hosts and
/// network stand-ins in the lab). Connections to endpoints that are not
/// nodes are noted and skipped.
pub fn probe_plan(plan: &Plan, nodes: &[Node], opts: &ProbeOptions) -> ProbePlan {
    let by_name: BTreeMap<&str, &Node> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut out = ProbePlan::default();
    let mut listen: BTreeMap<String, BTreeMap<Proto, BTreeSet<u16>>> = BTreeMap::new();
    // (source, addr, proto, port) -> target
    let mut targets: BTreeMap<String, BTreeMap<(IpAddr, Proto, u16), Target>> = BTreeMap::new();
    let mut noted = BTreeSet::new();

    for c in &plan.connections {
        let Some((proto, v6_only)) = probe_proto(c) else {
            if noted.insert(format!("{} {}", c.proto, c.dst.name)) {
                out.notes.push(format!(
                    "{} to {} ({}): not probed (only tcp, udp and icmp echo are)",
                    c.service(),
                    c.dst.name,
                    c.tags().iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
                ));
            }
            continue;
        };
        let Some(dst) = by_name.get(c.dst.name.as_str()) else {
            if noted.insert(format!("dst {}", c.dst.name)) {
                out.notes.push(format!("{}: a network, not probed outside the lab", c.dst.name));
            }
            continue;
        };
        let ports: Vec<u16> = if proto == Proto::Icmp { vec![0] } else { sample_ports(&probeable(&c.ports), opts.ports_per_connection) };
        let src_port = fixed_src_port(c);
        if proto != Proto::Icmp {
            listen.entry(dst.name.clone()).or_default().entry(proto).or_default().extend(ports.iter().copied());
        }
        let dst_addrs: Vec<IpAddr> = dst
            .addrs
            .iter()
            .copied()
            .filter(|a| c.dst.nets.iter().any(|n| n.contains(a)) || dst.kind == EndpointKind::Network)
            .filter(|a| proto != Proto::Icmp || a.is_ipv6() == v6_only)
            .collect();
        for src in nodes {
            if src.name == dst.name || !is_source(c, &src.addrs) {
                continue;
            }
            for &addr in &dst_addrs {
                let Some(&src_addr) =
                    src.addrs.iter().find(|s| s.is_ipv4() == addr.is_ipv4() && c.sources.nets.iter().any(|n| n.contains(*s)))
                else {
                    continue; // no source address of this family in the flow
                };
                // Several addresses of the family: send from the allowed one.
                let pin = src.addrs.iter().filter(|s| s.is_ipv4() == addr.is_ipv4()).count() > 1;
                for &port in &ports {
                    let t = targets.entry(src.name.clone()).or_default().entry((addr, proto, port)).or_insert_with(|| {
                        let mut t = Target::new(addr, proto, port).host(&dst.name).source(&src.name);
                        t.src_port = src_port;
                        t.src_addr = pin.then_some(src_addr);
                        t
                    });
                    for tag in c.tags() {
                        if !t.flows.contains(&tag) {
                            t.flows.push(tag);
                        }
                    }
                }
            }
        }
    }
    for l in &plan.local {
        out.local.push((l.host.clone(), l.reason.tag()));
    }

    negatives(plan, nodes, opts, &mut listen, &mut targets);
    forwarded(plan, nodes, opts, &mut listen, &mut targets);

    out.listen = listen
        .into_iter()
        .map(|(n, m)| (n, m.into_iter().map(|(p, ports)| (p, ports.into_iter().collect::<PortSet>())).collect()))
        .collect();
    out.targets = targets
        .into_iter()
        .map(|(s, m)| {
            let mut v: Vec<Target> = m.into_values().collect();
            v.sort_by_key(|t| t.expect == Expect::Block);
            (s, v)
        })
        .collect();
    out
}

/// Negative probes for every ordered pair of nodes (managed and unmanaged
/// hosts, network stand-ins): near-miss ports first — ports the destination
/// opens to other sources, the ports either side of each of its open ranges
/// — then well-known admin and database ports; only ports the plan forbids
/// from this source (as `explain` says), at most `negatives_per_pair`.
fn negatives(
    plan: &Plan,
    nodes: &[Node],
    opts: &ProbeOptions,
    listen: &mut BTreeMap<String, BTreeMap<Proto, BTreeSet<u16>>>,
    targets: &mut BTreeMap<String, BTreeMap<(IpAddr, Proto, u16), Target>>,
) {
    for dst in nodes {
        // (proto, port ranges) open towards this destination, from anyone.
        let open: Vec<(Proto, PortSet)> = plan
            .connections
            .iter()
            .filter(|c| c.dst.name == dst.name && c.dst.kind == dst.kind)
            .filter_map(|c| probe_proto(c).filter(|(p, _)| *p != Proto::Icmp).map(|(p, _)| (p, probeable(&c.ports))))
            .collect();
        for src in nodes.iter().filter(|s| s.name != dst.name) {
            let picks = near_misses(plan, src, dst, &open, opts.negatives_per_pair);
            if picks.is_empty() {
                continue;
            }
            for (proto, port) in picks {
                listen.entry(dst.name.clone()).or_default().entry(proto).or_default().insert(port);
                for &addr in dst.addrs.iter().filter(|a| src.addrs.iter().any(|s| s.is_ipv4() == a.is_ipv4())) {
                    let t = Target::new(addr, proto, port).host(&dst.name).source(&src.name).expect(Expect::Block);
                    targets.entry(src.name.clone()).or_default().entry((addr, proto, port)).or_insert(t);
                }
            }
        }
    }
}

/// Probes of the port forwards: from every node in a zone of the
/// forwarding firewall to the public address, on sampled forwarded ports;
/// required where the plan permits the translated packet (a `nat` verdict:
/// answered by the host on its own address), forbidden elsewhere (the
/// firewall translates it, its rules drop it).
fn forwarded(
    plan: &Plan,
    nodes: &[Node],
    opts: &ProbeOptions,
    listen: &mut BTreeMap<String, BTreeMap<Proto, BTreeSet<u16>>>,
    targets: &mut BTreeMap<String, BTreeMap<(IpAddr, Proto, u16), Target>>,
) {
    for f in &plan.forwards {
        let proto = match f.proto {
            PlanProto::Tcp => Proto::Tcp,
            PlanProto::Udp => Proto::Udp,
            _ => continue,
        };
        let Some(zones) = plan.firewall(&f.firewall).map(|fw| &fw.zones) else { continue };
        let ports = sample_ports(&probeable(&f.ports), opts.ports_per_connection);
        listen.entry(f.host.clone()).or_default().entry(proto).or_default().extend(ports.iter().copied());
        let sources = nodes.iter().filter(|n| n.name != f.host && n.zone.as_ref().is_some_and(|z| zones.contains(z)));
        for src in sources {
            let Some(&from) = src.addrs.iter().find(|a| a.is_ipv4() == f.public.is_ipv4()) else { continue };
            for &port in &ports {
                let permitted = portmatrix_plan::explain(plan, &portmatrix_plan::Packet::to_port(from, f.public, f.proto, port));
                let mut t = Target::new(f.public, proto, port).host(&f.host).source(&src.name);
                t.src_addr = (src.addrs.iter().filter(|a| a.is_ipv4() == from.is_ipv4()).count() > 1).then_some(from);
                if permitted.is_empty() {
                    t = t.expect(Expect::Block);
                }
                for tag in permitted.iter().flat_map(|c| c.tags()) {
                    if !t.flows.contains(&tag) {
                        t.flows.push(tag);
                    }
                }
                targets.entry(src.name.clone()).or_default().insert((f.public, proto, port), t);
            }
        }
    }
}

/// The near-miss ports from `src` to `dst` that the plan forbids.
fn near_misses(plan: &Plan, src: &Node, dst: &Node, open: &[(Proto, PortSet)], limit: usize) -> Vec<(Proto, u16)> {
    let forbidden = |proto: Proto, port: u16| {
        let pp = match proto {
            Proto::Tcp => PlanProto::Tcp,
            Proto::Udp => PlanProto::Udp,
            Proto::Icmp => return false,
        };
        src.addrs.iter().all(|s| {
            dst.addrs
                .iter()
                .filter(|d| d.is_ipv4() == s.is_ipv4())
                .all(|d| portmatrix_plan::explain(plan, &portmatrix_plan::Packet::to_port(*s, *d, pp, port)).is_empty())
        })
    };
    let mut candidates: Vec<(Proto, u16)> = Vec::new();
    for (proto, ports) in open {
        candidates.extend(ports.first().map(|p| (*proto, p)));
    }
    for (proto, ports) in open {
        for (lo, hi) in ports.ranges().take(2) {
            candidates.extend(lo.checked_sub(1).filter(|p| *p > 0).map(|p| (*proto, p)));
            candidates.extend(hi.checked_add(1).map(|p| (*proto, p)));
        }
    }
    let (mut t, mut u) = (NEGATIVE_TCP.iter().map(|p| (Proto::Tcp, *p)), NEGATIVE_UDP.iter().map(|p| (Proto::Udp, *p)));
    loop {
        let (a, b) = (t.next(), u.next());
        if a.is_none() && b.is_none() {
            break;
        }
        candidates.extend(a);
        candidates.extend(b);
    }
    let mut picks: Vec<(Proto, u16)> = Vec::new();
    for c in candidates {
        if picks.len() >= limit {
            break;
        }
        if !picks.contains(&c) && forbidden(c.0, c.1) {
            picks.push(c);
        }
    }
    picks
}
