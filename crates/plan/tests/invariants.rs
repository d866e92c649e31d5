//! The planner's invariants over random inventories of the toy matrix
//! (tests/diagnostics/toy.yaml): random placements, features, zones,
//! firewalls and management.

use std::collections::BTreeSet;
use std::net::IpAddr;

use portmatrix_model::matrix_source::NoMatrices;
use portmatrix_plan::{explain, plan, Deployment, EndpointKind, Packet, Path, Plan};
use proptest::prelude::*;

const TOY: &str = include_str!("diagnostics/toy.yaml");

#[derive(Debug, Clone)]
struct Spec {
    hosts: Vec<(Vec<&'static str>, bool, usize, bool)>,
    extra: bool,
    firewalls: Vec<Vec<usize>>,
}

fn spec() -> impl Strategy<Value = Spec> {
    let host = (proptest::sample::subsequence(vec!["a", "b", "c"], 1..=3), any::<bool>(), 0usize..3, any::<bool>());
    (
        proptest::collection::vec(host, 1..7),
        any::<bool>(),
        proptest::collection::vec(proptest::sample::subsequence(vec![0usize, 1, 2, 3], 2..=3), 0..3),
    )
        .prop_map(|(hosts, extra, firewalls)| Spec { hosts, extra, firewalls })
}

fn yaml(s: &Spec) -> String {
    let mut y = String::from("inventory: random\nproducts:\n  toy:\n    matrix: toy.yaml\n");
    y += &format!("    features: {{ extra: {} }}\n    params: {{ custom: 7000 }}\n", s.extra);
    y += "zones: { z0: {}, z1: {}, z2: {}, z3: {} }\n";
    y += "networks:\n  clients: { cidrs: [172.16.0.0/16, \"fd00:16::/64\"], zone: z3 }\n  admin: { cidrs: [172.31.0.0/24], zone: z3 }\n";
    y += "admin: { networks: [admin] }\nbind:\n  toy/client: { networks: [clients] }\n  toy/any: { networks: [clients, admin] }\nhosts:\n";
    for (i, (roles, v6, zone, managed)) in s.hosts.iter().enumerate() {
        let v6 = if *v6 { format!(", \"fd00::{}\"", i + 1) } else { String::new() };
        let roles: Vec<String> = roles.iter().map(|r| format!("toy/{r}")).collect();
        y += &format!(
            "  h{i}: {{ addresses: [10.0.{zone}.{}{v6}], zone: z{zone}, managed: {managed}, roles: [{}] }}\n",
            i + 1,
            roles.join(", ")
        );
    }
    // Every role placed somewhere, so that every inventory plans.
    y += "  hall: { addresses: [10.9.9.9, \"fd00::99\"], zone: z1, roles: [toy/a, toy/b, toy/c] }\n";
    if !s.firewalls.is_empty() {
        y += "firewalls:\n";
        for (i, zs) in s.firewalls.iter().enumerate() {
            let zs: Vec<String> = zs.iter().map(|z| format!("z{z}")).collect();
            y += &format!("  fw{i}: {{ zones: [{}] }}\n", zs.join(", "));
        }
    }
    y
}

fn planned(s: &Spec) -> Option<(Plan, String)> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("toy.yaml"), TOY).unwrap();
    let inv = dir.path().join("inv.yaml");
    let text = yaml(s);
    std::fs::write(&inv, &text).unwrap();
    let dep =
        Deployment::load(&inv, &NoMatrices).unwrap_or_else(|d| panic!("{text}\n{:?}", d.iter().map(|d| d.short()).collect::<Vec<_>>()));
    let p = plan(&dep).unwrap_or_else(|d| panic!("{text}\n{:?}", d.iter().map(|d| d.short()).collect::<Vec<_>>()));
    Some((p, text))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn planner_invariants(s in spec()) {
        let Some((p, text)) = planned(&s) else { return Ok(()) };
        // Deterministic: the same inventory plans to the same JSON.
        let again = planned(&s).unwrap().0;
        prop_assert_eq!(serde_json::to_string(&p).unwrap(), serde_json::to_string(&again).unwrap());
        let mut keys = BTreeSet::new();
        for c in &p.connections {
            // Never a connection without addresses on either end, nor one
            // from a host only to itself.
            prop_assert!(!c.sources.nets.is_empty() && !c.dst.nets.is_empty(), "{}", text);
            prop_assert!(c.remote_sources().next().is_some(), "{:?} has only itself as source", c.dst.name);
            // ICMP connections always name their types; others never do.
            prop_assert_eq!(c.proto.has_ports(), c.icmp.is_empty());
            // Identical connections were merged.
            let key = (c.dst.name.clone(), c.proto, c.ports.to_string(), format!("{:?}", c.src_ports), format!("{:?}", c.icmp), c.sources.id);
            prop_assert!(keys.insert(key), "duplicate connection to {}", c.dst.name);
            // Every reason is one of the matrix's flows or management access.
            for r in &c.reasons {
                prop_assert!(TOY.contains(&format!("id: {}", r.flow)) || r.product == "inventory", "{:?}", r);
            }
            // Every planned connection is permitted by `explain`, from each source.
            for s in c.remote_sources() {
                let family_ok = |a: &IpAddr| match c.proto {
                    portmatrix_model::Proto::Icmp => a.is_ipv4(),
                    portmatrix_model::Proto::Icmpv6 => a.is_ipv6(),
                    _ => true,
                };
                let Some(dst) = c.dst.nets.iter().map(|n| n.addr()).filter(family_ok).find(|d| s.nets.iter().any(|n| n.addr().is_ipv4() == d.is_ipv4())) else { continue };
                let src: IpAddr = s.nets.iter().map(|n| n.addr()).find(|a| a.is_ipv4() == dst.is_ipv4()).unwrap();
                let pkt = Packet { src, dst, proto: c.proto, port: c.ports.first().unwrap_or(0), src_port: None, icmp_type: c.icmp.first().copied() };
                prop_assert!(!explain(&p, &pkt).is_empty(), "{:?}", pkt);
                // The path's firewalls each join two zones of it.
                if let Path::Firewalls { firewalls, route } = p.topology.path(s.zone.as_deref(), c.dst.zone.as_deref()) {
                    prop_assert!(!route.is_empty());
                    prop_assert_eq!(Some(&route[0].from_zone), s.zone.as_ref());
                    prop_assert_eq!(Some(&route.last().unwrap().to_zone), c.dst.zone.as_ref());
                    for h in &route {
                        prop_assert!(firewalls.contains(&h.firewall));
                        let fw = p.firewall(&h.firewall).unwrap();
                        prop_assert!(fw.zones.contains(&h.from_zone) && fw.zones.contains(&h.to_zone));
                    }
                }
            }
        }
        // Management reaches every managed host.
        for h in p.hosts.iter().filter(|h| h.managed) {
            prop_assert!(p.inbound(&h.name).any(|c| c.reasons.iter().any(|r| r.product == "inventory")), "{} unmanageable", h.name);
        }
        // A local flow's host carries both ends.
        for l in &p.local {
            prop_assert!(p.host(&l.host).is_some());
        }
        // Destinations are hosts or networks of the inventory.
        for c in &p.connections {
            match c.dst.kind {
                EndpointKind::Host => prop_assert!(p.host(&c.dst.name).is_some()),
                EndpointKind::Network => {
                    let declared = format!("  {}: {{ cidrs", c.dst.name);
                    prop_assert!(text.contains(&declared), "{}", c.dst.name);
                }
            }
        }
    }
}
