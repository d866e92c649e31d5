//! Every input format: generated records, read back and classified, give
//! exactly the generator's ground truth (per intent, per unplanned
//! destination and service, per class).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use portmatrix_audit::generate::{generate, GenOptions, Truth};
use portmatrix_audit::results::{FlowClass, Traffic};
use portmatrix_audit::{audit_flows, AuditOptions, AuditResult, FlowFormat, FlowInput, IntentTable, Progress};
use portmatrix_plan::{plan, Deployment};

fn table(example: &str) -> Arc<IntentTable> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let dep = Deployment::load(&root.join(format!("{example}.yaml")), &portmatrix_catalog::Catalog).expect("example loads");
    Arc::new(IntentTable::from_plan(&plan(&dep).expect("example plans")))
}

/// Compares an audit with the truth; returns a description of the first difference.
fn compare(r: &AuditResult, t: &Truth) -> Result<(), String> {
    if r.summary.records != t.records {
        return Err(format!("records: audit {} truth {}", r.summary.records, t.records));
    }
    if r.summary.bad_lines != 0 || r.summary.unusable_rows != 0 {
        return Err(format!("bad lines {} unusable rows {}", r.summary.bad_lines, r.summary.unusable_rows));
    }
    let mut seen: BTreeMap<u32, (Traffic, Traffic)> = BTreeMap::new();
    for p in &r.planned {
        let e = seen.entry(p.intent.0).or_default();
        match p.class {
            FlowClass::PlannedSeen => e.0 = p.traffic,
            FlowClass::PlannedRejected => e.1 = p.traffic,
            FlowClass::PlannedNeverSeen => {}
            c => return Err(format!("planned row of class {c:?}")),
        }
    }
    seen.retain(|_, (a, b)| a.records + b.records > 0);
    if seen != t.intents {
        let diff: Vec<_> = seen.iter().filter(|(k, v)| t.intents.get(k) != Some(v)).take(3).collect();
        let missing: Vec<_> = t.intents.keys().filter(|k| !seen.contains_key(k)).take(3).collect();
        return Err(format!("per-intent traffic differs: {diff:?}; not in the audit: {missing:?}"));
    }
    let unplanned: BTreeMap<(bool, String, u8, Option<u16>), Traffic> = r
        .unplanned
        .iter()
        .map(|u| ((u.class == FlowClass::UnplannedAccepted, u.destination_address.clone(), u.protocol.0, u.port), u.traffic))
        .collect();
    if unplanned != t.unplanned {
        return Err(format!("unplanned differ:\n audit {unplanned:?}\n truth {:?}", t.unplanned));
    }
    for c in &r.summary.classes {
        let want = t.classes.get(&c.class).copied().unwrap_or_default();
        if c.traffic != want {
            return Err(format!("class {:?}: audit {:?} truth {want:?}", c.class, c.traffic));
        }
    }
    let never = r.planned.iter().filter(|p| p.class == FlowClass::PlannedNeverSeen).count();
    if never == 0 {
        return Err("no planned-never-seen row: the generator leaves some intents out on purpose".into());
    }
    Ok(())
}

fn check(example: &str, format: FlowFormat, file: &str, aws_version: u8) {
    let t = table(example);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file);
    let opts = GenOptions { records: 3000, seed: 7, ..GenOptions::default() };
    let truth = generate(&t, format, &opts, &path, aws_version).expect("generates");
    assert!(truth.records >= 3000);
    // the mix must really hold every class the format can carry
    let classes: Vec<FlowClass> = truth.classes.keys().copied().collect();
    let can_reject = !matches!(format, FlowFormat::ConntrackText | FlowFormat::ConntrackJson);
    let want = if can_reject {
        vec![FlowClass::PlannedRejected, FlowClass::UnplannedAccepted, FlowClass::PlannedSeen, FlowClass::UnplannedRejected]
    } else {
        vec![FlowClass::UnplannedAccepted, FlowClass::PlannedSeen]
    };
    assert_eq!(classes, want, "{format}");
    let detected = portmatrix_audit::formats::detect(&path).expect("format detected");
    assert_eq!(detected, format);
    let (r, _) =
        audit_flows(t, vec![FlowInput { path, format }], &AuditOptions { threads: 2, ..Default::default() }, Arc::new(Progress::default()))
            .unwrap_or_else(|e| panic!("{format}: {e}"));
    if let Err(e) = compare(&r, &truth) {
        panic!("{example} {format}: {e}");
    }
    assert!(r.summary.findings > 0);
    assert_eq!(r.exit_code(), 1);
}

#[test]
fn aws_text_versions_2_to_5() {
    for v in 2..=5 {
        check("mixed", FlowFormat::AwsText, &format!("v{v}.log"), v);
    }
}

#[test]
fn aws_text_gzip() {
    check("jtel-stack", FlowFormat::AwsText, "flows.log.gz", 5);
}

#[test]
fn aws_parquet() {
    check("mixed", FlowFormat::AwsParquet, "flows.parquet", 2);
}

#[test]
fn records_parquet() {
    check("jtel-acd", FlowFormat::RecordsParquet, "records.parquet", 2);
}

#[test]
fn azure_vnet_flow_logs() {
    check("mixed", FlowFormat::AzureJson, "PT1H.json", 2);
}

#[test]
fn conntrack_text_and_ulogd_json() {
    check("jtel-acd", FlowFormat::ConntrackText, "conntrack.txt", 2);
    check("mixed", FlowFormat::ConntrackJson, "ulogd-ct.json", 2);
}

#[test]
fn nftables_kernel_log_and_ulogd_json() {
    check("mixed", FlowFormat::NftLog, "kern.log", 2);
    check("jtel-stack", FlowFormat::NftJson, "ulogd-pkt.json", 2);
}

#[test]
fn several_files_of_several_formats_add_up() {
    let t = table("mixed");
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    let mut total = Truth::default();
    for (i, (f, name)) in
        [(FlowFormat::AwsText, "a.log"), (FlowFormat::AwsParquet, "b.parquet"), (FlowFormat::NftLog, "c.log")].into_iter().enumerate()
    {
        let path = dir.path().join(name);
        let truth = generate(&t, f, &GenOptions { records: 1000, seed: i as u64 + 1, ..Default::default() }, &path, 3).unwrap();
        total.records += truth.records;
        inputs.push(FlowInput { path, format: f });
    }
    let (r, s) = audit_flows(t, inputs, &AuditOptions::default(), Arc::new(Progress::default())).unwrap();
    assert_eq!(r.summary.records, total.records);
    assert_eq!(r.summary.inputs.len(), 3);
    // the records view holds every record; the classified view one class per usable record
    let b = s.sql("SELECT count(*) AS n FROM classified WHERE class IS NOT NULL").unwrap();
    let n = portmatrix_audit::output::csv(&b).unwrap();
    assert_eq!(String::from_utf8(n).unwrap().lines().nth(1).unwrap(), total.records.to_string());
}
