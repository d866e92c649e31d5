//! What every extractor produces: tables as grids of text cells, each row
//! knowing where it stands in the document, plus the text around them.

/// A table found in a document.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// 1-based, in document order.
    pub index: usize,
    /// Where the table stands: "L48", "sheet Ports", "HTML table 2".
    pub origin: String,
    /// The nearest heading or caption before the table.
    pub title: String,
    /// Prose between that heading and the table (for phrases such as
    /// "used between Attendant Console clients and UC Suite server(s)").
    pub intro: String,
    /// Header cells (two header rows already merged).
    pub header: Vec<String>,
    pub rows: Vec<Row>,
    /// Whose view a direction column takes ("From Imagicle UC Suite
    /// Perspective"), when the header says.
    pub perspective: Option<String>,
    /// How the extractor found the table, for the summary.
    pub how: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct Row {
    pub cells: Vec<String>,
    /// 1-based line in the document, when there are lines.
    pub line: Option<usize>,
    /// Last line of a row that spans several.
    pub end_line: Option<usize>,
    /// Row number in its table or sheet, for citations without lines.
    pub number: usize,
}

impl Row {
    pub fn cell(&self, i: usize) -> &str {
        self.cells.get(i).map(String::as_str).unwrap_or("")
    }
    /// "L52" or "L101-L102"; "row 4" when there are no lines.
    pub fn place(&self) -> String {
        match (self.line, self.end_line) {
            (Some(a), Some(b)) if b > a => format!("L{a}-L{b}"),
            (Some(a), _) => format!("L{a}"),
            _ => format!("row {}", self.number),
        }
    }
}

impl Table {
    /// "table 3 (Table 1 Intra Cluster Ports Used Between REM Servers)".
    pub fn label(&self) -> String {
        if self.title.is_empty() {
            format!("table {}", self.index)
        } else {
            format!("table {} ({})", self.index, self.title)
        }
    }
}

/// Text outside tables that mentions ports: every such line becomes a
/// review item, because the importer read no flow from it.
#[derive(Debug, Clone)]
pub struct Stray {
    pub line: usize,
    pub text: String,
}

/// Something the extractor left out or cut (a cell beyond the limits, a
/// too deeply nested element): a review item of the draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where: "sheet Ports, XFD1048576", "HTML table 2, row 3".
    pub at: String,
    pub text: String,
}

/// A line of prose outside tables: a heading, a paragraph line, a list
/// item, a command in a code block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prose {
    /// 1-based line; 0 when the format has none (HTML).
    pub line: usize,
    pub text: String,
    pub heading: bool,
}

/// An extracted document.
#[derive(Debug, Clone, Default)]
pub struct Document {
    pub tables: Vec<Table>,
    pub strays: Vec<Stray>,
    /// What the extractor left out or cut.
    pub warnings: Vec<Warning>,
    /// Headings and prose outside tables, in order (for naming the system
    /// and reading ports stated in sentences, lists and commands).
    pub prose: Vec<Prose>,
    /// The document's first heading or title, if it has one.
    pub title: Option<String>,
}

/// Squeezes runs of whitespace (including line breaks) into one space.
pub fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a line of prose mentions a port: a number that could be a
/// port, and TCP/UDP/SCTP written in capitals anywhere (exports glue words
/// together: "UDPTELEPHONYAny...20644"), or the word "port" at most three
/// words from the number. URLs are ignored.
pub fn mentions_port(line: &str) -> bool {
    let text: String = line
        .split_whitespace()
        .filter(|w| !(w.contains("://") || w.starts_with("www.") || w.ends_with(".html") || w.ends_with(".htm")))
        .collect::<Vec<_>>()
        .join(" ");
    let toks: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).collect();
    let numbers: Vec<usize> = toks
        .iter()
        .enumerate()
        .filter(|(_, t)| (2..=5).contains(&t.len()) && t.chars().all(|c| c.is_ascii_digit()) && t.parse::<u32>().is_ok_and(|v| v <= 65535))
        .map(|(i, _)| i)
        .collect();
    // Numbers glued to letters ("LISTENER20644") count in glued text.
    let glued = text.as_bytes().windows(3).any(|w| w[0].is_ascii_alphabetic() && w[1].is_ascii_digit() && w[2].is_ascii_digit());
    if numbers.is_empty() && !glued {
        return false;
    }
    if ["TCP", "UDP", "SCTP"].iter().any(|p| text.contains(p)) {
        return true;
    }
    toks.iter().enumerate().any(|(i, t)| {
        let l = t.to_ascii_lowercase();
        matches!(l.as_str(), "port" | "ports" | "tcp" | "udp") && numbers.iter().any(|n| n.abs_diff(i) <= 3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_mentions() {
        assert!(mentions_port("Note: RTP port range (30000-34999) = 5000 ports"));
        assert!(mentions_port("ACD.UDP.Webserver.PortUDPTELEPHONYAnyPLATFORM UDP LISTENER20644"));
        assert!(mentions_port("destination TCP port 25"));
        assert!(!mentions_port("call the support hotline at +1-800-643-2353 for the United States"));
        assert!(!mentions_port("Well Known Ports are those numbered from 0 through 1023."));
        assert!(!mentions_port("_tcp-port-usage-guide-91_chapter_01.html"));
    }
}
