//! Foreign chains on our hooks: would another table (Docker's, an
//! iptables-nft user's, firewalld's) drop planned traffic, or let through
//! what the plan forbids before our rules see it?
//!
//! A simple analysis of the live ruleset (`nft -j list ruleset`), kept in this
//! one module so that it can later hand the question to the exact checker
//! (`portmatrix-proof`). It follows netfilter's semantics:
//!
//! - Every base chain on a hook sees the packet, in priority order. Within a
//!   chain the first rule that matches with a verdict decides for that chain.
//! - `accept` ends only its own base chain: the next base chain on the hook
//!   still sees the packet. So a foreign chain that accepts everything can
//!   never let a packet past our table's `policy drop`; it is noted, not
//!   refused.
//! - `drop` and `reject` are final wherever they happen, before or after our
//!   chain: a foreign base chain that drops a planned packet breaks the plan.
//! - In iptables mode our rules live in a chain that the `filter` table's
//!   INPUT (or FORWARD) jumps to. A rule of INPUT *before* that jump that
//!   accepts a packet ends INPUT for it, so our chain never sees it: such a
//!   rule accepting a packet the plan forbids is refused ("accepts everything
//!   first"), and one dropping a planned packet too.
//!
//! What it judges: base chains of type `filter` on the hooks a packet to this
//! host crosses (prerouting, input; forward for a network firewall; ingress)
//! in the families that see it (ip or ip6, inet, netdev). For each, it runs a
//! set of planned packets (one per rule of our ruleset, the admin path and
//! the caller's session) and forbidden ones through the chain with a
//! three-valued evaluation of the matches it understands: addresses,
//! prefixes, ranges and named sets; protocols and ports; `ct state` (a new
//! connection is `new`); the input interface (never `lo` for these
//! packets); concatenations; jumps, gotos and returns. Anything else (`xt`
//! matches other than comments, marks, `fib`, rate limits, ...) is *unknown*:
//! a rule that might drop a planned packet through an unknown match is
//! reported as uncertain, not refused. NAT chains are not judged (they
//! rewrite, they do not filter).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use portmatrix_model::{IcmpType, Proto};
use portmatrix_plan::Packet;
use portmatrix_targets::Chain;
use serde_json::Value;

/// A chain of the live ruleset.
#[derive(Debug, Clone)]
pub struct LiveChain {
    pub family: String,
    pub table: String,
    pub name: String,
    /// Set for base chains: type, hook, priority, policy.
    pub base: Option<BaseChain>,
    pub rules: Vec<LiveRule>,
}

#[derive(Debug, Clone)]
pub struct BaseChain {
    pub kind: String,
    pub hook: String,
    pub prio: i64,
    pub policy: String,
}

#[derive(Debug, Clone)]
pub struct LiveRule {
    pub handle: Option<u64>,
    pub comment: Option<String>,
    pub expr: Vec<Value>,
}

/// The live ruleset as `nft -j list ruleset` prints it.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub chains: Vec<LiveChain>,
    /// (family, table, set) → elements.
    sets: HashMap<(String, String, String), Vec<Value>>,
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

