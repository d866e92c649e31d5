//! The intent table compiled into a decision structure over (destination,
//! protocol, port or ICMP type, source, source port), so that one record is
//! classified with a handful of binary searches.
//!
//! The answer is a *match set*: the intents a record matches, after the
//! priority of [`crate::intent`] (connections, then local flows, then FQDN
//! egress). A match set of one intent has that intent's number as its id;
//! larger sets are numbered after the intents. The semantics are those of
//! `portmatrix_plan::explain` (see `tests/explain_agreement.rs`), narrowed by
//! the ICMP type when a record carries one.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;

use crate::intent::{AddrRange, Basis, IntentId, IntentTable, IpProto};

/// Identity of a match set (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SetId(pub u32);

/// A flow as the matcher sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: IpProto,
    pub src_port: Option<u16>,
    /// Destination port; ignored for protocols without ports.
    pub dst_port: Option<u16>,
    /// ICMP type when the record has one.
    pub icmp_type: Option<u8>,
}

impl Probe {
    /// The same flow seen from the other end (a reply).
    pub fn reversed(self) -> Self {
        Self { src: self.dst, dst: self.src, src_port: self.dst_port, dst_port: self.src_port, ..self }
    }
}

trait Key: Copy + Ord + Hash + std::fmt::Debug + Send + Sync + 'static {
    const ZERO: Self;
    const MAX: Self;
    fn succ(self) -> Self;
    fn of(a: IpAddr) -> Option<Self>;
}

impl Key for u32 {
    const ZERO: Self = 0;
    const MAX: Self = u32::MAX;
    fn succ(self) -> Self {
        self + 1
    }
    fn of(a: IpAddr) -> Option<Self> {
        match a {
            IpAddr::V4(v) => Some(u32::from(v)),
            IpAddr::V6(_) => None,
        }
    }
}

impl Key for u128 {
    const ZERO: Self = 0;
    const MAX: Self = u128::MAX;
    fn succ(self) -> Self {
        self + 1
    }
    fn of(a: IpAddr) -> Option<Self> {
        match a {
            IpAddr::V6(v) => Some(u128::from(v)),
            IpAddr::V4(_) => None,
        }
    }
}

/// Sorted, disjoint inclusive ranges.
type Ranges<K> = Arc<[(K, K)]>;

fn in_ranges<K: Ord + Copy>(r: &[(K, K)], x: K) -> bool {
    let i = r.partition_point(|&(lo, _)| lo <= x);
    i > 0 && x <= r[i - 1].1
}

/// A piecewise-constant map from keys to values: `starts[i]..starts[i+1]`
/// maps to `values[i]`; `starts[0]` is always the smallest key.
#[derive(Debug, Clone)]
struct Steps<K, V> {
    starts: Vec<K>,
    values: Vec<V>,
}

impl<K: Copy + Ord, V> Steps<K, V> {
    fn get(&self, x: K) -> &V {
        let i = self.starts.partition_point(|&s| s <= x);
        &self.values[i - 1]
    }
}

/// Splits the key space at the bounds of `items` and gives each piece the
/// set of items covering it: `(start, covering item indices)`.
fn segments<K: Key>(items: &[Vec<(K, K)>]) -> Vec<(K, Vec<usize>)> {
    let mut events: Vec<(K, bool, usize)> = Vec::new(); // (key, is_start, item)
    for (i, ranges) in items.iter().enumerate() {
        for &(lo, hi) in ranges {
            events.push((lo, true, i));
            if hi < K::MAX {
                events.push((hi.succ(), false, i));
            }
        }
    }
    events.sort_unstable();
    let mut active: Vec<usize> = Vec::new();
    let mut out: Vec<(K, Vec<usize>)> = vec![(K::ZERO, Vec::new())];
    let mut j = 0;
    while j < events.len() {
        let k = events[j].0;
        while j < events.len() && events[j].0 == k {
            let (_, start, i) = events[j];
            if start {
                active.push(i);
            } else if let Some(p) = active.iter().position(|&x| x == i) {
                active.swap_remove(p);
            }
            j += 1;
        }
        let mut set = active.clone();
        set.sort_unstable();
        if out.last().is_some_and(|(s, _)| *s == k) {
            out.last_mut().expect("non-empty").1 = set;
        } else if out.last().is_some_and(|(_, v)| *v == set) {
            // same cover as the piece before: extend it
        } else {
            out.push((k, set));
        }
    }
    out
}

