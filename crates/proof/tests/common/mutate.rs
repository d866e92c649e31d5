//! Random mutations of compiled rulesets, in the form a kernel loads
//! (nftables JSON commands, iptables-restore files, the PowerShell script),
//! each with the kind of finding it must cause and, where one exists, a
//! probe packet whose verdict it changes.

#![allow(dead_code)]

use std::net::IpAddr;

use portmatrix_proof::eval::{evaluate, Verdict};
use portmatrix_proof::Packet;
use portmatrix_targets::read::{addr_of, addr_u128, Dim, ReadBack, Test, Values};
use portmatrix_targets::{Chain, Family, Ruleset};
use serde_json::{json, Value};

use super::oracle::{intended, packet, packet_of_terms, rule_terms};

/// splitmix64: deterministic, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    RemoveElement,
    WidenPrefix,
    WidenPorts,
    AddRule,
    FlipPolicy,
    ForeignAccept,
    ForeignDrop,
}

impl Kind {
    pub const LINUX: [Kind; 7] =
        [Kind::RemoveElement, Kind::WidenPrefix, Kind::WidenPorts, Kind::AddRule, Kind::FlipPolicy, Kind::ForeignAccept, Kind::ForeignDrop];
    pub const WINDOWS: [Kind; 5] = [Kind::RemoveElement, Kind::WidenPrefix, Kind::WidenPorts, Kind::AddRule, Kind::FlipPolicy];
    /// The finding the mutation must cause.
    pub fn expected(self) -> &'static str {
        match self {
            Kind::RemoveElement => "missing",
            Kind::WidenPrefix | Kind::WidenPorts | Kind::AddRule | Kind::FlipPolicy => "extra",
            Kind::ForeignAccept | Kind::ForeignDrop => "interference",
        }
    }
}

/// A mutated ruleset: its files and the packet whose verdict it changes.
#[derive(Debug, Clone)]
pub struct Mutated {
    pub kind: Kind,
    /// nftables JSON, or (v4, v6) iptables files, or the script.
    pub files: Vec<String>,
    pub probe: Option<Packet>,
    pub what: String,
}

/// The subject's addresses by family (for input), or `None` on forward.
pub struct Ctx<'a> {
    pub intent: &'a Ruleset,
}

impl Ctx<'_> {
    pub fn forward(&self) -> bool {
        self.intent.chain == Chain::Forward
    }
    pub fn own(&self, f: Family) -> Option<IpAddr> {
        self.intent.own.iter().copied().find(|a| Family::of_addr(a) == f)
    }
    /// A destination for probes of family `f`: the host's own address, or on
    /// forward an address no plan names.
    pub fn dst(&self, f: Family) -> Option<IpAddr> {
        if self.forward() {
            Some(if f == Family::V4 { "198.51.100.77".parse().unwrap() } else { "2001:db8:ffff::77".parse().unwrap() })
        } else {
            self.own(f)
        }
    }
    pub fn families(&self) -> Vec<Family> {
        [Family::V4, Family::V6].into_iter().filter(|f| self.dst(*f).is_some()).collect()
    }
    /// A source no plan names.
    pub fn stranger(&self, f: Family, rng: &mut Rng) -> IpAddr {
        match f {
            Family::V4 => addr_of(f, 0xc612_0000 + rng.range(1, 0xfffe) as u128),
            Family::V6 => addr_of(f, (0x2001_0db8_fffe_u128 << 80) + rng.range(1, 0xffff) as u128),
        }
    }
    /// A packet the plan intends: a planned rule's first source, port or type.
    pub fn planned(&self, rng: &mut Rng) -> Option<Packet> {
        let rules: Vec<_> = self.intent.rules.iter().filter(|r| self.dst(r.family).is_some()).collect();
        if rules.is_empty() {
            return None;
        }
        let r = rules[rng.below(rules.len())];
        let src = r.src[rng.below(r.src.len())].addr();
        let dst = if self.forward() { r.dst.first()?.addr() } else { self.own(r.family)? };
        let proto = super::oracle::proto_of_model(r.proto);
        let mut p = packet(
            src,
            dst,
            proto,
            r.dports.first(),
            r.icmp.first().and_then(|t| t.number(r.proto)),
            "eth9",
            self.forward().then_some("eth8"),
        );
        if let (Some(s), Some(sp)) = (r.sports.as_ref().and_then(|s| s.first()), p.src_port.as_mut()) {
            *sp = s;
        }
        intended(self.intent, &p).then_some(p)
    }
}

