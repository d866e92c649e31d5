//! `portmatrix audit ...` end to end: the real binary on generated logs,
//! bad inputs of every kind, sockets listings, help texts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_portmatrix");

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(format!("{name}.yaml"))
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Generates a log with its truth; returns (file, truth JSON).
fn generated(dir: &Path, format: &str, file: &str, records: u32, extra: &[&str]) -> (PathBuf, serde_json::Value) {
    let out = dir.join(file);
    let truth = dir.join(format!("{file}.truth.json"));
    let inv = example("mixed");
    let mut args = vec!["audit", "generate", "-i", s(&inv), "--format", format, "--out", s(&out), "--truth", s(&truth)];
    let n = records.to_string();
    args.extend(["--records", &n]);
    args.extend(extra);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    (out, serde_json::from_str(&std::fs::read_to_string(truth).unwrap()).unwrap())
}

fn audit(files: &[&Path], extra: &[&str]) -> Output {
    let inv = example("mixed");
    let mut args = vec!["audit", "flows", "-i", s(&inv)];
    args.extend(files.iter().map(|f| s(f)));
    args.extend(extra);
    run(&args)
}

#[test]
fn every_command_has_help_with_examples() {
    for cmd in [&["audit", "flows", "--help"][..], &["audit", "sockets", "--help"], &["audit", "generate", "--help"]] {
        let o = run(cmd);
        assert_eq!(o.status.code(), Some(0));
        let t = text(&o.stdout);
        assert!(t.contains("Examples:") && t.contains("portmatrix audit"), "{cmd:?}: {t}");
    }
    let t = text(&run(&["audit", "--help"]).stdout);
    for sub in ["flows", "sockets", "generate"] {
        assert!(t.contains(sub), "{t}");
    }
}

#[test]
fn flows_json_equals_the_truth_and_exit_1_on_findings() {
    let dir = tempfile::tempdir().unwrap();
    let (log, truth) = generated(dir.path(), "aws", "flows.log.gz", 4000, &[]);
    let o = audit(&[&log], &["--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(r["summary"]["records"], truth["records"]);
    for c in r["summary"]["classes"].as_array().unwrap() {
        let class = c["class"].as_str().unwrap();
        let want = truth["classes"].get(class).map_or(0, |t| t["records"].as_u64().unwrap());
        assert_eq!(c["traffic"]["records"].as_u64().unwrap(), want, "{class}");
    }
    assert!(r["summary"]["findings"].as_u64().unwrap() > 0);
    // the table names the classes and ends with the summary
    let o = audit(&[&log], &[]);
    let t = text(&o.stdout);
    assert!(t.contains("unplanned-accepted") && t.contains("planned-never-seen") && t.contains("finding(s)"), "{t}");
}

#[test]
fn only_planned_traffic_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = generated(dir.path(), "nft-log", "kern.log", 500, &["--mix", "1,0,0,0"]);
    let o = audit(&[&log], &[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(text(&o.stdout).contains("clean"));
}

#[test]
fn sql_csv_xlsx_parquet_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let (log, truth) = generated(dir.path(), "conntrack", "ct.txt", 800, &[]);
    let o = audit(&[&log], &["--sql", "SELECT count(*) AS n FROM classified WHERE class IS NOT NULL", "--format", "csv"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).lines().nth(1).unwrap(), truth["records"].to_string());
    let o = audit(&[&log], &["--sql", "SELECT no_such_column FROM results"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("no_such_column"), "{}", text(&o.stderr));

    let x = dir.path().join("a.xlsx");
    let o = audit(&[&log], &["--format", "xlsx", "-o", s(&x)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook(&x).unwrap();
    let sheet = wb.worksheet_range("audit").unwrap();
    assert_eq!(sheet.get((0, 0)).unwrap().to_string(), "class");
    assert!(sheet.height() > 2);

    let p = dir.path().join("rows.parquet");
    let o = audit(&[&log], &["--format", "parquet", "-o", s(&p)]);
    assert_eq!(o.status.code(), Some(1));
    let bytes = std::fs::read(&p).unwrap();
    assert!(bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));
    let o = audit(&[&log], &["--format", "parquet"]);
    assert_eq!(o.status.code(), Some(2), "parquet needs -o");
}

#[test]
fn unparseable_lines_are_counted_with_their_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let (log, truth) = generated(dir.path(), "aws", "v2.log", 200, &["--aws-version", "2"]);
    let mut body = std::fs::read_to_string(&log).unwrap();
    body.push_str("2 1 eni-1 10.0.0.1 not-an-address 1 2 6 1 1 1 1 ACCEPT OK\n");
    body.push_str("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 1 MAYBE OK\n");
    body.push_str("oops\u{1b}[31m\n");
    std::fs::write(&log, body).unwrap();
    let total_lines = 1 + truth["records"].as_u64().unwrap();
    let o = audit(&[&log], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let t = text(&o.stdout);
    assert!(t.contains("3 unparseable line(s)"), "{t}");
    assert!(t.contains(&format!("line {}: dstaddr `not-an-address`", total_lines + 1)), "{t}");
    assert!(t.contains(&format!("line {}: action `MAYBE`", total_lines + 2)), "{t}");
    assert!(!t.contains('\u{1b}'), "input text escaped");
}

fn expect_unusable(o: &Output, file: &Path, words: &[&str]) {
    let e = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains(s(file)), "names the file: {e}");
    for w in words {
        assert!(e.contains(w), "`{w}` in {e}");
    }
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn truncated_gzip_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = generated(dir.path(), "aws", "flows.log.gz", 20000, &[]);
    let bytes = std::fs::read(&log).unwrap();
    std::fs::write(&log, &bytes[..bytes.len() / 2]).unwrap();
    let o = audit(&[&log], &[]);
    expect_unusable(&o, &log, &["truncated"]);
    let e = text(&o.stderr);
    let line: u64 = e.split(&format!("{}:", s(&log))).nth(1).unwrap().split(':').next().unwrap().parse().unwrap();
    assert!(line > 100, "the line reached is named: {e}");
}

#[test]
fn wrong_version_and_unknown_fields_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("v.log");
    std::fs::write(&f, "version srcaddr dstaddr srcport dstport protocol action\n7 10.0.0.1 10.0.0.2 1 2 6 ACCEPT\n").unwrap();
    expect_unusable(&audit(&[&f], &[]), &f, &[":2:", "record version 7", "version 2"]);
    std::fs::write(&f, "version srcaddr dstaddr srcport dstport protocol action ecs-cluster-name\n").unwrap();
    expect_unusable(&audit(&[&f], &["--input-format", "aws"]), &f, &[":1:", "ecs-cluster-name"]);
    let z = dir.path().join("PT1H.json");
    std::fs::write(&z, r#"{"records": [{"flowLogVersion": 2, "flowRecords": {"flows": []}}]}"#).unwrap();
    expect_unusable(&audit(&[&z], &[]), &z, &["flowLogVersion 2"]);
}

#[test]
fn parquet_missing_columns_or_corrupt_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (pq, _) = generated(dir.path(), "aws-parquet", "flows.parquet", 300, &[]);
    let thin = dir.path().join("thin.parquet");
    let o = audit(&[&pq], &["--sql", "SELECT srcaddr, dstaddr, srcport FROM parquet_input_0", "--format", "parquet", "-o", s(&thin)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    expect_unusable(&audit(&[&thin], &[]), &thin, &["missing column(s) dstport, protocol, action"]);
    let bad = dir.path().join("bad.parquet");
    let mut bytes = std::fs::read(&pq).unwrap();
    bytes.truncate(bytes.len() - 20);
    std::fs::write(&bad, &bytes).unwrap();
    expect_unusable(&audit(&[&bad], &["--input-format", "aws-parquet"]), &bad, &["Parquet"]);
}

/// Peak resident memory of the children this test process waited for.
fn children_peak_rss_mib() -> u64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes the struct it is given.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) }, 0);
    (u.ru_maxrss as u64) / 1024
}

