//! The lockout guard: before anything is loaded, the compiled ruleset is
//! asked, with its own evaluator ([`Ruleset::permits`]) and never with
//! packets on a wire, whether every admin network still reaches the host's
//! management port and whether the caller's own session is still accepted.
//!
//! The answer is exact, not sampled. A host's input rules match a source by
//! prefix, so along an admin network the verdict can change only where some
//! rule's source prefix begins or ends. The guard evaluates one packet at the
//! start of the network and one at every such boundary inside it; every
//! other address of the network shares the verdict of the boundary before
//! it. A refused address is reported as the witness. (The property test
//! `guard_props.rs` compares this with evaluating every address of small
//! networks one by one.)

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use portmatrix_model::Proto;
use portmatrix_plan::Packet;
use portmatrix_targets::Ruleset;

/// An admin network as the plan means it (its zone's addresses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminNetwork {
    pub name: String,
    pub nets: Vec<IpNet>,
}

/// Where the caller's session was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOrigin {
    /// `SSH_CONNECTION` of this process.
    SshConnection,
    /// `SSH_CONNECTION` of an ancestor process (`sudo` drops it from the
    /// environment; the shell that ran `sudo` still has it).
    Ancestor(u32),
    /// `--session ADDR:PORT`.
    Flag,
}

/// The caller's own connection to this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub client: IpAddr,
    /// Known from `SSH_CONNECTION`; `None` (any source port) from `--session`.
    pub client_port: Option<u16>,
    /// The host's address the session arrives at; `None`: every address of
    /// the host of the client's family.
    pub server: Option<IpAddr>,
    /// The host's port the session uses (22 for ssh).
    pub port: u16,
    pub origin: SessionOrigin,
}

impl Session {
    /// Parses `SSH_CONNECTION` (`CLIENT CPORT SERVER SPORT`); IPv4-mapped
    /// IPv6 addresses are taken as the IPv4 addresses they carry.
    pub fn from_ssh_connection(value: &str, origin: SessionOrigin) -> Result<Session, String> {
        let parts: Vec<&str> = value.split_whitespace().collect();
        let [client, cport, server, sport] = parts[..] else {
            return Err(format!("SSH_CONNECTION `{}` does not have four fields (client port server port)", value.escape_debug()));
        };
        let addr =
            |s: &str| s.parse::<IpAddr>().map(|a| a.to_canonical()).map_err(|_| format!("`{}` is not an IP address", s.escape_debug()));
        let port = |s: &str| s.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("`{}` is not a port", s.escape_debug()));
        Ok(Session { client: addr(client)?, client_port: Some(port(cport)?), server: Some(addr(server)?), port: port(sport)?, origin })
    }

    /// Parses `--session ADDR:PORT` (`[V6ADDR]:PORT` for IPv6): the client's
    /// address and this host's port the session uses.
    pub fn from_flag(value: &str) -> Result<Session, String> {
        let sa: std::net::SocketAddr = value
            .parse()
            .map_err(|_| format!("--session `{}`: expected ADDR:PORT, e.g. 10.99.0.5:22 or [2001:db8::5]:22", value.escape_debug()))?;
        if sa.port() == 0 {
            return Err(format!("--session `{value}`: port 0 is no session"));
        }
        Ok(Session { client: sa.ip().to_canonical(), client_port: None, server: None, port: sa.port(), origin: SessionOrigin::Flag })
    }

    fn describe(&self) -> String {
        let from = match self.client_port {
            Some(p) => format!("{}", std::net::SocketAddr::new(self.client, p)),
            None => self.client.to_string(),
        };
        let origin = match self.origin {
            SessionOrigin::SshConnection => "SSH_CONNECTION".to_string(),
            SessionOrigin::Ancestor(pid) => format!("SSH_CONNECTION of process {pid}"),
            SessionOrigin::Flag => "--session".to_string(),
        };
        format!("your session from {from} to port {} ({origin})", self.port)
    }
}

