//! Lint: findings in a valid matrix that deserve a look. A finding the
//! matrix accepts (with a reason) is reported as accepted, never hidden.

use std::sync::Arc;

use crate::diag::{Diagnostic, Severity};
use crate::matrix::{Flow, Matrix, Proto};
use crate::ports::PortSet;
use crate::source::{SourceFile, Span};

pub const LINT_CODES: &[&str] = &["plaintext", "any-source", "wide-range", "duplicate", "listen-conflict", "no-default"];

/// Codes that fail `check` even without `--deny warnings`: they make a
/// deployment ambiguous rather than merely worth a look.
pub const DENY_BY_DEFAULT: &[&str] = &["duplicate", "listen-conflict", "review"];

/// Codes that are errors in a catalog matrix unless accepted: the catalog is
/// reviewed against its documents, so a flow from `any` must quote the
/// document's own "any" / "Internet" / "all" in its `accept:`; every other
/// initiator is a named role a deployment binds on its own.
pub const ERROR_IN_CATALOG: &[&str] = &["any-source"];

/// Whether a matrix file belongs to the curated catalog: it sits in a
/// directory named `catalog`. The embedded catalog names its files
/// `catalog/ID.yaml` (crates/catalog), and `portmatrix check catalog/*.yaml`
/// names the same files from the repository root.
pub fn is_catalog_file(name: &str) -> bool {
    std::path::Path::new(name).parent().and_then(|d| d.file_name()).is_some_and(|d| d == "catalog")
}

/// Destination port sets larger than this are "wide".
pub const WIDE_RANGE: usize = 1000;

/// The application family and whether this name is its TLS form.
fn app_family(app: &str) -> (String, bool) {
    let a = app.trim().to_ascii_lowercase();
    let a = a.split(['/', ' ', '(']).next().unwrap_or("").to_string();
    for (tls, plain) in [
        ("https", "http"),
        ("ldaps", "ldap"),
        ("sips", "sip"),
        ("imaps", "imap"),
        ("pop3s", "pop3"),
        ("smtps", "smtp"),
        ("ftps", "ftp"),
        ("wss", "ws"),
        ("rtsps", "rtsp"),
    ] {
        if a == tls {
            return (plain.to_string(), true);
        }
    }
    (a, false)
}

fn flow_is_tls(f: &Flow) -> Option<(String, bool)> {
    let app = f.app.as_deref()?;
    let (fam, named_tls) = app_family(app);
    Some((fam, f.tls.unwrap_or(named_tls)))
}

