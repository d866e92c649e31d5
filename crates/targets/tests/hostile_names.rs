//! Names written by an attacker. Every inventory name is checked against a
//! grammar at load, so injection attempts are refused with a located
//! diagnostic; and, as a second line of defence, every renderer keeps text
//! inside its comment or string even when handed a name that bypassed the
//! grammar.
//!
//! 1. A corpus of injection cases (one or more per class of issue 17):
//!    each inventory is refused at load with `bad-name` or `name-clash`.
//! 2. A property test over names from the whole Unicode range, in every
//!    position a name can take: the inventory is refused, or it is accepted,
//!    every target compiles, and the name appears in the outputs only
//!    inside comments and strings.
//! 3. Renderers given hostile text directly (bypassing the grammar): the
//!    nftables and iptables outputs still pass `nft -c` / `iptables-restore
//!    --test` and contain no rule that was not in the ruleset; the
//!    PowerShell keeps every quote inside its string.

use std::path::Path;

use portmatrix_model::matrix_source::NoMatrices;
use portmatrix_model::{FlowTag, PortSet, Proto};
use portmatrix_plan::{plan, Deployment};
use portmatrix_targets::compile::{compile_job, jobs_for_all};
use portmatrix_targets::{BasePolicy, Chain, Family, GroupName, Header, RenderOptions, Rule, Ruleset, Subject, Target};
use proptest::prelude::*;

const MATRIX: &str = "matrix: toy\ntitle: Toy\nversion: \"1\"\nroles:\n  a: { title: A }\n  b: { title: B }\nflows:\n  - { id: a-b, from: a, to: b, proto: tcp, ports: 443, purpose: p, cite: c }\n";

/// An inventory with `name` in one of its name positions (JSON string
/// syntax is valid YAML, so the name reaches the loader exactly).
fn inventory(position: usize, name: &str) -> String {
    let q = serde_json::to_string(name).unwrap();
    let (inv, prod, zone, host, fw) = match position {
        0 => (q.as_str(), "toy", "z1", "h1", "fw1"),
        1 => ("t", q.as_str(), "z1", "h1", "fw1"),
        2 => ("t", "toy", q.as_str(), "h1", "fw1"),
        3 => ("t", "toy", "z1", q.as_str(), "fw1"),
        _ => ("t", "toy", "z1", "h1", q.as_str()),
    };
    // Role references spell the product name inside a string.
    let role = |r: &str| serde_json::to_string(&format!("{}/{r}", if position == 1 { name } else { "toy" })).unwrap();
    format!(
        "inventory: {inv}\nproducts:\n  {prod}: {{ matrix: toy.yaml }}\nzones:\n  {zone}: {{}}\n  z2: {{}}\nnetworks:\n  admin: {{ cidrs: [10.99.0.0/24], zone: z2 }}\nadmin: {{ networks: [admin] }}\nhosts:\n  {host}: {{ addresses: [10.0.0.1], zone: {zone}, roles: [{}] }}\n  h2: {{ addresses: [10.0.0.2], zone: {zone}, roles: [{}] }}\nfirewalls:\n  {fw}: {{ zones: [{zone}, z2] }}\n",
        role("a"),
        role("b")
    )
}

fn load(text: &str) -> Result<portmatrix_plan::Plan, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("toy.yaml"), MATRIX).unwrap();
    let inv = dir.path().join("inv.yaml");
    std::fs::write(&inv, text).unwrap();
    let short = |d: Vec<portmatrix_model::Diagnostic>| d.iter().map(|d| d.short()).collect::<Vec<_>>();
    let dep = Deployment::load(&inv, &NoMatrices).map_err(short)?;
    plan(&dep).map_err(short)
}

#[test]
fn injection_attempts_are_refused_at_load() {
    let cases: &[(usize, &str, &str)] = &[
        // 1. rule injection through nft/iptables comments and file headers
        (1, "p\" accept\n#", "bad-name"),
        (3, "h1\n-A INPUT -j ACCEPT", "bad-name"),
        (0, "inv\ntable inet x { chain c { type filter hook input priority -500; policy accept; } }", "bad-name"),
        // 2. PowerShell: typographic quotes end a single-quoted string
        (1, "p\u{2019}; Start-Process calc.exe #", "bad-name"),
        (3, "h\u{201B}x", "bad-name"),
        // 3. path traversal and absolute paths in file names
        (3, "../../x", "bad-name"),
        (4, "/abs/path", "bad-name"),
        (3, "..", "bad-name"),
        // 4. collisions: a host and a firewall, names that fold alike
        (4, "h1", "name-clash"),
        (4, "H1", "name-clash"),
        (4, "H2", "name-clash"),
        // control, bidi, NUL, very long
        (2, "z\u{202e}1", "bad-name"),
        (3, "h\0", "bad-name"),
        (3, &"x".repeat(64), "bad-name"),
        (2, "zone with space", "bad-name"),
    ];
    for (pos, name, code) in cases {
        let text = inventory(*pos, name);
        let errs = load(&text).err().unwrap_or_else(|| panic!("accepted {name:?} at position {pos}"));
        let ok = match *code {
            "bad-name-or-clash" => errs.iter().any(|e| e.contains("[bad-name]") || e.contains("[name-clash]")),
            c => errs.iter().any(|e| e.contains(&format!("[{c}]"))),
        };
        assert!(ok, "{name:?} at {pos}: {errs:?}");
    }
}

