//! The cluster as docs/audit.md sets it up, with the real binary: a
//! scheduler process and two executor processes on loopback, and `audit
//! flows --cluster` giving exactly the embedded run's result.
#![cfg(feature = "distributed")]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn pm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_portmatrix"))
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(format!("{name}.yaml"))
}

/// Processes killed when the test ends, however it ends.
struct Services(Vec<Child>);

impl Drop for Services {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A loopback port that is free, and whose next port is free too (an
/// executor listens on both).
fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p < u16::MAX && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no two free consecutive ports on loopback");
}

fn wait_listening(addr: SocketAddr, services: &mut Services, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        for c in &mut services.0 {
            if let Ok(Some(status)) = c.try_wait() {
                panic!("a cluster process ended before the {what} listened: {status}");
            }
        }
        assert!(Instant::now() < deadline, "the {what} did not listen on {addr} within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `cmd` to its end, killing it after `limit`; its stderr is returned.
fn run_with_limit(mut cmd: Command, limit: Duration, stderr: &Path) -> (std::process::ExitStatus, String) {
    let mut child = cmd.stdout(Stdio::null()).stderr(std::fs::File::create(stderr).unwrap()).spawn().unwrap();
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (status, std::fs::read_to_string(stderr).unwrap_or_default())
}

fn result_without_engine(path: &Path) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let engine = v["summary"]["engine"].take();
    assert!(engine.is_string(), "{engine}");
    v
}

#[test]
fn scheduler_and_two_executor_processes_give_the_embedded_result() {
    let dir = tempfile::tempdir().unwrap();
    let inv = example("mixed");
    let mut files = Vec::new();
    for seed in 0..2 {
        let f = dir.path().join(format!("flows-{seed}.parquet"));
        let o = pm()
            .args(["audit", "generate", "-i"])
            .arg(&inv)
            .args(["--format", "aws-parquet", "--records", "20000", "--seed", &seed.to_string(), "-o"])
            .arg(&f)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        files.push(f);
    }
    let embedded = dir.path().join("embedded.json");
    let o = pm().args(["audit", "flows", "-i"]).arg(&inv).args(&files).args(["--format", "json", "-o"]).arg(&embedded).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "findings in the generated mix: {}", String::from_utf8_lossy(&o.stderr));

    let scheduler: SocketAddr = ([127, 0, 0, 1], free_port_pair()).into();
    let mut services = Services(Vec::new());
    let quiet = |mut c: Command| c.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let mut c = pm();
    c.args(["audit", "scheduler", "--bind", &scheduler.to_string()]);
    services.0.push(quiet(c));
    wait_listening(scheduler, &mut services, "scheduler");
    for n in 0..2 {
        let bind: SocketAddr = ([127, 0, 0, 1], free_port_pair()).into();
        let work = dir.path().join(format!("executor-{n}"));
        std::fs::create_dir(&work).unwrap();
        let mut c = pm();
        c.args(["audit", "executor", "--scheduler", &scheduler.to_string(), "--bind", &bind.to_string(), "--vcores", "1", "--work-dir"])
            .arg(&work);
        services.0.push(quiet(c));
        wait_listening(bind, &mut services, "executor");
    }

    let clustered = dir.path().join("cluster.json");
    let mut c = pm();
    c.args(["audit", "flows", "-i"])
        .arg(&inv)
        .args(&files)
        .args(["--cluster", &format!("df://{scheduler}"), "--format", "json", "-o"])
        .arg(&clustered);
    let (status, stderr) = run_with_limit(c, Duration::from_secs(180), &dir.path().join("client.err"));
    assert_eq!(status.code(), Some(1), "{stderr}");
    let cluster_json: serde_json::Value = serde_json::from_slice(&std::fs::read(&clustered).unwrap()).unwrap();
    assert_eq!(cluster_json["summary"]["engine"], format!("df://{scheduler}"), "the cluster ran it");
    assert_eq!(result_without_engine(&clustered), result_without_engine(&embedded));
}
