//! Diagnostics: every problem found in an input file, with its location and a hint.

use std::sync::Arc;

use serde::Serialize;

use crate::source::{SourceFile, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The input cannot be used.
    Error,
    /// A lint finding: usable, but worth a look.
    Warning,
    /// A lint finding the matrix accepts with a reason.
    Accepted,
}

/// One problem in one file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable identifier: `unknown-key`, `unknown-role`, `plaintext`, ...
    pub code: &'static str,
    pub message: String,
    pub file: Arc<SourceFile>,
    pub span: Span,
    /// Short text shown under the underlined source.
    pub label: Option<String>,
    pub help: Option<String>,
    /// Why an accepted finding is accepted.
    pub reason: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, file: &Arc<SourceFile>, span: Span, message: impl Into<String>) -> Self {
        Self { severity: Severity::Error, code, message: message.into(), file: file.clone(), span, label: None, help: None, reason: None }
    }
    pub fn warning(code: &'static str, file: &Arc<SourceFile>, span: Span, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, ..Self::error(code, file, span, message) }
    }
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn line_col(&self) -> (usize, usize) {
        self.file.line_col(self.span.offset)
    }
    /// `file:line:col: severity[code]: message` — one line, for logs and tests.
    pub fn short(&self) -> String {
        let (l, c) = self.line_col();
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Accepted => "accepted",
        };
        format!("{}:{}:{}: {}[{}]: {}", self.file.name, l, c, sev, self.code, self.message)
    }
    pub fn to_json(&self) -> serde_json::Value {
        let (line, column) = self.line_col();
        serde_json::json!({
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": self.file.name,
            "line": line,
            "column": column,
            "label": self.label,
            "help": self.help,
            "reason": self.reason,
        })
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Accepted => miette::Severity::Advice,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        match (&self.help, &self.reason) {
            (_, Some(r)) => Some(Box::new(format!("accepted: {r}"))),
            (Some(h), None) => Some(Box::new(h)),
            _ => None,
        }
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(miette::LabeledSpan::new_with_span(self.label.clone(), self.span))))
    }
}

impl miette::SourceCode for Diagnostic {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let inner = self.file.read_span(span, before, after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.file.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line(),
            inner.column(),
            inner.line_count(),
        )))
    }
}

/// At most this many problems are kept while one input is read: a file of a
/// million broken values would otherwise hold a million diagnostics (about
/// 300 bytes each). Later ones are counted, not kept.
pub const MAX_KEPT: usize = 10_000;

/// Collects diagnostics while a file is read, so that all its problems are
/// reported at once (up to `MAX_KEPT`).
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
    /// Problems found past `MAX_KEPT` and not kept.
    pub dropped: usize,
    /// Whether one of those was an error.
    dropped_errors: bool,
}

impl Diagnostics {
    /// Past `MAX_KEPT`, the newest problem takes the last place (so that the
    /// caller can still amend the diagnostic it just pushed) and the one it
    /// replaces is counted.
    pub fn push(&mut self, d: Diagnostic) {
        let full = self.items.len() >= MAX_KEPT;
        match self.items.last_mut() {
            Some(last) if full => {
                self.dropped += 1;
                self.dropped_errors |= last.severity == Severity::Error;
                *last = d;
            }
            _ => self.items.push(d),
        }
    }
    pub fn has_errors(&self) -> bool {
        self.dropped_errors || self.items.iter().any(|d| d.severity == Severity::Error)
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.dropped += other.dropped;
        self.dropped_errors |= other.dropped_errors;
        other.items.into_iter().for_each(|d| self.push(d));
    }
    /// In file order, errors first at equal positions: deterministic output.
    /// When problems were dropped, a last one says how many.
    pub fn sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by(|a, b| {
            (a.file.name.as_str(), a.span.offset, a.severity, a.code).cmp(&(b.file.name.as_str(), b.span.offset, b.severity, b.code))
        });
        if let (true, Some(last)) = (self.dropped > 0, self.items.last()) {
            let summary = Diagnostic::error(
                "too-many-problems",
                &last.file,
                Span::new(last.span.offset, 0),
                format!("{} more problems were found and not kept", self.dropped),
            )
            .with_help(format!("only the first {MAX_KEPT} problems of an input are kept: fix these and check again"));
            self.items.push(summary);
        }
        self.items
    }
}

/// The closest candidate to a misspelt name, if it is close enough to be a
/// plausible typo. Names over 256 bytes are no typo of a key or a role, and
/// comparing a 10 MB name with every candidate takes seconds: none.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if name.len() > 256 {
        return None;
    }
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
