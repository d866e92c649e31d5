//! `portmatrix responder`, `probe` and `lab`: proving the plan on a network.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use portmatrix_plan::Plan;
use portmatrix_verify::flows::{host_nodes, probe_plan, ProbeOptions};
use portmatrix_verify::probe::{ProbeConfig, ProbeResult, Target};
use portmatrix_verify::responder::{read_receipts, BindState, Rate, ReceiptCaps, ResponderConfig};
use portmatrix_verify::{lab, output as vout, parse_proto_ports, Key, PortSet, Proto};

use crate::exit;
use crate::failure::{Failure, Outcome};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResultFormat {
    /// One line per probe, then a summary
    Table,
    /// Summary and every result
    Json,
    /// JUnit XML for CI pipelines
    Junit,
}

/// How responder and prober get the shared secret (flattened into both).
#[derive(Args)]
pub struct KeyArgs {
    /// File holding the shared secret, readable only by you (chmod 600); else PORTMATRIX_KEY
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Removed: a key on the command line can be read by every user of the machine
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "", value_name = "KEY")]
    pub key: Option<String>,
}

/// The shared secret: `--key-file` or the PORTMATRIX_KEY environment
/// variable, never the command line.
fn key(a: &KeyArgs) -> Result<Key, Failure> {
    if a.key.is_some() {
        return Err(format!(
            "--key is no longer accepted: a key on the command line can be read by every user of this machine \
             (ps, /proc/PID/cmdline). Put it in a file only you can read and pass --key-file PATH \
             (umask 077; printf %s \"$SECRET\" > key), or set {}",
            portmatrix_verify::token::KEY_ENV
        )
        .into());
    }
    Key::load(a.key_file.as_deref(), std::env::var_os(portmatrix_verify::token::KEY_ENV)).map_err(|e| e.to_string().into())
}

/// A rate in probes per second: positive and finite.
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!("`{s}` is not a positive number of probes per second")),
    }
}

fn emit(text: &str, out: &Option<PathBuf>) -> Result<(), Failure> {
    match out {
        Some(p) => crate::output::write_atomic(p, text).map_err(|e| format!("writing {}: {e}", p.display()).into()),
        None => {
            crate::output::print(text);
            Ok(())
        }
    }
}

fn render(results: &[ProbeResult], format: ResultFormat, suite: &str) -> String {
    match format {
        ResultFormat::Table => vout::table(results),
        ResultFormat::Json => vout::json(results),
        ResultFormat::Junit => vout::junit(suite, results),
    }
}

fn plan_of(inv: &std::path::Path) -> Result<Plan, Failure> {
    crate::cmd_plan::plan_of(inv)
}

/// Warns when the host's inventory addresses are not on this machine (the
/// wrong machine, or NAT): probes then leave from, and responders listen on,
/// other addresses than the rules expect.
fn warn_missing_addresses(host: &str, addrs: &[IpAddr]) {
    let Ok(own) = portmatrix_verify::netns::own_addresses() else {
        return;
    };
    let missing: Vec<String> = addrs.iter().filter(|a| !a.is_unspecified() && !own.contains(a)).map(|a| a.to_string()).collect();
    if !missing.is_empty() {
        eprintln!("warning: {} of {host} is not configured on this machine; is this {host}?", missing.join(", "));
    }
}

// ---------------------------------------------------------------- responder

