//! The lab: a twin of a deployment in network namespaces ([`crate::twin`]),
//! its rulesets loaded where the deployment has them, and every required and
//! a set of forbidden flows probed.
//!
//! What the lab proves, and what it does not, is in its report: which
//! ruleset went into which namespace, which hosts' rules were not loaded in a
//! kernel (Windows hosts, appliances), which forbidden probes crossed no
//! filter at all (*unenforced*: the truth about such a deployment, a failure
//! only under `strict`), and, for every blocked probe, the layer that
//! dropped it.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use portmatrix_plan::{EndpointKind, Packet, Plan};
use portmatrix_targets::read::ReadBack;
use portmatrix_targets::{Loader, OutputFile, RenderOptions, Ruleset, Target as FwTarget};
use serde::Serialize;

use crate::exact::{self, ExactCheck};
use crate::flows::{lab_nodes, probe_plan, Node, ProbeOptions};
use crate::netns;
use crate::probe::{Expect, ProbeConfig, ProbeResult, Target, Verdict};
use crate::responder::ResponderConfig;
use crate::twin::{Twin, TwinNode, TwinSpec};
use crate::Key;

/// Changes a compiled file before it is loaded: `(node, file)`, where node is
/// a host's or a network firewall's name. Tests use it to delete a rule and
/// see exactly its flows fail.
pub type Mutation = std::sync::Arc<dyn Fn(&str, &mut OutputFile) + Send + Sync>;

#[derive(Clone)]
pub struct LabOptions {
    /// Which rulesets to load: nftables, iptables, or none (the bare
    /// network, to see what the plan needs without any firewall).
    pub firewall: Option<FwTarget>,
    /// Load the rulesets in this directory (`NAME.nft`, or `NAME.iptables`
    /// and `NAME.ip6tables`) instead of compiling them.
    pub rules_dir: Option<PathBuf>,
    pub probe: ProbeOptions,
    pub timeout: Duration,
    pub retries: u32,
    pub concurrency: usize,
    /// Forbidden probes that crossed no filter fail the lab too.
    pub strict: bool,
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
            rules_dir: None,
            probe: ProbeOptions::default(),
            timeout: Duration::from_millis(1500),
            retries: 1,
            concurrency: 128,
            strict: false,
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
    /// Reading every ruleset back and checking it exactly.
    pub exact_ms: u64,
    pub responders_ms: u64,
    pub probe_ms: u64,
    pub teardown_ms: u64,
    pub total_ms: u64,
}

/// How the lab judges one probe beyond "did it meet its expectation".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Judgement {
    /// The filters on the probe's path that are loaded in the twin: the
    /// destination's host firewall and the network firewalls crossed.
    pub enforced_by: Vec<String>,
    /// For a blocked probe: the first loaded layer whose rules drop it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped_by: Option<String>,
    /// A forbidden probe that got through with no loaded filter on its path.
    pub unenforced: bool,
}

/// Counts for the summary line; `local` flows are listed, never counted as proven.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LabSummary {
    pub probes: usize,
    pub required_ok: usize,
    pub required_failed: usize,
    pub forbidden_blocked: usize,
    pub forbidden_reachable: usize,
    pub unenforced: usize,
    pub local: usize,
    /// Rulesets checked exactly against the plan (read back from a kernel,
    /// or a script no kernel here loads).
    pub rulesets_checked: usize,
    /// Of those, the ones that do exactly what the plan says.
    pub rulesets_exact: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct LabReport {
    pub inventory: String,
    pub firewall: String,
    pub namespaces: usize,
    pub responders: usize,
    pub sockets: usize,
    pub results: Vec<ProbeResult>,
    /// One per result, in the same order.
    pub judgements: Vec<Judgement>,
    pub summary: LabSummary,
    /// The verdict per flow (see [`per_flow`]).
    pub flows: Vec<FlowVerdict>,
    /// The exact check of every loaded ruleset (and of Windows scripts).
    pub exact: Vec<ExactCheck>,
    /// Which ruleset went into which namespace (`node: file (loader)`).
    pub loaded: Vec<String>,
    /// What was not loaded or not probed, and why.
    pub not_tested: Vec<String>,
    pub notes: Vec<String>,
    pub timings: Timings,
    /// Namespace prefix (when kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
}

