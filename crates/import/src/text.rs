//! Tables in plain text, as PDF extraction and copy-paste leave them:
//!
//! * tab-separated lines (one row per line, cells between tabs);
//! * column-aligned lines (`pdftotext -layout`: cells apart by two or more
//!   spaces, aligned under the header);
//! * "stream" tables whose cells run one per line or several per line
//!   separated by single spaces, under a header such as
//!   `Protocol Direction (From X Perspective) Ports (Remote peer) Ports (X) Usage`
//!   or a stacked `Protocol / From / To / Usage`. Their rows are found by
//!   anchors: a direction word (IN, OUT, IN/OUT), or a run of port
//!   expressions (`TCP 389`, `Any (TCP)`, `UDP > 1024*`).
//!
//! Lines outside every table that mention a port become stray mentions.

use crate::doc::{mentions_port, squeeze, Document, Prose, Row, Stray, Table};
use crate::grid;

/// Byte offsets of line starts, for 1-based line numbers.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                starts.push(i + 1);
            }
        }
        Self { starts }
    }
    pub fn line_of(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// Extracts tables from plain text. `used` marks lines (0-based) already
/// read by another extractor (Markdown tables), which are skipped.
pub fn extract(text: &str, used: &[bool]) -> Document {
    let lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let mut taken: Vec<bool> = (0..lines.len()).map(|i| used.get(i).copied().unwrap_or(false)).collect();
    let mut doc = Document::default();
    let mut found: Vec<Table> = Vec::new();

    tab_tables(&lines, &mut taken, &mut found);
    aligned_tables(&lines, &mut taken, &mut found);
    word_tables(&lines, &mut taken, &mut found);
    stream_tables(&lines, &mut taken, &mut found);

    found.sort_by_key(|t| t.origin.trim_start_matches('L').parse::<usize>().unwrap_or(usize::MAX));
    for (i, t) in found.iter_mut().enumerate() {
        t.index = i + 1;
    }
    doc.tables = found;
    for (i, l) in lines.iter().enumerate() {
        if !taken[i] && mentions_port(l) {
            doc.strays.push(Stray { line: i + 1, text: squeeze(l) });
        }
        if !taken[i] && !l.trim().is_empty() {
            // A short line without a full stop that stands alone reads as a heading.
            let alone = (i == 0 || lines[i - 1].trim().is_empty()) && caption_like(l);
            doc.prose.push(Prose { line: i + 1, text: squeeze(l), heading: alone });
        }
    }
    doc.title = lines.iter().map(|l| l.trim()).find(|l| !l.is_empty() && l.len() <= 100).map(str::to_string);
    doc
}

/// A short line that could be a heading or a caption.
fn caption_like(s: &str) -> bool {
    let t = s.trim();
    !t.is_empty() && t.len() <= 100 && !t.contains('\t') && !t.ends_with('.')
}

/// The caption and introduction of a table whose first line is `first`
/// (0-based): the nearest caption-like line above, within a few lines.
fn caption_above(lines: &[&str], taken: &[bool], first: usize) -> (String, String) {
    let mut intro: Vec<String> = Vec::new();
    let mut j = first;
    let mut seen = 0;
    while j > 0 && seen < 6 {
        j -= 1;
        if taken[j] {
            break;
        }
        let l = lines[j].trim();
        if l.is_empty() {
            continue;
        }
        seen += 1;
        if caption_like(l) {
            intro.reverse();
            return (l.to_string(), intro.join(" "));
        }
        intro.push(l.to_string());
    }
    intro.reverse();
    (String::new(), intro.join(" "))
}

// ---------------------------------------------------------------- tab tables

fn tab_tables(lines: &[&str], taken: &mut [bool], out: &mut Vec<Table>) {
    let n = lines.len();
    let mut i = 0;
    let mut last_title = String::new();
    while i < n {
        if taken[i] || !lines[i].contains('\t') {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i;
        let mut j = i + 1;
        while j < n && !taken[j] {
            if lines[j].contains('\t') {
                end = j;
                j += 1;
            } else if blank(lines[j]) {
                j += 1;
            } else {
                break;
            }
        }
        let rows: Vec<Row> = (start..=end)
            .filter(|k| !blank(lines[*k]))
            .map(|k| Row {
                cells: lines[k].split('\t').map(|c| c.trim().to_string()).collect(),
                line: Some(k + 1),
                end_line: None,
                number: 0,
            })
            .collect();
        let cuts = grid::cut(&rows);
        if !cuts.is_empty() {
            let (cap, intro) = caption_above(lines, taken, start);
            for (k, c) in cuts.into_iter().enumerate() {
                let mut title = if k == 0 { cap.clone() } else { String::new() };
                if !c.preamble.is_empty() && title.is_empty() {
                    title = c.preamble.join(" ");
                }
                if title.is_empty() && c.ports {
                    // A table continued after a page break keeps its caption.
                    title = last_title.clone();
                }
                if c.ports {
                    last_title = title.clone();
                }
                let mut rows = c.rows;
                for (m, r) in rows.iter_mut().enumerate() {
                    r.number = m + 1;
                }
                out.push(Table {
                    index: 0,
                    origin: format!("L{}", c.header_at),
                    title,
                    intro: if k == 0 { intro.clone() } else { String::new() },
                    header: c.header,
                    rows: if c.ports { rows } else { Vec::new() },
                    perspective: None,
                    how: if c.ports { "tab-separated text" } else { "tab-separated text (no port column)" },
                });
            }
            for t in taken.iter_mut().take(end + 1).skip(start) {
                *t = true;
            }
        }
        i = end + 1;
    }
}

// ------------------------------------------------------------ aligned tables

/// Cells of a layout line: (start column, text), split at runs of two or
/// more spaces.
fn layout_cells(line: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && chars[i] == ' ' {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let start = i;
        let mut end = i;
        while i < chars.len() {
            if chars[i] == ' ' && chars.get(i + 1).is_none_or(|c| *c == ' ') {
                break;
            }
            i += 1;
            end = i;
        }
        out.push((start, chars[start..end].iter().collect::<String>().trim().to_string()));
    }
    out
}

/// Puts layout cells under the header column they start below.
fn place(starts: &[usize], cells: Vec<(usize, String)>) -> Vec<String> {
    let mut row = vec![String::new(); starts.len()];
    for (pos, text) in cells {
        let k = starts.iter().rposition(|s| *s <= pos + 2).unwrap_or(0);
        if !row[k].is_empty() {
            row[k].push(' ');
        }
        row[k].push_str(&text);
    }
    row
}

fn aligned_tables(lines: &[&str], taken: &mut [bool], out: &mut Vec<Table>) {
    let n = lines.len();
    let mut i = 0;
    while i < n {
        if taken[i] {
            i += 1;
            continue;
        }
        let cells = layout_cells(lines[i]);
        let header: Vec<String> = cells.iter().map(|c| c.1.clone()).collect();
        if cells.len() < 3 || crate::header::map_header(&header).is_none() {
            i += 1;
            continue;
        }
        let starts: Vec<usize> = cells.iter().map(|c| c.0).collect();
        let mut header = header;
        let mut rows: Vec<Row> = Vec::new();
        let mut j = i + 1;
        // A second header line ("System   Port (Configurable)") joins the first.
        if j < n && !taken[j] {
            let second = place(&starts, layout_cells(lines[j]));
            if crate::header::is_header_like(&second) && crate::grid::header_shape(&second) {
                let merged = crate::header::merge_header(&header, &second);
                if crate::header::map_header(&merged).is_some() {
                    header = merged;
                    j += 1;
                }
            }
        }
        let mut blanks = 0;
        let mut last = i;
        while j < n && !taken[j] {
            let l = lines[j];
            if blank(l) {
                blanks += 1;
                if blanks >= 3 {
                    break;
                }
                j += 1;
                continue;
            }
            let cs = layout_cells(l);
            // Prose ends the table: one long cell at the left margin.
            if cs.len() == 1 && cs[0].0 == 0 && cs[0].1.len() > 60 {
                break;
            }
            let hdr: Vec<String> = cs.iter().map(|c| c.1.clone()).collect();
            if crate::header::map_header(&hdr).is_some() && cs.len() >= 3 {
                break;
            }
            blanks = 0;
            let row = place(&starts, cs);
            rows.push(Row { cells: row, line: Some(j + 1), end_line: None, number: rows.len() + 1 });
            last = j;
            j += 1;
        }
        if rows.is_empty() {
            i += 1;
            continue;
        }
        let (title, intro) = caption_above(lines, taken, i);
        out.push(Table {
            index: 0,
            origin: format!("L{}", i + 1),
            title,
            intro,
            header,
            rows,
            perspective: None,
            how: "column-aligned text",
        });
        for t in taken.iter_mut().take(last + 1).skip(i) {
            *t = true;
        }
        i = last + 1;
    }
}

// ------------------------------------------------------------- stream tables

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Dir,
    Port,
}

#[derive(Debug, Clone)]
struct Seg {
    kind: Kind,
    text: String,
}

#[derive(Debug, Clone)]
struct SLine {
    /// 1-based line number.
    no: usize,
    segs: Vec<Seg>,
    blank_before: bool,
    /// Paragraph number within the region.
    para: usize,
}

impl SLine {
    fn text_only(&self) -> bool {
        self.segs.iter().all(|s| s.kind == Kind::Text)
    }
    fn text(&self) -> String {
        self.segs.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" ")
    }
}

