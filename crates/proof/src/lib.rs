//! The exact check: a ruleset read back from a kernel or a script
//! ([`ReadBack`]) compared with what the plan intends for a host (input) or
//! a network firewall (forward), over the whole space of packets that open
//! a new connection — source and destination address, protocol, ports,
//! ICMP type, interfaces — by interval arithmetic on boxes, never by
//! sampling.
//!
//! ```no_run
//! # fn demo(plan: &portmatrix_plan::Plan, json: &str) -> Result<(), Box<dyn std::error::Error>> {
//! use portmatrix_targets::{read::ReadBack, Subject};
//! let rb = ReadBack::from_nft_json(json)?;
//! let report = portmatrix_proof::check(plan, &Subject::Host("web1".into()), &rb)?;
//! if !report.exact_match {
//!     for f in &report.findings {
//!         println!("{}", serde_json::to_string(f)?);
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Semantics: the base chains on the subject's path (ingress, prerouting,
//! then input or forward) run in hook order and, within a hook, lowest
//! priority number first; `accept` ends only its own base chain, `drop` is
//! final, a base chain's policy applies when no rule decides. A packet
//! passes when no base chain drops it. See `docs/audit-rules.md`.

pub mod eval;
mod intent;
mod lower;
pub mod nat;
mod report;
pub mod space;
mod sweep;

use std::collections::HashMap;

use portmatrix_plan::Plan;
use portmatrix_targets::read::{addr_of, ReadBack, Syntax, Values, FAMILY_V4, FAMILY_V6, PORT_PROTOS};
use portmatrix_targets::{firewall_ruleset, host_ruleset, Chain as Kind, Family, Ruleset, RulesetError, Subject};

pub use intent::Item;
pub use report::{inert, CannotJudge, ChainInfo, Effect, Element, Extent, Finding, Place, Planned, Report, Stats};
pub use space::Packet;

use lower::{LAction, LVerdict, Program, Role};
use space::{Bx, Ifaces, D, DPORT, DST, FAM, IIF, ITYPE, PROTO, SPORT, SRC};

/// What the check needs to know besides the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The nftables table portmatrix wrote (`compile --table`): its base
    /// chains are the subject's own, every other base chain on the path is
    /// interference.
    pub table: String,
}

impl Default for Options {
    fn default() -> Self {
        Options { table: "portmatrix".into() }
    }
}

/// Checks `rb` against what the plan intends for `subject`.
pub fn check(plan: &Plan, subject: &Subject, rb: &ReadBack) -> Result<Report, RulesetError> {
    check_with(plan, subject, rb, &Options::default())
}

pub fn check_with(plan: &Plan, subject: &Subject, rb: &ReadBack, opts: &Options) -> Result<Report, RulesetError> {
    let rs = match subject {
        Subject::Host(h) => host_ruleset(plan, h)?,
        Subject::Firewall(f) => firewall_ruleset(plan, f)?,
    };
    Ok(check_ruleset(&rs, rb, opts))
}

/// Checks `rb` against an intended ruleset (what `host_ruleset` or
/// `firewall_ruleset` made of the plan).
pub fn check_ruleset(intent: &Ruleset, rb: &ReadBack, opts: &Options) -> Report {
    check_folding_from(intent, rb, opts, sweep::FOLD_FROM)
}

/// [`check_ruleset`], folding copies of cells only where at least
/// `fold_from` boxes are cut (`usize::MAX`: never): for the test that
/// folding changes no report.
#[doc(hidden)]
pub fn check_folding_from(intent: &Ruleset, rb: &ReadBack, opts: &Options, fold_from: usize) -> Report {
    let setup = Setup::new(intent, rb, opts);
    let mut agg = Aggregate { lo: setup.ifaces.index_of("lo"), ..Aggregate::default() };
    let mut trues = Vec::new();
    // The leaf reads a cell's family and input interface (which chains see
    // it): intervals there are never folded.
    let mut keep = [false; space::D];
    keep[FAM] = true;
    keep[IIF] = true;
    let copied = sweep::sweep_grouped(&setup.boxes, &setup.key, &setup.kinds(), keep, fold_from, |cell, act| {
        match setup.classify(cell, act, &mut trues) {
            None => sweep::Leaf::Quiet(0),
            Some(c) => {
                let quiet = c.is_quiet();
                agg.add(&setup, cell, c);
                if quiet {
                    sweep::Leaf::Quiet(1)
                } else {
                    sweep::Leaf::Loud
                }
            }
        }
    });
    agg.cells += copied;
    setup.report(agg)
}

