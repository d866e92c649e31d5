//! End-to-end tests of responder and prober in network namespaces.
//!
//! They need root, `ip` and (some) `nft`. Without them they print why and
//! pass, unless `CI` is set: CI installs the tools and runs as root, so there
//! a missing tool is a failure.

use std::net::IpAddr;
use std::time::Duration;

use portmatrix_verify::netns::{self, Built, Topology};
use portmatrix_verify::probe::{Expect, ProbeConfig, ProbeResult, Target, Verdict};
use portmatrix_verify::responder::ResponderConfig;
use portmatrix_verify::{parse_proto_ports, Key, Proto};

fn skip(tools: &[&str]) -> bool {
    netns::skip_unless_able(tools)
}

fn key() -> Key {
    Key::from_secret(b"e2e-secret")
}

/// servers zone: a, b; users zone: c.
fn topo() -> Built {
    let mut t = Topology::default();
    t.node("a", "servers", &["10.250.1.1", "fd00:250:1::1"]).node("b", "servers", &["10.250.1.2"]).node(
        "c",
        "users",
        &["10.250.2.1", "fd00:250:2::1"],
    );
    t.build().expect("build topology")
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn responder(lab: &Built, host: &str, addrs: &[&str], listen: &[&str]) -> netns::ResponderHandle {
    let cfg = ResponderConfig::new(
        host,
        key(),
        addrs.iter().map(|a| ip(a)).collect(),
        listen.iter().map(|l| parse_proto_ports(l).unwrap()).collect(),
    );
    netns::start_responder(lab.ns(host), cfg).expect("responder")
}

fn probe_from(lab: &Built, from: &str, targets: Vec<Target>, rs: &[&netns::ResponderHandle]) -> Vec<ProbeResult> {
    let mut cfg = ProbeConfig::new(key());
    cfg.timeout = Duration::from_millis(1500); // generous: CI machines are busy
    cfg.retries = 1;
    let logs: Vec<_> = rs.iter().map(|r| r.receipts.clone()).collect();
    netns::probe(lab.ns(from), targets, cfg, move || logs.iter().flat_map(|l| l.snapshot()).collect()).expect("probe")
}

fn verdicts(rs: &[ProbeResult]) -> Vec<(String, Verdict)> {
    rs.iter().map(|r| (r.target.endpoint(), r.verdict)).collect()
}

fn nft(ns: &str, rules: &str) {
    let path = std::env::temp_dir().join(format!("pmx-e2e-{}-{ns}.nft", std::process::id()));
    std::fs::write(&path, rules).unwrap();
    netns::exec(ns, "nft", &["-f", path.to_str().unwrap()]).expect("nft -f");
    let _ = std::fs::remove_file(path);
}

#[test]
fn tcp_udp_icmp_and_ranges_pass_across_the_router() {
    if skip(&["ip"]) {
        return;
    }
    let lab = topo();
    let a = responder(&lab, "a", &["10.250.1.1", "fd00:250:1::1"], &["tcp:8080,9000-9999", "udp:5060,10000-10100"]);
    assert!(a.report.failed().next().is_none(), "{:?}", a.report);
    // 9000-9999 is 1000 ports: sampled to 512.
    assert!(a.report.notes.iter().any(|n| n.contains("sampled")), "{:?}", a.report.notes);
    let mut targets = vec![
        Target::new(ip("10.250.1.1"), Proto::Tcp, 8080).host("a"),
        Target::new(ip("10.250.1.1"), Proto::Udp, 5060).host("a"),
        Target::new(ip("10.250.1.1"), Proto::Icmp, 0).host("a"),
        Target::new(ip("fd00:250:1::1"), Proto::Tcp, 8080).host("a"),
        Target::new(ip("fd00:250:1::1"), Proto::Udp, 5060).host("a"),
        Target::new(ip("fd00:250:1::1"), Proto::Icmp, 0).host("a"),
        // Same zone, directly over the bridge.
        Target::new(ip("10.250.1.2"), Proto::Icmp, 0).host("b"),
    ];
    let sampled: Vec<u16> =
        a.report.bindings.iter().filter(|b| b.proto == Proto::Tcp && b.addr == ip("10.250.1.1")).map(|b| b.port).collect();
    assert_eq!(sampled.len(), 512);
    assert_eq!((sampled[0], sampled[511]), (8080, 9999));
    for p in sampled.iter().step_by(50) {
        targets.push(Target::new(ip("10.250.1.1"), Proto::Tcp, *p).host("a"));
    }
    for p in [10000, 10050, 10100] {
        targets.push(Target::new(ip("10.250.1.1"), Proto::Udp, p).host("a"));
    }
    let rs = probe_from(&lab, "c", targets, &[&a]);
    for r in &rs {
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        assert!(r.ok);
    }
    // b's ICMP from a, same zone.
    let rs = probe_from(&lab, "a", vec![Target::new(ip("10.250.1.2"), Proto::Icmp, 0)], &[]);
    assert_eq!(rs[0].verdict, Verdict::Pass, "{rs:?}");
    // Receipts show c's address as the source.
    let seen = a.receipts.snapshot();
    assert!(seen.iter().any(|r| r.src.ip() == ip("10.250.2.1") && r.proto == Proto::Udp));
    assert!(seen.iter().any(|r| r.src.ip() == ip("fd00:250:2::1") && r.proto == Proto::Tcp));
}

#[test]
fn refused_wrong_host_and_local() {
    if skip(&["ip"]) {
        return;
    }
    let lab = topo();
    let a = responder(&lab, "a", &["10.250.1.1"], &["tcp:8080", "udp:5060"]);
    let targets = vec![
        Target::new(ip("10.250.1.1"), Proto::Tcp, 8081).host("a"),
        Target::new(ip("10.250.1.1"), Proto::Udp, 5061).host("a"),
        // The plan says b listens there, but a answers: wrong host.
        Target::new(ip("10.250.1.1"), Proto::Tcp, 8080).host("b"),
        Target::new(ip("10.250.1.1"), Proto::Udp, 5060).host("b"),
        // A forbidden port that is closed: fine.
        Target::new(ip("10.250.1.1"), Proto::Tcp, 22).host("a").expect(Expect::Block),
        // A forbidden port that is open: a failure.
        Target::new(ip("10.250.1.1"), Proto::Tcp, 8080).host("a").expect(Expect::Block),
    ];
    let rs = probe_from(&lab, "c", targets, &[&a]);
    let v = verdicts(&rs);
    assert_eq!(rs[0].verdict, Verdict::Refused, "{v:?}");
    assert_eq!(rs[0].from, Some(ip("10.250.1.1")));
    assert_eq!(rs[1].verdict, Verdict::Refused, "{v:?}");
    assert_eq!(rs[2].verdict, Verdict::WrongHost, "{v:?}");
    assert_eq!(rs[2].answered_by.as_deref(), Some("a"));
    assert_eq!(rs[3].verdict, Verdict::WrongHost, "{v:?}");
    assert!(rs[4].ok && rs[4].verdict == Verdict::Refused, "{v:?}");
    assert!(!rs[5].ok && rs[5].verdict == Verdict::Pass, "{v:?}");
    assert!(rs[..4].iter().all(|r| !r.ok));

    // A port already taken is reported in-use; probing it gets the real
    // service (no token), which counts as a pass.
    let taken = netns::spawn_in(lab.ns("a"), || {
        let l = std::net::TcpListener::bind("10.250.1.1:7000")?;
        let (s, _) = l.accept()?;
        std::thread::sleep(Duration::from_millis(200));
        drop(s);
        Ok(())
    });
    std::thread::sleep(Duration::from_millis(100));
    let a2 = responder(&lab, "a", &["10.250.1.1"], &["tcp:7000"]);
    assert_eq!(a2.report.in_use().count(), 1, "{:?}", a2.report);
    let rs = probe_from(&lab, "c", vec![Target::new(ip("10.250.1.1"), Proto::Tcp, 7000).host("a")], &[&a2]);
    assert_eq!(rs[0].verdict, Verdict::Pass, "{rs:?}");
    assert!(rs[0].detail.contains("no token"), "{rs:?}");
    taken.join().unwrap().unwrap();

    // Local: the prober's own address.
    let mut cfg = ProbeConfig::new(key());
    cfg.local_addrs = vec![ip("10.250.2.1")];
    let rs = netns::probe(lab.ns("c"), vec![Target::new(ip("10.250.2.1"), Proto::Tcp, 1)], cfg, Vec::new).unwrap();
    assert_eq!(rs[0].verdict, Verdict::Local);
}

#[test]
fn blocked_and_return_blocked_by_nft() {
    if skip(&["ip", "nft"]) {
        return;
    }
    let lab = topo();
    let a = responder(&lab, "a", &["10.250.1.1", "fd00:250:1::1"], &["tcp:8080-8082", "udp:5060-5062"]);
    nft(
        lab.ns("a"),
        "table inet pmxtest {
           chain input { type filter hook input priority 0; policy accept;
             tcp dport 8081 drop
             udp dport 5061 drop
             icmp type echo-request drop
             icmpv6 type echo-request drop
             tcp dport 8082 reject with icmpx admin-prohibited
           }
           chain output { type filter hook output priority 0; policy accept;
             udp sport 5062 drop
           }
         }",
    );
    let targets = vec![
        Target::new(ip("10.250.1.1"), Proto::Tcp, 8080).host("a"),
        Target::new(ip("10.250.1.1"), Proto::Tcp, 8081).host("a"),
        Target::new(ip("10.250.1.1"), Proto::Udp, 5061).host("a"),
        Target::new(ip("10.250.1.1"), Proto::Icmp, 0).host("a"),
        Target::new(ip("fd00:250:1::1"), Proto::Icmp, 0).host("a"),
        Target::new(ip("10.250.1.1"), Proto::Udp, 5062).host("a"),
        Target::new(ip("10.250.1.1"), Proto::Tcp, 8082).host("a"),
        Target::new(ip("10.250.1.1"), Proto::Udp, 5061).host("a").expect(Expect::Block),
    ];
    let rs = probe_from(&lab, "c", targets, &[&a]);
    let v = verdicts(&rs);
    assert_eq!(rs[0].verdict, Verdict::Pass, "{v:?}");
    assert_eq!(rs[1].verdict, Verdict::Blocked, "{v:?}");
    assert_eq!(rs[1].attempts, 2, "one retry");
    assert_eq!(rs[2].verdict, Verdict::Blocked, "{v:?}");
    assert_eq!(rs[3].verdict, Verdict::Blocked, "{v:?}");
    assert_eq!(rs[4].verdict, Verdict::Blocked, "{v:?}");
    assert_eq!(rs[5].verdict, Verdict::ReturnBlocked, "{v:?}");
    assert_eq!(rs[6].verdict, Verdict::Refused, "{v:?}");
    assert!(rs[7].ok, "{v:?}");
}

