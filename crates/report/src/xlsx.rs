//! XLSX workbooks: one sheet per table, header bold and frozen, autofilter
//! on, column widths fitted to the content. The file's creation time is fixed
//! so that the same input gives byte-identical output.

use portmatrix_model::Matrix;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, XlsxError};

use crate::matrix_table::{flows_table, FlowFilter};
use crate::render::{requirements_table, roles_table, settings_table};
use crate::table::Table;

/// Excel forbids these in sheet names; names are at most 31 characters.
pub fn sheet_name(name: &str) -> String {
    let cleaned: String = name.chars().map(|c| if "[]:*?/\\".contains(c) { '_' } else { c }).collect();
    let cleaned = cleaned.trim_matches('\'');
    let mut out: String = cleaned.chars().take(31).collect();
    if out.is_empty() {
        out = "Sheet".into();
    }
    out
}

/// A workbook with one sheet per `(name, table)`. Sheet names are cleaned and
/// made unique.
pub fn workbook(sheets: &[(String, Table)]) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let created = ExcelDateTime::from_ymd(2000, 1, 1)?;
    wb.set_properties(&DocProperties::new().set_creation_datetime(&created).set_author("portmatrix"));
    let head = Format::new().set_bold().set_background_color("#DDEBF7").set_border_bottom(rust_xlsxwriter::FormatBorder::Thin);
    let wrap = Format::new().set_text_wrap().set_align(rust_xlsxwriter::FormatAlign::Top);
    let mut used: Vec<String> = Vec::new();
    for (name, table) in sheets {
        let mut n = sheet_name(name);
        let mut k = 2;
        while used.iter().any(|u| u.eq_ignore_ascii_case(&n)) {
            let suffix = format!(" ({k})");
            n = format!("{}{}", sheet_name(name).chars().take(31 - suffix.len()).collect::<String>(), suffix);
            k += 1;
        }
        used.push(n.clone());
        let ws = wb.add_worksheet();
        ws.set_name(&n)?;
        for (c, h) in table.header.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, h, &head)?;
        }
        for (r, row) in table.rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                ws.write_string_with_format(r as u32 + 1, c as u16, cell, &wrap)?;
            }
        }
        for c in 0..table.header.len() {
            let longest = std::iter::once(&table.header[c])
                .chain(table.rows.iter().map(|r| &r[c]))
                .map(|s| s.lines().map(|l| l.chars().count()).max().unwrap_or(0))
                .max()
                .unwrap_or(0);
            ws.set_column_width(c as u16, (longest as f64 + 2.0).clamp(6.0, 60.0))?;
        }
        if !table.header.is_empty() {
            ws.set_freeze_panes(1, 0)?;
            ws.autofilter(0, 0, table.rows.len() as u32, table.header.len() as u16 - 1)?;
        }
    }
    wb.save_to_buffer()
}

/// A matrix as a workbook: flows, roles, features and parameters, and other
/// requirements when the matrix has any.
pub fn matrix_xlsx(m: &Matrix) -> Result<Vec<u8>, XlsxError> {
    let mut sheets = vec![
        ("Flows".to_string(), flows_table(m, &FlowFilter::default())),
        ("Roles".to_string(), roles_table(m)),
        ("Features and params".to_string(), settings_table(m)),
    ];
    if !m.requirements.is_empty() {
        sheets.push(("Requirements".to_string(), requirements_table(m)));
    }
    workbook(&sheets)
}