/// What a leaf knows about one candidate intent.
#[derive(Debug)]
struct Candidate<K> {
    intent: IntentId,
    basis: Basis,
    src: Ranges<K>,
    src_ports: Option<Arc<[(u16, u16)]>>,
}

impl<K: Key> Candidate<K> {
    fn matches(&self, src: K, sport: Option<u16>) -> bool {
        in_ranges(&self.src, src)
            && match (&self.src_ports, sport) {
                (Some(sp), Some(p)) => in_ranges(sp, p),
                // explain: an unknown source port does not rule a flow out
                _ => true,
            }
    }
}

#[derive(Debug)]
enum Leaf<K> {
    /// One candidate: checked directly against its shared source ranges.
    Single(Candidate<K>),
    /// Several: the source space partitioned into pieces of equal answer.
    Multi(Steps<K, SrcPiece>),
}

#[derive(Debug, Clone)]
enum SrcPiece {
    Fixed(Option<SetId>),
    /// Some candidate restricts source ports: answer by port, and for an
    /// unknown source port.
    BySport {
        steps: Steps<u16, Option<SetId>>,
        unknown: Option<SetId>,
    },
}

#[derive(Debug)]
enum ProtoIndex {
    Ports(Steps<u16, Option<usize>>),
    Icmp { typed: Vec<(u8, Option<usize>)>, other_type: Option<usize>, untyped: Option<usize> },
}

#[derive(Debug)]
struct Node {
    protos: Vec<(IpProto, ProtoIndex)>,
}

#[derive(Debug)]
struct FamilyIndex<K> {
    dst: Steps<K, Option<usize>>,
    nodes: Vec<Node>,
    leaves: Vec<Leaf<K>>,
}

/// The compiled intent table.
#[derive(Debug)]
pub struct Matcher {
    v4: FamilyIndex<u32>,
    v6: FamilyIndex<u128>,
    /// Members of the match sets larger than one, by `SetId - intents`.
    sets: Vec<Vec<IntentId>>,
    intents: usize,
    forwards: Vec<crate::intent::PortForward>,
}

struct Builder<'t> {
    table: &'t IntentTable,
    sets: HashMap<Vec<IntentId>, SetId>,
    set_list: Vec<Vec<IntentId>>,
}

