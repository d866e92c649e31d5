//! SVG diagram of a role graph (or a deployment's zones), laid out
//! in-process (no Graphviz needed): [`layout`] places the nodes; edges are
//! curves from node to node (through the firewalls on a zone path); every
//! edge label gets a box that overlaps no node and no other label — along
//! its curve when there is room, otherwise nearby with a leader line to the
//! curve. Everything is a pure function of the graph, so the output is
//! deterministic.

mod layout;

use std::fmt::Write as _;

use crate::graph::{Edge, RoleGraph};
use layout::{Layout, Place, CHAR_W, MARGIN, NODE_H};

pub use crate::escape::html as esc;

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
    /// Scale to the width of the page (within limits that keep the text
    /// readable) instead of drawing at a fixed size.
    pub fit_width: bool,
}

const LABEL_CHAR_W: f64 = 5.8;
const LABEL_H: f64 = 14.0;
const LEGEND_LINE: f64 = 16.0;
const TITLE_H: f64 = 34.0;

fn legend_line(w: &crate::graph::WideFlow) -> String {
    format!("{}: {} → {} ({} pairs): {}{}", w.id, w.from, w.to, w.pairs, w.part, if w.conditional { " (conditional)" } else { "" })
}

fn f(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// A box on the canvas.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub fn overlaps(&self, o: &Rect) -> bool {
        self.x < o.x + o.w && o.x < self.x + self.w && self.y < o.y + o.h && o.y < self.y + self.h
    }
    fn centered(cx: f64, cy: f64, w: f64, h: f64) -> Rect {
        Rect { x: (cx - w / 2.0).max(2.0), y: (cy - h / 2.0).max(2.0), w, h }
    }
}

type Curve = [(f64, f64); 4];

fn bezier(p: Curve, t: f64) -> (f64, f64) {
    let u = 1.0 - t;
    let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
    (a * p[0].0 + b * p[1].0 + c * p[2].0 + d * p[3].0, a * p[0].1 + b * p[1].1 + c * p[2].1 + d * p[3].1)
}

