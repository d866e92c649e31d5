//! End-to-end runs of the real `portmatrix` binary. Expectations come from
//! the library (the catalog as loaded), never from numbers copied by hand.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use portmatrix_model::{Matrix, PortSet, Proto};
use predicates::prelude::*;

fn portmatrix() -> Command {
    let mut c = Command::cargo_bin("portmatrix").expect("the binary is built");
    c.env("NO_COLOR", "1").env_remove("COLUMNS");
    c
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let out = portmatrix().args(args).output().expect("runs");
    Run {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    }
}

/// The current version of every catalog matrix.
fn catalog() -> Vec<Matrix> {
    portmatrix_catalog::entries()
        .filter(|e| e.is_current())
        .map(|e| e.load().unwrap_or_else(|d| panic!("{} does not load: {}", e.path, d[0].short())))
        .collect()
}

/// A minimal CSV reader (quoted fields, doubled quotes, newlines in quotes).
fn csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            ('\r', false) => {}
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// Rows of a CSV table as (header, rows), with a column lookup.
fn table(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut rows = csv(text);
    assert!(!rows.is_empty(), "no CSV header in:\n{text}");
    let header = rows.remove(0);
    for r in &rows {
        assert_eq!(r.len(), header.len(), "ragged CSV row {r:?}");
    }
    (header, rows)
}

fn col(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column `{name}` in {header:?}"))
}

fn broken(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/broken").join(name)
}

