//! Every input format end to end: the draft loads with the model, its flows
//! are the ones the table states, and it passes the checks `portmatrix
//! check` applies.

use portmatrix_import::{import, Format, Import, Options};
use portmatrix_model::{Matrix, Proto};

fn run(bytes: &[u8], name: &str, format: Format) -> (Import, Matrix) {
    let mut o = Options::new(name);
    o.format = format;
    let imp = import(bytes, &o).expect("import");
    assert!(imp.check_errors.is_empty(), "{:?}\n{}", imp.check_errors, imp.yaml);
    let m = portmatrix_model::matrix_from_str("draft.yaml", &imp.yaml)
        .unwrap_or_else(|d| panic!("{:?}\n{}", d.iter().map(|x| &x.message).collect::<Vec<_>>(), imp.yaml));
    // Every review item is a finding of `check`; the draft accepts nothing.
    let findings = portmatrix_model::lint::lint_matrix(&m);
    assert_eq!(findings.iter().filter(|d| d.code == "review").count(), imp.review_count(), "{}", imp.yaml);
    assert!(findings.iter().all(|d| d.severity != portmatrix_model::Severity::Accepted), "a draft pre-accepts nothing");
    (imp, m)
}

/// (from, to, protos, ports at defaults) of every flow.
fn flows(m: &Matrix) -> Vec<(String, String, String, String)> {
    m.flows
        .iter()
        .map(|f| {
            let j = |v: &[portmatrix_model::source::Spanned<String>]| v.iter().map(|s| s.value.clone()).collect::<Vec<_>>().join(",");
            let ports = f
                .ports
                .as_ref()
                .map(|p| p.resolve(&|n| m.param_default(n)).map(|s| s.to_string()).unwrap_or_else(|_| "?".into()))
                .unwrap_or_default();
            (j(&f.from), j(&f.to), f.protos().map(Proto::as_str).collect::<Vec<_>>().join(","), ports)
        })
        .collect()
}

fn t(a: &str, b: &str, c: &str, d: &str) -> (String, String, String, String) {
    (a.into(), b.into(), c.into(), d.into())
}

#[test]
fn csv_with_semicolons_and_source_ports() {
    let csv = "Port matrix of Acme\nSource;Source port;Destination;Destination port;Protocol;Description\nWeb client;1024-65535;Web server;80, 443;TCP;browsing\nAdmin;Any;Web server;22;SSH;shell\nMonitoring;;Web server;161;UDP;SNMP polling\n";
    let (imp, m) = run(csv.as_bytes(), "acme.csv", Format::Auto);
    assert_eq!(imp.format, Format::Csv);
    assert_eq!(
        flows(&m),
        [
            t("web-client", "web-server", "tcp", "80,443"),
            t("admin", "web-server", "tcp", "22"),
            t("monitoring", "web-server", "udp", "161")
        ]
    );
    assert_eq!(m.flows[0].src_ports.as_ref().map(|p| p.to_string()), Some("1024-65535".into()));
    assert!(m.flows[1].src_ports.is_none(), "Any source port is no restriction");
    assert_eq!(m.matrix.value, "acme");
}

#[test]
fn xlsx_sheets_with_merged_cells() {
    use rust_xlsxwriter::{Format as XFormat, Workbook};
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Ports").unwrap();
    for (c, h) in ["Source", "Destination", "Port(s)", "Protocol", "Purpose"].iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    // "Agents" spans two rows.
    ws.merge_range(1, 0, 2, 0, "Agents", &XFormat::new()).unwrap();
    ws.write_string(1, 1, "Web").unwrap();
    ws.write_number(1, 2, 443.0).unwrap();
    ws.write_string(1, 3, "TCP").unwrap();
    ws.write_string(2, 1, "Web").unwrap();
    ws.write_string(2, 2, "8443 (C)").unwrap();
    ws.write_string(2, 3, "HTTPS").unwrap();
    ws.write_string(3, 0, "Web").unwrap();
    ws.write_string(3, 1, "DB").unwrap();
    ws.write_string(3, 2, "see vendor note").unwrap();
    ws.write_string(3, 3, "TCP").unwrap();
    let bytes = wb.save_to_buffer().unwrap();
    let (imp, m) = run(&bytes, "acme.xlsx", Format::Auto);
    assert_eq!(imp.format, Format::Xlsx);
    assert_eq!(flows(&m), [t("agents", "web", "tcp", "443"), t("agents", "web", "tcp", "8443")]);
    // The configurable port is a parameter; the prose cell is a review item.
    assert_eq!(m.flows[1].ports.as_ref().unwrap().to_string(), "web_port");
    assert!(imp.yaml.contains("configurable: true"));
    assert!(imp.draft.review.iter().any(|r| r.text.contains("see vendor note") && r.at.contains("sheet Ports")));
}

