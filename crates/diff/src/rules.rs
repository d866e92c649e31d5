//! The rule changes of a deployment diff: per managed host and network
//! firewall, the rules its ruleset gains and loses, and the address sets
//! whose members change.
//!
//! A rule that differs only in the members of its source set is not listed
//! per ruleset: the set's change is listed once, with every ruleset that
//! holds it. That is how the rulesets themselves change (rules match on
//! named sets per source group) and what a reviewer needs: at 10,000 hosts,
//! removing five hosts changed 7,232 rules in 2,060 rulesets, each of which
//! had repeated its whole source list, for the members of a few sets.
//!
//! [`apply_rule_changes`] replays the changes on the old plan's rule
//! summaries ([`rule_summaries`]); a property test checks that this gives
//! the new plan's.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use ipnet::IpNet;
use portmatrix_model::{IcmpType, PortSet, Proto};
use portmatrix_plan::{Connection, EndpointKind, Plan};
use portmatrix_targets::flowrules::set_base_name;
use portmatrix_targets::{AddressBook, Family, GroupName, Rule, Shared};
use serde::Serialize;

/// Rules that appear or disappear in one host's or firewall's ruleset.
#[derive(Debug, Clone, Serialize)]
pub struct RuleDelta {
    pub subject: String,
    pub added: Vec<RuleSummary>,
    pub removed: Vec<RuleSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RuleSummary {
    /// The address set the sources are matched by, named as the rulesets
    /// name it ([`set_base_name`]: the source group's name, `_v6` for its
    /// IPv6 addresses; a ruleset holding two lists of one group suffixes
    /// the second).
    pub set: String,
    pub src: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dst: String,
    pub service: String,
    pub reasons: String,
}

/// An address set whose members change, in every ruleset listed: the rules
/// that match on it stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetChange {
    /// Named as in [`RuleSummary::set`].
    pub set: String,
    pub added: Vec<IpNet>,
    pub removed: Vec<IpNet>,
    /// The hosts and network firewalls whose rulesets hold the set with
    /// these members before and after.
    pub rulesets: Vec<String>,
    /// How many rules match on it in those rulesets.
    pub rules: usize,
    /// The members before and after, as a [`RuleSummary`]'s `src` shows them.
    #[serde(skip)]
    pub old: String,
    #[serde(skip)]
    pub new: String,
}

/// Per ruleset the rules it gains and loses, and the sets whose members change.
#[derive(Debug, Clone, Default)]
pub struct RuleChanges {
    pub rulesets: Vec<RuleDelta>,
    pub sets: Vec<SetChange>,
}

/// Address lists, each distinct one formatted once and numbered: at 10,000
/// hosts the same few source sets appear in thousands of changed rules.
#[derive(Default)]
struct Lists {
    /// Ids by [`quick_hash`].
    ids: rustc_hash::FxHashMap<u64, Vec<usize>>,
    texts: Vec<String>,
    lists: Vec<Vec<IpNet>>,
}

/// A hash of an address list's length and first members: a set's lists are
/// long and seldom share both, and hashing every member of thousands of
/// long lists was a tenth of the diff.
fn quick_hash(nets: &[IpNet]) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one((nets.len(), &nets[..nets.len().min(4)]))
}

impl Lists {
    fn id(&mut self, nets: &[IpNet]) -> usize {
        let bucket = self.ids.entry(quick_hash(nets)).or_default();
        if let Some(&i) = bucket.iter().find(|&&i| self.lists[i] == nets) {
            return i;
        }
        let i = self.texts.len();
        bucket.push(i);
        self.texts.push(nets.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "));
        self.lists.push(nets.to_vec());
        i
    }
    fn text(&mut self, nets: &[IpNet]) -> String {
        let i = self.id(nets);
        self.texts[i].clone()
    }
}

/// An address list hashed by [`quick_hash`], compared in full.
#[derive(PartialEq, Eq)]
struct Members<'r>(&'r [IpNet]);

impl std::hash::Hash for Members<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(quick_hash(self.0));
    }
}

