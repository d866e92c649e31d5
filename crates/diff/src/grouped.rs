//! The atom delta of two plans, computed without expanding every atom.
//!
//! [`atoms`](crate::deployment::atoms) expands each connection into one atom
//! per source × reason: a flow from 2,000 hosts to 2,000 hosts is 4 million
//! atoms, and a 10,000-host plan needed more than 22 GiB. Here atoms are
//! grouped by everything but their source (a [`GroupKey`]: destination,
//! protocol, source ports, ICMP types, flow). A group is held as the source
//! sets that reach it (each set interned once, however many connections
//! share it) with the ports of each. A group whose sets and ports are equal
//! in both plans has no delta and is skipped; the others are compared source
//! by source, and groups with the same contents on both sides (typically
//! every destination of one flow) are compared once.
//!
//! The result equals [`atom_delta`](crate::deployment::atom_delta) of the
//! expanded atoms (a property test checks it); memory grows with the
//! connections, the distinct source sets and the delta, not with
//! sources × destinations.

use std::collections::BTreeMap;

// Hashing the group keys (strings) dominated with the default hasher; nothing here
// depends on iteration order (the results are B-tree maps).
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::sync::Arc;

use portmatrix_model::{FlowTag, IcmpType, PortSet, Proto};
use portmatrix_plan::{Connection, EndpointKind, Plan, Sources};

use crate::deployment::{present, AtomKey, Atoms};

/// An endpoint's identity across two plans (its addresses may differ).
type Member<'p> = (&'p str, EndpointKind);

/// Index of an interned source set.
type SetId = u32;

/// An atom without its source: the atoms of a group differ only in source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey<'p> {
    dst: &'p str,
    dst_kind: EndpointKind,
    proto: Proto,
    src_ports: Option<&'p PortSet>,
    icmp: &'p [IcmpType],
    product: &'p str,
    flow: &'p str,
}

impl<'p> GroupKey<'p> {
    fn atom(&self, src: Member<'p>) -> AtomKey {
        AtomKey {
            src: src.0.to_string(),
            src_kind: src.1,
            dst: self.dst.to_string(),
            dst_kind: self.dst_kind,
            proto: self.proto,
            src_ports: self.src_ports.map(|p| p.to_string()),
            icmp: self.icmp.to_vec(),
            flow: FlowTag::new(self.product, self.flow),
        }
    }
}

/// The source sets reaching one group, with the union of their ports.
type Contents = BTreeMap<SetId, PortSet>;

/// Source sets of both plans by their members' identities, so that equal
/// sets of the two plans get one id.
#[derive(Default)]
struct Interner<'p> {
    ids: HashMap<Vec<Member<'p>>, SetId>,
    members: Vec<Vec<Member<'p>>>,
}

impl<'p> Interner<'p> {
    fn intern(&mut self, sources: &'p Sources) -> SetId {
        let mut members: Vec<Member<'p>> = sources.members.iter().map(|m| (m.name.as_str(), m.kind)).collect();
        members.sort_unstable();
        members.dedup();
        if let Some(&id) = self.ids.get(&members) {
            return id;
        }
        let id = SetId::try_from(self.members.len()).expect("fewer than 2^32 distinct source sets");
        self.ids.insert(members.clone(), id);
        self.members.push(members);
        id
    }
}

/// A plan's atoms, grouped by everything but the source.
fn groups<'p>(plan: &'p Plan, sets: &mut Interner<'p>) -> HashMap<GroupKey<'p>, Contents> {
    // Connections share their `Arc<Sources>`: intern each set once.
    let mut by_arc: HashMap<*const Sources, SetId> = HashMap::default();
    let mut out: HashMap<GroupKey<'p>, Contents> = HashMap::default();
    for c in &plan.connections {
        let set = *by_arc.entry(Arc::as_ptr(&c.sources)).or_insert_with(|| sets.intern(&c.sources));
        let ports = present(c);
        for r in &c.reasons {
            let slot = out.entry(group_key(c, &r.product, &r.flow)).or_default().entry(set).or_default();
            *slot = slot.union(&ports);
        }
    }
    out
}

fn group_key<'p>(c: &'p Connection, product: &'p str, flow: &'p str) -> GroupKey<'p> {
    GroupKey { dst: &c.dst.name, dst_kind: c.dst.kind, proto: c.proto, src_ports: c.src_ports.as_ref(), icmp: &c.icmp, product, flow }
}

/// One source whose ports into a group change.
struct MemberDelta<'p> {
    member: Member<'p>,
    added: PortSet,
    removed: PortSet,
}

/// Per source of either side, the ports added and removed between two
/// contents of a group (the destination is not excluded here: the caller
/// does that, so that one comparison serves every group with these contents).
fn member_delta<'p>(old: &Contents, new: &Contents, sets: &Interner<'p>) -> Vec<MemberDelta<'p>> {
    let mut ports: HashMap<Member<'p>, [PortSet; 2]> = HashMap::default();
    for (side, contents) in [old, new].into_iter().enumerate() {
        for (&set, p) in contents {
            for &m in &sets.members[set as usize] {
                let slot = &mut ports.entry(m).or_default()[side];
                *slot = slot.union(p);
            }
        }
    }
    ports
        .into_iter()
        .filter_map(|(member, [a, b])| {
            let (added, removed) = (b.difference(&a), a.difference(&b));
            (!added.is_empty() || !removed.is_empty()).then_some(MemberDelta { member, added, removed })
        })
        .collect()
}

/// The ports added and removed per atom from `old` to `new`: the same as
/// `atom_delta(&atoms(old), &atoms(new))`, without building either.
pub fn grouped_delta(old: &Plan, new: &Plan) -> (Atoms, Atoms) {
    let mut sets = Interner::default();
    let a = groups(old, &mut sets);
    let b = groups(new, &mut sets);
    let empty = Contents::new();
    let mut compared: HashMap<(&Contents, &Contents), Vec<MemberDelta>> = HashMap::default();
    let (mut added, mut removed) = (Atoms::new(), Atoms::new());
    let keys: HashSet<&GroupKey> = a.keys().chain(b.keys()).collect();
    for key in keys {
        let (x, y) = (a.get(key).unwrap_or(&empty), b.get(key).unwrap_or(&empty));
        if x == y {
            continue;
        }
        let delta = compared.entry((x, y)).or_insert_with(|| member_delta(x, y, &sets));
        // A host among the sources of its own connection reaches itself
        // locally: no atom (as `Connection::remote_sources`).
        for d in delta.iter().filter(|d| d.member != (key.dst, key.dst_kind)) {
            if !d.added.is_empty() {
                added.insert(key.atom(d.member), d.added.clone());
            }
            if !d.removed.is_empty() {
                removed.insert(key.atom(d.member), d.removed.clone());
            }
        }
    }
    (added, removed)
}
