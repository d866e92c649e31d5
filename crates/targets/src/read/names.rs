//! Names the firewall syntaxes use for protocols and ICMP types, and their
//! numbers (IANA protocol numbers; ICMP types from RFC 792 and IANA's ICMP
//! registry, ICMPv6 types from RFC 4443, RFC 4861 and RFC 2710/3810).

/// Transport protocols with a source and a destination port in their
/// first four bytes: TCP, UDP, DCCP, SCTP, UDP-Lite.
pub const PORT_PROTOS: [u8; 5] = [6, 17, 33, 132, 136];

pub const ICMP: u8 = 1;
pub const ICMPV6: u8 = 58;

const PROTOS: &[(&str, u8)] = &[
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ipencap", 4),
    ("ipip", 4),
    ("tcp", 6),
    ("egp", 8),
    ("udp", 17),
    ("dccp", 33),
    ("ipv6", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("icmp6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ospf", 89),
    ("pim", 103),
    ("vrrp", 112),
    ("l2tp", 115),
    ("sctp", 132),
    ("mh", 135),
    ("udplite", 136),
    ("mpls-in-ip", 137),
];

/// A protocol by name (case-insensitive) or number.
pub fn proto_number(s: &str) -> Option<u8> {
    if let Ok(n) = s.parse::<u8>() {
        return Some(n);
    }
    let l = s.to_ascii_lowercase();
    PROTOS.iter().find(|(n, _)| *n == l).map(|(_, v)| *v)
}

/// The usual name of a protocol number.
pub fn proto_name(n: u8) -> Option<&'static str> {
    match n {
        58 => Some("icmpv6"),
        4 => Some("ipip"),
        _ => PROTOS.iter().find(|(_, v)| *v == n).map(|(name, _)| *name),
    }
}

/// ICMP types by the names nftables and iptables use.
const ICMP_TYPES: &[(&str, u8)] = &[
    ("echo-reply", 0),
    ("pong", 0),
    ("destination-unreachable", 3),
    ("source-quench", 4),
    ("redirect", 5),
    ("echo-request", 8),
    ("ping", 8),
    ("router-advertisement", 9),
    ("router-solicitation", 10),
    ("time-exceeded", 11),
    ("ttl-exceeded", 11),
    ("parameter-problem", 12),
    ("timestamp-request", 13),
    ("timestamp-reply", 14),
    ("info-request", 15),
    ("info-reply", 16),
    ("address-mask-request", 17),
    ("address-mask-reply", 18),
];

const ICMPV6_TYPES: &[(&str, u8)] = &[
    ("destination-unreachable", 1),
    ("packet-too-big", 2),
    ("time-exceeded", 3),
    ("ttl-exceeded", 3),
    ("parameter-problem", 4),
    ("echo-request", 128),
    ("echo-reply", 129),
    ("mld-listener-query", 130),
    ("mld-listener-report", 131),
    ("mld-listener-done", 132),
    ("mld-listener-reduction", 132),
    ("nd-router-solicit", 133),
    ("router-solicitation", 133),
    ("nd-router-advert", 134),
    ("router-advertisement", 134),
    ("nd-neighbor-solicit", 135),
    ("neighbor-solicitation", 135),
    ("neighbour-solicitation", 135),
    ("nd-neighbor-advert", 136),
    ("neighbor-advertisement", 136),
    ("neighbour-advertisement", 136),
    ("nd-redirect", 137),
    ("redirect", 137),
    ("router-renumbering", 138),
    ("ind-neighbor-solicit", 141),
    ("ind-neighbor-advert", 142),
    ("mld2-listener-report", 143),
];

/// An ICMP (`v6 == false`) or ICMPv6 type by name or number.
pub fn icmp_type_number(s: &str, v6: bool) -> Option<u8> {
    if let Ok(n) = s.parse::<u8>() {
        return Some(n);
    }
    let table = if v6 { ICMPV6_TYPES } else { ICMP_TYPES };
    let l = s.to_ascii_lowercase();
    table.iter().find(|(n, _)| *n == l).map(|(_, v)| *v)
}

/// The name of an ICMP type (of ICMP for protocol 1, ICMPv6 for 58).
pub fn icmp_type_name(proto: u8, t: u8) -> Option<&'static str> {
    let table = match proto {
        ICMP => ICMP_TYPES,
        ICMPV6 => ICMPV6_TYPES,
        _ => return None,
    };
    table.iter().find(|(_, v)| *v == t).map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_agree_with_the_model() {
        use portmatrix_model::{IcmpType, Proto};
        for t in IcmpType::ALL {
            for (p, v6, num) in [(Proto::Icmp, false, ICMP), (Proto::Icmpv6, true, ICMPV6)] {
                if let Some(n) = t.number(p) {
                    assert_eq!(icmp_type_number(t.as_str(), v6), Some(n), "{t} {p}");
                    assert!(icmp_type_name(num, n).is_some());
                }
            }
        }
        assert_eq!(proto_number("TCP"), Some(6));
        assert_eq!(proto_number("ipv6-icmp"), Some(58));
        assert_eq!(proto_number("132"), Some(132));
        assert_eq!(proto_number("nonsense"), None);
        assert_eq!(proto_name(58), Some("icmpv6"));
        assert_eq!(icmp_type_number("nd-neighbor-solicit", true), Some(135));
        assert_eq!(icmp_type_number("nd-neighbor-solicit", false), None);
    }
}
