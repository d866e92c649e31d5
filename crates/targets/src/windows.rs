//! Windows Defender Firewall: a PowerShell script of New-NetFirewallRule
//! calls, one rule group per source group (the role, hosts or networks
//! allowed in), each rule split at the platform's 1,000 remote addresses.

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
    // One block per source group (role, hosts or networks): a reviewer
    // sees who may connect; the families of one flow share a rule.
    let mut groups: BTreeMap<&str, Vec<Rule>> = BTreeMap::new();
    for r in &rs.rules {
        let rules = groups.entry(r.group.as_str()).or_default();
        let same =
            |x: &Rule| x.proto == r.proto && x.dports == r.dports && x.sports == r.sports && x.icmp == r.icmp && x.reasons == r.reasons;
        match rules.iter_mut().find(|x| same(x) && x.proto.has_ports()) {
            Some(x) => x.src.extend(r.src.iter().copied()),
            None => rules.push(r.clone()),
        }
    }
    for (group_name, rules) in groups {
        let group = format!("{prefix}: {group_name}");
        let _ = writeln!(o, "\n# ---- sources: {group_name}");
        for (i, r) in rules.iter().enumerate() {
            let chunks: Vec<&[ipnet::IpNet]> = r.src.chunks(REMOTE_ADDRESSES_MAX).collect();
            for (k, chunk) in chunks.iter().enumerate() {
                let part = if chunks.len() > 1 { format!(" part {}/{}", k + 1, chunks.len()) } else { String::new() };
                let name = format!("{prefix} {group_name}: {} #{}{part}", tags(r, " "), i + 1);
                rule_line(&mut o, r, &name, &group, chunk);
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{BasePolicy, Chain, Family, GroupName, Subject};
    use portmatrix_model::{FlowTag, PortSet};

    fn rule(group: &str, fam: Family, src: Vec<ipnet::IpNet>, port: u16, flow: &str) -> Rule {
        Rule {
            family: fam,
            group: GroupName::parse(group).unwrap(),
            src,
            dst: Vec::new(),
            proto: Proto::Tcp,
            dports: PortSet::single(port),
            sports: None,
            icmp: Vec::new(),
            reasons: vec![FlowTag::new("p", flow)],
            zones: None,
        }
    }

    /// 2,500 sources become three rules of at most 1,000 addresses, in the
    /// group of their sources, with both families of one flow in one rule.
    #[test]
    fn rules_are_grouped_by_sources_and_split_at_the_limit() {
        let many: Vec<ipnet::IpNet> =
            (0..2500u32).map(|i| ipnet::IpNet::from(std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i)))).collect();
        let v6: ipnet::IpNet = "2001:db8::/64".parse().unwrap();
        let rs = Ruleset {
            subject: Subject::Host("h".into()),
            chain: Chain::Input,
            base: BasePolicy::for_chain(Chain::Input),
            rules: vec![
                rule("clients", Family::V4, many.clone(), 443, "https"),
                rule("clients", Family::V6, vec![v6], 443, "https"),
                rule("admins", Family::V4, vec!["10.9.0.0/24".parse().unwrap()], 22, "ssh"),
            ],
            dnat: Vec::new(),
            own: Vec::new(),
            warnings: Vec::new(),
        };
        let h = Header { inventory: "i".into(), subject: "h".into(), rules: 3 };
        let out = render(&rs, &h, &RenderOptions::default());
        let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("New-NetFirewallRule")).collect();
        assert_eq!(lines.len(), 4, "{out}");
        let https: Vec<&&str> = lines.iter().filter(|l| l.contains("-Group 'portmatrix: clients'")).collect();
        assert_eq!(https.len(), 3);
        let mut seen = 0;
        for l in &https {
            let n = l.matches("'10.").count();
            assert!(n <= REMOTE_ADDRESSES_MAX, "{n}");
            seen += n;
        }
        assert_eq!(seen, 2500);
        assert_eq!(https.iter().filter(|l| l.contains("'2001:db8::/64'")).count(), 1);
        assert!(lines.iter().any(|l| l.contains("-Group 'portmatrix: admins'") && l.contains("-LocalPort 22")));
    }
}
