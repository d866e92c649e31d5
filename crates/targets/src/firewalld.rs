//! firewalld: XML configuration files (ipsets, services, a zone or a
//! policy) and `load.sh`, which copies them into a firewalld configuration
//! directory, makes the zone the default and runs
//! `firewall-offline-cmd --check-config`.
//!
//! - Every source group becomes an ipset (`pm_acd_lb`, `hash:net`). A flow
//!   that also restricts source ports gets a `hash:net,port` ipset instead,
//!   which firewalld matches as source address, protocol and source port
//!   together (a service's `<source-port>` would open those ports on its
//!   own, a rich rule takes only one of port or source port).
//! - Every set of flows needing the same ports becomes a service
//!   (`pm_acd_internal_lb`) with those ports, its description naming the flows.
//! - A host's input is the zone `portmatrix` (target DROP, to be made the
//!   default zone) with one rich rule per source ipset and service. Source
//!   groups overlap (the admin network is in several), and firewalld binds an
//!   address to one zone only, so the groups are matched by rich rules rather
//!   than as zone sources.
//! - A network firewall's forwarding is the policy `portmatrix` from every
//!   zone to every zone (`ANY` → `ANY`, target DROP), its rich rules naming
//!   sources, destinations and services.
//! - The base policy: firewalld itself accepts return traffic and loopback
//!   and drops invalid packets; the ICMP types of the base policy are
//!   accepted by rich rules; `allow-host-ipv6` (firewalld's policy for
//!   neighbour discovery, which also accepts redirects) is replaced by one
//!   that accepts exactly the base policy's neighbour discovery.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use ipnet::IpNet;
use portmatrix_model::{FlowTag, IcmpType, PortSet, Proto};

use crate::escape::comment_line;
use crate::flowrules::{flow_rules, FlowRule, Service, SetNames, SET_NAME_MAX};
use crate::groups::with_suffix_max;
use crate::ir::{Family, Ruleset};
use crate::{Backend, Capabilities, Header, Loader, OutputFile, RenderOptions};

pub struct Firewalld;

impl Backend for Firewalld {
    fn capabilities(&self) -> Capabilities {
        Capabilities { name: "firewalld", host_os: &[portmatrix_model::Os::Linux], forward: true, export: false, comment_max: 1024 }
    }
    fn render(&self, rs: &Ruleset, h: &Header, opts: &RenderOptions) -> Vec<OutputFile> {
        render(rs, h, opts)
    }
}

/// Prefix of every ipset and service portmatrix writes, so that `load.sh`
/// can remove what an earlier run wrote and nothing else.
const PREFIX: &str = "pm_";

/// Text for XML character data and attribute values.
fn xml(s: &str) -> String {
    comment_line(s).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// An XML comment: `--` may not occur inside one.
fn xml_comment(s: &str) -> String {
    let mut c = xml(s);
    while c.contains("--") {
        c = c.replace("--", "- -");
    }
    format!("<!-- {} -->", c.trim_end_matches('-'))
}

fn tags_text(tags: &[FlowTag]) -> String {
    tags.iter().map(FlowTag::to_string).collect::<Vec<_>>().join(" ")
}

fn fnv(s: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    format!("{:03x}", h & 0xfff)
}

/// A firewalld ipset: its type and entries.
struct Ipset {
    family: Family,
    kind: &'static str,
    entries: Vec<String>,
}

/// A service: the ports of one protocol, and the flows needing them.
struct Svc {
    proto: Proto,
    ports: PortSet,
    tags: Vec<FlowTag>,
}

/// Names and contents of the ipsets and services the rich rules use; one
/// name never holds two contents.
#[derive(Default)]
struct Objects {
    ipsets: BTreeMap<String, Ipset>,
    services: BTreeMap<String, Svc>,
    service_by_content: HashMap<(Proto, PortSet, Vec<FlowTag>), String>,
}

fn range(a: u16, b: u16) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}

impl Objects {
    /// The ipset of a rule's sources: the set's addresses, or with source ports.
    fn source(&mut self, r: &FlowRule, nets: &[IpNet]) -> String {
        let k = &r.key;
        match &k.sports {
            None => {
                let name = with_suffix_max(&format!("{PREFIX}{}", k.set), "", SET_NAME_MAX);
                self.ipsets.entry(name.clone()).or_insert_with(|| Ipset {
                    family: k.family,
                    kind: "hash:net",
                    entries: nets.iter().map(|n| n.to_string()).collect(),
                });
                name
            }
            Some(sp) => {
                let suffix = format!("_sp{}", fnv(&format!("{}{sp}", k.proto)));
                let name = with_suffix_max(&format!("{PREFIX}{}", k.set), &suffix, SET_NAME_MAX);
                let entries = nets.iter().flat_map(|n| sp.ranges().map(move |(a, b)| format!("{n},{}:{}", k.proto, range(a, b)))).collect();
                self.ipsets.entry(name.clone()).or_insert_with(|| Ipset { family: k.family, kind: "hash:net,port", entries });
                name
            }
        }
    }

