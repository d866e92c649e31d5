//! Tables → draft: rows become flows from initiator to listener, names
//! become roles, "(C)" and "maximum number of zones" become parameters,
//! redundancy and optional columns become features, and everything that
//! could not be read with confidence becomes a review item.

use indexmap::IndexMap;
use portmatrix_model::Proto;

use crate::doc::{mentions_port, squeeze, Document, Row, Table};
use crate::header::{map_header, Col, Mapping};
use crate::peer;
use crate::ports::{item_expr, parse_cell, Cell, Group, Item};
use crate::proto::{parse_proto_cell, strip_parens, ProtoCell};
use crate::roles::{read_ends, role_id, End, Ends, Roles};

/// A flow of the draft.
#[derive(Debug, Clone, Default)]
pub struct FlowDraft {
    pub id: String,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub proto: Vec<Proto>,
    pub ports: Option<String>,
    pub src_ports: Option<String>,
    pub icmp: bool,
    pub app: Option<String>,
    pub tls: Option<bool>,
    pub when: Option<String>,
    pub purpose: String,
    pub cite: String,
    pub notes: Vec<String>,
    pub review: Vec<String>,
    /// Label for the id.
    label: String,
    /// The first port as the document writes it, for the id.
    first_port: String,
}

#[derive(Debug, Clone, Default)]
pub struct ParamDraft {
    pub default: Option<i64>,
    pub min: Option<i64>,
    pub configurable: bool,
    pub about: String,
}

#[derive(Debug, Clone, Default)]
pub struct FeatureDraft {
    pub default: bool,
    pub about: String,
}

/// Something a person must check: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub at: String,
    pub text: String,
}

/// What the importer did with one table.
#[derive(Debug, Clone)]
pub struct TableReport {
    /// The table's number in the document.
    pub index: usize,
    pub label: String,
    pub origin: String,
    pub how: &'static str,
    /// The column mapping chosen, or None for a table without port column.
    pub mapping: Option<String>,
    pub rows: usize,
    pub flows: usize,
    pub reviews: usize,
}

/// The draft before it is written.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub matrix: String,
    pub title: String,
    pub document: String,
    pub roles: Roles,
    pub params: IndexMap<String, ParamDraft>,
    pub features: IndexMap<String, FeatureDraft>,
    pub flows: Vec<FlowDraft>,
    pub review: Vec<Review>,
    pub tables: Vec<TableReport>,
    /// The role standing for the system the document describes, and why.
    pub self_role: Option<(String, String)>,
}

/// Options of a build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub matrix: String,
    pub title: Option<String>,
    pub document: String,
    /// Name of the system the document describes, for tables that leave
    /// one end out ("inbound traffic to the VM").
    pub self_name: Option<String>,
}

fn snake(s: &str) -> String {
    let id = role_id(s).replace('-', "_");
    if id.starts_with(|c: char| c.is_ascii_lowercase()) {
        id
    } else {
        format!("p_{id}")
    }
}

struct Builder {
    d: Draft,
    self_id: Option<String>,
    self_names: Vec<String>,
    /// Review items already made (kept unique in linear time).
    reviewed: std::collections::HashSet<(String, String)>,
    /// Footnote legends of the document ("‡ only when the feature is configured").
    footnotes: Vec<(char, String)>,
}

/// Direction words: (initiated by the system, initiated by the peer).
fn direction(s: &str) -> Option<(bool, bool)> {
    let t = s.trim().to_ascii_uppercase().replace(' ', "");
    match t.as_str() {
        "IN" | "INBOUND" | "INCOMING" | "INGRESS" | "<-" | "←" => Some((false, true)),
        "OUT" | "OUTBOUND" | "OUTGOING" | "EGRESS" | "->" | "→" => Some((true, false)),
        "IN/OUT"
        | "OUT/IN"
        | "IN-OUT"
        | "BOTH"
        | "BIDIRECTIONAL"
        | "BI-DIRECTIONAL"
        | "<->"
        | "↔"
        | "<=>"
        | "⇔"
        | "⇄"
        | "IN&OUT"
        | "INOUT"
        | "TWO-WAY"
        | "OUTGOINGANDINCOMING"
        | "INCOMINGANDOUTGOING"
        | "INBOUNDANDOUTBOUND"
        | "OUTBOUNDANDINBOUND"
        | "INBOUND/OUTBOUND"
        | "OUTBOUND/INBOUND" => Some((true, true)),
        _ => None,
    }
}

fn yes(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "x" | "true" | "required" | "mandatory" | "✓" | "✔" => Some(true),
        "no" | "n" | "-" | "false" | "not required" | "optional" => Some(false),
        _ => None,
    }
}

impl Builder {
    fn review(&mut self, at: &str, text: impl Into<String>) {
        let r = Review { at: at.to_string(), text: text.into() };
        if self.reviewed.insert((r.at.clone(), r.text.clone())) {
            self.d.review.push(r);
        }
    }

    /// The role for an endpoint; None for `any`.
    fn role(&mut self, e: &End) -> String {
        match e {
            End::Any => "any".into(),
            End::Named { base, wording } => {
                if let Some(s) = &self.self_id {
                    if self.self_names.iter().any(|n| crate::roles::singular_key(&role_id(n)) == crate::roles::singular_key(&role_id(base)))
                    {
                        let s = s.clone();
                        self.d.roles.alias(&s, wording);
                        return s;
                    }
                }
                self.d.roles.intern(base, wording)
            }
        }
    }

    fn self_is_placeholder(&self) -> bool {
        self.d.self_role.as_ref().is_some_and(|(_, why)| why.ends_with("a placeholder"))
    }

    fn self_role(&mut self) -> String {
        if let Some(s) = &self.self_id {
            return s.clone();
        }
        let name = self.self_names.first().cloned().unwrap_or_else(|| "server".into());
        let id = self.d.roles.intern(&name, &name);
        self.self_id = Some(id.clone());
        id
    }

    fn add_self_name(&mut self, name: &str) {
        let name = squeeze(name);
        if name.is_empty() {
            return;
        }
        if !self.self_names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            self.self_names.push(name.clone());
        }
        if let Some(s) = self.self_id.clone() {
            self.d.roles.alias(&s, &name);
        }
    }

    fn param(&mut self, base: &str, default: Option<i64>, configurable: bool, about: String) -> String {
        let stem = snake(base);
        // Reuse a parameter of the same stem and default.
        for k in 1..100 {
            let name = if k == 1 { stem.clone() } else { format!("{stem}_{k}") };
            match self.d.params.get(&name) {
                Some(p) if p.default == default && default.is_some() => return name,
                Some(_) => continue,
                None => {
                    self.d.params.insert(name.clone(), ParamDraft { default, min: None, configurable, about });
                    return name;
                }
            }
        }
        stem
    }

    /// A port expression for items; configurable and unknown ports become
    /// parameters named after the listener.
    fn expr(&mut self, items: &[(Item, bool)], listener: &str, at: &str, review: &mut Vec<String>) -> String {
        let mut parts = Vec::new();
        for (item, configurable) in items {
            let s = match item {
                Item::Port(p) if *configurable => self.param(
                    &format!("{listener}_port"),
                    Some(i64::from(*p)),
                    true,
                    format!("port marked configurable, (C), in the document; default {p} ({at})"),
                ),
                Item::PerUnit { base, param, label } => {
                    let name = snake(param);
                    if !self.d.params.contains_key(&name) {
                        self.d.params.insert(
                            name.clone(),
                            ParamDraft {
                                default: Some(1),
                                min: Some(1),
                                configurable: false,
                                about: format!("the document's \"{label}\"; one port per unit from the base port ({at})"),
                            },
                        );
                        self.review(
                            at,
                            format!(
                                "parameter `{name}` (\"{label}\") has default 1, so only the base port {base} opens; set the real number"
                            ),
                        );
                    }
                    if *configurable {
                        review.push(format!("the base port {base} is marked configurable (C); it is kept fixed"));
                    }
                    format!("{base}+{name}")
                }
                Item::Unknown(w) => {
                    let name =
                        self.param(&format!("{listener}_port"), None, false, format!("port the document leaves open (\"{w}\", {at})"));
                    review.push(format!("the port is written `{w}`: the document does not give it; parameter `{name}` has no default"));
                    name
                }
                other => item_expr(other),
            };
            parts.push(s);
        }
        parts.join(",")
    }

    fn src_expr(&mut self, cell: &Cell, review: &mut Vec<String>) -> Option<String> {
        if let Some(e) = &cell.error {
            review.push(format!("source ports not read ({e})"));
            return None;
        }
        let items: Vec<(Item, bool)> = cell.items().cloned().collect();
        if items.is_empty() || items.iter().any(|(i, _)| *i == Item::Any) {
            return None;
        }
        if items.iter().any(|(i, _)| matches!(i, Item::Unknown(_) | Item::PerUnit { .. })) {
            review.push("source ports left out: they depend on a value the document leaves open".into());
            return None;
        }
        Some(items.iter().map(|(i, _)| item_expr(i)).collect::<Vec<_>>().join(","))
    }
}

