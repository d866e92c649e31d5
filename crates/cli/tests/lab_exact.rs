//! Issue 9's scenario through the real binary: Avaya POM on two servers
//! with an unmanaged PostgreSQL host, a jtel ACD with a SIP provider;
//! `core-fw` joins dc, db, voice, users and mgmt, `edge-fw` joins dc and
//! outside (tests/fixtures/issue9/inventory.yaml).
//!
//! The lab must prove that the outside cannot reach the database, and a
//! hole hand-edited into the compiled firewall files must fail
//! `lab --rules` with the hole named: by the probe that got through, and by
//! the exact check (witness packet and the rule responsible), even where no
//! probe could see it. Needs root, iproute2 and nftables: without them the
//! tests say why and pass, unless CI is set.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use portmatrix_verify::netns;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_portmatrix");
const PROVIDER: &str = "198.51.100.0/28";
const POSTGRES: &str = "10.70.1.10";

fn inventory() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/issue9/inventory.yaml")
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run portmatrix")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn lab_json(extra: &[&str]) -> (Output, Value) {
    let inv = inventory();
    let mut args = vec!["lab", "-i", inv.to_str().unwrap(), "--format", "json"];
    args.extend_from_slice(extra);
    let out = run(&args);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("lab JSON: {e}\n{}", text(&out)));
    (out, v)
}

/// The probes from the SIP provider's stand-in to the PostgreSQL host on
/// 5432, with their judgements.
fn provider_to_postgres(v: &Value) -> Vec<(&Value, &Value)> {
    let results = v["results"].as_array().unwrap();
    let judgements = v["judgements"].as_array().unwrap();
    results
        .iter()
        .zip(judgements)
        .filter(|(r, _)| r["target"]["source"] == "sip-provider" && r["target"]["host"] == "pg1" && r["target"]["port"] == 5432)
        .collect()
}

fn exact_of<'a>(v: &'a Value, node: &str) -> &'a Value {
    v["exact"].as_array().unwrap().iter().find(|c| c["node"] == node).unwrap_or_else(|| panic!("no exact check of {node}"))
}

