//! `iptables-save` / `ip6tables-save` output (and `iptables-restore`
//! input): tables, chain policies, user chains, rules with their matches
//! and targets. `-m set` looks its sets up in an `ipset save` file.

use std::collections::BTreeMap;

use super::ipset::{self, IpSet};
use super::names::{icmp_type_number, proto_number, ICMP, ICMPV6, PORT_PROTOS};
use super::{
    Action, Base, Chain, ChainId, Clause, Cond, CtState, Dim, DocumentItem, Hook, IfName, Policy, ReadBack, ReadError, Rule, RuleLoc,
    Syntax, TableFamily, Term, Unjudged, Values, Verdict,
};
use crate::ir::Family;

pub fn read(v4: Option<&str>, v6: Option<&str>, ipset_text: Option<&str>) -> Result<ReadBack, ReadError> {
    let sets = match ipset_text {
        Some(t) => Some(ipset::parse(t)?),
        None => None,
    };
    let mut rb = ReadBack::empty(Syntax::Iptables);
    for (fam, text, tool) in [(Family::V4, v4, "iptables-save"), (Family::V6, v6, "ip6tables-save")] {
        match text {
            Some(t) => read_one(t, fam, sets.as_ref(), &mut rb)?,
            None => rb.missing_families.push((fam, format!("no {tool} output was given"))),
        }
    }
    Ok(rb)
}

/// Splits a line into words, honouring double and single quotes and
/// backslash escapes inside double quotes (as iptables-save writes them).
pub fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\\') => match chars.next() {
                            Some(e) => cur.push(e),
                            None => return Err("unterminated quoted string".into()),
                        },
                        Some('"') => break,
                        Some(x) => cur.push(x),
                        None => return Err("unterminated quoted string".into()),
                    }
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("unterminated quoted string".into()),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Where a built-in chain of a table hooks, and its priority.
fn builtin(table: &str, chain: &str) -> Option<(Hook, i32, &'static str)> {
    let hook = match chain {
        "PREROUTING" => Hook::Prerouting,
        "INPUT" => Hook::Input,
        "FORWARD" => Hook::Forward,
        "OUTPUT" => Hook::Output,
        "POSTROUTING" => Hook::Postrouting,
        _ => return None,
    };
    let (prio, kind) = match table {
        "raw" => (-300, "filter"),
        "mangle" => (-150, "filter"),
        "nat" if matches!(hook, Hook::Prerouting | Hook::Output) => (-100, "nat"),
        "nat" => (100, "nat"),
        "filter" => (0, "filter"),
        "security" => (50, "filter"),
        _ => return None,
    };
    let valid = match table {
        "raw" => matches!(hook, Hook::Prerouting | Hook::Output),
        "filter" | "security" => matches!(hook, Hook::Input | Hook::Forward | Hook::Output),
        "nat" => hook != Hook::Forward,
        _ => true,
    };
    valid.then_some((hook, prio, kind))
}

struct TableDraft {
    name: String,
    chains: Vec<Chain>,
}