impl Live {
    /// Parses the JSON of `nft -j list ruleset`; unknown objects are ignored.
    pub fn parse(json: &str) -> Result<Live, String> {
        let doc: Value = serde_json::from_str(json).map_err(|e| format!("nft -j list ruleset: not JSON: {e}"))?;
        let items = doc.get("nftables").and_then(Value::as_array).ok_or("nft -j list ruleset: no `nftables` array")?;
        let mut live = Live::default();
        let mut index: HashMap<(String, String, String), usize> = HashMap::new();
        for item in items {
            if let Some(c) = item.get("chain") {
                let base = c.get("hook").map(|_| BaseChain {
                    kind: text(c, "type"),
                    hook: text(c, "hook"),
                    prio: c.get("prio").and_then(Value::as_i64).unwrap_or(0),
                    policy: c.get("policy").and_then(Value::as_str).unwrap_or("accept").to_string(),
                });
                let key = (text(c, "family"), text(c, "table"), text(c, "name"));
                index.insert(key.clone(), live.chains.len());
                live.chains.push(LiveChain { family: key.0, table: key.1, name: key.2, base, rules: Vec::new() });
            } else if let Some(r) = item.get("rule") {
                let key = (text(r, "family"), text(r, "table"), text(r, "chain"));
                let Some(&i) = index.get(&key) else { continue };
                let expr = r.get("expr").and_then(Value::as_array).cloned().unwrap_or_default();
                let comment = r.get("comment").and_then(Value::as_str).map(str::to_string);
                live.chains[i].rules.push(LiveRule { handle: r.get("handle").and_then(Value::as_u64), comment, expr });
            } else if let Some(s) = item.get("set").or_else(|| item.get("map")) {
                let elems = s.get("elem").and_then(Value::as_array).cloned().unwrap_or_default();
                live.sets.insert((text(s, "family"), text(s, "table"), text(s, "name")), elems);
            }
        }
        Ok(live)
    }

    fn chain(&self, family: &str, table: &str, name: &str) -> Option<&LiveChain> {
        self.chains.iter().find(|c| c.family == family && c.table == table && c.name == name)
    }
}

/// What portmatrix owns in the live ruleset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owned {
    /// `table inet NAME`.
    NftTable(String),
    /// A chain of the iptables `filter` table (ip and ip6) that INPUT or
    /// FORWARD jumps to.
    IptablesChain(String),
}

/// A packet to run through the foreign chains, and why it is there.
#[derive(Debug, Clone)]
pub struct Sample {
    pub packet: Packet,
    pub why: String,
}

/// The analysis: reasons to refuse, rules that could not be judged, notes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookReport {
    pub refusals: Vec<String>,
    pub uncertain: Vec<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    Yes,
    No,
    Maybe,
}

impl Tri {
    fn and(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::No, _) | (_, Tri::No) => Tri::No,
            (Tri::Yes, Tri::Yes) => Tri::Yes,
            _ => Tri::Maybe,
        }
    }
    fn not(self) -> Tri {
        match self {
            Tri::Yes => Tri::No,
            Tri::No => Tri::Yes,
            Tri::Maybe => Tri::Maybe,
        }
    }
    fn any(it: impl IntoIterator<Item = Tri>) -> Tri {
        let mut out = Tri::No;
        for t in it {
            match t {
                Tri::Yes => return Tri::Yes,
                Tri::Maybe => out = Tri::Maybe,
                Tri::No => {}
            }
        }
        out
    }
}

/// A rule's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Terminal {
    Accept,
    Drop,
    Jump(String),
    Goto(String),
    Return,
    /// A verdict this analysis does not follow (queue, verdict maps, unknown targets).
    Unknown(String),
}

/// A chain's verdict for one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Accept,
    Drop,
    /// Fell off the end of a regular chain (or `return`).
    Return,
    /// Reached portmatrix's own chain (iptables mode).
    Ours,
}

#[derive(Debug, Clone)]
struct Outcome {
    verdict: Verdict,
    /// Which rule (or the policy) decided.
    at: String,
    /// No earlier rule of unknown outcome could have decided first.
    certain: bool,
}

/// A value of the packet, for comparison with a rule's right-hand side.
#[derive(Debug, Clone)]
enum Val {
    Addr(IpAddr),
    Num(u64),
    Str(String),
    /// `ct state` of a new connection.
    CtNew,
    /// The input interface: not loopback, name unknown.
    NotLoopback,
    Concat(Vec<Val>),
    /// The protocol the expression needs is not the packet's: the rule
    /// cannot match (nft adds that dependency to every such rule).
    Absent,
    Unknown,
}

fn proto_number(p: Proto) -> u64 {
    match p {
        Proto::Tcp => 6,
        Proto::Udp => 17,
        Proto::Icmp => 1,
        Proto::Icmpv6 => 58,
        Proto::Sctp => 132,
    }
}

