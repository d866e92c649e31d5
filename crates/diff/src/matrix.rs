//! Two versions of a matrix compared flow by flow: added, removed, renamed
//! and changed flows (ports widened or narrowed, ends, protocols,
//! conditions), each with the cites of both versions; and the features,
//! parameters and roles that came or went.

use std::collections::BTreeMap;

use portmatrix_model::matrix::Flow;
use portmatrix_model::{Matrix, PortSet};
use serde::Serialize;

/// One flow as a diff shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowSummary {
    pub id: String,
    pub from: String,
    pub to: String,
    pub service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    pub purpose: String,
    pub cite: String,
}

/// One way a flow changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Change {
    /// More ports open (with the parameters' defaults).
    PortsWidened {
        added: PortSet,
        old: PortSet,
        new: PortSet,
    },
    /// Fewer ports open.
    PortsNarrowed {
        removed: PortSet,
        old: PortSet,
        new: PortSet,
    },
    /// Both: some ports in, some out.
    PortsChanged {
        added: PortSet,
        removed: PortSet,
        old: PortSet,
        new: PortSet,
    },
    /// The port expression changed: it resolves to the same ports, or a
    /// parameter without default leaves the ports open to the deployment.
    PortsRewritten {
        old: String,
        new: String,
    },
    SourcePorts {
        old: String,
        new: String,
    },
    From {
        old: String,
        new: String,
    },
    To {
        old: String,
        new: String,
    },
    Proto {
        old: String,
        new: String,
    },
    Icmp {
        old: String,
        new: String,
    },
    Condition {
        old: String,
        new: String,
    },
    SameHost {
        old: bool,
        new: bool,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct FlowChange {
    pub id: String,
    /// The flow's id in the old version, when it changed too (paired by
    /// its ends, protocol and overlapping ports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_id: Option<String>,
    pub changes: Vec<Change>,
    pub old_cite: String,
    pub new_cite: String,
    pub purpose: String,
}

/// A flow whose id changed while everything it opens stayed the same.
#[derive(Debug, Clone, Serialize)]
pub struct Renamed {
    pub old_id: String,
    pub new_id: String,
    pub old_cite: String,
    pub new_cite: String,
}

/// Names that came or went (features, parameters, roles, groups).
#[derive(Debug, Clone, Default, Serialize)]
pub struct NameChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MatrixDiff {
    pub old: String,
    pub new: String,
    pub added: Vec<FlowSummary>,
    pub removed: Vec<FlowSummary>,
    pub changed: Vec<FlowChange>,
    pub renamed: Vec<Renamed>,
    pub features: NameChanges,
    pub params: NameChanges,
    pub roles: NameChanges,
}

impl MatrixDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.renamed.is_empty()
            && [&self.features, &self.params, &self.roles].iter().all(|n| n.added.is_empty() && n.removed.is_empty())
    }
}

fn names(v: &[portmatrix_model::matrix::Name]) -> String {
    v.iter().map(|n| n.value.as_str()).collect::<Vec<_>>().join(", ")
}

fn protos(f: &Flow) -> String {
    f.proto.iter().map(|p| p.value.as_str()).collect::<Vec<_>>().join(", ")
}

fn icmp(f: &Flow) -> String {
    f.icmp.iter().map(|t| t.value.as_str()).collect::<Vec<_>>().join(", ")
}

fn expr_text(e: &Option<portmatrix_model::Spanned<portmatrix_model::PortExpr>>) -> String {
    e.as_ref().map(|e| e.value.to_string()).unwrap_or_default()
}

/// The ports a flow opens with the matrix's parameter defaults (`None` when
/// a parameter has no default).
fn resolved(m: &Matrix, f: &Flow) -> Option<PortSet> {
    match &f.ports {
        Some(e) => e.resolve(&|n| m.param_default(n)).ok(),
        None => Some(PortSet::new()),
    }
}

fn service(m: &Matrix, f: &Flow) -> String {
    if !f.icmp.is_empty() || f.ports.is_none() {
        let t = icmp(f);
        return if t.is_empty() { protos(f) } else { format!("{} {t}", protos(f)) };
    }
    let ports = resolved(m, f).map(|p| p.to_string()).unwrap_or_else(|| expr_text(&f.ports));
    format!("{}/{ports}", protos(f))
}

fn summary(m: &Matrix, f: &Flow) -> FlowSummary {
    FlowSummary {
        id: f.id.value.clone(),
        from: names(&f.from),
        to: names(&f.to),
        service: service(m, f),
        when: f.when.as_ref().map(|w| w.value.to_string()),
        purpose: f.purpose.clone(),
        cite: f.cite.clone(),
    }
}

fn port_change(old_m: &Matrix, a: &Flow, new_m: &Matrix, b: &Flow) -> Option<Change> {
    let (old, new) = (expr_text(&a.ports), expr_text(&b.ports));
    match (resolved(old_m, a), resolved(new_m, b)) {
        (Some(x), Some(y)) if x == y => (old != new).then_some(Change::PortsRewritten { old, new }),
        (Some(x), Some(y)) => {
            let (added, removed) = (y.difference(&x), x.difference(&y));
            Some(match (added.is_empty(), removed.is_empty()) {
                (false, true) => Change::PortsWidened { added, old: x, new: y },
                (true, false) => Change::PortsNarrowed { removed, old: x, new: y },
                _ => Change::PortsChanged { added, removed, old: x, new: y },
            })
        }
        _ => (old != new).then_some(Change::PortsRewritten { old, new }),
    }
}

