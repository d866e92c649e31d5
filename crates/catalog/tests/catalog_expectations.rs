//! Each catalog matrix against hand-checked expectations
//! (`tests/expect/*.yaml`, format in the README there), and the catalog-wide
//! rules: every matrix loads, `check` finds nothing that fails, every flow
//! cites the line of the document it comes from.
//!
//! The expectation files are read with the model's own YAML tree, so no YAML
//! crate is needed here.

use std::path::{Path, PathBuf};

use portmatrix_model::diag::Diagnostics;
use portmatrix_model::lint::lint_matrix;
use portmatrix_model::yaml::{self, Node, NodeKind};
use portmatrix_model::{Cond, Flow, Matrix, PortSet, Severity, SourceFile, Span};

// ---- reading the expectation files -----------------------------------------

fn expect_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expect");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/expect exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn read_tree(path: &Path) -> Node<'static> {
    let text = std::fs::read_to_string(path).expect("readable");
    let file = SourceFile::new(path.display().to_string(), text);
    let mut diags = Diagnostics::default();
    let root = yaml::parse(&file, &mut diags);
    let errors: Vec<String> = diags.items.iter().map(|d| d.short()).collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    root.unwrap_or_else(|| panic!("{}: empty", path.display())).into_owned()
}

fn get<'n>(n: &'n Node<'n>, key: &str) -> Option<&'n Node<'n>> {
    match &n.kind {
        NodeKind::Map(entries) => entries.iter().find(|(k, _)| k.as_scalar().map(|s| s.0) == Some(key)).map(|(_, v)| v),
        _ => None,
    }
}

fn keys<'n>(n: &'n Node<'n>) -> Vec<&'n str> {
    match &n.kind {
        NodeKind::Map(entries) => entries.iter().filter_map(|(k, _)| k.as_scalar().map(|s| s.0)).collect(),
        _ => Vec::new(),
    }
}

fn text<'n>(n: &'n Node<'_>, what: &str) -> &'n str {
    n.as_scalar().map(|s| s.0).unwrap_or_else(|| panic!("{what}: expected a scalar, found {}", n.describe()))
}

/// A name or a list of names, as written.
fn names(n: &Node, what: &str) -> Vec<String> {
    match &n.kind {
        NodeKind::Seq(items) => items.iter().map(|i| text(i, what).to_string()).collect(),
        _ => vec![text(n, what).to_string()],
    }
}

// ---- comparing ------------------------------------------------------------

fn load(spec: &str) -> Matrix {
    match portmatrix_catalog::get(spec) {
        None => panic!("no catalog matrix `{spec}`"),
        Some(Err(d)) => panic!("{spec} does not load:\n{}", d.iter().map(|d| d.short()).collect::<Vec<_>>().join("\n")),
        Some(Ok(m)) => m,
    }
}

fn ports_at_defaults(m: &Matrix, f: &Flow, expr: &portmatrix_model::Spanned<portmatrix_model::PortExpr>) -> PortSet {
    expr.resolve(&|n| m.param_default(n))
        .unwrap_or_else(|e| panic!("{}: ports `{}` do not resolve with defaults: {e:?}", f.id.value, expr.value))
}

fn expected_ports(s: &str, what: &str) -> PortSet {
    PortSet::parse(s).unwrap_or_else(|e| panic!("{what}: expected ports `{s}` do not parse: {e}"))
}

fn cond_text(s: &str, what: &str) -> String {
    Cond::parse(s, 0).unwrap_or_else(|e| panic!("{what}: condition `{s}` does not parse: {e:?}")).to_string()
}

/// The line numbers a cite names: `(L212)`, `(L123-L142)`, `(L12-18)`, several.
fn cited_lines(cite: &str) -> Vec<(u32, u32)> {
    let b = cite.as_bytes();
    let mut out = Vec::new();
    let number = |i: &mut usize| -> Option<u32> {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        cite[start..*i].parse().ok()
    };
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if b[i] == b'L' && boundary && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            let Some(lo) = number(&mut i) else { continue };
            let mut hi = lo;
            if b.get(i) == Some(&b'-') {
                let mut j = i + 1;
                if b.get(j) == Some(&b'L') {
                    j += 1;
                }
                if let Some(h) = number(&mut j) {
                    hi = h;
                    i = j;
                }
            }
            out.push((lo, hi.max(lo)));
        } else {
            i += 1;
        }
    }
    out
}