fn is_proto_word(w: &str) -> bool {
    matches!(w.to_ascii_uppercase().as_str(), "TCP" | "UDP" | "TLS" | "SSL" | "SCTP" | "TCP/UDP" | "UDP/TCP")
}

fn is_dir(w: &str) -> bool {
    matches!(w, "IN" | "OUT" | "IN/OUT" | "OUT/IN" | "IN-OUT" | "BOTH")
}

/// A token that continues a port expression.
fn port_continuation(w: &str) -> bool {
    let l = w.to_ascii_lowercase();
    let core = l.trim_end_matches([',', '*', ';']);
    if core.is_empty() {
        return w.starts_with(',');
    }
    core.chars().all(|c| c.is_ascii_digit() || c == '-' || c == ',' || c == '–')
        || matches!(
            core,
            ">" | ">="
                | "<"
                | "port"
                | "ports"
                | "others"
                | "etc."
                | "etc"
                | "to"
                | "(range)"
                | "(ssl)"
                | "(tls)"
                | "(ssl/tls)"
                | "(c)"
                | "(tcp)"
                | "(udp)"
                | "nnn"
                | "xxx"
        )
        || (core.starts_with('>') && core[1..].chars().all(|c| c.is_ascii_digit()))
}

/// The start of a port value: a number, a range, ">", or a placeholder.
fn port_value_start(w: &str) -> bool {
    let l = w.to_ascii_lowercase();
    l.starts_with(|c: char| c.is_ascii_digit()) || l.starts_with('>') || l == "nnn" || l == "xxx"
}

