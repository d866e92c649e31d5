//! The lab: a twin of a deployment in network namespaces.
//!
//! One namespace per host (with the inventory's addresses) and per network a
//! connection names (with a representative address), a bridge per zone in a
//! router namespace where the zone firewall sits. Each managed host loads its
//! compiled rules, responders listen on every sampled required and negative
//! port, each source probes its flows, and everything is torn down again.

use std::collections::BTreeMap;
use std::io;
use std::time::{Duration, Instant};

use portmatrix_plan::Plan;
use portmatrix_targets::Target as FwTarget;
use serde::Serialize;

use crate::flows::{lab_nodes, probe_plan, Node, ProbeOptions};
use crate::netns::{self, Topology};
use crate::probe::{Expect, ProbeConfig, ProbeResult, Target, Verdict};
use crate::responder::ResponderConfig;
use crate::Key;

/// Changes a compiled file before it is loaded: `(node, file)`, where node is
/// a host's name or `router` for the network firewall. Tests use it
/// to delete a rule and see exactly its flows fail.
pub type Mutation = std::sync::Arc<dyn Fn(&str, &mut portmatrix_targets::OutputFile) + Send + Sync>;

#[derive(Clone)]
pub struct LabOptions {
    /// Which compiled rules to load: nftables, iptables, or none (the bare
    /// network, to see what the plan needs without any firewall).
    pub firewall: Option<FwTarget>,
    pub probe: ProbeOptions,
    pub timeout: Duration,
    pub retries: u32,
    pub concurrency: usize,
    /// Keep the namespaces after the run (for poking around).
    pub keep: bool,
    /// On SIGINT/SIGTERM, delete the namespaces and exit (the CLI sets this).
    pub cleanup_on_signal: bool,
    /// Applied to every compiled file before loading (mutation tests).
    pub mutate: Option<Mutation>,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            firewall: Some(FwTarget::Nftables),
            probe: ProbeOptions::default(),
            timeout: Duration::from_millis(1500),
            retries: 1,
            concurrency: 128,
            keep: false,
            cleanup_on_signal: false,
            mutate: None,
        }
    }
}

/// Wall times of the lab's phases, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub build_ms: u64,
    pub load_ms: u64,
    pub responders_ms: u64,
    pub probe_ms: u64,
    pub teardown_ms: u64,
    pub total_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LabReport {
    pub inventory: String,
    pub firewall: String,
    pub namespaces: usize,
    pub responders: usize,
    pub sockets: usize,
    pub results: Vec<ProbeResult>,
    /// The verdict per flow (see [`per_flow`]).
    pub flows: Vec<FlowVerdict>,
    /// Which compiled file went into which namespace (`node: file`).
    pub loaded: Vec<String>,
    /// What was not probed or not loaded, and why.
    pub notes: Vec<String>,
    pub timings: Timings,
    /// Namespace prefix (when kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
}

/// Wait between a source's last probe and reading the receipts.
const RECEIPT_GRACE: Duration = Duration::from_millis(200);

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn load_rules(
    loaded: &mut Vec<String>,
    node: &str,
    ns: &str,
    dir: &std::path::Path,
    files: &[portmatrix_targets::OutputFile],
) -> io::Result<()> {
    if crate::firewalld::is_firewalld(files) {
        let name = crate::firewalld::load(ns, &dir.join(node), files)?;
        loaded.push(format!("{node}: {name} (firewalld)"));
        return Ok(());
    }
    for f in files {
        let tool = if f.name.ends_with(".nft") {
            "nft"
        } else if f.name.ends_with(".ipset") {
            "ipset"
        } else if f.name.ends_with(".iptables") {
            "iptables-restore"
        } else if f.name.ends_with(".ip6tables") {
            "ip6tables-restore"
        } else {
            continue;
        };
        let path = dir.join(f.name.replace('/', "_"));
        std::fs::write(&path, &f.contents)?;
        let p = path.to_string_lossy().to_string();
        let args: Vec<&str> = match tool {
            "nft" => vec!["-f", &p],
            "ipset" => vec!["restore", "-f", &p],
            _ => vec![&p],
        };
        netns::exec(ns, tool, &args).map_err(|e| io::Error::other(format!("loading {}: {e}", f.name)))?;
        loaded.push(format!("{node}: {} ({tool})", f.name));
    }
    Ok(())
}

