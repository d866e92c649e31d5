//! The rendered layouts accept exactly what the typed ruleset accepts.
//!
//! The evaluator property test shows ruleset = plan; this one closes the
//! gap to the files: for random inventories (hosts in two zones, a network
//! firewall between them, overlapping flows, source ports, ICMP), every
//! host's and the firewall's nftables document — the typed JSON schema both
//! the `.nft` and the `.nft.json` file come from — is interpreted packet by
//! packet and compared with `Ruleset::permits`. The same is done for the
//! iptables + ipset files, read back from their text.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use nftables::expr::{Expression, NamedExpression, Payload, SetItem};
use nftables::schema::{NfCmd, NfListObject, NfObject, Nftables};
use nftables::stmt::{Operator, Statement};
use portmatrix_model::{IcmpType, Proto};
use portmatrix_plan::{plan, Deployment, Packet, Plan};
use portmatrix_targets::{firewall_ruleset, host_ruleset, Header, RenderOptions, Ruleset};
use proptest::prelude::*;

const MATRIX: &str = r#"
matrix: toy
title: Toy product
version: "1"
features:
  extra: { default: false, about: optional flows }
params:
  base: { default: 9000, about: base port }
roles:
  a: { title: A }
  b: { title: B }
  c: { title: C }
  client: { title: Client, external: true }
flows:
  - { id: a-b, from: a, to: b, proto: tcp, ports: "443,8000-8010", purpose: p, cite: c }
  - { id: a-b-admin, from: a, to: b, proto: tcp, ports: "8005-8020", purpose: p, cite: c }
  - { id: client-a, from: client, to: a, proto: udp, ports: base+3, purpose: p, cite: c }
  - { id: b-c, from: b, to: c, proto: tcp, ports: 5432, src_ports: 1024-65535, purpose: p, cite: c }
  - { id: any-c, from: any, to: c, proto: icmp, icmp: [echo-request, timestamp-request], purpose: p, cite: c }
  - { id: ping-c, from: any, to: c, proto: icmp, icmp: [echo-request], purpose: p, cite: c }
  - { id: c-a, from: c, to: [a, b], proto: [tcp, udp, sctp], ports: 5060, when: extra, purpose: p, cite: c }
  - { id: ab-v6, from: [a, b], to: c, proto: icmpv6, icmp: [echo-request], purpose: p, cite: c }
  - { id: client-b, from: client, to: b, proto: tcp, ports: "443", purpose: p, cite: c }
"#;

#[derive(Debug, Clone)]
struct HostSpec {
    roles: Vec<&'static str>,
    v6: bool,
    zone: bool,
}

fn host_strategy() -> impl Strategy<Value = HostSpec> {
    (proptest::sample::subsequence(vec!["a", "b", "c"], 1..=3), any::<bool>(), any::<bool>()).prop_map(|(roles, v6, zone)| HostSpec {
        roles,
        v6,
        zone,
    })
}

fn setup(hosts: &[HostSpec], extra: bool, client_prefix: u8) -> Option<Plan> {
    let mut s = String::from("inventory: random\nproducts:\n  toy:\n    matrix: toy.yaml\n");
    s += &format!("    features: {{ extra: {extra} }}\n");
    s += "zones:\n  z1: {}\n  z2: {}\n  z3: {}\nfirewalls:\n  fw: { zones: [z1, z2, z3] }\n";
    s += &format!("networks:\n  clients: {{ cidrs: [172.16.0.0/{client_prefix}, \"fd00:1::/64\"], zone: z3 }}\n  admin: {{ cidrs: [172.31.0.0/24], zone: z3 }}\n");
    s += "admin: { networks: [admin] }\nbind:\n  toy/client: { networks: [clients] }\n  toy/any: { networks: [clients, admin] }\nhosts:\n";
    for (i, h) in hosts.iter().enumerate() {
        let v6 = if h.v6 { format!(", \"fd00::{}\"", i + 1) } else { String::new() };
        let roles: Vec<String> = h.roles.iter().map(|r| format!("toy/{r}")).collect();
        let zone = if h.zone { "z1" } else { "z2" };
        s += &format!("  h{i}: {{ addresses: [10.0.0.{}{v6}], zone: {zone}, roles: [{}] }}\n", i + 1, roles.join(", "));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("toy.yaml"), MATRIX).unwrap();
    let inv = dir.path().join("inv.yaml");
    std::fs::write(&inv, s).unwrap();
    let dep = Deployment::load(&inv, &portmatrix_model::matrix_source::NoMatrices)
        .unwrap_or_else(|d| panic!("{:?}", d.iter().map(|d| d.short()).collect::<Vec<_>>()));
    plan(&dep).ok()
}

