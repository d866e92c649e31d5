//! iptables with ipset: an `ipset restore` file holding one `hash:net` set
//! per source group and family (and a `bitmap:port` set for port lists too
//! long for `multiport`), then iptables-restore / ip6tables-restore files:
//! default-deny INPUT (or FORWARD), one rule per source set, protocol and set
//! of flows (`-m set --match-set`), each commented with its flows.
//!
//! The ipset file replaces each set's contents atomically (filled under a
//! scratch name, then swapped in) and can be loaded again over an earlier
//! run while iptables rules use the sets. Load it before the iptables files.

use std::collections::HashSet;
use std::fmt::Write;

use ipnet::IpNet;
use portmatrix_model::{IcmpType, PortSet, Proto};

use crate::escape::double_quoted;
use crate::flowrules::{flow_rules, FlowRule, Service, SetNames, SET_NAME_MAX};
use crate::groups::with_suffix_max;
use crate::ir::{comment_of, Family, Ruleset};
use crate::{Backend, Capabilities, Header, Loader, OutputFile, RenderOptions};

/// The comment match keeps up to 256 bytes; shorter keeps lines readable.
const COMMENT_MAX: usize = 120;

/// The scratch set each set is filled under before the swap.
const SCRATCH: &str = "portmatrix_scratch";

/// Fixed creation options: `create -exist` accepts an existing set only if
/// its options are the same, so every run uses these.
const NET_OPTIONS: &str = "maxelem 1048576";
const PORT_OPTIONS: &str = "range 0-65535";

pub struct Iptables;

impl Backend for Iptables {
    fn capabilities(&self) -> Capabilities {
        Capabilities { name: "iptables", host_os: &[portmatrix_model::Os::Linux], forward: true, export: false, comment_max: COMMENT_MAX }
    }
    fn render(&self, rs: &Ruleset, h: &Header, _opts: &RenderOptions) -> Vec<OutputFile> {
        let n = rs.name();
        let l = layout(rs);
        vec![
            OutputFile { name: format!("{n}.ipset"), contents: ipset_file(&l, h), loader: Some(Loader::IpsetRestore) },
            OutputFile { name: format!("{n}.iptables"), contents: render(rs, &l, Family::V4, h), loader: Some(Loader::IptablesRestore) },
            OutputFile { name: format!("{n}.ip6tables"), contents: render(rs, &l, Family::V6, h), loader: Some(Loader::Ip6tablesRestore) },
        ]
    }
}

/// The flow rules and the sets they use.
pub struct Layout {
    rules: Vec<FlowRule>,
    /// Address sets: name, family, addresses.
    nets: Vec<(String, Family, Vec<IpNet>)>,
    /// Port sets for rules whose ports do not fit `multiport`: name, ports.
    ports: Vec<(String, PortSet)>,
}

fn layout(rs: &Ruleset) -> Layout {
    let mut sets = SetNames::default();
    let rules = flow_rules(rs, &mut sets);
    let mut ports: Vec<(String, PortSet)> = Vec::new();
    let mut used: HashSet<String> = sets.order.iter().map(|(n, _, _)| n.clone()).collect();
    for r in &rules {
        if let Service::Ports(p) = &r.service {
            if port_groups(p).len() > 1 && !ports.iter().any(|(_, q)| q == p) {
                // Named after the first flow, with a hash of the ports so the
                // same name never holds other ports (a lab router loads the
                // sets of several firewalls).
                let tag = r.tags.first().map(|t| format!("{}_{}", t.product, t.flow)).unwrap_or_default();
                let base: String = tag.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
                let mut name = with_suffix_max(&format!("p_{base}"), &format!("_{}", port_hash(p)), SET_NAME_MAX);
                while used.contains(&name) {
                    name.push('x');
                }
                used.insert(name.clone());
                ports.push((name, p.clone()));
            }
        }
    }
    Layout { rules, nets: sets.order, ports }
}

