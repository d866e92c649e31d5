//! Compiling hosts and firewalls: one at a time, or every one that fits a
//! target on every core, handing each result to the caller as soon as it is
//! ready (so that memory stays flat for thousands of hosts). Work that does
//! not depend on the host — naming the source groups, finding each host's
//! inbound connections — is done once per plan ([`Shared`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use portmatrix_plan::{Connection, EndpointKind, Plan};

use crate::groups::AddressBook;
use crate::ir::{firewall_ruleset_with, host_ruleset_with, RulesetError};
use crate::{policy, Header, OutputFile, RenderOptions, Ruleset, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobKind {
    Host,
    Firewall,
}

/// One host or network firewall to compile.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Job {
    pub kind: JobKind,
    pub name: String,
}

/// A job's files, and what could not be rendered without widening a rule.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub files: Vec<OutputFile>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileError {
    Ruleset(RulesetError),
    /// The target does not fit the host's OS (or the host is not managed).
    Misfit(String),
    /// The target writes no forward rules.
    NoForward(Target),
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompileError::Ruleset(e) => e.fmt(f),
            CompileError::Misfit(why) => f.write_str(why),
            CompileError::NoForward(t) => {
                write!(f, "the {t} target makes host rules only; use nftables, iptables or aerleon for a network firewall")
            }
        }
    }
}

impl std::error::Error for CompileError {}

impl From<RulesetError> for CompileError {
    fn from(e: RulesetError) -> Self {
        CompileError::Ruleset(e)
    }
}

/// What every job of one plan needs and no job changes.
pub struct Shared<'p> {
    plan: &'p Plan,
    book: AddressBook<'p>,
    /// Each host's inbound connections, in plan order.
    inbound: HashMap<&'p str, Vec<&'p Connection>>,
}

impl<'p> Shared<'p> {
    pub fn new(plan: &'p Plan) -> Self {
        let mut inbound: HashMap<&str, Vec<&Connection>> = HashMap::new();
        for c in plan.connections.iter().filter(|c| c.dst.kind == EndpointKind::Host) {
            inbound.entry(c.dst.name.as_str()).or_default().push(c);
        }
        Shared { plan, book: AddressBook::of(plan), inbound }
    }
    pub fn plan(&self) -> &'p Plan {
        self.plan
    }
    pub fn book(&self) -> &AddressBook<'p> {
        &self.book
    }

    /// The input ruleset of one managed host (no scan of the whole plan).
    pub fn host_ruleset(&self, host: &str) -> Result<Ruleset, RulesetError> {
        let inbound = self.inbound.get(host).map(Vec::as_slice).unwrap_or_default();
        host_ruleset_with(self.plan, &self.book, inbound.iter().copied(), host)
    }

    /// The forward ruleset of one network firewall.
    pub fn firewall_ruleset(&self, fw: &str) -> Result<Ruleset, RulesetError> {
        firewall_ruleset_with(self.plan, &self.book, fw)
    }

    /// The files of one managed host; a target that does not fit its OS is an error.
    pub fn compile_host(&self, host: &str, target: Target, opts: &RenderOptions) -> Result<Compiled, CompileError> {
        let rs = self.host_ruleset(host)?;
        let info = self.plan.host(host).expect("host_ruleset found it");
        if let Some(why) = policy::misfit(target, info) {
            return Err(CompileError::Misfit(why));
        }
        Ok(self.render(rs, target, opts))
    }

    /// The files of one network firewall.
    pub fn compile_firewall(&self, fw: &str, target: Target, opts: &RenderOptions) -> Result<Compiled, CompileError> {
        if !target.backend().capabilities().forward {
            return Err(CompileError::NoForward(target));
        }
        let rs = self.firewall_ruleset(fw)?;
        Ok(self.render(rs, target, opts))
    }

    pub fn compile_job(&self, job: &Job, target: Target, opts: &RenderOptions) -> Result<Compiled, CompileError> {
        match job.kind {
            JobKind::Host => self.compile_host(&job.name, target, opts),
            JobKind::Firewall => self.compile_firewall(&job.name, target, opts),
        }
    }

    fn render(&self, rs: Ruleset, target: Target, opts: &RenderOptions) -> Compiled {
        let files = target.backend().render(&rs, &Header::new(&self.plan.inventory, &rs), opts);
        let mut warnings = rs.warnings.clone();
        if !rs.dnat.is_empty() && !matches!(target, Target::Nftables | Target::Iptables) {
            // Never drop the forwards silently: only nftables and iptables write them yet.
            warnings.push(format!(
                "{}: {} port forward(s) not written: the {} target does not render NAT yet (nftables and iptables do)",
                rs.name(),
                rs.dnat.len(),
                target.name()
            ));
        }
        Compiled { files, warnings }
    }
}

/// The files of one managed host; a target that does not fit its OS is an error.
pub fn compile_host(plan: &Plan, host: &str, target: Target, opts: &RenderOptions) -> Result<Compiled, CompileError> {
    Shared::new(plan).compile_host(host, target, opts)
}

/// The files of one network firewall.
pub fn compile_firewall(plan: &Plan, fw: &str, target: Target, opts: &RenderOptions) -> Result<Compiled, CompileError> {
    Shared::new(plan).compile_firewall(fw, target, opts)
}

pub fn compile_job(plan: &Plan, job: &Job, target: Target, opts: &RenderOptions) -> Result<Compiled, CompileError> {
    Shared::new(plan).compile_job(job, target, opts)
}

/// Every managed host the target fits and, when it writes forward rules,
/// every network firewall; and what was skipped, with the reason.
pub fn jobs_for_all(plan: &Plan, target: Target) -> (Vec<Job>, Vec<(Job, String)>) {
    let mut jobs = Vec::new();
    let mut skipped = Vec::new();
    for h in plan.hosts.iter().filter(|h| h.managed) {
        let job = Job { kind: JobKind::Host, name: h.name.clone() };
        match policy::misfit(target, h) {
            None => jobs.push(job),
            Some(why) => skipped.push((job, why)),
        }
    }
    for f in &plan.firewalls {
        let job = Job { kind: JobKind::Firewall, name: f.name.clone() };
        if target.backend().capabilities().forward {
            jobs.push(job);
        } else {
            skipped.push((job, format!("the {target} target writes no network firewall rules")));
        }
    }
    (jobs, skipped)
}

/// Compiles `jobs` on every core and calls `done` with each result as it is
/// ready (from worker threads). Stops handing out work after the first
/// error that `done` reports by returning `false`.
pub fn compile_each<F>(plan: &Plan, jobs: &[Job], target: Target, opts: &RenderOptions, done: F)
where
    F: Fn(usize, &Job, Result<Compiled, CompileError>) -> bool + Sync,
{
    let shared = Shared::new(plan);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let work = || loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(job) = jobs.get(i) else { break };
        if !done(i, job, shared.compile_job(job, target, opts)) {
            stop.store(true, Ordering::Relaxed);
        }
    };
    // One job runs here: a thread of its own would start with an empty
    // heap (fresh pages) for nothing to share the work with.
    if jobs.len() <= 1 {
        return work();
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(work);
        }
    });
}
