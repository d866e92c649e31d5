//! The architecture as ARCHITECTURE.md states it, checked: the dependency
//! direction between the workspace's crates (from `cargo metadata`), and no
//! function over 100 lines outside the parsers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Edges that must never exist: (crate, crates it must not depend on).
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "portmatrix-model",
        &[
            "portmatrix-plan",
            "portmatrix-targets",
            "portmatrix-verify",
            "portmatrix-report",
            "portmatrix-web",
            "portmatrix-catalog",
            "portmatrix-proof",
            "portmatrix-audit",
            "portmatrix-apply",
        ],
    ),
    (
        "portmatrix-plan",
        &[
            "portmatrix-targets",
            "portmatrix-verify",
            "portmatrix-report",
            "portmatrix-web",
            "portmatrix-catalog",
            "portmatrix-proof",
            "portmatrix-audit",
            "portmatrix-apply",
        ],
    ),
    ("portmatrix-targets", &["portmatrix-verify", "portmatrix-report", "portmatrix-web", "portmatrix-catalog", "portmatrix-audit"]),
    ("portmatrix-report", &["portmatrix-verify", "portmatrix-web", "portmatrix-audit", "portmatrix-apply"]),
    ("portmatrix-import", &["portmatrix-plan", "portmatrix-targets", "portmatrix-verify", "portmatrix-report", "portmatrix-web"]),
    ("portmatrix-verify", &["portmatrix-report", "portmatrix-web", "portmatrix-audit"]),
    ("portmatrix-apply", &["portmatrix-report", "portmatrix-web", "portmatrix-audit", "portmatrix-catalog", "portmatrix-import"]),
    // the web UI shows audits; an audit never needs the UI, a prober or a live ruleset
    ("portmatrix-audit", &["portmatrix-web", "portmatrix-verify", "portmatrix-apply"]),
];

/// Normal (non-dev) dependencies between workspace crates, transitively.
fn workspace_deps() -> BTreeMap<String, BTreeSet<String>> {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut direct: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let packages = meta["packages"].as_array().unwrap();
    let names: BTreeSet<String> = packages.iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
    for p in packages {
        let deps = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().unwrap().to_string())
            .filter(|d| names.contains(d))
            .collect();
        direct.insert(p["name"].as_str().unwrap().to_string(), deps);
    }
    closure(&direct)
}

fn closure(direct: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let mut all = BTreeMap::new();
    for k in direct.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = direct[k].iter().collect();
        while let Some(d) = stack.pop() {
            if seen.insert(d.clone()) {
                stack.extend(direct.get(d).into_iter().flatten());
            }
        }
        all.insert(k.clone(), seen);
    }
    all
}

/// Forbidden edges present in `deps`.
fn violations(deps: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for (from, never) in FORBIDDEN {
        for to in *never {
            if deps.get(*from).is_some_and(|d| d.contains(*to)) {
                out.push(format!("{from} depends on {to}"));
            }
        }
    }
    out
}

#[test]
fn dependencies_point_one_way() {
    let deps = workspace_deps();
    assert!(deps.contains_key("portmatrix-model") && deps.contains_key("portmatrix-plan"), "{deps:?}");
    let v = violations(&deps);
    assert!(v.is_empty(), "forbidden dependencies: {v:?}");
}

#[test]
fn the_check_catches_a_forbidden_edge() {
    let mut deps = workspace_deps();
    // As if someone made the plan use the targets crate (directly or through another).
    deps.get_mut("portmatrix-catalog").unwrap().insert("portmatrix-targets".into());
    deps.get_mut("portmatrix-plan").unwrap().insert("portmatrix-catalog".into());
    let direct = deps.clone();
    let v = violations(&closure(&direct));
    assert!(v.iter().any(|e| e == "portmatrix-plan depends on portmatrix-targets"), "{v:?}");
}

/// Functions longer than 100 lines in a rustfmt-formatted source: a `fn`
/// line and the `}` at its indentation.
fn long_functions(source: &str) -> Vec<(usize, usize, String)> {
    let lines: Vec<&str> = source.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        let is_fn = ["fn ", "pub fn ", "pub(crate) fn ", "async fn ", "pub async fn "].iter().any(|p| t.starts_with(p));
        if !is_fn || t.ends_with(';') {
            continue;
        }
        let indent = l.len() - t.len();
        let close = " ".repeat(indent) + "}";
        if let Some(len) = lines[i + 1..].iter().position(|x| *x == close) {
            if len + 1 > 100 {
                let name = t.split(['(', '<']).next().unwrap_or(t).to_string();
                out.push((i + 1, len + 2, name));
            }
        }
    }
    out
}

/// Parsers may be long (a grammar reads best in one place).
const PARSER_FILES: &[&str] = &[
    "crates/import/src/",
    "crates/model/src/yaml.rs",
    "crates/model/src/cond.rs",
    "crates/model/src/ports.rs",
    "crates/targets/src/read/",
    "crates/audit/src/formats/",
];

#[test]
fn no_function_over_100_lines_outside_parsers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut long = Vec::new();
    let mut stack = vec![root.join("crates")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("target") {
                    stack.push(p);
                }
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") || p.components().any(|c| c.as_os_str() == "tests") {
                continue;
            }
            let rel = p.strip_prefix(&root).unwrap().to_string_lossy().to_string();
            if PARSER_FILES.iter().any(|f| rel.starts_with(f)) {
                continue;
            }
            for (line, len, name) in long_functions(&std::fs::read_to_string(&p).unwrap()) {
                long.push(format!("{rel}:{line}: {name} ({len} lines)"));
            }
        }
    }
    assert!(long.is_empty(), "functions over 100 lines:\n{}", long.join("\n"));
}

#[test]
fn the_length_check_measures_functions() {
    let body: String = (0..120).map(|i| format!("    let x{i} = {i};\n")).collect();
    let src = format!("fn short() {{\n}}\n\npub fn long() {{\n{body}}}\n");
    let found = long_functions(&src);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].2, "pub fn long");
}
