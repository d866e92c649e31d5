//! `portmatrix apply`: load this host's ruleset without locking anyone out,
//! with a rollback armed first (crates/apply does the work; this file
//! parses arguments and prints).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgGroup, Args, ValueEnum};
use portmatrix_apply::arm::{self, RollbackCommand, Via};
use portmatrix_apply::guard::{self, Session};
use portmatrix_apply::journal::{self, ConfirmedBy, Entry, Outcome, StateDir};
use portmatrix_apply::run::{self, ArmWith, ConfirmError, Failure, Options, Prepared};
use portmatrix_targets::Target;

use crate::exit;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RollbackVia {
    /// A systemd timer where systemd runs (and shares this network namespace), else the watchdog
    Auto,
    /// A transient systemd timer (systemd-run --on-active)
    Systemd,
    /// A detached watchdog process (double fork, setsid, immune to SIGHUP)
    Watchdog,
}

#[derive(Args)]
#[command(
    group(ArgGroup::new("mode").args(["confirm", "status", "rollback", "fire_rollback"]).multiple(false)),
    after_help = "Run on the host, as root. Before anything changes, apply compiles the host's ruleset and checks \
it with the ruleset's evaluator: every admin network must still reach the management port (ssh, or RDP) and \
your own session (SSH_CONNECTION, also found through sudo, or --session) must still be accepted; a foreign \
table or chain on the same hook must not drop planned traffic. Then it checks the syntax (nft -c), shows the change to its \
table as a diff (the new table is loaded into a throwaway network namespace and listed by nft like the live \
one; --dry-run stops here and prints it on standard output), saves portmatrix's own table (and \
nothing else), arms a rollback that survives your session and this process (a systemd timer, or a detached \
watchdog), and loads the new table in one transaction. Unless confirmed before --timeout, the previous table \
comes back.\n\n\
Confirm by hand from a NEW session (which proves the admin path works): portmatrix apply --confirm ID. \
Or by proof: --confirm-by-probe probes every required flow from the admin side (--probe-netns) against a \
responder on this host, and confirms only if all pass (else it rolls back at once).\n\n\
With --target iptables the same steps apply to chains of portmatrix's own (PORTMATRIX-INPUT, or -FORWARD \
on a firewall, in ip and ip6; -PREROUTING in nat for port forwards), each reached by one jump rule it owns, \
loaded with iptables-restore --noflush after its ipsets (ipset restore, each set swapped in at once); \
other chains, tables, sets and built-in policies are never touched.\n\n\
Every apply is recorded in --state-dir (journal/ID.json: time, plan hash, matrix versions, file hashes, outcome).\n\n\
Exit codes: 0 applied and confirmed (or --detach: applied, awaiting confirmation), 1 rolled back, 2 refused or unusable.\n\n\
Examples:\n  sudo portmatrix apply -i inventory.yaml                      # this machine's host; wait for --confirm\n  \
sudo portmatrix apply -i inventory.yaml --host acd-web1 --detach --timeout 120\n  \
sudo portmatrix apply --confirm 3f9a0c2b7d1e4a65                # from a new ssh session\n  \
sudo portmatrix apply -i inv.yaml --host web1 --confirm-by-probe --probe-netns mgmt\n  \
sudo portmatrix apply -i inv.yaml --host web1 --files shipped/     # files compiled centrally\n  \
sudo portmatrix apply -i inv.yaml --host web1 --target iptables    # own chains, iptables-restore --noflush\n  \
sudo portmatrix apply --status\n  \
sudo portmatrix apply --rollback                                # put back the state before the last apply\n  \
portmatrix apply -i inv.yaml --host ucs1 --windows-script out/     # Windows: scripts to run on the host\n  \
sudo portmatrix apply -i inv.yaml --dry-run                     # every check and the diff of the table, no change"
)]
pub struct ApplyArgs {
    /// The inventory (a deployment's YAML file)
    #[arg(short = 'i', long = "inventory", value_name = "FILE", required_unless_present = "mode")]
    pub inventory: Option<PathBuf>,
    /// The host of the inventory this machine is (default: the one owning one of this machine's addresses)
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// nftables (table inet TABLE) or iptables (chains TABLE-INPUT / TABLE-FORWARD in upper case, jumped to from INPUT / FORWARD, and their ipsets)
    #[arg(short, long, value_enum, default_value_t = Target::Nftables)]
    pub target: Target,
    /// The nftables table portmatrix owns (family inet); for iptables, the prefix of its chains (at most 16 characters)
    #[arg(long, value_name = "NAME", default_value = "portmatrix", value_parser = crate::args::parse_table_name)]
    pub table: String,
    /// Load the files compiled centrally into DIR (as `compile` names them); they must equal what this inventory compiles to here
    #[arg(long, value_name = "DIR")]
    pub files: Option<PathBuf>,
    /// With --files: load them even if they differ from the local compilation (the guard checked the latter)
    #[arg(long, requires = "files")]
    pub allow_modified_files: bool,
    /// Your session, when not over SSH: your address and this host's port, e.g. 10.99.0.5:22
    #[arg(long, value_name = "ADDR:PORT")]
    pub session: Option<String>,
    /// Load even if the guard finds that the ruleset would cut the admin path or your session
    #[arg(long)]
    pub force_lockout_risk: bool,
    /// Load even if a foreign table or chain would drop planned traffic
    #[arg(long)]
    pub ignore_foreign: bool,
    /// Seconds until the rollback fires unless confirmed
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// Confirm by proof: probe every required flow from the admin side (--probe-netns)
    #[arg(long, requires = "probe_netns")]
    pub confirm_by_probe: bool,
    /// A network namespace on this machine on the admin side (with an address of the admin network)
    #[arg(long, value_name = "NS", requires = "confirm_by_probe")]
    pub probe_netns: Option<String>,
    /// Per-probe timeout in milliseconds (--confirm-by-probe)
    #[arg(long, default_value_t = 1500)]
    pub probe_timeout_ms: u64,
    /// Return once loaded (exit 0) instead of waiting for the confirmation
    #[arg(long, conflicts_with = "confirm_by_probe")]
    pub detach: bool,
    /// How to arm the rollback
    #[arg(long, value_enum, default_value_t = RollbackVia::Auto)]
    pub rollback_via: RollbackVia,
    /// Where the journal, snapshots and the lock live
    #[arg(long, value_name = "DIR", default_value = "/var/lib/portmatrix")]
    pub state_dir: PathBuf,
    /// Run every check and print the diff of the table, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Confirm the pending apply ID (run from a new session)
    #[arg(long, value_name = "ID")]
    pub confirm: Option<String>,
    /// Show the journal: every apply and its outcome
    #[arg(long)]
    pub status: bool,
    /// Put back the state before the last apply (pending or confirmed)
    #[arg(long)]
    pub rollback: bool,
    /// With --status: JSON
    #[arg(long)]
    pub json: bool,
    /// Windows hosts: write HOST.ps1 (the rules) and apply-HOST.ps1 (snapshot, scheduled-task rollback, load, confirm) into DIR, to run on the host
    #[arg(long, value_name = "DIR", requires_all = ["inventory", "host"], conflicts_with = "mode")]
    pub windows_script: Option<PathBuf>,
    /// (internal) the armed rollback of apply ID
    #[arg(long, hide = true, value_name = "ID")]
    pub fire_rollback: Option<String>,
}

