//! The nftables delta: one `nft -f` script that turns the table of an old
//! ruleset into the table of a new one, in one transaction (nft applies a
//! whole file atomically: a packet sees the old table or the new one, never
//! a mix), for review before it is applied.
//!
//! Form, chosen for correctness over size:
//! - Address sets whose definition is unchanged keep their identity and get
//!   `delete element` / `add element` lines for the addresses that differ,
//!   so a reviewer sees exactly which addresses come and go.
//! - A chain whose rules differ in any way is flushed and refilled with the
//!   new rules in order. Deleting single rules needs the kernel's rule
//!   handles, which a script written ahead of time for review cannot know,
//!   and the order of the rules is part of the result. Because the flush and
//!   the refill sit in the same transaction, no packet meets the empty chain.
//! - Sets, counters and chains only in the old table are deleted after the
//!   flush (a rule that names them would block their deletion); those only in
//!   the new table, or whose definition changed, are (re)added. Counters kept
//!   by name keep their values.
//!
//! The script assumes the old table is loaded as compiled: if it is not (a
//! chain or set missing), nft refuses the whole file and changes nothing.

use std::collections::BTreeSet;
use std::fmt::Write;

use nftables::expr::Expression;
use nftables::schema::{Chain, NfCmd, NfListObject, NfObject, Nftables as Doc, Rule, Set, Table};
use nftables::types::NfFamily;

use portmatrix_plan::Plan;

use super::print::{self, Unsupported};
use crate::compile::{jobs_for_all, Job, JobKind, Shared};
use crate::escape::comment_line;
use crate::{Header, RenderOptions, Target};

/// Why no delta could be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaError {
    /// The two documents name different tables (a delta changes one table).
    TableMismatch { old: String, new: String },
    /// A document has no table, or more than one.
    NotOneTable,
    /// Something the printer cannot print faithfully.
    Unsupported(String),
}

impl std::fmt::Display for DeltaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeltaError::TableMismatch { old, new } => {
                write!(f, "the old ruleset's table is `{old}` and the new one's `{new}`; a delta changes one table")
            }
            DeltaError::NotOneTable => f.write_str("a delta needs documents of exactly one nftables table each"),
            DeltaError::Unsupported(what) => write!(f, "cannot print this nftables object faithfully: {what}"),
        }
    }
}

impl std::error::Error for DeltaError {}

impl From<Unsupported> for DeltaError {
    fn from(u: Unsupported) -> Self {
        DeltaError::Unsupported(u.0)
    }
}

/// The objects of one table, in document order.
struct Parts<'d> {
    table: &'d Table<'static>,
    sets: Vec<&'d Set<'static>>,
    counters: Vec<&'d str>,
    chains: Vec<(&'d Chain<'static>, Vec<&'d Rule<'static>>)>,
}

impl<'d> Parts<'d> {
    fn of(doc: &'d Doc<'static>) -> Result<Self, DeltaError> {
        let mut table: Option<&Table> = None;
        let mut sets = Vec::new();
        let mut counters = Vec::new();
        let mut chains: Vec<(&Chain, Vec<&Rule>)> = Vec::new();
        for obj in doc.objects.iter() {
            match obj {
                NfObject::CmdObject(NfCmd::Add(NfListObject::Table(t))) => match table {
                    Some(seen) if seen.name != t.name || seen.family != t.family => return Err(DeltaError::NotOneTable),
                    _ => table = Some(t),
                },
                NfObject::CmdObject(NfCmd::Add(NfListObject::Set(s))) => sets.push(&**s),
                NfObject::CmdObject(NfCmd::Add(NfListObject::Counter(c))) => counters.push(c.name.as_ref()),
                NfObject::CmdObject(NfCmd::Add(NfListObject::Chain(c))) => chains.push((c, Vec::new())),
                NfObject::CmdObject(NfCmd::Add(NfListObject::Rule(r))) => {
                    let Some(entry) = chains.iter_mut().find(|(c, _)| c.name == r.chain) else {
                        return Err(DeltaError::Unsupported(format!("rule before its chain `{}`", r.chain)));
                    };
                    entry.1.push(r);
                }
                // The layout's create-then-delete of the table and its
                // metainfo say nothing about the table's contents.
                NfObject::CmdObject(NfCmd::Delete(NfListObject::Table(_))) | NfObject::ListObject(NfListObject::MetainfoObject(_)) => {}
                other => return Err(DeltaError::Unsupported(format!("{other:?}"))),
            }
        }
        let table = table.ok_or(DeltaError::NotOneTable)?;
        Ok(Parts { table, sets, counters, chains })
    }

