//! Human-readable renderings of matrices (and, later, plans): terminal
//! tables, Markdown and CSV.

pub mod matrix_table;
pub mod table;
