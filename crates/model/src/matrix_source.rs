//! Where an inventory's `matrix:` ids come from. The plan resolves ids
//! through this trait, so it needs no catalog: the binary passes the
//! built-in catalog, tests pass whatever they like.

use crate::{Diagnostic, Matrix};

pub trait MatrixSource: Sync {
    /// The matrix with this id (`ID` or `ID@VERSION`), or `None` when the
    /// source has no such id.
    fn matrix(&self, id: &str) -> Option<Result<Matrix, Vec<Diagnostic>>>;
    /// The ids it offers, for "did you mean" hints.
    fn ids(&self) -> Vec<String>;
}

/// A source with no ids: inventories must name matrix files.
pub struct NoMatrices;

impl MatrixSource for NoMatrices {
    fn matrix(&self, _: &str) -> Option<Result<Matrix, Vec<Diagnostic>>> {
        None
    }
    fn ids(&self) -> Vec<String> {
        Vec::new()
    }
}
