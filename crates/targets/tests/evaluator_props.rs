//! For random inventories: every planned connection is permitted by the
//! compiled rule representation of its destination host, and a random
//! packet is permitted by it exactly when the plan permits it.

use std::net::IpAddr;

use portmatrix_model::{IcmpType, Proto};
use portmatrix_plan::{explain, plan, Deployment, Packet};
use portmatrix_targets::host_ruleset;
use proptest::prelude::*;

const MATRIX: &str = r#"
matrix: toy
title: Toy product
version: "1"
features:
  extra: { default: false, about: optional flows }
params:
  base: { default: 9000, about: base port }
  count: { default: 3, about: number of ports }
roles:
  a: { title: A }
  b: { title: B }
  c: { title: C }
  client: { title: Client, external: true }
flows:
  - { id: a-b, from: a, to: b, proto: tcp, ports: "443,8000-8010", purpose: p, cite: c }
  - { id: client-a, from: client, to: a, proto: udp, ports: base+count, purpose: p, cite: c }
  - { id: b-c, from: b, to: c, proto: tcp, ports: 5432, src_ports: 1024-65535, purpose: p, cite: c }
  - { id: any-c, from: any, to: c, proto: icmp, icmp: [echo-request], purpose: p, cite: c }
  - { id: c-a, from: c, to: [a, b], proto: [tcp, udp], ports: 5060, when: extra, purpose: p, cite: c }
  - { id: ab-v6, from: [a, b], to: c, proto: icmpv6, icmp: [echo-request], purpose: p, cite: c }
"#;

#[derive(Debug, Clone)]
struct HostSpec {
    roles: Vec<&'static str>,
    v6: bool,
}

fn host_strategy() -> impl Strategy<Value = HostSpec> {
    (proptest::sample::subsequence(vec!["a", "b", "c"], 1..=3), any::<bool>()).prop_map(|(roles, v6)| HostSpec { roles, v6 })
}

fn inventory_yaml(hosts: &[HostSpec], extra: bool, client_prefix: u8) -> String {
    let mut s = String::from("inventory: random\nproducts:\n  toy:\n    matrix: toy.yaml\n");
    s += &format!("    features: {{ extra: {extra} }}\n");
    s += "zones:\n  z1: {}\n  z2: {}\n";
    s += &format!("networks:\n  clients: {{ cidrs: [172.16.0.0/{client_prefix}, \"fd00:1::/64\"], zone: z2 }}\n  admin: {{ cidrs: [172.31.0.0/24], zone: z2 }}\n");
    s += "admin: { networks: [admin] }\nbind:\n  toy/client: { networks: [clients] }\n  toy/any: { networks: [clients, admin] }\nhosts:\n";
    for (i, h) in hosts.iter().enumerate() {
        let v6 = if h.v6 { format!(", \"fd00::{}\"", i + 1) } else { String::new() };
        let roles: Vec<String> = h.roles.iter().map(|r| format!("toy/{r}")).collect();
        s += &format!("  h{i}: {{ addresses: [10.0.0.{}{v6}], zone: z1, roles: [{}] }}\n", i + 1, roles.join(", "));
    }
    s
}

fn setup(hosts: &[HostSpec], extra: bool, client_prefix: u8) -> Option<portmatrix_plan::Plan> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("toy.yaml"), MATRIX).unwrap();
    let inv = dir.path().join("inv.yaml");
    std::fs::write(&inv, inventory_yaml(hosts, extra, client_prefix)).unwrap();
    let dep = Deployment::load(&inv, &portmatrix_model::matrix_source::NoMatrices)
        .unwrap_or_else(|d| panic!("{:?}", d.iter().map(|d| d.short()).collect::<Vec<_>>()));
    // Random placements may leave a role on no host: that is an error, not a plan.
    plan(&dep).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn planned_connections_pass_and_nothing_else(
        hosts in proptest::collection::vec(host_strategy(), 1..6),
        extra in any::<bool>(),
        client_prefix in 16u8..=28,
        probes in proptest::collection::vec((0usize..12, 0usize..6, 0usize..5, 0usize..8, 0usize..3, 0usize..4), 1..60),
    ) {
        let Some(p) = setup(&hosts, extra, client_prefix) else { return Ok(()) };
        // 1. Every planned connection towards a host is permitted there.
        for c in p.connections.iter().filter(|c| c.dst.kind == portmatrix_plan::EndpointKind::Host) {
            let rs = host_ruleset(&p, &c.dst.name).unwrap();
            for dst in c.dst.nets.iter().map(|n| n.addr()) {
                let Some(src) = c.sources.nets.iter().find(|n| n.addr().is_ipv4() == dst.is_ipv4()).map(|n| n.addr()) else { continue };
                if matches!(c.proto, Proto::Icmp) && !dst.is_ipv4() || matches!(c.proto, Proto::Icmpv6) && dst.is_ipv4() {
                    continue;
                }
                let pkt = Packet { src, dst, proto: c.proto, port: c.ports.first().unwrap_or(0), src_port: Some(c.src_ports.as_ref().and_then(|s| s.first()).unwrap_or(40000)), icmp_type: c.icmp.first().copied() };
                prop_assert!(rs.permits(&pkt), "{:?} not permitted on {}", pkt, c.dst.name);
            }
        }
        // 2. Random packets: the ruleset agrees with the plan.
        let mut srcs: Vec<IpAddr> = p.hosts.iter().flat_map(|h| h.addresses.clone()).collect();
        srcs.extend(["172.16.0.9", "172.16.200.1", "172.31.0.5", "192.0.2.1", "fd00:1::5", "2001:db8::1"].iter().map(|s| s.parse::<IpAddr>().unwrap()));
        let protos = [Proto::Tcp, Proto::Udp, Proto::Icmp, Proto::Icmpv6, Proto::Sctp];
        let ports = [443u16, 8005, 9000, 9002, 9003, 5432, 5060, 22];
        // Source ports: known low, known ephemeral, or unknown (some source
        // port allowed?); ICMP types: echo, one the base policy accepts, one
        // nothing accepts, or unknown. Both sides answer the same questions.
        let sports = [Some(80u16), Some(40000), None];
        let icmps = [Some(IcmpType::EchoRequest), Some(IcmpType::TimeExceeded), Some(IcmpType::TimestampReply), None];
        for (si, hi, pi, po, spi, ii) in probes {
            let h = &p.hosts[hi % p.hosts.len()];
            let src = srcs[si % srcs.len()];
            let Some(dst) = h.addresses.iter().copied().find(|a| a.is_ipv4() == src.is_ipv4()) else { continue };
            let icmp_type = if protos[pi].has_ports() { None } else { icmps[ii] };
            let pkt = Packet { src, dst, proto: protos[pi], port: ports[po], src_port: sports[spi], icmp_type };
            let rs = host_ruleset(&p, &h.name).unwrap();
            let planned = !explain(&p, &pkt).is_empty() || rs.base.accepts(&pkt);
            prop_assert_eq!(rs.permits(&pkt), planned, "{:?} on {}", pkt, h.name);
        }
    }
}