/// The verdicts of every cell, for tests that compare the box arithmetic
/// with packet-by-packet evaluators.
pub struct CellMap {
    ifaces: Ifaces,
    cells: Vec<(Bx, bool, eval::Verdict)>,
}

impl CellMap {
    /// Whether the plan intends `p`, and what the ruleset does with it;
    /// `None` outside the compared space.
    pub fn lookup(&self, p: &Packet) -> Option<(bool, eval::Verdict)> {
        let pt = p.point(&self.ifaces);
        self.cells.iter().find(|(b, _, _)| space::contains(b, &pt)).map(|(_, i, v)| (*i, *v))
    }
    pub fn len(&self) -> usize {
        self.cells.len()
    }
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
    /// The interface name a packet uses for "any interface the ruleset does not name".
    pub fn other_interface(&self) -> String {
        self.ifaces.name(self.ifaces.index_of("\u{1}")).unwrap_or_default()
    }
}

pub fn cell_map(intent: &Ruleset, rb: &ReadBack, opts: &Options) -> CellMap {
    let setup = Setup::new(intent, rb, opts);
    let mut cells = Vec::new();
    let mut trues = Vec::new();
    sweep::sweep(&setup.boxes, &setup.key, |cell, act| {
        if let Some(c) = setup.classify(cell, act, &mut trues) {
            let v = match c.outcome {
                Outcome::Accept(_) => eval::Verdict::Accept,
                Outcome::Drop(_) => eval::Verdict::Drop,
                Outcome::Unknown(..) => eval::Verdict::Unknown,
            };
            cells.push((*cell, c.intent.is_some(), v));
        }
    });
    CellMap { ifaces: setup.ifaces, cells }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Universe,
    /// Outside the comparison (what a Windows script leaves to the OS).
    DontCare,
    Intent(u32),
    /// A box of a part: (part, box index).
    Part(u32, u32),
    /// Only splits the space (device-bound chains).
    Marker,
}

/// Where a verdict comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Attr {
    Rule { chain: usize, rule: Option<usize>, elem: Option<(u32, u32)> },
    NoChain,
    MissingFamily,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Accept(Attr),
    Drop(Attr),
    Unknown(Attr, String),
}

struct Classified {
    intent: Option<u32>,
    outcome: Outcome,
    /// Outcomes of the foreign base chains that saw the cell: (path index, outcome).
    foreign: Vec<(usize, Outcome)>,
}

impl Classified {
    /// Nothing to report: the ruleset does what the plan says and no
    /// foreign chain drops or cannot be judged (the aggregate only counts it).
    fn is_quiet(&self) -> bool {
        matches!((&self.outcome, self.intent), (Outcome::Accept(_), Some(_)) | (Outcome::Drop(_), None))
            && self.foreign.iter().all(|(_, o)| matches!(o, Outcome::Accept(_)))
    }
}

struct Setup<'a> {
    intent: &'a Ruleset,
    rb: &'a ReadBack,
    prog: Program,
    ifaces: Ifaces,
    items: Vec<Item>,
    boxes: Vec<Bx>,
    tags: Vec<Tag>,
    key: Vec<bool>,
    has_ours: bool,
    notes: Vec<String>,
    /// Why a destination NAT on the path could not be folded in.
    nat_unmodelled: Option<String>,
}

const MAX_JUMPS: usize = 16;

