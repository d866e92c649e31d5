//! A read-back ruleset lowered for the sweep: each rule's conditions become
//! *parts* (regions of boxes) that either must hold or must not; the chains
//! keep their order, jumps and verdicts, and the sweep interprets them in
//! every cell of the packet space.

use portmatrix_targets::read::{
    Action, Base, Chain as RbChain, ChainId, Clause, Cond, Dim, Hook, Origin, ReadBack, TableFamily, Test, Verdict,
};
use portmatrix_targets::{Chain as Kind, Family};

use crate::space::{full, restrict, Bx, Ifaces, FAM, IIF, OIF};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LVerdict {
    Accept,
    Drop,
    Continue,
    Return,
    Jump(usize),
    Goto(usize),
}

#[derive(Debug, Clone)]
pub enum LAction {
    Verdict(LVerdict),
    /// Entries: (part, verdict).
    Map(Vec<(u32, LVerdict)>),
    /// Destination NAT (folded away by `nat::fold` when it can be modelled).
    Dnat(std::net::IpAddr),
}

#[derive(Debug, Clone)]
pub struct LRule {
    pub pos: Vec<u32>,
    pub neg: Vec<u32>,
    pub action: LAction,
    /// Why the rule's verdict is unknown, if it is.
    pub unknown: Option<String>,
    /// The rule can never match a new connection (e.g. `ct state established`).
    pub never: bool,
}

#[derive(Debug, Clone)]
pub struct LChain {
    pub id: ChainId,
    pub base: Option<Base>,
    pub rules: Vec<LRule>,
    /// Index in the read-back's chains (for locations).
    pub source: usize,
}

/// What a part stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Pos { chain: u32, rule: u32 },
    Neg { chain: u32, rule: u32 },
    Entry { chain: u32, rule: u32 },
}

#[derive(Debug, Clone)]
pub struct Part {
    pub role: Role,
    /// Boxes, each with the set element it comes from.
    pub boxes: Vec<(Bx, Option<Origin>)>,
}

/// A base chain on the path of the check, in the order netfilter calls it.
#[derive(Debug, Clone)]
pub struct PathChain {
    pub chain: usize,
    pub sees_v4: bool,
    pub sees_v6: bool,
    /// Interface classes a device-bound chain sees; `None`: all.
    pub iif: Option<Vec<(u128, u128)>>,
    pub ours: bool,
}

#[derive(Debug, Clone)]
pub struct Program {
    pub chains: Vec<LChain>,
    pub path: Vec<PathChain>,
    pub parts: Vec<Part>,
}

/// The hooks a new packet crosses before the subject's filter decides.
pub fn hooks(kind: Kind) -> [Hook; 3] {
    match kind {
        Kind::Input => [Hook::Ingress, Hook::Prerouting, Hook::Input],
        Kind::Forward => [Hook::Ingress, Hook::Prerouting, Hook::Forward],
    }
}

fn on_path(family: TableFamily, base: &Base, kind: Kind) -> bool {
    let ip = matches!(family, TableFamily::Ip | TableFamily::Ip6 | TableFamily::Inet | TableFamily::Windows);
    match base.hook {
        Hook::Ingress => matches!(family, TableFamily::Netdev | TableFamily::Inet),
        h => ip && hooks(kind).contains(&h),
    }
}

struct Lowerer<'a> {
    ifaces: &'a Ifaces,
    kind: Kind,
    parts: Vec<Part>,
}