/// Whether the mutation changes the verdict of its probe in the direction
/// its kind says (the read-back evaluated packet by packet).
pub fn semantic(m: &Mutated, rb: &ReadBack, intent: &Ruleset) -> bool {
    let Some(p) = &m.probe else { return true };
    let v = evaluate(rb, intent.chain, p);
    match m.kind {
        Kind::RemoveElement | Kind::ForeignDrop => intended(intent, p) && v == Verdict::Drop,
        Kind::WidenPrefix | Kind::WidenPorts | Kind::AddRule | Kind::FlipPolicy => !intended(intent, p) && v == Verdict::Accept,
        Kind::ForeignAccept => true,
    }
}

// ---------------------------------------------------------------- nftables JSON

fn items(doc: &Value) -> &Vec<Value> {
    doc["nftables"].as_array().unwrap()
}

fn items_mut(doc: &mut Value) -> &mut Vec<Value> {
    doc["nftables"].as_array_mut().unwrap()
}

/// Indices of `add set` commands with elements.
fn sets(doc: &Value) -> Vec<usize> {
    items(doc)
        .iter()
        .enumerate()
        .filter(|(_, v)| v["add"]["set"]["elem"].as_array().is_some_and(|e| !e.is_empty()))
        .map(|(i, _)| i)
        .collect()
}

fn prefix_of(v: &Value) -> Option<(IpAddr, u8)> {
    if let Some(s) = v.as_str() {
        let a: IpAddr = s.parse().ok()?;
        return Some((a, if a.is_ipv4() { 32 } else { 128 }));
    }
    let p = v.get("prefix")?;
    Some((p["addr"].as_str()?.parse().ok()?, p["len"].as_u64()? as u8))
}

fn net_json(a: IpAddr, len: u8) -> Value {
    let full = if a.is_ipv4() { 32 } else { 128 };
    if len == full {
        json!(a.to_string())
    } else {
        let n = ipnet::IpNet::new(a, len).unwrap().trunc();
        json!({"prefix": {"addr": n.network().to_string(), "len": len}})
    }
}

fn ports_of(v: &Value) -> Option<(u16, u16)> {
    if let Some(n) = v.as_u64() {
        return Some((n as u16, n as u16));
    }
    let r = v.get("range")?.as_array()?;
    Some((r[0].as_u64()? as u16, r[1].as_u64()? as u16))
}

fn ports_json(a: u16, b: u16) -> Value {
    if a == b {
        json!(a)
    } else {
        json!({"range": [a, b]})
    }
}

/// The parts of a concatenated element (or the element itself).
fn concat_of(elem: &Value) -> Vec<Value> {
    let val = elem.get("elem").map(|e| &e["val"]).unwrap_or(elem);
    match val.get("concat").and_then(Value::as_array) {
        Some(a) => a.clone(),
        None => vec![val.clone()],
    }
}

fn set_concat(elem: &mut Value, parts: Vec<Value>) {
    let target = if elem.get("elem").is_some() { &mut elem["elem"]["val"] } else { elem };
    if parts.len() == 1 {
        *target = parts.into_iter().next().unwrap();
    } else {
        *target = json!({ "concat": parts });
    }
}

/// The probe for element `i` of set `name`: from the read-back of `doc`.
fn element_probe(doc: &str, name: &str, i: usize, ctx: &Ctx) -> Option<Packet> {
    let rb = ReadBack::from_nft_json(doc).ok()?;
    for c in &rb.chains {
        for r in &c.rules {
            for cond in &r.conds {
                if let Test::Region(cl) = &cond.test {
                    if let Some(x) = cl.iter().find(|x| x.origin.as_ref().is_some_and(|o| o.set == name && o.index == i)) {
                        return packet_of_terms(&rule_terms(r, Some(x)), &|f| ctx.dst(f), ctx.forward());
                    }
                }
            }
        }
    }
    None
}

/// Whether the boxes of element `i` of the set (after mutation) overlap
/// another element's: nft refuses overlapping interval elements.
fn overlaps_sibling(doc: &Value, set_item: usize, i: usize) -> bool {
    let elems = items(doc)[set_item]["add"]["set"]["elem"].as_array().unwrap();
    let boxes: Vec<Vec<(u128, u128)>> = elems.iter().map(|e| concat_of(e).iter().map(component_range).collect()).collect();
    boxes.iter().enumerate().any(|(j, b)| j != i && b.iter().zip(&boxes[i]).all(|(x, y)| x.0 <= y.1 && y.0 <= x.1))
}

