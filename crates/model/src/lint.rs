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
    let mut out = Vec::new();
    let mut finding = |code: &'static str, span: Span, accepted: Option<&String>, msg: String, help: &str| {
        let mut d = Diagnostic::warning(code, &file, span, msg).with_help(help);
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
            finding(
                "any-source",
                any.span,
                accepted(f, "any-source"),
                format!("flow `{}` accepts connections from `any`", f.id.value),
                "a deployment must bind `any` to concrete networks; name the initiating role if the document allows",
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