impl Lowerer<'_> {
    fn part(&mut self, role: Role, boxes: Region) -> u32 {
        self.parts.push(Part { role, boxes });
        (self.parts.len() - 1) as u32
    }

    fn clause_boxes(&self, c: &Clause) -> Region {
        restrict(full(self.ifaces.count()), &c.terms, self.ifaces).into_iter().map(|b| (b, c.origin.clone())).collect()
    }

    /// Lowers one condition into regions that must hold (`pos`) or must
    /// not (`neg`); `false` when it can never hold.
    fn cond(&self, c: &Cond, pos: &mut Vec<Region>, neg: &mut Vec<Region>) -> bool {
        let n = self.ifaces.count();
        if !c.requires.is_empty() {
            let b: Region = restrict(full(n), &c.requires, self.ifaces).into_iter().map(|b| (b, None)).collect();
            if b.is_empty() {
                return false;
            }
            pos.push(b);
        }
        let holds = match &c.test {
            // Input sees only packets to the host's own addresses; forward never does.
            Test::DaddrLocal => self.kind == Kind::Input,
            Test::Region(clauses) => {
                // A match on an interface the packet does not have (the output
                // interface on input) fails whether negated or not.
                for (d, i) in [(Dim::Oif, OIF), (Dim::Iif, IIF)] {
                    if clauses.iter().any(|cl| cl.terms.iter().any(|(x, _)| *x == d)) {
                        let mut b = full(n);
                        b[i] = (1, n as u128);
                        pos.push(vec![(b, None)]);
                    }
                }
                let boxes: Region = clauses.iter().flat_map(|cl| self.clause_boxes(cl)).collect();
                if c.negated {
                    if !boxes.is_empty() {
                        neg.push(boxes);
                    }
                    return true;
                }
                if boxes.is_empty() {
                    return false;
                }
                pos.push(boxes);
                return true;
            }
        };
        holds != c.negated
    }
}

/// A union of boxes, each with the set element it comes from.
type Region = Vec<(Bx, Option<Origin>)>;

/// Intersections larger than this stay separate parts (the sweep then
/// intersects them cell by cell).
const MERGE_LIMIT: usize = 100_000;

pub(crate) fn intersect(a: &Bx, b: &Bx) -> Option<Bx> {
    let mut out = *a;
    for d in 0..out.len() {
        out[d] = (a[d].0.max(b[d].0), a[d].1.min(b[d].1));
        if out[d].0 > out[d].1 {
            return None;
        }
    }
    Some(out)
}

/// The intersection of regions, as few parts as the limit allows: a rule's
/// conditions become one compact region, so that its boxes are small.
fn merge(regions: Vec<Region>) -> Vec<Region> {
    let mut regions = regions;
    regions.sort_by_key(Vec::len);
    let mut out: Vec<Region> = Vec::new();
    let mut cur: Option<Region> = None;
    for r in regions {
        cur = Some(match cur {
            None => r,
            Some(c) if c.len() * r.len() <= MERGE_LIMIT => {
                let mut next = Vec::new();
                for (a, oa) in &c {
                    for (b, ob) in &r {
                        if let Some(x) = intersect(a, b) {
                            next.push((x, oa.clone().or_else(|| ob.clone())));
                        }
                    }
                }
                next
            }
            Some(c) => {
                out.push(c);
                r
            }
        });
    }
    out.extend(cur);
    out
}

fn verdict(v: &Verdict, index: &dyn Fn(&str) -> Option<usize>) -> Result<LVerdict, String> {
    Ok(match v {
        Verdict::Accept => LVerdict::Accept,
        Verdict::Drop => LVerdict::Drop,
        Verdict::Continue => LVerdict::Continue,
        Verdict::Return => LVerdict::Return,
        Verdict::Jump(t) => LVerdict::Jump(index(t).ok_or_else(|| format!("jump to missing chain {t}"))?),
        Verdict::Goto(t) => LVerdict::Goto(index(t).ok_or_else(|| format!("goto to missing chain {t}"))?),
    })
}

