//! `portmatrix diff` end to end: the jtel ACD revision change, a
//! decommission of one product from the mixed example, an upgrade, and an
//! inventory against its own git history.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn pm() -> Command {
    Command::cargo_bin("portmatrix").unwrap()
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

#[test]
fn the_jtel_acd_revision_change() {
    let out = pm().args(["diff", "jtel-acd@previous", "jtel-acd", "--format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "they differ");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["old"], "jtel-acd@previous");
    // Every change carries the cites of both versions.
    for c in v["changed"].as_array().unwrap() {
        assert!(c["old_cite"].as_str().is_some_and(|s| !s.is_empty()) && c["new_cite"].as_str().is_some_and(|s| !s.is_empty()), "{c}");
    }
    let md = pm().args(["diff", "jtel-acd@previous", "jtel-acd", "--format", "md"]).output().unwrap();
    insta::assert_snapshot!("jtel_acd_revision", String::from_utf8_lossy(&md.stdout));
    // A matrix against itself: nothing, exit 0.
    pm().args(["diff", "jtel-acd", "jtel-acd"]).assert().code(0);
}

/// The mixed example without product `rem`: its roles, bindings and the
/// hosts that carried only its roles removed.
fn without_rem(dir: &Path) -> PathBuf {
    let mut inv = portmatrix_model::inventory_from_path(&example("mixed.yaml")).unwrap();
    inv.products.shift_remove("rem");
    for h in inv.hosts.values_mut() {
        h.roles.retain(|r| r.value.product.value != "rem");
    }
    inv.hosts.retain(|_, h| !h.roles.is_empty());
    inv.bind.retain(|k, _| k.value.product.value != "rem");
    let path = dir.join("mixed-without-rem.yaml");
    std::fs::write(&path, serde_saphyr::to_string(&inv).unwrap()).unwrap();
    path
}

#[test]
fn decommissioning_a_product_is_its_removal_request() {
    let dir = tempfile::tempdir().unwrap();
    let new = without_rem(dir.path());
    let out = pm().arg("diff").arg(example("mixed.yaml")).arg(&new).args(["--format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["opened"].as_array().unwrap().is_empty(), "a decommission opens nothing");
    let closed = v["closed"].as_array().unwrap();
    assert!(!closed.is_empty());
    for r in closed {
        let flow = r["flow"].as_str().unwrap();
        assert!(flow.starts_with("rem/") || flow.starts_with("inventory/admin"), "{r}");
        assert!(r["cite"].is_string() && r["enforced_by"].is_string());
    }
    assert!(v["hosts_removed"].as_array().unwrap().iter().any(|h| h == "rem1"));
    let csv = pm().arg("diff").arg(example("mixed.yaml")).arg(&new).args(["--format", "csv"]).output().unwrap();
    let text = String::from_utf8_lossy(&csv.stdout);
    assert!(text.starts_with("action,source,source addresses,source zone,destination,destination addresses"), "{text}");
    assert!(text.lines().skip(1).all(|l| l.starts_with("close,")), "{text}");
    // The Markdown removal request, cover sheet included, is golden.
    let md = pm()
        .arg("diff")
        .arg(example("mixed.yaml"))
        .arg(&new)
        .args(["--format", "md"])
        .env("SOURCE_DATE_EPOCH", "1714521600")
        .output()
        .unwrap();
    assert_eq!(md.status.code(), Some(1));
    let text = String::from_utf8_lossy(&md.stdout).replace(&dir.path().display().to_string(), "$TMP");
    insta::assert_snapshot!("mixed_without_rem", text);
}

#[test]
fn a_host_removed_is_a_set_change_once_not_a_rule_change_per_ruleset() {
    // acd-lb2 leaves: the sets that held it lose its addresses, in every
    // ruleset that matches on them; only its own ruleset loses rules.
    let dir = tempfile::tempdir().unwrap();
    let mut inv = portmatrix_model::inventory_from_path(&example("jtel-acd.yaml")).unwrap();
    inv.hosts.retain(|name, _| name.value.as_str() != "acd-lb2");
    let new = dir.path().join("without-lb2.yaml");
    std::fs::write(&new, serde_saphyr::to_string(&inv).unwrap()).unwrap();
    let out = pm().arg("diff").arg(example("jtel-acd.yaml")).arg(&new).args(["--format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sets = v["sets"].as_array().unwrap();
    for gone in ["10.10.0.12/32", "2001:db8:10::12/128"] {
        let holding: Vec<&serde_json::Value> = sets.iter().filter(|s| s["removed"].as_array().unwrap().iter().any(|a| a == gone)).collect();
        assert!(!holding.is_empty(), "no set loses {gone}: {sets:?}");
        for s in holding {
            let rulesets = s["rulesets"].as_array().unwrap();
            assert!(!rulesets.is_empty() && s["rules"].as_u64().unwrap() >= rulesets.len() as u64, "{s}");
            assert!(!rulesets.iter().any(|r| r == "acd-lb2"), "the removed host keeps no set: {s}");
        }
    }
    let rules = v["rules"].as_array().unwrap();
    let lb2 = rules.iter().find(|r| r["subject"] == "acd-lb2").expect("acd-lb2 loses its rules");
    assert!(lb2["added"].as_array().unwrap().is_empty() && !lb2["removed"].as_array().unwrap().is_empty(), "{lb2}");
    // Every rule left in the list names its source set.
    for r in rules {
        for s in r["added"].as_array().unwrap().iter().chain(r["removed"].as_array().unwrap()) {
            assert!(s["set"].as_str().is_some_and(|n| !n.is_empty()), "{s}");
        }
    }
    let md = pm().arg("diff").arg(example("jtel-acd.yaml")).arg(&new).args(["--format", "md"]).output().unwrap();
    let text = String::from_utf8_lossy(&md.stdout);
    assert!(text.contains("## Address set changes") && text.contains("10.10.0.12/32"), "{text}");
}

#[test]
fn an_upgrade_of_one_product() {
    let out = pm().args(["diff", "-i"]).arg(example("jtel-acd.yaml")).args(["--upgrade", "acd=jtel-acd"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "the same version: nothing changes\n{}", String::from_utf8_lossy(&out.stderr));
    let out = pm().args(["diff", "-i"]).arg(example("jtel-acd.yaml")).args(["--upgrade", "nosuch=jtel-acd"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // The previous version lacks features the example turns on: the error must
    // name the version the user asked for, not only the product id.
    let out = pm().args(["diff", "-i"]).arg(example("jtel-acd.yaml")).args(["--upgrade", "acd=jtel-acd@previous"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("matrix `jtel-acd@previous` has no feature"), "{err}");
}

#[test]
fn an_inventory_against_its_git_history() {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git").arg("-C").arg(dir.path()).args(args).output().unwrap();
        assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    };
    git(&["init", "-q"]);
    git(&["config", "user.email", "t@example.invalid"]);
    git(&["config", "user.name", "t"]);
    let inv = dir.path().join("site.yaml");
    std::fs::copy(example("mixed.yaml"), &inv).unwrap();
    git(&["add", "site.yaml"]);
    git(&["commit", "-q", "-m", "before"]);
    std::fs::copy(without_rem(dir.path()), &inv).unwrap();
    let out = pm().args(["diff", "-i"]).arg(&inv).args(["--since", "HEAD", "--format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!v["closed"].as_array().unwrap().is_empty() && v["opened"].as_array().unwrap().is_empty());
    pm().args(["diff", "-i"]).arg(&inv).args(["--since", "no-such-rev"]).assert().code(2);
}
