//! The responder's rate limit against a flood from many addresses of one
//! IPv6 /64 and one IPv4 /24, in network namespaces this test creates (root
//! and iproute2; skipped without them unless CI is set).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use portmatrix_verify::netns::{self, Built, Topology};
use portmatrix_verify::probe::{ProbeConfig, Target, Verdict};
use portmatrix_verify::responder::{Rate, RateLimits, ResponderConfig};
use portmatrix_verify::{wire, Key, PortSet, Proto};

const FLOODERS: usize = 200;

fn flood_v6(i: usize) -> IpAddr {
    format!("fd00:253:2::{:x}", 0x100 + i).parse().unwrap()
}

fn flood_v4(i: usize) -> IpAddr {
    format!("10.253.2.{}", 10 + i).parse().unwrap()
}

/// srv (servers); flood with 200 addresses of one /64 and 200 of one /24,
/// and other in another /64 and /24 (users).
fn topo() -> Built {
    let mut t = Topology::default();
    t.node("srv", "servers", &["10.253.1.1", "fd00:253:1::1"]);
    let flood: Vec<String> = (0..FLOODERS).flat_map(|i| [flood_v6(i).to_string(), flood_v4(i).to_string()]).collect();
    let flood: Vec<&str> = flood.iter().map(String::as_str).collect();
    t.node("flood", "users", &flood);
    t.node("other", "users", &["10.253.3.1", "fd00:253:3::1"]);
    t.build().expect("topology")
}

fn key() -> Key {
    Key::from_secret(b"flood")
}

/// One probe request from each source address, all at once; returns how
/// many were sent.
fn flood(lab: &Built, sources: Vec<IpAddr>, to: SocketAddr) -> usize {
    netns::run_in(lab.ns("flood"), move || {
        let mut sent = 0;
        for (i, src) in sources.into_iter().enumerate() {
            let s = std::net::UdpSocket::bind(SocketAddr::new(src, 0))?;
            let mut nonce = [0u8; 16];
            nonce[..8].copy_from_slice(&(i as u64).to_be_bytes());
            if s.send_to(&wire::request(&nonce, 0), to).is_ok() {
                sent += 1;
            }
        }
        Ok(sent)
    })
    .expect("flood")
}

fn responder(lab: &Built, port: u16, limits: RateLimits) -> netns::ResponderHandle {
    let mut cfg = ResponderConfig::new(
        "srv",
        key(),
        vec!["10.253.1.1".parse().unwrap(), "fd00:253:1::1".parse().unwrap()],
        vec![(Proto::Udp, PortSet::range(port, port))],
    );
    cfg.limits = limits;
    netns::start_responder(lab.ns("srv"), cfg).expect("responder")
}

/// Waits until the count of receipts stops changing.
fn settled(r: &netns::ResponderHandle) -> usize {
    let mut last = usize::MAX;
    loop {
        std::thread::sleep(Duration::from_millis(400));
        let n = r.receipts.snapshot().len();
        if n == last {
            return n;
        }
        last = n;
    }
}

#[test]
fn a_flood_from_one_prefix_is_limited_and_others_still_answered() {
    if netns::skip_unless_able(&["ip"]) {
        return;
    }
    let lab = topo();
    let v6: Vec<IpAddr> = (0..FLOODERS).map(flood_v6).collect();
    let v4: Vec<IpAddr> = (0..FLOODERS).map(flood_v4).collect();

    // Control: with the per-address limit alone (as before), every address
    // of the flood is answered; this also shows the flood arrives.
    let mut per_address_only = RateLimits::unlimited();
    per_address_only.per_address = Rate { per_sec: 1.0, burst: 5.0 };
    let open = responder(&lab, 7001, per_address_only);
    let sent = flood(&lab, v6.clone(), "[fd00:253:1::1]:7001".parse().unwrap());
    assert_eq!(sent, FLOODERS);
    let answered = settled(&open);
    assert!(answered >= FLOODERS * 9 / 10, "without a prefix limit {answered} of {FLOODERS} answered");
    drop(open);

    // With a prefix limit (burst 20, 1/s): the /64 gets about its burst.
    let burst = 20.0;
    let limits = RateLimits { per_prefix: Rate { per_sec: 1.0, burst }, ..RateLimits::default() };
    let srv = responder(&lab, 7002, limits);
    flood(&lab, v6, "[fd00:253:1::1]:7002".parse().unwrap());
    let from_v6 = settled(&srv);
    // Refill while the test runs adds a few (1/s).
    assert!(from_v6 <= burst as usize + 5, "{from_v6} probes of one /64 answered, burst {burst}");
    assert!(from_v6 >= 1, "the /64 gets its share");

    flood(&lab, v4, "10.253.1.1:7002".parse().unwrap());
    let from_v4 = settled(&srv) - from_v6;
    assert!(from_v4 <= burst as usize + 5, "{from_v4} probes of one /24 answered, burst {burst}");

    eprintln!("{FLOODERS} sources each: per-address limit only {answered} answered; prefix limit: /64 {from_v6}, /24 {from_v4}");

    // Another /64 and another /24 are still answered during the flood.
    let targets = vec![
        Target::new("fd00:253:1::1".parse().unwrap(), Proto::Udp, 7002).host("srv"),
        Target::new("10.253.1.1".parse().unwrap(), Proto::Udp, 7002).host("srv"),
    ];
    let mut cfg = ProbeConfig::new(key());
    cfg.timeout = Duration::from_millis(1500);
    let rs = netns::probe(lab.ns("other"), targets, cfg, Vec::new).expect("probe");
    for r in &rs {
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }
}
