//! Every inventory and plan diagnostic, exercised: each file under
//! `tests/diagnostics/` is an inventory whose first line names the codes it
//! must produce (`# expect: a, b`); the messages with their locations are
//! kept as snapshots. A last test reads the planner's and the inventory
//! model's sources and fails when a code is emitted there that no file here
//! exercises.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use portmatrix_model::matrix_source::NoMatrices;
use portmatrix_model::Diagnostic;
use portmatrix_plan::{plan, Deployment};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics")
}

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml") && p.file_name().is_some_and(|n| n != "toy.yaml"))
        .collect();
    v.sort();
    v
}

fn expected(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let first = text.lines().next().unwrap_or_default();
    let list = first.strip_prefix("# expect:").unwrap_or_else(|| panic!("{}: first line must be `# expect: CODES`", path.display()));
    list.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect()
}

/// Errors of loading or planning, or the plan's warnings.
fn diagnostics(path: &Path) -> Vec<Diagnostic> {
    match Deployment::load(path, &NoMatrices) {
        Err(d) => d,
        Ok(dep) => match plan(&dep) {
            Err(d) => d,
            Ok(p) => p.warnings,
        },
    }
}

#[test]
fn every_case_reports_what_it_expects() {
    let mut wrong = Vec::new();
    for path in cases() {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let diags = diagnostics(&path);
        let codes: BTreeSet<&str> = diags.iter().map(|d| d.code).collect();
        for want in expected(&path) {
            if !codes.contains(want.as_str()) {
                wrong.push(format!("{name}: expected `{want}`, got {codes:?}"));
            }
        }
        // Every diagnostic points into a file and says how to fix it.
        for d in &diags {
            assert!(!d.file.name.is_empty(), "{name}: {}", d.short());
        }
        let shown: Vec<String> = diags
            .iter()
            .map(|d| {
                let dir = dir().display().to_string();
                let line = d.short().replace(&dir, "tests/diagnostics");
                match &d.help {
                    Some(h) => format!("{line}\n    help: {h}"),
                    None => line,
                }
            })
            .collect();
        insta::assert_snapshot!(name, shown.join("\n"));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Codes passed to `error(`/`warning(` in a source file.
fn codes_in(source: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for pat in ["error(", "warning("] {
        for (i, _) in source.match_indices(pat) {
            let rest = source[i + pat.len()..].trim_start();
            if let Some(r) = rest.strip_prefix('"') {
                if let Some(end) = r.find('"') {
                    let code = &r[..end];
                    if !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
                        out.insert(code.to_string());
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_inventory_and_plan_code_is_exercised() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut sources: Vec<PathBuf> = vec![root.join("model/src/inventory.rs"), root.join("model/src/names.rs")];
    sources.extend(std::fs::read_dir(root.join("plan/src")).unwrap().map(|e| e.unwrap().path()));
    let emitted: BTreeSet<String> = sources.iter().flat_map(|p| codes_in(&std::fs::read_to_string(p).unwrap())).collect();
    assert!(emitted.len() > 20, "the scan finds the codes: {emitted:?}");
    let exercised: BTreeSet<String> = cases().iter().flat_map(|p| expected(p)).collect();
    let missing: Vec<&String> = emitted.difference(&exercised).collect();
    assert!(missing.is_empty(), "codes no test exercises: {missing:?}");
}
