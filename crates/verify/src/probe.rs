//! The prober: TCP connect with token exchange, UDP with token, ICMP echo;
//! bounded concurrency, per-probe timeout and retries; one verdict per target.
//!
//! | verdict | meaning |
//! |---|---|
//! | `pass` | answered with the expected host's token (or, ICMP, an echo reply; TCP to a port taken by the real service, a connection without a token) |
//! | `blocked` | nothing came back and no responder saw the probe |
//! | `return-blocked` | a responder's receipt shows the probe arrived, but no answer came back (UDP; a TCP handshake cannot get this far) |
//! | `refused` | an RST or an ICMP error came back (`from` says from where) |
//! | `wrong-host` | another host answered, or the reply's token does not match its fields (altered on the way, or another key) |
//! | `nat` | delivered, but the responder saw another source address (`from`), or answered on another address or port; a warning, not a failure |
//! | `local` | the destination is the prober's own address: no network path to test |

use std::collections::HashMap;
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portmatrix_model::FlowTag;
use serde::{Deserialize, Serialize};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::responder::Receipt;
use crate::token::{hex, nonce, Key, NONCE_LEN};
use crate::{wire, Proto};

/// Whether a target must be reachable (a required flow) or must not (a
/// forbidden port sampled as a negative check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    Reach,
    Block,
}

/// One thing to probe.
///
/// Deserialising reads what serialising writes (and `portmatrix serve
/// --results` reads back): omitted optional fields take their defaults,
/// unknown fields are ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub addr: IpAddr,
    pub proto: Proto,
    /// 0 for ICMP.
    #[serde(default)]
    pub port: u16,
    /// The host whose responder should answer (its key checks the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub expect: Expect,
    /// The flows this probe stands for (none for a negative probe).
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "flows_or_label", alias = "label")]
    pub flows: Vec<FlowTag>,
    /// The host or network the probe is sent from, for the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Send from this source port (flows that fix the initiator's port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    /// Send from this address (a source with several addresses of a family).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_addr: Option<IpAddr>,
}

impl Target {
    pub fn new(addr: IpAddr, proto: Proto, port: u16) -> Self {
        Target { addr, proto, port, host: None, expect: Expect::Reach, flows: Vec::new(), source: None, src_port: None, src_addr: None }
    }
    pub fn host(mut self, h: impl Into<String>) -> Self {
        self.host = Some(h.into());
        self
    }
    pub fn expect(mut self, e: Expect) -> Self {
        self.expect = e;
        self
    }
    pub fn source(mut self, s: impl Into<String>) -> Self {
        self.source = Some(s.into());
        self
    }
    pub fn flow(mut self, f: FlowTag) -> Self {
        if !self.flows.contains(&f) {
            self.flows.push(f);
        }
        self
    }
    /// The flows as one text, for reports: `p/a, p/b`.
    pub fn flows_text(&self) -> String {
        self.flows.iter().map(FlowTag::to_string).collect::<Vec<_>>().join(", ")
    }
    /// `tcp/443`, `udp/53`, `icmp`.
    pub fn service(&self) -> String {
        match self.proto {
            Proto::Icmp => "icmp".into(),
            p => format!("{p}/{}", self.port),
        }
    }
    /// `10.0.0.1 tcp/443`, `[2001:db8::1] udp/53`, `10.0.0.1 icmp`.
    pub fn endpoint(&self) -> String {
        match self.proto {
            Proto::Icmp => format!("{} icmp", self.addr),
            p => format!("{} {p}/{}", self.addr, self.port),
        }
    }
}

/// `flows` as written now (a list of `product/flow`), or as results files
/// of earlier versions wrote it (`label`: one comma-separated text).
fn flows_or_label<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<FlowTag>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<FlowTag>),
        Text(String),
    }
    Ok(match Either::deserialize(d)? {
        Either::List(v) => v,
        Either::Text(t) => t.split(',').filter_map(|x| FlowTag::parse(x.trim())).collect(),
    })
}