/// Lowers the chains of `rb`; `ours` says which base chains are the subject's own.
pub fn lower(rb: &ReadBack, kind: Kind, ifaces: &Ifaces, ours: &dyn Fn(&RbChain) -> bool) -> Program {
    let mut l = Lowerer { ifaces, kind, parts: Vec::new() };
    let mut chains = Vec::new();
    for (ci, c) in rb.chains.iter().enumerate() {
        let index = |name: &str| rb.chains.iter().position(|x| x.id.family == c.id.family && x.id.table == c.id.table && x.id.name == name);
        let mut rules = Vec::new();
        for (ri, r) in c.rules.iter().enumerate() {
            let (mut pos_r, mut neg_r) = (Vec::new(), Vec::new());
            let mut never = false;
            for cond in &r.conds {
                if !l.cond(cond, &mut pos_r, &mut neg_r) {
                    never = true;
                    break;
                }
            }
            let merged = if never { Vec::new() } else { merge(pos_r) };
            never |= merged.iter().any(Vec::is_empty);
            let (ch, ru) = (ci as u32, ri as u32);
            let mut pos: Vec<u32> = Vec::new();
            let mut neg: Vec<u32> = Vec::new();
            if !never {
                for region in &merged {
                    pos.push(l.part(Role::Pos { chain: ch, rule: ru }, region.clone()));
                }
                for region in neg_r {
                    neg.push(l.part(Role::Neg { chain: ch, rule: ru }, region));
                }
                if pos.is_empty() {
                    // Every rule needs a part that holds where it matches.
                    pos.push(l.part(Role::Pos { chain: ch, rule: ru }, vec![(full(ifaces.count()), None)]));
                }
            }
            let mut unknown = r.unjudged.first().map(|u| u.what.clone());
            let action = match &r.action {
                Action::Verdict(v) => match verdict(v, &index) {
                    Ok(v) => LAction::Verdict(v),
                    Err(e) => {
                        unknown.get_or_insert(e);
                        LAction::Verdict(LVerdict::Continue)
                    }
                },
                Action::Map(entries) => {
                    // Entries cut to the rule's own region when it is one box.
                    let within: Option<Bx> = match merged.as_slice() {
                        [one] if one.len() == 1 => Some(one[0].0),
                        _ => None,
                    };
                    let mut out = Vec::new();
                    for (cl, v) in entries {
                        match verdict(v, &index) {
                            Ok(v) => {
                                let boxes: Region = l
                                    .clause_boxes(cl)
                                    .into_iter()
                                    .filter_map(|(b, o)| match &within {
                                        Some(w) => intersect(&b, w).map(|x| (x, o)),
                                        None => Some((b, o)),
                                    })
                                    .collect();
                                if !boxes.is_empty() && !never {
                                    out.push((l.part(Role::Entry { chain: ch, rule: ru }, boxes), v));
                                }
                            }
                            Err(e) => {
                                unknown.get_or_insert(e);
                            }
                        }
                    }
                    LAction::Map(out)
                }
                Action::Dnat(a) => LAction::Dnat(*a),
            };
            rules.push(LRule { pos, neg, action, unknown, never });
        }
        chains.push(LChain { id: c.id.clone(), base: c.base.clone(), rules, source: ci });
    }
    let mut path: Vec<(usize, PathChain)> = Vec::new();
    for (ci, c) in rb.chains.iter().enumerate() {
        let Some(b) = &c.base else { continue };
        if !on_path(c.id.family, b, kind) {
            continue;
        }
        let iif = (!b.devices.is_empty())
            .then(|| ifaces.ranges(&b.devices.iter().cloned().map(portmatrix_targets::read::IfName::Exact).collect::<Vec<_>>()));
        path.push((
            ci,
            PathChain { chain: ci, sees_v4: c.id.family.sees(Family::V4), sees_v6: c.id.family.sees(Family::V6), iif, ours: ours(c) },
        ));
    }
    let hook_order = |h: Hook| hooks(kind).iter().position(|&x| x == h).unwrap_or(0);
    path.sort_by_key(|(ci, _)| {
        let b = rb.chains[*ci].base.as_ref().expect("base chains only");
        (hook_order(b.hook), b.priority, *ci)
    });
    Program { chains, path: path.into_iter().map(|(_, p)| p).collect(), parts: l.parts }
}

impl PathChain {
    pub fn sees(&self, cell: &Bx) -> bool {
        let fam_ok = if cell[FAM].0 == crate::space::family_value(Family::V4) { self.sees_v4 } else { self.sees_v6 };
        fam_ok && self.iif.as_ref().is_none_or(|r| r.iter().any(|&(a, b)| a <= cell[IIF].0 && cell[IIF].1 <= b))
    }
}