impl<'a> Setup<'a> {
    fn new(intent: &'a Ruleset, rb: &'a ReadBack, opts: &Options) -> Self {
        let kind = intent.chain;
        let windows = rb.syntaxes == [Syntax::PowerShell];
        let ifaces = Ifaces::new(interface_names(rb).into_iter().chain([portmatrix_targets::read::IfName::Exact("lo".into())]));
        let lo = ifaces.index_of("lo");
        let ours = ours_rule(rb, opts, kind);
        let mut prog = lower::lower(rb, kind, &ifaces, &|c| ours(c));
        let folded = nat::fold(&mut prog, rb, kind);
        let has_ours = prog.path.iter().any(|p| p.ours);
        let n = ifaces.count();
        let mut boxes = Vec::new();
        let mut tags = Vec::new();
        // The universe: the host's own addresses on input, every address on forward.
        let own = intent.own.clone();
        let dst = move |f: Family| -> Vec<(u128, u128)> {
            match kind {
                Kind::Input => own.iter().filter(|a| Family::of_addr(a) == f).map(|a| (addr(*a), addr(*a))).collect(),
                Kind::Forward => vec![(0, if f == Family::V4 { u32::MAX as u128 } else { u128::MAX })],
            }
        };
        let all_ifaces: Vec<(u128, u128)> = (1..=n as u128).map(|i| (i, i)).collect();
        let (iif, oif): (Vec<space::Iv>, Vec<space::Iv>) = match kind {
            Kind::Input => (all_ifaces.clone(), vec![(space::NO_IFACE, space::NO_IFACE)]),
            // Routed packets never come from or go to loopback.
            Kind::Forward => {
                let no_lo: Vec<(u128, u128)> = all_ifaces.iter().copied().filter(|&(i, _)| i != lo).collect();
                (no_lo.clone(), no_lo)
            }
        };
        for b in space::universe(&dst, &iif, &oif, n) {
            boxes.push(b);
            tags.push(Tag::Universe);
        }
        let mut items = Vec::new();
        let forwards = nat::Stage::of_intent(intent, n);
        let intended = intent::boxes(intent, n, Some(lo)).into_iter().flat_map(|(b, item)| {
            if forwards.is_empty() {
                vec![(b, item)]
            } else {
                forwards.pull_back(&b).into_iter().map(|x| (x, item)).collect()
            }
        });
        for (b, item) in intended {
            let ignored = windows && matches!(item, Item::BaseIcmp(..) | Item::Loopback | Item::ReturnTraffic);
            let idx = match items.iter().position(|i| *i == item) {
                Some(i) => i,
                None => {
                    items.push(item);
                    items.len() - 1
                }
            };
            boxes.push(b);
            tags.push(if ignored { Tag::DontCare } else { Tag::Intent(idx as u32) });
        }
        if windows {
            // Windows keeps connection state itself: only new connections are the script's.
            let mut b = space::full(n);
            b[space::CT] = (space::CT_ESTABLISHED, space::CT_INVALID);
            boxes.push(b);
            tags.push(Tag::DontCare);
        }
        for (pi, part) in prog.parts.iter().enumerate() {
            for (k, (b, _)) in part.boxes.iter().enumerate() {
                boxes.push(*b);
                tags.push(Tag::Part(pi as u32, k as u32));
            }
        }
        for pc in &prog.path {
            for &r in pc.iif.iter().flatten() {
                let mut b = space::full(n);
                b[IIF] = r;
                boxes.push(b);
                tags.push(Tag::Marker);
            }
        }
        let key = tags.iter().map(|t| *t == Tag::Universe).collect();
        let (notes, nat_unmodelled) = notes(intent, rb, opts, windows, has_ours, !prog.path.is_empty(), folded);
        Setup { intent, rb, prog, ifaces, items, boxes, tags, key, has_ours, notes, nat_unmodelled }
    }

    /// Per box, what tells it apart for the classification (see
    /// [`sweep::sweep_grouped`]): the elements of one part are one kind, as
    /// are the boxes of one intended item; every other box is its own.
    fn kinds(&self) -> Vec<u32> {
        let parts = self.prog.parts.len() as u32;
        let items = self.items.len() as u32;
        self.tags
            .iter()
            .enumerate()
            .map(|(b, t)| match *t {
                Tag::Part(p, _) => p,
                Tag::Intent(i) => parts + i,
                _ => parts + items + b as u32,
            })
            .collect()
    }

    fn is_true(trues: &[(u32, u32)], part: u32) -> Option<(u32, u32)> {
        let i = trues.partition_point(|&(p, _)| p < part);
        trues.get(i).filter(|(p, _)| *p == part).copied()
    }