impl Builder<'_> {
    fn set_of(&mut self, mut members: Vec<(IntentId, Basis)>) -> Option<SetId> {
        let top = members.iter().map(|m| m.1).min()?;
        members.retain(|m| m.1 == top);
        let mut ids: Vec<IntentId> = members.into_iter().map(|m| m.0).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() == 1 {
            return Some(SetId(ids[0].0));
        }
        let n = self.table.intents.len() as u32;
        let next = SetId(n + self.set_list.len() as u32);
        Some(*self.sets.entry(ids.clone()).or_insert_with(|| {
            self.set_list.push(ids);
            next
        }))
    }

    fn family<K: Key>(&mut self) -> FamilyIndex<K> {
        // Per intent: its ranges of this family, if it can match at all here.
        let v4 = K::of(IpAddr::from([0, 0, 0, 0])).is_some();
        let mut cands: Vec<Arc<Candidate<K>>> = Vec::new();
        let mut dsts: Vec<Vec<(K, K)>> = Vec::new();
        let mut protos: Vec<IpProto> = Vec::new();
        let mut port_sets: Vec<Vec<(u16, u16)>> = Vec::new();
        let mut types: Vec<Option<Vec<u8>>> = Vec::new();
        for it in &self.table.intents {
            // ICMP is IPv4's and ICMPv6 IPv6's, as in explain.
            if (it.proto == IpProto::ICMP && !v4) || (it.proto == IpProto::ICMPV6 && v4) {
                continue;
            }
            let conv = |rs: &[AddrRange]| -> Vec<(K, K)> { rs.iter().filter_map(|r| Some((K::of(r.lo)?, K::of(r.hi)?))).collect() };
            let src = conv(&it.sources);
            let dst = conv(&it.destinations);
            if src.is_empty() || dst.is_empty() {
                continue;
            }
            cands.push(Arc::new(Candidate {
                intent: it.id,
                basis: it.basis,
                src: src.into(),
                src_ports: it.src_ports.as_ref().map(|s| s.clone().into()),
            }));
            dsts.push(dst);
            protos.push(it.proto);
            port_sets.push(it.ports.clone());
            types.push(it.icmp_types.clone());
        }
        let mut nodes: Vec<Node> = Vec::new();
        let mut node_ids: HashMap<Vec<usize>, usize> = HashMap::new();
        let mut leaves: Vec<Leaf<K>> = Vec::new();
        let mut leaf_ids: HashMap<Vec<usize>, usize> = HashMap::new();
        let mut starts = Vec::new();
        let mut values = Vec::new();
        for (start, cover) in segments(&dsts) {
            let node = if cover.is_empty() {
                None
            } else if let Some(&n) = node_ids.get(&cover) {
                Some(n)
            } else {
                let node = self.node(&cover, &cands, &protos, &port_sets, &types, &mut leaves, &mut leaf_ids);
                nodes.push(node);
                node_ids.insert(cover, nodes.len() - 1);
                Some(nodes.len() - 1)
            };
            starts.push(start);
            values.push(node);
        }
        FamilyIndex { dst: Steps { starts, values }, nodes, leaves }
    }

    #[allow(clippy::too_many_arguments)]
    fn node<K: Key>(
        &mut self,
        cover: &[usize],
        cands: &[Arc<Candidate<K>>],
        protos: &[IpProto],
        port_sets: &[Vec<(u16, u16)>],
        types: &[Option<Vec<u8>>],
        leaves: &mut Vec<Leaf<K>>,
        leaf_ids: &mut HashMap<Vec<usize>, usize>,
    ) -> Node {
        let mut by_proto: Vec<(IpProto, Vec<usize>)> = Vec::new();
        for &i in cover {
            match by_proto.iter_mut().find(|(p, _)| *p == protos[i]) {
                Some((_, v)) => v.push(i),
                None => by_proto.push((protos[i], vec![i])),
            }
        }
        by_proto.sort_by_key(|(p, _)| *p);
        let mut out = Vec::new();
        for (proto, members) in by_proto {
            let mut leaf = |set: &[usize], b: &mut Self| -> Option<usize> {
                if set.is_empty() {
                    return None;
                }
                if let Some(&l) = leaf_ids.get(set) {
                    return Some(l);
                }
                leaves.push(b.leaf(set, cands));
                leaf_ids.insert(set.to_vec(), leaves.len() - 1);
                Some(leaves.len() - 1)
            };
            let index = if proto.is_icmp() {
                let mut all_types: Vec<u8> = members.iter().filter_map(|&i| types[i].as_ref()).flatten().copied().collect();
                all_types.sort_unstable();
                all_types.dedup();
                let any: Vec<usize> = members.iter().copied().filter(|&i| types[i].is_none()).collect();
                let typed = all_types
                    .iter()
                    .map(|&t| {
                        let set: Vec<usize> =
                            members.iter().copied().filter(|&i| types[i].as_ref().is_none_or(|v| v.contains(&t))).collect();
                        (t, leaf(&set, self))
                    })
                    .collect();
                ProtoIndex::Icmp { typed, other_type: leaf(&any, self), untyped: leaf(&members, self) }
            } else {
                let ranges: Vec<Vec<(u16, u16)>> = members.iter().map(|&i| port_sets[i].clone()).collect();
                let mut starts = Vec::new();
                let mut values = Vec::new();
                for (start, cover) in segments_u16(&ranges) {
                    let set: Vec<usize> = cover.iter().map(|&k| members[k]).collect();
                    starts.push(start);
                    values.push(leaf(&set, self));
                }
                ProtoIndex::Ports(Steps { starts, values })
            };
            out.push((proto, index));
        }
        Node { protos: out }
    }

    fn leaf<K: Key>(&mut self, set: &[usize], cands: &[Arc<Candidate<K>>]) -> Leaf<K> {
        if let [one] = set {
            let c = &cands[*one];
            return Leaf::Single(Candidate { intent: c.intent, basis: c.basis, src: c.src.clone(), src_ports: c.src_ports.clone() });
        }
        let srcs: Vec<Vec<(K, K)>> = set.iter().map(|&i| cands[i].src.to_vec()).collect();
        let mut starts = Vec::new();
        let mut values = Vec::new();
        for (start, cover) in segments(&srcs) {
            let members: Vec<&Candidate<K>> = cover.iter().map(|&k| &*cands[set[k]]).collect();
            let piece = if members.iter().all(|c| c.src_ports.is_none()) {
                SrcPiece::Fixed(self.set_of(members.iter().map(|c| (c.intent, c.basis)).collect()))
            } else {
                let restricted: Vec<Vec<(u16, u16)>> =
                    members.iter().map(|c| c.src_ports.as_ref().map_or_else(|| vec![(0, u16::MAX)], |s| s.to_vec())).collect();
                let mut s_starts = Vec::new();
                let mut s_values = Vec::new();
                for (s, cov) in segments_u16(&restricted) {
                    s_starts.push(s);
                    s_values.push(self.set_of(cov.iter().map(|&k| (members[k].intent, members[k].basis)).collect()));
                }
                let unknown = self.set_of(members.iter().map(|c| (c.intent, c.basis)).collect());
                SrcPiece::BySport { steps: Steps { starts: s_starts, values: s_values }, unknown }
            };
            starts.push(start);
            values.push(piece);
        }
        Leaf::Multi(Steps { starts, values })
    }
}