fn component_range(v: &Value) -> (u128, u128) {
    if let Some((a, len)) = prefix_of(v) {
        let n = ipnet::IpNet::new(a, len).unwrap().trunc();
        return portmatrix_targets::read::net_range(&n);
    }
    let (a, b) = ports_of(v).unwrap_or((0, 65535));
    (a as u128, b as u128)
}

pub fn nft(text: &str, ctx: &Ctx, kind: Kind, rng: &mut Rng) -> Option<Mutated> {
    let mut doc: Value = serde_json::from_str(text).unwrap();
    let table = items(&doc).iter().find_map(|v| v["add"]["table"]["name"].as_str().map(str::to_string))?;
    let hook = if ctx.forward() { "forward" } else { "input" };
    let (probe, what) = match kind {
        Kind::RemoveElement => {
            let s = sets(&doc);
            if s.is_empty() {
                return None;
            }
            let si = s[rng.below(s.len())];
            let name = items(&doc)[si]["add"]["set"]["name"].as_str()?.to_string();
            let n = items(&doc)[si]["add"]["set"]["elem"].as_array()?.len();
            let i = rng.below(n);
            let probe = element_probe(text, &name, i, ctx);
            let set = &mut items_mut(&mut doc)[si]["add"]["set"];
            set["elem"].as_array_mut()?.remove(i);
            if set["elem"].as_array().is_some_and(Vec::is_empty) {
                // nft refuses an empty element list: a set without elements has none.
                set.as_object_mut()?.remove("elem");
            }
            (probe, format!("removed element {i} of @{name}"))
        }
        Kind::WidenPrefix => nft_widen(&mut doc, text, ctx, kind, rng)?,
        Kind::WidenPorts => nft_widen_ports(&mut doc, text, ctx, &table, hook, rng)?,
        Kind::AddRule => {
            let fams = ctx.families();
            let fam = fams[rng.below(fams.len())];
            let src = ctx.stranger(fam, rng);
            let port = rng.range(1, 65535) as u16;
            let dst = ctx.dst(fam)?;
            let l3 = if fam == Family::V4 { "ip" } else { "ip6" };
            let mut expr =
                vec![json!({"match": {"op": "==", "left": {"payload": {"protocol": l3, "field": "saddr"}}, "right": src.to_string()}})];
            if ctx.forward() {
                expr.push(
                    json!({"match": {"op": "==", "left": {"payload": {"protocol": l3, "field": "daddr"}}, "right": dst.to_string()}}),
                );
            }
            expr.push(json!({"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": port}}));
            expr.push(json!({"accept": null}));
            items_mut(&mut doc)
                .push(json!({"add": {"rule": {"family": "inet", "table": table, "chain": hook, "expr": expr, "comment": "mutation"}}}));
            (Some(packet(src, dst, 6, Some(port), None, "eth9", ctx.forward().then_some("eth8"))), format!("added tcp {src} -> {port}"))
        }
        Kind::FlipPolicy => {
            let c = items_mut(&mut doc).iter_mut().find(|v| v["add"]["chain"]["hook"].as_str() == Some(hook))?;
            c["add"]["chain"]["policy"] = json!("accept");
            let fams = ctx.families();
            let fam = fams[rng.below(fams.len())];
            let p = packet(
                ctx.stranger(fam, rng),
                ctx.dst(fam)?,
                6,
                Some(rng.range(1, 65535) as u16),
                None,
                "eth9",
                ctx.forward().then_some("eth8"),
            );
            (Some(p), "policy drop -> accept".into())
        }
        Kind::ForeignAccept | Kind::ForeignDrop => nft_foreign(&mut doc, ctx, kind, hook, rng)?,
    };
    let mut out = serde_json::to_string_pretty(&doc).unwrap();
    out.push('\n');
    Some(Mutated { kind, files: vec![out], probe, what })
}