    /// The service of a rule's ports, named after its first flow.
    fn service(&mut self, proto: Proto, ports: &PortSet, tags: &[FlowTag]) -> String {
        let key = (proto, ports.clone(), tags.to_vec());
        if let Some(n) = self.service_by_content.get(&key) {
            return n.clone();
        }
        let first = tags.first().map(|t| format!("{}_{}_{proto}", t.product, t.flow)).unwrap_or_default();
        let base: String =
            format!("{PREFIX}{first}").chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
        let mut name = base.clone();
        if self.services.contains_key(&name) {
            name = format!("{base}_{}", fnv(&format!("{ports} {}", tags_text(tags))));
        }
        let mut n = 2;
        while self.services.contains_key(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.services.insert(name.clone(), Svc { proto, ports: ports.clone(), tags: tags.to_vec() });
        self.service_by_content.insert(key, name.clone());
        name
    }
}

/// firewalld's name of an ICMP type (its `icmptypes` directory).
fn icmp_name(t: IcmpType) -> &'static str {
    match t {
        IcmpType::NeighborSolicitation => "neighbour-solicitation",
        IcmpType::NeighborAdvertisement => "neighbour-advertisement",
        other => other.as_str(),
    }
}

fn family_attr(f: Family) -> &'static str {
    match f {
        Family::V4 => "ipv4",
        Family::V6 => "ipv6",
    }
}

/// The rich rules of the flow rules, each after a comment naming its flows.
fn rich_rules(rs: &Ruleset, objects: &mut Objects) -> String {
    let mut sets = SetNames::default();
    let rules = flow_rules(rs, &mut sets);
    let nets: HashMap<String, Vec<IpNet>> = sets.order.iter().map(|(n, _, v)| (n.clone(), v.clone())).collect();
    let mut o = String::new();
    for r in &rules {
        let src = objects.source(r, &nets[&r.key.set]);
        let dsts: Vec<Option<&IpNet>> = if r.key.dst.is_empty() { vec![None] } else { r.key.dst.iter().map(Some).collect() };
        let what: Vec<String> = match &r.service {
            Service::Ports(p) => vec![format!("<service name=\"{}\"/>", objects.service(r.key.proto, p, &r.tags))],
            Service::Icmp(types) => types.iter().map(|t| format!("<icmp-type name=\"{}\"/>", icmp_name(*t))).collect(),
        };
        let _ = writeln!(o, "  {}", xml_comment(&tags_text(&r.tags)));
        for d in &dsts {
            for w in &what {
                let dst = d.map(|d| format!("<destination address=\"{d}\"/>")).unwrap_or_default();
                let _ = writeln!(o, "  <rule family=\"{}\"><source ipset=\"{src}\"/>{dst}{w}<accept/></rule>", family_attr(r.key.family));
            }
        }
    }
    o
}

/// Rich rules accepting the base policy's ICMP types from anywhere.
fn base_icmp(rs: &Ruleset) -> String {
    let mut o = String::new();
    for (proto, fam, what) in
        [(Proto::Icmp, Family::V4, "ICMP errors"), (Proto::Icmpv6, Family::V6, "ICMPv6 errors and neighbour discovery")]
    {
        let types = rs.base.icmp_types(proto);
        if types.is_empty() {
            continue;
        }
        let _ = writeln!(o, "  {}", xml_comment(&format!("base policy: {what}")));
        for t in types {
            let _ = writeln!(o, "  <rule family=\"{}\"><icmp-type name=\"{}\"/><accept/></rule>", family_attr(fam), icmp_name(t));
        }
    }
    o
}

fn header_comment(h: &Header) -> String {
    h.lines().iter().map(|l| xml_comment(l)).collect::<Vec<_>>().join("\n")
}

fn ipset_xml(name: &str, s: &Ipset, h: &Header) -> String {
    let mut o = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{}\n<ipset type=\"{}\">\n", header_comment(h), s.kind);
    let _ = writeln!(o, "  <short>{name}</short>");
    let fam = if s.family == Family::V4 { "inet" } else { "inet6" };
    let _ = writeln!(o, "  <option name=\"family\" value=\"{fam}\"/>");
    let _ = writeln!(o, "  <option name=\"maxelem\" value=\"1048576\"/>");
    for e in &s.entries {
        let _ = writeln!(o, "  <entry>{e}</entry>");
    }
    o.push_str("</ipset>\n");
    o
}

fn service_xml(name: &str, s: &Svc, h: &Header) -> String {
    let mut o = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{}\n<service>\n", header_comment(h));
    let _ = writeln!(o, "  <short>{name}</short>");
    let _ = writeln!(o, "  <description>Needed by {}</description>", xml(&tags_text(&s.tags)));
    for (a, b) in s.ports.ranges() {
        let _ = writeln!(o, "  <port protocol=\"{}\" port=\"{}\"/>", s.proto, range(a, b));
    }
    o.push_str("</service>\n");
    o
}

