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
    /// (coordinate, 0 = end / 1 = start, local index)
    events: Vec<(u128, u8, u32)>,
    active: Vec<u32>,
    active_local: Vec<u32>,
    pos: Vec<u32>,
}

struct State<'a> {
    boxes: &'a [Bx],
    key: &'a [bool],
    scratch: Vec<Scratch>,
}

/// Calls `leaf` once per cell inside some `key` box, with the cell and the
/// boxes that contain it (indices into `boxes`). Cells come in
/// lexicographic order of their lower corners.
pub fn sweep(boxes: &[Bx], key: &[bool], mut leaf: impl FnMut(&Bx, &[u32])) {
    debug_assert_eq!(boxes.len(), key.len());
    let all: Vec<u32> = (0..boxes.len() as u32).collect();
    let mut st = State { boxes, key, scratch: (0..D).map(|_| Scratch::default()).collect() };
    let mut cell: Bx = [(0, 0); D];
    st.rec(0, &all, &mut cell, &mut leaf);
}

impl State<'_> {
    fn rec(&mut self, d: usize, act: &[u32], cell: &mut Bx, leaf: &mut dyn FnMut(&Bx, &[u32])) {
        if d == D {
            leaf(cell, act);
            return;
        }
        let mut sc = std::mem::take(&mut self.scratch[d]);
        sc.events.clear();
        for (li, &a) in act.iter().enumerate() {
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
        sc.pos.resize(act.len(), u32::MAX);
        let mut keys = 0usize;
        let mut k = 0;
        let n = sc.events.len();
        while k < n {
            let x = sc.events[k].0;
            while k < n && sc.events[k].0 == x {
                let (_, start, li) = sc.events[k];
                let g = act[li as usize];
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
                k += 1;
            }
            if keys > 0 {
                let end = if k < n { sc.events[k].0 - 1 } else { u128::MAX };
                cell[d] = (x, end);
                self.rec(d + 1, &sc.active, cell, leaf);
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
