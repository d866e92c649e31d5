//! XLSX workbooks: one sheet per table, header bold and frozen, autofilter
//! on, column widths fitted to the content, numbers as numbers, columns with
//! a fixed set of values (a change request's status) offered as a list; and
//! cover sheets that stack a title, facts and several tables. The file's
//! creation time is fixed so that the same input gives byte-identical output.

use portmatrix_model::Matrix;
use rust_xlsxwriter::{DataValidation, DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError};

use crate::matrix_table::{flows_table, FlowFilter};
use crate::render::{requirements_table, roles_table, settings_table};
use crate::table::{Cell, Table};

/// Excel forbids these in sheet names; names are at most 31 characters.
pub fn sheet_name(name: &str) -> String {
    let cleaned: String = name.chars().map(|c| if "[]:*?/\\".contains(c) || c.is_control() { '_' } else { c }).collect();
    let cleaned = cleaned.trim_matches('\'');
    let mut out: String = cleaned.chars().take(31).collect();
    if out.is_empty() {
        out = "Sheet".into();
    }
    out
}

/// Longest text Excel keeps in a cell.
const CELL_MAX: usize = 32_767;

/// One block of a sheet.
pub enum Part {
    /// A bold line.
    Title(String),
    /// Label and value pairs, one per row.
    Facts(Vec<(String, String)>),
    /// A table under a caption.
    Table { caption: Option<String>, table: Table },
}

/// A sheet: one table (frozen header, autofilter), or several parts stacked.
pub struct Sheet {
    pub name: String,
    pub parts: Vec<Part>,
}

impl Sheet {
    pub fn table(name: impl Into<String>, table: Table) -> Self {
        Sheet { name: name.into(), parts: vec![Part::Table { caption: None, table }] }
    }
}

struct Formats {
    head: Format,
    wrap: Format,
    number: Format,
    title: Format,
    label: Format,
}

impl Formats {
    fn new() -> Self {
        Formats {
            head: Format::new().set_bold().set_background_color("#DDEBF7").set_border_bottom(FormatBorder::Thin),
            wrap: Format::new().set_text_wrap().set_align(FormatAlign::Top),
            number: Format::new().set_align(FormatAlign::Top),
            title: Format::new().set_bold().set_font_size(14),
            label: Format::new().set_bold(),
        }
    }
}

fn clip(s: &str) -> std::borrow::Cow<'_, str> {
    if s.len() <= CELL_MAX / 4 || s.encode_utf16().count() <= CELL_MAX {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out: String = s.chars().take(CELL_MAX / 2 - 1).collect();
    out.push('…');
    std::borrow::Cow::Owned(out)
}

fn write_cell(ws: &mut Worksheet, row: u32, col: u16, cell: &Cell, fm: &Formats) -> Result<(), XlsxError> {
    match cell {
        Cell::Int(n) => ws.write_number_with_format(row, col, *n as f64, &fm.number).map(|_| ()),
        c => ws.write_string_with_format(row, col, clip(&c.text()).as_ref(), &fm.wrap).map(|_| ()),
    }
}

/// Writes `table` with its header at `row0`; returns the row after it.
fn write_table(ws: &mut Worksheet, row0: u32, table: &Table, fm: &Formats) -> Result<u32, XlsxError> {
    for (c, h) in table.header.iter().enumerate() {
        ws.write_string_with_format(row0, c as u16, h, &fm.head)?;
    }
    for (r, row) in table.rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            write_cell(ws, row0 + 1 + r as u32, c as u16, cell, fm)?;
        }
    }
    let last = row0 + table.rows.len() as u32;
    for (c, choices) in table.choices.iter().enumerate() {
        if !choices.is_empty() && !table.rows.is_empty() {
            let v = DataValidation::new().allow_list_strings(choices)?;
            ws.add_data_validation(row0 + 1, c as u16, last, c as u16, &v)?;
        }
    }
    Ok(last + 1)
}