fn read_one(text: &str, fam: Family, sets: Option<&BTreeMap<String, IpSet>>, rb: &mut ReadBack) -> Result<(), ReadError> {
    let tfam = if fam == Family::V4 { TableFamily::Ip } else { TableFamily::Ip6 };
    let mut table: Option<TableDraft> = None;
    let mut lines: Vec<(usize, Vec<String>)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some(name) = l.strip_prefix('*') {
            if table.is_some() {
                return Err(ReadError::at_line(Syntax::Iptables, line, format!("table `{name}` starts before the previous one's COMMIT")));
            }
            table = Some(TableDraft { name: name.trim().to_string(), chains: Vec::new() });
            lines.clear();
            continue;
        }
        let Some(t) = table.as_mut() else {
            return Err(ReadError::at_line(Syntax::Iptables, line, "a line outside any table (no `*filter` line before it)")
                .with_hint("give the output of `iptables-save`"));
        };
        if l == "COMMIT" {
            let mut t = table.take().expect("checked");
            let ids: Vec<String> = t.chains.iter().map(|c| c.id.name.clone()).collect();
            for (line, toks) in lines.drain(..) {
                rule_line(&mut t, &ids, line, &toks, fam, sets, rb);
            }
            rb.chains.extend(t.chains);
            continue;
        }
        if let Some(decl) = l.strip_prefix(':') {
            let toks: Vec<&str> = decl.split_whitespace().collect();
            let (Some(name), Some(policy)) = (toks.first(), toks.get(1)) else {
                return Err(ReadError::at_line(Syntax::Iptables, line, "a chain line without a policy (`:NAME POLICY [packets:bytes]`)"));
            };
            let id = ChainId { family: tfam, table: t.name.clone(), name: name.to_string() };
            let base = match (builtin(&t.name, name), *policy) {
                (Some((hook, priority, kind)), "ACCEPT") => {
                    Some(Base { hook, priority, policy: Policy::Accept, kind: kind.into(), devices: Vec::new() })
                }
                (Some((hook, priority, kind)), "DROP") => {
                    Some(Base { hook, priority, policy: Policy::Drop, kind: kind.into(), devices: Vec::new() })
                }
                (None, "-") => None,
                (_, p) => {
                    if builtin(&t.name, name).is_none() && !matches!(t.name.as_str(), "raw" | "mangle" | "nat" | "filter" | "security") {
                        rb.unjudged.push(DocumentItem {
                            at: format!("line {line}"),
                            what: format!("table `{}` is not a table iptables has", t.name),
                        });
                    } else if p != "-" {
                        rb.unjudged.push(DocumentItem { at: format!("line {line}"), what: format!("chain {name} with policy `{p}`") });
                    }
                    None
                }
            };
            t.chains.push(Chain { id, base, rules: Vec::new(), handle: Some(line as u64) });
            continue;
        }
        if l.starts_with('-') || l.starts_with('[') {
            let toks = tokenize(l).map_err(|e| ReadError::at_line(Syntax::Iptables, line, e))?;
            lines.push((line, toks));
            continue;
        }
        return Err(ReadError::at_line(Syntax::Iptables, line, format!("not an iptables-save line: `{}`", shorten(l)))
            .with_hint("give the output of `iptables-save` or `ip6tables-save`"));
    }
    if let Some(t) = table {
        return Err(ReadError::at_line(Syntax::Iptables, text.lines().count(), format!("table `{}` has no COMMIT", t.name)));
    }
    Ok(())
}

fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(60).map(|c| if c.is_control() { '?' } else { c }).collect();
    if s.chars().count() > 60 {
        out.push('…');
    }
    out
}

fn rule_line(
    t: &mut TableDraft,
    chains: &[String],
    line: usize,
    toks: &[String],
    fam: Family,
    sets: Option<&BTreeMap<String, IpSet>>,
    rb: &mut ReadBack,
) {
    let mut toks: &[String] = toks;
    // `[packets:bytes]` before the command (iptables-save -c).
    if toks.first().is_some_and(|t| t.starts_with('[')) {
        toks = &toks[1..];
    }
    let (cmd, chain) = match (toks.first().map(String::as_str), toks.get(1)) {
        (Some(c @ ("-A" | "--append" | "-I" | "--insert")), Some(ch)) => (c, ch.clone()),
        (Some(c), _) => {
            rb.unjudged.push(DocumentItem { at: format!("line {line}"), what: format!("command `{c}` is not replayed") });
            return;
        }
        (None, _) => return,
    };
    let Some(ci) = t.chains.iter().position(|c| c.id.name == chain) else {
        rb.unjudged.push(DocumentItem {
            at: format!("line {line}"),
            what: format!("a rule for chain `{chain}`, which the table does not declare"),
        });
        return;
    };
    let mut rest = &toks[2..];
    let mut insert_at = None;
    if matches!(cmd, "-I" | "--insert") {
        insert_at = Some(0);
        if let Some(n) = rest.first().and_then(|s| s.parse::<usize>().ok()) {
            insert_at = Some(n.saturating_sub(1));
            rest = &rest[1..];
        }
    }
    let mut rule = RuleParser::new(fam, chains, sets).parse(rest);
    rule.loc.line = Some(line);
    let c = &mut t.chains[ci];
    match insert_at {
        Some(p) => c.rules.insert(p.min(c.rules.len()), rule),
        None => c.rules.push(rule),
    }
    for (i, r) in c.rules.iter_mut().enumerate() {
        r.loc.index = i;
    }
}

