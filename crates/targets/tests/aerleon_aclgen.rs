//! Aerleon's own `aclgen` turns the export of every example into a
//! configuration for every platform the export can name.
//!
//! `aclgen` comes from PyPI: `scripts/test.sh` installs it into a virtual
//! environment and sets `PORTMATRIX_ACLGEN`; without it the test says so
//! and passes, except under CI.

#[allow(dead_code)] // compile_all is for the other tests
mod common;

use std::path::PathBuf;
use std::process::Command;

use portmatrix_targets::aerleon::{AerleonPlatform, AerleonPlatforms};
use portmatrix_targets::compile::{jobs_for_all, Shared};
use portmatrix_targets::{RenderOptions, Target};

fn aclgen() -> Option<PathBuf> {
    let found = std::env::var_os("PORTMATRIX_ACLGEN").map(PathBuf::from).filter(|p| p.exists()).or_else(|| {
        let out = Command::new("sh").args(["-c", "command -v aclgen"]).output().ok()?;
        out.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    });
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must run aclgen: set PORTMATRIX_ACLGEN (scripts/test.sh does)");
        eprintln!("skipping: aclgen not installed (pip install aerleon; PORTMATRIX_ACLGEN=path/to/aclgen)");
    }
    found
}

/// Runs aclgen on one example's export with `platform` for every network
/// firewall; returns the policy files and the files aclgen wrote.
fn generate(aclgen: &PathBuf, ex: &std::path::Path, platform: AerleonPlatform) -> Result<(Vec<String>, Vec<String>), String> {
    let p = common::plan_of(ex);
    let opts = RenderOptions { aerleon: AerleonPlatforms { default: Some(platform), ..Default::default() }, ..Default::default() };
    let shared = Shared::new(&p);
    let (jobs, _) = jobs_for_all(&p, Target::Aerleon);
    let dir = tempfile::tempdir().unwrap();
    let mut policies = Vec::new();
    let mut has_icmp = false;
    for job in jobs.iter().filter(|j| j.kind == portmatrix_targets::JobKind::Firewall) {
        for f in shared.compile_job(job, Target::Aerleon, &opts).unwrap().files {
            let path = dir.path().join(&f.name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &f.contents).unwrap();
            if f.name.ends_with(".pol") {
                policies.push(job.name.clone());
                has_icmp |= f.contents.contains("icmp-type::");
            }
        }
    }
    let out_dir = dir.path().join("out");
    let run = Command::new(aclgen)
        .arg("--base_directory")
        .arg(dir.path().join("aerleon/policies"))
        .arg("--definitions_directory")
        .arg(dir.path().join("aerleon/def"))
        .arg("--output_directory")
        .arg(&out_dir)
        .args(["--max_renderers", "1"])
        .output()
        .unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    if !run.status.success() {
        // Aerleon 1.18's FortiGate generator sorts ICMP and TCP/UDP service
        // objects together and fails (TypeError) on any policy with both.
        let known = platform == AerleonPlatform::Fortigate && has_icmp && log.contains("FortigateIcmpService");
        assert!(known, "{} {}: aclgen failed:\n{log}", ex.display(), platform.generator());
        return Err(format!("{} {}: Aerleon's FortiGate generator fails on ICMP terms", ex.display(), platform.generator()));
    }
    let mut written: Vec<String> = walk(&out_dir);
    written.sort();
    Ok((policies, written))
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if std::fs::metadata(&p).map(|m| m.len() > 0).unwrap_or(false) {
            out.push(p.file_name().unwrap().to_string_lossy().to_string());
        }
    }
    out
}

/// Every network firewall of every example becomes a non-empty
/// configuration for every platform.
#[test]
fn aclgen_renders_every_firewall_for_every_platform() {
    let Some(aclgen) = aclgen() else { return };
    let mut rendered = 0;
    let mut known_failures = Vec::new();
    for platform in AerleonPlatform::ALL {
        for ex in common::examples() {
            let (policies, written) = match generate(&aclgen, &ex, platform) {
                Ok(x) => x,
                Err(why) => {
                    known_failures.push(why);
                    continue;
                }
            };
            for fw in &policies {
                assert!(
                    written.iter().any(|w| w.starts_with(&format!("{fw}."))),
                    "{} {}: no output for {fw}: {written:?}",
                    ex.display(),
                    platform.generator()
                );
                rendered += 1;
            }
        }
    }
    eprintln!("known Aerleon failures: {known_failures:#?}");
    assert!(known_failures.len() < common::examples().len(), "FortiGate renders no example at all");
    assert!(rendered >= 7 * (AerleonPlatform::ALL.len() - 1), "{rendered}");
}