/// Splits one line into text, direction words and port expressions.
fn scan_line(line: &str) -> Vec<Seg> {
    let toks: Vec<&str> = line.split_whitespace().collect();
    let mut out: Vec<Seg> = Vec::new();
    let mut text: Vec<&str> = Vec::new();
    let flush_text = |text: &mut Vec<&str>, out: &mut Vec<Seg>| {
        if !text.is_empty() {
            out.push(Seg { kind: Kind::Text, text: text.join(" ") });
            text.clear();
        }
    };
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        if is_dir(t) {
            flush_text(&mut text, &mut out);
            out.push(Seg { kind: Kind::Dir, text: t.to_string() });
            i += 1;
            continue;
        }
        // "TCP 389", "TCP port 80", "UDP > 1024*", a bare "UDP" ending the line.
        let mut start_port = None;
        if is_proto_word(t) {
            let mut k = i + 1;
            while k < toks.len() && matches!(toks[k].to_ascii_lowercase().as_str(), "port" | "ports") {
                k += 1;
            }
            if k < toks.len() && port_value_start(toks[k]) {
                start_port = Some(k + 1);
            } else if toks.len() == 1 {
                start_port = Some(1);
            }
        } else if t.eq_ignore_ascii_case("any")
            && toks
                .get(i + 1)
                .is_some_and(|n| n.starts_with('(') && (n.to_ascii_uppercase().contains("TCP") || n.to_ascii_uppercase().contains("UDP")))
        {
            // "Any (TCP)", "Any (TCP/UDP)"
            let mut k = i + 1;
            while k < toks.len() && !toks[k].ends_with(')') {
                k += 1;
            }
            start_port = Some((k + 1).min(toks.len()));
        } else if t.to_ascii_lowercase().starts_with("(any") {
            // "(Any TCP port)", "(Any TCP/UDP port)"
            let mut k = i;
            while k < toks.len() && !toks[k].ends_with(')') {
                k += 1;
            }
            start_port = Some((k + 1).min(toks.len()));
        }
        if let Some(mut k) = start_port {
            flush_text(&mut text, &mut out);
            while k < toks.len() && port_continuation(toks[k]) && !is_dir(toks[k]) {
                k += 1;
            }
            out.push(Seg { kind: Kind::Port, text: toks[i..k].join(" ") });
            i = k;
            continue;
        }
        text.push(t);
        i += 1;
    }
    flush_text(&mut text, &mut out);
    out
}

/// A line that is only a number or range ("5000-5999"), continuing a bare
/// protocol on the line above.
fn bare_numbers(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && t.split_whitespace().all(port_continuation) && t.starts_with(|c: char| c.is_ascii_digit())
}

fn is_note(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('*') || t.starts_with("Note:") || t.starts_with("NOTE:") || t.starts_with("Note ")
}

/// Long prose: an introduction sentence.
fn prose(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 70 && (t.ends_with('.') || t.ends_with(':')) && !is_note(t) && scan_line(t).iter().all(|s| s.kind == Kind::Text)
}

/// A heading followed by an introduction: where a new section starts.
fn section_start(lines: &[&str], i: usize) -> bool {
    let l = lines[i].trim();
    if l.is_empty() || l.len() > 100 || l.ends_with('.') || is_note(l) || scan_line(l).iter().any(|s| s.kind != Kind::Text) {
        return false;
    }
    let mut j = i + 1;
    while j < lines.len() && blank(lines[j]) {
        j += 1;
    }
    j < lines.len() && prose(lines[j])
}

/// Header words of a stream table.
fn header_word(w: &str) -> bool {
    matches!(
        w.to_ascii_lowercase().trim_matches(|c: char| !c.is_alphanumeric()),
        "protocol"
            | "direction"
            | "tcp-ip"
            | "tcp"
            | "udp"
            | "tcp/udp"
            | "ip"
            | "ports"
            | "port"
            | "from"
            | "to"
            | "usage"
            | "description"
            | "purpose"
            | "source"
            | "destination"
    )
}

fn header_line(l: &str) -> bool {
    let t = l.trim();
    if t.is_empty() || t.len() > 70 {
        return false;
    }
    if t.starts_with('(') && t.ends_with(')') {
        return true;
    }
    let first = t.split_whitespace().next().unwrap_or("");
    let base = crate::proto::strip_parens(t);
    base.split_whitespace().all(header_word) || matches!(first.to_ascii_lowercase().as_str(), "usage" | "description" | "purpose")
}

fn ends_header(l: &str) -> bool {
    let first = l.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
    matches!(first.as_str(), "usage" | "description" | "purpose")
}

#[derive(Debug, Default)]
struct StreamHeader {
    first: usize,
    last: usize,
    direction: bool,
    stacked_from_to: bool,
    perspective: Option<String>,
    both_ends: Option<String>,
    /// Order of the two port columns of a direction table: true when the
    /// remote peer's comes first.
    remote_first: bool,
}

fn find_header(lines: &[&str], taken: &[bool], i: usize) -> Option<StreamHeader> {
    let first = lines[i].trim();
    if taken[i] || !first.to_ascii_lowercase().starts_with("protocol") || !header_line(first) {
        return None;
    }
    let mut j = i;
    let mut parts: Vec<String> = Vec::new();
    let mut last = None;
    while j < lines.len() && j < i + 16 && !taken[j] {
        let l = lines[j].trim();
        if l.is_empty() {
            j += 1;
            continue;
        }
        if !header_line(l) {
            break;
        }
        parts.push(l.to_string());
        if ends_header(l) {
            last = Some(j);
            break;
        }
        j += 1;
    }
    let last = last?;
    let joined = parts.join(" ");
    let lower = joined.to_ascii_lowercase();
    let mut h = StreamHeader { first: i, last, direction: lower.contains("direction"), remote_first: true, ..Default::default() };
    // "(From X Perspective)"
    if let Some(a) = lower.find("(from ") {
        if let Some(b) = lower[a..].find("perspective)") {
            h.perspective = Some(joined[a + 6..a + b].trim().to_string());
        }
    }
    // "(from/to X)"
    if let Some(a) = lower.find("(from/to ") {
        if let Some(b) = lower[a..].find(')') {
            h.both_ends = Some(joined[a + 9..a + b].trim().to_string());
        }
    }
    let standalone: Vec<String> = parts.iter().map(|p| crate::proto::strip_parens(p).to_ascii_lowercase()).collect();
    h.stacked_from_to = standalone.iter().any(|p| p == "from") && standalone.iter().any(|p| p == "to");
    if let (Some(r), Some(s)) = (lower.find("remote"), lower.rfind("ports")) {
        h.remote_first = r < s;
    }
    Some(h)
}