    /// The rules whose conditions hold in the cell, sorted by (chain, rule).
    fn matched(&self, trues: &[(u32, u32)]) -> Vec<(u32, u32)> {
        let mut cands: Vec<(u32, u32)> = trues
            .iter()
            .filter_map(|&(p, _)| match self.prog.parts[p as usize].role {
                Role::Pos { chain, rule } => Some((chain, rule)),
                _ => None,
            })
            .collect();
        cands.sort_unstable();
        cands.dedup();
        cands.retain(|&(c, r)| {
            let rule = &self.prog.chains[c as usize].rules[r as usize];
            !rule.never
                && rule.pos.iter().all(|&p| Self::is_true(trues, p).is_some())
                && rule.neg.iter().all(|&p| Self::is_true(trues, p).is_none())
        });
        cands
    }

    fn element(&self, trues: &[(u32, u32)], parts: &[u32]) -> Option<(u32, u32)> {
        parts.iter().filter_map(|&p| Self::is_true(trues, p)).find(|&(p, k)| self.prog.parts[p as usize].boxes[k as usize].1.is_some())
    }

    /// Runs base chain `base` for the cell.
    fn run(&self, base: usize, matched: &[(u32, u32)], trues: &[(u32, u32)]) -> Outcome {
        let policy = |chain: usize| {
            let b = self.prog.chains[chain].base.as_ref().expect("a base chain");
            let a = Attr::Rule { chain, rule: None, elem: None };
            match b.policy {
                portmatrix_targets::read::Policy::Accept => Outcome::Accept(a),
                portmatrix_targets::read::Policy::Drop => Outcome::Drop(a),
            }
        };
        let mut stack: Vec<(usize, usize)> = Vec::new();
        let (mut c, mut i) = (base, 0usize);
        loop {
            let k = matched.partition_point(|&(ch, r)| (ch as usize, r as usize) < (c, i));
            let Some(&(ch, r)) = matched.get(k).filter(|(ch, _)| *ch as usize == c) else {
                // End of the chain: return to the caller, or the base chain's policy.
                match stack.pop() {
                    Some((pc, pi)) => {
                        (c, i) = (pc, pi);
                        continue;
                    }
                    None => return policy(base),
                }
            };
            let (ch, r) = (ch as usize, r as usize);
            let rule = &self.prog.chains[ch].rules[r];
            let at = |elem| Attr::Rule { chain: ch, rule: Some(r), elem };
            if let Some(why) = &rule.unknown {
                return Outcome::Unknown(at(None), why.clone());
            }
            let (v, elem) = match &rule.action {
                LAction::Verdict(v) => (Some(v.clone()), self.element(trues, &rule.pos)),
                LAction::Map(entries) => match entries.iter().find_map(|(p, v)| Self::is_true(trues, *p).map(|t| (v.clone(), t))) {
                    Some((v, t)) => (Some(v), Some(t)),
                    None => (None, None),
                },
                LAction::Dnat(a) => {
                    let why = self.nat_unmodelled.as_deref().unwrap_or("destination NAT where it cannot be modelled");
                    return Outcome::Unknown(at(None), format!("dnat to {a}: {why}"));
                }
            };
            match v {
                None | Some(LVerdict::Continue) => i = r + 1,
                Some(LVerdict::Accept) => return Outcome::Accept(at(elem)),
                Some(LVerdict::Drop) => return Outcome::Drop(at(elem)),
                Some(LVerdict::Return) => match stack.pop() {
                    Some((pc, pi)) => (c, i) = (pc, pi),
                    None => return policy(base),
                },
                Some(LVerdict::Jump(t)) => {
                    if stack.len() >= MAX_JUMPS {
                        return Outcome::Unknown(at(None), "jumps nested deeper than the kernel allows".into());
                    }
                    stack.push((c, r + 1));
                    (c, i) = (t, 0);
                }
                Some(LVerdict::Goto(t)) => (c, i) = (t, 0),
            }
        }
    }