/// The caller's session from `SSH_CONNECTION`: this process's, or (under
/// `sudo`, which drops it) the nearest ancestor's. `None` when the caller
/// is not on SSH; `Err` when the variable is there but malformed.
pub fn session_from_environment() -> Option<Result<Session, String>> {
    if let Ok(v) = std::env::var("SSH_CONNECTION") {
        return Some(Session::from_ssh_connection(&v, SessionOrigin::SshConnection));
    }
    let mut pid = parent_of("self")?;
    for _ in 0..32 {
        if pid <= 1 {
            return None;
        }
        if let Some(v) = environ_var(pid, "SSH_CONNECTION") {
            return Some(Session::from_ssh_connection(&v, SessionOrigin::Ancestor(pid)));
        }
        pid = parent_of(&pid.to_string())?;
    }
    None
}

/// The parent pid from `/proc/PID/stat` (the field after the command name,
/// which may itself contain spaces and parentheses).
fn parent_of(pid: &str) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn environ_var(pid: u32, name: &str) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(name.as_bytes())?.strip_prefix(b"=").map(|v| String::from_utf8_lossy(v).into_owned()))
}

/// A way the ruleset would lock someone out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut {
    /// The inventory names no admin network: nobody could manage the host.
    NoAdminNetwork,
    /// An admin network has no address of a family the host has.
    NoCommonFamily { network: String },
    /// An address of an admin network cannot reach the management port.
    AdminRefused { network: String, prefix: IpNet, witness: IpAddr, host_addr: IpAddr, port: u16 },
    /// The host has no address of the session's family.
    SessionNoFamily { session: Session },
    /// The caller's session would not be accepted.
    SessionRefused { session: Session, host_addr: IpAddr },
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cut::NoAdminNetwork => {
                f.write_str("the inventory declares no admin network: after loading, no address could reach this host's management port")
            }
            Cut::NoCommonFamily { network } => {
                write!(f, "admin network `{network}` has no address of a family this host has: it could not reach the host at all")
            }
            Cut::AdminRefused { network, prefix, witness, host_addr, port } => write!(
                f,
                "admin network `{network}` ({prefix}) would be cut: {witness} could not reach {} tcp/{port}",
                std::net::SocketAddr::new(*host_addr, *port)
            ),
            Cut::SessionNoFamily { session } => write!(f, "{} would be cut: this host has no address of its family", session.describe()),
            Cut::SessionRefused { session, host_addr } => {
                write!(f, "{} would be cut: a new connection to {} would be dropped", session.describe(), host_addr)
            }
        }
    }
}

/// What the guard checks: the ruleset, the admin networks and management
/// port, and the caller's session if there is one.
pub struct GuardInput<'a> {
    pub ruleset: &'a Ruleset,
    pub admin: &'a [AdminNetwork],
    pub mgmt_port: u16,
    pub session: Option<&'a Session>,
}

/// Every way the ruleset would lock out an admin network or the caller;
/// empty when it locks out nobody.
pub fn check(input: &GuardInput) -> Vec<Cut> {
    let rs = input.ruleset;
    let mut cuts = Vec::new();
    if input.admin.is_empty() {
        cuts.push(Cut::NoAdminNetwork);
    }
    for net in input.admin {
        let mut common = false;
        for prefix in &net.nets {
            for &host_addr in rs.own.iter().filter(|a| a.is_ipv4() == prefix.addr().is_ipv4()) {
                common = true;
                if let Some(witness) = first_refused(rs, prefix, host_addr, Proto::Tcp, input.mgmt_port, None) {
                    cuts.push(Cut::AdminRefused { network: net.name.clone(), prefix: *prefix, witness, host_addr, port: input.mgmt_port });
                }
            }
        }
        if !common {
            cuts.push(Cut::NoCommonFamily { network: net.name.clone() });
        }
    }
    if let Some(s) = input.session {
        cuts.extend(session_cut(rs, s));
    }
    cuts
}

