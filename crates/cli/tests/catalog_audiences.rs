//! The catalog opens each port to the audience its document names, and to
//! nobody else: one test per defect of issue 10, run against the real
//! binary (`portmatrix explain`, `plan`, `show`, `check`).
//!
//! The inventories under `tests/fixtures/audiences/` bind every audience to
//! a network of its own and the product's `any` to "anyone" (192.0.2.0/24),
//! so a flow that reads its row too widely, or falls back to `any`, shows
//! up as a permitted packet from an address no correct flow serves.
//! `explain` exits 0 when the plan permits a packet, 1 when not.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audiences").join(name)
}

fn portmatrix() -> Command {
    Command::cargo_bin("portmatrix").expect("binary built")
}

/// `explain` for one packet: exit code and stdout.
fn explain(inventory: &str, from: &str, to: &str, port: &str) -> (i32, String) {
    let out = portmatrix()
        .args(["explain", "-i"])
        .arg(fixture(inventory))
        .args(["--from", from, "--to", to, "--port", port, "--src-port", "40000"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().expect("exit code");
    assert!(code == 0 || code == 1, "{inventory}: explain {from} -> {to} {port} is unusable (exit {code}):\n{stdout}{stderr}");
    (code, stdout)
}

/// The plan permits the packet, and `flow` (PRODUCT/FLOW) is among the reasons.
fn permits(inventory: &str, from: &str, to: &str, port: &str, flow: &str) {
    let (code, out) = explain(inventory, from, to, port);
    assert_eq!(code, 0, "{inventory}: {from} -> {to} {port} should be permitted by {flow}:\n{out}");
    assert!(out.contains(&format!("by {flow} (")), "{inventory}: {from} -> {to} {port} is permitted, but not by {flow}:\n{out}");
}

/// The plan permits no such packet.
fn denies(inventory: &str, from: &str, to: &str, port: &str) {
    let (code, out) = explain(inventory, from, to, port);
    assert_eq!(code, 1, "{inventory}: {from} -> {to} {port} must not be permitted:\n{out}");
    assert!(out.starts_with("DENIED"), "{out}");
}

// Addresses shared by the fixtures (see tests/fixtures/audiences/README.md).
const ANYONE: &str = "192.0.2.5";
const WEB_USER: &str = "10.20.0.5";
const CHAT_VISITOR: &str = "198.51.100.20";
const JTEL_SUPPORT: &str = "203.0.113.70";

// jtel-acd hosts, one per role.
const LB: &str = "10.10.0.11";
const STORE: &str = "10.10.0.21";
const TEL: &str = "10.10.0.31";
const DBM: &str = "10.10.1.11";
const JB: &str = "10.10.0.41";
const CHAT: &str = "10.10.0.51";

/// Defect 1: the plain-HTTP haproxy admin GUI (000 L180) is jtel support's,
/// the portal (L165-L166) the web users', the chat port (L169) the chat
/// visitors'; none of them shares another's binding.
#[test]
fn defect_1_jtel_acd_load_balancer_ports_each_go_to_their_own_audience() {
    let inv = "jtel-acd.yaml";
    permits(inv, JTEL_SUPPORT, LB, "7777/tcp", "acd/haproxy-admin");
    for who in [WEB_USER, CHAT_VISITOR, ANYONE] {
        denies(inv, who, LB, "7777/tcp");
    }
    permits(inv, WEB_USER, LB, "80/tcp", "acd/http-lb");
    permits(inv, WEB_USER, LB, "443/tcp", "acd/https-lb");
    permits(inv, JTEL_SUPPORT, LB, "443/tcp", "acd/https-lb");
    for who in [CHAT_VISITOR, ANYONE] {
        denies(inv, who, LB, "80/tcp");
        denies(inv, who, LB, "443/tcp");
    }
    permits(inv, CHAT_VISITOR, LB, "3003/tcp", "acd/chat-ws-https");
    for who in [WEB_USER, JTEL_SUPPORT, ANYONE] {
        denies(inv, who, LB, "3003/tcp");
    }
}

/// Defect 2: the legacy rows of jtel-stack whose source is "Any" (001
/// L124-L126, L133, L139-L142) run between the stack's own nodes; what
/// `any` is bound to (here the network chat visitors would come from) gets
/// none of them.
#[test]
fn defect_2_jtel_stack_legacy_any_rows_stay_between_the_stack_nodes() {
    let inv = "jtel-stack-legacy.yaml";
    let (stack1, stack2, outsider, end_user) = ("10.50.0.10", "10.50.0.11", "198.51.100.20", WEB_USER);
    for (port, flow) in [
        ("3306/tcp", "stack/lb-db-master"),
        ("3307/tcp", "stack/lb-db-slave-realtime"),
        ("3308/tcp", "stack/lb-db-slave-historical"),
        ("8080/tcp", "stack/web-server-8080"),
        ("20643/udp", "stack/tts-generation"),
        ("20644/udp", "stack/api-events"),
        ("20645/udp", "stack/call-control"),
        ("40404/udp", "stack/tapi-forwarding"),
    ] {
        denies(inv, outsider, stack1, port);
        denies(inv, end_user, stack1, port);
        permits(inv, stack2, stack1, port, flow);
    }
}

/// Defect 3: the two container registries of 001 L53 ("A or B", critical
/// per L54) are both allowed by default; a plan may allow both.
#[test]
fn defect_3_jtel_stack_allows_both_registries() {
    let inv = "jtel-stack-alternatives.yaml";
    permits(inv, "10.50.0.10", "203.0.113.101", "443/tcp", "stack/registry-dockerhub");
    permits(inv, "10.50.0.10", "203.0.113.102", "443/tcp", "stack/registry-acr");
}

/// Defect 4: imagicle's TAPI and sharing rows are IN/OUT with the server's
/// port "Any" (003 L27-L32, L87): the server opens the sessions; the PBX and
/// the share host get no inbound port unless the symmetric reading is
/// switched on.
#[test]
fn defect_4_imagicle_opens_no_inbound_tapi_or_smb_unless_asked() {
    let (ucs, pbx, share) = ("10.40.0.11", "10.30.0.5", "10.99.5.2");
    let inv = "imagicle-inbound.yaml";
    permits(inv, ucs, pbx, "2748/tcp", "ucs/tapi-out");
    permits(inv, ucs, share, "445/tcp", "ucs/smb-to-share-tcp");
    denies(inv, pbx, ucs, "2748/tcp");
    for port in ["139/tcp", "445/tcp", "137/udp", "138/udp", "445/udp"] {
        denies(inv, share, ucs, port);
    }
    // The literal-symmetric reading is still available, behind its features.
    let on = "imagicle-inbound-on.yaml";
    permits(on, pbx, ucs, "2748/tcp", "ucs/tapi-in");
    permits(on, share, ucs, "445/tcp", "ucs/smb-from-share-tcp");
    permits(on, share, ucs, "137/udp", "ucs/smb-from-share-udp");
}

/// Defect 5: in jtel-acd@previous the internal rows with an empty or "?"
/// peer (000 L424, L451, L559, L566, L569) serve the solution's servers,
/// never `any` nor the local network.
#[test]
fn defect_5_jtel_acd_previous_unnamed_peers_are_the_servers() {
    let inv = "jtel-acd-previous.yaml";
    let cases = [
        (JB, "22/tcp", LB, "acd/web-ssh"),
        (JB, "20642/udp", DBM, "acd/web-20642"),
        (TEL, "icmp", JB, "acd/tel-icmp"),
        (LB, "3306/tcp", JB, "acd/lb-db-3306"),
        (LB, "3307/tcp", JB, "acd/lb-db-3307"),
        (LB, "3308/tcp", JB, "acd/lb-db-3308"),
        (CHAT, "3000/tcp", LB, "acd/chat-3000"),
    ];
    for (to, port, server, flow) in cases {
        denies(inv, ANYONE, to, port);
        denies(inv, WEB_USER, to, port);
        permits(inv, server, to, port, flow);
    }
}

/// Defect 6: ports the documents mark open are open by default.
#[test]
fn defect_6_ports_the_documents_mark_open_are_open_by_default() {
    // avaya 004 L239-L240: optionally enabled, default state "Open".
    permits("avaya-aacc.yaml", "10.30.2.50", "10.70.0.11", "6050/tcp", "pom/aacc-to-am");
    permits("avaya-aacc.yaml", "10.70.0.11", "10.30.2.50", "443/tcp", "pom/epm-to-aacc");
    // jtel-stack 001 L142: "Yes Yes" in the legacy table.
    permits("jtel-stack-legacy.yaml", "10.50.0.11", "10.50.0.10", "40404/udp", "stack/tapi-forwarding");
    // jtel-acd 000 L533 and L235: "Yes Yes".
    permits("jtel-acd.yaml", JB, TEL, "40404/udp", "acd/tapi-forwarding");
    permits("jtel-acd.yaml", LB, CHAT, "3000/tcp", "acd/chat-server-lb");
    // moderro 002 L84: "It is open for backward compatibility" of IEC firmware.
    permits("moderro-rem.yaml", "10.80.1.10", "10.60.0.21", "80/tcp", "rem/iem-http-redirect");
    denies("moderro-rem.yaml", ANYONE, "10.60.0.21", "80/tcp");
}

/// Defect 7: the Warning of 000 L187-L189 no longer opens lateral SSH/RDP,
/// SIP/RTP and the load balancer's MySQL and admin ports between all
/// servers by default; 3306-3308 follow the redundancy gate (L236-L238);
/// the literal reading is a feature away.
#[test]
fn defect_7_jtel_acd_warning_is_not_applied_literally_by_default() {
    let inv = "jtel-acd.yaml";
    denies(inv, TEL, JB, "22/tcp");
    denies(inv, JB, DBM, "22/tcp");
    denies(inv, JB, TEL, "3389/tcp");
    for port in ["3306/tcp", "3307/tcp", "3308/tcp", "7777/tcp"] {
        denies(inv, JB, LB, port);
    }
    denies(inv, JB, TEL, "5060/udp");
    denies(inv, JB, TEL, "5061/tcp");
    denies(inv, JB, TEL, "30000/udp");
    // The share is still reached by every server (L398-L400).
    permits(inv, JB, STORE, "445/tcp", "acd/internal-samba");

    let redundant = "jtel-acd-redundant.yaml";
    permits(redundant, JB, LB, "3306/tcp", "acd/db-master-lb");
    permits(redundant, JB, LB, "3308/tcp", "acd/db-historical-lb");
    denies(redundant, TEL, JB, "22/tcp");
    denies(redundant, JB, LB, "7777/tcp");

    let literal = "jtel-acd-literal.yaml";
    permits(literal, TEL, JB, "22/tcp", "acd/internal-ssh");
    permits(literal, JB, LB, "3306/tcp", "acd/internal-lb");
    permits(literal, JB, TEL, "5060/udp", "acd/internal-sip");
}

/// Defect 8: moderro's listening ports with an empty sender (002 L88, L94,
/// L95, L100, L103) each open to their own audience only; L83 is the IEM
/// mailing out, not a port on the IEM.
#[test]
fn defect_8_moderro_blank_senders_have_separate_audiences() {
    let inv = "moderro-rem.yaml";
    let (iem, iec, relay) = ("10.60.0.21", "10.80.1.10", "10.99.2.25");
    permits(inv, iem, relay, "25/tcp", "rem/iem-sendmail");
    for who in [ANYONE, "10.20.0.5", "10.99.0.5", relay] {
        denies(inv, who, iem, "25/tcp");
    }
    // The row read literally (an IEM listening port) is a feature away, for
    // its own audience only.
    let dir = tempfile::tempdir().expect("temp dir");
    let literal = dir.path().join("iem-smtp-listener.yaml");
    let text = std::fs::read_to_string(fixture(inv))
        .expect("fixture")
        .replace("    matrix: moderro-rem\n", "    matrix: moderro-rem\n    features: { iem-smtp-listener: true }\n")
        .replace("  rem/any:", "  rem/iem-mail-senders:     { networks: [mail] }\n  rem/any:");
    std::fs::write(&literal, text).expect("write");
    let literal = literal.to_str().expect("utf-8 path");
    permits(literal, relay, iem, "25/tcp", "rem/iem-smtp-in");
    denies(literal, ANYONE, iem, "25/tcp");
    denies(literal, "10.81.0.5", iem, "25/tcp");
    // (audience address, listener, port, flow): permitted from its own
    // audience, denied from every other one and from `any`.
    let services = [
        ("10.81.0.5", iem, "36680/tcp", "rem/iem-on-demand"),
        ("10.82.0.5", iec, "21/tcp", "rem/iec-ftp"),
        ("10.83.0.5", iec, "80/tcp", "rem/iec-web-api"),
        ("10.84.0.5", iec, "111/tcp", "rem/iec-rpc"),
        ("10.85.0.5", iec, "6566/tcp", "rem/iec-sane"),
    ];
    for (own, to, port, flow) in services {
        permits(inv, own, to, port, flow);
        denies(inv, ANYONE, to, port);
        for (other, ..) in services.iter().filter(|s| s.0 != own) {
            denies(inv, other, to, port);
        }
    }
}

/// Defect 9: alternatives the documents do not make exclusive may be on
/// together; IMAP4 and POP3, which call each other the alternative
/// (003 L22, L25), still may not.
#[test]
fn defect_9_only_documented_alternatives_are_exclusive() {
    permits("jtel-acd-both-chats.yaml", CHAT_VISITOR, LB, "3000/tcp", "acd/chat-ws-http");
    permits("jtel-acd-both-chats.yaml", CHAT_VISITOR, LB, "3003/tcp", "acd/chat-ws-https");
    let stack = "jtel-stack-alternatives.yaml";
    permits(stack, "10.50.0.10", "203.0.113.111", "443/tcp", "stack/ai-openai");
    permits(stack, "10.50.0.10", "203.0.113.112", "443/tcp", "stack/ai-mistral");
    permits(stack, CHAT_VISITOR, "10.50.0.10", "3000/tcp", "stack/chat-websocket-http");
    permits(stack, CHAT_VISITOR, "10.50.0.10", "3003/tcp", "stack/chat-websocket-https");
    denies(stack, WEB_USER, "10.50.0.10", "3003/tcp");
    let mail = "imagicle-mail2fax.yaml";
    permits(mail, "10.40.0.11", "10.99.2.25", "443/tcp", "ucs/ews-mail2fax");
    permits(mail, "10.40.0.11", "10.99.2.25", "993/tcp", "ucs/imaps-mail2fax");

    // IMAP4 and POP3 together: refused, naming the alternatives.
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(fixture(mail))
        .expect("fixture")
        .replace("      mail2fax-imap: true\n", "      mail2fax-imap: true\n      mail2fax-pop3: true\n");
    assert!(text.contains("mail2fax-pop3: true"));
    let both = dir.path().join("imap-and-pop3.yaml");
    std::fs::write(&both, text).expect("write");
    let out = portmatrix().args(["plan", "-i"]).arg(&both).output().expect("runs");
    assert_eq!(out.status.code(), Some(2), "IMAP4 and POP3 together must be refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("mail2fax-pop3") && stderr.contains("alternatives"), "{stderr}");
}

/// Defect 10: jtel-acd states its Windows assumption as a requirement (000
/// L19), and the support flows follow it: RDP to the telephony servers
/// (all-windows), SSH to the others (all-linux), never the other way round.
#[test]
fn defect_10_jtel_acd_windows_roles_are_a_stated_requirement() {
    let out = portmatrix().args(["show", "jtel-acd", "--format", "json"]).output().expect("runs");
    assert!(out.status.success());
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let req = m["requirements"]
        .as_array()
        .expect("requirements")
        .iter()
        .find(|r| r["id"] == "windows-roles")
        .unwrap_or_else(|| panic!("no requirement windows-roles in {}", m["requirements"]));
    assert!(req["cite"].as_str().is_some_and(|c| c.contains("L19")), "{req}");
    assert_eq!(m["groups"]["all-windows"], serde_json::json!(["acd-tel"]));

    let inv = "jtel-acd.yaml";
    permits(inv, JTEL_SUPPORT, TEL, "3389/tcp", "acd/rdp-support");
    permits(inv, JTEL_SUPPORT, JB, "22/tcp", "acd/ssh-support");
    denies(inv, JTEL_SUPPORT, JB, "3389/tcp");
    denies(inv, JTEL_SUPPORT, TEL, "22/tcp");
}

const OPEN_TO_ANY: &str = "matrix: toy\ntitle: Toy\nversion: \"1\"\nroles:\n  app: { title: App }\nflows:\n  - id: open\n    from: any\n    to: app\n    proto: tcp\n    ports: 443\n    purpose: p\n    cite: \"Table 1 (L1)\"\n";

/// `any-source` fails `check` for a file in a `catalog/` directory, even
/// without `--deny warnings`, until it is accepted with the document's own
/// words; elsewhere it stays a warning. The shipped catalog passes
/// `check --deny warnings`.
#[test]
fn check_treats_any_in_the_catalog_as_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("catalog")).expect("mkdir");
    let in_catalog = dir.path().join("catalog/toy.yaml");
    let outside = dir.path().join("toy.yaml");
    std::fs::write(&in_catalog, OPEN_TO_ANY).expect("write");
    std::fs::write(&outside, OPEN_TO_ANY).expect("write");

    let out = portmatrix().args(["check", "--format", "short"]).arg(&in_catalog).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("error[any-source]"));
    let out = portmatrix().args(["check", "--format", "short"]).arg(&outside).output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("warning[any-source]"));

    // Accepted without quoting the document: still an error in the catalog.
    let vague = format!("{OPEN_TO_ANY}    accept: {{ any-source: the document allows it }}\n");
    std::fs::write(&in_catalog, vague).expect("write");
    portmatrix().args(["check"]).arg(&in_catalog).assert().code(1);
    // Quoting it: accepted.
    let quoted = format!("{OPEN_TO_ANY}    accept: {{ any-source: 'the source cell reads \"Any (Internet)\"' }}\n");
    std::fs::write(&in_catalog, quoted).expect("write");
    portmatrix().args(["check", "--deny", "warnings"]).arg(&in_catalog).assert().code(0);

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("catalog"))
        .expect("catalog/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    portmatrix().current_dir(&root).args(["check", "--deny", "warnings"]).args(&files).assert().code(0);
}