/// Roles a flow's `from` or `to` covers (groups expanded; `any` kept).
fn ends<'m>(m: &'m Matrix, names: &'m [crate::matrix::Name]) -> Vec<&'m str> {
    let mut out: Vec<&str> = names.iter().flat_map(|n| if n.value == "any" { vec!["any"] } else { m.expand(n) }).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// A flow's initiators, listeners, protocols and ports (parameters at defaults).
type Resolved<'m> = (Vec<&'m str>, Vec<&'m str>, Vec<Proto>, Option<PortSet>);

fn default_ports(m: &Matrix, f: &Flow) -> Option<PortSet> {
    match &f.ports {
        Some(p) => p.resolve(&|n| m.param_default(n)).ok(),
        None => Some(PortSet::new()),
    }
}

pub fn lint_matrix(m: &Matrix) -> Vec<Diagnostic> {
    let Some(file) = m.file.clone() else {
        return Vec::new();
    };
    let catalog = is_catalog_file(&file.name);
    let mut out = Vec::new();
    let mut finding = |code: &'static str, span: Span, accepted: Option<&String>, msg: String, help: &str| {
        let mut d = Diagnostic::warning(code, &file, span, msg).with_help(help);
        if catalog && ERROR_IN_CATALOG.contains(&code) {
            d.severity = Severity::Error;
        }
        if let Some(r) = accepted {
            d.severity = Severity::Accepted;
            d.reason = Some(r.clone());
        }
        out.push(d);
    };

    // Which application families have a TLS variant somewhere in the matrix.
    let tls_families: Vec<String> = m.flows.iter().filter_map(flow_is_tls).filter(|(_, t)| *t).map(|(f, _)| f).collect();

    for f in &m.flows {
        if let Some((fam, false)) = flow_is_tls(f) {
            if tls_families.contains(&fam) {
                finding(
                    "plaintext",
                    f.id.span,
                    accepted(f, "plaintext"),
                    format!(
                        "flow `{}` carries {} in plaintext, but this matrix also offers it over TLS",
                        f.id.value,
                        f.app.as_deref().unwrap_or("")
                    ),
                    "prefer the TLS variant, or accept: { plaintext: reason } if the plaintext port is required",
                );
            }
        }
        if let Some(any) = f.from.iter().find(|n| n.value == "any") {
            // In the catalog an acceptance counts only when it quotes the document.
            let reason = accepted(f, "any-source");
            let unquoted = catalog && reason.is_some_and(|r| !quotes_any_wording(r));
            finding(
                "any-source",
                any.span,
                reason.filter(|_| !unquoted),
                if unquoted {
                    format!("flow `{}` accepts connections from `any`, but its accept reason quotes no \"any\", \"Internet\" or \"all\" of the document", f.id.value)
                } else {
                    format!("flow `{}` accepts connections from `any`", f.id.value)
                },
                if catalog {
                    "in the catalog, `any` only where the document says any / Internet / all, accepted with its wording: accept: { any-source: \"<quote>\" }; otherwise name the audience as an external role"
                } else {
                    "a deployment must bind `any` to concrete networks; name the initiating role if the document allows"
                },
            );
        }
        if let Some(ports) = default_ports(m, f) {
            if ports.len() > WIDE_RANGE {
                let span = f.ports.as_ref().map(|p| p.span).unwrap_or(f.id.span);
                finding(
                    "wide-range",
                    span,
                    accepted(f, "wide-range"),
                    format!("flow `{}` opens {} ports ({ports})", f.id.value, ports.len()),
                    "narrow the range if the product allows it, or accept: { wide-range: reason }",
                );
            }
        }
    }

    // Pairwise: duplicates and listener conflicts.
    let resolved: Vec<Resolved> =
        m.flows.iter().map(|f| (ends(m, &f.from), ends(m, &f.to), f.protos().collect(), default_ports(m, f))).collect();
    let mut conflicts_seen: std::collections::HashSet<(String, String, Proto)> = std::collections::HashSet::new();
    for (j, fj) in m.flows.iter().enumerate() {
        let (from_j, to_j, proto_j, ports_j) = &resolved[j];
        let Some(ports_j) = ports_j else { continue };
        for (i, fi) in m.flows[..j].iter().enumerate() {
            let (from_i, to_i, proto_i, ports_i) = &resolved[i];
            let Some(ports_i) = ports_i else { continue };
            let common: Vec<Proto> = proto_j.iter().copied().filter(|p| proto_i.contains(p)).collect();
            if common.is_empty() {
                continue;
            }
            let ports_meet = ports_i.overlaps(ports_j) || (ports_i.is_empty() && ports_j.is_empty() && fi.icmp == fj.icmp);
            if !ports_meet {
                continue;
            }
            let meet = |a: &[&str], b: &[&str]| a.iter().any(|x| b.contains(x));
            if meet(from_i, from_j) && meet(to_i, to_j) && fi.when == fj.when {
                let acc = accepted(fj, "duplicate").or(accepted(fi, "duplicate"));
                let (line, _) = file.line_col(fi.id.span.offset);
                finding(
                    "duplicate",
                    fj.id.span,
                    acc,
                    format!("flow `{}` overlaps flow `{}` (line {line}): same endpoints, protocol and ports", fj.id.value, fi.id.value),
                    "merge them, or accept: { duplicate: reason } when the document states both",
                );
                continue;
            }
            // Two different internal roles listening on the same port.
            for p in common.iter().filter(|p| p.has_ports()) {
                for a in to_i.iter().filter(|r| internal(m, r)) {
                    for b in to_j.iter().filter(|r| internal(m, r) && *r != a && !to_i.contains(r)) {
                        let key = if a < b { (a.to_string(), b.to_string(), *p) } else { (b.to_string(), a.to_string(), *p) };
                        if !conflicts_seen.insert(key) {
                            continue;
                        }
                        let acc = accepted(fj, "listen-conflict").or(accepted(fi, "listen-conflict"));
                        let shared = ports_i.intersection(ports_j);
                        finding(
                            "listen-conflict",
                            fj.id.span,
                            acc,
                            format!("roles `{a}` (flow `{}`) and `{b}` (flow `{}`) both listen on {p}/{shared}", fi.id.value, fj.id.value),
                            "a deployment cannot put both roles on one host; accept: { listen-conflict: reason } if they never share one",
                        );
                    }
                }
            }
        }
    }

    for (name, p) in &m.params {
        if p.default.is_none() {
            finding(
                "no-default",
                name.span,
                p.accept.get("no-default"),
                format!("parameter `{}` has no default: every deployment must set it", name.value),
                "give the document's value as default, or accept: { no-default: reason } when the document leaves it to the customer",
            );
        }
    }
    // Open review items: never acceptable, resolved by deleting them.
    for r in &m.review {
        let what = r.flow.as_ref().map(|f| format!(" (flow `{}`)", f.value)).unwrap_or_default();
        let at = r.at.as_ref().map(|a| format!(" [{a}]")).unwrap_or_default();
        finding(
            "review",
            r.about.span,
            None,
            format!("open review item{what}{at}: {}", r.about.value),
            "check it against the document, fix the matrix, then delete the item from `review:`",
        );
    }
    out.sort_by_key(|d| (d.span.offset, d.code));
    out
}