/// Every output of every target for the plan.
fn outputs(p: &portmatrix_plan::Plan) -> Vec<(Target, String, String)> {
    let mut out = Vec::new();
    for t in Target::ALL {
        let (jobs, _) = jobs_for_all(p, t);
        for j in &jobs {
            for f in compile_job(p, j, t, &RenderOptions::default()).unwrap().files {
                out.push((t, f.name, f.contents));
            }
        }
    }
    out
}

/// The text with comments and quoted strings removed: what a parser reads
/// as syntax.
fn syntax_only(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut quote: Option<char> = None;
        for c in line.chars() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c == '#' => break,
                None => out.push(c),
            }
        }
        out.push('\n');
    }
    out
}

/// What an injection would change: lines, accept verdicts, rules.
fn structure(text: &str) -> (usize, usize, usize) {
    let syntax = syntax_only(text);
    (
        text.lines().count(),
        syntax.matches("accept").count() + syntax.matches("ACCEPT").count(),
        syntax.matches("New-NetFirewallRule").count(),
    )
}

fn any_name() -> impl Strategy<Value = String> {
    prop_oneof![
        // The whole Unicode range.
        proptest::collection::vec(any::<char>(), 1..20).prop_map(|v| v.into_iter().collect()),
        // Mostly grammatical, with one hostile character.
        ("[a-z][a-z0-9-]{0,8}", any::<char>(), "[a-z0-9]{0,4}").prop_map(|(a, c, b)| format!("{a}{c}{b}")),
        // Grammatical.
        "[A-Za-z0-9][A-Za-z0-9._-]{0,20}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn names_are_refused_or_stay_inside_their_strings(name in any_name(), position in 0usize..5) {
        let text = inventory(position, &name);
        let grammatical = portmatrix_model::names::is_inventory_name(&name);
        match load(&text) {
            Err(errs) => {
                // Refused: for a reason that names the problem, never a crash.
                prop_assert!(!errs.is_empty());
                if !grammatical {
                    prop_assert!(errs.iter().any(|e| e.contains("[bad-name]") || e.contains("[name-clash]") || e.contains("[yaml")), "{:?}", errs);
                }
            }
            Ok(p) => {
                prop_assert!(grammatical, "accepted a name outside the grammar: {:?}", name);
                // The outputs have the structure they have with a plain name
                // of the same length: the name cannot add or end anything.
                let plain: String = "q".repeat(name.len());
                let reference = load(&inventory(position, &plain)).expect("a plain name plans");
                let (a, b) = (outputs(&p), outputs(&reference));
                prop_assert_eq!(a.len(), b.len());
                for ((t, file, contents), (_, _, ref_contents)) in a.iter().zip(&b) {
                    let path = Path::new(file);
                    prop_assert!(path.is_relative() && path.components().all(|c| matches!(c, std::path::Component::Normal(_))), "{}", file);
                    prop_assert!(contents.is_ascii(), "{} {}", t, file);
                    prop_assert_eq!(structure(contents), structure(ref_contents), "{} {}", t, file);
                }
            }
        }
    }
}

/// A ruleset whose reason tags bypass the grammar.
fn hostile_ruleset(tag: &str) -> Ruleset {
    let rule = Rule {
        family: Family::V4,
        group: GroupName::parse("clients").unwrap(),
        src: vec!["10.0.0.0/24".parse().unwrap()],
        dst: Vec::new(),
        proto: Proto::Tcp,
        dports: PortSet::single(443),
        sports: None,
        icmp: Vec::new(),
        reasons: vec![FlowTag::new(tag, tag)],
        zones: None,
    };
    Ruleset {
        subject: Subject::Host(tag.to_string()),
        chain: Chain::Input,
        base: BasePolicy::for_chain(Chain::Input),
        rules: vec![rule],
        dnat: Vec::new(),
        own: vec!["10.0.0.5".parse().unwrap()],
        warnings: Vec::new(),
    }
}

const HOSTILE: &[&str] = &[
    "p\" accept comment \"x",
    "p\"\n        accept\n#",
    "x\n-A INPUT -j ACCEPT\n",
    "p\u{2019}; Start-Process calc.exe #",
    "p'; Remove-Item -Recurse C:\\ #",
    "p\u{2028}accept",
    "$(Invoke-Expression x)`\"",
];

