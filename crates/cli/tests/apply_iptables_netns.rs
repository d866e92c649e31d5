//! `portmatrix apply --target iptables`, the real binary, inside network
//! namespaces that each test creates (and deletes, also on failure): a
//! "host" namespace that is `iem1` of examples/mixed.yaml (10.60.0.21) and
//! an "admin" namespace (10.99.0.5), joined by one veth pair. Every
//! iptables, ipset and apply command runs through `ip netns exec`; the
//! machine's own tables are never touched. Needs root, iproute2, iptables
//! and ipset; without them the tests say why and pass, unless CI is set.
//!
//! The host starts with an older portmatrix state (chain PORTMATRIX-INPUT
//! with a jump from INPUT and a rule on tcp/9999, set `admin` holding
//! 10.99.0.0/16) and with foreign state as Docker would leave it: a
//! DOCKER-USER chain jumped to from FORWARD, a DOCKER chain and a DNAT
//! rule in nat, a foreign INPUT rule after our jump, an ip6tables rule and
//! a foreign set.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use portmatrix_verify::netns::{self, Lab};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_portmatrix");
const HOST: &str = "iem1";
const HOST_ADDR: &str = "10.60.0.21";
const ADMIN_ADDR: &str = "10.99.0.5";

/// portmatrix's state before the apply: an older version of its chain and set.
const PREVIOUS: &str = "ipset create admin hash:net family inet maxelem 1048576\n\
ipset add admin 10.99.0.0/16\n\
iptables -N PORTMATRIX-INPUT\n\
iptables -A PORTMATRIX-INPUT -p tcp --dport 9999 -m set --match-set admin src -m comment --comment previous -j ACCEPT\n\
iptables -I INPUT 1 -m comment --comment \"portmatrix: jump to PORTMATRIX-INPUT\" -j PORTMATRIX-INPUT\n";

/// What Docker (or another tool) leaves behind, in both families and ipset.
const FOREIGN: &str = "ipset create docker_like hash:ip family inet\n\
ipset add docker_like 172.17.0.2\n\
iptables -N DOCKER-USER\n\
iptables -A DOCKER-USER -j RETURN\n\
iptables -A FORWARD -j DOCKER-USER\n\
iptables -A INPUT -p tcp --dport 8080 -s 192.0.2.9 -m comment --comment foreign -j ACCEPT\n\
iptables -t nat -N DOCKER\n\
iptables -t nat -A DOCKER -i docker0 -j RETURN\n\
iptables -t nat -A PREROUTING -p tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\n\
iptables -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n\
ip6tables -A INPUT -p tcp --dport 8443 -m comment --comment foreign6 -j ACCEPT\n";

fn inventory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mixed.yaml")
}

