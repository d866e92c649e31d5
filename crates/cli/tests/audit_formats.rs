//! `portmatrix audit flows` end to end on every input format: logs generated
//! from examples/mixed.yaml with their ground truth, classified by the real
//! binary, and compared with that truth class by class, intent by intent
//! (with the flow ids `portmatrix plan` gives each connection) and
//! destination by destination. Then unparseable lines of each line format,
//! and hostile bytes in inputs and inventories kept inside their cells.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_portmatrix");

fn mixed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mixed.yaml")
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env("NO_COLOR", "1").output().expect("binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `audit generate` into `dir/file`; returns the file and its truth.
fn generate(dir: &Path, format: &str, file: &str, extra: &[&str]) -> (PathBuf, Value) {
    let out = dir.join(file);
    let truth = dir.join(format!("{file}.truth.json"));
    let inv = mixed();
    let mut args = vec!["audit", "generate", "-i", s(&inv), "--format", format, "-o", s(&out), "--truth", s(&truth)];
    args.extend(["--records", "1500", "--seed", "7"]);
    args.extend(extra);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    (out, serde_json::from_str(&std::fs::read_to_string(truth).unwrap()).unwrap())
}

/// `audit flows --format json` on `file`: its exit code and result.
fn audit_json(file: &Path, extra: &[&str]) -> (i32, Value) {
    let inv = mixed();
    let mut args = vec!["audit", "flows", "-i", s(&inv), s(file), "--format", "json"];
    args.extend(extra);
    let o = run(&args);
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", text(&o.stdout), text(&o.stderr)));
    (o.status.code().unwrap(), v)
}

/// The flow ids of each connection of the plan, from `portmatrix plan`
/// (intents of connections are numbered in plan order).
fn plan_flow_ids() -> Vec<BTreeSet<String>> {
    let o = run(&["plan", "-i", s(&mixed()), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    plan["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| format!("{}/{}", r["product"].as_str().unwrap(), r["flow"].as_str().unwrap()))
                .collect()
        })
        .collect()
}

fn records(traffic: &Value) -> u64 {
    traffic["records"].as_u64().unwrap()
}

/// What the truth says each intent's rows must be: (class, intent) -> records.
fn planned_truth(truth: &Value) -> BTreeMap<(String, u64), u64> {
    let mut out = BTreeMap::new();
    for (id, pair) in truth["intents"].as_object().unwrap() {
        let id: u64 = id.parse().unwrap();
        let (accepted, rejected) = (records(&pair[0]), records(&pair[1]));
        if accepted > 0 {
            out.insert(("planned-seen".to_string(), id), accepted);
        }
        if rejected > 0 {
            out.insert(("planned-rejected".to_string(), id), rejected);
        }
    }
    out
}

/// Unplanned traffic of the truth: (class, destination, protocol, port) -> records.
fn unplanned_truth(truth: &Value) -> BTreeMap<(String, String, u64, Option<u64>), u64> {
    let mut out = BTreeMap::new();
    for e in truth["unplanned"].as_array().unwrap() {
        let key = &e[0];
        let class = if key[0].as_bool().unwrap() { "unplanned-accepted" } else { "unplanned-rejected" };
        let k = (class.to_string(), key[1].as_str().unwrap().to_string(), key[2].as_u64().unwrap(), key[3].as_u64());
        *out.entry(k).or_default() += records(&e[1]);
    }
    out
}

fn protocol_number(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| match v.as_str().unwrap() {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "icmpv6" => 58,
        "sctp" => 132,
        other => other.parse().unwrap_or_else(|_| panic!("protocol {other}")),
    })
}

/// Compares the audit of a generated log with its truth; panics with the difference.
fn check_against_truth(name: &str, result: &Value, truth: &Value, flow_ids: &[BTreeSet<String>]) {
    let summary = &result["summary"];
    assert_eq!(summary["records"], truth["records"], "{name}: records");
    assert_eq!(summary["bad_lines"].as_u64(), Some(0), "{name}: {summary}");
    // every one of the five classes is present
    let classes: BTreeSet<&str> = summary["classes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["rows"].as_u64().unwrap() > 0)
        .map(|c| c["class"].as_str().unwrap())
        .collect();
    // every class the truth has is present, and no other (conntrack cannot
    // show rejects, so a conntrack log has no rejected class)
    let truth_classes = truth["classes"].as_object().unwrap();
    for c in ["planned-seen", "planned-rejected", "unplanned-accepted", "unplanned-rejected"] {
        let in_truth = truth_classes.get(c).is_some_and(|t| records(t) > 0);
        assert_eq!(classes.contains(c), in_truth, "{name}: {c} in the result {classes:?} and the truth {truth_classes:?}");
    }
    assert!(classes.contains("planned-never-seen"), "{name}: the generator leaves intents unseen: {classes:?}");
    let conntrack = name.contains("ct") || name.contains("conntrack");
    assert!(classes.contains("planned-rejected") || conntrack, "{name}: a log that can show rejects has some");
    // planned rows: exactly the truth's intents, each with its records and flow ids
    let want = planned_truth(truth);
    let mut got = BTreeMap::new();
    let mut never_seen = BTreeSet::new();
    for row in result["planned"].as_array().unwrap() {
        let (class, id) = (row["class"].as_str().unwrap().to_string(), row["intent"].as_u64().unwrap());
        if row["basis"] == "connection" {
            let flows: BTreeSet<String> = row["flows"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect();
            assert_eq!(flows, flow_ids[id as usize], "{name}: flow ids of intent {id}");
        }
        if class == "planned-never-seen" {
            assert_eq!(records(&row["traffic"]), 0, "{name}: {row}");
            never_seen.insert(id);
        } else {
            got.insert((class, id), records(&row["traffic"]));
        }
    }
    assert_eq!(got, want, "{name}: planned rows differ from the truth");
    let seen: BTreeSet<u64> = want.keys().map(|(_, id)| *id).collect();
    assert!(never_seen.is_disjoint(&seen), "{name}: an intent both seen and never seen");
    // unplanned rows: per destination and service
    let mut got = BTreeMap::new();
    for row in result["unplanned"].as_array().unwrap() {
        let k = (
            row["class"].as_str().unwrap().to_string(),
            row["destination_address"].as_str().unwrap().to_string(),
            protocol_number(&row["protocol"]),
            row["port"].as_u64(),
        );
        *got.entry(k).or_default() += records(&row["traffic"]);
    }
    assert_eq!(got, unplanned_truth(truth), "{name}: unplanned rows differ from the truth");
}

#[test]
fn every_format_gives_the_five_classes_of_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let flow_ids = plan_flow_ids();
    let cases: &[(&str, &str, &[&str])] = &[
        ("aws", "vpc-v5.log", &[]),
        ("aws", "vpc-v2.log.gz", &["--aws-version", "2"]),
        ("aws", "vpc-v3.log", &["--aws-version", "3"]),
        ("aws-parquet", "vpc.parquet", &[]),
        ("azure", "PT1H.json", &[]),
        ("conntrack-json", "ulogd-ct.json", &[]),
        ("conntrack", "conntrack-L.txt", &[]),
        ("nft-log", "kern.log", &[]),
        ("nft-json", "ulogd-pkt.json", &[]),
    ];
    for (format, file, extra) in cases {
        let (log, truth) = generate(dir.path(), format, file, extra);
        let (code, result) = audit_json(&log, &[]);
        assert_eq!(code, 1, "{file}: findings exit 1");
        assert_eq!(result["summary"]["inputs"][0]["format"], *format, "{file}: detected from the content");
        check_against_truth(file, &result, &truth, &flow_ids);
    }
}

#[test]
fn exit_codes_clean_findings_unusable() {
    let dir = tempfile::tempdir().unwrap();
    // only planned, accepted traffic: clean, whatever was never seen
    let (log, _) = generate(dir.path(), "conntrack", "ct.txt", &["--mix", "1,0,0,0"]);
    let (code, r) = audit_json(&log, &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["summary"]["findings"], 0);
    // planned flows rejected: a finding (conntrack cannot show rejects; a firewall log can)
    let (log, _) = generate(dir.path(), "nft-log", "rejected.log", &["--mix", "10,1,0,0"]);
    assert_eq!(audit_json(&log, &[]).0, 1);
    // a file that is no flow log at all, a missing file, an unknown inventory
    let junk = dir.path().join("junk.txt");
    std::fs::write(&junk, "hello\nworld\n").unwrap();
    let inv = mixed();
    for args in [
        vec!["audit", "flows", "-i", s(&inv), s(&junk)],
        vec!["audit", "flows", "-i", s(&inv), "/nonexistent/flows.log"],
        vec!["audit", "flows", "-i", "/nonexistent/inv.yaml", s(&log)],
        vec!["audit", "flows", "-i", s(&inv), s(&log), "--input-format", "no-such-format"],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(!text(&o.stderr).contains("panicked"), "{}", text(&o.stderr));
    }
}

#[test]
fn sql_answers_from_the_result_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (log, truth) = generate(dir.path(), "nft-log", "kern.log", &[]);
    let inv = mixed();
    // One row per record in `classified` (a record that two flows allow
    // counts in both their rows of `results`).
    let q = "SELECT class, count(*) AS n FROM classified GROUP BY class ORDER BY class";
    let o = run(&["audit", "flows", "-i", s(&inv), s(&log), "--sql", q, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "findings keep exit 1 with --sql: {}", text(&o.stderr));
    let answer: BTreeMap<String, u64> = text(&o.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["class"].as_str().unwrap().to_string(), v["n"].as_u64().unwrap_or(0))
        })
        .collect();
    for (class, t) in truth["classes"].as_object().unwrap() {
        assert_eq!(answer.get(class).copied().unwrap_or(0), records(t), "{class}: {answer:?}");
    }
    // a query over the raw records agrees with the truth's total
    let o = run(&["audit", "flows", "-i", s(&inv), s(&log), "--sql", "SELECT count(*) AS n FROM records", "--format", "csv"]);
    assert_eq!(text(&o.stdout).lines().nth(1).unwrap(), truth["records"].to_string());
    // a statement that writes is refused, not run
    let o = run(&["audit", "flows", "-i", s(&inv), s(&log), "--sql", "DROP TABLE records"]);
    assert_eq!(o.status.code(), Some(2), "{}{}", text(&o.stdout), text(&o.stderr));
}

