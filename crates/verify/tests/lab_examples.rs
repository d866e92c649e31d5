//! The lab on the example inventories: every required flow passes, every
//! negative probe is blocked, with the nftables and the iptables rules.

use std::path::PathBuf;

use portmatrix_verify::exact;
use portmatrix_verify::lab::{self, LabOptions};
use portmatrix_verify::netns;

fn skip(tools: &[&str]) -> bool {
    netns::skip_unless_able(tools)
}

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

fn run(name: &str, fw: portmatrix_targets::Target) {
    let tools: &[&str] = match fw {
        portmatrix_targets::Target::Iptables => &["ip", "iptables-restore", "ipset"],
        portmatrix_targets::Target::Firewalld => &["ip", "firewalld", "firewall-offline-cmd", "dbus-daemon"],
        _ => &["ip", "nft"],
    };
    if skip(tools) {
        return;
    }
    let dep = portmatrix_plan::Deployment::load(&example(name), &portmatrix_catalog::Catalog).unwrap_or_else(|d| panic!("{name}: {d:?}"));
    let plan = portmatrix_plan::plan(&dep).unwrap_or_else(|d| panic!("{name}: {d:?}"));
    let opts = LabOptions { firewall: Some(fw), ..LabOptions::default() };
    let report = lab::run(&plan, &opts).expect("lab");
    let failed: Vec<_> = report.results.iter().filter(|r| !r.ok).collect();
    eprintln!("{name} {}: {} probes, {} failed, timings {:?}", fw.name(), report.results.len(), failed.len(), report.timings);
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    assert!(report.results.iter().any(|r| r.target.expect == portmatrix_verify::probe::Expect::Block));
    // Every network firewall's rules are loaded in a namespace of its own
    // (iptables: a file per family, after its ipsets; nftables and
    // firewalld: one ruleset).
    let per_firewall = if fw == portmatrix_targets::Target::Iptables { 2 } else { 1 };
    for f in &plan.firewalls {
        let files = report.loaded.iter().filter(|l| l.starts_with(&format!("{}:", f.name)) && !l.ends_with("(ipset)")).count();
        assert_eq!(files, per_firewall, "{}: {:?}", f.name, report.loaded);
    }
    // Every managed host is loaded, or listed as not tested with the reason.
    for h in plan.hosts.iter().filter(|h| h.managed) {
        let loaded = report.loaded.iter().any(|l| l.starts_with(&format!("{}:", h.name)));
        let listed = report.not_tested.iter().any(|l| l.starts_with(&format!("{}:", h.name)) || l.starts_with(&format!("{} (", h.name)));
        assert!(loaded != listed, "{}: {:?} {:?}", h.name, report.loaded, report.not_tested);
        // Loaded hosts are read back from their kernel and checked exactly;
        // Windows hosts get the check on their script.
        let windows = h.os == Some(portmatrix_model::Os::Windows);
        let check = report.exact.iter().find(|c| c.node == h.name);
        if fw == portmatrix_targets::Target::Firewalld && !windows {
            // firewalld rulesets are not checked exactly yet, and say so.
            assert!(check.is_none() && report.not_tested.iter().any(|l| l.starts_with("firewalld rulesets: not checked exactly")));
        } else if loaded || windows {
            let c = check.unwrap_or_else(|| panic!("{}: no exact check", h.name));
            let source = if windows { exact::Source::Script } else { exact::Source::Kernel };
            assert_eq!(c.source, source, "{}", h.name);
        } else {
            assert!(check.is_none(), "{}: checked but neither loaded nor a script", h.name);
        }
    }
    for f in plan.firewalls.iter().filter(|_| fw != portmatrix_targets::Target::Firewalld) {
        assert!(report.exact.iter().any(|c| c.node == f.name && c.source == exact::Source::Kernel), "{}: no exact check", f.name);
    }
    for c in &report.exact {
        assert!(c.passed(), "{name}: {}\n{:?}", c.report.summary(), c.report.rows());
    }
    assert_eq!(report.summary.rulesets_checked, report.exact.len());
    assert_eq!(report.summary.rulesets_exact, report.exact.len());
    assert!(failed.is_empty(), "{}", portmatrix_verify::output::table(&report.results));
}

