//! SVG diagram of a role graph, laid out in-process (no Graphviz needed).
//!
//! A simple layered layout: internal roles are ranked left to right by the
//! longest path through the flows among them (cycles broken at DFS back
//! edges) and grouped in one box; external parties stand in a column at the
//! left edge (initiators) or the right edge (listeners). Rows within a column
//! are ordered by a few barycenter sweeps. Edge labels are placed along their
//! curve where they overlap no label placed before. Everything is a pure
//! function of the graph, so the output is deterministic.

use std::fmt::Write as _;

use crate::graph::RoleGraph;

/// How to draw the diagram.
#[derive(Default)]
pub struct SvgOptions<'a> {
    /// Wrap each role in a link to this address (e.g. `?role=ID`).
    pub role_href: Option<&'a dyn Fn(&str) -> String>,
    /// Emphasise this role and its edges.
    pub highlight: Option<&'a str>,
    /// Longest edge label shown in full; longer labels are cut (the full
    /// label is in the edge's tooltip).
    pub label_max: usize,
}

const NODE_H: f64 = 46.0;
const ROW_GAP: f64 = 30.0;
const COL_GAP: f64 = 190.0;
const MARGIN: f64 = 24.0;
const GROUP_PAD: f64 = 22.0;
const MAX_PER_COL: usize = 8;
const CHAR_W: f64 = 7.0;
const LABEL_CHAR_W: f64 = 5.8;
const LABEL_H: f64 = 14.0;
const LEGEND_LINE: f64 = 16.0;

fn legend_line(w: &crate::graph::WideFlow) -> String {
    format!("{}: {} → {} ({} pairs): {}{}", w.id, w.from, w.to, w.pairs, w.part, if w.conditional { " (conditional)" } else { "" })
}

pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn f(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

#[derive(Debug, Clone, Copy)]
struct Place {
    col: usize,
    x: f64,
    y: f64,
    w: f64,
}

struct Layout {
    places: Vec<Place>,
    columns: usize,
    width: f64,
    height: f64,
    group: Option<(f64, f64, f64, f64)>,
}

fn node_width(g: &RoleGraph, i: usize) -> f64 {
    let n = &g.nodes[i];
    let chars = n.title.chars().count().max(n.id.chars().count() * 9 / 10).max(8);
    (chars as f64 * CHAR_W + 20.0).min(230.0)
}

/// Longest-path ranks of the internal nodes; back edges of a DFS in node
/// order are ignored so that cycles do not matter.
fn ranks(g: &RoleGraph, internal: &[usize]) -> Vec<usize> {
    let n = g.nodes.len();
    let is_int = |i: usize| internal.contains(&i);
    let succ: Vec<Vec<usize>> = (0..n)
        .map(|i| g.edges.iter().filter(|e| e.from == i && e.to != i && is_int(e.from) && is_int(e.to)).map(|e| e.to).collect())
        .collect();
    // DFS to find back edges.
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

fn layout(g: &RoleGraph) -> Layout {
    let n = g.nodes.len();
    let internal: Vec<usize> = (0..n).filter(|&i| !g.nodes[i].external).collect();
    let external: Vec<usize> = (0..n).filter(|&i| g.nodes[i].external).collect();
    let (mut left, mut right) = (Vec::new(), Vec::new());
    for &i in &external {
        let out = g.edges.iter().filter(|e| e.from == i && e.to != i).count();
        let inc = g.edges.iter().filter(|e| e.to == i && e.from != i).count();
        if inc > out {
            right.push(i);
        } else {
            left.push(i);
        }
    }
    let rank = ranks(g, &internal);
    let max_rank = internal.iter().map(|&i| rank[i]).max().unwrap_or(0);
    let mut columns: Vec<Vec<usize>> = Vec::new();
    let chunk = |v: Vec<usize>, cols: &mut Vec<Vec<usize>>| {
        if v.is_empty() {
            return 0;
        }
        let k = v.len().div_ceil(MAX_PER_COL);
        let per = v.len().div_ceil(k);
        for c in v.chunks(per) {
            cols.push(c.to_vec());
        }
        k
    };
    let left_cols = chunk(left, &mut columns);
    let first_int = columns.len();
    for r in 0..=max_rank {
        let layer: Vec<usize> = internal.iter().copied().filter(|&i| rank[i] == r).collect();
        chunk(layer, &mut columns);
    }
    let last_int = columns.len();
    chunk(right, &mut columns);
    let _ = left_cols;

    // Barycenter ordering, a few sweeps.
    let mut col_of = vec![0usize; n];
    for (c, col) in columns.iter().enumerate() {
        for &i in col {
            col_of[i] = c;
        }
    }
    let mut pos = vec![0f64; n];
    let set_pos = |columns: &Vec<Vec<usize>>, pos: &mut Vec<f64>| {
        for col in columns {
            let k = col.len() as f64;
            for (r, &i) in col.iter().enumerate() {
                pos[i] = (r as f64 + 0.5) / k;
            }
        }
    };
    set_pos(&columns, &mut pos);
    for sweep in 0..6 {
        let order: Vec<usize> = if sweep % 2 == 0 { (0..columns.len()).collect() } else { (0..columns.len()).rev().collect() };
        for c in order {
            let mut keyed: Vec<(f64, usize, usize)> = columns[c]
                .iter()
                .enumerate()
                .map(|(r, &i)| {
                    let nb: Vec<f64> = g
                        .edges
                        .iter()
                        .filter_map(|e| {
                            if e.from == i && e.to != i && col_of[e.to] != c {
                                Some(pos[e.to])
                            } else if e.to == i && e.from != i && col_of[e.from] != c {
                                Some(pos[e.from])
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
            set_pos(&columns, &mut pos);
        }
    }

    // Coordinates.
    let tallest = columns.iter().map(|c| c.len()).max().unwrap_or(1) as f64;
    let content_h = tallest * NODE_H + (tallest - 1.0).max(0.0) * ROW_GAP;
    let top = MARGIN + 34.0 + GROUP_PAD + 16.0;
    let mut places = vec![Place { col: 0, x: 0.0, y: 0.0, w: 0.0 }; n];
    let mut x = MARGIN;
    let mut group_x = (f64::MAX, f64::MIN);
    for (c, col) in columns.iter().enumerate() {
        if c == first_int && first_int < last_int {
            x += GROUP_PAD;
        }
        let w = col.iter().map(|&i| node_width(g, i)).fold(0.0, f64::max);
        let h = col.len() as f64 * NODE_H + (col.len() as f64 - 1.0) * ROW_GAP;
        let y0 = top + (content_h - h) / 2.0;
        for (r, &i) in col.iter().enumerate() {
            let nw = node_width(g, i);
            places[i] = Place { col: c, x: x + (w - nw) / 2.0, y: y0 + r as f64 * (NODE_H + ROW_GAP), w: nw };
        }
        if c >= first_int && c < last_int {
            group_x.0 = group_x.0.min(x - GROUP_PAD);
            group_x.1 = group_x.1.max(x + w + GROUP_PAD);
        }
        x += w;
        if c + 1 == last_int && first_int < last_int {
            x += GROUP_PAD;
        }
        x += COL_GAP;
    }
    let legend_w = g.wide.iter().map(|w| legend_line(w).chars().count()).max().unwrap_or(0) as f64 * LABEL_CHAR_W + 2.0 * MARGIN;
    let width = (x - COL_GAP + MARGIN).max(320.0).max(legend_w);
    let legend_h = if g.wide.is_empty() { 0.0 } else { 28.0 + g.wide.len() as f64 * LEGEND_LINE };
    let height = top + content_h + GROUP_PAD + MARGIN + legend_h;
    let group =
        (first_int < last_int).then_some((group_x.0, top - GROUP_PAD - 16.0, group_x.1 - group_x.0, content_h + 2.0 * GROUP_PAD + 16.0));
    Layout { places, columns: columns.len(), width, height, group }
}

#[derive(Clone, Copy)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}
impl Rect {
    fn overlaps(&self, o: &Rect) -> bool {
        self.x < o.x + o.w && o.x < self.x + self.w && self.y < o.y + o.h && o.y < self.y + self.h
    }
}

fn bezier(p: [(f64, f64); 4], t: f64) -> (f64, f64) {
    let u = 1.0 - t;
    let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
    (a * p[0].0 + b * p[1].0 + c * p[2].0 + d * p[3].0, a * p[0].1 + b * p[1].1 + c * p[2].1 + d * p[3].1)
}

const STYLE: &str = r#"
svg.pm-diagram{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;--fg:#1b1f24;--bg:#ffffff;--muted:#57606a;--node:#eef4fb;--ext:#fff8e6;--edge:#6e7781;--accent:#0969da;--group:#f6f8fa;--lblbg:#ffffffd9}
@media (prefers-color-scheme:dark){svg.pm-diagram{--fg:#e6edf3;--bg:#0d1117;--muted:#9da7b3;--node:#16263a;--ext:#2f2613;--edge:#8b949e;--accent:#58a6ff;--group:#161b22;--lblbg:#0d1117d9}}
@media print{svg.pm-diagram{--fg:#000000;--bg:#ffffff;--muted:#444444;--node:#ffffff;--ext:#ffffff;--edge:#555555;--accent:#000000;--group:#ffffff;--lblbg:#ffffffd9}}
.pm-diagram .bg{fill:var(--bg)}
.pm-diagram .title{fill:var(--fg);font-size:15px;font-weight:600}
.pm-diagram .group{fill:var(--group);stroke:var(--muted);stroke-width:1}
.pm-diagram .group-label{fill:var(--muted);font-size:12px}
.pm-diagram .node rect{fill:var(--node);stroke:var(--fg);stroke-width:1.2}
.pm-diagram .node.ext rect{fill:var(--ext);stroke-dasharray:5 3}
.pm-diagram .node text{fill:var(--fg);font-size:12px}
.pm-diagram .node text.id{fill:var(--muted);font-size:10px;font-family:ui-monospace,monospace}
.pm-diagram .node.hl rect{stroke:var(--accent);stroke-width:3}
.pm-diagram a:focus .node rect,.pm-diagram a:hover .node rect{stroke:var(--accent);stroke-width:3}
.pm-diagram a:focus{outline:none}
.pm-diagram .edge path{fill:none;stroke:var(--edge);stroke-width:1.2}
.pm-diagram .edge.cond path{stroke-dasharray:6 4}
.pm-diagram .edge.local path{opacity:.5}
.pm-diagram .edge.hl path{stroke:var(--accent);stroke-width:2.4}
.pm-diagram .edge.dim{opacity:.25}
.pm-diagram .arrow{fill:var(--edge)}
.pm-diagram .arrow-hl{fill:var(--accent)}
.pm-diagram .lbl rect{fill:var(--lblbg)}
.pm-diagram .legend-head{fill:var(--fg);font-size:12px;font-weight:600}
.pm-diagram .legend-item{fill:var(--fg);font-size:10px;font-family:ui-monospace,monospace}
.pm-diagram .legend-item.hl{fill:var(--accent);font-weight:700}
.pm-diagram .legend-item.dim,.pm-diagram .lbl.dim{opacity:.35}
.pm-diagram .lbl text{fill:var(--fg);font-size:10px;font-family:ui-monospace,monospace}
"#;

/// Draws the role graph as a standalone SVG document (also valid inline in HTML).
pub fn to_svg(g: &RoleGraph, opts: &SvgOptions) -> String {
    let label_max = if opts.label_max == 0 { 30 } else { opts.label_max };
    let l = layout(g);
    let mut o = String::new();
    if let Some((x, y, w, h)) = l.group {
        let _ = writeln!(o, "<rect class=\"group\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"10\"/>", f(x), f(y), f(w), f(h));
        let _ = writeln!(o, "<text class=\"group-label\" x=\"{}\" y=\"{}\">{}</text>", f(x + 10.0), f(y + 16.0), esc(&g.group_label));
    }

    let hl = opts.highlight.and_then(|h| g.nodes.iter().position(|n| n.id == h));
    let node_rect = |i: usize| {
        let p = l.places[i];
        Rect { x: p.x, y: p.y, w: p.w, h: NODE_H }
    };
    // Edges, with labels placed to avoid each other and the nodes.
    let mut taken: Vec<Rect> = (0..g.nodes.len()).map(node_rect).collect();
    let mut labels = String::new();
    o.push_str("<g class=\"edges\">\n");
    for e in &g.edges {
        let (a, b) = (l.places[e.from], l.places[e.to]);
        let (ra, rb) = (node_rect(e.from), node_rect(e.to));
        let pts: [(f64, f64); 4];
        if e.from == e.to {
            let (x, y) = (ra.x + ra.w - 18.0, ra.y);
            pts = [(x - 16.0, y), (x - 20.0, y - 44.0), (x + 36.0, y - 44.0), (x + 12.0, y)];
        } else if a.col < b.col {
            let (p0, p3) = ((ra.x + ra.w, ra.y + NODE_H / 2.0), (rb.x, rb.y + NODE_H / 2.0));
            let dx = (p3.0 - p0.0) / 2.0;
            pts = [p0, (p0.0 + dx, p0.1), (p3.0 - dx, p3.1), p3];
        } else if a.col > b.col {
            let (p0, p3) = ((ra.x, ra.y + NODE_H / 2.0), (rb.x + rb.w, rb.y + NODE_H / 2.0));
            let dx = (p0.0 - p3.0) / 2.0;
            // Backward edges bow downwards so they do not cover forward ones.
            pts = [p0, (p0.0 - dx, p0.1 + 40.0), (p3.0 + dx, p3.1 + 40.0), p3];
        } else {
            // Same column: bow out to the right, or to the left in the last column.
            let right = a.col + 1 < l.columns || a.col == 0;
            let (ya, yb) = if a.y < b.y { (NODE_H * 0.7, NODE_H * 0.3) } else { (NODE_H * 0.3, NODE_H * 0.7) };
            let (p0, p3) =
                if right { ((ra.x + ra.w, ra.y + ya), (rb.x + rb.w, rb.y + yb)) } else { ((ra.x, ra.y + ya), (rb.x, rb.y + yb)) };
            let bow = 30.0 + (p3.1 - p0.1).abs() * 0.25;
            let s = if right { 1.0 } else { -1.0 };
            pts = [p0, (p0.0 + s * bow, p0.1), (p3.0 + s * bow, p3.1), p3];
        }
        let on = hl.is_some_and(|h| e.from == h || e.to == h);
        let mut class = String::from("edge");
        if e.conditional {
            class.push_str(" cond");
        }
        if e.local {
            class.push_str(" local");
        }
        if on {
            class.push_str(" hl");
        } else if hl.is_some() {
            class.push_str(" dim");
        }
        let marker = if on { "pm-arrow-hl" } else { "pm-arrow" };
        let full = e.label();
        let tip = format!("{} → {}: {} ({})", g.nodes[e.from].id, g.nodes[e.to].id, full, e.flows.join(", "));
        let _ = writeln!(
            o,
            "<g class=\"{class}\" data-from=\"{}\" data-to=\"{}\"><title>{}</title><path d=\"M{},{} C{},{} {},{} {},{}\" marker-end=\"url(#{marker})\"/></g>",
            esc(&g.nodes[e.from].id),
            esc(&g.nodes[e.to].id),
            esc(&tip),
            f(pts[0].0),
            f(pts[0].1),
            f(pts[1].0),
            f(pts[1].1),
            f(pts[2].0),
            f(pts[2].1),
            f(pts[3].0),
            f(pts[3].1)
        );
        let text = e.short_label(label_max);
        let w = text.chars().count() as f64 * LABEL_CHAR_W + 6.0;
        let candidates = [0.5, 0.38, 0.62, 0.28, 0.72, 0.2, 0.8, 0.45, 0.55, 0.33, 0.67];
        let mut chosen = None;
        for t in candidates {
            let (cx, cy) = bezier(pts, t);
            let r = Rect { x: cx - w / 2.0, y: cy - LABEL_H / 2.0, w, h: LABEL_H };
            if !taken.iter().any(|q| q.overlaps(&r)) {
                chosen = Some(r);
                break;
            }
        }
        let r = chosen.unwrap_or_else(|| {
            let (cx, cy) = bezier(pts, 0.5);
            Rect { x: cx - w / 2.0, y: cy - LABEL_H / 2.0, w, h: LABEL_H }
        });
        taken.push(r);
        let lclass = if on {
            "lbl hl"
        } else if hl.is_some() {
            "lbl dim"
        } else {
            "lbl"
        };
        let _ = writeln!(
            labels,
            "<g class=\"{lclass}\"><title>{}</title><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
            esc(&tip),
            f(r.x),
            f(r.y),
            f(r.w),
            f(r.h),
            f(r.x + 3.0),
            f(r.y + 10.5),
            esc(&text)
        );
    }
    o.push_str("</g>\n<g class=\"nodes\">\n");
    for (i, n) in g.nodes.iter().enumerate() {
        let p = l.places[i];
        let mut class = String::from("node");
        if n.external {
            class.push_str(" ext");
        }
        if hl == Some(i) {
            class.push_str(" hl");
        }
        let mut tip = format!("{} ({})", n.title, n.id);
        if n.external {
            tip.push_str(" — external");
        }
        if !n.fqdns.is_empty() {
            tip.push_str(&format!(": {}", n.fqdns.join(", ")));
        }
        let title_text = cut(&n.title, ((p.w - 14.0) / CHAR_W) as usize);
        let body = format!(
            "<g class=\"{class}\" data-role=\"{}\"><title>{}</title><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"8\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text><text class=\"id\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
            esc(&n.id),
            esc(&tip),
            f(p.x),
            f(p.y),
            f(p.w),
            f(NODE_H),
            f(p.x + p.w / 2.0),
            f(p.y + 19.0),
            esc(&title_text),
            f(p.x + p.w / 2.0),
            f(p.y + 35.0),
            esc(&n.id)
        );
        match opts.role_href {
            Some(href) => {
                let _ = writeln!(o, "<a href=\"{}\" aria-label=\"{}\">{body}</a>", esc(&href(&n.id)), esc(&format!("role {}", n.title)));
            }
            None => {
                o.push_str(&body);
                o.push('\n');
            }
        }
    }
    o.push_str("</g>\n<g class=\"labels\">\n");
    o.push_str(&labels);
    o.push_str("</g>\n");
    if !g.wide.is_empty() {
        let y0 = l.height - MARGIN - g.wide.len() as f64 * LEGEND_LINE - 10.0;
        let _ = writeln!(
            o,
            "<g class=\"legend\"><text class=\"legend-head\" x=\"{}\" y=\"{}\">Flows between many roles (not drawn as arrows):</text>",
            f(MARGIN),
            f(y0)
        );
        for (i, w) in g.wide.iter().enumerate() {
            let class = match opts.highlight {
                Some(h) if w.roles.iter().any(|r| r == h) => "legend-item hl",
                Some(_) => "legend-item dim",
                None => "legend-item",
            };
            let _ = writeln!(
                o,
                "<text class=\"{class}\" data-flow=\"{}\" x=\"{}\" y=\"{}\">{}</text>",
                esc(&w.id),
                f(MARGIN + 8.0),
                f(y0 + (i + 1) as f64 * LEGEND_LINE),
                esc(&legend_line(w))
            );
        }
        o.push_str("</g>\n");
    }
    o.push_str("</svg>\n");
    let width =
        taken.iter().map(|r| r.x + r.w).fold(l.width, f64::max) + if taken.iter().any(|r| r.x + r.w > l.width) { MARGIN } else { 0.0 };
    let mut head = String::new();
    let _ = writeln!(
        head,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"pm-diagram\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" role=\"img\" aria-labelledby=\"pm-title-{}\">",
        f(width),
        f(l.height),
        f(width),
        f(l.height),
        esc(&g.id)
    );
    let _ = writeln!(head, "<title id=\"pm-title-{}\">{} ({}): roles and flows</title>", esc(&g.id), esc(&g.title), esc(&g.id));
    let _ = writeln!(head, "<style>{}</style>", STYLE.trim());
    head.push_str("<defs><marker id=\"pm-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path class=\"arrow\" d=\"M0,0L10,5L0,10z\"/></marker>");
    head.push_str("<marker id=\"pm-arrow-hl\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path class=\"arrow-hl\" d=\"M0,0L10,5L0,10z\"/></marker></defs>\n");
    let _ = writeln!(head, "<rect class=\"bg\" x=\"0\" y=\"0\" width=\"{}\" height=\"{}\"/>", f(width), f(l.height));
    let _ =
        writeln!(head, "<text class=\"title\" x=\"{}\" y=\"{}\">{} ({})</text>", f(MARGIN), f(MARGIN + 14.0), esc(&g.title), esc(&g.id));
    head + &o
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max || max < 2 {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}