    fn set(&self, name: &str) -> Option<&'d Set<'static>> {
        self.sets.iter().copied().find(|s| s.name == name)
    }

    fn chain(&self, name: &str) -> Option<&(&'d Chain<'static>, Vec<&'d Rule<'static>>)> {
        self.chains.iter().find(|(c, _)| c.name == name)
    }
}

/// A set's definition without its elements: when it differs, the set is
/// replaced rather than edited.
fn same_definition(a: &Set, b: &Set) -> bool {
    a.set_type == b.set_type
        && a.flags == b.flags
        && a.policy == b.policy
        && a.timeout == b.timeout
        && a.size == b.size
        && a.comment == b.comment
}

/// A base chain's definition without its rules.
fn same_chain(a: &Chain, b: &Chain) -> bool {
    a._type == b._type && a.hook == b.hook && a.prio == b.prio && a.policy == b.policy && a.dev == b.dev
}

fn same_rules(a: &[&Rule<'static>], b: &[&Rule<'static>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.expr == y.expr && x.comment == y.comment)
}

/// The elements of a set, printed as nft reads them, in document order.
fn elements(s: &Set) -> Result<Vec<String>, DeltaError> {
    let elems: &[Expression] = s.elem.as_deref().unwrap_or_default();
    Ok(elems.iter().map(print::expr).collect::<Result<_, _>>()?)
}

/// What the script does, gathered before anything is printed.
#[derive(Default)]
struct Steps {
    /// `# why` and the command, for the lines before the block.
    removals: Vec<(String, String)>,
    /// Objects the block (re)adds, in the new document's order.
    block: Vec<NfObject<'static>>,
    /// Element lines after the block.
    elements: Vec<(String, String)>,
}

/// The delta script from `old` to `new`, or `None` when the tables are
/// equal. `about` are header lines (printed as comments, made safe here).
pub fn script(old: &Doc<'static>, new: &Doc<'static>, about: &[String]) -> Result<Option<String>, DeltaError> {
    let (a, b) = (Parts::of(old)?, Parts::of(new)?);
    if a.table.name != b.table.name || a.table.family != b.table.family {
        return Err(DeltaError::TableMismatch { old: a.table.name.to_string(), new: b.table.name.to_string() });
    }
    let t = format!("{} {}", print::family(b.table.family)?, print::token(&b.table.name)?);
    let mut p = Steps::default();
    chains(&a, &b, &t, &mut p)?;
    sets(&a, &b, &t, &mut p)?;
    counters(&a, &b, &t, &mut p)?;
    if p.removals.is_empty() && p.block.is_empty() && p.elements.is_empty() {
        return Ok(None);
    }
    Ok(Some(render(&p, b.table, about)?))
}