/// Adapts a network firewall's nftables text to the lab's shared router: a
/// table named after the firewall, and a forward chain that lets traffic
/// not between two of its zones' bridges pass on to the other firewalls.
pub fn confine_to_zones(text: &str, fw: &str, bridges: &[&str]) -> String {
    let table: String = fw.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let set = bridges.iter().map(|b| format!("\"{b}\"")).collect::<Vec<_>>().join(", ");
    let mut out = String::with_capacity(text.len() + 256);
    for line in text.lines() {
        let line =
            if line.trim_start().starts_with("table inet portmatrix") || line.trim_start().starts_with("delete table inet portmatrix") {
                line.replacen("table inet portmatrix", &format!("table inet portmatrix_{table}"), 1)
            } else {
                line.to_string()
            };
        out.push_str(&line);
        out.push('\n');
        if line.contains("hook forward") && !set.is_empty() {
            out.push_str(&format!("        iifname != {{ {set} }} accept comment \"lab: not from a zone of {fw}\"\n"));
            out.push_str(&format!("        oifname != {{ {set} }} accept comment \"lab: not to a zone of {fw}\"\n"));
        }
    }
    out
}

/// Merges the iptables-restore files of several network firewalls for the
/// lab's shared router: the rules of each go into a chain of its own
/// (`PMX_<name>`, ending in DROP), jumped to for traffic between two of its
/// zones' bridges; other forwarded traffic passes.
pub fn merge_iptables_firewalls(parts: &[(&str, &[&str], &str)]) -> String {
    let chain = |fw: &str| -> String {
        let n: String = fw.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
        format!("PMX_{}", &n[..n.len().min(24)])
    };
    let mut o = String::from("# Network firewalls of the portmatrix lab, one chain each.\n*filter\n");
    o.push_str(":INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for (fw, _, _) in parts {
        o.push_str(&format!(":{} - [0:0]\n", chain(fw)));
    }
    for (fw, bridges, _) in parts {
        for i in bridges.iter() {
            for j in bridges.iter().filter(|j| *j != i) {
                o.push_str(&format!("-A FORWARD -i {i} -o {j} -j {}\n", chain(fw)));
            }
        }
    }
    for (fw, _, text) in parts {
        let c = chain(fw);
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("-A FORWARD ") {
                o.push_str(&format!("-A {c} {rest}\n"));
            }
        }
        o.push_str(&format!("-A {c} -m comment --comment \"default deny of {fw}\" -j DROP\n"));
    }
    o.push_str("COMMIT\n");
    o
}

