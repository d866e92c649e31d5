//! The real binary as responder and prober inside network namespaces, and the
//! lab command. Needs root, iproute2 and nftables: without them the tests say
//! why and pass, unless CI is set (CI installs them and runs as root).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portmatrix_verify::netns::{self, Topology};

fn skip(tools: &[&str]) -> bool {
    netns::skip_unless_able(tools)
}

const BIN: &str = env!("CARGO_BIN_EXE_portmatrix");

/// Kills the child on drop (a failed assertion must not leave it running).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn responder_and_probe_binaries_in_namespaces() {
    if skip(&["ip"]) {
        return;
    }
    let mut t = Topology::default();
    t.node("a", "servers", &["10.251.1.1"]).node("c", "users", &["10.251.2.1"]);
    let lab = t.build().expect("topology");
    let receipts = std::env::temp_dir().join(format!("pmx-cli-receipts-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&receipts);
    let control = std::env::temp_dir().join(format!("pmx-cli-control-{}.sock", std::process::id()));
    let mut child = Command::new("ip")
        .args(["netns", "exec", lab.ns("a"), BIN, "responder", "--name", "a"])
        .env("PORTMATRIX_KEY", "k")
        .args(["--bind", "10.251.1.1", "--listen", "tcp:8080", "--listen", "udp:5060,6000-6999"])
        .args(["--sample-limit", "16", "--receipts", receipts.to_str().unwrap()])
        .args(["--control", control.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn responder");
    let stderr = child.stderr.take().unwrap();
    let mut guard = Guard(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let start = Instant::now();
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("listening on")) {
        let l = rx.recv_timeout(Duration::from_secs(10)).expect("responder starts");
        seen.push(l);
        assert!(start.elapsed() < Duration::from_secs(10));
    }
    assert!(seen.iter().any(|l| l.contains("sampled 16")), "{seen:?}");

    let out = Command::new("ip")
        .args(["netns", "exec", lab.ns("c"), BIN, "probe", "--format", "json"])
        .env("PORTMATRIX_KEY", "k")
        .args(["--address", "10.251.1.1/tcp:8080@a", "--address", "10.251.1.1/udp:5060@a"])
        .args(["--address", "10.251.1.1/tcp:8080@b", "--address", "10.251.1.1/tcp:8081@a"])
        .args(["--timeout-ms", "500", "--receipts", receipts.to_str().unwrap()])
        .output()
        .expect("probe");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let verdicts: Vec<&str> = v["results"].as_array().unwrap().iter().map(|r| r["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["pass", "pass", "wrong-host", "refused"]);
    let text = std::fs::read_to_string(&receipts).unwrap();
    assert!(text.lines().count() >= 3 && text.contains("10.251.2.1"), "{text}");

    let over_socket = portmatrix_verify::responder::read_receipts_file(&control).expect("control socket");
    assert_eq!(over_socket.len(), text.lines().count());

    // SIGTERM stops it cleanly (and removes its control socket).
    let pid = guard.0.id().to_string();
    // The shell's builtin kill: no procps needed.
    assert!(Command::new("sh").args(["-c", &format!("kill -TERM {pid}")]).status().unwrap().success());
    let status = guard.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!control.exists());
    let _ = std::fs::remove_file(&receipts);
}

#[test]
fn lab_command_passes_an_example() {
    if skip(&["ip", "nft"]) {
        return;
    }
    let inv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/jtel-stack.yaml");
    let out = Command::new(BIN).args(["lab", "-i", inv.to_str().unwrap(), "--format", "json"]).output().expect("lab");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["results"].as_array().unwrap().len() > 10);
    assert!(v["timings"]["total_ms"].as_u64().unwrap() < 60_000);
}

/// `responder -i INV --host H` and `probe -i INV --from H2 --to H` agree on
/// the ports from the plan alone.
#[test]
fn inventory_driven_responder_and_probe() {
    if skip(&["ip"]) {
        return;
    }
    let inv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/avaya-pom.yaml");
    let dep = portmatrix_plan::Deployment::load(&inv, &portmatrix_catalog::Catalog).expect("inventory");
    let plan = portmatrix_plan::plan(&dep).expect("plan");
    let mut t = Topology::default();
    for n in portmatrix_verify::flows::host_nodes(&plan).into_iter().filter(|n| n.name == "pom1" || n.name == "pom2") {
        t.nodes.push(netns::Node { name: n.name, zone: n.zone.unwrap_or_default(), addrs: n.addrs });
    }
    let lab = t.build().expect("topology");
    let mut child = Command::new("ip")
        .args(["netns", "exec", lab.ns("pom2"), BIN, "responder", "-i", inv.to_str().unwrap(), "--host", "pom2"])
        .env("PORTMATRIX_KEY", "k2")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn responder");
    let stderr = child.stderr.take().unwrap();
    let _guard = Guard(child);
    let mut lines = BufReader::new(stderr).lines();
    loop {
        let l = lines.next().expect("responder output").unwrap();
        if l.contains("listening on") {
            break;
        }
    }
    let out = Command::new("ip")
        .args(["netns", "exec", lab.ns("pom1"), BIN, "probe", "-i", inv.to_str().unwrap()])
        .args(["--from", "pom1", "--to", "pom2", "--no-negative", "--format", "junit"])
        .env("PORTMATRIX_KEY", "k2")
        .output()
        .expect("probe");
    let xml = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{xml}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(xml.contains("failures=\"0\"") && xml.matches("<testcase").count() > 20, "{xml}");
}

fn namespaces_with(prefix: &str) -> usize {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with(prefix)).count()
}

/// Ctrl-C in the middle of a lab deletes its namespaces.
#[test]
fn lab_interrupted_tears_down() {
    if skip(&["ip", "nft"]) {
        return;
    }
    let inv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/jtel-acd.yaml");
    let child = Command::new(BIN)
        .args(["lab", "-i", inv.to_str().unwrap(), "--timeout-ms", "20000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("lab");
    let mut guard = Guard(child);
    let prefix = format!("pmx-{}-", guard.0.id());
    let start = Instant::now();
    while namespaces_with(&prefix) < 10 {
        assert!(start.elapsed() < Duration::from_secs(20), "lab did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500)); // probing by now
    let pid = guard.0.id();
    assert!(Command::new("sh").args(["-c", &format!("kill -INT {pid}")]).status().unwrap().success());
    let status = guard.0.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_eq!(namespaces_with(&prefix), 0);
}