/// Chains: changed rules → flush and refill; changed definition or gone →
/// delete (after its flush); new → add with its rules.
fn chains(a: &Parts, b: &Parts, t: &str, p: &mut Steps) -> Result<(), DeltaError> {
    for (old, old_rules) in &a.chains {
        let name = print::token(&old.name)?;
        match b.chain(&old.name) {
            Some((new, new_rules)) if same_chain(old, new) => {
                if !same_rules(old_rules, new_rules) {
                    let why = format!("chain {name}: its rules change; emptied here and refilled below in the same transaction");
                    p.removals.push((why, format!("flush chain {t} {name}")));
                }
            }
            Some(_) => {
                p.removals.push((
                    format!("chain {name}: its hook, priority or policy changes; replaced below"),
                    format!("flush chain {t} {name}"),
                ));
                p.removals
                    .push((format!("chain {name}: deleted to be added again with its new definition"), format!("delete chain {t} {name}")));
            }
            None => {
                p.removals.push((format!("chain {name}: not in the new ruleset"), format!("flush chain {t} {name}")));
                p.removals.push((format!("chain {name}: not in the new ruleset"), format!("delete chain {t} {name}")));
            }
        }
    }
    for (new, new_rules) in &b.chains {
        let keep = a.chain(&new.name).is_some_and(|(old, old_rules)| same_chain(old, new) && same_rules(old_rules, new_rules));
        if !keep {
            p.block.push(NfObject::CmdObject(NfCmd::Add(NfListObject::Chain((*new).clone()))));
            p.block.extend(new_rules.iter().map(|r| NfObject::CmdObject(NfCmd::Add(NfListObject::Rule((*r).clone())))));
        }
    }
    Ok(())
}

/// Sets: same definition → element lines; otherwise delete and add whole.
fn sets(a: &Parts, b: &Parts, t: &str, p: &mut Steps) -> Result<(), DeltaError> {
    for old in &a.sets {
        let name = print::token(&old.name)?;
        match b.set(&old.name) {
            Some(new) if same_definition(old, new) => {
                let (was, now) = (elements(old)?, elements(new)?);
                let (was_set, now_set): (BTreeSet<&String>, BTreeSet<&String>) = (was.iter().collect(), now.iter().collect());
                let gone: Vec<&str> = was.iter().filter(|e| !now_set.contains(e)).map(String::as_str).collect();
                let came: Vec<&str> = now.iter().filter(|e| !was_set.contains(e)).map(String::as_str).collect();
                // Deletions first: an address widened to its network is
                // removed as a single address before the network is added.
                if !gone.is_empty() {
                    let why = format!("source group {name}: addresses no longer in it");
                    p.elements.push((why, format!("delete element {t} {name} {{ {} }}", gone.join(", "))));
                }
                if !came.is_empty() {
                    let why = format!("source group {name}: addresses new to it");
                    p.elements.push((why, format!("add element {t} {name} {{ {} }}", came.join(", "))));
                }
            }
            Some(_) => {
                p.removals.push((format!("set {name}: its type or flags change; added again below"), format!("delete set {t} {name}")));
            }
            None => p.removals.push((format!("set {name}: no rule of the new ruleset uses it"), format!("delete set {t} {name}"))),
        }
    }
    let replaced_or_new = b.sets.iter().filter(|new| !a.set(&new.name).is_some_and(|old| same_definition(old, new)));
    let sets: Vec<NfObject<'static>> =
        replaced_or_new.map(|s| NfObject::CmdObject(NfCmd::Add(NfListObject::Set(Box::new((*s).clone()))))).collect();
    // Sets go first in the block: the chains below name them.
    p.block.splice(0..0, sets);
    Ok(())
}

/// Counters: by name; a kept counter keeps its packets and bytes.
fn counters(a: &Parts, b: &Parts, t: &str, p: &mut Steps) -> Result<(), DeltaError> {
    let (was, now): (BTreeSet<&str>, BTreeSet<&str>) = (a.counters.iter().copied().collect(), b.counters.iter().copied().collect());
    for name in a.counters.iter().filter(|n| !now.contains(*n)) {
        let name = print::token(name)?;
        p.removals.push((format!("counter {name}: its flow has no rule in the new ruleset"), format!("delete counter {t} {name}")));
    }
    let new: Vec<&str> = b.counters.iter().copied().filter(|n| !was.contains(n)).collect();
    // After the sets, before the chains whose rules count into them.
    let at = p.block.iter().take_while(|o| matches!(o, NfObject::CmdObject(NfCmd::Add(NfListObject::Set(_))))).count();
    let family: NfFamily = b.table.family;
    let objs = new.into_iter().map(|n| {
        NfObject::CmdObject(NfCmd::Add(NfListObject::Counter(nftables::schema::Counter {
            family,
            table: b.table.name.clone(),
            name: n.to_string().into(),
            handle: None,
            packets: None,
            bytes: None,
        })))
    });
    p.block.splice(at..at, objs.collect::<Vec<_>>());
    Ok(())
}

