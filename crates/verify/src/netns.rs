//! Network namespaces for tests and the lab.
//!
//! Everything a [`Lab`] creates lives inside namespaces named
//! `pmx-<pid>-<name>`: zone bridges and their gateway addresses sit in a
//! router namespace, each node (host or network) gets a namespace with one
//! veth into its zone's bridge. Nothing is added to the machine's own
//! namespace, so no lab packet has a way out of the machine. Dropping the
//! [`Lab`] deletes its namespaces (also while unwinding from a panic); a new
//! [`Lab`] also deletes namespaces left behind by dead processes.
//!
//! Node addresses are host routes (`/32`, `/128`); each node's default route
//! points at the router's gateway on its bridge (`169.254.0.1` on-link and
//! `fe80::1`), nodes of the same zone reach each other directly.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::net::IpAddr;
use std::process::{Command, Output, Stdio};

/// Gateway address of every zone bridge (IPv4, on-link).
pub const GATEWAY_V4: &str = "169.254.0.1";
/// Gateway address of every zone bridge (IPv6, link-local).
pub const GATEWAY_V6: &str = "fe80::1";

/// For tests: true (skip) when namespaces cannot be made here, after saying
/// why; under CI (`CI=true`) a missing capability fails instead, so that CI
/// never passes by skipping.
pub fn skip_unless_able(tools: &[&str]) -> bool {
    match unavailable(tools) {
        None => false,
        Some(why) => {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("CI must run the namespace tests, but: {why}");
            }
            eprintln!("skipped: {why}");
            true
        }
    }
}

/// Why namespace tests cannot run here, if they cannot: not root, or a tool is
/// missing.
pub fn unavailable(tools: &[&str]) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not running as root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    for t in tools {
        let found = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(t).is_file())).unwrap_or(false);
        if !found {
            return Some(format!("`{t}` is not installed"));
        }
    }
    None
}

/// Once a signal handler is cleaning up, the thread that would report a
/// failure caused by the cleanup (or start a new namespace) waits here for
/// the handler to end the process, instead of racing it to exit.
fn park_if_interrupted() {
    while SHUTTING_DOWN.load(Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn check(out: Output, what: &str) -> io::Result<Output> {
    if out.status.success() {
        Ok(out)
    } else {
        park_if_interrupted();
        Err(io::Error::other(format!(
            "{what}: {}{}",
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        )))
    }
}

/// Runs `ip ARGS`.
pub fn ip(args: &[&str]) -> io::Result<Output> {
    let out = Command::new("ip").args(args).stdin(Stdio::null()).output()?;
    check(out, &format!("ip {}", args.join(" ")))
}

/// Runs `ip [-n NS] -batch -` with the given lines (stops at the first error).
pub fn ip_batch(ns: Option<&str>, lines: &[String]) -> io::Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    let mut child = cmd.args(["-batch", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    {
        let mut stdin = child.stdin.take().expect("piped");
        for l in lines {
            writeln!(stdin, "{l}")?;
        }
    }
    check(child.wait_with_output()?, &format!("ip -n {} -batch", ns.unwrap_or("-")))?;
    Ok(())
}

/// Runs a command inside a namespace (`ip netns exec NS CMD ARGS`).
pub fn exec(ns: &str, cmd: &str, args: &[&str]) -> io::Result<Output> {
    let out = Command::new("ip").args(["netns", "exec", ns, cmd]).args(args).stdin(Stdio::null()).output()?;
    check(out, &format!("ip netns exec {ns} {cmd} {}", args.join(" ")))
}

/// Moves the calling thread into namespace `ns` (only this thread; threads it
/// spawns afterwards inherit it).
pub fn enter(ns: &str) -> io::Result<()> {
    let f = File::open(format!("/run/netns/{ns}"))?;
    // CLONE_NEWNET moves only the calling thread.
    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}

/// Spawns a thread that runs `f` inside namespace `ns`.
pub fn spawn_in<F, R>(ns: &str, f: F) -> std::thread::JoinHandle<io::Result<R>>
where
    F: FnOnce() -> io::Result<R> + Send + 'static,
    R: Send + 'static,
{
    let ns = ns.to_string();
    std::thread::Builder::new()
        .name(format!("netns-{ns}"))
        .spawn(move || {
            enter(&ns)?;
            f()
        })
        .expect("spawn thread")
}

/// Runs `f` inside namespace `ns` and waits for it.
pub fn run_in<F, R>(ns: &str, f: F) -> io::Result<R>
where
    F: FnOnce() -> io::Result<R> + Send + 'static,
    R: Send + 'static,
{
    spawn_in(ns, f).join().map_err(|_| io::Error::other("thread inside namespace panicked"))?
}

/// Sets sysctls (`net.ipv4.ip_forward` style keys) inside a namespace.
pub fn sysctl(ns: &str, kv: &[(&str, &str)]) -> io::Result<()> {
    let kv: Vec<(String, String)> = kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    run_in(ns, move || {
        for (k, v) in kv {
            std::fs::write(format!("/proc/sys/{}", k.replace('.', "/")), &v)
                .map_err(|e| io::Error::other(format!("sysctl {k}={v}: {e}")))?;
        }
        Ok(())
    })
}

/// Addresses configured on the machine's own interfaces (the namespace of the
/// calling thread).
pub fn own_addresses() -> io::Result<Vec<IpAddr>> {
    let out = ip(&["-j", "addr", "show"])?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| io::Error::other(format!("ip -j addr: {e}")))?;
    let mut addrs = Vec::new();
    for link in v.as_array().into_iter().flatten() {
        for a in link.get("addr_info").and_then(|a| a.as_array()).into_iter().flatten() {
            if let Some(ip) = a.get("local").and_then(|l| l.as_str()).and_then(|s| s.parse().ok()) {
                addrs.push(ip);
            }
        }
    }
    Ok(addrs)
}

fn list_namespaces() -> io::Result<Vec<String>> {
    let out = ip(&["netns", "list"])?;
    Ok(String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.split_whitespace().next().map(str::to_string)).collect())
}

/// Deletes `pmx-<pid>-*` namespaces whose process is gone.
pub fn sweep_stale() -> io::Result<usize> {
    let mut n = 0;
    for ns in list_namespaces()? {
        let Some(rest) = ns.strip_prefix("pmx-") else {
            continue;
        };
        let Some((pid, _)) = rest.split_once('-') else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() && ip(&["netns", "del", &ns]).is_ok() {
            n += 1;
        }
    }
    Ok(n)
}

/// A set of namespaces, deleted on drop unless [`Lab::keep`] was called.
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    keep: bool,
}

