//! Times `import` of generated CSV port tables of growing size, to show
//! that import is linear in rows (issue 17 measured 47 s for 20,000 rows
//! before). Run through `bench/import-csv.sh`; the figures are recorded
//! there, never asserted.
//!
//! Each row names one of 200 initiators and 50 listeners and a distinct
//! port, so every row is its own flow and its own flow id.

use std::time::Instant;

use portmatrix_import::{import, Format, Options};

fn csv(rows: usize) -> String {
    let mut s = String::with_capacity(rows * 48);
    s.push_str("Source,Destination,Port,Protocol,Purpose\n");
    for i in 0..rows {
        let port = 1024 + (i % 60_000);
        let proto = if (i / 60_000) % 2 == 0 { "TCP" } else { "UDP" };
        s.push_str(&format!("Client {},Server {},{port},{proto},row {i}\n", i % 200, (i / 7) % 50));
    }
    s
}

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![30_000, 100_000, 300_000] } else { sizes };
    println!("{:>9} {:>10} {:>9} {:>12}", "rows", "flows", "seconds", "µs per row");
    for n in sizes {
        let text = csv(n);
        let mut o = Options::new("bench.csv");
        o.format = Format::Csv;
        let t = Instant::now();
        let imp = import(text.as_bytes(), &o).expect("import");
        let secs = t.elapsed().as_secs_f64();
        assert!(imp.check_errors.is_empty(), "{:?}", imp.check_errors.first());
        println!("{n:>9} {:>10} {secs:>9.2} {:>12.1}", imp.draft.flows.len(), secs * 1e6 / n as f64);
    }
}
