//! The apply procedure, step by step: [`prepare`] (choose the host, compile,
//! guard), [`preflight`] (syntax check, foreign chains, nothing pending),
//! [`execute`] (snapshot, journal, arm the rollback, load), then
//! [`confirm`], [`confirm_by_probe`] or [`fire`] (the armed rollback), and
//! [`rollback_latest`] by hand. Nothing is changed before [`execute`].

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use portmatrix_model::{IcmpType, Proto};
use portmatrix_plan::{admin_service, Deployment, EndpointKind, HostInfo, Packet, Plan};
use portmatrix_targets::compile::compile_host;
use portmatrix_targets::{policy, Loader, OutputFile, RenderOptions, Ruleset, Target};

use crate::arm::{self, RollbackCommand, Via};
use crate::guard::{self, AdminNetwork, Cut, GuardInput, Session};
use crate::hooks::{self, HookReport, Live, Sample};
use crate::journal::{self, Arming, ConfirmedBy, Entry, FileHash, MatrixVersion, Outcome, RolledBackBy, StateDir};
use crate::kernel::{self, Kernel, LoadFile, Snapshot};
use crate::probe::{self, ProbeOutcome, ProbePlan};

/// Why an apply did not go ahead, or did not stay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Refused before anything changed (exit 2): the reasons, one each.
    Refused(Vec<String>),
    /// The input or the machine cannot be used (exit 2).
    Unusable(String),
    /// Loaded, then rolled back (exit 1).
    RolledBack(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused(r) => write!(f, "refused: {}", r.join("; ")),
            Failure::Unusable(m) => f.write_str(m),
            Failure::RolledBack(m) => write!(f, "rolled back: {m}"),
        }
    }
}

/// What the caller asks for.
#[derive(Debug, Clone)]
pub struct Options {
    /// The host to apply for; `None`: the inventory host owning one of this
    /// machine's addresses.
    pub host: Option<String>,
    pub target: Target,
    /// nftables table, and prefix of the iptables chain.
    pub table: String,
    /// Files compiled elsewhere (`--files DIR`), loaded instead of the ones
    /// compiled here; they must be identical unless `allow_modified_files`.
    pub shipped: Option<std::path::PathBuf>,
    pub allow_modified_files: bool,
    pub session: Option<Session>,
    pub force_lockout_risk: bool,
    pub ignore_foreign: bool,
    pub timeout: Duration,
}

/// Everything decided before the kernel is asked anything.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub id: String,
    pub host: HostInfo,
    pub ruleset: Ruleset,
    /// The files that will be loaded (compiled here, or shipped).
    pub files: Vec<OutputFile>,
    pub kernel: Kernel,
    pub admin: Vec<AdminNetwork>,
    pub mgmt_port: u16,
    pub session: Option<Session>,
    /// The guard's findings; non-empty means refused unless forced.
    pub cuts: Vec<Cut>,
    /// Warnings to print (rules that could not be rendered, modified files).
    pub warnings: Vec<String>,
    pub inventory: String,
    pub plan_sha256: String,
    pub matrices: Vec<MatrixVersion>,
    pub target: Target,
    pub table: String,
}

/// Why apply cannot run on this machine (not root, a tool missing).
pub fn unusable_here(target: Target) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("apply changes the kernel's firewall: run it as root".into());
    }
    let tools: &[&str] = match target {
        Target::Iptables => &["iptables-restore", "ip6tables-restore", "iptables-save", "ip6tables-save", "ipset", "unshare"],
        _ => &["nft"],
    };
    let on_path = |t: &str| std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(t).is_file()));
    tools.iter().find(|t| !on_path(t)).map(|t| format!("`{t}` is not installed (or not on PATH)"))
}

/// The matrices a deployment uses, with their versions.
pub fn matrix_versions(dep: &Deployment) -> Vec<MatrixVersion> {
    dep.products
        .values()
        .map(|p| MatrixVersion { product: p.name.clone(), matrix: p.matrix.matrix.value.clone(), version: p.matrix.version.value.clone() })
        .collect()
}

