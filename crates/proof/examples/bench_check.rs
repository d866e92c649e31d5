//! Times the exact check: reading a ruleset back and checking it against
//! its plan, each repeated and the median printed. Used by
//! `bench/exact-check.sh`; not a test.
//!
//! `cargo run --release -p portmatrix-proof --example bench_check -- INVENTORY (host|firewall) NAME FILE [V6FILE [IPSETFILE]]`

use std::time::{Duration, Instant};

use portmatrix_targets::read::ReadBack;
use portmatrix_targets::Subject;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [inv, kind, name, file, rest @ ..] = args.as_slice() else {
        eprintln!("usage: bench_check INVENTORY (host|firewall) NAME FILE [V6FILE [IPSETFILE]]");
        std::process::exit(2);
    };
    let dep = portmatrix_plan::Deployment::load(std::path::Path::new(inv), &portmatrix_catalog::Catalog)
        .unwrap_or_else(|d| panic!("{:?}", d[0].short()));
    let plan = portmatrix_plan::plan(&dep).unwrap_or_else(|d| panic!("{:?}", d[0].short()));
    let subject = if kind == "host" { Subject::Host(name.clone()) } else { Subject::Firewall(name.clone()) };
    let text = std::fs::read_to_string(file).unwrap();
    let second = rest.first().map(|f| std::fs::read_to_string(f).unwrap());
    let sets = rest.get(1).map(|f| std::fs::read_to_string(f).unwrap());
    let read = || match &second {
        Some(v6) => ReadBack::from_iptables_save(Some(&text), Some(v6), sets.as_deref()).unwrap(),
        None => ReadBack::from_nft_json(&text).unwrap(),
    };
    let (mut reads, mut checks) = (Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..7 {
        let t = Instant::now();
        let rb = read();
        reads.push(t.elapsed());
        let t = Instant::now();
        let r = portmatrix_proof::check(&plan, &subject, &rb).unwrap();
        checks.push(t.elapsed());
        last = Some(r);
    }
    let r = last.unwrap();
    let elements: usize = ReadBack::from_nft_json(&text)
        .map(|rb| {
            rb.chains
                .iter()
                .flat_map(|c| &c.rules)
                .flat_map(|r| &r.conds)
                .map(|c| match &c.test {
                    portmatrix_targets::read::Test::Region(cl) => cl.iter().filter(|x| x.origin.is_some()).count(),
                    _ => 0,
                })
                .sum()
        })
        .unwrap_or(0);
    println!(
        "{kind} {name}: {} rule(s), {elements} set element(s), {} planned rule(s), {} boxes, {} cells; read {:.1} ms, check {:.1} ms (median of 7); {}",
        r.stats.rules,
        r.stats.planned_rules,
        r.stats.boxes,
        r.stats.cells,
        median(reads).as_secs_f64() * 1e3,
        median(checks).as_secs_f64() * 1e3,
        r.summary()
    );
}