fn stream_tables(lines: &[&str], taken: &mut [bool], out: &mut Vec<Table>) {
    let n = lines.len();
    let mut i = 0;
    while i < n {
        let Some(h) = find_header(lines, taken, i) else {
            i += 1;
            continue;
        };
        // The region: after the header up to the next section, header or used line.
        let mut end = h.last + 1;
        while end < n && !taken[end] && !section_start(lines, end) && find_header(lines, taken, end).is_none() {
            end += 1;
        }
        // Title: the section start above the header.
        let mut title = String::new();
        let mut intro = String::new();
        let mut k = h.first;
        while k > 0 && h.first - k < 12 {
            k -= 1;
            if taken[k] {
                break;
            }
            if section_start(lines, k) {
                title = lines[k].trim().to_string();
                intro = (k + 1..h.first).map(|m| lines[m].trim()).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
                break;
            }
        }
        let region = build_region(lines, h.last + 1, end);
        let (header, rows) = if h.direction {
            direction_rows(&region)
        } else if h.stacked_from_to {
            from_to_rows(&region)
        } else {
            name_ports_rows(&region, h.both_ends.as_deref())
        };
        let how = if h.direction { "text with a direction column" } else { "text with one cell per line" };
        if !rows.is_empty() {
            out.push(Table {
                index: 0,
                origin: format!("L{}", h.first + 1),
                title,
                intro,
                header: header.iter().map(|s| s.to_string()).collect(),
                rows,
                perspective: h.perspective.clone(),
                how,
            });
        }
        for t in taken.iter_mut().take(end).skip(h.first) {
            *t = true;
        }
        // Notes inside the region stay visible as stray mentions.
        for (m, l) in lines.iter().enumerate().take(end).skip(h.first) {
            if is_note(l) && mentions_port(l) {
                taken[m] = false;
            }
        }
        i = end.max(i + 1);
    }
}

fn build_region(lines: &[&str], from: usize, to: usize) -> Vec<SLine> {
    let mut out: Vec<SLine> = Vec::new();
    let mut blank_before = true;
    let mut para = 0;
    let mut pending_proto: Option<usize> = None;
    for (k, l) in lines.iter().enumerate().take(to).skip(from) {
        if blank(l) {
            blank_before = true;
            continue;
        }
        if is_note(l) {
            continue;
        }
        // "UDP" alone, then "5000-5999" on the next line: one port.
        if let Some(p) = pending_proto {
            if bare_numbers(l) {
                let prev: &mut SLine = &mut out[p];
                prev.segs[0].text = format!("{} {}", prev.segs[0].text, l.trim());
                pending_proto = None;
                blank_before = false;
                continue;
            }
        }
        if blank_before && !out.is_empty() {
            para += 1;
        }
        let segs = scan_line(l);
        let bare = segs.len() == 1 && segs[0].kind == Kind::Port && is_proto_word(segs[0].text.trim());
        out.push(SLine { no: k + 1, segs, blank_before, para });
        pending_proto = if bare { Some(out.len() - 1) } else { None };
        blank_before = false;
    }
    out
}

/// Where a row's name starts when its anchor is at (line, seg): text
/// before the anchor on its line, or short text-only lines above it.
fn name_before(region: &[SLine], li: usize, si: usize, floor: usize) -> (usize, String) {
    let line = &region[li];
    let before: Vec<&Seg> = line.segs[..si].iter().rev().take_while(|s| s.kind == Kind::Text).collect();
    if !before.is_empty() {
        let name: Vec<&str> = before.iter().rev().map(|s| s.text.as_str()).collect();
        return (li, name.join(" "));
    }
    let mut collected: Vec<usize> = Vec::new();
    let mut j = li;
    let mut stop_at_blank = line.blank_before;
    let _ = &mut stop_at_blank;
    while j > floor {
        j -= 1;
        let l = &region[j];
        if !l.text_only() || l.text().len() > 45 || collected.len() >= 3 {
            break;
        }
        collected.push(j);
        if l.blank_before {
            break;
        }
    }
    if collected.is_empty() {
        return (li, String::new());
    }
    let first = *collected.last().expect("non-empty");
    let name: Vec<String> = collected.iter().rev().map(|k| region[*k].text()).collect();
    (first, name.join(" "))
}

/// Text of the region between two positions (exclusive end), as lines.
fn text_between(region: &[SLine], from: (usize, usize), to: (usize, usize)) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (li, l) in region.iter().enumerate() {
        for (si, s) in l.segs.iter().enumerate() {
            if (li, si) >= from && (li, si) < to && s.kind == Kind::Text {
                out.push((l.no, s.text.clone()));
            }
        }
    }
    out
}

fn is_any_port(s: &str) -> bool {
    let c = crate::ports::parse_cell(s);
    c.groups.len() == 1 && c.groups[0].items.len() == 1 && c.groups[0].items[0].0 == crate::ports::Item::Any
}

