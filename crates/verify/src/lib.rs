//! Verification of port matrices on a real network stack.
//!
//! - [`responder`]: listens on the ports a host must accept and answers each
//!   probe with a reply signed by a token ([`token`], [`wire`]) that proves
//!   which host answered and that nobody changed what it observed; limits
//!   its rate ([`ratelimit`]) and keeps a capped receipt log ([`receipts`])
//!   so a prober can tell a blocked forward path from a blocked return path,
//!   and see NAT.
//! - [`probe`]: TCP, UDP and ICMP probes with bounded concurrency, timeouts and
//!   retries, classified as pass / blocked / return-blocked / refused /
//!   wrong-host / nat / local; [`output`] renders them as a table, JSON or
//!   JUnit XML.
//! - [`netns`]: network namespaces, bridges and veth pairs for the lab; never
//!   touches the machine's own namespace beyond creating and deleting
//!   namespaces.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub mod exact;
pub mod firewalld;
pub mod flows;
pub mod lab;
pub mod netns;
pub mod output;
pub mod probe;
pub mod ratelimit;
pub mod receipts;
pub mod responder;
pub mod token;
pub mod twin;
pub mod wire;

pub use portmatrix_model::ports::PortSet;
pub use token::Key;

/// A transport protocol the tool can probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    /// ICMP echo (ICMPv6 echo for IPv6 targets).
    Icmp,
}

impl Proto {
    /// The IP protocol number (ICMP is 1; ICMPv6 targets still say `icmp`).
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Icmp => 1,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Proto {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "icmp" | "icmpv6" | "ping" => Ok(Proto::Icmp),
            other => Err(format!("unknown protocol `{other}` (expected tcp, udp or icmp)")),
        }
    }
}

/// Parses `tcp:80,443` / `udp:5000-5010` / `icmp` listen or target specs.
pub fn parse_proto_ports(s: &str) -> Result<(Proto, PortSet), String> {
    let (p, ports) = match s.split_once([':', '/']) {
        Some((p, ports)) => (p, Some(ports)),
        None => (s, None),
    };
    let proto: Proto = p.parse()?;
    match (proto, ports) {
        (Proto::Icmp, None) => Ok((proto, PortSet::new())),
        (Proto::Icmp, Some(_)) => Err("icmp takes no ports".into()),
        (_, None) => Err(format!("`{s}`: give ports, e.g. {p}:80,443 or {p}:5000-5010")),
        (_, Some(ports)) => {
            let set = PortSet::parse(ports).map_err(|e| format!("`{s}`: {e}"))?;
            if set.contains(0) {
                return Err(format!("`{s}`: port 0 cannot be probed"));
            }
            Ok((proto, set))
        }
    }
}

/// Picks at most `limit` ports of `set`: all of them when they fit, else the
/// first, the last and evenly spaced ones between (deterministic).
pub fn sample_ports(set: &PortSet, limit: usize) -> Vec<u16> {
    let n = set.len();
    if n <= limit {
        return set.iter().collect();
    }
    if limit == 0 {
        return Vec::new();
    }
    if limit == 1 {
        return set.first().into_iter().collect();
    }
    let all: Vec<u16> = set.iter().collect();
    let mut out: Vec<u16> = (0..limit).map(|i| all[i * (n - 1) / (limit - 1)]).collect();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let (p, s) = parse_proto_ports("udp:5000-5010,80").unwrap();
        assert_eq!(p, Proto::Udp);
        assert_eq!(s.len(), 12);
        assert!(parse_proto_ports("tcp").is_err());
        assert!(parse_proto_ports("icmp").is_ok());
        assert!(parse_proto_ports("sctp:1").is_err());
    }

    #[test]
    fn sampling_keeps_ends() {
        let s = PortSet::range(10000, 20000);
        let v = sample_ports(&s, 5);
        assert_eq!(v, vec![10000, 12500, 15000, 17500, 20000]);
        assert_eq!(sample_ports(&PortSet::range(1, 3), 5), vec![1, 2, 3]);
    }
}
