//! Spreadsheets (XLSX, XLSM, XLSB), read with calamine. Every sheet is cut
//! into tables at its header rows; merged cells are spread over the area
//! they cover.
//!
//! A workbook is hostile input: a 2 KB file can declare cells at A1 and
//! XFD1048576, or one cell of 400 MB that compresses to nothing. So the
//! reader never allocates by a sheet's declared size: the zip is first
//! decompressed into nothing to measure it ([`Limits::max_decompressed`]),
//! cells are streamed one by one (never a dense `Range`), each cell and
//! their number are capped, empty columns are dropped, and the grid that
//! remains is checked against [`Limits::max_grid`] before it is built.
//! XLS (BIFF) and ODS are refused: calamine's readers of those formats
//! allocate by the sheet's extent before anything can be checked.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use calamine::{DataRef, Reader, Xlsb, Xlsx};

use crate::doc::{Document, Row, Table, Warning};
use crate::grid;

/// Bounds on what one workbook may make the importer hold in memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes all zip entries may decompress to, together.
    pub max_decompressed: u64,
    /// Zip entries.
    pub max_entries: usize,
    /// Non-empty cells read from the whole workbook.
    pub max_cells: usize,
    /// Characters kept of one cell; the rest is cut with a review item.
    pub max_cell_chars: usize,
    /// Columns: cells right of this (0-based) are left out.
    pub max_cols: u32,
    /// Cells of a sheet's grid once empty rows and columns are dropped.
    pub max_grid: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // A vendor port matrix is a few hundred rows of a dozen columns.
        Self {
            max_decompressed: 64 << 20,
            max_entries: 10_000,
            max_cells: 1_000_000,
            max_cell_chars: 16_384,
            max_cols: 1024,
            max_grid: 4_000_000,
        }
    }
}

const REFUSED: &str = "save the sheet as XLSX or CSV and import that";

/// Decompresses every entry into nothing, counting bytes, and returns the
/// entry names. Fails when the archive expands beyond the limits.
fn measure_zip(bytes: &[u8], limits: &Limits) -> Result<Vec<String>, String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("not a readable spreadsheet: {e}"))?;
    if zip.len() > limits.max_entries {
        return Err(format!("the workbook holds {} zip entries, more than the {} the importer reads", zip.len(), limits.max_entries));
    }
    let mut names = Vec::with_capacity(zip.len());
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| format!("not a readable spreadsheet: {e}"))?;
        names.push(entry.name().map(|n| n.to_string()).unwrap_or_default());
        let budget = limits.max_decompressed - total;
        let n = std::io::copy(&mut (&mut entry).take(budget + 1), &mut std::io::sink())
            .map_err(|e| format!("not a readable spreadsheet: entry {}: {e}", names[i]))?;
        total += n;
        if total > limits.max_decompressed {
            return Err(format!(
                "the workbook decompresses to more than {} MiB (entry {}); a port matrix is far smaller: {REFUSED}",
                limits.max_decompressed >> 20,
                names[i]
            ));
        }
    }
    Ok(names)
}

fn text(d: &DataRef) -> String {
    match d {
        DataRef::Empty => String::new(),
        DataRef::String(s) => s.trim().to_string(),
        DataRef::SharedString(s) => s.trim().to_string(),
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        DataRef::Float(f) => f.to_string(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) => d.to_string(),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => format!("{e:?}"),
    }
}

/// The cells of one sheet, sparse: (row, column, text).
#[derive(Default)]
struct Sparse {
    cells: Vec<(u32, u32, String)>,
}

/// What reading cells has cost so far, across sheets.
struct Budget<'a> {
    limits: &'a Limits,
    cells: usize,
    warnings: Vec<Warning>,
}

/// Warnings kept per workbook; more are summed up in one.
const MAX_WARNINGS: usize = 50;