fn proto_by_name(s: &str) -> Option<u64> {
    Some(match s {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "icmpv6" | "ipv6-icmp" => 58,
        "sctp" => 132,
        "udplite" => 136,
        _ => return None,
    })
}

fn icmp_name(t: IcmpType, p: Proto) -> String {
    match (p, t) {
        (Proto::Icmpv6, IcmpType::NeighborSolicitation) => "nd-neighbor-solicit".into(),
        (Proto::Icmpv6, IcmpType::NeighborAdvertisement) => "nd-neighbor-advert".into(),
        (Proto::Icmpv6, IcmpType::RouterSolicitation) => "nd-router-solicit".into(),
        (Proto::Icmpv6, IcmpType::RouterAdvertisement) => "nd-router-advert".into(),
        _ => t.as_str().to_string(),
    }
}

fn left_value(left: &Value, p: &Packet) -> Val {
    if let Some(pl) = left.get("payload") {
        let (proto, field) = (text(pl, "protocol"), text(pl, "field"));
        return payload_value(&proto, &field, p);
    }
    if let Some(m) = left.get("meta") {
        return match text(m, "key").as_str() {
            "l4proto" => Val::Num(proto_number(p.proto)),
            "nfproto" => Val::Str(if p.src.is_ipv4() { "ipv4" } else { "ipv6" }.into()),
            "protocol" => Val::Str(if p.src.is_ipv4() { "ip" } else { "ip6" }.into()),
            "iifname" | "iif" => Val::NotLoopback,
            _ => Val::Unknown,
        };
    }
    if let Some(ct) = left.get("ct") {
        return if text(ct, "key") == "state" { Val::CtNew } else { Val::Unknown };
    }
    if let Some(parts) = left.get("concat").and_then(Value::as_array) {
        return Val::Concat(parts.iter().map(|x| left_value(x, p)).collect());
    }
    Val::Unknown
}

fn payload_value(proto: &str, field: &str, p: &Packet) -> Val {
    let v4 = p.src.is_ipv4();
    match proto {
        "ip" | "ip6" => {
            if (proto == "ip") != v4 {
                return Val::Absent;
            }
            match field {
                "saddr" => Val::Addr(p.src),
                "daddr" => Val::Addr(p.dst),
                "protocol" | "nexthdr" => Val::Num(proto_number(p.proto)),
                _ => Val::Unknown,
            }
        }
        "tcp" | "udp" | "sctp" | "udplite" | "th" => {
            let same = match proto {
                "th" => p.proto.has_ports(),
                other => proto_by_name(other) == Some(proto_number(p.proto)),
            };
            if !same {
                return Val::Absent;
            }
            match field {
                "dport" => Val::Num(p.port as u64),
                "sport" => p.src_port.map_or(Val::Unknown, |s| Val::Num(s as u64)),
                _ => Val::Unknown,
            }
        }
        "icmp" | "icmpv6" => {
            let want = if proto == "icmp" { Proto::Icmp } else { Proto::Icmpv6 };
            if p.proto != want {
                return Val::Absent;
            }
            match (field, p.icmp_type) {
                ("type", Some(t)) => Val::Str(icmp_name(t, want)),
                _ => Val::Unknown,
            }
        }
        _ => Val::Unknown,
    }
}

impl Live {
    /// Whether `v` equals (or lies in) one right-hand element.
    fn element_matches(v: &Val, e: &Value) -> Tri {
        if let Some(inner) = e.get("elem").and_then(|x| x.get("val")) {
            return Self::element_matches(v, inner);
        }
        match v {
            Val::Absent => Tri::No,
            Val::Unknown => Tri::Maybe,
            Val::Concat(vals) => match e.get("concat").and_then(Value::as_array) {
                Some(parts) if parts.len() == vals.len() => {
                    vals.iter().zip(parts).fold(Tri::Yes, |acc, (x, y)| acc.and(Self::element_matches(x, y)))
                }
                _ => Tri::Maybe,
            },
            Val::Addr(a) => addr_matches(*a, e),
            Val::Num(n) => num_matches(*n, e),
            Val::Str(s) => match e.as_str() {
                Some(x) => bool_tri(x == s),
                None => Tri::Maybe,
            },
            Val::CtNew => match e.as_str() {
                Some(x) => bool_tri(x == "new"),
                None => Tri::Maybe,
            },
            Val::NotLoopback => match e.as_str() {
                Some("lo") => Tri::No,
                _ => Tri::Maybe,
            },
        }
    }

