//! Shared by the target tests: plan every example inventory and compile it.

use std::path::{Path, PathBuf};

use portmatrix_plan::{plan, Deployment, Plan};
use portmatrix_targets::compile::{compile_job, jobs_for_all};
use portmatrix_targets::{OutputFile, RenderOptions, Target};

pub fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "yaml")).collect();
    v.sort();
    v
}

pub fn plan_of(path: &Path) -> Plan {
    let dep = Deployment::load(path, &portmatrix_catalog::Catalog)
        .unwrap_or_else(|d| panic!("{}: {:?}", path.display(), d.iter().map(|d| d.short()).collect::<Vec<_>>()));
    plan(&dep).unwrap_or_else(|d| panic!("{}: {:?}", path.display(), d.iter().map(|d| d.short()).collect::<Vec<_>>()))
}

/// Every file `compile --all` makes for this plan and target: the hosts the
/// target fits, and the firewalls when it writes forward rules.
pub fn compile_all(p: &Plan, target: Target) -> Vec<OutputFile> {
    let (jobs, _skipped) = jobs_for_all(p, target);
    jobs.iter().flat_map(|j| compile_job(p, j, target, &RenderOptions::default()).unwrap().files).collect()
}