fn open_state(dir: &Path) -> Result<StateDir, u8> {
    StateDir::open(dir).map_err(|e| {
        eprintln!("error: state directory: {e}");
        exit::UNUSABLE
    })
}

pub fn run(a: ApplyArgs) -> crate::failure::Outcome {
    if let Some(id) = &a.fire_rollback {
        return Ok(fire(&a.state_dir, id));
    }
    if let Some(id) = &a.confirm {
        return Ok(confirm(&a.state_dir, id));
    }
    if a.status {
        return Ok(status(&a.state_dir, a.json));
    }
    if a.rollback {
        return Ok(rollback(&a.state_dir));
    }
    if let Some(dir) = &a.windows_script {
        return windows_script(&a, dir);
    }
    match apply(&a) {
        Ok(code) => Ok(code),
        Err(Failure::Refused(reasons)) => {
            let list: Vec<String> = reasons.iter().map(|r| format!("  - {r}")).collect();
            Err(format!("refused: nothing was changed:\n{}", list.join("\n")).into())
        }
        Err(Failure::Unusable(m)) => Err(m.into()),
        Err(Failure::RolledBack(m)) => {
            eprintln!("rolled back: {m}");
            Ok(exit::FINDINGS)
        }
    }
}

/// Writes a Windows host's rules script and its apply script (nothing is
/// applied here: they run on the Windows host).
fn windows_script(a: &ApplyArgs, dir: &Path) -> crate::failure::Outcome {
    let inv = a.inventory.as_deref().expect("clap requires it with --windows-script");
    let host = a.host.as_deref().expect("clap requires it with --windows-script");
    let (plan, _) = load(inv).map_err(|f| crate::failure::Failure::Message(f.to_string()))?;
    let opts = portmatrix_targets::RenderOptions { table: a.table.clone(), ..Default::default() };
    let compiled = portmatrix_targets::compile::compile_host(&plan, host, Target::Windows, &opts)?;
    for w in &compiled.warnings {
        eprintln!("warning: {host}: {w}");
    }
    let rules = compiled.files.iter().find(|f| f.name.ends_with(".ps1")).ok_or("no PowerShell file among the compiled files")?;
    let apply_name = format!("apply-{}", rules.name);
    let script = portmatrix_apply::windows::apply_script(host, &rules.name, &apply_name, a.timeout);
    let write = || -> std::io::Result<usize> {
        let staging = crate::output::Staging::new(dir)?;
        staging.write(&rules.name, rules.contents.as_bytes())?;
        staging.write(&apply_name, script.as_bytes())?;
        staging.commit()
    };
    write().map_err(|e| format!("{}: {e}", dir.display()))?;
    eprintln!("wrote {} and {apply_name} to {}: on {host}, as Administrator: .\\{apply_name}", rules.name, dir.display());
    Ok(exit::CLEAN)
}