    /// Whether `v` matches the right-hand side: a value, a prefix, a range,
    /// an anonymous set or a named set (`@name`).
    fn right_matches(&self, v: &Val, right: &Value, ctx: (&str, &str)) -> Tri {
        if let Some(name) = right.as_str().and_then(|s| s.strip_prefix('@')) {
            return match self.sets.get(&(ctx.0.to_string(), ctx.1.to_string(), name.to_string())) {
                Some(elems) => Tri::any(elems.iter().map(|e| Self::element_matches(v, e))),
                None => Tri::Maybe,
            };
        }
        if let Some(list) = right.get("set").and_then(Value::as_array) {
            return Tri::any(list.iter().map(|e| Self::element_matches(v, e)));
        }
        if let (Val::CtNew, Some(list)) = (v, right.as_array()) {
            return Tri::any(list.iter().map(|e| Self::element_matches(v, e)));
        }
        Self::element_matches(v, right)
    }

    fn match_expr(&self, m: &Value, p: &Packet, ctx: (&str, &str)) -> Tri {
        let v = left_value(m.get("left").unwrap_or(&Value::Null), p);
        if matches!(v, Val::Absent) {
            return Tri::No;
        }
        let right = m.get("right").unwrap_or(&Value::Null);
        match m.get("op").and_then(Value::as_str).unwrap_or("==") {
            "==" | "in" => self.right_matches(&v, right, ctx),
            "!=" => self.right_matches(&v, right, ctx).not(),
            op @ ("<" | ">" | "<=" | ">=") => match (&v, right.as_u64()) {
                (Val::Num(n), Some(r)) => bool_tri(match op {
                    "<" => *n < r,
                    ">" => *n > r,
                    "<=" => *n <= r,
                    _ => *n >= r,
                }),
                _ => Tri::Maybe,
            },
            _ => Tri::Maybe,
        }
    }

    /// Whether a rule matches `p`, and its verdict (if it has one).
    fn rule(&self, r: &LiveRule, p: &Packet, ctx: (&str, &str)) -> (Tri, Option<Terminal>) {
        let mut m = Tri::Yes;
        for e in &r.expr {
            let Some((key, body)) = e.as_object().and_then(|o| o.iter().next()) else { continue };
            let terminal = match key.as_str() {
                "match" => {
                    m = m.and(self.match_expr(body, p, ctx));
                    None
                }
                "accept" => Some(Terminal::Accept),
                "drop" | "reject" => Some(Terminal::Drop),
                "return" => Some(Terminal::Return),
                "jump" => Some(Terminal::Jump(text(body, "target"))),
                "goto" => Some(Terminal::Goto(text(body, "target"))),
                "xt" => match (text(body, "type").as_str(), text(body, "name").as_str()) {
                    ("match", "comment") => None,
                    ("match", _) => {
                        m = m.and(Tri::Maybe);
                        None
                    }
                    ("target", "REJECT" | "DROP") => Some(Terminal::Drop),
                    ("target", t) if NON_TERMINAL_TARGETS.contains(&t) => None,
                    (_, t) => Some(Terminal::Unknown(format!("xt {t}"))),
                },
                "counter" | "log" | "mangle" | "notrack" | "set" | "continue" => None,
                "queue" | "vmap" => Some(Terminal::Unknown(key.clone())),
                other => {
                    // limit, quota, fib, meter, ...: the packet may or may not pass it.
                    let _ = other;
                    m = m.and(Tri::Maybe);
                    None
                }
            };
            if terminal.is_some() {
                return (m, terminal);
            }
        }
        (m, None)
    }
}

