//! The web UI over real HTTP on loopback, without a browser: status codes,
//! filters as plain GET forms, role panels, downloads, the deployment view.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::OnceLock;

use portmatrix_audit::generate::{generate, GenOptions};
use portmatrix_audit::{audit_flows, AuditOptions, AuditResult, FlowClass, FlowFormat, FlowInput, IntentTable};
use portmatrix_plan::{plan, Deployment};
use portmatrix_verify::probe::{Expect, ProbeResult, Target, Verdict};
use portmatrix_verify::Proto;
use portmatrix_web::audit::AuditView;
use portmatrix_web::results::parse_results;
use portmatrix_web::{App, Server};

/// A few results built with the prober's own types, serialised the way
/// `portmatrix probe --format json` writes them.
fn results_json() -> String {
    let r = |t: Target, v: Verdict, detail: &str| ProbeResult {
        ok: v.meets(t.expect),
        target: t,
        verdict: v,
        from: None,
        answered_by: None,
        detail: detail.into(),
        rtt_ms: Some(0.4),
        attempts: 1,
    };
    let ip = |s: &str| s.parse().expect("address");
    let results = vec![
        r(
            Target::new(ip("10.10.0.21"), Proto::Tcp, 445)
                .host("acd-store1")
                .source("acd-lb1")
                .flow(portmatrix_model::FlowTag::new("acd", "smb-store"))
                .flow(portmatrix_model::FlowTag::new("acd", "smb-other")),
            Verdict::Pass,
            "token ok",
        ),
        r(
            Target::new(ip("10.10.0.12"), Proto::Tcp, 22)
                .host("acd-lb2")
                .source("acd-lb1")
                .flow(portmatrix_model::FlowTag::new("acd", "internal-ssh")),
            Verdict::Blocked,
            "no answer <timeout>",
        ),
        r(
            Target::new(ip("10.10.0.21"), Proto::Udp, 9).host("acd-store1").source("acd-lb1").expect(Expect::Block),
            Verdict::Blocked,
            "silent",
        ),
        r(
            Target::new(ip("10.10.0.12"), Proto::Icmp, 0).host("acd-lb2").source("acd-store1").expect(Expect::Block),
            Verdict::Pass,
            "echo reply",
        ),
    ];
    portmatrix_verify::output::json(&results)
}

/// A flow audit of the served deployment: generated AWS flow logs with a
/// known mix of the five classes, one record's action made hostile, audited
/// by the real engine and read back from its JSON as `serve --audit` does.
fn audit_of(p: &portmatrix_plan::Plan) -> AuditResult {
    static AUDIT: OnceLock<AuditResult> = OnceLock::new();
    AUDIT
        .get_or_init(|| {
            let table = std::sync::Arc::new(IntentTable::from_plan(p));
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("flows.log");
            let opts = GenOptions { records: 3_000, seed: 11, skip_every: 5, ..Default::default() };
            generate(&table, FlowFormat::AwsText, &opts, &path, 2).expect("generate");
            let mut text = std::fs::read_to_string(&path).expect("read");
            let last = text.lines().last().expect("a record").to_string();
            let hostile = last.replace(" ACCEPT ", " <script>alert(1)</script> ").replace(" REJECT ", " <script>alert(1)</script> ");
            text.push_str(&hostile);
            text.push('\n');
            std::fs::write(&path, text).expect("write");
            let input = FlowInput { path, format: FlowFormat::AwsText };
            let (r, _) = audit_flows(table, vec![input], &AuditOptions { threads: 2, ..Default::default() }, Default::default())
                .expect("the audit runs");
            let json = serde_json::to_string(&r).expect("serialises");
            let back = AuditResult::from_json(&json).expect("reads back");
            assert_eq!(back, r, "the JSON round trip loses nothing");
            back
        })
        .clone()
}

fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let matrices = portmatrix_catalog::all()
            .expect("catalog loads")
            .into_iter()
            .map(|m| {
                let current = portmatrix_catalog::get(&m.matrix.value).is_some_and(|c| c.is_ok_and(|c| c.version == m.version));
                (if current { m.matrix.value.clone() } else { m.key() }, m)
            })
            .collect();
        let inv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/jtel-acd.yaml");
        let p = plan(&Deployment::load(&inv, &portmatrix_catalog::Catalog).expect("inventory loads")).expect("plans");
        let (origin, results) = parse_results(&results_json()).expect("the prober's JSON parses");
        let res = portmatrix_web::results::Results { file: "probe.json".into(), origin, results };
        let audit = AuditView { file: "audit.json".into(), result: audit_of(&p) };
        let app = App::new(matrices).with_plan(p).with_results(res).with_audit(audit);
        let s = Server::bind("127.0.0.1:0".parse().expect("addr"), app).expect("bind loopback");
        let addr = s.local_addr().expect("local addr");
        std::thread::spawn(move || s.run());
        addr
    })
}

struct Resp {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }
}

fn get(path: &str) -> Resp {
    request(server(), path, Some("localhost"))
}

/// A GET with this `Host` header (none when `None`).
fn request(addr: SocketAddr, path: &str, host: Option<&str>) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect");
    let host = host.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.1\r\n{host}Connection: close\r\n\r\n").expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of headers");
    let headers = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let mut body = raw[split + 4..].to_vec();
    if headers.contains("transfer-encoding: chunked") {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n").expect("chunk size");
            let n = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).expect("hex").trim(), 16).expect("chunk size");
            if n == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + n]);
            rest = &rest[nl + 2 + n + 2..];
        }
        body = out;
    }
    let status = headers[9..12].parse().expect("status");
    Resp { status, headers, body }
}

#[test]
fn catalog_lists_every_matrix_and_the_deployment() {
    let r = get("/");
    assert_eq!(r.status, 200);
    let t = r.text();
    for id in ["jtel-acd", "jtel-stack", "avaya-pom", "moderro-rem", "imagicle-ucsuite", "jtel-acd@previous"] {
        assert!(t.contains(&format!("href=\"/m/{id}\"")), "{id}");
    }
    assert!(t.contains("href=\"/d\""), "deployment link");
    assert!(r.headers.contains("content-security-policy"));
}

#[test]
fn port_filter_is_a_plain_get() {
    let t = get("/m/jtel-acd?role=&feature=&proto=&port=5060").text();
    assert!(t.contains("sip-pbx"));
    assert!(!t.contains(">ssh-support<"), "flows to other ports are filtered out");
    let caption = t.split("<caption>").nth(1).expect("caption").split(' ').next().expect("count");
    assert!(caption.parse::<usize>().expect("a number") >= 2);
    let udp = get("/m/jtel-acd?port=5060/udp").text();
    assert!(udp.contains("sip-pbx-internal-table"));
    let bad = get("/m/jtel-acd?port=nope").text();
    assert!(bad.contains("is not a port"));
}

#[test]
fn diagram_role_links_open_the_role_panel() {
    let t = get("/m/jtel-acd/diagram").text();
    assert!(t.contains("href=\"/m/jtel-acd/diagram?role=acd-tel#role\""));
    let t = get("/m/jtel-acd/diagram?role=acd-tel").text();
    let summary = t.split("id=\"listens-summary\"").nth(1).expect("summary").split("</p>").next().expect("end");
    assert!(summary.contains("5060") && summary.contains("30000-34999"), "{summary}");
    assert!(t.contains("class=\"node hl\""));
    assert_eq!(get("/m/jtel-acd/diagram?role=nobody").status, 200);
    assert_eq!(get("/m/no-such/diagram").status, 404);
    assert_eq!(get("/nowhere").status, 404);
}

#[test]
fn exports_have_types_and_names() {
    let r = get("/m/jtel-acd/export/xlsx");
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with(b"PK"), "a zip container");
    assert!(r.headers.contains("filename=\"jtel-acd.xlsx\""));
    let r = get("/m/jtel-acd/export/svg");
    assert!(r.headers.contains("image/svg+xml"));
    assert!(r.text().starts_with("<svg"));
    assert_eq!(get("/m/jtel-acd/export/pdf").status, 404);
    assert_eq!(get("/assets/style.css").status, 200);
    assert!(get("/assets/app.js").text().contains("data-copy"));
}

