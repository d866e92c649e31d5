//! Golden files: every target × every example inventory. Review a change
//! with `cargo insta review`.

mod common;

use portmatrix_targets::Target;

#[test]
fn every_target_for_every_example() {
    let mut used: std::collections::BTreeSet<Target> = std::collections::BTreeSet::new();
    for ex in common::examples() {
        let name = ex.file_stem().unwrap().to_string_lossy().to_string();
        let p = common::plan_of(&ex);
        for t in Target::ALL {
            let files = common::compile_all(&p, t);
            // A target writes nothing only where no host runs its OS and it
            // writes no firewall rules (windows for an all-Linux deployment).
            let fits_something = p.hosts.iter().any(|h| portmatrix_targets::policy::misfit(t, h).is_none())
                || (!p.firewalls.is_empty() && t.backend().capabilities().forward);
            assert_eq!(!files.is_empty(), fits_something, "{name}/{}", t.name());
            if files.is_empty() {
                continue;
            }
            used.insert(t);
            let mut all = String::new();
            for f in &files {
                all.push_str(&format!("===== {} =====\n{}", f.name, f.contents));
            }
            insta::assert_snapshot!(format!("{name}__{}", t.name()), all);
        }
    }
    assert_eq!(used.len(), Target::ALL.len(), "every target renders some example");
}

#[test]
fn output_is_deterministic() {
    for ex in common::examples() {
        let a = common::compile_all(&common::plan_of(&ex), Target::Nftables);
        let b = common::compile_all(&common::plan_of(&ex), Target::Nftables);
        assert_eq!(a, b, "{}", ex.display());
    }
}

/// Every accepting rule carries its reason; every flow rule names its
/// flows (product/flow) and counts into a counter per flow; every address
/// set is used by such a rule, so no address is in a file without a reason.
#[test]
fn every_accept_rule_says_why() {
    for ex in common::examples() {
        let p = common::plan_of(&ex);
        for f in common::compile_all(&p, Target::Nftables).iter().filter(|f| f.name.ends_with(".nft")) {
            let mut sets = Vec::new();
            let mut used = std::collections::BTreeSet::new();
            for line in f.contents.lines().map(str::trim) {
                if let Some(name) = line.strip_prefix("set ").and_then(|l| l.strip_suffix(" {")) {
                    sets.push(name.to_string());
                }
                let is_accept = line.ends_with("accept") || line.contains(" accept comment");
                if is_accept {
                    assert!(line.contains("comment \""), "{}: rule without reason: {line}", f.name);
                }
                if let Some((_, rest)) = line.split_once(" saddr @") {
                    used.insert(rest.split(' ').next().unwrap().to_string());
                    let comment = line.split_once(" comment \"").map(|x| x.1).unwrap_or_default();
                    assert!(is_accept && comment.contains('/'), "{}: flow rule without its flows: {line}", f.name);
                    assert!(line.contains(" counter name \""), "{}: flow rule without a counter: {line}", f.name);
                }
            }
            for s in &sets {
                assert!(used.contains(s), "{}: set {s} is used by no rule", f.name);
            }
            assert!(!sets.is_empty(), "{}", f.name);
        }
        for f in common::compile_all(&p, Target::Iptables) {
            for line in f.contents.lines().filter(|l| l.contains("-j ACCEPT")) {
                assert!(line.contains("--comment"), "{}: {line}", f.name);
            }
        }
    }
}

#[test]
fn no_rule_without_an_address_match() {
    for ex in common::examples() {
        let p = common::plan_of(&ex);
        for f in common::compile_all(&p, Target::Iptables) {
            for line in f.contents.lines().filter(|l| l.starts_with("-A") && l.contains("--dports")) {
                // A port forward translates only its public address; the
                // FORWARD rules then judge the source.
                let ok = if line.contains(" -j DNAT ") {
                    line.contains(" -d ")
                } else {
                    line.contains(" -s ") || line.contains(" --match-set ")
                };
                assert!(ok, "{}: {line}", f.name);
            }
        }
        for h in p.hosts.iter().filter(|h| h.managed) {
            let rs = portmatrix_targets::host_ruleset(&p, &h.name).unwrap();
            assert!(rs.rules.iter().all(|r| !r.src.is_empty()), "{}", h.name);
        }
    }
}

/// A flow rule's comment names exactly the flows that need every one of
/// its ports, and it counts into exactly their counters.
#[test]
fn rule_comments_name_the_flows_that_need_every_port() {
    use portmatrix_model::{PortSet, Proto};
    let mut checked = 0;
    for ex in common::examples() {
        let p = common::plan_of(&ex);
        for h in p.hosts.iter().filter(|h| h.managed) {
            let rs = portmatrix_targets::host_ruleset(&p, &h.name).unwrap();
            let Ok(c) = portmatrix_targets::compile_host(&p, &h.name, Target::Nftables, &Default::default()) else { continue };
            for line in c.files[0].contents.lines().map(str::trim).filter(|l| l.contains(" saddr @") && l.contains(" dport ")) {
                let words: Vec<&str> = line.split(' ').collect();
                let at = words.iter().position(|w| *w == "dport").unwrap();
                let proto = Proto::parse(words[at - 1]).unwrap();
                let ports_text: String =
                    words[at + 1..].iter().take_while(|w| !w.starts_with("counter")).copied().collect::<Vec<_>>().join("");
                let ports = PortSet::parse(ports_text.trim_matches(['{', '}'])).unwrap();
                let (_, comment) = line.split_once(" comment \"").unwrap();
                let tags: Vec<&str> = comment.trim_end_matches('"').split(' ').collect();
                for tag in &tags {
                    let needs = rs
                        .rules
                        .iter()
                        .any(|r| r.proto == proto && r.reasons.iter().any(|x| x.to_string() == *tag) && ports.is_subset(&r.dports));
                    assert!(needs, "{}: `{tag}` does not need all of {ports}: {line}", h.name);
                }
                let counters = words.windows(3).filter(|w| w[0] == "counter" && w[1] == "name").count();
                assert_eq!(counters, tags.len(), "{}: {line}", h.name);
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "only {checked} rules checked");
}

/// Port forwards are written by nftables and iptables; every other target
/// that writes the firewall says it left them out.
#[test]
fn targets_without_nat_say_so() {
    let ex = common::examples().into_iter().find(|e| e.ends_with("jtel-stack.yaml")).expect("the jtel-stack example");
    let p = common::plan_of(&ex);
    assert!(p.forwards.iter().any(|f| f.firewall == "edge-fw"));
    for t in Target::ALL.into_iter().filter(|t| t.backend().capabilities().forward) {
        let c = portmatrix_targets::compile_firewall(&p, "edge-fw", t, &Default::default()).unwrap();
        let warned = c.warnings.iter().any(|w| w.contains("port forward(s) not written"));
        let written = c.files.iter().any(|f| f.contents.contains("203.0.113.50"));
        assert_eq!(written, matches!(t, Target::Nftables | Target::Iptables), "{}", t.name());
        assert_eq!(warned, !written, "{}: {:?}", t.name(), c.warnings);
    }
}
