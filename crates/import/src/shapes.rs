//! Table shapes rewritten to the ordinary column form before the header
//! is mapped. A two-column table whose header cells name the two ends with
//! an arrow ("CENTRAL Site →" | "REMOTE Site(s)", "A ->" | "B") holds ports
//! in one column ("DST 6557/tcp") and what they are for in the other; it
//! becomes Source | Destination | Port | Description, each row naming the
//! header's ends.

use crate::doc::{Row, Table};
use crate::ports::parse_cell;

const ARROWS: &[&str] = &["→", "->", "=>", ">"];

/// "CENTRAL Site →" → "CENTRAL Site".
fn before_arrow(cell: &str) -> Option<String> {
    let c = cell.trim();
    let name = ARROWS.iter().find_map(|a| c.strip_suffix(a))?.trim();
    (!name.is_empty() && name.split_whitespace().count() <= 5 && !name.contains(|c: char| c.is_ascii_digit())).then(|| name.to_string())
}

/// "DST 6557/tcp" → "6557/tcp": the destination port, which is what the
/// port column holds anyway.
fn port_text(cell: &str) -> String {
    let c = cell.trim();
    let c = ["DST ", "dst ", "Dst "].iter().find_map(|p| c.strip_prefix(p)).unwrap_or(c);
    c.replace(" and/or ", ", ")
}

fn reads_as_ports(cell: &str) -> bool {
    let c = parse_cell(&port_text(cell));
    c.error.is_none() && !c.groups.is_empty()
}

/// The rewritten table, when `t` has the arrow-header shape.
pub fn arrow_header(t: &Table) -> Option<Table> {
    let [from_cell, to_cell] = t.header.as_slice() else { return None };
    let from = before_arrow(from_cell)?;
    let to = to_cell.trim();
    if to.is_empty() || to.split_whitespace().count() > 5 || before_arrow(to).is_some() {
        return None;
    }
    // Every row with ports holds them in the first column.
    let with_ports = t.rows.iter().filter(|r| reads_as_ports(r.cell(0))).count();
    if with_ports == 0 || with_ports * 2 < t.rows.len() {
        return None;
    }
    let mut out = t.clone();
    out.header = ["Source", "Destination", "Port", "Description"].map(String::from).to_vec();
    out.rows = t
        .rows
        .iter()
        .map(|r| Row { cells: vec![from.clone(), to.to_string(), port_text(r.cell(0)), r.cell(1).to_string()], ..r.clone() })
        .collect();
    out.how = "two-column table whose header names the ends with an arrow";
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(header: &[&str], rows: &[&[&str]]) -> Table {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: rows.iter().map(|r| Row { cells: r.iter().map(|s| s.to_string()).collect(), ..Row::default() }).collect(),
            ..Table::default()
        }
    }

    #[test]
    fn a_header_naming_both_ends_with_an_arrow() {
        let t = table(&["CENTRAL Site →", "REMOTE Site(s)"], &[&["DST 6557/tcp", "Livestatus"], &["DST 80/tcp and/or 443/tcp", "Sync"]]);
        let n = arrow_header(&t).expect("the shape is recognised");
        assert_eq!(n.header, ["Source", "Destination", "Port", "Description"]);
        assert_eq!(n.rows[0].cells, ["CENTRAL Site", "REMOTE Site(s)", "6557/tcp", "Livestatus"]);
        assert_eq!(n.rows[1].cells[2], "80/tcp, 443/tcp");
        // No arrow, arrows on both, or no ports in the first column: untouched.
        assert!(arrow_header(&table(&["Port", "Description"], &[&["6557/tcp", "x"]])).is_none());
        assert!(arrow_header(&table(&["A →", "B →"], &[&["6557/tcp", "x"]])).is_none());
        assert!(arrow_header(&table(&["A →", "B"], &[&["Livestatus", "x"], &["Sync", "y"]])).is_none());
    }
}