fn fire(state_dir: &Path, id: &str) -> u8 {
    let state = match open_state(state_dir) {
        Ok(s) => s,
        Err(c) => return c,
    };
    match run::fire(&state, id) {
        Ok(o) => {
            eprintln!("{} apply {id}: {}", journal::utc(journal::now_ms()), o.word());
            exit::CLEAN
        }
        Err(e) => {
            eprintln!("{} apply {id}: error: {e}", journal::utc(journal::now_ms()));
            exit::UNUSABLE
        }
    }
}

fn confirm(state_dir: &Path, id: &str) -> u8 {
    let state = match open_state(state_dir) {
        Ok(s) => s,
        Err(c) => return c,
    };
    match run::confirm(&state, id, ConfirmedBy::Hand) {
        Ok(e) => {
            eprintln!("confirmed: apply {id} on {} stays", e.host);
            exit::CLEAN
        }
        Err(ConfirmError::TooLate { deadline_ms }) => {
            eprintln!("too late: the deadline of apply {id} passed at {}; its rollback is due", journal::utc(deadline_ms));
            exit::FINDINGS
        }
        Err(ConfirmError::NotPending(o)) => {
            eprintln!("apply {id} is {}: nothing to confirm", o.word());
            if matches!(o, Outcome::RolledBack { .. }) {
                exit::FINDINGS
            } else {
                exit::UNUSABLE
            }
        }
        Err(ConfirmError::Unusable(e)) => {
            eprintln!("error: {e}");
            exit::UNUSABLE
        }
    }
}