fn must(out: std::io::Result<Output>, what: &str) -> Output {
    let out = out.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

struct Bench {
    /// Deletes the namespaces when the bench is dropped.
    _lab: Lab,
    host: String,
    admin: String,
    state: tempfile::TempDir,
}

/// Lines that are not portmatrix's: without comments, counters and
/// anything naming a PORTMATRIX chain.
fn foreign_lines(save: &str) -> String {
    save.lines()
        .filter(|l| !l.starts_with('#') && !l.contains("PORTMATRIX"))
        .map(|l| match l.rfind(" [") {
            Some(i) if l.starts_with(':') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Bench {
    fn new() -> Bench {
        let mut lab = Lab::new().expect("lab");
        let host = lab.add_ns("host").expect("host namespace");
        let admin = lab.add_ns("admin").expect("admin namespace");
        for l in [
            format!("link add pmxi0 netns {host} type veth peer name pmxi1 netns {admin}"),
            format!("-n {host} addr add {HOST_ADDR}/32 dev pmxi0"),
            format!("-n {host} link set pmxi0 up"),
            format!("-n {host} route add 10.99.0.0/24 dev pmxi0"),
            format!("-n {admin} addr add {ADMIN_ADDR}/32 dev pmxi1"),
            format!("-n {admin} link set pmxi1 up"),
            format!("-n {admin} route add {HOST_ADDR}/32 dev pmxi1"),
        ] {
            let args: Vec<&str> = l.split(' ').collect();
            must(netns::ip(&args), &l);
        }
        let b = Bench { _lab: lab, host, admin, state: tempfile::tempdir().expect("state dir") };
        b.sh(PREVIOUS);
        b.sh(FOREIGN);
        b
    }

    /// Runs shell lines in the host namespace (`set -e`).
    fn sh(&self, script: &str) -> String {
        let out = must(Command::new("ip").args(["netns", "exec", &self.host, "sh", "-ec", script]).stdin(Stdio::null()).output(), script);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Everything that is not ours: both families' save output, the foreign set.
    fn foreign(&self) -> (String, String, String) {
        (foreign_lines(&self.sh("iptables-save")), foreign_lines(&self.sh("ip6tables-save")), self.sh("ipset save docker_like"))
    }

    /// Our part: the PORTMATRIX lines of both families and our sets.
    fn ours(&self) -> String {
        let mut o = String::new();
        for tool in ["iptables-save", "ip6tables-save"] {
            for l in self.sh(tool).lines().filter(|l| l.contains("PORTMATRIX")) {
                o.push_str(l);
                o.push('\n');
            }
        }
        // One `ipset save` of every set: listing names first and saving each
        // races with a rollback that destroys sets meanwhile.
        let mut sets: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for l in self.sh("ipset save").lines() {
            let name = l.split(' ').nth(1).unwrap_or_default().to_string();
            if name != "docker_like" {
                // The hash seed (`initval`) changes with every swap; the members and options count.
                sets.entry(name).or_default().push(l.split(" initval ").next().unwrap_or(l).to_string());
            }
        }
        for lines in sets.values() {
            for l in lines {
                o.push_str(l);
                o.push('\n');
            }
        }
        o
    }

    fn apply(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.host, BIN, "apply", "--state-dir"])
            .arg(self.state.path())
            .args(args)
            .env_remove("SSH_CONNECTION")
            .env_remove("SSH_CLIENT")
            .stdin(Stdio::null());
        c
    }

    fn apply_out(&self, args: &[&str]) -> Output {
        self.apply(args).output().expect("run portmatrix apply")
    }

    fn journal(&self) -> Vec<Value> {
        let out = self.apply_out(&["--status", "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("status JSON")
    }

    fn entry(&self, id: &str) -> Value {
        self.journal().into_iter().find(|e| e["id"] == id).unwrap_or_else(|| panic!("no journal entry {id}"))
    }

    /// Waits until our part is `want` again, up to `limit`.
    fn wait_ours(&self, want: &str, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.ours() == want {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

fn skip() -> bool {
    netns::skip_unless_able(&["ip", "iptables-restore", "ip6tables-restore", "iptables-save", "ip6tables-save", "ipset", "unshare"])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn applied_id(o: &Output) -> String {
    assert!(o.status.success(), "apply failed: {}", stderr(o));
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(!id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()), "apply prints its id: {id:?}");
    id
}

fn args(timeout: &str, more: &[&str]) -> Vec<String> {
    let inv = inventory().display().to_string();
    let base = [
        "-i",
        &inv,
        "--host",
        HOST,
        "--target",
        "iptables",
        "--session",
        &format!("{ADMIN_ADDR}:22"),
        "--rollback-via",
        "watchdog",
        "--timeout",
        timeout,
    ];
    base.iter().chain(more).map(|s| s.to_string()).collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Asserts that the new ruleset is loaded: our chain holds the compiled
/// rules and the final drop, INPUT jumps to it exactly once, and the sets
/// hold the new members.
fn assert_new_loaded(b: &Bench) {
    let v4 = b.sh("iptables-save -t filter");
    assert_eq!(v4.matches("-j PORTMATRIX-INPUT").count(), 1, "one jump:\n{v4}");
    assert!(!v4.contains("previous"), "the old rule is gone:\n{v4}");
    assert!(v4.contains("-A PORTMATRIX-INPUT -p tcp -m set --match-set admin src -m multiport --dports 22 "), "{v4}");
    assert!(v4.contains("\"default deny (the compiled policy of INPUT)\" -j DROP"), "{v4}");
    assert!(v4.contains(":INPUT ACCEPT"), "the built-in policy stays the host's:\n{v4}");
    let v6 = b.sh("ip6tables-save -t filter");
    assert!(v6.contains("-A INPUT -m comment --comment \"portmatrix: jump to PORTMATRIX-INPUT\" -j PORTMATRIX-INPUT"), "{v6}");
    let admin = b.sh("ipset save admin");
    assert!(admin.contains("add admin 10.99.0.0/24") && !admin.contains("10.99.0.0/16"), "{admin}");
    assert!(b.sh("ipset list -n").lines().any(|n| n == "monitoring"), "the new sets exist");
}

#[test]
fn confirmed_apply_stays_reapplies_without_a_second_jump_and_hand_rollback_restores_ours_only() {
    if skip() {
        return;
    }
    let b = Bench::new();
    let (foreign, previous) = (b.foreign(), b.ours());
    let id = applied_id(&b.apply_out(&strs(&args("3", &["--detach"]))));
    assert_new_loaded(&b);
    assert_eq!(b.foreign(), foreign, "apply left every foreign chain, rule, table and set as it was");
    assert_eq!(b.entry(&id)["outcome"]["state"], "pending");
    let ok = b.apply_out(&["--confirm", &id]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    std::thread::sleep(Duration::from_millis(3500));
    assert_new_loaded(&b);
    assert_eq!(b.entry(&id)["outcome"]["state"], "confirmed");

    // Loading the same ruleset again changes nothing of ours (no second jump).
    let loaded = b.ours();
    let again = applied_id(&b.apply_out(&strs(&args("30", &["--detach"]))));
    assert_eq!(b.ours(), loaded, "a reload is idempotent");
    assert!(b.apply_out(&["--confirm", &again]).status.success());

    // By hand: the state before the second apply (= the first one's), then before the first.
    assert!(b.apply_out(&["--rollback"]).status.success());
    assert_eq!(b.ours(), loaded);
    let rb = b.apply_out(&["--rollback"]);
    assert!(rb.status.success(), "{}", stderr(&rb));
    assert_eq!(b.ours(), previous, "the old chain, jump and set members are back, the new sets gone");
    assert_eq!(b.foreign(), foreign, "the rollback left the foreign state as it was");
}

#[test]
fn kill_9_of_the_applying_process_and_a_cut_session_still_roll_back() {
    if skip() {
        return;
    }
    let b = Bench::new();
    let (foreign, previous) = (b.foreign(), b.ours());
    let mut child = b.apply(&strs(&args("2", &[]))).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn apply");
    let start = Instant::now();
    let id = loop {
        assert!(start.elapsed() < Duration::from_secs(30), "the apply never loaded");
        if let Some(e) = b.journal().into_iter().find(|e| e["applied_ms"].is_u64()) {
            break e["id"].as_str().unwrap().to_string();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().expect("kill -9");
    let _ = child.wait();
    must(netns::ip(&["-n", &b.admin, "link", "set", "pmxi1", "down"]), "cut the session");
    assert_ne!(b.ours(), previous, "the new ruleset is loaded");
    assert!(b.wait_ours(&previous, Duration::from_secs(10)), "our previous chains and sets came back after kill -9:\n{}", b.ours());
    assert_eq!(b.foreign(), foreign, "the rollback left the foreign state as it was");
    let start = Instant::now();
    let e = loop {
        let e = b.entry(&id);
        if e["outcome"]["state"] != "pending" || start.elapsed() > Duration::from_secs(5) {
            break e;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(e["outcome"]["state"], "rolled-back", "{e}");
    assert_eq!(e["outcome"]["by"], "timer", "{e}");
    assert!(e["outcome"]["at_ms"].as_u64() >= e["deadline_ms"].as_u64(), "not before the deadline: {e}");
}

#[test]
fn a_lockout_is_refused_and_nothing_changes() {
    if skip() {
        return;
    }
    let b = Bench::new();
    let before = (b.ours(), b.foreign());
    let inv = inventory().display().to_string();
    let out = b.apply_out(&["-i", &inv, "--host", HOST, "--target", "iptables", "--session", "10.20.0.7:22", "--detach"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("refused: nothing was changed") && err.contains("10.20.0.7"), "{err}");
    assert_eq!((b.ours(), b.foreign()), before, "nothing changed");
    assert_eq!(b.journal()[0]["outcome"]["state"], "refused");
}

#[test]
fn a_foreign_set_under_one_of_our_names_is_refused() {
    if skip() {
        return;
    }
    let b = Bench::new();
    // Someone else's `monitoring` set: the apply would swap its members.
    b.sh("ipset create monitoring hash:net family inet maxelem 1048576\nipset add monitoring 198.51.100.0/24");
    let before = (b.ours(), b.foreign());
    let out = b.apply_out(&strs(&args("5", &["--detach"])));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("set monitoring exists") && !err.contains("set admin exists"), "{err}");
    assert_eq!((b.ours(), b.foreign()), before, "nothing changed");
}

#[test]
fn dry_run_shows_the_change_of_our_chains_and_changes_nothing() {
    if skip() {
        return;
    }
    let b = Bench::new();
    let before = (b.ours(), b.foreign());
    let out = b.apply_out(&strs(&args("5", &["--dry-run"])));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!((b.ours(), b.foreign()), before);
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(diff.starts_with("--- PORTMATRIX-* chains (live)\n+++ PORTMATRIX-* chains (after apply)\n"), "{diff}");
    assert!(diff.lines().any(|l| l.starts_with('-') && l.contains("--dport 9999") && l.contains("previous")), "{diff}");
    assert!(diff.lines().any(|l| l.starts_with('+') && l.contains("--match-set monitoring src")), "{diff}");
    assert!(!diff.contains("DOCKER") && !diff.contains("foreign"), "foreign chains are not part of the diff: {diff}");
    assert!(b.journal().is_empty(), "a dry run records no apply");
}

#[test]
fn a_foreign_rule_in_front_of_our_jump_that_drops_the_admin_path_is_refused() {
    if skip() {
        return;
    }
    let b = Bench::new();
    // Inserted above our jump (which already exists): our chain never sees ssh from the admins.
    b.sh("iptables -I INPUT 1 -s 10.99.0.0/24 -p tcp --dport 22 -m comment --comment blocker -j DROP");
    let before = (b.ours(), b.foreign());
    let out = b.apply_out(&strs(&args("5", &["--detach"])));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("refused: nothing was changed") && err.contains("INPUT") && err.contains("drops planned traffic"), "{err}");
    assert_eq!((b.ours(), b.foreign()), before, "nothing changed");
}

#[test]
fn confirm_by_probe_confirms_a_correct_iptables_ruleset() {
    if skip() {
        return;
    }
    let b = Bench::new();
    let foreign = b.foreign();
    let out = b.apply_out(&strs(&args("20", &["--confirm-by-probe", "--probe-netns", &b.admin, "--probe-timeout-ms", "800"])));
    let id = applied_id(&out);
    assert!(stderr(&out).contains("confirmed by probe"), "{}", stderr(&out));
    let e = b.entry(&id);
    assert_eq!(e["outcome"]["state"], "confirmed", "{e}");
    assert_eq!(e["outcome"]["by"], "probe", "{e}");
    assert_new_loaded(&b);
    assert_eq!(b.foreign(), foreign);
}