#[test]
fn html_with_spans_and_direction_free_table() {
    let html = r#"<html><body><h1>Acme PBX</h1><h2>Firewall</h2>
<table>
<thead><tr><th>From</th><th>To</th><th>Protocol</th><th>Port</th><th>Notes</th></tr></thead>
<tbody>
<tr><td rowspan="2">Phones</td><td>PBX</td><td>UDP</td><td>5060</td><td>SIP</td></tr>
<tr><td>PBX</td><td>UDP</td><td>10000 - 20000</td><td>RTP</td></tr>
<tr><td>PBX</td><td>Phones</td><td>ICMP</td><td></td><td>ping</td></tr>
</tbody></table></body></html>"#;
    let (imp, m) = run(html.as_bytes(), "acme.html", Format::Auto);
    assert_eq!(imp.format, Format::Html);
    assert_eq!(m.title, "Acme PBX");
    assert_eq!(flows(&m), [t("phones", "pbx", "udp", "5060"), t("phones", "pbx", "udp", "10000-20000"), t("pbx", "phones", "icmp", "")]);
    assert!(m.flows[0].cite.contains("table 1 (Firewall), row 1"));
}

#[test]
fn markdown_with_one_ended_tables_and_self() {
    let md = "# Acme\n\n## Inbound\n\n| Port | Protocol | Source |\n|---|---|---|\n| 443 | HTTPS | Users |\n| 5060 / 5061 (TCP or UDP) | SIP | Trunks |\n\n## Outbound\n\n| Destination | Port | Protocol |\n|---|---|---|\n| updates.acme.example | 80, 443 | HTTP/HTTPS |\n";
    let mut o = Options::new("acme.md");
    o.self_name = Some("Acme server".into());
    let imp = import(md.as_bytes(), &o).unwrap();
    let m = portmatrix_model::matrix_from_str("d.yaml", &imp.yaml).unwrap();
    assert_eq!(
        flows(&m),
        [
            t("users", "acme-server", "tcp", "443"),
            t("trunks", "acme-server", "tcp,udp", "5060-5061"),
            t("acme-server", "updates-acme-example", "tcp", "80"),
            t("acme-server", "updates-acme-example", "tcp", "443"),
        ]
    );
    assert_eq!(m.roles["updates-acme-example"].fqdns[0].value, "updates.acme.example");
    assert!(m.roles["updates-acme-example"].external);
    assert_eq!(m.flows[3].tls, Some(true));
}

#[test]
fn tab_separated_text_with_continuations() {
    let text = "Table 1 Ports\n\nFrom (Sender)\tTo (Listener)\tDestination Port\tPurpose\nAdmin laptop\tKiosk (VNC server)\t5980 (TCP)\tRemote\n(VNC client)\t\t5950 (TCP)\tmanagement\n\tKiosk\t111 (TCP)\t\nServer (A)\tServer (B)\tsee the properties file\tJMX\n";
    let (imp, m) = run(text.as_bytes(), "x.txt", Format::Auto);
    assert_eq!(flows(&m), [t("admin-laptop", "kiosk", "tcp", "5950,5980"), t("any", "kiosk", "tcp", "111")]);
    assert_eq!(m.flows[0].purpose, "Remote management");
    assert!(m.roles["admin-laptop"].aliases.contains(&"Admin laptop (VNC client)".to_string()));
    assert!(imp.draft.review.iter().any(|r| r.text.contains("see the properties file")));
    assert!(imp.draft.flows[1].review.iter().any(|r| r.contains("initiator is not named")));
}

