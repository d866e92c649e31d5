//! The classification written the slow, obvious way: every intent checked
//! against a record, then the priority of [`crate::intent`]. The generator
//! computes its ground truth with it, and tests compare it with the fast
//! [`crate::matcher`] and with `explain`.

use std::net::IpAddr;

use crate::intent::{Intent, IntentId, IntentTable, IpProto};
use crate::matcher::Probe;

/// Whether `intent` allows the flow `p` (the semantics of `explain`, with
/// the ICMP type when the record has one).
pub fn allows(intent: &Intent, p: &Probe) -> bool {
    let family_ok = match intent.proto {
        IpProto::ICMP => p.src.is_ipv4() && p.dst.is_ipv4(),
        IpProto::ICMPV6 => p.src.is_ipv6() && p.dst.is_ipv6(),
        _ => p.src.is_ipv4() == p.dst.is_ipv4(),
    };
    let in_addrs = |rs: &[crate::intent::AddrRange], a: IpAddr| rs.iter().any(|r| r.contains(a));
    let in_ports = |rs: &[(u16, u16)], x: u16| rs.iter().any(|&(a, b)| a <= x && x <= b);
    family_ok
        && intent.proto == p.proto
        && in_addrs(&intent.destinations, p.dst)
        && in_addrs(&intent.sources, p.src)
        && (!p.proto.has_ports() || p.dst_port.is_some_and(|d| in_ports(&intent.ports, d)))
        && match (&intent.src_ports, p.src_port) {
            (Some(sp), Some(x)) if p.proto.has_ports() => in_ports(sp, x),
            _ => true,
        }
        && match (&intent.icmp_types, p.icmp_type) {
            (Some(types), Some(t)) if p.proto.is_icmp() => types.contains(&t),
            _ => true,
        }
}

/// The intents a flow is credited to, in one direction.
pub fn match_set(table: &IntentTable, p: &Probe) -> Vec<IntentId> {
    // A forwarded public address stands for the host it is forwarded to.
    let forwarded = crate::intent::PortForward::translate(&table.forwards, p.dst, p.proto, p.dst_port.filter(|_| p.proto.has_ports()));
    let p = &Probe { dst: forwarded.unwrap_or(p.dst), ..*p };
    let all: Vec<&Intent> = table.intents.iter().filter(|i| allows(i, p)).collect();
    let Some(top) = all.iter().map(|i| i.basis).min() else { return Vec::new() };
    all.into_iter().filter(|i| i.basis == top).map(|i| i.id).collect()
}

/// The intents a record is credited to, and whether as a reply: records
/// whose initiator is unknown are tried the other way round when they
/// match nothing.
pub fn classify(table: &IntentTable, p: &Probe, oriented: bool) -> (Vec<IntentId>, bool) {
    let fwd = match_set(table, p);
    if !fwd.is_empty() || oriented {
        return (fwd, false);
    }
    let rev = match_set(table, &p.reversed());
    let reply = !rev.is_empty();
    (rev, reply)
}