fn render(p: &Steps, table: &Table<'static>, about: &[String]) -> Result<String, DeltaError> {
    let mut o = String::from("#!/usr/sbin/nft -f\n");
    for line in about {
        writeln!(o, "# {}", comment_line(line)).expect("string");
    }
    o.push_str("# One transaction: nft applies all of this file or none of it.\n");
    for (why, cmd) in &p.removals {
        writeln!(o, "\n# {}\n{cmd}", comment_line(why)).expect("string");
    }
    if !p.block.is_empty() {
        o.push_str("\n# What the new ruleset adds or refills, each rule with its reason.\n");
        let mut objs = vec![NfObject::CmdObject(NfCmd::Add(NfListObject::Table(table.clone())))];
        objs.extend(p.block.iter().cloned());
        o.push_str(&print::document(&Doc { objects: objs.into() })?);
    }
    for (why, cmd) in &p.elements {
        writeln!(o, "\n# {}\n{cmd}", comment_line(why)).expect("string");
    }
    Ok(o)
}

/// One host's or network firewall's delta script.
#[derive(Debug, Clone)]
pub struct SubjectDelta {
    pub job: Job,
    pub script: String,
}

/// The deltas between two plans, for every managed Linux host and network
/// firewall compiled for nftables in both; subjects in only one plan have
/// no old (or no new) table to change and are listed apart.
#[derive(Debug, Clone, Default)]
pub struct PlanDeltas {
    pub deltas: Vec<SubjectDelta>,
    pub only_old: Vec<Job>,
    pub only_new: Vec<Job>,
}

/// [`script`] for every subject of both plans whose nftables table changes.
pub fn plan_deltas(old: &Plan, new: &Plan, opts: &RenderOptions) -> Result<PlanDeltas, String> {
    let (old_jobs, _) = jobs_for_all(old, Target::Nftables);
    let (new_jobs, _) = jobs_for_all(new, Target::Nftables);
    let (was, now): (BTreeSet<&Job>, BTreeSet<&Job>) = (old_jobs.iter().collect(), new_jobs.iter().collect());
    let (old_ix, new_ix) = (Shared::new(old), Shared::new(new));
    let mut out = PlanDeltas {
        only_old: was.difference(&now).map(|j| (*j).clone()).collect(),
        only_new: now.difference(&was).map(|j| (*j).clone()).collect(),
        ..PlanDeltas::default()
    };
    for job in was.intersection(&now) {
        let (a, b) = (document(&old_ix, job, opts)?, document(&new_ix, job, opts)?);
        let about = [
            format!("Delta for {} {}: inventory `{}` to inventory `{}`.", kind(job), job.name, old.inventory, new.inventory),
            "Review it, then load it with `nft -f` on a host whose table is the old ruleset as compiled.".to_string(),
        ];
        if let Some(script) = script(&a, &b, &about).map_err(|e| format!("{} {}: {e}", kind(job), job.name))? {
            out.deltas.push(SubjectDelta { job: (*job).clone(), script });
        }
    }
    Ok(out)
}

fn kind(job: &Job) -> &'static str {
    match job.kind {
        JobKind::Host => "host",
        JobKind::Firewall => "network firewall",
    }
}

fn document(ix: &Shared, job: &Job, opts: &RenderOptions) -> Result<Doc<'static>, String> {
    let rs = match job.kind {
        JobKind::Host => ix.host_ruleset(&job.name),
        JobKind::Firewall => ix.firewall_ruleset(&job.name),
    }
    .map_err(|e| format!("{} {}: {e}", kind(job), job.name))?;
    Ok(super::layout(&rs, &Header::new(&ix.plan().inventory, &rs), opts))
}