/// Column widths fitted to the longest line of any cell, within bounds.
fn fit_columns(ws: &mut Worksheet, tables: &[&Table]) -> Result<(), XlsxError> {
    let cols = tables.iter().map(|t| t.header.len()).max().unwrap_or(0);
    for c in 0..cols {
        let longest = tables
            .iter()
            .flat_map(|t| {
                t.header
                    .get(c)
                    .map(|h| h.to_string())
                    .into_iter()
                    .chain(t.rows.iter().filter_map(|r| r.get(c)).map(|x| x.text().into_owned()))
            })
            .map(|s| s.lines().map(|l| l.chars().count()).max().unwrap_or(0))
            .max()
            .unwrap_or(0);
        ws.set_column_width(c as u16, (longest as f64 + 2.0).clamp(6.0, 60.0))?;
    }
    Ok(())
}

fn write_sheet(ws: &mut Worksheet, sheet: &Sheet, fm: &Formats) -> Result<(), XlsxError> {
    if let [Part::Table { caption: None, table }] = sheet.parts.as_slice() {
        write_table(ws, 0, table, fm)?;
        fit_columns(ws, &[table])?;
        if !table.header.is_empty() {
            ws.set_freeze_panes(1, 0)?;
            ws.autofilter(0, 0, table.rows.len() as u32, table.header.len() as u16 - 1)?;
        }
        return Ok(());
    }
    let mut row = 0u32;
    let mut tables = Vec::new();
    for part in &sheet.parts {
        match part {
            Part::Title(t) => {
                ws.write_string_with_format(row, 0, clip(t).as_ref(), &fm.title)?;
                row += 2;
            }
            Part::Facts(pairs) => {
                for (k, v) in pairs {
                    ws.write_string_with_format(row, 0, clip(k).as_ref(), &fm.label)?;
                    ws.write_string_with_format(row, 1, clip(v).as_ref(), &fm.wrap)?;
                    row += 1;
                }
                row += 1;
            }
            Part::Table { caption, table } => {
                if let Some(c) = caption {
                    ws.write_string_with_format(row, 0, clip(c).as_ref(), &fm.label)?;
                    row += 1;
                }
                row = write_table(ws, row, table, fm)? + 1;
                tables.push(table);
            }
        }
    }
    fit_columns(ws, &tables)
}

/// A workbook of these sheets. Sheet names are cleaned and made unique.
pub fn workbook_of(sheets: &[Sheet]) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let created = ExcelDateTime::from_ymd(2000, 1, 1)?;
    wb.set_properties(&DocProperties::new().set_creation_datetime(&created).set_author("portmatrix"));
    let fm = Formats::new();
    let mut used: Vec<String> = Vec::new();
    for sheet in sheets {
        let mut n = sheet_name(&sheet.name);
        let mut k = 2;
        while used.iter().any(|u| u.eq_ignore_ascii_case(&n)) {
            let suffix = format!(" ({k})");
            n = format!("{}{}", sheet_name(&sheet.name).chars().take(31 - suffix.len()).collect::<String>(), suffix);
            k += 1;
        }
        used.push(n.clone());
        let ws = wb.add_worksheet();
        ws.set_name(&n)?;
        write_sheet(ws, sheet, &fm)?;
    }
    wb.save_to_buffer()
}

/// A workbook with one sheet per `(name, table)`.
pub fn workbook(sheets: &[(String, Table)]) -> Result<Vec<u8>, XlsxError> {
    let sheets: Vec<Sheet> = sheets.iter().map(|(n, t)| Sheet::table(n.clone(), t.clone())).collect();
    workbook_of(&sheets)
}

/// A matrix as a workbook: flows, roles, features and parameters, and other
/// requirements when the matrix has any.
pub fn matrix_xlsx(m: &Matrix) -> Result<Vec<u8>, XlsxError> {
    let mut sheets = vec![
        Sheet::table("Flows", flows_table(m, &FlowFilter::default())),
        Sheet::table("Roles", roles_table(m)),
        Sheet::table("Features and params", settings_table(m)),
    ];
    if !m.requirements.is_empty() {
        sheets.push(Sheet::table("Requirements", requirements_table(m)));
    }
    workbook_of(&sheets)
}
