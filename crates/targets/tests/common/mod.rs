//! Shared by the target tests: plan every example inventory and compile it.

use std::path::{Path, PathBuf};

use portmatrix_plan::{plan, Deployment, Plan};
use portmatrix_targets::{compile_firewall, compile_host, OutputFile, Target};

pub fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "yaml")).collect();
    v.sort();
    v
}

pub fn plan_of(path: &Path) -> Plan {
    let dep =
        Deployment::load(path).unwrap_or_else(|d| panic!("{}: {:?}", path.display(), d.iter().map(|d| d.short()).collect::<Vec<_>>()));
    plan(&dep).unwrap_or_else(|d| panic!("{}: {:?}", path.display(), d.iter().map(|d| d.short()).collect::<Vec<_>>()))
}

/// Every file `compile --all` makes for this plan and target.
pub fn compile_all(p: &Plan, target: Target) -> Vec<OutputFile> {
    let mut out = Vec::new();
    for h in p.hosts.iter().filter(|h| h.managed) {
        out.extend(compile_host(p, &h.name, target).unwrap().0);
    }
    if target != Target::Windows {
        for f in &p.firewalls {
            out.extend(compile_firewall(p, &f.name, target).unwrap().0);
        }
    }
    out
}
