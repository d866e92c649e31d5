//! Golden files of the findings for hand-made rulesets next to, or instead
//! of, portmatrix's own: a Docker-like table, an iptables-nft table (seen
//! through nftables alone, then with iptables-save beside it), and a
//! ruleset written by hand with verdict maps, jumps, returns and goto.
//!
//! The fixtures are real kernel output: `tests/fixtures/*.nft` loaded into
//! a network namespace with portmatrix's ruleset for `pom-db1` of
//! `examples/avaya-pom.yaml` (`compile --target nftables --host pom-db1`),
//! listed with `nft -j list ruleset`, `iptables-save` and `ip6tables-save`.

mod common;

use portmatrix_proof::{check, Report};
use portmatrix_targets::read::ReadBack;
use portmatrix_targets::Subject;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap()
}

fn report(rb: &ReadBack) -> Report {
    let p = common::plan_of(&common::examples().into_iter().find(|e| common::name(e) == "avaya-pom").unwrap());
    check(&p, &Subject::Host("pom-db1".into()), rb).unwrap()
}

/// The table as the CLI prints it, without terminal widths: one line per row.
fn text(r: &Report) -> String {
    let (header, rows) = r.rows();
    let mut out = format!("{}\n", header.join(" | "));
    for row in rows {
        out.push_str(&row.join(" | "));
        out.push('\n');
    }
    for n in &r.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out.push_str(&r.summary());
    out.push('\n');
    out
}

fn golden(name: &str, rb: &ReadBack) -> Report {
    let r = report(rb);
    insta::assert_snapshot!(format!("{name}-table"), text(&r));
    insta::assert_snapshot!(format!("{name}-json"), serde_json::to_string_pretty(&r).unwrap());
    r
}

#[test]
fn docker_like_table_next_to_ours() {
    let r = golden("docker-like", &ReadBack::from_nft_json(&fixture("docker-like.json")).unwrap());
    assert!(r.findings.iter().any(|f| f.kind() == "interference"));
    // The DNAT of published ports is not judged: it changes the destination.
    assert!(r.cannot_judge.iter().any(|c| c.what.contains("dnat")));
    assert!(!r.exact_match);
}

#[test]
fn iptables_nft_table_seen_through_nftables_alone() {
    let r = golden("iptables-nft-alone", &ReadBack::from_nft_json(&fixture("iptables-nft.json")).unwrap());
    // Its comment match is an opaque xt expression in the nftables view.
    assert!(r.cannot_judge.iter().any(|c| c.what.contains("iptables extension")));
}

#[test]
fn iptables_nft_table_with_iptables_save() {
    let nft = ReadBack::from_nft_json(&fixture("iptables-nft.json")).unwrap();
    let ipt =
        ReadBack::from_iptables_save(Some(&fixture("iptables-nft.iptables")), Some(&fixture("iptables-nft.ip6tables")), None).unwrap();
    let r = golden("iptables-nft-with-save", &ReadBack::merge_live(nft, ipt, true));
    assert!(r.cannot_judge.is_empty(), "{:?}", r.cannot_judge);
    assert!(r
        .findings
        .iter()
        .any(|f| matches!(f, portmatrix_proof::Finding::Interference { effect: portmatrix_proof::Effect::DropsPlanned, .. })));
    assert!(r.findings.iter().any(|f| f.kind() == "missing"));
}

#[test]
fn hand_written_ruleset_with_verdict_maps() {
    let r = golden("vmap", &ReadBack::from_nft_json(&fixture("vmap.json")).unwrap());
    // The log rule is judged (it leaves the verdict alone); every mistake is found.
    assert!(r.cannot_judge.is_empty(), "{:?}", r.cannot_judge);
    let extra: Vec<String> = r.findings.iter().filter(|f| f.kind() == "extra").map(|f| serde_json::to_string(f).unwrap()).collect();
    assert!(extra.iter().any(|f| f.contains("a second cluster")), "{extra:?}");
    assert!(extra.iter().any(|f| f.contains("all of ICMP")), "{extra:?}");
    assert!(r.findings.iter().any(|f| f.kind() == "missing"));
}