/// [`segments`] for ports.
fn segments_u16(items: &[Vec<(u16, u16)>]) -> Vec<(u16, Vec<usize>)> {
    let wide: Vec<Vec<(u32, u32)>> = items.iter().map(|r| r.iter().map(|&(a, b)| (u32::from(a), u32::from(b))).collect()).collect();
    segments(&wide).into_iter().filter(|(s, _)| *s <= u32::from(u16::MAX)).map(|(s, c)| (s as u16, c)).collect()
}

impl<K: Key> FamilyIndex<K> {
    fn lookup(&self, src: K, dst: K, p: &Probe) -> Option<SetId> {
        let node = (*self.dst.get(dst))?;
        let (_, index) = self.nodes[node].protos.iter().find(|(proto, _)| *proto == p.proto)?;
        let leaf = match index {
            ProtoIndex::Ports(steps) => *steps.get(p.dst_port?),
            ProtoIndex::Icmp { typed, other_type, untyped } => match p.icmp_type {
                None => *untyped,
                Some(t) => match typed.binary_search_by_key(&t, |(k, _)| *k) {
                    Ok(i) => typed[i].1,
                    Err(_) => *other_type,
                },
            },
        }?;
        match &self.leaves[leaf] {
            Leaf::Single(c) => c.matches(src, p.src_port).then_some(SetId(c.intent.0)),
            Leaf::Multi(steps) => match steps.get(src) {
                SrcPiece::Fixed(s) => *s,
                SrcPiece::BySport { steps, unknown } => match p.src_port {
                    Some(sp) => *steps.get(sp),
                    None => *unknown,
                },
            },
        }
    }
}

impl Matcher {
    pub fn new(table: &IntentTable) -> Self {
        let mut b = Builder { table, sets: HashMap::new(), set_list: Vec::new() };
        let v4 = b.family::<u32>();
        let v6 = b.family::<u128>();
        Self { v4, v6, sets: b.set_list, intents: table.intents.len(), forwards: table.forwards.clone() }
    }

    /// The match set of a flow, or `None` when no intent allows it. A flow
    /// to a forwarded public address is looked up at the address it is
    /// forwarded to.
    pub fn lookup(&self, p: &Probe) -> Option<SetId> {
        let translated;
        let p = match crate::intent::PortForward::translate(&self.forwards, p.dst, p.proto, p.dst_port.filter(|_| p.proto.has_ports())) {
            Some(private) => {
                translated = Probe { dst: private, ..*p };
                &translated
            }
            None => p,
        };
        match (p.src, p.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => self.v4.lookup(u32::from(s), u32::from(d), p),
            (IpAddr::V6(s), IpAddr::V6(d)) => self.v6.lookup(u128::from(s), u128::from(d), p),
            _ => None,
        }
    }

    /// Fast path for IPv4 records (no `IpAddr` round trip).
    /// `p`'s addresses are not read: `src` and `dst` are.
    pub fn lookup_v4(&self, src: u32, dst: u32, p: &Probe) -> Option<SetId> {
        let mut dst = dst;
        if !self.forwards.is_empty() {
            let port = p.dst_port.filter(|_| p.proto.has_ports());
            if let Some(IpAddr::V4(private)) =
                crate::intent::PortForward::translate(&self.forwards, IpAddr::from(dst.to_be_bytes()), p.proto, port)
            {
                dst = u32::from(private);
            }
        }
        self.v4.lookup(src, dst, p)
    }

