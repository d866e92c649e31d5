//! The responder: listens on the TCP and UDP ports a host must accept and
//! answers each probe with a signed reply (see [`crate::token`] and
//! [`crate::wire`]).
//!
//! - It binds only the addresses it is given, never a wildcard address: an
//!   answer must say which of the host's addresses a probe reached.
//! - Ranges larger than [`ResponderConfig::sample_limit`] are sampled (the
//!   bind report says so); the prober samples the same way.
//! - A port that is already taken (by the real service) is reported as
//!   `in-use`; the prober then sees a connection without a token.
//! - A UDP reply is never larger than its request; probes are rate-limited
//!   per source address, per source prefix and in all ([`crate::ratelimit`]);
//!   over a limit, probes are dropped silently and counted.
//! - Every probe answered is recorded as a [`Receipt`] (nonce, observed
//!   source, time), in memory and optionally appended to a JSON-lines file,
//!   both capped ([`crate::receipts`]).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::ratelimit::RateLimiter;
pub use crate::ratelimit::{Rate, RateDrops, RateLimits};
pub use crate::receipts::{read_receipts, read_receipts_file, Receipt, ReceiptCaps, ReceiptLog, ReceiptStats, ReceiptsRead};
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
    /// the reply says which address a probe was sent to. Wildcard
    /// addresses are refused.
    pub addrs: Vec<IpAddr>,
    pub listen: Vec<(Proto, PortSet)>,
    /// Most ports bound per protocol and address; larger sets are sampled.
    pub sample_limit: usize,
    /// Probes per second per source address, per source prefix, in all.
    pub limits: RateLimits,
    /// How many receipts are kept (in memory, and in the file each).
    pub receipt_caps: ReceiptCaps,
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
            limits: RateLimits::default(),
            receipt_caps: ReceiptCaps::default(),
            receipts_file: None,
            control: None,
            reuse_port: false,
        }
    }

    /// Refuses what the responder must not do: bind a wildcard, multicast
    /// or no address, or carry a host name no reply can hold.
    pub fn check(&self) -> io::Result<()> {
        let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
        wire::check_host(&self.host).map_err(|e| invalid(format!("host `{}`: {e}", self.host.escape_debug())))?;
        if self.addrs.is_empty() {
            return Err(invalid("no address to listen on: give the host's addresses".into()));
        }
        for a in &self.addrs {
            if a.is_unspecified() || a.is_multicast() {
                return Err(invalid(format!(
                    "refusing to listen on `{a}`: a responder binds the host's own unicast addresses, so that its \
                     answers say which address a probe reached"
                )));
            }
        }
        Ok(())
    }
}

/// What a responder saw and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ResponderStats {
    pub receipts: ReceiptStats,
    pub rate_limited: RateDrops,
}

async fn serve_control(l: tokio::net::UnixListener, log: ReceiptLog, path: PathBuf, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            r = l.accept() => {
                let Ok((mut s, _)) = r else { continue };
                let text = log.to_json_lines();
                let _ = tokio::time::timeout(Duration::from_secs(5), s.write_all(text.as_bytes())).await;
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
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Running {
    /// Stops every task and returns the final figures.
    pub async fn shutdown(mut self) -> ResponderStats {
        let _ = self.stop.send(true);
        let deadline = tokio::time::sleep(Duration::from_secs(2));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                r = self.tasks.join_next() => if r.is_none() { break },
                _ = &mut deadline => { self.tasks.abort_all(); break }
            }
        }
        self.stats()
    }

    /// What was recorded and dropped so far.
    pub fn stats(&self) -> ResponderStats {
        ResponderStats { receipts: self.receipts.stats(), rate_limited: self.shared.limiter.drops() }
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
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

/// The control socket at `path`, readable only by this user (receipts name
/// the sources that probed).
fn bind_control(path: &std::path::Path) -> io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path); // a stale socket of an earlier run
    }
    let l = tokio::net::UnixListener::bind(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

/// Binds every socket and starts answering. Must be called within a tokio
/// runtime (and, for a namespace, on a thread inside it).
pub async fn start(cfg: &ResponderConfig) -> io::Result<Running> {
    cfg.check()?;
    raise_nofile_limit();
    let receipts = match &cfg.receipts_file {
        Some(p) => ReceiptLog::with_file(cfg.receipt_caps, p)?,
        None => ReceiptLog::new(cfg.receipt_caps),
    };
    let shared = Arc::new(Shared {
        host: cfg.host.clone(),
        key: cfg.key.host_key(&cfg.host),
        receipts: receipts.clone(),
        limiter: RateLimiter::new(cfg.limits),
    });
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    if let Some(path) = &cfg.control {
        let l = bind_control(path)?;
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
    Ok(Running { report, receipts, shared, stop, tasks })
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

async fn answer_tcp(mut s: TcpStream, peer: SocketAddr, sh: Arc<Shared>) {
    let Ok(local) = s.local_addr() else { return };
    let mut buf = Vec::with_capacity(128);
    // One line, at most MAX_REQUEST bytes; a read error leaves what came.
    let mut line = tokio::io::BufReader::new((&mut s).take(wire::MAX_REQUEST as u64));
    if tokio::time::timeout(Duration::from_secs(5), line.read_until(b'\n', &mut buf)).await.is_err() {
        return;
    }
    drop(line);
    let Some(nonce) = wire::parse_request(&buf) else {
        return;
    };
    sh.receipts.push(Receipt { nonce: hex(&nonce), proto: Proto::Tcp, src: peer, dst: local, host: sh.host.clone(), time_ms: now_ms() });
    let reply = wire::reply(&sh.key, &nonce, Proto::Tcp, local, peer, &sh.host);
    let _ = tokio::time::timeout(Duration::from_secs(5), s.write_all(&reply)).await;
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
                let mut reply = wire::reply(&sh.key, &nonce, Proto::Udp, local, peer, &sh.host);
                // Never larger than the request: no amplification.
                reply.truncate(n);
                let _ = s.send_to(&reply, peer).await;
            }
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
/// gets the bind report once every socket is bound. Returns what it
/// recorded and dropped.
pub fn serve_until_signal(cfg: &ResponderConfig, ready: impl FnOnce(&BindReport)) -> io::Result<ResponderStats> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let running = start(cfg).await?;
        ready(&running.report);
        wait_for_signal().await;
        Ok(running.shutdown().await)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(addrs: &[&str]) -> ResponderConfig {
        let addrs = addrs.iter().map(|a| a.parse().unwrap()).collect();
        ResponderConfig::new("h", Key::from_secret(b"k"), addrs, vec![(Proto::Tcp, PortSet::range(1, 1))])
    }

    #[test]
    fn wildcard_multicast_and_no_address_are_refused() {
        for bad in [&["0.0.0.0"][..], &["::"], &["10.0.0.1", "::"], &["224.0.0.1"], &[]] {
            let e = cfg(bad).check().unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
        assert!(cfg(&["127.0.0.1", "::1"]).check().is_ok());
        let mut long = cfg(&["127.0.0.1"]);
        long.host = "x".repeat(wire::MAX_HOST_WIRE + 1);
        assert!(long.check().is_err());
    }
}
