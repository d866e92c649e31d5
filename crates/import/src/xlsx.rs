//! Spreadsheets (XLSX, XLSM, XLSB, XLS, ODS), read with calamine. Every
//! sheet is cut into tables at its header rows; merged cells are spread
//! over the area they cover.

use std::io::Cursor;

use calamine::{open_workbook_auto_from_rs, Data, Dimensions, Reader, Sheets};

use crate::doc::{Document, Row, Table};
use crate::grid;

fn text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => d.to_string(),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("{e:?}"),
    }
}

/// Reads every sheet of a workbook; an unreadable workbook is an error.
pub fn extract(bytes: &[u8]) -> Result<Document, String> {
    let mut wb = open_workbook_auto_from_rs(Cursor::new(bytes.to_vec())).map_err(|e| format!("not a readable spreadsheet: {e}"))?;
    let mut doc = Document::default();
    let names = wb.sheet_names().to_vec();
    for name in names {
        let Ok(range) = wb.worksheet_range(&name) else {
            continue;
        };
        let (h, w) = range.get_size();
        // Cap absurd sizes: a port table has hundreds of rows, not millions.
        let (h, w) = (h.min(100_000), w.min(200));
        let start = range.start().unwrap_or((0, 0));
        let mut grid_rows: Vec<Vec<String>> =
            (0..h).map(|r| (0..w).map(|c| range.get((r, c)).map(text).unwrap_or_default()).collect()).collect();
        // Spread merged cells (XLSX only; other formats give none).
        let merged: Option<Vec<Dimensions>> = match &mut wb {
            Sheets::Xlsx(x) => x.merge_cells_by_sheet_name(&name).ok(),
            Sheets::Xls(x) => x.merge_cells_by_sheet_name(&name).ok(),
            _ => None,
        };
        if let Some(merged) = merged {
            for dim in merged {
                let (r0, c0) = (dim.start.0 as usize, dim.start.1 as usize);
                let (r1, c1) = (dim.end.0 as usize, dim.end.1 as usize);
                let (r0, c0) = (r0.saturating_sub(start.0 as usize), c0.saturating_sub(start.1 as usize));
                let (r1, c1) = (r1.saturating_sub(start.0 as usize), c1.saturating_sub(start.1 as usize));
                let Some(v) = grid_rows.get(r0).and_then(|r: &Vec<String>| r.get(c0)).cloned() else {
                    continue;
                };
                for row in grid_rows.iter_mut().take((r1 + 1).min(h)).skip(r0) {
                    for cell in row.iter_mut().take((c1 + 1).min(w)).skip(c0) {
                        if cell.is_empty() {
                            *cell = v.clone();
                        }
                    }
                }
            }
        }
        let rows: Vec<Row> = grid_rows
            .into_iter()
            .enumerate()
            .map(|(i, cells)| Row { cells, line: None, end_line: None, number: i + 1 + start.0 as usize })
            .collect();
        for c in grid::cut(&rows) {
            let idx = doc.tables.len() + 1;
            let title = if c.preamble.is_empty() { format!("sheet {name}") } else { format!("sheet {name}: {}", c.preamble.join(" ")) };
            doc.tables.push(Table {
                index: idx,
                origin: format!("sheet {name}, row {}", c.header_at),
                title,
                intro: String::new(),
                header: c.header,
                rows: if c.ports { c.rows } else { Vec::new() },
                perspective: None,
                how: if c.ports { "spreadsheet" } else { "spreadsheet (no port column)" },
            });
        }
    }
    Ok(doc)
}
