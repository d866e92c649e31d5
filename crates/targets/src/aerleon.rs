//! Aerleon/Capirca: the plan as a policy file and naming definitions, so
//! teams that run Aerleon can feed its generators (and both tools can be
//! timed on the same work).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::ir::Ruleset;
use crate::Header;

/// Aerleon names: upper case letters, digits and `_`.
fn token(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

/// `(policy, NETWORK.net, SERVICES.svc)` for one host's input ruleset.
pub fn render(rs: &Ruleset, h: &Header) -> (String, String, String) {
    let mut nets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut svcs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut pol = String::new();
    for line in h.lines() {
        let _ = writeln!(pol, "# {line}");
    }
    let _ = writeln!(
        pol,
        "header {{\n  comment:: \"portmatrix plan for {}\"\n  target:: nftables mixed {}\n}}\n",
        rs.name,
        if rs.forward { "FORWARD" } else { "INPUT" }
    );
    for (i, r) in rs.rules.iter().enumerate() {
        let name = format!("{}-{}", r.reasons.first().map(|t| t.replace('/', "-")).unwrap_or_default(), i + 1);
        // Names carry the host: aclgen reads all definition files into one namespace.
        let net = format!("SRC_{}_{}", token(&rs.name), token(&name));
        nets.insert(net.clone(), r.src.iter().map(|n| n.to_string()).collect());
        let _ = writeln!(pol, "term {name} {{");
        let _ = writeln!(pol, "  comment:: \"{}\"", r.reasons.join(" "));
        let _ = writeln!(pol, "  source-address:: {net}");
        if !r.dst.is_empty() {
            let dnet = format!("DST_{}_{}", token(&rs.name), token(&name));
            nets.insert(dnet.clone(), r.dst.iter().map(|n| n.to_string()).collect());
            let _ = writeln!(pol, "  destination-address:: {dnet}");
        }
        let _ = writeln!(pol, "  protocol:: {}", r.proto);
        if r.proto.has_ports() {
            let svc = format!("SVC_{}_{}", token(&rs.name), token(&name));
            svcs.insert(
                svc.clone(),
                r.dports.ranges().map(|(a, b)| if a == b { format!("{a}/{}", r.proto) } else { format!("{a}-{b}/{}", r.proto) }).collect(),
            );
            let _ = writeln!(pol, "  destination-port:: {svc}");
            if let Some(sp) = &r.sports {
                let ssvc = format!("SPT_{}_{}", token(&rs.name), token(&name));
                svcs.insert(
                    ssvc.clone(),
                    sp.ranges().map(|(a, b)| if a == b { format!("{a}/{}", r.proto) } else { format!("{a}-{b}/{}", r.proto) }).collect(),
                );
                let _ = writeln!(pol, "  source-port:: {ssvc}");
            }
        } else {
            // Aerleon's nftables generator fails on a term with exactly one
            // icmp-type; naming it twice yields the same set, not a wider one.
            let types = if r.icmp.len() == 1 { vec![r.icmp[0].clone(), r.icmp[0].clone()] } else { r.icmp.clone() };
            let _ = writeln!(pol, "  icmp-type:: {}", types.join(" "));
        }
        let _ = writeln!(pol, "  action:: accept\n}}\n");
    }
    let _ = writeln!(pol, "term default-deny {{\n  comment:: \"everything the plan does not name\"\n  action:: deny\n}}");
    let mut n = String::new();
    for (k, v) in &nets {
        let _ = writeln!(n, "{k} = {}", v.join("\n    "));
    }
    let mut s = String::new();
    for (k, v) in &svcs {
        let _ = writeln!(s, "{k} = {}", v.join("\n    "));
    }
    (pol, n, s)
}