fn nft_widen(doc: &mut Value, text: &str, ctx: &Ctx, kind: Kind, rng: &mut Rng) -> Option<(Option<Packet>, String)> {
    let s = sets(doc);
    if s.is_empty() {
        return None;
    }
    let si = s[rng.below(s.len())];
    let name = items(doc)[si]["add"]["set"]["name"].as_str()?.to_string();
    let n = items(doc)[si]["add"]["set"]["elem"].as_array()?.len();
    let i = rng.below(n);
    let mut probe = element_probe(text, &name, i, ctx)?;
    let mut elem = items(doc)[si]["add"]["set"]["elem"][i].clone();
    let mut parts = concat_of(&elem);
    let what;
    if kind == Kind::WidenPrefix {
        // The source (or, on forward, sometimes the destination) prefix.
        let k = if ctx.forward() && parts.len() > 1 && rng.below(2) == 1 { 1 } else { 0 };
        let (a, len) = prefix_of(&parts[k])?;
        if len == 0 {
            return None;
        }
        let shorter = len - rng.range(1, (len as u64).min(8)) as u8;
        let full = if a.is_ipv4() { 32 } else { 128 };
        let fam = if a.is_ipv4() { Family::V4 } else { Family::V6 };
        let outside = addr_of(fam, addr_u128(a) ^ (1u128 << (full - len)));
        if k == 0 {
            probe.src = outside;
        } else {
            probe.dst = outside;
        }
        parts[k] = net_json(a, shorter);
        what = format!("widened a prefix of element {i} of @{name} from /{len} to /{shorter}");
    } else {
        let last = parts.len() - 1;
        let (a, b) = ports_of(&parts[last])?;
        let k = rng.range(1, 16) as u16;
        let (na, nb, p) = if rng.below(2) == 0 && b <= 65535 - k {
            (a, b + k, b + 1)
        } else if a >= k {
            (a - k, b, a - 1)
        } else {
            return None;
        };
        probe.dst_port = Some(p);
        parts[last] = ports_json(na, nb);
        what = format!("widened the ports of element {i} of @{name} from {a}-{b} to {na}-{nb}");
    }
    set_concat(&mut elem, parts);
    items_mut(doc)[si]["add"]["set"]["elem"][i] = elem;
    if overlaps_sibling(doc, si, i) {
        return None;
    }
    Some((Some(probe), what))
}

/// The port ranges of a `dport` match's right side: a number, a range or an anonymous set of them.
fn port_items(right: &Value) -> Option<Vec<(u16, u16)>> {
    match right.get("set").and_then(Value::as_array) {
        Some(items) => items.iter().map(ports_of).collect(),
        None => Some(vec![ports_of(right)?]),
    }
}

fn port_items_json(items: &[(u16, u16)]) -> Value {
    match items {
        [(a, b)] => ports_json(*a, *b),
        _ => json!({ "set": items.iter().map(|&(a, b)| ports_json(a, b)).collect::<Vec<_>>() }),
    }
}

/// Widens one port range of a rule's `dport` match in the subject's chain
/// (the compact layout keeps ports in the rules, addresses in sets).
fn nft_widen_ports(doc: &mut Value, text: &str, ctx: &Ctx, table: &str, hook: &str, rng: &mut Rng) -> Option<(Option<Packet>, String)> {
    let in_chain = |v: &Value| v["add"]["rule"]["chain"].as_str() == Some(hook) && v["add"]["rule"]["table"].as_str() == Some(table);
    let found: Vec<(usize, usize, usize)> = items(doc)
        .iter()
        .enumerate()
        .filter(|(_, v)| in_chain(v))
        .enumerate()
        .flat_map(|(nth, (i, v))| {
            let exprs = v["add"]["rule"]["expr"].as_array().cloned().unwrap_or_default();
            exprs
                .iter()
                .enumerate()
                .filter(|(_, e)| e["match"]["left"]["payload"]["field"].as_str() == Some("dport"))
                .map(|(k, _)| (nth, i, k))
                .collect::<Vec<_>>()
        })
        .collect();
    if found.is_empty() {
        return None;
    }
    let (nth, i, k) = found[rng.below(found.len())];
    let right = &items(doc)[i]["add"]["rule"]["expr"][k]["match"]["right"];
    let mut ports = port_items(right)?;
    let j = rng.below(ports.len());
    let (a, b) = ports[j];
    // Grow upwards, stopping short of the next range (nft refuses overlapping intervals).
    let next = ports.iter().filter(|&&(x, _)| x > b).map(|&(x, _)| x as u32).min().unwrap_or(65536);
    let room = (next - 1).saturating_sub(b as u32);
    let step = (rng.range(1, 16) as u32).min(room) as u16;
    if step == 0 {
        return None;
    }
    ports[j] = (a, b + step);
    items_mut(doc)[i]["add"]["rule"]["expr"][k]["match"]["right"] = port_items_json(&ports);
    // The probe: a packet the rule matched before, moved to the new port.
    let rb = ReadBack::from_nft_json(text).ok()?;
    let chain = rb.chains.iter().find(|c| c.id.name == hook && c.id.table == table)?;
    let mut probe = packet_of_terms(&rule_terms(chain.rules.get(nth)?, None), &|f| ctx.dst(f), ctx.forward())?;
    probe.dst_port = Some(b + 1);
    Some((Some(probe), format!("widened ports {a}-{b} of rule {nth} in {hook} by {step}")))
}