/// Whether the session would be cut. An input ruleset never matches the
/// destination address (every address of the host is the host), so a
/// session that arrives at an address the inventory does not list is judged
/// at the host's listed addresses of its family.
fn session_cut(rs: &Ruleset, s: &Session) -> Option<Cut> {
    if s.client.is_loopback() {
        // `iif lo accept`: a session over loopback never leaves the machine.
        return (!rs.base.loopback).then(|| Cut::SessionRefused { session: s.clone(), host_addr: s.client });
    }
    let targets: Vec<IpAddr> = match s.server {
        Some(a) if rs.own.contains(&a) => vec![a],
        _ => rs.own.iter().copied().filter(|a| a.is_ipv4() == s.client.is_ipv4()).collect(),
    };
    if targets.is_empty() {
        return Some(Cut::SessionNoFamily { session: s.clone() });
    }
    targets.into_iter().find_map(|dst| {
        let p = Packet { src: s.client, dst, proto: Proto::Tcp, port: s.port, src_port: s.client_port, icmp_type: None };
        (!rs.permits(&p)).then(|| Cut::SessionRefused { session: s.clone(), host_addr: dst })
    })
}

/// The first address of `net` whose packet to `dst` the ruleset refuses,
/// found exactly by evaluating the start of `net` and every rule-prefix
/// boundary inside it.
pub fn first_refused(rs: &Ruleset, net: &IpNet, dst: IpAddr, proto: Proto, port: u16, src_port: Option<u16>) -> Option<IpAddr> {
    let v4 = net.addr().is_ipv4();
    let (lo, hi) = bounds(net);
    let mut points = vec![lo];
    for r in &rs.rules {
        for s in r.src.iter().filter(|s| s.addr().is_ipv4() == v4) {
            let (a, b) = bounds(s);
            if a > hi || b < lo {
                continue;
            }
            points.push(a.max(lo));
            if b < hi {
                points.push(b + 1);
            }
        }
    }
    points.sort_unstable();
    points.dedup();
    points.into_iter().map(|p| to_addr(p, v4)).find(|&src| {
        let pkt = Packet { src, dst, proto, port, src_port, icmp_type: None };
        !rs.permits(&pkt)
    })
}

/// First and last address of a prefix as integers.
fn bounds(n: &IpNet) -> (u128, u128) {
    match n {
        IpNet::V4(n) => (u32::from(n.network()) as u128, u32::from(n.broadcast()) as u128),
        IpNet::V6(n) => (u128::from(n.network()), u128::from(n.broadcast())),
    }
}

fn to_addr(x: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(x as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_connection_parses_strictly() {
        let s = Session::from_ssh_connection("10.0.0.5 51000 10.0.0.1 22", SessionOrigin::SshConnection).unwrap();
        assert_eq!(
            (s.client, s.client_port, s.server, s.port),
            ("10.0.0.5".parse().unwrap(), Some(51000), Some("10.0.0.1".parse().unwrap()), 22)
        );
        let m = Session::from_ssh_connection("::ffff:10.0.0.5 51000 ::ffff:10.0.0.1 22", SessionOrigin::SshConnection).unwrap();
        assert_eq!(m.client, "10.0.0.5".parse::<IpAddr>().unwrap());
        for bad in ["", "10.0.0.5 51000 10.0.0.1", "x 1 10.0.0.1 22", "10.0.0.5 0 10.0.0.1 22", "10.0.0.5 1 10.0.0.1 65536", "a b c d e"] {
            assert!(Session::from_ssh_connection(bad, SessionOrigin::SshConnection).is_err(), "{bad}");
        }
        assert!(Session::from_flag("10.0.0.5:22").is_ok());
        assert!(Session::from_flag("[2001:db8::5]:22").is_ok());
        for bad in ["10.0.0.5", "10.0.0.5:0", "host:22", "2001:db8::5:22"] {
            assert!(Session::from_flag(bad).is_err(), "{bad}");
        }
    }
}