    /// Every match set (id, members), singletons included.
    pub fn all_sets(&self) -> Vec<(SetId, Vec<IntentId>)> {
        let mut out: Vec<(SetId, Vec<IntentId>)> = (0..self.intents as u32).map(|i| (SetId(i), vec![IntentId(i)])).collect();
        out.extend(self.sets.iter().enumerate().map(|(k, m)| (SetId((self.intents + k) as u32), m.clone())));
        out
    }

    /// The intents of a match set, as an owned list.
    pub fn intents_of(&self, s: SetId) -> Vec<IntentId> {
        let i = s.0 as usize;
        if i < self.intents {
            vec![IntentId(s.0)]
        } else {
            self.sets.get(i - self.intents).cloned().unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::{FlowReason, Intent};
    use proptest::prelude::*;

    // Small address and port spaces so that random ranges overlap often.
    fn addr(v4: bool, x: u8) -> IpAddr {
        if v4 {
            IpAddr::from([10, 0, 0, x])
        } else {
            IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(x)])
        }
    }

    fn ranges(v4: bool) -> impl Strategy<Value = Vec<AddrRange>> {
        prop::collection::vec((0u8..40, 0u8..8), 1..3).prop_map(move |v| {
            crate::intent::merge_ranges(
                v.into_iter().map(|(a, w)| AddrRange { lo: addr(v4, a), hi: addr(v4, a.saturating_add(w)) }).collect(),
            )
        })
    }

    fn ports() -> impl Strategy<Value = Vec<(u16, u16)>> {
        prop::collection::btree_set((0u16..30, 0u16..4), 1..3).prop_map(|s| {
            let set = portmatrix_model::PortSet::from_ranges(s.into_iter().map(|(a, w)| (a, a + w)));
            set.ranges().collect()
        })
    }

    fn intent() -> impl Strategy<Value = Intent> {
        (
            any::<bool>(),
            prop_oneof![Just(IpProto::TCP), Just(IpProto::UDP), Just(IpProto::ICMP), Just(IpProto::ICMPV6)],
            0u8..3,
            prop::option::of(ports()),
            prop::option::of(prop::collection::vec(0u8..4, 0..3)),
        )
            .prop_flat_map(|(v4, proto, basis, sports, types)| (ranges(v4), ranges(v4), ports(), Just((proto, basis, sports, types))))
            .prop_map(|(sources, destinations, ports, (proto, basis, sports, types))| Intent {
                id: IntentId(0),
                basis: [Basis::Connection, Basis::Local, Basis::FqdnEgress][basis as usize],
                proto,
                sources,
                source_names: vec![],
                destinations,
                destination: "d".into(),
                destination_is_host: true,
                ports: if proto.has_ports() { ports } else { vec![] },
                src_ports: if proto.has_ports() { sports } else { None },
                icmp_types: if proto.is_icmp() { types } else { None },
                icmp_names: vec![],
                reasons: vec![FlowReason { tag: portmatrix_model::FlowTag::new("p", "f"), cite: String::new(), purpose: String::new() }],
            })
    }

    fn probe() -> impl Strategy<Value = Probe> {
        (
            any::<bool>(),
            0u8..50,
            0u8..50,
            prop_oneof![Just(IpProto::TCP), Just(IpProto::UDP), Just(IpProto::ICMP), Just(IpProto::ICMPV6), Just(IpProto(47))],
            prop::option::of(0u16..36),
            0u16..36,
            prop::option::of(0u8..5),
        )
            .prop_map(|(v4, s, d, proto, sp, dp, t)| Probe {
                src: addr(v4, s),
                dst: addr(v4, d),
                proto,
                src_port: sp.filter(|_| proto.has_ports()),
                dst_port: Some(dp).filter(|_| proto.has_ports()),
                icmp_type: t.filter(|_| proto.is_icmp()),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        /// The compiled matcher answers exactly what the obvious reference does.
        #[test]
        fn matcher_equals_reference(mut intents in prop::collection::vec(intent(), 1..12), probes in prop::collection::vec(probe(), 64)) {
            for (i, it) in intents.iter_mut().enumerate() {
                it.id = IntentId(i as u32);
            }
            let table = IntentTable { inventory: "t".into(), intents, endpoints: vec![], forwards: vec![] };
            let m = Matcher::new(&table);
            for p in &probes {
                let mut want = crate::reference::match_set(&table, p);
                want.sort();
                let got = m.lookup(p).map(|s| m.intents_of(s)).unwrap_or_default();
                prop_assert_eq!(got, want, "probe {:?}", p);
            }
        }
    }
}