#[derive(Args)]
#[command(after_help = "The responder answers each probe with its observations (protocol, the address and \
port the probe reached, the source address and port it came from, its host name), signed with a token under \
the host's key: the prober knows which host answered and that nobody changed the reply on the way. It listens \
only on the host's own addresses (never 0.0.0.0 or ::). A UDP answer is never larger than its request; probes \
are rate-limited per source address, per /24 or /64, and in all; the receipt log is capped. Ports already \
taken are reported as in-use. It runs until SIGINT or SIGTERM and then says what it recorded and dropped.\n\n\
The key comes from --key-file (a file only you can read) or PORTMATRIX_KEY, never from the command line.\n\n\
Examples:\n  portmatrix responder -i examples/jtel-acd.yaml --host acd-web1 --key-file ~/.config/portmatrix/key\n  \
PORTMATRIX_KEY=\"$(cat key)\" portmatrix responder -i inv.yaml --host web1 --bind 10.0.0.5 --receipts /var/tmp/receipts.jsonl\n  \
portmatrix responder --key-file key --name web1 --bind 10.0.0.5 --bind 2001:db8::5 --listen tcp:80,443 --listen udp:5060")]
pub struct ResponderArgs {
    /// The inventory: listen on every port the host must accept, on the host's addresses
    #[arg(short, long, requires = "host")]
    pub inventory: Option<PathBuf>,
    /// The host of the inventory this machine is
    #[arg(long)]
    pub host: Option<String>,
    /// Without an inventory: what to listen on, e.g. tcp:80,443 or udp:5000-5010 (repeatable)
    #[arg(long, conflicts_with = "inventory")]
    pub listen: Vec<String>,
    /// Without an inventory: the host name the token is made for
    #[arg(long, default_value = "responder", conflicts_with = "inventory")]
    pub name: String,
    /// Addresses to listen on (repeatable): required without an inventory; with one, some of the host's addresses (default: all)
    #[arg(long, value_name = "ADDR", required_unless_present = "inventory")]
    pub bind: Vec<IpAddr>,
    #[command(flatten)]
    pub key: KeyArgs,
    /// Append a receipt per probe (nonce, source, time) to this JSON-lines file
    #[arg(long)]
    pub receipts: Option<PathBuf>,
    /// Serve the receipts on this Unix socket (a prober on the machine reads it with --receipts)
    #[arg(long)]
    pub control: Option<PathBuf>,
    /// Most receipts kept in memory, and written to the --receipts file
    #[arg(long, default_value_t = ReceiptCaps::default().max_count)]
    pub max_receipts: usize,
    /// Most MiB of receipts kept in memory, and in the --receipts file
    #[arg(long, value_name = "MIB", default_value_t = ReceiptCaps::default().max_bytes >> 20)]
    pub max_receipts_mib: u64,
    /// Most ports bound per protocol and address; larger sets are sampled
    #[arg(long, default_value_t = 512)]
    pub sample_limit: usize,
    /// Probes per second answered per source address (bursts of twice that)
    #[arg(long, value_parser = parse_rate, default_value_t = 2000.0)]
    pub rate: f64,
    /// Probes per second answered per source /24 (IPv4) or /64 (IPv6)
    #[arg(long, value_parser = parse_rate, default_value_t = 4000.0)]
    pub prefix_rate: f64,
    /// Probes per second answered in all
    #[arg(long, value_parser = parse_rate, default_value_t = 20000.0)]
    pub global_rate: f64,
}

/// What a responder serves: its host name, addresses and port sets.
struct Served {
    name: String,
    addrs: Vec<IpAddr>,
    listen: Vec<(Proto, PortSet)>,
}

/// What the responder serves, from the inventory or from the flags.
fn responder_listen(a: &ResponderArgs) -> Result<Served, Failure> {
    let (Some(inv), Some(host)) = (&a.inventory, &a.host) else {
        let mut listen = Vec::new();
        for l in &a.listen {
            listen.push(parse_proto_ports(l).map_err(|e| format!("--listen {e}"))?);
        }
        return Ok(Served { name: a.name.clone(), addrs: a.bind.clone(), listen });
    };
    let plan = plan_of(inv)?;
    let Some(h) = plan.host(host) else {
        let names: Vec<&str> = plan.hosts.iter().map(|h| h.name.as_str()).collect();
        return Err(format!("no host `{host}` in the inventory; hosts: {}", names.join(", ")).into());
    };
    if let Some(foreign) = a.bind.iter().find(|b| !h.addresses.contains(b)) {
        let own: Vec<String> = h.addresses.iter().map(|a| a.to_string()).collect();
        return Err(format!("--bind {foreign} is not an address of {host} in the inventory (its addresses: {})", own.join(", ")).into());
    }
    let addrs = if a.bind.is_empty() { h.addresses.clone() } else { a.bind.clone() };
    let pp = probe_plan(&plan, &host_nodes(&plan), &ProbeOptions::default());
    let listen = pp.listen.get(host).cloned().unwrap_or_default();
    Ok(Served { name: host.clone(), addrs, listen })
}

