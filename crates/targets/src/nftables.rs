//! nftables: an `inet` table, default-deny, with named interval sets of
//! concatenations so that the rule count does not grow with the flows.

use std::collections::BTreeMap;
use std::fmt::Write;

use ipnet::IpNet;
use portmatrix_model::{FlowTag, IcmpType, PortSet, Proto};
use serde_json::{json, Value};

use crate::escape::{comment_line, double_quoted};
use crate::ir::{comment_of, Family, Rule, Ruleset};
use crate::{Backend, Capabilities, Header, Loader, OutputFile, RenderOptions};

/// nftables keeps comments of up to 128 bytes.
const COMMENT_MAX: usize = 120;

pub struct Nftables;

impl Backend for Nftables {
    fn capabilities(&self) -> Capabilities {
        Capabilities { name: "nftables", host_os: &[portmatrix_model::Os::Linux], forward: true, export: false, comment_max: COMMENT_MAX }
    }
    fn render(&self, rs: &Ruleset, h: &Header, opts: &RenderOptions) -> Vec<OutputFile> {
        let n = rs.name();
        vec![
            OutputFile { name: format!("{n}.nft"), contents: render_text(rs, h, opts), loader: Some(Loader::Nft) },
            OutputFile { name: format!("{n}.nft.json"), contents: render_json(rs, h, opts), loader: Some(Loader::NftJson) },
        ]
    }
}

/// A comment as nftables text writes it: quoted, inert, within the limit.
fn q(s: &str) -> String {
    double_quoted(s, COMMENT_MAX)
}

/// Sets are keyed by family, protocol and the exact source-port set (if
/// any): within one set, elements then differ in addresses and destination
/// ports only, which keeps making them disjoint cheap.
type SetKey = (Family, Proto, Option<PortSet>);

/// A named set with its elements, and the rules that could not join it.
struct SetPlan {
    key: SetKey,
    name: String,
    elems: Vec<Elem>,
    alone: Vec<Elem>,
}

fn addr_type(fam: Family) -> &'static str {
    if fam == Family::V4 {
        "ipv4_addr"
    } else {
        "ipv6_addr"
    }
}

fn l3(fam: Family) -> &'static str {
    if fam == Family::V4 {
        "ip"
    } else {
        "ip6"
    }
}

fn net_text(n: &IpNet) -> String {
    if n.prefix_len() == n.max_prefix_len() {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

fn range_text((a, b): (u16, u16)) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}

/// One set element before rendering: a box of source, destination, source
/// port range and destination ports.
#[derive(Debug, Clone)]
struct Elem {
    src: IpNet,
    dst: Option<IpNet>,
    sport: Option<(u16, u16)>,
    dports: PortSet,
    /// Which flow asked for which ports: an element's comment names only the
    /// flows that need its port range.
    contrib: Vec<(PortSet, FlowTag)>,
}

/// A box without its destination ports: source, destination, source-port range.
type BoxKey = (IpNet, Option<IpNet>, Option<(u16, u16)>);

fn nets_overlap(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn opt_overlap<T>(a: &Option<T>, b: &Option<T>, f: impl Fn(&T, &T) -> bool) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => f(a, b),
        _ => true,
    }
}

