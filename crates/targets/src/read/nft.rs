//! nftables JSON: `nft -j list ruleset` output, and `nft -j -f` command
//! files (replayed on an empty ruleset).
//!
//! The `nftables` crate's typed schema does not fit here: its set types
//! lack `verdict`, `icmp_type`, `icmpv6_type`, `ct_state` and others, so a
//! listing with a verdict map or an ICMP-type set fails to deserialize as a
//! whole (nft 1.0.6 output). This reader walks the JSON itself so that one
//! unknown construct costs one "cannot judge" item, not the whole file.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use serde_json::{Map, Value};

use super::names::{icmp_type_number, proto_number, ICMP, ICMPV6, PORT_PROTOS};
use super::{
    Action, Base, Chain, ChainId, Clause, Cond, CtState, Dim, DocumentItem, Hook, IfName, Origin, Policy, ReadBack, ReadError, Rule,
    RuleLoc, Syntax, TableFamily, Term, Test, Unjudged, Values, Verdict, FAMILY_V4, FAMILY_V6,
};
use crate::ir::Family;

type TableKey = (TableFamily, String);
type ObjKey = (TableFamily, String, String);

#[derive(Debug, Clone)]
struct RuleDraft {
    handle: Option<u64>,
    comment: Option<String>,
    expr: Vec<Value>,
}

#[derive(Debug, Clone)]
struct ChainDraft {
    id: ChainId,
    base: Option<Base>,
    handle: Option<u64>,
    rules: Vec<RuleDraft>,
    problem: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct SetDraft {
    is_map: bool,
    /// `map: verdict` for verdict maps.
    data: Option<String>,
    flags: Vec<String>,
    elems: Vec<Value>,
}

#[derive(Default)]
struct Doc {
    tables: Vec<TableKey>,
    chains: Vec<ChainDraft>,
    sets: HashMap<ObjKey, SetDraft>,
    unjudged: Vec<DocumentItem>,
    commands: bool,
}

pub fn read(text: &str) -> Result<ReadBack, ReadError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ReadError {
        syntax: Syntax::Nftables,
        line: Some(e.line()),
        column: Some(e.column()),
        message: format!("not valid JSON: {e}"),
        hint: Some("give the output of `nft -j list ruleset`".into()),
    })?;
    let items = v.get("nftables").and_then(Value::as_array).ok_or_else(|| ReadError {
        syntax: Syntax::Nftables,
        line: Some(1),
        column: Some(1),
        message: "JSON without an `nftables` array at the top".into(),
        hint: Some("nftables JSON looks like {\"nftables\": [...]}; give the output of `nft -j list ruleset`".into()),
    })?;
    let mut doc = Doc::default();
    for (i, item) in items.iter().enumerate() {
        doc.item(i, item);
    }
    Ok(doc.finish())
}

fn str_of<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str)
}

fn single(v: &Value) -> Option<(&str, &Value)> {
    let o = v.as_object()?;
    if o.len() != 1 {
        return None;
    }
    o.iter().next().map(|(k, v)| (k.as_str(), v))
}

impl Doc {
    fn note(&mut self, i: usize, what: impl Into<String>) {
        self.unjudged.push(DocumentItem { at: format!("item #{}", i + 1), what: what.into() });
    }

    fn item(&mut self, i: usize, item: &Value) {
        let Some((key, body)) = single(item) else {
            self.note(i, "an item that is not an object with one key");
            return;
        };
        match key {
            "metainfo" => {}
            "add" | "create" => {
                self.commands = true;
                self.add(i, body, false);
            }
            "insert" => {
                self.commands = true;
                self.add(i, body, true);
            }
            "delete" | "destroy" => {
                self.commands = true;
                self.delete(i, body);
            }
            "flush" => {
                self.commands = true;
                self.flush(i, body);
            }
            "replace" => {
                self.commands = true;
                self.replace(i, body);
            }
            _ => self.add(i, item, false),
        }
    }

    /// An object (from a listing or an add/insert command).
    fn add(&mut self, i: usize, obj: &Value, front: bool) {
        let Some((kind, body)) = single(obj) else {
            self.note(i, "a command whose object is not an object with one key");
            return;
        };
        let Some(o) = body.as_object() else {
            self.note(i, format!("`{kind}` that is not an object"));
            return;
        };
        match kind {
            "table" => self.add_table(i, o),
            "chain" => self.add_chain(i, o),
            "rule" => self.add_rule(i, o, front),
            "set" | "map" => self.add_set(i, o, kind == "map"),
            "element" => self.add_elements(i, o),
            // Stateful objects referenced by name (a rule that uses one is
            // judged where it is used); flowtables speed up established
            // flows only and never decide a new connection.
            "counter" | "quota" | "limit" | "ct helper" | "ct timeout" | "ct expectation" | "flowtable" | "secmark" | "synproxy" => {}
            other => self.note(i, format!("unknown object `{other}`")),
        }
    }