/// What a probe found. Ordered as declared (and as [`Verdict::ALL`]);
/// deserialising an unknown verdict is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Blocked,
    ReturnBlocked,
    Refused,
    WrongHost,
    Nat,
    Local,
}

impl Verdict {
    pub const ALL: [Verdict; 7] =
        [Verdict::Pass, Verdict::Blocked, Verdict::ReturnBlocked, Verdict::Refused, Verdict::WrongHost, Verdict::Nat, Verdict::Local];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Blocked => "blocked",
            Verdict::ReturnBlocked => "return-blocked",
            Verdict::Refused => "refused",
            Verdict::WrongHost => "wrong-host",
            Verdict::Nat => "nat",
            Verdict::Local => "local",
        }
    }
    /// The verdict named `s` (as [`Verdict::as_str`] writes it).
    pub fn parse(s: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == s)
    }
    /// Whether this verdict meets the expectation.
    pub fn meets(self, e: Expect) -> bool {
        match e {
            Expect::Reach => matches!(self, Verdict::Pass | Verdict::Nat | Verdict::Local),
            Expect::Block => matches!(self, Verdict::Blocked | Verdict::Refused | Verdict::Local),
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One probe's result. Deserialising reads what serialising writes, like
/// [`Target`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeResult {
    pub target: Target,
    pub verdict: Verdict,
    /// The verdict meets the target's expectation.
    pub ok: bool,
    /// Who refused (refused), or the source address the responder saw (nat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<IpAddr>,
    /// The host named in the answer (wrong-host shows who answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    #[serde(default)]
    pub attempts: u32,
}

impl ProbeResult {
    /// Whether the probe was sent from or to `host`.
    pub fn involves(&self, host: &str) -> bool {
        self.target.source.as_deref() == Some(host) || self.target.host.as_deref() == Some(host)
    }
}

#[derive(Debug, Clone)]
pub struct ProbeConfig {
    pub key: Key,
    pub concurrency: usize,
    pub timeout: Duration,
    /// Extra attempts after a silent one.
    pub retries: u32,
    /// Addresses of the prober's own host (targets there are `local`).
    pub local_addrs: Vec<IpAddr>,
    /// Bind probes to this source address (else the kernel picks).
    pub source: Option<IpAddr>,
    /// Print `probed N/M` on stderr as results come.
    pub progress: bool,
    /// ICMP over the unprivileged ping socket even when raw sockets are
    /// allowed (it is used anyway when they are not).
    pub icmp_unprivileged: bool,
}

impl ProbeConfig {
    pub fn new(key: Key) -> Self {
        ProbeConfig {
            key,
            concurrency: 64,
            timeout: Duration::from_millis(1500),
            retries: 1,
            local_addrs: Vec::new(),
            source: None,
            progress: false,
            icmp_unprivileged: false,
        }
    }
}

/// What one attempt saw.
#[derive(Debug, Clone)]
enum Raw {
    /// Something answered; `reply` is what it said ([`wire::Answer::Foreign`]
    /// for a real service, [`wire::Answer::Empty`] for an ICMP echo reply).
    Answer { reply: wire::Answer, local: Option<SocketAddr>, rtt: Duration },
    /// RST or ICMP error.
    Refused { from: IpAddr, why: String },
    /// Nothing came back.
    Silent { local: Option<SocketAddr> },
    /// The probe could not be sent.
    Error(String),
}

struct Attempts {
    last: Raw,
    nonces: Vec<String>,
    n: u32,
}

/// Probes every target; `receipts` is called once all probes are done (so a
/// responder's file is read after the last probe arrived) and is used to tell
/// `blocked` from `return-blocked` and to see NAT. Results keep target order.
pub async fn run(targets: Vec<Target>, cfg: &ProbeConfig, receipts: impl FnOnce() -> Vec<Receipt>) -> Vec<ProbeResult> {
    let total = targets.len();
    let sem = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let mut set = JoinSet::new();
    for (i, t) in targets.iter().cloned().enumerate() {
        let sem = sem.clone();
        let cfg2 = cfg.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let a = if is_local(&t, &cfg2) { None } else { Some(attempt_all(&t, &cfg2).await) };
            (i, a)
        });
    }
    // Outer None: the probe's task did not finish (it panicked).
    let mut raw: Vec<Option<Option<Attempts>>> = (0..total).map(|_| None).collect();
    let mut done = 0usize;
    while let Some(r) = set.join_next().await {
        if let Ok((i, a)) = r {
            raw[i] = Some(a);
        }
        done += 1;
        if cfg.progress {
            eprint!("\rprobed {done}/{total}");
        }
    }
    if cfg.progress && total > 0 {
        eprintln!();
    }
    let receipts = receipts();
    let by_nonce: HashMap<&str, &Receipt> = receipts.iter().map(|r| (r.nonce.as_str(), r)).collect();
    targets
        .into_iter()
        .zip(raw)
        .map(|(t, a)| match a {
            Some(a) => classify(t, a, &cfg.key, &by_nonce),
            None => classify(
                t,
                Some(Attempts { last: Raw::Error("the probe task failed".into()), nonces: Vec::new(), n: 0 }),
                &cfg.key,
                &by_nonce,
            ),
        })
        .collect()
}