impl Elem {
    fn overlaps(&self, o: &Elem) -> bool {
        nets_overlap(&self.src, &o.src)
            && opt_overlap(&self.dst, &o.dst, nets_overlap)
            && opt_overlap(&self.sport, &o.sport, |a, b| a.0 <= b.1 && b.0 <= a.1)
            && self.dports.overlaps(&o.dports)
    }
    /// Whether `self` covers `o`'s addresses and source ports entirely.
    fn covers_addresses(&self, o: &Elem) -> bool {
        self.src.contains(&o.src)
            && match (&self.dst, &o.dst) {
                (Some(a), Some(b)) => a.contains(b),
                (None, None) => true,
                _ => false,
            }
            && self.sport == o.sport
    }
    /// Every flow behind the box (for standalone rules).
    fn comment(&self) -> String {
        self.comment_for(&self.dports)
    }
    /// The flows that need some port of `ports`.
    fn comment_for(&self, ports: &PortSet) -> String {
        let mut tags: Vec<FlowTag> = Vec::new();
        for (p, t) in &self.contrib {
            if p.overlaps(ports) && !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        comment_of(&tags)
    }
    /// Records that `other`'s flows also need the ports this box keeps.
    fn absorb_reasons(&mut self, other: &Elem) {
        for (p, t) in &other.contrib {
            let shared = p.intersection(&self.dports);
            if !shared.is_empty() {
                self.contrib.push((shared, t.clone()));
            }
        }
    }
}

/// Splits the rules of one set into set elements that do not overlap (an
/// interval set refuses overlapping elements) and standalone rules for the
/// rest. Nothing is widened: overlaps are subtracted or kept apart.
fn partition(rules: &[&Rule], forward: bool) -> (Vec<Elem>, Vec<Elem>) {
    let mut exact: BTreeMap<BoxKey, Elem> = BTreeMap::new();
    for r in rules {
        let dsts: Vec<Option<IpNet>> = if forward { r.dst.iter().copied().map(Some).collect() } else { vec![None] };
        let sports: Vec<Option<(u16, u16)>> = match &r.sports {
            Some(s) => s.ranges().map(Some).collect(),
            None => vec![None],
        };
        for s in &r.src {
            for d in &dsts {
                for sp in &sports {
                    let e = exact.entry((*s, *d, *sp)).or_insert_with(|| Elem {
                        src: *s,
                        dst: *d,
                        sport: *sp,
                        dports: PortSet::new(),
                        contrib: Vec::new(),
                    });
                    e.dports = e.dports.union(&r.dports);
                    for t in &r.reasons {
                        e.contrib.push((r.dports.clone(), t.clone()));
                    }
                }
            }
        }
    }
    let mut all: Vec<Elem> = exact.into_values().collect();
    // Broad prefixes first, so narrower boxes subtract what they already cover.
    all.sort_by_key(|e| (e.src.prefix_len(), e.dst.map(|d| d.prefix_len()), e.src, e.dst, e.sport));
    if !forward {
        return (subtract_ancestors(all), Vec::new());
    }
    // Elements are bucketed by the first 16 bits of their source, so that
    // overlap checks compare neighbours only; sources wider than /16 are
    // compared with everything. Planning 10,000 hosts stays near-linear.
    let bucket = |n: &IpNet| -> Option<u32> {
        (n.prefix_len() >= 16).then(|| match n {
            IpNet::V4(v) => u32::from(v.network()) >> 16,
            IpNet::V6(v) => (u128::from(v.network()) >> 112) as u32,
        })
    };
    let mut set: Vec<Elem> = Vec::new();
    let mut by_bucket: BTreeMap<Option<u32>, Vec<usize>> = BTreeMap::new();
    let mut alone: Vec<Elem> = Vec::new();
    for mut e in all {
        let b = bucket(&e.src);
        let candidates: Vec<usize> = match b {
            Some(_) => by_bucket.get(&b).into_iter().chain(by_bucket.get(&None)).flatten().copied().collect(),
            None => (0..set.len()).collect(),
        };
        for &i in &candidates {
            let a = &mut set[i];
            if a.covers_addresses(&e) && a.dports.overlaps(&e.dports) {
                a.absorb_reasons(&e);
                e.dports = e.dports.difference(&a.dports);
            }
        }
        if e.dports.is_empty() {
            continue;
        }
        if candidates.iter().any(|&i| set[i].overlaps(&e)) {
            alone.push(e);
        } else {
            by_bucket.entry(b).or_default().push(set.len());
            set.push(e);
        }
    }
    set.sort_by(|a, b| (a.src, a.dst, a.sport, &a.dports).cmp(&(b.src, b.dst, b.sport, &b.dports)));
    (set, alone)
}

/// Input sets: no destination, one source-port set per set, so two boxes
/// overlap only when one source prefix contains the other and their port
/// ranges meet. Each box gives up the ports its enclosing prefixes already
/// accept; the result is disjoint. Linear in boxes × prefix length.
fn subtract_ancestors(all: Vec<Elem>) -> Vec<Elem> {
    let mut kept: Vec<Elem> = Vec::with_capacity(all.len());
    let mut index: std::collections::HashMap<(Option<(u16, u16)>, IpNet), usize> = std::collections::HashMap::new();
    for mut e in all {
        for len in 0..e.src.prefix_len() {
            let anc = IpNet::new(e.src.addr(), len).expect("shorter prefix is valid").trunc();
            if let Some(&i) = index.get(&(e.sport, anc)) {
                let a = &mut kept[i];
                if a.dports.overlaps(&e.dports) {
                    a.absorb_reasons(&e);
                    e.dports = e.dports.difference(&a.dports);
                }
            }
        }
        if !e.dports.is_empty() {
            index.insert((e.sport, e.src), kept.len());
            kept.push(e);
        }
    }
    kept.sort_by(|a, b| (a.src, a.sport, &a.dports).cmp(&(b.src, b.sport, &b.dports)));
    kept
}

/// Text and JSON parts of the set elements of one box (one per port range),
/// each with the flows that need that range.
fn element_parts(e: &Elem) -> Vec<(String, Vec<Value>, String)> {
    e.dports
        .ranges()
        .map(|dp| {
            let mut parts = vec![net_text(&e.src)];
            let mut js = vec![net_json(&e.src)];
            if let Some(d) = &e.dst {
                parts.push(net_text(d));
                js.push(net_json(d));
            }
            if let Some(sp) = e.sport {
                parts.push(range_text(sp));
                js.push(port_json(sp));
            }
            parts.push(range_text(dp));
            js.push(port_json(dp));
            (parts.join(" . "), js, e.comment_for(&PortSet::range(dp.0, dp.1)))
        })
        .collect()
}

fn net_json(n: &IpNet) -> Value {
    if n.prefix_len() == n.max_prefix_len() {
        json!(n.addr().to_string())
    } else {
        json!({"prefix": {"addr": n.network().to_string(), "len": n.prefix_len()}})
    }
}

fn port_json((a, b): (u16, u16)) -> Value {
    if a == b {
        json!(a)
    } else {
        json!({"range": [a, b]})
    }
}

/// A standalone rule for a box that overlaps the set.
fn standalone_text(e: &Elem, fam: Family, proto: Proto) -> String {
    let mut s = format!("{} saddr {}", l3(fam), net_text(&e.src));
    if let Some(d) = &e.dst {
        s.push_str(&format!(" {} daddr {}", l3(fam), net_text(d)));
    }
    if let Some(sp) = e.sport {
        s.push_str(&format!(" {proto} sport {}", range_text(sp)));
    }
    let ports: Vec<String> = e.dports.ranges().map(range_text).collect();
    s.push_str(&format!(" {proto} dport {{ {} }} accept comment {}", ports.join(", "), q(&e.comment())));
    s
}

fn standalone_json(e: &Elem, fam: Family, proto: Proto) -> Vec<Value> {
    let mut expr =
        vec![json!({"match": {"op": "==", "left": {"payload": {"protocol": l3(fam), "field": "saddr"}}, "right": net_json(&e.src)}})];
    if let Some(d) = &e.dst {
        expr.push(json!({"match": {"op": "==", "left": {"payload": {"protocol": l3(fam), "field": "daddr"}}, "right": net_json(d)}}));
    }
    if let Some(sp) = e.sport {
        expr.push(
            json!({"match": {"op": "==", "left": {"payload": {"protocol": proto.as_str(), "field": "sport"}}, "right": port_json(sp)}}),
        );
    }
    let ports: Vec<Value> = e.dports.ranges().map(port_json).collect();
    expr.push(json!({"match": {"op": "==", "left": {"payload": {"protocol": proto.as_str(), "field": "dport"}}, "right": {"set": ports}}}));
    expr.push(json!({"accept": null}));
    expr
}

struct Layout<'r> {
    sets: Vec<SetPlan>,
    icmp: Vec<&'r Rule>,
}