/// firewalld's `allow-host-ipv6`, narrowed to the base policy's neighbour discovery.
fn host_ipv6_policy(rs: &Ruleset, h: &Header) -> String {
    let mut o = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{}\n<policy target=\"CONTINUE\" priority=\"-15000\">\n  <short>Allow host IPv6</short>\n  <description>Neighbour discovery of the portmatrix base policy (replaces firewalld's, which also accepts redirects).</description>\n  <ingress-zone name=\"ANY\"/>\n  <egress-zone name=\"HOST\"/>\n",
        header_comment(h)
    );
    for t in rs.base.icmp_types(Proto::Icmpv6) {
        if matches!(
            t,
            IcmpType::NeighborSolicitation | IcmpType::NeighborAdvertisement | IcmpType::RouterAdvertisement | IcmpType::RouterSolicitation
        ) {
            let _ = writeln!(o, "  <rule family=\"ipv6\"><icmp-type name=\"{}\"/><accept/></rule>", icmp_name(t));
        }
    }
    o.push_str("</policy>\n");
    o
}

/// The load script: copies the files into a firewalld configuration
/// directory (`/etc/firewalld`, or the first argument), removing what an
/// earlier run wrote, and checks the result with firewalld's own validation.
fn load_script(zone: &str, forward: bool, h: &Header) -> String {
    let mut o = String::from("#!/bin/sh\n");
    for l in h.lines() {
        let _ = writeln!(o, "# {l}");
    }
    let _ = writeln!(o, "# Usage: sh load.sh [FIREWALLD_CONFIG_DIR]   (default /etc/firewalld), then `firewall-cmd --reload`.");
    o.push_str("set -eu\nhere=$(cd \"$(dirname \"$0\")\" && pwd)\ncfg=${1:-/etc/firewalld}\n");
    // Never replace a policy file someone else wrote.
    let _ = writeln!(o, "if [ -f \"$cfg/policies/allow-host-ipv6.xml\" ] && ! grep -q 'Generated by portmatrix' \"$cfg/policies/allow-host-ipv6.xml\"; then\n  echo \"$cfg/policies/allow-host-ipv6.xml was not written by portmatrix: move it away first\" >&2; exit 1\nfi");
    let _ = writeln!(o, "for kind in ipsets services zones policies; do\n  mkdir -p \"$cfg/$kind\"\n  rm -f \"$cfg/$kind\"/{PREFIX}*.xml\n  if [ -d \"$here/$kind\" ]; then cp \"$here/$kind\"/*.xml \"$cfg/$kind/\"; fi\ndone");
    if !forward {
        let _ = writeln!(
            o,
            "[ \"$(firewall-offline-cmd --system-config \"$cfg\" --get-default-zone)\" = {zone} ] || firewall-offline-cmd --system-config \"$cfg\" --set-default-zone={zone}"
        );
    }
    // --check-config reports a bad rich rule only as a warning: any warning fails.
    o.push_str("out=$(firewall-offline-cmd --system-config \"$cfg\" --check-config 2>&1) || { echo \"$out\" >&2; exit 1; }\n");
    o.push_str("if printf '%s' \"$out\" | grep -q -e WARNING -e ERROR; then echo \"$out\" >&2; exit 1; fi\n");
    o
}

pub fn render(rs: &Ruleset, h: &Header, opts: &RenderOptions) -> Vec<OutputFile> {
    let zone: String = opts.table.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    let dir = format!("firewalld/{}", rs.name());
    let mut objects = Objects::default();
    let rules = rich_rules(rs, &mut objects);
    let icmp = base_icmp(rs);
    let mut files = Vec::new();
    let main = if rs.forward() {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{}\n<policy target=\"DROP\">\n  <short>{zone}</short>\n  <description>Forwarding between the zones of {}: default deny, every rule tagged with its flows.</description>\n  <ingress-zone name=\"ANY\"/>\n  <egress-zone name=\"ANY\"/>\n{icmp}{rules}</policy>\n",
            header_comment(h),
            xml(rs.name())
        )
    } else {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{}\n<zone target=\"DROP\">\n  <short>{zone}</short>\n  <description>Input of {}: default deny, every rule tagged with its flows. Make it the default zone.</description>\n{icmp}{rules}</zone>\n",
            header_comment(h),
            xml(rs.name())
        )
    };
    let kind = if rs.forward() { "policies" } else { "zones" };
    files.push(OutputFile { name: format!("{dir}/{kind}/{zone}.xml"), contents: main, loader: None });
    if !rs.forward() {
        files.push(OutputFile { name: format!("{dir}/policies/allow-host-ipv6.xml"), contents: host_ipv6_policy(rs, h), loader: None });
    }
    for (name, s) in &objects.ipsets {
        files.push(OutputFile { name: format!("{dir}/ipsets/{name}.xml"), contents: ipset_xml(name, s, h), loader: None });
    }
    for (name, s) in &objects.services {
        files.push(OutputFile { name: format!("{dir}/services/{name}.xml"), contents: service_xml(name, s, h), loader: None });
    }
    files.push(OutputFile {
        name: format!("{dir}/load.sh"),
        contents: load_script(&zone, rs.forward(), h),
        loader: Some(Loader::Firewalld),
    });
    files
}
