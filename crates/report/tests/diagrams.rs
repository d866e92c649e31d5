//! Readable diagrams, checked on every catalog matrix and every example
//! deployment: no edge label covers a node or another label (read back from
//! the SVG text, not from the layout's own bookkeeping), labels show port
//! numbers rather than parameter names, and firewalls stand between the
//! zones they join with the traffic drawn through them.

use std::path::Path;

use portmatrix_plan::{plan, Deployment, Plan};
use portmatrix_report::graph::RoleGraph;
use portmatrix_report::plan_report::zone_graph;
use portmatrix_report::svg::{boxes, to_svg, Rect, SvgOptions};

fn catalog() -> Vec<portmatrix_model::Matrix> {
    portmatrix_catalog::all().unwrap_or_else(|d| panic!("catalog loads: {d:?}"))
}

fn examples() -> Vec<(String, Plan)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let dep = Deployment::load(&path, &portmatrix_catalog::Catalog).unwrap_or_else(|d| panic!("{}: {d:?}", path.display()));
            out.push((path.display().to_string(), plan(&dep).unwrap_or_else(|d| panic!("{}: {d:?}", path.display()))));
        }
    }
    assert!(out.len() >= 6, "every example inventory");
    out
}

/// Every pair of boxes that intersect: label × label and label × node.
fn collisions(svg: &str) -> Vec<(Rect, Rect)> {
    let (nodes, labels) = boxes(svg);
    let mut hits = Vec::new();
    for (i, a) in labels.iter().enumerate() {
        hits.extend(labels[i + 1..].iter().filter(|b| a.overlaps(b)).map(|b| (*a, *b)));
        hits.extend(nodes.iter().filter(|n| a.overlaps(n)).map(|n| (*a, *n)));
    }
    for (i, a) in nodes.iter().enumerate() {
        hits.extend(nodes[i + 1..].iter().filter(|b| a.overlaps(b)).map(|b| (*a, *b)));
    }
    hits
}

fn check(name: &str, g: &RoleGraph) {
    for opts in [SvgOptions::default(), SvgOptions { fit_width: true, label_max: 60, ..Default::default() }] {
        let svg = to_svg(g, &opts);
        let (nodes, labels) = boxes(&svg);
        assert_eq!(nodes.len(), g.nodes.len(), "{name}: every node read back");
        assert_eq!(labels.len(), g.edges.len(), "{name}: one label per edge");
        let hits = collisions(&svg);
        assert!(hits.is_empty(), "{name}: {} overlapping boxes, e.g. {:?}", hits.len(), hits[0]);
    }
}

#[test]
fn no_label_covers_a_node_or_another_label_in_any_catalog_matrix() {
    for m in catalog() {
        check(&m.key(), &RoleGraph::drawing(&m));
        check(&format!("{} (every flow drawn)", m.key()), &RoleGraph::of(&m));
    }
}

#[test]
fn no_label_covers_a_node_or_another_label_in_any_example_deployment() {
    for (name, p) in examples() {
        check(&name, &zone_graph(&p));
    }
}

#[test]
fn the_checker_sees_an_overlap() {
    // The test above proves nothing if `boxes` read nothing or `overlaps` never fired.
    let svg = "<g class=\"node\"><rect x=\"0\" y=\"0\" width=\"50\" height=\"40\" rx=\"8\"/></g><g class=\"lbl\"><rect x=\"40\" y=\"30\" width=\"30\" height=\"14\" rx=\"3\"/></g>";
    assert_eq!(collisions(svg).len(), 1);
}

#[test]
fn labels_show_port_numbers_not_parameter_names() {
    let mut resolved = 0;
    for m in catalog() {
        let g = RoleGraph::of(&m);
        for e in &g.edges {
            for part in &e.parts {
                for p in m.params.keys() {
                    assert!(!part.contains(p.value.as_str()), "{}: `{part}` names parameter {}", m.key(), p.value);
                }
            }
        }
        resolved +=
            m.flows.iter().filter(|f| f.ports.as_ref().is_some_and(|p| p.to_string().chars().any(|c| c.is_ascii_alphabetic()))).count();
        let svg = to_svg(&RoleGraph::drawing(&m), &SvgOptions::default());
        assert!(!svg.contains("wfo_tcp_port +1") && !svg.contains(">tcp wfo_tcp_port"), "{}", m.key());
    }
    assert!(resolved > 10, "the catalog has flows whose ports are parameters: the test would prove nothing");
    let pom = portmatrix_catalog::get("avaya-pom").expect("in catalog").expect("loads");
    let g = RoleGraph::of(&pom);
    let wfo = g.edges.iter().find(|e| e.flows.iter().any(|f| f == "wfo-to-am-tcp")).expect("the WFO edge");
    assert_eq!(wfo.parts, ["tcp 7999", "tcp 7998"], "parameters at their defaults");
}

/// The points of an SVG path's commands.
fn path_points(d: &str) -> Vec<(f64, f64)> {
    d.split([' ', 'M', 'C', 'L'])
        .filter(|s| s.contains(','))
        .filter_map(|s| s.split_once(',').and_then(|(x, y)| Some((x.parse().ok()?, y.parse().ok()?))))
        .collect()
}

#[test]
fn firewalls_stand_between_zones_and_traffic_passes_through_them() {
    for (name, p) in examples() {
        let g = zone_graph(&p);
        let svg = to_svg(&g, &SvgOptions::default());
        for fw in &p.firewalls {
            let id = format!("firewall {}", fw.name);
            let i = g.nodes.iter().position(|n| n.id == id && n.firewall).unwrap_or_else(|| panic!("{name}: no node for {}", fw.name));
            assert_eq!(
                svg.matches(&format!("data-firewall=\"{}\"", fw.name)).count(),
                fw.zones.len(),
                "{name}: a link to every zone of {}",
                fw.name
            );
            let node = svg.split(&format!("data-role=\"{id}\"")).nth(1).expect("the firewall's node");
            let r = boxes(&format!("<g class=\"node\">{node}")).0[0];
            for e in g.edges.iter().filter(|e| e.via.contains(&i)) {
                let (a, b) = (&g.nodes[e.from].id, &g.nodes[e.to].id);
                let edge =
                    svg.split(&format!("data-from=\"{a}\" data-to=\"{b}\"")).nth(1).unwrap_or_else(|| panic!("{name}: edge {a} → {b}"));
                let d = edge.split("d=\"").nth(1).expect("path").split('"').next().expect("end");
                let on_box = path_points(d)
                    .iter()
                    .any(|&(x, y)| ((x - r.x).abs() < 0.2 || (x - (r.x + r.w)).abs() < 0.2) && y >= r.y && y <= r.y + r.h);
                assert!(on_box, "{name}: {a} → {b} does not pass through {}: {d}", fw.name);
            }
        }
    }
    let (_, jtel) = examples().into_iter().find(|(n, _)| n.ends_with("jtel-acd.yaml")).expect("jtel-acd example");
    let g = zone_graph(&jtel);
    assert!(g.edges.iter().filter(|e| !e.via.is_empty()).count() >= 5, "jtel-acd: traffic between zones crosses core-fw");
}