impl Budget<'_> {
    fn warn(&mut self, at: String, text: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(Warning { at, text });
        } else if self.warnings.len() == MAX_WARNINGS {
            self.warnings.push(Warning { at: "workbook".into(), text: "more cells were left out or cut; fix the ones above first".into() });
        }
    }

    /// Keeps a cell if the budget allows; false once the workbook is full.
    fn take(&mut self, sheet: &str, sparse: &mut Sparse, pos: (u32, u32), value: String) -> bool {
        if value.is_empty() {
            return true;
        }
        if self.cells >= self.limits.max_cells {
            let text = format!("the workbook has more than {} cells; the rest is not read", self.limits.max_cells);
            self.warn(format!("sheet {sheet}"), text);
            return false;
        }
        let at = || format!("sheet {sheet}, {}", cell_name(pos));
        if pos.1 > self.limits.max_cols {
            let text = format!("a cell right of column {} is not read", self.limits.max_cols);
            self.warn(at(), text);
            return true;
        }
        let value = if value.chars().count() > self.limits.max_cell_chars {
            let text = format!("the cell holds more than {} characters; only the first are read", self.limits.max_cell_chars);
            self.warn(at(), text);
            value.chars().take(self.limits.max_cell_chars).collect()
        } else {
            value
        };
        self.cells += 1;
        sparse.cells.push((pos.0, pos.1, value));
        true
    }
}

/// "B7" for (6, 1).
fn cell_name((row, col): (u32, u32)) -> String {
    let mut letters = Vec::new();
    let mut c = col as u64 + 1;
    while c > 0 {
        let r = ((c - 1) % 26) as u8;
        letters.push((b'A' + r) as char);
        c = (c - 1) / 26;
    }
    letters.reverse();
    format!("{}{}", letters.into_iter().collect::<String>(), row as u64 + 1)
}

/// A sheet's grid with empty rows and columns dropped: rows keep their
/// sheet numbers, columns their order.
struct Grid {
    rows: Vec<(u32, Vec<String>)>,
    /// Sheet column → grid column.
    col_index: BTreeMap<u32, usize>,
    row_index: BTreeMap<u32, usize>,
}

fn dense(sheet: &str, sparse: Sparse, limits: &Limits) -> Result<Grid, String> {
    let col_index: BTreeMap<u32, usize> = {
        let mut cols: Vec<u32> = sparse.cells.iter().map(|c| c.1).collect();
        cols.sort_unstable();
        cols.dedup();
        cols.into_iter().enumerate().map(|(i, c)| (c, i)).collect()
    };
    let mut rows_used: Vec<u32> = sparse.cells.iter().map(|c| c.0).collect();
    rows_used.sort_unstable();
    rows_used.dedup();
    let width = col_index.len();
    if rows_used.len().saturating_mul(width) > limits.max_grid {
        return Err(format!(
            "sheet {sheet}: {} rows × {width} columns of cells, more than the {} cells the importer lays out; {REFUSED}",
            rows_used.len(),
            limits.max_grid
        ));
    }
    let row_index: BTreeMap<u32, usize> = rows_used.iter().enumerate().map(|(i, r)| (*r, i)).collect();
    let mut rows: Vec<(u32, Vec<String>)> = rows_used.iter().map(|r| (*r, vec![String::new(); width])).collect();
    for (r, c, v) in sparse.cells {
        rows[row_index[&r]].1[col_index[&c]] = v;
    }
    Ok(Grid { rows, col_index, row_index })
}

/// Spreads merged cells over the grid cells they cover, within the grid's
/// budget of writes.
fn spread_merges(g: &mut Grid, merged: &[calamine::Dimensions], limits: &Limits, sheet: &str, warnings: &mut Vec<Warning>) {
    let mut writes = 0usize;
    for dim in merged {
        let (Some(&r0), Some(&c0)) = (g.row_index.get(&dim.start.0), g.col_index.get(&dim.start.1)) else {
            continue;
        };
        let value = g.rows[r0].1[c0].clone();
        if value.is_empty() {
            continue;
        }
        let rows: Vec<usize> = g.row_index.range(dim.start.0..=dim.end.0).map(|(_, i)| *i).collect();
        let cols: Vec<usize> = g.col_index.range(dim.start.1..=dim.end.1).map(|(_, i)| *i).collect();
        for r in rows {
            for &c in &cols {
                writes += 1;
                if writes > limits.max_grid {
                    warnings.push(Warning { at: format!("sheet {sheet}"), text: "too many merged cells; the rest are not spread".into() });
                    return;
                }
                let cell = &mut g.rows[r].1[c];
                if cell.is_empty() {
                    cell.clone_from(&value);
                }
            }
        }
    }
}

