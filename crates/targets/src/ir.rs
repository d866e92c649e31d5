//! The rule representation every target renders, and an evaluator of it.
//!
//! Targets never read the plan's connections directly: they render these
//! rules. The evaluator answers "does this ruleset permit this packet", which
//! the property tests use (and, later, `audit ruleset`).

use std::net::IpAddr;

use ipnet::IpNet;
use portmatrix_model::{PortSet, Proto};
use portmatrix_plan::{Connection, Packet, Plan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(net: &IpNet) -> Self {
        match net {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }
}

/// One accept rule. `src` is never empty: a rule without an address match
/// would accept the whole world, and is never built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub family: Family,
    pub src: Vec<IpNet>,
    /// Destination addresses; empty on a host's input chain (the host itself).
    pub dst: Vec<IpNet>,
    pub proto: Proto,
    pub dports: PortSet,
    pub sports: Option<PortSet>,
    pub icmp: Vec<String>,
    /// `product/flow` tags: why the rule exists.
    pub reasons: Vec<String>,
}

impl Rule {
    pub fn comment(&self) -> String {
        Self::comment_of(&self.reasons)
    }

    /// Reasons as one comment, shortened to fit nftables' 128-byte limit.
    pub fn comment_of(reasons: &[String]) -> String {
        let joined = reasons.join(" ");
        // nftables limits comments to 128 bytes.
        if joined.len() <= 120 {
            return joined;
        }
        let mut out = String::new();
        for (i, r) in reasons.iter().enumerate() {
            let more = format!(" +{} more", reasons.len() - i);
            if out.len() + r.len() + 1 + more.len() > 120 {
                out.push_str(&more);
                break;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(r);
        }
        out
    }

    pub fn permits(&self, p: &Packet) -> bool {
        self.proto == p.proto
            && self.src.iter().any(|n| n.contains(&p.src))
            && (self.dst.is_empty() || self.dst.iter().any(|n| n.contains(&p.dst)))
            && (!self.proto.has_ports() || self.dports.contains(p.port))
            && match (&self.sports, p.src_port) {
                (Some(s), Some(sp)) => s.contains(sp),
                (Some(_), None) => false,
                (None, _) => true,
            }
    }
}

/// A host's input ruleset or a firewall's forward ruleset.
#[derive(Debug, Clone)]
pub struct Ruleset {
    /// Host or firewall name.
    pub name: String,
    pub forward: bool,
    pub rules: Vec<Rule>,
    /// Addresses of the host (input rulesets), to evaluate destination matches.
    pub own: Vec<IpAddr>,
    pub warnings: Vec<String>,
}

impl Ruleset {
    /// Default deny: a packet passes only if a rule accepts it.
    pub fn permits(&self, p: &Packet) -> bool {
        if !self.forward && !self.own.contains(&p.dst) {
            return false;
        }
        self.rules.iter().any(|r| r.permits(p))
    }
}

fn split_family(nets: &[IpNet], fam: Family) -> Vec<IpNet> {
    nets.iter().copied().filter(|n| Family::of(n) == fam).collect()
}

fn rules_of(c: &Connection, dst: Vec<IpNet>, warnings: &mut Vec<String>) -> Vec<Rule> {
    let mut out = Vec::new();
    let fams: &[Family] = match c.proto {
        Proto::Icmp => &[Family::V4],
        Proto::Icmpv6 => &[Family::V6],
        _ => &[Family::V4, Family::V6],
    };
    let dst_fams: Vec<Family> = c.dst.nets.iter().map(Family::of).collect();
    for &fam in fams {
        let src = split_family(&c.sources.nets, fam);
        if !dst_fams.contains(&fam) {
            continue;
        }
        if src.is_empty() {
            // Never a rule without an address match: that would widen it to everyone.
            if fams.len() == 1 || split_family(&c.sources.nets, if fam == Family::V4 { Family::V6 } else { Family::V4 }).is_empty() {
                warnings.push(format!(
                    "dropped {} to {} ({}): no source address of the {fam:?} family",
                    c.service(),
                    c.dst.name,
                    c.tags().join(" ")
                ));
            }
            continue;
        }
        out.push(Rule {
            family: fam,
            src,
            dst: split_family(&dst, fam),
            proto: c.proto,
            dports: c.ports.clone(),
            sports: c.src_ports.clone(),
            icmp: c.icmp.clone(),
            reasons: c.tags(),
        });
    }
    out
}

/// The input ruleset of a managed host.
pub fn host_ruleset(plan: &Plan, host: &str) -> Result<Ruleset, String> {
    let h = plan.host(host).ok_or_else(|| {
        let names: Vec<&str> = plan.hosts.iter().map(|h| h.name.as_str()).collect();
        format!("no host `{host}` in the inventory; hosts: {}", names.join(", "))
    })?;
    if !h.managed {
        return Err(format!("host `{host}` is not managed (managed: false): no rules are compiled for it"));
    }
    let mut warnings = Vec::new();
    let mut rules: Vec<Rule> = Vec::new();
    for c in plan.inbound(host) {
        rules.extend(rules_of(c, Vec::new(), &mut warnings));
    }
    Ok(Ruleset { name: host.to_string(), forward: false, rules, own: h.addresses.clone(), warnings })
}

/// The forward ruleset of a network firewall: connections whose source and
/// destination sit in two different zones that the firewall joins.
pub fn firewall_ruleset(plan: &Plan, fw: &str) -> Result<Ruleset, String> {
    let f = plan.firewalls.iter().find(|f| f.name == fw).ok_or_else(|| {
        let names: Vec<&str> = plan.firewalls.iter().map(|f| f.name.as_str()).collect();
        format!("no firewall `{fw}` in the inventory; firewalls: {}", if names.is_empty() { "none".to_string() } else { names.join(", ") })
    })?;
    let in_fw = |z: &Option<String>| z.as_ref().is_some_and(|z| f.zones.contains(z));
    let mut warnings = Vec::new();
    let mut rules = Vec::new();
    for c in &plan.connections {
        if !in_fw(&c.dst.zone) {
            continue;
        }
        let crossing: Vec<IpNet> =
            c.sources.members.iter().filter(|m| in_fw(&m.zone) && m.zone != c.dst.zone).flat_map(|m| m.nets.iter().copied()).collect();
        if crossing.is_empty() {
            continue;
        }
        let mut sub = c.clone();
        sub.sources =
            std::sync::Arc::new(portmatrix_plan::Sources { id: c.sources.id, members: Vec::new(), nets: IpNet::aggregate(&crossing) });
        rules.extend(rules_of(&sub, c.dst.nets.clone(), &mut warnings));
    }
    Ok(Ruleset { name: fw.to_string(), forward: true, rules, own: Vec::new(), warnings })
}