    fn classify(&self, cell: &Bx, act: &[u32], trues: &mut Vec<(u32, u32)>) -> Option<Classified> {
        let (mut universe, mut ignored) = (false, false);
        let mut intent: Option<u32> = None;
        trues.clear();
        for &a in act {
            match self.tags[a as usize] {
                Tag::Universe => universe = true,
                Tag::DontCare => ignored = true,
                Tag::Intent(i) => intent = Some(intent.map_or(i, |j| j.min(i))),
                Tag::Part(p, k) => trues.push((p, k)),
                Tag::Marker => {}
            }
        }
        if !universe || ignored {
            return None;
        }
        trues.sort_unstable();
        let matched = self.matched(trues);
        let fam = if cell[FAM].0 == FAMILY_V4 { Family::V4 } else { Family::V6 };
        let mut outcome: Option<Outcome> = None;
        let mut last_accept = Attr::NoChain;
        let mut ours_accept = None;
        let mut foreign = Vec::new();
        for (pi, pc) in self.prog.path.iter().enumerate() {
            if !pc.sees(cell) {
                continue;
            }
            let o = self.run(pc.chain, &matched, trues);
            if self.has_ours && !pc.ours {
                foreign.push((pi, o.clone()));
            }
            match (&outcome, &o) {
                (None, Outcome::Accept(a)) => {
                    last_accept = *a;
                    if pc.ours {
                        ours_accept = Some(*a);
                    }
                }
                (None, _) => outcome = Some(o),
                _ => {}
            }
        }
        if self.rb.missing_families.iter().any(|(f, _)| *f == fam) {
            outcome = Some(Outcome::Unknown(Attr::MissingFamily, String::new()));
        }
        let outcome = outcome.unwrap_or(Outcome::Accept(ours_accept.unwrap_or(last_accept)));
        Some(Classified { intent, outcome, foreign })
    }

    fn chain_name(&self, chain: usize) -> String {
        self.prog.chains[chain].id.to_string()
    }

    fn place(&self, a: Attr, fam: u128) -> Place {
        let fam_name = if fam == FAMILY_V6 { "IPv6" } else { "IPv4" };
        match a {
            Attr::NoChain => Place {
                chain: format!("no base chain on the path sees these {fam_name} packets: the kernel accepts them"),
                rule: None,
                handle: None,
                line: None,
                policy: false,
                comment: None,
                element: None,
            },
            Attr::MissingFamily => Place {
                chain: format!("{fam_name} rules not given"),
                rule: None,
                handle: None,
                line: None,
                policy: false,
                comment: None,
                element: None,
            },
            Attr::Rule { chain, rule, elem } => {
                let src = &self.rb.chains[self.prog.chains[chain].source];
                let r = rule.map(|r| &src.rules[r]);
                let element = elem.and_then(|(p, k)| self.prog.parts[p as usize].boxes[k as usize].1.as_ref()).map(|o| Element {
                    set: o.set.clone(),
                    index: o.index,
                    comment: o.comment.clone(),
                });
                Place {
                    chain: self.chain_name(chain),
                    rule,
                    handle: r.and_then(|r| r.loc.handle),
                    line: r.and_then(|r| r.loc.line),
                    policy: rule.is_none(),
                    comment: r.and_then(|r| r.comment.clone()),
                    element,
                }
            }
        }
    }

    fn planned(&self, item: u32) -> Planned {
        match self.items[item as usize] {
            Item::Rule(i) => {
                let r = &self.intent.rules[i];
                let what = if r.proto.has_ports() {
                    format!("{} {} from {} source prefix(es)", r.proto, r.dports, r.src.len())
                } else {
                    format!(
                        "{} {} from {} source prefix(es)",
                        r.proto,
                        r.icmp.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(","),
                        r.src.len()
                    )
                };
                Planned { kind: "rule", reasons: r.reasons.iter().map(ToString::to_string).collect(), description: what }
            }
            Item::BaseIcmp(p, t) => {
                Planned { kind: "base-policy", reasons: Vec::new(), description: format!("{p} {t} from anywhere (base policy)") }
            }
            Item::Loopback => {
                Planned { kind: "loopback", reasons: Vec::new(), description: "everything on the loopback interface (base policy)".into() }
            }
            Item::ReturnTraffic => Planned {
                kind: "return-traffic",
                reasons: Vec::new(),
                description: "packets of established and related connections (base policy)".into(),
            },
        }
    }

