//! Listening sockets of one host against the plan: which listeners a flow
//! of the host's roles explains, which no flow explains, and which planned
//! listeners are absent.
//!
//! A planned connection to the host needs a listener on one of its ports,
//! bound to every address or to an address the connection targets; a flow
//! that stays on the host (local) is served by any listener, loopback
//! included. A port set counts as present when at least one of its ports
//! has such a listener. Sets wider than [`DYNAMIC_RANGE`] ports (media and
//! RTP ranges) are bound on demand, so their absence is reported but is not
//! a finding.

use std::collections::BTreeSet;
use std::net::IpAddr;

use portmatrix_model::FlowTag;
use serde::Serialize;

use crate::formats::sockets::{Bind, Listener};
use crate::formats::ReadStats;
use crate::intent::{AddrRange, Basis, IntentTable, IpProto};

/// Port sets wider than this are bound on demand; their absence is not a finding.
pub const DYNAMIC_RANGE: u32 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SocketClass {
    /// Listening on a network address, and no flow of the host's roles explains it (finding).
    Unexplained,
    /// A planned listener that is absent, or bound where its clients cannot reach it (finding).
    Missing,
    /// Explained by a planned connection and reachable.
    Expected,
    /// Explained by a flow that stays on the host.
    ExpectedLocal,
    /// Bound to loopback only and explained by nothing: reachable from the host alone.
    LoopbackOnly,
    /// A planned range of dynamic ports with no listener right now (not a finding).
    IdleRange,
}

impl SocketClass {
    pub fn as_str(self) -> &'static str {
        match self {
            SocketClass::Unexplained => "unexplained",
            SocketClass::Missing => "missing",
            SocketClass::Expected => "expected",
            SocketClass::ExpectedLocal => "expected-local",
            SocketClass::LoopbackOnly => "loopback-only",
            SocketClass::IdleRange => "idle-range",
        }
    }
    pub fn is_finding(self) -> bool {
        matches!(self, SocketClass::Unexplained | SocketClass::Missing)
    }
}

/// One row of a sockets audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SocketRow {
    pub class: SocketClass,
    pub protocol: IpProto,
    /// The listener's address (`*` for all), or the planned addresses.
    pub address: String,
    /// The port, or the planned port set.
    pub port: String,
    pub process: Option<String>,
    /// Line of the listing (listeners only).
    pub line: Option<u64>,
    /// `product/flow-id` of the flows that explain or want it.
    pub flows: Vec<FlowTag>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SocketsResult {
    pub host: String,
    pub rows: Vec<SocketRow>,
    pub read: ReadStats,
    pub findings: usize,
}

impl SocketsResult {
    pub fn exit_code(&self) -> u8 {
        u8::from(self.findings > 0 || self.read.bad_lines > 0)
    }
}

fn reaches(bind: Bind, targets: &[AddrRange]) -> bool {
    match bind {
        Bind::Any => true,
        Bind::Addr(a) => targets.iter().any(|r| r.contains(a)),
    }
}

fn in_ports(p: u16, ports: &[(u16, u16)]) -> bool {
    ports.iter().any(|&(a, b)| a <= p && p <= b)
}

/// Whether a host of the plan is called `host`.
pub fn host_known(table: &IntentTable, host: &str) -> bool {
    table.endpoints.iter().any(|e| e.is_host && e.name == host)
}

/// Compares the listeners of `host` with the plan.
pub fn audit_sockets(table: &IntentTable, host: &str, listeners: &[Listener], read: ReadStats) -> SocketsResult {
    // Planned for this host: connections to it, and flows that stay on it.
    let wanted: Vec<_> = table
        .intents
        .iter()
        .filter(|i| i.proto.has_ports() && i.destination_is_host && i.destination == host && i.basis != Basis::FqdnEgress)
        .collect();
    let mut rows = Vec::new();
    for l in listeners {
        let conn: BTreeSet<FlowTag> = wanted
            .iter()
            .filter(|i| {
                i.basis == Basis::Connection && i.proto == l.proto && in_ports(l.port, &i.ports) && reaches(l.bind, &i.destinations)
            })
            .flat_map(|i| i.tags().into_iter().cloned())
            .collect();
        let local: BTreeSet<FlowTag> = wanted
            .iter()
            .filter(|i| i.basis == Basis::Local && i.proto == l.proto && in_ports(l.port, &i.ports))
            .flat_map(|i| i.tags().into_iter().cloned())
            .collect();
        let (class, flows, detail) = if !conn.is_empty() {
            (SocketClass::Expected, conn, String::new())
        } else if !local.is_empty() {
            (SocketClass::ExpectedLocal, local, String::new())
        } else if l.bind.is_loopback() {
            (SocketClass::LoopbackOnly, BTreeSet::new(), "reachable from this host only".into())
        } else {
            (SocketClass::Unexplained, BTreeSet::new(), "no flow of this host's roles uses this port".into())
        };
        rows.push(SocketRow {
            class,
            protocol: l.proto,
            address: l.bind.to_string(),
            port: l.port.to_string(),
            process: l.process.clone(),
            line: Some(l.line),
            flows: flows.into_iter().collect(),
            detail,
        });
    }
    for i in wanted.iter().filter(|i| i.basis == Basis::Connection) {
        let present = listeners.iter().any(|l| l.proto == i.proto && in_ports(l.port, &i.ports) && reaches(l.bind, &i.destinations));
        if present {
            continue;
        }
        let width: u32 = i.ports.iter().map(|&(a, b)| u32::from(b) - u32::from(a) + 1).sum();
        let on_loopback = listeners.iter().any(|l| l.proto == i.proto && in_ports(l.port, &i.ports));
        let (class, detail) = if on_loopback {
            (SocketClass::Missing, "listening, but not on an address its clients connect to".to_string())
        } else if width > DYNAMIC_RANGE {
            (SocketClass::IdleRange, format!("{width} ports bound on demand; none bound now"))
        } else {
            (SocketClass::Missing, format!("nothing listens; needed by {}", i.source_names.join(", ")))
        };
        let addrs: Vec<String> = i.destinations.iter().map(|r| r.to_string()).collect();
        rows.push(SocketRow {
            class,
            protocol: i.proto,
            address: addrs.join(" "),
            port: crate::intent::ranges_text(&i.ports),
            process: None,
            line: None,
            flows: i.tags().into_iter().cloned().collect(),
            detail,
        });
    }
    rows.sort_by(|a, b| {
        (a.class, a.protocol, port_key(&a.port), &a.address, a.line).cmp(&(b.class, b.protocol, port_key(&b.port), &b.address, b.line))
    });
    rows.dedup();
    let findings = rows.iter().filter(|r| r.class.is_finding()).count();
    SocketsResult { host: host.to_string(), rows, read, findings }
}

fn port_key(p: &str) -> u32 {
    p.split(['-', ',']).next().and_then(|x| x.parse().ok()).unwrap_or(u32::MAX)
}

/// The addresses of a host of the plan.
pub fn host_addresses(table: &IntentTable, host: &str) -> Vec<IpAddr> {
    table.endpoints.iter().filter(|e| e.is_host && e.name == host).map(|e| e.range.lo).collect()
}
