//! Throughput of responder and prober across the lab router (ignored by
//! default; bench/README.md records the numbers):
//!
//! ```text
//! cargo nextest run -p portmatrix-verify --release --run-ignored only -E 'test(bench)' --no-capture
//! ```

use std::time::{Duration, Instant};

use portmatrix_verify::netns::{self, Topology};
use portmatrix_verify::probe::{ProbeConfig, Target, Verdict};
use portmatrix_verify::responder::ResponderConfig;
use portmatrix_verify::{Key, PortSet, Proto};

#[test]
#[ignore = "benchmark: run explicitly"]
fn bench_probes_per_second() {
    if let Some(why) = netns::unavailable(&["ip"]) {
        eprintln!("skipped: {why}");
        return;
    }
    let mut t = Topology::default();
    t.node("srv", "servers", &["10.252.1.1"]).node("cli", "users", &["10.252.2.1"]);
    let lab = t.build().unwrap();
    let key = Key::from_secret(b"bench");
    let ports = PortSet::range(20000, 20999);
    let mut rc = ResponderConfig::new(
        "srv",
        key.clone(),
        vec!["10.252.1.1".parse().unwrap()],
        vec![(Proto::Tcp, ports.clone()), (Proto::Udp, ports.clone())],
    );
    rc.sample_limit = 1000;
    rc.limits = portmatrix_verify::responder::RateLimits::unlimited();
    let r = netns::start_responder(lab.ns("srv"), rc).unwrap();
    for (proto, n) in [(Proto::Tcp, 5000usize), (Proto::Udp, 5000), (Proto::Icmp, 2000)] {
        for conc in [64usize, 256] {
            let targets: Vec<Target> = (0..n)
                .map(|i| {
                    let port = if proto == Proto::Icmp { 0 } else { 20000 + (i % 1000) as u16 };
                    Target::new("10.252.1.1".parse().unwrap(), proto, port).host("srv")
                })
                .collect();
            let mut cfg = ProbeConfig::new(key.clone());
            cfg.concurrency = conc;
            cfg.timeout = Duration::from_secs(2);
            let start = Instant::now();
            let rs = netns::probe(lab.ns("cli"), targets, cfg, Vec::new).unwrap();
            let el = start.elapsed();
            let pass = rs.iter().filter(|r| r.verdict == Verdict::Pass).count();
            println!(
                "BENCH {proto} concurrency {conc}: {n} probes in {:.3} s = {:.0} probes/s ({pass} pass)",
                el.as_secs_f64(),
                n as f64 / el.as_secs_f64()
            );
        }
    }
    // Timeout-bound: 500 probes to a silent port range, 1 s timeout, no retry.
    let targets: Vec<Target> = (0..500).map(|i| Target::new("10.252.1.9".parse().unwrap(), Proto::Udp, 30000 + i).host("srv")).collect();
    let mut cfg = ProbeConfig::new(key.clone());
    cfg.concurrency = 256;
    cfg.retries = 0;
    cfg.timeout = Duration::from_secs(1);
    let start = Instant::now();
    let rs = netns::probe(lab.ns("cli"), targets, cfg, Vec::new).unwrap();
    println!("BENCH silent udp, concurrency 256, timeout 1 s: {} probes in {:.3} s", rs.len(), start.elapsed().as_secs_f64());
    drop(r);
}