fn cut_sheet(doc: &mut Document, sheet: &str, g: Grid) {
    let rows: Vec<Row> = g.rows.into_iter().map(|(r, cells)| Row { cells, line: None, end_line: None, number: r as usize + 1 }).collect();
    for c in grid::cut(&rows) {
        let idx = doc.tables.len() + 1;
        let title = if c.preamble.is_empty() { format!("sheet {sheet}") } else { format!("sheet {sheet}: {}", c.preamble.join(" ")) };
        doc.tables.push(Table {
            index: idx,
            origin: format!("sheet {sheet}, row {}", c.header_at),
            title,
            intro: String::new(),
            header: c.header,
            rows: if c.ports { c.rows } else { Vec::new() },
            perspective: None,
            how: if c.ports { "spreadsheet" } else { "spreadsheet (no port column)" },
        });
    }
}

/// Reads every sheet of a workbook; an unreadable or oversized workbook is
/// an error, never a panic or an unbounded allocation.
pub fn extract(bytes: &[u8]) -> Result<Document, String> {
    extract_with(bytes, &Limits::default())
}

/// [`extract`] with explicit limits.
pub fn extract_with(bytes: &[u8], limits: &Limits) -> Result<Document, String> {
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Err(format!("XLS (BIFF) workbooks are not read: their reader allocates by the sheet's size; {REFUSED}"));
    }
    let names = measure_zip(bytes, limits)?;
    let has = |n: &str| names.iter().any(|x| x == n);
    let mut doc = Document::default();
    let mut budget = Budget { limits, cells: 0, warnings: Vec::new() };
    if has("xl/workbook.xml") {
        let mut wb = Xlsx::new(Cursor::new(bytes)).map_err(|e| format!("not a readable spreadsheet: {e}"))?;
        for sheet in wb.sheet_names().to_vec() {
            let mut sparse = Sparse::default();
            {
                let mut reader = wb.worksheet_cells_reader(&sheet).map_err(|e| format!("sheet {sheet}: {e}"))?;
                while let Some(cell) = reader.next_cell().map_err(|e| format!("sheet {sheet}: {e}"))? {
                    if !budget.take(&sheet, &mut sparse, cell.get_position(), text(cell.get_value())) {
                        break;
                    }
                }
            }
            let mut g = dense(&sheet, sparse, limits)?;
            if let Ok(merged) = wb.merge_cells_by_sheet_name(&sheet) {
                spread_merges(&mut g, &merged, limits, &sheet, &mut budget.warnings);
            }
            cut_sheet(&mut doc, &sheet, g);
        }
    } else if has("xl/workbook.bin") {
        let mut wb = Xlsb::new(Cursor::new(bytes)).map_err(|e| format!("not a readable spreadsheet: {e}"))?;
        for sheet in wb.sheet_names().to_vec() {
            let mut sparse = Sparse::default();
            {
                let mut reader = wb.worksheet_cells_reader(&sheet).map_err(|e| format!("sheet {sheet}: {e}"))?;
                while let Some(cell) = reader.next_cell().map_err(|e| format!("sheet {sheet}: {e}"))? {
                    if !budget.take(&sheet, &mut sparse, cell.get_position(), text(cell.get_value())) {
                        break;
                    }
                }
            }
            cut_sheet(&mut doc, &sheet, dense(&sheet, sparse, limits)?);
        }
    } else if names.iter().any(|n| n == "content.xml") {
        return Err(format!("OpenDocument spreadsheets are not read: their reader allocates by the sheet's size; {REFUSED}"));
    } else {
        return Err("not a readable spreadsheet: the zip holds no workbook".into());
    }
    budget.warnings.dedup_by(|a, b| a.at == b.at && a.text == b.text);
    doc.warnings = budget.warnings;
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_names() {
        assert_eq!(cell_name((0, 0)), "A1");
        assert_eq!(cell_name((6, 1)), "B7");
        assert_eq!(cell_name((1_048_575, 16_383)), "XFD1048576");
    }
}
