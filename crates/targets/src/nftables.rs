//! nftables: an `inet` table, default-deny, built once as the typed JSON
//! schema of the `nftables` crate. The JSON file is that document
//! serialised; the text file is the same document printed by `print.rs`.
//!
//! Layout: one named address set per source group and family
//! (`@acd_lb`, `@agents_v6`), shared by every rule that uses it; one rule per
//! group, protocol and set of flows needing the same ports, with those ports
//! in an anonymous set, so that the size grows as sources + ports rather
//! than sources × ports. Each rule names its flows in its comment and counts
//! into one named counter per flow (`nft -j list counters` reads them back).

pub mod delta;
mod print;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use ipnet::IpNet;
use nftables::expr::{Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix, Range, SetItem, CT};
use nftables::schema::{
    self, Chain as NfChain, MetainfoObject, NfCmd, NfListObject, NfObject, Nftables as Doc, SetFlag, SetType, SetTypeValue, Table,
};
use nftables::stmt::{Accept, Counter, Drop, Match, NATFamily, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use portmatrix_model::{FlowTag, IcmpType, PortSet, Proto};

use crate::flowrules::{flow_rules, FlowRule, Service, SetNames};
use crate::ir::{comment_of, Family, Ruleset};
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
        let doc = layout(rs, h, opts);
        vec![
            OutputFile { name: format!("{n}.nft"), contents: text(&doc, h), loader: Some(Loader::Nft) },
            OutputFile { name: format!("{n}.nft.json"), contents: json(&doc), loader: Some(Loader::NftJson) },
        ]
    }
}

/// The text form: the header as comments, then the document printed.
pub fn text(doc: &Doc<'_>, h: &Header) -> String {
    let mut o = String::from("#!/usr/sbin/nft -f\n");
    for line in h.lines() {
        o.push_str("# ");
        o.push_str(&line);
        o.push('\n');
    }
    o.push('\n');
    o.push_str(&print::document(doc).expect("the layout uses only what the printer prints"));
    o
}

/// The JSON form `nft -j -f` reads: the document serialised, one command a
/// line (small, and still diffable).
pub fn json(doc: &Doc<'_>) -> String {
    let mut o = String::from("{\"nftables\": [\n");
    for (i, obj) in doc.objects.iter().enumerate() {
        if i > 0 {
            o.push_str(",\n");
        }
        o.push_str(&serde_json::to_string(obj).expect("the typed schema serialises"));
    }
    o.push_str("\n]}\n");
    o
}

pub fn render_text(rs: &Ruleset, h: &Header, opts: &RenderOptions) -> String {
    text(&layout(rs, h, opts), h)
}

pub fn render_json(rs: &Ruleset, h: &Header, opts: &RenderOptions) -> String {
    json(&layout(rs, h, opts))
}

/// An identifier nft takes unquoted: letters, digits, `_`, starting with a
/// letter. The table name comes from the caller; the CLI checks it, this
/// keeps any other caller's name from leaving its place.
fn identifier(s: &str) -> String {
    let mut out: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert(0, 't');
    }
    out.truncate(64);
    out
}

fn l3(fam: Family) -> &'static str {
    match fam {
        Family::V4 => "ip",
        Family::V6 => "ip6",
    }
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(PayloadField { protocol: protocol.into(), field: field.into() })))
}

fn matches(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op: Operator::EQ })
}

fn net_expr(n: &IpNet) -> Expression<'static> {
    if n.prefix_len() == n.max_prefix_len() {
        Expression::String(n.addr().to_string().into())
    } else {
        Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(Expression::String(n.network().to_string().into())),
            len: n.prefix_len().into(),
        }))
    }
}

fn range_expr((a, b): (u16, u16)) -> Expression<'static> {
    if a == b {
        Expression::Number(a.into())
    } else {
        Expression::Range(Box::new(Range { range: [Expression::Number(a.into()), Expression::Number(b.into())] }))
    }
}

/// One value, or an anonymous set of several.
fn one_or_set(mut items: Vec<Expression<'static>>) -> Expression<'static> {
    if items.len() == 1 {
        items.pop().expect("one item")
    } else {
        Expression::Named(NamedExpression::Set(items.into_iter().map(SetItem::Element).collect()))
    }
}

fn ports_expr(p: &PortSet) -> Expression<'static> {
    one_or_set(p.ranges().map(range_expr).collect())
}

fn nets_expr(nets: &[IpNet]) -> Expression<'static> {
    one_or_set(nets.iter().map(net_expr).collect())
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