/// Splits the port expressions after a direction word into the remote
/// peer's and the local system's; None when the split cannot be told.
fn split_ports(ports: &[(String, usize)]) -> Option<(Vec<String>, Vec<String>)> {
    let texts: Vec<String> = ports.iter().map(|p| p.0.clone()).collect();
    let n = texts.len();
    if n == 0 {
        return Some((Vec::new(), Vec::new()));
    }
    if n == 1 {
        return Some((texts, Vec::new()));
    }
    let anys: Vec<usize> = (0..n).filter(|i| is_any_port(&texts[*i])).collect();
    if anys == [0] {
        return Some((texts[..1].to_vec(), texts[1..].to_vec()));
    }
    if anys == [n - 1] {
        return Some((texts[..n - 1].to_vec(), texts[n - 1..].to_vec()));
    }
    let mut paras: Vec<usize> = ports.iter().map(|p| p.1).collect();
    paras.dedup();
    if paras.len() == 2 {
        let cut = ports.iter().position(|p| p.1 == paras[1]).expect("second paragraph");
        return Some((texts[..cut].to_vec(), texts[cut..].to_vec()));
    }
    let norm = |v: &[String]| v.iter().map(|s| squeeze(s).to_ascii_uppercase()).collect::<Vec<_>>();
    if n.is_multiple_of(2) && norm(&texts[..n / 2]) == norm(&texts[n / 2..]) {
        return Some((texts[..n / 2].to_vec(), texts[n / 2..].to_vec()));
    }
    if n == 2 {
        return Some((texts[..1].to_vec(), texts[1..].to_vec()));
    }
    None
}

const DIRECTION_HEADER: [&str; 5] = ["Protocol", "Direction", "Ports (remote peer)", "Ports (local)", "Usage"];

fn direction_rows(region: &[SLine]) -> (Vec<&'static str>, Vec<Row>) {
    let mut anchors: Vec<(usize, usize)> = Vec::new();
    for (li, l) in region.iter().enumerate() {
        for (si, s) in l.segs.iter().enumerate() {
            if s.kind == Kind::Dir {
                anchors.push((li, si));
            }
        }
    }
    let mut names: Vec<((usize, usize), String)> = Vec::new();
    let mut floor = 0;
    for &(li, si) in &anchors {
        let (start, name) = name_before(region, li, si, floor);
        let pos = if start == li && !name.is_empty() {
            // Inline name: it starts at the first text seg before the anchor.
            let k = region[li].segs[..si].iter().rposition(|s| s.kind != Kind::Text).map_or(0, |p| p + 1);
            (li, k)
        } else {
            (start, 0)
        };
        names.push((pos, name));
        floor = li + 1;
    }
    let mut rows = Vec::new();
    for (k, &(li, si)) in anchors.iter().enumerate() {
        let end = names.get(k + 1).map(|n| n.0).unwrap_or((region.len(), 0));
        // Ports right after the direction word, then text.
        let mut ports: Vec<(String, usize)> = Vec::new();
        let mut text_from = end;
        'outer: for (lj, l) in region.iter().enumerate().skip(li) {
            for (sj, s) in l.segs.iter().enumerate() {
                if (lj, sj) <= (li, si) {
                    continue;
                }
                if (lj, sj) >= end {
                    break 'outer;
                }
                match s.kind {
                    Kind::Port => ports.push((s.text.clone(), l.para)),
                    Kind::Dir => {}
                    Kind::Text => {
                        text_from = (lj, sj);
                        break 'outer;
                    }
                }
            }
        }
        let usage: Vec<String> = text_between(region, text_from, end).into_iter().map(|(_, t)| t).collect();
        let last_line = region[..end.0.min(region.len())].last().map(|l| l.no).unwrap_or(region[li].no);
        let (remote, local, note) = match split_ports(&ports) {
            Some((r, l)) => (r.join("\n"), l.join("\n"), None),
            None => (ports.iter().map(|p| p.0.clone()).collect::<Vec<_>>().join("\n"), String::new(), Some("?")),
        };
        let dir = region[li].segs[si].text.clone();
        let first_line = region[names[k].0 .0.min(li)].no;
        let mut cells = vec![names[k].1.clone(), dir, remote, local, usage.join(" ")];
        if note.is_some() {
            // Unsplittable ports: leave the local column marked.
            cells[3] = "?".into();
        }
        rows.push(Row { cells, line: Some(first_line), end_line: Some(last_line), number: k + 1 });
    }
    (DIRECTION_HEADER.to_vec(), rows)
}

const NAME_PORTS_HEADER: [&str; 5] = ["Protocol", "From", "To", "Ports", "Usage"];

fn name_ports_rows(region: &[SLine], ends: Option<&str>) -> (Vec<&'static str>, Vec<Row>) {
    // Runs of port expressions with no text between them.
    let mut runs: Vec<Vec<(usize, usize)>> = Vec::new();
    let mut cur: Vec<(usize, usize)> = Vec::new();
    for (li, l) in region.iter().enumerate() {
        for (si, s) in l.segs.iter().enumerate() {
            match s.kind {
                Kind::Port => cur.push((li, si)),
                _ => {
                    if !cur.is_empty() {
                        runs.push(std::mem::take(&mut cur));
                    }
                }
            }
        }
    }
    if !cur.is_empty() {
        runs.push(cur);
    }
    let mut names = Vec::new();
    let mut floor = 0;
    for run in &runs {
        let (li, si) = run[0];
        let (start, name) = name_before(region, li, si, floor);
        let pos = if start == li && !name.is_empty() {
            let k = region[li].segs[..si].iter().rposition(|s| s.kind != Kind::Text).map_or(0, |p| p + 1);
            (li, k)
        } else {
            (start, 0)
        };
        names.push((pos, name));
        floor = run.last().expect("non-empty").0 + 1;
    }
    let ends = ends.unwrap_or("").to_string();
    let mut rows = Vec::new();
    for (k, run) in runs.iter().enumerate() {
        let end = names.get(k + 1).map(|n| n.0).unwrap_or((region.len(), 0));
        let lastp = *run.last().expect("non-empty");
        let usage: Vec<String> = text_between(region, (lastp.0, lastp.1 + 1), end).into_iter().map(|(_, t)| t).collect();
        let ports: Vec<String> = run.iter().map(|(li, si)| region[*li].segs[*si].text.clone()).collect();
        let first_line = region[names[k].0 .0].no;
        let last_line = region[..end.0.min(region.len())].last().map(|l| l.no).unwrap_or(first_line);
        rows.push(Row {
            cells: vec![names[k].1.clone(), ends.clone(), ends.clone(), ports.join("\n"), usage.join(" ")],
            line: Some(first_line),
            end_line: Some(last_line),
            number: k + 1,
        });
    }
    (NAME_PORTS_HEADER.to_vec(), rows)
}

