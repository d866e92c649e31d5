//! Pass 2b: the inventory's own flows (monitoring, backup, NOC ping),
//! planned like catalog flows under the product name `site`.

use std::sync::Arc;

use portmatrix_model::{IcmpType, Proto, RoleRef};

use crate::deployment::Deployment;
use crate::endpoints::Endpoints;
use crate::flows::{connect, role_endpoints, source_set, FlowOutput, Shape};
use crate::types::{Endpoint, Reason};

/// The product name site flows carry in their reasons (`site/noc-ping`).
pub const SITE: &str = "site";

pub(crate) fn plan_site_flows(dep: &Deployment, eps: &Endpoints, out: &mut FlowOutput) {
    for f in &dep.inventory.flows {
        let reason = Arc::new(Reason {
            product: SITE.into(),
            matrix: dep.inventory.inventory.value.clone(),
            flow: f.id.value.clone(),
            cite: format!("site flow (owner: {})", f.owner),
            purpose: f.purpose.clone(),
        });
        let src = ends(dep, eps, &f.from);
        let dst = ends(dep, eps, &f.to);
        if src.is_empty() || dst.is_empty() {
            continue;
        }
        // Validated at load: numbers only, so resolving cannot fail.
        let resolve =
            |e: &Option<portmatrix_model::Spanned<portmatrix_model::PortExpr>>| e.as_ref().and_then(|e| e.resolve(&|_| None).ok());
        let shape = Shape {
            ports: resolve(&f.ports).unwrap_or_default(),
            src_ports: resolve(&f.src_ports),
            icmp: if f.icmp.is_empty() { vec![IcmpType::EchoRequest] } else { f.icmp.iter().map(|t| t.value).collect() },
        };
        let sources = source_set(out, &src);
        let protos: Vec<Proto> = f.proto.iter().map(|p| p.value).collect();
        for d in dst {
            connect(dep, eps, None, &protos, &sources, &d, &shape, &reason, out);
        }
    }
}

/// The endpoints a site flow's end names: hosts, networks, `PRODUCT/ROLE`.
fn ends(dep: &Deployment, eps: &Endpoints, names: &[portmatrix_model::matrix::Name]) -> Vec<Arc<Endpoint>> {
    let mut out: Vec<Arc<Endpoint>> = Vec::new();
    for n in names {
        if let Some(h) = eps.hosts.get(n.value.as_str()) {
            out.push(h.clone());
        } else if let Some(net) = eps.networks.get(n.value.as_str()) {
            out.push(net.clone());
        } else if let Ok(r) = RoleRef::parse(&n.value, n.span) {
            out.extend(role_endpoints(dep, eps, &r.product.value, &r.role.value));
        }
    }
    out.sort();
    out.dedup();
    out
}
