//! The deployment's twin in network namespaces, wired as the inventory
//! describes it.
//!
//! - one namespace per host and per network stand-in, with the inventory's
//!   addresses (a network's representative addresses);
//! - one bridge per zone, all in a switch namespace (`sw`) that filters
//!   nothing;
//! - one namespace per network firewall, with an interface on the bridge of
//!   each zone in its `zones:`, so that a packet crosses exactly the
//!   firewalls its path in the zone graph crosses (see
//!   `portmatrix_plan::topology`);
//! - one unfiltered router (`rt`) on every bridge, for traffic between zones
//!   that no firewall path joins: the inventory does not say how that
//!   traffic flows, so the twin lets it through unfiltered, and the lab
//!   reports it as unenforced rather than pretending a firewall was there.
//!
//! Routes are per destination address (the inventory declares no subnets):
//! a node sends to the first firewall of its path, a firewall to the next,
//! the last one delivers on the destination's bridge. Nothing routes out of
//! the machine: no namespace has a default route.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;

use portmatrix_plan::{Path, Plan, Topology};

use crate::netns::{self, ip_batch, sysctl, Lab};

/// A host or network stand-in: its name, zone and addresses.
#[derive(Debug, Clone)]
pub struct TwinNode {
    pub name: String,
    pub zone: Option<String>,
    pub addrs: Vec<IpAddr>,
}

/// The zone of nodes without one: only the unfiltered router reaches it.
const NO_ZONE: &str = "(no zone)";

/// The built twin: which namespace is which node and which firewall.
pub struct Twin {
    pub lab: Lab,
    /// Node name → namespace.
    pub nodes: BTreeMap<String, String>,
    /// Firewall name → namespace.
    pub firewalls: BTreeMap<String, String>,
    /// The unfiltered router's namespace.
    pub router: String,
}

impl Twin {
    pub fn ns(&self, node: &str) -> &str {
        &self.nodes[node]
    }
}

fn gateway_v4(index: usize) -> String {
    format!("169.254.{}.{}", index / 250, index % 250 + 1)
}

fn gateway_v6(index: usize) -> String {
    format!("fe80::a:{:x}", index + 1)
}

fn host_prefix(a: &IpAddr) -> String {
    match a {
        IpAddr::V4(_) => format!("{a}/32"),
        IpAddr::V6(_) => format!("{a}/128"),
    }
}

/// A route to `a` through the gateway with `index`, out of `dev`.
fn via(a: &IpAddr, index: usize, dev: &str) -> String {
    match a {
        IpAddr::V4(_) => format!("route add {a}/32 via {} dev {dev} onlink", gateway_v4(index)),
        IpAddr::V6(_) => format!("route add {a}/128 via {} dev {dev}", gateway_v6(index)),
    }
}

fn short(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(20).collect()
}

/// Refuses addresses the twin uses for its own gateways (link-local).
fn check_reserved(nodes: &[TwinNode]) -> io::Result<()> {
    for n in nodes {
        for a in &n.addrs {
            let link_local = match a {
                IpAddr::V4(v4) => v4.is_link_local(),
                IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
            };
            if link_local {
                return Err(io::Error::other(format!("{a} of {} is link-local: the lab uses that range for its gateways", n.name)));
            }
        }
    }
    Ok(())
}

/// Everything the twin needs from the plan.
pub struct TwinSpec<'p> {
    pub nodes: Vec<TwinNode>,
    pub plan: &'p Plan,
}