/// Appends `lines` to `file`; returns the number of the first appended line.
fn append(file: &Path, lines: &[&str]) -> u64 {
    let mut body = std::fs::read_to_string(file).unwrap();
    let first = body.lines().count() as u64 + 1;
    for l in lines {
        body.push_str(l);
        body.push('\n');
    }
    std::fs::write(file, body).unwrap();
    first
}

#[test]
fn unparseable_lines_of_each_line_format_are_counted_with_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        ("conntrack", "ct.txt", &["tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=not-an-address sport=1 dport=2", "garbage"]),
        ("conntrack-json", "ct.json", &["{\"oob.family\": 2, \"orig.ip.protocol\": 6", "[1, 2, 3]"]),
        (
            "nft-log",
            "kern.log",
            &[
                "Dec  1 04:00:00 fw kernel: pm-drop IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.999 PROTO=TCP SPT=1 DPT=2",
                "Dec  1 04:00:00 fw kernel: pm-drop IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=TCP SPT=1",
            ],
        ),
        ("nft-json", "pkt.json", &["{not json", "{\"oob.prefix\": \"pm-drop\"}"]),
        ("aws", "vpc.log", &["5 10.0.0.1", "5 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 1 MAYBE OK"]),
    ];
    for (format, file, bad) in cases {
        let (log, truth) = generate(dir.path(), format, file, &[]);
        let first = append(&log, bad);
        let (code, r) = audit_json(&log, &[]);
        assert_eq!(code, 1, "{file}");
        assert_eq!(r["summary"]["records"], truth["records"], "{file}: the good records are all classified");
        let stats = &r["summary"]["inputs"][0]["stats"];
        assert_eq!(stats["bad_lines"].as_u64(), Some(bad.len() as u64), "{file}: {stats}");
        let lines: Vec<u64> = stats["bad_samples"].as_array().unwrap().iter().map(|b| b["line"].as_u64().unwrap()).collect();
        assert_eq!(lines, (first..first + bad.len() as u64).collect::<Vec<_>>(), "{file}: {stats}");
        assert_eq!(r["summary"]["complete"], false, "{file}: evidence with holes is not complete");
    }
}

