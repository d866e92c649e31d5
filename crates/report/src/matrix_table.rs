//! A matrix as a table of flows, optionally filtered.

use portmatrix_model::{Flow, Matrix, PortSet, Proto};

use crate::table::Table;

/// Which flows to show.
#[derive(Debug, Clone, Default)]
pub struct FlowFilter {
    /// Flows where this role (id, title or alias, case-insensitive) is an end.
    pub role: Option<String>,
    /// Flows conditioned on this feature.
    pub feature: Option<String>,
    /// Flows whose listener ports (parameters at defaults) contain this port.
    pub port: Option<u16>,
    pub proto: Option<Proto>,
}

/// Whether `name` (a role id, title or alias) designates role `id` of `m`.
pub fn role_matches(m: &Matrix, id: &str, name: &str) -> bool {
    let Some(r) = m.role(id) else { return false };
    id.eq_ignore_ascii_case(name) || r.title.eq_ignore_ascii_case(name) || r.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
}

/// The roles at one end of a flow, groups expanded.
pub fn end_roles<'m>(m: &'m Matrix, names: &'m [portmatrix_model::matrix::Name]) -> Vec<&'m str> {
    names.iter().flat_map(|n| if n.value == "any" { vec!["any"] } else { m.expand(n) }).collect()
}

/// The listener port set with parameters at their defaults; `None` when a
/// parameter has no default.
pub fn default_ports(m: &Matrix, f: &Flow) -> Option<PortSet> {
    f.ports.as_ref().map_or(Some(PortSet::new()), |p| p.resolve(&|n| m.param_default(n)).ok())
}

impl FlowFilter {
    pub fn keep(&self, m: &Matrix, f: &Flow) -> bool {
        if let Some(role) = &self.role {
            let ends = end_roles(m, &f.from).into_iter().chain(end_roles(m, &f.to));
            let named_directly = f.from.iter().chain(&f.to).any(|n| n.value.eq_ignore_ascii_case(role));
            if !named_directly && !ends.into_iter().any(|r| role_matches(m, r, role)) {
                return false;
            }
        }
        if let Some(feat) = &self.feature {
            if !f.when.as_ref().is_some_and(|w| w.features().iter().any(|x| x.value == *feat)) {
                return false;
            }
        }
        if let Some(p) = self.proto {
            if !f.protos().any(|x| x == p) {
                return false;
            }
        }
        if let Some(port) = self.port {
            if !default_ports(m, f).is_some_and(|s| s.contains(port)) {
                return false;
            }
        }
        true
    }
}

fn join(names: &[portmatrix_model::matrix::Name]) -> String {
    names.iter().map(|n| n.value.as_str()).collect::<Vec<_>>().join(", ")
}

/// Ports as written, with the default value when a parameter is involved.
pub fn ports_cell(m: &Matrix, f: &Flow) -> String {
    if !f.icmp.is_empty() {
        return f.icmp.iter().map(|t| t.value.as_str()).collect::<Vec<_>>().join(", ");
    }
    let Some(expr) = &f.ports else {
        return if f.protos().any(|p| !p.has_ports()) { "echo-request".into() } else { String::new() };
    };
    let written = expr.to_string();
    match expr.resolve(&|n| m.param_default(n)) {
        Ok(set) if set.to_string() != written => format!("{written} (= {set})"),
        Ok(_) => written,
        Err(_) => format!("{written} (set by deployment)"),
    }
}

pub fn flows_table(m: &Matrix, filter: &FlowFilter) -> Table {
    let mut t = Table::new(&["id", "from", "to", "proto", "ports", "src ports", "app", "when", "purpose", "cite"]).mono(&[
        "id",
        "ports",
        "src ports",
        "when",
    ]);
    for f in m.flows.iter().filter(|f| filter.keep(m, f)) {
        t.push(vec![
            f.id.value.clone(),
            join(&f.from),
            join(&f.to),
            f.protos().map(|p| p.as_str()).collect::<Vec<_>>().join("/"),
            ports_cell(m, f),
            f.src_ports.as_ref().map(|p| p.to_string()).unwrap_or_default(),
            f.app.clone().unwrap_or_default(),
            f.when.as_ref().map(|w| w.to_string()).unwrap_or_default(),
            f.purpose.clone(),
            f.cite.clone(),
        ]);
    }
    t
}