impl LabReport {
    /// The lab passes: required flows pass, forbidden ones are blocked where
    /// a filter is on their path (and everywhere under `strict`), and every
    /// ruleset checked exactly does what the plan says.
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.ok) && self.exact.iter().all(ExactCheck::passed)
    }
}

/// Wait between a source's last probe and reading the receipts.
const RECEIPT_GRACE: Duration = Duration::from_millis(200);

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// Builds the twin, loads the rules, probes, judges, tears down. Needs root
/// and `ip` (and `nft` or `iptables-restore` for the chosen firewall).
pub fn run(plan: &Plan, opts: &LabOptions) -> io::Result<LabReport> {
    let t0 = Instant::now();
    let nodes = lab_nodes(plan);
    let mut pp = probe_plan(plan, &nodes, &opts.probe);
    let mut notes = pp.notes.clone();
    if opts.firewall.is_none() && !plan.forwards.is_empty() {
        // The bare network has no DNAT: a public address leads nowhere.
        let public: BTreeSet<std::net::IpAddr> = plan.forwards.iter().map(|f| f.public).collect();
        pp.targets.values_mut().for_each(|ts| ts.retain(|t| !public.contains(&t.addr)));
        notes.push("port forwards not probed (--target none loads no DNAT)".into());
    }
    for n in nodes.iter().filter(|n| n.kind == EndpointKind::Network) {
        notes.push(format!("network {} stands in as {}", n.name, join(&n.addrs)));
    }
    if opts.cleanup_on_signal {
        // Before the first namespace exists, so none can be left behind.
        netns::cleanup_on_signal(netns::process_prefix());
    }
    let spec = TwinSpec {
        nodes: nodes.iter().map(|n| TwinNode { name: n.name.clone(), zone: n.zone.clone(), addrs: n.addrs.clone() }).collect(),
        plan,
    };
    let mut twin = spec.build()?;
    let mut timings = Timings { build_ms: ms(t0.elapsed()), ..Timings::default() };

    let t = Instant::now();
    let mut loaded = load_all(plan, &twin, opts)?;
    timings.load_ms = ms(t.elapsed());

    let t = Instant::now();
    let kernels = opts.firewall != Some(FwTarget::Firewalld);
    if !kernels {
        // Not yet: firewalld's own nftables tables are not judged against the plan.
        loaded.not_tested.push("firewalld rulesets: not checked exactly (not yet), only probed".into());
    }
    let exact = exact_checks(&twin, &mut loaded, kernels)?;
    timings.exact_ms = ms(t.elapsed());

    let t = Instant::now();
    let key = Key::random()?;
    let (responders, sockets, mut bind_notes) = start_responders(&twin, &nodes, &pp.listen, &key)?;
    notes.append(&mut bind_notes);
    timings.responders_ms = ms(t.elapsed());

    let t = Instant::now();
    let mut results = run_probes(&twin, &nodes, &pp.targets, &responders, &key, opts)?;
    timings.probe_ms = ms(t.elapsed());
    let mut judgements = judge(plan, &nodes, &loaded, &mut results, opts.strict);
    for (host, tag) in &pp.local {
        let target = Target::new(std::net::Ipv4Addr::LOCALHOST.into(), crate::Proto::Tcp, 0).host(host).source(host).flow(tag.clone());
        results.push(ProbeResult {
            target,
            verdict: Verdict::Local,
            ok: true,
            from: None,
            answered_by: None,
            detail: "both ends on one host: no rule needed, nothing proven".into(),
            rtt_ms: None,
            attempts: 0,
        });
        judgements.push(Judgement { enforced_by: Vec::new(), dropped_by: None, unenforced: false });
    }

    let t = Instant::now();
    let namespaces = twin.lab.namespaces().len();
    let n_resp = responders.len();
    drop(responders);
    let kept = if opts.keep {
        twin.lab.keep();
        Some(twin.lab.prefix().to_string())
    } else {
        None
    };
    drop(twin);
    timings.teardown_ms = ms(t.elapsed());
    timings.total_ms = ms(t0.elapsed());
    Ok(LabReport {
        inventory: plan.inventory.clone(),
        firewall: opts.firewall.map(|f| f.name().to_string()).unwrap_or_else(|| "none".into()),
        namespaces,
        responders: n_resp,
        sockets,
        summary: LabSummary {
            rulesets_checked: exact.len(),
            rulesets_exact: exact.iter().filter(|e| e.passed()).count(),
            ..summarise(&results, &judgements)
        },
        exact,
        flows: per_flow(&results),
        results,
        judgements,
        loaded: loaded.lines,
        not_tested: loaded.not_tested,
        notes: notes.into_iter().chain(loaded.notes).collect(),
        timings,
        kept,
    })
}

