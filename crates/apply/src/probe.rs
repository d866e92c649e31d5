//! Confirmation by proof: after loading, a responder on this host answers
//! on the ports the host must accept, and a prober on the admin side sends
//! every required flow the admin side is a source of (crates/verify). The
//! apply is confirmed only when every one of them passes.
//!
//! "The admin side" is a network namespace on this machine whose addresses
//! lie in the admin network (`--probe-netns`): a management VRF, a lab, a
//! test. From another machine, confirm by a fresh connection instead
//! (`apply --confirm ID` over a new SSH session, as the Ansible playbook
//! does): that connection is itself the proof that the admin path works.

use std::io;
use std::net::IpAddr;
use std::time::Duration;

use portmatrix_plan::{EndpointKind, Plan};
use portmatrix_verify::flows::{host_nodes, probe_plan, Node, ProbeOptions};
use portmatrix_verify::probe::{Expect, ProbeConfig, ProbeResult, Target};
use portmatrix_verify::responder::{self, ResponderConfig};
use portmatrix_verify::{netns, Key, PortSet, Proto};

/// What to probe from the admin side, and where the responder listens.
#[derive(Debug, Clone)]
pub struct ProbePlan {
    pub netns: String,
    pub host: String,
    pub host_addrs: Vec<IpAddr>,
    pub prober_addrs: Vec<IpAddr>,
    pub listen: Vec<(Proto, PortSet)>,
    /// Required flows only: a confirmation proves what must work.
    pub targets: Vec<Target>,
}

/// The addresses of a network namespace (not loopback, not link-local).
fn netns_addresses(ns: &str) -> io::Result<Vec<IpAddr>> {
    let addrs = netns::run_in(ns, netns::own_addresses)?;
    Ok(addrs
        .into_iter()
        .filter(|a| {
            !a.is_loopback()
                && match a {
                    IpAddr::V4(v4) => !v4.is_link_local(),
                    IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
                }
        })
        .collect())
}

/// Plans the probes from namespace `ns` to `host`; an error when the
/// namespace is missing or nothing required can be probed from it.
pub fn plan_probes(plan: &Plan, host: &str, ns: &str, ports_per_flow: usize) -> Result<ProbePlan, String> {
    let prober_addrs = netns_addresses(ns).map_err(|e| format!("--probe-netns {ns}: {e}"))?;
    if prober_addrs.is_empty() {
        return Err(format!("--probe-netns {ns}: the namespace has no address to probe from"));
    }
    let host_node = host_nodes(plan).into_iter().find(|n| n.name == host).ok_or_else(|| format!("host `{host}` has no address"))?;
    let side = prober_addrs
        .iter()
        .find_map(|a| plan.endpoint_of(*a).filter(|e| e.kind == EndpointKind::Network).map(|e| e.name))
        .unwrap_or_else(|| "admin-side".to_string());
    let admin = Node { name: side.clone(), kind: EndpointKind::Network, zone: None, addrs: prober_addrs.clone(), managed: false };
    let pp = probe_plan(plan, &[host_node.clone(), admin], &ProbeOptions { ports_per_connection: ports_per_flow, negatives_per_pair: 0 });
    let targets: Vec<Target> =
        pp.targets.get(&side).cloned().unwrap_or_default().into_iter().filter(|t| t.expect == Expect::Reach).collect();
    if targets.is_empty() {
        let list: Vec<String> = prober_addrs.iter().map(|a| a.to_string()).collect();
        return Err(format!(
            "--probe-netns {ns}: no planned flow to {host} starts at {} ({}): nothing to prove from there",
            list.join(", "),
            side
        ));
    }
    Ok(ProbePlan {
        netns: ns.to_string(),
        host: host.to_string(),
        host_addrs: host_node.addrs,
        prober_addrs,
        listen: pp.listen.get(host).cloned().unwrap_or_default(),
        targets,
    })
}

/// A responder running on a thread of this process (this namespace).
struct LocalResponder {
    receipts: responder::ReceiptLog,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LocalResponder {
    fn start(cfg: ResponderConfig) -> io::Result<LocalResponder> {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new().name("apply-responder".into()).spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            rt.block_on(async move {
                match responder::start(&cfg).await {
                    Ok(running) => {
                        let _ = ready_tx.send(Ok(running.receipts.clone()));
                        let _ = stop_rx.await;
                        running.shutdown().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        })?;
        match ready_rx.recv() {
            Ok(Ok(receipts)) => Ok(LocalResponder { receipts, stop: Some(stop_tx), thread: Some(thread) }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other("the responder thread ended before binding")),
        }
    }
}

impl Drop for LocalResponder {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The probe's verdict: confirmed when every required flow passed.
#[derive(Debug, Clone)]
pub struct ProbeOutcome {
    pub results: Vec<ProbeResult>,
}

impl ProbeOutcome {
    pub fn passed(&self) -> bool {
        !self.results.is_empty() && self.results.iter().all(|r| r.ok)
    }
    pub fn failed(&self) -> impl Iterator<Item = &ProbeResult> {
        self.results.iter().filter(|r| !r.ok)
    }
}

/// Runs the planned probes: responder here, prober in the namespace.
pub fn run_probes(pp: &ProbePlan, timeout: Duration, retries: u32) -> Result<ProbeOutcome, String> {
    let key = Key::random().map_err(|e| e.to_string())?;
    let mut cfg = ResponderConfig::new(pp.host.clone(), key.clone(), pp.host_addrs.clone(), pp.listen.clone());
    cfg.sample_limit = usize::MAX; // the probe plan sampled already
    let responder = LocalResponder::start(cfg).map_err(|e| format!("responder on {}: {e}", pp.host))?;
    let mut pcfg = ProbeConfig::new(key);
    pcfg.timeout = timeout;
    pcfg.retries = retries;
    pcfg.local_addrs = pp.prober_addrs.clone();
    let log = responder.receipts.clone();
    let results = netns::probe(&pp.netns, pp.targets.clone(), pcfg, move || {
        std::thread::sleep(Duration::from_millis(100));
        log.snapshot()
    })
    .map_err(|e| format!("probing from {}: {e}", pp.netns))?;
    drop(responder);
    Ok(ProbeOutcome { results })
}