// ---- an interpreter of the typed nftables document ----

fn nft_icmp(name: &str) -> IcmpType {
    match name {
        "nd-neighbor-solicit" => IcmpType::NeighborSolicitation,
        "nd-neighbor-advert" => IcmpType::NeighborAdvertisement,
        "nd-router-solicit" => IcmpType::RouterSolicitation,
        "nd-router-advert" => IcmpType::RouterAdvertisement,
        other => IcmpType::parse(other).unwrap_or_else(|| panic!("unknown ICMP type {other}")),
    }
}

/// A value on the right of a match: addresses, ports or ICMP types.
#[derive(Debug)]
enum Value {
    Nets(Vec<IpNet>),
    Ports(Vec<(u32, u32)>),
    Names(Vec<String>),
}

fn value(e: &Expression, sets: &HashMap<String, Vec<IpNet>>) -> Value {
    match e {
        Expression::String(s) if s.starts_with('@') => Value::Nets(sets[&s[1..]].clone()),
        Expression::String(s) => match s.parse::<IpAddr>() {
            Ok(a) => Value::Nets(vec![IpNet::from(a)]),
            Err(_) => Value::Names(vec![s.to_string()]),
        },
        Expression::Number(n) => Value::Ports(vec![(*n, *n)]),
        Expression::List(items) => Value::Names(items.iter().map(|i| format!("{i:?}")).collect()),
        Expression::Range(r) => match (&r.range[0], &r.range[1]) {
            (Expression::Number(a), Expression::Number(b)) => Value::Ports(vec![(*a, *b)]),
            other => panic!("{other:?}"),
        },
        Expression::Named(NamedExpression::Prefix(p)) => match &*p.addr {
            Expression::String(a) => Value::Nets(vec![format!("{a}/{}", p.len).parse().unwrap()]),
            other => panic!("{other:?}"),
        },
        Expression::Named(NamedExpression::Set(items)) => {
            let parts: Vec<Value> = items
                .iter()
                .map(|i| match i {
                    SetItem::Element(e) => value(e, sets),
                    other => panic!("{other:?}"),
                })
                .collect();
            let mut out = match &parts[0] {
                Value::Nets(_) => Value::Nets(vec![]),
                Value::Ports(_) => Value::Ports(vec![]),
                Value::Names(_) => Value::Names(vec![]),
            };
            for p in parts {
                match (&mut out, p) {
                    (Value::Nets(a), Value::Nets(b)) => a.extend(b),
                    (Value::Ports(a), Value::Ports(b)) => a.extend(b),
                    (Value::Names(a), Value::Names(b)) => a.extend(b),
                    other => panic!("mixed set {other:?}"),
                }
            }
            out
        }
        other => panic!("unexpected right side {other:?}"),
    }
}

fn is_v4(a: &IpAddr) -> bool {
    a.is_ipv4()
}

/// Whether one match holds for a new packet (not loopback, not part of a connection).
fn holds(left: &Expression, right: &Value, p: &Packet) -> bool {
    let Expression::Named(n) = left else { panic!("{left:?}") };
    match n {
        NamedExpression::CT(_) | NamedExpression::Meta(_) => false,
        NamedExpression::Payload(Payload::PayloadField(f)) => {
            let Value::Nets(nets) = right else {
                return match (f.protocol.as_ref(), f.field.as_ref(), right) {
                    (proto, "dport" | "sport", Value::Ports(ranges)) => {
                        let port = if f.field == "dport" { Some(p.port) } else { p.src_port };
                        p.proto.as_str() == proto && port.is_none_or(|x| ranges.iter().any(|(a, b)| (*a..=*b).contains(&u32::from(x))))
                    }
                    ("icmp" | "icmpv6", "type", Value::Names(names)) => {
                        let proto = if f.protocol == "icmp" { Proto::Icmp } else { Proto::Icmpv6 };
                        p.proto == proto && p.icmp_type.is_none_or(|t| names.iter().any(|n| nft_icmp(n) == t))
                    }
                    other => panic!("{other:?}"),
                };
            };
            let fam_ok = (f.protocol == "ip") == is_v4(&p.src);
            let addr = if f.field == "saddr" { p.src } else { p.dst };
            fam_ok && nets.iter().any(|n| n.contains(&addr))
        }
        other => panic!("{other:?}"),
    }
}

/// One statement with its right side parsed.
enum Step<'d> {
    Match(&'d Expression<'d>, Value),
    Verdict(bool),
}

