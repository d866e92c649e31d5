//! The planner: `plan(deployment) -> Plan`, in named passes.
//!
//! 1. `endpoints`: hosts and networks as prefixes (networks lose the
//!    addresses of other zones);
//! 2. `flows`: active flows → connections, local flows, FQDN egress, gaps,
//!    and what the inventory leaves out; `site`: the inventory's own flows;
//! 3. `access`: management access to managed hosts;
//! 4. `conflicts`: roles of one host listening on one port;
//! 5. `merge` (here): deterministic order, identical connections merged;
//! 6. `enforcement` (here, on `topology`): the firewalls on each path, and
//!    warnings for traffic that nothing enforces.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use portmatrix_model::decode::Cx;
use portmatrix_model::diag::Diagnostics;
use portmatrix_model::Diagnostic;

use crate::deployment::Deployment;
use crate::topology::{Enforcement, Path, Topology};
use crate::types::{Connection, Endpoint, EndpointKind, FirewallInfo, FqdnEgress, LocalFlow, Plan};
use crate::{access, conflicts, endpoints, flows, site};

pub fn plan(dep: &Deployment) -> Result<Plan, Vec<Diagnostic>> {
    plan_focused(dep, None)
}

/// The plan with only the connections and local flows of `host` (hosts,
/// firewalls, forwards and the rest as in [`plan`]): what compiling that
/// one host needs, without building every other host's connections. The
/// same errors as [`plan`]; warnings about other hosts' connections (no
/// common address family) and about the whole deployment's paths (zones
/// without a firewall, unenforced paths) are left to [`plan`].
/// `Plan::groups` is the whole plan's, so that address sets get the same
/// names as in a full compile.
pub fn plan_for_host(dep: &Deployment, host: &str) -> Result<Plan, Vec<Diagnostic>> {
    plan_focused(dep, Some(host))
}

/// From this many hosts on, a plan copies the hosts' summaries on a thread
/// of its own (below, starting it costs more than it saves).
const PARALLEL_HOSTS: usize = 2_000;

fn plan_focused(dep: &Deployment, focus: Option<&str>) -> Result<Plan, Vec<Diagnostic>> {
    let inv = &dep.inventory;
    let mut diags = Diagnostics::default();
    let mut warnings: Vec<Diagnostic> = Vec::new();

    // The hosts' summaries are only needed for management access: on a
    // large inventory they are copied on the other core meanwhile.
    let (hosts, eps, mut out) = std::thread::scope(|scope| {
        let hosts = (inv.hosts.len() >= PARALLEL_HOSTS).then(|| scope.spawn(|| endpoints::host_infos(inv)));
        let eps = endpoints::build(inv, &dep.file, &mut warnings);
        let mut out = flows::plan_flows(dep, &eps, &mut diags, focus);
        site::plan_site_flows(dep, &eps, &mut out);
        let hosts = match hosts {
            Some(h) => h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            None => endpoints::host_infos(inv),
        };
        (hosts, eps, out)
    });
    warnings.append(&mut out.warnings);
    access::admin_access(dep, &eps, &hosts, &mut warnings, &mut out);
    conflicts::listener_conflicts(dep, &out.listeners, &mut Cx { file: &dep.file, diags: &mut diags });
    if diags.has_errors() {
        return Err(diags.sorted());
    }

    let firewalls: Vec<FirewallInfo> = inv
        .firewalls
        .iter()
        .map(|(k, f)| FirewallInfo { name: k.value.clone(), zones: f.zones.iter().map(|z| z.value.clone()).collect() })
        .collect();
    let topology = Topology::build(inv.zones.keys().map(|z| z.value.clone()).collect(), &firewalls);
    let mut plan = Plan {
        inventory: inv.inventory.value.clone(),
        hosts,
        firewalls,
        topology,
        connections: merge(out.connections),
        local: sorted_local(out.local),
        egress_fqdn: sorted_egress(out.egress),
        not_deployed: out.not_deployed,
        forwards: forwards(inv),
        warnings,
        groups: out.groups.into_values().collect(),
        host_index: Default::default(),
    };
    if focus.is_none() {
        let enforcement = enforcement_warnings(dep, &plan);
        plan.warnings.extend(enforcement);
    }
    Ok(plan)
}