/// The host to apply for: the one named, or the one whose inventory
/// addresses this machine has.
pub fn select_host<'p>(plan: &'p Plan, want: Option<&str>, own: &[IpAddr]) -> Result<&'p HostInfo, Failure> {
    if let Some(name) = want {
        return plan.host(name).ok_or_else(|| {
            let known: Vec<&str> = plan.hosts.iter().map(|h| h.name.as_str()).collect();
            Failure::Unusable(format!("no host `{name}` in the inventory; hosts: {}", known.join(", ")))
        });
    }
    let found: Vec<&HostInfo> = plan.hosts.iter().filter(|h| h.addresses.iter().any(|a| own.contains(a))).collect();
    match found.as_slice() {
        [h] => Ok(h),
        [] => Err(Failure::Unusable(format!(
            "none of this machine's addresses ({}) belongs to a host of the inventory: give --host NAME",
            own.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
        ))),
        many => Err(Failure::Unusable(format!(
            "this machine's addresses belong to several hosts of the inventory ({}): give --host NAME",
            many.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// The admin networks as the plan means them: the sources of the host's
/// management connection (empty when the inventory declares none).
pub fn admin_networks(plan: &Plan, host: &str) -> Vec<AdminNetwork> {
    let flows = [portmatrix_plan::ADMIN_SSH, portmatrix_plan::ADMIN_RDP];
    plan.inbound(host)
        .find(|c| c.reasons.iter().any(|r| r.product == "inventory" && flows.contains(&r.flow.as_str())))
        .map(|c| {
            c.sources
                .members
                .iter()
                .filter(|m| m.kind == EndpointKind::Network)
                .map(|m| AdminNetwork { name: m.name.clone(), nets: m.nets.clone() })
                .collect()
        })
        .unwrap_or_default()
}

/// The kernel side for a target.
pub fn kernel_for(target: Target, table: &str) -> Result<Kernel, Failure> {
    match target {
        Target::Nftables => Ok(Kernel::Nft { table: table.to_string() }),
        Target::Iptables => Ok(Kernel::Iptables { prefix: crate::iptables::prefix_for(table).map_err(Failure::Unusable)? }),
        other => Err(Failure::Unusable(format!("apply loads nftables and iptables rulesets on Linux hosts, not {other}"))),
    }
}

fn render_options(target: Target, table: &str) -> RenderOptions {
    let _ = target;
    RenderOptions { table: table.to_string(), ..RenderOptions::default() }
}

/// Reads the shipped files that correspond to the compiled ones and says
/// which differ.
fn shipped_files(dir: &Path, compiled: &[OutputFile]) -> Result<(Vec<OutputFile>, Vec<String>), Failure> {
    let mut files = Vec::new();
    let mut differ = Vec::new();
    for f in compiled
        .iter()
        .filter(|f| matches!(f.loader, Some(Loader::Nft | Loader::IpsetRestore | Loader::IptablesRestore | Loader::Ip6tablesRestore)))
    {
        let path = dir.join(&f.name);
        let bytes = read_capped(&path, journal::MAX_BLOB).map_err(|e| Failure::Unusable(format!("--files: {e}")))?;
        let contents = String::from_utf8(bytes).map_err(|_| Failure::Unusable(format!("--files: {} is not UTF-8 text", path.display())))?;
        if contents != f.contents {
            differ.push(f.name.clone());
        }
        files.push(OutputFile { contents, ..f.clone() });
    }
    Ok((files, differ))
}

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut buf = Vec::new();
    f.take(cap + 1).read_to_end(&mut buf).map_err(|e| format!("{}: {e}", path.display()))?;
    if buf.len() as u64 > cap {
        return Err(format!("{} is larger than {cap} bytes", path.display()));
    }
    Ok(buf)
}

/// Chooses the host, compiles its ruleset and runs the guard. Touches
/// nothing.
pub fn prepare(plan: &Plan, matrices: Vec<MatrixVersion>, inventory: &str, opts: &Options, own: &[IpAddr]) -> Result<Prepared, Failure> {
    let host = select_host(plan, opts.host.as_deref(), own)?.clone();
    if let Some(why) = policy::misfit(opts.target, &host) {
        return Err(Failure::Unusable(why));
    }
    let kernel = kernel_for(opts.target, &opts.table)?;
    let ruleset = portmatrix_targets::host_ruleset(plan, &host.name).map_err(|e| Failure::Unusable(e.to_string()))?;
    let compiled = compile_host(plan, &host.name, opts.target, &render_options(opts.target, &opts.table))
        .map_err(|e| Failure::Unusable(e.to_string()))?;
    let mut warnings: Vec<String> = compiled.warnings.iter().map(|w| format!("{}: {w}", host.name)).collect();
    let files = match &opts.shipped {
        None => compiled.files,
        Some(dir) => {
            let (files, differ) = shipped_files(dir, &compiled.files)?;
            if !differ.is_empty() {
                let what = format!(
                    "{} differ(s) from what this inventory compiles to here; the guard checked the compiled ruleset, not these files",
                    differ.join(", ")
                );
                if !opts.allow_modified_files {
                    return Err(Failure::Refused(vec![format!("--files: {what} (--allow-modified-files loads them anyway)")]));
                }
                warnings.push(format!("LOADING MODIFIED FILES: {what}"));
            }
            files
        }
    };
    let admin = admin_networks(plan, &host.name);
    let (_, mgmt_port, _) = admin_service(host.os);
    let cuts = guard::check(&GuardInput { ruleset: &ruleset, admin: &admin, mgmt_port, session: opts.session.as_ref() });
    let plan_json = serde_json::to_vec(plan).map_err(|e| Failure::Unusable(format!("hashing the plan: {e}")))?;
    Ok(Prepared {
        id: journal::new_id().map_err(Failure::Unusable)?,
        host,
        ruleset,
        files,
        kernel,
        admin,
        mgmt_port,
        session: opts.session.clone(),
        cuts,
        warnings,
        inventory: inventory.to_string(),
        plan_sha256: journal::sha256_hex(&plan_json),
        matrices,
        target: opts.target,
        table: opts.table.clone(),
    })
}

/// Most planned packets run through the foreign chains.
const MAX_SAMPLES: usize = 4096;

/// Planned packets (one per rule, the admin path, the session) and
/// forbidden ones (well-known ports from a documentation address, kept only
/// where the ruleset refuses them).
pub fn samples(p: &Prepared) -> (Vec<Sample>, Vec<Sample>) {
    let rs = &p.ruleset;
    let mut planned = Vec::new();
    let own = |v4: bool| rs.own.iter().copied().filter(move |a| a.is_ipv4() == v4);
    for a in &p.admin {
        for net in &a.nets {
            for dst in own(net.addr().is_ipv4()) {
                let packet = Packet::to_port(net.network(), dst, Proto::Tcp, p.mgmt_port);
                planned.push(Sample { packet, why: format!("management access from admin network {}", a.name) });
            }
        }
    }
    if let Some(s) = &p.session {
        for dst in own(s.client.is_ipv4()) {
            let packet = Packet { src: s.client, dst, proto: Proto::Tcp, port: s.port, src_port: s.client_port, icmp_type: None };
            planned.push(Sample { packet, why: "your session".into() });
        }
    }
    'rules: for r in &rs.rules {
        for src in &r.src {
            for dst in own(src.addr().is_ipv4()) {
                if planned.len() >= MAX_SAMPLES {
                    break 'rules;
                }
                let packet = Packet {
                    src: src.network(),
                    dst,
                    proto: r.proto,
                    port: r.dports.first().unwrap_or(0),
                    src_port: r.sports.as_ref().and_then(|s| s.first()).or(Some(40000)),
                    icmp_type: r.icmp.first().copied(),
                };
                planned.push(Sample { packet, why: r.comment() });
            }
        }
    }
    let mut forbidden = Vec::new();
    let outsiders: [IpAddr; 2] = ["203.0.113.77".parse().expect("literal"), "2001:db8:ffff::77".parse().expect("literal")];
    for src in outsiders {
        for dst in own(src.is_ipv4()) {
            for (proto, port) in [(Proto::Tcp, 5432), (Proto::Tcp, 23), (Proto::Tcp, 445), (Proto::Udp, 161), (Proto::Tcp, 65000)] {
                let packet = Packet { src, dst, proto, port, src_port: Some(40000), icmp_type: None };
                if !rs.permits(&packet) {
                    forbidden.push(Sample { packet, why: "forbidden by the plan".into() });
                }
            }
            let icmp = if src.is_ipv4() { Proto::Icmp } else { Proto::Icmpv6 };
            let packet = Packet { src, dst, proto: icmp, port: 0, src_port: None, icmp_type: Some(IcmpType::EchoRequest) };
            if !rs.permits(&packet) {
                forbidden.push(Sample { packet, why: "forbidden by the plan".into() });
            }
        }
    }
    (planned, forbidden)
}

/// What the kernel was asked before loading.
#[derive(Debug, Clone)]
pub struct Preflight {
    pub load: Vec<LoadFile>,
    pub hooks: HookReport,
}

/// Syntax check, foreign chains, nothing pending. Touches nothing.
pub fn preflight(p: &Prepared, state: &StateDir, ignore_foreign: bool) -> Result<Preflight, Failure> {
    let (entries, _) = state.entries().map_err(Failure::Unusable)?;
    if let Some(e) = entries.iter().find(|e| e.outcome == Outcome::Pending) {
        return Err(Failure::Refused(vec![format!(
            "apply {} (host {}) is still pending confirmation: confirm it (apply --confirm {}) or roll it back (apply --rollback) first",
            e.id, e.host, e.id
        )]));
    }
    let load = p.kernel.load_files(&p.files, &p.id).map_err(|e| Failure::Refused(vec![e]))?;
    p.kernel.check(&load, state.root()).map_err(Failure::Unusable)?;
    if let Kernel::Iptables { .. } = &p.kernel {
        let foreign = foreign_sets(&p.kernel.snapshot(&load).map_err(Failure::Unusable)?);
        if !foreign.is_empty() {
            return Err(Failure::Refused(foreign));
        }
    }
    let (live, unread) = match (kernel::live_ruleset_json().and_then(|j| Live::parse(&j)), &p.kernel) {
        (Ok(live), _) => (live, None),
        // iptables without nft (legacy iptables): the chains cannot be read as nftables JSON.
        (Err(e), Kernel::Iptables { .. }) => (Live::default(), Some(format!("foreign chains not judged: {e}"))),
        (Err(e), Kernel::Nft { .. }) => return Err(Failure::Unusable(format!("reading the live ruleset: {e}"))),
    };
    let (planned, forbidden) = samples(p);
    let mut hooks = hooks::analyse(&live, &p.kernel.owned(p.ruleset.chain), p.ruleset.chain, &planned, &forbidden);
    hooks.uncertain.extend(unread);
    if !hooks.refusals.is_empty() && !ignore_foreign {
        return Err(Failure::Refused(hooks.refusals.clone()));
    }
    Ok(Preflight { load, hooks })
}

/// Sets the new ipset file would fill that exist but that none of our
/// chains uses: someone else's, whose members the load would replace.
fn foreign_sets(snap: &Snapshot) -> Vec<String> {
    let Snapshot::Iptables { families, sets, .. } = snap else { return Vec::new() };
    let ours: Vec<String> = families.iter().flat_map(|f| crate::iptables::sets_used(&f.chains)).collect();
    sets.iter()
        .filter(|s| s.save.is_some() && !ours.contains(&s.name))
        .map(|s| {
            format!(
                "set {} exists and no rule of portmatrix's chains uses it: it is not portmatrix's, and loading would replace its members (rename or destroy it first)",
                s.name.escape_debug()
            )
        })
        .collect()
}

/// The change the apply would make to what we own, as a unified diff of
/// `nft list` output (iptables: of our chains in `iptables-save` output);
/// empty: no change. Touches nothing.
pub fn preview_diff(p: &Prepared, pre: &Preflight, state: &StateDir) -> Result<String, String> {
    let after = kernel::preview(&p.kernel, &pre.load, state.root())?;
    match &p.kernel {
        Kernel::Nft { .. } => match p.kernel.snapshot(&pre.load)? {
            Snapshot::Nft { table, listing } => Ok(kernel::table_diff(&table, listing.as_deref(), &after)),
            Snapshot::Iptables { .. } => Err("an iptables snapshot of an nftables apply".into()),
        },
        Kernel::Iptables { prefix } => {
            let live = kernel::live_own_listing(prefix)?;
            Ok(kernel::own_diff(&format!("{prefix}-* chains"), &live, &after))
        }
    }
}

/// Records a refusal in the journal (best effort: a refusal is reported
/// whether or not it can be recorded).
pub fn record_refusal(p: &Prepared, state: &StateDir, reasons: &[String]) -> Result<(), String> {
    let mut e = entry_for(p);
    e.outcome = Outcome::Refused { reasons: reasons.to_vec() };
    state.write_entry(&e)
}

fn entry_for(p: &Prepared) -> Entry {
    Entry {
        id: p.id.clone(),
        host: p.host.name.clone(),
        target: p.target.name().to_string(),
        table: p.table.clone(),
        inventory: p.inventory.clone(),
        started_ms: journal::now_ms(),
        applied_ms: None,
        deadline_ms: None,
        plan_sha256: p.plan_sha256.clone(),
        matrices: p.matrices.clone(),
        files: p.files.iter().map(|f| FileHash { name: f.name.clone(), sha256: journal::sha256_hex(f.contents.as_bytes()) }).collect(),
        loaded: Vec::new(),
        snapshot: None,
        rollback: None,
        outcome: Outcome::Pending,
        notes: p.warnings.clone(),
    }
}

/// How to arm the rollback.
#[derive(Debug, Clone)]
pub struct ArmWith {
    pub via: Via,
    /// Builds the command that fires the rollback of an apply ID.
    pub command: RollbackCommand,
}

/// An apply that is loaded and waits for confirmation.
#[derive(Debug, Clone)]
pub struct Applied {
    pub id: String,
    pub deadline_ms: u64,
    pub arming: Arming,
}

/// Snapshot, journal, arm the rollback, load. On a failed load the
/// snapshot is put back at once.
pub fn execute(p: &Prepared, pre: &Preflight, state: &StateDir, arm_with: &ArmWith, timeout: Duration) -> Result<Applied, Failure> {
    let snap = p.kernel.snapshot(&pre.load).map_err(Failure::Unusable)?;
    let mut e = entry_for(p);
    let snap_json = serde_json::to_vec_pretty(&snap).expect("a snapshot serialises");
    e.snapshot = Some(state.write_file(&format!("{}.snapshot.json", p.id), &snap_json).map_err(Failure::Unusable)?);
    for (n, f) in pre.load.iter().enumerate() {
        let mut h = state.write_file(&format!("{}.loaded.{n}", p.id), f.contents.as_bytes()).map_err(Failure::Unusable)?;
        h.name = format!("{} ({})", f.name, h.name);
        e.loaded.push(h);
    }
    let deadline_ms = e.started_ms + timeout.as_millis() as u64;
    e.deadline_ms = Some(deadline_ms);
    e.rollback = Some(match arm_with.via {
        Via::Systemd => Arming::Systemd { unit: arm::unit_name(&p.id) },
        Via::Watchdog => Arming::Watchdog { pid: None },
    });
    state.write_entry(&e).map_err(Failure::Unusable)?;
    let armed = match arm_with.via {
        Via::Systemd => arm::arm_systemd(&p.id, timeout, &arm_with.command).map(|_| ()),
        Via::Watchdog => arm::arm_watchdog(&arm_with.command, &state.root().join("journal").join(format!("{}.rollback.log", p.id))),
    };
    if let Err(why) = armed {
        let reasons = vec![format!("cannot arm the rollback: {why}")];
        let _ = state.update(&p.id, |e| {
            e.outcome = Outcome::Refused { reasons: reasons.clone() };
            Ok(())
        });
        return Err(Failure::Refused(reasons));
    }
    let arming = e.rollback.clone().expect("set above");
    if let Err(why) = p.kernel.load(&pre.load, state.root()) {
        let detail = format!("{why}; the previous state was put back");
        return Err(match roll_back(state, &p.id, RolledBackBy::LoadFailed, &detail) {
            Ok(_) => Failure::RolledBack(detail),
            Err(e) => Failure::Unusable(format!("{why}; and putting back the previous state failed too: {e}")),
        });
    }
    state
        .update(&p.id, |e| {
            e.applied_ms = Some(journal::now_ms());
            Ok(())
        })
        .map_err(Failure::Unusable)?;
    Ok(Applied { id: p.id.clone(), deadline_ms, arming })
}

/// Why a confirmation did not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmError {
    /// No such apply, or the journal cannot be read.
    Unusable(String),
    /// The apply is not pending (rolled back already, confirmed, refused).
    NotPending(Outcome),
    /// The deadline passed: the rollback is due.
    TooLate { deadline_ms: u64 },
}

/// Confirms a pending apply before its deadline.
pub fn confirm(state: &StateDir, id: &str, by: ConfirmedBy) -> Result<Entry, ConfirmError> {
    let mut outcome: Result<(), ConfirmError> = Ok(());
    let entry = state
        .update(id, |e| {
            let now = journal::now_ms();
            match (&e.outcome, e.deadline_ms) {
                (Outcome::Pending, Some(d)) if now >= d => outcome = Err(ConfirmError::TooLate { deadline_ms: d }),
                (Outcome::Pending, _) => e.outcome = Outcome::Confirmed { by, at_ms: now },
                (other, _) => outcome = Err(ConfirmError::NotPending(other.clone())),
            }
            Ok(e.clone())
        })
        .map_err(ConfirmError::Unusable)?;
    outcome?;
    if let Some(Arming::Systemd { unit }) = &entry.rollback {
        arm::disarm_systemd(unit);
    }
    Ok(entry)
}

/// Puts back the snapshot of `id` (pending, or confirmed when by hand).
pub fn roll_back(state: &StateDir, id: &str, by: RolledBackBy, detail: &str) -> Result<Entry, String> {
    let entry = state.update(id, |e| {
        let allowed = matches!(e.outcome, Outcome::Pending) || (by == RolledBackBy::Hand && matches!(e.outcome, Outcome::Confirmed { .. }));
        if !allowed {
            return Err(format!("apply {id} is {}: nothing to roll back", e.outcome.word()));
        }
        let now = journal::now_ms();
        e.outcome = match restore_snapshot(state, e) {
            Ok(()) => Outcome::RolledBack { by, at_ms: now, detail: detail.to_string() },
            Err(why) => Outcome::RollbackFailed { at_ms: now, why },
        };
        Ok(e.clone())
    })?;
    if let Some(Arming::Systemd { unit }) = &entry.rollback {
        arm::disarm_systemd(unit);
    }
    match &entry.outcome {
        Outcome::RollbackFailed { why, .. } => Err(format!("rolling back {id} failed: {why}")),
        _ => Ok(entry),
    }
}

fn restore_snapshot(state: &StateDir, e: &Entry) -> Result<(), String> {
    let h = e.snapshot.as_ref().ok_or("the journal entry has no snapshot")?;
    let bytes = state.read_file(&h.name, journal::MAX_BLOB)?;
    if journal::sha256_hex(&bytes) != h.sha256 {
        return Err(format!("the snapshot {} changed since it was taken (hash mismatch); not loading it", h.name));
    }
    let snap: Snapshot = serde_json::from_slice(&bytes).map_err(|e| format!("the snapshot {} is damaged: {e}", h.name))?;
    kernel::restore(&snap, state.root())
}

/// The armed rollback: waits for the deadline, then rolls back unless the
/// apply was confirmed (or finished) meanwhile. Returns the final outcome.
pub fn fire(state: &StateDir, id: &str) -> Result<Outcome, String> {
    let me = std::process::id();
    state.update(id, |e| {
        if let Some(Arming::Watchdog { pid }) = &mut e.rollback {
            *pid = Some(me);
        }
        Ok(())
    })?;
    loop {
        let e = state.read_entry(id)?;
        if e.outcome != Outcome::Pending {
            return Ok(e.outcome);
        }
        let deadline = e.deadline_ms.ok_or("the journal entry has no deadline")?;
        let now = journal::now_ms();
        if now >= deadline {
            return match roll_back(state, id, RolledBackBy::Timer, "not confirmed before the deadline") {
                Ok(e) => Ok(e.outcome),
                // Confirmed in the last instant: nothing to do.
                Err(_) => Ok(state.read_entry(id)?.outcome),
            };
        }
        std::thread::sleep(Duration::from_millis((deadline - now).min(100)));
    }
}

/// Probes from the admin side and confirms, or rolls back at once.
pub fn confirm_by_probe(state: &StateDir, id: &str, pp: &ProbePlan, timeout: Duration, retries: u32) -> Result<ProbeOutcome, Failure> {
    let outcome = match probe::run_probes(pp, timeout, retries) {
        Ok(o) => o,
        Err(why) => {
            let detail = format!("the probe could not run: {why}");
            return Err(match roll_back(state, id, RolledBackBy::ProbeFailed, &detail) {
                Ok(_) => Failure::RolledBack(detail),
                Err(e) => Failure::Unusable(format!("{detail}; rolling back failed: {e}")),
            });
        }
    };
    if outcome.passed() {
        return match confirm(state, id, ConfirmedBy::Probe) {
            Ok(_) => Ok(outcome),
            Err(e) => Err(Failure::RolledBack(format!("the probe passed, but the apply could not be confirmed: {e:?}"))),
        };
    }
    let failed: Vec<String> =
        outcome.failed().take(5).map(|r| format!("{} {} ({})", r.target.endpoint(), r.verdict.as_str(), r.target.flows_text())).collect();
    let detail = format!("{} required probe(s) failed: {}", outcome.failed().count(), failed.join(", "));
    match roll_back(state, id, RolledBackBy::ProbeFailed, &detail) {
        Ok(_) => Err(Failure::RolledBack(detail)),
        Err(e) => Err(Failure::Unusable(format!("{detail}; rolling back failed: {e}"))),
    }
}

/// Waits until the apply is no longer pending (confirmed by hand from
/// another session, or rolled back by the timer), calling `tick` with the
/// milliseconds left about once a second.
pub fn wait_for_outcome(state: &StateDir, id: &str, mut tick: impl FnMut(u64)) -> Result<Outcome, String> {
    let mut last_tick = 0u64;
    loop {
        let e = state.read_entry(id)?;
        if e.outcome != Outcome::Pending {
            return Ok(e.outcome);
        }
        let now = journal::now_ms();
        let deadline = e.deadline_ms.unwrap_or(now);
        if now > deadline + 15_000 {
            return Err(format!(
                "apply {id} is still pending 15 s after its deadline: the armed rollback did not run; run `portmatrix apply --rollback`"
            ));
        }
        if now >= last_tick + 1000 {
            tick(deadline.saturating_sub(now));
            last_tick = now;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How long past its deadline a pending apply may stay pending while its
/// armed rollback still looks alive (the watchdog polls every 100 ms, the
/// systemd timer is accurate to 100 ms).
const GRACE_MS: u64 = 5_000;

/// Whether the armed rollback of `e` can still run: its watchdog process
/// lives (and is the rollback of this apply), or its systemd timer or
/// service is active.
fn rollback_alive(e: &Entry) -> bool {
    match &e.rollback {
        Some(Arming::Watchdog { pid: Some(pid) }) => std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
            let args: Vec<&[u8]> = c.split(|b| *b == 0).collect();
            args.contains(&b"--fire-rollback".as_slice()) && args.contains(&e.id.as_bytes())
        }),
        Some(Arming::Systemd { unit }) => [format!("{unit}.timer"), format!("{unit}.service")].iter().any(|u| {
            std::process::Command::new("systemctl")
                .args(["is-active", "--quiet", u])
                .stdin(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        }),
        Some(Arming::Watchdog { pid: None }) | None => false,
    }
}

/// Rolls back every pending apply that is past its deadline and whose
/// armed rollback is gone (or has not acted within [`GRACE_MS`]): what a
/// crash between steps of apply, of the watchdog or of the machine leaves.
/// Returns the applies rolled back.
pub fn recover_overdue(state: &StateDir) -> Result<Vec<Entry>, String> {
    let (entries, _) = state.entries()?;
    let now = journal::now_ms();
    let mut recovered = Vec::new();
    for e in entries.iter().filter(|e| e.outcome == Outcome::Pending) {
        let Some(deadline) = e.deadline_ms else { continue };
        if now < deadline || (now < deadline + GRACE_MS && rollback_alive(e)) {
            continue;
        }
        let detail = "its armed rollback did not run by the deadline (a crash between steps); rolled back by the next apply";
        match roll_back(state, &e.id, RolledBackBy::Recovered, detail) {
            Ok(done) => recovered.push(done),
            // Its rollback or a confirmation got there first.
            Err(_) if matches!(state.read_entry(&e.id)?.outcome, Outcome::RolledBack { .. } | Outcome::Confirmed { .. }) => {}
            Err(why) => return Err(why),
        }
    }
    Ok(recovered)
}

/// Rolls back the newest apply that is pending or confirmed.
pub fn rollback_latest(state: &StateDir) -> Result<Entry, String> {
    let (entries, _) = state.entries()?;
    let e = entries
        .iter()
        .rev()
        .find(|e| matches!(e.outcome, Outcome::Pending | Outcome::Confirmed { .. }))
        .ok_or("no apply to roll back: none is pending or confirmed")?;
    roll_back(state, &e.id, RolledBackBy::Hand, "rolled back by hand (apply --rollback)")
}
