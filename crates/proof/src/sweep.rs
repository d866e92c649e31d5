//! Cell decomposition of a set of boxes: the space is cut, one dimension
//! after the other, at every box boundary; each resulting cell lies inside
//! or outside every box, so any question about the boxes has one answer per
//! cell. Cells no `key` box covers (outside the universe) are skipped.
//!
//! Per dimension the boxes active in each elementary interval are kept by a
//! sweep over the sorted boundaries (each box enters and leaves once), so a
//! level costs O(n log n) for its n boxes, and deeper levels see only the
//! boxes of their interval.
//!
//! [`sweep_grouped`] also folds intervals that cannot differ: when two
//! intervals of a dimension hold the same *kinds* of boxes with the same
//! extent in every deeper dimension (5,000 elements of one set, each a box
//! that differs from the others only in its source address), their subtrees
//! are copies of each other. The first is visited; if every leaf under it
//! was quiet (the caller's verdict: nothing to report), the copies are only
//! counted; otherwise they are visited one by one, in order, as by [`sweep`].

use crate::space::{Bx, Iv, D};

/// What a leaf says about its cell: quiet with the cells it counted
/// (copies of it need only be counted), or something to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    Quiet(u64),
    Loud,
}

#[derive(Default)]
struct Scratch {
    /// (coordinate, 0 = end / 1 = start, local index; `WHOLE` for the dimension's bounds)
    events: Vec<(u128, u8, u32)>,
    active: Vec<u32>,
    active_local: Vec<u32>,
    pos: Vec<u32>,
    /// Boxes that cover every remaining dimension whole: active in every
    /// deeper cell, so they are carried down without events.
    carried: Vec<u32>,
    live: Vec<u32>,
    next: Vec<u32>,
    /// Grouping: the covered intervals (lower, upper, start of their boxes in `members`).
    intervals: Vec<(u128, u128, usize)>,
    members: Vec<u32>,
    signature: Vec<u32>,
}

/// The local index of the bounds event (not a box).
const WHOLE: u32 = u32::MAX;

struct State<'a> {
    boxes: &'a [Bx],
    key: &'a [bool],
    /// Per dimension, the span of every box together (no cell lies outside).
    whole: Bx,
    /// Per box, the last dimension it does not cover whole (`None`: none).
    last_cut: Vec<Option<usize>>,
    scratch: Vec<Scratch>,
    grouping: Option<Grouping<'a>>,
    /// Cells counted for copies that were not visited.
    copied: u64,
}

/// What [`sweep_grouped`] needs to tell copies apart.
struct Grouping<'a> {
    /// Per box, its kind: boxes of one kind are interchangeable except for
    /// their extent (elements of one set part; unique otherwise).
    kind: &'a [u32],
    /// Dimensions whose intervals are never folded (the leaf reads the cell's value there).
    keep: [bool; D],
    /// Per dimension, each box's class there: its kind and its extent in
    /// the deeper dimensions (`u32::MAX` until needed). The class at `d` is
    /// interned from the class at `d + 1` and the extent in `d + 1`.
    class: Vec<Vec<u32>>,
    ids: Vec<rustc_hash::FxHashMap<(u32, Iv), u32>>,
    /// Fold a dimension's intervals only where this many boxes are cut there.
    fold_from: usize,
}

/// Where [`sweep_grouped`] starts folding by default.
pub const FOLD_FROM: usize = 16;

/// Calls `leaf` once per cell inside some `key` box, with the cell and the
/// boxes that contain it (indices into `boxes`, in no particular order).
/// Cells come in lexicographic order of their lower corners.
pub fn sweep(boxes: &[Bx], key: &[bool], mut leaf: impl FnMut(&Bx, &[u32])) {
    run(boxes, key, None, &mut |c, a| {
        leaf(c, a);
        Leaf::Loud
    });
}

/// [`sweep`], folding copies (see the module's notes): `kind` per box,
/// `keep` the dimensions never folded. Leaves of copies that were not
/// visited are not called; the cells they would have counted are returned.
/// `fold_from`: fold a dimension's intervals only where this many boxes are
/// cut there ([`FOLD_FROM`]; below it the bookkeeping costs more than it saves).
pub fn sweep_grouped(
    boxes: &[Bx],
    key: &[bool],
    kind: &[u32],
    keep: [bool; D],
    fold_from: usize,
    mut leaf: impl FnMut(&Bx, &[u32]) -> Leaf,
) -> u64 {
    debug_assert_eq!(boxes.len(), kind.len());
    let grouping = Grouping { kind, keep, class: vec![Vec::new(); D], ids: vec![Default::default(); D], fold_from };
    run(boxes, key, Some(grouping), &mut leaf)
}

