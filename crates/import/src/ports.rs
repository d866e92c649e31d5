//! Port cells as vendors write them: `5060`, `80, 443`, `30000-34999`,
//! `5701 - 5801`, `1000 to 2000`, `5060 / 5061 (TCP or UDP)`, `UDP 137`,
//! `TCP 25` and `TCP 465 (SSL)` on two lines of one cell, `7999 (C)`,
//! `Any (TCP)`, `UDP > 1024*`, `9995 – maximum number of zones`,
//! `TCP nnn`, `ICMP messages`.
//!
//! A cell is read completely or not at all: any word the parser does not
//! know makes the whole cell unreadable, so prose that happens to contain
//! numbers ("for example 9325 is assigned for ...") never becomes a port.

use portmatrix_model::Proto;

/// One element of a port list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Port(u16),
    /// Inclusive range.
    Range(u16, u16),
    /// One port per unit of a number the deployment sets, from `base` on:
    /// "9995 – maximum number of zones".
    PerUnit {
        base: u16,
        param: String,
        label: String,
    },
    /// Every port.
    Any,
    /// A placeholder the document leaves open: "nnn", "xxx".
    Unknown(String),
}

/// Items that share their protocols and qualifiers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    /// Transports the cell names for these items; empty when it names none.
    pub protos: Vec<Proto>,
    /// Items, each with its "(C)" (configurable) mark.
    pub items: Vec<(Item, bool)>,
    /// The cell marks these items as TLS/SSL ("TLS 5063", "TCP 465 (SSL)").
    pub tls: bool,
    /// The qualifying words in parentheses, as written ("SSL", "SSL/TLS").
    pub qualifier: Option<String>,
    /// 0-based line of the cell the group starts on.
    pub line: usize,
}

/// A parsed port cell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cell {
    pub groups: Vec<Group>,
    /// The cell names ICMP (which has no ports).
    pub icmp: bool,
    /// The list goes on unnamed: "443, 8080, others", "etc.".
    pub others: bool,
    /// A footnote mark (`*`) follows a port.
    pub footnote: bool,
    /// Items were separated by `/` only (candidates for pairing with
    /// `HTTP/HTTPS` in the protocol column).
    pub slash_list: bool,
    /// Why the cell could not be read; then `groups` is empty.
    pub error: Option<String>,
    /// Words in parentheses that qualify the ports without changing them
    /// ("(HTTPS)", "(Random high RPC Port)"), as written.
    pub notes: Vec<String>,
    /// A clause after the ports ("for the default instance", "if HEC is
    /// enabled"): the ports stand, the clause is for a person to read.
    pub clause: Option<String>,
    /// Hosts written with a port ("webmeeting.3cx.net:443",
    /// "239.1.2.3:5004"): the port is read, the host is an end to review.
    pub hosts: Vec<String>,
}

impl Cell {
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && !self.icmp && self.error.is_none()
    }
    /// Every item, in order.
    pub fn items(&self) -> impl Iterator<Item = &(Item, bool)> {
        self.groups.iter().flat_map(|g| g.items.iter())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(u64),
    Word(String),
    Sym(char),
    Newline,
}

fn tokenize(text: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            out.push(Tok::Newline);
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            // A number glued to letters ("20645YesNo", "3rd") is a word.
            if i < chars.len() && chars[i].is_alphabetic() {
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.') {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
                continue;
            }
            let digits: String = chars[start..i].iter().collect();
            out.push(Tok::Num(digits.parse::<u64>().unwrap_or(u64::MAX)));
        } else if c.is_alphabetic() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric()
                    || chars[i] == '_'
                    || chars[i] == '\''
                    || (chars[i] == '.' && i + 1 < chars.len() && chars[i + 1].is_alphanumeric()))
            {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
        } else {
            let c = match c {
                '–' | '—' | '‒' | '−' | '‑' | '~' => '-',
                '；' => ';',
                '，' => ',',
                other => other,
            };
            out.push(Tok::Sym(c));
            i += 1;
        }
    }
    out
}

/// Transport named by a word: TCP, UDP, SCTP, ICMP; TLS and SSL mean TCP with TLS.
fn proto_word(w: &str) -> Option<(Option<Proto>, bool)> {
    match w.to_ascii_uppercase().as_str() {
        "TCP" => Some((Some(Proto::Tcp), false)),
        "UDP" => Some((Some(Proto::Udp), false)),
        "SCTP" => Some((Some(Proto::Sctp), false)),
        "ICMP" => Some((Some(Proto::Icmp), false)),
        "ICMPV6" => Some((Some(Proto::Icmpv6), false)),
        "TLS" | "SSL" => Some((Some(Proto::Tcp), true)),
        _ => None,
    }
}