#[test]
fn deployment_view_serves_compiled_files() {
    let t = get("/d").text();
    assert!(t.contains("Zone servers") && t.contains("href=\"/d/host/acd-lb1\""));
    let filtered = get("/d?host=acd-lb1&zone=&port=22").text();
    assert!(filtered.contains("acd/ssh-support"));
    let t = get("/d/host/acd-lb1").text();
    assert!(t.contains("id=\"target-nftables\"") && !t.contains("id=\"target-windows\""));
    let r = get("/d/host/acd-lb1/file/nftables/0");
    assert_eq!(r.status, 200);
    assert!(r.headers.contains("filename=\"acd-lb1.nft\""));
    let inv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/jtel-acd.yaml");
    let p = plan(&Deployment::load(&inv, &portmatrix_catalog::Catalog).expect("loads")).expect("plans");
    let files =
        portmatrix_targets::compile_host(&p, "acd-lb1", portmatrix_targets::Target::Nftables, &Default::default()).expect("compiles").files;
    assert_eq!(r.text(), files[0].contents);
    assert_eq!(get("/d/host/acd-lb1/file/nftables/9").status, 404);
    let x = get("/d/export/xlsx");
    assert!(x.body.starts_with(b"PK"));
}

/// The rows of the results table: (verdict, destination host) in page order.
fn result_rows(t: &str, id: &str) -> Vec<(String, String)> {
    let table = t.split(&format!("<table id=\"{id}\"")).nth(1).expect("results table").split("</table>").next().expect("end");
    table
        .split("<tr class=\"")
        .skip(1)
        .map(|row| {
            let verdict = row.split("data-verdict=\"").nth(1).expect("verdict").split('"').next().expect("end").to_string();
            let cells: Vec<&str> = row.split("<td").collect();
            (verdict, cells[5].to_string())
        })
        .collect()
}

#[test]
fn results_page_lists_every_probe_and_filters_by_verdict() {
    let r = get("/results");
    assert_eq!(r.status, 200);
    let t = r.text();
    assert!(t.contains("4 probes · 2 ok · <strong>2 failed</strong>"), "counts at the top");
    assert!(t.contains("href=\"/results?verdict=blocked#results-table\">blocked</a>: <b>2</b>"));
    let rows = result_rows(&t, "results-table");
    assert_eq!(rows.len(), 4);
    // Failing rows first: the blocked ssh to acd-lb2 and the forbidden ping that passed.
    assert_eq!(rows[0].0, "blocked");
    assert!(rows[0].1.contains("acd-lb2"));
    assert_eq!(rows[1].0, "pass");
    assert!(t.contains("✗ FAIL") && t.contains("✓ ok"), "outcome in text, not only colour");
    assert!(t.contains("no answer &lt;timeout&gt;"), "detail escaped");
    assert!(t.contains("acd/smb-store<br>acd/smb-other"), "every flow reason");
    assert!(t.contains("href=\"/d/host/acd-store1\""), "hosts link to their pages");
    assert!(t.contains(
        "<nav class=\"views\" aria-label=\"views\"><a href=\"/d\">Deployment</a><a href=\"/results\">Results (2 failed)</a><a href=\"/audit\">Audit ("
    ));

    let f = get("/results?verdict=blocked&outcome=").text();
    let rows = result_rows(&f, "results-table");
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|(v, _)| v == "blocked"));
    assert!(f.contains("<option value=\"blocked\" selected>blocked (2)</option>"));
    let failed = result_rows(&get("/results?verdict=&outcome=failed").text(), "results-table");
    assert_eq!(failed.len(), 2);
    assert_eq!(result_rows(&get("/results?verdict=refused").text(), "results-table").len(), 0);
    assert!(get("/results?verdict=bogus").text().contains("unknown verdict `bogus`"));
}

