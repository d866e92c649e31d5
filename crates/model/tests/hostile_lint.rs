//! The `duplicate` and `listen-conflict` lint finds the pairs of flows to
//! compare with an index of port ranges (near-linear); the quadratic
//! pairwise search is kept as its oracle. On random matrices both must report
//! exactly the same findings, in the same order, with the same messages.

use portmatrix_model::lint::{lint_matrix, overlap_findings, Pairing, MAX_OVERLAP_FINDINGS};
use portmatrix_model::{matrix_from_str, Diagnostic, Matrix};
use proptest::prelude::*;

const ROLES: [&str; 5] = ["r0", "r1", "r2", "r3", "r4"];
/// `r3` and `r4` are external: they never take part in listener conflicts.
const EXTERNAL: [&str; 2] = ["r3", "r4"];

#[derive(Debug, Clone)]
struct FlowSpec {
    from: Vec<usize>,
    to: Vec<usize>,
    /// Indices into `["tcp", "udp", "sctp"]`, or `None` for ICMP.
    protos: Option<Vec<usize>>,
    /// Port items, from a small universe so that flows overlap often.
    ports: Vec<(u16, u16)>,
    /// ICMP type for ICMP flows.
    icmp: usize,
    when: Option<usize>,
    accept: Option<usize>,
}

/// A name in `from`/`to`: a role, the group `g` (r0, r1), or `any`.
fn end_name(i: usize) -> &'static str {
    match i {
        0..=4 => ROLES[i],
        5 => "g",
        _ => "any",
    }
}

fn flow_spec() -> impl Strategy<Value = FlowSpec> {
    (
        prop::collection::vec(0usize..7, 1..3),
        prop::collection::vec(0usize..6, 1..3),
        prop_oneof![4 => prop::collection::vec(0usize..3, 1..3).prop_map(Some), 1 => Just(None)],
        prop::collection::vec((0u16..40, 0u16..6), 1..3),
        0usize..2,
        prop::option::of(0usize..3),
        prop::option::of(0usize..2),
    )
        .prop_map(|(from, to, protos, ports, icmp, when, accept)| FlowSpec {
            from,
            to,
            protos,
            ports: ports.into_iter().map(|(lo, len)| (1000 + lo, 1000 + lo + len)).collect(),
            icmp,
            when,
            accept,
        })
}

/// Writes a valid matrix holding the flows.
fn matrix_text(flows: &[FlowSpec]) -> String {
    let mut y = String::from("matrix: random\ntitle: Random\nversion: \"1\"\n");
    y += "features:\n  fa: { default: false, about: a }\n  fb: { default: true, about: b }\n";
    y += "roles:\n";
    for r in ROLES {
        let ext = if EXTERNAL.contains(&r) { ", external: true" } else { "" };
        y += &format!("  {r}: {{ title: {r}{ext} }}\n");
    }
    y += "groups:\n  g: [r0, r1]\nflows:\n";
    let list = |names: &[usize]| {
        let mut v: Vec<&str> = names.iter().map(|i| end_name(*i)).collect();
        v.dedup();
        format!("[{}]", v.join(", "))
    };
    for (k, f) in flows.iter().enumerate() {
        y += &format!("  - id: flow-{k}\n    from: {}\n    to: {}\n", list(&f.from), list(&f.to));
        match &f.protos {
            Some(ps) => {
                let mut names: Vec<&str> = ps.iter().map(|p| ["tcp", "udp", "sctp"][*p]).collect();
                names.sort_unstable();
                names.dedup();
                let ports: Vec<String> = f.ports.iter().map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
                y += &format!("    proto: [{}]\n    ports: \"{}\"\n", names.join(", "), ports.join(","));
            }
            None => y += &format!("    proto: icmp\n    icmp: [{}]\n", ["echo-request", "echo-reply"][f.icmp]),
        }
        if let Some(w) = f.when {
            y += &format!("    when: \"{}\"\n", ["fa", "fa && fb", "!fb"][w]);
        }
        if let Some(a) = f.accept {
            y += &format!("    accept: {{ {}: the document says so }}\n", ["duplicate", "listen-conflict"][a]);
        }
        y += "    purpose: test flow\n    cite: \"L1\"\n";
    }
    y
}

