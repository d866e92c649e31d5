//! `portmatrix apply`, the real binary, inside network namespaces that each
//! test creates (and deletes, also on failure): a "host" namespace that is
//! `iem1` of examples/mixed.yaml (10.60.0.21) and an "admin" namespace on
//! the admin network (10.99.0.5), joined by one veth pair and nothing else.
//! The machine's own ruleset is never touched: every `nft` and every apply
//! runs through `ip netns exec`. Needs root, iproute2 and nftables; without
//! them the tests say why and pass, unless CI is set.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use portmatrix_verify::netns::{self, Lab};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_portmatrix");
const HOST: &str = "iem1";
const HOST_ADDR: &str = "10.60.0.21";
const ADMIN_ADDR: &str = "10.99.0.5";

/// portmatrix's table as it was before the apply: an older version.
const PREVIOUS: &str = "table inet portmatrix {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\ttcp dport 9999 accept comment \"previous\"\n\t}\n}\n";

/// What Docker (through iptables-nft) leaves behind: nat and filter tables
/// of family ip, a forward chain with policy drop, a masquerade.
const DOCKER_LIKE: &str = "table ip nat {\n\
  chain DOCKER { iifname \"docker0\" return; }\n\
  chain PREROUTING { type nat hook prerouting priority dstnat; policy accept; fib daddr type local counter jump DOCKER; }\n\
  chain POSTROUTING { type nat hook postrouting priority srcnat; policy accept; ip saddr 172.17.0.0/16 oifname != \"docker0\" counter masquerade; }\n\
}\n\
table ip filter {\n\
  chain DOCKER-USER { counter return; }\n\
  chain FORWARD { type filter hook forward priority filter; policy drop; counter jump DOCKER-USER; }\n\
}\n";

fn inventory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mixed.yaml")
}

