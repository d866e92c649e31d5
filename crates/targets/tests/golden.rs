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

#[test]
fn every_accept_rule_says_why() {
    for ex in common::examples() {
        let p = common::plan_of(&ex);
        for f in common::compile_all(&p, Target::Nftables).iter().filter(|f| f.name.ends_with(".nft")) {
            for line in f.contents.lines().map(str::trim) {
                let is_accept = line.ends_with("accept") || line.contains(" accept comment");
                if is_accept {
                    assert!(line.contains("comment \""), "{}: rule without reason: {line}", f.name);
                }
                // A set element carries the product/flow it serves.
                if line.contains(" . ") && !line.contains('@') && !line.starts_with("type ") {
                    assert!(line.contains("comment \"") && line.contains('/'), "{}: element without reason: {line}", f.name);
                }
            }
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
                assert!(line.contains(" -s "), "{}: {line}", f.name);
            }
        }
        for h in p.hosts.iter().filter(|h| h.managed) {
            let rs = portmatrix_targets::host_ruleset(&p, &h.name).unwrap();
            assert!(rs.rules.iter().all(|r| !r.src.is_empty()), "{}", h.name);
        }
    }
}

#[test]
fn element_comments_name_only_flows_that_need_the_element() {
    use portmatrix_model::PortSet;
    for ex in common::examples() {
        let p = common::plan_of(&ex);
        for h in p.hosts.iter().filter(|h| h.managed) {
            let rs = portmatrix_targets::host_ruleset(&p, &h.name).unwrap();
            let Ok(c) = portmatrix_targets::compile_host(&p, &h.name, Target::Nftables, &Default::default()) else { continue };
            let files = c.files;
            for line in
                files[0].contents.lines().map(str::trim).filter(|l| l.contains(" . ") && l.contains("comment \"") && !l.contains(" saddr "))
            {
                let (elem, comment) = line.split_once(" comment \"").unwrap();
                let ports = PortSet::parse(elem.rsplit(" . ").next().unwrap()).unwrap();
                for tag in comment.trim_end_matches([',', '"']).split(' ').filter(|t| t.contains('/')) {
                    let needs = rs.rules.iter().any(|r| r.reasons.iter().any(|x| x.to_string() == tag) && r.dports.overlaps(&ports));
                    assert!(needs, "{}: `{tag}` does not need {ports}: {line}", h.name);
                }
            }
        }
    }
}