    fn table_key(&mut self, i: usize, o: &Map<String, Value>, name_key: &str) -> Option<TableKey> {
        let fam = str_of(o, "family").and_then(TableFamily::parse);
        let name = str_of(o, name_key);
        match (fam, name) {
            (Some(f), Some(n)) => Some((f, n.to_string())),
            _ => {
                self.note(i, "an object without a known family or table name");
                None
            }
        }
    }

    fn add_table(&mut self, i: usize, o: &Map<String, Value>) {
        if let Some(k) = self.table_key(i, o, "name") {
            if !self.tables.contains(&k) {
                self.tables.push(k);
            }
        }
    }

    fn chain_mut(&mut self, id: &ChainId) -> Option<&mut ChainDraft> {
        self.chains.iter_mut().find(|c| &c.id == id)
    }

    fn add_chain(&mut self, i: usize, o: &Map<String, Value>) {
        let Some((family, table)) = self.table_key(i, o, "table") else { return };
        let Some(name) = str_of(o, "name") else {
            self.note(i, "a chain without a name");
            return;
        };
        if !self.tables.contains(&(family, table.clone())) {
            self.tables.push((family, table.clone()));
        }
        let id = ChainId { family, table, name: name.to_string() };
        let (base, problem) = base_of(o);
        let handle = o.get("handle").and_then(Value::as_u64);
        match self.chain_mut(&id) {
            Some(c) => {
                if base.is_some() {
                    c.base = base;
                }
                if problem.is_some() {
                    c.problem = problem;
                }
            }
            None => self.chains.push(ChainDraft { id, base, handle, rules: Vec::new(), problem }),
        }
    }

    fn rule_target(&mut self, i: usize, o: &Map<String, Value>) -> Option<ChainId> {
        let (family, table) = self.table_key(i, o, "table")?;
        let Some(chain) = str_of(o, "chain") else {
            self.note(i, "a rule without a chain");
            return None;
        };
        let id = ChainId { family, table, name: chain.to_string() };
        if self.chain_mut(&id).is_none() {
            self.note(i, format!("a rule for chain `{id}`, which does not exist"));
            return None;
        }
        Some(id)
    }

    fn add_rule(&mut self, i: usize, o: &Map<String, Value>, front: bool) {
        let Some(id) = self.rule_target(i, o) else { return };
        let draft = RuleDraft {
            handle: o.get("handle").and_then(Value::as_u64),
            comment: str_of(o, "comment").map(str::to_string),
            expr: o.get("expr").and_then(Value::as_array).cloned().unwrap_or_default(),
        };
        let commands = self.commands;
        let mut problem = None;
        let c = self.chain_mut(&id).expect("checked");
        // In a command file, `handle` and `index` say where to put the rule.
        let anchor = if commands { o.get("handle").and_then(Value::as_u64) } else { None };
        let index = if commands { o.get("index").and_then(Value::as_u64) } else { None };
        let draft = if commands { RuleDraft { handle: None, ..draft } } else { draft };
        let pos = match (anchor, index) {
            (Some(h), _) => match c.rules.iter().position(|r| r.handle == Some(h)) {
                Some(p) => Some(if front { p } else { p + 1 }),
                None => {
                    problem = Some(format!("a rule placed relative to handle {h}, which chain `{id}` does not have"));
                    None
                }
            },
            (None, Some(ix)) => Some(((ix as usize) + usize::from(!front)).min(c.rules.len())),
            (None, None) => Some(if front { 0 } else { c.rules.len() }),
        };
        if let Some(p) = pos {
            c.rules.insert(p, draft);
        }
        if let Some(p) = problem {
            self.note(i, p);
        }
    }

