//! The deployment's topology: zones joined by network firewalls.
//!
//! A firewall's `zones:` are its interfaces. Traffic between two zones takes
//! a shortest path through the graph whose nodes are zones and whose edges
//! are firewalls; every firewall on such a path must permit it. Parallel
//! firewalls (two shortest paths) each receive the connection, so that it
//! passes whichever way it is routed. Zones that no firewall joins, and
//! endpoints without a zone, are reached by paths the inventory does not
//! describe: nothing but a host firewall enforces traffic to them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;

use crate::types::FirewallInfo;

/// One hop of a route: through `firewall`, from one of its zones to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    pub firewall: String,
    pub from_zone: String,
    pub to_zone: String,
}

/// How traffic gets from one zone to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Path {
    /// Both ends in one zone: no network firewall between them.
    SameZone,
    /// Through these firewalls (every one on some shortest path), along `route`.
    Firewalls { firewalls: Vec<String>, route: Vec<Hop> },
    /// No firewall path joins the zones: the inventory does not say how
    /// traffic flows between them, so no network firewall enforces it.
    NoFirewall,
    /// An end has no zone.
    NoZone,
}

impl Path {
    pub fn firewalls(&self) -> &[String] {
        match self {
            Path::Firewalls { firewalls, .. } => firewalls,
            _ => &[],
        }
    }
}

/// What enforces one source's traffic to one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enforcement {
    /// The destination is a managed host: its own input rules apply.
    pub host_firewall: bool,
    pub path: Path,
}

