//! Times the phases of compiling one host (`compile --host`): reading and
//! parsing the inventory, decoding and validating it, loading the
//! deployment, planning the host's connections, and building its ruleset.
//! A benchmark aid for `bench/README.md`; it asserts nothing.
//!
//! Usage: cargo run --release -p portmatrix-targets --example host_phases -- INVENTORY.yaml HOST

use std::path::Path;
use std::time::Instant;

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    println!("{what:<32} {:8.1} ms", start.elapsed().as_secs_f64() * 1e3);
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [inv, host] = args.as_slice() else {
        eprintln!("usage: host_phases INVENTORY.yaml HOST");
        std::process::exit(2)
    };
    let path = Path::new(inv);
    let all = Instant::now();
    let file = timed("read", || portmatrix_model::read_source(path).expect("readable"));
    timed("parse + decode + validate", || portmatrix_model::inventory_from_source(file.clone()).expect("valid"));
    let dep =
        timed("Deployment::load (again, whole)", || portmatrix_plan::Deployment::load(path, &portmatrix_catalog::Catalog).expect("loads"));
    let plan = timed("plan_for_host", || portmatrix_plan::plan_for_host(&dep, host).expect("plans"));
    let shared = timed("Shared::new (address book)", || portmatrix_targets::Shared::new(&plan));
    let rs = timed("host ruleset", || shared.host_ruleset(host).expect("a managed host"));
    println!("{} rules; total {:.1} ms (the load counted twice)", rs.rules.len(), all.elapsed().as_secs_f64() * 1e3);
}
