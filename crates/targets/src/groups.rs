//! Names of source groups: who a rule's sources are, in words a reviewer
//! recognises (`acd_lb`, `stack_sbc`, `agents`), computed once per plan and
//! shared by every ruleset.
//!
//! A group is a plan's [`Sources`]: the initiators of one or more flows.
//! Its name describes its members exactly where it can: the roles whose
//! every host is a member (`product_role`, roles of one product joined),
//! then the hosts no such role covers, then the networks. A description that
//! does not fit [`GroupName::MAX`] is abbreviated, and names that still
//! coincide get a numeric suffix, decided over the whole plan so that a
//! name does not depend on which hosts are compiled.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use smallvec::SmallVec;

use portmatrix_plan::{Endpoint, EndpointKind, Plan, Sources};

use crate::ir::GroupName;

/// Who a group's members are: kind and name of each endpoint, sorted by
/// name (then kind), as a plan's [`Sources`] keeps them.
type Members<'e> = Vec<(EndpointKind, &'e str)>;

fn members_of<'e>(eps: impl IntoIterator<Item = &'e Endpoint>) -> Members<'e> {
    let mut m: Members = eps.into_iter().map(|e| (e.kind, e.name.as_str())).collect();
    m.sort_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
    m.dedup();
    m
}

/// A digest of members, to find a group with the same members without
/// keeping a copy of every name: candidates are compared in full.
fn digest(m: &[(EndpointKind, &str)]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    m.hash(&mut h);
    h.finish()
}

/// Every source group of a plan with its name. One name always stands for
/// the same members: groups with equal members share it, and a subset of a
/// group (the sources whose path crosses one network firewall) is named by
/// its own members.
#[derive(Debug, Clone, Default)]
pub struct AddressBook<'p> {
    /// Keyed by the address of the shared `Sources` (the plan holds them
    /// for as long as the book is used; hashing thousands of members per
    /// lookup would cost more than the rules).
    by_sources: HashMap<usize, GroupName>,
    /// The groups by a digest of their members, with their names.
    by_members: HashMap<u64, Vec<(Arc<Sources>, GroupName)>>,
    /// Names given.
    taken: HashSet<String>,
    roles: RoleIndex<'p>,
}

fn key(s: &Arc<Sources>) -> usize {
    Arc::as_ptr(s) as usize
}

impl<'p> AddressBook<'p> {
    /// Names every source group the plan's connections use.
    pub fn of(plan: &'p Plan) -> Self {
        let mut book = AddressBook { roles: RoleIndex::of(plan), ..AddressBook::default() };
        // The plan's groups, not its connections: a plan focused on one
        // host names its sets as the whole plan does.
        let mut groups: Vec<&Arc<Sources>> = plan.groups.iter().collect();
        // Members decide the order (then creation), so equal descriptions
        // get their suffixes the same way on every run.
        groups.sort_by(|a, b| a.members.cmp(&b.members).then(a.id.cmp(&b.id)));
        for g in groups {
            let name = book.name_group(g);
            book.by_sources.insert(key(g), name);
        }
        book
    }

    /// The name of a group of this plan.
    pub fn name(&self, sources: &Arc<Sources>) -> GroupName {
        self.by_sources.get(&key(sources)).cloned().unwrap_or_else(|| GroupName::new_unchecked(format!("sources{}", sources.id)))
    }

    /// The name already given to a group with exactly these members.
    fn named(&self, m: &[(EndpointKind, &str)], digest: u64) -> Option<&GroupName> {
        let same =
            |s: &Sources| s.members.len() == m.len() && s.members.iter().zip(m).all(|(e, (kind, name))| e.kind == *kind && e.name == *name);
        self.by_members.get(&digest)?.iter().find(|(s, _)| same(s)).map(|(_, n)| n)
    }