fn is_local(t: &Target, cfg: &ProbeConfig) -> bool {
    cfg.local_addrs.contains(&t.addr)
}

async fn attempt_all(t: &Target, cfg: &ProbeConfig) -> Attempts {
    let mut nonces = Vec::new();
    let mut n = 0;
    loop {
        n += 1;
        let nc = match nonce() {
            Ok(nc) => nc,
            Err(e) => return Attempts { last: Raw::Error(e.to_string()), nonces, n },
        };
        nonces.push(hex(&nc));
        let r = match t.proto {
            Proto::Tcp => tcp_attempt(t, &nc, cfg).await,
            Proto::Udp => udp_attempt(t, &nc, cfg).await,
            Proto::Icmp => icmp_attempt(t, cfg).await,
        };
        // A probe that should be blocked is not retried: silence is its pass.
        let again = matches!(r, Raw::Silent { .. }) && n <= cfg.retries && t.expect == Expect::Reach;
        if !again {
            return Attempts { last: r, nonces, n };
        }
    }
}

fn classify(t: Target, a: Option<Attempts>, key: &Key, receipts: &HashMap<&str, &Receipt>) -> ProbeResult {
    let mut res = ProbeResult {
        target: t,
        verdict: Verdict::Blocked,
        ok: false,
        from: None,
        answered_by: None,
        detail: String::new(),
        rtt_ms: None,
        attempts: 0,
    };
    let mut errored = false;
    let t = &res.target;
    match a {
        None => {
            res.verdict = Verdict::Local;
            res.detail = "destination is this host's own address".into();
        }
        Some(a) => {
            res.attempts = a.n;
            let last_nonce = a.nonces.last().cloned().unwrap_or_default();
            match a.last {
                Raw::Answer { reply: wire::Answer::Foreign, rtt, .. } if a.nonces.iter().any(|n| receipts.contains_key(n.as_str())) => {
                    // The responder answered this probe: what came back is
                    // not its reply, so something on the way replaced it.
                    res.rtt_ms = Some(ms(rtt));
                    res.verdict = Verdict::WrongHost;
                    res.detail = "the responder received this probe, but what came back is not its reply (replaced on the way?)".into();
                }
                Raw::Answer { reply: wire::Answer::Foreign | wire::Answer::Empty, rtt, .. } => {
                    res.verdict = Verdict::Pass;
                    res.rtt_ms = Some(ms(rtt));
                    if t.proto == Proto::Tcp {
                        res.detail = "connected; no token (port taken by the real service?)".into();
                    }
                }
                Raw::Answer { reply: wire::Answer::Malformed(why), rtt, .. } => {
                    res.rtt_ms = Some(ms(rtt));
                    res.verdict = Verdict::WrongHost;
                    res.detail = format!("unverifiable reply: {why}");
                }
                Raw::Answer { reply: wire::Answer::Reply(r), local, rtt } => {
                    res.rtt_ms = Some(ms(rtt));
                    let nonce = crate::token::unhex::<NONCE_LEN>(&last_nonce).unwrap_or([0; NONCE_LEN]);
                    judge_reply(&mut res, &r, local, key, &nonce);
                }
                Raw::Refused { from, why } => {
                    res.verdict = Verdict::Refused;
                    res.from = Some(from);
                    res.detail = why;
                }
                Raw::Silent { local } => {
                    let seen = a.nonces.iter().find_map(|n| receipts.get(n.as_str()));
                    match seen {
                        Some(rc) => {
                            res.verdict = Verdict::ReturnBlocked;
                            res.answered_by = Some(rc.host.clone());
                            res.detail = format!("arrived at {} from {}, no answer came back", rc.host, rc.src);
                            if let Some(l) = local {
                                if l.ip() != rc.src.ip() && !l.ip().is_unspecified() {
                                    res.from = Some(rc.src.ip());
                                    res.detail.push_str(&format!(" (source translated from {})", l.ip()));
                                }
                            }
                        }
                        None => {
                            res.verdict = Verdict::Blocked;
                            res.detail = format!("no answer after {} attempt(s)", a.n);
                        }
                    }
                }
                Raw::Error(e) => {
                    res.verdict = Verdict::Blocked;
                    res.detail = format!("could not send: {e}");
                    errored = true;
                }
            }
        }
    }
    // A probe that could not be sent proves nothing either way.
    res.ok = !errored && res.verdict.meets(res.target.expect);
    res
}

