//! A deployment's zones as a graph: zones as nodes, the network firewalls
//! between them (each linked to the zones it joins), and the services
//! between zones as edges that pass through the firewalls on their path.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashSet};

use portmatrix_plan::{Path, Plan};

use crate::change_request::{ChangeRequestRow, Destination, BY_NAME, NO_ZONE};
use crate::graph::{Edge, Node, RoleGraph};

/// Node id of a firewall: a space cannot occur in an inventory name, so it
/// never equals a zone's id.
pub fn firewall_node_id(name: &str) -> String {
    format!("firewall {name}")
}

struct Builder {
    /// Zones with a managed host: the deployment's own, drawn in the group.
    own: Vec<String>,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    /// Edge by (from, to), and the parts and flows each already has: a
    /// large deployment has millions of rows and few zone pairs.
    index: BTreeMap<(usize, usize), usize>,
    seen: HashSet<(usize, String)>,
}

impl Builder {
    fn zone(&mut self, id: &str, fqdns: &[String]) -> usize {
        if let Some(i) = self.nodes.iter().position(|n| n.id == id && !n.firewall) {
            return i;
        }
        let external = !self.own.iter().any(|z| z == id);
        let title = if fqdns.is_empty() { format!("zone {id}") } else { id.to_string() };
        self.nodes.push(Node { fqdns: fqdns.to_vec(), ..Node::new(id, title, external) });
        self.nodes.len() - 1
    }
    fn firewall(&self, name: &str) -> Option<usize> {
        let id = firewall_node_id(name);
        self.nodes.iter().position(|n| n.firewall && n.id == id)
    }
    fn edge(&mut self, a: usize, b: usize, via: Vec<usize>, part: String, tag: String) {
        let k = match self.index.get(&(a, b)) {
            Some(&k) => k,
            None => {
                self.edges.push(Edge { via, ..Edge::new(a, b) });
                self.index.insert((a, b), self.edges.len() - 1);
                self.edges.len() - 1
            }
        };
        if self.seen.insert((k, format!("p {part}"))) {
            self.edges[k].parts.push(part);
        }
        if self.seen.insert((k, format!("f {tag}"))) {
            self.edges[k].flows.push(tag);
        }
    }
}

/// Zones as nodes, firewalls between them, services as edges. Zones with a
/// managed host are the deployment's own; the others (and destinations
/// known by name) stand at the edge.
pub fn zone_graph<'p, R: Borrow<ChangeRequestRow<'p>>>(p: &Plan, rows: impl IntoIterator<Item = R>) -> RoleGraph {
    let zone = |z: Option<&str>| z.unwrap_or(NO_ZONE).to_string();
    let own = p.hosts.iter().filter(|h| h.managed).map(|h| zone(h.zone.as_deref())).collect();
    let mut b = Builder { own, nodes: Vec::new(), edges: Vec::new(), index: BTreeMap::new(), seen: HashSet::new() };
    for z in &p.topology.zones {
        b.zone(z, &[]);
    }
    for h in &p.hosts {
        b.zone(&zone(h.zone.as_deref()), &[]);
    }
    let mut links = Vec::new();
    for fw in &p.firewalls {
        let mut node = Node::new(firewall_node_id(&fw.name), fw.name.clone(), false);
        node.firewall = true;
        b.nodes.push(node);
        let fi = b.nodes.len() - 1;
        for z in &fw.zones {
            let zi = b.zone(z, &[]);
            links.push((fi, zi));
        }
    }
    for r in rows {
        let r = r.borrow();
        let from = b.zone(&zone(r.source.zone.as_deref()), &[]);
        let (to, via) = match &r.destination {
            Destination::Endpoint(e) => {
                let to = b.zone(&zone(e.zone.as_deref()), &[]);
                let via = match &r.enforced_by.path {
                    Path::Firewalls { route, .. } => route.iter().filter_map(|h| b.firewall(&h.firewall)).collect(),
                    _ => Vec::new(),
                };
                (to, via)
            }
            Destination::ByName { role, fqdns } => (b.zone(&format!("{role} {BY_NAME}"), fqdns), Vec::new()),
        };
        for t in r.tags() {
            b.edge(from, to, via.clone(), r.service(), t.to_string());
        }
    }
    RoleGraph {
        id: p.inventory.clone(),
        title: "Deployment".into(),
        nodes: b.nodes,
        edges: b.edges,
        wide: Vec::new(),
        group_label: "zones with managed hosts, and the firewalls".into(),
        links,
    }
}