    /// The name of some of a group's members (those whose path crosses a
    /// network firewall): the name of a group with exactly these members,
    /// or their own description — with a suffix from a hash of the members
    /// when that description is taken or abbreviated, so that the name
    /// does not depend on which firewall asks first.
    pub fn subset<'e>(&self, members: impl IntoIterator<Item = &'e Endpoint>) -> GroupName {
        let m = members_of(members);
        if let Some(n) = self.named(&m, digest(&m)) {
            return n.clone();
        }
        let base = describe(&m, &self.roles);
        if !self.taken.contains(&base) && !base.contains("_and") {
            return GroupName::new_unchecked(base);
        }
        // Hosts first, then networks, each by name: the order the suffix
        // has always been computed in.
        let mut by_kind = m.clone();
        by_kind.sort();
        let mut h: u32 = 0x811c_9dc5;
        for (kind, name) in &by_kind {
            for b in name.bytes().chain([*kind as u8, 0]) {
                h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
            }
        }
        GroupName::new_unchecked(with_suffix(&base, &format!("_{:03x}", h & 0xfff)))
    }

    /// Names a group, once: the same members always get the same name, and
    /// a description another group already carries gets a numeric suffix.
    fn name_group(&mut self, group: &Arc<Sources>) -> GroupName {
        // A plan's source sets are sorted by name and free of repeats: this
        // keeps their order, which `named` compares against.
        let m = members_of(group.members.iter().map(|e| &**e));
        let digest = digest(&m);
        if let Some(n) = self.named(&m, digest) {
            return n.clone();
        }
        let base = describe(&m, &self.roles);
        let mut name = base.clone();
        let mut n = 2;
        while self.taken.contains(&name) {
            name = with_suffix(&base, &format!("_{n}"));
            n += 1;
        }
        let g = GroupName::new_unchecked(name.clone());
        self.taken.insert(name);
        self.by_members.entry(digest).or_default().push((group.clone(), g.clone()));
        g
    }
}

/// `base` shortened so that `base + suffix` fits [`GroupName::MAX`].
pub(crate) fn with_suffix(base: &str, suffix: &str) -> String {
    with_suffix_max(base, suffix, GroupName::MAX)
}

/// `base` shortened so that `base + suffix` fits `max` bytes.
pub(crate) fn with_suffix_max(base: &str, suffix: &str, max: usize) -> String {
    let keep = max.saturating_sub(suffix.len()).min(base.len());
    format!("{}{suffix}", base[..keep].trim_end_matches('_'))
}

/// Which hosts carry which role, to tell whether a group holds all of a role.
/// Roles are numbered, so that counting them for a group of thousands of
/// hosts hashes each host's name once and no role names.
#[derive(Debug, Clone, Default)]
struct RoleIndex<'p> {
    /// Every (product, role) some host carries, sorted: a role's number is its index.
    names: Vec<(&'p str, &'p str)>,
    /// Each host's roles, by number (borrowing the plan's names: an index
    /// of 10,000 hosts copies none).
    roles_of: HashMap<&'p str, SmallVec<[usize; 2]>, foldhash::fast::RandomState>,
    /// How many hosts carry each role (a role written twice on a host counts twice).
    hosts_with: Vec<usize>,
    roles_of_product: HashMap<&'p str, usize>,
}

impl<'p> RoleIndex<'p> {
    fn of(plan: &'p Plan) -> Self {
        let distinct: BTreeSet<(&str, &str)> =
            plan.hosts.iter().flat_map(|h| h.roles.iter().map(|r| (r.product.value.as_str(), r.role.value.as_str()))).collect();
        let number: HashMap<(&str, &str), usize> = distinct.iter().enumerate().map(|(i, r)| (*r, i)).collect();
        let mut hosts_with = vec![0; distinct.len()];
        let mut roles_of = HashMap::with_capacity_and_hasher(plan.hosts.len(), foldhash::fast::RandomState::default());
        for h in &plan.hosts {
            let rs: SmallVec<[usize; 2]> = h.roles.iter().map(|r| number[&(r.product.value.as_str(), r.role.value.as_str())]).collect();
            for &r in &rs {
                hosts_with[r] += 1;
            }
            roles_of.insert(h.name.as_str(), rs);
        }
        let mut roles_of_product: HashMap<&str, usize> = HashMap::new();
        for (p, _) in &distinct {
            *roles_of_product.entry(p).or_default() += 1;
        }
        let names = distinct.into_iter().collect();
        RoleIndex { names, roles_of, hosts_with, roles_of_product }
    }
    fn roles(&self, host: &str) -> &[usize] {
        self.roles_of.get(host).map(SmallVec::as_slice).unwrap_or_default()
    }
}