/// What went into the kernel, and the rulesets (as the plan compiles them)
/// of the layers that hold them, for naming the layer that drops a probe.
struct Loaded {
    lines: Vec<String>,
    not_tested: Vec<String>,
    notes: Vec<String>,
    /// Host or firewall name → its ruleset (compiled from the plan).
    rulesets: BTreeMap<String, Ruleset>,
    /// Hosts and firewalls whose rules are in a namespace's kernel.
    in_kernel: BTreeSet<String>,
    /// Hosts whose script no kernel here loads (Windows): checked exactly
    /// as written.
    scripts: BTreeMap<String, Vec<OutputFile>>,
    /// What each namespace's kernel holds, read back after loading: the
    /// layer that drops a probe is named from it, so that with `--rules`
    /// the user's rules, not the plan's, decide.
    read_back: BTreeMap<String, ReadBack>,
}

fn load_all(plan: &Plan, twin: &Twin, opts: &LabOptions) -> io::Result<Loaded> {
    let mut out = Loaded {
        lines: Vec::new(),
        not_tested: Vec::new(),
        notes: Vec::new(),
        rulesets: BTreeMap::new(),
        in_kernel: BTreeSet::new(),
        scripts: BTreeMap::new(),
        read_back: BTreeMap::new(),
    };
    let Some(fw) = opts.firewall else {
        out.not_tested.push("no rulesets loaded (--target none): the bare network".into());
        return Ok(out);
    };
    let scratch = tempfile::Builder::new().prefix("portmatrix-lab-").tempdir()?;
    for h in plan.hosts.iter().filter(|h| h.managed) {
        if let Some(why) = portmatrix_targets::policy::misfit(fw, h) {
            load_script(plan, h, &why, opts, &mut out)?;
            continue;
        }
        let Some(ns) = twin.nodes.get(&h.name) else {
            out.not_tested.push(format!("{}: no address, not in the twin", h.name));
            continue;
        };
        let rs = portmatrix_targets::host_ruleset(plan, &h.name).map_err(io::Error::other)?;
        let files = files_for(plan, &rs, fw, opts, &mut out.notes)?;
        load_files(&mut out.lines, &h.name, ns, scratch.path(), &files)?;
        out.in_kernel.insert(h.name.clone());
        out.rulesets.insert(h.name.clone(), rs);
    }
    for f in &plan.firewalls {
        let rs = portmatrix_targets::firewall_ruleset(plan, &f.name).map_err(io::Error::other)?;
        let files = files_for(plan, &rs, fw, opts, &mut out.notes)?;
        load_files(&mut out.lines, &f.name, &twin.firewalls[&f.name], scratch.path(), &files)?;
        out.in_kernel.insert(f.name.clone());
        out.rulesets.insert(f.name.clone(), rs);
    }
    Ok(out)
}

