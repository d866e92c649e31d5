//! The packet space of new connections and its boxes.
//!
//! A packet is a point in ten dimensions: family, protocol, destination,
//! source, destination port, source port, ICMP type, input interface,
//! output interface, and its connection's conntrack state. Addresses are u128 (IPv4 in the low 32 bits, its
//! family dimension set apart); interfaces are classes of names (each name a
//! ruleset mentions, each wildcard's remaining names, and "any other").
//! Dimensions a protocol does not have (ports of ICMP, the type of TCP)
//! hold 0, so that each packet is one point.

use std::net::IpAddr;

use portmatrix_targets::read::{addr_of, icmp_type_name, proto_name, Dim, IfName, Values, FAMILY_V4, FAMILY_V6, ICMP, ICMPV6, PORT_PROTOS};
use portmatrix_targets::Family;
use serde::Serialize;

pub const D: usize = 10;
pub const FAM: usize = 0;
pub const PROTO: usize = 1;
pub const DST: usize = 2;
pub const SRC: usize = 3;
pub const DPORT: usize = 4;
pub const SPORT: usize = 5;
pub const ITYPE: usize = 6;
pub const IIF: usize = 7;
pub const OIF: usize = 8;
/// Conntrack state: [`CT_NEW`], established, related, invalid, untracked.
pub const CT: usize = 9;

pub const CT_NEW: u128 = 0;
pub const CT_ESTABLISHED: u128 = 1;
pub const CT_RELATED: u128 = 2;
pub const CT_INVALID: u128 = 3;
pub const CT_UNTRACKED: u128 = 4;

/// An inclusive interval of one dimension.
pub type Iv = (u128, u128);

/// A box: one inclusive interval per dimension.
pub type Bx = [Iv; D];

/// The position of a model dimension in a box.
pub fn index(d: Dim) -> usize {
    match d {
        Dim::Family => FAM,
        Dim::Proto => PROTO,
        Dim::Dst => DST,
        Dim::Src => SRC,
        Dim::Dport => DPORT,
        Dim::Sport => SPORT,
        Dim::IcmpType => ITYPE,
        Dim::Iif => IIF,
        Dim::Oif => OIF,
        Dim::CtState => CT,
    }
}

/// The whole space in every dimension (interfaces up to `ifaces` classes).
pub fn full(ifaces: usize) -> Bx {
    let mut b = [(0, u128::MAX); D];
    b[FAM] = (0, 15);
    b[PROTO] = (0, 255);
    b[DPORT] = (0, 65535);
    b[SPORT] = (0, 65535);
    b[ITYPE] = (0, 255);
    b[IIF] = (0, ifaces as u128);
    b[OIF] = (0, ifaces as u128);
    b[CT] = (0, CT_UNTRACKED);
    b
}

pub fn contains(b: &Bx, p: &[u128; D]) -> bool {
    b.iter().zip(p).all(|(&(lo, hi), &v)| lo <= v && v <= hi)
}

/// One class of interface names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Class {
    /// No interface (the output interface of packets for the host itself).
    None,
    Exact(String),
    /// Names starting with this that are not listed otherwise (`""`: any other name).
    Rest(String),
}

/// The interface classes of a check.
#[derive(Debug, Clone)]
pub struct Ifaces {
    classes: Vec<Class>,
    prefixes: Vec<String>,
    exact: Vec<String>,
}

pub const NO_IFACE: u128 = 0;

