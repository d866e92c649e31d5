//! The generated files load in the real tools: `nft -c -f`, `nft -j -c -f`,
//! `iptables-restore --test`, `ip6tables-restore --test`. These need root and
//! the tools; without them the test says so and passes, except under CI.

mod common;

use std::process::Command;

use portmatrix_targets::Target;

fn tool_ready(cmd: &str) -> bool {
    let root = Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false);
    let present = Command::new("sh").arg("-c").arg(format!("command -v {cmd}")).output().map(|o| o.status.success()).unwrap_or(false);
    if !(root && present) {
        assert!(std::env::var_os("CI").is_none(), "CI must run {cmd} checks as root");
        eprintln!("skipping: {cmd} needs root and the tool installed");
        return false;
    }
    true
}

fn check(tool: &[&str], name: &str, contents: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name.replace('/', "_"));
    std::fs::write(&path, contents).unwrap();
    let out = Command::new(tool[0]).args(&tool[1..]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{} rejects {name}:\n{}", tool.join(" "), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn nft_accepts_every_generated_ruleset() {
    if !tool_ready("nft") {
        return;
    }
    for ex in common::examples() {
        let p = common::plan_of(&ex);
        for f in common::compile_all(&p, Target::Nftables) {
            if f.name.ends_with(".json") {
                check(&["nft", "-j", "-c", "-f"], &f.name, &f.contents);
            } else {
                check(&["nft", "-c", "-f"], &f.name, &f.contents);
            }
        }
    }
}

#[test]
fn iptables_restore_accepts_every_generated_ruleset() {
    if !tool_ready("iptables-restore") {
        return;
    }
    for ex in common::examples() {
        let p = common::plan_of(&ex);
        for f in common::compile_all(&p, Target::Iptables) {
            if f.name.ends_with(".ip6tables") {
                check(&["ip6tables-restore", "--test"], &f.name, &f.contents);
            } else {
                check(&["iptables-restore", "--test"], &f.name, &f.contents);
            }
        }
    }
}