struct RuleParser<'a> {
    fam: Family,
    chains: &'a [String],
    sets: Option<&'a BTreeMap<String, IpSet>>,
    conds: Vec<Cond>,
    unjudged: Vec<Unjudged>,
    comment: Option<String>,
    action: Action,
    module: Option<String>,
}

fn ranges(r: Vec<(u128, u128)>) -> Values {
    Values::Ranges(r)
}

impl<'a> RuleParser<'a> {
    fn new(fam: Family, chains: &'a [String], sets: Option<&'a BTreeMap<String, IpSet>>) -> Self {
        RuleParser {
            fam,
            chains,
            sets,
            conds: Vec::new(),
            unjudged: Vec::new(),
            comment: None,
            action: Action::Verdict(Verdict::Continue),
            module: None,
        }
    }

    fn cannot(&mut self, what: impl Into<String>) {
        self.unjudged.push(Unjudged { what: what.into() });
    }

    fn region(&mut self, requires: Vec<Term>, terms: Vec<Term>, negated: bool) {
        self.conds.push(Cond::region(requires, vec![Clause::new(terms)], negated));
    }

    fn parse(mut self, toks: &[String]) -> Rule {
        let mut i = 0;
        let mut negate = false;
        while i < toks.len() {
            let opt = toks[i].as_str();
            if opt == "!" {
                negate = true;
                i += 1;
                continue;
            }
            let arg = toks.get(i + 1).map(String::as_str);
            let used = self.option(opt, arg, toks.get(i + 2).map(String::as_str), negate, &toks[i + 1..]);
            negate = false;
            i += 1 + used;
        }
        Rule { loc: RuleLoc::default(), comment: self.comment, conds: self.conds, action: self.action, unjudged: self.unjudged }
    }

    /// One option; returns how many arguments it used.
    fn option(&mut self, opt: &str, arg: Option<&str>, arg2: Option<&str>, neg: bool, rest: &[String]) -> usize {
        let Some(a) = arg else {
            if matches!(opt, "--syn" | "-f" | "--fragment") {
                self.cannot(format!("`{opt}`"));
            } else {
                self.cannot(format!("option `{opt}` without a value"));
            }
            return 0;
        };
        match opt {
            "-s" | "--source" | "--src" => self.addresses(Dim::Src, a, neg),
            "-d" | "--destination" | "--dst" => self.addresses(Dim::Dst, a, neg),
            "-p" | "--protocol" => self.protocol(a, neg),
            "-i" | "--in-interface" => self.iface(Dim::Iif, a, neg),
            "-o" | "--out-interface" => self.iface(Dim::Oif, a, neg),
            "-m" | "--match" => {
                self.module = Some(a.to_string());
                if !matches!(
                    a,
                    "tcp"
                        | "udp"
                        | "sctp"
                        | "dccp"
                        | "udplite"
                        | "multiport"
                        | "conntrack"
                        | "state"
                        | "icmp"
                        | "icmp6"
                        | "icmpv6"
                        | "comment"
                        | "set"
                        | "iprange"
                ) {
                    self.cannot(format!("match module `{a}`"));
                }
                1
            }
            "-j" | "--jump" => self.target(a, &rest[1..]),
            "-g" | "--goto" => {
                self.action = Action::Verdict(Verdict::Goto(a.to_string()));
                if !self.chains.iter().any(|c| c == a) {
                    self.cannot(format!("goto {a}: no such chain"));
                }
                1
            }
            "-c" | "--set-counters" => 2,
            _ => self.module_option(opt, a, arg2, neg),
        }
    }