    fn add_set(&mut self, i: usize, o: &Map<String, Value>, is_map: bool) {
        let Some((family, table)) = self.table_key(i, o, "table") else { return };
        let Some(name) = str_of(o, "name") else {
            self.note(i, "a set without a name");
            return;
        };
        let flags = match o.get("flags") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => Vec::new(),
        };
        let data = str_of(o, "map").map(str::to_string);
        let elems = elems_of(o.get("elem"));
        let e = self.sets.entry((family, table, name.to_string())).or_default();
        e.is_map = is_map;
        e.data = data;
        e.flags = flags;
        e.elems.extend(elems);
    }

    fn add_elements(&mut self, i: usize, o: &Map<String, Value>) {
        let Some((family, table)) = self.table_key(i, o, "table") else { return };
        let Some(name) = str_of(o, "name") else { return };
        match self.sets.get_mut(&(family, table, name.to_string())) {
            Some(s) => s.elems.extend(elems_of(o.get("elem"))),
            None => self.note(i, format!("elements for set `{name}`, which does not exist")),
        }
    }

    fn delete(&mut self, i: usize, obj: &Value) {
        let Some((kind, Value::Object(o))) = single(obj) else {
            self.note(i, "a delete command without an object");
            return;
        };
        match kind {
            "table" => {
                if let Some(k) = self.table_key(i, o, "name") {
                    self.tables.retain(|t| t != &k);
                    self.chains.retain(|c| (c.id.family, &c.id.table) != (k.0, &k.1));
                    self.sets.retain(|s, _| (s.0, &s.1) != (k.0, &k.1));
                }
            }
            "chain" => {
                if let (Some((family, table)), Some(name)) = (self.table_key(i, o, "table"), str_of(o, "name")) {
                    let id = ChainId { family, table, name: name.to_string() };
                    self.chains.retain(|c| c.id != id);
                }
            }
            "rule" => {
                let h = o.get("handle").and_then(Value::as_u64);
                match (self.rule_target(i, o), h) {
                    (Some(id), Some(h)) => {
                        let c = self.chain_mut(&id).expect("checked");
                        c.rules.retain(|r| r.handle != Some(h));
                    }
                    _ => self.note(i, "a rule deletion without chain and handle"),
                }
            }
            "set" | "map" => {
                if let (Some((family, table)), Some(name)) = (self.table_key(i, o, "table"), str_of(o, "name")) {
                    self.sets.remove(&(family, table, name.to_string()));
                }
            }
            other => self.note(i, format!("`delete {other}` is not replayed")),
        }
    }

    fn flush(&mut self, i: usize, obj: &Value) {
        let Some((kind, body)) = single(obj) else {
            self.note(i, "a flush command without an object");
            return;
        };
        let o = body.as_object();
        match (kind, o) {
            ("ruleset", _) => {
                self.tables.clear();
                self.chains.clear();
                self.sets.clear();
            }
            ("table", Some(o)) => {
                if let Some(k) = self.table_key(i, o, "name") {
                    for c in self.chains.iter_mut().filter(|c| (c.id.family, &c.id.table) == (k.0, &k.1)) {
                        c.rules.clear();
                    }
                }
            }
            ("chain", Some(o)) => {
                if let (Some((family, table)), Some(name)) = (self.table_key(i, o, "table"), str_of(o, "name")) {
                    if let Some(c) = self.chain_mut(&ChainId { family, table, name: name.to_string() }) {
                        c.rules.clear();
                    }
                }
            }
            ("set" | "map", Some(o)) => {
                if let (Some((family, table)), Some(name)) = (self.table_key(i, o, "table"), str_of(o, "name")) {
                    if let Some(s) = self.sets.get_mut(&(family, table, name.to_string())) {
                        s.elems.clear();
                    }
                }
            }
            (other, _) => self.note(i, format!("`flush {other}` is not replayed")),
        }
    }

    fn replace(&mut self, i: usize, obj: &Value) {
        let Some(("rule", Value::Object(o))) = single(obj) else {
            self.note(i, "`replace` of something other than a rule");
            return;
        };
        let h = o.get("handle").and_then(Value::as_u64);
        let Some(id) = self.rule_target(i, o) else { return };
        let expr = o.get("expr").and_then(Value::as_array).cloned().unwrap_or_default();
        let comment = str_of(o, "comment").map(str::to_string);
        let c = self.chain_mut(&id).expect("checked");
        match c.rules.iter_mut().find(|r| h.is_some() && r.handle == h) {
            Some(r) => {
                r.expr = expr;
                r.comment = comment;
            }
            None => self.note(i, "`replace rule` of a handle the chain does not have"),
        }
    }

    fn finish(mut self) -> ReadBack {
        let updated = updated_sets(&self.chains);
        let mut chains = Vec::new();
        for c in &self.chains {
            let cx = Cx { doc: &self, family: c.id.family, table: &c.id.table, updated: &updated };
            let mut rules: Vec<Rule> = c.rules.iter().enumerate().map(|(ix, r)| cx.rule(ix, r)).collect();
            if let Some(p) = &c.problem {
                // A base chain whose hook or policy is unknown: every rule of it is unknown.
                for r in &mut rules {
                    r.unjudged.push(Unjudged { what: p.clone() });
                }
                self.unjudged.push(DocumentItem { at: format!("chain {}", c.id), what: p.clone() });
            }
            chains.push(Chain { id: c.id.clone(), base: c.base.clone(), rules, handle: c.handle });
        }
        let mut notes = Vec::new();
        if self.commands {
            notes.push("nftables commands replayed on an empty ruleset (as `nft -j -f` would load them into a fresh namespace)".into());
        }
        ReadBack { syntaxes: vec![Syntax::Nftables], chains, missing_families: Vec::new(), unjudged: self.unjudged, notes }
    }
}

/// Elements of a set as a list, whatever shape the JSON gives them.
fn elems_of(v: Option<&Value>) -> Vec<Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(other) => vec![other.clone()],
    }
}