pub fn responder(a: ResponderArgs) -> Outcome {
    let key = key(&a.key)?;
    let Served { name, addrs, listen } = responder_listen(&a)?;
    if listen.iter().all(|(p, s): &(Proto, PortSet)| *p == Proto::Icmp || s.is_empty()) {
        return Err("nothing to listen on (give --listen, or a host that accepts tcp or udp flows)".into());
    }
    let mut cfg = ResponderConfig::new(name.clone(), key, addrs, listen);
    cfg.sample_limit = a.sample_limit;
    cfg.limits.per_address = Rate::per_sec(a.rate);
    cfg.limits.per_prefix = Rate::per_sec(a.prefix_rate);
    cfg.limits.global = Rate::per_sec(a.global_rate);
    cfg.receipt_caps = ReceiptCaps { max_count: a.max_receipts, max_bytes: a.max_receipts_mib.saturating_mul(1 << 20) };
    cfg.receipts_file = a.receipts.clone();
    cfg.control = a.control.clone();
    cfg.check().map_err(|e| e.to_string())?;
    warn_missing_addresses(&name, &cfg.addrs);
    let r = portmatrix_verify::responder::serve_until_signal(&cfg, |rep| {
        for n in &rep.notes {
            eprintln!("note: {n}");
        }
        for b in &rep.bindings {
            match &b.state {
                BindState::Listening => {}
                BindState::InUse => {
                    eprintln!("in-use: {} {}/{} (taken: probed as the real service)", b.addr, b.proto, b.port)
                }
                BindState::Failed(e) => eprintln!("failed: {} {}/{}: {e}", b.addr, b.proto, b.port),
            }
        }
        eprintln!("responder {name}: listening on {} socket(s); Ctrl-C or SIGTERM stops it", rep.listening());
    });
    match r {
        Ok(stats) => {
            eprintln!("responder {name}: stopped; receipts: {}", stats.receipts.summary(&cfg.receipt_caps));
            let d = stats.rate_limited;
            if d.total() > 0 {
                eprintln!(
                    "responder {name}: rate limit dropped {} probe(s): {} per address, {} per prefix, {} over the global rate, \
                     {} while too many sources were tracked",
                    d.total(),
                    d.address,
                    d.prefix,
                    d.global,
                    d.table_full
                );
            }
            Ok(exit::CLEAN)
        }
        Err(e) => Err(e.to_string().into()),
    }
}

// ---------------------------------------------------------------- probe