#[test]
fn deployment_and_host_pages_show_results() {
    let d = get("/d").text();
    assert!(d.contains("id=\"results-panel\"") && d.contains("href=\"/results\""));
    assert!(get("/").text().contains("href=\"/results\""));
    let h = get("/d/host/acd-store1").text();
    assert!(h.contains("href=\"#results\"") && h.contains("Probe results (3 probes, 1 failed)"));
    assert_eq!(result_rows(&h, "host-results").len(), 3);
    let h = get("/d/host/acd-tel1").text();
    assert!(h.contains("No probe was sent from or to this host."));
}

#[test]
fn lab_reports_parse_too() {
    let probe: serde_json::Value = serde_json::from_str(&results_json()).expect("JSON");
    let results: Vec<ProbeResult> = Vec::new();
    let report = portmatrix_verify::lab::LabReport {
        inventory: "jtel-acd".into(),
        firewall: "nftables".into(),
        namespaces: 3,
        responders: 2,
        sockets: 5,
        flows: portmatrix_verify::lab::per_flow(&results),
        results,
        judgements: vec![],
        exact: vec![],
        summary: Default::default(),
        loaded: vec![],
        not_tested: vec![],
        notes: vec![],
        timings: Default::default(),
        kept: None,
    };
    let mut lab = serde_json::to_value(&report).expect("serialisable");
    lab["results"] = probe["results"].clone();
    let (origin, rs) = parse_results(&lab.to_string()).expect("the lab's JSON parses");
    assert_eq!(origin, "portmatrix lab of jtel-acd (nftables)");
    assert_eq!(rs.len(), 4);
}

#[test]
fn only_the_host_names_it_listens_as_are_answered() {
    let addr = server();
    let port = addr.port();
    for ok in [format!("localhost:{port}"), format!("127.0.0.1:{port}"), "localhost".to_string()] {
        assert_eq!(request(addr, "/", Some(&ok)).status, 200, "{ok}");
    }
    // A DNS-rebinding page reaches the server under its own name.
    for bad in [
        format!("rebind.example:{port}"),
        "rebind.example".to_string(),
        format!("localhost:{}", port.wrapping_add(1)),
        format!("10.0.0.1:{port}"),
    ] {
        let r = request(addr, "/d/host/acd-lb1/file/nftables/0", Some(&bad));
        assert_eq!(r.status, 421, "{bad}");
        assert!(!r.text().contains("table inet"), "{bad}: nothing of the configuration");
    }
    assert_eq!(request(addr, "/", None).status, 400, "no Host header");
}

#[test]
fn downloads_name_their_files_per_rfc_6266() {
    let m = portmatrix_catalog::get("jtel-stack").expect("in catalog").expect("loads");
    let key = "wéird \"key\"\r\nX-Evil: 1";
    let s = Server::bind("127.0.0.1:0".parse().expect("addr"), App::new(vec![(key.to_string(), m)])).expect("bind");
    let addr = s.local_addr().expect("addr");
    std::thread::spawn(move || s.run());
    let r = request(addr, "/m/w%C3%A9ird%20%22key%22%0D%0AX-Evil%3A%201/export/csv", Some("localhost"));
    assert_eq!(r.status, 200);
    assert!(!r.headers.contains("x-evil: 1\r\n") && !r.headers.lines().any(|l| l.starts_with("x-evil")), "{}", r.headers);
    let cd = r.headers.lines().find(|l| l.starts_with("content-disposition:")).expect("content-disposition");
    assert_eq!(cd, "content-disposition: attachment; filename=\"w_ird _key___x-evil: 1.csv\"; filename*=utf-8''w%c3%a9ird%20%22key%22%0d%0ax-evil%3a%201.csv");
}