fn layout(rs: &Ruleset) -> Layout<'_> {
    let mut by_key: BTreeMap<SetKey, Vec<&Rule>> = BTreeMap::new();
    let mut icmp = Vec::new();
    for r in &rs.rules {
        if r.proto.has_ports() {
            by_key.entry((r.family, r.proto, r.sports.clone())).or_default().push(r);
        } else {
            icmp.push(r);
        }
    }
    let mut sport_sets = 0;
    let sets = by_key
        .into_iter()
        .map(|(key, rules)| {
            let f = if key.0 == Family::V4 { "4" } else { "6" };
            let dir = if rs.forward() { "fwd" } else { "in" };
            let name = match &key.2 {
                None => format!("{dir}_{}{f}", key.1),
                Some(_) => {
                    sport_sets += 1;
                    format!("{dir}_{}{f}_sport{sport_sets}", key.1)
                }
            };
            let (elems, alone) = partition(&rules, rs.forward());
            SetPlan { key, name, elems, alone }
        })
        .collect();
    Layout { sets, icmp }
}

fn set_type(key: &SetKey, forward: bool) -> Vec<&'static str> {
    let mut t = vec![addr_type(key.0)];
    if forward {
        t.push(addr_type(key.0));
    }
    if key.2.is_some() {
        t.push("inet_service");
    }
    t.push("inet_service");
    t
}

