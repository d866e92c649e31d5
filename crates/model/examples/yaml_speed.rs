//! Benchmark aid, not a test: times the YAML fast path against the granit
//! path on one file and prints the medians side by side (it asserts
//! nothing). `cargo run --release -p portmatrix-model --example yaml_speed
//! -- /tmp/big.yaml [runs]`; see bench/README.md, "YAML fast path".

use std::time::{Duration, Instant};

use portmatrix_model::{yaml, Diagnostics, SourceFile};

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Runs `f` `runs` times; the median time, the drop of its result excluded.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let out = f();
        times.push(start.elapsed());
        drop(out);
    }
    median(times)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "/tmp/big.yaml".to_string());
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(21).max(1);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let file = SourceFile::new(path.clone(), text);
    let fast = yaml::parse_fast(&file.text);
    let mut diags = Diagnostics::default();
    let slow = yaml::parse_slow(&file, &mut diags);
    let verdict = match &fast {
        None => "declined by the fast path (parse uses granit)",
        Some(tree) if diags.items.is_empty() && slow.as_ref() == Some(tree) => "accepted, same tree as granit",
        Some(_) => "accepted, but the trees DIFFER",
    };
    println!("{path}: {} bytes, {} nodes; {verdict}", file.text.len(), slow.as_ref().map_or(0, yaml::Node::size));
    let fast_t = time(runs, || yaml::parse_fast(&file.text));
    let slow_t = time(runs, || yaml::parse_slow(&file, &mut Diagnostics::default()));
    let parse_t = time(runs, || yaml::parse(&file, &mut Diagnostics::default()));
    println!("median of {runs} runs: granit path {slow_t:.2?}, fast path {fast_t:.2?}, yaml::parse {parse_t:.2?}");
}
