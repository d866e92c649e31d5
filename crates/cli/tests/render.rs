//! `portmatrix render`: every format of a matrix and of an inventory's plan.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn pm() -> Command {
    Command::cargo_bin("portmatrix").expect("the binary")
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

#[test]
fn text_formats_go_to_stdout() {
    pm().args(["render", "jtel-acd", "--format", "dot"]).assert().success().stdout(predicate::str::starts_with("digraph \"jtel-acd\""));
    pm().args(["render", "avaya-pom", "--format", "mermaid"]).assert().success().stdout(predicate::str::contains("flowchart LR"));
    pm().args(["render", "moderro-rem", "--format", "svg"]).assert().success().stdout(predicate::str::starts_with("<svg"));
    pm().args(["render", "jtel-stack", "--format", "md"]).assert().success().stdout(predicate::str::contains("## Flows"));
    pm().args(["render", "imagicle-ucsuite", "--format", "csv"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("id,from,to,proto,ports"));
    pm().args(["render", "jtel-acd@previous", "--format", "html"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("<!DOCTYPE html>").and(predicate::str::contains("<script").not()));
}

#[test]
fn files_are_written_atomically() {
    let dir = tempfile::tempdir().expect("temp dir");
    let xlsx = dir.path().join("sub/acd.xlsx");
    pm().args(["render", "jtel-acd", "--format", "xlsx", "-o"]).arg(&xlsx).assert().success().stdout("");
    let bytes = std::fs::read(&xlsx).expect("written");
    assert!(bytes.starts_with(b"PK"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("sub")).expect("dir").filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
    // The same input gives the same bytes.
    let again = dir.path().join("again.xlsx");
    pm().args(["render", "jtel-acd", "--format", "xlsx", "-o"]).arg(&again).assert().success();
    assert_eq!(bytes, std::fs::read(&again).expect("written"));
}

#[test]
fn inventory_plan_renders() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("cr.xlsx");
    pm().args(["render", "-i"]).arg(example("jtel-acd.yaml")).args(["--format", "xlsx", "-o"]).arg(&out).assert().success();
    assert!(std::fs::read(&out).expect("written").starts_with(b"PK"));
    pm().args(["render", "-i"])
        .arg(example("mixed.yaml"))
        .args(["--format", "dot"])
        .assert()
        .success()
        .stdout(predicate::str::contains("digraph"));
    pm().args(["render", "--inventory"])
        .arg(example("jtel-acd.yaml"))
        .args(["--format", "csv"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("source,source addresses,source zone"));
}

#[test]
fn bad_input_exits_2() {
    pm().args(["render", "no-such-matrix", "--format", "md"]).assert().code(2);
    pm().args(["render", "jtel-acd", "--format", "pdf"]).assert().code(2);
    pm().args(["render", "--format", "md"]).assert().code(2);
    pm().args(["render", "-i", "/nonexistent/inv.yaml", "--format", "md"]).assert().code(2);
}