fn match_text(key: &SetKey, forward: bool) -> String {
    let mut parts = vec![format!("{} saddr", l3(key.0))];
    if forward {
        parts.push(format!("{} daddr", l3(key.0)));
    }
    if key.2.is_some() {
        parts.push(format!("{} sport", key.1));
    }
    parts.push(format!("{} dport", key.1));
    parts.join(" . ")
}

fn icmp_keyword(p: Proto) -> &'static str {
    if p == Proto::Icmp {
        "icmp"
    } else {
        "icmpv6"
    }
}

/// ICMP type names as nftables spells them.
fn icmp_type_name(p: Proto, t: IcmpType) -> &'static str {
    match (p, t) {
        (Proto::Icmpv6, IcmpType::NeighborSolicitation) => "nd-neighbor-solicit",
        (Proto::Icmpv6, IcmpType::NeighborAdvertisement) => "nd-neighbor-advert",
        (Proto::Icmpv6, IcmpType::RouterSolicitation) => "nd-router-solicit",
        (Proto::Icmpv6, IcmpType::RouterAdvertisement) => "nd-router-advert",
        _ => t.as_str(),
    }
}

fn icmp_names(p: Proto, types: &[IcmpType]) -> Vec<&'static str> {
    types.iter().map(|t| icmp_type_name(p, *t)).collect()
}

fn base_icmp_comment(p: Proto, forward: bool) -> &'static str {
    match (p, forward) {
        (Proto::Icmp, _) => "ICMP errors (path MTU, unreachable)",
        (_, false) => "ICMPv6 errors and neighbour discovery",
        (_, true) => "ICMPv6 errors (path MTU, unreachable)",
    }
}

fn set_list(nets: &[IpNet]) -> String {
    format!("{{ {} }}", nets.iter().map(net_text).collect::<Vec<_>>().join(", "))
}