impl TwinSpec<'_> {
    pub fn build(&self) -> io::Result<Twin> {
        let check = netns::Topology {
            nodes: self
                .nodes
                .iter()
                .map(|n| netns::Node { name: n.name.clone(), zone: n.zone.clone().unwrap_or_default(), addrs: n.addrs.clone() })
                .collect(),
        };
        check.check_addresses()?;
        check_reserved(&self.nodes)?;
        let topo = &self.plan.topology;
        let zones = self.zones();
        let zone_index =
            |z: &Option<String>| zones.iter().position(|x| Some(x.as_str()) == z.as_deref().or(Some(NO_ZONE))).expect("listed");
        let mut lab = Lab::new()?;
        let sw = lab.add_ns("sw")?;
        // Bridged frames must not pass anyone's netfilter here (br_netfilter).
        let _ = sysctl(&sw, &[("net.bridge.bridge-nf-call-iptables", "0"), ("net.bridge.bridge-nf-call-ip6tables", "0")]);
        let mut sw_lines: Vec<String> = Vec::new();
        for j in 0..zones.len() {
            sw_lines.push(format!("link add z{j} type bridge"));
            sw_lines.push(format!("link set z{j} up"));
        }
        // Firewalls, then the unfiltered router (gateway index = firewall count).
        let mut firewalls = BTreeMap::new();
        let mut fw_lines: Vec<(String, Vec<String>)> = Vec::new();
        for (i, f) in self.plan.firewalls.iter().enumerate() {
            let ns = lab.add_ns(&format!("fw{i}-{}", short(&f.name)))?;
            router_sysctls(&ns)?;
            let attached: Vec<usize> = f.zones.iter().filter_map(|z| zones.iter().position(|x| x == z)).collect();
            let mut lines = Vec::new();
            for &j in &attached {
                sw_lines.push(format!("link add f{i}z{j} type veth peer name z{j} netns {ns}"));
                sw_lines.push(format!("link set f{i}z{j} master z{j} up"));
                lines.extend(gateway_lines(&format!("z{j}"), i));
            }
            lines.extend(self.firewall_routes(topo, &zones, &f.zones, &attached));
            firewalls.insert(f.name.clone(), ns.clone());
            fw_lines.push((ns, lines));
        }
        let rt_index = self.plan.firewalls.len();
        let router = lab.add_ns("rt")?;
        router_sysctls(&router)?;
        let mut rt_lines = Vec::new();
        for j in 0..zones.len() {
            sw_lines.push(format!("link add r{j} type veth peer name z{j} netns {router}"));
            sw_lines.push(format!("link set r{j} master z{j} up"));
            rt_lines.extend(gateway_lines(&format!("z{j}"), rt_index));
        }
        for n in &self.nodes {
            for a in &n.addrs {
                rt_lines.push(format!("route add {} dev z{}", host_prefix(a), zone_index(&n.zone)));
            }
        }
        // Nodes.
        let mut nodes = BTreeMap::new();
        let mut node_lines: Vec<(String, Vec<String>)> = Vec::new();
        for (k, n) in self.nodes.iter().enumerate() {
            let ns = lab.add_ns(&format!("n{k}-{}", short(&n.name)))?;
            let j = zone_index(&n.zone);
            sw_lines.push(format!("link add v{k} type veth peer name eth0 netns {ns}"));
            sw_lines.push(format!("link set v{k} master z{j} up"));
            let mut l = vec!["link set eth0 up".to_string()];
            for a in &n.addrs {
                l.push(match a {
                    IpAddr::V4(_) => format!("addr add {a}/32 dev eth0"),
                    IpAddr::V6(_) => format!("addr add {a}/128 dev eth0 nodad"),
                });
            }
            for m in self.nodes.iter().filter(|m| m.name != n.name) {
                let path = match (&n.zone, &m.zone) {
                    (Some(a), Some(b)) => topo.path(Some(a), Some(b)),
                    _ => Path::NoZone,
                };
                for a in &m.addrs {
                    l.push(match &path {
                        Path::SameZone => format!("route add {} dev eth0", host_prefix(a)),
                        Path::Firewalls { route, .. } => {
                            let g = self.plan.firewalls.iter().position(|f| f.name == route[0].firewall).expect("a firewall of the plan");
                            via(a, g, "eth0")
                        }
                        Path::NoFirewall | Path::NoZone => via(a, rt_index, "eth0"),
                    });
                }
            }
            l.extend(self.forward_routes(n));
            nodes.insert(n.name.clone(), ns.clone());
            node_lines.push((ns, l));
        }
        ip_batch(Some(&sw), &sw_lines)?;
        for (ns, lines) in fw_lines.iter().chain([(router.clone(), rt_lines)].iter()).chain(node_lines.iter()) {
            ip_batch(Some(ns), lines)?;
        }
        Ok(Twin { lab, nodes, firewalls, router })
    }

    /// Routes to the public addresses of port forwards, through the
    /// firewall that forwards them, for nodes in one of its zones (the
    /// public address is nobody's: only the firewall's DNAT delivers it).
    fn forward_routes(&self, n: &TwinNode) -> Vec<String> {
        let mut publics = std::collections::BTreeSet::new();
        for f in &self.plan.forwards {
            let Some(g) = self.plan.firewalls.iter().position(|x| x.name == f.firewall) else { continue };
            let attached = n.zone.as_ref().is_some_and(|z| self.plan.firewalls[g].zones.contains(z));
            if attached && f.host != n.name && n.addrs.iter().any(|a| a.is_ipv4() == f.public.is_ipv4()) {
                publics.insert((f.public, g));
            }
        }
        publics.into_iter().map(|(a, g)| via(&a, g, "eth0")).collect()
    }

    /// The zones of the nodes, in the inventory's order, then "no zone".
    fn zones(&self) -> Vec<String> {
        let mut zones: Vec<String> = self.plan.topology.zones.clone();
        for f in &self.plan.firewalls {
            for z in &f.zones {
                if !zones.contains(z) {
                    zones.push(z.clone());
                }
            }
        }
        if self.nodes.iter().any(|n| n.zone.is_none()) {
            zones.push(NO_ZONE.to_string());
        }
        zones
    }

    /// A firewall's routes: destinations in its own zones on their bridge;
    /// others through the next firewall on a shortest path from the nearest
    /// of its zones.
    fn firewall_routes(&self, topo: &Topology, zones: &[String], own: &[String], attached: &[usize]) -> Vec<String> {
        let mut lines = Vec::new();
        for m in &self.nodes {
            let Some(dz) = &m.zone else { continue };
            if let Some(j) = zones.iter().position(|z| z == dz).filter(|j| attached.contains(j)) {
                for a in &m.addrs {
                    lines.push(format!("route add {} dev z{j}", host_prefix(a)));
                }
                continue;
            }
            let best = own
                .iter()
                .filter_map(|u| match topo.path(Some(u), Some(dz)) {
                    Path::Firewalls { route, .. } => Some((route.len(), u, route[0].firewall.clone())),
                    _ => None,
                })
                .min_by_key(|(len, _, _)| *len);
            if let Some((_, u, next)) = best {
                let j = zones.iter().position(|z| z == u).expect("own zone");
                let g = self.plan.firewalls.iter().position(|f| f.name == next).expect("a firewall of the plan");
                for a in &m.addrs {
                    lines.push(via(a, g, &format!("z{j}")));
                }
            }
        }
        lines
    }
}

fn gateway_lines(dev: &str, index: usize) -> Vec<String> {
    vec![
        format!("link set {dev} up"),
        format!("addr add {}/32 dev {dev}", gateway_v4(index)),
        format!("addr add {}/64 dev {dev} nodad", gateway_v6(index)),
    ]
}

fn router_sysctls(ns: &str) -> io::Result<()> {
    sysctl(
        ns,
        &[
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv6.conf.all.forwarding", "1"),
            ("net.ipv4.conf.all.rp_filter", "0"),
            ("net.ipv4.conf.default.rp_filter", "0"),
            ("net.ipv4.conf.all.send_redirects", "0"),
            ("net.ipv4.conf.default.send_redirects", "0"),
        ],
    )
}