#[test]
fn renderers_keep_hostile_text_inside_strings() {
    for tag in HOSTILE {
        let rs = hostile_ruleset(tag);
        let h = Header::new(tag, &rs);
        for t in [Target::Nftables, Target::Iptables, Target::Windows, Target::Aerleon] {
            for f in t.backend().render(&rs, &h, &RenderOptions::default()) {
                let text = &f.contents;
                match t {
                    Target::Nftables if f.name.ends_with(".nft") => {
                        // Exactly the accept rules the ruleset has: base
                        // policy (return traffic, loopback, ICMP x2) and the set rule.
                        assert_eq!(syntax_only(text).matches(" accept").count(), 5, "{tag:?}:\n{text}");
                    }
                    Target::Iptables if f.name.ends_with(".ipset") => {
                        // Set names and members only: the reasons live on the rules.
                        assert!(
                            text.lines()
                                .all(|l| l.starts_with('#') || ["create ", "add ", "swap ", "destroy "].iter().any(|w| l.starts_with(w))),
                            "{tag:?}:\n{text}"
                        );
                        assert!(syntax_only(text).lines().all(|l| l.is_ascii()), "{tag:?}:\n{text}");
                    }
                    Target::Iptables => {
                        let accepts = syntax_only(text).lines().filter(|l| l.contains("-j ACCEPT")).count();
                        let expect = if f.name.ends_with(".ip6tables") { 2 + 7 } else { 2 + 3 + 1 };
                        assert_eq!(accepts, expect, "{tag:?}:\n{text}");
                        assert!(
                            text.lines().all(|l| l.starts_with('#')
                                || l.starts_with('-')
                                || l.starts_with(':')
                                || l.starts_with('*')
                                || l == "COMMIT"),
                            "{text}"
                        );
                    }
                    Target::Windows => {
                        for line in text.lines().filter(|l| !l.starts_with('#')) {
                            // Outside strings, no quote-like character at all.
                            let mut in_string = false;
                            let mut outside = String::new();
                            for c in line.chars() {
                                if c == '\'' {
                                    in_string = !in_string;
                                } else if !in_string {
                                    outside.push(c);
                                }
                            }
                            assert!(
                                !outside.contains(['\u{2018}', '\u{2019}', '\u{201A}', '\u{201B}', ';', '$', '`'])
                                    || line.starts_with("$ErrorActionPreference"),
                                "{tag:?}: {line}"
                            );
                            assert!(line.is_ascii(), "{tag:?}: {line}");
                        }
                    }
                    Target::Nftables => {
                        // JSON: escaped by the serialiser; the same commands.
                        let v: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
                        let rules = v["nftables"].as_array().unwrap().iter().filter(|c| c["add"]["rule"].is_object()).count();
                        assert_eq!(rules, 6, "{tag:?}: {text}");
                    }
                    _ => assert!(text.lines().all(|l| l.is_ascii()), "{tag:?}: {text}"),
                }
            }
        }
    }
}

fn syntax_tools() -> bool {
    let ok = |t: &str| std::process::Command::new(t).arg("--version").output().is_ok_and(|o| o.status.success());
    let root = unsafe_is_root();
    if !(ok("nft") && ok("iptables-restore") && ok("ipset") && root) {
        assert!(std::env::var_os("CI").is_none(), "CI must have nft, iptables-restore, ipset and root");
        return false;
    }
    true
}

fn unsafe_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
}

#[test]
fn hostile_text_still_yields_valid_rulesets() {
    if !syntax_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for tag in HOSTILE {
        let rs = hostile_ruleset(tag);
        let h = Header::new(tag, &rs);
        for t in [Target::Nftables, Target::Iptables] {
            for f in t.backend().render(&rs, &h, &RenderOptions::default()) {
                let path = dir.path().join("f");
                std::fs::write(&path, &f.contents).unwrap();
                if f.name.ends_with(".ipset") {
                    continue; // loaded with the rules that use it, below
                }
                let (tool, args): (&str, Vec<&str>) = if f.name.ends_with(".nft") {
                    ("nft", vec!["-c", "-f"])
                } else if f.name.ends_with(".nft.json") {
                    ("nft", vec!["-j", "-c", "-f"])
                } else if f.name.ends_with(".ip6tables") {
                    ("ip6tables-restore", vec!["--test"])
                } else {
                    ("iptables-restore", vec!["--test"])
                };
                let out = if tool == "nft" {
                    std::process::Command::new(tool).args(&args).arg(&path).output().unwrap()
                } else {
                    // The rules match ipsets: load them first, in a network
                    // namespace of this process only (gone when it exits).
                    let sets = dir.path().join("sets");
                    let ipset = t.backend().render(&rs, &h, &RenderOptions::default()).into_iter().find(|f| f.name.ends_with(".ipset"));
                    std::fs::write(&sets, ipset.expect("an ipset file").contents).unwrap();
                    let script = "ipset restore -f \"$1\" && \"$2\" --test \"$3\"";
                    std::process::Command::new("unshare")
                        .args(["--net", "--", "sh", "-c", script, "sh"])
                        .arg(&sets)
                        .arg(tool)
                        .arg(&path)
                        .output()
                        .unwrap()
                };
                assert!(out.status.success(), "{tag:?} {}: {}\n{}", f.name, String::from_utf8_lossy(&out.stderr), f.contents);
            }
        }
    }
}