fn icmp_expr(p: Proto, types: &[IcmpType]) -> Expression<'static> {
    one_or_set(types.iter().map(|t| Expression::String(icmp_type_name(p, *t).into())).collect())
}

fn base_icmp_comment(p: Proto, forward: bool) -> &'static str {
    match (p, forward) {
        (Proto::Icmp, _) => "ICMP errors (path MTU, unreachable)",
        (_, false) => "ICMPv6 errors and neighbour discovery",
        (_, true) => "ICMPv6 errors (path MTU, unreachable)",
    }
}

/// Counter names, one per flow: `product_flow`, made an identifier and unique.
#[derive(Default)]
struct CounterNames {
    by_tag: HashMap<FlowTag, String>,
    used: HashSet<String>,
    order: Vec<String>,
}

impl CounterNames {
    fn name(&mut self, t: &FlowTag) -> String {
        if let Some(n) = self.by_tag.get(t) {
            return n.clone();
        }
        let base = identifier(&format!("{}_{}", t.product, t.flow).to_ascii_lowercase());
        let mut name = base.clone();
        let mut bump = 2;
        while self.used.contains(&name) {
            name = format!("{base}_{bump}");
            bump += 1;
        }
        self.used.insert(name.clone());
        self.by_tag.insert(t.clone(), name.clone());
        self.order.push(name.clone());
        name
    }
}

fn statements(r: &FlowRule, counters: &mut CounterNames) -> Vec<Statement<'static>> {
    let k = &r.key;
    let mut s = vec![matches(payload(l3(k.family), "saddr"), Expression::String(format!("@{}", k.set).into()))];
    if !k.dst.is_empty() {
        s.push(matches(payload(l3(k.family), "daddr"), nets_expr(&k.dst)));
    }
    match &r.service {
        Service::Ports(p) => {
            let proto = k.proto.as_str();
            if let Some(sp) = &k.sports {
                s.push(matches(payload(proto, "sport"), ports_expr(sp)));
            }
            s.push(matches(payload(proto, "dport"), ports_expr(p)));
        }
        Service::Icmp(types) => s.push(matches(payload(icmp_keyword(k.proto), "type"), icmp_expr(k.proto, types))),
    }
    for t in &r.tags {
        s.push(Statement::Counter(Counter::Named(counters.name(t).into())));
    }
    s.push(Statement::Accept(None));
    s
}

/// Adds objects of one table.
struct Builder {
    table: String,
    objects: Vec<NfObject<'static>>,
}

impl Builder {
    fn add(&mut self, o: NfListObject<'static>) {
        self.objects.push(NfObject::CmdObject(NfCmd::Add(o)));
    }
    fn table(&self) -> Table<'static> {
        Table { family: NfFamily::INet, name: self.table.clone().into(), handle: None }
    }
    fn rule(&mut self, chain: &'static str, expr: Vec<Statement<'static>>, comment: &str) {
        let mut c = comment.to_string();
        c.truncate(COMMENT_MAX);
        self.add(NfListObject::Rule(schema::Rule {
            family: NfFamily::INet,
            table: self.table.clone().into(),
            chain: chain.into(),
            expr: Cow::Owned(expr),
            handle: None,
            index: None,
            comment: Some(c.into()),
        }));
    }
}

fn base_rules(rs: &Ruleset, b: &mut Builder, chain: &'static str) {
    let ct_state = |states: &[&'static str]| {
        Statement::Match(Match {
            left: Expression::Named(NamedExpression::CT(CT { key: "state".into(), family: None, dir: None })),
            right: Expression::List(states.iter().map(|s| Expression::String((*s).into())).collect()),
            op: Operator::IN,
        })
    };
    if rs.base.return_traffic {
        b.rule(chain, vec![ct_state(&["established", "related"]), Statement::Accept(None)], "return traffic");
    }
    if rs.base.drop_invalid {
        b.rule(chain, vec![ct_state(&["invalid"]), Statement::Drop(None::<Drop>)], "invalid packets");
    }
    if rs.base.loopback {
        let iif = Expression::Named(NamedExpression::Meta(Meta { key: MetaKey::Iif }));
        b.rule(chain, vec![matches(iif, Expression::String("lo".into())), Statement::Accept(None::<Accept>)], "loopback");
    }
    for p in [Proto::Icmp, Proto::Icmpv6] {
        let types = rs.base.icmp_types(p);
        if !types.is_empty() {
            let m = matches(payload(icmp_keyword(p), "type"), icmp_expr(p, &types));
            b.rule(chain, vec![m, Statement::Accept(None)], base_icmp_comment(p, rs.forward()));
        }
    }
}

