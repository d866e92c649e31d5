//! Properties over inputs nobody here wrote: random graphs never get a label
//! over a node or another label; any text stays text in CSV and Markdown.

use portmatrix_report::escape::csv_cell;
use portmatrix_report::graph::{Edge, Node, RoleGraph};
use portmatrix_report::svg::{boxes, to_svg, SvgOptions};
use portmatrix_report::table::Table;
use proptest::prelude::*;

/// A random graph: nodes (some external, some firewalls), edges between
/// them (some through firewalls, some loops) with labels of random length.
fn graphs() -> impl Strategy<Value = RoleGraph> {
    (1usize..14, 0usize..4).prop_flat_map(|(n, fws)| {
        let total = n + fws;
        let nodes = proptest::collection::vec(("[a-z]{1,12}", any::<bool>()), n);
        let edges = proptest::collection::vec((0..n, 0..n, proptest::option::of(0..fws.max(1)), 1usize..4, 1usize..40), 0..30);
        (nodes, edges).prop_map(move |(nodes, edges)| {
            let mut g_nodes: Vec<Node> =
                nodes.iter().enumerate().map(|(i, (title, ext))| Node::new(format!("n{i}"), title.clone(), *ext)).collect();
            for f in 0..fws {
                let mut node = Node::new(format!("firewall f{f}"), format!("f{f}"), false);
                node.firewall = true;
                g_nodes.push(node);
            }
            let mut g_edges: Vec<Edge> = Vec::new();
            for (a, b, via, parts, len) in edges {
                if g_edges.iter().any(|e| e.from == a && e.to == b) {
                    continue;
                }
                let mut e = Edge::new(a, b);
                if let Some(f) = via.filter(|_| fws > 0 && a != b) {
                    e.via = vec![n + f];
                }
                e.parts = (0..parts).map(|k| format!("tcp {}", "9".repeat((len + k) % 12 + 1))).collect();
                e.flows = vec![format!("flow-{a}-{b}")];
                g_edges.push(e);
            }
            let links = (0..fws).flat_map(|f| (0..n.min(3)).map(move |z| (n + f, z))).collect();
            let _ = total;
            RoleGraph {
                id: "random".into(),
                title: "Random".into(),
                nodes: g_nodes,
                edges: g_edges,
                wide: Vec::new(),
                group_label: "internal".into(),
                links,
            }
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn no_label_covers_a_node_or_another_label(g in graphs(), label_max in 8usize..80) {
        let svg = to_svg(&g, &SvgOptions { label_max, ..Default::default() });
        let (nodes, labels) = boxes(&svg);
        // Coordinates are read back from the SVG's one-decimal text: boxes
        // that touch may appear to overlap by a rounding error.
        let shrink = |r: &portmatrix_report::svg::Rect| portmatrix_report::svg::Rect { x: r.x + 0.06, y: r.y + 0.06, w: r.w - 0.12, h: r.h - 0.12 };
        let (nodes, labels): (Vec<_>, Vec<_>) = (nodes.iter().map(shrink).collect(), labels.iter().map(shrink).collect());
        prop_assert_eq!(nodes.len(), g.nodes.len());
        prop_assert_eq!(labels.len(), g.edges.len());
        for (i, a) in labels.iter().enumerate() {
            for b in &labels[i + 1..] {
                prop_assert!(!a.overlaps(b), "labels {:?} and {:?}", a, b);
            }
            for n in &nodes {
                prop_assert!(!a.overlaps(n), "label {:?} over node {:?}", a, n);
            }
            prop_assert!(a.x >= 0.0 && a.y >= 0.0, "label {:?} off the canvas", a);
        }
        for (i, a) in nodes.iter().enumerate() {
            for b in &nodes[i + 1..] {
                prop_assert!(!a.overlaps(b), "nodes {:?} and {:?}", a, b);
            }
        }
    }

    #[test]
    fn csv_cells_never_start_a_formula_and_keep_their_text(s in "\\PC{0,20}|[=+\\-@\t\r][^\n]{0,10}") {
        let c = csv_cell(&s);
        prop_assert!(!c.starts_with(['=', '+', '-', '@', '\t', '\r']));
        let quoted = format!("'{}", s);
        prop_assert!(c == s || c == quoted);
    }

    #[test]
    fn markdown_cells_render_as_exactly_their_text(s in "[a-z0-9 *_\\[\\]()<>&|\\\\`!#~=+.:/@\"'-]{1,40}") {
        use pulldown_cmark::{Event, Parser, Tag, TagEnd, Options};
        let mut t = Table::new(&["x"]);
        t.push(vec![s.clone()]);
        let md = t.to_markdown();
        let mut cells: Vec<String> = Vec::new();
        let mut in_cell = false;
        for ev in Parser::new_ext(&md, Options::ENABLE_TABLES) {
            match ev {
                Event::Start(Tag::TableCell) => { in_cell = true; cells.push(String::new()); }
                Event::End(TagEnd::TableCell) => in_cell = false,
                Event::Text(x) if in_cell => cells.last_mut().expect("a cell").push_str(&x),
                Event::Html(_) | Event::InlineHtml(_) => prop_assert!(false, "HTML from {:?}: {}", s, md),
                Event::Start(Tag::Link { .. } | Tag::Image { .. } | Tag::Emphasis | Tag::Strong | Tag::Strikethrough) => {
                    prop_assert!(false, "markup from {:?}: {}", s, md)
                }
                Event::Code(_) => prop_assert!(false, "code span from {:?}: {}", s, md),
                _ => {}
            }
        }
        prop_assert_eq!(cells.len(), 2, "header and one cell: {}", md);
        prop_assert_eq!(cells[1].as_str(), s.trim());
    }
}
