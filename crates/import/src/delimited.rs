//! CSV and TSV files, read with the csv crate. The delimiter is guessed
//! from the first lines (comma, semicolon or tab); one file may hold
//! several tables, each starting at its header row.

use crate::doc::{Document, Row, Table};
use crate::grid;

/// The delimiter that splits the first lines most evenly.
pub fn sniff(text: &str) -> u8 {
    let sample: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).take(20).collect();
    let mut best = (b',', 0usize);
    for d in [b'\t', b';', b',', b'|'] {
        let counts: Vec<usize> = sample.iter().map(|l| l.bytes().filter(|b| *b == d).count()).collect();
        let lines_with = counts.iter().filter(|c| **c > 0).count();
        // Prefer the delimiter present on most lines, then the most frequent.
        let score = lines_with * 1000 + counts.iter().sum::<usize>().min(999);
        if score > best.1 {
            best = (d, score);
        }
    }
    best.0
}

/// Reads the tables of a CSV/TSV text.
pub fn extract(text: &str, name: &str) -> Document {
    let delim = sniff(text);
    let mut rdr = csv::ReaderBuilder::new().delimiter(delim).has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = |r: &csv::StringRecord| r.position().map(|p| p.line() as usize);
        match rec {
            Ok(r) => {
                rows.push(Row { cells: r.iter().map(|c| c.trim().to_string()).collect(), line: line(&r), end_line: None, number: i + 1 })
            }
            Err(_) => continue,
        }
    }
    let mut doc = Document::default();
    for c in grid::cut(&rows) {
        let idx = doc.tables.len() + 1;
        let title = if c.preamble.is_empty() { name.to_string() } else { c.preamble.join(" ") };
        doc.tables.push(Table {
            index: idx,
            origin: format!("L{}", c.header_at),
            title,
            intro: String::new(),
            header: c.header,
            rows: if c.ports { c.rows } else { Vec::new() },
            perspective: None,
            how: if c.ports { "CSV" } else { "CSV (no port column)" },
        });
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_and_reading() {
        assert_eq!(sniff("a;b;c\n1;2;3\n"), b';');
        assert_eq!(sniff("a\tb\tc\n1\t2\t3\n"), b'\t');
        assert_eq!(sniff("a,b,c\n1,2,3\n"), b',');
        let d = extract("Source,Destination,Port,Protocol\nA,B,\"80, 443\",TCP\n", "x.csv");
        assert_eq!(d.tables.len(), 1);
        assert_eq!(d.tables[0].rows[0].cells[2], "80, 443");
        assert_eq!(d.tables[0].rows[0].line, Some(2));
    }
}