/// The inventory's port forwards, one per protocol; the private address is
/// the host's first of the public address's family (validated at load).
fn forwards(inv: &portmatrix_model::Inventory) -> Vec<crate::types::Forward> {
    let mut out = Vec::new();
    for (fw, f) in &inv.firewalls {
        for pf in &f.forwards {
            let Some(host) = inv.hosts.get(pf.to.value.as_str()) else { continue };
            let Some(private) = host.addresses.iter().map(|a| a.value).find(|a| a.is_ipv4() == pf.public.value.is_ipv4()) else { continue };
            let Ok(ports) = pf.ports.resolve(&|_| None) else { continue };
            for p in &pf.proto {
                out.push(crate::types::Forward {
                    firewall: fw.value.clone(),
                    public: pf.public.value,
                    host: pf.to.value.clone(),
                    private,
                    proto: p.value,
                    ports: ports.clone(),
                });
            }
        }
    }
    out
}

/// Deterministic order; identical connections from several flows merge.
fn merge(mut connections: Vec<Connection>) -> Vec<Connection> {
    connections.sort_by(|a, b| {
        (&a.dst.name, a.proto, &a.ports, &a.src_ports, &a.icmp, a.sources.id, &a.reasons).cmp(&(
            &b.dst.name,
            b.proto,
            &b.ports,
            &b.src_ports,
            &b.icmp,
            b.sources.id,
            &b.reasons,
        ))
    });
    let mut merged: Vec<Connection> = Vec::with_capacity(connections.len());
    for c in connections {
        if let Some(last) = merged.last_mut() {
            if last.dst == c.dst
                && last.proto == c.proto
                && last.ports == c.ports
                && last.src_ports == c.src_ports
                && last.icmp == c.icmp
                && Arc::ptr_eq(&last.sources, &c.sources)
            {
                for r in c.reasons {
                    if !last.reasons.contains(&r) {
                        last.reasons.push(r);
                    }
                }
                continue;
            }
        }
        merged.push(c);
    }
    merged
}

fn sorted_local(mut local: Vec<LocalFlow>) -> Vec<LocalFlow> {
    local.sort_by(|a, b| (&a.host, a.proto, &a.ports, &a.reason).cmp(&(&b.host, b.proto, &b.ports, &b.reason)));
    local.dedup_by(|a, b| a.host == b.host && a.proto == b.proto && a.ports == b.ports && a.reason == b.reason);
    local
}

fn sorted_egress(mut egress: Vec<FqdnEgress>) -> Vec<FqdnEgress> {
    egress.sort_by(|a, b| (&a.role, a.proto, &a.ports, &a.reason).cmp(&(&b.role, b.proto, &b.ports, &b.reason)));
    egress
}

