//! `portmatrix diff OLD NEW --nft-delta DIR` end to end: one script per host
//! and firewall whose compiled nftables ruleset changes (checked against
//! `compile --all` of both sides), never written through a planted symlink,
//! refused for matrices. That the scripts turn the old table into the new
//! one is checked in the kernel by `crates/targets/tests/nft_delta.rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn pm() -> Command {
    Command::cargo_bin("portmatrix").unwrap()
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

/// jtel-acd with the BI network changed and the reporting API switched off.
fn edited(dir: &Path) -> PathBuf {
    let yaml = std::fs::read_to_string(example("jtel-acd.yaml")).unwrap();
    let edits = [("10.99.0.0/24", "10.99.0.0/23"), ("reporting-api: true", "reporting-api: false")];
    let mut out = yaml.clone();
    for (from, to) in edits {
        assert!(out.contains(from), "jtel-acd.yaml no longer contains {from:?}; update the edit");
        out = out.replacen(from, to, 1);
    }
    let path = dir.join("jtel-acd.yaml");
    std::fs::write(&path, out).unwrap();
    path
}

/// File names of `dir` with `suffix`, without it.
fn names(dir: &Path, suffix: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str().and_then(|n| n.strip_suffix(suffix)).map(str::to_string))
        .collect()
}

/// The subjects whose compiled `.nft` differs between the two inventories.
fn changed_subjects(old: &Path, new: &Path, work: &Path) -> BTreeSet<String> {
    let (a, b) = (work.join("compiled-old"), work.join("compiled-new"));
    for (inv, dir) in [(old, &a), (new, &b)] {
        pm().args(["compile", "--all", "-t", "nftables", "-d"]).arg(dir).arg("-i").arg(inv).assert().success();
    }
    let mut changed = BTreeSet::new();
    for n in names(&a, ".nft").intersection(&names(&b, ".nft")) {
        let read = |d: &Path| std::fs::read_to_string(d.join(format!("{n}.nft"))).unwrap();
        if read(&a) != read(&b) {
            changed.insert(n.clone());
        }
    }
    changed
}

#[test]
fn one_delta_per_changed_nftables_ruleset() {
    let work = tempfile::tempdir().unwrap();
    let new = edited(work.path());
    let out_dir = work.path().join("deltas");
    // A symlink planted where a delta goes must be replaced, not written through.
    std::fs::create_dir(&out_dir).unwrap();
    let victim = work.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    std::os::unix::fs::symlink(&victim, out_dir.join("core-fw.delta.nft")).unwrap();

    let out = pm().arg("diff").arg(example("jtel-acd.yaml")).arg(&new).arg("--nft-delta").arg(&out_dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "the deployments differ: {}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);

    let written = names(&out_dir, ".delta.nft");
    let expected = changed_subjects(&example("jtel-acd.yaml"), &new, work.path());
    assert!(!expected.is_empty(), "the edit must change some ruleset");
    assert_eq!(written, expected, "one delta per changed ruleset, none for the others");
    assert!(stderr.contains(&format!("wrote {} nftables delta script(s)", written.len())), "{stderr}");
    for n in &written {
        let script = std::fs::read_to_string(out_dir.join(format!("{n}.delta.nft"))).unwrap();
        assert!(script.starts_with("#!/usr/sbin/nft -f\n"), "{n}: {script}");
        assert!(script.contains(": inventory `jtel-acd-redundant` to inventory `jtel-acd-redundant`"), "{n}: {script}");
        // Every command line is preceded by the comment that says why.
        let lines: Vec<&str> = script.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if ["flush ", "delete ", "add element "].iter().any(|c| l.starts_with(c)) {
                assert!(i > 0 && lines[i - 1].starts_with("# "), "{n}: `{l}` has no reason line");
            }
        }
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me", "the planted symlink was written through");
    assert!(written.contains("core-fw"), "the admin network crosses the firewall: {written:?}");
    assert!(!std::fs::symlink_metadata(out_dir.join("core-fw.delta.nft")).unwrap().file_type().is_symlink());
}

#[test]
fn nothing_changed_writes_nothing_and_matrices_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let out_dir = work.path().join("deltas");
    pm().arg("diff").arg(example("mixed.yaml")).arg(example("mixed.yaml")).arg("--nft-delta").arg(&out_dir).assert().code(0);
    assert!(names(&out_dir, ".delta.nft").is_empty());
    let out = pm().args(["diff", "jtel-acd@previous", "jtel-acd", "--nft-delta"]).arg(&out_dir).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--nft-delta compares two deployments"));
}