#[test]
fn a_network_firewall_has_its_page_and_configuration_per_target() {
    let t = get("/d").text();
    assert!(t.contains("href=\"/d/firewall/core-fw\""), "the deployment links its firewalls");
    let r = get("/d/firewall/core-fw");
    assert_eq!(r.status, 200);
    let t = r.text();
    for target in ["nftables", "iptables", "aerleon"] {
        assert!(t.contains(&format!("id=\"target-{target}\"")), "{target}");
    }
    assert!(!t.contains("id=\"target-windows\""), "Windows writes no forward rules");
    let inv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/jtel-acd.yaml");
    let p = plan(&Deployment::load(&inv, &portmatrix_catalog::Catalog).expect("loads")).expect("plans");
    let files = portmatrix_targets::compile_firewall(&p, "core-fw", portmatrix_targets::Target::Nftables, &Default::default())
        .expect("compiles")
        .files;
    let r = get("/d/firewall/core-fw/file/nftables/0");
    assert_eq!(r.status, 200);
    assert!(r.headers.contains("filename=\"core-fw.nft\""), "{}", r.headers);
    assert_eq!(r.text(), files[0].contents, "the download is the compiled file");
    assert!(t.contains("data-file=\"core-fw.nft\""));
    let p = &p;
    let rows = p
        .connections
        .iter()
        .flat_map(|c| c.remote_sources().map(move |m| p.enforcement(m, c)))
        .filter(|e| e.path.firewalls().iter().any(|f| f == "core-fw"))
        .count();
    assert!(t.contains(&format!("Rows it permits ({rows})")), "the rows it enforces");
    assert_eq!(get("/d/firewall/no-such-fw").status, 404);
    assert_eq!(get("/d/firewall/core-fw/file/windows/0").status, 404);
    assert_eq!(get("/d/firewall/core-fw/file/nftables/9").status, 404);
    // The connection filter by firewall keeps exactly those rows.
    let f = get("/d?firewall=core-fw").text();
    let caption = f.split("<caption>").nth(1).expect("caption").split(' ').next().expect("count").to_string();
    assert_eq!(caption, rows.to_string());
}

#[test]
fn explain_answers_by_host_name_or_address() {
    let t = get("/d/explain?from=acd-lb1&to=acd-store1&service=445%2Ftcp").text();
    assert!(t.contains("data-verdict=\"permitted\""), "{t}");
    assert!(t.contains("acd/internal-samba"), "the flow that permits it");
    let by_addr = get("/d/explain?from=10.10.0.11&to=10.10.0.21&service=tcp%2F445").text();
    assert!(by_addr.contains("data-verdict=\"permitted\""));
    // Across the firewall: agents (clients) to the load balancer, through core-fw.
    let t = get("/d/explain?from=10.20.1.5&to=acd-lb1&service=443%2Ftcp").text();
    assert!(t.contains("data-verdict=\"permitted\"") && t.contains("core-fw"), "the firewall on the path");
    let t = get("/d/explain?from=10.20.1.5&to=acd-dbm1&service=3306%2Ftcp").text();
    assert!(t.contains("data-verdict=\"denied\""));
    assert!(t.contains("id=\"dropped-by\">Dropped by: host firewall, core-fw."), "who drops it");
    let t = get("/d/explain?from=acd-tel1&to=acd-tel1&service=5060%2Fudp").text();
    assert!(t.contains("data-verdict=\"local\"") && t.contains("LOCAL, NO RULE"));
    let t = get("/d/explain?from=acd-lb9&to=acd-store1&service=445%2Ftcp").text();
    assert!(t.contains("did you mean `acd-lb1`?") || t.contains("did you mean `acd-lb2`?"), "a hint for a misspelt host");
    let t = get("/d/explain?from=acd-lb1&to=acd-store1&service=445").text();
    assert!(t.contains("445/tcp"), "asks for the protocol");
}

#[test]
fn search_finds_hosts_networks_and_rows_by_address() {
    let t = get("/d/search?addr=10.10.0.21").text();
    let hosts = t.split("id=\"found-hosts\"").nth(1).expect("hosts").split("</ul>").next().expect("end");
    assert!(hosts.contains("acd-store1") && !hosts.contains("acd-lb1"), "{hosts}");
    assert!(t.contains("<table id=\"found-rows\""));
    let t = get("/d/search?addr=10.20.7.7").text();
    assert!(t.contains("No host has this address."));
    assert!(t.split("id=\"found-networks\"").nth(1).expect("networks").contains("agents"));
    let t = get("/d/search?addr=10.20.0.0%2F16").text();
    assert!(t.contains("agents"));
    assert!(get("/d/search?addr=not-an-address").text().contains("is not an address or prefix"));
}