impl Lab {
    /// A new, empty lab with a prefix unique to this process and call.
    pub fn new() -> io::Result<Lab> {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let _ = sweep_stale();
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Lab { prefix: format!("{}{seq}-", process_prefix()), namespaces: Vec::new(), keep: false })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Creates namespace `<prefix><short>` with `lo` up and IPv6 DAD off.
    pub fn add_ns(&mut self, short: &str) -> io::Result<String> {
        let name = format!("{}{short}", self.prefix);
        {
            // Counted, so a signal handler can wait for it before cleaning up.
            IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
            if SHUTTING_DOWN.load(Ordering::SeqCst) {
                IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
                park_if_interrupted();
            }
            let r = ip(&["netns", "add", &name]);
            IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
            r?;
        }
        self.namespaces.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        sysctl(
            &name,
            &[
                ("net.ipv6.conf.all.accept_dad", "0"),
                ("net.ipv6.conf.default.accept_dad", "0"),
                ("net.ipv6.conf.all.accept_ra", "0"),
                ("net.ipv6.conf.default.accept_ra", "0"),
            ],
        )?;
        Ok(name)
    }

    /// The namespaces created so far.
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// Leaves the namespaces in place when the lab is dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// Deletes every namespace now.
    pub fn teardown(&mut self) {
        for ns in self.namespaces.drain(..).rev() {
            let _ = ip(&["netns", "del", &ns]);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        park_if_interrupted();
        if !self.keep {
            self.teardown();
        }
    }
}

/// A node of a topology: a host or a network, in one zone.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub zone: String,
    pub addrs: Vec<IpAddr>,
}

/// Zones with their nodes; [`Topology::build`] makes the namespaces.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    pub nodes: Vec<Node>,
}

/// A built topology: the lab (namespaces) and which namespace is which node.
pub struct Built {
    pub lab: Lab,
    pub router: String,
    /// Node name → namespace.
    pub nodes: BTreeMap<String, String>,
    /// Zone → its bridge in the router namespace.
    pub bridges: BTreeMap<String, String>,
}