/// Whether a reason quotes the document saying any / Internet / all: a
/// passage in double quotes (straight or typographic) holding one of those
/// words, e.g. `the source cell reads "Any"`.
pub fn quotes_any_wording(reason: &str) -> bool {
    let normalised: String = reason.chars().map(|c| if matches!(c, '\u{201c}' | '\u{201d}') { '"' } else { c }).collect();
    normalised
        .split('"')
        .skip(1)
        .step_by(2)
        .any(|quoted| quoted.split(|c: char| !c.is_alphanumeric()).any(|w| ["any", "internet", "all"].contains(&w.to_lowercase().as_str())))
}

fn accepted<'f>(f: &'f Flow, code: &str) -> Option<&'f String> {
    f.accept.get(code)
}

fn internal(m: &Matrix, role: &str) -> bool {
    m.roles.get(role).is_some_and(|r| !r.external)
}

/// The file a matrix came from, for diagnostics made after loading.
pub fn file_of(m: &Matrix) -> Option<Arc<SourceFile>> {
    m.file.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A matrix with one flow from `any`, accepted with `reason` when given.
    fn any_flow(reason: Option<&str>) -> String {
        let accept = reason.map(|r| format!("    accept: {{ any-source: '{r}' }}\n")).unwrap_or_default();
        format!(
            "matrix: toy\ntitle: Toy\nversion: \"1\"\nroles:\n  app: {{ title: App }}\nflows:\n  - id: open\n    from: any\n    to: app\n    proto: tcp\n    ports: 443\n    purpose: p\n    cite: \"Table 1 (L1)\"\n{accept}"
        )
    }

    fn any_source(file: &str, reason: Option<&str>) -> Severity {
        let m = crate::matrix_from_str(file, &any_flow(reason)).expect("loads");
        let found: Vec<Diagnostic> = lint_matrix(&m).into_iter().filter(|d| d.code == "any-source").collect();
        assert_eq!(found.len(), 1, "{file}: {found:?}");
        found[0].severity
    }

    #[test]
    fn catalog_files_are_those_in_a_catalog_directory() {
        assert!(is_catalog_file("catalog/jtel-acd.yaml"));
        assert!(is_catalog_file("catalog/jtel-acd@previous.yaml"));
        assert!(is_catalog_file("/src/portmatrix/catalog/x.yaml"));
        assert!(!is_catalog_file("jtel-acd.yaml"));
        assert!(!is_catalog_file("examples/jtel-acd.yaml"));
        assert!(!is_catalog_file("catalog"));
        assert!(!is_catalog_file("my-catalog/x.yaml"));
        assert!(!is_catalog_file("catalog/sub/x.yaml"));
    }

    #[test]
    fn any_source_is_an_error_only_in_the_catalog() {
        assert_eq!(any_source("mine.yaml", None), Severity::Warning);
        assert_eq!(any_source("catalog/toy.yaml", None), Severity::Error);
        // Accepted with the document's wording: accepted everywhere.
        assert_eq!(any_source("catalog/toy.yaml", Some(r#"the source cell reads "Any""#)), Severity::Accepted);
        assert_eq!(any_source("mine.yaml", Some(r#"the source cell reads "Any""#)), Severity::Accepted);
        // Accepted without quoting the document: still an error in the catalog, fine elsewhere.
        assert_eq!(any_source("catalog/toy.yaml", Some("the document gives Any as source")), Severity::Error);
        assert_eq!(any_source("mine.yaml", Some("the document gives Any as source")), Severity::Accepted);
        assert_eq!(any_source("catalog/toy.yaml", Some(r#"the document says "clients""#)), Severity::Error);
    }

    #[test]
    fn quoted_any_wording_is_recognised() {
        assert!(quotes_any_wording(r#"source "Any (jtel Support)""#));
        assert!(quotes_any_wording("reached from the \u{201c}Internet\u{201d}"));
        assert!(quotes_any_wording(r#"first "x", then "open to ALL servers""#));
        assert!(!quotes_any_wording("any, unquoted"));
        assert!(!quotes_any_wording(r#""Company" networks, any of them"#));
        assert!(!quotes_any_wording(r#""anybody""#));
        assert!(!quotes_any_wording(""));
    }
}