#[test]
fn direction_table_from_the_servers_perspective() {
    let text = "Interaction with the PBX\n\nThe following protocols are used to interact with the PBX. Such protocols and ports must be allowed in the customer firewall.\n\nProtocol Direction\n(From Acme Server Perspective)\nTCP-IP Ports\n(Remote peer)\nTCP-IP Ports\n(Acme Server)\nUsage Applications\nTAPI IN/OUT TCP 2748 Any (TCP) CTI link All\nSIP IN/OUT UDP 5060 UDP 5061 SIP calls All\nHTTP OUT TCP 80 Any (TCP) Notifications All\nCDR IN Any (TCP) TCP 21 Uploads All\n";
    let (_, m) = run(text.as_bytes(), "acme.txt", Format::Text);
    assert_eq!(
        flows(&m),
        [
            // OUT: the server connects to the peer's port.
            t("acme-server", "pbx", "tcp", "2748"),
            // IN: the peer connects to the server's port; "Any" there.
            t("pbx", "acme-server", "tcp", "0-65535"),
            t("acme-server", "pbx", "udp", "5060"),
            t("pbx", "acme-server", "udp", "5061"),
            t("acme-server", "pbx", "tcp", "80"),
            t("pbx", "acme-server", "tcp", "21"),
        ]
    );
    // The IN half of "TCP 2748 / Any" keeps the peer's port as its source port.
    assert_eq!(m.flows[1].src_ports.as_ref().map(|p| p.to_string()), Some("2748".into()));
    assert_eq!(m.flows[3].src_ports.as_ref().map(|p| p.to_string()), Some("5060".into()));
}

#[test]
fn empty_and_garbage_inputs_give_valid_drafts() {
    for (bytes, format) in [
        (&b""[..], Format::Text),
        (b"\xff\xfe\x00garbage", Format::Auto),
        (b"| a |\n|---|\n| b |", Format::Md),
        (
            b"<table><tr><td>Source</td><td>Port</td><td>Protocol</td></tr><tr><td>x</td><td>99999</td><td>TCP</td></tr></table>",
            Format::Html,
        ),
        (b"Source,Destination,Port\nA,B,", Format::Csv),
    ] {
        let mut o = Options::new("in");
        o.format = format;
        let imp = import(bytes, &o).unwrap();
        assert!(imp.check_errors.is_empty(), "{:?}", imp.check_errors);
    }
    let mut o = Options::new("broken.xlsx");
    o.format = Format::Xlsx;
    assert!(import(b"PK\x03\x04 not really", &o).is_err(), "an unreadable workbook is an error, not a panic");
}

/// A one-page PDF whose text is a port table laid out in columns.
fn table_pdf() -> Vec<u8> {
    let rows = [["Source", "Destination", "Port", "Protocol"], ["Web client", "Web server", "443", "TCP"]];
    let mut content = String::from("BT /F1 11 Tf\n");
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            content += &format!("1 0 0 1 {} {} Tm ({cell}) Tj\n", 72 + 120 * c, 720 - 18 * r);
        }
    }
    content += "ET";
    let objs = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out += &format!("{} 0 obj\n{o}\nendobj\n", i + 1);
    }
    let xref = out.len();
    out += &format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1);
    for o in offsets {
        out += &format!("{o:010} 00000 n \n");
    }
    out += &format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objs.len() + 1);
    out.into_bytes()
}

#[test]
fn pdfs_are_read_through_pdftotext() {
    if std::process::Command::new("pdftotext").arg("-v").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must have pdftotext (poppler-utils)");
        println!("skipped: pdftotext (poppler-utils) is not installed");
        return;
    }
    // Recognised by content, whatever the name.
    let imp = import(&table_pdf(), &Options::new("guide.bin")).unwrap();
    assert_eq!(imp.format, Format::Pdf);
    assert_eq!(imp.draft.flows.len(), 1, "{}", imp.yaml);
    assert_eq!(imp.draft.flows[0].ports.as_deref(), Some("443"));
    // A broken PDF is an error value with pdftotext's reason.
    let mut o = Options::new("broken.pdf");
    o.format = Format::Pdf;
    let err = import(b"%PDF-1.4 nothing else", &o).unwrap_err();
    assert!(err.contains("pdftotext failed"), "{err}");
}