fn port_hash(p: &PortSet) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in p.to_string().bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    format!("{:03x}", h & 0xfff)
}

fn q(s: &str) -> String {
    double_quoted(s, COMMENT_MAX)
}

/// The `ipset restore` file.
pub fn ipset_file(l: &Layout, h: &Header) -> String {
    let mut o = String::new();
    for line in h.lines() {
        let _ = writeln!(o, "# {line}");
    }
    let _ = writeln!(o, "# Load with `ipset restore -f FILE` before the iptables files; loading it again replaces each set's members.");
    let fill = |o: &mut String, name: &str, kind: &str, options: &str, members: Vec<String>| {
        let _ = writeln!(o, "create {name} {kind} {options} -exist");
        let _ = writeln!(o, "create {SCRATCH} {kind} {options}");
        for m in members {
            let _ = writeln!(o, "add {SCRATCH} {m}");
        }
        let _ = writeln!(o, "swap {SCRATCH} {name}");
        let _ = writeln!(o, "destroy {SCRATCH}");
    };
    for (name, fam, nets) in &l.nets {
        let family = if *fam == Family::V4 { "inet" } else { "inet6" };
        fill(&mut o, name, "hash:net", &format!("family {family} {NET_OPTIONS}"), nets.iter().map(|n| n.to_string()).collect());
    }
    for (name, ports) in &l.ports {
        let members = ports.ranges().map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
        fill(&mut o, name, "bitmap:port", PORT_OPTIONS, members);
    }
    o
}

/// multiport takes at most 15 ports, a range counting as two.
fn port_groups(set: &PortSet) -> Vec<String> {
    let mut groups = Vec::new();
    let mut cur: Vec<String> = Vec::new();
    let mut weight = 0;
    for (a, b) in set.ranges() {
        let (item, w) = if a == b { (a.to_string(), 1) } else { (format!("{a}:{b}"), 2) };
        if weight + w > 15 {
            groups.push(cur.join(","));
            cur.clear();
            weight = 0;
        }
        cur.push(item);
        weight += w;
    }
    if !cur.is_empty() {
        groups.push(cur.join(","));
    }
    groups
}

/// ICMP type names as iptables and ip6tables spell them.
fn icmp_type(fam: Family, t: IcmpType) -> &'static str {
    match (fam, t) {
        (Family::V6, IcmpType::NeighborSolicitation) => "neighbour-solicitation",
        (Family::V6, IcmpType::NeighborAdvertisement) => "neighbour-advertisement",
        _ => t.as_str(),
    }
}

/// `-m multiport --Xports LIST` or `-m set --match-set PORTS dst|src`.
fn ports_match(l: &Layout, p: &PortSet, dir: &str) -> String {
    match l.ports.iter().find(|(_, q)| q == p) {
        Some((name, _)) => format!(" -m set --match-set {name} {dir}"),
        None => {
            let flag = if dir == "dst" { "--dports" } else { "--sports" };
            format!(" -m multiport {flag} {}", port_groups(p).join(","))
        }
    }
}

fn rule_lines(l: &Layout, r: &FlowRule, chain: &str, out: &mut String) {
    let k = &r.key;
    let comment = q(&comment_of(&r.tags));
    let daddr =
        if k.dst.is_empty() { String::new() } else { format!(" -d {}", k.dst.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",")) };
    let src = format!("-m set --match-set {} src", k.set);
    match &r.service {
        Service::Ports(p) => {
            // Source ports beyond multiport's reach never occur in a matrix
            // (one range); a set would serve them as for destinations.
            let sport = k.sports.as_ref().map(|s| ports_match(l, s, "src")).unwrap_or_default();
            let dport = ports_match(l, p, "dst");
            let _ = writeln!(out, "-A {chain}{daddr} -p {} {src}{dport}{sport} -m comment --comment {comment} -j ACCEPT", k.proto);
        }
        Service::Icmp(types) => {
            let (p, m, opt) =
                if k.proto == Proto::Icmp { ("icmp", "icmp", "--icmp-type") } else { ("ipv6-icmp", "icmp6", "--icmpv6-type") };
            for t in types {
                let _ = writeln!(
                    out,
                    "-A {chain}{daddr} -p {p} {src} -m {m} {opt} {} -m comment --comment {comment} -j ACCEPT",
                    icmp_type(k.family, *t)
                );
            }
        }
    }
}