/// Compiles every host and firewall into `dir` as a user would before
/// deployment: nftables for Linux, PowerShell for the Windows host.
fn compile_into(dir: &Path) {
    let inv = inventory();
    for target in ["nftables", "windows"] {
        let out = run(&["compile", "-i", inv.to_str().unwrap(), "-t", target, "--all", "-d", dir.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
    }
}

/// Hand-edits a compiled firewall: an accept for the provider's network to
/// PostgreSQL, first in the forward chain.
fn punch_hole(dir: &Path, firewall: &str) {
    let path = dir.join(format!("{firewall}.nft"));
    let src = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = src.lines().map(str::to_string).collect();
    let at = lines.iter().position(|l| l.contains("type filter hook forward")).expect("a forward base chain") + 1;
    lines.insert(
        at,
        format!("        ip saddr {PROVIDER} ip daddr {POSTGRES} tcp dport 5432 accept comment \"hand-edited: provider to the database\""),
    );
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

/// The exact check of `firewall` found the hole: an extra class of packets
/// from the provider to PostgreSQL on 5432, accepted by the hand-edited rule.
fn assert_hole_found(v: &Value, firewall: &str) {
    let check = exact_of(v, firewall);
    assert_eq!(check["source"], "kernel");
    let findings = check["report"]["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{firewall}: {findings:#?}");
    let f = &findings[0];
    assert_eq!(f["kind"], "extra", "{f:#}");
    let w = &f["witness"];
    let src: std::net::Ipv4Addr = w["src"].as_str().unwrap().parse().unwrap();
    let provider = u32::from(std::net::Ipv4Addr::new(198, 51, 100, 0))..=u32::from(std::net::Ipv4Addr::new(198, 51, 100, 15));
    assert!(provider.contains(&u32::from(src)), "{w:#}");
    assert_eq!((w["dst"].as_str(), w["dst_port"].as_u64()), (Some(POSTGRES), Some(5432)), "{w:#}");
    assert_eq!(f["accepted_by"]["comment"], "hand-edited: provider to the database", "{f:#}");
}

#[test]
fn the_lab_proves_the_outside_cannot_reach_the_database() {
    if netns::skip_unless_able(&["ip", "nft"]) {
        return;
    }
    let (out, v) = lab_json(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Probed, blocked, and blocked by the firewall the path enters first.
    let probes = provider_to_postgres(&v);
    assert!(!probes.is_empty(), "no probe from the provider to PostgreSQL on 5432");
    for (r, j) in &probes {
        assert_eq!((r["verdict"].as_str(), r["ok"].as_bool()), (Some("blocked"), Some(true)), "{r:#}");
        assert_eq!(j["dropped_by"], "edge-fw", "{j:#}");
        assert_eq!(j["enforced_by"], serde_json::json!(["edge-fw", "core-fw"]), "{j:#}");
    }
    // Both firewalls read back from their kernels and exact; the Windows
    // host's script checked as written, and said so.
    for fw in ["core-fw", "edge-fw"] {
        let c = exact_of(&v, fw);
        assert_eq!((c["source"].as_str(), c["report"]["exact_match"].as_bool()), (Some("kernel"), Some(true)), "{c:#}");
    }
    let tel = exact_of(&v, "acd-tel1");
    assert_eq!((tel["source"].as_str(), tel["report"]["exact_match"].as_bool()), (Some("script"), Some(true)));
    let not_tested: Vec<&str> = v["not_tested"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(not_tested.contains(&"acd-tel1 (windows): rules checked exactly, not loaded in a kernel"), "{not_tested:?}");
    assert_eq!(v["summary"]["rulesets_checked"], v["summary"]["rulesets_exact"]);
}

#[test]
fn a_hole_punched_into_both_firewalls_fails_the_lab_and_is_named() {
    if netns::skip_unless_able(&["ip", "nft"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    compile_into(dir.path());
    punch_hole(dir.path(), "edge-fw");
    punch_hole(dir.path(), "core-fw");
    let (out, v) = lab_json(&["--rules", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // The packet really gets through, and the probe says so.
    let probes = provider_to_postgres(&v);
    assert!(!probes.is_empty());
    for (r, _) in &probes {
        assert_eq!((r["verdict"].as_str(), r["ok"].as_bool()), (Some("pass"), Some(false)), "{r:#}");
    }
    assert_hole_found(&v, "edge-fw");
    assert_hole_found(&v, "core-fw");
    // Nothing else is wrong.
    let wrong: Vec<&str> =
        v["exact"].as_array().unwrap().iter().filter(|c| c["report"]["exact_match"] != true).filter_map(|c| c["node"].as_str()).collect();
    assert_eq!(wrong, ["core-fw", "edge-fw"]);

    // The table names the hole with its witness and the rule.
    let inv = inventory();
    let out = run(&["lab", "-i", inv.to_str().unwrap(), "--rules", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains(&format!("-> {POSTGRES}:5432")), "{t}");
    assert!(t.contains("firewall edge-fw: 0 missing, 1 extra"), "{t}");
    assert!(t.contains("exact check: 11 of 13 rulesets do exactly what the plan says"), "{t}");
}

#[test]
fn a_hole_no_probe_can_see_still_fails_the_lab() {
    if netns::skip_unless_able(&["ip", "nft"]) {
        return;
    }
    // Only edge-fw is holed: core-fw still drops the packet, so every probe
    // passes; the exact check of edge-fw alone fails the lab.
    let dir = tempfile::tempdir().unwrap();
    compile_into(dir.path());
    punch_hole(dir.path(), "edge-fw");
    let (out, v) = lab_json(&["--rules", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(v["results"].as_array().unwrap().iter().all(|r| r["ok"] == true), "a probe failed");
    for (r, j) in provider_to_postgres(&v) {
        assert_eq!((r["verdict"].as_str(), j["dropped_by"].as_str()), (Some("blocked"), Some("core-fw")), "{r:#} {j:#}");
    }
    assert_hole_found(&v, "edge-fw");
    assert_eq!(exact_of(&v, "core-fw")["report"]["exact_match"], true);
}

#[test]
fn plan_reports_a_zone_left_out_of_every_firewall() {
    // The binary's view of the check the plan crate tests
    // (crates/plan/tests/diagnostics/zone-without-firewall.yaml): before any
    // lab, `plan` says which zone no firewall joins.
    let src = std::fs::read_to_string(inventory()).unwrap();
    let cut = src.replace("zones: [dc, db, voice, users, mgmt]", "zones: [dc, db, voice, users]");
    assert_ne!(cut, src, "the fixture's core-fw line moved");
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inventory.yaml");
    std::fs::write(&inv, cut).unwrap();
    let out = run(&["plan", "-i", inv.to_str().unwrap()]);
    let t = String::from_utf8_lossy(&out.stderr);
    assert!(t.contains("zone `mgmt` is on no firewall"), "{t}");
    let clean = run(&["plan", "-i", inventory().to_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&clean.stderr).contains("is on no firewall"));
}