fn changes(old_m: &Matrix, a: &Flow, new_m: &Matrix, b: &Flow) -> Vec<Change> {
    let mut out: Vec<Change> = port_change(old_m, a, new_m, b).into_iter().collect();
    let mut pair = |old: String, new: String, make: fn(String, String) -> Change| {
        if old != new {
            out.push(make(old, new));
        }
    };
    pair(expr_text(&a.src_ports), expr_text(&b.src_ports), |old, new| Change::SourcePorts { old, new });
    pair(names(&a.from), names(&b.from), |old, new| Change::From { old, new });
    pair(names(&a.to), names(&b.to), |old, new| Change::To { old, new });
    pair(protos(a), protos(b), |old, new| Change::Proto { old, new });
    pair(icmp(a), icmp(b), |old, new| Change::Icmp { old, new });
    let cond = |f: &Flow| f.when.as_ref().map(|w| w.value.to_string()).unwrap_or_else(|| "always".into());
    pair(cond(a), cond(b), |old, new| Change::Condition { old, new });
    if a.same_host != b.same_host {
        out.push(Change::SameHost { old: a.same_host, new: b.same_host });
    }
    out
}

/// Same ends and protocols, and ports that meet (or both without ports).
fn same_service(old_m: &Matrix, a: &Flow, new_m: &Matrix, b: &Flow) -> bool {
    if names(&a.from) != names(&b.from) || names(&a.to) != names(&b.to) || protos(a) != protos(b) {
        return false;
    }
    match (resolved(old_m, a), resolved(new_m, b)) {
        (Some(x), Some(y)) => x.overlaps(&y) || (x.is_empty() && y.is_empty()),
        _ => expr_text(&a.ports) == expr_text(&b.ports),
    }
}

fn name_changes<'a>(old: impl Iterator<Item = &'a str>, new: impl Iterator<Item = &'a str> + Clone) -> NameChanges {
    let old: Vec<&str> = old.collect();
    let new: Vec<&str> = new.collect();
    NameChanges {
        added: new.iter().filter(|n| !old.contains(n)).map(|n| n.to_string()).collect(),
        removed: old.iter().filter(|n| !new.contains(n)).map(|n| n.to_string()).collect(),
    }
}

pub fn diff_matrices(old: &Matrix, new: &Matrix) -> MatrixDiff {
    let by_id = |m: &'_ Matrix| -> BTreeMap<String, usize> { m.flows.iter().enumerate().map(|(i, f)| (f.id.value.clone(), i)).collect() };
    let (old_ids, new_ids) = (by_id(old), by_id(new));
    let mut changed = Vec::new();
    for f in &new.flows {
        if let Some(&i) = old_ids.get(&f.id.value) {
            let c = changes(old, &old.flows[i], new, f);
            if !c.is_empty() {
                changed.push(FlowChange {
                    id: f.id.value.clone(),
                    old_id: None,
                    changes: c,
                    old_cite: old.flows[i].cite.clone(),
                    new_cite: f.cite.clone(),
                    purpose: f.purpose.clone(),
                });
            }
        }
    }
    let mut removed: Vec<&Flow> = old.flows.iter().filter(|f| !new_ids.contains_key(&f.id.value)).collect();
    let mut added: Vec<&Flow> = new.flows.iter().filter(|f| !old_ids.contains_key(&f.id.value)).collect();
    // A removed and an added flow that open exactly the same: a rename.
    let mut renamed = Vec::new();
    removed.retain(|r| match added.iter().position(|a| changes(old, r, new, a).is_empty()) {
        Some(i) => {
            let a = added.remove(i);
            renamed.push(Renamed {
                old_id: r.id.value.clone(),
                new_id: a.id.value.clone(),
                old_cite: r.cite.clone(),
                new_cite: a.cite.clone(),
            });
            false
        }
        None => true,
    });
    // Then a removed and an added flow between the same ends over the same
    // protocols whose ports meet: one flow that changed (and was renamed).
    removed.retain(|r| match added.iter().position(|a| same_service(old, r, new, a)) {
        Some(i) => {
            let a = added.remove(i);
            changed.push(FlowChange {
                id: a.id.value.clone(),
                old_id: Some(r.id.value.clone()),
                changes: changes(old, r, new, a),
                old_cite: r.cite.clone(),
                new_cite: a.cite.clone(),
                purpose: a.purpose.clone(),
            });
            false
        }
        None => true,
    });
    MatrixDiff {
        old: old.key(),
        new: new.key(),
        added: added.into_iter().map(|f| summary(new, f)).collect(),
        removed: removed.into_iter().map(|f| summary(old, f)).collect(),
        changed,
        renamed,
        features: name_changes(old.features.keys().map(|k| k.value.as_str()), new.features.keys().map(|k| k.value.as_str())),
        params: name_changes(old.params.keys().map(|k| k.value.as_str()), new.params.keys().map(|k| k.value.as_str())),
        roles: name_changes(old.roles.keys().map(|k| k.value.as_str()), new.roles.keys().map(|k| k.value.as_str())),
    }
}
