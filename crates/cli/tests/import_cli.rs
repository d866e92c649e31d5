//! `portmatrix import` end to end: the input-format flag, no-clobber
//! writes, PDF input, and `check` failing on a draft's open review items.

use assert_cmd::Command;

fn portmatrix() -> Command {
    let mut c = Command::cargo_bin("portmatrix").expect("the binary is built");
    c.env("NO_COLOR", "1").env_remove("COLUMNS");
    c
}

const CSV: &str =
    "Source;Destination;Port;Protocol;Purpose\nWeb client;Web server;443;TCP;browsing\nAdmin;Web server;see the manual;TCP;shell\n";

#[test]
fn input_format_names_the_document_format() {
    let dir = tempfile::tempdir().unwrap();
    // A CSV under a name that says nothing: read as text it yields nothing.
    let doc = dir.path().join("export.dat");
    std::fs::write(&doc, CSV).unwrap();
    let out = portmatrix().args(["import", "--input-format", "csv", "-q"]).arg(&doc).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.contains("\"web-client\""), "{yaml}");
    // `--format` is an output format everywhere else; import has none.
    let out = portmatrix().args(["import", "--format", "csv"]).arg(&doc).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--input-format"), "clap suggests the new flag");
    let help = portmatrix().args(["import", "--help"]).output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("--input-format <FORMAT>") && help.contains("--input-format csv"), "{help}");
}

#[test]
fn drafts_fail_check_until_reviewed_and_never_clobber() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("acme.csv");
    std::fs::write(&doc, CSV).unwrap();
    let draft = dir.path().join("acme.yaml");
    let out = portmatrix().args(["import", "-q", "-o"]).arg(&draft).arg(&doc).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // The unreadable port cell is an open review item: check exits 1 and says so.
    let check = portmatrix().args(["check", "--format", "short"]).arg(&draft).output().unwrap();
    assert_eq!(check.status.code(), Some(1));
    let text = String::from_utf8(check.stdout).unwrap();
    assert!(text.contains("review") && text.contains("see the manual"), "{text}");
    // Resolve it by deleting the review list: check passes.
    let yaml = std::fs::read_to_string(&draft).unwrap();
    let start = yaml.find("\nreview:").unwrap();
    let end = start + 1 + yaml[start + 1..].find("\n\n").unwrap();
    let reviewed = dir.path().join("reviewed.yaml");
    std::fs::write(&reviewed, format!("{}{}", &yaml[..start], &yaml[end..])).unwrap();
    let check = portmatrix().arg("check").arg(&reviewed).output().unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stderr));
    // A second import does not replace the draft without --force.
    std::fs::write(&draft, "mine\n").unwrap();
    let out = portmatrix().args(["import", "-q", "-o"]).arg(&draft).arg(&doc).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&draft).unwrap(), "mine\n");
    let out = portmatrix().args(["import", "-q", "--force", "-o"]).arg(&draft).arg(&doc).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&draft).unwrap(), yaml);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 3, "no temporary file is left: {names:?}");
}