/// Checks one expectation file; returns its problems.
fn check_file(path: &Path) -> Vec<String> {
    let name = path.file_name().and_then(|n| n.to_str()).expect("name").to_string();
    let root = read_tree(path);
    let mut problems = Vec::new();
    let mut fail = |msg: String| problems.push(format!("{name}: {msg}"));

    for k in keys(&root) {
        if !["matrix", "version", "flow_count", "features", "checks"].contains(&k) {
            fail(format!("unknown key `{k}` in the expectation file"));
        }
    }
    let id = text(get(&root, "matrix").expect("matrix:"), "matrix");
    let version = get(&root, "version").map(|v| text(v, "version"));
    let spec = match version {
        Some(v) => format!("{id}@{v}"),
        None => id.to_string(),
    };
    let m = load(&spec);
    if m.matrix.value != id {
        fail(format!("loaded matrix `{}`, expected `{id}`", m.matrix.value));
    }
    if let Some(v) = version {
        if m.version.value != v {
            fail(format!("loaded version `{}`, expected `{v}`", m.version.value));
        }
    }
    // The file name names the matrix (and its version, for older ones).
    let stem = name.trim_end_matches(".yaml");
    if stem != id && !stem.starts_with(&format!("{id}@")) {
        fail(format!("file name does not match matrix `{id}`"));
    }

    let count: usize = text(get(&root, "flow_count").expect("flow_count:"), "flow_count").parse().expect("flow_count is a number");
    if m.flows.len() != count {
        fail(format!("flow_count: the matrix has {} flows, expected {count}", m.flows.len()));
    }

    if let Some(features) = get(&root, "features") {
        for p in check_features(&spec, &m, features) {
            fail(p);
        }
    }

    let Some(NodeKind::Seq(checks)) = get(&root, "checks").map(|n| &n.kind) else {
        fail("`checks` is not a list".into());
        return problems;
    };
    assert!(!checks.is_empty(), "{name}: no checks");
    let mut seen_ids: Vec<&str> = Vec::new();
    for c in checks {
        let fid = text(get(c, "id").expect("check without id"), "id");
        if seen_ids.contains(&fid) {
            fail(format!("flow `{fid}` is checked twice"));
        }
        seen_ids.push(fid);
        let what = format!("{spec}/{fid}");
        for k in keys(c) {
            if !["id", "from", "to", "proto", "ports", "src_ports", "when", "seed_line"].contains(&k) {
                fail(format!("{what}: unknown key `{k}` in a check"));
            }
        }
        let Some(f) = m.flow(fid) else {
            fail(format!("{what}: no such flow in the matrix"));
            continue;
        };

        for (key, actual) in [("from", &f.from), ("to", &f.to)] {
            let want = names(get(c, key).unwrap_or_else(|| panic!("{what}: no `{key}`")), key);
            let got: Vec<String> = actual.iter().map(|n| n.value.clone()).collect();
            if got != want {
                fail(format!("{what}: {key} is {got:?}, expected {want:?}"));
            }
        }

        let want_proto = names(get(c, "proto").unwrap_or_else(|| panic!("{what}: no `proto`")), "proto");
        let got_proto: Vec<String> = f.protos().map(|p| p.as_str().to_string()).collect();
        if got_proto != want_proto {
            fail(format!("{what}: proto is {got_proto:?}, expected {want_proto:?}"));
        }

        // Port sets with every parameter at its default, compared as sets.
        match (get(c, "ports"), &f.ports) {
            (Some(w), Some(expr)) => {
                let want = expected_ports(text(w, "ports"), &what);
                let got = ports_at_defaults(&m, f, expr);
                if got != want {
                    fail(format!("{what}: ports are {got} (written `{}`), expected {want}", expr.value));
                }
            }
            (Some(w), None) => fail(format!("{what}: the flow has no ports, expected {}", text(w, "ports"))),
            (None, Some(expr)) => fail(format!("{what}: the flow has ports `{}`, the expectation none", expr.value)),
            (None, None) => {}
        }
        match (get(c, "src_ports"), &f.src_ports) {
            (Some(w), Some(expr)) => {
                let want = expected_ports(text(w, "src_ports"), &what);
                let got = ports_at_defaults(&m, f, expr);
                if got != want {
                    fail(format!("{what}: src_ports are {got} (written `{}`), expected {want}", expr.value));
                }
            }
            (Some(w), None) => fail(format!("{what}: the flow has no src_ports, expected {}", text(w, "src_ports"))),
            (None, Some(expr)) => fail(format!("{what}: the flow has src_ports `{}`, the expectation none", expr.value)),
            (None, None) => {}
        }

        match (get(c, "when"), &f.when) {
            (Some(w), Some(cond)) => {
                let want = cond_text(text(w, "when"), &what);
                let got = cond_text(&cond.value.to_string(), &what);
                if got != want {
                    fail(format!("{what}: when is `{got}`, expected `{want}`"));
                }
            }
            (Some(w), None) => fail(format!("{what}: the flow is unconditional, expected when `{}`", text(w, "when"))),
            (None, Some(cond)) => fail(format!("{what}: the flow has when `{}`, the expectation none", cond.value)),
            (None, None) => {}
        }

        // The cite names the seed line the expectation was checked against.
        if let Some(line) = get(c, "seed_line") {
            let line: u32 = text(line, "seed_line").parse().unwrap_or_else(|_| panic!("{what}: seed_line is not a number"));
            let cited = cited_lines(&f.cite);
            if !cited.iter().any(|&(lo, hi)| (lo..=hi).contains(&line)) {
                fail(format!("{what}: cite `{}` does not name seed line {line}", f.cite));
            }
        } else {
            fail(format!("{what}: no seed_line"));
        }
    }
    problems
}

