//! deploy/ansible/apply.yml: `--syntax-check`, and runs against a lab of
//! network namespaces that the test creates (each "host" a namespace, the
//! local connection entering it with `ip netns exec`): canary first, every
//! host confirmed; and a canary that cannot confirm stops the rollout before
//! the next host is touched. Needs root, iproute2, nft and ansible-playbook;
//! without them the tests say why and pass, unless CI is set.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use portmatrix_verify::netns::{self, Lab};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_portmatrix");
const ADMIN_ADDR: &str = "10.99.0.5";
/// The hosts of examples/mixed.yaml the lab plays, with their IPv4 address.
const HOSTS: [(&str, &str); 2] = [("iem1", "10.60.0.21"), ("rem1", "10.60.0.11")];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn playbook() -> PathBuf {
    repo().join("deploy/ansible/apply.yml")
}

fn skip() -> bool {
    netns::skip_unless_able(&["ip", "nft", "ansible-playbook"])
}

fn ip(line: &str) {
    let args: Vec<&str> = line.split(' ').collect();
    let out = netns::ip(&args).unwrap_or_else(|e| panic!("ip {line}: {e}"));
    assert!(out.status.success(), "ip {line}: {}", String::from_utf8_lossy(&out.stderr));
}

/// An admin namespace with a veth to each host namespace.
struct Fleet {
    _lab: Lab,
    admin: String,
    hosts: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl Fleet {
    fn new() -> Fleet {
        let mut lab = Lab::new().expect("lab");
        let admin = lab.add_ns("admin").expect("admin namespace");
        let mut hosts = Vec::new();
        for (i, (name, addr)) in HOSTS.iter().enumerate() {
            let ns = lab.add_ns(name).expect("host namespace");
            for l in [
                format!("link add pmxf{i} netns {ns} type veth peer name pmxg{i} netns {admin}"),
                format!("-n {ns} addr add {addr}/32 dev pmxf{i}"),
                format!("-n {ns} link set pmxf{i} up"),
                format!("-n {ns} route add 10.99.0.0/24 dev pmxf{i}"),
                format!("-n {admin} addr add {ADMIN_ADDR}/32 dev pmxg{i}"),
                format!("-n {admin} link set pmxg{i} up"),
                format!("-n {admin} route add {addr}/32 dev pmxg{i}"),
            ] {
                ip(&l);
            }
            hosts.push((name.to_string(), ns));
        }
        Fleet { _lab: lab, admin, hosts, dir: tempfile::tempdir().expect("work dir") }
    }

    fn inventory_file(&self) -> PathBuf {
        let d = self.dir.path();
        let (canary, _) = &self.hosts[0];
        let mut ini = format!("[canary]\n{canary}\n\n[portmatrix]\n");
        for (name, ns) in &self.hosts {
            ini.push_str(&format!(
                "{name} pm_wrap=\"ip netns exec {ns}\" pm_state_dir={s} pm_incoming_dir={i}\n",
                s = d.join(name).join("state").display(),
                i = d.join(name).join("incoming").display()
            ));
        }
        ini.push_str(&format!(
            "\n[all:vars]\nansible_connection=local\nansible_python_interpreter=/usr/bin/python3\npm_bin={BIN}\npm_remote_bin={BIN}\npm_inventory={}\npm_build={}\npm_timeout=20\n",
            repo().join("examples/mixed.yaml").display(),
            d.join("build").display()
        ));
        // localhost is the control node; it gets the same variables.
        ini.push_str("\n[control]\nlocalhost\n");
        let path = d.join("hosts.ini");
        std::fs::write(&path, ini).expect("write hosts.ini");
        path
    }

    fn play(&self, extra: &Value) -> Output {
        Command::new("ansible-playbook")
            .arg("-i")
            .arg(self.inventory_file())
            .arg("-e")
            .arg(extra.to_string())
            .arg(playbook())
            .env("ANSIBLE_LOCAL_TEMP", self.dir.path().join("ansible-tmp"))
            .env("ANSIBLE_HOME", self.dir.path().join("ansible-home"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env_remove("SSH_CONNECTION")
            .output()
            .expect("run ansible-playbook")
    }

    /// The journal of one host (`apply --status --json` in its namespace).
    fn journal(&self, host: &str) -> Vec<Value> {
        let ns = &self.hosts.iter().find(|(n, _)| n == host).expect("a lab host").1;
        let state = self.dir.path().join(host).join("state");
        if !state.exists() {
            return Vec::new();
        }
        let out = Command::new("ip")
            .args(["netns", "exec", ns, BIN, "apply", "--status", "--json", "--state-dir"])
            .arg(&state)
            .output()
            .expect("apply --status");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("status JSON")
    }

    fn has_table(&self, host: &str) -> bool {
        let ns = &self.hosts.iter().find(|(n, _)| n == host).expect("a lab host").1;
        Command::new("ip").args(["netns", "exec", ns, "nft", "list", "table", "inet", "portmatrix"]).output().expect("nft").status.success()
    }
}

fn text(o: &Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn playbook_passes_the_syntax_check() {
    if netns::unavailable(&["ansible-playbook"]).is_some() {
        assert!(std::env::var("CI").is_err(), "CI must have ansible-playbook");
        eprintln!("skipped: ansible-playbook is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("ansible-playbook")
        .args(["--syntax-check", "-i", "localhost,"])
        .arg(playbook())
        .env("ANSIBLE_LOCAL_TEMP", dir.path().join("t"))
        .env("ANSIBLE_HOME", dir.path().join("h"))
        .output()
        .expect("ansible-playbook");
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn canary_first_then_the_rest_each_confirmed_over_a_new_connection() {
    if skip() {
        return;
    }
    let f = Fleet::new();
    let out = f.play(&serde_json::json!({ "pm_apply_args": ["--session", format!("{ADMIN_ADDR}:22")] }));
    assert!(out.status.success(), "{}", text(&out));
    let (canary, rest) = (f.journal("iem1"), f.journal("rem1"));
    assert_eq!(canary.len(), 1, "{canary:?}");
    assert_eq!(rest.len(), 1, "{rest:?}");
    for e in [&canary[0], &rest[0]] {
        assert_eq!(e["outcome"]["state"], "confirmed", "{e}");
        assert_eq!(e["outcome"]["by"], "hand", "{e}");
    }
    let when = |e: &Value| e["started_ms"].as_u64().unwrap();
    assert!(when(&canary[0]) < when(&rest[0]), "the canary went first");
    assert!(f.has_table("iem1") && f.has_table("rem1"));
}

#[test]
fn a_canary_that_does_not_confirm_stops_the_rollout() {
    if skip() {
        return;
    }
    let f = Fleet::new();
    // The canary's link to the admin side is down: its probe cannot pass.
    ip(&format!("-n {} link set pmxg0 down", f.admin));
    let out = f.play(&serde_json::json!({
        "pm_apply_args": ["--session", format!("{ADMIN_ADDR}:22"), "--probe-timeout-ms", "300"],
        "pm_probe_netns": f.admin,
    }));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("required probe(s) failed"), "the canary failed its probe: {}", text(&out));
    let canary = f.journal("iem1");
    assert_eq!(canary.len(), 1, "{canary:?}");
    assert_eq!(canary[0]["outcome"]["state"], "rolled-back", "{}", canary[0]);
    assert!(!f.has_table("iem1"), "the canary is back to no table");
    assert!(f.journal("rem1").is_empty(), "the next host was not touched");
    assert!(!f.has_table("rem1"));
}
