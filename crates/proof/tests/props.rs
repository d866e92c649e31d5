//! Property tests over random inventories (the generator of
//! `crates/targets/tests/evaluator_props.rs`, with Windows hosts, unmanaged
//! hosts and a network firewall between the zones):
//!
//! - the exact check of every compiled ruleset against its plan gives no
//!   finding (nftables JSON, iptables, the Windows script);
//! - the box arithmetic agrees, packet by packet, with two evaluators that
//!   share nothing with it: the plan's IR (`Ruleset::permits`) for what is
//!   intended, and the read-back ruleset run rule by rule for what the
//!   ruleset does — on the compiled rulesets and on mutated ones.

mod common;

use std::net::IpAddr;

use common::ipset_of;
use common::mutate::{self, Ctx, Kind, Rng};
use common::oracle::{intended, packet};
use portmatrix_model::matrix_source::NoMatrices;
use portmatrix_plan::{plan, Deployment, Plan};
use portmatrix_proof::eval::evaluate;
use portmatrix_proof::space::State;
use portmatrix_proof::{cell_map, check_folding_from, check_ruleset, Options, Packet};
use portmatrix_targets::compile::compile_job;
use portmatrix_targets::read::ReadBack;
use portmatrix_targets::{firewall_ruleset, host_ruleset, Chain, Job, JobKind, RenderOptions, Ruleset, Target};
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
  - { id: c-sctp, from: c, to: b, proto: sctp, ports: 3868, purpose: p, cite: c }
"#;

#[derive(Debug, Clone)]
struct HostSpec {
    roles: Vec<&'static str>,
    v6: bool,
    windows: bool,
    managed: bool,
    zone2: bool,
}

fn host_strategy() -> impl Strategy<Value = HostSpec> {
    (
        proptest::sample::subsequence(vec!["a", "b", "c"], 1..=3),
        any::<bool>(),
        proptest::bool::weighted(0.25),
        proptest::bool::weighted(0.85),
        any::<bool>(),
    )
        .prop_map(|(roles, v6, windows, managed, zone2)| HostSpec { roles, v6, windows, managed, zone2 })
}

/// The public address the firewall forwards to `h0` when the case has port forwards.
const PUBLIC: &str = "198.51.100.7";

fn inventory_yaml(hosts: &[HostSpec], extra: bool, client_prefix: u8, nat: bool) -> String {
    let mut s = String::from("inventory: random\nproducts:\n  toy:\n    matrix: toy.yaml\n");
    s += &format!("    features: {{ extra: {extra} }}\n");
    s += "zones:\n  z1: {}\n  z2: {}\n  z3: {}\n";
    s += &format!(
        "networks:\n  clients: {{ cidrs: [172.16.0.0/{client_prefix}, \"fd00:1::/64\"], zone: z3 }}\n  admin: {{ cidrs: [172.31.0.0/24], zone: z3 }}\n"
    );
    s += "admin: { networks: [admin] }\nbind:\n  toy/client: { networks: [clients] }\n  toy/any: { networks: [clients, admin] }\n";
    s += "firewalls:\n  fw:\n    zones: [z1, z2, z3]\n";
    if nat {
        s += &format!("    forwards:\n      - {{ public: {PUBLIC}, to: h0, proto: udp, ports: 9000-9002 }}\n      - {{ public: {PUBLIC}, to: h0, proto: [tcp, udp], ports: \"443,5060,8005\" }}\n");
    }
    s += "hosts:\n";
    for (i, h) in hosts.iter().enumerate() {
        let v6 = if h.v6 { format!(", \"fd00::{}\"", i + 1) } else { String::new() };
        let roles: Vec<String> = h.roles.iter().map(|r| format!("toy/{r}")).collect();
        let zone = if h.zone2 { "z2" } else { "z1" };
        let os = if h.windows { "windows" } else { "linux" };
        s += &format!(
            "  h{i}: {{ addresses: [10.0.0.{}{v6}], zone: {zone}, os: {os}, managed: {}, roles: [{}] }}\n",
            i + 1,
            h.managed,
            roles.join(", ")
        );
    }
    s
}

