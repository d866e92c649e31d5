//! The exact check inside the lab: after the rulesets are loaded, each
//! namespace's ruleset is read back from its kernel (`nft -j list ruleset`,
//! `iptables-save`, `ip6tables-save`, `ipset save`) and compared with the
//! plan over the whole packet space by `portmatrix-proof`. Probes sample;
//! this does not, so a hole no probe happened to hit is still found.
//!
//! Hosts whose rules no kernel here can load (Windows) get the same check
//! on the script that would be deployed, and say so.

use std::io;

use portmatrix_model::Proto;
use portmatrix_proof::eval::{evaluate, Verdict};
use portmatrix_proof::space::State;
use portmatrix_proof::{check_ruleset, Options, Packet, Report};
use portmatrix_targets::read::files::{self, Input};
use portmatrix_targets::read::ReadBack;
use portmatrix_targets::{Chain, OutputFile, Ruleset};
use serde::Serialize;

use crate::netns;

/// Where the checked ruleset came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Read back from the kernel of the node's namespace, after loading.
    Kernel,
    /// The script that would be deployed, checked as written: no kernel
    /// here loads it (Windows).
    Script,
}

/// The exact check of one host's or firewall's ruleset.
#[derive(Debug, Clone, Serialize)]
pub struct ExactCheck {
    /// The host or network firewall.
    pub node: String,
    pub source: Source,
    /// What was read: the namespace, or the script's file name.
    pub from: String,
    pub report: Report,
}

impl ExactCheck {
    pub fn passed(&self) -> bool {
        self.report.exact_match
    }
}

/// Runs `tool args` inside `ns`; `None` when the tool is not installed.
fn view(ns: &str, tool: &str, args: &[&str]) -> io::Result<Option<String>> {
    if netns::unavailable(&[tool]).is_some() {
        return Ok(None);
    }
    let out = netns::exec(ns, tool, args)?;
    String::from_utf8(out.stdout).map(Some).map_err(|_| io::Error::other(format!("{tool} in {ns} printed something that is not UTF-8")))
}

/// Reads what the kernel of `ns` holds: every view, so that a table of the
/// other syntax (an iptables-nft table next to ours, say) is judged too.
pub fn read_kernel(ns: &str) -> io::Result<ReadBack> {
    let nft = view(ns, "nft", &["-j", "list", "ruleset"])?;
    let v4 = view(ns, "iptables-save", &[])?;
    let v6 = view(ns, "ip6tables-save", &[])?;
    // Without the ipset module `ipset save` fails; `-m set` rules (if any)
    // are then reported as not judged rather than guessed.
    let ipset = view(ns, "ipset", &["save"]).ok().flatten();
    files::live(nft.as_deref(), v4.as_deref(), v6.as_deref(), ipset.as_deref())
        .map_err(|e| io::Error::other(format!("reading the ruleset of {ns} back: {e}")))
}

/// Checks what the kernel of `ns` holds against `intent`; also gives what
/// was read, for naming the layer that drops a probe.
pub fn check_kernel(node: &str, ns: &str, intent: &Ruleset) -> io::Result<(ExactCheck, ReadBack)> {
    let rb = read_kernel(ns)?;
    let report = check_ruleset(intent, &rb, &Options::default());
    Ok((ExactCheck { node: node.to_string(), source: Source::Kernel, from: ns.to_string(), report }, rb))
}

/// Whether the ruleset read back from a kernel drops the first packet of a
/// new connection (`None` when it cannot be judged).
pub fn kernel_drops(rb: &ReadBack, chain: Chain, p: &portmatrix_plan::Packet) -> Option<bool> {
    let (protocol, v6) = match p.proto {
        Proto::Tcp => (6, p.dst.is_ipv6()),
        Proto::Udp => (17, p.dst.is_ipv6()),
        Proto::Sctp => (132, p.dst.is_ipv6()),
        Proto::Icmp => (1, false),
        Proto::Icmpv6 => (58, true),
    };
    let ports = p.proto.has_ports();
    let packet = Packet {
        family: if v6 { 6 } else { 4 },
        src: p.src,
        dst: p.dst,
        protocol,
        protocol_name: None,
        // The prober's source port is not known here; any ephemeral one.
        src_port: ports.then(|| p.src_port.unwrap_or(49152)),
        dst_port: ports.then_some(p.port),
        icmp_type: p.icmp_type.and_then(|t| t.number(p.proto)),
        icmp_type_name: None,
        iif: None,
        oif: None,
        ct_state: State::New,
    };
    match evaluate(rb, chain, &packet) {
        Verdict::Accept => Some(false),
        Verdict::Drop => Some(true),
        Verdict::Unknown => None,
    }
}

/// Checks a script as written (the files `compile` writes for the node, or
/// the user's) against `intent`.
pub fn check_script(node: &str, scripts: &[OutputFile], intent: &Ruleset) -> io::Result<ExactCheck> {
    let inputs: Vec<Input> = scripts.iter().map(|f| Input { name: f.name.clone(), text: f.contents.clone() }).collect();
    let from = scripts.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ");
    let rb = files::combine(inputs).map_err(|e| io::Error::other(format!("{node}: {e}")))?;
    Ok(ExactCheck { node: node.to_string(), source: Source::Script, from, report: check_ruleset(intent, &rb, &Options::default()) })
}

/// One line per check for the summary; the findings follow in
/// [`Report::rows`].
pub fn line(c: &ExactCheck) -> String {
    let how = match c.source {
        Source::Kernel => "read back from its namespace's kernel".to_string(),
        Source::Script => format!("{}: checked exactly, not loaded in a kernel", c.from),
    };
    format!("{} ({how})", c.report.summary())
}