#[test]
fn avaya_pom_nftables() {
    run("avaya-pom.yaml", portmatrix_targets::Target::Nftables);
}

#[test]
fn avaya_pom_iptables() {
    run("avaya-pom.yaml", portmatrix_targets::Target::Iptables);
}

/// firewalld, run in every host's namespace and the router's, loaded from
/// the generated configuration (one network firewall: the router runs it).
#[test]
fn avaya_pom_firewalld() {
    run("avaya-pom.yaml", portmatrix_targets::Target::Firewalld);
}

#[test]
fn imagicle_ucsuite_nftables() {
    run("imagicle-ucsuite.yaml", portmatrix_targets::Target::Nftables);
}

#[test]
fn imagicle_ucsuite_iptables() {
    run("imagicle-ucsuite.yaml", portmatrix_targets::Target::Iptables);
}

#[test]
fn jtel_acd_nftables() {
    run("jtel-acd.yaml", portmatrix_targets::Target::Nftables);
}

#[test]
fn jtel_acd_iptables() {
    run("jtel-acd.yaml", portmatrix_targets::Target::Iptables);
}

#[test]
fn jtel_stack_nftables() {
    run("jtel-stack.yaml", portmatrix_targets::Target::Nftables);
}

#[test]
fn jtel_stack_iptables() {
    run("jtel-stack.yaml", portmatrix_targets::Target::Iptables);
}

#[test]
fn mixed_nftables() {
    run("mixed.yaml", portmatrix_targets::Target::Nftables);
}

#[test]
fn mixed_iptables() {
    run("mixed.yaml", portmatrix_targets::Target::Iptables);
}

#[test]
fn moderro_rem_nftables() {
    run("moderro-rem.yaml", portmatrix_targets::Target::Nftables);
}

#[test]
fn moderro_rem_iptables() {
    run("moderro-rem.yaml", portmatrix_targets::Target::Iptables);
}

fn load(name: &str) -> portmatrix_plan::Plan {
    let dep = portmatrix_plan::Deployment::load(&example(name), &portmatrix_catalog::Catalog).unwrap_or_else(|d| panic!("{name}: {d:?}"));
    portmatrix_plan::plan(&dep).unwrap_or_else(|d| panic!("{name}: {d:?}"))
}

/// Without firewall rules, the negative probes get through: they test the
/// rules, not the absence of listeners. With no filter on any path they are
/// unenforced, which fails the lab only under `strict`.
#[test]
fn without_rules_forbidden_probes_pass() {
    if skip(&["ip"]) {
        return;
    }
    let plan = load("jtel-stack.yaml");
    for strict in [false, true] {
        let opts = LabOptions { firewall: None, strict, ..LabOptions::default() };
        let report = lab::run(&plan, &opts).expect("lab");
        let neg: Vec<_> = report
            .results
            .iter()
            .zip(&report.judgements)
            .filter(|(r, _)| r.target.expect == portmatrix_verify::probe::Expect::Block)
            .collect();
        assert!(!neg.is_empty());
        assert!(
            neg.iter().all(|(r, j)| r.verdict == portmatrix_verify::probe::Verdict::Pass && j.unenforced),
            "{}",
            portmatrix_verify::output::table(&report.results)
        );
        assert!(neg.iter().all(|(r, _)| r.ok != strict));
        assert_eq!(report.passed(), !strict);
        assert!(report.results.iter().filter(|r| r.target.expect == portmatrix_verify::probe::Expect::Reach).all(|r| r.ok));
    }
}

/// Deletes the line containing `needle` (a rule, or a set's elements) from
/// `host`'s nftables file.
fn delete_element(host: &'static str, needle: &'static str) -> portmatrix_verify::lab::Mutation {
    std::sync::Arc::new(move |node: &str, f: &mut portmatrix_targets::OutputFile| {
        if node != host || !f.name.ends_with(".nft") {
            return;
        }
        // Several files per node (a router with several firewalls): the one with it.
        if !f.contents.contains(needle) {
            return;
        }
        let before = f.contents.lines().count();
        f.contents = f.contents.lines().filter(|l| !l.contains(needle)).collect::<Vec<_>>().join("\n") + "\n";
        assert_eq!(f.contents.lines().count(), before - 1, "exactly one line deleted");
    })
}

