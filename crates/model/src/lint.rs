//! Lint: findings in a valid matrix that deserve a look. A finding the
//! matrix accepts (with a reason) is reported as accepted, never hidden.

use std::collections::{HashMap, HashSet};
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
    out.extend(review_findings(m, &file));
    // Their spans and codes are their own, so adding them last does not
    // change the sorted order.
    out.extend(overlap_findings(m, &file, Pairing::Indexed));
    out.sort_by_key(|d| (d.span.offset, d.code));
    out
}

/// Open review items: never acceptable, resolved by deleting them.
fn review_findings(m: &Matrix, file: &Arc<SourceFile>) -> Vec<Diagnostic> {
    m.review
        .iter()
        .map(|r| {
            let what = r.flow.as_ref().map(|f| format!(" (flow `{}`)", f.value)).unwrap_or_default();
            let at = r.at.as_ref().map(|a| format!(" [{a}]")).unwrap_or_default();
            Diagnostic::warning("review", file, r.about.span, format!("open review item{what}{at}: {}", r.about.value))
                .with_help("check it against the document, fix the matrix, then delete the item from `review:`")
        })
        .collect()
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

/// At most this many `duplicate` and `listen-conflict` findings are listed
/// for one matrix (then one more says the list is cut): a matrix of 10,000
/// identical flows would otherwise have 50 million.
pub const MAX_OVERLAP_FINDINGS: usize = 1000;

/// How the pairs of flows to compare are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairing {
    /// Every pair: quadratic. The oracle of the indexed search.
    Pairwise,
    /// Only the pairs that share a protocol and ports, found with an index
    /// of port ranges per protocol: near-linear in flows plus such pairs.
    Indexed,
}

/// The `duplicate` and `listen-conflict` findings of a matrix, sorted by
/// position. Both pairings give the same findings in the same order: each
/// flow is compared with the earlier flows it could conflict with, in file
/// order, and only the way those flows are found differs.
pub fn overlap_findings(m: &Matrix, file: &Arc<SourceFile>, pairing: Pairing) -> Vec<Diagnostic> {
    let resolved: Vec<Resolved> =
        m.flows.iter().map(|f| (ends(m, &f.from), ends(m, &f.to), f.protos().collect(), default_ports(m, f))).collect();
    let index = (pairing == Pairing::Indexed).then(|| OverlapIndex::new(m, &resolved));
    let mut check = PairCheck { m, file, resolved: &resolved, conflicts_seen: HashSet::new(), out: Vec::new() };
    let mut earlier = Vec::new();
    'flows: for j in 0..m.flows.len() {
        if resolved[j].3.is_none() {
            continue;
        }
        earlier.clear();
        match &index {
            Some(index) => index.earlier_meeting(m, &resolved, j, &mut earlier),
            None => earlier.extend(0..j),
        }
        for &i in &earlier {
            if check.out.len() >= MAX_OVERLAP_FINDINGS {
                check.out.push(
                    Diagnostic::warning("duplicate", file, m.flows[j].id.span, "more overlapping flows: the list of overlaps stops here")
                        .with_help(format!("only the first {MAX_OVERLAP_FINDINGS} duplicate and listener-conflict findings are listed")),
                );
                break 'flows;
            }
            check.pair(i, j);
        }
    }
    let mut out = check.out;
    out.sort_by_key(|d| (d.span.offset, d.code));
    out
}

/// Compares two flows and reports a duplicate or a listener conflict once.
struct PairCheck<'m, 'r> {
    m: &'m Matrix,
    file: &'r Arc<SourceFile>,
    resolved: &'r [Resolved<'m>],
    conflicts_seen: HashSet<(&'m str, &'m str, Proto)>,
    out: Vec<Diagnostic>,
}

