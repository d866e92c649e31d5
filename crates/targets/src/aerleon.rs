//! Aerleon: the plan as Aerleon policy files and naming definitions, for
//! teams whose appliances Aerleon's generators configure (and so both tools
//! can be timed on the same work).
//!
//! One term per flow rule (the same rules the nftables layout has: a source
//! group, a protocol and the ports its flows need), its comment naming the
//! flows. Hosts get an nftables INPUT policy. A network firewall gets the
//! platform chosen for it ([`AerleonPlatform`]); zone-based platforms
//! (PAN-OS, Juniper SRX, FortiGate) get one policy header per pair of the
//! inventory's zones the rules cross, each ending in a deny term.

use std::collections::BTreeMap;
use std::fmt::Write;

use portmatrix_model::{FlowTag, PortSet, Proto};

use crate::escape::{double_quoted, token};
use crate::flowrules::{flow_rules, FlowRule, Service, SetNames};
use crate::ir::Ruleset;
use crate::{Backend, Capabilities, Header, OutputFile, RenderOptions};

pub struct Aerleon;

impl Backend for Aerleon {
    fn capabilities(&self) -> Capabilities {
        use portmatrix_model::Os;
        Capabilities {
            name: "aerleon",
            host_os: &[Os::Linux, Os::Windows, Os::Appliance, Os::Any],
            forward: true,
            export: true,
            comment_max: 1024,
        }
    }
    fn render(&self, rs: &Ruleset, h: &Header, opts: &RenderOptions) -> Vec<OutputFile> {
        let n = rs.name();
        let platform = if rs.forward() { opts.aerleon.for_firewall(n) } else { AerleonPlatform::Nftables };
        let (pol, net, svc) = render(rs, h, platform);
        vec![
            OutputFile { name: format!("aerleon/policies/pol/{n}.pol"), contents: pol, loader: None },
            OutputFile { name: format!("aerleon/def/{n}.net"), contents: net, loader: None },
            OutputFile { name: format!("aerleon/def/{n}.svc"), contents: svc, loader: None },
        ]
    }
}

/// The Aerleon generators a network firewall's policy can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum AerleonPlatform {
    /// nftables (FORWARD)
    Nftables,
    /// Palo Alto PAN-OS (`paloalto`, zone to zone)
    Paloalto,
    /// Juniper SRX (`srx`, zone to zone)
    Srx,
    /// Juniper Junos firewall filter (`juniper`)
    Juniper,
    /// Cisco ASA access list (`ciscoasa`)
    Ciscoasa,
    /// Fortinet FortiGate (`fortigate`, zone to zone)
    Fortigate,
}

impl AerleonPlatform {
    pub const ALL: [AerleonPlatform; 6] = [Self::Nftables, Self::Paloalto, Self::Srx, Self::Juniper, Self::Ciscoasa, Self::Fortigate];
    /// Aerleon's name of the generator.
    pub fn generator(self) -> &'static str {
        match self {
            Self::Nftables => "nftables",
            Self::Paloalto => "paloalto",
            Self::Srx => "srx",
            Self::Juniper => "juniper",
            Self::Ciscoasa => "ciscoasa",
            Self::Fortigate => "fortigate",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.generator() == s)
    }
    /// Whether policies go from one zone to another.
    pub fn zoned(self) -> bool {
        matches!(self, Self::Paloalto | Self::Srx | Self::Fortigate)
    }
}

/// Which platform each network firewall's export names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AerleonPlatforms {
    /// For firewalls not listed below (nftables when unset).
    pub default: Option<AerleonPlatform>,
    pub firewalls: BTreeMap<String, AerleonPlatform>,
}

impl AerleonPlatforms {
    pub fn for_firewall(&self, fw: &str) -> AerleonPlatform {
        self.firewalls.get(fw).copied().or(self.default).unwrap_or(AerleonPlatform::Nftables)
    }
}

/// The header of one policy: a whole ruleset, or one zone pair.
fn header_block(rs: &Ruleset, platform: AerleonPlatform, zones: Option<&(String, String)>) -> String {
    let name = token(rs.name());
    let target = match (platform, zones) {
        (AerleonPlatform::Nftables, _) => format!("nftables mixed {}", if rs.forward() { "FORWARD" } else { "INPUT" }),
        (p, Some((from, to))) if p.zoned() => {
            let family = if p == AerleonPlatform::Fortigate { String::new() } else { " mixed".to_string() };
            format!("{} from-zone {} to-zone {}{family}", p.generator(), token(from).to_lowercase(), token(to).to_lowercase())
        }
        (AerleonPlatform::Juniper, _) => format!("juniper PM_{name} mixed"),
        (p, _) => format!("{} PM_{name}", p.generator()),
    };
    let what = match zones {
        Some((a, b)) => format!("portmatrix plan for {} from {a} to {b}", rs.name()),
        None => format!("portmatrix plan for {}", rs.name()),
    };
    format!("header {{\n  comment:: {}\n  target:: {target}\n}}\n\n", double_quoted(&what, 200))
}

