//! The responder: listens on the TCP and UDP ports a host must accept and
//! answers each probe with a token (see [`crate::token`]).
//!
//! - Ranges larger than [`ResponderConfig::sample_limit`] are sampled (the
//!   bind report says so); the prober samples the same way.
//! - A port that is already taken (by the real service) is reported as
//!   `in-use`; the prober then sees a connection without a token.
//! - A UDP reply is never larger than its request; each source address has a
//!   token-bucket rate limit; over the limit, probes are dropped silently.
//! - Every probe received is recorded as a [`Receipt`] (nonce, observed source,
//!   time), in memory and optionally appended to a JSON-lines file.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::token::{hex, HostKey, Key};
use crate::wire;
use crate::{sample_ports, PortSet, Proto};

/// What to listen on and how to answer.
#[derive(Debug, Clone)]
pub struct ResponderConfig {
    /// The host name this responder stands for (selects its key).
    pub host: String,
    pub key: Key,
    /// Addresses to bind; each (address, proto, port) gets its own socket so
    /// the token binds the address a probe was sent to.
    pub addrs: Vec<IpAddr>,
    pub listen: Vec<(Proto, PortSet)>,
    /// Most ports bound per protocol and address; larger sets are sampled.
    pub sample_limit: usize,
    /// Probes per second per source address (sustained) and burst.
    pub rate_per_sec: f64,
    pub rate_burst: f64,
    /// Append receipts to this JSON-lines file as they come.
    pub receipts_file: Option<PathBuf>,
    /// Serve the receipts on this Unix socket: each connection gets every
    /// receipt so far as JSON lines. A Unix socket lives in the file system,
    /// so a prober in another network namespace on the machine can read it.
    pub control: Option<PathBuf>,
    /// Set SO_REUSEPORT on the sockets, so a prober on the same node can
    /// send from a port this responder listens on (the lab sets it). A real
    /// service that also sets it would then share its port: off by default.
    pub reuse_port: bool,
}

impl ResponderConfig {
    pub fn new(host: impl Into<String>, key: Key, addrs: Vec<IpAddr>, listen: Vec<(Proto, PortSet)>) -> Self {
        ResponderConfig {
            host: host.into(),
            key,
            addrs,
            listen,
            sample_limit: 512,
            rate_per_sec: 2000.0,
            rate_burst: 4000.0,
            receipts_file: None,
            control: None,
            reuse_port: false,
        }
    }
}

/// One probe seen by a responder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub nonce: String,
    pub proto: Proto,
    /// Where the probe came from, as this host sees it.
    pub src: SocketAddr,
    /// The local address and port it arrived on.
    pub dst: SocketAddr,
    pub host: String,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
}

/// The receipts of one responder (shared with its tasks).
#[derive(Debug, Clone, Default)]
pub struct ReceiptLog {
    inner: Arc<Mutex<ReceiptInner>>,
}

#[derive(Debug, Default)]
struct ReceiptInner {
    list: Vec<Receipt>,
    file: Option<std::fs::File>,
}

/// Receipts kept in memory at most (oldest dropped first).
const MAX_RECEIPTS: usize = 200_000;

impl ReceiptLog {
    fn push(&self, r: Receipt) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = g.file.as_mut() {
            if let Ok(line) = serde_json::to_string(&r) {
                let _ = writeln!(f, "{line}");
            }
        }
        if g.list.len() >= MAX_RECEIPTS {
            g.list.drain(..MAX_RECEIPTS / 2);
        }
        g.list.push(r);
    }
    /// A copy of all receipts so far.
    pub fn snapshot(&self) -> Vec<Receipt> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).list.clone()
    }
}