const FROM_TO_HEADER: [&str; 6] = ["Protocol", "From", "Source port", "To", "Ports", "Usage"];

fn row_start_para(lines: &[&SLine]) -> bool {
    if lines.len() != 1 || !lines[0].text_only() {
        return false;
    }
    let t = lines[0].text();
    let words: Vec<&str> = t.split_whitespace().collect();
    !words.is_empty()
        && words.len() <= 3
        && (crate::proto::parse_proto_cell(&t).variants.iter().all(|v| !v.transports.is_empty())
            || words
                .iter()
                .all(|w| w.chars().any(|c| c.is_alphabetic()) && w.chars().filter(|c| c.is_alphabetic()).all(|c| c.is_uppercase())))
}

fn from_to_rows(region: &[SLine]) -> (Vec<&'static str>, Vec<Row>) {
    // Paragraphs.
    let mut paras: Vec<Vec<&SLine>> = Vec::new();
    for l in region {
        if paras.is_empty() || l.blank_before {
            paras.push(Vec::new());
        }
        paras.last_mut().expect("pushed").push(l);
    }
    let starts: Vec<usize> = (0..paras.len()).filter(|i| row_start_para(&paras[*i])).collect();
    let mut rows = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(paras.len());
        let body = &paras[s + 1..end];
        let proto = paras[s][0].text();
        let mut from: Vec<String> = Vec::new();
        let mut src: Vec<String> = Vec::new();
        let mut to: Vec<String> = Vec::new();
        let mut ports: Vec<String> = Vec::new();
        let mut usage: Vec<String> = Vec::new();
        let mut stage = 0; // 0 from, 1 to, 2 usage
        for p in body {
            let texts: Vec<String> =
                p.iter().flat_map(|l| l.segs.iter().filter(|s| s.kind == Kind::Text).map(|s| s.text.clone())).collect();
            let ps: Vec<String> = p.iter().flat_map(|l| l.segs.iter().filter(|s| s.kind == Kind::Port).map(|s| s.text.clone())).collect();
            match stage {
                0 => {
                    if texts.is_empty() {
                        // A port paragraph before any name: skip it.
                        src.extend(ps);
                        continue;
                    }
                    from = texts;
                    src.extend(ps);
                    stage = 1;
                }
                1 => {
                    if texts.is_empty() {
                        // A port of its own: "(Any TCP port)" after the
                        // initiator is its source port; anything else the
                        // listener's.
                        if ps.iter().all(|x| is_any_port(x)) && src.is_empty() {
                            src.extend(ps);
                        } else {
                            ports.extend(ps);
                        }
                        continue;
                    }
                    to = texts;
                    ports.extend(ps);
                    stage = 2;
                }
                _ => {
                    if texts.is_empty() && usage.is_empty() {
                        ports.extend(ps);
                    } else {
                        usage.extend(texts);
                    }
                }
            }
        }
        let first_line = paras[s][0].no;
        let last_line = paras[..end].last().and_then(|p| p.last()).map(|l| l.no).unwrap_or(first_line);
        rows.push(Row {
            cells: vec![proto, from.join("\n"), src.join("\n"), to.join("\n"), ports.join("\n"), usage.join(" ")],
            line: Some(first_line),
            end_line: Some(last_line),
            number: k + 1,
        });
    }
    (FROM_TO_HEADER.to_vec(), rows)
}

// -------------------------------------------------------- single-space tables

/// Header nouns that end a column name ("FireWall Ports", "Dest-Port",
/// "Network Protocol"): a header line whose words split into such names is
/// the header of a table whose cells are apart by single spaces.
const HEAD_NOUNS: &[&str] = &[
    "port",
    "ports",
    "source-port",
    "dest-port",
    "protocol",
    "protocols",
    "description",
    "device",
    "source",
    "destination",
    "purpose",
    "usage",
    "notes",
    "service",
    "direction",
    "name",
];

/// Splits a header line into column names, each one to three words ending
/// in a header noun; None when the line does not split so.
fn split_header(line: &str) -> Option<Vec<String>> {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.len() < 3 || words.len() > 16 {
        return None;
    }
    let mut cols = Vec::new();
    let mut i = 0;
    while i < words.len() {
        // The shortest name ending in a header noun keeps "Protocol" and
        // "Source" apart; longer names take their qualifiers ("FireWall Ports").
        let len = (1..=3).find(|&n| i + n <= words.len() && HEAD_NOUNS.contains(&words[i + n - 1].to_ascii_lowercase().as_str()))?;
        cols.push(words[i..i + len].join(" "));
        i += len;
    }
    (cols.len() >= 3).then_some(cols)
}

fn is_port_token(w: &str) -> bool {
    let l = w.to_ascii_lowercase();
    let core = l.trim_start_matches(['>', '<']).trim_end_matches(['*', ',']);
    l == "<any>"
        || l == "n/a"
        || (!core.is_empty()
            && core.starts_with(|c: char| c.is_ascii_digit())
            && core.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | '–' | ':')))
}