const STYLE: &str = r#"
svg.pm-diagram{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;--fg:#1b1f24;--bg:#ffffff;--muted:#57606a;--node:#eef4fb;--ext:#fff8e6;--fw:#fde8e8;--edge:#6e7781;--accent:#0969da;--group:#f6f8fa;--lblbg:#ffffffd9}
@media (prefers-color-scheme:dark){svg.pm-diagram{--fg:#e6edf3;--bg:#0d1117;--muted:#9da7b3;--node:#16263a;--ext:#2f2613;--fw:#3a1d1d;--edge:#8b949e;--accent:#58a6ff;--group:#161b22;--lblbg:#0d1117d9}}
@media print{svg.pm-diagram{--fg:#000000;--bg:#ffffff;--muted:#444444;--node:#ffffff;--ext:#ffffff;--fw:#ffffff;--edge:#555555;--accent:#000000;--group:#ffffff;--lblbg:#ffffffd9}}
.pm-diagram .bg{fill:var(--bg)}
.pm-diagram .title{fill:var(--fg);font-size:15px;font-weight:600}
.pm-diagram .group{fill:var(--group);stroke:var(--muted);stroke-width:1}
.pm-diagram .group-label{fill:var(--muted);font-size:12px}
.pm-diagram .node rect{fill:var(--node);stroke:var(--fg);stroke-width:1.2}
.pm-diagram .node.ext rect{fill:var(--ext);stroke-dasharray:5 3}
.pm-diagram .node.fw rect{fill:var(--fw);stroke-width:2.4}
.pm-diagram .node text{fill:var(--fg);font-size:12px}
.pm-diagram .node text.id{fill:var(--muted);font-size:10px;font-family:ui-monospace,monospace}
.pm-diagram .node.hl rect{stroke:var(--accent);stroke-width:3}
.pm-diagram a:focus .node rect,.pm-diagram a:hover .node rect{stroke:var(--accent);stroke-width:3}
.pm-diagram a:focus{outline:none}
.pm-diagram .link{stroke:var(--muted);stroke-width:1;stroke-dasharray:2 3;fill:none}
.pm-diagram .edge path{fill:none;stroke:var(--edge);stroke-width:1.2}
.pm-diagram .edge.cond path{stroke-dasharray:6 4}
.pm-diagram .edge.local path{opacity:.5}
.pm-diagram .edge.hl path{stroke:var(--accent);stroke-width:2.4}
.pm-diagram .edge.dim{opacity:.25}
.pm-diagram .arrow{fill:var(--edge)}
.pm-diagram .arrow-hl{fill:var(--accent)}
.pm-diagram .lbl rect{fill:var(--lblbg)}
.pm-diagram .lbl line{stroke:var(--muted);stroke-width:.8}
.pm-diagram .legend-head{fill:var(--fg);font-size:12px;font-weight:600}
.pm-diagram .legend-item{fill:var(--fg);font-size:10px;font-family:ui-monospace,monospace}
.pm-diagram .legend-item.hl{fill:var(--accent);font-weight:700}
.pm-diagram .legend-item.dim,.pm-diagram .lbl.dim{opacity:.35}
.pm-diagram .lbl text{fill:var(--fg);font-size:10px;font-family:ui-monospace,monospace}
"#;

fn node_rect(p: Place) -> Rect {
    Rect { x: p.x, y: p.y, w: p.w, h: p.h }
}

/// Where edge `k` attaches to node `i`: the middle of the side, or its own
/// lane on a firewall that many edges pass through.
fn attach_y(g: &RoleGraph, l: &Layout, i: usize, k: usize) -> f64 {
    let p = l.places[i];
    let lanes = layout::through(g, i);
    match lanes.iter().position(|&e| e == k) {
        Some(lane) => p.y + p.h * (lane as f64 + 1.0) / (lanes.len() as f64 + 1.0),
        None => p.y + NODE_H.min(p.h) / 2.0,
    }
}

/// The curve from node `a` to node `b` for edge `k`.
fn segment(g: &RoleGraph, l: &Layout, k: usize, a: usize, b: usize) -> Curve {
    let (pa, pb) = (l.places[a], l.places[b]);
    let (ya, yb) = (attach_y(g, l, a, k), attach_y(g, l, b, k));
    if a == b {
        let (x, y) = (pa.x + pa.w - 18.0, pa.y);
        return [(x - 16.0, y), (x - 20.0, y - 44.0), (x + 36.0, y - 44.0), (x + 12.0, y)];
    }
    if pa.col < pb.col {
        let (p0, p3) = ((pa.x + pa.w, ya), (pb.x, yb));
        let dx = (p3.0 - p0.0) / 2.0;
        [p0, (p0.0 + dx, p0.1), (p3.0 - dx, p3.1), p3]
    } else if pa.col > pb.col {
        let (p0, p3) = ((pa.x, ya), (pb.x + pb.w, yb));
        let dx = (p0.0 - p3.0) / 2.0;
        // Backward edges bow downwards so they do not cover forward ones.
        [p0, (p0.0 - dx, p0.1 + 40.0), (p3.0 + dx, p3.1 + 40.0), p3]
    } else {
        // Same column: bow out to the right, or to the left in the last column.
        let right = pa.col + 1 < l.columns || pa.col == 0;
        let (oa, ob) = if pa.y < pb.y { (0.2, -0.2) } else { (-0.2, 0.2) };
        let (ya, yb) = (ya + oa * NODE_H, yb + ob * NODE_H);
        let (p0, p3) = if right { ((pa.x + pa.w, ya), (pb.x + pb.w, yb)) } else { ((pa.x, ya), (pb.x, yb)) };
        let bow = 30.0 + (p3.1 - p0.1).abs() * 0.25;
        let s = if right { 1.0 } else { -1.0 };
        [p0, (p0.0 + s * bow, p0.1), (p3.0 + s * bow, p3.1), p3]
    }
}

fn edge_curves(g: &RoleGraph, l: &Layout, k: usize, e: &Edge) -> Vec<Curve> {
    let stops = e.stops();
    if stops.len() == 2 {
        return vec![segment(g, l, k, e.from, e.to)];
    }
    stops.windows(2).filter(|w| w[0] != w[1]).map(|w| segment(g, l, k, w[0], w[1])).collect()
}

fn path_d(curves: &[Curve]) -> String {
    let mut d = format!("M{},{}", f(curves[0][0].0), f(curves[0][0].1));
    for c in curves {
        if d.len() > 1 && !d.ends_with(&format!("{},{}", f(c[0].0), f(c[0].1))) {
            let _ = write!(d, " L{},{}", f(c[0].0), f(c[0].1));
        }
        let _ = write!(d, " C{},{} {},{} {},{}", f(c[1].0), f(c[1].1), f(c[2].0), f(c[2].1), f(c[3].0), f(c[3].1));
    }
    d
}

/// A label's box and, when it stands away from its curve, the point of the
/// curve its leader line goes to.
struct Placed {
    rect: Rect,
    leader: Option<(f64, f64)>,
}

/// Finds a box of width `w` for a label of the curves that overlaps nothing
/// in `taken`: along the curves first (last segment first: it ends at the
/// listener), then stepping away from the middle of the last segment, and
/// in the last resort below everything drawn (always free).
fn place_label(curves: &[Curve], w: f64, taken: &[Rect]) -> Placed {
    const ALONG: [f64; 11] = [0.5, 0.38, 0.62, 0.28, 0.72, 0.2, 0.8, 0.45, 0.55, 0.33, 0.67];
    let free = |r: &Rect| !taken.iter().any(|q| q.overlaps(r));
    for t in ALONG {
        for c in curves.iter().rev() {
            let (cx, cy) = bezier(*c, t);
            let r = Rect::centered(cx, cy, w, LABEL_H);
            if free(&r) {
                return Placed { rect: r, leader: None };
            }
        }
    }
    let anchor = bezier(curves[curves.len() - 1], 0.5);
    for step in 1..=40 {
        let dy = step as f64 * (LABEL_H + 3.0);
        for (sx, sy) in [(0.0, -1.0), (0.0, 1.0), (-0.6, -1.0), (0.6, -1.0), (-0.6, 1.0), (0.6, 1.0)] {
            let r = Rect::centered(anchor.0 + sx * w, anchor.1 + sy * dy, w, LABEL_H);
            if free(&r) {
                return Placed { rect: r, leader: Some(anchor) };
            }
        }
    }
    let bottom = taken.iter().map(|r| r.y + r.h).fold(0.0, f64::max);
    Placed { rect: Rect { x: (anchor.0 - w / 2.0).max(2.0), y: bottom + 4.0, w, h: LABEL_H }, leader: Some(anchor) }
}

/// The CSS classes of an edge and whether it is emphasised.
fn edge_class(e: &Edge, hl: Option<usize>) -> (String, bool) {
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
    (class, on)
}

fn edge_tip(g: &RoleGraph, e: &Edge) -> String {
    let mut tip = format!("{} → {}: {} ({})", g.nodes[e.from].id, g.nodes[e.to].id, e.label(), e.flows.join(", "));
    if !e.via.is_empty() {
        let via: Vec<&str> = e.via.iter().map(|&i| g.nodes[i].title.as_str()).collect();
        let _ = write!(tip, " through {}", via.join(", "));
    }
    tip
}

/// Draws the edges into `o` and their labels into `labels`; returns every box taken.
fn draw_edges(g: &RoleGraph, l: &Layout, opts: &SvgOptions, mut taken: Vec<Rect>, o: &mut String, labels: &mut String) -> Vec<Rect> {
    let label_max = if opts.label_max == 0 { 30 } else { opts.label_max };
    let hl = opts.highlight.and_then(|h| g.nodes.iter().position(|n| n.id == h));
    o.push_str("<g class=\"edges\">\n");
    for (k, e) in g.edges.iter().enumerate() {
        let curves = edge_curves(g, l, k, e);
        let (class, on) = edge_class(e, hl);
        let marker = if on { "pm-arrow-hl" } else { "pm-arrow" };
        let tip = edge_tip(g, e);
        let _ = writeln!(
            o,
            "<g class=\"{class}\" data-from=\"{}\" data-to=\"{}\"><title>{}</title><path d=\"{}\" marker-end=\"url(#{marker})\"/></g>",
            esc(&g.nodes[e.from].id),
            esc(&g.nodes[e.to].id),
            esc(&tip),
            path_d(&curves)
        );
        let text = e.short_label(label_max);
        let w = text.chars().count() as f64 * LABEL_CHAR_W + 6.0;
        let placed = place_label(&curves, w, &taken);
        let r = placed.rect;
        taken.push(r);
        let lclass = match (on, hl.is_some()) {
            (true, _) => "lbl hl",
            (false, true) => "lbl dim",
            _ => "lbl",
        };
        let leader = placed.leader.map_or(String::new(), |(ax, ay)| {
            let (lx, ly) = (ax.clamp(r.x, r.x + r.w), if ay < r.y { r.y } else { r.y + r.h });
            format!("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>", f(lx), f(ly), f(ax), f(ay))
        });
        let _ = writeln!(
            labels,
            "<g class=\"{lclass}\"><title>{}</title>{leader}<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
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
    o.push_str("</g>\n");
    taken
}

/// A firewall's interfaces: dotted lines from it to the zones it joins.
fn draw_links(g: &RoleGraph, l: &Layout, o: &mut String) {
    if g.links.is_empty() {
        return;
    }
    o.push_str("<g class=\"links\">\n");
    for &(a, b) in &g.links {
        let (pa, pb) = (l.places[a], l.places[b]);
        let (xa, xb) = if pa.x + pa.w <= pb.x {
            (pa.x + pa.w, pb.x)
        } else if pb.x + pb.w <= pa.x {
            (pa.x, pb.x + pb.w)
        } else {
            (pa.x + pa.w / 2.0, pb.x + pb.w / 2.0)
        };
        let (ya, yb) = (pa.y + pa.h / 2.0, pb.y + pb.h / 2.0);
        let _ = writeln!(
            o,
            "<line class=\"link\" data-firewall=\"{}\" data-zone=\"{}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
            esc(&g.nodes[a].title),
            esc(&g.nodes[b].id),
            f(xa),
            f(ya),
            f(xb),
            f(yb)
        );
    }
    o.push_str("</g>\n");
}

fn draw_nodes(g: &RoleGraph, l: &Layout, opts: &SvgOptions, o: &mut String) {
    let hl = opts.highlight.and_then(|h| g.nodes.iter().position(|n| n.id == h));
    o.push_str("<g class=\"nodes\">\n");
    for (i, n) in g.nodes.iter().enumerate() {
        let p = l.places[i];
        let mut class = String::from("node");
        if n.external {
            class.push_str(" ext");
        }
        if n.firewall {
            class.push_str(" fw");
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
        let sub = if n.firewall { "network firewall" } else { n.id.as_str() };
        let cy = p.y + p.h / 2.0;
        let body = format!(
            "<g class=\"{class}\" data-role=\"{}\"><title>{}</title><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"8\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text><text class=\"id\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
            esc(&n.id),
            esc(&tip),
            f(p.x),
            f(p.y),
            f(p.w),
            f(p.h),
            f(p.x + p.w / 2.0),
            f(cy - 4.0),
            esc(&title_text),
            f(p.x + p.w / 2.0),
            f(cy + 12.0),
            esc(sub)
        );
        match opts.role_href {
            Some(href) if !n.firewall => {
                let _ = writeln!(o, "<a href=\"{}\" aria-label=\"{}\">{body}</a>", esc(&href(&n.id)), esc(&format!("role {}", n.title)));
            }
            _ => {
                o.push_str(&body);
                o.push('\n');
            }
        }
    }
    o.push_str("</g>\n");
}

/// The legend of flows between many roles, from `y0` down; returns its bottom.
fn draw_legend(g: &RoleGraph, opts: &SvgOptions, y0: f64, o: &mut String) -> f64 {
    if g.wide.is_empty() {
        return y0;
    }
    let head_y = y0 + 14.0;
    let _ = writeln!(
        o,
        "<g class=\"legend\"><text class=\"legend-head\" x=\"{}\" y=\"{}\">Flows between many roles (not drawn as arrows):</text>",
        f(MARGIN),
        f(head_y)
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
            f(head_y + (i + 1) as f64 * LEGEND_LINE),
            esc(&legend_line(w))
        );
    }
    o.push_str("</g>\n");
    head_y + g.wide.len() as f64 * LEGEND_LINE + 6.0
}

/// Draws the graph as a standalone SVG document (also valid inline in HTML).
pub fn to_svg(g: &RoleGraph, opts: &SvgOptions) -> String {
    let title = format!("{} ({})", g.title, g.id);
    let l = layout::layout(g, MARGIN + TITLE_H);
    let mut o = String::new();
    // Boxes labels must not cover: the title, the group caption, every node.
    let mut taken = vec![Rect { x: MARGIN, y: MARGIN, w: title.chars().count() as f64 * 8.5, h: 20.0 }];
    if let Some((x, y, w, h)) = l.group {
        let _ = writeln!(o, "<rect class=\"group\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"10\"/>", f(x), f(y), f(w), f(h));
        let _ = writeln!(o, "<text class=\"group-label\" x=\"{}\" y=\"{}\">{}</text>", f(x + 10.0), f(y + 16.0), esc(&g.group_label));
        taken.push(Rect { x: x + 10.0, y: y + 4.0, w: g.group_label.chars().count() as f64 * 6.6, h: 16.0 });
    }
    taken.extend(l.places.iter().map(|&p| node_rect(p)));
    draw_links(g, &l, &mut o);
    let mut labels = String::new();
    let taken = draw_edges(g, &l, opts, taken, &mut o, &mut labels);
    draw_nodes(g, &l, opts, &mut o);
    o.push_str("<g class=\"labels\">\n");
    o.push_str(&labels);
    o.push_str("</g>\n");
    let drawn_bottom = taken.iter().map(|r| r.y + r.h).fold(l.bottom, f64::max);
    let bottom = draw_legend(g, opts, drawn_bottom + 10.0, &mut o);
    o.push_str("</svg>\n");
    let legend_w = g.wide.iter().map(|w| legend_line(w).chars().count()).max().unwrap_or(0) as f64 * LABEL_CHAR_W + 2.0 * MARGIN;
    let width = taken.iter().map(|r| r.x + r.w + MARGIN).fold(l.width, f64::max).max(legend_w);
    let height = bottom + MARGIN;
    head(g, opts, &title, width, height) + &o
}

fn head(g: &RoleGraph, opts: &SvgOptions, title: &str, width: f64, height: f64) -> String {
    let mut head = String::new();
    let size = if opts.fit_width {
        // As wide as the page, but never shrunk so far that the text cannot
        // be read (a wider drawing scrolls in its box), nor blown up past
        // half again its size.
        format!("width=\"100%\" style=\"min-width:{}px;max-width:{}px\"", f(width * 0.85), f(width * 1.5))
    } else {
        format!("width=\"{}\" height=\"{}\"", f(width), f(height))
    };
    let _ = writeln!(
        head,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"pm-diagram\" {size} viewBox=\"0 0 {} {}\" role=\"img\" aria-labelledby=\"pm-title-{}\">",
        f(width),
        f(height),
        esc(&g.id)
    );
    let _ = writeln!(head, "<title id=\"pm-title-{}\">{}: roles and flows</title>", esc(&g.id), esc(title));
    let _ = writeln!(head, "<style>{}</style>", STYLE.trim());
    head.push_str("<defs><marker id=\"pm-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path class=\"arrow\" d=\"M0,0L10,5L0,10z\"/></marker>");
    head.push_str("<marker id=\"pm-arrow-hl\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path class=\"arrow-hl\" d=\"M0,0L10,5L0,10z\"/></marker></defs>\n");
    let _ = writeln!(head, "<rect class=\"bg\" x=\"0\" y=\"0\" width=\"{}\" height=\"{}\"/>", f(width), f(height));
    let _ = writeln!(head, "<text class=\"title\" x=\"{}\" y=\"{}\">{}</text>", f(MARGIN), f(MARGIN + 14.0), esc(title));
    head
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max || max < 2 {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

/// The boxes of a drawn SVG, read back from its text: `(node boxes, label
/// boxes)`. For tests and tools that check a drawing.
pub fn boxes(svg: &str) -> (Vec<Rect>, Vec<Rect>) {
    let rect_after = |s: &str| -> Option<Rect> {
        let r = &s[s.find("<rect ")?..];
        let r = &r[..r.find("/>")?];
        let attr = |name: &str| -> Option<f64> {
            let pat = format!(" {name}=\"");
            let i = r.find(&pat)? + pat.len();
            r[i..].split('"').next()?.parse().ok()
        };
        Some(Rect { x: attr("x")?, y: attr("y")?, w: attr("width")?, h: attr("height")? })
    };
    let (mut nodes, mut labels) = (Vec::new(), Vec::new());
    for part in svg.split("<g class=\"").skip(1) {
        if part.starts_with("node\"") || part.starts_with("node ") {
            nodes.extend(rect_after(part));
        } else if part.starts_with("lbl\"") || part.starts_with("lbl ") {
            labels.extend(rect_after(part));
        }
    }
    (nodes, labels)
}