fn status(state_dir: &Path, json: bool) -> u8 {
    let state = match open_state(state_dir) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let (entries, bad) = match state.entries() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::UNUSABLE;
        }
    };
    for b in &bad {
        eprintln!("warning: {b}");
    }
    if json {
        crate::output::print(&(serde_json::to_string_pretty(&entries).expect("entries serialise") + "\n"));
        return exit::CLEAN;
    }
    if entries.is_empty() {
        println!("no apply recorded in {}", state_dir.display());
    }
    for e in &entries {
        println!("{}", status_line(e));
    }
    exit::CLEAN
}

fn status_line(e: &Entry) -> String {
    let now = journal::now_ms();
    let detail = match &e.outcome {
        Outcome::Pending => match e.deadline_ms {
            Some(d) if d > now => format!("rollback in {:.0} s unless confirmed", (d - now) as f64 / 1000.0),
            _ => "deadline passed; the rollback is due".into(),
        },
        Outcome::Confirmed { by, at_ms } => {
            format!("by {} at {}", if *by == ConfirmedBy::Probe { "probe" } else { "hand" }, journal::utc(*at_ms))
        }
        Outcome::RolledBack { by, at_ms, detail } => format!("{by:?} at {}: {}", journal::utc(*at_ms), detail.escape_debug()),
        Outcome::RollbackFailed { why, .. } => format!("ROLLBACK FAILED: {}", why.escape_debug()),
        Outcome::Refused { reasons } => reasons.join("; ").escape_debug().to_string(),
    };
    format!(
        "{}  {}  {:<15}  host {} ({} {})  plan {}  {detail}",
        e.id,
        journal::utc(e.started_ms),
        e.outcome.word(),
        e.host.escape_debug(),
        e.target.escape_debug(),
        e.table.escape_debug(),
        &e.plan_sha256.get(..12).unwrap_or("")
    )
}

fn rollback(state_dir: &Path) -> u8 {
    let state = match open_state(state_dir) {
        Ok(s) => s,
        Err(c) => return c,
    };
    match run::rollback_latest(&state) {
        Ok(e) => {
            eprintln!("rolled back apply {} on {}: the state before it is back", e.id, e.host);
            exit::CLEAN
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::UNUSABLE
        }
    }
}

/// The caller's session: --session, else SSH_CONNECTION (ours or an ancestor's).
fn session(a: &ApplyArgs) -> Result<Option<Session>, Failure> {
    if let Some(s) = &a.session {
        return Session::from_flag(s).map(Some).map_err(Failure::Unusable);
    }
    match guard::session_from_environment() {
        None => Ok(None),
        Some(Ok(s)) => Ok(Some(s)),
        Some(Err(e)) => Err(Failure::Unusable(format!("{e}; give --session ADDR:PORT"))),
    }
}

fn load(inv: &Path) -> Result<(portmatrix_plan::Plan, Vec<journal::MatrixVersion>), Failure> {
    let dep = portmatrix_plan::Deployment::load(inv, &portmatrix_catalog::Catalog).map_err(|d| {
        crate::diagnostics::print_all(&d);
        Failure::Unusable(format!("{}: the inventory cannot be used", inv.display()))
    })?;
    let plan = portmatrix_plan::plan(&dep).map_err(|d| {
        crate::diagnostics::print_all(&d);
        Failure::Unusable(format!("{}: the inventory does not plan", inv.display()))
    })?;
    crate::diagnostics::print_all(&plan.warnings);
    Ok((plan, run::matrix_versions(&dep)))
}