#[test]
fn matrix_diff_view_shows_both_versions_changes_and_exports_them() {
    let r = get("/diff/matrix?old=jtel-acd@previous&new=jtel-acd");
    assert_eq!(r.status, 200);
    let t = r.text();
    // A flow only the new version has, and one only the old version had.
    assert!(t.contains("ssh-support") && t.contains("acd-daemon-control"), "{t}");
    let csv = get("/diff/matrix/export/csv?old=jtel-acd@previous&new=jtel-acd");
    assert_eq!(csv.status, 200);
    assert!(csv.headers.contains("text/csv"), "{}", csv.headers);
    let body = csv.text();
    assert!(body.lines().any(|l| l.starts_with("added,ssh-support")), "{body}");
    assert!(body.lines().any(|l| l.starts_with("removed,acd-daemon-control")), "{body}");
    // An unknown version is a clear answer, not a page of nothing.
    assert_ne!(get("/diff/matrix/export/csv?old=jtel-acd@nosuch&new=jtel-acd").status, 200);
    // No --compare: the deployment diff says how to get one.
    let d = get("/diff/deployment");
    assert_ne!(d.status, 200);
    assert!(d.text().contains("--compare"));
}

/// The mixed example and the same site with product `rem` decommissioned.
fn mixed_and_without_rem() -> (Deployment, Deployment) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mixed.yaml");
    let old = Deployment::load(&path, &portmatrix_catalog::Catalog).expect("mixed loads");
    let mut inv = portmatrix_model::inventory_from_path(&path).expect("inventory parses");
    inv.products.shift_remove("rem");
    for h in inv.hosts.values_mut() {
        h.roles.retain(|r| r.value.product.value != "rem");
    }
    inv.hosts.retain(|_, h| !h.roles.is_empty());
    inv.bind.retain(|k, _| k.value.product.value != "rem");
    let new = Deployment::from_inventory(inv, path.parent().expect("dir"), &portmatrix_catalog::Catalog).expect("still valid");
    (old, new)
}

#[test]
fn deployment_diff_view_filters_by_firewall_and_says_when_nothing_matches() {
    use portmatrix_web::diff::{deployment_diff, Comparison, DeltaFilters};
    let (old, new) = mixed_and_without_rem();
    let diff = portmatrix_diff::diff_deployments(&plan(&old).expect("plans"), &plan(&new).expect("plans"));
    let cover = portmatrix_report::delta::DeltaCover::new(&old, &new, "2024-05-01");
    let c = Comparison { diff, cover };
    let all = deployment_diff(&c, &DeltaFilters::default());
    assert!(all.contains("To open (0)") && all.contains("To close (58)"), "{all}");
    // The rulesets' changes follow: rem1 loses its rules, each with its source set.
    let rules = all.split("<section id=\"rules\">").nth(1).expect("a section of rule changes").split("</section>").next().unwrap();
    assert!(rules.contains("rem1") && rules.contains("rem/iec-sane") && rules.contains("<td>removed</td>"), "{rules}");
    assert!(all.contains("<a href=\"#rules\">rule changes per host and firewall</a>"), "{all}");
    // The edge firewall carries one of the removed connections (the off-site backup).
    let edge = deployment_diff(&c, &DeltaFilters { firewall: Some("edge-fw".into()), pair: None });
    assert!(edge.contains("To close (1)") && edge.contains("rem/rem-backup-ssh"), "{edge}");
    let none = deployment_diff(&c, &DeltaFilters { firewall: Some("<no-such-fw>".into()), pair: None });
    assert!(none.contains("To close (0)") && none.contains("No row crosses the firewall `&lt;no-such-fw&gt;`"), "{none}");
}

