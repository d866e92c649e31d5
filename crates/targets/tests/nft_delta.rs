//! The nftables delta in the kernel: for example plans and edits of them
//! (host removed, feature toggled, parameter changed, addresses changed),
//! every host and firewall whose table changes gets a delta script; loading
//! ruleset(A) and then the script in one network namespace must list the
//! same table as loading ruleset(B) fresh in another. Needs root and nft;
//! without them the test says so and passes, except under CI.

// Shared with the other target tests; this one needs only `plan_of`.
#[allow(dead_code)]
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use portmatrix_plan::Plan;
use portmatrix_targets::compile::{jobs_for_all, JobKind, Shared};
use portmatrix_targets::nftables::{delta, layout, text};
use portmatrix_targets::{Header, RenderOptions, Target};
use serde_json::Value;

fn nft_ready() -> bool {
    let root = Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false);
    let present = Command::new("sh").arg("-c").arg("command -v nft && command -v ip").output().map(|o| o.status.success()).unwrap_or(false);
    if !(root && present) {
        assert!(std::env::var_os("CI").is_none(), "CI must run the nftables delta test as root with nft and ip");
        eprintln!("skipping: the nftables delta test needs root, nft and ip");
        return false;
    }
    true
}

/// A network namespace of this test, deleted when dropped (also when the
/// test fails); every nft command of the test runs inside one.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("pmx-delta-{tag}-{}-{n}", std::process::id());
        let ok = Command::new("ip").args(["netns", "add", &name]).status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "ip netns add {name}");
        Netns(name)
    }
    fn nft(&self, args: &[&str]) -> String {
        let out = Command::new("ip").args(["netns", "exec", &self.0, "nft"]).args(args).output().expect("run nft");
        assert!(out.status.success(), "nft {} in {}:\n{}", args.join(" "), self.0, String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("nft prints UTF-8")
    }
    fn load(&self, what: &str, script: &str) {
        if let Err(e) = self.try_load(script) {
            panic!("nft -f rejects {what}:\n{e}\n--- script ---\n{script}");
        }
    }
    fn try_load(&self, script: &str) -> Result<(), String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("script.nft");
        std::fs::write(&path, script).unwrap();
        let out = Command::new("ip").args(["netns", "exec", &self.0, "nft", "-f"]).arg(&path).output().expect("run nft");
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
    /// The table as the kernel holds it, normalised: handles and counter
    /// values dropped (they differ between two loads of the same table),
    /// sets, counters and chains sorted (their listing order is the order
    /// they were created in, which means nothing), rules kept in order.
    fn table(&self) -> Vec<Value> {
        let listed: Value = serde_json::from_str(&self.nft(&["-j", "list", "table", "inet", "portmatrix"])).unwrap();
        let mut objects = Vec::new();
        let mut rules = Vec::new();
        for mut o in listed["nftables"].as_array().unwrap().iter().cloned() {
            if o.get("metainfo").is_some() {
                continue;
            }
            strip(&mut o);
            if o.get("rule").is_some() {
                rules.push(o);
            } else {
                objects.push(o);
            }
        }
        objects.sort_by_key(|o| o.to_string());
        objects.extend(rules);
        objects
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn strip(v: &mut Value) {
    if let Value::Object(m) = v {
        m.remove("handle");
        if let Some(Value::Object(c)) = m.get_mut("counter") {
            c.remove("packets");
            c.remove("bytes");
        }
        m.values_mut().for_each(strip);
    }
}

/// The nftables document of each host and firewall `compile --all` makes.
fn documents(p: &Plan) -> Vec<(String, nftables::schema::Nftables<'static>, String)> {
    let shared = Shared::new(p);
    let (jobs, _) = jobs_for_all(p, Target::Nftables);
    jobs.iter()
        .map(|j| {
            let rs = match j.kind {
                JobKind::Host => shared.host_ruleset(&j.name),
                JobKind::Firewall => shared.firewall_ruleset(&j.name),
            }
            .unwrap();
            let h = Header::new(&p.inventory, &rs);
            let doc = layout(&rs, &h, &RenderOptions::default());
            let txt = text(&doc, &h);
            (j.name.clone(), doc, txt)
        })
        .collect()
}

/// Replace the first occurrence of `.0` with `.1` in an example inventory.
type Edit = (&'static str, &'static str);

fn edited(example: &str, edits: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(example);
    let mut yaml = std::fs::read_to_string(&src).unwrap();
    for (from, to) in edits {
        assert!(yaml.contains(from), "{example} no longer contains {from:?}; update the edit");
        yaml = yaml.replacen(from, to, 1);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(example);
    std::fs::write(&path, yaml).unwrap();
    (dir, path)
}

/// What one edit exercised, so the test can insist that it was not vacuous.
#[derive(Default, Debug)]
struct Seen {
    deltas: usize,
    element_lines: usize,
    refills: usize,
    mutants_caught: usize,
}

/// The comparison must catch a wrong delta: each kind of command left out
/// in turn (element deletions, element additions, chain flushes) must make
/// nft refuse the script or list a table other than the new one. Returns
/// how many mutants were tried; every one must be caught.
fn mutants_caught(ns: &Netns, old_text: &str, script: &str, fresh: &[Value]) -> usize {
    let mut tried = 0;
    for cut in ["delete element ", "add element ", "flush chain "] {
        if !script.lines().any(|l| l.starts_with(cut)) {
            continue;
        }
        // A flush before `delete chain` is only a precaution (this kernel
        // deletes a chain with its rules), so leaving it out is no mutant;
        // the flush before a refill is.
        let refill = |l: &str| !script.contains(&l.replacen("flush chain ", "delete chain ", 1));
        let is_cut = |l: &str| l.starts_with(cut) && (cut != "flush chain " || refill(l));
        if !script.lines().any(is_cut) {
            continue;
        }
        let mutant: String = script.lines().filter(|l| !is_cut(l)).map(|l| format!("{l}\n")).collect();
        ns.nft(&["flush", "ruleset"]);
        ns.load("old ruleset", old_text);
        let caught = ns.try_load(&mutant).is_err() || ns.table() != fresh;
        assert!(caught, "the kernel comparison misses a delta without its `{cut}` lines:\n{mutant}");
        tried += 1;
    }
    tried
}

fn check_edit(example: &str, edits: &[Edit], a_ns: &Netns, b_ns: &Netns) -> Seen {
    let old = common::plan_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(example));
    let (_dir, path) = edited(example, edits);
    let new = common::plan_of(&path);
    let new_docs = documents(&new);
    let mut seen = Seen::default();
    for (name, old_doc, old_text) in documents(&old) {
        let Some((_, new_doc, new_text)) = new_docs.iter().find(|(n, _, _)| *n == name) else { continue };
        let about = [format!("delta for {name}")];
        let Some(script) = delta::script(&old_doc, new_doc, &about).unwrap() else {
            assert_eq!(old_doc.objects[1..], new_doc.objects[1..], "{example} {name}: no delta although the documents differ");
            continue;
        };
        check_script(&format!("{example} {name}"), (&old_text, new_text), &script, (a_ns, b_ns), &mut seen);
    }
    seen
}

/// Old ruleset + script in one namespace lists the same table as the new
/// ruleset in the other; the tables differ before; mutants are caught.
fn check_script(what: &str, (old_text, new_text): (&str, &str), script: &str, (a_ns, b_ns): (&Netns, &Netns), seen: &mut Seen) {
    seen.deltas += 1;
    seen.element_lines += script.lines().filter(|l| l.contains(" element ")).count();
    seen.refills += script.lines().filter(|l| l.starts_with("flush chain")).count();
    for ns in [a_ns, b_ns] {
        ns.nft(&["flush", "ruleset"]);
    }
    a_ns.load(&format!("{what} old ruleset"), old_text);
    let before = a_ns.table();
    a_ns.load(&format!("{what} delta"), script);
    b_ns.load(&format!("{what} new ruleset"), new_text);
    let (after, fresh) = (a_ns.table(), b_ns.table());
    assert_ne!(before, fresh, "{what}: a delta although the kernel tables are equal");
    assert_eq!(after, fresh, "{what}: old ruleset + delta differs from the new ruleset\n--- delta ---\n{script}");
    seen.mutants_caught += mutants_caught(a_ns, old_text, script, &fresh);
}

#[test]
fn delta_between_unrelated_rulesets_replaces_chains_and_sets() {
    if !nft_ready() {
        return;
    }
    // A host's input table into a network firewall's forward table: the
    // input chain is deleted, the forward chain added, most sets replaced.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/jtel-acd.yaml");
    let docs = documents(&common::plan_of(&example));
    let host = docs.iter().find(|(n, _, _)| n == "acd-lb1").expect("acd-lb1 in jtel-acd");
    let fw = docs.iter().find(|(n, _, _)| n == "core-fw").expect("core-fw in jtel-acd");
    let (a, b) = (Netns::new("ua"), Netns::new("ub"));
    let mut seen = Seen::default();
    for (old, new) in [(host, fw), (fw, host)] {
        let script = delta::script(&old.1, &new.1, &[]).unwrap().expect("the tables differ");
        assert!(script.contains("delete chain inet portmatrix "), "{script}");
        check_script(&format!("{} to {}", old.0, new.0), (&old.2, &new.2), &script, (&a, &b), &mut seen);
    }
    assert_eq!(seen.deltas, 2);
}

#[test]
fn delta_applied_to_old_ruleset_equals_new_ruleset_in_the_kernel() {
    if !nft_ready() {
        return;
    }
    let (a, b) = (Netns::new("a"), Netns::new("b"));
    let store2 = "  acd-store2:\n    addresses: [10.10.0.22]\n    zone: servers\n    os: linux\n    roles: [acd/acd-store]\n";
    let cases: Vec<(&str, &str, Vec<Edit>)> = vec![
        ("host removed", "jtel-acd.yaml", vec![(store2, "")]),
        ("feature off", "jtel-acd.yaml", vec![("reporting-api: true", "reporting-api: false")]),
        ("second feature off", "jtel-acd.yaml", vec![("tts: true", "tts: false")]),
        (
            "network widened",
            "jtel-acd.yaml",
            vec![("10.99.0.0/24", "10.99.0.0/23"), ("bi:       { cidrs: [10.21.5.0/24]", "bi:       { cidrs: [10.21.5.0/25, 10.21.9.7]")],
        ),
        (
            "parameter changed",
            "moderro-rem.yaml",
            vec![("content_server_port: 8443", "content_server_port: 9443"), ("# jmx_port (9990)", "jmx_port: 9010 # was 9990")],
        ),
        ("nothing changed", "mixed.yaml", vec![]),
    ];
    let mut total = Seen::default();
    for (what, example, edits) in &cases {
        let seen = check_edit(example, edits, &a, &b);
        eprintln!("{what}: {seen:?}");
        if edits.is_empty() {
            assert_eq!(seen.deltas, 0, "{what}: an unchanged plan needs no delta");
        } else {
            assert!(seen.deltas > 0, "{what}: the edit changed no nftables ruleset; pick an edit that does");
        }
        total.deltas += seen.deltas;
        total.element_lines += seen.element_lines;
        total.refills += seen.refills;
        total.mutants_caught += seen.mutants_caught;
    }
    // Both forms of change were exercised, and broken deltas were caught.
    assert!(total.element_lines > 0 && total.refills > 0 && total.mutants_caught > 0, "{total:?}");
}

/// One state of the jtel-acd example in a random sequence of edits.
#[derive(Debug, Clone, PartialEq)]
struct Site {
    store2: bool,
    reporting_api: bool,
    tts: bool,
    /// Last octet of acd-jb2's IPv4 address (42 in the example).
    jb2: u8,
    /// Prefix length of the `bi` network (24 in the example).
    bi_prefix: u8,
    /// A third web server with this last octet.
    jb3: Option<u8>,
    /// acd-chat1 moved from the servers zone into the DMZ.
    chat_in_dmz: bool,
}

fn site() -> impl proptest::strategy::Strategy<Value = Site> {
    use proptest::prelude::*;
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(42u8), 100u8..110],
        24u8..=27,
        proptest::option::of(110u8..120),
        any::<bool>(),
    )
        .prop_map(|(store2, reporting_api, tts, jb2, bi_prefix, jb3, chat_in_dmz)| Site {
            store2,
            reporting_api,
            tts,
            jb2,
            bi_prefix,
            jb3,
            chat_in_dmz,
        })
}