/// Removes one member from an address set of `host`'s nftables file.
fn delete_member(host: &'static str, set: &'static str, member: &'static str) -> portmatrix_verify::lab::Mutation {
    std::sync::Arc::new(move |node: &str, f: &mut portmatrix_targets::OutputFile| {
        if node != host || !f.name.ends_with(".nft") {
            return;
        }
        let mut in_set = false;
        let mut changed = 0;
        let lines: Vec<String> = f
            .contents
            .lines()
            .map(|l| {
                if l.trim() == format!("set {set} {{") {
                    in_set = true;
                } else if in_set && l.trim() == "}" {
                    in_set = false;
                } else if in_set && l.contains("elements = {") {
                    let (head, rest) = l.split_once("{ ").unwrap();
                    let kept: Vec<&str> = rest.trim_end_matches(" }").split(", ").filter(|m| *m != member).collect();
                    changed += 1;
                    return format!("{head}{{ {} }}", kept.join(", "));
                }
                l.to_string()
            })
            .collect();
        assert_eq!(changed, 1, "set {set} not found");
        f.contents = lines.join("\n") + "\n";
    })
}

/// Deletes the rule line containing `needle` from `host`'s iptables file.
fn delete_rule(host: &'static str, needle: &'static str) -> portmatrix_verify::lab::Mutation {
    std::sync::Arc::new(move |node: &str, f: &mut portmatrix_targets::OutputFile| {
        if node != host || !f.name.ends_with(".iptables") {
            return;
        }
        if !f.contents.contains(needle) {
            return; // the other family's file
        }
        let before = f.contents.lines().count();
        f.contents = f.contents.lines().filter(|l| !l.contains(needle)).collect::<Vec<_>>().join("\n") + "\n";
        assert_eq!(f.contents.lines().count(), before - 1, "exactly one rule deleted");
    })
}

fn mutation(needle: &'static str, expect_failed: &[&str]) {
    mutation_on("jtel-stack.yaml", portmatrix_targets::Target::Nftables, delete_element("stack1", needle), expect_failed)
}

fn mutation_with(fw: portmatrix_targets::Target, m: portmatrix_verify::lab::Mutation, expect_failed: &[&str]) {
    mutation_on("jtel-stack.yaml", fw, m, expect_failed)
}

fn mutation_on(example: &str, fw: portmatrix_targets::Target, m: portmatrix_verify::lab::Mutation, expect_failed: &[&str]) {
    let tool = match fw {
        portmatrix_targets::Target::Iptables => "iptables-restore",
        portmatrix_targets::Target::Firewalld => "firewalld",
        _ => "nft",
    };
    if skip(&["ip", tool]) {
        return;
    }
    let plan = load(example);
    let opts = LabOptions { firewall: Some(fw), mutate: Some(m), ..LabOptions::default() };
    let report = lab::run(&plan, &opts).expect("lab");
    assert!(!report.flows.iter().all(|f| f.ok), "the mutation changed nothing");
    let failed: Vec<String> = lab::per_flow(&report.results).into_iter().filter(|f| !f.ok).map(|f| f.flow).collect();
    assert_eq!(failed, expect_failed, "{}", portmatrix_verify::output::table(&report.results));
    for r in report.results.iter().filter(|r| !r.ok) {
        assert_eq!(r.verdict, portmatrix_verify::probe::Verdict::Blocked, "{r:?}");
    }
    // The exact check, reading the mutated node's ruleset back from its
    // kernel, finds the same flows missing, and nothing wrong elsewhere.
    assert!(!report.passed());
    if fw == portmatrix_targets::Target::Firewalld {
        // firewalld's own tables are probed, not checked exactly: the report says so.
        assert!(report.exact.is_empty() && report.not_tested.iter().any(|n| n.contains("firewalld")), "{:?}", report.not_tested);
        return;
    }
    let wrong: Vec<&exact::ExactCheck> = report.exact.iter().filter(|c| !c.passed()).collect();
    assert_eq!(wrong.len(), 1, "{:?}", wrong.iter().map(|c| c.report.summary()).collect::<Vec<_>>());
    let mut missing: Vec<String> = wrong[0]
        .report
        .findings
        .iter()
        .flat_map(|f| match f {
            portmatrix_proof::Finding::Missing { planned, .. } => planned.reasons.clone(),
            other => panic!("only missing findings expected: {other:?}"),
        })
        .collect();
    missing.sort();
    missing.dedup();
    assert_eq!(missing, expect_failed, "{:?}", wrong[0].report.rows());
}