fn summary_of(r: &Rule, lists: &mut Lists) -> RuleSummary {
    let service = if r.proto.has_ports() {
        let sp = r.sports.as_ref().map(|s| format!(" from port {s}")).unwrap_or_default();
        format!("{}/{}{sp}", r.proto, r.dports)
    } else {
        format!("{}/{}", r.proto, r.icmp.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(","))
    };
    RuleSummary {
        set: set_base_name(&r.group, r.family),
        src: lists.text(&r.src),
        dst: lists.text(&r.dst),
        service,
        reasons: portmatrix_targets::comment_of(&r.reasons),
    }
}

/// Exactly what a [`RuleSummary`] shows of a rule but its sources,
/// unformatted (ports of ICMP rules and ICMP types of port rules are not
/// shown, so not compared). Comparing keys and formatting only the rules
/// that differ keeps 10,000 hosts from formatting every address of every rule.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Shape<'r> {
    group: &'r GroupName,
    family: Family,
    dst: &'r [IpNet],
    proto: Proto,
    service: ServiceKey<'r>,
    reasons: String,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum ServiceKey<'r> {
    Ports(&'r PortSet, Option<&'r PortSet>),
    Icmp(&'r [IcmpType]),
}

/// A rule's sources, compared by a [`quick_hash`] first: the rules of a
/// changed host differ mostly in a long source list, which a full
/// comparison walks to its end.
type Sources<'r> = (u64, &'r [IpNet]);

fn key_of(r: &Rule) -> (Shape<'_>, Sources<'_>) {
    let service = if r.proto.has_ports() { ServiceKey::Ports(&r.dports, r.sports.as_ref()) } else { ServiceKey::Icmp(&r.icmp) };
    let shape = Shape {
        group: &r.group,
        family: r.family,
        dst: &r.dst,
        proto: r.proto,
        service,
        reasons: portmatrix_targets::comment_of(&r.reasons),
    };
    (shape, (quick_hash(&r.src), &r.src))
}

/// How two rule lists of one ruleset differ.
#[derive(Default)]
struct Split<'r> {
    removed: Vec<&'r Rule>,
    added: Vec<&'r Rule>,
    /// (old, new): the same rule but for the members of its source set.
    moved: Vec<(&'r Rule, &'r Rule)>,
}

