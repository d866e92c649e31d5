//! Destination NAT before the filter, folded into the box arithmetic.
//!
//! A port forward rewrites the destination of the packets it matches before
//! the forward chain judges them. The check keeps comparing in the space of
//! packets as they *arrive* (a witness is what a client sends); a filter
//! region `P` is replaced by its pre-image `{p : T(p) ∈ P}` under the
//! translation `T`. Because `T` sends each match region to a single
//! destination, the pre-image of a box is again a union of boxes:
//! the box minus every match region (untranslated packets), plus, for each
//! translation to an address inside the box's destinations, that
//! translation's region narrowed to the box's other dimensions. First-match
//! order inside the NAT chain is kept by making the regions disjoint.
//! Pulling back every condition of a rule keeps the rule's first-match
//! semantics exactly: the rule matches `p` iff it matches `T(p)`.

use std::collections::BTreeSet;

use portmatrix_targets::read::{addr_u128, Hook, Policy, ReadBack};
use portmatrix_targets::{Chain as Kind, Family, Ruleset};

use crate::intent::proto_number;
use crate::lower::{hooks, intersect, LAction, LVerdict, Program, Role};
use crate::space::{family_value, full, Bx, D, DPORT, DST, FAM, PROTO};

/// One NAT rule: its match region and the destination it translates to
/// (`None`: the packet leaves the NAT chain untranslated).
pub type NatRule = (Vec<Bx>, Option<u128>);

/// The translation of one NAT chain: disjoint regions, each with the
/// destination it translates to (`None`: left as it is).
#[derive(Debug, Clone, Default)]
pub struct Stage {
    regions: Vec<NatRule>,
}

/// `a` minus `b`, as disjoint boxes.
pub fn subtract(a: &Bx, b: &Bx) -> Vec<Bx> {
    if intersect(a, b).is_none() {
        return vec![*a];
    }
    let mut rest = *a;
    let mut out = Vec::new();
    for d in 0..D {
        if rest[d].0 < b[d].0 {
            let mut piece = rest;
            piece[d] = (rest[d].0, b[d].0 - 1);
            out.push(piece);
        }
        if rest[d].1 > b[d].1 {
            let mut piece = rest;
            piece[d] = (b[d].1 + 1, rest[d].1);
            out.push(piece);
        }
        rest[d] = (rest[d].0.max(b[d].0), rest[d].1.min(b[d].1));
    }
    out
}

fn subtract_all(a: Vec<Bx>, cut: &[Bx]) -> Vec<Bx> {
    cut.iter().fold(a, |pieces, c| pieces.iter().flat_map(|p| subtract(p, c)).collect())
}

impl Stage {
    /// From the NAT rules in chain order: each rule's match region and
    /// where it sends the destination. The first matching rule wins.
    pub fn new(rules: Vec<NatRule>) -> Stage {
        let mut taken: Vec<Bx> = Vec::new();
        let mut regions = Vec::new();
        for (boxes, to) in rules {
            let own = subtract_all(boxes.clone(), &taken);
            taken.extend(boxes);
            if !own.is_empty() {
                regions.push((own, to));
            }
        }
        Stage { regions }
    }

    /// The stage of an intended ruleset's port forwards (`Ruleset::translated`).
    pub fn of_intent(rs: &Ruleset, ifaces: usize) -> Stage {
        let rules = rs
            .dnat
            .iter()
            .map(|d| {
                let mut b = full(ifaces);
                b[FAM] = (family_value(d.family()), family_value(d.family()));
                b[PROTO] = (proto_number(d.proto) as u128, proto_number(d.proto) as u128);
                b[DST] = (addr_u128(d.public), addr_u128(d.public));
                let boxes = d
                    .ports
                    .ranges()
                    .map(|(a, z)| {
                        let mut x = b;
                        x[DPORT] = (a as u128, z as u128);
                        x
                    })
                    .collect();
                (boxes, Some(addr_u128(d.private)))
            })
            .collect();
        Stage::new(rules)
    }

    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    /// The packets whose translation lies in `b`.
    pub fn pull_back(&self, b: &Bx) -> Vec<Bx> {
        let all: Vec<Bx> = self.regions.iter().flat_map(|(r, _)| r.iter().copied()).collect();
        let mut out = subtract_all(vec![*b], &all);
        for (region, to) in &self.regions {
            let wanted = match to {
                Some(t) if b[DST].0 <= *t && *t <= b[DST].1 => {
                    let mut w = *b;
                    w[DST] = (0, u128::MAX);
                    w
                }
                Some(_) => continue,
                None => *b,
            };
            out.extend(region.iter().filter_map(|r| intersect(r, &wanted)));
        }
        out
    }