fn run(boxes: &[Bx], key: &[bool], grouping: Option<Grouping>, leaf: &mut dyn FnMut(&Bx, &[u32]) -> Leaf) -> u64 {
    debug_assert_eq!(boxes.len(), key.len());
    if boxes.is_empty() {
        return 0;
    }
    let mut whole: Bx = [(u128::MAX, 0); D];
    for b in boxes {
        for d in 0..D {
            whole[d] = (whole[d].0.min(b[d].0), whole[d].1.max(b[d].1));
        }
    }
    let last_cut = boxes.iter().map(|b| (0..D).rev().find(|&d| b[d] != whole[d])).collect();
    let all: Vec<u32> = (0..boxes.len() as u32).collect();
    let mut st = State { boxes, key, whole, last_cut, scratch: (0..D).map(|_| Scratch::default()).collect(), grouping, copied: 0 };
    let mut cell: Bx = [(0, 0); D];
    st.rec(0, &all, 0, &mut cell, leaf);
    st.copied
}

impl State<'_> {
    /// `act[..carried]` cover dimensions `d..` whole; the rest are cut here or deeper.
    /// Returns what the subtree's leaves said together: quiet with the cells
    /// counted (copies included), or loud.
    fn rec(&mut self, d: usize, act: &[u32], carried: usize, cell: &mut Bx, leaf: &mut dyn FnMut(&Bx, &[u32]) -> Leaf) -> Leaf {
        if d == D {
            return leaf(cell, act);
        }
        let mut sc = std::mem::take(&mut self.scratch[d]);
        sc.carried.clear();
        sc.live.clear();
        sc.carried.extend_from_slice(&act[..carried]);
        for &a in &act[carried..] {
            if self.last_cut[a as usize].is_none_or(|c| c < d) {
                sc.carried.push(a);
            } else {
                sc.live.push(a);
            }
        }
        let base_keys = sc.carried.iter().filter(|&&a| self.key[a as usize]).count();
        sc.events.clear();
        let (lo, hi) = self.whole[d];
        // The dimension's bounds cut too: carried boxes cover them and nothing more.
        sc.events.push((lo, 1, WHOLE));
        if hi < u128::MAX {
            sc.events.push((hi + 1, 0, WHOLE));
        }
        for (li, &a) in sc.live.iter().enumerate() {
            let (lo, hi) = self.boxes[a as usize][d];
            sc.events.push((lo, 1, li as u32));
            if hi < u128::MAX {
                sc.events.push((hi + 1, 0, li as u32));
            }
        }
        sc.events.sort_unstable();
        sc.active.clear();
        sc.active_local.clear();
        sc.pos.clear();
        sc.pos.resize(sc.live.len(), u32::MAX);
        let (mut keys, mut inside) = (base_keys, false);
        let mut k = 0;
        let n = sc.events.len();
        // Folding needs the intervals first: collect them, then visit.
        let fold = self.grouping.as_ref().is_some_and(|g| !g.keep[d] && sc.live.len() >= g.fold_from);
        sc.intervals.clear();
        sc.members.clear();
        let mut said = Leaf::Quiet(0);
        while k < n {
            let x = sc.events[k].0;
            while k < n && sc.events[k].0 == x {
                let (_, start, li) = sc.events[k];
                k += 1;
                if li == WHOLE {
                    inside = start == 1;
                    continue;
                }
                let g = sc.live[li as usize];
                if start == 1 {
                    sc.pos[li as usize] = sc.active.len() as u32;
                    sc.active.push(g);
                    sc.active_local.push(li);
                    keys += usize::from(self.key[g as usize]);
                } else {
                    let p = sc.pos[li as usize] as usize;
                    sc.active.swap_remove(p);
                    sc.active_local.swap_remove(p);
                    if p < sc.active.len() {
                        sc.pos[sc.active_local[p] as usize] = p as u32;
                    }
                    keys -= usize::from(self.key[g as usize]);
                }
            }
            // A key box counted here is active (carried or live), so the cell is covered.
            if keys > 0 && inside {
                let end = if k < n { sc.events[k].0 - 1 } else { u128::MAX };
                if fold {
                    sc.intervals.push((x, end, sc.members.len()));
                    sc.members.extend_from_slice(&sc.active);
                    continue;
                }
                cell[d] = (x, end);
                sc.next.clear();
                sc.next.extend_from_slice(&sc.carried);
                sc.next.extend_from_slice(&sc.active);
                let next = std::mem::take(&mut sc.next);
                said = join(said, self.rec(d + 1, &next, sc.carried.len(), cell, leaf));
                sc.next = next;
            }
        }
        if fold {
            said = self.visit_folded(d, &mut sc, cell, leaf);
        }
        self.scratch[d] = sc;
        said
    }

    /// Visits the collected intervals of dimension `d` in order; an interval
    /// whose signature (its boxes' classes) was met before with a quiet
    /// subtree is a copy of it and only counted.
    fn visit_folded(&mut self, d: usize, sc: &mut Scratch, cell: &mut Bx, leaf: &mut dyn FnMut(&Bx, &[u32]) -> Leaf) -> Leaf {
        let mut seen: std::collections::HashMap<Vec<u32>, Leaf> = std::collections::HashMap::new();
        let mut said = Leaf::Quiet(0);
        for i in 0..sc.intervals.len() {
            let (lo, hi, from) = sc.intervals[i];
            let to = sc.intervals.get(i + 1).map_or(sc.members.len(), |iv| iv.2);
            sc.signature.clear();
            for j in from..to {
                let c = self.class(d, sc.members[j]);
                sc.signature.push(c);
            }
            sc.signature.sort_unstable();
            if let Some(&Leaf::Quiet(w)) = seen.get(sc.signature.as_slice()) {
                self.copied += w;
                said = join(said, Leaf::Quiet(w));
                continue;
            }
            cell[d] = (lo, hi);
            sc.next.clear();
            sc.next.extend_from_slice(&sc.carried);
            sc.next.extend_from_slice(&sc.members[from..to]);
            let next = std::mem::take(&mut sc.next);
            let got = self.rec(d + 1, &next, sc.carried.len(), cell, leaf);
            sc.next = next;
            said = join(said, got);
            // A loud first visit stays loud: its copies are visited too.
            seen.entry(sc.signature.clone()).or_insert(got);
        }
        said
    }

    /// Box `b`'s class at dimension `d`: its kind and its extent in every deeper dimension.
    fn class(&mut self, d: usize, b: u32) -> u32 {
        let g = self.grouping.as_mut().expect("folding only with a grouping");
        if d == D - 1 {
            return g.kind[b as usize];
        }
        if g.class[d].is_empty() {
            g.class[d].resize(self.boxes.len(), u32::MAX);
        }
        let known = g.class[d][b as usize];
        if known != u32::MAX {
            return known;
        }
        let below = self.class(d + 1, b);
        let g = self.grouping.as_mut().expect("folding only with a grouping");
        let ids = &mut g.ids[d];
        let next = ids.len() as u32;
        let c = *ids.entry((below, self.boxes[b as usize][d + 1])).or_insert(next);
        g.class[d][b as usize] = c;
        c
    }
}

