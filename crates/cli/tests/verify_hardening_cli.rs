//! The real binary's responder and probe: keys only from a private file or
//! the environment, listen addresses only the host's, receipts capped and
//! the cap reported. Error paths need nothing; the receipt test runs a
//! responder and a prober on loopback only.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_portmatrix");

fn run(args: &[&str], env_key: Option<&str>) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("PORTMATRIX_KEY").stdin(Stdio::null());
    if let Some(k) = env_key {
        c.env("PORTMATRIX_KEY", k);
    }
    c.output().expect("run portmatrix")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn key_file(dir: &Path, mode: u32) -> PathBuf {
    let p = dir.join(format!("key-{mode:o}"));
    std::fs::write(&p, "s3cret-from-file\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

fn inventory() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/avaya-pom.yaml").to_str().unwrap().to_string()
}

#[test]
fn a_key_on_the_command_line_is_refused_with_what_to_use_instead() {
    for args in [
        &["responder", "--key", "hunter2", "--bind", "127.0.0.1", "--listen", "tcp:1"][..],
        &["responder", "--key=hunter2", "--bind", "127.0.0.1", "--listen", "tcp:1"],
        &["probe", "--key", "hunter2", "--address", "127.0.0.1/tcp:1"],
        &["probe", "--address", "127.0.0.1/tcp:1", "--key"],
    ] {
        let o = run(args, Some("also-set"));
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert!(e.contains("--key is no longer accepted") && e.contains("--key-file") && e.contains("PORTMATRIX_KEY"), "{e}");
        assert!(!e.contains("hunter2"), "the key is not echoed: {e}");
    }
}

#[test]
fn key_files_open_to_others_and_missing_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [0o644, 0o640, 0o604, 0o660] {
        let f = key_file(dir.path(), mode);
        for cmd in ["responder", "probe"] {
            let mut args = vec![cmd, "--key-file", f.to_str().unwrap()];
            args.extend(if cmd == "responder" {
                ["--bind", "127.0.0.1", "--listen", "tcp:1"]
            } else {
                ["--address", "127.0.0.1/tcp:1", "", ""]
            });
            args.retain(|a| !a.is_empty());
            let o = run(&args, None);
            let e = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{mode:o} {cmd}: {e}");
            assert!(e.contains("accessible to group or others") && e.contains("chmod 600"), "{e}");
        }
    }
    let o = run(&["probe", "--address", "127.0.0.1/tcp:1"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no key: give --key-file PATH"), "{}", stderr(&o));
    let o = run(&["probe", "--address", "127.0.0.1/tcp:1", "--key-file", "/nonexistent/key"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("key file /nonexistent/key"), "{}", stderr(&o));
}

#[test]
fn the_responder_listens_only_on_addresses_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let k = key_file(dir.path(), 0o600);
    let k = k.to_str().unwrap();
    // No inventory and no address: refused by the argument parser.
    let o = run(&["responder", "--key-file", k, "--listen", "tcp:8080"], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--bind"), "{}", stderr(&o));
    // Wildcards: refused.
    for any in ["0.0.0.0", "::"] {
        let o = run(&["responder", "--key-file", k, "--listen", "tcp:8080", "--bind", "127.0.0.1", "--bind", any], None);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(&format!("refusing to listen on `{any}`")), "{}", stderr(&o));
    }
    // With an inventory, only the host's own addresses.
    let inv = inventory();
    let o = run(&["responder", "-i", &inv, "--host", "pom2", "--key-file", k, "--bind", "10.70.0.11"], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not an address of pom2") && stderr(&o).contains("10.70.0.12"), "{}", stderr(&o));
}

#[test]
fn help_shows_the_key_file_and_hides_the_removed_flag() {
    for cmd in ["responder", "probe"] {
        let o = run(&[cmd, "--help"], None);
        let h = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0));
        assert!(h.contains("--key-file <PATH>") && h.contains("Examples:"), "{h}");
        assert!(!h.contains("--key <"), "{h}");
    }
    let h = String::from_utf8_lossy(&run(&["responder", "--help"], None).stdout).into_owned();
    for flag in ["--prefix-rate", "--global-rate", "--max-receipts", "--max-receipts-mib"] {
        assert!(h.contains(flag), "{flag}: {h}");
    }
}

/// Kills the child on drop (a failed assertion must not leave it running).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `n` consecutive UDP ports free on 127.0.0.1, as far as a test can tell.
fn free_udp_ports(n: u16) -> u16 {
    'next: for base in (20000u16..60000).step_by(97) {
        for p in base..base + n {
            if std::net::UdpSocket::bind(("127.0.0.1", p)).is_err() {
                continue 'next;
            }
        }
        return base;
    }
    panic!("no free ports");
}

#[test]
fn receipts_stop_at_their_cap_and_both_ends_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let k = key_file(dir.path(), 0o600);
    let receipts = dir.path().join("receipts.jsonl");
    let base = free_udp_ports(10);
    let ports = format!("udp:{base}-{}", base + 9);
    let child = Command::new(BIN)
        .args(["responder", "--name", "r1", "--bind", "127.0.0.1", "--listen", &ports])
        .args(["--key-file", k.to_str().unwrap(), "--receipts", receipts.to_str().unwrap(), "--max-receipts", "3"])
        .env_remove("PORTMATRIX_KEY")
        .stderr(Stdio::piped())
        .spawn()
        .expect("responder");
    let mut guard = Guard(child);
    let mut lines = BufReader::new(guard.0.stderr.take().unwrap()).lines();
    let start = Instant::now();
    loop {
        let l = lines.next().expect("responder output").unwrap();
        assert!(!l.starts_with("failed:"), "{l}");
        if l.contains("listening on 10 socket(s)") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20));
    }
    let target = format!("127.0.0.1/{ports}@r1");
    let o = Command::new(BIN)
        .args(["probe", "--address", &target, "--receipts", receipts.to_str().unwrap(), "--format", "json"])
        .env("PORTMATRIX_KEY", "s3cret-from-file")
        .output()
        .expect("probe");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["results"].as_array().unwrap().iter().all(|r| r["verdict"] == "pass"), "{v}");
    assert!(stderr(&o).contains("stopped writing receipts after 3"), "{}", stderr(&o));
    let text = std::fs::read_to_string(&receipts).unwrap();
    assert_eq!(text.lines().filter(|l| l.contains("\"nonce\"")).count(), 3, "{text}");

    let pid = guard.0.id().to_string();
    assert!(Command::new("sh").args(["-c", &format!("kill -TERM {pid}")]).status().unwrap().success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(guard.0.wait().unwrap().success());
    let summary = rest.iter().find(|l| l.contains("stopped; receipts:")).unwrap_or_else(|| panic!("{rest:?}"));
    assert!(summary.contains("10 probe(s) recorded") && summary.contains("7 NOT written"), "{summary}");
}