fn is_proto_token(w: &str) -> bool {
    let t = w.trim_end_matches(',');
    !t.is_empty() && t.split('/').all(|p| matches!(p.to_ascii_uppercase().as_str(), "TCP" | "UDP" | "SCTP" | "ICMP" | "ESP" | "GRE" | "AH"))
}

/// Reads one row of a single-space table: each column takes the words of
/// its kind in order (ports, a protocol, or text up to where the next
/// column's kind begins). End columns of a table without a port column may
/// start with a port ("80 ICM server"), which goes to the port column made
/// beside them.
fn split_row(kinds: &[Option<crate::header::Col>], line: &str) -> Vec<String> {
    use crate::header::Col;
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut cells = vec![String::new(); kinds.len()];
    let mut i = 0;
    let starts = |k: Option<Col>, w: &str| match k {
        Some(Col::Ports | Col::SrcPorts | Col::RemotePorts | Col::LocalPorts) => is_port_token(w),
        Some(Col::Proto) => is_proto_token(w),
        _ => false,
    };
    for (c, k) in kinds.iter().enumerate() {
        let next = kinds.get(c + 1).copied().flatten();
        let mut taken: Vec<&str> = Vec::new();
        match k {
            Some(Col::Ports | Col::SrcPorts | Col::RemotePorts | Col::LocalPorts) => {
                // One port expression: a port, then more only after a separator
                // ("389 / 636", "80, 443"); two ports side by side are two columns.
                if i < words.len() && is_port_token(words[i]) {
                    taken.push(words[i]);
                    i += 1;
                    while i + 1 < words.len() && matches!(words[i], "/" | "," | "and" | "or") && is_port_token(words[i + 1]) {
                        taken.extend([words[i], words[i + 1]]);
                        i += 2;
                    }
                    while taken.last().is_some_and(|w| w.ends_with(',')) && i < words.len() && is_port_token(words[i]) {
                        taken.push(words[i]);
                        i += 1;
                    }
                }
            }
            Some(Col::Proto) => {
                while i < words.len() && (is_proto_token(words[i]) || (!taken.is_empty() && matches!(words[i], "&" | "and" | "/"))) {
                    taken.push(words[i]);
                    i += 1;
                }
                // "TCP (HTTP)": the application in parentheses belongs here.
                if i < words.len() && words[i].starts_with('(') {
                    while i < words.len() {
                        taken.push(words[i]);
                        i += 1;
                        if taken.last().is_some_and(|w| w.ends_with(')')) {
                            break;
                        }
                    }
                }
            }
            _ => {
                let last = c + 1 == kinds.len();
                let next_is_text =
                    !last && !matches!(next, Some(Col::Ports | Col::SrcPorts | Col::RemotePorts | Col::LocalPorts | Col::Proto));
                let mut n = 0;
                while i < words.len() {
                    if !last && !next_is_text && n > 0 && starts(next, words[i]) {
                        break;
                    }
                    // Two text columns side by side: the first takes one word
                    // (with its footnote marks and parentheses).
                    if next_is_text && n > 0 && !words[i].starts_with('(') && !matches!(words[i], "*" | "‡" | "†") {
                        break;
                    }
                    taken.push(words[i]);
                    i += 1;
                    n += 1;
                    if next_is_text && taken.last().is_some_and(|w| w.starts_with('(') && !w.ends_with(')')) {
                        while i < words.len() {
                            taken.push(words[i]);
                            i += 1;
                            if taken.last().is_some_and(|w| w.ends_with(')')) {
                                break;
                            }
                        }
                    }
                }
            }
        }
        cells[c] = taken.join(" ");
    }
    cells
}

/// The header of a single-space table and its mapping. Ends whose cells
/// start with their port ("80 ICM server") get a port column in front.
fn word_header(line: &str) -> Option<(Vec<String>, crate::header::Mapping)> {
    use crate::header::{classify, map_header, Col};
    let header = split_header(line)?;
    if let Some(m) = map_header(&header) {
        return Some((header, m));
    }
    let mut cols: Vec<Option<Col>> = Vec::new();
    let mut names = Vec::new();
    for name in &header {
        match classify(name) {
            Some(Col::From) => {
                names.extend([format!("{name} port"), name.clone()]);
                cols.extend([Some(Col::SrcPorts), Some(Col::From)]);
            }
            Some(Col::To) => {
                names.extend([format!("{name} port"), name.clone()]);
                cols.extend([Some(Col::Ports), Some(Col::To)]);
            }
            other => {
                names.push(name.clone());
                cols.push(other);
            }
        }
    }
    let has = |k: Col| cols.contains(&Some(k));
    (has(Col::Ports) && (has(Col::From) || has(Col::To))).then_some((names, crate::header::Mapping { cols, listener_host: None }))
}

fn word_tables(lines: &[&str], taken: &mut [bool], out: &mut Vec<Table>) {
    for i in 0..lines.len() {
        if taken[i] {
            continue;
        }
        if let Some((header, mapping)) = word_header(lines[i]) {
            read_word_rows(lines, taken, out, i, header, mapping);
        }
    }
}

