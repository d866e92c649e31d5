//! ICMP message types, typed from the matrix to every backend.
//!
//! A type is read once, at load, into [`IcmpType`]; backends ask it for their
//! own spelling or number, so none can fall back to "every ICMP type" for a
//! name it does not know. Each type says which ICMP family defines it:
//! `neighbor-solicitation` exists only in ICMPv6, `timestamp-request` only in
//! ICMPv4.

use std::fmt;

use schemars::JsonSchema;
use serde::Serialize;

use crate::decode::{Cx, Decode};
use crate::diag::did_you_mean;
use crate::matrix::Proto;
use crate::yaml::Node;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IcmpType {
    EchoRequest,
    EchoReply,
    DestinationUnreachable,
    TimeExceeded,
    ParameterProblem,
    Redirect,
    TimestampRequest,
    TimestampReply,
    PacketTooBig,
    RouterSolicitation,
    RouterAdvertisement,
    NeighborSolicitation,
    NeighborAdvertisement,
}

impl IcmpType {
    pub const ALL: [IcmpType; 13] = [
        IcmpType::EchoRequest,
        IcmpType::EchoReply,
        IcmpType::DestinationUnreachable,
        IcmpType::TimeExceeded,
        IcmpType::ParameterProblem,
        IcmpType::Redirect,
        IcmpType::TimestampRequest,
        IcmpType::TimestampReply,
        IcmpType::PacketTooBig,
        IcmpType::RouterSolicitation,
        IcmpType::RouterAdvertisement,
        IcmpType::NeighborSolicitation,
        IcmpType::NeighborAdvertisement,
    ];

    /// The name a matrix writes.
    pub fn as_str(self) -> &'static str {
        match self {
            IcmpType::EchoRequest => "echo-request",
            IcmpType::EchoReply => "echo-reply",
            IcmpType::DestinationUnreachable => "destination-unreachable",
            IcmpType::TimeExceeded => "time-exceeded",
            IcmpType::ParameterProblem => "parameter-problem",
            IcmpType::Redirect => "redirect",
            IcmpType::TimestampRequest => "timestamp-request",
            IcmpType::TimestampReply => "timestamp-reply",
            IcmpType::PacketTooBig => "packet-too-big",
            IcmpType::RouterSolicitation => "router-solicitation",
            IcmpType::RouterAdvertisement => "router-advertisement",
            IcmpType::NeighborSolicitation => "neighbor-solicitation",
            IcmpType::NeighborAdvertisement => "neighbor-advertisement",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The type number in the given ICMP family (`Proto::Icmp` for ICMPv4,
    /// `Proto::Icmpv6`), or `None` when that family has no such message.
    /// Numbers: RFC 792 and IANA's ICMP registry (v4); RFC 4443 and RFC 4861 (v6).
    pub fn number(self, family: Proto) -> Option<u8> {
        match family {
            Proto::Icmp => match self {
                IcmpType::EchoReply => Some(0),
                IcmpType::DestinationUnreachable => Some(3),
                IcmpType::Redirect => Some(5),
                IcmpType::EchoRequest => Some(8),
                IcmpType::RouterAdvertisement => Some(9),
                IcmpType::RouterSolicitation => Some(10),
                IcmpType::TimeExceeded => Some(11),
                IcmpType::ParameterProblem => Some(12),
                IcmpType::TimestampRequest => Some(13),
                IcmpType::TimestampReply => Some(14),
                IcmpType::PacketTooBig | IcmpType::NeighborSolicitation | IcmpType::NeighborAdvertisement => None,
            },
            Proto::Icmpv6 => match self {
                IcmpType::DestinationUnreachable => Some(1),
                IcmpType::PacketTooBig => Some(2),
                IcmpType::TimeExceeded => Some(3),
                IcmpType::ParameterProblem => Some(4),
                IcmpType::EchoRequest => Some(128),
                IcmpType::EchoReply => Some(129),
                IcmpType::RouterSolicitation => Some(133),
                IcmpType::RouterAdvertisement => Some(134),
                IcmpType::NeighborSolicitation => Some(135),
                IcmpType::NeighborAdvertisement => Some(136),
                IcmpType::Redirect => Some(137),
                IcmpType::TimestampRequest | IcmpType::TimestampReply => None,
            },
            _ => None,
        }
    }

    /// The type with this number in the given family (the inverse of [`IcmpType::number`]).
    pub fn from_number(family: Proto, number: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.number(family) == Some(number))
    }

    pub fn exists_in(self, family: Proto) -> bool {
        self.number(family).is_some()
    }
}

impl fmt::Display for IcmpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Decode for IcmpType {
    fn expected() -> String {
        "an ICMP type such as echo-request or time-exceeded".into()
    }
    fn decode(n: &Node, cx: &mut Cx) -> Option<Self> {
        let s = String::decode(n, cx)?;
        IcmpType::parse(&s).or_else(|| {
            let names = IcmpType::ALL.map(IcmpType::as_str);
            let hint = did_you_mean(&s, names.iter().copied())
                .map(|x| format!("did you mean `{x}`?"))
                .unwrap_or_else(|| format!("known types: {}", names.join(", ")));
            cx.error("unknown-icmp-type", n.span, format!("unknown ICMP type `{s}`")).help = Some(hint);
            None
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_in_both_families() {
        for fam in [Proto::Icmp, Proto::Icmpv6] {
            for t in IcmpType::ALL {
                if let Some(n) = t.number(fam) {
                    assert_eq!(IcmpType::from_number(fam, n), Some(t), "{t} in {fam}");
                }
            }
        }
        assert_eq!(IcmpType::EchoRequest.number(Proto::Icmp), Some(8));
        assert_eq!(IcmpType::EchoRequest.number(Proto::Icmpv6), Some(128));
        assert!(!IcmpType::NeighborSolicitation.exists_in(Proto::Icmp));
        assert!(!IcmpType::TimestampRequest.exists_in(Proto::Icmpv6));
        for t in IcmpType::ALL {
            assert_eq!(IcmpType::parse(t.as_str()), Some(t));
        }
    }
}
