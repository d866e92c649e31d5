//! Independent answers for single packets: what the plan intends (through
//! the IR's own evaluator, `Ruleset::permits`), and packets built from a
//! rule of a read-back ruleset.

#![allow(dead_code)]

use std::net::IpAddr;

use portmatrix_model::{IcmpType, Proto};
use portmatrix_proof::space::State;
use portmatrix_proof::Packet;
use portmatrix_targets::read::{addr_of, Clause, Cond, Dim, Rule, Test, Values, FAMILY_V6};
use portmatrix_targets::{Chain, Family, Ruleset};

pub fn proto_of_model(p: Proto) -> u8 {
    match p {
        Proto::Tcp => 6,
        Proto::Udp => 17,
        Proto::Sctp => 132,
        Proto::Icmp => 1,
        Proto::Icmpv6 => 58,
    }
}

pub fn proto_of(n: u8) -> Option<Proto> {
    match n {
        6 => Some(Proto::Tcp),
        17 => Some(Proto::Udp),
        132 => Some(Proto::Sctp),
        1 => Some(Proto::Icmp),
        58 => Some(Proto::Icmpv6),
        _ => None,
    }
}

/// Whether the plan intends `p`, by the IR's evaluator and the base policy
/// as data (return traffic, invalid packets, loopback).
pub fn intended(rs: &Ruleset, p: &Packet) -> bool {
    match p.ct_state {
        State::Established | State::Related => return rs.base.return_traffic,
        State::Invalid if rs.base.drop_invalid => return false,
        _ => {}
    }
    if rs.chain == Chain::Input && rs.base.loopback && p.iif.as_deref() == Some("lo") {
        return true;
    }
    if rs.chain == Chain::Forward && (p.iif.as_deref() == Some("lo") || p.oif.as_deref() == Some("lo")) {
        return false;
    }
    let Some(proto) = proto_of(p.protocol) else { return false };
    // ICMP is IPv4's and ICMPv6 IPv6's (as `explain` says; `BasePolicy::accepts`
    // alone does not look at the family).
    if (proto == Proto::Icmp && !p.src.is_ipv4()) || (proto == Proto::Icmpv6 && p.src.is_ipv4()) {
        return false;
    }
    let icmp_type = p.icmp_type.map(|t| IcmpType::from_number(proto, t));
    if let Some(None) = icmp_type {
        // A type the model has no name for: nothing plans it.
        return false;
    }
    let pk = portmatrix_plan::Packet {
        src: p.src,
        dst: p.dst,
        proto,
        port: p.dst_port.unwrap_or(0),
        src_port: p.src_port,
        icmp_type: icmp_type.flatten(),
    };
    if proto.has_ports() != p.dst_port.is_some() {
        return false;
    }
    rs.permits(&pk)
}

/// A plain new-connection packet.
pub fn packet(src: IpAddr, dst: IpAddr, protocol: u8, dport: Option<u16>, icmp: Option<u8>, iif: &str, oif: Option<&str>) -> Packet {
    let ports = matches!(protocol, 6 | 17 | 33 | 132 | 136);
    Packet {
        family: if src.is_ipv4() { 4 } else { 6 },
        src,
        dst,
        protocol,
        protocol_name: portmatrix_targets::read::proto_name(protocol),
        src_port: ports.then_some(49152),
        dst_port: if ports { Some(dport.unwrap_or(1)) } else { None },
        icmp_type: if matches!(protocol, 1 | 58) { Some(icmp.unwrap_or(0)) } else { None },
        icmp_type_name: None,
        iif: Some(iif.to_string()),
        oif: oif.map(str::to_string),
        ct_state: State::New,
    }
}

fn lo_of(v: &Values) -> Option<u128> {
    match v {
        Values::Ranges(r) => r.first().map(|x| x.0),
        Values::Names(_) => None,
    }
}

/// A packet the terms allow: the low end of each range, the host's own
/// address (or `dst`) as destination, an ordinary interface.
pub fn packet_of_terms(terms: &[(Dim, Values)], dst: &dyn Fn(Family) -> Option<IpAddr>, forward: bool) -> Option<Packet> {
    let get = |d: Dim| terms.iter().rev().find(|(x, _)| *x == d).and_then(|(_, v)| lo_of(v));
    let fam = match get(Dim::Family) {
        Some(f) if f == FAMILY_V6 => Family::V6,
        Some(_) => Family::V4,
        None => match get(Dim::Src).or(get(Dim::Dst)) {
            Some(a) if a > u32::MAX as u128 => Family::V6,
            _ => Family::V4,
        },
    };
    let proto = get(Dim::Proto)? as u8;
    let src = addr_of(fam, get(Dim::Src).unwrap_or(if fam == Family::V4 { 0xc612_0001 } else { 0x2001_0db8_ffff << 80 }));
    let dst = match get(Dim::Dst) {
        Some(d) => addr_of(fam, d),
        None => dst(fam)?,
    };
    let mut p =
        packet(src, dst, proto, get(Dim::Dport).map(|x| x as u16), get(Dim::IcmpType).map(|x| x as u8), "eth9", forward.then_some("eth8"));
    if let (Some(s), Some(sp)) = (get(Dim::Sport), p.src_port.as_mut()) {
        *sp = s as u16;
    }
    Some(p)
}

/// The terms a rule's non-negated conditions require, taking `pick` as the
/// clause of the condition it belongs to (a set element), else the first.
pub fn rule_terms(rule: &Rule, pick: Option<&Clause>) -> Vec<(Dim, Values)> {
    let mut terms = Vec::new();
    for c in &rule.conds {
        terms.extend(c.requires.iter().cloned());
        if let (false, Test::Region(cl)) = (c.negated, &c.test) {
            let chosen = pick.filter(|p| cl.iter().any(|x| x == *p)).or(cl.first());
            if let Some(x) = chosen {
                terms.extend(x.terms.iter().cloned());
            }
        }
    }
    terms
}

/// The first set-lookup condition of a rule, if any.
pub fn set_cond<'a>(rule: &'a Rule, set: &str) -> Option<&'a Cond> {
    rule.conds.iter().find(|c| matches!(&c.test, Test::Region(cl) if cl.iter().any(|x| x.origin.as_ref().is_some_and(|o| o.set == set))))
}