/// A host whose rules the lab's kernels cannot load: with a script target
/// that fits it (Windows), its script is kept for the exact check; else it
/// is listed as not tested.
fn load_script(plan: &Plan, h: &portmatrix_plan::HostInfo, why: &str, opts: &LabOptions, out: &mut Loaded) -> io::Result<()> {
    // Only Windows: its script is what will be deployed. Appliances have no target.
    let Some(target) = portmatrix_targets::policy::native_target(h).filter(|t| *t == FwTarget::Windows) else {
        out.not_tested.push(format!("{}: rules not loaded in a kernel ({why})", h.name));
        return Ok(());
    };
    let rs = portmatrix_targets::host_ruleset(plan, &h.name).map_err(io::Error::other)?;
    if let Some(dir) = &opts.rules_dir {
        let absent: Vec<String> = target
            .backend()
            .render(&rs, &portmatrix_targets::Header::new(&plan.inventory, &rs), &RenderOptions::default())
            .into_iter()
            .map(|f| f.name)
            .filter(|n| !dir.join(n).exists())
            .collect();
        if !absent.is_empty() {
            // Not an error: a directory of Linux rulesets is still worth proving.
            out.not_tested.push(format!(
                "{} ({}): {} not in --rules: rules neither loaded nor checked",
                h.name,
                target.name(),
                absent.join(", ")
            ));
            return Ok(());
        }
    }
    let files = files_for(plan, &rs, target, opts, &mut out.notes)?;
    out.not_tested.push(format!("{} ({}): rules checked exactly, not loaded in a kernel", h.name, target.name()));
    out.scripts.insert(h.name.clone(), files);
    out.rulesets.insert(h.name.clone(), rs);
    Ok(())
}

/// The exact check of every ruleset in a kernel (read back from its
/// namespace) and of every script kept by [`load_script`].
fn exact_checks(twin: &Twin, loaded: &mut Loaded, kernels: bool) -> io::Result<Vec<ExactCheck>> {
    let mut out = Vec::new();
    for name in loaded.in_kernel.iter().filter(|_| kernels) {
        let ns = twin.nodes.get(name).or_else(|| twin.firewalls.get(name)).expect("loaded into a namespace of the twin");
        let (check, rb) = exact::check_kernel(name, ns, &loaded.rulesets[name])?;
        out.push(check);
        loaded.read_back.insert(name.clone(), rb);
    }
    for (name, files) in &loaded.scripts {
        out.push(exact::check_script(name, files, &loaded.rulesets[name])?);
    }
    Ok(out)
}

/// The files of one ruleset: compiled (and mutated, in tests), or the
/// user's from `rules_dir`.
fn files_for(plan: &Plan, rs: &Ruleset, fw: FwTarget, opts: &LabOptions, notes: &mut Vec<String>) -> io::Result<Vec<OutputFile>> {
    let compiled = fw.backend().render(rs, &portmatrix_targets::Header::new(&plan.inventory, rs), &RenderOptions::default());
    notes.extend(rs.warnings.iter().map(|w| format!("{}: {w}", rs.name())));
    let mut files = match &opts.rules_dir {
        None => compiled,
        Some(dir) => compiled
            .into_iter()
            .filter(|f| f.loader.is_some_and(|l| l != Loader::NftJson))
            .map(|f| {
                let path = dir.join(&f.name);
                let contents = std::fs::read_to_string(&path)
                    .map_err(|e| io::Error::other(format!("--rules: cannot read {} for {}: {e}", path.display(), rs.name())))?;
                Ok(OutputFile { contents, ..f })
            })
            .collect::<io::Result<Vec<_>>>()?,
    };
    if let Some(m) = &opts.mutate {
        files.iter_mut().for_each(|f| m(rs.name(), f));
    }
    Ok(files)
}