/// Guard verdict: refuse, or go on (loudly when forced).
fn judge_guard(p: &Prepared, a: &ApplyArgs, state: &StateDir) -> Result<(), Failure> {
    let n = p.admin.len();
    match &p.session {
        Some(s) => eprintln!("guard: session {} to port {} ({:?})", s.client, s.port, s.origin),
        None => eprintln!("guard: no session to check (not over SSH, no --session)"),
    }
    if p.cuts.is_empty() {
        eprintln!("guard: {n} admin network(s) reach {} tcp/{}, and so does your session: ok", p.host.name, p.mgmt_port);
        return Ok(());
    }
    let reasons: Vec<String> = p.cuts.iter().map(|c| c.to_string()).collect();
    if !a.force_lockout_risk {
        let mut r = reasons.clone();
        r.push("(--force-lockout-risk loads it anyway, with the rollback armed)".into());
        let _ = run::record_refusal(p, state, &r);
        return Err(Failure::Refused(r));
    }
    eprintln!("\n!!! WARNING: --force-lockout-risk: loading a ruleset that WILL LOCK OUT:");
    for r in &reasons {
        eprintln!("!!!   {r}");
    }
    eprintln!("!!! Only the armed rollback ({} s) can bring access back.\n", a.timeout);
    Ok(())
}

fn apply(a: &ApplyArgs) -> Result<u8, Failure> {
    if let Some(why) = run::unusable_here(a.target) {
        return Err(Failure::Unusable(format!("apply cannot run here: {why}")));
    }
    let inv = a.inventory.as_deref().expect("clap requires it outside the other modes");
    let (plan, matrices) = load(inv)?;
    let own = if a.host.is_some() { Vec::new() } else { portmatrix_verify::netns::own_addresses().unwrap_or_default() };
    let opts = Options {
        host: a.host.clone(),
        target: a.target,
        table: a.table.clone(),
        shipped: a.files.clone(),
        allow_modified_files: a.allow_modified_files,
        session: session(a)?,
        force_lockout_risk: a.force_lockout_risk,
        ignore_foreign: a.ignore_foreign,
        timeout: Duration::from_secs(a.timeout),
    };
    let p = run::prepare(&plan, matrices, &inv.display().to_string(), &opts, &own)?;
    eprintln!("host {}: {} rule(s), {} file(s) for {}", p.host.name, p.ruleset.rules.len(), p.files.len(), a.target);
    for w in &p.warnings {
        eprintln!("warning: {w}");
    }
    let state = StateDir::open(&a.state_dir).map_err(|e| Failure::Unusable(format!("state directory: {e}")))?;
    judge_guard(&p, a, &state)?;
    if !a.dry_run {
        for e in run::recover_overdue(&state).map_err(Failure::Unusable)? {
            eprintln!("recovered: apply {} on {} was past its deadline with its rollback gone; its snapshot is back", e.id, e.host);
        }
    }
    let pre = run::preflight(&p, &state, a.ignore_foreign).inspect_err(|f| {
        if let Failure::Refused(r) = f {
            let _ = run::record_refusal(&p, &state, r);
        }
    })?;
    report_hooks(&pre.hooks, a.ignore_foreign);
    show_diff(&p, &pre, &state, a.dry_run);
    let probes = match (&a.probe_netns, a.confirm_by_probe) {
        (Some(ns), true) => Some(portmatrix_apply::probe::plan_probes(&plan, &p.host.name, ns, 8).map_err(Failure::Unusable)?),
        _ => None,
    };
    if a.dry_run {
        eprintln!("dry run: every check passed; nothing was changed");
        return Ok(exit::CLEAN);
    }
    let arm_with = arm_with(a, &p.id)?;
    let applied = run::execute(&p, &pre, &state, &arm_with, opts.timeout)?;
    println!("{}", applied.id);
    eprintln!(
        "applied {} to {}: rollback armed ({}) for {}",
        applied.id,
        p.host.name,
        match &applied.arming {
            journal::Arming::Systemd { unit } => format!("systemd timer {unit}"),
            journal::Arming::Watchdog { .. } => "detached watchdog".into(),
        },
        journal::utc(applied.deadline_ms)
    );
    finish(a, &state, &applied.id, probes.as_ref())
}

