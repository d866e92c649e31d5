//! What the plan intends, as boxes: the accept rules of the subject's
//! ruleset (`host_ruleset` / `firewall_ruleset`), the ICMP messages of its
//! base policy, and loopback on input.

use portmatrix_model::{IcmpType, Proto};
use portmatrix_targets::read::net_range;
use portmatrix_targets::{Family, Ruleset};

use crate::space::{
    family_value, full, Bx, Iv, CT, CT_ESTABLISHED, CT_INVALID, CT_NEW, CT_RELATED, DPORT, DST, FAM, IIF, ITYPE, PROTO, SPORT, SRC,
};

/// One thing the plan intends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Item {
    /// The ruleset's rule of this index.
    Rule(usize),
    /// An ICMP message the base policy accepts from anywhere.
    BaseIcmp(Proto, IcmpType),
    /// Everything on the loopback interface (input only).
    Loopback,
    /// Packets of established and related connections.
    ReturnTraffic,
}

pub fn proto_number(p: Proto) -> u8 {
    match p {
        Proto::Tcp => 6,
        Proto::Udp => 17,
        Proto::Sctp => 132,
        Proto::Icmp => 1,
        Proto::Icmpv6 => 58,
    }
}

fn addr_full(f: Family) -> (u128, u128) {
    (0, if f == Family::V4 { u32::MAX as u128 } else { u128::MAX })
}

/// The boxes of every intended item, each with its item.
pub fn boxes(rs: &Ruleset, ifaces: usize, lo_class: Option<u128>) -> Vec<(Bx, Item)> {
    let mut out = Vec::new();
    // New connections; invalid packets too when the base policy does not drop them.
    let fresh = (CT_NEW, if rs.base.drop_invalid { CT_NEW } else { CT_INVALID });
    if rs.base.return_traffic {
        let mut b = full(ifaces);
        b[CT] = (CT_ESTABLISHED, CT_RELATED);
        out.push((b, Item::ReturnTraffic));
    }
    for (i, r) in rs.rules.iter().enumerate() {
        let mut b = full(ifaces);
        b[CT] = fresh;
        b[FAM] = (family_value(r.family), family_value(r.family));
        b[PROTO] = (proto_number(r.proto) as u128, proto_number(r.proto) as u128);
        let dsts: Vec<(u128, u128)> = if r.dst.is_empty() { vec![addr_full(r.family)] } else { r.dst.iter().map(net_range).collect() };
        let shapes: Vec<(Iv, Iv, Iv)> = if r.proto.has_ports() {
            let sports: Vec<(u128, u128)> = match &r.sports {
                Some(s) => s.ranges().map(|(a, b)| (a as u128, b as u128)).collect(),
                None => vec![(0, 65535)],
            };
            r.dports.ranges().flat_map(|(a, z)| sports.iter().map(move |&s| ((a as u128, z as u128), s, (0, 0)))).collect()
        } else {
            r.icmp.iter().filter_map(|t| t.number(r.proto)).map(|n| ((0, 0), (0, 0), (n as u128, n as u128))).collect()
        };
        for s in &r.src {
            for &d in &dsts {
                for &(dp, sp, it) in &shapes {
                    let mut x = b;
                    x[SRC] = net_range(s);
                    x[DST] = d;
                    x[DPORT] = dp;
                    x[SPORT] = sp;
                    x[ITYPE] = it;
                    out.push((x, Item::Rule(i)));
                }
            }
        }
    }
    for &(p, t) in &rs.base.icmp {
        let (fam, n) = match (p, t.number(p)) {
            (Proto::Icmp, Some(n)) => (Family::V4, n),
            (Proto::Icmpv6, Some(n)) => (Family::V6, n),
            _ => continue,
        };
        let mut b = full(ifaces);
        b[CT] = fresh;
        b[FAM] = (family_value(fam), family_value(fam));
        b[PROTO] = (proto_number(p) as u128, proto_number(p) as u128);
        b[ITYPE] = (n as u128, n as u128);
        out.push((b, Item::BaseIcmp(p, t)));
    }
    if let (true, Some(lo)) = (rs.base.loopback, lo_class) {
        let mut b = full(ifaces);
        b[CT] = fresh;
        b[IIF] = (lo, lo);
        out.push((b, Item::Loopback));
    }
    out
}
