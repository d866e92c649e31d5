//! "May A reach B on P?" asked by host names or addresses, answered with the
//! flows that permit it, the firewalls on the path, or "local, no rule" when
//! both ends are one host. Shared by the web UI's explain form and any
//! caller that renders an answer; the packet check itself is the plan's
//! [`portmatrix_plan::explain`].

use std::net::IpAddr;

use portmatrix_model::diag::did_you_mean;
use portmatrix_model::Proto;
use portmatrix_plan::{explain, Connection, Endpoint, Enforcement, HostInfo, LocalFlow, Packet, Path, Plan};
use serde::Serialize;

/// One end of a question: a host of the inventory, or an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum End {
    Host(String),
    Address(IpAddr),
}

/// Reads `s` as an address, else as a host name; the error says what was
/// wrong and suggests the nearest host name.
pub fn parse_end(p: &Plan, s: &str) -> Result<End, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("give a host name or an address".into());
    }
    if let Ok(a) = s.parse::<IpAddr>() {
        return Ok(End::Address(a));
    }
    if p.host(s).is_some() {
        return Ok(End::Host(s.to_string()));
    }
    Err(match did_you_mean(s, p.hosts.iter().map(|h| h.name.as_str())) {
        Some(near) => format!("`{s}` is neither an address nor a host of the inventory; did you mean `{near}`?"),
        None => format!("`{s}` is neither an address nor a host of the inventory"),
    })
}

/// Reads a service: `443/tcp` (or `tcp/443`), `icmp`, `icmpv6`.
pub fn parse_service(s: &str) -> Result<(Proto, u16), String> {
    let s = s.trim();
    if let Some(p) = Proto::parse(s).filter(|p| !p.has_ports()) {
        return Ok((p, 0));
    }
    let Some((a, b)) = s.split_once('/') else {
        return Err(format!("`{s}`: give the port with its protocol, e.g. {s}/tcp, or icmp"));
    };
    let (port, proto) = match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
        (Ok(n), _) => (n, b.trim()),
        (_, Ok(n)) => (n, a.trim()),
        _ => return Err(format!("`{s}` has no port number (0-65535)")),
    };
    match Proto::parse(proto).filter(|p| p.has_ports()) {
        Some(p) => Ok((p, port)),
        None => Err(format!("`{proto}` is not a protocol with ports (tcp, udp, sctp)")),
    }
}

/// A question to the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Question {
    pub from: End,
    pub to: End,
    pub proto: Proto,
    /// Destination port; 0 for ICMP.
    pub port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Permitted,
    Denied,
    /// Both ends are one host: the traffic never leaves it, no rule applies.
    Local,
}

/// One connection of the plan that permits the packet.
#[derive(Debug, Clone, Serialize)]
pub struct Hit<'p> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The source endpoint the connection names.
    pub source: &'p Endpoint,
    pub connection: &'p Connection,
    pub enforced_by: Enforcement,
}

#[derive(Debug, Clone, Serialize)]
pub struct Answer<'p> {
    pub question: Question,
    pub verdict: Verdict,
    pub hits: Vec<Hit<'p>>,
    /// For a local answer: the flows of the plan on that host that cover the service.
    pub local: Vec<&'p LocalFlow>,
    /// The path between the ends' zones: the firewalls a packet crosses.
    pub path: Path,
    /// The destination is a managed host: its host firewall applies too.
    pub host_firewall: bool,
    /// What the reader should know (unknown addresses, families that do not match).
    pub notes: Vec<String>,
}

impl Answer<'_> {
    /// Who drops the packet when the plan does not permit it; empty: nothing does.
    pub fn enforcement(&self) -> Enforcement {
        Enforcement { host_firewall: self.host_firewall, path: self.path.clone() }
    }
}

fn host_of<'p>(p: &'p Plan, e: &End) -> Option<&'p HostInfo> {
    match e {
        End::Host(n) => p.host(n),
        End::Address(a) => p.hosts.iter().find(|h| h.addresses.contains(a)),
    }
}