fn nft_foreign(doc: &mut Value, ctx: &Ctx, kind: Kind, hook: &str, rng: &mut Rng) -> Option<(Option<Packet>, String)> {
    let probe = if kind == Kind::ForeignDrop { Some(ctx.planned(rng)?) } else { None };
    let fam = match &probe {
        Some(p) => family_of(p),
        None => {
            let fams = ctx.families();
            fams[rng.below(fams.len())]
        }
    };
    let tfam = match (rng.below(2), fam) {
        (0, _) => "inet",
        (_, Family::V4) => "ip",
        _ => "ip6",
    };
    let prio: i64 = if kind == Kind::ForeignAccept { -(rng.range(1, 300) as i64) } else { rng.range(0, 400) as i64 - 200 };
    let name = format!("foreign{}", rng.range(0, 999));
    let list = items_mut(doc);
    list.push(json!({"add": {"table": {"family": tfam, "name": name}}}));
    list.push(json!({"add": {"chain": {"family": tfam, "table": name, "name": "c", "type": "filter", "hook": hook, "prio": prio, "policy": "accept"}}}));
    if let Some(p) = &probe {
        let l3 = if fam == Family::V4 { "ip" } else { "ip6" };
        let expr = vec![
            json!({"match": {"op": "==", "left": {"payload": {"protocol": l3, "field": "saddr"}}, "right": p.src.to_string()}}),
            json!({"drop": null}),
        ];
        list.push(json!({"add": {"rule": {"family": tfam, "table": name, "chain": "c", "expr": expr}}}));
    }
    let policy = "accept";
    Some((probe, format!("foreign {tfam} table {name}, {hook} priority {prio}, policy {policy}")))
}

// ---------------------------------------------------------------- iptables

fn rule_lines(text: &str, chain: &str) -> Vec<usize> {
    let prefix = format!("-A {chain} ");
    text.lines().enumerate().filter(|(_, l)| l.starts_with(&prefix) && l.ends_with("-j ACCEPT")).map(|(i, _)| i).collect()
}

