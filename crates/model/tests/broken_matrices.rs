//! Broken matrices: every file under `tests/broken/` must fail to load with
//! at least one error, never panic, and report each problem at the offending
//! text with a useful hint. The snapshots (one per file, named after it) hold
//! the diagnostics as `file:line:col: severity[code]: message`, the text the
//! span covers, and the help.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use portmatrix_model::lint::lint_matrix;
use portmatrix_model::{matrix_from_path, matrix_from_str, Diagnostic, Severity};
use proptest::prelude::*;

/// The broken files, as paths relative to the crate (so that diagnostics
/// name them the same way on every machine).
fn broken_files() -> Vec<PathBuf> {
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).expect("crate dir");
    let mut files: Vec<PathBuf> = std::fs::read_dir("tests/broken")
        .expect("tests/broken exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// Loads a file, turning a panic into a test failure that names the file.
fn load_errors(path: &Path) -> Vec<Diagnostic> {
    let result = catch_unwind(AssertUnwindSafe(|| matrix_from_path(path)));
    match result {
        Err(_) => panic!("{}: loading panicked", path.display()),
        Ok(Ok(m)) => panic!("{}: loaded without errors as matrix `{}`", path.display(), m.matrix.value),
        Ok(Err(d)) => d,
    }
}

/// The text a diagnostic points at, on one line.
fn pointed_text(d: &Diagnostic) -> String {
    let text = &d.file.text;
    let start = d.span.offset.min(text.len());
    let end = (d.span.offset + d.span.len).min(text.len());
    match text.get(start..end) {
        None => "(not on a character boundary)".into(),
        Some("") if start == text.len() => "(end of file)".into(),
        Some("") => {
            let rest: String = text[start..].chars().take(20).collect();
            format!("(before) {rest:?}")
        }
        Some(s) => {
            let mut s: String = s.chars().take(80).collect();
            if let Some(i) = s.find('\n') {
                s.truncate(i);
                s.push_str(" ...");
            }
            format!("{s:?}")
        }
    }
}

fn render(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&d.short());
        out.push('\n');
        out.push_str(&format!("    at: {}\n", pointed_text(d)));
        if let Some(l) = &d.label {
            out.push_str(&format!("    label: {l}\n"));
        }
        if let Some(h) = &d.help {
            out.push_str(&format!("    help: {h}\n"));
        }
    }
    out
}

/// One snapshot per broken file, named after it. Every file is checked
/// before the test fails, so that one run shows every changed snapshot.
#[test]
fn broken() {
    let mut settings = insta::Settings::clone_current();
    // An absolute path: independent of `cargo metadata` finding the workspace.
    settings.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    let mut failed = Vec::new();
    for file in broken_files() {
        let name = file.file_stem().and_then(|n| n.to_str()).expect("a UTF-8 name").to_string();
        let diags = load_errors(&file);
        let ok = catch_unwind(AssertUnwindSafe(|| {
            settings.bind(|| insta::assert_snapshot!(name.clone(), render(&diags)));
        }));
        if ok.is_err() {
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "snapshots differ for: {}", failed.join(", "));
}

/// A snapshot whose broken file is gone would never be checked again.
#[test]
fn no_orphan_snapshots() {
    let files: Vec<String> = broken_files().iter().filter_map(|f| f.file_stem()?.to_str().map(String::from)).collect();
    for e in std::fs::read_dir("tests/snapshots").expect("tests/snapshots exists") {
        let path = e.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("a UTF-8 name").to_string();
        if let Some(stem) = name.strip_suffix(".snap") {
            assert!(files.iter().any(|f| f == stem), "snapshot {name} has no tests/broken/{stem}.yaml");
        }
    }
}

#[test]
fn every_broken_file_fails_with_an_error_and_never_panics() {
    let files = broken_files();
    assert!(files.len() >= 24, "only {} broken files", files.len());
    for f in &files {
        let name = f.file_name().and_then(|n| n.to_str()).expect("a UTF-8 name");
        let (num, rest) = name.split_once('-').expect("NN-short-name.yaml");
        assert!(num.len() == 2 && num.chars().all(|c| c.is_ascii_digit()), "{name}: not NN-short-name.yaml");
        assert!(!rest.is_empty());
        let diags = load_errors(f);
        assert!(diags.iter().any(|d| d.severity == Severity::Error), "{name}: no error among {} diagnostics", diags.len());
        for d in &diags {
            assert!(d.span.offset <= d.file.text.len(), "{name}: span beyond the end of the file: {}", d.short());
            assert!(d.file.text.is_char_boundary(d.span.offset.min(d.file.text.len())), "{name}: span inside a character");
            assert!(d.help.is_some() || d.label.is_some(), "{name}: {} has neither help nor label", d.short());
        }
    }
}

/// Loading random bytes and mangled catalog-like text never panics.
#[test]
fn mangled_inputs_never_panic() {
    let base = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken/07-duplicate-flow-id.yaml")).expect("file");
    // Every prefix of a matrix: truncated files must fail cleanly or load.
    for cut in 0..=base.len() {
        if !base.is_char_boundary(cut) {
            continue;
        }
        let text = &base[..cut];
        let r = catch_unwind(|| {
            let _ = portmatrix_model::matrix_from_str("cut.yaml", text);
        });
        assert!(r.is_ok(), "panicked on a file cut at byte {cut}:\n{text}");
    }
}

/// The catalog's matrices as text, read from the repository.
fn catalog_texts() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("catalog/ exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| (p.file_name().and_then(|n| n.to_str()).expect("name").to_string(), std::fs::read_to_string(&p).expect("text")))
        .collect();
    out.sort();
    assert!(!out.is_empty());
    out
}

/// Snippets that break YAML or the model in typical ways.
const SNIPPETS: &[&str] = &[
    "\t", ":", ": ", "- ", "{", "}", "[", "]", "!", "!x ", "&a ", "*a", "'", "\"", "#", "\n", "\n  ", "---\n", "any", "-", "+", ",",
    "70000", "~", "\u{feff}", "é", "\0",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Random edits of real matrices: loading (and linting what loads)
    /// never panics, and a failed load always says why.
    #[test]
    fn edited_catalog_files_never_panic(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..40, prop::sample::select(SNIPPETS)), 1..6),
    ) {
        let texts = catalog_texts();
        let (name, text) = &texts[which.index(texts.len())];
        let mut text = text.clone();
        for (at, cut, snippet) in edits {
            let mut i = at.index(text.len() + 1);
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            let mut j = (i + cut).min(text.len());
            while !text.is_char_boundary(j) {
                j -= 1;
            }
            text.replace_range(i..j, snippet);
        }
        let result = catch_unwind(AssertUnwindSafe(|| match matrix_from_str(name, &text) {
            Ok(m) => {
                let _ = lint_matrix(&m);
                Ok(())
            }
            Err(d) => Err(d.iter().filter(|d| d.severity == Severity::Error).count()),
        }));
        match result {
            Err(_) => prop_assert!(false, "panicked on an edit of {}:\n{}", name, text),
            Ok(Err(0)) => prop_assert!(false, "failed without an error on an edit of {}", name),
            Ok(_) => {}
        }
    }
}