/// The words of a group's name: complete roles (grouped by product), the
/// hosts they leave, the networks.
fn describe(members: &[(EndpointKind, &str)], idx: &RoleIndex) -> String {
    let hosts: Vec<&str> = members.iter().filter(|m| m.0 == EndpointKind::Host).map(|m| m.1).collect();
    let networks: Vec<&str> = members.iter().filter(|m| m.0 == EndpointKind::Network).map(|m| m.1).collect();
    let mut words: Vec<String> = Vec::new();
    let (chosen, named) = complete_roles(&hosts, idx);
    for (product, mut roles) in chosen {
        roles.sort();
        let all = idx.roles_of_product.get(product) == Some(&roles.len()) && roles.len() > 1;
        let short: Vec<&str> = roles.iter().map(|r| strip_product(product, r)).collect();
        words.push(if all { format!("{product}_all") } else { format!("{product}_{}", short.join("_")) });
    }
    words.extend(hosts.iter().filter(|h| !named.contains(*h)).map(|h| h.to_string()));
    words.extend(networks.iter().map(|n| n.to_string()));
    if words.is_empty() {
        return "nobody".into();
    }
    let full = sanitize(&words.join("_"));
    if full.len() <= GroupName::MAX {
        return full;
    }
    // Too long to read: the first word and how many more.
    let more = format!("_and{}", words.len() - 1);
    with_suffix(&sanitize(&words[0]), &more)
}

/// Roles every one of whose hosts is in the group, greedily covering the
/// hosts (most hosts first), grouped by product; and the hosts they name.
fn complete_roles<'a>(hosts: &[&'a str], idx: &'a RoleIndex) -> (BTreeMap<&'a str, Vec<&'a str>>, HashSet<&'a str>) {
    let roles_of: Vec<&[usize]> = hosts.iter().map(|h| idx.roles(h)).collect();
    let mut count = vec![0usize; idx.names.len()];
    for &r in roles_of.iter().copied().flatten() {
        count[r] += 1;
    }
    let mut complete: Vec<usize> = (0..count.len()).filter(|&r| count[r] > 0 && count[r] == idx.hosts_with[r]).collect();
    complete.sort_by(|&a, &b| count[b].cmp(&count[a]).then(idx.names[a].cmp(&idx.names[b])));
    // Each role's holders computed once: comparing every pair of roles'
    // holders by scanning the group made naming a 2,000-host group slow.
    let holders: Vec<Vec<&'a str>> =
        complete.iter().map(|r| hosts.iter().zip(&roles_of).filter(|(_, rs)| rs.contains(r)).map(|(h, _)| *h).collect()).collect();
    let mut covered: HashSet<&str> = HashSet::new();
    let mut named: HashSet<&'a str> = HashSet::new();
    let mut chosen: BTreeMap<&'a str, Vec<&'a str>> = BTreeMap::new();
    for (i, &role) in complete.iter().enumerate() {
        let held = &holders[i];
        if held.iter().all(|h| covered.contains(h)) {
            continue;
        }
        covered.extend(held.iter().copied());
        // Hosts that carry several roles, all of which the group holds (one
        // machine running a whole product): no role names them better than
        // another, so they keep their own names.
        let tied = holders.iter().enumerate().any(|(j, other)| j != i && other == held);
        if !tied {
            named.extend(held.iter().copied());
            let (product, name) = &idx.names[role];
            chosen.entry(*product).or_default().push(*name);
        }
    }
    (chosen, named)
}

/// `acd-lb` of product `acd` reads `lb`, and so does `lb-acd`.
fn strip_product<'a>(product: &str, role: &'a str) -> &'a str {
    let prefix = role.strip_prefix(product).and_then(|r| r.strip_prefix(['-', '_']));
    let suffix = role.strip_suffix(product).and_then(|r| r.strip_suffix(['-', '_']));
    prefix.or(suffix).filter(|r| !r.is_empty()).unwrap_or(role)
}

/// Lower-case letters, digits and single `_`, starting with a letter.
fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' };
        if c == '_' && (out.is_empty() || out.ends_with('_')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert(0, 'g');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_and_short() {
        for s in ["acd-lb", "9lives", "", "Ünïcode name", "a--b__c", &"x".repeat(100)] {
            let n = sanitize(s);
            assert!(GroupName::parse(&with_suffix(&n, "")).is_some(), "{s:?} -> {n:?}");
        }
        assert_eq!(sanitize("acd-LB"), "acd_lb");
        assert_eq!(sanitize("9lives"), "g9lives");
        assert_eq!(strip_product("acd", "acd-lb"), "lb");
        assert_eq!(strip_product("acd", "acd"), "acd");
        assert_eq!(with_suffix("abcdefghijklmnopqrstuvwxyz", "_2").len(), GroupName::MAX);
    }
}
