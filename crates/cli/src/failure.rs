//! Why a command could not do its job. Commands return `Result<u8,
//! Failure>` (0 clean, 1 findings); `main` is the one place that prints a
//! failure and exits with 2 (unusable input).

use portmatrix_model::Diagnostic;

#[derive(Debug)]
pub enum Failure {
    /// Problems of input files, each with file, line, column and a hint.
    Diagnostics(Vec<Diagnostic>),
    /// What was wrong and what to do instead.
    Message(String),
}

impl Failure {
    pub fn print(&self) {
        match self {
            Failure::Diagnostics(d) => crate::diagnostics::print_all(d),
            Failure::Message(m) => eprintln!("error: {m}"),
        }
    }
}

impl From<Vec<Diagnostic>> for Failure {
    fn from(d: Vec<Diagnostic>) -> Self {
        Failure::Diagnostics(d)
    }
}

impl From<String> for Failure {
    fn from(m: String) -> Self {
        Failure::Message(m)
    }
}

impl From<&str> for Failure {
    fn from(m: &str) -> Self {
        Failure::Message(m.to_string())
    }
}

impl From<portmatrix_targets::compile::CompileError> for Failure {
    fn from(e: portmatrix_targets::compile::CompileError) -> Self {
        Failure::Message(e.to_string())
    }
}

/// The result of a command: its exit code, or why it failed.
pub type Outcome = Result<u8, Failure>;