/// The base-chain part of a chain object, or why it cannot be judged.
fn base_of(o: &Map<String, Value>) -> (Option<Base>, Option<String>) {
    let Some(hook) = str_of(o, "hook") else { return (None, None) };
    let Some(hook) = Hook::parse(hook) else {
        return (None, Some(format!("base chain on unknown hook `{hook}`")));
    };
    let priority = match o.get("prio") {
        Some(Value::Number(n)) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
        Some(Value::String(s)) => standard_priority(s),
        _ => Some(0),
    };
    let Some(priority) = priority else {
        return (None, Some(format!("base chain with unreadable priority {:?}", o.get("prio"))));
    };
    let policy = match str_of(o, "policy") {
        None | Some("accept") => Policy::Accept,
        Some("drop") => Policy::Drop,
        Some(p) => return (None, Some(format!("base chain with unknown policy `{p}`"))),
    };
    let kind = str_of(o, "type").unwrap_or("filter").to_string();
    let devices = match o.get("dev") {
        Some(Value::String(d)) => vec![d.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    (Some(Base { hook, priority, policy, kind, devices }), None)
}

/// nftables' named priorities (for the ip, ip6 and inet families).
fn standard_priority(s: &str) -> Option<i32> {
    let (name, off) = match s.find(['+', '-']) {
        Some(p) => (s[..p].trim(), s[p..].replace(' ', "").parse::<i32>().ok()?),
        None => (s.trim(), 0),
    };
    let base = match name {
        "raw" => -300,
        "mangle" => -150,
        "dstnat" => -100,
        "filter" => 0,
        "security" => 50,
        "srcnat" => 100,
        _ => return s.parse().ok(),
    };
    Some(base + off)
}

/// Sets that rules add to or update from the packet path.
fn updated_sets(chains: &[ChainDraft]) -> BTreeSet<(TableFamily, String, String)> {
    let mut out = BTreeSet::new();
    for c in chains {
        for r in &c.rules {
            for s in &r.expr {
                if let Some((k, Value::Object(o))) = single(s) {
                    if matches!(k, "set" | "map" | "meter") {
                        if let Some(name) = str_of(o, "set").or_else(|| str_of(o, "name")) {
                            out.insert((c.id.family, c.id.table.clone(), name.trim_start_matches('@').to_string()));
                        }
                    }
                }
            }
        }
    }
    out
}

/// How the values of one key are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Addr(Family),
    Port,
    Proto,
    IcmpType(u8),
    Ifname,
    /// `meta nfproto`: ipv4 / ipv6.
    NfProto,
    /// `meta protocol`: the ethertype.
    EtherType,
    /// `ct state`: state names (a list is any of them).
    CtState,
}

/// A packet field a match reads.
#[derive(Debug, Clone)]
struct Key {
    dim: Dim,
    kind: Kind,
    requires: Vec<Term>,
    /// `th`: bytes of whatever transport header follows.
    raw_transport: bool,
}

/// What the left side of a match is.
enum Left {
    Keys(Vec<Key>),
    DaddrLocal,
}

struct Cx<'a> {
    doc: &'a Doc,
    family: TableFamily,
    table: &'a str,
    updated: &'a BTreeSet<(TableFamily, String, String)>,
}

type Judged<T> = Result<T, String>;