/// The verdict on a signed reply: first whether it is authentic (the token
/// of the host it names, over exactly the fields it carries), then whether
/// those fields are what the probe expected.
fn judge_reply(res: &mut ProbeResult, r: &wire::Reply, local: Option<SocketAddr>, key: &Key, nonce: &[u8; NONCE_LEN]) {
    let t = &res.target;
    if !r.verify(key, nonce) {
        res.verdict = Verdict::WrongHost;
        res.detail =
            format!("the reply's token does not match its fields (altered on the way, or another key); it claims host {:?}", r.host);
        return;
    }
    res.answered_by = Some(r.host.clone());
    if let Some(e) = t.host.as_ref().filter(|e| **e != r.host) {
        res.verdict = Verdict::WrongHost;
        res.detail = format!("expected {e}, answered by {}", r.host);
        return;
    }
    if r.proto != t.proto {
        res.verdict = Verdict::WrongHost;
        res.detail = format!("probed over {}, answered over {}", t.proto, r.proto);
        return;
    }
    // A responder never binds a wildcard, so the arrival address is the
    // one the probe reached.
    if r.arrived.ip() != t.addr || r.arrived.port() != t.port {
        res.verdict = Verdict::Nat;
        res.detail = format!("destination translated: answered on {}", r.arrived);
        return;
    }
    res.verdict = Verdict::Pass;
    let Some(local) = local else { return };
    let seen = r.observed_src;
    if seen.ip() != local.ip() {
        res.verdict = Verdict::Nat;
        res.from = Some(seen.ip());
        res.detail = format!("sent from {}, arrived from {}", local.ip(), seen.ip());
    } else if t.src_port.is_some_and(|p| p != seen.port()) {
        res.verdict = Verdict::Nat;
        res.from = Some(seen.ip());
        res.detail = format!("sent from port {}, arrived from port {}", local.port(), seen.port());
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn refused_or(e: &io::Error, t: &Target) -> Option<Raw> {
    use nix::errno::Errno;
    let why = match Errno::from_raw(e.raw_os_error()?) {
        Errno::ECONNREFUSED => "connection refused (RST or ICMP port unreachable)",
        Errno::EHOSTUNREACH => "host unreachable (ICMP)",
        Errno::ENETUNREACH => "network unreachable (ICMP or no route)",
        Errno::EACCES | Errno::EPERM => "administratively prohibited",
        _ => return None,
    };
    Some(Raw::Refused { from: t.addr, why: why.into() })
}

async fn tcp_attempt(t: &Target, nonce: &[u8; NONCE_LEN], cfg: &ProbeConfig) -> Raw {
    let dst = SocketAddr::new(t.addr, t.port);
    let sock = match if t.addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() } {
        Ok(s) => s,
        Err(e) => return Raw::Error(e.to_string()),
    };
    if t.src_addr.or(cfg.source).is_some() || t.src_port.is_some() {
        let src = SocketAddr::new(t.src_addr.or(cfg.source).unwrap_or_else(|| unspecified(t.addr)), t.src_port.unwrap_or(0));
        let _ = sock.set_reuseaddr(true);
        // The node may also listen on this port (a lab responder sharing it).
        let _ = sock.set_reuseport(true);
        if let Err(e) = sock.bind(src) {
            return Raw::Error(format!("bind {src}: {e}"));
        }
    }
    let start = Instant::now();
    let stream = match tokio::time::timeout(cfg.timeout, sock.connect(dst)).await {
        Err(_) => return Raw::Silent { local: None },
        Ok(Err(e)) => {
            return refused_or(&e, t).unwrap_or_else(|| {
                if e.kind() == io::ErrorKind::TimedOut {
                    Raw::Silent { local: None }
                } else {
                    Raw::Error(e.to_string())
                }
            })
        }
        Ok(Ok(s)) => s,
    };
    let rtt = start.elapsed();
    let local = stream.local_addr().ok();
    let mut stream = stream;
    let exchange = async {
        stream.write_all(&wire::request(nonce, 0)).await?;
        let mut buf = Vec::new();
        tokio::io::BufReader::new((&mut stream).take(wire::MAX_REQUEST as u64)).read_until(b'\n', &mut buf).await?;
        io::Result::Ok(buf)
    };
    let reply = match tokio::time::timeout(cfg.timeout, exchange).await {
        Ok(Ok(buf)) => wire::parse_reply(&buf),
        _ => wire::Answer::Empty,
    };
    Raw::Answer { reply, local, rtt }
}

async fn udp_attempt(t: &Target, nonce: &[u8; NONCE_LEN], cfg: &ProbeConfig) -> Raw {
    let dst = SocketAddr::new(t.addr, t.port);
    let bind = SocketAddr::new(t.src_addr.or(cfg.source).unwrap_or_else(|| unspecified(t.addr)), t.src_port.unwrap_or(0));
    let sock = match udp_socket(bind) {
        Ok(s) => s,
        Err(e) => return Raw::Error(format!("bind {bind}: {e}")),
    };
    enable_recverr(&sock, t.addr.is_ipv6());
    if let Err(e) = sock.connect(dst).await {
        return refused_or(&e, t).unwrap_or_else(|| Raw::Error(e.to_string()));
    }
    let local = sock.local_addr().ok();
    let start = Instant::now();
    if let Err(e) = sock.send(&wire::request(nonce, wire::UDP_REQUEST_LEN)).await {
        return refused_or(&e, t).unwrap_or_else(|| Raw::Error(e.to_string()));
    }
    let mut buf = [0u8; 1024];
    let deadline = start + cfg.timeout;
    match tokio::time::timeout_at(deadline.into(), sock.recv(&mut buf)).await {
        Err(_) => Raw::Silent { local },
        Ok(Err(e)) => {
            let offender = error_queue_offender(&sock);
            match refused_or(&e, t) {
                Some(Raw::Refused { from, why }) => Raw::Refused { from: offender.unwrap_or(from), why },
                Some(r) => r,
                None => Raw::Error(e.to_string()),
            }
        }
        // A reply without our token is a real service's answer.
        Ok(Ok(n)) => Raw::Answer { reply: wire::parse_reply(&buf[..n]), local, rtt: start.elapsed() },
    }
}

/// Asks for ICMP errors on the socket's error queue (to learn who refused).
fn enable_recverr(sock: &UdpSocket, v6: bool) {
    use nix::sys::socket::{setsockopt, sockopt};
    let _ = if v6 { setsockopt(sock, sockopt::Ipv6RecvErr, &true) } else { setsockopt(sock, sockopt::Ipv4RecvErr, &true) };
}

/// The address that sent the ICMP error on the socket's error queue, if any.
fn error_queue_offender(sock: &UdpSocket) -> Option<IpAddr> {
    use nix::sys::socket::{recvmsg, AddressFamily, ControlMessageOwned, MsgFlags, SockaddrStorage};
    use std::os::fd::AsRawFd;
    let mut data = [0u8; 512];
    let mut iov = [io::IoSliceMut::new(&mut data)];
    let mut control = nix::cmsg_space!(nix::libc::sock_extended_err, nix::libc::sockaddr_in6);
    let msg =
        recvmsg::<SockaddrStorage>(sock.as_raw_fd(), &mut iov, Some(&mut control), MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT).ok()?;
    for c in msg.cmsgs().ok()? {
        match c {
            // A local error names no offender (its family is AF_UNSPEC).
            ControlMessageOwned::Ipv4RecvErr(_, offender) => {
                return offender
                    .filter(|sin| i32::from(sin.sin_family) == AddressFamily::Inet as i32)
                    .map(|sin| IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))));
            }
            ControlMessageOwned::Ipv6RecvErr(_, offender) => {
                return offender
                    .filter(|sin6| i32::from(sin6.sin6_family) == AddressFamily::Inet6 as i32)
                    .map(|sin6| IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
            }
            _ => {}
        }
    }
    None
}

