//! A matrix as a graph of roles: one node per role (plus `any` when a flow
//! uses it), one edge per initiator → listener pair with the protocols and
//! ports of all flows between them. DOT, Mermaid and SVG are drawn from it.

use portmatrix_model::{Flow, Matrix};

use crate::matrix_table::end_roles;

/// A role, or the pseudo-role `any`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub title: String,
    /// Not part of the product (external roles and `any`).
    pub external: bool,
    pub fqdns: Vec<String>,
    /// A network firewall (zone diagrams): drawn between the zones it joins.
    pub firewall: bool,
}

impl Node {
    pub fn new(id: impl Into<String>, title: impl Into<String>, external: bool) -> Self {
        Node { id: id.into(), title: title.into(), external, fqdns: Vec::new(), firewall: false }
    }
}

/// All flows from one role to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// Flow ids, in matrix order.
    pub flows: Vec<String>,
    /// `tcp 5060`, `udp 10000-20000`, `icmp echo-request`, in matrix order, without repeats.
    pub parts: Vec<String>,
    /// Every flow on this edge has a `when:` condition.
    pub conditional: bool,
    /// Every flow on this edge stays on one host.
    pub local: bool,
    /// Nodes the edge passes through, in order (the firewalls on a zone path).
    pub via: Vec<usize>,
}

impl Edge {
    pub fn new(from: usize, to: usize) -> Self {
        Edge { from, to, flows: Vec::new(), parts: Vec::new(), conditional: false, local: false, via: Vec::new() }
    }
    /// The nodes the edge visits: its start, the nodes it passes through, its end.
    pub fn stops(&self) -> Vec<usize> {
        std::iter::once(self.from).chain(self.via.iter().copied()).chain(std::iter::once(self.to)).collect()
    }
}

impl Edge {
    /// The full label: every protocol/port part, comma-separated.
    pub fn label(&self) -> String {
        self.parts.join(", ")
    }
    /// A label of at most `max` characters (a count of the rest when cut).
    pub fn short_label(&self, max: usize) -> String {
        let mut out = String::new();
        for (i, p) in self.parts.iter().enumerate() {
            let more = self.parts.len() - i;
            let sep = if out.is_empty() { "" } else { ", " };
            if out.chars().count() + sep.len() + p.chars().count() > max && !out.is_empty() {
                out.push_str(&format!(" +{more}"));
                return out;
            }
            out.push_str(sep);
            out.push_str(p);
        }
        out
    }
}

/// A flow between many roles (a group to a group, say), listed in a legend
/// instead of drawn as many arrows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WideFlow {
    pub id: String,
    /// The ends as the matrix writes them (group names, `any`).
    pub from: String,
    pub to: String,
    /// How many role pairs the flow stands for.
    pub pairs: usize,
    pub part: String,
    pub conditional: bool,
    /// Every role at either end, groups expanded.
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGraph {
    pub id: String,
    pub title: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// Flows left out of `edges` by [`RoleGraph::compact`].
    pub wide: Vec<WideFlow>,
    /// The caption of the box around the internal nodes.
    pub group_label: String,
    /// Undirected links without traffic of their own: a firewall's
    /// interfaces to the zones it joins.
    pub links: Vec<(usize, usize)>,
}

/// `tcp 5060`: a flow's protocols and listener ports, parameters resolved
/// to their defaults (a diagram shows numbers, not parameter names).
pub fn flow_part(m: &Matrix, f: &Flow) -> String {
    let protos = f.protos().map(|p| p.as_str()).collect::<Vec<_>>().join("/");
    let what = if !f.icmp.is_empty() {
        f.icmp.iter().map(|t| t.value.as_str()).collect::<Vec<_>>().join(",")
    } else {
        match f.ports.as_ref().map(|p| p.resolve(&|n| m.param_default(n))) {
            None => String::new(),
            Some(Ok(set)) => set.to_string(),
            Some(Err(_)) => "(port set by deployment)".into(),
        }
    };
    if what.is_empty() {
        protos
    } else {
        format!("{protos} {what}")
    }
}

impl RoleGraph {
    /// Every flow as edges between the roles it joins.
    pub fn of(m: &Matrix) -> Self {
        Self::build(m, usize::MAX)
    }

    /// Like [`RoleGraph::of`], but a flow that joins more than `max_pairs`
    /// role pairs (a group to a group) goes to [`RoleGraph::wide`] instead
    /// of becoming a mesh of arrows. For drawings a person reads.
    pub fn compact(m: &Matrix, max_pairs: usize) -> Self {
        Self::build(m, max_pairs)
    }

    /// The graph the SVG drawings use: [`RoleGraph::compact`] with flows of
    /// more than four role pairs in the legend.
    pub fn drawing(m: &Matrix) -> Self {
        Self::compact(m, 4)
    }

    fn build(m: &Matrix, max_pairs: usize) -> Self {
        let mut nodes: Vec<Node> = m
            .roles
            .iter()
            .map(|(id, r)| Node {
                fqdns: r.fqdns.iter().map(|f| f.value.clone()).collect(),
                ..Node::new(id.value.clone(), r.title.clone(), r.external)
            })
            .collect();
        let uses_any = m.flows.iter().any(|f| f.from.iter().chain(&f.to).any(|n| n.value == "any"));
        if uses_any {
            nodes.push(Node::new("any", "any (bound by the deployment)", true));
        }
        let index = |id: &str| nodes.iter().position(|n| n.id == id);
        let mut edges: Vec<Edge> = Vec::new();
        let mut wide = Vec::new();
        let names = |v: &[portmatrix_model::matrix::Name]| v.iter().map(|n| n.value.as_str()).collect::<Vec<_>>().join(", ");
        for f in &m.flows {
            let part = flow_part(m, f);
            let froms = dedup(end_roles(m, &f.from));
            let tos = dedup(end_roles(m, &f.to));
            let pairs = froms.len() * tos.len();
            if pairs > max_pairs {
                let roles = dedup(froms.iter().chain(&tos).copied().collect()).into_iter().map(str::to_string).collect();
                wide.push(WideFlow {
                    id: f.id.value.clone(),
                    from: names(&f.from),
                    to: names(&f.to),
                    pairs,
                    part,
                    conditional: f.when.is_some(),
                    roles,
                });
                continue;
            }
            for a in &froms {
                for b in &tos {
                    let (Some(ia), Some(ib)) = (index(a), index(b)) else {
                        continue;
                    };
                    let e = match edges.iter_mut().find(|e| e.from == ia && e.to == ib) {
                        Some(e) => e,
                        None => {
                            edges.push(Edge { conditional: true, local: true, ..Edge::new(ia, ib) });
                            edges.last_mut().expect("just pushed")
                        }
                    };
                    if !e.flows.contains(&f.id.value) {
                        e.flows.push(f.id.value.clone());
                    }
                    if !e.parts.contains(&part) {
                        e.parts.push(part.clone());
                    }
                    e.conditional &= f.when.is_some();
                    e.local &= f.same_host;
                }
            }
        }
        Self {
            id: m.matrix.value.clone(),
            title: m.title.clone(),
            nodes,
            edges,
            wide,
            group_label: format!("{} — internal roles", m.title),
            links: Vec::new(),
        }
    }
}

fn dedup(v: Vec<&str>) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}
