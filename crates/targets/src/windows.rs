//! Windows Defender Firewall: a PowerShell script of New-NetFirewallRule
//! calls, grouped by the role each rule serves.

use std::collections::BTreeMap;
use std::fmt::Write;

use portmatrix_model::{FlowTag, Proto};

use crate::escape::powershell_quoted as ps_quote;
use crate::ir::{Rule, Ruleset};
use crate::{Backend, Capabilities, Header, Loader, OutputFile, RenderOptions};

pub struct Windows;

impl Backend for Windows {
    fn capabilities(&self) -> Capabilities {
        Capabilities { name: "windows", host_os: &[portmatrix_model::Os::Windows], forward: false, export: false, comment_max: 1024 }
    }
    fn render(&self, rs: &Ruleset, h: &Header, opts: &RenderOptions) -> Vec<OutputFile> {
        vec![OutputFile { name: format!("{}.ps1", rs.name()), contents: render(rs, h, opts), loader: Some(Loader::PowerShell) }]
    }
}

fn tags(r: &Rule, sep: &str) -> String {
    r.reasons.iter().map(FlowTag::to_string).collect::<Vec<_>>().join(sep)
}

/// Windows refuses more remote addresses than this in one rule.
const REMOTE_ADDRESSES_MAX: usize = 1000;

fn rule_line(o: &mut String, r: &Rule, name: &str, group: &str, remote: &[ipnet::IpNet]) {
    let proto = match r.proto {
        Proto::Tcp => "TCP",
        Proto::Udp => "UDP",
        Proto::Sctp => "132",
        Proto::Icmp => "ICMPv4",
        Proto::Icmpv6 => "ICMPv6",
    };
    let remote = remote.iter().map(|n| ps_quote(&n.to_string())).collect::<Vec<_>>().join(",");
    let mut line = format!(
        "New-NetFirewallRule -DisplayName {} -Group {} -Direction Inbound -Action Allow -Protocol {proto} -RemoteAddress {remote} -Description {}",
        ps_quote(name),
        ps_quote(group),
        ps_quote(&format!("why: {}", tags(r, ", ")))
    );
    let ranges = |p: &portmatrix_model::PortSet| {
        p.ranges().map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect::<Vec<_>>().join(",")
    };
    if r.proto.has_ports() {
        let _ = write!(line, " -LocalPort {}", ranges(&r.dports));
        if let Some(sp) = &r.sports {
            let _ = write!(line, " -RemotePort {}", ranges(sp));
        }
    } else {
        // Every type by its number: a rule without -IcmpType would allow all of them.
        let numbers: Vec<String> = r.icmp.iter().filter_map(|t| t.number(r.proto)).map(|n| n.to_string()).collect();
        if numbers.is_empty() {
            let _ = writeln!(o, "# skipped {}: an ICMP rule without types would allow every type", crate::escape::comment_line(name));
            return;
        }
        let _ = write!(line, " -IcmpType {}", numbers.join(","));
    }
    let _ = writeln!(o, "{line} | Out-Null");
}

pub fn render(rs: &Ruleset, h: &Header, opts: &RenderOptions) -> String {
    let prefix = crate::escape::comment_line(&opts.table);
    let mut o = String::new();
    for line in h.lines() {
        let _ = writeln!(o, "# {line}");
    }
    let _ = writeln!(o, "#Requires -RunAsAdministrator");
    let _ = writeln!(o, "$ErrorActionPreference = 'Stop'");
    let _ = writeln!(o, "# Remove what an earlier run of portmatrix created, then set default-deny inbound.");
    let _ = writeln!(
        o,
        "Get-NetFirewallRule -Group {} -ErrorAction SilentlyContinue | Remove-NetFirewallRule",
        ps_quote(&format!("{prefix}*"))
    );
    let _ = writeln!(
        o,
        "Set-NetFirewallProfile -Profile Domain,Private,Public -DefaultInboundAction Block -DefaultOutboundAction Allow -Enabled True"
    );
    // Group by product (the first reason's product): one block per role of the deployment.
    let mut groups: BTreeMap<String, Vec<&Rule>> = BTreeMap::new();
    for r in &rs.rules {
        let product = r.reasons.first().map_or("portmatrix", |t| t.product.as_str());
        groups.entry(product.to_string()).or_default().push(r);
    }
    for (product, rules) in groups {
        let group = format!("{prefix}: {product}");
        let _ = writeln!(o, "\n# ---- {}", crate::escape::comment_line(&product));
        for (i, r) in rules.iter().enumerate() {
            let chunks: Vec<&[ipnet::IpNet]> = r.src.chunks(REMOTE_ADDRESSES_MAX).collect();
            for (k, chunk) in chunks.iter().enumerate() {
                let part = if chunks.len() > 1 { format!(" part {}/{}", k + 1, chunks.len()) } else { String::new() };
                let name = format!("{prefix} {} #{}{part}", tags(r, " "), i + 1);
                rule_line(&mut o, r, &name, &group, chunk);
            }
        }
    }
    o
}