/// Text a hostile file or inventory might carry: terminal escapes, a bidi
/// override, a NUL, a carriage return, spreadsheet formulas and markup.
const HOSTILE: &[&str] =
    &["\u{1b}[2J\u{1b}]0;pwned\u{7}", "\u{202e}gpj.exe", "a\u{0}b", "x\ry", "=HYPERLINK(\"http://x\")", "<script>alert(1)</script>"];

fn assert_inert(what: &str, out: &str) {
    for bad in ['\u{1b}', '\u{202e}', '\u{0}', '\u{7}', '\r'] {
        assert!(!out.contains(bad), "{what}: raw {bad:?} in output:\n{out}");
    }
    assert!(!out.contains("<script>"), "{what}: markup in output");
}

/// CSV cells (quotes honoured) that a spreadsheet would evaluate.
fn formula_cells(csv: &str) -> Vec<String> {
    let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(csv.as_bytes());
    r.records()
        .flat_map(|rec| rec.unwrap().iter().map(str::to_string).collect::<Vec<_>>())
        .filter(|c| c.starts_with(['=', '+', '-', '@']))
        .collect()
}

#[test]
fn hostile_bytes_in_flow_logs_stay_inside_their_cells() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = generate(dir.path(), "aws", "vpc.log", &[]);
    let lines: Vec<String> = HOSTILE.iter().map(|h| format!("5 1 eni-1 10.0.0.1 {h} 1 2 6 1 1 1 1 ACCEPT OK")).collect();
    append(&log, &lines.iter().map(String::as_str).collect::<Vec<_>>());
    let inv = mixed();
    for format in ["table", "csv", "json"] {
        let o = run(&["audit", "flows", "-i", s(&inv), s(&log), "--format", format]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
        let (out, err) = (text(&o.stdout), text(&o.stderr));
        assert_inert(format, &out);
        assert_inert(format, &err);
        if format == "table" {
            assert!(out.contains(&format!("{} unparseable line(s)", HOSTILE.len())), "{out}");
        }
        if format == "csv" {
            assert!(formula_cells(&out).is_empty(), "{:?}", formula_cells(&out));
        }
    }
}

