//! Every ruleset portmatrix compiles for the example inventories, read back
//! from its own output, matches its plan exactly.

mod common;

use common::*;
use portmatrix_proof::{check, Finding};
use portmatrix_targets::read::ReadBack;
use portmatrix_targets::Target;

#[test]
fn compiled_rulesets_match_their_plan() {
    let mut checked = 0;
    for ex in examples() {
        let p = plan_of(&ex);
        for target in [Target::Nftables, Target::Iptables, Target::Windows] {
            for (job, files) in compiled(&p, target) {
                let rb = match target {
                    Target::Nftables => ReadBack::from_nft_json(file(&files, ".nft.json")).unwrap(),
                    Target::Iptables => {
                        ReadBack::from_iptables_save(Some(file(&files, ".iptables")), Some(file(&files, ".ip6tables")), ipset_of(&files))
                            .unwrap()
                    }
                    _ => ReadBack::from_powershell(file(&files, ".ps1")).unwrap(),
                };
                let r = check(&p, &subject(&job), &rb).unwrap();
                assert!(
                    r.exact_match,
                    "{} {target} {}: {}\n{}",
                    name(&ex),
                    job.name,
                    r.summary(),
                    serde_json::to_string_pretty(&r).unwrap()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 30, "{checked}");
}

/// The edge firewall of the jtel-stack example forwards a public address to
/// `stack1`: the check judges its forward chain after the translation, and
/// a ruleset that lost the forwards, or sends them elsewhere, is caught
/// with a witness addressed to the public address.
#[test]
fn port_forwards_are_judged_after_the_translation() {
    let ex = examples().into_iter().find(|p| name(p) == "jtel-stack").expect("the jtel-stack example");
    let p = plan_of(&ex);
    let (job, files) = compiled(&p, Target::Nftables).into_iter().find(|(j, _)| j.name == "edge-fw").expect("edge-fw");
    let json: serde_json::Value = serde_json::from_str(file(&files, ".nft.json")).unwrap();
    let check_json = |doc: &serde_json::Value| {
        let rb = ReadBack::from_nft_json(&doc.to_string()).unwrap();
        check(&p, &subject(&job), &rb).unwrap()
    };
    let r = check_json(&json);
    assert!(r.exact_match, "{}", r.summary());
    assert!(
        r.notes.iter().any(|n| n.contains("destination NAT in `inet portmatrix prerouting` is modelled (to 10.50.0.10)")),
        "{:?}",
        r.notes
    );

    let is_forward = |o: &serde_json::Value| o.pointer("/add/rule/chain").and_then(|c| c.as_str()) == Some("prerouting");
    let mut lost = json.clone();
    lost["nftables"].as_array_mut().unwrap().retain(|o| !is_forward(o));
    let mut elsewhere = json.clone();
    for o in elsewhere["nftables"].as_array_mut().unwrap().iter_mut().filter(|o| is_forward(o)) {
        let text = o.to_string().replace("\"10.50.0.10\"", "\"10.50.0.11\"");
        *o = serde_json::from_str(&text).unwrap();
    }
    for (what, doc) in [("forwards removed", lost), ("forwards to another address", elsewhere)] {
        let r = check_json(&doc);
        let missing: Vec<&Finding> = r.findings.iter().filter(|f| matches!(f, Finding::Missing { .. })).collect();
        assert!(!r.exact_match && !missing.is_empty(), "{what}: {}", r.summary());
        for f in missing {
            let Finding::Missing { witness, .. } = f else { unreachable!() };
            assert_eq!(witness.dst.to_string(), "203.0.113.50", "{what}: {f:?}");
        }
    }
}
