//! Where the nodes go: a layered layout. Internal nodes are ranked left to
//! right by the longest path through the edges among them (an edge through
//! firewalls counts as a chain through each, and a zone stands after the
//! firewalls that deliver to it, so firewalls land between the outside and
//! the zones they guard; cycles are broken at DFS back edges) and grouped in one
//! box; external parties stand in a column at the left edge (initiators) or
//! the right edge (listeners). Rows within a column are ordered by a few
//! barycenter sweeps. A pure function of the graph.

use crate::graph::RoleGraph;

pub(super) const NODE_H: f64 = 46.0;
const ROW_GAP: f64 = 30.0;
const COL_GAP: f64 = 190.0;
pub(super) const MARGIN: f64 = 24.0;
const GROUP_PAD: f64 = 22.0;
const MAX_PER_COL: usize = 8;
pub(super) const CHAR_W: f64 = 7.0;
/// Vertical room per edge passing through a firewall node.
const LANE: f64 = 12.0;
const MAX_NODE_H: f64 = 420.0;

#[derive(Debug, Clone, Copy)]
pub(super) struct Place {
    pub col: usize,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

pub(super) struct Layout {
    pub places: Vec<Place>,
    pub columns: usize,
    /// Right edge of the rightmost column plus the margin.
    pub width: f64,
    /// Bottom of the lowest node or group box.
    pub bottom: f64,
    pub group: Option<(f64, f64, f64, f64)>,
}

pub(super) fn node_width(g: &RoleGraph, i: usize) -> f64 {
    let n = &g.nodes[i];
    let chars = n.title.chars().count().max(n.id.chars().count() * 9 / 10).max(8);
    (chars as f64 * CHAR_W + 20.0).min(230.0)
}

/// Edges passing through node `i`, in edge order.
pub(super) fn through(g: &RoleGraph, i: usize) -> Vec<usize> {
    g.edges.iter().enumerate().filter(|(_, e)| e.via.contains(&i)).map(|(k, _)| k).collect()
}

fn node_height(g: &RoleGraph, i: usize) -> f64 {
    if g.nodes[i].firewall {
        (LANE * (through(g, i).len() as f64 + 1.0)).clamp(NODE_H, MAX_NODE_H)
    } else {
        NODE_H
    }
}

/// Consecutive stops of every edge: the pairs the layout keeps close.
fn hops(g: &RoleGraph) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for e in &g.edges {
        let stops = e.stops();
        out.extend(stops.windows(2).filter(|w| w[0] != w[1]).map(|w| (w[0], w[1])));
    }
    out
}

