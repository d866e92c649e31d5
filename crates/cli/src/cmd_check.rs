//! `portmatrix check`: validate and lint matrix files.

use clap::{Args, ValueEnum};
use portmatrix_model::lint::{lint_matrix, DENY_BY_DEFAULT};
use portmatrix_model::{Diagnostic, Severity};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// Source snippets with the problem underlined
    Text,
    /// One `file:line:col: severity[code]: message` per line
    Short,
    /// A JSON array of findings
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Deny {
    /// Every unaccepted warning fails the check
    Warnings,
}

#[derive(Args)]
#[command(after_help = "Checks each file completely and reports every problem at once.\n\n\
Errors (the file cannot be used) exit 2. Lint findings: `duplicate` and `listen-conflict` exit 1; \
the others (plaintext, any-source, wide-range, no-default) are warnings and exit 1 only with \
`--deny warnings`, except `any-source` in a catalog matrix (a file in a directory named `catalog`), \
which is an error unless accepted with the document's own wording quoted. A finding the matrix accepts (`accept: { code: reason }`) is listed as accepted \
and never fails.\n\n\
Examples:\n  portmatrix check catalog/*.yaml\n  portmatrix check --deny warnings my-product.yaml\n  portmatrix check --format json my-product.yaml | jq '.[] | select(.severity==\"error\")'\n  portmatrix check jtel-acd            # a catalog id works too")]
pub struct CheckArgs {
    /// Matrix files (or catalog ids)
    #[arg(required = true)]
    pub files: Vec<String>,
    /// Make every warning a failure
    #[arg(long, value_enum)]
    pub deny: Option<Deny>,
    /// Output format
    #[arg(long, short, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// Do not list accepted findings
    #[arg(long)]
    pub hide_accepted: bool,
}

pub fn run(a: CheckArgs) -> crate::failure::Outcome {
    let mut all: Vec<Diagnostic> = Vec::new();
    let mut unusable = false;
    let mut summary = Vec::new();
    for f in &a.files {
        match crate::matrices::load(f) {
            Ok(m) => {
                let findings = lint_matrix(&m);
                let open = findings.iter().filter(|d| d.severity != Severity::Accepted).count();
                summary.push(format!("{f}: {} flows, {open} finding(s), {} accepted", m.flows.len(), findings.len() - open));
                all.extend(findings);
            }
            Err(d) => {
                unusable = true;
                summary.push(format!("{f}: {} error(s)", d.len()));
                all.extend(d);
            }
        }
    }
    if a.hide_accepted {
        all.retain(|d| d.severity != Severity::Accepted);
    }
    // Lint errors (`any-source` in a catalog matrix) fail like deny-by-default warnings.
    let fails = |d: &Diagnostic| {
        d.severity == Severity::Error || (d.severity == Severity::Warning && (a.deny.is_some() || DENY_BY_DEFAULT.contains(&d.code)))
    };
    match a.format {
        CheckFormat::Json => {
            let v: Vec<_> = all
                .iter()
                .map(|d| {
                    let mut j = d.to_json();
                    j["fails"] = serde_json::Value::Bool(d.severity == Severity::Error || fails(d));
                    j
                })
                .collect();
            crate::output::print(&(serde_json::to_string_pretty(&v).expect("JSON") + "\n"));
        }
        CheckFormat::Short => {
            crate::output::print(&all.iter().map(|d| d.short() + "\n").collect::<String>());
        }
        CheckFormat::Text => {
            crate::diagnostics::print_all(&all);
            for s in &summary {
                eprintln!("{s}");
            }
        }
    }
    // check's output is the diagnostics themselves: an unusable file is an
    // exit code here, already printed in the chosen format.
    Ok(if unusable {
        crate::exit::UNUSABLE
    } else if all.iter().any(fails) {
        crate::exit::FINDINGS
    } else {
        crate::exit::CLEAN
    })
}