fn addresses(p: &Plan, e: &End) -> Vec<IpAddr> {
    match e {
        End::Host(n) => p.host(n).map(|h| h.addresses.clone()).unwrap_or_default(),
        End::Address(a) => vec![*a],
    }
}

fn zone_of(p: &Plan, e: &End) -> Option<String> {
    match host_of(p, e) {
        Some(h) => h.zone.clone(),
        None => match e {
            End::Address(a) => p.endpoint_of(*a).and_then(|ep| ep.zone),
            End::Host(_) => None,
        },
    }
}

fn family_fits(proto: Proto, a: IpAddr, b: IpAddr) -> bool {
    match proto {
        Proto::Icmp => a.is_ipv4() && b.is_ipv4(),
        Proto::Icmpv6 => a.is_ipv6() && b.is_ipv6(),
        _ => a.is_ipv4() == b.is_ipv4(),
    }
}

/// Answers `q` from the plan.
pub fn answer<'p>(p: &'p Plan, q: &Question) -> Answer<'p> {
    let (src_host, dst_host) = (host_of(p, &q.from), host_of(p, &q.to));
    let path = p.topology.path(zone_of(p, &q.from).as_deref(), zone_of(p, &q.to).as_deref());
    let host_firewall = dst_host.is_some_and(|h| h.managed);
    let mut a = Answer {
        question: q.clone(),
        verdict: Verdict::Denied,
        hits: Vec::new(),
        local: Vec::new(),
        path,
        host_firewall,
        notes: Vec::new(),
    };
    if let (Some(s), Some(d)) = (src_host, dst_host) {
        if s.name == d.name {
            a.verdict = Verdict::Local;
            a.path = Path::SameZone;
            a.host_firewall = false;
            a.local = p
                .local
                .iter()
                .filter(|l| l.host == s.name && l.proto == q.proto && (!q.proto.has_ports() || l.ports.contains(q.port)))
                .collect();
            return a;
        }
    }
    for (end, host) in [(&q.from, src_host), (&q.to, dst_host)] {
        if let (End::Address(addr), None) = (end, host) {
            match p.endpoint_of(*addr) {
                Some(e) => a.notes.push(format!("{addr} is no host's address; it belongs to network {}", e.name)),
                None => a.notes.push(format!("{addr} is the address of no host or network of the inventory")),
            }
        }
    }
    let (srcs, dsts) = (addresses(p, &q.from), addresses(p, &q.to));
    let mut pairs = 0;
    for &s in &srcs {
        for &d in dsts.iter().filter(|&&d| family_fits(q.proto, s, d)) {
            pairs += 1;
            let pkt = Packet { src: s, dst: d, proto: q.proto, port: q.port, src_port: None, icmp_type: None };
            for c in explain(p, &pkt) {
                let Some(source) = c.sources.members.iter().find(|m| m.nets.iter().any(|n| n.contains(&s))) else { continue };
                a.hits.push(Hit { src: s, dst: d, source, connection: c, enforced_by: p.enforcement(source, c) });
            }
        }
    }
    if pairs == 0 {
        a.notes.push(format!("no source and destination address of the same family for {}", q.proto));
    }
    if !a.hits.is_empty() {
        a.verdict = Verdict::Permitted;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_parse_both_ways_round() {
        assert_eq!(parse_service("443/tcp"), Ok((Proto::Tcp, 443)));
        assert_eq!(parse_service(" udp/5060 "), Ok((Proto::Udp, 5060)));
        assert_eq!(parse_service("icmp"), Ok((Proto::Icmp, 0)));
        assert!(parse_service("443").unwrap_err().contains("443/tcp"));
        assert!(parse_service("70000/tcp").is_err());
        assert!(parse_service("22/icmp").is_err());
    }
}