/// Builds the twin, loads the rules, probes, tears down. Needs root and `ip`
/// (and `nft` or `iptables-restore` for the chosen firewall).
pub fn run(plan: &Plan, opts: &LabOptions) -> io::Result<LabReport> {
    let t0 = Instant::now();
    let nodes = lab_nodes(plan);
    let pp = probe_plan(plan, &nodes, &opts.probe);
    let mut notes = pp.notes.clone();
    for n in &nodes {
        if n.kind == portmatrix_plan::EndpointKind::Network {
            notes.push(format!("network {} stands in as {}", n.name, join(&n.addrs)));
        }
    }
    let topo = Topology {
        nodes: nodes.iter().map(|n| netns::Node { name: n.name.clone(), zone: n.zone.clone(), addrs: n.addrs.clone() }).collect(),
    };
    if opts.cleanup_on_signal {
        // Before the first namespace exists, so none can be left behind.
        netns::cleanup_on_signal(netns::process_prefix());
    }
    let mut built = topo.build()?;
    let mut timings = Timings { build_ms: ms(t0.elapsed()), ..Timings::default() };

    // Rules.
    let t = Instant::now();
    let dir = std::env::temp_dir().join(format!("{}rules", built.lab.prefix()));
    std::fs::create_dir_all(&dir)?;
    let mut loaded = Vec::new();
    let load_result = (|| -> io::Result<()> {
        let Some(fw) = opts.firewall else {
            notes.push("no firewall rules loaded (--target none)".into());
            return Ok(());
        };
        for n in nodes.iter().filter(|n| n.managed && n.kind == portmatrix_plan::EndpointKind::Host) {
            if let Some(why) = plan.host(&n.name).and_then(|h| portmatrix_targets::policy::misfit(fw, h)) {
                notes.push(format!("{}: rules not loaded in a kernel ({why})", n.name));
                continue;
            }
            let c = portmatrix_targets::compile_host(plan, &n.name, fw, &Default::default()).map_err(io::Error::other)?;
            let (mut files, warns) = (c.files, c.warnings);
            notes.extend(warns.into_iter().map(|w| format!("{}: {w}", n.name)));
            if let Some(m) = &opts.mutate {
                files.iter_mut().for_each(|f| m(&n.name, f));
            }
            load_rules(&mut loaded, &n.name, built.ns(&n.name), &dir, &files)?;
        }
        // Network firewalls share the router; each judges only traffic
        // between its own zones' bridges (nftables: a table per firewall,
        // iptables: a chain per firewall, merged into one file per family).
        let mut merged: Vec<(String, Vec<&str>, portmatrix_targets::OutputFile)> = Vec::new();
        for f in &plan.firewalls {
            let c = portmatrix_targets::compile_firewall(plan, &f.name, fw, &Default::default()).map_err(io::Error::other)?;
            let (mut files, warns) = (c.files, c.warnings);
            notes.extend(warns.into_iter().map(|w| format!("{}: {w}", f.name)));
            if let Some(m) = &opts.mutate {
                files.iter_mut().for_each(|file| m("router", file));
            }
            let bridges: Vec<&str> = f.zones.iter().filter_map(|z| built.bridges.get(z).map(String::as_str)).collect();
            match fw {
                FwTarget::Nftables => {
                    for file in files.iter_mut().filter(|x| x.name.ends_with(".nft")) {
                        file.contents = confine_to_zones(&file.contents, &f.name, &bridges);
                    }
                    load_rules(&mut loaded, "router", &built.router, &dir, &files)?;
                }
                // One firewalld per namespace: the router takes one firewall's.
                FwTarget::Firewalld if plan.firewalls.len() == 1 => load_rules(&mut loaded, "router", &built.router, &dir, &files)?,
                FwTarget::Firewalld => notes.push(format!("{}: not loaded (one firewalld per router; this inventory has several firewalls)", f.name)),
                _ => merged.extend(files.into_iter().map(|file| (f.name.clone(), bridges.clone(), file))),
            }
        }
        if !merged.is_empty() {
            // The firewalls' ipsets first (a name always holds the same
            // addresses, so several firewalls' files load side by side).
            let mut files: Vec<portmatrix_targets::OutputFile> =
                merged.iter().filter(|(_, _, f)| f.name.ends_with(".ipset")).map(|(_, _, f)| f.clone()).collect();
            for ext in [".iptables", ".ip6tables"] {
                let parts: Vec<(&str, &[&str], &str)> = merged
                    .iter()
                    .filter(|(_, _, f)| f.name.ends_with(ext))
                    .map(|(n, b, f)| (n.as_str(), b.as_slice(), f.contents.as_str()))
                    .collect();
                files.push(portmatrix_targets::OutputFile {
                    name: format!("firewalls{ext}"),
                    contents: merge_iptables_firewalls(&parts),
                    loader: None,
                });
            }
            load_rules(&mut loaded, "router", &built.router, &dir, &files)?;
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    load_result?;
    timings.load_ms = ms(t.elapsed());

    // Responders.
    let t = Instant::now();
    let key = Key::random();
    let by_name: BTreeMap<&str, &Node> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut responders = Vec::new();
    let mut sockets = 0;
    for (name, listen) in &pp.listen {
        let node = by_name[name.as_str()];
        let mut cfg = ResponderConfig::new(name.clone(), key.clone(), node.addrs.clone(), listen.clone());
        cfg.sample_limit = usize::MAX; // the probe plan sampled already
        cfg.reuse_port = true;
        let h = netns::start_responder(built.ns(name), cfg)?;
        for b in h.report.in_use().chain(h.report.failed()) {
            notes.push(format!("{name}: {} {}/{}: {:?}", b.addr, b.proto, b.port, b.state));
        }
        sockets += h.report.listening();
        responders.push(h);
    }
    timings.responders_ms = ms(t.elapsed());

    // Probes, every source in parallel.
    let t = Instant::now();
    let logs: Vec<_> = responders.iter().map(|r| r.receipts.clone()).collect();
    let mut handles = Vec::new();
    for (src, targets) in &pp.targets {
        let node = by_name[src.as_str()];
        let mut cfg = ProbeConfig::new(key.clone());
        cfg.timeout = opts.timeout;
        cfg.retries = opts.retries;
        cfg.concurrency = opts.concurrency;
        cfg.local_addrs = node.addrs.clone();
        let logs = logs.clone();
        let targets = targets.clone();
        handles.push(netns::spawn_in(built.ns(src), move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            Ok(rt.block_on(crate::probe::run(targets, &cfg, move || {
                // A responder on a busy machine may still be reading its
                // last datagrams: give it a moment before the receipts decide.
                std::thread::sleep(RECEIPT_GRACE);
                logs.iter().flat_map(|l| l.snapshot()).collect()
            })))
        }));
    }
    let mut results = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok(r)) => results.extend(r),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(io::Error::other("a prober thread panicked")),
        }
    }
    timings.probe_ms = ms(t.elapsed());
    for (host, tag) in &pp.local {
        let target = Target::new(std::net::Ipv4Addr::LOCALHOST.into(), crate::Proto::Tcp, 0).host(host).source(host).label(tag);
        results.push(ProbeResult {
            target,
            verdict: Verdict::Local,
            ok: true,
            from: None,
            answered_by: None,
            detail: "both ends on one host: no rule needed".into(),
            rtt_ms: None,
            attempts: 0,
        });
    }

    let t = Instant::now();
    let namespaces = built.lab.namespaces().len();
    let n_resp = responders.len();
    drop(responders);
    let kept = if opts.keep {
        built.lab.keep();
        Some(built.lab.prefix().to_string())
    } else {
        None
    };
    drop(built);
    timings.teardown_ms = ms(t.elapsed());
    timings.total_ms = ms(t0.elapsed());
    Ok(LabReport {
        inventory: plan.inventory.clone(),
        firewall: opts.firewall.map(|f| f.name().to_string()).unwrap_or_else(|| "none".into()),
        namespaces,
        responders: n_resp,
        sockets,
        flows: per_flow(&results),
        results,
        loaded,
        notes,
        timings,
        kept,
    })
}