fn replace_line(text: &str, i: usize, new: Option<&str>) -> String {
    let mut out = String::new();
    for (j, l) in text.lines().enumerate() {
        if j == i {
            if let Some(n) = new {
                out.push_str(n);
                out.push('\n');
            }
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// The probe for one rule line: parse the file and take that rule.
fn line_probe(text: &str, ipset: Option<&str>, fam: Family, line: usize, ctx: &Ctx) -> Option<Packet> {
    let (v4, v6) = if fam == Family::V4 { (Some(text), None) } else { (None, Some(text)) };
    let rb = ReadBack::from_iptables_save(v4, v6, ipset).ok()?;
    let r = rb.chains.iter().flat_map(|c| &c.rules).find(|r| r.loc.line == Some(line + 1))?;
    packet_of_terms(&rule_terms(r, None), &|f| ctx.dst(f), ctx.forward())
}

fn multiport_weight(list: &str) -> usize {
    list.split(',').map(|x| if x.contains(':') { 2 } else { 1 }).sum()
}

pub fn family_of(p: &Packet) -> Family {
    if p.family == 4 {
        Family::V4
    } else {
        Family::V6
    }
}

/// Mutates an iptables ruleset: the two save files and the ipset restore
/// file they use (empty when they use none). The files of the result are
/// (v4, v6, ipset).
pub fn iptables(v4: &str, v6: &str, ipset: &str, ctx: &Ctx, kind: Kind, rng: &mut Rng) -> Option<Mutated> {
    let sets = (!ipset.is_empty()).then_some(ipset);
    let planned = if kind == Kind::ForeignDrop { Some(ctx.planned(rng)?) } else { None };
    let fams = ctx.families();
    let fam = planned.as_ref().map(family_of).unwrap_or_else(|| fams[rng.below(fams.len())]);
    let text = if fam == Family::V4 { v4 } else { v6 };
    let chain = if ctx.forward() { "FORWARD" } else { "INPUT" };
    let (new, probe, what) = match kind {
        Kind::WidenPrefix if sets.is_some() && rng.below(2) == 0 => {
            let (new_sets, probe, what) = ipset_widen(text, ipset, fam, chain, ctx, rng)?;
            return Some(Mutated { kind, files: vec![v4.to_string(), v6.to_string(), new_sets], probe: Some(probe), what });
        }
        Kind::RemoveElement | Kind::WidenPrefix | Kind::WidenPorts => ipt_edit(text, sets, fam, chain, ctx, kind, rng)?,
        Kind::AddRule => {
            let src = ctx.stranger(fam, rng);
            let dst = ctx.dst(fam)?;
            let port = rng.range(1, 65535) as u16;
            let daddr = if ctx.forward() { format!(" -d {dst}") } else { String::new() };
            let line = format!("-A {chain} -s {src}{daddr} -p tcp -m tcp --dport {port} -j ACCEPT");
            // Before the filter table's COMMIT (a nat table may follow it).
            let filter = text.lines().position(|l| l == "*filter")?;
            let commit = filter + text.lines().skip(filter).position(|l| l == "COMMIT")?;
            let out = replace_line(text, commit, Some(&format!("{line}\nCOMMIT")));
            (out, Some(packet(src, dst, 6, Some(port), None, "eth9", ctx.forward().then_some("eth8"))), format!("added {line}"))
        }
        Kind::FlipPolicy => {
            let decl = format!(":{chain} DROP");
            let i = text.lines().position(|l| l.starts_with(&decl))?;
            let new = text.lines().nth(i)?.replace(" DROP ", " ACCEPT ");
            let p = packet(
                ctx.stranger(fam, rng),
                ctx.dst(fam)?,
                6,
                Some(rng.range(1, 65535) as u16),
                None,
                "eth9",
                ctx.forward().then_some("eth8"),
            );
            (replace_line(text, i, Some(&new)), Some(p), format!("{decl} -> ACCEPT"))
        }
        Kind::ForeignAccept | Kind::ForeignDrop => {
            // mangle runs at priority -150, security at 50; raw only has PREROUTING.
            let (table, fchain) = match (kind, rng.below(3)) {
                (Kind::ForeignAccept, 0) => ("mangle", chain),
                (Kind::ForeignAccept, _) => ("mangle", "PREROUTING"),
                (_, 0) => ("raw", "PREROUTING"),
                (_, 1) => ("mangle", chain),
                _ => ("security", chain),
            };
            let chains: &[&str] = match table {
                "raw" => &["PREROUTING", "OUTPUT"],
                "security" => &["INPUT", "FORWARD", "OUTPUT"],
                _ => &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
            };
            let mut block = format!("*{table}\n");
            for c in chains {
                block.push_str(&format!(":{c} ACCEPT [0:0]\n"));
            }
            let probe = if let Some(p) = planned {
                block.push_str(&format!("-A {fchain} -s {} -j DROP\n", p.src));
                Some(p)
            } else {
                block.push_str(&format!("-A {fchain} -s {} -j ACCEPT\n", ctx.stranger(fam, rng)));
                None
            };
            block.push_str("COMMIT\n");
            (format!("{text}{block}"), probe, format!("foreign {table} {fchain}"))
        }
    };
    let files = if fam == Family::V4 { vec![new, v6.to_string()] } else { vec![v4.to_string(), new] };
    Some(Mutated { kind, files: [files, vec![ipset.to_string()]].concat(), probe, what })
}

/// Widens one member of an address set in the ipset restore file (the
/// compact layout's sources), probing from an address the wider prefix adds.
fn ipset_widen(text: &str, ipset: &str, fam: Family, chain: &str, ctx: &Ctx, rng: &mut Rng) -> Option<(String, Packet, String)> {
    let lines: Vec<&str> = ipset.lines().collect();
    // `add portmatrix_scratch NET` lines fill the set named by the next `swap portmatrix_scratch NAME`.
    let members: Vec<(usize, String, ipnet::IpNet)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let net: ipnet::IpNet = l.strip_prefix("add portmatrix_scratch ")?.parse().ok()?;
            let set = lines[i..].iter().find_map(|x| x.strip_prefix("swap portmatrix_scratch "))?.to_string();
            (net.addr().is_ipv4() == (fam == Family::V4)).then_some((i, set, net))
        })
        .collect();
    if members.is_empty() {
        return None;
    }
    let (i, set, net) = members[rng.below(members.len())].clone();
    if net.prefix_len() == 0 {
        return None;
    }
    // A rule of the chain that matches the set as its source.
    let uses = format!("--match-set {set} src");
    let rule = rule_lines(text, chain).into_iter().find(|&l| text.lines().nth(l).is_some_and(|x| x.contains(&uses)))?;
    let mut probe = line_probe(text, Some(ipset), fam, rule, ctx)?;
    let shorter = net.prefix_len() - rng.range(1, (net.prefix_len() as u64).min(8)) as u8;
    probe.src = addr_of(fam, addr_u128(net.network()) ^ (1u128 << (net.max_prefix_len() - net.prefix_len())));
    let wide = ipnet::IpNet::new(net.network(), shorter).unwrap().trunc();
    let new = replace_line(ipset, i, Some(&format!("add portmatrix_scratch {wide}")));
    Some((new, probe, format!("ipset {set}: member {net} -> {wide}")))
}

/// Removes or widens one accept rule line.
fn ipt_edit(
    text: &str,
    ipset: Option<&str>,
    fam: Family,
    chain: &str,
    ctx: &Ctx,
    kind: Kind,
    rng: &mut Rng,
) -> Option<(String, Option<Packet>, String)> {
    let lines = rule_lines(text, chain);
    if lines.is_empty() {
        return None;
    }
    let i = lines[rng.below(lines.len())];
    let line = text.lines().nth(i)?;
    let mut probe = line_probe(text, ipset, fam, i, ctx)?;
    Some(match kind {
        Kind::RemoveElement => (replace_line(text, i, None), Some(probe), format!("removed line {}", i + 1)),
        Kind::WidenPrefix => {
            let toks: Vec<&str> = line.split(' ').collect();
            let k = toks.iter().position(|t| *t == if ctx.forward() && rng.below(2) == 1 { "-d" } else { "-s" })?;
            let net: ipnet::IpNet = toks[k + 1].parse().ok()?;
            if net.prefix_len() == 0 {
                return None;
            }
            let shorter = net.prefix_len() - rng.range(1, (net.prefix_len() as u64).min(8)) as u8;
            let full = net.max_prefix_len();
            let outside = addr_of(fam, addr_u128(net.network()) ^ (1u128 << (full - net.prefix_len())));
            if toks[k] == "-s" {
                probe.src = outside;
            } else {
                probe.dst = outside;
            }
            let wide = ipnet::IpNet::new(net.network(), shorter).unwrap().trunc();
            let mut t: Vec<String> = toks.iter().map(|s| s.to_string()).collect();
            t[k + 1] = wide.to_string();
            (replace_line(text, i, Some(&t.join(" "))), Some(probe), format!("line {}: {net} -> {wide}", i + 1))
        }
        _ => {
            let toks: Vec<&str> = line.split(' ').collect();
            let k = toks.iter().position(|t| *t == "--dports")?;
            let items: Vec<&str> = toks[k + 1].split(',').collect();
            let j = rng.below(items.len());
            let (a, b) = match items[j].split_once(':') {
                Some((a, b)) => (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?),
                None => (items[j].parse().ok()?, items[j].parse().ok()?),
            };
            let step = rng.range(1, 16) as u16;
            if b > 65535 - step {
                return None;
            }
            let mut list: Vec<String> = items.iter().map(|s| s.to_string()).collect();
            list[j] = format!("{a}:{}", b + step);
            let joined = list.join(",");
            if multiport_weight(&joined) > 15 {
                return None;
            }
            probe.dst_port = Some(b + 1);
            let mut t: Vec<String> = toks.iter().map(|s| s.to_string()).collect();
            t[k + 1] = joined;
            (replace_line(text, i, Some(&t.join(" "))), Some(probe), format!("line {}: port {a}-{b} widened by {step}", i + 1))
        }
    })
}

// ---------------------------------------------------------------- PowerShell

fn ps_lines(text: &str) -> Vec<usize> {
    text.lines().enumerate().filter(|(_, l)| l.starts_with("New-NetFirewallRule")).map(|(i, _)| i).collect()
}

fn ps_param<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let at = line.find(&format!(" -{name} "))? + name.len() + 3;
    let rest = &line[at..];
    let end = rest.find(" -").or_else(|| rest.find(" |")).unwrap_or(rest.len());
    Some(&rest[..end])
}