/// Loads the kernel files of one node into its namespace, each through its
/// loader (the text form of nftables; the JSON form says the same).
fn load_files(loaded: &mut Vec<String>, node: &str, ns: &str, dir: &std::path::Path, files: &[OutputFile]) -> io::Result<()> {
    if crate::firewalld::is_firewalld(files) {
        let name = crate::firewalld::load(ns, &dir.join(node), files)?;
        loaded.push(format!("{node}: {name} (firewalld)"));
        return Ok(());
    }
    // The ipsets first: the iptables rules match them by name.
    let (sets, rest): (Vec<&OutputFile>, Vec<&OutputFile>) = files.iter().partition(|f| f.loader == Some(Loader::IpsetRestore));
    for f in sets.into_iter().chain(rest) {
        let (tool, extra): (&str, &[&str]) = match f.loader {
            Some(Loader::Nft) => ("nft", &["-f"]),
            Some(Loader::IpsetRestore) => ("ipset", &["restore", "-f"]),
            Some(Loader::IptablesRestore) => ("iptables-restore", &[]),
            Some(Loader::Ip6tablesRestore) => ("ip6tables-restore", &[]),
            _ => continue,
        };
        let mut tmp = tempfile::Builder::new().prefix("rules-").tempfile_in(dir)?;
        std::io::Write::write_all(&mut tmp, f.contents.as_bytes())?;
        let p = tmp.path().to_string_lossy().to_string();
        let mut args: Vec<&str> = extra.to_vec();
        args.push(&p);
        netns::exec(ns, tool, &args).map_err(|e| io::Error::other(format!("loading {} into {node}: {e}", f.name)))?;
        loaded.push(format!("{node}: {} ({tool})", f.name));
    }
    Ok(())
}

fn start_responders(
    twin: &Twin,
    nodes: &[Node],
    listen: &BTreeMap<String, Vec<(crate::Proto, crate::PortSet)>>,
    key: &Key,
) -> io::Result<(Vec<netns::ResponderHandle>, usize, Vec<String>)> {
    let by_name: BTreeMap<&str, &Node> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut responders = Vec::new();
    let mut sockets = 0;
    let mut notes = Vec::new();
    for (name, ports) in listen {
        let node = by_name[name.as_str()];
        let mut cfg = ResponderConfig::new(name.clone(), key.clone(), node.addrs.clone(), ports.clone());
        cfg.sample_limit = usize::MAX; // the probe plan sampled already
        cfg.reuse_port = true;
        let h = netns::start_responder(twin.ns(name), cfg)?;
        for b in h.report.in_use().chain(h.report.failed()) {
            notes.push(format!("{name}: {} {}/{}: {:?}", b.addr, b.proto, b.port, b.state));
        }
        sockets += h.report.listening();
        responders.push(h);
    }
    Ok((responders, sockets, notes))
}