/// Rules are matched by their shape (`key`'s first part); of those with the
/// same shape, rules with equal sources are kept, and one left on each side
/// is a change of its source set's members. Equal keys count once (a
/// ruleset is a set of rules).
fn split<'r, S: Ord, K: Ord>(a: &'r [Rule], b: &'r [Rule], key: impl Fn(&'r Rule) -> (S, K)) -> Split<'r> {
    let mut shapes: BTreeMap<S, [Vec<(K, &'r Rule)>; 2]> = BTreeMap::new();
    for (side, rules) in [a, b].into_iter().enumerate() {
        for r in rules {
            let (s, k) = key(r);
            shapes.entry(s).or_insert_with(|| [Vec::new(), Vec::new()])[side].push((k, r));
        }
    }
    let mut out = Split::default();
    let mut kept: Vec<&Rule> = Vec::new();
    for [mut xs, mut ys] in shapes.into_values() {
        for v in [&mut xs, &mut ys] {
            v.sort_by(|p, q| p.0.cmp(&q.0));
            v.dedup_by(|p, q| p.0 == q.0);
        }
        let (mut only_old, mut only_new) = (Vec::new(), Vec::new());
        let (mut xs, mut ys) = (xs.into_iter().peekable(), ys.into_iter().peekable());
        loop {
            let order = match (xs.peek(), ys.peek()) {
                (Some(x), Some(y)) => x.0.cmp(&y.0),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => break,
            };
            match order {
                Ordering::Less => only_old.extend(xs.next().map(|x| x.1)),
                Ordering::Greater => only_new.extend(ys.next().map(|y| y.1)),
                Ordering::Equal => {
                    kept.extend(xs.next().map(|x| x.1));
                    ys.next();
                }
            }
        }
        match (only_old.as_slice(), only_new.as_slice()) {
            ([x], [y]) => out.moved.push((x, y)),
            _ => {
                out.removed.extend(only_old);
                out.added.extend(only_new);
            }
        }
    }
    // A set's members change only when every rule on the old members moves
    // to the same new ones; otherwise the ruleset keeps the old set beside
    // a new one, and the rules are listed as removed and added.
    let mut to: rustc_hash::FxHashMap<(&GroupName, Family, Members), Option<&[IpNet]>> = Default::default();
    for r in kept {
        to.insert((&r.group, r.family, Members(&r.src)), None);
    }
    for (x, y) in &out.moved {
        to.entry((&x.group, x.family, Members(&x.src))).and_modify(|t| *t = t.filter(|n| *n == y.src.as_slice())).or_insert(Some(&y.src));
    }
    let moved = std::mem::take(&mut out.moved);
    for (x, y) in moved {
        if to[&(&x.group, x.family, Members(&x.src))].is_some() {
            out.moved.push((x, y));
        } else {
            out.removed.push(x);
            out.added.push(y);
        }
    }
    out
}

/// What one ruleset's split adds to the changes.
#[derive(Default)]
struct Collector {
    lists: Lists,
    rulesets: Vec<RuleDelta>,
    /// (set, old members, new members) → rulesets and rules.
    sets: BTreeMap<(String, usize, usize), (BTreeSet<String>, usize)>,
}

impl Collector {
    fn add(&mut self, subject: &str, split: Split) {
        let mut summaries = |rules: Vec<&Rule>| -> Vec<RuleSummary> {
            let set: BTreeSet<RuleSummary> = rules.into_iter().map(|r| summary_of(r, &mut self.lists)).collect();
            set.into_iter().collect()
        };
        let (removed, added) = (summaries(split.removed), summaries(split.added));
        if !removed.is_empty() || !added.is_empty() {
            self.rulesets.push(RuleDelta { subject: subject.to_string(), added, removed });
        }
        for (x, y) in split.moved {
            let key = (set_base_name(&x.group, x.family), self.lists.id(&x.src), self.lists.id(&y.src));
            let e = self.sets.entry(key).or_default();
            e.0.insert(subject.to_string());
            e.1 += 1;
        }
    }

    fn finish(self) -> RuleChanges {
        let Collector { lists, rulesets, sets } = self;
        let sets = sets
            .into_iter()
            .map(|((set, old, new), (subjects, rules))| {
                let (a, b): (BTreeSet<&IpNet>, BTreeSet<&IpNet>) = (lists.lists[old].iter().collect(), lists.lists[new].iter().collect());
                SetChange {
                    set,
                    added: b.difference(&a).map(|n| **n).collect(),
                    removed: a.difference(&b).map(|n| **n).collect(),
                    rulesets: subjects.into_iter().collect(),
                    rules,
                    old: lists.texts[old].clone(),
                    new: lists.texts[new].clone(),
                }
            })
            .collect();
        RuleChanges { rulesets, sets }
    }
}

/// Per managed host and network firewall (of either plan), the rules its
/// ruleset gains and loses, and the sets whose members change. A host whose
/// inbound connections are the same in both plans keeps its rules and is
/// not compiled, and only the rules that differ are formatted (at 10,000
/// hosts, compiling and formatting every host twice dominated the diff);
/// [`rule_deltas_exhaustive`] does neither and is the reference a property
/// test holds this to.
pub fn rule_deltas(old: &Plan, new: &Plan) -> RuleChanges {
    let (old_in, new_in) = (inbound_by_host(old), inbound_by_host(new));
    let none: Vec<&Connection> = Vec::new();
    let may_differ = |books: [&AddressBook; 2], fw: bool, name: &str| {
        fw || inbound_differs(books, old_in.get(name).unwrap_or(&none), new_in.get(name).unwrap_or(&none))
            || old.host(name).map(|h| h.managed) != new.host(name).map(|h| h.managed)
    };
    changes_where(old, new, may_differ, |c, subject, a, b| c.add(subject, split(a, b, key_of)))
}

/// [`rule_deltas`] the slow way: every host's and firewall's ruleset
/// compiled on both sides, and every rule formatted and compared by its
/// summary.
pub fn rule_deltas_exhaustive(old: &Plan, new: &Plan) -> RuleChanges {
    changes_where(
        old,
        new,
        |_, _, _| true,
        |c, subject, a, b| {
            let split = split(a, b, |r| {
                let s = summary_of(r, &mut Lists::default());
                ((s.set, s.dst, s.service, s.reasons), s.src)
            });
            c.add(subject, split)
        },
    )
}

fn changes_where(
    old: &Plan,
    new: &Plan,
    may_differ: impl Fn([&AddressBook; 2], bool, &str) -> bool,
    mut compare: impl FnMut(&mut Collector, &str, &[Rule], &[Rule]),
) -> RuleChanges {
    let subjects = subjects(old, new);
    // Indexed once per plan: a ruleset per host from the whole plan would
    // make this quadratic in the hosts.
    let (old_ix, new_ix) = (Shared::new(old), Shared::new(new));
    let books = [old_ix.book(), new_ix.book()];
    let mut c = Collector::default();
    for (fw, name) in subjects.into_iter().filter(|(fw, name)| may_differ(books, *fw, name)) {
        let (a, b) = (rules_of(&old_ix, fw, &name), rules_of(&new_ix, fw, &name));
        compare(&mut c, &name, &a, &b);
    }
    c.finish()
}

/// Every managed host and network firewall of either plan (`true` for a firewall).
fn subjects(old: &Plan, new: &Plan) -> BTreeSet<(bool, String)> {
    let mut subjects = BTreeSet::new();
    for p in [old, new] {
        subjects.extend(p.hosts.iter().filter(|h| h.managed).map(|h| (false, h.name.clone())));
        subjects.extend(p.firewalls.iter().map(|f| (true, f.name.clone())));
    }
    subjects
}

fn rules_of(p: &Shared, fw: bool, name: &str) -> Vec<Rule> {
    let rs = if fw { p.firewall_ruleset(name).ok() } else { p.host_ruleset(name).ok() };
    rs.map(|r| r.rules).unwrap_or_default()
}

/// Every managed host's and network firewall's rules, summarised: what
/// [`apply_rule_changes`] replays the changes on.
pub fn rule_summaries(plan: &Plan) -> BTreeMap<String, BTreeSet<RuleSummary>> {
    let shared = Shared::new(plan);
    let mut lists = Lists::default();
    subjects(plan, plan)
        .into_iter()
        .map(|(fw, name)| {
            let rules = rules_of(&shared, fw, &name).iter().map(|r| summary_of(r, &mut lists)).collect();
            (name, rules)
        })
        .collect()
}

/// The old plan's rule summaries with the changes applied: per ruleset, the
/// rules removed go, the changed sets' members are replaced, the rules
/// added come. Rulesets left without rules are dropped.
pub fn apply_rule_changes(old: &BTreeMap<String, BTreeSet<RuleSummary>>, c: &RuleChanges) -> BTreeMap<String, BTreeSet<RuleSummary>> {
    let mut out = old.clone();
    for d in &c.rulesets {
        let rules = out.entry(d.subject.clone()).or_default();
        for r in &d.removed {
            rules.remove(r);
        }
    }
    for s in &c.sets {
        for subject in &s.rulesets {
            let rules = out.entry(subject.clone()).or_default();
            *rules = std::mem::take(rules)
                .into_iter()
                .map(|mut r| {
                    if r.set == s.set && r.src == s.old {
                        r.src = s.new.clone();
                    }
                    r
                })
                .collect();
        }
    }
    for d in &c.rulesets {
        out.entry(d.subject.clone()).or_default().extend(d.added.iter().cloned());
    }
    out.retain(|_, rules| !rules.is_empty());
    out
}

/// Each host's inbound connections, in plan order (as the targets compile them).
fn inbound_by_host(plan: &Plan) -> HashMap<&str, Vec<&Connection>> {
    let mut out: HashMap<&str, Vec<&Connection>> = HashMap::new();
    for c in plan.connections.iter().filter(|c| c.dst.kind == EndpointKind::Host) {
        out.entry(c.dst.name.as_str()).or_default().push(c);
    }
    out
}

/// Whether two lists of a host's inbound connections may give different
/// input rules: a host's rules are made from these fields alone (the
/// sources' addresses and group name, the host's own address families, the
/// service and the reasons), so equal fields give equal rules.
fn inbound_differs([old_book, new_book]: [&AddressBook; 2], old: &[&Connection], new: &[&Connection]) -> bool {
    let same = |a: &Connection, b: &Connection| {
        a.proto == b.proto
            && a.ports == b.ports
            && a.src_ports == b.src_ports
            && a.icmp == b.icmp
            && a.dst.nets == b.dst.nets
            && a.sources.nets == b.sources.nets
            && old_book.name(&a.sources) == new_book.name(&b.sources)
            && a.reasons.len() == b.reasons.len()
            && a.reasons.iter().zip(&b.reasons).all(|(x, y)| x.product == y.product && x.flow == y.flow)
    };
    old.len() != new.len() || old.iter().zip(new).any(|(a, b)| !same(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(group: &str, src: &[&str], port: u16) -> Rule {
        Rule {
            family: Family::V4,
            group: GroupName::parse(group).unwrap(),
            src: src.iter().map(|s| s.parse().unwrap()).collect(),
            dst: Vec::new(),
            proto: Proto::Tcp,
            dports: PortSet::single(port),
            sports: None,
            icmp: Vec::new(),
            reasons: vec![portmatrix_model::FlowTag::new("p", format!("f{port}"))],
            zones: None,
        }
    }

    fn changes(old: &[Rule], new: &[Rule]) -> RuleChanges {
        let mut c = Collector::default();
        c.add("h", split(old, new, key_of));
        c.finish()
    }

    #[test]
    fn a_set_losing_members_is_one_change_for_all_its_rules() {
        let old = [rule("web", &["10.0.0.1/32", "10.0.0.2/32"], 80), rule("web", &["10.0.0.1/32", "10.0.0.2/32"], 443)];
        let new = [rule("web", &["10.0.0.1/32"], 80), rule("web", &["10.0.0.1/32"], 443)];
        let c = changes(&old, &new);
        assert!(c.rulesets.is_empty(), "{:?}", c.rulesets);
        assert_eq!(c.sets.len(), 1);
        let s = &c.sets[0];
        assert_eq!((s.set.as_str(), s.rules, s.rulesets.as_slice()), ("web", 2, ["h".to_string()].as_slice()));
        assert_eq!(s.removed, ["10.0.0.2/32".parse::<IpNet>().unwrap()]);
        assert!(s.added.is_empty());
    }

    #[test]
    fn a_set_some_of_whose_rules_keep_the_old_members_is_not_a_set_change() {
        // The ruleset then holds both member lists, as two sets: the moved
        // rule is listed as removed and added.
        let old = [rule("web", &["10.0.0.1/32", "10.0.0.2/32"], 80), rule("web", &["10.0.0.1/32", "10.0.0.2/32"], 443)];
        let new = [rule("web", &["10.0.0.1/32"], 80), rule("web", &["10.0.0.1/32", "10.0.0.2/32"], 443)];
        let c = changes(&old, &new);
        assert!(c.sets.is_empty(), "{:?}", c.sets);
        let d = &c.rulesets[0];
        assert_eq!((d.removed.len(), d.added.len()), (1, 1));
        assert_eq!((d.removed[0].service.as_str(), d.added[0].src.as_str()), ("tcp/80", "10.0.0.1/32"));
    }

    #[test]
    fn rules_of_another_service_are_added_and_removed() {
        let old = [rule("web", &["10.0.0.1/32"], 80)];
        let new = [rule("web", &["10.0.0.1/32"], 8080)];
        let c = changes(&old, &new);
        assert!(c.sets.is_empty());
        assert_eq!(c.rulesets[0].removed[0].service, "tcp/80");
        assert_eq!(c.rulesets[0].added[0].service, "tcp/8080");
    }
}