/// The optional `features:` map: each named feature's default and its
/// exclusive group (`none` when it must have none).
fn check_features(spec: &str, m: &Matrix, features: &Node) -> Vec<String> {
    let mut problems = Vec::new();
    let NodeKind::Map(entries) = &features.kind else {
        return vec!["`features` is not a map".into()];
    };
    for (k, want) in entries {
        let fname = text(k, "feature name");
        let what = format!("{spec} feature {fname}");
        let Some(f) = m.features.get(fname) else {
            problems.push(format!("{what}: no such feature in the matrix"));
            continue;
        };
        for key in keys(want) {
            if !["default", "exclusive"].contains(&key) {
                problems.push(format!("{what}: unknown key `{key}`"));
            }
        }
        if let Some(d) = get(want, "default") {
            let d = text(d, "default");
            if d != f.default.to_string() {
                problems.push(format!("{what}: default is {}, expected {d}", f.default));
            }
        }
        if let Some(x) = get(want, "exclusive") {
            let x = text(x, "exclusive");
            let got = f.exclusive.as_deref().unwrap_or("none");
            if x != got {
                problems.push(format!("{what}: exclusive is `{got}`, expected `{x}`"));
            }
        }
    }
    problems
}

#[test]
fn catalog_matches_expectations() {
    let files = expect_files();
    assert!(!files.is_empty());
    let problems: Vec<String> = files.iter().flat_map(|f| check_file(f)).collect();
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn every_catalog_file_has_expectations() {
    let expected: Vec<String> = expect_files().iter().map(|p| p.file_stem().and_then(|s| s.to_str()).expect("name").to_string()).collect();
    for e in portmatrix_catalog::entries() {
        let stem = e.path.trim_start_matches("catalog/").trim_end_matches(".yaml");
        assert!(expected.iter().any(|x| x == stem), "catalog file {} has no tests/expect/{stem}.yaml", e.path);
    }
    let ids = portmatrix_catalog::ids();
    assert!(ids.len() >= 5, "catalog ids: {ids:?}");
    for id in ["jtel-acd", "jtel-stack", "moderro-rem", "imagicle-ucsuite", "avaya-pom"] {
        assert!(ids.iter().any(|i| i == id), "{id} is not in the catalog: {ids:?}");
    }
}

fn all_matrices() -> Vec<Matrix> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for e in portmatrix_catalog::entries() {
        match e.load() {
            Ok(m) => out.push(m),
            Err(d) => errors.extend(d.iter().map(|d| d.short())),
        }
    }
    assert!(errors.is_empty(), "catalog files do not load:\n{}", errors.join("\n"));
    out
}