/// The rules of the document with their matches parsed once.
fn prepare<'d>(doc: &'d Nftables) -> Vec<Vec<Step<'d>>> {
    let mut sets: HashMap<String, Vec<IpNet>> = HashMap::new();
    let mut rules = Vec::new();
    for o in doc.objects.iter() {
        match o {
            NfObject::CmdObject(NfCmd::Add(NfListObject::Set(s))) => {
                let items = s.elem.as_deref().unwrap().iter().cloned().map(SetItem::Element).collect();
                let Value::Nets(nets) = value(&Expression::Named(NamedExpression::Set(items)), &sets) else { panic!("{s:?}") };
                sets.insert(s.name.to_string(), nets);
            }
            NfObject::CmdObject(NfCmd::Add(NfListObject::Rule(r))) => {
                let steps = r
                    .expr
                    .iter()
                    .filter_map(|st| match st {
                        Statement::Match(m) => {
                            assert!(matches!(m.op, Operator::EQ | Operator::IN), "{m:?}");
                            Some(Step::Match(&m.left, value(&m.right, &sets)))
                        }
                        Statement::Counter(_) => None,
                        Statement::Accept(_) => Some(Step::Verdict(true)),
                        Statement::Drop(_) => Some(Step::Verdict(false)),
                        other => panic!("{other:?}"),
                    })
                    .collect();
                rules.push(steps);
            }
            _ => {}
        }
    }
    rules
}

fn doc_permits(rules: &[Vec<Step>], p: &Packet) -> bool {
    for steps in rules {
        for st in steps {
            match st {
                Step::Match(left, right) if !holds(left, right, p) => break,
                Step::Match(..) => {}
                Step::Verdict(v) => return *v,
            }
        }
    }
    false // policy drop
}

fn probes(p: &Plan) -> (Vec<IpAddr>, Vec<Packet>) {
    let mut addrs: Vec<IpAddr> = p.hosts.iter().flat_map(|h| h.addresses.clone()).collect();
    addrs.extend(
        ["172.16.0.9", "172.16.200.1", "172.31.0.5", "192.0.2.1", "fd00:1::5", "2001:db8::1"].iter().map(|s| s.parse::<IpAddr>().unwrap()),
    );
    let mut pkts = Vec::new();
    let protos = [Proto::Tcp, Proto::Udp, Proto::Sctp, Proto::Icmp, Proto::Icmpv6];
    // Known types only: an unknown one (`None`) is a question for `explain`.
    let icmps = [IcmpType::EchoRequest, IcmpType::TimestampRequest, IcmpType::TimeExceeded, IcmpType::NeighborSolicitation];
    for &src in &addrs {
        for &dst in addrs.iter().filter(|d| d.is_ipv4() == src.is_ipv4() && **d != src) {
            // ICMP of the packet's own family only.
            for proto in protos.into_iter().filter(|p| !matches!((p, src.is_ipv4()), (Proto::Icmp, false) | (Proto::Icmpv6, true))) {
                if proto.has_ports() {
                    for port in [443u16, 8004, 8005, 8012, 9003, 5432, 5060] {
                        for src_port in [Some(80u16), Some(40000), None] {
                            pkts.push(Packet { src, dst, proto, port, src_port, icmp_type: None });
                        }
                    }
                } else {
                    for t in icmps {
                        pkts.push(Packet { src, dst, proto, port: 0, src_port: None, icmp_type: Some(t) });
                    }
                }
            }
        }
    }
    (addrs, pkts)
}

fn check_nft(rs: &Ruleset, pkts: &[Packet], own: &[IpAddr]) -> Result<(), TestCaseError> {
    let h = Header::new("random", rs);
    let doc = portmatrix_targets::nftables::layout(rs, &h, &RenderOptions::default());
    let rules = prepare(&doc);
    for p in pkts.iter().filter(|p| rs.forward() || own.contains(&p.dst)) {
        prop_assert_eq!(doc_permits(&rules, p), rs.permits(p), "{:?} on {}", p, rs.name());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn nftables_layout_accepts_exactly_the_ruleset(
        hosts in proptest::collection::vec(host_strategy(), 1..6),
        extra in any::<bool>(),
        client_prefix in 16u8..=28,
    ) {
        let Some(p) = setup(&hosts, extra, client_prefix) else { return Ok(()) };
        let (_, pkts) = probes(&p);
        for h in p.hosts.iter().filter(|h| h.managed) {
            check_nft(&host_ruleset(&p, &h.name).unwrap(), &pkts, &h.addresses)?;
        }
        check_nft(&firewall_ruleset(&p, "fw").unwrap(), &pkts, &[])?;
    }
}