fn reads_as_ports(text: &str) -> bool {
    let c = parse_cell(text);
    c.error.is_none() && !c.groups.is_empty()
}

/// A row whose first cells were merged with the row above and lost in the
/// export is shifted one cell left (its last cell empty, its port cell one
/// column early): it is put back, the first cell taken from the row above.
fn shift_right_if_cut(r: &mut Row, prev: &Row, m: &Mapping, width: usize) {
    let Some(p) = m.find(Col::Ports) else { return };
    if width < 3 || p == 0 || r.cells.len() != width || !r.cells[width - 1].trim().is_empty() {
        return;
    }
    if reads_as_ports(&r.cells[p]) || !reads_as_ports(&r.cells[p - 1]) {
        return;
    }
    r.cells.pop();
    r.cells.insert(0, prev.cell(0).to_string());
}

/// A row with its own ports and protocol whose end cells are empty repeats
/// the ends of the row above (a merged cell spread down). True when filled.
fn fill_down(r: &mut Row, prev: &Row, m: &Mapping) -> bool {
    let (Some(p), Some(q)) = (m.find(Col::Ports), m.find(Col::Proto)) else { return false };
    if !reads_as_ports(r.cell(p)) || r.cell(q).trim().is_empty() {
        return false;
    }
    let mut filled = false;
    for c in [Col::From, Col::To] {
        if let Some(i) = m.find(c) {
            if r.cell(i).trim().is_empty() && !prev.cell(i).trim().is_empty() {
                while r.cells.len() <= i {
                    r.cells.push(String::new());
                }
                r.cells[i] = prev.cell(i).to_string();
                filled = true;
            }
        }
    }
    filled
}

/// Rows that continue the row above (a wrapped cell, a second port line)
/// are merged into it; rows that hold a single note are dropped.
fn merge_rows(t: &Table, m: &Mapping, notes: &mut Vec<(Row, String)>) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    let ncols = t.header.len().max(t.rows.iter().map(|r| r.cells.len()).max().unwrap_or(0));
    let idx = |c: Col| m.find(c);
    let width = t.header.len();
    for r in &t.rows {
        // Cells beyond the header belong to its last column.
        let mut r = r.clone();
        if width > 0 && r.cells.len() > width {
            let extra: Vec<String> = r.cells.drain(width..).filter(|c| !c.trim().is_empty()).collect();
            if !extra.is_empty() {
                let last = &mut r.cells[width - 1];
                let joined = extra.join(" ");
                *last = if last.trim().is_empty() { joined } else { format!("{last} {joined}") };
            }
        }
        if let Some(prev) = out.last() {
            shift_right_if_cut(&mut r, prev, m, width);
            if fill_down(&mut r, prev, m) {
                out.push(r);
                continue;
            }
        }
        let r = &r;
        let filled: Vec<usize> = (0..r.cells.len()).filter(|i| !r.cells[*i].trim().is_empty()).collect();
        if filled.is_empty() {
            continue;
        }
        let col_of = |i: usize| m.cols.get(i).copied().flatten();
        let empty = |c: Col| idx(c).is_none_or(|i| r.cell(i).trim().is_empty());
        // A single cell in a wide table that is not a purpose: a note line.
        if filled.len() == 1 && ncols >= 3 && col_of(filled[0]) != Some(Col::Purpose) && !m.has(Col::Direction) {
            let text = squeeze(r.cell(filled[0]));
            if text.len() > 25 || !text.chars().any(|c| c.is_ascii_digit()) || empty(Col::From) && empty(Col::To) && !out.is_empty() {
                notes.push((r.clone(), text));
                continue;
            }
        }
        let from = idx(Col::From).map(|i| r.cell(i).trim()).unwrap_or("");
        let cont = !out.is_empty()
            && !m.has(Col::Direction)
            && if m.has(Col::To) {
                empty(Col::To) && (from.is_empty() || from.starts_with('('))
            } else if m.has(Col::From) {
                empty(Col::From) && empty(Col::Ports)
            } else {
                false
            };
        if cont {
            let prev = out.last_mut().expect("checked");
            for (i, c) in r.cells.iter().enumerate() {
                let c = c.trim();
                if c.is_empty() {
                    continue;
                }
                while prev.cells.len() <= i {
                    prev.cells.push(String::new());
                }
                let sep = match col_of(i) {
                    Some(Col::Ports | Col::SrcPorts | Col::RemotePorts | Col::LocalPorts) => "\n",
                    _ => " ",
                };
                if prev.cells[i].is_empty() {
                    prev.cells[i] = c.to_string();
                } else {
                    prev.cells[i] = format!("{}{sep}{c}", prev.cells[i]);
                }
            }
            prev.end_line = r.end_line.or(r.line).or(prev.end_line);
            continue;
        }
        out.push(r.clone());
    }
    out
}

/// The name the document gives most often as a listener in tables that
/// name both ends: taken for the system a one-ended table talks about.
fn guess_self(tables: &[(Table, Mapping)]) -> Option<(String, String)> {
    let mut count: IndexMap<String, (String, usize, usize)> = IndexMap::new();
    for (t, m) in tables {
        let (Some(_), Some(to)) = (m.find(Col::From), m.find(Col::To)) else {
            continue;
        };
        let mut seen_here: Vec<String> = Vec::new();
        for r in &t.rows {
            for e in read_ends(r.cell(to)).ends {
                if let End::Named { base, .. } = e {
                    let id = role_id(&base);
                    let entry = count.entry(id.clone()).or_insert((base.clone(), 0, 0));
                    entry.2 += 1;
                    if !seen_here.contains(&id) {
                        entry.1 += 1;
                        seen_here.push(id);
                    }
                }
            }
        }
    }
    let best = count.values().max_by_key(|(_, tables, rows)| (*tables, *rows))?;
    Some((best.0.clone(), format!("the listener named in most tables ({} tables, {} rows)", best.1, best.2)))
}

