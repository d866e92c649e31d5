//! Pass 4: two different roles of one host listening on the same port.

use portmatrix_model::decode::Cx;
use portmatrix_model::RoleRef;

use crate::deployment::Deployment;
use crate::flows::Listeners;

pub(crate) fn listener_conflicts(dep: &Deployment, listeners: &Listeners, cx: &mut Cx) {
    let names = |roles: &std::collections::BTreeSet<RoleRef>| roles.iter().map(RoleRef::to_string).collect::<Vec<_>>().join("+");
    let mut keys: Vec<_> = listeners.keys().collect();
    keys.sort();
    for key in keys {
        let entries = &listeners[key];
        for (j, (roles_j, ports_j, tag_j)) in entries.iter().enumerate() {
            for (roles_i, ports_i, tag_i) in &entries[..j] {
                if roles_i.is_disjoint(roles_j) && ports_i.overlaps(ports_j) {
                    let span = dep.inventory.hosts.get_key_value(key.0.as_str()).map(|(k, _)| k.span).unwrap_or_default();
                    cx.error(
                        "port-conflict",
                        span,
                        format!(
                            "host `{}`: {} and {} both listen on {}/{} ({tag_i}, {tag_j})",
                            key.0,
                            names(roles_i),
                            names(roles_j),
                            key.1,
                            ports_i.intersection(ports_j)
                        ),
                    )
                    .help = Some("put these roles on different hosts, or change one port through its parameter".into());
                }
            }
        }
    }
}