fn run_probes(
    twin: &Twin,
    nodes: &[Node],
    targets: &BTreeMap<String, Vec<Target>>,
    responders: &[netns::ResponderHandle],
    key: &Key,
    opts: &LabOptions,
) -> io::Result<Vec<ProbeResult>> {
    let by_name: BTreeMap<&str, &Node> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let logs: Vec<_> = responders.iter().map(|r| r.receipts.clone()).collect();
    let mut handles = Vec::new();
    for (src, list) in targets {
        let node = by_name[src.as_str()];
        let mut cfg = ProbeConfig::new(key.clone());
        cfg.timeout = opts.timeout;
        cfg.retries = opts.retries;
        cfg.concurrency = opts.concurrency;
        cfg.local_addrs = node.addrs.clone();
        let logs = logs.clone();
        let list = list.clone();
        handles.push(netns::spawn_in(twin.ns(src), move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            Ok(rt.block_on(crate::probe::run(list, &cfg, move || {
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
    Ok(results)
}

/// Judges every probe: which loaded filters were on its path, which of them
/// drops it, and whether a forbidden probe that passed was unenforced (no
/// loaded filter on its path) — such a probe fails only under `strict`.
fn judge(plan: &Plan, nodes: &[Node], loaded: &Loaded, results: &mut [ProbeResult], strict: bool) -> Vec<Judgement> {
    let by_name: BTreeMap<&str, &Node> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut out = Vec::with_capacity(results.len());
    for r in results.iter_mut() {
        let src = r.target.source.as_deref().and_then(|s| by_name.get(s));
        let dst = r.target.host.as_deref().and_then(|s| by_name.get(s));
        let (Some(src), Some(dst)) = (src, dst) else {
            out.push(Judgement { enforced_by: Vec::new(), dropped_by: None, unenforced: false });
            continue;
        };
        let path = plan.topology.path(src.zone.as_deref(), dst.zone.as_deref());
        let mut layers: Vec<&str> = in_path_order(&path).into_iter().filter(|f| loaded.in_kernel.contains(*f)).collect();
        if dst.kind == EndpointKind::Host && loaded.in_kernel.contains(&dst.name) {
            layers.push(&dst.name);
        }
        let unenforced = r.target.expect == Expect::Block && r.verdict == Verdict::Pass && layers.is_empty();
        if unenforced && !strict {
            r.ok = true;
            r.detail = "unenforced: no filter on this path in the twin".into();
        }
        let dropped_by = (r.verdict == Verdict::Blocked).then(|| dropping_layer(src, r, &layers, loaded)).flatten();
        out.push(Judgement { enforced_by: layers.iter().map(|l| l.to_string()).collect(), dropped_by, unenforced });
    }
    out
}

/// The firewalls of a path in the order a packet meets them: the route's
/// hops first (the twin routes along them), then any other firewall on
/// some shortest path.
fn in_path_order(path: &portmatrix_plan::Path) -> Vec<&str> {
    let mut order: Vec<&str> = match path {
        portmatrix_plan::Path::Firewalls { route, .. } => route.iter().map(|h| h.firewall.as_str()).collect(),
        _ => Vec::new(),
    };
    for f in path.firewalls() {
        if !order.contains(&f.as_str()) {
            order.push(f);
        }
    }
    order
}

/// The first layer on the path whose ruleset does not accept the probe.
fn dropping_layer(src: &Node, r: &ProbeResult, layers: &[&str], loaded: &Loaded) -> Option<String> {
    let proto = match r.target.proto {
        crate::Proto::Tcp => portmatrix_model::Proto::Tcp,
        crate::Proto::Udp => portmatrix_model::Proto::Udp,
        crate::Proto::Icmp if r.target.addr.is_ipv4() => portmatrix_model::Proto::Icmp,
        crate::Proto::Icmp => portmatrix_model::Proto::Icmpv6,
    };
    let from = r.target.src_addr.or_else(|| src.addrs.iter().copied().find(|a| a.is_ipv4() == r.target.addr.is_ipv4()))?;
    let icmp_type = (!proto.has_ports()).then_some(portmatrix_model::IcmpType::EchoRequest);
    let pkt = Packet { src: from, dst: r.target.addr, proto, port: r.target.port, src_port: r.target.src_port, icmp_type };
    let drops = |l: &str| match (loaded.read_back.get(l), loaded.rulesets.get(l)) {
        (Some(rb), Some(rs)) => exact::kernel_drops(rb, rs.chain, &pkt).unwrap_or(false),
        (None, Some(rs)) => !rs.permits(&pkt),
        _ => false,
    };
    layers.iter().find(|l| drops(l)).map(|l| l.to_string())
}

fn summarise(results: &[ProbeResult], judgements: &[Judgement]) -> LabSummary {
    let mut s = LabSummary { probes: results.len(), ..LabSummary::default() };
    for (r, j) in results.iter().zip(judgements) {
        match (r.verdict, r.target.expect) {
            (Verdict::Local, _) => s.local += 1,
            (_, Expect::Reach) if r.ok => s.required_ok += 1,
            (_, Expect::Reach) => s.required_failed += 1,
            (_, Expect::Block) if j.unenforced => s.unenforced += 1,
            (_, Expect::Block) if r.ok => s.forbidden_blocked += 1,
            (_, Expect::Block) => s.forbidden_reachable += 1,
        }
    }
    s
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
        let tags: Vec<String> = if r.target.expect == Expect::Block {
            vec!["negative".into()]
        } else if r.target.flows.is_empty() {
            vec!["-".into()]
        } else {
            r.target.flows.iter().map(|f| f.to_string()).collect()
        };
        for tag in tags {
            let f = m.entry(tag.clone()).or_insert_with(|| FlowVerdict {
                flow: tag.clone(),
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