/// Reads the receipts of a responder: its JSON-lines file (`--receipts`) or
/// its control socket (`--control`). Lines that do not parse (a line being
/// written) are skipped.
pub fn read_receipts_file(path: &std::path::Path) -> io::Result<Vec<Receipt>> {
    use std::os::unix::fs::FileTypeExt;
    let text = if std::fs::metadata(path)?.file_type().is_socket() {
        use std::io::Read;
        let mut s = std::os::unix::net::UnixStream::connect(path)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut t = String::new();
        s.read_to_string(&mut t)?;
        t
    } else {
        std::fs::read_to_string(path)?
    };
    Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

async fn serve_control(l: tokio::net::UnixListener, log: ReceiptLog, path: PathBuf, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            r = l.accept() => {
                let Ok((s, _)) = r else { continue };
                let mut text = String::new();
                for r in log.snapshot() {
                    if let Ok(line) = serde_json::to_string(&r) {
                        text.push_str(&line);
                        text.push('\n');
                    }
                }
                let _ = tokio::time::timeout(Duration::from_secs(5), async {
                    let mut buf = text.as_bytes();
                    while !buf.is_empty() {
                        s.writable().await?;
                        match s.try_write(buf) {
                            Ok(n) => buf = &buf[n..],
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                            Err(e) => return Err(e),
                        }
                    }
                    io::Result::Ok(())
                })
                .await;
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// The state of one (address, proto, port) after binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BindState {
    Listening,
    /// Taken by another program (the real service, presumably).
    InUse,
    /// Could not bind for another reason.
    Failed(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Binding {
    pub addr: IpAddr,
    pub proto: Proto,
    pub port: u16,
    pub state: BindState,
}

/// What the responder bound, with a note per sampled set.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BindReport {
    pub bindings: Vec<Binding>,
    pub notes: Vec<String>,
}

impl BindReport {
    pub fn listening(&self) -> usize {
        self.bindings.iter().filter(|b| b.state == BindState::Listening).count()
    }
    pub fn in_use(&self) -> impl Iterator<Item = &Binding> {
        self.bindings.iter().filter(|b| b.state == BindState::InUse)
    }
    pub fn failed(&self) -> impl Iterator<Item = &Binding> {
        self.bindings.iter().filter(|b| matches!(b.state, BindState::Failed(_)))
    }
}

/// A started responder; dropping it stops its tasks, [`Running::shutdown`]
/// waits for them.
pub struct Running {
    pub report: BindReport,
    pub receipts: ReceiptLog,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Running {
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::sleep(Duration::from_secs(2));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                r = self.tasks.join_next() => if r.is_none() { break },
                _ = &mut deadline => { self.tasks.abort_all(); break }
            }
        }
    }
}

struct Shared {
    host: String,
    key: HostKey,
    receipts: ReceiptLog,
    limiter: RateLimiter,
}

/// Raises the soft open-files limit to the hard limit (many sockets).
fn raise_nofile_limit() {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// Binds every socket and starts answering. Must be called within a tokio
/// runtime (and, for a namespace, on a thread inside it).
pub async fn start(cfg: &ResponderConfig) -> io::Result<Running> {
    raise_nofile_limit();
    let file = match &cfg.receipts_file {
        Some(p) => Some(std::fs::OpenOptions::new().create(true).append(true).open(p)?),
        None => None,
    };
    let receipts = ReceiptLog { inner: Arc::new(Mutex::new(ReceiptInner { list: Vec::new(), file })) };
    let shared = Arc::new(Shared {
        host: cfg.host.clone(),
        key: cfg.key.host_key(&cfg.host),
        receipts: receipts.clone(),
        limiter: RateLimiter::new(cfg.rate_per_sec, cfg.rate_burst),
    });
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    if let Some(path) = &cfg.control {
        use std::os::unix::fs::FileTypeExt;
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = std::fs::remove_file(path); // a stale socket of an earlier run
        }
        let l = tokio::net::UnixListener::bind(path)?;
        tasks.spawn(serve_control(l, receipts.clone(), path.clone(), stop_rx.clone()));
    }
    let mut report = BindReport::default();

    for (proto, set) in &cfg.listen {
        if *proto == Proto::Icmp {
            continue; // the kernel answers echo requests
        }
        let ports = sample_ports(set, cfg.sample_limit);
        if ports.len() < set.len() {
            report.notes.push(format!("{proto} {set}: {} ports, sampled {} (limit {})", set.len(), ports.len(), cfg.sample_limit));
        }
        for &addr in &cfg.addrs {
            for &port in &ports {
                let sa = SocketAddr::new(addr, port);
                let state = match proto {
                    Proto::Tcp => match bind_tcp(sa, cfg.reuse_port) {
                        Ok(l) => {
                            tasks.spawn(serve_tcp(l, shared.clone(), stop_rx.clone()));
                            BindState::Listening
                        }
                        Err(e) => bind_error(e),
                    },
                    Proto::Udp => match bind_udp(sa, cfg.reuse_port) {
                        Ok(s) => {
                            tasks.spawn(serve_udp(s, shared.clone(), stop_rx.clone()));
                            BindState::Listening
                        }
                        Err(e) => bind_error(e),
                    },
                    Proto::Icmp => unreachable!(),
                };
                report.bindings.push(Binding { addr, proto: *proto, port, state });
            }
        }
    }
    Ok(Running { report, receipts, stop, tasks })
}

fn bind_error(e: io::Error) -> BindState {
    if e.kind() == io::ErrorKind::AddrInUse {
        BindState::InUse
    } else {
        BindState::Failed(e.to_string())
    }
}

fn socket_for(sa: SocketAddr, ty: socket2::Type, proto: socket2::Protocol, reuse_port: bool) -> io::Result<socket2::Socket> {
    let s = socket2::Socket::new(socket2::Domain::for_address(sa), ty, Some(proto))?;
    if reuse_port {
        s.set_reuse_port(true)?;
    }
    if sa.is_ipv6() {
        s.set_only_v6(true)?;
    }
    // No IP_FREEBIND: an address this host does not have must fail to bind
    // (and be reported), not listen for nothing.
    s.set_nonblocking(true)?;
    Ok(s)
}

fn bind_tcp(sa: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let s = socket_for(sa, socket2::Type::STREAM, socket2::Protocol::TCP, reuse_port)?;
    s.set_reuse_address(true)?;
    s.bind(&sa.into())?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

fn bind_udp(sa: SocketAddr, reuse_port: bool) -> io::Result<UdpSocket> {
    let s = socket_for(sa, socket2::Type::DGRAM, socket2::Protocol::UDP, reuse_port)?;
    s.bind(&sa.into())?;
    UdpSocket::from_std(s.into())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

async fn serve_tcp(l: TcpListener, sh: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            r = l.accept() => match r {
                Ok((s, peer)) => {
                    if !sh.limiter.allow(peer.ip()) {
                        continue; // dropped: closes at once
                    }
                    conns.spawn(answer_tcp(s, peer, sh.clone()));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
}

async fn answer_tcp(s: TcpStream, peer: SocketAddr, sh: Arc<Shared>) {
    let Ok(local) = s.local_addr() else { return };
    let mut buf = Vec::with_capacity(128);
    let read = async {
        let mut chunk = [0u8; 256];
        while !buf.contains(&b'\n') && buf.len() < wire::MAX_REQUEST {
            let n = read_some(&s, &mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        io::Result::Ok(())
    };
    if tokio::time::timeout(Duration::from_secs(5), read).await.is_err() {
        return;
    }
    let Some(nonce) = wire::parse_request(&buf) else {
        return;
    };
    sh.receipts.push(Receipt { nonce: hex(&nonce), proto: Proto::Tcp, src: peer, dst: local, host: sh.host.clone(), time_ms: now_ms() });
    let token = sh.key.token(&nonce, local.ip(), local.port(), Proto::Tcp);
    let reply = wire::reply(&token, local.ip(), peer, &sh.host);
    let _ = tokio::time::timeout(Duration::from_secs(5), async { write_all(&s, &reply).await }).await;
}

async fn serve_udp(s: UdpSocket, sh: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let Ok(local) = s.local_addr() else { return };
    let mut buf = vec![0u8; 2048];
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            r = s.recv_from(&mut buf) => {
                let Ok((n, peer)) = r else { continue };
                if !sh.limiter.allow(peer.ip()) {
                    continue;
                }
                let Some(nonce) = wire::parse_request(&buf[..n]) else { continue };
                sh.receipts.push(Receipt {
                    nonce: hex(&nonce),
                    proto: Proto::Udp,
                    src: peer,
                    dst: local,
                    host: sh.host.clone(),
                    time_ms: now_ms(),
                });
                let token = sh.key.token(&nonce, local.ip(), local.port(), Proto::Udp);
                let mut reply = wire::reply(&token, local.ip(), peer, &sh.host);
                // Never larger than the request: no amplification.
                reply.truncate(n);
                let _ = s.send_to(&reply, peer).await;
            }
        }
    }
}

/// `read` without tokio's io-util feature.
pub(crate) async fn read_some(s: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        s.readable().await?;
        match s.try_read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

/// `write_all` without tokio's io-util feature.
pub(crate) async fn write_all(s: &TcpStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        s.writable().await?;
        match s.try_write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Per-source token buckets.
struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    fn new(per_sec: f64, burst: f64) -> Self {
        RateLimiter { per_sec, burst: burst.max(1.0), buckets: Mutex::new(HashMap::new()) }
    }
    fn allow(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut m = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() > 65_536 {
            m.clear(); // bounded memory under a spoofed-source flood
        }
        let b = m.entry(ip).or_insert((self.burst, now));
        b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * self.per_sec).min(self.burst);
        b.1 = now;
        if b.0 >= 1.0 {
            b.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Waits for SIGINT or SIGTERM.
pub async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// Runs a responder on the calling thread until SIGINT or SIGTERM; `ready`
/// gets the bind report once every socket is bound.
pub fn serve_until_signal(cfg: &ResponderConfig, ready: impl FnOnce(&BindReport)) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let running = start(cfg).await?;
        ready(&running.report);
        wait_for_signal().await;
        running.shutdown().await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_allows_burst_then_drops() {
        let r = RateLimiter::new(1.0, 3.0);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(r.allow(ip) && r.allow(ip) && r.allow(ip));
        assert!(!r.allow(ip));
        assert!(r.allow("127.0.0.2".parse().unwrap()));
    }
}