/// The `data-class` of every row of one table, in page order.
fn class_rows(t: &str, id: &str) -> Vec<String> {
    let table = t.split(&format!("<table id=\"{id}\"")).nth(1).expect("audit table").split("</table>").next().expect("end");
    table.split("data-class=\"").skip(1).map(|r| r.split('"').next().expect("class").to_string()).collect()
}

fn served_plan() -> portmatrix_plan::Plan {
    let inv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/jtel-acd.yaml");
    plan(&Deployment::load(&inv, &portmatrix_catalog::Catalog).expect("inventory loads")).expect("plans")
}

#[test]
fn audit_page_shows_every_class_findings_first_and_filters() {
    let audit = audit_of(&served_plan());
    let t = get("/audit").text();
    let planned = class_rows(&t, "audit-planned-table");
    let unplanned = class_rows(&t, "audit-unplanned-table");
    assert_eq!(planned.len(), audit.planned.len());
    assert_eq!(unplanned.len(), audit.unplanned.len());
    // each class's rows as the audit counted them, and every class present
    for c in &audit.summary.classes {
        let on_page = planned.iter().chain(&unplanned).filter(|r| *r == c.class.as_str()).count() as u64;
        assert_eq!(on_page, c.rows, "{}", c.class.as_str());
        assert!(t.contains(&format!("href=\"/audit?class={0}#audit-planned\">{0}</a>: <b>{1}</b> rows", c.class.as_str(), c.rows)));
    }
    for c in FlowClass::ALL {
        assert!(planned.iter().chain(&unplanned).any(|r| r == c.as_str()), "the generated mix has {}", c.as_str());
    }
    // findings first in each table
    let finding = |r: &String| r == "planned-rejected" || r == "unplanned-accepted";
    for rows in [&planned, &unplanned] {
        let first_other = rows.iter().position(|r| !finding(r)).unwrap_or(rows.len());
        assert!(rows[first_other..].iter().all(|r| !finding(r)), "{rows:?}");
    }
    assert!(t.contains(&format!("<strong>{} finding(s)</strong>", audit.summary.findings)));
    assert!(get("/").text().contains("href=\"/audit\""));
    assert!(t.contains(&format!("<a href=\"/audit\">Audit ({} findings)</a>", audit.summary.findings)));

    // the hostile record is an unreadable line, named by number and escaped
    assert!(!audit.summary.complete);
    assert!(t.contains("evidence incomplete"));
    assert!(t.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !t.contains("<script>alert"), "escaped");

    // filters: by class, by host, by service
    let rejected = class_rows(&get("/audit?class=planned-rejected&host=&service=").text(), "audit-planned-table");
    assert!(!rejected.is_empty() && rejected.iter().all(|r| r == "planned-rejected"));
    assert_eq!(rejected.len(), audit.planned.iter().filter(|r| r.class == FlowClass::PlannedRejected).count());
    let dest = &audit.planned[0].destination;
    let by_host = get(&format!("/audit?host={dest}")).text();
    let want = audit.planned.iter().filter(|r| r.destination == *dest || r.sources.contains(dest)).count();
    assert_eq!(class_rows(&by_host, "audit-planned-table").len(), want);
    let service = &audit.planned[0].service;
    let by_service = get(&format!("/audit?service={service}")).text();
    assert_eq!(class_rows(&by_service, "audit-planned-table").len(), audit.planned.iter().filter(|r| r.service == *service).count());
    assert!(get("/audit?class=planned").text().contains("unknown class `planned`"));
}

#[test]
fn host_pages_show_the_audited_flows_of_the_host() {
    let audit = audit_of(&served_plan());
    let host = "acd-store1";
    let h = get(&format!("/d/host/{host}")).text();
    assert!(h.contains("href=\"#audit\"") && h.contains("id=\"audit\""));
    let want = audit.planned.iter().filter(|r| r.destination == host || r.sources.iter().any(|s| s == host)).count();
    assert!(want > 0);
    assert_eq!(class_rows(&h, "host-audit-planned").len(), want);
}