    /// A packet of the cell, chosen to look ordinary: not a network's
    /// first address, an ephemeral source port, a destination port above 0.
    fn witness(&self, cell: &Bx) -> Packet {
        let mut p = [0u128; D];
        for (d, v) in p.iter_mut().enumerate() {
            let (lo, hi) = cell[d];
            *v = match d {
                SRC | DST if hi - lo >= 2 => lo + 1,
                SPORT => 49152u128.clamp(lo, hi),
                DPORT if lo == 0 && hi > 0 => 1,
                _ => lo,
            };
        }
        Packet::from_point(&p, &self.ifaces)
    }

    fn extent(&self, cell: &Bx) -> Extent {
        let fam = if cell[FAM].0 == FAMILY_V6 { Family::V6 } else { Family::V4 };
        let proto = cell[PROTO].0 as u8;
        let ports = PORT_PROTOS.contains(&proto);
        let icmp = proto == 1 || proto == 58;
        let pair16 = |d: usize| [cell[d].0 as u16, cell[d].1.min(65535) as u16];
        Extent {
            src: [addr_of(fam, cell[SRC].0), addr_of(fam, cell[SRC].1)],
            dst: [addr_of(fam, cell[DST].0), addr_of(fam, cell[DST].1)],
            protocols: [cell[PROTO].0 as u8, cell[PROTO].1.min(255) as u8],
            dst_ports: ports.then(|| pair16(DPORT)),
            src_ports: ports.then(|| pair16(SPORT)),
            icmp_types: icmp.then(|| [cell[ITYPE].0 as u8, cell[ITYPE].1.min(255) as u8]),
        }
    }

    fn chain_info(&self, path_index: usize) -> (ChainInfo, bool) {
        let pc = &self.prog.path[path_index];
        let c = &self.prog.chains[pc.chain];
        let b = c.base.as_ref().expect("base chains only on the path");
        let ours_prio = self
            .prog
            .path
            .iter()
            .filter(|p| p.ours)
            .filter_map(|p| self.prog.chains[p.chain].base.as_ref())
            .map(|b| (b.hook, b.priority))
            .min();
        let runs_first = ours_prio.is_some_and(|(h, pr)| {
            let order = |x| lower::hooks(self.intent.chain).iter().position(|&y| y == x);
            (order(b.hook), b.priority) < (order(h), pr)
        });
        let info = ChainInfo {
            family: c.id.family.as_str(),
            table: c.id.table.clone(),
            name: c.id.name.clone(),
            hook: b.hook.as_str(),
            priority: b.priority,
            policy: b.policy.as_str(),
            kind: b.kind.clone(),
        };
        (info, runs_first)
    }

    fn report(&self, agg: Aggregate) -> Report {
        let mut findings = Vec::new();
        let mut cannot = Vec::new();
        for (key, a) in &agg.entries {
            let fam = a.first[FAM].0;
            let (witness, extent) = (self.witness(&a.first), self.extent(&a.first));
            match key {
                Key::Missing(item, attr) => findings.push(Finding::Missing {
                    witness,
                    extent,
                    cells: a.cells,
                    planned: self.planned(*item),
                    dropped_by: self.place(*attr, fam),
                }),
                Key::Extra(attr) => findings.push(Finding::Extra { witness, extent, cells: a.cells, accepted_by: self.place(*attr, fam) }),
                Key::Unknown(Attr::MissingFamily, _) => {
                    let fam = if fam == FAMILY_V6 { Family::V6 } else { Family::V4 };
                    let why = self.rb.missing_families.iter().find(|(f, _)| *f == fam).map(|(_, w)| w.clone()).unwrap_or_default();
                    cannot.push(CannotJudge {
                        at: format!("{} packets", if fam == Family::V6 { "IPv6" } else { "IPv4" }),
                        what: why,
                        witness: Some(witness),
                    });
                }
                Key::Unknown(attr, why) => {
                    cannot.push(CannotJudge { at: self.place(*attr, fam).to_string(), what: why.clone(), witness: Some(witness) })
                }
            }
        }
        for (pi, f) in agg.foreign.iter().enumerate() {
            let Some(f) = f else { continue };
            let (chain, runs_first) = self.chain_info(pi);
            let (effect, witness, by, detail) = match &f.drops_planned {
                Some((cell, attr)) => (
                    Effect::DropsPlanned,
                    Some(self.witness(cell)),
                    Some(self.place(*attr, cell[FAM].0)),
                    "drop is final: no later chain can let these packets through".to_string(),
                ),
                None => {
                    let detail = match &f.drops_unplanned {
                        Some(cell) => format!(
                            "drops only packets the plan does not intend (e.g. {}); what it accepts, the subject's chain still decides (accept is not final)",
                            self.witness(cell)
                        ),
                        None if f.unknown => "its verdict could not be judged for some packets (see cannot judge)".to_string(),
                        None => "accepts every packet it sees; the subject's chain still decides (accept is not final)".to_string(),
                    };
                    (Effect::CannotWiden, None, None, detail)
                }
            };
            findings.push(Finding::Interference { chain, effect, runs_first, witness, by, detail });
        }
        for u in &self.rb.unjudged {
            cannot.push(CannotJudge { at: u.at.clone(), what: u.what.clone(), witness: None });
        }
        let exact_match = findings.is_empty() && cannot.is_empty();
        let (kind, hook) = match (&self.intent.subject, self.intent.chain) {
            (Subject::Host(_), _) => ("host", "input"),
            (Subject::Firewall(_), _) => ("firewall", "forward"),
        };
        Report {
            subject: report::Subject { kind, name: self.intent.subject.name().to_string(), hook },
            read_from: self.rb.syntaxes.iter().map(|s| s.as_str()).collect(),
            exact_match,
            findings,
            cannot_judge: cannot,
            notes: self.notes.clone(),
            stats: Stats {
                base_chains_on_path: self.prog.path.len(),
                rules: self.prog.chains.iter().map(|c| c.rules.len()).sum(),
                planned_rules: self.intent.rules.len(),
                boxes: self.boxes.len(),
                cells: agg.cells,
            },
        }
    }
}