    fn module_option(&mut self, opt: &str, a: &str, arg2: Option<&str>, neg: bool) -> usize {
        let module = self.module.clone().unwrap_or_default();
        match (module.as_str(), opt) {
            ("tcp" | "udp" | "sctp" | "dccp" | "udplite", "--dport" | "--destination-port") => self.ports(Dim::Dport, a, neg),
            ("tcp" | "udp" | "sctp" | "dccp" | "udplite", "--sport" | "--source-port") => self.ports(Dim::Sport, a, neg),
            ("multiport", "--dports" | "--destination-ports") => self.ports(Dim::Dport, a, neg),
            ("multiport", "--sports" | "--source-ports") => self.ports(Dim::Sport, a, neg),
            ("multiport", "--ports") => {
                // Either port in the list.
                match port_ranges(a) {
                    Ok(r) => {
                        let req = vec![(Dim::Proto, port_protos())];
                        let clauses = vec![Clause::new(vec![(Dim::Sport, ranges(r.clone()))]), Clause::new(vec![(Dim::Dport, ranges(r))])];
                        self.conds.push(Cond::region(req, clauses, neg));
                    }
                    Err(e) => self.cannot(e),
                }
                1
            }
            ("conntrack", "--ctstate") | ("state", "--state") => {
                let mut states = Vec::new();
                for s in a.split(',') {
                    match CtState::parse(s) {
                        Some(st) => states.push(st),
                        None => self.cannot(format!("conntrack state `{s}`")),
                    }
                }
                self.region(Vec::new(), vec![CtState::term(&states)], neg);
                1
            }
            ("icmp", "--icmp-type") => self.icmp(a, false, neg),
            ("icmp6" | "icmpv6", "--icmpv6-type") => self.icmp(a, true, neg),
            ("comment", "--comment") => {
                self.comment = Some(a.to_string());
                1
            }
            ("set", "--match-set") => {
                self.match_set(a, arg2.unwrap_or(""), neg);
                2
            }
            ("iprange", "--src-range") => self.ip_range(Dim::Src, a, neg),
            ("iprange", "--dst-range") => self.ip_range(Dim::Dst, a, neg),
            (m, o) => {
                if m.is_empty() {
                    self.cannot(format!("option `{o}`"));
                } else {
                    self.cannot(format!("option `{o}` of match `{m}`"));
                }
                // Options of an unknown match take one value, by convention.
                usize::from(!a.starts_with('-') || a.parse::<i64>().is_ok())
            }
        }
    }

    fn fam_term(&self) -> Term {
        (Dim::Family, Values::one(super::family_value(self.fam)))
    }

    fn addresses(&mut self, dim: Dim, a: &str, neg: bool) -> usize {
        let mut r = Vec::new();
        for part in a.split(',') {
            match addr_range(self.fam, part) {
                Ok(x) => r.push(x),
                Err(e) => {
                    self.cannot(e);
                    return 1;
                }
            }
        }
        let fam = self.fam_term();
        self.region(vec![fam], vec![(dim, ranges(r))], neg);
        1
    }

    fn ip_range(&mut self, dim: Dim, a: &str, neg: bool) -> usize {
        let parsed = a.split_once('-').and_then(|(x, y)| Some((addr_range(self.fam, x).ok()?.0, addr_range(self.fam, y).ok()?.0)));
        match parsed {
            Some((x, y)) if x <= y => {
                let fam = self.fam_term();
                self.region(vec![fam], vec![(dim, Values::range(x, y))], neg);
            }
            _ => self.cannot(format!("address range `{a}`")),
        }
        1
    }