fn join(a: Leaf, b: Leaf) -> Leaf {
    match (a, b) {
        (Leaf::Quiet(x), Leaf::Quiet(y)) => Leaf::Quiet(x + y),
        _ => Leaf::Loud,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{contains, full};

    /// The cells cover exactly the key boxes, each point once, and every
    /// box listed for a cell contains the whole cell.
    fn brute_force_agrees(boxes: &[Bx], key: &[bool], grid: u128) {
        let mut cells: Vec<(Bx, Vec<u32>)> = Vec::new();
        sweep(boxes, key, |c, act| cells.push((*c, act.to_vec())));
        for x in 0..grid {
            for y in 0..grid {
                for z in 0..grid {
                    let mut p = [0u128; D];
                    (p[0], p[1], p[D - 1]) = (x, y, z);
                    let hits: Vec<&(Bx, Vec<u32>)> = cells.iter().filter(|(c, _)| contains(c, &p)).collect();
                    let expect: Vec<u32> = (0..boxes.len() as u32).filter(|&i| contains(&boxes[i as usize], &p)).collect();
                    if expect.iter().any(|&i| key[i as usize]) {
                        assert_eq!(hits.len(), 1, "{p:?} in {} cells", hits.len());
                        let mut act = hits[0].1.clone();
                        act.sort();
                        assert_eq!(act, expect, "{p:?}");
                    } else {
                        assert!(hits.is_empty(), "{p:?} outside every key box is in a cell");
                    }
                }
            }
        }
    }

    proptest::proptest! {
        /// Every point inside a key box lies in exactly one cell, whose
        /// listed boxes are exactly the boxes containing the point; no cell
        /// lies outside the key boxes (dimensions 0, 1 and the last vary).
        #[test]
        fn cells_agree_with_brute_force(
            raw in proptest::collection::vec((proptest::collection::vec((0u128..6, 0u128..6), 3), proptest::bool::weighted(0.3)), 1..8),
        ) {
            let mut boxes = Vec::new();
            let mut key = Vec::new();
            for (iv, k) in raw {
                let mut b = full(1);
                for (d, (a, z)) in [0, 1, D - 1].into_iter().zip(iv) {
                    b[d] = (a.min(z), a.max(z));
                }
                boxes.push(b);
                key.push(k);
            }
            brute_force_agrees(&boxes, &key, 7);
        }
    }

    /// Loud cells, in visiting order, and the number of quiet ones.
    fn visits(boxes: &[Bx], key: &[bool], kind: &[u32], loud_kind: u32, grouped: bool) -> (Vec<(Bx, Vec<u32>)>, u64) {
        let mut loud = Vec::new();
        let mut quiet = 0u64;
        let mut leaf = |c: &Bx, act: &[u32]| {
            if act.iter().any(|&a| kind[a as usize] == loud_kind) {
                let mut a = act.to_vec();
                a.sort();
                loud.push((*c, a));
                Leaf::Loud
            } else {
                quiet += 1;
                Leaf::Quiet(1)
            }
        };
        let copied = if grouped {
            let g = Grouping { kind, keep: [false; D], class: vec![Vec::new(); D], ids: vec![Default::default(); D], fold_from: 1 };
            run(boxes, key, Some(g), &mut leaf)
        } else {
            run(boxes, key, None, &mut leaf)
        };
        (loud, quiet + copied)
    }

    proptest::proptest! {
        /// Folding copies changes nothing a caller sees: the same loud
        /// cells in the same order with the same boxes, and as many cells
        /// counted in all (boxes of a few kinds, so that copies occur).
        #[test]
        fn folding_agrees_with_the_plain_sweep(
            raw in proptest::collection::vec(
                (proptest::collection::vec((0u128..8, 0u128..8), 3), proptest::bool::weighted(0.3), 0u32..3),
                1..12,
            ),
            loud_kind in 0u32..4,
        ) {
            let mut boxes = Vec::new();
            let mut key = Vec::new();
            let mut kind = Vec::new();
            for (i, (iv, k, kd)) in raw.into_iter().enumerate() {
                let mut b = full(1);
                for (d, (a, z)) in [0, 1, D - 1].into_iter().zip(iv) {
                    b[d] = (a.min(z), a.max(z));
                }
                boxes.push(b);
                key.push(k);
                // Key boxes are never interchangeable.
                kind.push(if k { 100 + i as u32 } else { kd });
            }
            let plain = visits(&boxes, &key, &kind, loud_kind, false);
            let folded = visits(&boxes, &key, &kind, loud_kind, true);
            proptest::prop_assert_eq!(plain, folded);
        }
    }

    #[test]
    fn copies_of_a_set_are_counted_not_visited() {
        // 40 elements of one kind along dimension 0, one key box over all.
        let mut u = full(1);
        u[0] = (0, 99);
        let mut boxes = vec![u];
        let mut kind = vec![1000];
        for i in 0..40u128 {
            let mut b = full(1);
            b[0] = (2 * i, 2 * i);
            boxes.push(b);
            kind.push(7);
        }
        let key: Vec<bool> = (0..boxes.len()).map(|i| i == 0).collect();
        let mut visited = 0;
        let copied = sweep_grouped(&boxes, &key, &kind, [false; D], 1, |_, _| {
            visited += 1;
            Leaf::Quiet(1)
        });
        let mut plain = 0;
        sweep(&boxes, &key, |_, _| plain += 1);
        // One element, and one gap (the tail after the last element is a gap too).
        assert_eq!(visited, 2);
        assert_eq!(visited + copied, plain);
    }

    #[test]
    fn cells_partition_the_key_boxes() {
        let mut a = full(1);
        a[0] = (0, 9);
        a[1] = (5, 20);
        let mut b = full(1);
        b[0] = (3, 12);
        b[1] = (0, 7);
        let mut u = full(1);
        u[0] = (0, 15);
        u[1] = (0, 15);
        let boxes = vec![u, a, b];
        let mut cells: Vec<(Bx, Vec<u32>)> = Vec::new();
        sweep(&boxes, &[true, false, false], |c, act| cells.push((*c, act.to_vec())));
        for x in 0..=15u128 {
            for y in 0..=15u128 {
                let mut p = [0u128; D];
                p[0] = x;
                p[1] = y;
                let hits: Vec<&(Bx, Vec<u32>)> = cells.iter().filter(|(c, _)| contains(c, &p)).collect();
                assert_eq!(hits.len(), 1, "{x},{y}");
                let mut act = hits[0].1.clone();
                act.sort();
                let expect: Vec<u32> = (0..3).filter(|&i| contains(&boxes[i as usize], &p)).collect();
                assert_eq!(act, expect);
            }
        }
    }
}
