//! The change request: typed rows with "enforced by", status and ticket in
//! every format; the cover sheet; the HTML's table of contents; and text an
//! attacker wrote (a flow purpose `=HYPERLINK(...)`, a `<script>` in a cite)
//! shown as text by every writer.

use std::path::Path;

use calamine::{Data, Reader, Xlsx};
use portmatrix_plan::{plan, Deployment, Plan};
use portmatrix_report::change_request::{rows, Cover, CrColumn, Totals};
use portmatrix_report::plan_report::{render_change_request, render_plan, ChangeRequest};
use portmatrix_report::render::{render_matrix, Format};
use portmatrix_report::table::{ColumnSpec, Density, Table};

fn load(path: &Path) -> (Deployment, Plan) {
    let dep = Deployment::load(path, &portmatrix_catalog::Catalog).unwrap_or_else(|d| panic!("{} loads: {d:?}", path.display()));
    let p = plan(&dep).unwrap_or_else(|d| panic!("{} plans: {d:?}", path.display()));
    (dep, p)
}

fn example(name: &str) -> (Deployment, Plan) {
    load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name))
}

fn hostile() -> (Deployment, Plan) {
    load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/inventory.yaml"))
}

fn workbook(bytes: Vec<u8>) -> Xlsx<std::io::Cursor<Vec<u8>>> {
    calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("a valid workbook")
}

