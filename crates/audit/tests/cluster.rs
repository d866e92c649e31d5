//! The distributed path: a Ballista scheduler and two executors on loopback
//! give exactly the embedded engine's results on the same Parquet files.
#![cfg(feature = "distributed")]

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use portmatrix_audit::generate::{generate, GenOptions};
use portmatrix_audit::{audit_flows, distributed, AuditOptions, FlowFormat, FlowInput, IntentTable, Progress, Session};
use portmatrix_plan::{plan, Deployment};

#[test]
fn cluster_of_two_executors_equals_embedded() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mixed.yaml");
    let table = Arc::new(IntentTable::from_plan(&plan(&Deployment::load(&root, &portmatrix_catalog::Catalog).unwrap()).unwrap()));
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    for (i, format) in [FlowFormat::AwsParquet, FlowFormat::AwsParquet, FlowFormat::RecordsParquet].into_iter().enumerate() {
        let path = dir.path().join(format!("f{i}.parquet"));
        generate(&table, format, &GenOptions { records: 20_000, seed: i as u64 + 3, ..Default::default() }, &path, 2).unwrap();
        inputs.push(FlowInput { path, format });
    }
    let opts = AuditOptions { threads: 2, ..Default::default() };
    let (embedded, _) = audit_flows(table.clone(), inputs.clone(), &opts, Arc::new(Progress::default())).unwrap();

    // the cluster lives in its own runtime, for as long as this test
    let services = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let url = services.block_on(distributed::local_cluster(2, 1)).expect("scheduler and executors start");
    let progress = Arc::new(Progress::default());
    let session = Session::cluster(&url, table.clone(), inputs.clone(), &opts, progress.clone()).expect("client connects");
    let mut clustered = session.classify().expect("the query runs on the cluster");
    assert_eq!(clustered.summary.engine, url);
    // the executors classified, not this process (their pm_match is decoded from the query)
    assert_eq!(progress.classified.load(Ordering::Relaxed), 0);
    clustered.summary.engine = embedded.summary.engine.clone();
    assert_eq!(clustered, embedded);
    assert!(embedded.summary.records >= 60_000);

    // text inputs are refused with the way out
    let text = dir.path().join("flows.log");
    generate(&table, FlowFormat::AwsText, &GenOptions { records: 10, ..Default::default() }, &text, 2).unwrap();
    let Err(e) = Session::cluster(&url, table, vec![FlowInput { path: text, format: FlowFormat::AwsText }], &opts, progress) else {
        panic!("a text input on a cluster must be refused")
    };
    assert!(e.to_string().contains("--records-out"), "{e}");
}
