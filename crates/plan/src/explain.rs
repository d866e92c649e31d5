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

/// The connections that permit `p` (empty: not permitted).
pub fn explain<'a>(plan: &'a Plan, p: &Packet) -> Vec<&'a Connection> {
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
