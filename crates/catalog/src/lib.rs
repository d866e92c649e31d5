//! The curated matrices of the seed products, embedded in the binary.
//!
//! A matrix is looked up by id (`jtel-acd`, its current version) or by
//! `id@version`. Older versions live beside the current one as
//! `catalog/ID@VERSION.yaml`.

use portmatrix_model::{matrix_from_str, Diagnostic, Matrix};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/files.rs"));
}

/// One embedded file: its path inside the repository and its text.
pub struct Entry {
    pub path: &'static str,
    pub text: &'static str,
}

impl Entry {
    /// Whether this is the current version of its matrix (file `ID.yaml`,
    /// not `ID@VERSION.yaml`).
    pub fn is_current(&self) -> bool {
        !self.path.contains('@')
    }
    pub fn load(&self) -> Result<Matrix, Vec<Diagnostic>> {
        matrix_from_str(self.path, self.text)
    }
}

pub fn entries() -> impl Iterator<Item = Entry> {
    embedded::FILES.iter().map(|(path, text)| Entry { path, text })
}

/// Every embedded matrix, current versions first, in id order.
pub fn all() -> Result<Vec<Matrix>, Vec<Diagnostic>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let (current, older): (Vec<Entry>, Vec<Entry>) = entries().partition(Entry::is_current);
    for e in current.into_iter().chain(older) {
        match e.load() {
            Ok(m) => out.push(m),
            Err(d) => errors.extend(d),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Looks up `ID` (current version) or `ID@VERSION`.
pub fn get(spec: &str) -> Option<Result<Matrix, Vec<Diagnostic>>> {
    let (id, version) = match spec.split_once('@') {
        Some((i, v)) => (i, Some(v)),
        None => (spec, None),
    };
    match version {
        None => entries().find(|e| e.is_current() && e.path == format!("catalog/{id}.yaml")).map(|e| e.load()),
        Some(v) => entries()
            .filter(|e| e.path.starts_with(&format!("catalog/{id}")))
            .map(|e| e.load())
            .find(|m| m.as_ref().is_ok_and(|m| m.matrix.value == id && m.version.value == v)),
    }
}

/// The ids of the current matrices, for "did you mean" and listings.
pub fn ids() -> Vec<String> {
    entries().filter(Entry::is_current).map(|e| e.path.trim_start_matches("catalog/").trim_end_matches(".yaml").to_string()).collect()
}

/// The catalog as the plan's source of matrix ids.
pub struct Catalog;

impl portmatrix_model::MatrixSource for Catalog {
    fn matrix(&self, id: &str) -> Option<Result<Matrix, Vec<Diagnostic>>> {
        get(id)
    }
    fn ids(&self) -> Vec<String> {
        ids()
    }
}