impl Cx<'_> {
    fn rule(&self, index: usize, d: &RuleDraft) -> Rule {
        let mut conds = Vec::new();
        let mut unjudged = Vec::new();
        let mut action = Action::Verdict(Verdict::Continue);
        let mut raw_transport = false;
        for s in &d.expr {
            match self.statement(s, &mut conds, &mut raw_transport) {
                Ok(Some(a)) => action = a,
                Ok(None) => {}
                Err(what) => unjudged.push(Unjudged { what }),
            }
        }
        if raw_transport && !restricts_to_port_protos(&conds) {
            unjudged.push(Unjudged {
                what: "`th` port match without a protocol match: on protocols without ports it reads other header bytes".into(),
            });
        }
        self.check_targets(&action, &mut unjudged);
        Rule { loc: RuleLoc { index, handle: d.handle, line: None }, comment: d.comment.clone(), conds, action, unjudged }
    }

    fn check_targets(&self, action: &Action, unjudged: &mut Vec<Unjudged>) {
        let verdicts: Vec<&Verdict> = match action {
            Action::Verdict(v) => vec![v],
            Action::Map(m) => m.iter().map(|(_, v)| v).collect(),
            Action::Dnat(_) => Vec::new(),
        };
        for v in verdicts {
            if let Verdict::Jump(t) | Verdict::Goto(t) = v {
                let id = ChainId { family: self.family, table: self.table.to_string(), name: t.clone() };
                if !self.doc.chains.iter().any(|c| c.id == id) {
                    unjudged.push(Unjudged { what: format!("{v}: no such chain in table {} {}", self.family.as_str(), self.table) });
                }
            }
        }
    }

    /// One statement: a condition (pushed), a verdict (returned), or a
    /// statement without effect on the verdict.
    fn statement(&self, s: &Value, conds: &mut Vec<Cond>, raw: &mut bool) -> Judged<Option<Action>> {
        let Some((k, body)) = single(s) else { return Err("a statement that is not an object with one key".into()) };
        match k {
            "match" => {
                let (c, th) = self.match_stmt(body)?;
                *raw |= th;
                conds.push(c);
                Ok(None)
            }
            "accept" | "drop" | "continue" | "return" | "jump" | "goto" => verdict(s).map(|v| Some(Action::Verdict(v))),
            "reject" => Ok(Some(Action::Verdict(Verdict::Drop))),
            "vmap" => self.vmap(body, conds, raw).map(Some),
            // Counting and logging leave the verdict alone.
            "counter" | "log" => Ok(None),
            "xt" => {
                let name = body.get("name").and_then(Value::as_str).unwrap_or("?");
                Err(format!("iptables extension `{name}` (an iptables-nft rule: read this table with iptables-save)"))
            }
            "limit" | "quota" | "ct count" | "last" => Err(format!("`{k}` (matches depending on rates or counts)")),
            "queue" => Err("`queue` (a user-space program decides)".into()),
            "dnat" => dnat(body).map(|a| Some(Action::Dnat(a))),
            "mangle" | "snat" | "masquerade" | "redirect" | "tproxy" | "notrack" | "dup" | "fwd" | "set" | "map" | "meter"
            | "ct helper" | "ct timeout" | "ct expectation" | "synproxy" | "secmark" => {
                Err(format!("`{k}` statement (changes the packet, its state or a set)"))
            }
            other => Err(format!("unknown statement `{other}`")),
        }
    }

    fn match_stmt(&self, body: &Value) -> Judged<(Cond, bool)> {
        let op = body.get("op").and_then(Value::as_str).unwrap_or("==");
        let left = body.get("left").ok_or("a match without a left side")?;
        let right = body.get("right").ok_or("a match without a right side")?;
        match self.left(left)? {
            Left::DaddrLocal => {
                let local = match right {
                    Value::String(s) => s == "local",
                    Value::Object(_) => set_items(right).iter().any(|v| v.as_str() == Some("local")),
                    _ => false,
                };
                if !local {
                    return Err("`fib daddr type` other than `local`".into());
                }
                Ok((Cond { requires: Vec::new(), test: Test::DaddrLocal, negated: negation(op)? }, false))
            }
            Left::Keys(keys) => {
                let th = keys.iter().any(|k| k.raw_transport);
                let requires: Vec<Term> = keys.iter().flat_map(|k| k.requires.clone()).collect();
                let clauses = self.clauses(&keys, op, right)?;
                let negated = matches!(op, "!=");
                Ok((Cond::region(requires, clauses, negated), th))
            }
        }
    }

    fn left(&self, v: &Value) -> Judged<Left> {
        let (k, body) = single(v).ok_or("a match on an expression that is not an object")?;
        match k {
            "payload" => payload_key(body).map(|k| Left::Keys(vec![k])),
            "meta" => {
                let key = body.get("key").and_then(Value::as_str).unwrap_or("?");
                meta_key(key).map(|k| Left::Keys(vec![k]))
            }
            "ct" => match body.get("key").and_then(Value::as_str) {
                Some("state") if body.get("dir").is_none() => {
                    Ok(Left::Keys(vec![Key { dim: Dim::CtState, kind: Kind::CtState, requires: Vec::new(), raw_transport: false }]))
                }
                Some(other) => Err(format!("match on ct {other}")),
                None => Err("match on ct without a key".into()),
            },
            "fib" => {
                let flags: Vec<&str> = match body.get("flags") {
                    Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                    Some(Value::String(s)) => vec![s.as_str()],
                    _ => Vec::new(),
                };
                if body.get("result").and_then(Value::as_str) == Some("type") && flags == ["daddr"] {
                    Ok(Left::DaddrLocal)
                } else {
                    Err("fib lookup (routing decision)".into())
                }
            }
            "concat" => {
                let parts = body.as_array().ok_or("concat that is not a list")?;
                let mut keys = Vec::new();
                for p in parts {
                    match self.left(p)? {
                        Left::Keys(k) => keys.extend(k),
                        _ => return Err("concatenation with fib".into()),
                    }
                }
                Ok(Left::Keys(keys))
            }
            "&" | "|" | "^" | "<<" | ">>" => Err("match on a bitwise expression".into()),
            other => Err(format!("match on `{other}`")),
        }
    }

    /// The clauses a right-hand side stands for, for these keys.
    fn clauses(&self, keys: &[Key], op: &str, right: &Value) -> Judged<Vec<Clause>> {
        if let Some(name) = right.as_str().and_then(|s| s.strip_prefix('@')) {
            if !matches!(op, "==" | "!=" | "in") {
                return Err(format!("`{op}` with a set"));
            }
            let set = self.set(name)?;
            if set.is_map {
                return Err(format!("match against map @{name}"));
            }
            return set
                .elems
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let (val, comment) = unwrap_elem(e);
                    let mut c = element_clause(keys, val)?;
                    c.origin = Some(Origin { set: name.to_string(), index: i, comment });
                    Ok(c)
                })
                .collect();
        }
        match op {
            "==" | "!=" | "in" => match right {
                Value::Object(o) if o.contains_key("set") => {
                    set_items(right).iter().map(|e| element_clause(keys, unwrap_elem(e).0)).collect()
                }
                _ => Ok(vec![element_clause(keys, right)?]),
            },
            "<" | ">" | "<=" | ">=" => {
                let [k] = keys else { return Err(format!("`{op}` on a concatenation")) };
                let n = match (k.kind, right) {
                    (Kind::Port | Kind::Proto | Kind::IcmpType(_), Value::Number(n)) => n.as_u64().ok_or("a negative number")? as u128,
                    _ => return Err(format!("`{op}` on {}", k.dim.name())),
                };
                let max = dim_max(k.dim);
                let r = match op {
                    "<" if n == 0 => Vec::new(),
                    "<" => vec![(0, n - 1)],
                    "<=" => vec![(0, n.min(max))],
                    ">" if n >= max => Vec::new(),
                    ">" => vec![(n + 1, max)],
                    _ => vec![(n.min(max + 1), max)],
                };
                Ok(vec![Clause::new(vec![(k.dim, Values::Ranges(r))])])
            }
            other => Err(format!("unknown operator `{other}`")),
        }
    }

    fn set(&self, name: &str) -> Judged<&SetDraft> {
        let key = (self.family, self.table.to_string(), name.to_string());
        let s = self.doc.sets.get(&key).ok_or_else(|| format!("set @{name} does not exist"))?;
        if s.flags.iter().any(|f| f == "dynamic") || self.updated.contains(&key) {
            return Err(format!("set @{name} is updated from the packet path (dynamic)"));
        }
        Ok(s)
    }

    fn vmap(&self, body: &Value, conds: &mut Vec<Cond>, raw: &mut bool) -> Judged<Action> {
        let key = body.get("key").ok_or("vmap without a key")?;
        let data = body.get("data").ok_or("vmap without data")?;
        let keys = match self.left(key)? {
            Left::Keys(k) => k,
            _ => return Err("vmap on fib".into()),
        };
        *raw |= keys.iter().any(|k| k.raw_transport);
        let (entries, set_name): (Vec<Value>, Option<&str>) = match data {
            Value::String(s) if s.starts_with('@') => {
                let name = &s[1..];
                let key = (self.family, self.table.to_string(), name.to_string());
                let m = self.doc.sets.get(&key).ok_or_else(|| format!("map @{name} does not exist"))?;
                if m.data.as_deref() != Some("verdict") {
                    return Err(format!("vmap with @{name}, which is not a verdict map"));
                }
                if self.updated.contains(&key) {
                    return Err(format!("map @{name} is updated from the packet path"));
                }
                (m.elems.clone(), Some(name))
            }
            Value::Object(_) => (set_items(data), None),
            _ => return Err("vmap data that is neither a map nor a set".into()),
        };
        let mut out = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let pair = e.as_array().filter(|a| a.len() == 2).ok_or("a verdict-map element that is not a key and a verdict")?;
            let (val, comment) = unwrap_elem(&pair[0]);
            let mut c = element_clause(&keys, val)?;
            c.origin = Some(Origin { set: set_name.unwrap_or("(anonymous map)").to_string(), index: i, comment });
            out.push((c, verdict(&pair[1])?));
        }
        let requires: Vec<Term> = keys.iter().flat_map(|k| k.requires.clone()).collect();
        conds.push(Cond::region(requires, vec![Clause::new(Vec::new())], false));
        Ok(Action::Map(out))
    }
}