#[test]
fn source_nat_on_the_router_is_seen() {
    if skip(&["ip", "nft"]) {
        return;
    }
    let lab = topo();
    let a = responder(&lab, "a", &["10.250.1.1"], &["tcp:8080", "udp:5060"]);
    nft(
        &lab.router,
        "table ip pmxnat {
           chain post { type nat hook postrouting priority srcnat; policy accept;
             ip saddr 10.250.2.1 oifname \"z0\" snat to 10.250.9.9
           }
         }",
    );
    let targets =
        vec![Target::new(ip("10.250.1.1"), Proto::Tcp, 8080).host("a"), Target::new(ip("10.250.1.1"), Proto::Udp, 5060).host("a")];
    let rs = probe_from(&lab, "c", targets, &[&a]);
    for r in &rs {
        assert_eq!(r.verdict, Verdict::Nat, "{r:?}");
        assert_eq!(r.from, Some(ip("10.250.9.9")));
        assert!(r.ok, "nat is a warning, not a failure");
    }
}

#[test]
fn lab_refuses_addresses_of_this_machine() {
    if skip(&["ip"]) {
        return;
    }
    let own = netns::own_addresses().unwrap();
    let Some(a) = own.iter().find(|a| !a.is_loopback()).or(own.first()) else {
        return;
    };
    let mut t = Topology::default();
    t.node("x", "z", &[&a.to_string()]);
    let err = t.build().err().expect("must refuse");
    assert!(err.to_string().contains("refusing") || err.to_string().contains("not a unicast"), "{err}");
}

