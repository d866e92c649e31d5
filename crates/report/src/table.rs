//! A plain table (header + rows of text) and its writers. Every rendering
//! of rows goes through here so that all formats show the same columns.

use comfy_table::{ContentArrangement, Table as Comfy};

#[derive(Debug, Clone, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self { header: header.iter().map(|s| s.to_string()).collect(), rows: Vec::new() }
    }
    pub fn push(&mut self, row: Vec<String>) {
        debug_assert_eq!(row.len(), self.header.len());
        self.rows.push(row);
    }

    /// A table for the terminal, wrapped to `width` columns when given.
    pub fn to_text(&self, width: Option<u16>) -> String {
        let mut t = Comfy::new();
        match width {
            Some(w) => {
                t.set_content_arrangement(ContentArrangement::Dynamic);
                t.set_width(w);
            }
            None => {
                t.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
        t.set_header(&self.header);
        for r in &self.rows {
            t.add_row(r);
        }
        format!("{t}\n")
    }

    pub fn to_markdown(&self) -> String {
        let esc = |s: &str| s.replace('|', "\\|").replace('\n', "<br>");
        let mut out = String::new();
        out.push_str(&format!("| {} |\n", self.header.iter().map(|h| esc(h)).collect::<Vec<_>>().join(" | ")));
        out.push_str(&format!("|{}\n", "---|".repeat(self.header.len())));
        for r in &self.rows {
            out.push_str(&format!("| {} |\n", r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")));
        }
        out
    }

    pub fn to_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&self.header).expect("write to memory");
        for r in &self.rows {
            w.write_record(r).expect("write to memory");
        }
        String::from_utf8(w.into_inner().expect("flush to memory")).expect("CSV of UTF-8 strings")
    }

    /// Rows as JSON objects keyed by the header.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.rows
                .iter()
                .map(|r| {
                    serde_json::Value::Object(
                        self.header.iter().cloned().zip(r.iter().map(|c| serde_json::Value::String(c.clone()))).collect(),
                    )
                })
                .collect(),
        )
    }
}