    fn protocol(&mut self, a: &str, neg: bool) -> usize {
        if matches!(a.to_ascii_lowercase().as_str(), "all" | "0") {
            if neg {
                self.conds.push(Cond::region(Vec::new(), Vec::new(), false));
            }
            return 1;
        }
        match proto_number(a) {
            Some(p) => self.region(Vec::new(), vec![(Dim::Proto, Values::one(p as u128))], neg),
            None => self.cannot(format!("protocol `{a}`")),
        }
        1
    }

    fn iface(&mut self, dim: Dim, a: &str, neg: bool) -> usize {
        let name = match a.strip_suffix('+') {
            Some(p) => IfName::Prefix(p.to_string()),
            None => IfName::Exact(a.to_string()),
        };
        self.region(Vec::new(), vec![(dim, Values::Names(vec![name]))], neg);
        1
    }

    fn ports(&mut self, dim: Dim, a: &str, neg: bool) -> usize {
        match port_ranges(a) {
            Ok(r) => self.region(vec![(Dim::Proto, port_protos())], vec![(dim, ranges(r))], neg),
            Err(e) => self.cannot(e),
        }
        1
    }

    fn icmp(&mut self, a: &str, v6: bool, neg: bool) -> usize {
        let proto = if v6 { ICMPV6 } else { ICMP };
        let req = vec![(Dim::Proto, Values::one(proto as u128))];
        if a == "any" {
            self.region(req, Vec::new(), neg);
            return 1;
        }
        let (t, code) = match a.split_once('/') {
            Some((t, c)) => (t, Some(c)),
            None => (a, None),
        };
        match (icmp_type_number(t, v6), code) {
            (Some(n), None) => self.region(req, vec![(Dim::IcmpType, Values::one(n as u128))], neg),
            (Some(_), Some(_)) => self.cannot(format!("ICMP code in `{a}`")),
            // A name iptables knows for one code of a type (e.g. port-unreachable).
            (None, _) => self.cannot(format!("ICMP type `{a}` (a code of a type, or unknown)")),
        }
        1
    }

    fn match_set(&mut self, name: &str, dirs: &str, neg: bool) {
        let Some(sets) = self.sets else {
            self.cannot(format!("--match-set {name}: no `ipset save` output was given"));
            return;
        };
        let Some(set) = sets.get(name) else {
            self.cannot(format!("--match-set {name}: no such set in the ipset file"));
            return;
        };
        if set.family != self.fam {
            // iptables refuses a set of the other family.
            self.cannot(format!("--match-set {name}: a set of the other address family"));
            return;
        }
        let dirs: Vec<&str> = dirs.split(',').collect();
        match set.clauses(&dirs) {
            Ok(clauses) => self.conds.push(Cond::region(Vec::new(), clauses, neg)),
            Err(e) => self.cannot(e),
        }
    }

    fn target(&mut self, t: &str, opts: &[String]) -> usize {
        let v = match t {
            "ACCEPT" => Some(Verdict::Accept),
            "DROP" | "REJECT" => Some(Verdict::Drop),
            "RETURN" => Some(Verdict::Return),
            "LOG" | "NFLOG" | "ULOG" => Some(Verdict::Continue),
            "DNAT" => {
                match dnat_target(opts) {
                    Ok(a) => self.action = Action::Dnat(a),
                    Err(e) => self.cannot(e),
                }
                None
            }
            c if self.chains.iter().any(|x| x == c) => Some(Verdict::Jump(c.to_string())),
            other => {
                self.cannot(format!("target `{other}`"));
                None
            }
        };
        if let Some(v) = v {
            self.action = Action::Verdict(v);
        }
        // Target options (`--reject-with X`, `--log-prefix X`): name and value pairs.
        let mut used = 1;
        let mut i = 0;
        while i < opts.len() && opts[i].starts_with("--") {
            i += 2;
        }
        used += i.min(opts.len());
        used
    }
}

