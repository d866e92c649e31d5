//! Times the phases of a deployment diff on two inventories (load and plan
//! each side, the grouped atom delta, the rule deltas, the whole
//! `diff_deployments`) and prints the delta's size. A benchmark aid for
//! `bench/diff-scale.sh`; it asserts nothing.
//!
//! Usage: cargo run --release -p portmatrix-diff --example diff_phases -- OLD.yaml NEW.yaml

use std::path::Path;
use std::time::Instant;

use portmatrix_diff::rules::rule_deltas;
use portmatrix_diff::{diff_deployments, grouped_delta};
use portmatrix_plan::{plan, Deployment, Plan};

fn plan_of(path: &str) -> Plan {
    let dep = Deployment::load(Path::new(path), &portmatrix_catalog::Catalog).unwrap_or_else(|d| {
        eprintln!("{path}: {}", d.iter().map(|d| d.short()).collect::<Vec<_>>().join("\n"));
        std::process::exit(2)
    });
    plan(&dep).unwrap_or_else(|d| {
        eprintln!("{path}: {}", d.iter().map(|d| d.short()).collect::<Vec<_>>().join("\n"));
        std::process::exit(2)
    })
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    println!("{what:<28} {:8.3} s", start.elapsed().as_secs_f64());
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [old, new] = args.as_slice() else {
        eprintln!("usage: diff_phases OLD.yaml NEW.yaml");
        std::process::exit(2)
    };
    let a = timed("load + plan OLD", || plan_of(old));
    let b = timed("load + plan NEW", || plan_of(new));
    for (side, p) in [("OLD", &a), ("NEW", &b)] {
        let mut sets = std::collections::HashSet::new();
        let members: usize =
            p.connections.iter().filter(|c| sets.insert(std::sync::Arc::as_ptr(&c.sources))).map(|c| c.sources.members.len()).sum();
        let reasons: usize = p.connections.iter().map(|c| c.reasons.len()).sum();
        println!("{side}: {} connections ({reasons} reasons), {} source sets of {members} members", p.connections.len(), sets.len());
    }
    let (added, removed) = timed("grouped atom delta", || grouped_delta(&a, &b));
    println!("atoms added {}, removed {}", added.len(), removed.len());
    let rules = timed("rule deltas", || rule_deltas(&a, &b));
    println!("rulesets whose rules change: {}, address sets whose members change: {}", rules.rulesets.len(), rules.sets.len());
    let d = timed("diff_deployments (all)", || diff_deployments(&a, &b));
    println!("opened {}, closed {}, hosts removed {}", d.opened.len(), d.closed.len(), d.hosts_removed.len());
}