fn setup(hosts: &[HostSpec], extra: bool, client_prefix: u8, nat: bool) -> Option<Plan> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("toy.yaml"), MATRIX).unwrap();
    let inv = dir.path().join("inv.yaml");
    std::fs::write(&inv, inventory_yaml(hosts, extra, client_prefix, nat)).unwrap();
    let dep = Deployment::load(&inv, &NoMatrices).unwrap_or_else(|d| panic!("{:?}", d.iter().map(|d| d.short()).collect::<Vec<_>>()));
    // Random placements may leave a role on no host: that is an error, not a plan.
    plan(&dep).ok()
}

/// Every compiled ruleset of the plan: (intent, target, read-back, source files).
fn rulesets(p: &Plan) -> Vec<(Ruleset, Target, ReadBack, Vec<String>)> {
    let mut out = Vec::new();
    let mut jobs: Vec<(Job, Vec<Target>)> = Vec::new();
    for h in p.hosts.iter().filter(|h| h.managed) {
        let targets =
            if h.os == Some(portmatrix_model::Os::Windows) { vec![Target::Windows] } else { vec![Target::Nftables, Target::Iptables] };
        jobs.push((Job { kind: JobKind::Host, name: h.name.clone() }, targets));
    }
    jobs.push((Job { kind: JobKind::Firewall, name: "fw".into() }, vec![Target::Nftables, Target::Iptables]));
    for (job, targets) in jobs {
        let intent = match job.kind {
            JobKind::Host => host_ruleset(p, &job.name).unwrap(),
            JobKind::Firewall => firewall_ruleset(p, &job.name).unwrap(),
        };
        for t in targets {
            let files = compile_job(p, &job, t, &RenderOptions::default()).unwrap().files;
            let get = |suffix: &str| files.iter().find(|f| f.name.ends_with(suffix)).unwrap().contents.clone();
            let (rb, src) = match t {
                Target::Nftables => (ReadBack::from_nft_json(&get(".nft.json")).unwrap(), vec![get(".nft.json")]),
                Target::Iptables => {
                    let (v4, v6) = (get(".iptables"), get(".ip6tables"));
                    let sets = ipset_of(&files).unwrap_or_default().to_string();
                    (ReadBack::from_iptables_save(Some(&v4), Some(&v6), ipset_of(&files)).unwrap(), vec![v4, v6, sets])
                }
                _ => (ReadBack::from_powershell(&get(".ps1")).unwrap(), vec![get(".ps1")]),
            };
            out.push((intent.clone(), t, rb, src));
        }
    }
    out
}

/// Packets around every boundary the plan draws.
fn packets(p: &Plan, rs: &Ruleset, picks: &[(usize, usize, usize, usize, usize, usize, usize)]) -> Vec<Packet> {
    let mut srcs: Vec<IpAddr> = p.hosts.iter().flat_map(|h| h.addresses.clone()).collect();
    srcs.extend(
        [
            "172.16.0.0",
            "172.16.0.9",
            "172.16.255.255",
            "172.17.0.1",
            "172.16.200.1",
            "172.31.0.5",
            "192.0.2.1",
            "fd00:1::5",
            "fd00:2::1",
            "2001:db8::1",
            PUBLIC,
        ]
        .iter()
        .map(|s| s.parse::<IpAddr>().unwrap()),
    );
    let dsts: Vec<IpAddr> = if rs.chain == Chain::Input { rs.own.clone() } else { srcs.clone() };
    if dsts.is_empty() {
        return Vec::new();
    }
    let protos = [6u8, 17, 132, 1, 58, 47, 33];
    let mut ports: Vec<u16> = vec![1, 22, 443, 5432, 5060, 3868, 8000, 8010, 8011, 7999, 9000, 9002, 9003, 65535];
    for r in &rs.rules {
        for (a, b) in r.dports.ranges() {
            ports.extend([a.saturating_sub(1), a, b, b.saturating_add(1)]);
        }
    }
    let sports = [80u16, 1023, 1024, 49152, 65535];
    let types = [0u8, 3, 8, 11, 128, 135, 42];
    let states = [State::New, State::New, State::Established, State::Related, State::Invalid];
    picks
        .iter()
        .filter_map(|&(si, di, pi, po, sp, it, st)| {
            let src = srcs[si % srcs.len()];
            let dst = dsts.iter().copied().filter(|d| d.is_ipv4() == src.is_ipv4()).nth(di % dsts.len())?;
            let forward = rs.chain == Chain::Forward;
            let iif = if !forward && st % 7 == 6 { "lo" } else { "eth9" };
            let mut pk = packet(
                src,
                dst,
                protos[pi % protos.len()],
                Some(ports[po % ports.len()]),
                Some(types[it % types.len()]),
                iif,
                forward.then_some("eth8"),
            );
            if let Some(s) = pk.src_port.as_mut() {
                *s = sports[sp % sports.len()];
            }
            pk.ct_state = states[st % states.len()];
            Some(pk)
        })
        .collect()
}