fn addr(a: std::net::IpAddr) -> u128 {
    portmatrix_targets::read::addr_u128(a)
}

/// Which base chains are the subject's own: those of portmatrix's nftables
/// table; else, for iptables, the filter table's; else the Windows
/// firewall's; else none (everything on the path is the ruleset).
fn ours_rule<'r>(rb: &'r ReadBack, opts: &Options, kind: Kind) -> impl Fn(&portmatrix_targets::read::Chain) -> bool + 'r {
    use portmatrix_targets::read::{Hook, TableFamily};
    let hook = if kind == Kind::Input { Hook::Input } else { Hook::Forward };
    let table = opts.table.clone();
    let is_ours_nft = move |c: &portmatrix_targets::read::Chain| c.id.family == TableFamily::Inet && c.id.table == table;
    let nft = rb.chains.iter().any(|c| c.base.as_ref().is_some_and(|b| b.hook == hook) && is_ours_nft(c));
    let is_filter =
        |c: &portmatrix_targets::read::Chain| matches!(c.id.family, TableFamily::Ip | TableFamily::Ip6) && c.id.table == "filter";
    let ipt = rb.syntaxes.contains(&Syntax::Iptables)
        && rb.chains.iter().any(|c| c.base.as_ref().is_some_and(|b| b.hook == hook) && is_filter(c));
    move |c: &portmatrix_targets::read::Chain| {
        let on_hook = c.base.as_ref().is_some_and(|b| b.hook == hook);
        on_hook
            && if nft {
                is_ours_nft(c)
            } else if ipt {
                is_filter(c)
            } else {
                c.id.family == TableFamily::Windows
            }
    }
}

/// What the check assumed, for the report; and why a NAT on the path was not modelled.
fn notes(
    intent: &Ruleset,
    rb: &ReadBack,
    opts: &Options,
    windows: bool,
    has_ours: bool,
    path_nonempty: bool,
    folded: Result<nat::Folded, String>,
) -> (Vec<String>, Option<String>) {
    let kind = intent.chain;
    let mut notes = vec!["compared over every packet of the conntrack states new, established, related and invalid".to_string()];
    if kind == Kind::Input {
        let own: Vec<String> = intent.own.iter().map(ToString::to_string).collect();
        notes.push(format!("destinations: the host's own addresses ({})", if own.is_empty() { "none".into() } else { own.join(", ") }));
    }
    if windows {
        notes.push("ICMP messages of the base policy and loopback traffic are left to Windows (built-in rules) and not compared".into());
    }
    if !has_ours && path_nonempty {
        notes.push(format!(
        "no base chain of table inet {} (nor an iptables filter chain) on the path: every base chain on it is judged as the subject's ruleset",
        opts.table
        ));
    }
    if !intent.dnat.is_empty() {
        notes.push(format!("the plan's {} port forward(s) translate destinations before its rules judge them", intent.dnat.len()));
    }
    let nat_unmodelled = match folded {
        Ok(nat::Folded::None) => None,
        Ok(nat::Folded::Modelled(note)) => {
            notes.push(note);
            None
        }
        Err(why) => Some(why),
    };
    notes.extend(rb.notes.iter().cloned());
    (notes, nat_unmodelled)
}