fn load(text: &str) -> Matrix {
    matrix_from_str("random.yaml", text)
        .unwrap_or_else(|d| panic!("the generated matrix does not load: {:?}\n{text}", d.iter().map(Diagnostic::short).collect::<Vec<_>>()))
}

/// Everything a finding says: position, code, severity, message, help and
/// the reason it is accepted.
fn described(diags: &[Diagnostic]) -> Vec<String> {
    diags.iter().map(|d| format!("{} | {:?} | {:?} | {:?}", d.short(), d.severity, d.help, d.reason)).collect()
}

fn both(m: &Matrix) -> (Vec<String>, Vec<String>) {
    let file = m.file.clone().expect("loaded from text");
    (described(&overlap_findings(m, &file, Pairing::Indexed)), described(&overlap_findings(m, &file, Pairing::Pairwise)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn indexed_overlaps_equal_pairwise(flows in prop::collection::vec(flow_spec(), 1..40)) {
        let m = load(&matrix_text(&flows));
        let (indexed, pairwise) = both(&m);
        prop_assert_eq!(indexed, pairwise);
    }
}

/// The generator is not trivial: across a fixed sample, both kinds of
/// finding occur, accepted and not (otherwise the equality above would
/// compare empty lists).
#[test]
fn random_matrices_have_both_kinds_of_finding() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut codes = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let flows = prop::collection::vec(flow_spec(), 10..40).new_tree(&mut runner).expect("tree").current();
        let m = load(&matrix_text(&flows));
        let file = m.file.clone().expect("loaded");
        for d in overlap_findings(&m, &file, Pairing::Indexed) {
            codes.insert((d.code, d.reason.is_some()));
        }
    }
    for want in [("duplicate", false), ("duplicate", true), ("listen-conflict", false), ("listen-conflict", true)] {
        assert!(codes.contains(&want), "never saw {want:?}: {codes:?}");
    }
}

/// Many flows on the same port: findings stop at the cap with one finding
/// that says so, in both pairings, and `lint_matrix` reports the same.
#[test]
fn overlap_findings_are_capped() {
    let flows: Vec<FlowSpec> = (0..60)
        .map(|_| FlowSpec { from: vec![0], to: vec![1], protos: Some(vec![0]), ports: vec![(443, 443)], icmp: 0, when: None, accept: None })
        .collect();
    let m = load(&matrix_text(&flows));
    let (indexed, pairwise) = both(&m);
    // 60 identical flows: 1770 duplicate pairs, more than the cap.
    assert_eq!(indexed.len(), MAX_OVERLAP_FINDINGS + 1);
    assert_eq!(indexed, pairwise);
    assert!(indexed.last().expect("not empty").contains("the list of overlaps stops here"), "{:?}", indexed.last());
    let all = lint_matrix(&m);
    assert_eq!(all.iter().filter(|d| d.code == "duplicate").count(), MAX_OVERLAP_FINDINGS + 1);
}

/// Flows far apart in the port space do not meet, near ones do: the index
/// must not lose a pair whose ranges only touch at one port.
#[test]
fn touching_ranges_meet_and_disjoint_ones_do_not() {
    let spec = |lo: u16, hi: u16, to: usize| FlowSpec {
        from: vec![0],
        to: vec![to],
        protos: Some(vec![0]),
        ports: vec![(lo, hi)],
        icmp: 0,
        when: None,
        accept: None,
    };
    // flow-1 touches flow-0 at 1010; flow-2 is beyond both; flow-3 covers all.
    let m = load(&matrix_text(&[spec(1000, 1010, 1), spec(1010, 1020, 2), spec(1030, 1040, 1), spec(1000, 1040, 0)]));
    let (indexed, pairwise) = both(&m);
    assert_eq!(indexed, pairwise);
    let text = indexed.join("\n");
    assert!(text.contains("roles `r1` (flow `flow-0`) and `r2` (flow `flow-1`) both listen on tcp/1010"), "{text}");
    assert!(!text.contains("flow `flow-2`"), "flow-2 meets nothing that conflicts: {text}");
    assert!(text.contains("roles `r1` (flow `flow-0`) and `r0` (flow `flow-3`)"), "{text}");
}