fn col(header: &[Data], name: &str) -> usize {
    header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

#[test]
fn every_row_says_what_enforces_it() {
    for name in ["jtel-acd.yaml", "mixed.yaml", "avaya-pom.yaml"] {
        let (_, p) = example(name);
        let rows = rows(&p);
        let planned: usize = p.connections.iter().map(|c| c.remote_sources().count()).sum::<usize>()
            + p.egress_fqdn.iter().map(|e| e.sources.members.len()).sum::<usize>();
        assert_eq!(rows.len(), planned, "{name}: one row per source endpoint");
        let t = Table::of(&rows);
        let enforced = t.header.iter().position(|h| h == "enforced by").expect("enforced by column");
        let mut i = 0;
        for c in &p.connections {
            for m in c.remote_sources() {
                assert_eq!(t.rows[i][enforced].text(), p.enforcement(m, c).describe(), "{name}: row {i}");
                i += 1;
            }
        }
    }
    // Both kinds occur in the examples: the test is not vacuous.
    let (_, p) = example("jtel-acd.yaml");
    let described: Vec<String> = rows(&p).iter().map(|r| r.enforced_by.describe()).collect();
    assert!(described.iter().any(|d| d.contains("core-fw")) && described.iter().any(|d| d == "host firewall"), "{described:?}");
}

#[test]
fn columns_are_declared_once_and_every_format_shows_them() {
    let (dep, p) = example("jtel-acd.yaml");
    let names: Vec<&str> = CrColumn::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(&names[11..], ["enforced by", "status", "ticket"]);
    let csv = String::from_utf8(render_plan(&p, Format::Csv).expect("csv")).expect("utf-8");
    assert_eq!(csv.lines().next().expect("header"), names.join(","));
    let cover = Cover::new(&dep, "2024-05-01");
    let md = String::from_utf8(render_change_request(&p, Some(&cover), Format::Md).expect("md")).expect("utf-8");
    assert!(md.contains(&format!("| {} |", names.join(" | "))), "markdown header");
    let html = String::from_utf8(render_change_request(&p, Some(&cover), Format::Html).expect("html")).expect("utf-8");
    for n in &names {
        assert!(html.contains(&format!("<th scope=\"col\">{n}</th>")), "html column {n}");
    }
    let mut wb = workbook(render_change_request(&p, Some(&cover), Format::Xlsx).expect("xlsx"));
    let conns = wb.worksheet_range("Connections").expect("Connections");
    let header: Vec<String> = conns.rows().next().expect("header").iter().map(|c| c.to_string()).collect();
    assert_eq!(header, names);
    let status = col(conns.rows().next().expect("header"), "status");
    assert!(conns.rows().skip(1).all(|r| r[status] == "requested"));
}

#[test]
fn the_cover_sheet_names_inventory_date_versions_settings_and_totals() {
    let (dep, p) = example("jtel-acd.yaml");
    let cover = Cover::new(&dep, "2024-05-01");
    let bytes = render_change_request(&p, Some(&cover), Format::Xlsx).expect("xlsx");
    let mut wb = workbook(bytes);
    assert_eq!(wb.sheet_names()[..3], ["Cover", "Hosts", "Connections"]);
    let sheet = wb.worksheet_range("Cover").expect("Cover");
    let cells: Vec<Vec<Data>> = sheet.rows().map(|r| r.to_vec()).collect();
    let find = |label: &str| cells.iter().find(|r| r[0] == label).unwrap_or_else(|| panic!("no row {label}"));
    assert_eq!(find("inventory")[1].to_string(), p.inventory);
    assert_eq!(find("date")[1].to_string(), "2024-05-01");
    let m = &dep.products["acd"].matrix;
    assert!(
        cells.iter().any(|r| r.len() > 2 && r[1].to_string() == m.matrix.value && r[2].to_string() == m.version.value),
        "matrix version"
    );
    for f in m.features.keys() {
        assert!(cells.iter().any(|r| r.len() > 2 && r[2].to_string() == f.value), "feature {} on the cover", f.value);
    }
    // Totals per firewall: numbers, and what the rows say.
    let totals = Totals::of(&p, &rows(&p));
    let fw = cells.iter().find(|r| r[0] == "firewall core-fw").expect("core-fw total");
    assert_eq!(fw[1], Data::Float(totals.firewalls[0].rows as f64), "a number, not text");
    let crossing = rows(&p).iter().filter(|r| r.enforced_by.path.firewalls().iter().any(|f| f == "core-fw")).count();
    assert_eq!(totals.firewalls[0].rows, crossing);
    assert!(crossing > 0);
    let all = cells.iter().find(|r| r[0] == "all rows").expect("all rows");
    assert_eq!(all[1], Data::Float(rows(&p).len() as f64));
    // And a sheet per firewall with exactly its rows.
    let fw_sheet = wb.worksheet_range("firewall core-fw").expect("firewall sheet");
    assert_eq!(fw_sheet.height(), crossing + 1);
    // JSON of the totals keeps numbers as numbers.
    let json = totals.table().to_json();
    assert_eq!(json[0]["rows"], serde_json::json!(crossing));
}

#[test]
fn html_has_a_table_of_contents_whose_every_link_has_its_anchor() {
    for name in ["jtel-acd.yaml", "mixed.yaml"] {
        let (dep, p) = example(name);
        let cover = Cover::new(&dep, "2024-05-01");
        let html = String::from_utf8(render_change_request(&p, Some(&cover), Format::Html).expect("html")).expect("utf-8");
        let toc = html.split("<nav class=\"toc\"").nth(1).expect("a table of contents").split("</nav>").next().expect("end");
        let links: Vec<&str> = toc.split("href=\"#").skip(1).map(|s| s.split('"').next().expect("end")).collect();
        let pairs = ChangeRequest::new(&p, None).rows.iter().map(|r| r.zone_pair()).collect::<std::collections::BTreeSet<_>>().len();
        assert!(links.len() >= 3 + pairs, "{name}: cover, zones, hosts and every zone pair: {links:?}");
        let mut ids: Vec<&str> = html.split(" id=\"").skip(1).map(|s| s.split('"').next().expect("end")).collect();
        for l in &links {
            assert!(ids.contains(l), "{name}: #{l} has no anchor");
            assert!(l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{name}: anchor {l}");
        }
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "{name}: ids are unique");
        assert!(html.contains("Date</dt>") || html.contains("<dt>date</dt><dd>2024-05-01</dd>"), "the date on the cover");
    }
}

#[test]
fn terminal_tables_are_compact_by_default_and_wide_on_request() {
    let (_, p) = example("jtel-acd.yaml");
    let t = Table::of(&rows(&p));
    let compact = t.to_text(Some(160));
    assert!(compact.lines().all(|l| l.chars().count() <= 160), "fits 160 columns");
    assert!(!compact.contains("ticket"), "document columns only in the wide view");
    let separators = compact.lines().filter(|l| l.starts_with('├')).count();
    assert!(separators <= 1, "no separator after every row ({separators})");
    // A narrow terminal: the columns a rule cannot do without stay, the rest
    // are left out by priority, and the table says which.
    let narrow = t.to_text(Some(80));
    assert!(narrow.lines().all(|l| l.chars().count() <= 80 || l.starts_with("(left out")), "{narrow}");
    let head = narrow.lines().nth(1).expect("header");
    for kept in ["source", "destination", "service"] {
        assert!(head.contains(kept), "{kept} in {head}");
    }
    let note = narrow.lines().last().expect("note");
    assert!(note.starts_with("(left out for width:") && note.contains("purpose") && !note.contains("ticket"), "{note}");
    let wide = t.to_text_with(Some(160), Density::Wide);
    assert!(wide.contains("ticket") && wide.contains("cite"));
    assert!(wide.lines().next().expect("line").chars().count() > 160, "wide shows everything, unwrapped");
}

/// Hostile text, rendered by every writer.
const PURPOSE: &str = "=HYPERLINK(\"http://x\")";
const CITE: &str = "<script>alert(1)</script>";

#[test]
fn csv_cells_that_would_run_as_formulas_are_neutralised() {
    let (_, p) = hostile();
    let text = String::from_utf8(render_plan(&p, Format::Csv).expect("csv")).expect("utf-8");
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let mut seen = 0;
    for rec in r.records() {
        for cell in rec.expect("a CSV record").iter() {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "cell {cell:?} would run in a spreadsheet");
            seen += 1;
        }
    }
    assert!(seen > 10);
    assert!(text.contains("'=HYPERLINK(\"\"http://x\"\")"), "the text is kept, with the apostrophe in front");
    let m = portmatrix_model::matrix_from_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/matrix.yaml")).expect("loads");
    let flows = String::from_utf8(render_matrix(&m, Format::Csv).expect("csv")).expect("utf-8");
    for rec in csv::Reader::from_reader(flows.as_bytes()).records() {
        for cell in rec.expect("record").iter() {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "flows CSV: {cell:?}");
        }
    }
}

