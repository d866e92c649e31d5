//! Hostile documents: files built to exhaust memory or the stack, and cells
//! built to escape their strings. Every case must end in a draft or an
//! error value — never a signal, a hang or an unbounded allocation — and
//! document text must stay inside the draft's strings.
//!
//! The exhaustion cases run in a child process under `ulimit -v` (1 GiB of
//! address space): an allocation by a sheet's declared size (512 GiB for
//! A1:XFD1048576) or a stack overflow kills the child, and the parent test
//! fails with the signal. Without `sh` the cases run unconfined.

use std::io::Write;
use std::process::Command;

use portmatrix_import::{import, Format, Import, Options};

fn run(bytes: &[u8], name: &str, format: Format) -> Result<Import, String> {
    let mut o = Options::new(name);
    o.format = format;
    import(bytes, &o)
}

/// A workbook with cells at A1 and XFD1048576 (the sheet's far corner).
fn far_corner_xlsx() -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["Source", "Destination", "Port", "Protocol"].iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for (c, v) in ["Web client", "Web server", "443", "TCP"].iter().enumerate() {
        ws.write_string(1, c as u16, *v).unwrap();
    }
    ws.write_string(1_048_575, 16_383, "far corner").unwrap();
    wb.save_to_buffer().unwrap()
}