/// `-j DNAT --to-destination A`: one address, ports unchanged; ranges,
/// new ports and other options are not judged.
fn dnat_target(opts: &[String]) -> Result<std::net::IpAddr, String> {
    let mut to = None;
    for pair in opts.chunks(2).take_while(|p| p[0].starts_with("--")) {
        match (pair[0].as_str(), pair.get(1)) {
            ("--to-destination", Some(v)) if to.is_none() => to = Some(v.as_str()),
            (o, _) => return Err(format!("DNAT option `{o}`")),
        }
    }
    let to = to.ok_or("DNAT without --to-destination")?;
    let bare = to.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(to);
    bare.parse().map_err(|_| format!("DNAT --to-destination {to}: not one address (ranges and ports are not judged)"))
}

fn port_protos() -> Values {
    Values::Ranges(PORT_PROTOS.iter().map(|&p| (p as u128, p as u128)).collect())
}

/// `22`, `80:90`, `:1023`, `1024:`, comma lists.
fn port_ranges(a: &str) -> Result<Vec<(u128, u128)>, String> {
    let mut out = Vec::new();
    for part in a.split(',') {
        let num = |s: &str, d: u16| -> Result<u16, String> {
            if s.is_empty() {
                Ok(d)
            } else {
                s.parse::<u16>().map_err(|_| format!("port `{s}` (service names are not resolved)"))
            }
        };
        let (lo, hi) = match part.split_once(':').or_else(|| part.split_once('-')) {
            Some((x, y)) => (num(x, 0)?, num(y, 65535)?),
            None => (num(part, 0)?, num(part, 0)?),
        };
        if lo > hi {
            return Err(format!("port range `{part}` runs backwards"));
        }
        out.push((lo as u128, hi as u128));
    }
    Ok(out)
}

/// `10.0.0.0/8`, `10.0.0.1`, `10.0.0.0/255.0.0.0`.
fn addr_range(fam: Family, s: &str) -> Result<(u128, u128), String> {
    let bits: u32 = if fam == Family::V4 { 32 } else { 128 };
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => {
            let len = match l.parse::<u32>() {
                Ok(n) => n,
                Err(_) => mask_len(fam, l).ok_or_else(|| format!("address `{s}`: the mask is not a prefix"))?,
            };
            (a, len)
        }
        None => (s, bits),
    };
    let v = match (fam, a.parse::<std::net::IpAddr>()) {
        (Family::V4, Ok(x @ std::net::IpAddr::V4(_))) | (Family::V6, Ok(x @ std::net::IpAddr::V6(_))) => super::addr_u128(x),
        _ => return Err(format!("address `{s}` (host names are not resolved)")),
    };
    if len > bits {
        return Err(format!("address `{s}`: prefix length"));
    }
    let host = bits - len;
    let mask: u128 = if host == 128 { u128::MAX } else { (1u128 << host) - 1 };
    Ok((v & !mask, (v & !mask) | mask))
}

fn mask_len(fam: Family, m: &str) -> Option<u32> {
    let v = super::addr_u128(m.parse().ok()?);
    let bits = if fam == Family::V4 { 32 } else { 128 };
    let ones = if fam == Family::V4 { (v as u32).leading_ones() } else { v.leading_ones() };
    let full: u128 = if bits == 128 { u128::MAX } else { (1u128 << bits) - 1 };
    let expect = if ones == 0 { 0 } else { full & !(full >> ones) };
    (v == expect).then_some(ones)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(tokenize(r#"-A INPUT -m comment --comment "a \"b\" c" -j ACCEPT"#).unwrap()[5], "a \"b\" c");
        assert!(tokenize("-A X \"open").is_err());
    }

    #[test]
    fn masks_and_ranges() {
        assert_eq!(addr_range(Family::V4, "10.0.0.0/255.0.0.0").unwrap(), (0x0a00_0000, 0x0aff_ffff));
        assert!(addr_range(Family::V4, "10.0.0.0/255.0.255.0").is_err());
        assert_eq!(port_ranges("22,80:90,:10").unwrap(), vec![(22, 22), (80, 90), (0, 10)]);
    }
}