/// Builds the draft from a document.
pub fn build(doc: &Document, opts: &BuildOptions) -> Draft {
    let mut b = Builder {
        d: Draft {
            matrix: opts.matrix.clone(),
            title: opts.title.clone().or_else(|| doc.title.clone()).unwrap_or_else(|| opts.matrix.clone()),
            document: opts.document.clone(),
            ..Draft::default()
        },
        self_id: None,
        self_names: Vec::new(),
        reviewed: Default::default(),
        footnotes: crate::hints::footnotes(doc.prose.iter().map(|p| p.text.as_str())),
    };
    let mut mapped: Vec<(Table, Mapping)> = Vec::new();
    for t in &doc.tables {
        let rewritten = crate::shapes::arrow_header(t);
        let t = rewritten.as_ref().unwrap_or(t);
        match map_header(&t.header) {
            Some(mut m) if !t.rows.is_empty() => {
                m.listener_host = process_host(t, &mut m);
                mapped.push((t.clone(), m))
            }
            _ => b.d.tables.push(TableReport {
                index: t.index,
                label: t.label(),
                origin: t.origin.clone(),
                how: t.how,
                mapping: None,
                rows: t.rows.len(),
                flows: 0,
                reviews: 0,
            }),
        }
    }
    // Who "the system" is, for one-ended and direction tables.
    let needs_self = mapped.iter().any(|(_, m)| !(m.has(Col::From) && m.has(Col::To)));
    if let Some(s) = &opts.self_name {
        b.add_self_name(s);
        b.d.self_role = Some((s.clone(), "given with --self".into()));
    } else if let Some(p) = mapped.iter().find_map(|(t, _)| t.perspective.clone()) {
        b.add_self_name(&p);
        b.d.self_role = Some((p.clone(), "the perspective the direction columns take".into()));
    } else if needs_self {
        match guess_self(&mapped) {
            Some((name, why)) => {
                b.add_self_name(&name);
                b.d.self_role = Some((name, why));
            }
            None => match crate::peer::system_of_document(doc) {
                Some(name) => {
                    b.add_self_name(&name);
                    b.d.self_role = Some((name, "the system the document's headings and prose name most".into()));
                }
                None => {
                    b.add_self_name("server");
                    b.d.self_role = Some(("server".into(), "no table names it; a placeholder".into()));
                }
            },
        }
    }
    if needs_self {
        let id = b.self_role();
        if let Some((name, why)) = b.d.self_role.clone() {
            b.review(
                "tables without an initiator or listener column",
                format!("the missing end is taken as `{id}` (\"{name}\": {why}); use --self to name it"),
            );
        }
    }
    for (t, m) in &mapped {
        if let Some(p) = &t.perspective {
            b.add_self_name(p);
        }
        let before_flows = b.d.flows.len();
        let before_reviews = b.d.review.len();
        let mut notes = Vec::new();
        let rows = merge_rows(t, m, &mut notes);
        for (r, text) in notes {
            if mentions_port(&text) {
                b.review(&format!("{}, {}", t.label(), r.place()), format!("a line in the table that is not a row: \"{text}\""));
            }
        }
        let returns = return_rows(&rows, m);
        for (r, back_of) in rows.iter().zip(&returns) {
            match back_of {
                Some(j) => b.review(
                    &format!("{}, row {} ({})", t.label(), r.number, r.place()),
                    format!(
                        "the row mirrors row {} with dynamic ports as its destination: the return traffic of that connection, which a stateful firewall allows; no flow made",
                        rows[*j].number
                    ),
                ),
                None => table_row(&mut b, t, m, r),
            }
        }
        let flows = b.d.flows.len() - before_flows;
        let reviews = b.d.review.len() - before_reviews + b.d.flows[before_flows..].iter().map(|f| f.review.len()).sum::<usize>();
        b.d.tables.push(TableReport {
            index: t.index,
            label: t.label(),
            origin: t.origin.clone(),
            how: t.how,
            mapping: Some(m.describe(&t.header)),
            rows: rows.len(),
            flows,
            reviews,
        });
    }
    let read_lines = prose_flows(&mut b, doc);
    for w in &doc.warnings {
        b.review(&w.at, w.text.clone());
    }
    for s in doc.strays.iter().filter(|s| !read_lines.contains(&s.line)) {
        let at = if s.line > 0 { format!("L{}", s.line) } else { "text".to_string() };
        b.review(
            &format!("{at}, outside any table"),
            format!("mentions a port but was not read as a flow: \"{}\"", truncate(&s.text, 200)),
        );
    }
    b.d.tables.sort_by_key(|t| t.index);
    finish(&mut b);
    b.d
}

/// The system a heading names ("Using UFW on the BigBlueButton server" →
/// "BigBlueButton server"), if it names one.
fn heading_system(heading: &str) -> Option<String> {
    let doc = Document { title: Some(heading.to_string()), ..Document::default() };
    peer::system_named(&doc)
}

/// Rows that state the return traffic of another row of the table: ends
/// swapped, the other row's listener port as source port and dynamic ports
/// (`>1023`, `1024-65535`) as destination ("80 ICM server >1023 Agent PC"
/// after ">1023 Agent PC 80 ICM server"). For each row, the row it mirrors.
fn return_rows(rows: &[Row], m: &Mapping) -> Vec<Option<usize>> {
    let (Some(from), Some(to), Some(ports), Some(src)) = (m.find(Col::From), m.find(Col::To), m.find(Col::Ports), m.find(Col::SrcPorts))
    else {
        return vec![None; rows.len()];
    };
    let key = |r: &Row, i: usize| squeeze(r.cell(i)).to_lowercase();
    let dynamic = |text: &str| {
        let c = parse_cell(text);
        c.error.is_none()
            && c.items().count() > 0
            && c.items().all(|(i, _)| matches!(i, Item::Range(lo, 65535) if *lo >= 1024 && *lo <= 49152))
    };
    rows.iter()
        .map(|r| {
            if !dynamic(r.cell(ports)) || dynamic(r.cell(src)) {
                return None;
            }
            rows.iter().position(|o| {
                key(o, from) == key(r, to)
                    && key(o, to) == key(r, from)
                    && key(o, ports) == key(r, src)
                    && dynamic(o.cell(src))
                    && !dynamic(o.cell(ports))
            })
        })
        .collect()
}

/// "25 or 587", "500/UDP, or 4500 UDP": `or` before a number (not "TCP or UDP").
fn port_alternatives(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let toks: Vec<&str> = lower.split(|c: char| c.is_whitespace() || c == ',' || c == ';').filter(|t| !t.is_empty()).collect();
    toks.windows(2).any(|w| w[0] == "or" && w[1].starts_with(|c: char| c.is_ascii_digit()))
}

/// A heading that could name a party: short, without a number and without
/// the words of a topic ("Force media traffic through port 443" is about
/// a port, not a party that connects).
fn heading_names_a_party(heading: &str) -> bool {
    let words: Vec<String> =
        heading.split_whitespace().map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_ascii_lowercase()).collect();
    let topic = ["port", "ports", "traffic", "firewall", "rules", "requirements"];
    let number = |w: &String| !w.is_empty() && w.chars().all(|c| c.is_ascii_digit() || c == '-');
    words.len() <= 6 && !words.iter().any(|w| number(w) || topic.contains(&w.as_str()))
}