/// A hand-made XLSX whose one shared string is `len` bytes: tiny on disk,
/// huge once inflated.
fn bomb_xlsx(len: usize) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut buf);
    let o = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let files: [(&str, String); 5] = [
        ("[Content_Types].xml", r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#.into()),
        ("_rels/.rels", r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.into()),
        ("xl/workbook.xml", r#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Ports" sheetId="1" r:id="rId1"/></sheets></workbook>"#.into()),
        ("xl/_rels/workbook.xml.rels", r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#.into()),
        ("xl/worksheets/sheet1.xml", r#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>"#.into()),
    ];
    for (name, body) in files {
        z.start_file(name, o).unwrap();
        z.write_all(body.as_bytes()).unwrap();
    }
    z.start_file("xl/sharedStrings.xml", o).unwrap();
    z.write_all(
        br#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>"#,
    )
    .unwrap();
    let chunk = vec![b'A'; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        z.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    z.write_all(b"</t></si></sst>").unwrap();
    z.finish().unwrap();
    buf.into_inner()
}

/// A port table whose cell holds elements nested `depth` deep.
fn deep_html(depth: usize) -> String {
    let mut s = String::from("<html><body><h2>Ports</h2><table><tr><th>Source</th><th>Destination</th><th>Port</th><th>Protocol</th></tr>");
    s.push_str("<tr><td>Web client</td><td>Web server</td><td>443</td><td>TCP</td></tr><tr><td>");
    s.push_str(&"<div>".repeat(depth));
    s.push_str("deep");
    s.push_str(&"</div>".repeat(depth));
    s.push_str("</td><td>Web server</td><td>80</td><td>TCP</td></tr></table></body></html>");
    s
}

/// The exhaustion cases; each must return, whatever it returns.
fn exhaustion_cases() {
    let imp = run(&far_corner_xlsx(), "corner.xlsx", Format::Auto).expect("the far corner is left out, not fatal");
    assert_eq!(imp.draft.flows.len(), 1, "{}", imp.yaml);
    assert!(imp.draft.review.iter().any(|r| r.at.contains("XFD1048576")), "{:?}", imp.draft.review);

    let err = run(&bomb_xlsx(200 << 20), "bomb.xlsx", Format::Auto).expect_err("a 200 MiB cell is refused");
    assert!(err.contains("decompresses to more than"), "{err}");

    for depth in [300, 100_000] {
        let imp = run(deep_html(depth).as_bytes(), "deep.html", Format::Auto).expect("deep HTML imports");
        assert!(imp.check_errors.is_empty());
        let at = if depth > 512 { "HTML line 1" } else { "HTML table 1, row 3" };
        assert!(imp.draft.review.iter().any(|r| r.text.contains("nested deeper") && r.at.contains(at)), "{:?}", imp.draft.review);
        assert_eq!(imp.draft.flows.len(), 2, "the rows around the deep cell are read");
    }
    // Tables nested in tables, 20,000 deep: no recursion, no quadratic walk.
    let nested = format!("{}x{}", "<table><tr><td>".repeat(20_000), "</td></tr></table>".repeat(20_000));
    assert!(run(nested.as_bytes(), "nested.html", Format::Html).is_ok());
}

/// Runs in the child process only (see `exhaustion_stays_under_one_gib`).
#[test]
#[ignore = "run by exhaustion_stays_under_one_gib in a memory-limited child"]
fn exhaustion_child() {
    exhaustion_cases();
}

#[test]
fn exhaustion_stays_under_one_gib() {
    let exe = std::env::current_exe().expect("test binary");
    let status = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -v 1048576 && exec "$0" --exact exhaustion_child --ignored --test-threads=1 --nocapture"#)
        .arg(&exe)
        .status();
    match status {
        Ok(s) => assert!(s.success(), "the memory-limited child failed: {s:?}"),
        Err(e) => {
            println!("no sh ({e}); the cases run without a memory limit");
            exhaustion_cases();
        }
    }
}

/// Cell text that tries to leave its string: spreadsheet formulas, YAML
/// syntax, quotes, line breaks, bidi overrides, NUL and other controls.
const HOSTILE: &[&str] = &[
    "=HYPERLINK(\"http://evil.example/\",\"click\")",
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\"quoted\" and 'single' and `back`",
    "key: value # comment",
    "- item\n- other: {a: b}",
    "&anchor *alias !!tag |literal >folded",
    "bidi \u{202e}desrever\u{202c} text",
    "nul \u{0} inside, bell \u{7}, escape \u{1b}[31m",
    "line\u{2028}separator and \u{85} next line",
    "tab\there",
    "\\n backslash-n and \\\" escaped quote",
];

fn csv_field(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

#[test]
fn hostile_cells_stay_inside_their_strings() {
    let mut csv = String::from("Source,Destination,Port,Protocol,Purpose\n");
    for (i, h) in HOSTILE.iter().enumerate() {
        csv.push_str(&format!("{},Server,{},TCP,{}\n", csv_field(&format!("Client {i} {h}")), 1000 + i, csv_field(h)));
    }
    let imp = run(csv.as_bytes(), "hostile.csv", Format::Csv).unwrap();
    assert!(imp.check_errors.is_empty(), "{:?}", imp.check_errors);
    let m = portmatrix_model::matrix_from_str("draft.yaml", &imp.yaml).expect("the draft loads");
    assert_eq!(m.flows.len(), HOSTILE.len(), "{}", imp.yaml);
    // Nothing became YAML syntax: the only top-level keys are the draft's own.
    for line in imp.yaml.lines().filter(|l| !l.starts_with([' ', '#', '-']) && !l.is_empty()) {
        let key = line.split(':').next().unwrap();
        assert!(
            ["matrix", "title", "version", "source", "about", "review", "features", "params", "roles", "flows"].contains(&key),
            "unexpected top-level line {line:?}"
        );
    }
    for (i, h) in HOSTILE.iter().enumerate() {
        let f = m.flows.iter().find(|f| f.ports.as_ref().is_some_and(|p| p.to_string() == (1000 + i).to_string())).expect("flow");
        // Purposes keep the text, with runs of white space as one space.
        let squeezed = h.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(f.purpose, squeezed, "case {i}");
        // Role ids are the safe form of the name.
        assert!(f.from[0].value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
    }
    // Every name the importer wrote parses back exactly as it was written.
    for (id, r) in &imp.draft.roles.roles {
        let back = &m.roles[id.as_str()];
        assert_eq!(back.title, r.title);
        assert_eq!(back.aliases, r.aliases);
    }
    assert!(m.roles.values().any(|r| r.aliases.iter().any(|a| a.contains("=HYPERLINK"))));
    assert!(m.roles.values().any(|r| r.aliases.iter().any(|a| a.contains('\u{0}'))), "NUL kept inside a string");
}

#[test]
fn hostile_cells_in_every_format() {
    let h = HOSTILE.join(" | ");
    let md = format!(
        "| Source | Destination | Port | Protocol | Purpose |\n|---|---|---|---|---|\n| A | B | 22 | TCP | {} |\n",
        h.replace('|', "\\|").replace('\n', " ")
    );
    let html = format!(
        "<table><tr><th>Source</th><th>Destination</th><th>Port</th><th>Protocol</th><th>Purpose</th></tr><tr><td>A</td><td>B</td><td>22</td><td>TCP</td><td>{}</td></tr></table>",
        h.replace('&', "&amp;").replace('<', "&lt;")
    );
    let text = format!("Source\tDestination\tPort\tProtocol\tPurpose\nA\tB\t22\tTCP\t{}\n", h.replace(['\n', '\t'], " "));
    for (bytes, name) in [(md.into_bytes(), "h.md"), (html.into_bytes(), "h.html"), (text.into_bytes(), "h.txt")] {
        let imp = run(&bytes, name, Format::Auto).unwrap();
        let m = portmatrix_model::matrix_from_str("draft.yaml", &imp.yaml).unwrap_or_else(|d| panic!("{name}: {:?}", d[0].message));
        assert_eq!(m.flows.len(), 1, "{name}: {}", imp.yaml);
        assert!(m.flows[0].purpose.contains("=HYPERLINK(\"http://evil.example/\",\"click\")"), "{name}: {}", m.flows[0].purpose);
        assert!(m.flows[0].purpose.contains('\u{202e}'), "{name}");
    }
}
