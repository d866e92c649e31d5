//! Finding matrices named on the command line: catalog ids or files.

use std::path::Path;

use portmatrix_model::diag::did_you_mean;
use portmatrix_model::{Diagnostic, Matrix};

/// Loads `spec`: an existing file path, else a catalog id (`ID` or `ID@VERSION`).
pub fn load(spec: &str) -> Result<Matrix, Vec<Diagnostic>> {
    if Path::new(spec).exists() || spec.ends_with(".yaml") || spec.ends_with(".yml") || spec.contains('/') {
        return portmatrix_model::matrix_from_path(Path::new(spec));
    }
    match portmatrix_catalog::get(spec) {
        Some(r) => r,
        None => {
            let ids = portmatrix_catalog::ids();
            let hint = match did_you_mean(spec, ids.iter().map(String::as_str)) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("catalog ids: {}", ids.join(", ")),
            };
            let f = portmatrix_model::SourceFile::new("<command line>", spec);
            Err(vec![Diagnostic::error(
                "unknown-matrix",
                &f,
                portmatrix_model::Span::new(0, spec.len()),
                format!("`{spec}` is neither a file nor a catalog id"),
            )
            .with_help(hint)])
        }
    }
}

/// The whole current catalog; a broken catalog entry is a bug in the build.
pub fn catalog() -> Vec<Matrix> {
    match portmatrix_catalog::all() {
        Ok(v) => v
            .into_iter()
            .filter(|m| portmatrix_catalog::get(&m.matrix.value).is_some_and(|c| c.is_ok_and(|c| c.version == m.version)))
            .collect(),
        Err(d) => {
            crate::diagnostics::print_all(&d);
            Vec::new()
        }
    }
}