/// The change to our table, before it is made: on standard output for a
/// dry run (it is what the dry run is for), on standard error otherwise.
fn show_diff(p: &Prepared, pre: &run::Preflight, state: &StateDir, dry_run: bool) {
    match run::preview_diff(p, pre, state) {
        Ok(d) if d.is_empty() => eprintln!("diff: {} is already what this apply loads", owned_name(p)),
        Ok(d) if dry_run => crate::output::print(&d),
        Ok(d) => eprint!("{d}"),
        Err(e) => eprintln!("note: no preview of the change: {e}"),
    }
}

fn owned_name(p: &Prepared) -> String {
    match &p.kernel {
        portmatrix_apply::kernel::Kernel::Nft { table } => format!("table inet {table}"),
        portmatrix_apply::kernel::Kernel::Iptables { prefix } => format!("the {prefix}-* chains"),
    }
}

fn report_hooks(h: &portmatrix_apply::hooks::HookReport, ignored: bool) {
    for r in &h.refusals {
        if ignored {
            eprintln!("!!! WARNING (--ignore-foreign): {r}");
        }
    }
    for u in &h.uncertain {
        eprintln!("warning: could not judge: {u}");
    }
    for n in &h.notes {
        eprintln!("note: {n}");
    }
}

fn arm_with(a: &ApplyArgs, id: &str) -> Result<ArmWith, Failure> {
    let want = match a.rollback_via {
        RollbackVia::Auto => None,
        RollbackVia::Systemd => Some(Via::Systemd),
        RollbackVia::Watchdog => Some(Via::Watchdog),
    };
    let (via, note) = arm::choose(want).map_err(Failure::Unusable)?;
    if let Some(n) = note {
        eprintln!("note: {n}");
    }
    let program = std::env::current_exe().map_err(|e| Failure::Unusable(format!("cannot find this program's path: {e}")))?;
    let state_dir = std::path::absolute(&a.state_dir).map_err(|e| Failure::Unusable(format!("{}: {e}", a.state_dir.display())))?;
    let args = ["apply", "--fire-rollback", id, "--state-dir"].iter().map(Into::into).chain([state_dir.into_os_string()]).collect();
    Ok(ArmWith { via, command: RollbackCommand { program, args } })
}

/// Confirm by probe, return at once (--detach), or wait for the outcome.
fn finish(a: &ApplyArgs, state: &StateDir, id: &str, probes: Option<&portmatrix_apply::probe::ProbePlan>) -> Result<u8, Failure> {
    if let Some(pp) = probes {
        eprintln!("probing {} required flow(s) from {} ({})...", pp.targets.len(), pp.netns, join(&pp.prober_addrs));
        let o = run::confirm_by_probe(state, id, pp, Duration::from_millis(a.probe_timeout_ms), 1)?;
        eprintln!("confirmed by probe: all {} required flow(s) passed", o.results.len());
        return Ok(exit::CLEAN);
    }
    if a.detach {
        eprintln!("confirm from a NEW session within {} s: portmatrix apply --confirm {id}", a.timeout);
        return Ok(exit::CLEAN);
    }
    eprintln!("waiting for confirmation: from a NEW session run `portmatrix apply --confirm {id}`");
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let outcome = run::wait_for_outcome(state, id, |left| {
        if tty {
            eprint!("\r{:>4} s left ", left.div_ceil(1000));
        }
    })
    .map_err(Failure::Unusable)?;
    if tty {
        eprintln!();
    }
    match outcome {
        Outcome::Confirmed { .. } => {
            eprintln!("confirmed: the new ruleset stays");
            Ok(exit::CLEAN)
        }
        Outcome::RolledBack { detail, .. } => Err(Failure::RolledBack(detail)),
        other => Err(Failure::Unusable(format!("apply {id} ended as {}", other.word()))),
    }
}

fn join(a: &[std::net::IpAddr]) -> String {
    a.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")
}