    /// The destinations it translates to, for notes.
    fn targets(&self) -> BTreeSet<u128> {
        self.regions.iter().filter_map(|(_, t)| *t).collect()
    }
}

/// What [`fold`] made of the read-back's NAT.
pub enum Folded {
    /// No destination NAT on the path.
    None,
    /// Modelled; the note says what was assumed.
    Modelled(String),
}

/// Folds the read-back's destination NAT into the program: the chains that
/// run after it get pulled-back parts and the NAT chain leaves the path.
/// `Err` says why a NAT on the path cannot be modelled (its rules are then
/// judged unknown).
pub fn fold(prog: &mut Program, rb: &ReadBack, kind: Kind) -> Result<Folded, String> {
    let dnat_chains: BTreeSet<usize> = prog
        .chains
        .iter()
        .enumerate()
        .filter(|(_, c)| c.rules.iter().any(|r| !r.never && matches!(r.action, LAction::Dnat(_))))
        .map(|(i, _)| i)
        .collect();
    let Some(&nc) = dnat_chains.iter().next() else { return Ok(Folded::None) };
    if kind == Kind::Input {
        return Err("destination NAT on a host's own path (it can turn the packet into a routed one) is not modelled".into());
    }
    if dnat_chains.len() > 1 {
        return Err("destination NAT in more than one chain is not modelled".into());
    }
    let Some(at) = prog.path.iter().position(|p| p.chain == nc) else {
        return Err("destination NAT outside a base chain on the path (in a regular chain) is not modelled".into());
    };
    let name = prog.chains[nc].id.to_string();
    let base = prog.chains[nc].base.clone().expect("path chains are base chains");
    if base.hook != Hook::Prerouting || base.policy != Policy::Accept || prog.path[at].iif.is_some() {
        return Err(format!("destination NAT in `{name}` is modelled only in a prerouting chain with policy accept on every interface"));
    }
    let stage = Stage::new(nat_rules(prog, nc, &name)?);
    let post = chains_after(prog, rb, kind, at, &name)?;
    for part in &mut prog.parts {
        let chain = match part.role {
            Role::Pos { chain, .. } | Role::Neg { chain, .. } | Role::Entry { chain, .. } => chain as usize,
        };
        if post.contains(&chain) {
            part.boxes = part.boxes.iter().flat_map(|(b, o)| stage.pull_back(b).into_iter().map(move |x| (x, o.clone()))).collect();
        }
    }
    prog.path.remove(at);
    let fam = |t: u128| if t > u32::MAX as u128 { Family::V6 } else { Family::V4 };
    let to: Vec<String> = stage.targets().iter().map(|&t| portmatrix_targets::read::addr_of(fam(t), t).to_string()).collect();
    Ok(Folded::Modelled(format!(
        "destination NAT in `{name}` is modelled (to {}): the chains after it judge the translated destination; witnesses are packets as they arrive",
        if to.is_empty() { "no address".into() } else { to.join(", ") }
    )))
}

/// The NAT chain's rules as (match region, translation) in order.
fn nat_rules(prog: &Program, nc: usize, name: &str) -> Result<Vec<NatRule>, String> {
    let mut rules = Vec::new();
    for (ri, r) in prog.chains[nc].rules.iter().enumerate() {
        if r.never {
            continue;
        }
        if let Some(why) = &r.unknown {
            return Err(format!("rule {ri} of `{name}`: {why}"));
        }
        let to = match &r.action {
            LAction::Dnat(a) => Some(*a),
            LAction::Verdict(LVerdict::Continue) => continue,
            LAction::Verdict(LVerdict::Accept | LVerdict::Return) => None,
            _ => return Err(format!("rule {ri} of `{name}`: only dnat, accept and return are modelled in a NAT chain")),
        };
        let ([p], []) = (r.pos.as_slice(), r.neg.as_slice()) else {
            return Err(format!("rule {ri} of `{name}`: negated or many-part conditions in a NAT rule are not modelled"));
        };
        let mut boxes: Vec<Bx> = prog.parts[*p as usize].boxes.iter().map(|(b, _)| *b).collect();
        if let Some(a) = to {
            let f = family_value(if a.is_ipv6() { Family::V6 } else { Family::V4 });
            if boxes.iter().any(|b| b[FAM] != (f, f)) {
                return Err(format!("rule {ri} of `{name}`: dnat to {a} for packets of the other address family"));
            }
            boxes.retain(|b| b[FAM] == (f, f));
        }
        rules.push((boxes, to.map(addr_u128)));
    }
    Ok(rules)
}