impl Built {
    pub fn ns(&self, node: &str) -> &str {
        &self.nodes[node]
    }
}

fn short_name(i: usize, name: &str) -> String {
    let clean: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(24).collect();
    format!("n{i}-{clean}")
}

impl Topology {
    pub fn node(&mut self, name: &str, zone: &str, addrs: &[&str]) -> &mut Self {
        self.nodes.push(Node { name: name.into(), zone: zone.into(), addrs: addrs.iter().map(|a| a.parse().expect("address")).collect() });
        self
    }

    /// Checks that no lab address is configured on the machine's own
    /// interfaces, nor twice in the lab, nor special.
    pub fn check_addresses(&self) -> io::Result<()> {
        let own = own_addresses()?;
        let mut seen = BTreeMap::new();
        for n in &self.nodes {
            for a in &n.addrs {
                if own.contains(a) {
                    return Err(io::Error::other(format!(
                        "refusing to start: lab address {a} (of {}) exists on this machine's own interfaces",
                        n.name
                    )));
                }
                if a.is_loopback() || a.is_unspecified() || a.is_multicast() {
                    return Err(io::Error::other(format!("lab address {a} (of {}) is not a unicast address", n.name)));
                }
                if let Some(other) = seen.insert(*a, n.name.clone()) {
                    return Err(io::Error::other(format!("lab address {a} is on both {other} and {}", n.name)));
                }
            }
        }
        Ok(())
    }

    /// Creates the router namespace, a bridge per zone, a namespace per node.
    pub fn build(&self) -> io::Result<Built> {
        self.check_addresses()?;
        let mut lab = Lab::new()?;
        let router = lab.add_ns("router")?;
        sysctl(
            &router,
            &[
                ("net.ipv4.ip_forward", "1"),
                ("net.ipv6.conf.all.forwarding", "1"),
                ("net.ipv4.conf.all.rp_filter", "0"),
                ("net.ipv4.conf.default.rp_filter", "0"),
                ("net.ipv4.conf.all.send_redirects", "0"),
                ("net.ipv4.conf.default.send_redirects", "0"),
            ],
        )?;
        // With br_netfilter loaded (Docker loads it), bridged frames would
        // pass the router's forward chain: same-zone traffic must not.
        let _ = sysctl(
            &router,
            &[
                ("net.bridge.bridge-nf-call-iptables", "0"),
                ("net.bridge.bridge-nf-call-ip6tables", "0"),
                ("net.bridge.bridge-nf-call-arptables", "0"),
            ],
        );
        let mut zones: Vec<&str> = Vec::new();
        for n in &self.nodes {
            if !zones.contains(&n.zone.as_str()) {
                zones.push(&n.zone);
            }
        }
        let mut rlines = Vec::new();
        for (zi, _) in zones.iter().enumerate() {
            rlines.push(format!("link add z{zi} type bridge"));
            rlines.push(format!("link set z{zi} up"));
            rlines.push(format!("addr add {GATEWAY_V4}/32 dev z{zi}"));
            rlines.push(format!("addr add {GATEWAY_V6}/64 dev z{zi} nodad"));
        }
        let mut nodes = BTreeMap::new();
        let mut per_node = Vec::new();
        for (ni, n) in self.nodes.iter().enumerate() {
            let ns = lab.add_ns(&short_name(ni, &n.name))?;
            let zi = zones.iter().position(|z| *z == n.zone).expect("zone listed");
            rlines.push(format!("link add v{ni} type veth peer name eth0 netns {ns}"));
            rlines.push(format!("link set v{ni} master z{zi} up"));
            for a in &n.addrs {
                let plen = if a.is_ipv4() { 32 } else { 128 };
                rlines.push(format!("route add {a}/{plen} dev z{zi}"));
            }
            nodes.insert(n.name.clone(), ns.clone());
            per_node.push((ns, zi));
        }
        ip_batch(Some(&router), &rlines)?;
        for (ni, n) in self.nodes.iter().enumerate() {
            let (ns, zi) = &per_node[ni];
            let mut l = vec!["link set eth0 up".to_string()];
            for a in &n.addrs {
                match a {
                    IpAddr::V4(_) => l.push(format!("addr add {a}/32 dev eth0")),
                    IpAddr::V6(_) => l.push(format!("addr add {a}/128 dev eth0 nodad")),
                }
            }
            l.push(format!("route add default via {GATEWAY_V4} dev eth0 onlink"));
            l.push(format!("route add default via {GATEWAY_V6} dev eth0"));
            // Same zone: directly over the bridge.
            for (mi, m) in self.nodes.iter().enumerate() {
                if mi != ni && per_node[mi].1 == *zi {
                    for a in &m.addrs {
                        let plen = if a.is_ipv4() { 32 } else { 128 };
                        l.push(format!("route add {a}/{plen} dev eth0"));
                    }
                }
            }
            ip_batch(Some(ns), &l)?;
        }
        let bridges = zones.iter().enumerate().map(|(i, z)| (z.to_string(), format!("z{i}"))).collect();
        Ok(Built { lab, router, nodes, bridges })
    }
}

fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// A responder running on its own thread inside a namespace; stopped on drop.
pub struct ResponderHandle {
    pub report: crate::responder::BindReport,
    pub receipts: crate::responder::ReceiptLog,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl ResponderHandle {
    /// Stops the responder and waits for its thread.
    pub fn stop(mut self) {
        self.halt();
    }
    fn halt(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ResponderHandle {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Starts a responder inside namespace `ns` and returns once it has bound its
/// sockets.
pub fn start_responder(ns: &str, cfg: crate::responder::ResponderConfig) -> io::Result<ResponderHandle> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = spawn_in(ns, move || {
        let rt = runtime()?;
        rt.block_on(async move {
            match crate::responder::start(&cfg).await {
                Ok(running) => {
                    let _ = ready_tx.send(Ok((running.report.clone(), running.receipts.clone())));
                    let _ = stop_rx.await;
                    running.shutdown().await;
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        });
        Ok(())
    });
    match ready_rx.recv() {
        Ok(Ok((report, receipts))) => Ok(ResponderHandle { report, receipts, stop: Some(stop_tx), thread: Some(thread) }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => match thread.join() {
            Ok(Err(e)) => Err(e),
            _ => Err(io::Error::other("responder thread ended before binding")),
        },
    }
}

/// Runs the prober inside namespace `ns` and waits for the results.
pub fn probe<F>(
    ns: &str,
    targets: Vec<crate::probe::Target>,
    cfg: crate::probe::ProbeConfig,
    receipts: F,
) -> io::Result<Vec<crate::probe::ProbeResult>>
where
    F: FnOnce() -> Vec<crate::responder::Receipt> + Send + 'static,
{
    run_in(ns, move || {
        let rt = runtime()?;
        Ok(rt.block_on(crate::probe::run(targets, &cfg, receipts)))
    })
}

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Set once a signal asked for cleanup: no namespace is created after it.
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);
/// `ip netns add` calls under way.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// The prefix of every namespace this process creates (`pmx-<pid>-`).
pub fn process_prefix() -> String {
    format!("pmx-{}-", std::process::id())
}

/// Spawns a thread that, on SIGINT or SIGTERM, deletes every namespace whose
/// name starts with `prefix` and exits with status 130. Returns once the
/// signal handlers are in place.
pub fn cleanup_on_signal(prefix: String) {
    use tokio::signal::unix::{signal, SignalKind};
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let spawned = std::thread::Builder::new().name("pmx-signal".into()).spawn(move || {
        let Ok(rt) = runtime() else { return };
        rt.block_on(async {
            let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
                return;
            };
            let _ = ready_tx.send(());
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        });
        eprintln!("\ninterrupted: deleting namespaces {prefix}*");
        SHUTTING_DOWN.store(true, Ordering::SeqCst);
        let t0 = std::time::Instant::now();
        while IN_FLIGHT.load(Ordering::SeqCst) > 0 && t0.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        for _ in 0..5 {
            let Ok(list) = list_namespaces() else { break };
            let ours: Vec<&String> = list.iter().filter(|n| n.starts_with(&prefix)).collect();
            if ours.is_empty() {
                break;
            }
            for ns in ours.into_iter().rev() {
                let _ = ip(&["netns", "del", ns]);
            }
        }
        std::process::exit(130);
    });
    if spawned.is_ok() {
        let _ = ready_rx.recv_timeout(std::time::Duration::from_secs(5));
    }
}
