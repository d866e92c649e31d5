//! Bytes as a matrix and as an inventory, the way the loader reads a file:
//! no panic, no stack overflow, memory bounded by the loader's limits
//! (`-rss_limit_mb` reports more); every diagnostic lies inside the text and
//! renders as the CLI renders it, without a raw control or bidi character.
//! A matrix that loads is linted, and the indexed overlap lint equals the
//! pairwise one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miette::{GraphicalReportHandler, GraphicalTheme};
use portmatrix_model::lint::{lint_matrix, overlap_findings, Pairing};
use portmatrix_model::source::is_hidden;
use portmatrix_model::{inventory_from_source, matrix_from_source, Diagnostic, SourceFile};

fn check_diagnostics(diags: &[Diagnostic]) {
    assert!(!diags.is_empty(), "failed without a diagnostic");
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor());
    for (i, d) in diags.iter().enumerate() {
        assert!(d.span.offset + d.span.len <= d.file.text.len(), "{} outside the text", d.short());
        assert!(d.file.text.is_char_boundary(d.span.offset), "{} not on a character", d.short());
        // Rendering is the slow part: the first few show whether it works.
        if i >= 4 {
            continue;
        }
        let mut shown = String::new();
        handler.render_report(&mut shown, d).expect("renders");
        assert!(!shown.chars().any(is_hidden), "raw hidden character in {shown:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match matrix_from_source(SourceFile::new("fuzz.yaml", text)) {
        Ok(m) => {
            let _ = lint_matrix(&m);
            let file = m.file.clone().expect("loaded from text");
            let short = |d: Vec<Diagnostic>| d.iter().map(|d| format!("{} {:?} {:?}", d.short(), d.help, d.reason)).collect::<Vec<_>>();
            assert_eq!(short(overlap_findings(&m, &file, Pairing::Indexed)), short(overlap_findings(&m, &file, Pairing::Pairwise)));
        }
        Err(diags) => check_diagnostics(&diags),
    }
    if let Err(diags) = inventory_from_source(SourceFile::new("fuzz-inventory.yaml", text)) {
        check_diagnostics(&diags);
    }
});
