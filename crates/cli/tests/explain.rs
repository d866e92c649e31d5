//! `portmatrix explain` end to end: names or addresses, the flows, what
//! enforces the path, local traffic, JSON with typed numbers, exit codes.

use assert_cmd::Command;

fn explain(inv: &str, args: &[&str]) -> std::process::Output {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(inv);
    Command::cargo_bin("portmatrix").unwrap().args(["explain", "-i"]).arg(path).args(args).output().unwrap()
}

#[test]
fn by_names_with_the_flows_and_the_firewalls_on_the_path() {
    let out = explain("mixed.yaml", &["--from", "users", "--to", "ucs1", "--port", "443/tcp"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("PERMITTED") && text.contains("(users) -> 10.40.0.11 (ucs1) 443/tcp"), "{text}");
    assert!(text.contains("by ucs/web-https") && text.contains("enforced by: host firewall, core-fw"), "{text}");
}

#[test]
fn denied_is_exit_one_and_says_what_would_enforce_it() {
    let out = explain("mixed.yaml", &["--from", "offsite-backup", "--to", "rem1", "--port", "5432/tcp"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DENIED") && text.contains("no flow of the plan permits it"), "{text}");
    assert!(text.contains("enforced by: host firewall, edge-fw"), "{text}");
}

#[test]
fn json_has_typed_numbers_and_the_path() {
    let out = explain("mixed.yaml", &["--from", "10.20.1.5", "--to", "10.40.0.11", "--port", "443/tcp", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let x = &v[0];
    assert_eq!(x["packet"]["port"], 443);
    assert_eq!(x["permitted"], true);
    assert_eq!(x["from"], "users");
    assert_eq!(x["enforced_by"]["path"]["firewalls"][0], "core-fw");
    assert!(x["by"][0]["flow"].is_string());
}

#[test]
fn same_host_is_local_no_rule() {
    let out = explain("jtel-acd.yaml", &["--from", "acd-lb1", "--to", "acd-lb1", "--port", "80/tcp"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("LOCAL") && text.contains("no rule is involved"), "{text}");
}

#[test]
fn unknown_names_are_unusable_input() {
    let out = explain("mixed.yaml", &["--from", "nosuchhost", "--to", "ucs1", "--port", "443/tcp"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither an address nor a host or network"));
    let out = explain("mixed.yaml", &["--from", "users", "--to", "ucs1", "--port", "icmp", "--icmp-type", "echo"]);
    assert_eq!(out.status.code(), Some(2));
}