fn must(out: std::io::Result<Output>, what: &str) -> Output {
    let out = out.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The lab: host and admin namespaces, a previous portmatrix table and the
/// Docker-like tables loaded in the host.
struct Bench {
    /// Deletes the namespaces when the bench is dropped.
    _lab: Lab,
    host: String,
    admin: String,
    state: tempfile::TempDir,
}

impl Bench {
    fn new() -> Bench {
        let mut lab = Lab::new().expect("lab");
        let host = lab.add_ns("host").expect("host namespace");
        let admin = lab.add_ns("admin").expect("admin namespace");
        for l in [
            format!("link add pmxa0 netns {host} type veth peer name pmxa1 netns {admin}"),
            format!("-n {host} addr add {HOST_ADDR}/32 dev pmxa0"),
            format!("-n {host} link set pmxa0 up"),
            format!("-n {host} route add 10.99.0.0/24 dev pmxa0"),
            format!("-n {admin} addr add {ADMIN_ADDR}/32 dev pmxa1"),
            format!("-n {admin} link set pmxa1 up"),
            format!("-n {admin} route add {HOST_ADDR}/32 dev pmxa1"),
        ] {
            let args: Vec<&str> = l.split(' ').collect();
            must(netns::ip(&args), &l);
        }
        let b = Bench { _lab: lab, host, admin, state: tempfile::tempdir().expect("state dir") };
        b.nft_file(PREVIOUS);
        b.nft_file(DOCKER_LIKE);
        b
    }

    fn nft_file(&self, text: &str) {
        let f = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(f.path(), text).expect("write");
        must(Command::new("ip").args(["netns", "exec", &self.host, "nft", "-f"]).arg(f.path()).output(), "nft -f");
    }

    /// `nft list table FAMILY NAME` in the host, or None when it is absent.
    fn table(&self, family: &str, name: &str) -> Option<String> {
        let out = Command::new("ip").args(["netns", "exec", &self.host, "nft", "list", "table", family, name]).output().expect("nft");
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn foreign(&self) -> (Option<String>, Option<String>) {
        (self.table("ip", "nat"), self.table("ip", "filter"))
    }

    /// `portmatrix apply ARGS` inside the host namespace.
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

    /// The journal, as `apply --status --json` prints it.
    fn journal(&self) -> Vec<Value> {
        let out = self.apply_out(&["--status", "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("status JSON")
    }

    fn entry(&self, id: &str) -> Value {
        self.journal().into_iter().find(|e| e["id"] == id).unwrap_or_else(|| panic!("no journal entry {id}"))
    }

    /// The journal entry once it is no longer pending (the rollback writes
    /// its outcome just after the table is back), up to 5 s.
    fn settled(&self, id: &str) -> Value {
        let start = Instant::now();
        loop {
            let e = self.entry(id);
            if e["outcome"]["state"] != "pending" || start.elapsed() > Duration::from_secs(5) {
                return e;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until portmatrix's table is `PREVIOUS` again, up to `limit`.
    fn wait_previous(&self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.table("inet", "portmatrix").as_deref().map(normal) == Some(normal(PREVIOUS)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

/// A listing without its whitespace differences.
fn normal(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn skip() -> bool {
    netns::skip_unless_able(&["ip", "nft"])
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

fn base_args(timeout: &str) -> Vec<String> {
    let inv = inventory().display().to_string();
    ["-i", &inv, "--host", HOST, "--session", &format!("{ADMIN_ADDR}:22"), "--rollback-via", "watchdog", "--timeout", timeout]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn unconfirmed_apply_rolls_back_and_leaves_foreign_tables_byte_for_byte() {
    if skip() {
        return;
    }
    let b = Bench::new();
    let foreign = b.foreign();
    assert!(foreign.0.is_some() && foreign.1.is_some(), "the Docker-like tables are loaded");
    let mut args = base_args("2");
    args.push("--detach".into());
    let out = b.apply_out(&strs(&args));
    let id = applied_id(&out);
    let loaded = b.table("inet", "portmatrix").expect("our table is loaded");
    assert!(!loaded.contains("previous") && loaded.contains("policy drop"), "the new table replaced the old one:\n{loaded}");
    assert_eq!(b.foreign(), foreign, "apply left the foreign tables as they were");
    assert_eq!(b.entry(&id)["outcome"]["state"], "pending");

    assert!(b.wait_previous(Duration::from_secs(10)), "the previous table came back");
    assert_eq!(b.foreign(), foreign, "the rollback left the foreign tables as they were");
    let e = b.settled(&id);
    assert_eq!(e["outcome"]["state"], "rolled-back", "{e}");
    assert_eq!(e["outcome"]["by"], "timer", "{e}");
    let (at, deadline) = (e["outcome"]["at_ms"].as_u64().unwrap(), e["deadline_ms"].as_u64().unwrap());
    assert!(at >= deadline, "the rollback did not fire before the deadline ({at} < {deadline})");
    // The journal records each step: the plan, the files and what was loaded.
    assert_eq!(e["plan_sha256"].as_str().map(str::len), Some(64), "{e}");
    assert!(e["files"].as_array().is_some_and(|f| !f.is_empty()), "{e}");
    assert!(e["loaded"].as_array().is_some_and(|f| !f.is_empty()), "{e}");
    assert!(e["snapshot"]["sha256"].is_string(), "{e}");
    assert!(e["applied_ms"].as_u64().is_some_and(|t| t <= deadline), "{e}");
}

#[test]
fn kill_9_of_the_applying_process_and_a_cut_session_still_roll_back() {
    if skip() {
        return;
    }
    let b = Bench::new();
    let foreign = b.foreign();
    let args = base_args("2");
    // Without --detach the process waits for the confirmation; kill it there.
    let mut child = b.apply(&strs(&args)).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn apply");
    let start = Instant::now();
    let id = loop {
        assert!(start.elapsed() < Duration::from_secs(20), "the apply never loaded");
        if let Some(e) = b.journal().into_iter().find(|e| e["applied_ms"].is_u64()) {
            break e["id"].as_str().unwrap().to_string();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().expect("kill -9");
    let _ = child.wait();
    // The session's side of the link goes away too.
    must(netns::ip(&["-n", &b.admin, "link", "set", "pmxa1", "down"]), "cut the session");
    assert!(b.table("inet", "portmatrix").is_some_and(|t| !t.contains("previous")), "the new table is loaded");
    assert!(b.wait_previous(Duration::from_secs(10)), "the previous table came back after kill -9");
    assert_eq!(b.foreign(), foreign);
    assert_eq!(b.settled(&id)["outcome"]["state"], "rolled-back");
}

#[test]
fn confirmed_apply_stays_and_hand_rollback_restores() {
    if skip() {
        return;
    }
    let b = Bench::new();
    let mut args = base_args("2");
    args.push("--detach".into());
    let id = applied_id(&b.apply_out(&strs(&args)));
    // A second apply while this one is pending is refused.
    let again = b.apply_out(&strs(&args));
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(stderr(&again).contains("still pending"), "{}", stderr(&again));

    let ok = b.apply_out(&["--confirm", &id]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    std::thread::sleep(Duration::from_millis(2600));
    let t = b.table("inet", "portmatrix").expect("our table");
    assert!(!t.contains("previous"), "the confirmed table stays after the deadline");
    assert_eq!(b.entry(&id)["outcome"]["state"], "confirmed");
    // Confirming twice is not a confirmation of something pending.
    assert_eq!(b.apply_out(&["--confirm", &id]).status.code(), Some(2));

    let rb = b.apply_out(&["--rollback"]);
    assert!(rb.status.success(), "{}", stderr(&rb));
    assert!(b.wait_previous(Duration::from_secs(1)), "apply --rollback put the previous table back");
    assert_eq!(b.entry(&id)["outcome"]["by"], "hand");
}

#[test]
fn a_dead_watchdog_is_recovered_by_hand() {
    if skip() {
        return;
    }
    let b = Bench::new();
    let mut args = base_args("30");
    args.push("--detach".into());
    let id = applied_id(&b.apply_out(&strs(&args)));
    // The armed rollback dies (the machine crashed between the load and the deadline).
    let start = Instant::now();
    let pid = loop {
        if let Some(p) = b.entry(&id)["rollback"]["pid"].as_u64() {
            break p;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the watchdog records its pid");
        std::thread::sleep(Duration::from_millis(20));
    };
    must(Command::new("kill").args(["-9", &pid.to_string()]).output(), "kill the watchdog");
    let status = b.apply_out(&["--status"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("pending"), "the journal still says pending");
    let rb = b.apply_out(&["--rollback"]);
    assert!(rb.status.success(), "{}", stderr(&rb));
    assert!(b.wait_previous(Duration::from_secs(1)), "the snapshot was put back");
    assert_eq!(b.settled(&id)["outcome"]["state"], "rolled-back");
}

#[test]
fn a_lockout_is_refused_with_the_reason_and_nothing_changes() {
    if skip() {
        return;
    }
    let b = Bench::new();
    let before = (b.table("inet", "portmatrix"), b.foreign());
    let inv = inventory().display().to_string();
    // A session from the users network: the ruleset does not accept ssh from there.
    let out = b.apply_out(&["-i", &inv, "--host", HOST, "--session", "10.20.0.7:22", "--detach", "--rollback-via", "watchdog"]);
    let err = stderr(&out);
    eprintln!("{err}");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("refused: nothing was changed"), "{err}");
    assert!(err.contains("10.20.0.7") && err.contains("--force-lockout-risk"), "the diagnostic names the session and the override: {err}");
    assert_eq!((b.table("inet", "portmatrix"), b.foreign()), before, "nothing changed");
    let j = b.journal();
    assert_eq!(j.len(), 1, "the refusal is recorded");
    assert_eq!(j[0]["outcome"]["state"], "refused");
}

#[test]
fn dry_run_checks_everything_and_changes_nothing() {
    if skip() {
        return;
    }
    let b = Bench::new();
    let before = (b.table("inet", "portmatrix"), b.foreign());
    let mut args = base_args("5");
    args.push("--dry-run".into());
    let out = b.apply_out(&strs(&args));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("nothing was changed"), "{}", stderr(&out));
    assert_eq!((b.table("inet", "portmatrix"), b.foreign()), before);
    // The change, as `nft list` prints both sides: the old rule goes, the
    // new policy and the admin set come.
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(diff.starts_with("--- table inet portmatrix (live)\n+++ table inet portmatrix (after apply)\n"), "{diff}");
    assert!(diff.lines().any(|l| l.starts_with('-') && l.contains("tcp dport 9999 accept comment \"previous\"")), "{diff}");
    assert!(diff.lines().any(|l| l.starts_with('+') && l.contains("policy drop;")), "{diff}");
    assert!(diff.lines().any(|l| l.starts_with('+') && l.contains("elements = { 10.99.0.0/24 }")), "{diff}");
    assert!(diff.lines().any(|l| l.starts_with('+') && l.contains("ip saddr @admin tcp dport 22 ")), "{diff}");
    assert!(!diff.contains("DOCKER"), "foreign tables are not part of the diff: {diff}");
    assert!(b.journal().is_empty(), "a dry run records no apply");
}

#[test]
fn a_foreign_chain_that_drops_planned_traffic_first_is_refused() {
    if skip() {
        return;
    }
    let b = Bench::new();
    b.nft_file("table inet firewalld {\n chain filter_INPUT { type filter hook input priority filter - 10; policy drop; }\n}\n");
    let before = b.table("inet", "portmatrix");
    let out = b.apply_out(&strs(&base_args("5")));
    let err = stderr(&out);
    eprintln!("{err}");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("firewalld"), "the refusal names the foreign table: {err}");
    assert_eq!(b.table("inet", "portmatrix"), before, "nothing changed");
}

/// `compile` for iem1 into a fresh directory; `edit` may change the nft file.
fn shipped(edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("files dir");
    let out = Command::new(BIN)
        .args(["compile", "-i", &inventory().display().to_string(), "--host", HOST, "-t", "nftables", "-d"])
        .arg(dir.path())
        .output()
        .expect("compile");
    assert!(out.status.success(), "{}", stderr(&out));
    let f = dir.path().join(format!("{HOST}.nft"));
    let text = std::fs::read_to_string(&f).expect("compiled nft file");
    std::fs::write(&f, edit(&text)).expect("write the edited file");
    dir
}

#[test]
fn confirm_by_probe_confirms_a_correct_ruleset() {
    if skip() {
        return;
    }
    let b = Bench::new();
    let mut args = base_args("20");
    args.extend(["--confirm-by-probe".into(), "--probe-netns".into(), b.admin.clone(), "--probe-timeout-ms".into(), "800".into()]);
    let out = b.apply_out(&strs(&args));
    let id = applied_id(&out);
    assert!(stderr(&out).contains("confirmed by probe"), "{}", stderr(&out));
    let e = b.entry(&id);
    assert_eq!(e["outcome"]["state"], "confirmed", "{e}");
    assert_eq!(e["outcome"]["by"], "probe", "{e}");
    assert!(b.table("inet", "portmatrix").is_some_and(|t| t.contains("ip saddr @admin tcp dport 443 ")), "the new table stays");
}

#[test]
fn confirm_by_probe_rolls_back_a_ruleset_that_blocks_a_required_flow() {
    if skip() {
        return;
    }
    let b = Bench::new();
    // The admin console (tcp/443 from the admin network) is required; the
    // shipped file lacks it, while ssh (what the guard checks) stays.
    let files = shipped(|t| {
        let kept: Vec<&str> = t.lines().filter(|l| !l.contains("accept comment \"rem/admin-iem-console\"")).collect();
        assert_eq!(kept.len() + 1, t.lines().count(), "the admin console rule is in the compiled file, once");
        kept.join("\n") + "\n"
    });
    let mut args = base_args("20");
    args.extend(["--files".into(), files.path().display().to_string(), "--allow-modified-files".into()]);
    args.extend(["--confirm-by-probe".into(), "--probe-netns".into(), b.admin.clone(), "--probe-timeout-ms".into(), "800".into()]);
    let out = b.apply_out(&strs(&args));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "rolled back: {err}");
    assert!(err.contains("rolled back") && err.contains("443"), "says which required flow failed: {err}");
    assert!(err.contains("LOADING MODIFIED FILES"), "warns about the modified files: {err}");
    assert!(b.wait_previous(Duration::from_millis(200)), "the previous table is back at once, not at the deadline");
    let j = b.journal();
    assert_eq!(j[0]["outcome"]["state"], "rolled-back", "{}", j[0]);
    assert_eq!(j[0]["outcome"]["by"], "probe-failed", "{}", j[0]);
}

#[test]
fn modified_files_are_refused_unless_allowed() {
    if skip() {
        return;
    }
    let b = Bench::new();
    let before = b.table("inet", "portmatrix");
    let files = shipped(|t| t.replace("policy drop;", "policy accept;"));
    let mut args = base_args("5");
    args.extend(["--files".into(), files.path().display().to_string()]);
    let out = b.apply_out(&strs(&args));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--allow-modified-files"), "{}", stderr(&out));
    assert_eq!(b.table("inet", "portmatrix"), before);
}

/// Needs no root and no namespace: it only writes files.
#[test]
fn windows_script_writes_the_rules_and_the_apply_script() {
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory().display().to_string();
    let out = Command::new(BIN)
        .args(["apply", "-i", &inv, "--host", "ucs1", "--timeout", "90", "--windows-script"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let compiled = tempfile::tempdir().unwrap();
    let c = Command::new(BIN).args(["compile", "-i", &inv, "--host", "ucs1", "-t", "windows", "-d"]).arg(compiled.path()).output().unwrap();
    assert!(c.status.success(), "{}", stderr(&c));
    let read = |d: &Path, n: &str| std::fs::read_to_string(d.join(n)).unwrap_or_else(|e| panic!("{n}: {e}"));
    assert_eq!(read(dir.path(), "ucs1.ps1"), read(compiled.path(), "ucs1.ps1"), "the rules are what compile writes");
    let script = read(dir.path(), "apply-ucs1.ps1");
    for must in [
        "advfirewall export",
        "Register-ScheduledTask",
        "[int]$TimeoutSeconds = 90",
        "Join-Path $PSScriptRoot 'ucs1.ps1'",
        ".\\apply-ucs1.ps1 -Confirm",
    ] {
        assert!(script.contains(must), "{must}:\n{script}");
    }
    // A Linux host has no PowerShell rules: refused, nothing written.
    let empty = tempfile::tempdir().unwrap();
    let bad = Command::new(BIN).args(["apply", "-i", &inv, "--host", "iem1", "--windows-script"]).arg(empty.path()).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
}

#[test]
fn the_next_apply_recovers_one_whose_rollback_died_before_the_deadline() {
    if skip() {
        return;
    }
    let b = Bench::new();
    let mut args = base_args("2");
    args.push("--detach".into());
    let first = applied_id(&b.apply_out(&strs(&args)));
    let start = Instant::now();
    let pid = loop {
        if let Some(p) = b.entry(&first)["rollback"]["pid"].as_u64() {
            break p;
        }
        assert!(start.elapsed() < Duration::from_secs(1), "the watchdog records its pid before the deadline");
        std::thread::sleep(Duration::from_millis(10));
    };
    must(Command::new("kill").args(["-9", &pid.to_string()]).output(), "kill the watchdog");
    let deadline = b.entry(&first)["deadline_ms"].as_u64().unwrap();
    while (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64) <= deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(b.entry(&first)["outcome"]["state"], "pending", "nobody rolled it back");
    assert!(b.table("inet", "portmatrix").is_some_and(|t| !t.contains("previous")));

    let out = b.apply_out(&strs(&args));
    let second = applied_id(&out);
    assert!(stderr(&out).contains(&format!("recovered: apply {first}")), "{}", stderr(&out));
    let e = b.entry(&first);
    assert_eq!(e["outcome"]["state"], "rolled-back", "{e}");
    assert_eq!(e["outcome"]["by"], "recovered", "{e}");
    // The second apply snapshotted the recovered (previous) table: its own rollback restores that.
    assert!(b.wait_previous(Duration::from_secs(10)), "the second apply's rollback brings the previous table back");
    assert_eq!(b.settled(&second)["outcome"]["state"], "rolled-back");
}