#[test]
fn a_100_mb_line_without_newline_stops_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let long_line = |name: &str, mib: usize| {
        let f = dir.path().join(name);
        let mut w = std::io::BufWriter::new(std::fs::File::create(&f).unwrap());
        w.write_all(b"version srcaddr dstaddr srcport dstport protocol action\n2 ").unwrap();
        let chunk = vec![b'7'; 1 << 20];
        for _ in 0..mib {
            w.write_all(&chunk).unwrap();
        }
        f
    };
    // What the binary itself occupies (its size depends on the build): the
    // same refusal of a 2 MiB line. The peak over every child so far can
    // only grow, so what the 100 MB line adds is measured against it.
    let small = long_line("small.log", 2);
    expect_unusable(&audit(&[&small], &["--input-format", "aws"]), &small, &[":2:", "longer than 1 MiB"]);
    let baseline = children_peak_rss_mib();
    let f = long_line("huge.log", 100);
    let o = audit(&[&f], &["--input-format", "aws"]);
    expect_unusable(&o, &f, &[":2:", "longer than 1 MiB"]);
    let peak = children_peak_rss_mib();
    assert!(peak < baseline + 50, "peak RSS {peak} MiB, {baseline} MiB for a 2 MiB line: the line was held whole");
    // the same in one JSON document without a single line break
    let z = dir.path().join("huge.json");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&z).unwrap());
        w.write_all(br#"{"records": [{"flowLogVersion": 4, "macAddress": ""#).unwrap();
        let chunk = vec![b'A'; 1 << 20];
        for _ in 0..100 {
            w.write_all(&chunk).unwrap();
        }
    }
    let o = audit(&[&z], &[]);
    expect_unusable(&o, &z, &["without a flow tuple"]);
    let peak = children_peak_rss_mib();
    assert!(peak < baseline + 50, "peak RSS {peak} MiB, {baseline} MiB for a 2 MiB line");
}

