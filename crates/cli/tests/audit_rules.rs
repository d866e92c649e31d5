//! `portmatrix audit rules` end to end: the real binary on files that
//! `compile` wrote, on mutated and hostile ones, and on the live kernel of a
//! network namespace the test creates (`unshare --net`; skipped without root
//! and nft unless CI is set).

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_portmatrix");

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(format!("{name}.yaml"))
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let out = Command::new(BIN).args(args).env("NO_COLOR", "1").env_remove("COLUMNS").output().expect("runs");
    Run {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Compiles every host and firewall of an example into a temporary directory.
fn compiled(ex: &str, target: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = run(&["compile", "-i", example(ex).to_str().unwrap(), "--target", target, "--all", "-d", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    dir
}

fn audit(ex: &str, who: &[&str], files: &[&Path], extra: &[&str]) -> Run {
    let inv = example(ex);
    let mut args = vec!["audit", "rules", "-i", inv.to_str().unwrap()];
    args.extend(who);
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    args.extend(extra);
    run(&args)
}

#[test]
fn compiled_files_match_their_plan() {
    let nft = compiled("jtel-acd", "nftables");
    let r = audit("jtel-acd", &["--host", "acd-lb1"], &[&nft.path().join("acd-lb1.nft.json")], &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("does exactly what the plan says"), "{}", r.stdout);
    let ipt = compiled("mixed", "iptables");
    let ipt_files = ["core-fw.iptables", "core-fw.ip6tables", "core-fw.ipset"].map(|f| ipt.path().join(f));
    let r = audit("mixed", &["--firewall", "core-fw"], &ipt_files.each_ref().map(|p| p.as_path()), &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let win = compiled("imagicle-ucsuite", "windows");
    let r = audit("imagicle-ucsuite", &["--host", "ucs1"], &[&win.path().join("ucs1.ps1")], &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn a_widened_rule_is_an_extra_finding_with_a_typed_witness() {
    let ipt = compiled("mixed", "iptables");
    let v4 = ipt.path().join("core-fw.iptables");
    let text = std::fs::read_to_string(&v4).unwrap();
    // Open the whole IPv4 space to the first rule's ports: its source set becomes any address.
    let line = text.lines().find(|l| l.starts_with("-A FORWARD ") && l.contains(" src ") && l.contains("--dports")).unwrap();
    let set = line.split("--match-set ").nth(1).unwrap().split(' ').next().unwrap();
    let widened = line.replacen(&format!("-m set --match-set {set} src"), "-s 0.0.0.0/0", 1);
    std::fs::write(&v4, text.replacen(line, &widened, 1)).unwrap();
    let r = audit(
        "mixed",
        &["--firewall", "core-fw"],
        &[&v4, &ipt.path().join("core-fw.ip6tables"), &ipt.path().join("core-fw.ipset")],
        &["--format", "json"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["exact_match"], false);
    let extra = v["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "extra").expect("an extra finding");
    assert!(extra["witness"]["dst_port"].is_u64() && extra["witness"]["protocol"].is_u64(), "{extra}");
    assert!(extra["accepted_by"]["line"].is_u64(), "{extra}");
}

#[test]
fn unusable_input_exits_2_with_a_precise_message() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.txt");
    std::fs::write(&garbage, "hello\nworld\n").unwrap();
    let r = audit("jtel-acd", &["--host", "acd-lb1"], &[&garbage], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("garbage.txt") && r.stderr.contains("not a ruleset"), "{}", r.stderr);
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"nftables\": [\n  {\"table\": }\n]}").unwrap();
    let r = audit("jtel-acd", &["--host", "acd-lb1"], &[&broken], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("broken.json") && r.stderr.contains("line 2"), "{}", r.stderr);
    let bad_ipt = dir.path().join("v4.save");
    std::fs::write(&bad_ipt, "*filter\n:INPUT DROP [0:0]\n-A INPUT -m comment --comment \"open\n").unwrap();
    let r = audit("jtel-acd", &["--host", "acd-lb1"], &[&bad_ipt], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("line 3"), "{}", r.stderr);
    let nft = compiled("jtel-acd", "nftables");
    let r = audit("jtel-acd", &["--host", "no-such-host"], &[&nft.path().join("acd-lb1.nft.json")], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no host `no-such-host`"), "{}", r.stderr);
    let r = audit("jtel-acd", &["--host", "acd-lb1"], &[&dir.path().join("missing.json")], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("missing.json"), "{}", r.stderr);
}

#[test]
fn hostile_comments_stay_inert_in_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("hostile.json");
    let doc = serde_json::json!({"nftables": [
        {"table": {"family": "inet", "name": "x", "handle": 1}},
        {"chain": {"family": "inet", "table": "x", "name": "in", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
        {"rule": {"family": "inet", "table": "x", "chain": "in", "handle": 2, "comment": "\u{1b}[2J\u{1b}[31mowned\nnext line\u{202e}", "expr": [{"accept": null}]}}
    ]});
    std::fs::write(&f, doc.to_string()).unwrap();
    let r = audit("jtel-acd", &["--host", "acd-lb1"], &[&f], &[]);
    assert_eq!(r.code, 1);
    assert!(!r.stdout.contains('\u{1b}') && !r.stdout.contains('\u{202e}'), "{:?}", r.stdout);
    assert!(r.stdout.contains("?[2J"), "{}", r.stdout);
}

#[test]
fn help_has_examples() {
    let r = run(&["audit", "rules", "--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Examples:") && r.stdout.contains("--live") && r.stdout.contains("Exit codes"), "{}", r.stdout);
}

fn can_use_namespaces() -> bool {
    let ok = |c: &str, a: &[&str]| Command::new(c).args(a).output().is_ok_and(|o| o.status.success());
    let able = ok("unshare", &["--net", "true"]) && ok("nft", &["--version"]) && ok("iptables", &["--version"]);
    if !able {
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "CI=true but unshare, nft or iptables cannot be used");
        eprintln!("skipped: needs root, unshare, nft and iptables");
    }
    able
}

#[test]
fn live_kernel_of_a_namespace() {
    if !can_use_namespaces() {
        return;
    }
    let nft = compiled("jtel-acd", "nftables");
    let json = nft.path().join("acd-lb1.nft.json");
    let inv = example("jtel-acd");
    let script = format!(
        "nft -j -f {json}; {BIN} audit rules -i {inv} --host acd-lb1 --live; echo \"exit=$?\"; \
         iptables -A INPUT -s 10.10.0.0/16 -p tcp --dport 22 -j DROP; {BIN} audit rules -i {inv} --host acd-lb1 --live --format json; echo \"exit=$?\"",
        json = json.display(),
        inv = inv.display()
    );
    let out = Command::new("unshare").args(["--net", "sh", "-c", &script]).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (clean, dirty) = stdout.split_once("exit=").unwrap();
    assert!(dirty.starts_with('0'), "{clean}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(clean.contains("does exactly what the plan says"), "{clean}");
    assert!(dirty.trim_end().ends_with("exit=1"), "{dirty}");
    assert!(dirty.contains("\"kind\": \"interference\"") && dirty.contains("\"table\": \"filter\""), "{dirty}");
}