/// iptables targets that do not end a chain.
const NON_TERMINAL_TARGETS: &[&str] =
    &["LOG", "NFLOG", "TCPMSS", "CT", "MARK", "CONNMARK", "TRACE", "AUDIT", "CHECKSUM", "CLASSIFY", "DSCP", "TOS", "SET", "TEE"];

fn bool_tri(b: bool) -> Tri {
    if b {
        Tri::Yes
    } else {
        Tri::No
    }
}

fn addr_matches(a: IpAddr, e: &Value) -> Tri {
    if let Some(s) = e.as_str() {
        return match s.parse::<IpAddr>() {
            Ok(x) => bool_tri(x == a),
            Err(_) => Tri::Maybe,
        };
    }
    if let Some(pf) = e.get("prefix") {
        let net = pf
            .get("addr")
            .and_then(Value::as_str)
            .zip(pf.get("len").and_then(Value::as_u64))
            .and_then(|(addr, len)| format!("{addr}/{len}").parse::<ipnet::IpNet>().ok());
        return net.map_or(Tri::Maybe, |n| bool_tri(n.contains(&a)));
    }
    if let Some([lo, hi]) = e.get("range").and_then(Value::as_array).map(Vec::as_slice) {
        let parse = |v: &Value| v.as_str().and_then(|s| s.parse::<IpAddr>().ok());
        return match (parse(lo), parse(hi)) {
            (Some(lo), Some(hi)) => bool_tri(lo <= a && a <= hi),
            _ => Tri::Maybe,
        };
    }
    Tri::Maybe
}

fn num_matches(n: u64, e: &Value) -> Tri {
    if let Some(x) = e.as_u64() {
        return bool_tri(x == n);
    }
    if let Some(s) = e.as_str() {
        return proto_by_name(s).map_or(Tri::Maybe, |x| bool_tri(x == n));
    }
    if let Some([lo, hi]) = e.get("range").and_then(Value::as_array).map(Vec::as_slice) {
        return match (lo.as_u64(), hi.as_u64()) {
            (Some(lo), Some(hi)) => bool_tri(lo <= n && n <= hi),
            _ => Tri::Maybe,
        };
    }
    Tri::Maybe
}

fn rule_name(c: &LiveChain, r: &LiveRule, i: usize) -> String {
    let mut s = match r.handle {
        Some(h) => format!("rule {} (handle {h})", i + 1),
        None => format!("rule {}", i + 1),
    };
    if let Some(cm) = &r.comment {
        let _ = write!(s, " \"{}\"", cm.escape_debug());
    }
    let _ = c;
    s
}

fn chain_name(c: &LiveChain) -> String {
    let mut s = format!("table {} {} chain {}", c.family, c.table.escape_debug(), c.name.escape_debug());
    if let Some(b) = &c.base {
        let _ = write!(s, " (hook {}, priority {}, policy {})", b.hook, b.prio, b.policy);
    }
    s
}

/// Evaluation of one packet through chains, following jumps.
struct Walk<'a> {
    live: &'a Live,
    owned: &'a Owned,
    /// Rules that might have decided but could not be judged.
    maybe: Vec<String>,
}