#[test]
fn catalog_list_counts_flows_like_the_library() {
    let r = run(&["catalog", "list", "--format", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (header, rows) = table(&r.stdout);
    let (id, flows) = (col(&header, "id"), col(&header, "flows"));
    let listed: Vec<(String, usize)> = rows.iter().map(|r| (r[id].clone(), r[flows].parse().expect("a count"))).collect();
    let want: Vec<(String, usize)> = catalog().iter().map(|m| (m.matrix.value.clone(), m.flows.len())).collect();
    let (mut a, mut b) = (listed.clone(), want.clone());
    a.sort();
    b.sort();
    assert_eq!(a, b);
    for id in ["jtel-acd", "jtel-stack", "moderro-rem", "imagicle-ucsuite", "avaya-pom"] {
        assert!(listed.iter().any(|(i, _)| i == id), "{id} not listed");
    }
    // The table form names them too.
    let r = run(&["catalog", "list"]);
    assert_eq!(r.code, 0);
    for (id, n) in &want {
        let line = r.stdout.lines().find(|l| l.contains(id.as_str())).unwrap_or_else(|| panic!("{id} not in table:\n{}", r.stdout));
        assert!(line.contains(&n.to_string()), "{id}: {n} flows not in `{line}`");
    }
}

#[test]
fn query_port_finds_every_udp_5060_listener() {
    // What the catalog says listens on udp/5060, parameters at defaults.
    let mut want: BTreeSet<(String, String)> = BTreeSet::new();
    for m in catalog() {
        for f in &m.flows {
            let on_5060 = f.protos().any(|p| p == Proto::Udp)
                && f.ports.as_ref().and_then(|p| p.resolve(&|n| m.param_default(n)).ok()).is_some_and(|s| s.contains(5060));
            if !on_5060 {
                continue;
            }
            for to in &f.to {
                let roles: Vec<String> =
                    if to.value == "any" { vec!["any".into()] } else { m.expand(to).into_iter().map(String::from).collect() };
                for r in roles {
                    want.insert((m.matrix.value.clone(), r));
                }
            }
        }
    }
    assert!(!want.is_empty(), "the catalog has no udp/5060 listener: the test would prove nothing");

    let r = run(&["query", "--port", "5060/udp", "--format", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (header, rows) = table(&r.stdout);
    let (mi, li, pi) = (col(&header, "matrix"), col(&header, "listener"), col(&header, "proto"));
    let got: BTreeSet<(String, String)> = rows.iter().map(|r| (r[mi].clone(), r[li].clone())).collect();
    let missing: Vec<_> = want.difference(&got).collect();
    assert!(missing.is_empty(), "query misses {missing:?}\n{}", r.stdout);
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(extra.is_empty(), "query lists {extra:?}, which the catalog does not say listen on udp/5060");
    for row in &rows {
        assert!(row[pi].split('/').any(|p| p == "udp"), "row without udp: {row:?}");
    }
    // The table form mentions every pair as well.
    let r = run(&["query", "--port", "5060/udp"]);
    for (m, l) in &want {
        assert!(r.stdout.lines().any(|line| line.contains(m.as_str()) && line.contains(l.as_str())), "({m}, {l}) not in:\n{}", r.stdout);
    }
}

#[test]
fn check_broken_file_exits_2_with_location() {
    let f = broken("05-unknown-role.yaml");
    portmatrix()
        .arg("check")
        .arg(&f)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("05-unknown-role.yaml:10:9"))
        .stderr(predicate::str::contains("did you mean `database`?"));
    // The short format prints the same location on stdout, one line each.
    portmatrix()
        .args(["check", "--format", "short"])
        .arg(&f)
        .assert()
        .code(2)
        .stdout(predicate::str::is_match(r"05-unknown-role\.yaml:10:9: error\[unknown-role\]").expect("regex"));
    // Every problem of a file at once.
    let r = run(&["check", "--format", "short", broken("31-several-errors.yaml").to_str().expect("path")]);
    assert_eq!(r.code, 2);
    assert!(r.stdout.lines().filter(|l| l.contains(": error[")).count() >= 5, "{}", r.stdout);
}

const WITH_WARNING: &str = r#"matrix: warned
title: A matrix with one open warning
version: "1"
params:
  api_port: { about: set by each customer }
roles:
  app: { title: Application }
  client: { title: Client, external: true }
flows:
  - id: client-api
    from: client
    to: app
    proto: tcp
    ports: 443
    purpose: calls the API
    cite: "Table 1 (L1)"
"#;

#[test]
fn deny_warnings_turns_a_warning_into_exit_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("warned.yaml");
    std::fs::write(&f, WITH_WARNING).expect("write");
    // The library agrees that there is exactly an open warning and no error.
    let m = portmatrix_model::matrix_from_path(&f).expect("loads");
    let open: Vec<_> =
        portmatrix_model::lint::lint_matrix(&m).into_iter().filter(|d| d.severity == portmatrix_model::Severity::Warning).collect();
    assert_eq!(open.iter().map(|d| d.code).collect::<Vec<_>>(), vec!["no-default"]);

    portmatrix().arg("check").arg(&f).assert().code(0);
    portmatrix().args(["check", "--deny", "warnings"]).arg(&f).assert().code(1);
    portmatrix().args(["check", "--format", "short"]).arg(&f).assert().code(0).stdout(predicate::str::contains("warning[no-default]"));

    // Accepting the finding makes it pass even with --deny warnings.
    let accepted = WITH_WARNING.replace(
        "{ about: set by each customer }",
        "{ about: set by each customer, accept: { no-default: the document leaves it to the customer } }",
    );
    std::fs::write(&f, accepted).expect("write");
    portmatrix().args(["check", "--deny", "warnings"]).arg(&f).assert().code(0);
}

#[test]
fn show_port_filter_keeps_only_5060_rows() {
    let m = portmatrix_catalog::get("jtel-acd").expect("in catalog").expect("loads");
    let want: BTreeSet<String> = m
        .flows
        .iter()
        .filter(|f| f.ports.as_ref().and_then(|p| p.resolve(&|n| m.param_default(n)).ok()).is_some_and(|s| s.contains(5060)))
        .map(|f| f.id.value.clone())
        .collect();
    assert!(!want.is_empty(), "jtel-acd has no flow to 5060");

    let r = run(&["show", "jtel-acd", "--port", "5060", "--format", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (header, rows) = table(&r.stdout);
    let (id, ports) = (col(&header, "id"), col(&header, "ports"));
    assert!(!rows.is_empty());
    for row in &rows {
        // `5060`, `5060-5061`, or `sip_port (= 5060)`: the set after `=` if any.
        let cell = &row[ports];
        let set = cell.rsplit_once("(= ").map(|(_, s)| s.trim_end_matches(')')).unwrap_or(cell);
        let set = PortSet::parse(set).unwrap_or_else(|e| panic!("ports cell `{cell}`: {e}"));
        assert!(set.contains(5060), "row {} has ports `{cell}`", row[id]);
    }
    let got: BTreeSet<String> = rows.iter().map(|r| r[id].clone()).collect();
    assert_eq!(got, want);
}

#[test]
fn show_json_is_json_for_every_catalog_matrix() {
    for m in catalog() {
        let r = run(&["show", &m.matrix.value, "--format", "json"]);
        assert_eq!(r.code, 0, "{}: {}", m.matrix.value, r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{}: not JSON: {e}", m.matrix.value));
        assert_eq!(v["matrix"], m.matrix.value.as_str());
        assert_eq!(v["flows"].as_array().map(Vec::len), Some(m.flows.len()), "{}", m.matrix.value);
    }
}

#[test]
fn schema_is_json_with_flows() {
    let r = run(&["schema"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("schema is JSON");
    let props = v["properties"].as_object().expect("properties");
    for key in ["flows", "roles", "matrix", "features", "params"] {
        assert!(props.contains_key(key), "schema lacks `{key}`");
    }
    let required: Vec<&str> = v["required"].as_array().expect("required").iter().filter_map(|x| x.as_str()).collect();
    assert!(required.contains(&"flows"), "{required:?}");
}

#[test]
fn completions_and_man_page() {
    portmatrix()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("portmatrix").and(predicate::str::contains("complete")));
    portmatrix().arg("man").assert().success().stdout(predicate::str::contains(".TH").and(predicate::str::contains("portmatrix")));
}

#[test]
fn unknown_catalog_id_suggests_the_nearest() {
    portmatrix().args(["show", "jtel-acdd"]).assert().code(2).stderr(predicate::str::contains("did you mean `jtel-acd`?"));
    portmatrix().args(["check", "avaya-pomm"]).assert().code(2).stderr(predicate::str::contains("did you mean `avaya-pom`?"));
}

#[test]
fn catalog_ids_pass_check() {
    // What `check` says of the catalog: usable (never exit 2).
    let ids: Vec<String> = catalog().iter().map(|m| m.matrix.value.clone()).collect();
    let mut args = vec!["check", "--format", "short"];
    args.extend(ids.iter().map(String::as_str));
    let r = run(&args);
    assert_ne!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains(": error["), "{}", r.stdout);
}

#[test]
fn serve_refuses_a_malformed_results_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("garbage-results.json");
    std::fs::write(&f, "this is { not json").expect("write");
    let r = run(&["serve", "--listen", "127.0.0.1:0", "--results", f.to_str().expect("UTF-8 path")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("garbage-results.json"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "never started serving: {}", r.stdout);
    std::fs::write(&f, "{\"summary\": {}}").expect("write");
    let r = run(&["serve", "--listen", "127.0.0.1:0", "--results", f.to_str().expect("UTF-8 path")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("garbage-results.json") && r.stderr.contains("no `results`"), "{}", r.stderr);
    let missing = dir.path().join("missing.json");
    let r = run(&["serve", "--listen", "127.0.0.1:0", "--results", missing.to_str().expect("UTF-8 path")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("missing.json"), "{}", r.stderr);
}
