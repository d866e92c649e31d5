//! Shared by the proof tests: the example inventories, their plans, and
//! every ruleset portmatrix compiles for them, read back.

#![allow(dead_code)]

pub mod mutate;
pub mod oracle;

use std::path::{Path, PathBuf};

use portmatrix_plan::{plan, Deployment, Plan};
use portmatrix_targets::compile::{compile_job, jobs_for_all};
use portmatrix_targets::{Job, JobKind, OutputFile, RenderOptions, Subject, Target};

pub fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "yaml")).collect();
    v.sort();
    v
}

pub fn name(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

pub fn plan_of(path: &Path) -> Plan {
    let dep = Deployment::load(path, &portmatrix_catalog::Catalog)
        .unwrap_or_else(|d| panic!("{}: {:?}", path.display(), d.iter().map(|d| d.short()).collect::<Vec<_>>()));
    plan(&dep).unwrap_or_else(|d| panic!("{}: {:?}", path.display(), d.iter().map(|d| d.short()).collect::<Vec<_>>()))
}

pub fn subject(job: &Job) -> Subject {
    match job.kind {
        JobKind::Host => Subject::Host(job.name.clone()),
        JobKind::Firewall => Subject::Firewall(job.name.clone()),
    }
}

/// Every job `compile --all` makes for this target, with its files.
pub fn compiled(p: &Plan, target: Target) -> Vec<(Job, Vec<OutputFile>)> {
    let (jobs, _skipped) = jobs_for_all(p, target);
    jobs.into_iter()
        .map(|j| {
            let files = compile_job(p, &j, target, &RenderOptions::default()).unwrap().files;
            (j, files)
        })
        .collect()
}

pub fn file<'a>(files: &'a [OutputFile], suffix: &str) -> &'a str {
    &files.iter().find(|f| f.name.ends_with(suffix)).unwrap_or_else(|| panic!("no {suffix} file")).contents
}

/// Whether the nft and iptables tools can be used here (root, installed).
pub fn kernel_tools() -> bool {
    let ok = |cmd: &str, args: &[&str]| std::process::Command::new(cmd).args(args).output().is_ok_and(|o| o.status.success());
    let root = std::process::Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let have = root && ok("unshare", &["--net", "true"]) && ok("nft", &["--version"]) && ok("iptables-restore", &["--version"]);
    if !have && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but root, unshare, nft or iptables-restore is not available");
    }
    have
}

/// Loads files into a fresh network namespace (made by `unshare --net`,
/// gone when the command ends) and prints the ruleset back.
pub fn through_kernel(script: &str, files: &[(&str, &str)]) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    let out = std::process::Command::new("unshare")
        .args(["--net", "sh", "-ec", script])
        .current_dir(dir.path())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8(out.stdout).unwrap())
}

/// The `.ipset` restore file among a target's files, if it wrote one.
pub fn ipset_of(files: &[OutputFile]) -> Option<&str> {
    files.iter().find(|f| f.name.ends_with(".ipset")).map(|f| f.contents.as_str())
}