const TOY_MATRIX: &str = "matrix: toy\ntitle: Toy\nversion: \"1\"\nroles:\n  a: { title: A }\n  b: { title: B }\nflows:\n  - { id: a-b, from: a, to: b, proto: tcp, ports: 443, purpose: PURPOSE, cite: CITE }\n";

const TOY_INVENTORY: &str = "inventory: t\nproducts:\n  toy: { matrix: toy.yaml }\nzones:\n  z1: {}\n  z2: {}\nnetworks:\n  admin: { cidrs: [10.99.0.0/24], zone: z2 }\nadmin: { networks: [admin] }\nhosts:\n  h1: { addresses: [10.0.0.1], zone: z1, roles: [toy/a] }\n  h2: { addresses: [10.0.0.2], zone: z1, roles: [toy/b] }\n";

#[test]
fn hostile_cites_and_process_names_stay_inside_their_cells() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = HOSTILE.join(" ");
    let quoted = serde_json::to_string(&hostile).unwrap();
    let formula = serde_json::to_string("=cmd|' /C calc'!A0").unwrap();
    std::fs::write(dir.path().join("toy.yaml"), TOY_MATRIX.replace("PURPOSE", &quoted).replace("CITE", &formula)).unwrap();
    let inv = dir.path().join("inv.yaml");
    std::fs::write(&inv, TOY_INVENTORY).unwrap();
    let log = dir.path().join("ct.txt");
    std::fs::write(&log, "tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=40000 dport=443 src=10.0.0.2 dst=10.0.0.1 sport=443 dport=40000 [ASSURED] mark=0 use=1\n").unwrap();
    let o = run(&["audit", "flows", "-i", s(&inv), s(&log), "--format", "csv"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("'=cmd"), "the cite is in the CSV, inert: {out}");
    assert!(formula_cells(&out).is_empty(), "{:?}", formula_cells(&out));
    let o = run(&["audit", "flows", "-i", s(&inv), s(&log), "--sql", "SELECT * FROM intents", "--format", "csv"]);
    assert!(formula_cells(&text(&o.stdout)).is_empty(), "{}", text(&o.stdout));
    assert_inert("intents", &text(&o.stdout));
    let o = run(&["audit", "flows", "-i", s(&inv), s(&log)]);
    assert_inert("table", &text(&o.stdout));

    // a listener whose process name is hostile
    let ss = dir.path().join("h2.ss");
    let name = "=1+1\u{1b}[31m\u{202e}";
    std::fs::write(&ss, format!("Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port Process\ntcp LISTEN 0 128 0.0.0.0:8080 0.0.0.0:* users:((\"{name}\",pid=1,fd=3))\n")).unwrap();
    for format in ["table", "csv", "json"] {
        let o = run(&["audit", "sockets", "-i", s(&inv), "--host", "h2", s(&ss), "--format", format]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
        let out = text(&o.stdout);
        assert_inert(format, &out);
        if format == "csv" {
            assert!(formula_cells(&out).is_empty(), "{out}");
            assert!(out.contains("unexplained"), "{out}");
        }
    }
}