fn ranges(p: &PortSet, proto: Proto) -> Vec<String> {
    p.ranges().map(|(a, b)| if a == b { format!("{a}/{proto}") } else { format!("{a}-{b}/{proto}") }).collect()
}

/// Definitions shared by the terms of one file.
#[derive(Default)]
struct Defs {
    nets: BTreeMap<String, Vec<String>>,
    svcs: BTreeMap<String, Vec<String>>,
}

fn term(o: &mut String, defs: &mut Defs, rs: &Ruleset, r: &FlowRule, nets: &BTreeMap<String, Vec<String>>, i: usize) {
    let host = token(rs.name());
    let first = r.tags.first().map(|t| format!("{}-{}", t.product, t.flow)).unwrap_or_default();
    // Term names: letters, digits and `-`.
    let name: String = format!("{first}-{i}").chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    // Names carry the host: aclgen reads all definition files into one namespace.
    let src = format!("SRC_{host}_{}", token(&r.key.set));
    defs.nets.entry(src.clone()).or_insert_with(|| nets[&r.key.set].clone());
    let _ = writeln!(o, "term {name} {{");
    let _ = writeln!(o, "  comment:: {}", double_quoted(&r.tags.iter().map(FlowTag::to_string).collect::<Vec<_>>().join(" "), 1000));
    let _ = writeln!(o, "  source-address:: {src}");
    if !r.key.dst.is_empty() {
        let dst = format!("DST_{host}_{i}");
        defs.nets.insert(dst.clone(), r.key.dst.iter().map(|n| n.to_string()).collect());
        let _ = writeln!(o, "  destination-address:: {dst}");
    }
    let _ = writeln!(o, "  protocol:: {}", r.key.proto);
    match &r.service {
        Service::Ports(p) => {
            let svc = format!("SVC_{host}_{i}");
            defs.svcs.insert(svc.clone(), ranges(p, r.key.proto));
            let _ = writeln!(o, "  destination-port:: {svc}");
            if let Some(sp) = &r.key.sports {
                let spt = format!("SPT_{host}_{i}");
                defs.svcs.insert(spt.clone(), ranges(sp, r.key.proto));
                let _ = writeln!(o, "  source-port:: {spt}");
            }
        }
        Service::Icmp(types) => {
            // Aerleon's nftables generator fails on a term with exactly one
            // icmp-type; naming it twice yields the same set, not a wider one.
            let mut names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
            if names.len() == 1 {
                names.push(names[0]);
            }
            let _ = writeln!(o, "  icmp-type:: {}", names.join(" "));
        }
    }
    let _ = writeln!(o, "  action:: accept\n}}\n");
}

/// The zones a policy block is for (`None`: a platform without zones).
type ZonePair = Option<(String, String)>;

/// `(policy, NETWORK.net, SERVICES.svc)` for one ruleset.
pub fn render(rs: &Ruleset, h: &Header, platform: AerleonPlatform) -> (String, String, String) {
    let mut sets = SetNames::default();
    let rules = flow_rules(rs, &mut sets);
    let nets: BTreeMap<String, Vec<String>> =
        sets.order.iter().map(|(n, _, v)| (n.clone(), v.iter().map(|x| x.to_string()).collect())).collect();
    let mut pol = String::new();
    for line in h.lines() {
        let _ = writeln!(pol, "# {line}");
    }
    // Zone-based platforms: one policy per zone pair.
    let mut blocks: BTreeMap<ZonePair, Vec<(usize, &FlowRule)>> = BTreeMap::new();
    for (i, r) in rules.iter().enumerate() {
        let key = if platform.zoned() { r.key.zones.clone() } else { None };
        blocks.entry(key).or_default().push((i + 1, r));
    }
    if blocks.is_empty() && !platform.zoned() {
        blocks.insert(None, Vec::new());
    }
    let mut defs = Defs::default();
    for (k, (zones, rules)) in blocks.iter().enumerate() {
        pol.push_str(&header_block(rs, platform, zones.as_ref()));
        for (i, r) in rules {
            term(&mut pol, &mut defs, rs, r, &nets, *i);
        }
        // Some generators (FortiGate) want term names unique in the file.
        let deny = if k == 0 { "default-deny".to_string() } else { format!("default-deny-{}", k + 1) };
        let _ = writeln!(pol, "term {deny} {{\n  comment:: \"everything the plan does not name\"\n  action:: deny\n}}\n");
    }
    let mut n = String::new();
    for (k, v) in &defs.nets {
        let _ = writeln!(n, "{k} = {}", v.join("\n    "));
    }
    let mut s = String::new();
    for (k, v) in &defs.svcs {
        let _ = writeln!(s, "{k} = {}", v.join("\n    "));
    }
    (pol, n, s)
}