fn ps_probe(text: &str, line: usize, ctx: &Ctx) -> Option<Packet> {
    let rb = ReadBack::from_powershell(text).ok()?;
    let r = rb.chains.iter().flat_map(|c| &c.rules).find(|r| r.loc.line == Some(line + 1))?;
    packet_of_terms(&rule_terms(r, None), &|f| ctx.dst(f), false)
}

pub fn powershell(text: &str, ctx: &Ctx, kind: Kind, rng: &mut Rng) -> Option<Mutated> {
    let lines = ps_lines(text);
    let (new, probe, what) = match kind {
        Kind::RemoveElement | Kind::WidenPrefix | Kind::WidenPorts => {
            if lines.is_empty() {
                return None;
            }
            let i = lines[rng.below(lines.len())];
            let line = text.lines().nth(i)?;
            let mut probe = ps_probe(text, i, ctx)?;
            match kind {
                Kind::RemoveElement => (replace_line(text, i, None), Some(probe), format!("removed line {}", i + 1)),
                Kind::WidenPrefix => {
                    let addrs = ps_param(line, "RemoteAddress")?;
                    let first = addrs.split(',').next()?.trim_matches('\'');
                    let net: ipnet::IpNet = first.parse().or_else(|_| first.parse::<IpAddr>().map(ipnet::IpNet::from)).ok()?;
                    if net.prefix_len() == 0 {
                        return None;
                    }
                    let shorter = net.prefix_len() - rng.range(1, (net.prefix_len() as u64).min(8)) as u8;
                    let fam = if net.addr().is_ipv4() { Family::V4 } else { Family::V6 };
                    probe = packet_of_terms(
                        &[
                            (Dim::Family, Values::one(if fam == Family::V4 { 4 } else { 6 })),
                            (Dim::Proto, Values::one(probe.protocol as u128)),
                        ],
                        &|f| ctx.dst(f),
                        false,
                    )
                    .map(|mut p| {
                        p.src = addr_of(fam, addr_u128(net.network()) ^ (1u128 << (net.max_prefix_len() - net.prefix_len())));
                        p.dst_port = probe.dst_port;
                        p.src_port = probe.src_port;
                        p.icmp_type = probe.icmp_type;
                        p
                    })?;
                    let wide = ipnet::IpNet::new(net.network(), shorter).unwrap().trunc();
                    let new_line = line.replacen(&format!("'{first}'"), &format!("'{wide}'"), 1);
                    (replace_line(text, i, Some(&new_line)), Some(probe), format!("line {}: {net} -> {wide}", i + 1))
                }
                _ => {
                    let ports = ps_param(line, "LocalPort")?;
                    let items: Vec<&str> = ports.split(',').collect();
                    let j = rng.below(items.len());
                    let (a, b) = match items[j].split_once('-') {
                        Some((a, b)) => (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?),
                        None => (items[j].parse().ok()?, items[j].parse().ok()?),
                    };
                    let step = rng.range(1, 16) as u16;
                    if b > 65535 - step {
                        return None;
                    }
                    let mut list: Vec<String> = items.iter().map(|s| s.to_string()).collect();
                    list[j] = format!("{a}-{}", b + step);
                    probe.dst_port = Some(b + 1);
                    let new_line = line.replacen(&format!(" -LocalPort {ports}"), &format!(" -LocalPort {}", list.join(",")), 1);
                    (replace_line(text, i, Some(&new_line)), Some(probe), format!("line {}: port {a}-{b} widened by {step}", i + 1))
                }
            }
        }
        Kind::AddRule => {
            let fams = ctx.families();
            let fam = fams[rng.below(fams.len())];
            let src = ctx.stranger(fam, rng);
            let port = rng.range(1, 65535) as u16;
            let line = format!(
                "New-NetFirewallRule -DisplayName 'mutation' -Group 'portmatrix: x' -Direction Inbound -Action Allow -Protocol TCP -RemoteAddress '{src}' -LocalPort {port} | Out-Null"
            );
            (format!("{text}{line}\n"), Some(packet(src, ctx.dst(fam)?, 6, Some(port), None, "eth9", None)), format!("added {line}"))
        }
        Kind::FlipPolicy => {
            if !text.contains("-DefaultInboundAction Block") {
                return None;
            }
            let fams = ctx.families();
            let fam = fams[rng.below(fams.len())];
            let p = packet(ctx.stranger(fam, rng), ctx.dst(fam)?, 6, Some(rng.range(1, 65535) as u16), None, "eth9", None);
            (text.replace("-DefaultInboundAction Block", "-DefaultInboundAction Allow"), Some(p), "default inbound Block -> Allow".into())
        }
        Kind::ForeignAccept | Kind::ForeignDrop => return None,
    };
    Some(Mutated { kind, files: vec![new], probe, what })
}