impl<'m> PairCheck<'m, '_> {
    fn finding(&mut self, code: &'static str, span: Span, accepted: Option<&String>, msg: String, help: &str) {
        let mut d = Diagnostic::warning(code, self.file, span, msg).with_help(help);
        if let Some(r) = accepted {
            d.severity = Severity::Accepted;
            d.reason = Some(r.clone());
        }
        self.out.push(d);
    }

    /// Flow `i` (earlier) against flow `j`.
    fn pair(&mut self, i: usize, j: usize) {
        let (m, file) = (self.m, self.file);
        let (fi, fj) = (&m.flows[i], &m.flows[j]);
        let (from_i, to_i, proto_i, ports_i) = &self.resolved[i];
        let (from_j, to_j, proto_j, ports_j) = &self.resolved[j];
        let (Some(ports_i), Some(ports_j)) = (ports_i, ports_j) else { return };
        let common: Vec<Proto> = proto_j.iter().copied().filter(|p| proto_i.contains(p)).collect();
        if common.is_empty() {
            return;
        }
        let ports_meet = ports_i.overlaps(ports_j) || (ports_i.is_empty() && ports_j.is_empty() && fi.icmp == fj.icmp);
        if !ports_meet {
            return;
        }
        let meet = |a: &[&str], b: &[&str]| a.iter().any(|x| b.contains(x));
        if meet(from_i, from_j) && meet(to_i, to_j) && fi.when == fj.when {
            let acc = accepted(fj, "duplicate").or(accepted(fi, "duplicate"));
            let (line, _) = file.line_col(fi.id.span.offset);
            self.finding(
                "duplicate",
                fj.id.span,
                acc,
                format!("flow `{}` overlaps flow `{}` (line {line}): same endpoints, protocol and ports", fj.id.value, fi.id.value),
                "merge them, or accept: { duplicate: reason } when the document states both",
            );
            return;
        }
        // Two different internal roles listening on the same port.
        for p in common.iter().filter(|p| p.has_ports()) {
            for &a in to_i.iter().filter(|r| internal(m, r)) {
                for &b in to_j.iter().filter(|r| internal(m, r) && **r != a && !to_i.contains(r)) {
                    let key = if a < b { (a, b, *p) } else { (b, a, *p) };
                    if !self.conflicts_seen.insert(key) {
                        continue;
                    }
                    let acc = accepted(fj, "listen-conflict").or(accepted(fi, "listen-conflict"));
                    let shared = ports_i.intersection(ports_j);
                    self.finding(
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

/// Where to look for the earlier flows that share a protocol and ports with
/// a flow: per protocol, the flows' port ranges; flows without ports (ICMP)
/// by protocol and ICMP types.
struct OverlapIndex {
    ranges: HashMap<Proto, RangeIndex>,
    portless: HashMap<(Proto, Vec<String>), Vec<usize>>,
}

impl OverlapIndex {
    fn new(m: &Matrix, resolved: &[Resolved]) -> Self {
        let mut ranges: HashMap<Proto, Vec<(u16, u16, usize)>> = HashMap::new();
        let mut portless: HashMap<(Proto, Vec<String>), Vec<usize>> = HashMap::new();
        for (flow, (_, _, protos, ports)) in resolved.iter().enumerate() {
            let Some(ports) = ports else { continue };
            for &p in protos {
                if ports.is_empty() {
                    portless.entry((p, icmp_key(&m.flows[flow]))).or_default().push(flow);
                } else {
                    ranges.entry(p).or_default().extend(ports.ranges().map(|(lo, hi)| (lo, hi, flow)));
                }
            }
        }
        Self { ranges: ranges.into_iter().map(|(p, r)| (p, RangeIndex::new(r))).collect(), portless }
    }

    /// The flows before `j` that share a protocol with it and whose ports
    /// meet its ports, ascending and without repeats, into `out`.
    fn earlier_meeting(&self, m: &Matrix, resolved: &[Resolved], j: usize, out: &mut Vec<usize>) {
        let (_, _, protos, ports) = &resolved[j];
        let Some(ports) = ports else { return };
        for &p in protos {
            if ports.is_empty() {
                if let Some(flows) = self.portless.get(&(p, icmp_key(&m.flows[j]))) {
                    out.extend(flows.iter().copied().take_while(|i| *i < j));
                }
            } else if let Some(index) = self.ranges.get(&p) {
                for (lo, hi) in ports.ranges() {
                    index.meeting(lo, hi, &mut |i| {
                        if i < j {
                            out.push(i)
                        }
                    });
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }
}

/// A flow's ICMP types as compared by the duplicate check.
fn icmp_key(f: &Flow) -> Vec<String> {
    f.icmp.iter().map(|t| t.to_string()).collect()
}

/// Port ranges sorted by first port, over a tree that holds the largest last
/// port of each subtree: the ranges meeting a query are found in
/// O(log n) each, without looking at the others.
struct RangeIndex {
    /// `(first, last, flow)`, by `first`.
    ranges: Vec<(u16, u16, usize)>,
    /// Implicit binary tree over `ranges`: node `k` has children `2k` and
    /// `2k + 1`, leaves start at `leaves`.
    max_last: Vec<u16>,
    leaves: usize,
}

impl RangeIndex {
    fn new(mut ranges: Vec<(u16, u16, usize)>) -> Self {
        ranges.sort_unstable();
        let leaves = ranges.len().next_power_of_two();
        let mut max_last = vec![0u16; 2 * leaves];
        for (k, r) in ranges.iter().enumerate() {
            max_last[leaves + k] = r.1;
        }
        for k in (1..leaves).rev() {
            max_last[k] = max_last[2 * k].max(max_last[2 * k + 1]);
        }
        Self { ranges, max_last, leaves }
    }

    /// Calls `found` with the flow of every range that meets `lo..=hi`.
    fn meeting(&self, lo: u16, hi: u16, found: &mut dyn FnMut(usize)) {
        // Ranges that start after `hi` cannot meet it; of the others, those
        // that end at or after `lo` do.
        let starts_in_time = self.ranges.partition_point(|r| r.0 <= hi);
        if starts_in_time == 0 {
            return;
        }
        // Depth-first over the subtrees that hold a candidate; the tree is
        // log2(ranges) deep, so the explicit stack stays small.
        let mut stack = vec![(1usize, 0usize, self.leaves)];
        while let Some((node, first, end)) = stack.pop() {
            if first >= starts_in_time || self.max_last[node] < lo {
                continue;
            }
            if end - first == 1 {
                found(self.ranges[first].2);
                continue;
            }
            let mid = (first + end) / 2;
            stack.push((2 * node + 1, mid, end));
            stack.push((2 * node, first, mid));
        }
    }
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
