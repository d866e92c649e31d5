//! Windows Defender Firewall: a PowerShell script of New-NetFirewallRule
//! calls, grouped by the role each rule serves.

use std::collections::BTreeMap;
use std::fmt::Write;

use portmatrix_model::Proto;

use crate::ir::{Rule, Ruleset};
use crate::Header;

fn ps_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn ports(r: &Rule) -> String {
    r.dports.ranges().map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect::<Vec<_>>().join(",")
}

pub fn render(rs: &Ruleset, h: &Header) -> String {
    let mut o = String::new();
    for line in h.lines() {
        let _ = writeln!(o, "# {line}");
    }
    let _ = writeln!(o, "#Requires -RunAsAdministrator");
    let _ = writeln!(o, "$ErrorActionPreference = 'Stop'");
    let _ = writeln!(o, "# Remove what an earlier run of portmatrix created, then set default-deny inbound.");
    let _ = writeln!(o, "Get-NetFirewallRule -Group 'portmatrix*' -ErrorAction SilentlyContinue | Remove-NetFirewallRule");
    let _ = writeln!(
        o,
        "Set-NetFirewallProfile -Profile Domain,Private,Public -DefaultInboundAction Block -DefaultOutboundAction Allow -Enabled True"
    );
    // Group by product (the first reason's product): one block per role of the deployment.
    let mut groups: BTreeMap<String, Vec<&Rule>> = BTreeMap::new();
    for r in &rs.rules {
        let product = r.reasons.first().and_then(|t| t.split('/').next()).unwrap_or("portmatrix");
        groups.entry(product.to_string()).or_default().push(r);
    }
    for (product, rules) in groups {
        let group = format!("portmatrix: {product}");
        let _ = writeln!(o, "\n# ---- {product}");
        for (i, r) in rules.iter().enumerate() {
            let name = format!("portmatrix {} #{}", r.reasons.join(" "), i + 1);
            let remote = r.src.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",");
            let proto = match r.proto {
                Proto::Tcp => "TCP",
                Proto::Udp => "UDP",
                Proto::Sctp => "132",
                Proto::Icmp => "ICMPv4",
                Proto::Icmpv6 => "ICMPv6",
            };
            let mut line = format!(
                "New-NetFirewallRule -DisplayName {} -Group {} -Direction Inbound -Action Allow -Protocol {proto} -RemoteAddress {} -Description {}",
                ps_quote(&name),
                ps_quote(&group),
                ps_quote(&remote),
                ps_quote(&format!("why: {}", r.reasons.join(", ")))
            );
            if r.proto.has_ports() {
                let _ = write!(line, " -LocalPort {}", ports(r));
                if let Some(sp) = &r.sports {
                    let _ = write!(
                        line,
                        " -RemotePort {}",
                        sp.ranges().map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect::<Vec<_>>().join(",")
                    );
                }
            } else if r.icmp.iter().any(|t| t == "echo-request") {
                line.push_str(if r.proto == Proto::Icmp { " -IcmpType 8" } else { " -IcmpType 128" });
            }
            let _ = writeln!(o, "{line} | Out-Null");
        }
    }
    o
}
