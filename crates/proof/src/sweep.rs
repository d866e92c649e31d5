//! Cell decomposition of a set of boxes: the space is cut, one dimension
//! after the other, at every box boundary; each resulting cell lies inside
//! or outside every box, so any question about the boxes has one answer per
//! cell. Cells no `key` box covers (outside the universe) are skipped.
//!
//! Per dimension the boxes active in each elementary interval are kept by a
//! sweep over the sorted boundaries (each box enters and leaves once), so a
//! level costs O(n log n) for its n boxes, and deeper levels see only the
//! boxes of their interval.

use crate::space::{Bx, D};

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
}

/// Calls `leaf` once per cell inside some `key` box, with the cell and the
/// boxes that contain it (indices into `boxes`, in no particular order).
/// Cells come in lexicographic order of their lower corners.
pub fn sweep(boxes: &[Bx], key: &[bool], mut leaf: impl FnMut(&Bx, &[u32])) {
    debug_assert_eq!(boxes.len(), key.len());
    if boxes.is_empty() {
        return;
    }
    let mut whole: Bx = [(u128::MAX, 0); D];
    for b in boxes {
        for d in 0..D {
            whole[d] = (whole[d].0.min(b[d].0), whole[d].1.max(b[d].1));
        }
    }
    let last_cut = boxes.iter().map(|b| (0..D).rev().find(|&d| b[d] != whole[d])).collect();
    let all: Vec<u32> = (0..boxes.len() as u32).collect();
    let mut st = State { boxes, key, whole, last_cut, scratch: (0..D).map(|_| Scratch::default()).collect() };
    let mut cell: Bx = [(0, 0); D];
    st.rec(0, &all, 0, &mut cell, &mut leaf);
}

impl State<'_> {
    /// `act[..carried]` cover dimensions `d..` whole; the rest are cut here or deeper.
    fn rec(&mut self, d: usize, act: &[u32], carried: usize, cell: &mut Bx, leaf: &mut dyn FnMut(&Bx, &[u32])) {
        if d == D {
            leaf(cell, act);
            return;
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
                cell[d] = (x, end);
                sc.next.clear();
                sc.next.extend_from_slice(&sc.carried);
                sc.next.extend_from_slice(&sc.active);
                let next = std::mem::take(&mut sc.next);
                self.rec(d + 1, &next, sc.carried.len(), cell, leaf);
                sc.next = next;
            }
        }
        self.scratch[d] = sc;
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
