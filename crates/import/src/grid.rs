//! Cutting a grid of rows (a CSV file, a sheet, a block of tab-separated
//! lines) into tables: a header row starts a table, a two-row header is
//! merged, a repeated header (a table continued on the next page) is
//! skipped.

use crate::doc::Row;
use crate::header::{is_header_like, map_header, merge_header};

/// A table cut from a grid.
#[derive(Debug, Clone)]
pub struct Cut {
    pub header: Vec<String>,
    pub rows: Vec<Row>,
    /// Whether the header maps to a port table.
    pub ports: bool,
    /// Line or row number of the header.
    pub header_at: usize,
    /// Rows before the first header (titles, captions).
    pub preamble: Vec<String>,
}

fn blank(r: &Row) -> bool {
    r.cells.iter().all(|c| c.trim().is_empty())
}

fn same_header(a: &[String], b: &[String]) -> bool {
    let norm =
        |v: &[String]| -> Vec<String> { v.iter().map(|s| crate::doc::squeeze(s).to_lowercase()).filter(|s| !s.is_empty()).collect() };
    norm(a) == norm(b)
}

/// Whether a row could be a header at all: short cells without numbers
/// (a data row holds ports; a prose cell may hold "port" and "server").
pub fn header_shape(cells: &[String]) -> bool {
    cells.iter().all(|c| {
        let l = c.to_lowercase();
        let digits =
            l.chars().any(|ch| ch.is_ascii_digit()) && !(l.contains("layer") || l.contains("ipv") || l.contains("l4") || l.contains("(s)"));
        c.chars().count() <= 60 && !digits
    })
}

/// How many different column meanings (or header words) a row names.
fn distinct_kinds(cells: &[String]) -> usize {
    let mut kinds: Vec<String> = Vec::new();
    for c in cells.iter().filter(|c| !c.trim().is_empty()) {
        let k = match crate::header::classify(c) {
            Some(k) => format!("{k:?}"),
            None if crate::header::is_header_word(c) => crate::doc::squeeze(c).to_lowercase(),
            None => continue,
        };
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    kinds.len()
}

/// Cuts `rows` into tables. Rows before the first header are returned as
/// the preamble of the first table (or dropped when no header is found).
pub fn cut(rows: &[Row]) -> Vec<Cut> {
    let mut out: Vec<Cut> = Vec::new();
    let mut preamble: Vec<String> = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let row = &rows[i];
        if blank(row) {
            i += 1;
            continue;
        }
        let at = row.line.unwrap_or(row.number);
        let single = if header_shape(&row.cells) { map_header(&row.cells) } else { None };
        let header_like = is_header_like(&row.cells);
        if single.is_some() || header_like {
            // A second header row beneath ("System", "Port (Configurable Range)").
            let next = rows.get(i + 1).filter(|n| !blank(n) && is_header_like(&n.cells));
            let merged = next.map(|n| merge_header(&row.cells, &n.cells));
            let (header, used) = match (&merged, &single) {
                (Some(m), _) if map_header(m).is_some() => (m.clone(), 2),
                (_, Some(_)) => (row.cells.clone(), 1),
                (Some(m), None) if header_like => (m.clone(), 2),
                _ => (row.cells.clone(), 1),
            };
            let ports = map_header(&header).is_some();
            let filled = row.cells.iter().filter(|c| !c.trim().is_empty()).count();
            // Inside a port table a row of words ("Server (A)", "Server (B)")
            // is data unless it names columns of different kinds.
            let in_port_table = out.last().is_some_and(|t| t.ports);
            let kinds = distinct_kinds(&row.cells);
            if ports || (header_like && filled >= 2 && (!in_port_table || kinds >= 2)) {
                if out.last().is_some_and(|t| same_header(&t.header, &header)) {
                    // The same header again: the table goes on after a page break.
                    i += used;
                    continue;
                }
                out.push(Cut { header, rows: Vec::new(), ports, header_at: at, preamble: std::mem::take(&mut preamble) });
                i += used;
                continue;
            }
        }
        match out.last_mut() {
            Some(t) => t.rows.push(row.clone()),
            None => preamble.push(row.cells.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).collect::<Vec<_>>().join(" ")),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: usize, cells: &[&str]) -> Row {
        Row { cells: cells.iter().map(|s| s.to_string()).collect(), line: Some(n), end_line: None, number: n }
    }

    #[test]
    fn repeated_and_two_row_headers() {
        let rows = vec![
            row(1, &["Ports for the product"]),
            row(2, &["Source", "", "Destination", "", "Protocol", "Description"]),
            row(3, &["System", "Port", "System", "Port", "", ""]),
            row(4, &["A", "1024-65535", "B", "443", "TCP", "web"]),
            row(5, &["", "", "", "", "", ""]),
            row(6, &["Source", "", "Destination", "", "Protocol", "Description"]),
            row(7, &["System", "Port", "System", "Port", "", ""]),
            row(8, &["B", "1024-65535", "C", "22", "TCP", "ssh"]),
            row(9, &["Component", "Interface", "Description"]),
            row(10, &["ActiveMQ", "Eth0", "broker"]),
        ];
        let t = cut(&rows);
        assert_eq!(t.len(), 2, "{t:#?}");
        assert!(t[0].ports);
        assert_eq!(t[0].rows.len(), 2);
        assert_eq!(t[0].header[1], "Source Port");
        assert_eq!(t[0].preamble, ["Ports for the product"]);
        assert!(!t[1].ports);
    }
}