/// Every interface name or pattern the ruleset mentions.
fn interface_names(rb: &ReadBack) -> Vec<portmatrix_targets::read::IfName> {
    use portmatrix_targets::read::{Action, IfName, Test};
    let mut out = Vec::new();
    let mut take = |terms: &[(portmatrix_targets::read::Dim, Values)]| {
        for (_, v) in terms {
            if let Values::Names(n) = v {
                out.extend(n.iter().cloned());
            }
        }
    };
    for c in &rb.chains {
        for r in &c.rules {
            for cond in &r.conds {
                take(&cond.requires);
                if let Test::Region(cl) = &cond.test {
                    for c in cl {
                        take(&c.terms);
                    }
                }
            }
            if let Action::Map(m) = &r.action {
                for (c, _) in m {
                    take(&c.terms);
                }
            }
        }
    }
    for c in &rb.chains {
        if let Some(b) = &c.base {
            out.extend(b.devices.iter().cloned().map(IfName::Exact));
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Missing(u32, Attr),
    Extra(Attr),
    Unknown(Attr, String),
}

struct Agg {
    first: Bx,
    cells: u64,
}

#[derive(Default)]
struct ForeignAgg {
    drops_planned: Option<(Bx, Attr)>,
    drops_unplanned: Option<Bx>,
    unknown: bool,
}

/// How unusual a cell's packets are (lower makes a clearer witness): a
/// packet of a new connection on an ordinary interface is plainest.
fn plainness(cell: &Bx, lo: u128) -> u8 {
    u8::from(cell[space::CT].0 != space::CT_NEW) * 2 + u8::from(cell[IIF].0 == lo)
}

#[derive(Default)]
struct Aggregate {
    /// The loopback interface's class.
    lo: u128,
    index: HashMap<Key, usize>,
    entries: Vec<(Key, Agg)>,
    foreign: Vec<Option<ForeignAgg>>,
    cells: u64,
}

impl Aggregate {
    fn bump(&mut self, key: Key, cell: &Bx) {
        match self.index.get(&key) {
            Some(&i) => {
                let a = &mut self.entries[i].1;
                a.cells += 1;
                if plainness(cell, self.lo) < plainness(&a.first, self.lo) {
                    a.first = *cell;
                }
            }
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, Agg { first: *cell, cells: 1 }));
            }
        }
    }

    fn add(&mut self, s: &Setup, cell: &Bx, c: Classified) {
        self.cells += 1;
        match (&c.outcome, c.intent) {
            (Outcome::Drop(a), Some(i)) => self.bump(Key::Missing(i, *a), cell),
            (Outcome::Accept(a), None) => self.bump(Key::Extra(*a), cell),
            (Outcome::Unknown(a, why), _) => self.bump(Key::Unknown(*a, why.clone()), cell),
            _ => {}
        }
        if self.foreign.len() < s.prog.path.len() {
            self.foreign.resize_with(s.prog.path.len(), || None);
        }
        for (pi, o) in c.foreign {
            let f = self.foreign[pi].get_or_insert_with(ForeignAgg::default);
            match (o, c.intent) {
                (Outcome::Drop(a), Some(_))
                    if f.drops_planned.as_ref().is_none_or(|(c, _)| plainness(cell, self.lo) < plainness(c, self.lo)) =>
                {
                    f.drops_planned = Some((*cell, a))
                }
                (Outcome::Drop(_), None) if f.drops_unplanned.is_none() => f.drops_unplanned = Some(*cell),
                (Outcome::Unknown(..), _) => f.unknown = true,
                _ => {}
            }
        }
    }
}
