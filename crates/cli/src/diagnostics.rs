//! Printing diagnostics: miette's graphical reports on a terminal, one line
//! each in plain mode, or JSON.

use miette::{GraphicalReportHandler, GraphicalTheme};
use portmatrix_model::Diagnostic;

/// Renders one diagnostic with its source snippet. Colour only on a terminal.
pub fn render(d: &Diagnostic) -> String {
    let theme = if std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none() {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let (line, col) = d.line_col();
    let mut out = format!("{}:{}:{}\n", d.file.name, line, col);
    let _ = GraphicalReportHandler::new_themed(theme).with_width(100).render_report(&mut out, d);
    out
}

pub fn print_all(diags: &[Diagnostic]) {
    for d in diags {
        eprintln!("{}", render(d));
    }
}