#[derive(Args)]
#[command(after_help = "Verdicts: pass, blocked (nothing arrived), return-blocked (a responder's receipt shows \
it arrived, no answer came back), refused (RST or ICMP error, with the address that sent it), wrong-host \
(token mismatch), nat (delivered from another source address: a warning), local. Exit 1 if a required flow \
fails or a forbidden probe gets through.\n\n\
The key comes from --key-file (a file only you can read) or PORTMATRIX_KEY, never from the command line; \
it must be the responders' key.\n\n\
Examples:\n  portmatrix probe -i examples/jtel-acd.yaml --from acd-lb1 --key-file ~/.config/portmatrix/key\n  \
portmatrix probe -i inv.yaml --from web1 --to db1 --only acd/db-replication --format junit -o probes.xml\n  \
PORTMATRIX_KEY=\"$(cat key)\" portmatrix probe --address 10.0.0.5/tcp:80,443@web1 --address 10.0.0.5/icmp --receipts /run/pmx.sock")]
pub struct ProbeArgs {
    /// The inventory: probe every planned connection from --from
    #[arg(short, long, requires = "from")]
    pub inventory: Option<PathBuf>,
    /// The host of the inventory this machine is
    #[arg(long)]
    pub from: Option<String>,
    /// Only connections to this host
    #[arg(long)]
    pub to: Option<String>,
    /// Only this flow (`product/flow-id`, or the flow id alone)
    #[arg(long)]
    pub only: Option<String>,
    /// Skip the negative probes (ports that must not be reachable)
    #[arg(long)]
    pub no_negative: bool,
    /// Without an inventory: ADDR/PROTO:PORTS[@HOST], e.g. 10.0.0.5/tcp:443@web1 or 10.0.0.5/icmp (repeatable)
    #[arg(long, short = 'a', value_name = "ADDR/PROTO:PORTS[@HOST]", conflicts_with = "inventory")]
    pub address: Vec<String>,
    #[command(flatten)]
    pub key: KeyArgs,
    /// Receipt files or control sockets of the responders, to tell blocked from return-blocked and see NAT
    #[arg(long)]
    pub receipts: Vec<PathBuf>,
    /// Per-probe timeout in milliseconds
    #[arg(long, default_value_t = 1500)]
    pub timeout_ms: u64,
    /// Extra attempts after a silent one
    #[arg(long, default_value_t = 1)]
    pub retries: u32,
    /// Probes in flight at once
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Ports probed per connection (first, last, evenly spaced)
    #[arg(long, default_value_t = 8)]
    pub ports_per_flow: usize,
    /// Output format
    #[arg(long, short, value_enum, default_value_t = ResultFormat::Table)]
    pub format: ResultFormat,
    /// Write the results here instead of standard output
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// `ADDR/PROTO:PORTS[@HOST]`
fn parse_target(s: &str) -> Result<Vec<Target>, String> {
    let (rest, host) = match s.rsplit_once('@') {
        Some((r, h)) => (r, Some(h)),
        None => (s, None),
    };
    let (addr, spec) =
        rest.split_once('/').ok_or_else(|| format!("`{s}`: expected ADDR/PROTO:PORTS[@HOST], e.g. 10.0.0.5/tcp:443@web1"))?;
    let addr: IpAddr = addr.parse().map_err(|_| format!("`{addr}` is not an IP address"))?;
    let (proto, ports) = parse_proto_ports(spec)?;
    let ports: Vec<u16> = if proto == Proto::Icmp { vec![0] } else { ports.iter().collect() };
    Ok(ports
        .into_iter()
        .map(|p| {
            let t = Target::new(addr, proto, p);
            match host {
                Some(h) => t.host(h),
                None => t,
            }
        })
        .collect())
}

/// Every receipt of the responders' files and sockets; says which could not
/// be read and which are incomplete (then `blocked` may be `return-blocked`).
fn gather_receipts(files: &[PathBuf]) -> Vec<portmatrix_verify::responder::Receipt> {
    let mut all = Vec::new();
    for f in files {
        match read_receipts(f) {
            Ok(r) => {
                for why in &r.incomplete {
                    eprintln!("warning: receipts incomplete: {why}; a probe without a receipt may show blocked instead of return-blocked");
                }
                all.extend(r.receipts);
            }
            Err(e) => eprintln!("warning: receipts {}: {e}", f.display()),
        }
    }
    all
}

pub fn probe(a: ProbeArgs) -> Outcome {
    let mut cfg = ProbeConfig::new(key(&a.key)?);
    cfg.timeout = Duration::from_millis(a.timeout_ms);
    cfg.retries = a.retries;
    cfg.concurrency = a.concurrency;
    cfg.progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (targets, suite) = match (&a.inventory, &a.from) {
        (Some(inv), Some(from)) => {
            let plan = plan_of(inv)?;
            let Some(h) = plan.host(from) else {
                let names: Vec<&str> = plan.hosts.iter().map(|h| h.name.as_str()).collect();
                return Err(format!("no host `{from}` in the inventory; hosts: {}", names.join(", ")).into());
            };
            cfg.local_addrs = h.addresses.clone();
            warn_missing_addresses(from, &h.addresses);
            let opts = ProbeOptions { ports_per_connection: a.ports_per_flow, ..ProbeOptions::default() };
            let pp = probe_plan(&plan, &host_nodes(&plan), &opts);
            for n in &pp.notes {
                eprintln!("note: {n}");
            }
            let mut t = pp.targets.get(from).cloned().unwrap_or_default();
            if let Some(to) = &a.to {
                t.retain(|t| t.host.as_deref() == Some(to.as_str()));
            }
            if let Some(only) = &a.only {
                t.retain(|t| t.flows.iter().any(|f| f.to_string() == *only || f.flow == *only));
            }
            if a.no_negative {
                t.retain(|t| t.expect == portmatrix_verify::probe::Expect::Reach);
            }
            (t, format!("{} from {from}", plan.inventory))
        }
        _ => {
            let mut t = Vec::new();
            for s in &a.address {
                t.extend(parse_target(s).map_err(|e| format!("--address {e}"))?);
            }
            (t, "portmatrix probe".to_string())
        }
    };
    if targets.is_empty() {
        return Err("nothing to probe (give -i INV --from HOST, or --address)".into());
    }
    let files = a.receipts.clone();
    let results = portmatrix_verify::probe::run_blocking(targets, &cfg, move || gather_receipts(&files)).map_err(|e| e.to_string())?;
    emit(&render(&results, a.format, &suite), &a.output)?;
    Ok(if results.iter().all(|r| r.ok) { exit::CLEAN } else { exit::FINDINGS })
}

// ---------------------------------------------------------------- lab

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LabTarget {
    /// Load each host's compiled nftables ruleset (`nft -f`)
    Nftables,
    /// Load each host's iptables-restore and ip6tables-restore files
    Iptables,
    /// Load no rules (see what the bare network does)
    None,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LabFormat {
    /// The verdict per flow, then every failed probe
    Table,
    /// Every probe, one line each
    Probes,
    /// The whole report: timings, notes, every result
    Json,
    /// JUnit XML for CI pipelines
    Junit,
}

#[derive(Args)]
#[command(after_help = "A twin of the deployment on this machine (root, iproute2, and nft or iptables): a \
network namespace per host with the inventory's addresses and per network a connection names (with a \
representative address), a bridge per zone, a namespace per network firewall with an interface in each of its \
zones, so that every probe crosses exactly the firewalls its path crosses in the deployment, and an unfiltered \
router for zones no firewall joins. It loads each managed host's and each firewall's rules (compiled, or yours \
with --rules), starts responders, probes every required flow and, for every ordered pair of endpoints, near-miss \
forbidden ports (ports open to others, the ports either side of open ranges, admin and database ports), and \
tears everything down, also on Ctrl-C.\n\n\
A forbidden probe that gets through where a filter on its path should drop it fails the lab. One whose path \
holds no filter at all (same zone to an unmanaged host, zones no firewall joins, rules not loadable such as \
Windows) is reported as unenforced and fails only with --strict. Every blocked probe names the layer that \
dropped it; the summary lists what was loaded where and what was not tested. Flows between roles on one host \
are listed as local and never counted as proven.\n\n\
Nothing is added to this machine's own network namespace; the lab refuses to start if one of its addresses \
is configured here.\n\n\
Examples:\n  sudo portmatrix lab -i examples/jtel-acd.yaml\n  sudo portmatrix lab -i examples/mixed.yaml --target iptables --format junit -o lab.xml\n  \
sudo portmatrix lab -i examples/mixed.yaml --rules reviewed-rules/ --strict\n  \
sudo portmatrix lab -i examples/avaya-pom.yaml --keep    # then: ip netns list")]
pub struct LabArgs {
    #[command(flatten)]
    pub inventory: crate::args::InventoryArg,
    /// Which rulesets to load
    #[arg(long, short, value_enum, default_value_t = LabTarget::Nftables)]
    pub target: LabTarget,
    /// Load the rulesets in DIR (NAME.nft, or NAME.iptables and NAME.ip6tables, as `compile` names them) instead of compiling them
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Forbidden probes that cross no filter (unenforced) fail the lab too
    #[arg(long)]
    pub strict: bool,
    /// Leave the namespaces in place afterwards
    #[arg(long)]
    pub keep: bool,
    /// Per-probe timeout in milliseconds
    #[arg(long, default_value_t = 1500)]
    pub timeout_ms: u64,
    /// Extra attempts after a silent probe of a required flow
    #[arg(long, default_value_t = 1)]
    pub retries: u32,
    /// Ports probed per connection (first, last, evenly spaced)
    #[arg(long, default_value_t = 8)]
    pub ports_per_flow: usize,
    /// Forbidden ports probed per ordered pair of endpoints
    #[arg(long, default_value_t = 5)]
    pub negatives: usize,
    /// Output format
    #[arg(long, short, value_enum, default_value_t = LabFormat::Table)]
    pub format: LabFormat,
    /// Write the report here instead of standard output
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

pub fn lab(a: LabArgs) -> Outcome {
    if let Some(why) = portmatrix_verify::netns::unavailable(&["ip"]) {
        return Err(format!("the lab cannot run here: {why}").into());
    }
    let firewall = match a.target {
        LabTarget::Nftables => Some(portmatrix_targets::Target::Nftables),
        LabTarget::Iptables => Some(portmatrix_targets::Target::Iptables),
        LabTarget::None => None,
    };
    let tool = firewall.map(|t| if t == portmatrix_targets::Target::Iptables { "iptables-restore" } else { "nft" });
    if let Some(why) = tool.and_then(|t| portmatrix_verify::netns::unavailable(&[t])) {
        return Err(format!("the lab cannot load rules: {why}").into());
    }
    if a.rules.is_some() && firewall.is_none() {
        return Err("--rules needs --target nftables or iptables: which syntax are the files in?".into());
    }
    let plan = plan_of(&a.inventory.inventory)?;
    let opts = lab::LabOptions {
        firewall,
        rules_dir: a.rules.clone(),
        probe: ProbeOptions { ports_per_connection: a.ports_per_flow, negatives_per_pair: a.negatives },
        timeout: Duration::from_millis(a.timeout_ms),
        retries: a.retries,
        strict: a.strict,
        keep: a.keep,
        cleanup_on_signal: true,
        ..lab::LabOptions::default()
    };
    let report = lab::run(&plan, &opts).map_err(|e| format!("lab: {e}"))?;
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    let suite = format!("lab {} ({})", report.inventory, report.firewall);
    let text = match a.format {
        LabFormat::Json => crate::output::json(&report),
        LabFormat::Junit => vout::junit(&suite, &report.results),
        LabFormat::Probes => vout::table(&report.results),
        LabFormat::Table => lab_table(&report, &suite),
    };
    emit(&text, &a.output)?;
    Ok(if report.passed() { exit::CLEAN } else { exit::FINDINGS })
}

fn lab_table(report: &lab::LabReport, suite: &str) -> String {
    let flows = &report.flows;
    let mut s = String::new();
    let w = flows.iter().map(|f| f.flow.len()).max().unwrap_or(4).max(4);
    s.push_str(&format!("{:<6}  {:<w$}  {:>6}  VERDICTS\n", "RESULT", "FLOW", "PROBES"));
    for f in flows {
        let v: Vec<String> = f.verdicts.iter().map(|(k, n)| format!("{k} {n}")).collect();
        s.push_str(&format!("{:<6}  {:<w$}  {:>6}  {}\n", if f.ok { "ok" } else { "FAIL" }, f.flow, f.probes, v.join(", ")));
    }
    let failed: Vec<ProbeResult> = report.results.iter().filter(|r| !r.ok).cloned().collect();
    if !failed.is_empty() {
        s.push_str("\nfailed probes:\n");
        s.push_str(&vout::table(&failed));
    }
    let unenforced: Vec<ProbeResult> =
        report.results.iter().zip(&report.judgements).filter(|(_, j)| j.unenforced).map(|(r, _)| r.clone()).collect();
    if !unenforced.is_empty() {
        s.push_str("\nunenforced (no filter on the path; fails only with --strict):\n");
        s.push_str(&vout::table(&unenforced));
    }
    let mut dropped: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for j in &report.judgements {
        if let Some(l) = &j.dropped_by {
            *dropped.entry(l.as_str()).or_default() += 1;
        }
    }
    s.push_str("\nloaded:\n");
    for l in &report.loaded {
        s.push_str(&format!("  {l}\n"));
    }
    if !report.not_tested.is_empty() {
        s.push_str("not tested:\n");
        for l in &report.not_tested {
            s.push_str(&format!("  {l}\n"));
        }
    }
    if !dropped.is_empty() {
        let d: Vec<String> = dropped.iter().map(|(l, n)| format!("{l} {n}")).collect();
        s.push_str(&format!("blocked probes by the layer that dropped them: {}\n", d.join(", ")));
    }
    s.push_str(&exact_section(report));
    let sum = &report.summary;
    s.push_str(&format!(
        "\n{suite}: {} flows, {} probes: {} required ok, {} required not reachable, {} forbidden blocked, {} forbidden reachable, \
{} unenforced, {} local (not proven); {} namespaces, {} responders ({} sockets); {:.1} s (build {} ms, rules {} ms, exact check {} ms, probes {} ms, teardown {} ms)\n",
        flows.len(),
        sum.probes,
        sum.required_ok,
        sum.required_failed,
        sum.forbidden_blocked,
        sum.forbidden_reachable,
        sum.unenforced,
        sum.local,
        report.namespaces,
        report.responders,
        report.sockets,
        report.timings.total_ms as f64 / 1000.0,
        report.timings.build_ms,
        report.timings.load_ms,
        report.timings.exact_ms,
        report.timings.probe_ms,
        report.timings.teardown_ms,
    ));
    s.push_str(&exact_summary(report));
    if let Some(k) = &report.kept {
        s.push_str(&format!("kept: namespaces {k}* (delete with: ip netns del NAME)\n"));
    }
    s
}

/// Each exact check's verdict; a check with findings lists them with their
/// witness packet and the rule or set element responsible.
fn exact_section(report: &lab::LabReport) -> String {
    if report.exact.is_empty() {
        return String::new();
    }
    let mut s = String::from("exact check (every packet, not a sample):\n");
    for c in &report.exact {
        s.push_str(&format!("  {}\n", portmatrix_verify::exact::line(c)));
        let (header, rows) = c.report.rows();
        if rows.is_empty() {
            continue;
        }
        let mut t = portmatrix_report::table::Table::new(&header);
        for row in rows {
            t.push(row);
        }
        for l in crate::output::table(&t, crate::output::Format::Table).lines() {
            s.push_str(&format!("    {l}\n"));
        }
    }
    s
}

/// The exact check's summary line: how many rulesets, how many exact, and
/// which were not loaded in a kernel.
fn exact_summary(report: &lab::LabReport) -> String {
    let sum = &report.summary;
    if sum.rulesets_checked == 0 {
        return "exact check: no ruleset checked (nothing loaded)\n".into();
    }
    let scripts = report.exact.iter().filter(|c| c.source == portmatrix_verify::exact::Source::Script).count();
    format!(
        "exact check: {} of {} rulesets do exactly what the plan says ({} read back from their namespace's kernel, {} Windows script(s) checked exactly, not loaded in a kernel)\n",
        sum.rulesets_exact,
        sum.rulesets_checked,
        sum.rulesets_checked - scripts,
        scripts
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let t = parse_target("10.0.0.5/tcp:80,443@web1").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].port, 443);
        assert_eq!(t[0].host.as_deref(), Some("web1"));
        let t = parse_target("2001:db8::1/icmp").unwrap();
        assert_eq!((t.len(), t[0].proto), (1, Proto::Icmp));
        assert!(parse_target("10.0.0.5").is_err());
        assert!(parse_target("host/tcp:1").is_err());
    }
}