impl Ifaces {
    pub fn new(names: impl IntoIterator<Item = IfName>) -> Self {
        let mut exact: Vec<String> = Vec::new();
        let mut prefixes: Vec<String> = vec![String::new()];
        for n in names {
            match n {
                IfName::Exact(s) => exact.push(s),
                IfName::Prefix(p) => prefixes.push(p),
            }
        }
        exact.sort();
        exact.dedup();
        prefixes.sort();
        prefixes.dedup();
        // "Any other name" first, so that witnesses prefer an ordinary
        // interface to loopback or a named one.
        let mut classes = vec![Class::None];
        classes.extend(prefixes.iter().cloned().map(Class::Rest));
        classes.extend(exact.iter().cloned().map(Class::Exact));
        Ifaces { classes, prefixes, exact }
    }
    /// Number of classes, not counting "no interface".
    pub fn count(&self) -> usize {
        self.classes.len() - 1
    }
    pub fn index_of(&self, name: &str) -> u128 {
        if let Some(i) = self.classes.iter().position(|c| matches!(c, Class::Exact(e) if e == name)) {
            return i as u128;
        }
        let longest =
            self.prefixes.iter().filter(|p| name.starts_with(p.as_str())).max_by_key(|p| p.len()).expect("\"\" is a prefix of every name");
        self.classes.iter().position(|c| matches!(c, Class::Rest(p) if p == longest)).expect("every prefix has its class") as u128
    }
    fn class_matches(&self, class: &Class, pat: &IfName) -> bool {
        match (class, pat) {
            (Class::None, _) => false,
            (Class::Exact(e), p) => p.matches(e),
            // Names of the rest of `q` start with `q` but with no longer listed prefix.
            (Class::Rest(_), IfName::Exact(_)) => false,
            (Class::Rest(q), IfName::Prefix(p)) => q.starts_with(p.as_str()),
        }
    }
    /// The classes any of the patterns matches, as intervals of indices.
    pub fn ranges(&self, pats: &[IfName]) -> Vec<(u128, u128)> {
        (0..self.classes.len())
            .filter(|&i| pats.iter().any(|p| self.class_matches(&self.classes[i], p)))
            .map(|i| (i as u128, i as u128))
            .collect()
    }
    /// A name of the class, for a witness packet.
    pub fn name(&self, i: u128) -> Option<String> {
        match self.classes.get(i as usize)? {
            Class::None => None,
            Class::Exact(e) => Some(e.clone()),
            Class::Rest(q) => {
                let base = if q.is_empty() { "if" } else { q.as_str() };
                (0..10_000)
                    .map(|k| format!("{base}{k}"))
                    .find(|n| {
                        !self.exact.contains(n)
                            && self.prefixes.iter().filter(|p| n.starts_with(p.as_str())).max_by_key(|p| p.len()).is_some_and(|p| p == q)
                    })
                    .or_else(|| Some(format!("{q}…")))
            }
        }
    }
}

/// Intervals of a model value in box coordinates.
pub fn intervals(v: &Values, ifaces: &Ifaces) -> Vec<(u128, u128)> {
    match v {
        Values::Ranges(r) => r.clone(),
        Values::Names(n) => ifaces.ranges(n),
    }
}

/// One concrete packet of a new connection: the witness of a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Packet {
    /// 4 or 6.
    pub family: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_type_name: Option<&'static str>,
    /// Input interface (a name of the class the witness stands for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iif: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oif: Option<String>,
    /// The conntrack state of its connection.
    pub ct_state: State,
}

/// Conntrack states a packet can be in (untracked packets are not in the space).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    New,
    Established,
    Related,
    Invalid,
}

impl State {
    pub fn value(self) -> u128 {
        match self {
            State::New => CT_NEW,
            State::Established => CT_ESTABLISHED,
            State::Related => CT_RELATED,
            State::Invalid => CT_INVALID,
        }
    }
    pub fn of(v: u128) -> Self {
        match v {
            CT_ESTABLISHED => State::Established,
            CT_RELATED => State::Related,
            CT_INVALID => State::Invalid,
            _ => State::New,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Established => "established",
            State::Related => "related",
            State::Invalid => "invalid",
        }
    }
}