#[test]
fn sockets_of_a_host() {
    let dir = tempfile::tempdir().unwrap();
    let inv = example("mixed");
    // rem1 (Linux) listens for ssh from the admin network, and 8443 for experts (see its plan)
    let ss = dir.path().join("rem1.ss");
    std::fs::write(
        &ss,
        "Netid State  Recv-Q Send-Q Local Address:Port  Peer Address:Port Process\n\
         tcp   LISTEN 0      128    0.0.0.0:22          0.0.0.0:*     users:((\"sshd\",pid=812,fd=3))\n\
         tcp   LISTEN 0      128    127.0.0.1:5432      0.0.0.0:*     users:((\"postgres\",pid=90,fd=5))\n\
         tcp   LISTEN 0      128    0.0.0.0:31337       0.0.0.0:*     users:((\"nc\",pid=666,fd=3))\n\
         tcp   ESTAB  0      0      10.60.0.11:22       10.99.0.5:50000\n",
    )
    .unwrap();
    let o = run(&["audit", "sockets", "-i", s(&inv), "--host", "rem1", s(&ss), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = r["rows"].as_array().unwrap();
    let class_of =
        |port: &str| rows.iter().find(|x| x["port"] == port && x["line"].is_number()).map(|x| x["class"].as_str().unwrap().to_string());
    assert_eq!(class_of("22").as_deref(), Some("expected"));
    assert_eq!(class_of("31337").as_deref(), Some("unexplained"));
    assert_eq!(class_of("5432").as_deref(), Some("loopback-only"));
    assert!(rows.iter().any(|x| x["class"] == "missing"), "rem1 has planned listeners that are absent: {rows:?}");
    assert!(rows.iter().all(|x| x["port"] != "50000"), "an established connection is not a listener");

    let o = run(&["audit", "sockets", "-i", s(&inv), "--host", "rem2", s(&ss)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("rem1"), "suggests the right host: {}", text(&o.stderr));

    let ns = dir.path().join("netstat.txt");
    std::fs::write(&ns, "\r\nAktive Verbindungen\r\n\r\n  Proto  Lokale Adresse         Remoteadresse          Status           PID\r\n  TCP    0.0.0.0:3389           0.0.0.0:0              ABH\u{d6}REN         1012\r\n").unwrap();
    let o = run(&["audit", "sockets", "-i", s(&inv), "--host", "ucs1", s(&ns)]);
    let t = text(&o.stdout);
    assert!(t.contains("3389") && t.contains("expected"), "{t}{}", text(&o.stderr));
    // netstat -ano in English: an unexplained listener, a connection, a UDP
    // endpoint, and the planned listeners of the UC Suite that are absent
    std::fs::write(
        &ns,
        "\r\nActive Connections\r\n\r\n  Proto  Local Address          Foreign Address        State           PID\r\n\
         \x20 TCP    0.0.0.0:3389           0.0.0.0:0              LISTENING       1012\r\n\
         \x20 TCP    0.0.0.0:4444           0.0.0.0:0              LISTENING       77\r\n\
         \x20 TCP    10.40.0.11:3389        10.99.0.5:50123        ESTABLISHED     1012\r\n\
         \x20 UDP    0.0.0.0:137            *:*                                    1500\r\n",
    )
    .unwrap();
    let o = run(&["audit", "sockets", "-i", s(&inv), "--host", "ucs1", s(&ns), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = r["rows"].as_array().unwrap();
    let listed =
        |port: &str| rows.iter().find(|x| x["port"] == port && x["line"].is_number()).map(|x| x["class"].as_str().unwrap().to_string());
    assert_eq!(listed("3389").as_deref(), Some("expected"));
    assert_eq!(listed("4444").as_deref(), Some("unexplained"));
    // NetBIOS name service: no flow of the UC Suite uses it (5355, LLMNR,
    // lies inside its RTP range 5000-5999 and would be explained)
    assert_eq!(listed("137").as_deref(), Some("unexplained"));
    assert!(rows.iter().all(|x| x["port"] != "50123"), "a connection is not a listener");
    let missing: Vec<&serde_json::Value> = rows.iter().filter(|x| x["class"] == "missing").collect();
    assert!(!missing.is_empty() && missing.iter().all(|x| x["line"].is_null() && !x["flows"].as_array().unwrap().is_empty()), "{rows:?}");
    assert!(missing.iter().any(|x| x["flows"].as_array().unwrap().iter().any(|f| f.as_str().unwrap().starts_with("ucs/"))), "{missing:?}");
    let csv = dir.path().join("listen.csv");
    std::fs::write(&csv, "#TYPE Microsoft.Management.Infrastructure.CimInstance#ROOT/StandardCimv2/MSFT_NetTCPConnection\n\"LocalAddress\",\"LocalPort\",\"RemoteAddress\",\"RemotePort\",\"State\",\"OwningProcess\"\n\"::\",\"3389\",\"::\",\"0\",\"Listen\",\"1012\"\n\"0.0.0.0\",\"4444\",\"0.0.0.0\",\"0\",\"Listen\",\"77\"\n").unwrap();
    let o = run(&["audit", "sockets", "-i", s(&inv), "--host", "ucs1", s(&csv), "--format", "csv"]);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o.stdout);
    assert!(t.lines().any(|l| l.starts_with("unexplained,tcp,*,4444,pid 77")), "{t}");
}