pub fn render_text(rs: &Ruleset, h: &Header, opts: &RenderOptions) -> String {
    let forward = rs.forward();
    let l = layout(rs);
    let mut o = String::new();
    let _ = writeln!(o, "#!/usr/sbin/nft -f");
    for line in h.lines() {
        let _ = writeln!(o, "# {line}");
    }
    let table = comment_line(&opts.table);
    let _ = writeln!(o, "\ntable inet {table}");
    let _ = writeln!(o, "delete table inet {table}\n");
    let _ = writeln!(o, "table inet {table} {{");
    for sp in &l.sets {
        let name = &sp.name;
        let _ = writeln!(o, "    set {name} {{");
        let _ = writeln!(o, "        type {}", set_type(&sp.key, forward).join(" . "));
        let _ = writeln!(o, "        flags interval");
        let lines: Vec<String> =
            sp.elems.iter().flat_map(|e| element_parts(e).into_iter().map(|(t, _, c)| format!("{t} comment {}", q(&c)))).collect();
        let _ = writeln!(o, "        elements = {{");
        for (i, l) in lines.iter().enumerate() {
            let sep = if i + 1 < lines.len() { "," } else { "" };
            let _ = writeln!(o, "            {l}{sep}");
        }
        let _ = writeln!(o, "        }}");
        let _ = writeln!(o, "    }}\n");
    }
    let hook = if forward { "forward" } else { "input" };
    let _ = writeln!(o, "    chain {hook} {{");
    let _ = writeln!(o, "        type filter hook {hook} priority filter; policy drop;");
    if rs.base.return_traffic {
        let _ = writeln!(o, "        ct state established,related accept comment \"return traffic\"");
    }
    if rs.base.drop_invalid {
        let _ = writeln!(o, "        ct state invalid drop comment \"invalid packets\"");
    }
    if rs.base.loopback {
        let _ = writeln!(o, "        iif \"lo\" accept comment \"loopback\"");
    }
    for p in [Proto::Icmp, Proto::Icmpv6] {
        let types = rs.base.icmp_types(p);
        if !types.is_empty() {
            let _ = writeln!(
                o,
                "        {p} type {{ {} }} accept comment {}",
                icmp_names(p, &types).join(", "),
                q(base_icmp_comment(p, forward))
            );
        }
    }
    for sp in &l.sets {
        let name = &sp.name;
        let _ = writeln!(
            o,
            "        {} @{name} accept comment {}",
            match_text(&sp.key, forward),
            q(&format!("{} flows: reasons on the elements of @{name}", sp.key.1))
        );
    }
    for sp in &l.sets {
        for e in &sp.alone {
            let _ = writeln!(o, "        {}", standalone_text(e, sp.key.0, sp.key.1));
        }
    }
    for r in &l.icmp {
        let kw = icmp_keyword(r.proto);
        let types = icmp_names(r.proto, &r.icmp);
        let daddr = if forward { format!(" {} daddr {}", l3(r.family), set_list(&r.dst)) } else { String::new() };
        let _ = writeln!(
            o,
            "        {} saddr {}{daddr} {kw} type {{ {} }} accept comment {}",
            l3(r.family),
            set_list(&r.src),
            types.join(", "),
            q(&r.comment())
        );
    }
    let _ = writeln!(o, "    }}");
    let _ = writeln!(o, "}}");
    o
}

