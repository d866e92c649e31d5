//! Pass 3: management access (ssh, or RDP on Windows) from the inventory's
//! admin networks to every managed host, so a generated firewall never
//! locks its administrators out.

use std::collections::HashMap;
use std::sync::Arc;

use portmatrix_model::{Diagnostic, Os, PortSet, Proto};

use crate::deployment::Deployment;
use crate::endpoints::Endpoints;
use crate::flows::FlowOutput;
use crate::types::{Connection, Endpoint, HostInfo, Reason, Sources};

/// The flow ids management access carries (product `inventory`).
pub const ADMIN_SSH: &str = "admin-ssh";
pub const ADMIN_RDP: &str = "admin-rdp";

/// The management port of a host: RDP on Windows, ssh elsewhere.
pub fn admin_service(os: Option<Os>) -> (&'static str, u16, &'static str) {
    if os == Some(Os::Windows) {
        (ADMIN_RDP, 3389, "remote desktop")
    } else {
        (ADMIN_SSH, 22, "ssh")
    }
}

pub(crate) fn admin_access(dep: &Deployment, eps: &Endpoints, hosts: &[HostInfo], warnings: &mut Vec<Diagnostic>, out: &mut FlowOutput) {
    let inv = &dep.inventory;
    let Some(admin) = &inv.admin else {
        warnings.push(
            Diagnostic::warning("no-admin-network", &dep.file, inv.inventory.span, "the inventory declares no admin network")
                .with_help("add `admin: { networks: [NAME] }`; without it, generated firewalls keep no management access"),
        );
        return;
    };
    let members: Vec<Arc<Endpoint>> = admin.networks.iter().filter_map(|n| eps.networks.get(n.value.as_str()).cloned()).collect();
    let sources = Arc::new(Sources::new(0, members));
    // One reason per operating system, shared by its hosts' connections.
    let mut reasons: HashMap<&str, Arc<Reason>> = HashMap::new();
    for h in hosts.iter().filter(|h| h.managed) {
        if !out.wants_host(&h.name) {
            // A focused plan names the admin set as the whole plan does.
            out.note_sources(&sources);
            continue;
        }
        let (flow, port, what) = admin_service(h.os);
        let reason = reasons.entry(flow).or_insert_with(|| {
            Arc::new(Reason {
                product: "inventory".into(),
                matrix: inv.inventory.value.clone(),
                flow: flow.into(),
                cite: "inventory admin networks".into(),
                purpose: format!("management access ({what}) from the admin networks"),
            })
        });
        out.keep(Connection {
            sources: sources.clone(),
            dst: eps.hosts[h.name.as_str()].clone(),
            proto: Proto::Tcp,
            ports: PortSet::single(port),
            src_ports: None,
            icmp: Vec::new(),
            reasons: vec![reason.clone()],
        });
    }
}