fn join(a: &[std::net::IpAddr]) -> String {
    a.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
}

/// The verdict per flow: a flow passes when every probe it owns meets its
/// expectation. Negative probes are grouped under `negative`.
#[derive(Debug, Clone, Serialize)]
pub struct FlowVerdict {
    pub flow: String,
    pub ok: bool,
    pub probes: usize,
    pub failed: usize,
    /// The verdicts seen, counted.
    pub verdicts: BTreeMap<String, usize>,
}

pub fn per_flow(results: &[ProbeResult]) -> Vec<FlowVerdict> {
    let mut m: BTreeMap<String, FlowVerdict> = BTreeMap::new();
    for r in results {
        let tags: Vec<&str> = if r.target.expect == Expect::Block {
            vec!["negative"]
        } else if r.target.label.is_empty() {
            vec!["-"]
        } else {
            r.target.label.split(',').collect()
        };
        for tag in tags {
            let f = m.entry(tag.to_string()).or_insert_with(|| FlowVerdict {
                flow: tag.to_string(),
                ok: true,
                probes: 0,
                failed: 0,
                verdicts: BTreeMap::new(),
            });
            f.probes += 1;
            if !r.ok {
                f.failed += 1;
                f.ok = false;
            }
            *f.verdicts.entry(r.verdict.as_str().to_string()).or_default() += 1;
        }
    }
    m.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iptables_firewalls_get_a_chain_each() {
        let a = "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -s 10.0.0.1/32 -j ACCEPT\nCOMMIT\n";
        let b = "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -s 10.0.0.2/32 -j ACCEPT\nCOMMIT\n";
        let out = merge_iptables_firewalls(&[("core-fw", &["z0", "z1"], a), ("edge", &["z1", "z2"], b)]);
        assert!(out.contains(":PMX_CORE_FW - [0:0]\n:PMX_EDGE - [0:0]\n"));
        assert!(out.contains("-A FORWARD -i z0 -o z1 -j PMX_CORE_FW\n-A FORWARD -i z1 -o z0 -j PMX_CORE_FW\n"));
        assert!(out.contains("-A PMX_EDGE -s 10.0.0.2/32 -j ACCEPT\n-A PMX_EDGE -m comment"));
        assert_eq!(out.matches("COMMIT").count(), 1);
    }

    #[test]
    fn firewalls_are_confined_to_their_zones() {
        let text = "table inet portmatrix\ndelete table inet portmatrix\n\ntable inet portmatrix {\n    chain forward {\n        type filter hook forward priority filter; policy drop;\n        ct state established,related accept\n    }\n}\n";
        let out = confine_to_zones(text, "core-fw", &["z0", "z2"]);
        assert_eq!(out.matches("table inet portmatrix_core_fw").count(), 3);
        assert!(out.contains("policy drop;\n        iifname != { \"z0\", \"z2\" } accept"));
        assert!(out.contains("oifname != { \"z0\", \"z2\" } accept"));
    }
}