impl Packet {
    pub fn from_point(p: &[u128; D], ifaces: &Ifaces) -> Self {
        let fam = if p[FAM] == FAMILY_V6 { Family::V6 } else { Family::V4 };
        let proto = p[PROTO] as u8;
        let ports = PORT_PROTOS.contains(&proto);
        let icmp = proto == ICMP || proto == ICMPV6;
        Packet {
            family: if fam == Family::V4 { 4 } else { 6 },
            src: addr_of(fam, p[SRC]),
            dst: addr_of(fam, p[DST]),
            protocol: proto,
            protocol_name: proto_name(proto),
            src_port: ports.then_some(p[SPORT] as u16),
            dst_port: ports.then_some(p[DPORT] as u16),
            icmp_type: icmp.then_some(p[ITYPE] as u8),
            icmp_type_name: if icmp { icmp_type_name(proto, p[ITYPE] as u8) } else { None },
            iif: ifaces.name(p[IIF]),
            oif: ifaces.name(p[OIF]),
            ct_state: State::of(p[CT]),
        }
    }

    /// The packet as a point of the space (the inverse of [`Packet::from_point`]).
    pub fn point(&self, ifaces: &Ifaces) -> [u128; D] {
        let mut p = [0u128; D];
        p[FAM] = if self.family == 6 { FAMILY_V6 } else { FAMILY_V4 };
        p[PROTO] = self.protocol as u128;
        p[SRC] = portmatrix_targets::read::addr_u128(self.src);
        p[DST] = portmatrix_targets::read::addr_u128(self.dst);
        p[SPORT] = self.src_port.unwrap_or(0) as u128;
        p[DPORT] = self.dst_port.unwrap_or(0) as u128;
        p[ITYPE] = self.icmp_type.unwrap_or(0) as u128;
        p[IIF] = self.iif.as_deref().map_or(NO_IFACE, |n| ifaces.index_of(n));
        p[OIF] = self.oif.as_deref().map_or(NO_IFACE, |n| ifaces.index_of(n));
        p[CT] = self.ct_state.value();
        p
    }

    pub fn is_v4(&self) -> bool {
        self.family == 4
    }
}

impl std::fmt::Display for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let proto = self.protocol_name.map(str::to_string).unwrap_or_else(|| format!("proto {}", self.protocol));
        let addr = |a: IpAddr, port: Option<u16>| match (a, port) {
            (IpAddr::V6(v), Some(p)) => format!("[{v}]:{p}"),
            (a, Some(p)) => format!("{a}:{p}"),
            (a, None) => a.to_string(),
        };
        if self.ct_state != State::New {
            write!(f, "{} ", self.ct_state.as_str())?;
        }
        write!(f, "{proto}")?;
        if let Some(t) = self.icmp_type {
            match self.icmp_type_name {
                Some(n) => write!(f, " {n}")?,
                None => write!(f, " type {t}")?,
            }
        }
        write!(f, " {} -> {}", addr(self.src, self.src_port), addr(self.dst, self.dst_port))?;
        match (&self.iif, &self.oif) {
            (Some(i), Some(o)) => write!(f, " (in {i}, out {o})"),
            (Some(i), None) => write!(f, " (in {i})"),
            (None, Some(o)) => write!(f, " (out {o})"),
            (None, None) => Ok(()),
        }
    }
}

/// Protocol values that are neither port protocols nor ICMP: their ports
/// and type hold 0.
fn other_protos() -> Vec<(u128, u128)> {
    let special: Vec<u8> = PORT_PROTOS.iter().copied().chain([ICMP, ICMPV6]).collect();
    let mut out = Vec::new();
    let mut start: Option<u8> = None;
    for p in 0..=255u8 {
        if special.contains(&p) {
            if let Some(s) = start.take() {
                out.push((s as u128, p as u128 - 1));
            }
        } else if start.is_none() {
            start = Some(p);
        }
    }
    if let Some(s) = start {
        out.push((s as u128, 255));
    }
    out
}