fn unspecified(like: IpAddr) -> IpAddr {
    if like.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    }
}

fn udp_socket(bind: SocketAddr) -> io::Result<UdpSocket> {
    let s = socket2::Socket::new(socket2::Domain::for_address(bind), socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if bind.port() != 0 {
        s.set_reuse_address(true)?;
        s.set_reuse_port(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&bind.into())?;
    UdpSocket::from_std(s.into())
}

/// ICMP(v6) echo over a raw socket (needs CAP_NET_RAW).
async fn icmp_attempt(t: &Target, cfg: &ProbeConfig) -> Raw {
    match icmp_echo(t.addr, t.src_addr.or(cfg.source), cfg.timeout, cfg.icmp_unprivileged).await {
        Ok(r) => r,
        Err(e) => Raw::Error(format!("icmp: {e}")),
    }
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 { u16::from_be_bytes([c[0], c[1]]) } else { u16::from_be_bytes([c[0], 0]) };
        sum += w as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

async fn icmp_echo(addr: IpAddr, source: Option<IpAddr>, timeout: Duration, dgram: bool) -> io::Result<Raw> {
    use socket2::{Domain, Protocol, Socket, Type};
    let v6 = addr.is_ipv6();
    let (dom, proto) = if v6 { (Domain::IPV6, Protocol::ICMPV6) } else { (Domain::IPV4, Protocol::ICMPV4) };
    // A raw socket needs CAP_NET_RAW; without it, the unprivileged "ping"
    // socket (net.ipv4.ping_group_range) does echo, but sees no ICMP errors.
    let (sock, raw) = if dgram {
        (Socket::new(dom, Type::DGRAM, Some(proto))?, false)
    } else {
        match Socket::new(dom, Type::RAW, Some(proto)) {
            Ok(s) => (s, true),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => (Socket::new(dom, Type::DGRAM, Some(proto))?, false),
            Err(e) => return Err(e),
        }
    };
    sock.set_nonblocking(true)?;
    if let Some(s) = source {
        sock.bind(&SocketAddr::new(s, 0).into())?;
    }
    let mut r = [0u8; 4];
    crate::token::fill_random(&mut r)?;
    let id = u16::from_be_bytes([r[0], r[1]]);
    let seq = u16::from_be_bytes([r[2], r[3]]);
    let mut pkt = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    pkt.extend_from_slice(&id.to_be_bytes());
    pkt.extend_from_slice(&seq.to_be_bytes());
    pkt.extend_from_slice(b"portmatrix-probe");
    if !v6 {
        let c = checksum(&pkt);
        pkt[2..4].copy_from_slice(&c.to_be_bytes());
    } // the kernel fills the ICMPv6 checksum
      // SAFETY: the socket2::Socket owns its descriptor and the AsyncFd owns the
      // socket until it is dropped.
    let fd = unsafe { AsyncFd::register(sock) }?;
    let start = Instant::now();
    let dst: socket2::SockAddr = SocketAddr::new(addr, 0).into();
    if let Err(e) = fd.get_ref().send_to(&pkt, &dst) {
        let t = Target::new(addr, Proto::Icmp, 0);
        return Ok(refused_or(&e, &t).unwrap_or(Raw::Error(e.to_string())));
    }
    let deadline = tokio::time::Instant::from_std(start + timeout);
    let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
    loop {
        let mut guard = match tokio::time::timeout_at(deadline, fd.readable()).await {
            Err(_) => return Ok(Raw::Silent { local: None }),
            Ok(g) => g?,
        };
        let (n, from) = match guard.try_io(|s| s.get_ref().recv_from(&mut buf)) {
            Err(_would_block) => continue,
            Ok(r) => r?,
        };
        // SAFETY: recv_from initialised the first n bytes.
        let data: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
        let from_ip = from.as_socket().map(|s| s.ip());
        // Raw IPv4 sockets get the IP header; ping sockets and ICMPv6 do not.
        let (icmp, src) = if v6 || !raw {
            (data, from_ip)
        } else {
            if data.len() < 20 {
                continue;
            }
            let ihl = ((data[0] & 0x0f) as usize) * 4;
            if data.len() < ihl + 8 {
                continue;
            }
            let src = Ipv4Addr::new(data[12], data[13], data[14], data[15]);
            (&data[ihl..], Some(IpAddr::V4(src)))
        };
        if icmp.len() < 8 {
            continue;
        }
        let (reply_ty, unreach_ty, inner_hdr) = if v6 { (129, 1, 40) } else { (0, 3, 20) };
        let ty = icmp[0];
        // A ping socket's identifier is the kernel's, and it matches replies itself.
        if ty == reply_ty && (!raw || icmp[4..6] == id.to_be_bytes()) && icmp[6..8] == seq.to_be_bytes() && src == Some(addr) {
            return Ok(Raw::Answer { reply: wire::Answer::Empty, local: None, rtt: start.elapsed() });
        }
        if ty == unreach_ty || (!v6 && ty == 11) || (v6 && ty == 3) {
            // The error quotes our packet: IP header + ICMP header.
            let inner = &icmp[8..];
            let ihl = if v6 { inner_hdr } else { inner.first().map(|b| ((b & 0x0f) as usize) * 4).unwrap_or(20) };
            if inner.len() >= ihl + 8 && inner[ihl + 4..ihl + 6] == id.to_be_bytes() {
                let why = match (v6, ty, icmp[1]) {
                    (false, 3, 13) | (true, 1, 1) => "administratively prohibited (ICMP)",
                    (false, 3, 1) | (true, 1, 3) => "host unreachable (ICMP)",
                    (false, 11, _) | (true, 3, _) => "time exceeded (ICMP)",
                    _ => "destination unreachable (ICMP)",
                };
                return Ok(Raw::Refused { from: src.unwrap_or(addr), why: why.into() });
            }
        }
    }
}

/// [`run`] on a runtime of its own, for callers without one.
pub fn run_blocking(targets: Vec<Target>, cfg: &ProbeConfig, receipts: impl FnOnce() -> Vec<Receipt>) -> io::Result<Vec<ProbeResult>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(rt.block_on(run(targets, cfg, receipts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_echo_request() {
        // Classic example: type 8, id 1, seq 1, no payload -> 0xf7fd.
        let pkt = [8, 0, 0, 0, 0, 1, 0, 1];
        assert_eq!(checksum(&pkt), 0xf7fd);
    }

    #[test]
    fn expectations() {
        assert!(Verdict::Nat.meets(Expect::Reach));
        assert!(!Verdict::ReturnBlocked.meets(Expect::Reach));
        assert!(Verdict::Refused.meets(Expect::Block));
        assert!(!Verdict::Pass.meets(Expect::Block));
        assert!(!Verdict::WrongHost.meets(Expect::Block));
    }
}