/// Mutation tests: deleting one rule makes the lab report exactly the
/// flows it carried as blocked, and nothing else.
#[test]
fn mutation_deleting_the_last_rule_blocks_its_flow() {
    mutation("dport 15000-15059 counter", &["stack/sbc-rtp"]);
}

#[test]
fn mutation_deleting_a_middle_rule_blocks_its_flow() {
    mutation("@pbx_softphones tcp dport 5061 ", &["stack/sips"]);
}

/// Removing a network from a source set blocks every flow of that group.
#[test]
fn mutation_deleting_a_set_member_blocks_the_flows_of_its_group() {
    mutation_with(
        portmatrix_targets::Target::Nftables,
        delete_member("stack1", "pbx_softphones", "10.22.0.0/16"),
        &["stack/sip", "stack/sips"],
    );
}

#[test]
fn mutation_deleting_an_iptables_rule_blocks_its_flow() {
    mutation_with(
        portmatrix_targets::Target::Iptables,
        delete_rule("stack1", "-p udp -m set --match-set pbx_softphones src -m multiport --dports 5060 "),
        &["stack/sip"],
    );
}

#[test]
fn mutation_deleting_a_network_firewall_element_blocks_its_flow() {
    mutation_on(
        "mixed.yaml",
        portmatrix_targets::Target::Nftables,
        delete_element("core-fw", "ip saddr @rem_uccx ip daddr 10.60.0.11 tcp dport 8443 "),
        &["rem/uccx-resc"],
    );
}

#[test]
fn mutation_deleting_a_network_firewall_iptables_rule_blocks_its_flow() {
    mutation_on(
        "mixed.yaml",
        portmatrix_targets::Target::Iptables,
        delete_rule("core-fw", "-d 10.60.0.11/32 -p tcp -m set --match-set rem_uccx src"),
        &["rem/uccx-resc"],
    );
}

/// Deletes the line containing `needle` from `host`'s firewalld file `file`.
fn delete_firewalld_line(host: &'static str, file: &'static str, needle: &'static str) -> portmatrix_verify::lab::Mutation {
    std::sync::Arc::new(move |node: &str, f: &mut portmatrix_targets::OutputFile| {
        if node != host || !f.name.ends_with(file) {
            return;
        }
        let before = f.contents.lines().count();
        f.contents = f.contents.lines().filter(|l| !l.contains(needle)).collect::<Vec<_>>().join("\n") + "\n";
        assert_eq!(f.contents.lines().count(), before - 1, "exactly one rule deleted");
    })
}

/// Deleting one rich rule of a host's firewalld zone blocks exactly its flow.
#[test]
fn mutation_deleting_a_firewalld_rich_rule_blocks_its_flow() {
    mutation_on(
        "avaya-pom.yaml",
        portmatrix_targets::Target::Firewalld,
        delete_firewalld_line(
            "pom1",
            "zones/portmatrix.xml",
            "<rule family=\"ipv4\"><source ipset=\"pm_pom1_pom2_sp7f6\"/><service name=\"pm_pom_alm_service_tcp\"/>",
        ),
        &["pom/alm-service"],
    );
}