/// The port forwards: a nat chain on prerouting (priority dstnat) that
/// translates the public address to the host's before the forward chain
/// judges the packet by the flows' rules.
fn port_forwards(rs: &Ruleset, b: &mut Builder) {
    b.add(NfListObject::Chain(NfChain {
        family: NfFamily::INet,
        table: b.table.clone().into(),
        name: "prerouting".into(),
        newname: None,
        handle: None,
        _type: Some(NfChainType::NAT),
        hook: Some(NfHook::Prerouting),
        prio: Some(DSTNAT_PRIORITY),
        dev: None,
        policy: Some(NfChainPolicy::Accept),
    }));
    for d in &rs.dnat {
        let fam = d.family();
        let expr = vec![
            matches(payload(l3(fam), "daddr"), Expression::String(d.public.to_string().into())),
            matches(payload(d.proto.as_str(), "dport"), ports_expr(&d.ports)),
            Statement::DNAT(Some(NAT {
                addr: Some(Expression::String(d.private.to_string().into())),
                family: Some(if fam == Family::V4 { NATFamily::IP } else { NATFamily::IP6 }),
                port: None,
                flags: None,
            })),
        ];
        b.rule("prerouting", expr, &format!("port forward to {}: {}", d.host, comment_of(&d.reasons)));
    }
}

/// The priority `dstnat` names (NF_IP_PRI_NAT_DST).
const DSTNAT_PRIORITY: i32 = -100;

/// The ruleset as the typed nftables document both files come from.
pub fn layout(rs: &Ruleset, h: &Header, opts: &RenderOptions) -> Doc<'static> {
    let mut b = Builder { table: identifier(&opts.table), objects: Vec::new() };
    b.objects.push(NfObject::ListObject(NfListObject::MetainfoObject(MetainfoObject {
        version: None,
        release_name: Some(h.lines().join(" | ").into()),
        json_schema_version: Some(1),
    })));
    // Create-then-delete empties a table left by an earlier run without
    // failing on a first run; the whole file is one transaction.
    b.add(NfListObject::Table(b.table()));
    b.objects.push(NfObject::CmdObject(NfCmd::Delete(NfListObject::Table(b.table()))));
    b.add(NfListObject::Table(b.table()));

    let mut sets = SetNames::default();
    let rules = flow_rules(rs, &mut sets);
    for (name, fam, nets) in &sets.order {
        b.add(NfListObject::Set(Box::new(schema::Set {
            family: NfFamily::INet,
            table: b.table.clone().into(),
            name: name.clone().into(),
            handle: None,
            set_type: SetTypeValue::Single(if *fam == Family::V4 { SetType::Ipv4Addr } else { SetType::Ipv6Addr }),
            policy: None,
            flags: Some(HashSet::from([SetFlag::Interval])),
            elem: Some(Cow::Owned(nets.iter().map(net_expr).collect())),
            timeout: None,
            gc_interval: None,
            size: None,
            comment: None,
        })));
    }
    let mut counters = CounterNames::default();
    let flow_exprs: Vec<(Vec<Statement<'static>>, String)> =
        rules.iter().map(|r| (statements(r, &mut counters), comment_of(&r.tags))).collect();
    for name in &counters.order {
        b.add(NfListObject::Counter(schema::Counter {
            family: NfFamily::INet,
            table: b.table.clone().into(),
            name: name.clone().into(),
            handle: None,
            packets: None,
            bytes: None,
        }));
    }
    if !rs.dnat.is_empty() {
        port_forwards(rs, &mut b);
    }
    let (chain, hook) = if rs.forward() { ("forward", NfHook::Forward) } else { ("input", NfHook::Input) };
    b.add(NfListObject::Chain(NfChain {
        family: NfFamily::INet,
        table: b.table.clone().into(),
        name: chain.into(),
        newname: None,
        handle: None,
        _type: Some(NfChainType::Filter),
        hook: Some(hook),
        prio: Some(0),
        dev: None,
        policy: Some(NfChainPolicy::Drop),
    }));
    base_rules(rs, &mut b, chain);
    for (expr, comment) in flow_exprs {
        b.rule(chain, expr, &comment);
    }
    Doc { objects: Cow::Owned(b.objects) }
}
