//! The change request and the web server, end to end through the binary:
//! the cover's date comes from `SOURCE_DATE_EPOCH` (reproducible documents),
//! hostile text from a matrix stays text in CSV and Markdown, and `serve`
//! refuses requests for host names it does not listen as.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn pm() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("portmatrix").expect("the binary")
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

fn hostile() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../report/tests/hostile/inventory.yaml")
}

fn stdout(args: &[&str], inv: &Path, epoch: &str) -> String {
    let out = pm().args(args).arg("-i").arg(inv).env("SOURCE_DATE_EPOCH", epoch).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn the_cover_is_dated_reproducibly() {
    let html = stdout(&["render", "--format", "html"], &example("jtel-acd.yaml"), "1714521600");
    assert!(html.contains("<dt>date</dt><dd>2024-05-01</dd>"), "the date from SOURCE_DATE_EPOCH");
    assert!(html.contains("<nav class=\"toc\""), "a table of contents");
    assert_eq!(html, stdout(&["render", "--format", "html"], &example("jtel-acd.yaml"), "1714521600"), "same input, same bytes");
    let md = stdout(&["render", "--format", "md"], &example("mixed.yaml"), "0");
    assert!(md.contains("Date: 1970-01-01") && md.contains("## Totals per firewall"), "{}", &md[..400.min(md.len())]);
    let dir = tempfile::tempdir().expect("temp dir");
    let xlsx = dir.path().join("cr.xlsx");
    pm().args(["render", "--format", "xlsx", "-o"])
        .arg(&xlsx)
        .arg("-i")
        .arg(example("mixed.yaml"))
        .env("SOURCE_DATE_EPOCH", "0")
        .assert()
        .success();
    let again = dir.path().join("again.xlsx");
    pm().args(["render", "--format", "xlsx", "-o"])
        .arg(&again)
        .arg("-i")
        .arg(example("mixed.yaml"))
        .env("SOURCE_DATE_EPOCH", "0")
        .assert()
        .success();
    assert_eq!(std::fs::read(&xlsx).expect("written"), std::fs::read(&again).expect("written"));
}

#[test]
fn hostile_matrix_text_stays_text() {
    let csv = stdout(&["render", "--format", "csv"], &hostile(), "0");
    let mut cells = 0;
    for line in csv.lines().skip(1) {
        for cell in line.split(',') {
            let cell = cell.trim_start_matches('"');
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "{cell:?} in {line}");
            cells += 1;
        }
    }
    assert!(cells > 10 && csv.contains("'=HYPERLINK("), "{csv}");
    let plan_csv = stdout(&["plan", "--format", "csv"], &hostile(), "0");
    assert!(plan_csv.contains("'=HYPERLINK(") && !plan_csv.contains(",=HYPERLINK") && !plan_csv.contains(",\"=HYPERLINK"));
    let md = stdout(&["render", "--format", "md"], &hostile(), "0");
    assert!(!md.contains("<script") && md.contains("&lt;script&gt;"));
    let html = stdout(&["render", "--format", "html"], &hostile(), "0");
    assert!(!html.contains("<script"));
}

/// Kills and reaps the server when dropped (also when the test fails).
struct Reaped(Child);
impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn status(addr: &str, host: &str) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(s, "GET /d HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    raw[9..12].parse().expect("status")
}

#[test]
fn serve_answers_only_to_its_own_host_names() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portmatrix"))
        .args(["serve", "--listen", "127.0.0.1:0", "-i"])
        .arg(example("jtel-acd.yaml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start serve");
    let out = child.stdout.take().expect("stdout");
    let server = Reaped(child);
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).expect("the server's first line");
    let url = line.split_whitespace().find(|w| w.starts_with("http://127.0.0.1:")).expect("URL").to_string();
    let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let port = addr.rsplit(':').next().expect("port");
    assert_eq!(status(&addr, &addr), 200);
    assert_eq!(status(&addr, &format!("localhost:{port}")), 200);
    assert_eq!(status(&addr, &format!("attacker.example:{port}")), 421, "a DNS-rebinding page is refused");
    drop(server);
}