/// The packets a check ranges over, as disjoint boxes: every family and
/// protocol; destinations `dst` per family (a host's own addresses, or
/// everything for a network firewall); interfaces `iif` and `oif`.
pub fn universe(dst: &dyn Fn(Family) -> Vec<(u128, u128)>, iif: &[(u128, u128)], oif: &[(u128, u128)], ifaces: usize) -> Vec<Bx> {
    let mut out = Vec::new();
    for fam in [Family::V4, Family::V6] {
        let amax = if fam == Family::V4 { u32::MAX as u128 } else { u128::MAX };
        let mut shapes: Vec<(Iv, Iv, Iv)> = Vec::new();
        for &p in &PORT_PROTOS {
            shapes.push(((p as u128, p as u128), (0, 65535), (0, 0)));
        }
        for p in [ICMP, ICMPV6] {
            shapes.push(((p as u128, p as u128), (0, 0), (0, 255)));
        }
        for r in other_protos() {
            shapes.push((r, (0, 0), (0, 0)));
        }
        for d in dst(fam) {
            for &(proto, ports, itype) in &shapes {
                for &i in iif {
                    for &o in oif {
                        let mut b = full(ifaces);
                        b[FAM] = (family_value(fam), family_value(fam));
                        b[PROTO] = proto;
                        b[DST] = d;
                        b[SRC] = (0, amax);
                        b[DPORT] = ports;
                        b[SPORT] = ports;
                        b[ITYPE] = itype;
                        b[IIF] = i;
                        b[OIF] = o;
                        b[CT] = (CT_NEW, CT_INVALID);
                        out.push(b);
                    }
                }
            }
        }
    }
    out
}

pub fn family_value(f: Family) -> u128 {
    match f {
        Family::V4 => FAMILY_V4,
        Family::V6 => FAMILY_V6,
    }
}

/// Applies the model terms of a clause to a box; `None` when they leave it
/// empty. Terms with several intervals multiply into several boxes.
pub fn restrict(b: Bx, terms: &[(Dim, Values)], ifaces: &Ifaces) -> Vec<Bx> {
    let mut out = vec![b];
    for (d, v) in terms {
        let i = index(*d);
        let ivs = intervals(v, ifaces);
        let mut next = Vec::with_capacity(out.len() * ivs.len().max(1));
        for b in &out {
            for &(lo, hi) in &ivs {
                let (a, z) = (lo.max(b[i].0), hi.min(b[i].1));
                if a <= z {
                    let mut c = *b;
                    c[i] = (a, z);
                    next.push(c);
                }
            }
        }
        out = next;
        if out.is_empty() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_classes_partition_names() {
        let f = Ifaces::new([
            IfName::Exact("lo".into()),
            IfName::Prefix("eth".into()),
            IfName::Exact("eth0".into()),
            IfName::Prefix("eth1".into()),
        ]);
        // classes: none, eth0, lo, rest(""), rest(eth), rest(eth1)
        assert_eq!(f.count(), 5);
        for name in ["lo", "eth0", "eth7", "eth12", "wg0", "e"] {
            let i = f.index_of(name);
            for pat in [
                IfName::Exact("lo".into()),
                IfName::Exact("eth0".into()),
                IfName::Prefix("eth".into()),
                IfName::Prefix("eth1".into()),
                IfName::Prefix("".into()),
            ] {
                let in_class = f.ranges(std::slice::from_ref(&pat)).iter().any(|&(a, b)| a <= i && i <= b);
                assert_eq!(in_class, pat.matches(name), "{name} {pat:?}");
            }
            // The class's representative is in the class.
            let rep = f.name(i).unwrap();
            assert_eq!(f.index_of(&rep), i, "{name} -> {rep}");
        }
    }

    #[test]
    fn universe_boxes_are_disjoint() {
        let u = universe(&|f| vec![if f == Family::V4 { (1, 1) } else { (2, 3) }], &[(1, 2)], &[(0, 0)], 2);
        for (i, a) in u.iter().enumerate() {
            for b in &u[i + 1..] {
                assert!(!a.iter().zip(b).all(|(x, y)| x.0 <= y.1 && y.0 <= x.1));
            }
        }
    }
}
