//! Classification throughput on one core (a benchmark: it prints, asserts
//! nothing about time; bench/audit.sh runs it):
//!
//!     cargo build --release --workspace --bins --examples && target/release/examples/bench_classify

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Array, ArrayRef, Int32Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl};
use portmatrix_audit::generate::{GenOptions, Generator};
use portmatrix_audit::intent::IntentTable;
use portmatrix_audit::matcher::{Matcher, Probe};
use portmatrix_audit::udf::MatchUdf;
use portmatrix_audit::FlowFormat;
use portmatrix_plan::{plan, Deployment};

const ROWS: usize = 8192;
const BATCHES: usize = 600;

fn table() -> IntentTable {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mixed.yaml");
    IntentTable::from_plan(&plan(&Deployment::load(&root, &portmatrix_catalog::Catalog).unwrap()).unwrap())
}

fn main() {
    let t = table();
    let opts = GenOptions { truth: false, ..GenOptions::default() };
    let mut g = Generator::new(&t, FlowFormat::AwsParquet, &opts, false);
    let records: Vec<_> = (0..ROWS * 8).map(|_| g.next_record().unwrap()).collect();
    let v4: Vec<_> = records.iter().filter(|r| r.src.is_ipv4()).collect();

    // 1. the matcher alone, addresses already parsed
    let m = Matcher::new(&t);
    let probes: Vec<(u32, u32, Probe)> = v4
        .iter()
        .map(|r| {
            let p = Probe { src: r.src, dst: r.dst, proto: r.proto, src_port: r.src_port, dst_port: r.dst_port, icmp_type: r.icmp_type };
            let (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) = (r.src, r.dst) else { unreachable!() };
            (u32::from(s), u32::from(d), p)
        })
        .collect();
    let n = 20_000_000usize;
    let started = Instant::now();
    let mut hits = 0u64;
    for i in 0..n {
        let (s, d, p) = &probes[i % probes.len()];
        hits += u64::from(m.lookup_v4(*s, *d, p).is_some());
    }
    let secs = started.elapsed().as_secs_f64();
    println!("matcher, parsed addresses: {:.1} M lookups/s on one core ({hits} hits)", n as f64 / secs / 1e6);

    // 2. pm_match over Arrow batches as the engine calls it (text addresses)
    let udf = MatchUdf::new(Arc::new(t.clone()), Arc::default());
    let col = |f: &dyn Fn(&portmatrix_audit::record::FlowRecord) -> Option<i32>| -> ArrayRef {
        Arc::new(Int32Array::from(records.iter().take(ROWS).map(f).collect::<Vec<_>>()))
    };
    let args: Vec<ColumnarValue> = vec![
        ColumnarValue::Array(Arc::new(StringArray::from_iter_values(records.iter().take(ROWS).map(|r| r.src.to_string())))),
        ColumnarValue::Array(Arc::new(StringArray::from_iter_values(records.iter().take(ROWS).map(|r| r.dst.to_string())))),
        ColumnarValue::Array(col(&|r| Some(i32::from(r.proto.0)))),
        ColumnarValue::Array(col(&|r| r.src_port.map(i32::from))),
        ColumnarValue::Array(col(&|r| r.dst_port.map(i32::from))),
        ColumnarValue::Array(col(&|r| r.icmp_type.map(i32::from))),
    ];
    let fields = [DataType::Utf8, DataType::Utf8, DataType::Int32, DataType::Int32, DataType::Int32, DataType::Int32]
        .into_iter()
        .map(|t| Arc::new(Field::new("a", t, true)))
        .collect::<Vec<_>>();
    let started = Instant::now();
    let mut matched = 0usize;
    for _ in 0..BATCHES {
        let out = udf
            .invoke_with_args(ScalarFunctionArgs {
                args: args.clone(),
                arg_fields: fields.clone(),
                number_rows: ROWS,
                return_field: Arc::new(Field::new("m", DataType::UInt32, true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap();
        let ColumnarValue::Array(a) = out else { unreachable!() };
        matched += a.len() - a.null_count();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "pm_match over Arrow batches of text addresses: {:.1} M records/s on one core ({matched} matched)",
        (ROWS * BATCHES) as f64 / secs / 1e6
    );
}