fn negation(op: &str) -> Judged<bool> {
    match op {
        "==" | "in" => Ok(false),
        "!=" => Ok(true),
        other => Err(format!("operator `{other}`")),
    }
}

/// `dnat to ADDRESS`: one literal address, no port change, no flags;
/// anything else (maps, ranges, a new port) is not judged.
fn dnat(body: &Value) -> Judged<IpAddr> {
    let addr = body.get("addr").and_then(Value::as_str).ok_or("`dnat` to something other than one literal address")?;
    if body.get("port").is_some() || body.get("flags").is_some() {
        return Err("`dnat` that also changes the port or has flags".into());
    }
    addr.parse::<IpAddr>().map_err(|_| format!("`dnat to {addr}`: not one address"))
}

fn verdict(v: &Value) -> Judged<Verdict> {
    let (k, body) = single(v).ok_or("a verdict that is not an object")?;
    let target = || body.get("target").and_then(Value::as_str).map(str::to_string).ok_or_else(|| format!("{k} without a target"));
    match k {
        "accept" => Ok(Verdict::Accept),
        "drop" => Ok(Verdict::Drop),
        "continue" => Ok(Verdict::Continue),
        "return" => Ok(Verdict::Return),
        "jump" => Ok(Verdict::Jump(target()?)),
        "goto" => Ok(Verdict::Goto(target()?)),
        other => Err(format!("verdict `{other}`")),
    }
}

/// The items of `{"set": [...]}` (or a single item).
fn set_items(v: &Value) -> Vec<Value> {
    match v.get("set") {
        Some(Value::Array(a)) => a.clone(),
        Some(other) => vec![other.clone()],
        None => vec![v.clone()],
    }
}