/// Flows stated in prose, lists and firewall commands; returns the lines read.
fn prose_flows(b: &mut Builder, doc: &Document) -> Vec<usize> {
    let found = crate::prose::flows(doc);
    if found.is_empty() {
        return Vec::new();
    }
    if b.self_names.is_empty() {
        if let Some(name) = peer::system_of_document(doc) {
            b.add_self_name(&name);
            b.d.self_role = Some((name, "the system the document's headings and prose name most".into()));
        }
    }
    let mut lines = Vec::new();
    for pf in found {
        let at = if pf.line > 0 { format!("L{}, outside any table", pf.line) } else { "text outside any table".to_string() };
        lines.push(pf.line);
        let (heading, inbound) = crate::prose::section_of(doc, pf.line);
        let system = heading_system(&heading);
        let mut review = vec![format!("read from prose ({}); check the ends and the ports against the document", pf.how)];
        let to = match (&pf.to, &system) {
            (Some(t), _) => read_ends(t).ends.first().map(|e| b.role(e)),
            (None, Some(s)) => Some(b.role(&End::Named { base: s.clone(), wording: s.clone() })),
            (None, None) => Some(b.self_role()),
        };
        let from = match &pf.from {
            Some(f) => read_ends(f).ends.first().map(|e| b.role(e)),
            // A section headed by another party, about inbound traffic: that party connects.
            None if system.is_none()
                && inbound == Some(true)
                && !heading.is_empty()
                && !heading.contains('?')
                && heading_names_a_party(&heading) =>
            {
                read_ends(&heading).ends.first().map(|e| b.role(e))
            }
            None => {
                review.push("the text names no initiator: `any` is used".into());
                Some("any".to_string())
            }
        };
        let (Some(from), Some(to)) = (from, to) else {
            b.review(&at, format!("ports read from \"{}\" but its ends are not named; no flow made", truncate(&pf.purpose, 120)));
            continue;
        };
        if pf.protos.is_empty() {
            b.review(&at, format!("no transport protocol stated for \"{}\"; no flow made", truncate(&pf.purpose, 120)));
            continue;
        }
        let when = pf.condition.as_ref().map(|c| {
            let f = crate::roles::feature_id(c);
            b.d.features
                .entry(f.clone())
                .or_insert(FeatureDraft { default: false, about: format!("the document says \"only if {c}\" ({at})") });
            f
        });
        let ctx = RowCtx { at: &at, purpose: &pf.purpose, name: "", proto: &ProtoCell::default(), when, review };
        let cell = Cell {
            groups: vec![Group {
                protos: pf.protos.clone(),
                items: pf.items.iter().map(|i| (i.clone(), false)).collect(),
                ..Group::default()
            }],
            ..Cell::default()
        };
        emit(b, &ctx, vec![from], vec![to], &cell, &Cell::default(), &pf.purpose, "");
    }
    lines
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

fn table_row(b: &mut Builder, t: &Table, m: &Mapping, r: &Row) {
    let cell = |c: Col| m.find(c).map(|i| r.cell(i).trim().to_string()).unwrap_or_default();
    let at = format!("{}, row {} ({})", t.label(), r.number, r.place());
    let purposes: Vec<String> = m.all(Col::Purpose).into_iter().map(|i| squeeze(r.cell(i))).filter(|s| !s.is_empty()).collect();
    let proto_text = cell(Col::Proto);
    let name = {
        let n = cell(Col::Name);
        if n.is_empty() && m.has(Col::Direction) {
            proto_text.clone()
        } else {
            n
        }
    };
    let purpose = if purposes.is_empty() { squeeze(&name) } else { purposes.join(" ") };
    let proto = parse_proto_cell(&proto_text);
    // Features from required/optional columns.
    let mut when: Option<String> = None;
    if let (Some(nr), Some(rd)) = (m.find(Col::NonRedundant), m.find(Col::Redundant)) {
        match (yes(r.cell(nr)), yes(r.cell(rd))) {
            (Some(false), Some(true)) => {
                b.d.features.entry("redundant".into()).or_insert(FeatureDraft {
                    default: false,
                    about: format!("a redundant installation: rows the document requires only for redundant systems ({})", t.label()),
                });
                when = Some("redundant".into());
            }
            (Some(false), Some(false)) => b.review(&at, "the row is marked required neither for redundant nor for non-redundant systems"),
            _ => {}
        }
    }
    if let Some(o) = m.find(Col::Optional) {
        let header = t.header.get(o).map(|h| squeeze(h)).unwrap_or_default();
        let optional = header.to_lowercase().contains("optional") || header.to_lowercase().contains("enabled");
        if let Some(v) = yes(r.cell(o)) {
            let is_optional = if optional { v } else { !v };
            if is_optional {
                let open = m.find(Col::PortState).is_some_and(|s| r.cell(s).trim().eq_ignore_ascii_case("open"));
                let to_name =
                    read_ends(&cell(Col::To)).ends.into_iter().find_map(
                        |e| {
                            if let End::Named { base, .. } = e {
                                Some(base)
                            } else {
                                None
                            }
                        },
                    );
                let fname = format!("opt-{}", role_id(to_name.as_deref().unwrap_or(&name)));
                let fname: String = fname.chars().take(60).collect::<String>().trim_end_matches('-').to_string();
                b.d.features.entry(fname.clone()).or_insert(FeatureDraft {
                    default: open,
                    about: format!(
                        "flows the document marks as optional (column '{header}'){}",
                        if open { "; default state Open" } else { "" }
                    ),
                });
                when = Some(match when {
                    Some(w) => format!("{w} && {fname}"),
                    None => fname,
                });
            }
        }
    }

    if when.is_none() {
        when = row_condition(b, r, &name, &purpose, &at);
    }

    let direction_table = m.has(Col::Direction) && !(m.has(Col::From) && m.has(Col::To));
    if direction_table {
        let dir_text = cell(Col::Direction);
        // "Nagios server > Monitored host": the cell names both ends.
        if let Some((a, c)) = crate::prose::arrow(&dir_text) {
            let mut row_review = Vec::new();
            let from = ends_or_any(b, &a, "initiator", &mut row_review);
            let to = ends_or_any(b, &c, "listener", &mut row_review);
            let ports_text =
                [Col::Ports, Col::RemotePorts, Col::LocalPorts].into_iter().map(cell).find(|c| !c.is_empty()).unwrap_or_default();
            let ctx = RowCtx { at: &at, purpose: &purpose, name: &name, proto: &proto, when: when.clone(), review: row_review };
            emit(b, &ctx, from, to, &parse_cell(&ports_text), &Cell::default(), &ports_text, "");
            return;
        }
        let Some((out, inn)) = direction(&dir_text) else {
            b.review(&at, format!("direction `{dir_text}` not understood; no flow made"));
            return;
        };
        let self_id = b.self_role();
        // The peer: a named column, else the section's prose.
        let named = if m.has(Col::From) { cell(Col::From) } else { cell(Col::To) };
        let mut row_review: Vec<String> = Vec::new();
        let peers: Vec<End> =
            if !named.is_empty() { read_ends(&named).ends } else { peers_from_prose(b, t, &name, &purpose, &at, &mut row_review) };
        if peers.is_empty() {
            b.review(&at, "the remote peer is not named; no flow made");
            return;
        }
        let remote_text = cell(Col::RemotePorts);
        let local_text = cell(Col::LocalPorts);
        if local_text == "?" {
            b.review(
                &at,
                format!("cannot tell which of the ports `{}` are the peer's and which the system's; no flow made", squeeze(&remote_text)),
            );
            return;
        }
        let remote = parse_cell(&remote_text);
        let local = parse_cell(&local_text);
        let peer_ids: Vec<String> = peers.iter().map(|e| b.role(e)).collect();
        let ctx = RowCtx { at: &at, purpose: &purpose, name: &name, proto: &proto, when: when.clone(), review: row_review };
        if out {
            emit(b, &ctx, vec![self_id.clone()], peer_ids.clone(), &remote, &local, &remote_text, "OUT");
        }
        if inn {
            emit(b, &ctx, peer_ids, vec![self_id], &local, &remote, &local_text, "IN");
        }
        return;
    }

    let mut row_review: Vec<String> = Vec::new();
    let inbound_section = {
        let t = t.title.trim().to_ascii_lowercase();
        matches!(t.as_str(), "inbound" | "incoming" | "ingress") || t.starts_with("inbound ") || t.ends_with(" inbound")
    };
    let (from, to) = if !m.has(Col::From) && !m.has(Col::To) {
        neither_end(b, t, &purpose, &mut row_review)
    } else if !m.has(Col::From) && inbound_section {
        // An "Inbound" table names the parties that connect to the system.
        (ends_or_any(b, &cell(Col::To), "initiator", &mut row_review), vec![b.self_role()])
    } else {
        let from = if m.has(Col::From) {
            ends_or_any(b, &cell(Col::From), "initiator", &mut row_review)
        } else if let Some(subject) = section_initiator(t) {
            row_review.push(format!("the initiator is read from the section: \"{subject}\" connects; check it"));
            read_ends(&subject).ends.iter().map(|e| b.role(e)).collect()
        } else if let Some(party) = crate::hints::initiator_in_text(&purpose) {
            row_review.push(format!("the initiator is read from the row's text: traffic \"from {party}\"; check it"));
            read_ends(&party).ends.iter().map(|e| b.role(e)).collect()
        } else if b.self_is_placeholder() {
            // A listener column alone, and no system named anywhere: the
            // table lists what its components accept, from anyone.
            row_review.push("the table names no initiator: `any` is used; name the parties that connect".into());
            vec!["any".into()]
        } else {
            vec![b.self_role()]
        };
        let to = if let Some(host) = &m.listener_host {
            row_review.push(format!(
                "the listener is the host the section names (\"{host}\"); the row's component is a process on it: check the host"
            ));
            read_ends(host).ends.iter().map(|e| b.role(e)).collect()
        } else if m.has(Col::To) {
            ends_or_any(b, &cell(Col::To), "listener", &mut row_review)
        } else {
            vec![b.self_role()]
        };
        (from, to)
    };
    if to == ["any"] && m.has(Col::To) && cell(Col::To).trim().is_empty() {
        b.review(&at, "the listener is not named; no flow made");
        return;
    }
    let ports_text = cell(Col::Ports);
    if port_alternatives(&ports_text) {
        row_review.push(format!(
            "the port cell offers alternatives (\"{}\"): every port is opened; if the document means one or the other, make exclusive features",
            squeeze(&ports_text)
        ));
    }
    let ports = parse_cell(&ports_text);
    let src = parse_cell(&cell(Col::SrcPorts));
    if is_return_traffic(&purpose) {
        b.review(
            &at,
            "the row states the return traffic of a connection (\"response\"); a stateful firewall allows it, so no flow is made",
        );
        return;
    }
    let ctx = RowCtx { at: &at, purpose: &purpose, name: &name, proto: &proto, when, review: row_review };
    // A direction column beside source and destination columns: arrows
    // and "bidirectional" are clear, IN/OUT relative to an unnamed side not.
    if m.has(Col::Direction) {
        let d = cell(Col::Direction);
        let arrow_back = matches!(d.trim(), "<-" | "←" | "<--");
        match direction(&d) {
            Some((true, true)) => {
                emit(b, &ctx, from.clone(), to.clone(), &ports, &src, &ports_text, "");
                let mut back = RowCtx { review: ctx.review.clone(), when: ctx.when.clone(), ..ctx };
                back.review.push(format!("direction `{}`: the listener also initiates to the same ports", squeeze(&d)));
                emit(b, &back, to, from, &ports, &src, &ports_text, "reverse");
                return;
            }
            Some((false, true)) if arrow_back => {
                emit(b, &ctx, to, from, &ports, &src, &ports_text, "");
                return;
            }
            Some(_) if !arrow_back && !matches!(d.trim(), "->" | "→" | "-->") => {
                let mut ctx = ctx;
                ctx.review.push(format!(
                    "direction `{}` is relative to a side the table does not name; the flow follows the source and destination columns",
                    squeeze(&d)
                ));
                emit(b, &ctx, from, to, &ports, &src, &ports_text, "");
                return;
            }
            _ => {}
        }
    }
    emit(b, &ctx, from, to, &ports, &src, &ports_text, "");
}

/// Ends of a table with neither an initiator nor a listener column: the
/// two sides its section names ("between the Entra Connect server and the
/// on-premises AD"), in the order written; else anyone to the system the
/// document describes.
fn neither_end(b: &mut Builder, t: &Table, purpose: &str, review: &mut Vec<String>) -> (Vec<String>, Vec<String>) {
    // The title may be the first line of the sentence the intro ends.
    let joined = format!("{} {}", t.title, t.intro);
    for text in [t.intro.as_str(), joined.as_str(), t.title.as_str()] {
        if let Some((x, y)) = peer::between(text) {
            let (xs, ys) = (read_ends(&x).ends, read_ends(&y).ends);
            if let (Some(a), Some(c)) = (xs.first(), ys.first()) {
                review.push(format!("the ends are read from the section: \"{x}\" connects to \"{y}\"; check the direction"));
                return (vec![b.role(a)], vec![b.role(c)]);
            }
        }
    }
    if let Some(subject) = section_initiator(t) {
        review.push(format!("the initiator is read from the section: \"{subject}\" connects; check it"));
        let from: Vec<String> = read_ends(&subject).ends.iter().map(|e| b.role(e)).collect();
        if !from.is_empty() {
            return (from, vec![b.self_role()]);
        }
    }
    // "Lets in SSH traffic from the SSH proxy": the row names its initiator.
    if let Some(party) = crate::hints::initiator_in_text(purpose) {
        let from: Vec<String> = read_ends(&party).ends.iter().map(|e| b.role(e)).collect();
        if !from.is_empty() {
            review.push(format!("the initiator is read from the row's text: traffic \"from {party}\"; check it"));
            return (from, vec![b.self_role()]);
        }
    }
    review.push("the table names no initiator: `any` is used; name the parties that connect".into());
    (vec!["any".into()], vec![b.self_role()])
}

/// A condition a row's cells state in words ("Optional (HA)", "Only when
/// HEC is enabled", "(Optional) Needed if you want to ...", "TCP and UDP
/// (optional)"): a feature, off by default, and a review item.
fn row_condition(b: &mut Builder, r: &Row, name: &str, purpose: &str, at: &str) -> Option<String> {
    // A footnote mark in a cell whose legend states a condition, else the cells' own words.
    let marked = b.footnotes.iter().find(|(mark, _)| r.cells.iter().any(|c| c.contains(*mark)));
    let from_note = marked.and_then(|(mark, text)| {
        crate::hints::condition_in_text(text)
            .map(|(f, w)| (if crate::hints::generic(&f) { String::new() } else { f }, format!("{mark} {w}")))
    });
    let (feature, words) = from_note.or_else(|| r.cells.iter().find_map(|c| crate::hints::condition_in_text(c)))?;
    let stem = if feature.is_empty() {
        let base = if name.trim().is_empty() { purpose } else { name };
        format!("opt-{}", role_id(&base.split_whitespace().take(4).collect::<Vec<_>>().join(" ")))
    } else {
        crate::roles::feature_id(&feature)
    };
    let id: String = stem.chars().take(60).collect::<String>().trim_end_matches('-').to_string();
    if id.is_empty() || id == "opt" {
        return None;
    }
    b.d.features.entry(id.clone()).or_insert(FeatureDraft { default: false, about: format!("the document says \"{words}\" ({at})") });
    b.review(
        at,
        format!(
            "the row applies only under a condition (\"{words}\"): its flows need feature `{id}`; check the feature's name and default"
        ),
    );
    Some(id)
}

/// A listener column that names processes, not hosts: another column of
/// the table gives each row's executable ("Services\\ServerAgent\\ServerAgent.exe")
/// and the section heading names one host ("CE Core Server Rules"). The
/// listener column becomes the row's name and the host its listener.
fn process_host(t: &Table, m: &mut Mapping) -> Option<String> {
    let to = m.find(Col::To)?;
    let host = peer::host_of_heading(&t.title)?;
    let is_path = |c: &str| {
        let c = c.trim().to_ascii_lowercase();
        (c.contains('\\') || c.contains('/')) && [".exe", ".dll", ".jar", ".bin", ".sh"].iter().any(|e| c.ends_with(e))
    };
    let path_col = (0..t.header.len()).filter(|&i| m.cols.get(i).is_some_and(Option::is_none)).any(|i| {
        let filled: Vec<&str> = t.rows.iter().map(|r| r.cell(i)).filter(|c| !c.trim().is_empty()).collect();
        !filled.is_empty() && filled.iter().filter(|c| is_path(c)).count() * 2 > filled.len()
    });
    if !path_col {
        return None;
    }
    m.cols[to] = if m.has(Col::Name) { Some(Col::Purpose) } else { Some(Col::Name) };
    Some(host)
}

/// The party the text introducing a table says opens the connections
/// ("the end devices must be able to connect outbound on the following
/// ports"); the title may be the first line of the sentence the intro ends.
fn section_initiator(t: &Table) -> Option<String> {
    let joined = format!("{} {}", t.title, t.intro);
    let found = [t.intro.as_str(), joined.as_str(), t.title.as_str()].into_iter().find_map(peer::connecting_subject);
    found.filter(|s| !read_ends(s).ends.is_empty())
}

/// "Response to above", "return traffic", "reply": no connection of its own.
fn is_return_traffic(purpose: &str) -> bool {
    let l = purpose.trim().to_ascii_lowercase();
    l.starts_with("response to") || l.starts_with("reply to") || l.starts_with("return traffic") || l == "response" || l == "reply"
}

fn ends_or_any(b: &mut Builder, text: &str, what: &str, review: &mut Vec<String>) -> Vec<String> {
    let Ends { ends, conditions, incomplete } = read_ends(text);
    for c in conditions {
        review.push(format!("the {what} cell adds a condition: \"{c}\"; consider a feature and `when:`"));
    }
    if incomplete {
        review.push(format!("the {what} list ends with \"etc.\": it may name more parties"));
    }
    if ends.is_empty() {
        review.push(format!("the {what} is not named; `any` is used"));
        return vec!["any".into()];
    }
    let alternatives = crate::roles::alternatives(text);
    if !alternatives.is_empty() {
        let listed = alternatives.join("\" or \"");
        // Addresses and DNS names are hosts of their own: each is kept.
        let addresses = alternatives.iter().any(|a| crate::roles::fqdn_of(a).is_some() || a.starts_with(|c: char| c.is_ascii_digit()));
        if what == "listener" && !addresses {
            // "Indexers or heavy forwarders": the service runs on one of
            // them; one role stands for whichever the site uses.
            let base = squeeze(&alternatives.join(" or "));
            review.push(format!(
                "the listener cell names alternatives (\"{listed}\"): one role stands for whichever runs the service; give it those hosts, or split it into exclusive features"
            ));
            return vec![b.role(&End::Named { base, wording: squeeze(text) })];
        }
        review.push(format!(
            "the {what} cell names alternatives (\"{listed}\"): each of them is allowed; if the document means one or the other, make exclusive features"
        ));
    }
    let mut ids: Vec<String> = Vec::new();
    for e in &ends {
        let id = b.role(e);
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// The peer of a direction-table row named only in prose.
fn peers_from_prose(b: &mut Builder, t: &Table, name: &str, purpose: &str, at: &str, review: &mut Vec<String>) -> Vec<End> {
    let selfs = b.self_names.clone();
    // "between X and Y" in the row.
    if let Some((x, y)) = peer::between(purpose) {
        if let Some((mine, other)) = peer::pick_self(&x, &y, &selfs) {
            b.add_self_name(&strip_parens(&mine));
            review.push(format!("the peer \"{other}\" is read from the row's description"));
            return read_ends(&other).ends;
        }
    }
    let (section, vague) = peer::section_peers(&t.title, &t.intro, &selfs);
    if vague || section.is_empty() {
        if let Some((_, full)) = peer::owner_phrase(purpose) {
            review.push(format!("the peer \"{full}\" is read from the row's description"));
            return read_ends(&full)
                .ends
                .into_iter()
                .map(|e| match e {
                    End::Named { base, wording } => End::Named { base: strip_owner(&base), wording },
                    other => other,
                })
                .collect();
        }
        let base = strip_parens(name);
        if !base.is_empty() {
            let n = format!("{base} server");
            review.push(format!("the document does not name the peer; \"{n}\" is made up from the protocol"));
            return vec![End::Named { base: n.clone(), wording: n }];
        }
        let _ = at;
        return Vec::new();
    }
    if section.len() > 1 {
        // Rows that name some of the section's peers concern only those.
        let lower = format!("{} {}", purpose.to_lowercase(), name.to_lowercase());
        let named: Vec<End> = section
            .iter()
            .filter(|e| match e {
                End::Named { base, .. } => lower.contains(&base.to_lowercase()),
                End::Any => false,
            })
            .cloned()
            .collect();
        if !named.is_empty() {
            return named;
        }
    }
    section
}

fn strip_owner(s: &str) -> String {
    let mut words: Vec<&str> = s.split_whitespace().collect();
    if words.len() > 1
        && ["customer", "customer's", "customers", "company", "company's", "client's", "enterprise"]
            .contains(&words[0].to_lowercase().as_str())
    {
        words.remove(0);
    }
    words.join(" ")
}

struct RowCtx<'a> {
    at: &'a str,
    purpose: &'a str,
    name: &'a str,
    proto: &'a ProtoCell,
    when: Option<String>,
    review: Vec<String>,
}

/// One flow per protocol group of the port cell.
#[allow(clippy::too_many_arguments)]
fn emit(b: &mut Builder, ctx: &RowCtx, from: Vec<String>, to: Vec<String>, ports: &Cell, src: &Cell, ports_text: &str, half: &str) {
    let at = if half.is_empty() { ctx.at.to_string() } else { format!("{}, {half}", ctx.at) };
    let icmp_row = ctx.proto.transports().iter().any(|p| matches!(p, Proto::Icmp | Proto::Icmpv6));
    if let Some(e) = &ports.error {
        if !icmp_row {
            b.review(&at, format!("ports `{}` not read ({e}); no flow made", truncate(&squeeze(ports_text), 160)));
            return;
        }
    }
    let want_icmp = ports.icmp || (icmp_row && ports.groups.is_empty());
    let listener = to.first().cloned().unwrap_or_default();
    let mut groups: Vec<Group> = ports.groups.clone();
    let mut review = ctx.review.clone();
    let mut notes: Vec<String> = Vec::new();
    if ports.others {
        review.push("the port list goes on (\"others\", \"etc.\"): ports the document does not name are missing".into());
    }
    if ports.footnote {
        review.push("a port carries a footnote mark (*): read the footnote".into());
    }
    if let Some(c) = &ports.clause {
        review.push(format!("the port cell adds \"{c}\": a condition or a limit to check"));
    }
    for h in &ports.hosts {
        review.push(format!(
            "the port cell names the host `{h}`: the flow goes to that host (a multicast group or an outside service is an end of its own)"
        ));
    }
    if !ports.notes.is_empty() {
        notes.push(format!("the port cell says ({})", ports.notes.join("; ")));
    }
    // "80/443" with "HTTP/HTTPS": one flow per pair.
    let single_group_plain = groups.len() == 1 && groups[0].protos.is_empty();
    let mut paired: Vec<(Group, Option<String>, Option<bool>)> = Vec::new();
    if let Some(vars) = ctx.proto.pairable() {
        if single_group_plain && groups[0].items.len() == vars.len() && groups[0].items.iter().all(|(i, _)| matches!(i, Item::Port(_))) {
            for (k, v) in vars.iter().enumerate() {
                let g = Group { protos: v.transports.clone(), items: vec![groups[0].items[k].clone()], ..Group::default() };
                paired.push((g, v.app.clone(), v.tls));
            }
            notes.push(format!(
                "\"{}\" with \"{}\" read pairwise",
                squeeze(ports_text),
                ctx.proto.variants.iter().map(|v| v.name.as_str()).collect::<Vec<_>>().join("/")
            ));
        }
    }
    if paired.is_empty() {
        let transports = ctx.proto.transports();
        for g in groups.iter_mut() {
            if g.protos.is_empty() {
                g.protos = transports.clone();
            }
        }
        // Merge groups that share transports and TLS marking.
        let mut merged: Vec<Group> = Vec::new();
        for g in groups {
            match merged.iter_mut().find(|m| m.protos == g.protos && m.tls == g.tls && m.qualifier == g.qualifier) {
                Some(m) => {
                    for it in g.items {
                        if !m.items.contains(&it) {
                            m.items.push(it);
                        }
                    }
                }
                None => merged.push(g),
            }
        }
        // The same ports over several transports stay one flow.
        let mut by_ports: Vec<Group> = Vec::new();
        for g in merged {
            match by_ports.iter_mut().find(|m| m.items == g.items && m.tls == g.tls && m.qualifier == g.qualifier) {
                Some(m) => {
                    for p in g.protos {
                        if !m.protos.contains(&p) {
                            m.protos.push(p);
                        }
                    }
                }
                None => by_ports.push(g),
            }
        }
        let app = ctx.proto.app();
        let tls = ctx.proto.tls();
        paired = by_ports.into_iter().map(|g| (g, app.clone(), tls)).collect();
    }
    if paired.is_empty() && !want_icmp {
        if ports.error.is_none() {
            b.review(&at, "no port given; no flow made");
        }
        return;
    }
    let src_expr = b.src_expr(src, &mut review);
    let from_label = from.first().cloned().unwrap_or_default();
    let label = if ctx.name.is_empty() { format!("{from_label}-to-{listener}") } else { ctx.name.to_string() };
    let label = if half.is_empty() { label } else { format!("{label} {}", half.to_ascii_lowercase()) };
    for (g, app, tls) in paired {
        let protos: Vec<Proto> = g.protos.iter().copied().filter(|p| p.has_ports()).collect();
        if protos.is_empty() {
            b.review(
                &at,
                format!(
                    "no transport protocol stated for ports `{}`; no flow made",
                    g.items.iter().map(|(i, _)| item_expr(i)).collect::<Vec<_>>().join(",")
                ),
            );
            continue;
        }
        let mut fr = review.clone();
        let expr = b.expr(&g.items, &listener, &at, &mut fr);
        let tls = if g.tls { Some(true) } else { tls };
        let app = match (&g.qualifier, app) {
            (Some(q), None) => Some(q.clone()),
            (_, a) => a,
        };
        b.d.flows.push(FlowDraft {
            from: from.clone(),
            to: to.clone(),
            proto: protos,
            ports: Some(expr),
            src_ports: src_expr.clone(),
            app,
            tls,
            when: ctx.when.clone(),
            purpose: ctx.purpose.to_string(),
            cite: at.clone(),
            notes: notes.clone(),
            review: fr,
            label: label.clone(),
            first_port: g.items.first().map(|(i, _)| item_expr(i)).unwrap_or_default(),
            ..FlowDraft::default()
        });
    }
    if want_icmp {
        let mut fr = review.clone();
        fr.push("ICMP without types: add `icmp: [echo-request]` or the types the document means".into());
        b.d.flows.push(FlowDraft {
            from: from.clone(),
            to: to.clone(),
            proto: vec![Proto::Icmp],
            icmp: true,
            when: ctx.when.clone(),
            purpose: ctx.purpose.to_string(),
            cite: at.clone(),
            review: fr,
            label: format!("{label}-icmp"),
            ..FlowDraft::default()
        });
    }
}

fn finish(b: &mut Builder) {
    // Identical flows stated twice become one flow citing both places
    // (found by key, so that 300,000 rows stay linear).
    type Key = (Vec<String>, Vec<String>, Vec<Proto>, Option<String>, Option<String>, Option<String>, bool);
    let mut out: Vec<FlowDraft> = Vec::new();
    let mut index: std::collections::HashMap<Key, usize> = std::collections::HashMap::new();
    for f in std::mem::take(&mut b.d.flows) {
        let key: Key = (f.from.clone(), f.to.clone(), f.proto.clone(), f.ports.clone(), f.src_ports.clone(), f.when.clone(), f.icmp);
        match index.get(&key) {
            Some(&i) => {
                let g = &mut out[i];
                g.cite = format!("{}; {}", g.cite, f.cite);
                for r in f.review {
                    if !g.review.contains(&r) {
                        g.review.push(r);
                    }
                }
                if g.purpose != f.purpose && !f.purpose.is_empty() && !g.purpose.contains(&f.purpose) {
                    g.purpose = format!("{} / {}", g.purpose, f.purpose);
                }
            }
            None => {
                index.insert(key, out.len());
                out.push(f);
            }
        }
    }
    // Ids: the row's label and first port.
    let mut used: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut next: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for f in out.iter_mut() {
        let port = if f.icmp { "icmp".to_string() } else { f.first_port.split('+').next().unwrap_or("").to_string() };
        let base = role_id(&format!("{} {}", f.label, port));
        let base = if base.starts_with("role-") { format!("flow-{port}") } else { base };
        let base: String = base.chars().take(60).collect::<String>().trim_end_matches('-').to_string();
        let base = if base.is_empty() { "flow".to_string() } else { base };
        // The next suffix to try per base keeps this linear.
        let k = next.entry(base.clone()).or_insert(2);
        let mut id = base.clone();
        while used.contains(&id) {
            id = format!("{base}-{k}");
            *k += 1;
        }
        used.insert(id.clone());
        f.id = id;
    }
    for f in &out {
        for r in f.from.iter().chain(&f.to) {
            if let Some(role) = b.d.roles.roles.get_mut(r) {
                role.uses += 1;
            }
        }
    }
    b.d.flows = out;
    // Browsers, the Internet, cloud services, users: outside the product.
    let mut marked = Vec::new();
    for (id, role) in b.d.roles.roles.iter_mut() {
        let names = std::iter::once(&role.title).chain(&role.aliases);
        if let Some(word) = names.filter_map(|n| crate::roles::outside_word(n)).next() {
            role.external = Some(word.clone());
            marked.push((id.clone(), word));
        }
    }
    for (id, word) in marked {
        b.review(
            &format!("role `{id}`"),
            format!("`{id}` is marked external (its name says \"{word}\"): no host of a deployment stands for it; remove `external` if the product runs it"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::{Document, Row, Table};

    #[test]
    fn direction_words() {
        assert_eq!(direction("IN"), Some((false, true)));
        assert_eq!(direction("OUT"), Some((true, false)));
        for w in ["IN/OUT", "OUT/IN", "both", "Bidirectional", "Bi-Directional", "Outgoing and incoming", "Inbound/Outbound", "<->", "⇄"]
        {
            assert_eq!(direction(w), Some((true, true)), "{w}");
        }
        assert_eq!(direction("inbound"), Some((false, true)));
        assert_eq!(direction("sideways"), None);
    }

    fn table(header: &[&str], rows: &[&[&str]]) -> Table {
        Table {
            index: 1,
            origin: "L1".into(),
            title: "Ports".into(),
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: rows
                .iter()
                .enumerate()
                .map(|(i, r)| Row { cells: r.iter().map(|s| s.to_string()).collect(), line: Some(i + 2), end_line: None, number: i + 1 })
                .collect(),
            how: "test",
            ..Table::default()
        }
    }

    fn build1(t: Table, self_name: Option<&str>) -> Draft {
        let doc = Document { tables: vec![t], ..Document::default() };
        build(
            &doc,
            &BuildOptions {
                matrix: "t".into(),
                document: "t.txt".into(),
                self_name: self_name.map(str::to_string),
                ..BuildOptions::default()
            },
        )
    }

    #[test]
    fn direction_column_with_a_named_peer() {
        // A direction column beside a peer column, from the server's side.
        let t = table(
            &["Remote system", "Direction", "Remote port", "Local port", "Protocol"],
            &[
                &["LDAP server", "OUT", "389", "Any", "TCP"],
                &["Clients", "IN", "Any", "443", "TCP"],
                &["Cluster peer", "IN/OUT", "7800", "7800", "TCP"],
            ],
        );
        let d = build1(t, Some("App server"));
        let f: Vec<(String, String, String)> =
            d.flows.iter().map(|f| (f.from.join(","), f.to.join(","), f.ports.clone().unwrap_or_default())).collect();
        assert_eq!(
            f,
            [
                ("app-server".into(), "ldap-server".into(), "389".into()),
                ("clients".into(), "app-server".into(), "443".into()),
                ("app-server".into(), "cluster-peer".into(), "7800".into()),
                ("cluster-peer".into(), "app-server".into(), "7800".into()),
            ]
        );
        assert!(d.flows[2].id.contains("out") && d.flows[3].id.contains("in"));
    }

    #[test]
    fn redundancy_and_optional_columns_become_features() {
        let t = table(
            &["Source", "Destination", "Port", "Protocol", "Required for Non-Redundant Systems", "Required for Redundant Systems"],
            &[&["LB", "LB", "2224", "TCP", "No", "Yes"], &["LB", "Chat", "3000", "TCP", "Yes", "Yes"]],
        );
        let d = build1(t, None);
        assert_eq!(d.flows[0].when.as_deref(), Some("redundant"));
        assert_eq!(d.flows[1].when, None);
        assert!(!d.features["redundant"].default);
        let t = table(
            &["Source", "Destination", "Port", "Protocol", "Optionally Enabled / Disabled?", "Default Port State"],
            &[&["A", "Cache", "6999", "TLS", "Yes", "Open"], &["A", "B", "1", "TCP", "No", "Open"]],
        );
        let d = build1(t, None);
        assert_eq!(d.flows[0].when.as_deref(), Some("opt-cache"));
        assert!(d.features["opt-cache"].default, "default state Open");
        assert_eq!(d.flows[0].tls, Some(true));
        assert_eq!(d.flows[1].when, None);
    }

    #[test]
    fn never_a_port_from_an_unreadable_cell() {
        let t = table(
            &["Source", "Destination", "Port", "Protocol"],
            &[&["A", "B", "Depends upon the customer (e.g. 8080)", "TCP"], &["A", "B", "nnn", "TCP"], &["A", "B", "443", ""]],
        );
        let d = build1(t, None);
        // The prose cell makes no flow; "nnn" makes a parameter without default;
        // a port without protocol makes no flow.
        assert_eq!(d.flows.len(), 1);
        assert_eq!(d.flows[0].ports.as_deref(), Some("b_port"));
        assert_eq!(d.params["b_port"].default, None);
        assert!(d.review.iter().any(|r| r.text.contains("Depends upon")));
        assert!(d.review.iter().any(|r| r.text.contains("no transport protocol")));
    }

    #[test]
    fn bidirectional_rows_between_named_ends() {
        let t = table(
            &["Source", "Destination", "Direction", "Port", "Protocol"],
            &[
                &["Node A", "Node B", "Bidirectional", "7800", "TCP"],
                &["Node A", "Node B", "<-", "22", "TCP"],
                &["Node A", "Node B", "OUT", "80", "TCP"],
            ],
        );
        let d = build1(t, None);
        let f: Vec<(String, String, String)> =
            d.flows.iter().map(|f| (f.from.join(","), f.to.join(","), f.ports.clone().unwrap_or_default())).collect();
        assert_eq!(
            f,
            [
                ("node-a".into(), "node-b".into(), "7800".into()),
                ("node-b".into(), "node-a".into(), "7800".into()),
                ("node-b".into(), "node-a".into(), "22".into()),
                ("node-a".into(), "node-b".into(), "80".into()),
            ]
        );
        assert!(d.flows[3].review.iter().any(|r| r.contains("relative")));
    }

    #[test]
    fn the_section_names_the_initiator_of_a_listener_only_table() {
        let mut t =
            table(&["Protocol", "Target port", "Targets"], &[&["TCP", "443", "all networks"], &["UDP", "53", "Customer DNS server"]]);
        t.title = "To talk to the telephone system, the end devices must be able to connect".into();
        t.intro = "outbound on the following ports:".into();
        let d = build1(t.clone(), None);
        let ends: Vec<_> = d.flows.iter().map(|f| (f.from.join(","), f.to.join(","))).collect();
        assert_eq!(ends, [("end-devices".to_string(), "any".to_string()), ("end-devices".into(), "customer-dns-server".into())]);
        assert!(d.flows.iter().all(|f| f.review.iter().any(|r| r.contains("read from the section"))));
        // Without such a sentence the initiator stays `any`, under review.
        t.title = "Ports".into();
        t.intro.clear();
        let d = build1(t, None);
        assert!(d.flows.iter().all(|f| f.from == ["any"] && f.review.iter().any(|r| r.contains("names no initiator"))));
    }

    #[test]
    fn a_component_column_of_processes_runs_on_the_host_the_heading_names() {
        let mut t = table(
            &["Component", "File Path", "Ports", "Source"],
            &[
                &["Server Agent", "Services\\ServerAgent\\ServerAgent.exe", "TCP 9998", "Server"],
                &["Naming Service", "Services\\NamingService\\Naming.exe", "TCP 9999", "Server, Client"],
            ],
        );
        t.title = "CE Core Server Rules".into();
        let d = build1(t.clone(), None);
        assert!(d.flows.iter().all(|f| f.to == ["ce-core-server"]), "{:?}", d.flows);
        assert_eq!(d.flows[1].from, ["server", "client"]);
        assert!(d.flows[0].purpose.contains("Server Agent"), "{}", d.flows[0].purpose);
        // Without executables the component column is the listener.
        for r in &mut t.rows {
            r.cells[1] = "see the manual".into();
        }
        let d = build1(t.clone(), None);
        assert_eq!(d.flows[0].to, ["server-agent"]);
        // Nor without a heading naming a host.
        t.title = "Firewall rules".into();
        t.rows[0].cells[1] = "Services\\ServerAgent\\ServerAgent.exe".into();
        t.rows[1].cells[1] = "Services\\NamingService\\Naming.exe".into();
        assert_eq!(build1(t, None).flows[0].to, ["server-agent"]);
    }

    #[test]
    fn alternatives_in_an_end_cell_are_never_taken_silently() {
        let t = table(
            &["Port", "Protocol", "Component", "Used By"],
            &[
                &["8088", "TCP", "Indexers or heavy forwarders (HTTP Event Collector)", "Applications or log sources"],
                &["443", "TCP", "dockerhub.example.com or registry.example.net", "Stack"],
                &["9997", "TCP", "Indexers", "Forwarders"],
            ],
        );
        let d = build1(t, None);
        // A listener offered as alternatives is one role, under review.
        assert_eq!(d.flows[0].to, ["indexers-or-heavy-forwarders"]);
        assert!(d.flows[0].review.iter().any(|r| r.contains("listener cell names alternatives")), "{:?}", d.flows[0].review);
        // Initiators offered as alternatives are each allowed, under review.
        assert_eq!(d.flows[0].from, ["applications", "log-sources"]);
        assert!(d.flows[0].review.iter().any(|r| r.contains("initiator cell names alternatives")));
        // DNS names stay hosts of their own, under review.
        assert_eq!(d.flows[1].to.len(), 2, "{:?}", d.flows[1].to);
        assert!(d.flows[1].review.iter().any(|r| r.contains("alternatives")));
        assert!(d.flows[2].review.is_empty(), "{:?}", d.flows[2].review);
    }

    #[test]
    fn a_heading_about_a_port_names_no_party() {
        assert!(heading_names_a_party("Monitoring server"));
        assert!(heading_names_a_party("Remote agents"));
        assert!(heading_names_a_party("3CX clients, SBCs and bridges"));
        assert!(!heading_names_a_party("Force media traffic through port 443"));
        assert!(!heading_names_a_party("Firewall rules"));
        assert!(!heading_names_a_party("What the server needs from the clients of the cluster"));
    }

    #[test]
    fn rows_that_mirror_another_with_dynamic_ports_are_return_traffic() {
        let header = ["Source port", "Source", "Destination port", "Destination", "Protocol", "Purpose"];
        let t = table(
            &header,
            &[
                &[">1023", "Agent PC", "80", "ICM server", "TCP", "Download"],
                &["80", "ICM server", ">1023", "Agent PC", "TCP", "Download"],
                &[">1023", "ICM server", "8103", "AgentRouter", "TCP", "Routing"],
                &["8103", "AgentRouter", "1024-65535", "ICM server", "TCP", "Routing"],
                // Not mirrored: a different port, or no dynamic destination.
                &["9000", "AgentRouter", "1024-65535", "ICM server", "TCP", "Callbacks"],
                &["80", "ICM server", "8080", "Agent PC", "TCP", "Push"],
            ],
        );
        let d = build1(t, None);
        let got: Vec<_> = d.flows.iter().map(|f| (f.from.join(","), f.to.join(","), f.ports.clone().unwrap_or_default())).collect();
        assert_eq!(
            got,
            [
                ("agent-pc".to_string(), "icm-server".to_string(), "80".to_string()),
                ("icm-server".into(), "agentrouter".into(), "8103".into()),
                ("agentrouter".into(), "icm-server".into(), "1024-65535".into()),
                ("icm-server".into(), "agent-pc".into(), "8080".into()),
            ]
        );
        assert_eq!(d.review.iter().filter(|r| r.text.contains("mirrors row")).count(), 2);
    }

    #[test]
    fn ports_offered_as_alternatives_are_under_review() {
        assert!(port_alternatives("25 or 587"));
        assert!(port_alternatives("500/UDP, 2746/UDP (gateways only), or 4500 UDP."));
        assert!(!port_alternatives("5060 / 5061 (TCP or UDP)"));
        assert!(!port_alternatives("80, 443"));
        let t =
            table(&["Source", "Destination", "Port", "Protocol"], &[&["App", "Mail", "25 or 587", "TCP"], &["App", "Web", "443", "TCP"]]);
        let d = build1(t, None);
        assert!(d.flows[0].review.iter().any(|r| r.contains("offers alternatives")), "{:?}", d.flows[0].review);
        assert!(d.flows[1].review.is_empty());
    }
}