#[test]
fn markdown_passes_no_html_and_no_links_through() {
    use pulldown_cmark::{Event, Parser, Tag};
    let (dep, p) = hostile();
    let cover = Cover::new(&dep, "2024-05-01");
    let plan_md = String::from_utf8(render_change_request(&p, Some(&cover), Format::Md).expect("md")).expect("utf-8");
    let m = portmatrix_model::matrix_from_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/matrix.yaml")).expect("loads");
    let matrix_md = String::from_utf8(render_matrix(&m, Format::Md).expect("md")).expect("utf-8");
    for md in [&plan_md, &matrix_md] {
        let mut text = String::new();
        let opts = pulldown_cmark::Options::ENABLE_TABLES;
        for ev in Parser::new_ext(md, opts) {
            match ev {
                Event::Html(h) | Event::InlineHtml(h) => assert_eq!(&*h, "<br>", "raw HTML passed through"),
                Event::Start(Tag::Link { .. } | Tag::Image { .. }) => panic!("a link or image from the data"),
                Event::Text(t) => text.push_str(&t),
                _ => {}
            }
        }
        assert!(text.contains(CITE), "the cite is shown as text");
    }
    assert!(plan_md.contains("&lt;script&gt;") && !plan_md.contains("<script"));
    assert!(!matrix_md.contains("<img") && !matrix_md.contains("<b>"));
    // The matrix's about text starts lines with `#` and `-`: neither becomes a heading or a list.
    let headings = Parser::new(&matrix_md).filter(|e| matches!(e, Event::Start(Tag::Heading { .. }))).count();
    assert_eq!(headings, matrix_md.lines().filter(|l| l.starts_with('#')).count());
    assert!(!Parser::new(&matrix_md).any(|e| matches!(e, Event::Start(Tag::List(_)))), "no list from the about text");
}

#[test]
fn html_and_xlsx_keep_hostile_text_as_text() {
    let (dep, p) = hostile();
    let cover = Cover::new(&dep, "2024-05-01");
    let html = String::from_utf8(render_change_request(&p, Some(&cover), Format::Html).expect("html")).expect("utf-8");
    assert!(!html.contains("<script") && !html.contains("<iframe") && html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let mut wb = workbook(render_change_request(&p, Some(&cover), Format::Xlsx).expect("xlsx"));
    let conns = wb.worksheet_range("Connections").expect("Connections");
    let header = conns.rows().next().expect("header").to_vec();
    let (purpose, cite) = (col(&header, "purpose"), col(&header, "cite"));
    assert!(conns.rows().any(|r| r[purpose] == Data::String(PURPOSE.into()) && r[cite] == Data::String(CITE.into())), "strings, unchanged");
    let formulas = wb.worksheet_formula("Connections").expect("formulas");
    assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()), "no cell is a formula");
}
