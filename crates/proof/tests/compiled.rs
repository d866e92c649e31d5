//! Every ruleset portmatrix compiles for the example inventories, read back
//! from its own output, matches its plan exactly.

mod common;

use common::*;
use portmatrix_proof::check;
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
