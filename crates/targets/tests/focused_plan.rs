//! A plan focused on one host (`plan_for_host`, what `compile --host`
//! uses) compiles that host byte for byte as the whole plan does, and holds
//! exactly the whole plan's connections that end on the host: on every
//! example inventory and on random ones (where address-set names collide
//! and need suffixes).

#[allow(dead_code)] // the shared helpers this file does not call
mod common;

use common::examples;
use portmatrix_plan::{plan, plan_for_host, Deployment, Plan};
use portmatrix_targets::compile::{compile_job, jobs_for_all};
use portmatrix_targets::{JobKind, OutputFile, RenderOptions, Target};
use proptest::prelude::*;

const TARGETS: [Target; 4] = [Target::Nftables, Target::Iptables, Target::Windows, Target::Firewalld];

/// Whether the focused plan of every host the target fits gives the same
/// files and the same connections as the whole plan.
fn same_as_whole(dep: &Deployment, whole: &Plan, what: &str) -> Result<usize, String> {
    let mut compared = 0;
    for target in TARGETS {
        let (jobs, _skipped) = jobs_for_all(whole, target);
        for job in jobs.iter().filter(|j| j.kind == JobKind::Host) {
            let focused = plan_for_host(dep, &job.name).map_err(|d| format!("{what}: focused plan failed: {:?}", d[0].short()))?;
            let wanted: Vec<String> = whole.connections.iter().filter(|c| c.dst.name == job.name).map(|c| format!("{c:?}")).collect();
            let got: Vec<String> = focused.connections.iter().map(|c| format!("{c:?}")).collect();
            if got != wanted {
                return Err(format!("{what} {}: connections differ:\n{got:#?}\nvs\n{wanted:#?}", job.name));
            }
            let files = |p: &Plan| -> Vec<OutputFile> { compile_job(p, job, target, &RenderOptions::default()).unwrap().files };
            let (a, b) = (files(&focused), files(whole));
            for (x, y) in a.iter().zip(&b) {
                if x.name != y.name || x.contents != y.contents {
                    return Err(format!("{what} {} {target}: {} differs from the whole plan's {}", job.name, x.name, y.name));
                }
            }
            if a.len() != b.len() {
                return Err(format!("{what} {} {target}: {} files vs {}", job.name, a.len(), b.len()));
            }
            compared += 1;
        }
    }
    Ok(compared)
}

#[test]
fn every_example_host_compiles_the_same_from_its_focused_plan() {
    let mut compared = 0;
    for ex in examples() {
        let dep = Deployment::load(&ex, &portmatrix_catalog::Catalog).unwrap_or_else(|d| panic!("{:?}", d[0].short()));
        let whole = plan(&dep).unwrap();
        compared += same_as_whole(&dep, &whole, &ex.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(compared > 40, "{compared}");
}

const MATRIX: &str = r#"
matrix: toy
title: Toy product
version: "1"
roles:
  a: { title: A }
  b: { title: B }
  c: { title: C }
  client: { title: Client, external: true }
flows:
  - { id: a-b, from: a, to: b, proto: tcp, ports: "443,8000-8010", purpose: p, cite: c }
  - { id: client-a, from: client, to: a, proto: udp, ports: 9000-9002, purpose: p, cite: c }
  - { id: b-c, from: b, to: c, proto: tcp, ports: 5432, src_ports: 1024-65535, purpose: p, cite: c }
  - { id: any-c, from: any, to: c, proto: icmp, icmp: [echo-request], purpose: p, cite: c }
  - { id: ab-c, from: [a, b], to: c, proto: udp, ports: 5060, purpose: p, cite: c }
"#;

fn inventory(hosts: &[(Vec<&str>, bool, bool)]) -> String {
    let mut s = String::from("inventory: random\nproducts:\n  toy:\n    matrix: toy.yaml\n");
    s += "zones:\n  z1: {}\n  z2: {}\n";
    // The admin group and the client group both read `operations_centre_networks_and1`
    // (too long to spell out): one of them needs a suffix, decided over the whole plan.
    s += "networks:\n  clients: { cidrs: [172.16.0.0/16], zone: z2 }\n";
    s += "  operations-centre-networks: { cidrs: [172.31.0.0/24], zone: z2 }\n";
    s += "  zz-admin-desks: { cidrs: [172.30.0.0/24], zone: z2 }\n  zz-a-client-desks: { cidrs: [172.29.0.0/24], zone: z2 }\n";
    s += "admin: { networks: [operations-centre-networks, zz-admin-desks] }\n";
    s += "bind:\n  toy/client: { networks: [operations-centre-networks, zz-a-client-desks] }\n  toy/any: { networks: [clients] }\nhosts:\n";
    for (i, (roles, windows, managed)) in hosts.iter().enumerate() {
        let roles: Vec<String> = roles.iter().map(|r| format!("toy/{r}")).collect();
        let os = if *windows { "windows" } else { "linux" };
        s += &format!(
            "  h{i}: {{ addresses: [10.0.0.{}], zone: z1, os: {os}, managed: {managed}, roles: [{}] }}\n",
            i + 1,
            roles.join(", ")
        );
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn random_hosts_compile_the_same_from_their_focused_plan(
        hosts in proptest::collection::vec(
            (proptest::sample::subsequence(vec!["a", "b", "c"], 1..=3), proptest::bool::weighted(0.3), proptest::bool::weighted(0.85)),
            1..7,
        ),
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("toy.yaml"), MATRIX).unwrap();
        let inv = dir.path().join("inv.yaml");
        std::fs::write(&inv, inventory(&hosts)).unwrap();
        let dep = Deployment::load(&inv, &portmatrix_model::matrix_source::NoMatrices).unwrap_or_else(|d| panic!("{:?}", d[0].short()));
        // A role on no host is an error of the whole plan; the focused plan must say the same.
        let Ok(whole) = plan(&dep) else {
            for i in 0..hosts.len() {
                let name = format!("h{i}");
                prop_assert!(plan_for_host(&dep, &name).is_err(), "{} planned alone", name);
            }
            return Ok(());
        };
        if let Err(e) = same_as_whole(&dep, &whole, "random") {
            prop_assert!(false, "{}", e);
        }
    }
}