/// Longest-path ranks of the internal nodes; back edges of a DFS in node
/// order are ignored so that cycles do not matter.
fn ranks(n: usize, hops: &[(usize, usize)], internal: &[usize]) -> Vec<usize> {
    let mut is_int = vec![false; n];
    for &i in internal {
        is_int[i] = true;
    }
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in hops {
        if is_int[a] && is_int[b] && !succ[a].contains(&b) {
            succ[a].push(b);
        }
    }
    let mut state = vec![0u8; n];
    let mut dag: Vec<Vec<usize>> = vec![Vec::new(); n];
    fn dfs(v: usize, succ: &[Vec<usize>], state: &mut [u8], dag: &mut [Vec<usize>]) {
        state[v] = 1;
        for &w in &succ[v] {
            if state[w] == 1 {
                continue; // back edge
            }
            dag[v].push(w);
            if state[w] == 0 {
                dfs(w, succ, state, dag);
            }
        }
        state[v] = 2;
    }
    for &i in internal {
        if state[i] == 0 {
            dfs(i, &succ, &mut state, &mut dag);
        }
    }
    let mut rank = vec![0usize; n];
    // Relax in rounds: the DAG has at most n levels.
    for _ in 0..n {
        let mut changed = false;
        for &v in internal {
            for &w in &dag[v] {
                if rank[w] < rank[v] + 1 {
                    rank[w] = rank[v] + 1;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    rank
}

/// The hops that rank internal nodes. A firewall stands between the zones it
/// joins: one that mostly leads to outside parties on the right (egress)
/// ranks after the zones that send through it; any other (ingress) ranks
/// before the zones it delivers to, so the drawing reads from the outside in.
fn rank_hops(g: &RoleGraph, hops: &[(usize, usize)], right: &[usize]) -> Vec<(usize, usize)> {
    let egress: Vec<bool> = (0..g.nodes.len())
        .map(|f| {
            let zones = g.links.iter().filter(|l| l.0 == f).map(|l| l.1);
            let (r, l): (Vec<usize>, Vec<usize>) = zones.filter(|z| g.nodes[*z].external).partition(|z| right.contains(z));
            g.nodes[f].firewall && r.len() > l.len()
        })
        .collect();
    hops.iter()
        .copied()
        .filter(|&(a, b)| {
            let (fa, fb) = (g.nodes[a].firewall, g.nodes[b].firewall);
            match (fa, fb) {
                (false, true) => egress[b],
                (true, false) => !egress[a],
                _ => true,
            }
        })
        .collect()
}

/// Nodes in columns: left externals, internal ranks, right externals.
/// Returns the columns and the range of internal columns.
fn columns(g: &RoleGraph, hops: &[(usize, usize)]) -> (Vec<Vec<usize>>, usize, usize) {
    let n = g.nodes.len();
    let internal: Vec<usize> = (0..n).filter(|&i| !g.nodes[i].external).collect();
    let (mut left, mut right) = (Vec::new(), Vec::new());
    for i in (0..n).filter(|&i| g.nodes[i].external) {
        let out = hops.iter().filter(|h| h.0 == i).count();
        let inc = hops.iter().filter(|h| h.1 == i).count();
        if inc > out {
            right.push(i);
        } else {
            left.push(i);
        }
    }
    let rank_hops = rank_hops(g, hops, &right);
    let rank = ranks(n, &rank_hops, &internal);
    let max_rank = internal.iter().map(|&i| rank[i]).max().unwrap_or(0);
    let mut cols: Vec<Vec<usize>> = Vec::new();
    let chunk = |v: Vec<usize>, cols: &mut Vec<Vec<usize>>| {
        if v.is_empty() {
            return;
        }
        let k = v.len().div_ceil(MAX_PER_COL);
        let per = v.len().div_ceil(k);
        for c in v.chunks(per) {
            cols.push(c.to_vec());
        }
    };
    chunk(left, &mut cols);
    let first_int = cols.len();
    for r in 0..=max_rank {
        chunk(internal.iter().copied().filter(|&i| rank[i] == r).collect(), &mut cols);
    }
    let last_int = cols.len();
    chunk(right, &mut cols);
    (cols, first_int, last_int)
}

/// Orders the rows of each column by the mean position of their neighbours.
fn barycenter(n: usize, columns: &mut [Vec<usize>], pairs: &[(usize, usize)]) {
    let mut col_of = vec![0usize; n];
    for (c, col) in columns.iter().enumerate() {
        for &i in col {
            col_of[i] = c;
        }
    }
    let mut pos = vec![0f64; n];
    let set_pos = |columns: &[Vec<usize>], pos: &mut Vec<f64>| {
        for col in columns {
            let k = col.len() as f64;
            for (r, &i) in col.iter().enumerate() {
                pos[i] = (r as f64 + 0.5) / k;
            }
        }
    };
    set_pos(columns, &mut pos);
    for sweep in 0..6 {
        let order: Vec<usize> = if sweep % 2 == 0 { (0..columns.len()).collect() } else { (0..columns.len()).rev().collect() };
        for c in order {
            let mut keyed: Vec<(f64, usize, usize)> = columns[c]
                .iter()
                .enumerate()
                .map(|(r, &i)| {
                    let nb: Vec<f64> = pairs
                        .iter()
                        .filter_map(|&(a, b)| {
                            if a == i && col_of[b] != c {
                                Some(pos[b])
                            } else if b == i && col_of[a] != c {
                                Some(pos[a])
                            } else {
                                None
                            }
                        })
                        .collect();
                    let key = if nb.is_empty() { pos[i] } else { nb.iter().sum::<f64>() / nb.len() as f64 };
                    (key, r, i)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            columns[c] = keyed.into_iter().map(|k| k.2).collect();
            set_pos(columns, &mut pos);
        }
    }
}

pub(super) fn layout(g: &RoleGraph, top: f64) -> Layout {
    let n = g.nodes.len();
    let hops = hops(g);
    let (mut columns, first_int, last_int) = columns(g, &hops);
    let mut pairs = hops.clone();
    pairs.extend(g.links.iter().copied());
    barycenter(n, &mut columns, &pairs);

    let heights: Vec<f64> = (0..n).map(|i| node_height(g, i)).collect();
    let col_h = |col: &Vec<usize>| col.iter().map(|&i| heights[i]).sum::<f64>() + (col.len() as f64 - 1.0).max(0.0) * ROW_GAP;
    let content_h = columns.iter().map(col_h).fold(NODE_H, f64::max);
    let top = top + GROUP_PAD + 16.0;
    let mut places = vec![Place { col: 0, x: 0.0, y: 0.0, w: 0.0, h: 0.0 }; n];
    let mut x = MARGIN;
    let mut group_x = (f64::MAX, f64::MIN);
    let grouped = first_int < last_int;
    for (c, col) in columns.iter().enumerate() {
        if c == first_int && grouped {
            x += GROUP_PAD;
        }
        let w = col.iter().map(|&i| node_width(g, i)).fold(0.0, f64::max);
        let mut y = top + (content_h - col_h(col)) / 2.0;
        for &i in col {
            let nw = node_width(g, i);
            places[i] = Place { col: c, x: x + (w - nw) / 2.0, y, w: nw, h: heights[i] };
            y += heights[i] + ROW_GAP;
        }
        if c >= first_int && c < last_int {
            group_x.0 = group_x.0.min(x - GROUP_PAD);
            group_x.1 = group_x.1.max(x + w + GROUP_PAD);
        }
        x += w;
        if c + 1 == last_int && grouped {
            x += GROUP_PAD;
        }
        x += COL_GAP;
    }
    let width = (x - COL_GAP + MARGIN).max(320.0);
    let group = grouped.then_some((group_x.0, top - GROUP_PAD - 16.0, group_x.1 - group_x.0, content_h + 2.0 * GROUP_PAD + 16.0));
    Layout { places, columns: columns.len(), width, bottom: top + content_h + GROUP_PAD, group }
}
