//! Is a given packet permitted by the plan, and by which flows?

use std::net::IpAddr;

use portmatrix_model::{IcmpType, Proto};

use crate::types::{Connection, Plan};

/// A packet as `explain` asks about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: Proto,
    /// Destination port; ignored for ICMP.
    pub port: u16,
    /// Source port; `None` asks whether *some* source port is allowed (the
    /// ruleset evaluator answers the same question the same way).
    pub src_port: Option<u16>,
    /// ICMP type (for icmp/icmpv6); `None` asks whether *some* type is allowed.
    pub icmp_type: Option<IcmpType>,
}

impl Packet {
    /// A TCP/UDP/SCTP packet to `port`, from an unspecified source port.
    pub fn to_port(src: IpAddr, dst: IpAddr, proto: Proto, port: u16) -> Self {
        Packet { src, dst, proto, port, src_port: None, icmp_type: None }
    }
}

/// The connections that permit `p` (empty: not permitted). A packet to a
/// forwarded public address is judged as the firewall forwards it: to the
/// host's own address.
pub fn explain<'a>(plan: &'a Plan, p: &Packet) -> Vec<&'a Connection> {
    let translated;
    let p = match plan.forward_for(p.dst, p.proto, p.port) {
        Some(f) => {
            translated = Packet { dst: f.private, ..*p };
            &translated
        }
        None => p,
    };
    // ICMP is IPv4's, ICMPv6 is IPv6's: a packet of the other family never matches.
    let family_ok = match p.proto {
        Proto::Icmp => p.src.is_ipv4() && p.dst.is_ipv4(),
        Proto::Icmpv6 => p.src.is_ipv6() && p.dst.is_ipv6(),
        _ => p.src.is_ipv4() == p.dst.is_ipv4(),
    };
    if !family_ok {
        return Vec::new();
    }
    plan.connections
        .iter()
        .filter(|c| {
            c.proto == p.proto
                && c.dst.nets.iter().any(|n| n.contains(&p.dst))
                && c.sources.nets.iter().any(|n| n.contains(&p.src))
                && (!p.proto.has_ports() || c.ports.contains(p.port))
                && match (&c.src_ports, p.src_port) {
                    (Some(sp), Some(port)) => sp.contains(port),
                    _ => true,
                }
                && (p.proto.has_ports() || p.icmp_type.is_none_or(|t| c.icmp.contains(&t)))
        })
        .collect()
}

/// A host or network name, or an address, as a user names an end.
fn addresses_of(plan: &Plan, end: &str) -> Result<(Option<String>, Vec<IpAddr>), String> {
    if let Ok(a) = end.parse::<IpAddr>() {
        return Ok((plan.endpoint_of(a).map(|e| e.name), vec![a]));
    }
    if let Some(h) = plan.host(end) {
        return Ok((Some(h.name.clone()), h.addresses.clone()));
    }
    let networks = || plan.connections.iter().flat_map(|c| c.endpoints()).filter(|e| e.kind == crate::EndpointKind::Network);
    match networks().find(|e| e.name == end) {
        Some(n) => Ok((Some(n.name.clone()), n.nets.iter().map(|n| n.hosts().next().unwrap_or(n.addr())).collect())),
        None => {
            let near = portmatrix_model::diag::did_you_mean(
                end,
                plan.hosts.iter().map(|h| h.name.as_str()).chain(networks().map(|e| e.name.as_str())),
            );
            if let Some(near) = near {
                return Err(format!("`{end}` is neither an address nor a host or network of the plan; did you mean `{near}`?"));
            }
            let mut names: Vec<&str> = plan.hosts.iter().map(|h| h.name.as_str()).collect();
            names.truncate(12);
            Err(format!("`{end}` is neither an address nor a host or network of the plan; hosts: {}", names.join(", ")))
        }
    }
}

/// The answer to "may A reach B on P", for one pair of addresses.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Explanation {
    pub packet: ExplainedPacket,
    /// The host or network each address belongs to.
    pub from: Option<String>,
    pub to: Option<String>,
    pub permitted: bool,
    /// Both ends on one host: no rule is involved.
    pub local: bool,
    /// The flows that permit it (product/flow, purpose, cite).
    pub by: Vec<std::sync::Arc<crate::Reason>>,
    /// What enforces it: the destination's host firewall and the network
    /// firewalls on the path (absent for local traffic).
    pub enforced_by: Option<crate::Enforcement>,
    /// The port forward that translates the destination, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded: Option<crate::Forward>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ExplainedPacket {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: Proto,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<IcmpType>,
}

/// Explains every pair of addresses of `from` and `to` (names or
/// addresses) of one family that the protocol allows.
pub fn explain_between(
    plan: &Plan,
    from: &str,
    to: &str,
    proto: Proto,
    port: u16,
    src_port: Option<u16>,
    icmp_type: Option<IcmpType>,
) -> Result<Vec<Explanation>, String> {
    let (from_name, srcs) = addresses_of(plan, from)?;
    let (to_name, dsts) = addresses_of(plan, to)?;
    let mut out = Vec::new();
    for &src in &srcs {
        for &dst in dsts.iter().filter(|d| d.is_ipv4() == src.is_ipv4()) {
            let pkt = Packet { src, dst, proto, port, src_port, icmp_type };
            let local = from_name.is_some() && from_name == to_name && plan.host(from_name.as_deref().unwrap_or_default()).is_some();
            let (permitted, by, enforced_by) = if local {
                let host = from_name.as_deref().unwrap_or_default();
                let by: Vec<_> = plan
                    .local
                    .iter()
                    .filter(|l| l.host == host && l.proto == proto && (!proto.has_ports() || l.ports.contains(port)))
                    .map(|l| l.reason.clone())
                    .collect();
                (true, by, None)
            } else {
                let hits = explain(plan, &pkt);
                let by = hits.iter().flat_map(|c| c.reasons.iter().cloned()).collect();
                let enforcement = hits.first().map(|c| {
                    let src_ep = c.sources.members.iter().find(|m| m.nets.iter().any(|n| n.contains(&src))).cloned();
                    src_ep.map(|s| plan.enforcement(&s, c))
                });
                let enforcement = enforcement.flatten().or_else(|| Some(enforcement_of(plan, src, dst)));
                (!hits.is_empty(), by, enforcement)
            };
            let packet = ExplainedPacket {
                src,
                dst,
                proto,
                port: proto.has_ports().then_some(port),
                src_port,
                icmp_type: (!proto.has_ports()).then_some(icmp_type).flatten(),
            };
            let forwarded = plan.forward_for(dst, proto, port).cloned();
            out.push(Explanation { packet, from: from_name.clone(), to: to_name.clone(), permitted, local, by, enforced_by, forwarded });
        }
    }
    if out.is_empty() {
        return Err(format!("`{from}` and `{to}` share no address family"));
    }
    Ok(out)
}

/// What would enforce traffic between two addresses, whether permitted or not.
fn enforcement_of(plan: &Plan, src: IpAddr, dst: IpAddr) -> crate::Enforcement {
    let s = plan.endpoint_of(src);
    let d = plan.endpoint_of(dst);
    let host_firewall = d.as_ref().is_some_and(|d| d.kind == crate::EndpointKind::Host && plan.host(&d.name).is_some_and(|h| h.managed));
    let path = plan.topology.path(s.as_ref().and_then(|s| s.zone.as_deref()), d.as_ref().and_then(|d| d.zone.as_deref()));
    crate::Enforcement { host_firewall, path }
}