/// The jtel-stack example's port forwards end to end (seed 001: the SBC's
/// RTP range and SIP port behind the edge firewall's public address): from
/// the outside zone, the forwarded ports the plan permits reach the stack
/// VM on its own address (verdict `nat`), the ones it does not are
/// translated and then dropped by the forward rules.
fn port_forwards(fw: portmatrix_targets::Target) {
    let tool = if fw == portmatrix_targets::Target::Iptables { "iptables-restore" } else { "nft" };
    if skip(&["ip", tool]) {
        return;
    }
    let plan = load("jtel-stack.yaml");
    let public = plan.forwards.first().expect("the example forwards ports").public;
    let private = plan.forwards[0].private;
    let report = lab::run(&plan, &LabOptions { firewall: Some(fw), ..LabOptions::default() }).expect("lab");
    let table = portmatrix_verify::output::table(&report.results);
    let to_public: Vec<_> = report.results.iter().filter(|r| r.target.addr == public).collect();
    let (required, forbidden): (Vec<&portmatrix_verify::probe::ProbeResult>, Vec<&portmatrix_verify::probe::ProbeResult>) =
        to_public.iter().partition(|r| r.target.expect == portmatrix_verify::probe::Expect::Reach);
    for flow in ["stack/sbc-rtp", "stack/sbc-sip"] {
        assert!(
            required.iter().any(|r| r.target.flows.iter().any(|f| f.to_string() == flow)),
            "{flow} is probed through the forward\n{table}"
        );
    }
    for r in &required {
        assert_eq!(r.verdict, portmatrix_verify::probe::Verdict::Nat, "{r:?}");
        assert!(r.detail.contains(&format!("answered on {private}:{}", r.target.port)), "{r:?}");
    }
    assert!(!forbidden.is_empty(), "a source the plan does not allow is probed through the forward too\n{table}");
    for r in &forbidden {
        assert_eq!(r.verdict, portmatrix_verify::probe::Verdict::Blocked, "{r:?}");
    }
    assert!(report.passed(), "{table}");
}

#[test]
fn port_forwards_nftables() {
    port_forwards(portmatrix_targets::Target::Nftables);
}

#[test]
fn port_forwards_iptables() {
    port_forwards(portmatrix_targets::Target::Iptables);
}

/// Deleting the RTP range's DNAT rule fails exactly the probes of the RTP
/// forward: the stack's own rules still pass the carriers' media when sent
/// to its address.
#[test]
fn mutation_deleting_a_port_forward_fails_its_probes() {
    for fw in [portmatrix_targets::Target::Nftables, portmatrix_targets::Target::Iptables] {
        let tool = if fw == portmatrix_targets::Target::Iptables { "iptables-restore" } else { "nft" };
        if skip(&["ip", tool]) {
            return;
        }
        let (ext, needle) = match fw {
            portmatrix_targets::Target::Iptables => (".iptables", "--dports 15000:15059 -m comment --comment \"port forward"),
            _ => (".nft", "udp dport 15000-15059 dnat ip to "),
        };
        let m: portmatrix_verify::lab::Mutation = std::sync::Arc::new(move |node: &str, f: &mut portmatrix_targets::OutputFile| {
            if node != "edge-fw" || !f.name.ends_with(ext) || !f.contents.contains(needle) {
                return;
            }
            let before = f.contents.lines().count();
            f.contents = f.contents.lines().filter(|l| !l.contains(needle)).collect::<Vec<_>>().join("\n") + "\n";
            assert_eq!(f.contents.lines().count(), before - 1, "exactly the DNAT rule deleted");
        });
        let plan = load("jtel-stack.yaml");
        let public = plan.forwards[0].public;
        let report = lab::run(&plan, &LabOptions { firewall: Some(fw), mutate: Some(m), ..LabOptions::default() }).expect("lab");
        let failed: Vec<_> = report.results.iter().filter(|r| !r.ok).collect();
        assert!(!failed.is_empty(), "{}", portmatrix_verify::output::table(&report.results));
        for r in &failed {
            assert_eq!(r.target.addr, public, "only probes through the forward fail: {r:?}");
            assert!((15000..=15059).contains(&r.target.port), "only the RTP forward: {r:?}");
            assert_eq!(r.target.expect, portmatrix_verify::probe::Expect::Reach, "{r:?}");
        }
        let flows: Vec<String> = lab::per_flow(&report.results).into_iter().filter(|f| !f.ok).map(|f| f.flow).collect();
        assert_eq!(flows, ["stack/sbc-rtp"], "{}", portmatrix_verify::output::table(&report.results));
    }
}
