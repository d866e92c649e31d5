//! Aerleon/Capirca: the plan as a policy file and naming definitions, so
//! teams that run Aerleon can feed its generators (and both tools can be
//! timed on the same work).

use std::collections::BTreeMap;
use std::fmt::Write;

use portmatrix_model::FlowTag;

use crate::escape::{double_quoted, token};
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
    fn render(&self, rs: &Ruleset, h: &Header, _opts: &RenderOptions) -> Vec<OutputFile> {
        let n = rs.name();
        let (pol, net, svc) = render(rs, h);
        vec![
            OutputFile { name: format!("aerleon/policies/pol/{n}.pol"), contents: pol, loader: None },
            OutputFile { name: format!("aerleon/def/{n}.net"), contents: net, loader: None },
            OutputFile { name: format!("aerleon/def/{n}.svc"), contents: svc, loader: None },
        ]
    }
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
        "header {{\n  comment:: {}\n  target:: nftables mixed {}\n}}\n",
        double_quoted(&format!("portmatrix plan for {}", rs.name()), 200),
        if rs.forward() { "FORWARD" } else { "INPUT" }
    );
    for (i, r) in rs.rules.iter().enumerate() {
        // Term names: letters, digits and `-` (the tag's parts are such ids).
        let name = format!("{}-{}", r.reasons.first().map(|t| format!("{}-{}", t.product, t.flow)).unwrap_or_default(), i + 1);
        let name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
        // Names carry the host: aclgen reads all definition files into one namespace.
        let net = format!("SRC_{}_{}", token(rs.name()), token(&name));
        nets.insert(net.clone(), r.src.iter().map(|n| n.to_string()).collect());
        let _ = writeln!(pol, "term {name} {{");
        let _ =
            writeln!(pol, "  comment:: {}", double_quoted(&r.reasons.iter().map(FlowTag::to_string).collect::<Vec<_>>().join(" "), 1000));
        let _ = writeln!(pol, "  source-address:: {net}");
        if !r.dst.is_empty() {
            let dnet = format!("DST_{}_{}", token(rs.name()), token(&name));
            nets.insert(dnet.clone(), r.dst.iter().map(|n| n.to_string()).collect());
            let _ = writeln!(pol, "  destination-address:: {dnet}");
        }
        let _ = writeln!(pol, "  protocol:: {}", r.proto);
        if r.proto.has_ports() {
            let svc = format!("SVC_{}_{}", token(rs.name()), token(&name));
            svcs.insert(
                svc.clone(),
                r.dports.ranges().map(|(a, b)| if a == b { format!("{a}/{}", r.proto) } else { format!("{a}-{b}/{}", r.proto) }).collect(),
            );
            let _ = writeln!(pol, "  destination-port:: {svc}");
            if let Some(sp) = &r.sports {
                let ssvc = format!("SPT_{}_{}", token(rs.name()), token(&name));
                svcs.insert(
                    ssvc.clone(),
                    sp.ranges().map(|(a, b)| if a == b { format!("{a}/{}", r.proto) } else { format!("{a}-{b}/{}", r.proto) }).collect(),
                );
                let _ = writeln!(pol, "  source-port:: {ssvc}");
            }
        } else {
            // Aerleon's nftables generator fails on a term with exactly one
            // icmp-type; naming it twice yields the same set, not a wider one.
            let mut types: Vec<&str> = r.icmp.iter().map(|t| t.as_str()).collect();
            if types.len() == 1 {
                types.push(types[0]);
            }
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
