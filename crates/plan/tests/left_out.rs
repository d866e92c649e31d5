//! What the inventory leaves out (absent integrations, excluded flows) and
//! what it adds (site flows), on the toy matrix.

use std::path::Path;

use portmatrix_model::matrix_source::NoMatrices;
use portmatrix_plan::{plan, Deployment, Plan};

fn plan_of(inventory: &str) -> Plan {
    let dir = tempfile::tempdir().unwrap();
    let toy = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics/toy.yaml");
    std::fs::copy(toy, dir.path().join("toy.yaml")).unwrap();
    let inv = dir.path().join("inv.yaml");
    std::fs::write(&inv, inventory).unwrap();
    let dep = Deployment::load(&inv, &NoMatrices).unwrap_or_else(|d| panic!("{:?}", d.iter().map(|d| d.short()).collect::<Vec<_>>()));
    plan(&dep).unwrap_or_else(|d| panic!("{:?}", d.iter().map(|d| d.short()).collect::<Vec<_>>()))
}

const HOSTS: &str = "zones: { z1: {}, z2: {} }
networks:
  noc: { cidrs: [10.99.9.0/24], zone: z2 }
  admin: { cidrs: [10.99.0.0/24], zone: z2 }
admin: { networks: [admin] }
hosts:
  h1: { addresses: [10.0.0.1, \"fd00::1\"], zone: z1, roles: [toy/a] }
  h2: { addresses: [10.0.0.2, \"fd00::2\"], zone: z1, roles: [toy/b] }
  h3: { addresses: [10.0.0.3, \"fd00::3\"], zone: z1, roles: [toy/c] }
";

#[test]
fn an_absent_integration_needs_no_invented_network_and_is_listed() {
    // Without `absent`, `client` and `any` would have to be bound (unbound-role).
    let p = plan_of(&format!(
        "inventory: t\nproducts:\n  toy: {{ matrix: toy.yaml, absent: {{ client: no clients at this site }}, exclude: {{ any-c: \"site decision: no ping from anywhere\" }} }}\n{HOSTS}"
    ));
    let tags: Vec<String> = p.not_deployed.iter().map(|n| format!("{} {}", n.reason.tag(), n.why)).collect();
    assert!(tags.contains(&"toy/client-a absent: client (no clients at this site)".to_string()), "{tags:?}");
    assert!(tags.contains(&"toy/any-c excluded: site decision: no ping from anywhere".to_string()), "{tags:?}");
    assert!(!p.connections.iter().any(|c| c.reasons.iter().any(|r| r.flow == "client-a" || r.flow == "any-c")));
    // The rest still plans.
    assert!(p.connections.iter().any(|c| c.reasons.iter().any(|r| r.flow == "a-b")));
}

#[test]
fn site_flows_are_planned_with_their_owner() {
    let p = plan_of(&format!(
        "inventory: t\nproducts:\n  toy: {{ matrix: toy.yaml, absent: {{ client: none }}, exclude: {{ any-c: none }} }}\n{HOSTS}flows:\n  - {{ id: noc-ping, owner: NOC team, purpose: reachability, from: noc, to: [toy/a, h3], proto: icmp, icmp: echo-request }}\n  - {{ id: node-exporter, owner: monitoring, purpose: metrics, from: noc, to: h2, proto: tcp, ports: 9100 }}\n"
    ));
    let site: Vec<_> = p.connections.iter().filter(|c| c.reasons.iter().any(|r| r.product == portmatrix_plan::SITE)).collect();
    let dsts: Vec<(&str, String)> = site.iter().map(|c| (c.dst.name.as_str(), c.service())).collect();
    assert!(dsts.contains(&("h1", "icmp/echo-request".into())), "{dsts:?}");
    assert!(dsts.contains(&("h3", "icmp/echo-request".into())), "{dsts:?}");
    assert!(dsts.contains(&("h2", "tcp/9100".into())), "{dsts:?}");
    assert!(site.iter().all(|c| c.sources.names() == ["noc"]));
    let r = &site[0].reasons[0];
    assert!(r.cite.contains("NOC team") || r.cite.contains("monitoring"), "{r:?}");
}

#[test]
fn a_port_forward_is_judged_as_the_firewall_forwards_it() {
    let p = plan_of(&format!(
        "inventory: t\nproducts:\n  toy: {{ matrix: toy.yaml, absent: {{ client: none }}, exclude: {{ any-c: none }} }}\n{HOSTS}firewalls:\n  fw:\n    zones: [z1, z2]\n    forwards:\n      - {{ public: 198.51.100.7, to: h2, proto: tcp, ports: 8000-8010 }}\nflows:\n  - {{ id: noc-web, owner: NOC, purpose: p, from: noc, to: h2, proto: tcp, ports: 8005 }}\n"
    ));
    assert_eq!(p.forwards.len(), 1);
    let f = &p.forwards[0];
    assert_eq!((f.firewall.as_str(), f.host.as_str(), f.private.to_string().as_str()), ("fw", "h2", "10.0.0.2"));
    let noc: std::net::IpAddr = "10.99.9.5".parse().unwrap();
    let public: std::net::IpAddr = "198.51.100.7".parse().unwrap();
    let pkt = |port| portmatrix_plan::Packet::to_port(noc, public, portmatrix_model::Proto::Tcp, port);
    assert!(!portmatrix_plan::explain(&p, &pkt(8005)).is_empty(), "forwarded and planned");
    assert!(portmatrix_plan::explain(&p, &pkt(8006)).is_empty(), "forwarded but not planned");
    assert!(portmatrix_plan::explain(&p, &pkt(22)).is_empty(), "not forwarded");
}