/// The example inventory in state `s`, planned.
fn plan_of_site(s: &Site) -> Plan {
    let store2 = "  acd-store2:\n    addresses: [10.10.0.22]\n    zone: servers\n    os: linux\n    roles: [acd/acd-store]\n";
    let chat = "  acd-chat1:\n    addresses: [10.10.0.51]\n    zone: servers\n";
    let mut edits: Vec<(String, String)> = vec![
        ("reporting-api: true".into(), format!("reporting-api: {}", s.reporting_api)),
        ("tts: true".into(), format!("tts: {}", s.tts)),
        ("10.10.0.42".into(), format!("10.10.0.{}", s.jb2)),
        ("10.21.5.0/24".into(), format!("10.21.5.0/{}", s.bi_prefix)),
    ];
    if !s.store2 {
        edits.push((store2.into(), String::new()));
    }
    if s.chat_in_dmz {
        edits.push((chat.into(), chat.replace("zone: servers", "zone: dmz")));
    }
    if let Some(a) = s.jb3 {
        let host =
            format!("  acd-jb3:\n    addresses: [10.10.0.{a}]\n    zone: servers\n    os: linux\n    roles: [acd/acd-jb]\n\nbind:\n");
        edits.push(("\nbind:\n".into(), host));
    }
    let refs: Vec<(&str, &str)> = edits.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let (_dir, path) = edited("jtel-acd.yaml", &refs);
    common::plan_of(&path)
}