/// The same ruleset in the JSON form `nft -j -f` accepts.
pub fn render_json(rs: &Ruleset, h: &Header, opts: &RenderOptions) -> String {
    let forward = rs.forward();
    let l = layout(rs);
    let table = opts.table.as_str();
    let hook = if forward { "forward" } else { "input" };
    let mut cmds: Vec<Value> = vec![json!({"metainfo": {"json_schema_version": 1, "release_name": h.lines().join(" | ")}})];
    cmds.push(json!({"add": {"table": {"family": "inet", "name": table}}}));
    cmds.push(json!({"delete": {"table": {"family": "inet", "name": table}}}));
    cmds.push(json!({"add": {"table": {"family": "inet", "name": table}}}));
    for sp in &l.sets {
        let name = &sp.name;
        let ty: Vec<&str> = set_type(&sp.key, forward);
        let elem: Vec<Value> = sp
            .elems
            .iter()
            .flat_map(|e| element_parts(e).into_iter().map(|(_, js, c)| json!({"elem": {"val": {"concat": js}, "comment": c}})))
            .collect();
        cmds.push(
            json!({"add": {"set": {"family": "inet", "table": table, "name": name, "type": ty, "flags": ["interval"], "elem": elem}}}),
        );
    }
    cmds.push(json!({"add": {"chain": {"family": "inet", "table": table, "name": hook, "type": "filter", "hook": hook, "prio": 0, "policy": "drop"}}}));
    let mut rule = |expr: Vec<Value>, comment: &str| {
        cmds.push(json!({"add": {"rule": {"family": "inet", "table": table, "chain": hook, "expr": expr, "comment": comment}}}));
    };
    if rs.base.return_traffic {
        rule(
            vec![
                json!({"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}),
                json!({"accept": null}),
            ],
            "return traffic",
        );
    }
    if rs.base.drop_invalid {
        rule(
            vec![json!({"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["invalid"]}}), json!({"drop": null})],
            "invalid packets",
        );
    }
    if rs.base.loopback {
        rule(vec![json!({"match": {"op": "==", "left": {"meta": {"key": "iif"}}, "right": "lo"}}), json!({"accept": null})], "loopback");
    }
    for p in [Proto::Icmp, Proto::Icmpv6] {
        let types = rs.base.icmp_types(p);
        if !types.is_empty() {
            rule(
                vec![
                    json!({"match": {"op": "==", "left": {"payload": {"protocol": icmp_keyword(p), "field": "type"}}, "right": {"set": icmp_names(p, &types)}}}),
                    json!({"accept": null}),
                ],
                base_icmp_comment(p, forward),
            );
        }
    }
    for sp in &l.sets {
        let (key, name) = (&sp.key, &sp.name);
        let mut left = vec![json!({"payload": {"protocol": l3(key.0), "field": "saddr"}})];
        if forward {
            left.push(json!({"payload": {"protocol": l3(key.0), "field": "daddr"}}));
        }
        if key.2.is_some() {
            left.push(json!({"payload": {"protocol": key.1.as_str(), "field": "sport"}}));
        }
        left.push(json!({"payload": {"protocol": key.1.as_str(), "field": "dport"}}));
        rule(
            vec![json!({"match": {"op": "==", "left": {"concat": left}, "right": format!("@{name}")}}), json!({"accept": null})],
            &format!("{} flows: reasons on the elements of @{name}", key.1),
        );
    }
    for sp in &l.sets {
        for e in &sp.alone {
            rule(standalone_json(e, sp.key.0, sp.key.1), &e.comment());
        }
    }
    for r in &l.icmp {
        let mut expr = vec![
            json!({"match": {"op": "==", "left": {"payload": {"protocol": l3(r.family), "field": "saddr"}}, "right": {"set": r.src.iter().map(net_json).collect::<Vec<_>>()}}}),
        ];
        if forward {
            expr.push(json!({"match": {"op": "==", "left": {"payload": {"protocol": l3(r.family), "field": "daddr"}}, "right": {"set": r.dst.iter().map(net_json).collect::<Vec<_>>()}}}));
        }
        let t: Vec<Value> = icmp_names(r.proto, &r.icmp).into_iter().map(|t| json!(t)).collect();
        expr.push(
            json!({"match": {"op": "==", "left": {"payload": {"protocol": icmp_keyword(r.proto), "field": "type"}}, "right": {"set": t}}}),
        );
        expr.push(json!({"accept": null}));
        rule(expr, &r.comment());
    }
    let mut s = serde_json::to_string_pretty(&json!({"nftables": cmds})).expect("JSON");
    s.push('\n');
    s
}