/// The restore file for one address family.
pub fn render(rs: &Ruleset, l: &Layout, fam: Family, h: &Header) -> String {
    let forward = rs.forward();
    let chain = if forward { "FORWARD" } else { "INPUT" };
    let mut o = String::new();
    for line in h.lines() {
        let _ = writeln!(o, "# {line}");
    }
    let _ = writeln!(o, "# Needs the sets of the .ipset file (ipset restore) loaded first.");
    let _ = writeln!(o, "*filter");
    for c in ["INPUT", "FORWARD", "OUTPUT"] {
        // The filtered chain and, on a host, forwarding drop; the rest accept.
        let policy = if c == chain || (!forward && c == "FORWARD") { "DROP" } else { "ACCEPT" };
        let _ = writeln!(o, ":{c} {policy} [0:0]");
    }
    if rs.base.return_traffic {
        let _ = writeln!(o, "-A {chain} -m conntrack --ctstate ESTABLISHED,RELATED -m comment --comment \"return traffic\" -j ACCEPT");
    }
    if rs.base.drop_invalid {
        let _ = writeln!(o, "-A {chain} -m conntrack --ctstate INVALID -m comment --comment \"invalid packets\" -j DROP");
    }
    if rs.base.loopback {
        let _ = writeln!(o, "-A {chain} -i lo -m comment --comment \"loopback\" -j ACCEPT");
    }
    let icmp_proto = if fam == Family::V4 { Proto::Icmp } else { Proto::Icmpv6 };
    for t in rs.base.icmp_types(icmp_proto) {
        let line = match fam {
            Family::V4 => {
                format!("-A {chain} -p icmp -m icmp --icmp-type {} -m comment --comment \"ICMP errors\" -j ACCEPT", icmp_type(fam, t))
            }
            Family::V6 => format!(
                "-A {chain} -p ipv6-icmp -m icmp6 --icmpv6-type {} -m comment --comment {} -j ACCEPT",
                icmp_type(fam, t),
                q(if forward { "ICMPv6 errors" } else { "ICMPv6 errors and neighbour discovery" })
            ),
        };
        let _ = writeln!(o, "{line}");
    }
    for r in l.rules.iter().filter(|r| r.key.family == fam) {
        rule_lines(l, r, chain, &mut o);
    }
    let _ = writeln!(o, "COMMIT");
    port_forwards(rs, fam, &mut o);
    o
}

/// The port forwards of this family: DNAT in the nat table's PREROUTING,
/// before FORWARD judges the translated packet by the flows' rules.
fn port_forwards(rs: &Ruleset, fam: Family, o: &mut String) {
    let forwards: Vec<_> = rs.dnat.iter().filter(|d| d.family() == fam).collect();
    if forwards.is_empty() {
        return;
    }
    let _ = writeln!(o, "*nat");
    for c in ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"] {
        let _ = writeln!(o, ":{c} ACCEPT [0:0]");
    }
    let bits = if fam == Family::V4 { 32 } else { 128 };
    for d in forwards {
        let comment = q(&format!("port forward to {}: {}", d.host, comment_of(&d.reasons)));
        for group in port_groups(&d.ports) {
            let _ = writeln!(
                o,
                "-A PREROUTING -d {}/{bits} -p {} -m multiport --dports {group} -m comment --comment {comment} -j DNAT --to-destination {}",
                d.public, d.proto, d.private
            );
        }
    }
    let _ = writeln!(o, "COMMIT");
}
