//! Reports of a plan: the XLSX change request read back with calamine, and
//! every format deterministic.

use std::path::Path;

use calamine::{Reader, Xlsx};
use portmatrix_plan::{plan, Deployment, Plan};
use portmatrix_report::plan_report::{connections_table, host_tables, render_plan, zone_pair_tables};
use portmatrix_report::render::Format;

fn example(name: &str) -> Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name);
    let dep = Deployment::load(&path, &portmatrix_catalog::Catalog).unwrap_or_else(|d| panic!("{name} loads: {d:?}"));
    plan(&dep).unwrap_or_else(|d| panic!("{name} plans: {d:?}"))
}

#[test]
fn change_request_has_a_sheet_per_zone_pair_and_per_host() {
    let p = example("jtel-acd.yaml");
    let bytes = render_plan(&p, Format::Xlsx).expect("renders");
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("a valid workbook");
    let names = wb.sheet_names();
    assert_eq!(names[0], "Hosts");
    assert_eq!(names[1], "Connections");

    let hosts = wb.worksheet_range("Hosts").expect("Hosts");
    assert_eq!(hosts.height(), p.hosts.len() + 1);

    let conns = wb.worksheet_range("Connections").expect("Connections");
    let all = connections_table(&p);
    assert_eq!(conns.height(), all.rows.len() + 1);
    assert_eq!(conns.rows().next().expect("header")[6].to_string(), "service");

    let pairs = zone_pair_tables(&p);
    assert!(pairs.len() >= 3, "several zone pairs");
    let mut pair_rows = 0;
    for ((a, b), t) in &pairs {
        let name = format!("{a} → {b}");
        assert!(names.contains(&name), "sheet {name} in {names:?}");
        let r = wb.worksheet_range(&name).expect("zone pair sheet");
        assert_eq!(r.height(), t.rows.len() + 1, "{name}");
        for row in r.rows().skip(1) {
            assert_eq!(row[2].to_string(), *a, "{name}: source zone");
            assert_eq!(row[5].to_string(), *b, "{name}: destination zone");
        }
        pair_rows += t.rows.len();
    }
    assert_eq!(pair_rows, all.rows.len(), "every row in exactly one zone pair sheet");

    let managed = p.hosts.iter().filter(|h| h.managed).count();
    let host_sheets = host_tables(&p);
    assert_eq!(host_sheets.len(), managed);
    for (h, t) in &host_sheets {
        let r = wb.worksheet_range(&format!("host {h}")).expect("host sheet");
        assert_eq!(r.height(), t.rows.len() + 1, "{h}");
        let inbound = p.inbound(h).map(|c| c.remote_sources().count()).sum::<usize>();
        assert_eq!(r.rows().skip(1).filter(|row| row[0] == "in").count(), inbound, "{h}: inbound rows");
    }
}

#[test]
fn every_plan_format_is_deterministic() {
    for name in ["jtel-acd.yaml", "mixed.yaml"] {
        let p = example(name);
        for f in Format::ALL {
            let a = render_plan(&p, f).expect("renders");
            assert!(!a.is_empty());
            assert!(a == render_plan(&p, f).expect("renders"), "{name} {f:?}");
        }
    }
}