/// For random sequences of edits of the example (hosts removed and added,
/// features toggled, a host readdressed or moved to another zone, a network
/// resized), each subject's old table plus the deltas of every step, loaded
/// one after another in one namespace, lists the same table as each step's
/// ruleset loaded fresh in another.
#[test]
fn deltas_of_random_edit_sequences_reach_each_new_ruleset_in_the_kernel() {
    use proptest::test_runner::{Config, TestRunner};
    if !nft_ready() {
        return;
    }
    let (a, b) = (Netns::new("ra"), Netns::new("rb"));
    let applied = std::cell::Cell::new(0usize);
    let mut runner = TestRunner::new(Config { cases: 6, failure_persistence: None, ..Config::default() });
    let steps = proptest::collection::vec(site(), 2..=4);
    let outcome = runner.run(&steps, |steps| {
        let docs: Vec<_> = steps.iter().map(|s| documents(&plan_of_site(s))).collect();
        let names: BTreeSet<&String> = docs.iter().flatten().map(|(n, _, _)| n).collect();
        for name in names {
            let mut loaded: Option<usize> = None;
            for (i, step) in docs.iter().enumerate() {
                let Some((_, doc, text)) = step.iter().find(|(n, _, _)| n == name) else {
                    loaded = None;
                    continue;
                };
                b.nft(&["flush", "ruleset"]);
                b.load(&format!("{name} step {i}"), text);
                let fresh = b.table();
                match loaded {
                    // The subject is new (or back): start from its compiled table.
                    None => {
                        a.nft(&["flush", "ruleset"]);
                        a.load(&format!("{name} step {i}"), text);
                    }
                    Some(prev) => {
                        let (_, old_doc, _) = docs[prev].iter().find(|(n, _, _)| n == name).expect("loaded before");
                        if let Some(script) = delta::script(old_doc, doc, &[]).unwrap() {
                            a.load(&format!("{name} delta {prev}→{i}"), &script);
                            applied.set(applied.get() + 1);
                        }
                    }
                }
                proptest::prop_assert_eq!(a.table(), fresh, "{} after step {} of {:?}", name, i, steps);
                loaded = Some(i);
            }
        }
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    assert!(applied.get() > 0, "no random sequence needed a delta");
}