fn read_word_rows(
    lines: &[&str],
    taken: &mut [bool],
    out: &mut Vec<Table>,
    at: usize,
    header: Vec<String>,
    mapping: crate::header::Mapping,
) {
    let mut rows = Vec::new();
    let mut j = at + 1;
    while j < lines.len() && !taken[j] && !blank(lines[j]) {
        // A row starts with a port or a protocol where its first column wants one.
        let cells = split_row(&mapping.cols, lines[j]);
        rows.push(Row { cells, line: Some(j + 1), end_line: None, number: rows.len() + 1 });
        j += 1;
    }
    if rows.is_empty() {
        return;
    }
    let (title, intro) = caption_above(lines, taken, at);
    for t in taken.iter_mut().take(j).skip(at) {
        *t = true;
    }
    out.push(Table {
        index: 0,
        origin: format!("L{}", at + 1),
        title,
        intro,
        header,
        rows,
        perspective: None,
        how: "single-space columns",
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(l: &str) -> Vec<(Kind, String)> {
        scan_line(l).into_iter().map(|s| (s.kind, s.text)).collect()
    }

    #[test]
    fn scanning_lines() {
        use Kind::*;
        assert_eq!(
            kinds("LDAP OUT TCP   389 Any (TCP) The LDAP connection is used. All"),
            [
                (Text, "LDAP".into()),
                (Dir, "OUT".into()),
                (Port, "TCP 389".into()),
                (Port, "Any (TCP)".into()),
                (Text, "The LDAP connection is used. All".into())
            ]
        );
        assert_eq!(
            kinds("SIP IN/OUT TLS 5063 TLS 5063 Secure SIP"),
            [
                (Text, "SIP".into()),
                (Dir, "IN/OUT".into()),
                (Port, "TLS 5063".into()),
                (Port, "TLS 5063".into()),
                (Text, "Secure SIP".into())
            ]
        );
        assert_eq!(kinds("TCP Port 443, 8080, others"), [(Port, "TCP Port 443, 8080, others".into())]);
        assert_eq!(kinds("(Any TCP/UDP port)"), [(Port, "(Any TCP/UDP port)".into())]);
        assert_eq!(kinds("UDP > 1024*"), [(Port, "UDP > 1024*".into())]);
        assert_eq!(kinds("the TCP connection"), [(Text, "the TCP connection".into())]);
        assert_eq!(
            kinds("RDP TCP 3389 Remote Desktop transactions"),
            [(Text, "RDP".into()), (Port, "TCP 3389".into()), (Text, "Remote Desktop transactions".into())]
        );
    }

    #[test]
    fn splitting_port_columns() {
        let p = |v: &[(&str, usize)]| v.iter().map(|(s, n)| (s.to_string(), *n)).collect::<Vec<_>>();
        let (r, l) = split_ports(&p(&[("TCP 25", 0), ("TCP 465 (SSL)", 0), ("Any (TCP)", 0)])).unwrap();
        assert_eq!((r.len(), l.len()), (2, 1));
        let (r, l) = split_ports(&p(&[("Any (TCP)", 0), ("TCP 21", 1), ("TCP 22", 2)])).unwrap();
        assert_eq!((r.len(), l.len()), (1, 2));
        let (r, l) = split_ports(&p(&[("TCP 1721", 0), ("TCP 1720", 1), ("TCP 1721", 1)])).unwrap();
        assert_eq!((r, l.len()), (vec!["TCP 1721".to_string()], 2));
        let (r, l) = split_ports(&p(&[("UDP 5062", 0), ("TCP 5062", 1), ("UDP 5062", 2), ("TCP 5062", 3)])).unwrap();
        assert_eq!((r.len(), l.len()), (2, 2));
        assert!(split_ports(&p(&[("TCP 1", 0), ("TCP 2", 1), ("TCP 3", 2)])).is_none());
    }

    #[test]
    fn direction_table() {
        let text = "Interaction with the infrastructure\n\nThe following protocols and connections can be used to interact with the customer IT infrastructure.\n\nProtocol Direction\n(From Acme Server Perspective)\nTCP-IP Ports\n(Remote peer)\nTCP-IP Ports\n(Acme Server)\nUsage Applications\nLDAP OUT TCP 389 Any (TCP) Reads users from the customer LDAP server. All\nSMTP\n(SSL/TLS)\nOUT TCP 25\nTCP 465 (SSL)\nAny (TCP) Sends mail. All\n\nSIP\n\nIN/OUT\n\nUDP 5060\n\nUDP 5060\n\nSIP calls\n\nFax\n";
        let d = extract(text, &[]);
        assert_eq!(d.tables.len(), 1, "{:#?}", d.tables);
        let t = &d.tables[0];
        assert_eq!(t.perspective.as_deref(), Some("Acme Server"));
        assert_eq!(t.title, "Interaction with the infrastructure");
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.rows[0].cells[..4], ["LDAP", "OUT", "TCP 389", "Any (TCP)"]);
        assert_eq!(t.rows[1].cells[..4], ["SMTP (SSL/TLS)", "OUT", "TCP 25\nTCP 465 (SSL)", "Any (TCP)"]);
        assert_eq!(t.rows[2].cells[..4], ["SIP", "IN/OUT", "UDP 5060", "UDP 5060"]);
    }

    #[test]
    fn tab_table_with_caption() {
        let text = "Table 1 Ports\n\nFrom (Sender)\tTo (Listener)\tDestination Port\tPurpose\nA\tB\t5701 (TCP)\tcache\n\n\nA\tB\t22 (TCP)\tssh\nNot a table line\n";
        let d = extract(text, &[]);
        assert_eq!(d.tables.len(), 1);
        assert_eq!(d.tables[0].title, "Table 1 Ports");
        assert_eq!(d.tables[0].rows.len(), 2);
        assert_eq!(d.tables[0].rows[1].line, Some(7));
    }

    #[test]
    fn aligned_table() {
        let text = "Firewall ports\n\nSource        Destination     Port     Protocol   Purpose\nSystem        System          (dest)\nWeb client    Web server      443      TCP        browsing\nAdmin         Web server      22       TCP        shell access\n              (jump host)\n\nThe end of the document comes here with a long sentence of prose.\n";
        let d = extract(text, &[]);
        assert_eq!(d.tables.len(), 1, "{:#?}", d.tables);
        let t = &d.tables[0];
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.rows[1].cells, ["Admin", "Web server", "22", "TCP", "shell access"]);
        assert_eq!(t.rows[2].cells[1], "(jump host)");
    }
}