#[test]
fn namespaces_are_removed_on_drop_and_panic() {
    if skip(&["ip"]) {
        return;
    }
    let prefix;
    {
        let lab = topo();
        prefix = lab.lab.prefix().to_string();
        assert!(list().iter().any(|n| n.starts_with(&prefix)));
    }
    assert!(!list().iter().any(|n| n.starts_with(&prefix)));
    let r = std::panic::catch_unwind(|| {
        let lab = topo();
        let p = lab.lab.prefix().to_string();
        panic!("{p}");
    });
    let p = *r.unwrap_err().downcast::<String>().unwrap();
    assert!(!list().iter().any(|n| n.starts_with(&p)));
}

fn list() -> Vec<String> {
    let out = netns::ip(&["netns", "list"]).unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split(' ').next().unwrap().to_string()).collect()
}

#[test]
fn a_reject_on_the_router_names_the_router() {
    if skip(&["ip", "nft"]) {
        return;
    }
    let lab = topo();
    let a = responder(&lab, "a", &["10.250.1.1"], &["udp:5060", "tcp:8080"]);
    nft(
        &lab.router,
        "table inet pmxfw {
           chain forward_test { type filter hook forward priority 0; policy accept;
             udp dport 5060 reject with icmpx admin-prohibited
           }
         }",
    );
    let targets =
        vec![Target::new(ip("10.250.1.1"), Proto::Udp, 5060).host("a"), Target::new(ip("10.250.1.1"), Proto::Tcp, 8080).host("a")];
    let rs = probe_from(&lab, "c", targets, &[&a]);
    assert_eq!(rs[0].verdict, Verdict::Refused, "{rs:?}");
    assert_eq!(rs[0].from, Some(ip(netns::GATEWAY_V4)), "the router refused: {rs:?}");
    assert_eq!(rs[1].verdict, Verdict::Pass, "{rs:?}");
}