/// An element's value and comment, unwrapping `{"elem": {"val": ...}}`.
fn unwrap_elem(v: &Value) -> (&Value, Option<String>) {
    match v.get("elem") {
        Some(e) => (e.get("val").unwrap_or(e), e.get("comment").and_then(Value::as_str).map(str::to_string)),
        None => (v, None),
    }
}

fn restricts_to_port_protos(conds: &[Cond]) -> bool {
    let ok = |vals: &Values| match vals {
        Values::Ranges(r) => r.iter().all(|&(a, b)| (a..=b).all(|p| p <= 255 && PORT_PROTOS.contains(&(p as u8)))),
        Values::Names(_) => false,
    };
    conds.iter().any(|c| {
        c.requires.iter().any(|(d, v)| *d == Dim::Proto && ok(v))
            || (!c.negated
                && matches!(&c.test, Test::Region(cl) if !cl.is_empty() && cl.iter().all(|cl| cl.terms.iter().any(|(d, v)| *d == Dim::Proto && ok(v)))))
    })
}

fn dim_max(d: Dim) -> u128 {
    match d {
        Dim::Sport | Dim::Dport => 65535,
        Dim::Proto | Dim::IcmpType => 255,
        _ => u128::MAX,
    }
}

fn fam_term(f: Family) -> Term {
    (Dim::Family, Values::one(if f == Family::V4 { FAMILY_V4 } else { FAMILY_V6 }))
}

fn payload_key(body: &Value) -> Judged<Key> {
    let (Some(proto), Some(field)) = (body.get("protocol").and_then(Value::as_str), body.get("field").and_then(Value::as_str)) else {
        return Err("match on raw payload bytes".into());
    };
    let key = |dim, kind, requires| Ok(Key { dim, kind, requires, raw_transport: false });
    match (proto, field) {
        ("ip", "saddr") => key(Dim::Src, Kind::Addr(Family::V4), vec![fam_term(Family::V4)]),
        ("ip", "daddr") => key(Dim::Dst, Kind::Addr(Family::V4), vec![fam_term(Family::V4)]),
        ("ip", "protocol") => key(Dim::Proto, Kind::Proto, vec![fam_term(Family::V4)]),
        ("ip6", "saddr") => key(Dim::Src, Kind::Addr(Family::V6), vec![fam_term(Family::V6)]),
        ("ip6", "daddr") => key(Dim::Dst, Kind::Addr(Family::V6), vec![fam_term(Family::V6)]),
        // Judged as the transport protocol: IPv6 extension headers are not modelled.
        ("ip6", "nexthdr") => key(Dim::Proto, Kind::Proto, vec![fam_term(Family::V6)]),
        ("tcp" | "udp" | "udplite" | "sctp" | "dccp", "sport" | "dport") => {
            let p = proto_number(proto).expect("known protocol") as u128;
            let dim = if field == "sport" { Dim::Sport } else { Dim::Dport };
            key(dim, Kind::Port, vec![(Dim::Proto, Values::one(p))])
        }
        ("th", "sport" | "dport") => {
            let dim = if field == "sport" { Dim::Sport } else { Dim::Dport };
            Ok(Key { dim, kind: Kind::Port, requires: Vec::new(), raw_transport: true })
        }
        // nft adds `meta nfproto ipv4` (ipv6) to ICMP (ICMPv6) matches in inet tables.
        ("icmp", "type") => key(Dim::IcmpType, Kind::IcmpType(ICMP), vec![fam_term(Family::V4), (Dim::Proto, Values::one(ICMP as u128))]),
        ("icmpv6", "type") => {
            key(Dim::IcmpType, Kind::IcmpType(ICMPV6), vec![fam_term(Family::V6), (Dim::Proto, Values::one(ICMPV6 as u128))])
        }
        (p, f) => Err(format!("match on {p} {f}")),
    }
}

fn meta_key(key: &str) -> Judged<Key> {
    let k = |dim, kind| Ok(Key { dim, kind, requires: Vec::new(), raw_transport: false });
    match key {
        "l4proto" => k(Dim::Proto, Kind::Proto),
        "nfproto" => k(Dim::Family, Kind::NfProto),
        "protocol" => k(Dim::Family, Kind::EtherType),
        "iif" | "iifname" => k(Dim::Iif, Kind::Ifname),
        "oif" | "oifname" => k(Dim::Oif, Kind::Ifname),
        other => Err(format!("match on meta {other}")),
    }
}

/// One element (or a single value) as a clause over the keys.
fn element_clause(keys: &[Key], v: &Value) -> Judged<Clause> {
    if keys.len() == 1 {
        return Ok(Clause::new(vec![(keys[0].dim, values(keys[0].kind, v)?)]));
    }
    let parts = v.get("concat").and_then(Value::as_array).ok_or("a concatenation matched against a value that is not one")?;
    if parts.len() != keys.len() {
        return Err(format!("a {}-part element for a {}-part concatenation", parts.len(), keys.len()));
    }
    let mut terms = Vec::new();
    for (k, p) in keys.iter().zip(parts) {
        terms.push((k.dim, values(k.kind, p)?));
    }
    Ok(Clause::new(terms))
}

