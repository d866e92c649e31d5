//! Text diagrams of a role graph: Graphviz DOT and Mermaid.

use std::fmt::Write as _;

use crate::graph::RoleGraph;

fn dot_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Graphviz DOT: internal roles in a cluster, external parties outside it,
/// edges labelled with protocol and ports. Conditional edges are dashed.
pub fn to_dot(g: &RoleGraph) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "digraph {} {{", dot_str(&g.id));
    let _ = writeln!(o, "  graph [rankdir=LR, fontname=\"Helvetica\", labelloc=t, label={}];", dot_str(&format!("{} ({})", g.title, g.id)));
    o.push_str("  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=11];\n");
    o.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");
    let node_line = |n: &crate::graph::Node| {
        let mut label = format!("{}\n{}", n.title, if n.firewall { "network firewall" } else { &n.id });
        if !n.fqdns.is_empty() {
            label.push('\n');
            label.push_str(&n.fqdns.join("\n"));
        }
        let style = if n.firewall {
            ", shape=box, style=\"bold,filled\", fillcolor=\"#fde8e8\""
        } else if n.external {
            ", style=\"rounded,dashed\""
        } else {
            ""
        };
        format!("{} [label={}{}];", dot_str(&n.id), dot_str(&label), style)
    };
    let _ = writeln!(o, "  subgraph cluster_product {{");
    let _ = writeln!(o, "    label={};", dot_str(&g.title));
    o.push_str("    style=rounded;\n");
    for n in g.nodes.iter().filter(|n| !n.external) {
        let _ = writeln!(o, "    {}", node_line(n));
    }
    o.push_str("  }\n");
    for n in g.nodes.iter().filter(|n| n.external) {
        let _ = writeln!(o, "  {}", node_line(n));
    }
    for &(a, b) in &g.links {
        let _ = writeln!(o, "  {} -> {} [dir=none, style=dotted, color=gray];", dot_str(&g.nodes[a].id), dot_str(&g.nodes[b].id));
    }
    for e in &g.edges {
        let mut attrs = vec![format!("label={}", dot_str(&e.label())), format!("tooltip={}", dot_str(&tooltip(g, e)))];
        if e.conditional {
            attrs.push("style=dashed".into());
        }
        if e.local {
            attrs.push("color=gray".into());
        }
        let _ = writeln!(o, "  {} -> {} [{}];", dot_str(&g.nodes[e.from].id), dot_str(&g.nodes[e.to].id), attrs.join(", "));
    }
    o.push_str("}\n");
    o
}

/// The flows of an edge, and the firewalls it passes through.
fn tooltip(g: &RoleGraph, e: &crate::graph::Edge) -> String {
    let mut t = e.flows.join(", ");
    if !e.via.is_empty() {
        t.push_str(" through ");
        t.push_str(&e.via.iter().map(|&i| g.nodes[i].title.as_str()).collect::<Vec<_>>().join(", "));
    }
    t
}

fn mermaid_id(id: &str) -> String {
    let mut s = String::from("r_");
    s.extend(id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }));
    s
}

/// Text inside a quoted Mermaid label: quotes, angle brackets, pipes and
/// Mermaid's own entity marker as entities, line breaks as spaces.
fn mermaid_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '|' => out.push_str("#124;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Mermaid flowchart: the same graph as DOT. Conditional edges are dotted.
pub fn to_mermaid(g: &RoleGraph) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "---\ntitle: \"{} ({})\"\n---", mermaid_text(&g.title), mermaid_text(&g.id));
    o.push_str("flowchart LR\n");
    let _ = writeln!(o, "  subgraph product[\"{}\"]", mermaid_text(&g.title));
    for n in g.nodes.iter().filter(|n| !n.external) {
        if n.firewall {
            let _ = writeln!(o, "    {}{{{{\"{}<br/><small>network firewall</small>\"}}}}", mermaid_id(&n.id), mermaid_text(&n.title));
        } else {
            let _ = writeln!(o, "    {}[\"{}<br/><small>{}</small>\"]", mermaid_id(&n.id), mermaid_text(&n.title), mermaid_text(&n.id));
        }
    }
    o.push_str("  end\n");
    for n in g.nodes.iter().filter(|n| n.external) {
        let mut label = format!("{}<br/><small>{}</small>", mermaid_text(&n.title), mermaid_text(&n.id));
        for f in &n.fqdns {
            label.push_str(&format!("<br/><small>{}</small>", mermaid_text(f)));
        }
        let _ = writeln!(o, "  {}([\"{}\"])", mermaid_id(&n.id), label);
    }
    for &(a, b) in &g.links {
        let _ = writeln!(o, "  {} -.- {}", mermaid_id(&g.nodes[a].id), mermaid_id(&g.nodes[b].id));
    }
    for e in &g.edges {
        let arrow = if e.conditional { "-.->" } else { "-->" };
        let _ = writeln!(
            o,
            "  {} {}|\"{}\"| {}",
            mermaid_id(&g.nodes[e.from].id),
            arrow,
            mermaid_text(&e.label()),
            mermaid_id(&g.nodes[e.to].id)
        );
    }
    o.push_str("  classDef external stroke-dasharray: 5 5\n");
    let ext: Vec<String> = g.nodes.iter().filter(|n| n.external).map(|n| mermaid_id(&n.id)).collect();
    if !ext.is_empty() {
        let _ = writeln!(o, "  class {} external", ext.join(","));
    }
    o
}
