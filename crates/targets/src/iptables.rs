//! iptables-restore / ip6tables-restore files: default-deny INPUT (or
//! FORWARD), one rule per source prefix and port group, each commented.

use std::fmt::Write;

use ipnet::IpNet;
use portmatrix_model::{IcmpType, PortSet, Proto};

use crate::escape::double_quoted;
use crate::ir::{Family, Rule, Ruleset};
use crate::{Backend, Capabilities, Header, Loader, OutputFile, RenderOptions};

/// The comment match keeps up to 256 bytes; shorter keeps lines readable.
const COMMENT_MAX: usize = 120;

pub struct Iptables;

impl Backend for Iptables {
    fn capabilities(&self) -> Capabilities {
        Capabilities { name: "iptables", host_os: &[portmatrix_model::Os::Linux], forward: true, export: false, comment_max: COMMENT_MAX }
    }
    fn render(&self, rs: &Ruleset, h: &Header, _opts: &RenderOptions) -> Vec<OutputFile> {
        let n = rs.name();
        vec![
            OutputFile { name: format!("{n}.iptables"), contents: render(rs, Family::V4, h), loader: Some(Loader::IptablesRestore) },
            OutputFile { name: format!("{n}.ip6tables"), contents: render(rs, Family::V6, h), loader: Some(Loader::Ip6tablesRestore) },
        ]
    }
}

fn q(s: &str) -> String {
    double_quoted(s, COMMENT_MAX)
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

fn rule_lines(r: &Rule, chain: &str, out: &mut String) {
    let comment = q(&r.comment());
    let dsts: Vec<Option<&IpNet>> = if r.dst.is_empty() { vec![None] } else { r.dst.iter().map(Some).collect() };
    for s in &r.src {
        for d in &dsts {
            let daddr = d.map(|d| format!(" -d {d}")).unwrap_or_default();
            if r.proto.has_ports() {
                let sport_groups = r.sports.as_ref().map(port_groups).unwrap_or_else(|| vec![String::new()]);
                for sp in &sport_groups {
                    for dp in port_groups(&r.dports) {
                        let sport = if sp.is_empty() { String::new() } else { format!(" -m multiport --sports {sp}") };
                        let _ = writeln!(
                            out,
                            "-A {chain} -s {s}{daddr} -p {} -m multiport --dports {dp}{sport} -m comment --comment {comment} -j ACCEPT",
                            r.proto
                        );
                    }
                }
            } else {
                let (p, opt) = if r.proto == Proto::Icmp { ("icmp", "--icmp-type") } else { ("ipv6-icmp", "--icmpv6-type") };
                for t in &r.icmp {
                    let _ = writeln!(
                        out,
                        "-A {chain} -s {s}{daddr} -p {p} -m {} {opt} {} -m comment --comment {comment} -j ACCEPT",
                        if r.proto == Proto::Icmp { "icmp" } else { "icmp6" },
                        icmp_type(r.family, *t)
                    );
                }
            }
        }
    }
}

/// The restore file for one address family.
pub fn render(rs: &Ruleset, fam: Family, h: &Header) -> String {
    let forward = rs.forward();
    let chain = if forward { "FORWARD" } else { "INPUT" };
    let mut o = String::new();
    for line in h.lines() {
        let _ = writeln!(o, "# {line}");
    }
    let _ = writeln!(o, "*filter");
    for c in ["INPUT", "FORWARD", "OUTPUT"] {
        let policy = if c == chain {
            "DROP"
        } else if c == "OUTPUT" || !forward && c == "FORWARD" {
            if c == "OUTPUT" {
                "ACCEPT"
            } else {
                "DROP"
            }
        } else {
            "ACCEPT"
        };
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
    for r in rs.rules.iter().filter(|r| r.family == fam) {
        rule_lines(r, chain, &mut o);
    }
    let _ = writeln!(o, "COMMIT");
    o
}
