//! Golden files of the diagrams of every catalog matrix, and the XLSX
//! workbook read back with calamine.

use calamine::{Reader, Xlsx};
use portmatrix_report::diagram::{to_dot, to_mermaid};
use portmatrix_report::graph::RoleGraph;
use portmatrix_report::render::{render_matrix, Format};
use portmatrix_report::svg::{to_svg, SvgOptions};

fn catalog() -> Vec<portmatrix_model::Matrix> {
    portmatrix_catalog::all().unwrap_or_else(|d| panic!("catalog loads: {d:?}"))
}

fn name(m: &portmatrix_model::Matrix) -> String {
    format!("{}_{}", m.matrix.value, m.version.value).replace(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_', "_")
}

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

#[test]
fn dot_of_every_catalog_matrix() {
    for m in catalog() {
        snapshot(&format!("{}.dot", name(&m)), &to_dot(&RoleGraph::of(&m)));
    }
}

#[test]
fn mermaid_of_every_catalog_matrix() {
    for m in catalog() {
        snapshot(&format!("{}.mmd", name(&m)), &to_mermaid(&RoleGraph::of(&m)));
    }
}

#[test]
fn svg_of_every_catalog_matrix() {
    for m in catalog() {
        snapshot(&format!("{}.svg", name(&m)), &to_svg(&RoleGraph::drawing(&m), &SvgOptions::default()));
    }
}

#[test]
fn every_format_is_deterministic() {
    for m in catalog() {
        for f in Format::ALL {
            let a = render_matrix(&m, f).expect("renders");
            let b = render_matrix(&m, f).expect("renders");
            assert!(a == b, "{} {f:?} differs between two runs", m.key());
            if !f.is_binary() {
                assert!(std::str::from_utf8(&a).is_ok());
            }
        }
    }
}

#[test]
fn every_edge_of_the_svg_names_existing_roles() {
    for m in catalog() {
        let g = RoleGraph::drawing(&m);
        let svg = to_svg(&g, &SvgOptions::default());
        assert_eq!(svg.matches(" data-role=").count(), g.nodes.len(), "{}", m.key());
        assert_eq!(svg.matches(" data-from=").count(), g.edges.len(), "{}", m.key());
        for f in &m.flows {
            assert!(
                g.edges.iter().any(|e| e.flows.contains(&f.id.value)) || g.wide.iter().any(|w| w.id == f.id.value),
                "{}: flow {} has no edge",
                m.key(),
                f.id.value
            );
        }
    }
}

#[test]
fn xlsx_reads_back_with_the_expected_sheets_and_rows() {
    for m in catalog() {
        let bytes = render_matrix(&m, Format::Xlsx).expect("renders");
        let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("a valid workbook");
        let mut expected = vec!["Flows", "Roles", "Features and params"];
        if !m.requirements.is_empty() {
            expected.push("Requirements");
        }
        assert_eq!(wb.sheet_names(), expected, "{}", m.key());

        let flows = wb.worksheet_range("Flows").expect("Flows sheet");
        let rows: Vec<Vec<String>> = flows.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
        assert_eq!(rows[0][..5], ["id", "from", "to", "proto", "ports"], "{}", m.key());
        assert_eq!(rows.len(), m.flows.len() + 1, "{}: header + one row per flow", m.key());
        for (row, f) in rows[1..].iter().zip(&m.flows) {
            assert_eq!(row[0], f.id.value);
            assert_eq!(row[9], f.cite);
        }

        let roles = wb.worksheet_range("Roles").expect("Roles sheet");
        assert_eq!(roles.height(), m.roles.len() + 1, "{}", m.key());
        let ids: Vec<String> = roles.rows().skip(1).map(|r| r[0].to_string()).collect();
        assert_eq!(ids, m.roles.keys().map(|k| k.value.clone()).collect::<Vec<_>>());

        let settings = wb.worksheet_range("Features and params").expect("settings sheet");
        assert_eq!(settings.height(), m.features.len() + m.params.len() + 1, "{}", m.key());
    }
}

#[test]
fn jtel_acd_sip_flow_is_in_the_workbook() {
    let m = portmatrix_catalog::get("jtel-acd").expect("in catalog").expect("loads");
    let bytes = render_matrix(&m, Format::Xlsx).expect("renders");
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("a valid workbook");
    let flows = wb.worksheet_range("Flows").expect("Flows sheet");
    assert!(flows.rows().any(|r| r[4].to_string().contains("5060")), "a flow to port 5060");
}

#[test]
fn html_report_is_self_contained() {
    for m in catalog() {
        let html = String::from_utf8(render_matrix(&m, Format::Html).expect("renders")).expect("utf-8");
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("prefers-color-scheme:dark"));
        assert!(html.contains("@media print"));
        assert!(!html.contains("<script"), "no scripts");
        assert!(!html.contains("<link"), "no linked assets");
        assert!(!html.contains("src="), "no external sources");
        assert!(!html.contains("url(http"), "no remote CSS");
        assert!(html.contains("<svg"), "the diagram is inline");
    }
}
