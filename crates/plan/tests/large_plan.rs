//! A plan of thousands of hosts (where the hosts' summaries are copied on a
//! second thread) summarises every host, in the inventory's order, with its
//! own addresses, zone and roles, and finds each by name.

use std::net::IpAddr;
use std::path::Path;

use portmatrix_model::matrix_source::NoMatrices;
use portmatrix_plan::{plan, plan_for_host, Deployment};

const ROLES: [&str; 3] = ["toy/a", "toy/b", "toy/c"];

fn address(i: usize) -> IpAddr {
    IpAddr::from([10, 1, (i / 250) as u8, (i % 250 + 1) as u8])
}

fn deployment(hosts: usize) -> (tempfile::TempDir, Deployment) {
    let dir = tempfile::tempdir().unwrap();
    let toy = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics/toy.yaml");
    std::fs::copy(toy, dir.path().join("toy.yaml")).unwrap();
    let mut text = String::from(
        "inventory: large\nproducts:\n  toy: { matrix: toy.yaml, absent: { client: none }, exclude: { any-c: none } }\n\
         zones: { z1: {}, z2: {} }\nnetworks:\n  admin: { cidrs: [10.99.0.0/24], zone: z2 }\nadmin: { networks: [admin] }\nhosts:\n",
    );
    for i in 0..hosts {
        let zone = if i % 2 == 0 { "z1" } else { "z2" };
        text.push_str(&format!("  h{i}: {{ addresses: [{}], zone: {zone}, roles: [{}] }}\n", address(i), ROLES[i % ROLES.len()]));
    }
    let inv = dir.path().join("inv.yaml");
    std::fs::write(&inv, text).unwrap();
    let dep = Deployment::load(&inv, &NoMatrices).unwrap_or_else(|d| panic!("{:?}", d.iter().map(|d| d.short()).collect::<Vec<_>>()));
    (dir, dep)
}

#[test]
fn every_host_of_thousands_is_summarised_in_order_and_found_by_name() {
    let n = 2_500;
    let (_dir, dep) = deployment(n);
    for p in [plan(&dep).unwrap(), plan_for_host(&dep, "h7").unwrap()] {
        assert_eq!(p.hosts.len(), n);
        for (i, h) in p.hosts.iter().enumerate() {
            assert_eq!(h.name, format!("h{i}"));
            assert_eq!(h.addresses, [address(i)]);
            assert_eq!(h.zone.as_deref(), Some(if i % 2 == 0 { "z1" } else { "z2" }));
            assert_eq!(h.roles.iter().map(ToString::to_string).collect::<Vec<_>>(), [ROLES[i % ROLES.len()]]);
        }
        for i in [0, 1, 1234, n - 1] {
            assert_eq!(p.host(&format!("h{i}")).map(|h| h.addresses[0]), Some(address(i)));
        }
        assert!(p.host("h2500").is_none() && p.host("").is_none());
        // Management access reached every managed host.
        assert!(p.connections.iter().any(|c| c.dst.name == "h7" && c.sources.names() == ["admin"]));
    }
}