impl Enforcement {
    pub fn is_enforced(&self) -> bool {
        self.host_firewall || !self.path.firewalls().is_empty()
    }
    /// "host firewall", "edge-fw, core-fw", "host firewall, core-fw", or "nothing".
    pub fn describe(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        if self.host_firewall {
            parts.push("host firewall");
        }
        parts.extend(self.path.firewalls().iter().map(String::as_str));
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join(", ")
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Topology {
    /// The inventory's zones, in its order.
    pub zones: Vec<String>,
    /// Paths between zones joined by firewalls, keyed (from, to).
    #[serde(skip)]
    paths: BTreeMap<(String, String), Path>,
}

impl Topology {
    pub fn build(zones: Vec<String>, firewalls: &[FirewallInfo]) -> Self {
        let index: BTreeMap<&str, usize> = zones.iter().enumerate().map(|(i, z)| (z.as_str(), i)).collect();
        // Edges: for each zone, (neighbour zone, firewall index), in inventory order.
        let mut adj: Vec<Vec<(usize, usize)>> = vec![Vec::new(); zones.len()];
        for (fi, f) in firewalls.iter().enumerate() {
            let zs: Vec<usize> = f.zones.iter().filter_map(|z| index.get(z.as_str()).copied()).collect();
            for &a in &zs {
                for &b in zs.iter().filter(|&&b| b != a) {
                    adj[a].push((b, fi));
                }
            }
        }
        let dist: Vec<Vec<Option<usize>>> = (0..zones.len()).map(|s| bfs(&adj, s)).collect();
        let mut paths = BTreeMap::new();
        for a in 0..zones.len() {
            for b in (0..zones.len()).filter(|&b| b != a) {
                let Some(d) = dist[a][b] else { continue };
                let on_some_shortest: BTreeSet<usize> = (0..firewalls.len())
                    .filter(|&fi| {
                        adj.iter().enumerate().any(|(u, edges)| {
                            edges.iter().any(|&(v, f)| f == fi && matches!((dist[a][u], dist[v][b]), (Some(x), Some(y)) if x + 1 + y == d))
                        })
                    })
                    .collect();
                let route = route(&adj, &dist, a, b, firewalls, &zones);
                let path = Path::Firewalls { firewalls: on_some_shortest.into_iter().map(|f| firewalls[f].name.clone()).collect(), route };
                paths.insert((zones[a].clone(), zones[b].clone()), path);
            }
        }
        Topology { zones, paths }
    }

    pub fn path(&self, from: Option<&str>, to: Option<&str>) -> Path {
        match (from, to) {
            (Some(a), Some(b)) if a == b => Path::SameZone,
            (Some(a), Some(b)) => self.paths.get(&(a.to_string(), b.to_string())).cloned().unwrap_or(Path::NoFirewall),
            _ => Path::NoZone,
        }
    }

    /// Zones no firewall joins to any other zone.
    pub fn isolated_zones(&self) -> Vec<&str> {
        self.zones.iter().filter(|z| !self.paths.keys().any(|(a, _)| a == *z)).map(String::as_str).collect()
    }
}

fn bfs(adj: &[Vec<(usize, usize)>], start: usize) -> Vec<Option<usize>> {
    let mut dist = vec![None; adj.len()];
    dist[start] = Some(0);
    let mut queue = VecDeque::from([start]);
    while let Some(u) = queue.pop_front() {
        let du = dist[u].expect("queued nodes have a distance");
        for &(v, _) in &adj[u] {
            if dist[v].is_none() {
                dist[v] = Some(du + 1);
                queue.push_back(v);
            }
        }
    }
    dist
}

/// One shortest route from `a` to `b`, choosing the first firewall (in
/// inventory order) at each step: deterministic, and what the lab wires.
fn route(adj: &[Vec<(usize, usize)>], dist: &[Vec<Option<usize>>], a: usize, b: usize, fws: &[FirewallInfo], zones: &[String]) -> Vec<Hop> {
    let mut hops = Vec::new();
    let mut u = a;
    while u != b {
        let left = dist[u][b].expect("b is reachable from every zone on the route");
        let (v, f) = adj[u]
            .iter()
            .copied()
            .filter(|&(v, _)| dist[v][b] == Some(left - 1))
            .min_by_key(|&(v, f)| (f, v))
            .expect("a shortest route continues");
        hops.push(Hop { firewall: fws[f].name.clone(), from_zone: zones[u].clone(), to_zone: zones[v].clone() });
        u = v;
    }
    hops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fw(name: &str, zones: &[&str]) -> FirewallInfo {
        FirewallInfo { name: name.into(), zones: zones.iter().map(|z| z.to_string()).collect() }
    }

    fn topo(zones: &[&str], fws: &[FirewallInfo]) -> Topology {
        Topology::build(zones.iter().map(|z| z.to_string()).collect(), fws)
    }

    #[test]
    fn a_path_crosses_every_firewall_between_two_zones() {
        let t = topo(&["outside", "dc", "db", "users"], &[fw("edge-fw", &["outside", "dc"]), fw("core-fw", &["dc", "db", "users"])]);
        assert_eq!(t.path(Some("outside"), Some("db")).firewalls(), ["edge-fw", "core-fw"].map(String::from));
        let Path::Firewalls { route, .. } = t.path(Some("outside"), Some("db")) else { panic!() };
        assert_eq!(
            route.iter().map(|h| (h.firewall.as_str(), h.to_zone.as_str())).collect::<Vec<_>>(),
            [("edge-fw", "dc"), ("core-fw", "db")]
        );
        assert_eq!(t.path(Some("users"), Some("db")).firewalls(), ["core-fw".to_string()]);
        assert_eq!(t.path(Some("db"), Some("db")), Path::SameZone);
        assert_eq!(t.path(None, Some("db")), Path::NoZone);
    }

    #[test]
    fn unjoined_zones_have_no_firewall_path() {
        let t = topo(&["a", "b", "c"], &[fw("f", &["a", "b"])]);
        assert_eq!(t.path(Some("a"), Some("c")), Path::NoFirewall);
        assert_eq!(t.isolated_zones(), ["c"]);
    }

    #[test]
    fn parallel_firewalls_both_carry_the_path() {
        let t = topo(&["a", "b"], &[fw("f1", &["a", "b"]), fw("f2", &["a", "b"])]);
        assert_eq!(t.path(Some("a"), Some("b")).firewalls(), ["f1", "f2"].map(String::from));
        let Path::Firewalls { route, .. } = t.path(Some("a"), Some("b")) else { panic!() };
        assert_eq!(route.len(), 1);
        assert_eq!(route[0].firewall, "f1");
    }

    #[test]
    fn a_longer_detour_is_not_on_the_path() {
        let t = topo(&["a", "b", "c"], &[fw("direct", &["a", "c"]), fw("ab", &["a", "b"]), fw("bc", &["b", "c"])]);
        assert_eq!(t.path(Some("a"), Some("c")).firewalls(), ["direct".to_string()]);
    }
}