#[test]
fn a_udp_answer_is_never_larger_than_its_request() {
    if skip(&["ip"]) {
        return;
    }
    let lab = topo();
    let a = responder(&lab, "a", &["10.250.1.1"], &["udp:5060"]);
    let lens = netns::run_in(lab.ns("c"), || {
        let s = std::net::UdpSocket::bind("0.0.0.0:0")?;
        s.set_read_timeout(Some(Duration::from_millis(1000)))?;
        s.connect("10.250.1.1:5060")?;
        let mut out = Vec::new();
        for pad in [0usize, 60, 256] {
            let req = portmatrix_verify::wire::request(&[9u8; 16], pad);
            let mut buf = [0u8; 1500];
            // A busy machine may lose the first datagram (neighbour resolution): retry.
            let mut got = None;
            for _ in 0..5 {
                s.send(&req)?;
                if let Ok(n) = s.recv(&mut buf) {
                    got = Some(n);
                    break;
                }
            }
            out.push((req.len(), got.expect("an answer")));
        }
        Ok(out)
    })
    .unwrap();
    for (req, reply) in &lens {
        assert!(reply <= req, "{lens:?}");
    }
    // The bare request (38 bytes) still carries the whole token.
    assert_eq!(lens[0], (38, 38));
    drop(a);
}

#[test]
fn icmp_over_the_unprivileged_ping_socket() {
    if skip(&["ip"]) {
        return;
    }
    let lab = topo();
    netns::sysctl(lab.ns("c"), &[("net.ipv4.ping_group_range", "0 2147483647")]).unwrap();
    let mut cfg = ProbeConfig::new(key());
    cfg.icmp_unprivileged = true;
    let targets = vec![
        Target::new(ip("10.250.1.1"), Proto::Icmp, 0),
        Target::new(ip("fd00:250:1::1"), Proto::Icmp, 0),
        Target::new(ip("10.250.1.77"), Proto::Icmp, 0),
    ];
    let rs = netns::probe(lab.ns("c"), targets, cfg, Vec::new).unwrap();
    let v = verdicts(&rs);
    assert_eq!(rs[0].verdict, Verdict::Pass, "{v:?}");
    assert_eq!(rs[1].verdict, Verdict::Pass, "{v:?}");
    assert_ne!(rs[2].verdict, Verdict::Pass, "{v:?}");
}

#[test]
fn binding_an_address_the_host_lacks_is_reported() {
    if skip(&["ip"]) {
        return;
    }
    let lab = topo();
    let a = responder(&lab, "a", &["10.250.1.1", "10.250.1.99"], &["tcp:8080"]);
    assert_eq!(a.report.listening(), 1, "{:?}", a.report);
    let failed: Vec<_> = a.report.failed().collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].addr, ip("10.250.1.99"));
}