fn is_placeholder(w: &str) -> bool {
    let l = w.to_ascii_lowercase();
    (l.len() >= 2 && (l.chars().all(|c| c == 'n') || l.chars().all(|c| c == 'x'))) || matches!(l.as_str(), "tbd" | "tba")
}

/// Words that may stand in a port cell without changing its meaning.
fn is_filler(w: &str) -> bool {
    matches!(
        w.to_ascii_lowercase().as_str(),
        "port"
            | "ports"
            | "range"
            | "portrange"
            | "default"
            | "only"
            | "and"
            | "or"
            | "configurable"
            | "dynamic"
            | "ephemeral"
            | "inbound"
            | "outbound"
            | "messages"
            | "message"
    )
}

fn port_of(n: u64) -> Result<u16, String> {
    u16::try_from(n).map_err(|_| format!("{n} is not a port (0-65535)"))
}

struct Parser {
    toks: Vec<Tok>,
    i: usize,
    cell: Cell,
    /// Group being filled.
    cur: Group,
    /// Items of `cur` that came after its protocols were set by a prefix
    /// ("TCP 25"); a postfix "(UDP)" applies only to items without one.
    prefixed: bool,
    line: usize,
    separators: Vec<char>,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }
    fn peek_at(&self, k: usize) -> Option<&Tok> {
        self.toks.get(self.i + k)
    }
    fn flush(&mut self) {
        if !self.cur.items.is_empty() {
            let g = std::mem::take(&mut self.cur);
            self.cell.groups.push(g);
        }
        self.cur = Group { line: self.line, ..Group::default() };
        self.prefixed = false;
    }
    fn push_item(&mut self, item: Item) {
        if self.cur.items.is_empty() {
            self.cur.line = self.line;
        }
        self.cur.items.push((item, false));
    }

    /// Reads `TCP`, `TCP/UDP`, `TCP or UDP`, `TCP + UDP` from the current token.
    fn proto_list(&mut self) -> Option<(Vec<Proto>, bool)> {
        let mut protos = Vec::new();
        let mut tls = false;
        let mut j = self.i;
        while let Some(Tok::Word(w)) = self.toks.get(j) {
            let Some((p, t)) = proto_word(w) else { break };
            if let Some(p) = p {
                if !protos.contains(&p) {
                    protos.push(p);
                }
            }
            tls |= t;
            j += 1;
            // A separator followed by another protocol word continues the list.
            let sep = match self.toks.get(j) {
                Some(Tok::Sym('/' | ',' | '+' | '&')) => 1,
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("or") || w.eq_ignore_ascii_case("and") => 1,
                _ => 0,
            };
            if sep == 1 && matches!(self.toks.get(j + 1), Some(Tok::Word(w)) if proto_word(w).is_some()) {
                j += 1;
            } else {
                break;
            }
        }
        if j == self.i {
            return None;
        }
        self.i = j;
        Some((protos, tls))
    }

    /// Words after `9995 –`: "maximum number of zones" → (zones, label).
    fn per_unit_words(&mut self) -> Option<(String, String)> {
        let mut words = Vec::new();
        let mut j = self.i;
        while let Some(Tok::Word(w)) = self.toks.get(j) {
            if proto_word(w).is_some() {
                break;
            }
            words.push(w.clone());
            j += 1;
        }
        let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
        let pos = lower.iter().position(|w| w == "number" || w == "count")?;
        let rest: Vec<&String> = lower[pos + 1..].iter().filter(|w| *w != "of" && *w != "the").collect();
        if rest.is_empty() || rest.len() > 3 {
            return None;
        }
        let param: String = rest.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("_");
        let param: String = param.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        if !param.starts_with(|c: char| c.is_ascii_lowercase()) {
            return None;
        }
        self.i = j;
        Some((param, words.join(" ")))
    }

    /// Content of a parenthesis starting at `(`; returns false when the
    /// content is not understood.
    fn paren(&mut self) -> Result<(), String> {
        // Find the matching `)` on the same logical cell.
        let start = self.i + 1;
        let mut depth = 1;
        let mut j = start;
        while j < self.toks.len() {
            match &self.toks[j] {
                Tok::Sym('(') => depth += 1,
                Tok::Sym(')') => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        let inner: Vec<Tok> = self.toks[start..j.min(self.toks.len())].iter().filter(|t| **t != Tok::Newline).cloned().collect();
        self.i = (j + 1).min(self.toks.len());
        let words: Vec<String> =
            inner.iter().filter_map(|t| if let Tok::Word(w) = t { Some(w.to_ascii_uppercase()) } else { None }).collect();
        let nums = inner.iter().any(|t| matches!(t, Tok::Num(_)));
        // (C): configurable.
        if words == ["C"] && !nums {
            if let Some(last) = self.cur.items.last_mut() {
                last.1 = true;
            } else if let Some(last) = self.cell.groups.last_mut().and_then(|g| g.items.last_mut()) {
                last.1 = true;
            }
            return Ok(());
        }
        if words.is_empty() && !nums {
            return Ok(());
        }
        // (range), (default) and the like.
        if !nums && words.iter().all(|w| is_filler(w)) {
            return Ok(());
        }
        // (TCP), (TCP or UDP), (SSL), (SSL/TLS): protocols of the items before.
        if !nums && words.iter().all(|w| proto_word(w).is_some() || w == "OR" || w == "AND") {
            let mut protos = Vec::new();
            let mut tls = false;
            for w in &words {
                if let Some((p, t)) = proto_word(w) {
                    tls |= t;
                    if let Some(p) = p {
                        if !protos.contains(&p) {
                            protos.push(p);
                        }
                    }
                }
            }
            let only_tls = words.iter().all(|w| w == "TLS" || w == "SSL" || w == "OR" || w == "AND");
            if self.cur.items.is_empty() {
                // "(Any TCP port)" style handled elsewhere; a bare "(TCP)" after
                // a finished group applies to that group.
                if let Some(g) = self.cell.groups.last_mut() {
                    apply_postfix(g, protos, tls, only_tls, &words);
                }
                return Ok(());
            }
            if self.prefixed && !only_tls {
                // "TCP 25 (UDP)": contradicting; keep both readable by
                // starting a group for the postfix.
                self.cur.protos = merge(&self.cur.protos, &protos);
            } else {
                let mut g = std::mem::take(&mut self.cur);
                apply_postfix(&mut g, protos, tls, only_tls, &words);
                self.cell.groups.push(g);
                self.cur = Group { line: self.line, ..Group::default() };
                self.prefixed = false;
            }
            return Ok(());
        }
        // (Any TCP port), (Any TCP/UDP port): an item of its own.
        if words.first().is_some_and(|w| w == "ANY" || w == "ALL") && !nums {
            let mut sub = Parser::new(inner);
            sub.line = self.line;
            sub.run()?;
            self.flush();
            for g in sub.cell.groups {
                self.cell.groups.push(g);
            }
            return Ok(());
        }
        if !nums {
            // Words only: a note on the ports ("(HTTPS)", "(secure IMAP)").
            let note =
                inner.iter().filter_map(|t| if let Tok::Word(w) = t { Some(w.as_str()) } else { None }).collect::<Vec<_>>().join(" ");
            self.cell.notes.push(note);
            return Ok(());
        }
        Err(format!("unknown qualifier `({})`", words.join(" ").to_lowercase()))
    }

    /// Words after the ports that start a clause: the rest of the line.
    fn clause(&mut self, first: &str) -> bool {
        const STARTS: &[&str] = &["for", "when", "if", "on", "with", "unless", "in", "from", "by", "per"];
        let has_items = !self.cur.items.is_empty() || !self.cell.groups.is_empty();
        if !has_items || !STARTS.contains(&first.to_ascii_lowercase().as_str()) {
            return false;
        }
        let mut words = vec![first.to_string()];
        while let Some(t) = self.peek().cloned() {
            match t {
                Tok::Newline => break,
                Tok::Word(w) => words.push(w),
                Tok::Num(n) => words.push(n.to_string()),
                Tok::Sym(c) => words.push(c.to_string()),
            }
            self.i += 1;
        }
        let text = words.join(" ");
        self.cell.clause = Some(match self.cell.clause.take() {
            Some(c) => format!("{c}; {text}"),
            None => text,
        });
        true
    }

    /// `a.b.c.d:port` (the numbers of an IPv4 address before a colon): the
    /// port alone is an item; the address is noted as a host.
    fn address_port(&mut self, first: u64) -> Option<Result<(), String>> {
        let t = &self.toks;
        let i = self.i;
        let dotted =
            (0..3).all(|k| t.get(i + 2 * k) == Some(&Tok::Sym('.')) && matches!(t.get(i + 2 * k + 1), Some(Tok::Num(n)) if *n <= 255));
        if !dotted || first > 255 {
            return None;
        }
        let octets: Vec<String> = std::iter::once(first)
            .chain((0..3).map(|k| if let Some(Tok::Num(n)) = t.get(i + 2 * k + 1) { *n } else { 0 }))
            .map(|n| n.to_string())
            .collect();
        let host = octets.join(".");
        match (t.get(i + 6), t.get(i + 7)) {
            (Some(Tok::Sym(':')), Some(Tok::Num(p))) => {
                let p = *p;
                self.i += 8;
                self.cell.hosts.push(host);
                Some(port_of(p).map(|p| self.push_item(Item::Port(p))))
            }
            _ => {
                // An address without a port is no port list.
                self.i += 6;
                Some(Err(format!("`{host}` is an address, not a port")))
            }
        }
    }

    fn new(toks: Vec<Tok>) -> Self {
        Self { toks, i: 0, cell: Cell::default(), cur: Group::default(), prefixed: false, line: 0, separators: Vec::new() }
    }

    fn run(&mut self) -> Result<(), String> {
        while let Some(t) = self.peek().cloned() {
            match t {
                Tok::Newline => {
                    self.i += 1;
                    // A line that holds only a protocol ("UDP") carries over
                    // to the numbers on the next line.
                    let bare_proto_line = !self.cur.protos.is_empty() && self.cur.items.is_empty();
                    self.line += 1;
                    if !bare_proto_line {
                        self.flush();
                    }
                }
                Tok::Word(w) => {
                    if let Some((protos, tls)) = self.proto_list() {
                        if protos == [Proto::Icmp] || protos == [Proto::Icmpv6] {
                            self.cell.icmp = true;
                            continue;
                        }
                        if !self.cur.items.is_empty() && self.cur.protos.is_empty() {
                            // "Any TCP port", "25 TCP": the protocol follows its items.
                            let only_tls = protos.is_empty() || (tls && protos == [Proto::Tcp] && proto_word(&w).is_some_and(|(_, t)| t));
                            let words = vec![w.to_ascii_uppercase()];
                            let mut g = std::mem::take(&mut self.cur);
                            apply_postfix(&mut g, protos, tls, only_tls, &words);
                            self.cell.groups.push(g);
                            self.cur = Group { line: self.line, ..Group::default() };
                            continue;
                        }
                        self.flush();
                        self.cur.protos = protos;
                        self.cur.tls = tls;
                        if tls {
                            self.cur.qualifier = Some(w.to_ascii_uppercase());
                        }
                        self.prefixed = true;
                        continue;
                    }
                    let l = w.to_ascii_lowercase();
                    self.i += 1;
                    // "webmeeting.3cx.net:443": a host and its port.
                    if w.contains('.') && self.peek() == Some(&Tok::Sym(':')) {
                        if let Some(Tok::Num(p)) = self.peek_at(1).cloned() {
                            self.i += 2;
                            self.cell.hosts.push(w.clone());
                            self.push_item(Item::Port(port_of(p)?));
                            continue;
                        }
                    }
                    if self.clause(&w) {
                        continue;
                    }
                    if (l == "any" || l == "all")
                        && self.cur.items.is_empty()
                        && self.cur.protos.is_empty()
                        && matches!(self.peek(), Some(Tok::Num(_)))
                    {
                        // "Any 427" in a firewall's port column: any transport
                        // (TCP and UDP) to that port, noted for review.
                        self.flush();
                        self.cur.protos = vec![Proto::Tcp, Proto::Udp];
                        self.prefixed = true;
                        self.cell.notes.push(format!("{w} protocol: TCP and UDP"));
                    } else if l == "any" || l == "all" {
                        self.push_item(Item::Any);
                    } else if is_placeholder(&w) {
                        self.push_item(Item::Unknown(w.clone()));
                    } else if l == "others" || l == "etc" || l == "etc." || l == "more" {
                        self.cell.others = true;
                    } else if l == "to" {
                        // "1000 to 2000" is a range.
                        self.range_tail()?;
                    } else if is_filler(&w) {
                    } else {
                        return Err(format!("`{w}` is not part of a port list"));
                    }
                }
                Tok::Num(n) => {
                    self.i += 1;
                    if let Some(r) = self.address_port(n) {
                        r?;
                        continue;
                    }
                    let p = port_of(n)?;
                    self.push_item(Item::Port(p));
                    // "16384:32768" (ufw, iptables): a range, never two ports.
                    if self.peek() == Some(&Tok::Sym(':')) && matches!(self.peek_at(1), Some(Tok::Num(_))) {
                        self.i += 1;
                        self.range_tail()?;
                        continue;
                    }
                    // A range or a per-unit count may follow.
                    if self.peek() == Some(&Tok::Sym('-')) {
                        match self.peek_at(1) {
                            Some(Tok::Num(_)) => {
                                self.i += 1;
                                self.range_tail()?;
                            }
                            Some(Tok::Word(w)) if proto_word(w).is_none() => {
                                self.i += 1;
                                match self.per_unit_words() {
                                    Some((param, label)) => {
                                        self.cur.items.pop();
                                        self.push_item(Item::PerUnit { base: p, param, label });
                                    }
                                    None => return Err(format!("cannot read what follows `{n} -`")),
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Tok::Sym('(') => self.paren()?,
                Tok::Sym(c @ ('>' | '<' | '≥' | '≤')) => {
                    self.i += 1;
                    let or_equal = matches!(c, '≥' | '≤') || self.peek() == Some(&Tok::Sym('='));
                    if self.peek() == Some(&Tok::Sym('=')) {
                        self.i += 1;
                    }
                    match self.peek().cloned() {
                        Some(Tok::Num(n)) => {
                            self.i += 1;
                            let p = port_of(n)?;
                            let item = if matches!(c, '>' | '≥') {
                                let lo = if or_equal { p } else { p.checked_add(1).ok_or("nothing lies above 65535")? };
                                Item::Range(lo, 65535)
                            } else {
                                let hi = if or_equal { p } else { p.checked_sub(1).ok_or("nothing lies below 0")? };
                                Item::Range(0, hi)
                            };
                            self.push_item(item);
                        }
                        _ => return Err(format!("`{c}` without a port after it")),
                    }
                }
                Tok::Sym('*') => {
                    self.cell.footnote = true;
                    self.i += 1;
                }
                Tok::Sym(c @ (',' | '/' | ';' | '&' | '+')) => {
                    self.separators.push(c);
                    self.i += 1;
                }
                Tok::Sym('.' | ':' | ')' | '"' | '\'' | '`' | '=') => self.i += 1,
                Tok::Sym('-') => {
                    // A dash alone (empty cell written as "-") or a stray one.
                    self.i += 1;
                }
                Tok::Sym(c) => return Err(format!("unexpected `{c}`")),
            }
        }
        self.flush();
        Ok(())
    }

    /// After `N -` or `N to`: the end of a range.
    fn range_tail(&mut self) -> Result<(), String> {
        let Some(Tok::Num(n)) = self.peek().cloned() else {
            return Err("a range without an end".into());
        };
        self.i += 1;
        let hi = port_of(n)?;
        let Some((Item::Port(lo), conf)) = self.cur.items.pop() else {
            return Err("a range without a start".into());
        };
        if lo > hi {
            return Err(format!("range {lo}-{hi} runs backwards"));
        }
        self.cur.items.push((Item::Range(lo, hi), conf));
        Ok(())
    }
}

fn merge(a: &[Proto], b: &[Proto]) -> Vec<Proto> {
    let mut out = a.to_vec();
    for p in b {
        if !out.contains(p) {
            out.push(*p);
        }
    }
    out
}

fn apply_postfix(g: &mut Group, protos: Vec<Proto>, tls: bool, only_tls: bool, words: &[String]) {
    if only_tls {
        g.tls = true;
        g.qualifier = Some(words.iter().filter(|w| *w != "OR" && *w != "AND").cloned().collect::<Vec<_>>().join("/"));
        if g.protos.is_empty() {
            g.protos = vec![Proto::Tcp];
        }
    } else {
        g.protos = merge(&g.protos, &protos);
        g.tls |= tls;
    }
}

/// Parses one port cell. Never panics; an unreadable cell has `error` set.
pub fn parse_cell(text: &str) -> Cell {
    let text = text.replace('\r', "");
    // "1000 to 2000" and "UDP\n5000-5999" are handled by the parser; a cell
    // whose text is only a dash or "n/a" is empty.
    let trimmed = text.trim();
    if trimmed.is_empty() || matches!(trimmed.to_ascii_lowercase().as_str(), "-" | "–" | "n/a" | "na" | "none" | "—") {
        return Cell::default();
    }
    let text = plain_words(&text);
    let mut p = Parser::new(tokenize(&text));
    match p.run() {
        Ok(()) => {
            let mut cell = p.cell;
            cell.slash_list = !p.separators.is_empty() && p.separators.iter().all(|c| *c == '/');
            if cell.groups.is_empty() && !cell.icmp {
                cell.error = Some("no port in the cell".into());
            }
            cell
        }
        Err(e) => Cell { error: Some(e), ..Cell::default() },
    }
}

/// Writes spelled-out transports as their names ("User Datagram Protocol"
/// → "UDP", "Transmission Control" → "TCP") and moves an application
/// named before its transport to a note ("SIP over TCP 5060" → "TCP 5060
/// (SIP)"). Nothing else changes; no number is added or removed.
fn plain_words(text: &str) -> String {
    let mut t = text.to_string();
    for (long, short) in [
        ("transmission control protocol", "TCP"),
        ("transmission control", "TCP"),
        ("user datagram protocol", "UDP"),
        ("user datagram", "UDP"),
    ] {
        while let Some(i) = t.to_ascii_lowercase().find(long) {
            t.replace_range(i..i + long.len(), short);
        }
    }
    if !t.to_ascii_lowercase().contains(" over ") {
        return t;
    }
    let words: Vec<&str> = t.split(' ').collect();
    let Some(i) = (0..words.len().saturating_sub(2)).find(|&i| {
        words[i + 1].eq_ignore_ascii_case("over")
            && proto_word(words[i + 2]).is_some()
            && words[i].chars().all(|c| c.is_ascii_alphanumeric())
            && words[i].chars().any(|c| c.is_ascii_alphabetic())
    }) else {
        return t;
    };
    let app = words[i];
    let rest: Vec<&str> = words.iter().enumerate().filter(|(j, _)| *j != i && *j != i + 1).map(|(_, w)| *w).collect();
    format!("{} ({app})", rest.join(" "))
}

/// The item as written in a matrix port expression; `param` names the
/// parameter that stands for a configurable or unknown port.
pub fn item_expr(item: &Item) -> String {
    match item {
        Item::Port(p) => p.to_string(),
        Item::Range(a, b) if a == b => a.to_string(),
        Item::Range(a, b) => format!("{a}-{b}"),
        Item::PerUnit { base, param, .. } => format!("{base}+{param}"),
        Item::Any => "any".into(),
        Item::Unknown(w) => w.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Item::*;

    fn items(text: &str) -> Vec<Item> {
        let c = parse_cell(text);
        assert!(c.error.is_none(), "{text}: {:?}", c.error);
        c.items().map(|(i, _)| i.clone()).collect()
    }
    fn protos(text: &str) -> Vec<Vec<Proto>> {
        parse_cell(text).groups.iter().map(|g| g.protos.clone()).collect()
    }

    #[test]
    fn single_and_lists() {
        assert_eq!(items("5060"), [Port(5060)]);
        assert_eq!(items("80, 443"), [Port(80), Port(443)]);
        assert_eq!(items("8443,8080"), [Port(8443), Port(8080)]);
        assert_eq!(items("1196, 1197, 1198, 1199 (TCP)"), [Port(1196), Port(1197), Port(1198), Port(1199)]);
        assert_eq!(
            items("6999, 47100-47102, 10800-10802, 11211, 7445"),
            [Port(6999), Range(47100, 47102), Range(10800, 10802), Port(11211), Port(7445)]
        );
        assert_eq!(items("80/443"), [Port(80), Port(443)]);
        assert!(parse_cell("80/443").slash_list);
        assert!(!parse_cell("80, 443").slash_list);
    }

    #[test]
    fn ranges_in_every_spelling() {
        for t in [
            "30000-34999",
            "30000 - 34999",
            "30000–34999",
            "30000 – 34999",
            "30000 — 34999",
            "30000~34999",
            "30000 ~ 34999",
            "30000 to 34999",
        ] {
            assert_eq!(items(t), [Range(30000, 34999)], "{t}");
        }
        assert_eq!(items("TCP 52000-52999 (range)"), [Range(52000, 52999)]);
        assert!(parse_cell("5000-4000").error.is_some(), "backwards range");
        assert!(parse_cell("70000").error.is_some(), "not a port");
    }

    #[test]
    fn protocols_before_and_after() {
        let c = parse_cell("5060 / 5061 (TCP or UDP)");
        assert_eq!(c.groups.len(), 1);
        assert_eq!(c.groups[0].protos, [Proto::Tcp, Proto::Udp]);
        assert_eq!(items("5060 / 5061 (TCP or UDP)"), [Port(5060), Port(5061)]);
        assert_eq!(protos("UDP 137"), [vec![Proto::Udp]]);
        assert_eq!(items("UDP 137"), [Port(137)]);
        assert_eq!(protos("199 (UDP) 123 (UDP)"), [vec![Proto::Udp], vec![Proto::Udp]]);
        assert_eq!(protos("5060 (TCP/UDP)"), [vec![Proto::Tcp, Proto::Udp]]);
        assert_eq!(protos("TCP port 80"), [vec![Proto::Tcp]]);
        // One protocol per line.
        let c = parse_cell("UDP 137\nUDP 138\nTCP 139\nTCP 445\nUDP 445");
        assert_eq!(c.groups.len(), 5);
        assert_eq!(c.groups[2].protos, [Proto::Tcp]);
        // A protocol alone on a line carries over to the next.
        let c = parse_cell("UDP\n5000-5999");
        assert_eq!(c.groups.len(), 1);
        assert_eq!(c.groups[0].protos, [Proto::Udp]);
        assert_eq!(c.groups[0].items, [(Range(5000, 5999), false)]);
    }

    #[test]
    fn tls_marks() {
        let c = parse_cell("TCP 25\nTCP 465 (SSL)");
        assert_eq!(c.groups.len(), 2);
        assert!(!c.groups[0].tls);
        assert!(c.groups[1].tls);
        assert_eq!(c.groups[1].qualifier.as_deref(), Some("SSL"));
        let c = parse_cell("TCP 993 (SSL/TLS)");
        assert!(c.groups[0].tls);
        assert_eq!(c.groups[0].qualifier.as_deref(), Some("SSL/TLS"));
        let c = parse_cell("TLS 5063");
        assert_eq!(c.groups[0].protos, [Proto::Tcp]);
        assert!(c.groups[0].tls);
    }

    #[test]
    fn configurable_marks() {
        let c = parse_cell("7999 (C)");
        assert_eq!(c.groups[0].items, [(Port(7999), true)]);
        let c = parse_cell("51616 (C)/51617");
        assert_eq!(c.items().cloned().collect::<Vec<_>>(), [(Port(51616), true), (Port(51617), false)]);
        assert!(c.slash_list);
    }

    #[test]
    fn any_and_open_ranges() {
        assert_eq!(items("Any"), [Any]);
        let c = parse_cell("Any (TCP)");
        assert_eq!(c.groups[0].items, [(Any, false)]);
        assert_eq!(c.groups[0].protos, [Proto::Tcp]);
        let c = parse_cell("(Any TCP port)");
        assert_eq!(c.groups[0].items, [(Any, false)]);
        assert_eq!(c.groups[0].protos, [Proto::Tcp]);
        let c = parse_cell("(Any TCP/UDP port)");
        assert_eq!(c.groups[0].protos, [Proto::Tcp, Proto::Udp]);
        assert_eq!(items("> 1024"), [Range(1025, 65535)]);
        assert_eq!(items(">1024"), [Range(1025, 65535)]);
        assert_eq!(items(">= 1024"), [Range(1024, 65535)]);
        let c = parse_cell("UDP > 1024*");
        assert_eq!(c.groups[0].items, [(Range(1025, 65535), false)]);
        assert!(c.footnote);
        assert_eq!(items("< 1024"), [Range(0, 1023)]);
    }

    #[test]
    fn per_unit_counts() {
        assert_eq!(
            items("9995 – maximum number of zones"),
            [PerUnit { base: 9995, param: "zones".into(), label: "maximum number of zones".into() }]
        );
        let c = parse_cell("7778- maximum number of zones (C)");
        assert!(c.groups[0].items[0].1);
        assert!(matches!(c.groups[0].items[0].0, PerUnit { base: 7778, .. }));
        assert_eq!(
            items("9970, 9971- maximum number of zones (C)"),
            [Port(9970), PerUnit { base: 9971, param: "zones".into(), label: "maximum number of zones".into() }]
        );
    }

    #[test]
    fn placeholders_others_icmp() {
        assert_eq!(items("TCP nnn"), [Unknown("nnn".into())]);
        let c = parse_cell("TCP Port 443, 8080, others");
        assert!(c.others);
        assert_eq!(c.items().map(|i| i.0.clone()).collect::<Vec<_>>(), [Port(443), Port(8080)]);
        let c = parse_cell("ICMP messages");
        assert!(c.icmp);
        assert!(c.groups.is_empty());
        assert!(c.error.is_none());
        assert_eq!(items("TCP 1433*"), [Port(1433)]);
        // Spelled-out transports and an application named before its transport.
        assert_eq!(protos("161 and 162/User Datagram"), [vec![Proto::Udp]]);
        assert_eq!(items("161 and 162/User Datagram"), [Port(161), Port(162)]);
        assert_eq!(protos("Transmission Control Protocol 443"), [vec![Proto::Tcp]]);
        let c = parse_cell("SIP over TCP 5060");
        assert_eq!((c.groups[0].protos.clone(), c.notes.clone()), (vec![Proto::Tcp], vec!["SIP".to_string()]));
        assert_eq!(items("SIP over TCP 5060"), [Port(5060)]);
        assert!(parse_cell("7000–7002/Transfer").error.is_some(), "a word that only might be a transport stays unread");
        assert!(parse_cell("moved over TCP").error.is_some(), "no port");
        // "Any 427": any transport to one port, never "any port and 427".
        let c = parse_cell("Any 427");
        assert_eq!(c.groups[0].items, [(Port(427), false)]);
        assert_eq!(c.groups[0].protos, [Proto::Tcp, Proto::Udp]);
        assert!(!c.notes.is_empty(), "the reading is noted");
        assert_eq!(items("Any"), [Any]);
    }

    #[test]
    fn colon_ranges_and_addresses_with_ports() {
        // ufw and iptables write ranges with a colon: never two ports.
        assert_eq!(items("16384:16400"), [Range(16384, 16400)]);
        let c = parse_cell("16384:32768/udp");
        assert_eq!(c.groups[0].items, [(Range(16384, 32768), false)]);
        assert_eq!(c.groups[0].protos, [Proto::Udp]);
        assert!(parse_cell("16400:16384").error.is_some(), "backwards");
        // An address and a port: the port only, the address noted; no octet is a port.
        let c = parse_cell("239.1.2.3:5004");
        assert_eq!(c.items().map(|i| i.0.clone()).collect::<Vec<_>>(), [Port(5004)]);
        assert_eq!(c.hosts, ["239.1.2.3"]);
        let c = parse_cell("webmeeting.3cx.net:443");
        assert_eq!(c.items().map(|i| i.0.clone()).collect::<Vec<_>>(), [Port(443)]);
        assert_eq!(c.hosts, ["webmeeting.3cx.net"]);
        assert!(parse_cell("10.0.0.1").error.is_some(), "an address alone is no port");
    }

    #[test]
    fn notes_and_clauses_keep_the_ports() {
        let c = parse_cell("443/TCP (HTTPS)");
        assert_eq!(c.groups[0].protos, [Proto::Tcp]);
        assert_eq!(c.notes, ["HTTPS"]);
        let c = parse_cell("49152-65535 (Random high RPC Port)(TCP)");
        assert_eq!(c.groups[0].items, [(Range(49152, 65535), false)]);
        assert_eq!(c.groups[0].protos, [Proto::Tcp]);
        let c = parse_cell("TCP port 1434 for the default instance");
        assert_eq!(c.items().map(|i| i.0.clone()).collect::<Vec<_>>(), [Port(1434)]);
        assert_eq!(c.clause.as_deref(), Some("for the default instance"));
        let c = parse_cell("53/UDP, 53/TCP (DNS)");
        assert_eq!(c.groups.len(), 2);
        // A clause needs ports before it: prose stays unreadable.
        assert!(parse_cell("for example 9325").error.is_some());
        assert_eq!(protos("TCP and UDP 389"), [vec![Proto::Tcp, Proto::Udp]]);
        assert!(parse_cell("TCP Dynamic").error.is_some(), "no number: a review item, never a guess");
    }

    #[test]
    fn prose_is_never_read_as_ports() {
        for t in [
            "Depends upon the content server port (check with the customer)",
            "For example, in Moderro's production environment, 9325 is assigned for the JMX_RMI_PORT and 9990 is assigned for the JMX_PORT.",
            "I",
            "20645YesNo",
            "see note 3",
        ] {
            let c = parse_cell(t);
            assert!(c.error.is_some(), "{t} read as {:?}", c.groups);
            assert!(c.groups.is_empty());
        }
        assert!(parse_cell("").is_empty());
        assert!(parse_cell("-").is_empty());
    }
}