/// The chains (base and regular) that run after the NAT chain at path
/// position `at`; a chain reached both before and after it is refused.
fn chains_after(prog: &Program, rb: &ReadBack, kind: Kind, at: usize, name: &str) -> Result<BTreeSet<usize>, String> {
    let order = |ci: usize| {
        let b = rb.chains[ci].base.as_ref().expect("base chain");
        (hooks(kind).iter().position(|&h| h == b.hook).unwrap_or(0), b.priority)
    };
    let nat_at = order(prog.path[at].chain);
    let (mut pre, mut post) = (BTreeSet::new(), BTreeSet::new());
    for (i, pc) in prog.path.iter().enumerate() {
        if i == at {
            continue;
        }
        let o = order(pc.chain);
        if o == nat_at {
            return Err(format!("a base chain runs at the same hook and priority as the NAT chain `{name}`: their order is not defined"));
        }
        reach(prog, pc.chain, if o < nat_at { &mut pre } else { &mut post });
    }
    if let Some(c) = pre.intersection(&post).next() {
        return Err(format!("chain `{}` runs both before and after destination NAT", prog.chains[*c].id));
    }
    Ok(post)
}

/// Every chain reachable from `from` by jumps, gotos and verdict maps.
fn reach(prog: &Program, from: usize, seen: &mut BTreeSet<usize>) {
    if !seen.insert(from) {
        return;
    }
    for r in &prog.chains[from].rules {
        let targets: Vec<&LVerdict> = match &r.action {
            LAction::Verdict(v) => vec![v],
            LAction::Map(m) => m.iter().map(|(_, v)| v).collect(),
            LAction::Dnat(_) => Vec::new(),
        };
        for v in targets {
            if let LVerdict::Jump(t) | LVerdict::Goto(t) = v {
                reach(prog, *t, seen);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::contains;
    use proptest::prelude::*;

    // Pieces may overlap (a rule's own boxes do); a region is their union.

    /// Boxes over a small grid: dimensions 0-2 (family, protocol, destination) vary, the rest are whole.
    fn small_box() -> impl Strategy<Value = Bx> {
        proptest::collection::vec((0u128..6, 0u128..6), 3).prop_map(|iv| {
            let mut b = full(1);
            for (d, (a, z)) in iv.into_iter().enumerate() {
                b[d] = (a.min(z), a.max(z));
            }
            b
        })
    }

    /// The translation, packet by packet: the first rule whose region holds it.
    fn translate(rules: &[NatRule], p: &[u128; D]) -> [u128; D] {
        let mut out = *p;
        if let Some((_, Some(t))) = rules.iter().find(|(r, _)| r.iter().any(|b| contains(b, p))) {
            out[DST] = *t;
        }
        out
    }

    proptest! {
        /// A point lies in the pulled-back region exactly when its translation lies in the box.
        #[test]
        fn pull_back_is_the_pre_image(
            rules in proptest::collection::vec((proptest::collection::vec(small_box(), 1..3), proptest::option::of(0u128..6)), 0..4),
            b in small_box(),
        ) {
            let stage = Stage::new(rules.clone());
            let back = stage.pull_back(&b);
            for f in 0..6u128 {
                for pr in 0..6u128 {
                    for d in 0..6u128 {
                        let mut p = [0u128; D];
                        (p[FAM], p[PROTO], p[DST]) = (f, pr, d);
                        let inside = back.iter().any(|x| contains(x, &p));
                        prop_assert_eq!(inside, contains(&b, &translate(&rules, &p)), "{:?}", p);
                    }
                }
            }
        }
    }

    #[test]
    fn subtract_leaves_the_difference() {
        let mut a = full(1);
        a[DST] = (0, 9);
        let mut b = full(1);
        b[DST] = (3, 4);
        let rest = subtract(&a, &b);
        let covered: Vec<u128> = (0..10).filter(|&d| rest.iter().any(|x| x[DST].0 <= d && d <= x[DST].1)).collect();
        assert_eq!(covered, vec![0, 1, 2, 5, 6, 7, 8, 9]);
    }
}