impl Walk<'_> {
    fn chain(&mut self, c: &LiveChain, p: &Packet, depth: usize) -> Outcome {
        let ctx = (c.family.as_str(), c.table.as_str());
        let mut certain = true;
        for (i, r) in c.rules.iter().enumerate() {
            let (m, term) = self.live.rule(r, p, ctx);
            let Some(term) = term else { continue };
            if m == Tri::No {
                continue;
            }
            if let (Owned::IptablesChain(ours), Terminal::Jump(t) | Terminal::Goto(t)) = (self.owned, &term) {
                if t == ours && m == Tri::Yes {
                    return Outcome { verdict: Verdict::Ours, at: rule_name(c, r, i), certain };
                }
            }
            let at = format!("{} {}", chain_name(c), rule_name(c, r, i));
            let decided = match &term {
                Terminal::Accept => Some(Verdict::Accept),
                Terminal::Drop => Some(Verdict::Drop),
                Terminal::Return => Some(Verdict::Return),
                Terminal::Unknown(what) => {
                    self.maybe.push(format!("{at}: {what} is not followed by this analysis"));
                    certain = false;
                    None
                }
                Terminal::Jump(t) | Terminal::Goto(t) => {
                    let sub = match self.live.chain(&c.family, &c.table, t) {
                        Some(sub) if depth < 16 => self.chain(sub, p, depth + 1),
                        _ => Outcome { verdict: Verdict::Return, at: at.clone(), certain: false },
                    };
                    let goto = matches!(term, Terminal::Goto(_));
                    if m == Tri::Yes && (sub.verdict != Verdict::Return || goto) {
                        return Outcome { certain: certain && sub.certain, ..sub };
                    }
                    if m == Tri::Maybe && sub.verdict != Verdict::Return {
                        self.maybe.push(format!("{at}: might jump to {t}, which would {}", verdict_word(&sub.verdict)));
                        certain = false;
                    }
                    certain &= sub.certain;
                    None
                }
            };
            if let Some(v) = decided {
                if m == Tri::Yes {
                    return Outcome { verdict: v, at, certain };
                }
                self.maybe.push(format!("{at}: might {} (a match this analysis cannot judge)", verdict_word(&v)));
                certain = false;
            }
        }
        match &c.base {
            Some(b) => Outcome {
                verdict: if b.policy == "drop" { Verdict::Drop } else { Verdict::Accept },
                at: format!("{} policy", chain_name(c)),
                certain,
            },
            None => Outcome { verdict: Verdict::Return, at: format!("end of {}", chain_name(c)), certain },
        }
    }
}

fn verdict_word(v: &Verdict) -> &'static str {
    match v {
        Verdict::Accept => "accept",
        Verdict::Drop => "drop",
        Verdict::Return => "return",
        Verdict::Ours => "reach portmatrix's chain",
    }
}

/// The hooks a packet to this host (input) or through it (forward) crosses.
fn hooks_of(chain: Chain) -> &'static [&'static str] {
    match chain {
        Chain::Input => &["ingress", "prerouting", "input"],
        Chain::Forward => &["ingress", "prerouting", "forward"],
    }
}

fn family_sees(family: &str, v4: bool) -> bool {
    match family {
        "inet" | "netdev" => true,
        "ip" => v4,
        "ip6" => !v4,
        _ => false,
    }
}

fn describe(p: &Packet) -> String {
    if p.proto.has_ports() {
        format!("{} -> {} {}/{}", p.src, p.dst, p.proto, p.port)
    } else {
        format!("{} -> {} {}", p.src, p.dst, p.proto)
    }
}

/// Judges the foreign chains of `live` for the planned and forbidden samples.
pub fn analyse(live: &Live, owned: &Owned, chain: Chain, planned: &[Sample], forbidden: &[Sample]) -> HookReport {
    let mut report = HookReport::default();
    let hooks = hooks_of(chain);
    let our_hook = if chain == Chain::Input { "INPUT" } else { "FORWARD" };
    for c in &live.chains {
        let Some(b) = &c.base else { continue };
        if !hooks.contains(&b.hook.as_str()) {
            continue;
        }
        if let Owned::NftTable(t) = owned {
            if c.family == "inet" && &c.table == t {
                continue;
            }
        }
        if b.kind != "filter" {
            report.notes.push(format!("{}: a {} chain, not judged (it does not filter)", chain_name(c), b.kind));
            continue;
        }
        let iptables_hook = matches!(owned, Owned::IptablesChain(_)) && c.table == "filter" && c.name == our_hook;
        if iptables_hook && !jumps_to_ours(c, owned) {
            report.notes.push(format!("{}: portmatrix's jump will be its first rule", chain_name(c)));
            continue;
        }
        judge_chain(live, owned, c, iptables_hook, planned, forbidden, &mut report);
    }
    report.uncertain.sort();
    report.uncertain.dedup();
    report
}