#[test]
fn every_catalog_matrix_loads() {
    let ms = all_matrices();
    assert_eq!(ms.len(), portmatrix_catalog::entries().count());
    assert!(portmatrix_catalog::all().is_ok());
    for m in &ms {
        assert!(!m.flows.is_empty(), "{} has no flows", m.key());
        // The file name names the matrix.
        let path = m.file.as_ref().map(|f| f.name.clone()).unwrap_or_default();
        let stem = path.trim_start_matches("catalog/").trim_end_matches(".yaml");
        assert!(stem == m.matrix.value || stem == format!("{}@{}", m.matrix.value, m.version.value), "{path} holds {}", m.key());
        // Current ids and versions resolve through `get`.
        let again = load(&format!("{}@{}", m.matrix.value, m.version.value));
        assert_eq!(again.flows.len(), m.flows.len());
    }
}

/// `portmatrix check --deny warnings` on the catalog: no open finding at
/// all, in particular no lint error (a flow from `any` whose acceptance does
/// not quote the document) and no unaccepted `duplicate` or `listen-conflict`.
#[test]
fn catalog_passes_check() {
    let mut failing = Vec::new();
    for m in all_matrices() {
        for d in lint_matrix(&m) {
            if d.severity != Severity::Accepted {
                failing.push(d.short());
            }
            if d.severity == Severity::Accepted {
                assert!(d.reason.as_deref().is_some_and(|r| !r.trim().is_empty()), "{}: accepted without a reason", d.short());
            }
        }
    }
    assert!(failing.is_empty(), "unaccepted findings that fail `check --deny warnings`:\n{}", failing.join("\n"));
}

/// The catalog is held to the catalog's lint rules: its files are known as
/// catalog files, so a flow from `any` there is an error unless accepted
/// with the document's own words.
#[test]
fn catalog_files_are_linted_as_catalog() {
    for e in portmatrix_catalog::entries() {
        assert!(portmatrix_model::lint::is_catalog_file(e.path), "{} is not recognised as a catalog file", e.path);
        let m = e.load().unwrap_or_else(|d| panic!("{}: {d:?}", e.path));
        for f in m.flows.iter().filter(|f| f.from.iter().any(|n| n.value == "any")) {
            let reason = f.accept.get("any-source").map(String::as_str).unwrap_or("");
            assert!(
                portmatrix_model::lint::quotes_any_wording(reason),
                "{} flow `{}` is from `any` without quoting the document's any / Internet / all: {reason:?}",
                e.path,
                f.id.value
            );
        }
    }
}

#[test]
fn every_flow_cites_a_line() {
    let mut bad = Vec::new();
    for m in all_matrices() {
        for f in &m.flows {
            let ok = !f.cite.trim().is_empty() && f.cite.contains("(L") && !cited_lines(&f.cite).is_empty();
            if !ok {
                let (line, _) = m.file.as_ref().map(|file| file.line_col(f.id.span.offset)).unwrap_or_default();
                bad.push(format!("{} line {line}: flow `{}` cites `{}`", m.key(), f.id.value, f.cite));
            }
        }
        for r in &m.requirements {
            if !r.cite.contains("(L") {
                bad.push(format!("{}: requirement `{}` cites `{}`", m.key(), r.id.value, r.cite));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn cited_lines_reads_the_forms_in_use() {
    assert_eq!(cited_lines("Table 1 (L212)"), vec![(212, 212)]);
    assert_eq!(cited_lines("x (L123-L142); y (L180)"), vec![(123, 142), (180, 180)]);
    assert_eq!(cited_lines("(L12-18)"), vec![(12, 18)]);
    assert_eq!(cited_lines("URL and HTML"), vec![]);
    let _ = Span::default();
}