/// The cells agree with both evaluators on every packet they cover.
fn agrees(intent: &Ruleset, rb: &ReadBack, pkts: &[Packet], what: &str) -> Result<(), TestCaseError> {
    let map = cell_map(intent, rb, &Options::default());
    for pk in pkts {
        let Some((cell_intended, cell_verdict)) = map.lookup(pk) else { continue };
        prop_assert_eq!(cell_intended, intended(intent, pk), "{}: intended? {}", what, pk);
        prop_assert_eq!(cell_verdict, evaluate(rb, intent.chain, pk), "{}: verdict of {}", what, pk);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn compiled_rulesets_match_and_boxes_agree_with_evaluators(
        hosts in proptest::collection::vec(host_strategy(), 1..6),
        extra in any::<bool>(),
        client_prefix in 16u8..=28,
        picks in proptest::collection::vec((0usize..40, 0usize..40, 0usize..7, 0usize..60, 0usize..5, 0usize..7, 0usize..35), 1..80),
        seed in any::<u64>(),
        nat in any::<bool>(),
    ) {
        let Some(p) = setup(&hosts, extra, client_prefix, nat) else { return Ok(()) };
        let mut rng = Rng::new(seed);
        for (intent, target, rb, src) in rulesets(&p) {
            let what = format!("{} {target}", intent.subject.describe());
            // (b) no finding on what portmatrix compiled.
            let r = check_ruleset(&intent, &rb, &Options::default());
            prop_assert!(r.exact_match, "{}: {}\n{}", what, r.summary(), serde_json::to_string_pretty(&r).unwrap());
            // (c) the cells agree with the evaluators, compiled and mutated.
            let pkts = packets(&p, &intent, &picks);
            agrees(&intent, &rb, &pkts, &what)?;
            let ctx = Ctx { intent: &intent };
            if ctx.families().is_empty() {
                continue;
            }
            let kinds: &[Kind] = if target == Target::Windows { &Kind::WINDOWS } else { &Kind::LINUX };
            let kind = kinds[rng.below(kinds.len())];
            let m = match target {
                Target::Nftables => mutate::nft(&src[0], &ctx, kind, &mut rng),
                Target::Iptables => mutate::iptables(&src[0], &src[1], src.get(2).map(String::as_str).unwrap_or_default(), &ctx, kind, &mut rng),
                _ => mutate::powershell(&src[0], &ctx, kind, &mut rng),
            };
            if let Some(m) = m {
                let mrb = match target {
                    Target::Nftables => ReadBack::from_nft_json(&m.files[0]).unwrap(),
                    Target::Iptables => ReadBack::from_iptables_save(Some(&m.files[0]), Some(&m.files[1]), m.files.get(2).map(String::as_str).filter(|s| !s.is_empty())).unwrap(),
                    _ => ReadBack::from_powershell(&m.files[0]).unwrap(),
                };
                let mut pk = pkts.clone();
                pk.extend(m.probe.clone());
                agrees(&intent, &mrb, &pk, &format!("{what} after {}", m.what))?;
                // (d) folding copies of a cell changes nothing in the report.
                let folded = serde_json::to_string(&check_folding_from(&intent, &mrb, &Options::default(), 1)).unwrap();
                let every = serde_json::to_string(&check_folding_from(&intent, &mrb, &Options::default(), usize::MAX)).unwrap();
                prop_assert_eq!(folded, every, "{} after {}", what, m.what);
            }
        }
    }
}
