//! The web UI over real HTTP on loopback, without a browser: status codes,
//! filters as plain GET forms, role panels, downloads, the deployment view.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::OnceLock;

use portmatrix_plan::{plan, Deployment};
use portmatrix_report::web::results::parse_results;
use portmatrix_report::web::{App, Server};
use portmatrix_verify::probe::{Expect, ProbeResult, Target, Verdict};
use portmatrix_verify::Proto;

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
            Target::new(ip("10.10.0.21"), Proto::Tcp, 445).host("acd-store1").source("acd-lb1").label("acd/smb-store,acd/smb-other"),
            Verdict::Pass,
            "token ok",
        ),
        r(
            Target::new(ip("10.10.0.12"), Proto::Tcp, 22).host("acd-lb2").source("acd-lb1").label("acd/internal-ssh"),
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
        let res = portmatrix_report::web::results::Results { file: "probe.json".into(), origin, results };
        let s =
            Server::bind("127.0.0.1:0".parse().expect("addr"), App::new(matrices).with_plan(p).with_results(res)).expect("bind loopback");
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
    let mut s = TcpStream::connect(server()).expect("connect");
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").expect("send");
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
        "<nav class=\"views\" aria-label=\"views\"><a href=\"/d\">Deployment</a><a href=\"/results\">Results (2 failed)</a></nav>"
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