/// Whether the chain already has a rule that jumps to our chain.
fn jumps_to_ours(c: &LiveChain, owned: &Owned) -> bool {
    let Owned::IptablesChain(ours) = owned else { return false };
    c.rules.iter().any(|r| {
        r.expr.iter().any(|e| {
            ["jump", "goto"].iter().any(|k| e.get(*k).and_then(|j| j.get("target")).and_then(Value::as_str) == Some(ours.as_str()))
        })
    })
}

fn judge_chain(
    live: &Live,
    owned: &Owned,
    c: &LiveChain,
    iptables_hook: bool,
    planned: &[Sample],
    forbidden: &[Sample],
    report: &mut HookReport,
) {
    let mut drops: Vec<(String, Vec<&Sample>)> = Vec::new();
    let mut accepts_all = false;
    let mut walk = Walk { live, owned, maybe: Vec::new() };
    for s in planned.iter().filter(|s| family_sees(&c.family, s.packet.src.is_ipv4())) {
        let o = walk.chain(c, &s.packet, 0);
        if o.verdict == Verdict::Drop && o.certain {
            match drops.iter_mut().find(|(at, _)| *at == o.at) {
                Some((_, v)) => v.push(s),
                None => drops.push((o.at, vec![s])),
            }
        }
    }
    for (at, samples) in drops {
        let more = if samples.len() > 1 { format!(" and {} more planned packet(s)", samples.len() - 1) } else { String::new() };
        report.refusals.push(format!(
            "{at} drops planned traffic: {} ({}){more}; drop is final on a hook, whichever table's chain comes first",
            describe(&samples[0].packet),
            samples[0].why
        ));
    }
    for s in forbidden.iter().filter(|s| family_sees(&c.family, s.packet.src.is_ipv4())) {
        let o = walk.chain(c, &s.packet, 0);
        if o.verdict == Verdict::Accept && o.certain {
            if iptables_hook {
                report.refusals.push(format!(
                    "{} accepts traffic the plan forbids before portmatrix's chain sees it: {} ({})",
                    o.at,
                    describe(&s.packet),
                    s.why
                ));
                break;
            }
            accepts_all = true;
        }
    }
    if accepts_all {
        report.notes.push(format!(
            "{} accepts packets the plan forbids; harmless: accept ends only its own chain, portmatrix's chain still sees them",
            chain_name(c)
        ));
    }
    report.uncertain.extend(walk.maybe);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(src: &str, dst: &str, proto: Proto, port: u16) -> Packet {
        Packet { src: src.parse().unwrap(), dst: dst.parse().unwrap(), proto, port, src_port: Some(40000), icmp_type: None }
    }

    fn sample(p: Packet) -> Sample {
        Sample { packet: p, why: "t/f".into() }
    }

    fn live(rules: &str) -> Live {
        let json = format!(
            r#"{{"nftables": [
            {{"chain": {{"family": "ip", "table": "filter", "name": "INPUT", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}}},
            {{"chain": {{"family": "ip", "table": "filter", "name": "SUB", "handle": 2}}}},
            {{"set": {{"family": "ip", "table": "filter", "name": "bad", "type": "ipv4_addr", "elem": [{{"prefix": {{"addr": "10.99.0.0", "len": 24}}}}]}}}},
            {rules}
        ]}}"#
        );
        Live::parse(&json).unwrap()
    }

    fn rule(chain: &str, expr: &str) -> String {
        format!(r#"{{"rule": {{"family": "ip", "table": "filter", "chain": "{chain}", "handle": 9, "expr": {expr}}}}}"#)
    }

    #[test]
    fn drops_by_prefix_set_and_jump_are_refused() {
        let admin = sample(pkt("10.99.0.5", "10.0.0.1", Proto::Tcp, 22));
        let other = sample(pkt("10.20.0.5", "10.0.0.1", Proto::Tcp, 443));
        let owned = Owned::NftTable("portmatrix".into());
        let by_set = live(&rule(
            "INPUT",
            r#"[{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@bad"}}, {"drop": null}]"#,
        ));
        let r = analyse(&by_set, &owned, Chain::Input, &[admin.clone(), other.clone()], &[]);
        assert_eq!(r.refusals.len(), 1, "{r:?}");
        assert!(r.refusals[0].contains("10.99.0.5"), "{r:?}");
        let jumped = live(&format!(
            "{},{}",
            rule("INPUT", r#"[{"jump": {"target": "SUB"}}]"#),
            rule(
                "SUB",
                r#"[{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"range": [20, 30]}}}, {"xt": {"type": "target", "name": "REJECT"}}]"#
            )
        ));
        let r = analyse(&jumped, &owned, Chain::Input, &[admin.clone(), other.clone()], &[]);
        assert_eq!(r.refusals.len(), 1, "{r:?}");
        // Established-only drops and loopback rules do not touch new planned packets.
        let harmless = live(&format!(
            "{},{}",
            rule(
                "INPUT",
                r#"[{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"drop": null}]"#
            ),
            rule("INPUT", r#"[{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "lo"}}, {"drop": null}]"#)
        ));
        assert!(analyse(&harmless, &owned, Chain::Input, std::slice::from_ref(&admin), &[]).refusals.is_empty());
        // An unknown match before a drop is uncertain, not refused.
        let unknown = live(&rule("INPUT", r#"[{"xt": {"type": "match", "name": "addrtype"}}, {"drop": null}]"#));
        let r = analyse(&unknown, &owned, Chain::Input, &[admin], &[]);
        assert!(r.refusals.is_empty() && r.uncertain.len() == 1, "{r:?}");
    }

    #[test]
    fn accept_first_matters_only_before_our_jump() {
        let forbidden = sample(pkt("192.0.2.9", "10.0.0.1", Proto::Tcp, 5432));
        let accept_all = rule("INPUT", r#"[{"accept": null}]"#);
        let jump = rule("INPUT", r#"[{"jump": {"target": "PORTMATRIX-INPUT"}}]"#);
        let nft = Owned::NftTable("portmatrix".into());
        let r = analyse(&live(&accept_all), &nft, Chain::Input, &[], std::slice::from_ref(&forbidden));
        assert!(r.refusals.is_empty() && r.notes.len() == 1, "{r:?}");
        let ipt = Owned::IptablesChain("PORTMATRIX-INPUT".into());
        let before = live(&format!("{accept_all},{jump}"));
        assert_eq!(analyse(&before, &ipt, Chain::Input, &[], std::slice::from_ref(&forbidden)).refusals.len(), 1);
        let after = live(&format!("{jump},{accept_all}"));
        assert!(analyse(&after, &ipt, Chain::Input, &[], &[forbidden]).refusals.is_empty());
    }

    #[test]
    fn policy_drop_of_another_family_or_hook_is_ignored() {
        let json = r#"{"nftables": [
            {"chain": {"family": "ip6", "table": "t", "name": "in", "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
            {"chain": {"family": "ip", "table": "t", "name": "fwd", "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
            {"chain": {"family": "inet", "table": "portmatrix", "name": "input", "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}
        ]}"#;
        let l = Live::parse(json).unwrap();
        let p = sample(pkt("10.99.0.5", "10.0.0.1", Proto::Tcp, 22));
        assert!(analyse(&l, &Owned::NftTable("portmatrix".into()), Chain::Input, std::slice::from_ref(&p), &[]).refusals.is_empty());
        assert_eq!(analyse(&l, &Owned::NftTable("portmatrix".into()), Chain::Forward, &[p], &[]).refusals.len(), 1);
    }
}
