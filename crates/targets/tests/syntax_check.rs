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

/// A network namespace of this test, deleted when dropped (also when the
/// test fails), so loading ipsets never touches the machine's own.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("pmx-syn-{tag}-{}-{n}", std::process::id());
        let ok = Command::new("ip").args(["netns", "add", &name]).status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "ip netns add {name}");
        Netns(name)
    }
    fn check(&self, tool: &[&str], name: &str, contents: &str) {
        let mut args = vec!["netns", "exec", self.0.as_str()];
        args.extend_from_slice(tool);
        check_with("ip", &args, name, contents);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn check_with(program: &str, args: &[&str], name: &str, contents: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name.replace('/', "_"));
    std::fs::write(&path, contents).unwrap();
    let out = Command::new(program).args(args).arg(&path).output().unwrap();
    assert!(out.status.success(), "{} {} rejects {name}:\n{}", program, args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// Per ruleset, in a namespace of its own: the ipset file loads (twice: a
/// second run replaces the members of sets in use), then iptables-restore
/// and ip6tables-restore accept the rules against those sets.
#[test]
fn iptables_restore_accepts_every_generated_ruleset() {
    if !tool_ready("iptables-restore") || !tool_ready("ipset") || !tool_ready("ip") {
        return;
    }
    let mut checked = 0;
    for ex in common::examples() {
        let p = common::plan_of(&ex);
        let files = common::compile_all(&p, Target::Iptables);
        for job in files.chunks(3) {
            let [sets, v4, v6] = job else { panic!("{job:?}") };
            assert!(sets.name.ends_with(".ipset") && v4.name.ends_with(".iptables") && v6.name.ends_with(".ip6tables"));
            let ns = Netns::new("ipt");
            ns.check(&["ipset", "restore", "-f"], &sets.name, &sets.contents);
            ns.check(&["iptables-restore"], &v4.name, &v4.contents);
            ns.check(&["ip6tables-restore"], &v6.name, &v6.contents);
            ns.check(&["ipset", "restore", "-f"], &sets.name, &sets.contents);
            ns.check(&["iptables-restore", "--test"], &v4.name, &v4.contents);
            checked += 1;
        }
    }
    assert!(checked > 10);
}

/// Every firewalld output, installed by its own load script into a scratch
/// configuration directory, passes `firewall-offline-cmd --check-config`
/// (which the script runs), and loading twice works (an earlier run's
/// files are replaced).
#[test]
fn firewalld_accepts_every_generated_configuration() {
    if !tool_ready("firewall-offline-cmd") {
        return;
    }
    let mut checked = 0;
    for ex in common::examples() {
        let p = common::plan_of(&ex);
        let files = common::compile_all(&p, Target::Firewalld);
        let out = tempfile::tempdir().unwrap();
        for f in &files {
            let path = out.path().join(&f.name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &f.contents).unwrap();
        }
        // firewall-offline-cmd starts a Python interpreter per call: both cores.
        let scripts: Vec<&portmatrix_targets::OutputFile> =
            files.iter().filter(|f| f.loader == Some(portmatrix_targets::Loader::Firewalld)).collect();
        std::thread::scope(|s| {
            for half in scripts.chunks(scripts.len().div_ceil(2).max(1)) {
                let out = out.path();
                s.spawn(move || {
                    for (i, script) in half.iter().enumerate() {
                        // A fresh configuration as the package installs it.
                        let cfg = tempfile::tempdir().unwrap();
                        let stock =
                            std::fs::read_to_string("/etc/firewalld/firewalld.conf").unwrap_or_else(|_| "DefaultZone=public\n".into());
                        std::fs::write(cfg.path().join("firewalld.conf"), stock).unwrap();
                        // A second load over the first: once per thread is enough.
                        for _ in 0..(if i == 0 { 2 } else { 1 }) {
                            let run = Command::new("sh").arg(out.join(&script.name)).arg(cfg.path()).output().unwrap();
                            assert!(
                                run.status.success(),
                                "{}: {}\n{}",
                                script.name,
                                String::from_utf8_lossy(&run.stdout),
                                String::from_utf8_lossy(&run.stderr)
                            );
                        }
                    }
                });
            }
        });
        checked += scripts.len();
    }
    assert!(checked > 10);
}