/// The values of one key: a value, a prefix, a range, or a set of them.
fn values(kind: Kind, v: &Value) -> Judged<Values> {
    if kind == Kind::Ifname {
        let mut names = Vec::new();
        for item in set_items(v) {
            let s = item.as_str().ok_or("an interface name that is not a string")?;
            names.push(ifname(s));
        }
        return Ok(Values::Names(names));
    }
    let items = match (kind, v) {
        // `ct state established,related` lists its flags as a plain array.
        (Kind::CtState, Value::Array(a)) => a.clone(),
        _ => set_items(v),
    };
    let mut ranges = Vec::new();
    for item in items {
        ranges.push(range(kind, unwrap_elem(&item).0)?);
    }
    Ok(Values::Ranges(ranges))
}

fn ifname(s: &str) -> IfName {
    match s.strip_suffix('*') {
        Some(p) if !p.ends_with('\\') => IfName::Prefix(p.to_string()),
        _ => IfName::Exact(s.replace("\\*", "*")),
    }
}

fn range(kind: Kind, v: &Value) -> Judged<(u128, u128)> {
    if let Some(p) = v.get("prefix") {
        let Kind::Addr(f) = kind else { return Err("a prefix where no address is expected".into()) };
        let addr = p.get("addr").and_then(Value::as_str).ok_or("a prefix without an address")?;
        let len = p.get("len").and_then(Value::as_u64).ok_or("a prefix without a length")?;
        return prefix_range(f, addr, len);
    }
    if let Some(r) = v.get("range").and_then(Value::as_array) {
        let [a, b] = r.as_slice() else { return Err("a range without two ends".into()) };
        let (a, b) = (scalar(kind, a)?, scalar(kind, b)?);
        return if a <= b { Ok((a, b)) } else { Err("a range whose start is above its end".into()) };
    }
    let s = scalar(kind, v)?;
    Ok((s, s))
}

fn prefix_range(f: Family, addr: &str, len: u64) -> Judged<(u128, u128)> {
    let a = addr_value(f, addr)?;
    let bits: u64 = if f == Family::V4 { 32 } else { 128 };
    if len > bits {
        return Err(format!("prefix length {len}"));
    }
    let host = bits - len;
    let mask: u128 = if host == 128 { u128::MAX } else { (1u128 << host) - 1 };
    Ok((a & !mask, (a & !mask) | mask))
}

fn addr_value(f: Family, s: &str) -> Judged<u128> {
    match (f, s.parse::<IpAddr>()) {
        (Family::V4, Ok(IpAddr::V4(a))) => Ok(u32::from(a) as u128),
        (Family::V6, Ok(IpAddr::V6(a))) => Ok(u128::from(a)),
        _ => Err(format!("`{s}` is not an {} address", if f == Family::V4 { "IPv4" } else { "IPv6" })),
    }
}

fn scalar(kind: Kind, v: &Value) -> Judged<u128> {
    let num = |max: u128| -> Judged<u128> {
        match v {
            Value::Number(n) => n.as_u64().map(u128::from).filter(|&n| n <= max).ok_or_else(|| format!("number {n} out of range")),
            Value::String(s) => {
                s.parse::<u128>().ok().filter(|&n| n <= max).ok_or_else(|| format!("`{s}` (a name this check does not resolve)"))
            }
            _ => Err(format!("value {v}")),
        }
    };
    match kind {
        Kind::Addr(f) => addr_value(f, v.as_str().ok_or_else(|| format!("address {v}"))?),
        Kind::Port => num(65535),
        Kind::Proto => match v.as_str().and_then(proto_number) {
            Some(p) => Ok(p as u128),
            None => num(255),
        },
        Kind::IcmpType(p) => match v.as_str().and_then(|s| icmp_type_number(s, p == ICMPV6)) {
            Some(t) => Ok(t as u128),
            None => num(255),
        },
        Kind::NfProto => match v {
            Value::String(s) if s == "ipv4" => Ok(FAMILY_V4),
            Value::String(s) if s == "ipv6" => Ok(FAMILY_V6),
            Value::Number(n) if n.as_u64() == Some(2) => Ok(FAMILY_V4),
            Value::Number(n) if n.as_u64() == Some(10) => Ok(FAMILY_V6),
            _ => Err(format!("meta nfproto {v}")),
        },
        Kind::EtherType => match v {
            Value::String(s) if s == "ip" => Ok(FAMILY_V4),
            Value::String(s) if s == "ip6" => Ok(FAMILY_V6),
            Value::Number(n) if n.as_u64() == Some(0x0800) => Ok(FAMILY_V4),
            Value::Number(n) if n.as_u64() == Some(0x86dd) => Ok(FAMILY_V6),
            _ => Err(format!("meta protocol {v} (not IPv4 or IPv6)")),
        },
        Kind::CtState => match v.as_str().and_then(CtState::parse) {
            Some(s) => Ok(s.value()),
            None => Err(format!("ct state {v}")),
        },
        Kind::Ifname => Err("an interface name where a number is expected".into()),
    }
}