/// Says where the plan's connections are not enforced: zones on no
/// firewall (when the inventory has firewalls), endpoints without a zone,
/// and zone pairs whose traffic to unmanaged destinations nothing filters;
/// and that FQDN egress is not compiled into any firewall.
fn enforcement_warnings(dep: &Deployment, plan: &Plan) -> Vec<Diagnostic> {
    let inv = &dep.inventory;
    let file = &dep.file;
    let mut out = Vec::new();
    let mut used_zones: BTreeMap<&str, usize> = BTreeMap::new();
    let mut zoneless: BTreeMap<&str, usize> = BTreeMap::new();
    // (from zone, to zone) -> destinations that nothing protects
    let mut unenforced: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    // A source set is shared by many connections: group its members by zone once.
    let mut by_set: HashMap<usize, BTreeMap<Option<&str>, Vec<&Endpoint>>> = HashMap::new();
    for c in &plan.connections {
        let groups = by_set.entry(c.sources.id).or_insert_with(|| {
            let mut g: BTreeMap<Option<&str>, Vec<&Endpoint>> = BTreeMap::new();
            for m in &c.sources.members {
                g.entry(m.zone.as_deref()).or_default().push(m);
            }
            g
        });
        let host_firewall = c.dst.kind == EndpointKind::Host && plan.host(&c.dst.name).is_some_and(|h| h.managed);
        for (zone, members) in groups.iter() {
            // The destination among its own sources reaches itself locally.
            let remote = members.len() - usize::from(*zone == c.dst.zone.as_deref() && c.sources.contains(&c.dst));
            if remote == 0 {
                continue;
            }
            match zone {
                Some(z) => *used_zones.entry(z).or_default() += remote,
                None => members.iter().filter(|m| !m.is(&c.dst)).for_each(|m| *zoneless.entry(m.name.as_str()).or_default() += 1),
            }
            match &c.dst.zone {
                Some(z) => *used_zones.entry(z.as_str()).or_default() += remote,
                None => *zoneless.entry(c.dst.name.as_str()).or_default() += remote,
            }
            let enf = Enforcement { host_firewall, path: plan.topology.path(*zone, c.dst.zone.as_deref()) };
            if let (false, Path::NoFirewall) = (enf.is_enforced(), &enf.path) {
                let key = (zone.unwrap_or_default().to_string(), c.dst.zone.clone().unwrap_or_default());
                let list = unenforced.entry(key).or_default();
                if !list.contains(&c.dst.name.as_str()) {
                    list.push(&c.dst.name);
                }
            }
        }
    }
    if !plan.firewalls.is_empty() {
        for z in plan.topology.isolated_zones() {
            if let (Some(n), Some((k, _))) = (used_zones.get(z), inv.zones.get_key_value(z)) {
                out.push(
                    Diagnostic::warning("zone-without-firewall", file, k.span, format!("zone `{z}` is on no firewall, but {n} planned path(s) touch it"))
                        .with_help("add the zone to the `zones:` of the firewall that joins it to the rest; until then only host firewalls enforce its traffic"),
                );
            }
        }
        for (name, n) in &zoneless {
            let span = inv.hosts.get_key_value(*name).map(|(k, _)| k.span).or(inv.networks.get_key_value(*name).map(|(k, _)| k.span));
            out.push(
                Diagnostic::warning(
                    "endpoint-without-zone",
                    file,
                    span.unwrap_or_default(),
                    format!("`{name}` has no zone: no network firewall rule covers its {n} planned path(s)"),
                )
                .with_help("give it `zone: NAME`, one of the zones the firewalls join"),
            );
        }
    }
    for ((from, to), dsts) in &unenforced {
        let shown: Vec<&str> = dsts.iter().copied().take(4).collect();
        let more = if dsts.len() > 4 { format!(" and {} more", dsts.len() - 4) } else { String::new() };
        out.push(
            Diagnostic::warning("unenforced", file, inv.inventory.span, format!("traffic from zone `{from}` to zone `{to}` crosses no firewall and ends on unmanaged destinations ({}{more}): nothing enforces the plan there", shown.join(", ")))
                .with_help("join the zones with a firewall in `firewalls:`, or manage the destinations (`managed: true`) so their host firewalls enforce it"),
        );
    }
    if !plan.egress_fqdn.is_empty() {
        let roles: Vec<String> =
            plan.egress_fqdn.iter().map(|e| e.role.to_string()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        out.push(
            Diagnostic::warning(
                "fqdn-egress-not-compiled",
                file,
                inv.inventory.span,
                format!(
                    "egress to destinations known only by name ({}) is listed in the plan but compiled into no firewall",
                    roles.join(", ")
                ),
            )
            .with_help("allow it on your proxy or egress firewall by name, or bind the role to a network with its addresses"),
        );
    }
    out
}
