//! `portmatrix compile`: firewall configurations from the plan.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use clap::Args;
use portmatrix_targets::aerleon::{AerleonPlatform, AerleonPlatforms};
use portmatrix_targets::compile::{compile_each, compile_job, jobs_for_all, CompileError, Compiled};
use portmatrix_targets::{Job, JobKind, RenderOptions, Target};

#[derive(Args)]
#[command(after_help = "Generated rulesets are default-deny with return traffic allowed; every rule or set element \
carries the product/flow that needs it. Warnings name every connection that could not be rendered without widening it.\n\n\
Each host gets the rules of its own OS: nftables and iptables for Linux hosts, windows for Windows hosts; with --all, \
hosts the target does not fit are skipped and listed. A network firewall's rules cover every connection whose path \
through the zones crosses it.\n\n\
With --out-dir every file is written or none: a failed run leaves the directory as it was.\n\n\
Examples:\n  portmatrix compile -i examples/jtel-acd.yaml --target nftables --host acd-lb1\n  portmatrix compile -i examples/jtel-acd.yaml --target nftables --all -d out/\n  portmatrix compile -i examples/mixed.yaml --target iptables --firewall core-fw -d out/\n  portmatrix compile -i examples/imagicle-ucsuite.yaml --target windows --all -d out/\n  portmatrix compile -i examples/avaya-pom.yaml --target aerleon --all -d aerleon-input/\n  portmatrix compile -i examples/mixed.yaml --target aerleon --all --aerleon-platform paloalto --aerleon-platform edge-fw=srx -d aerleon-input/\n  portmatrix compile -i examples/jtel-acd.yaml --target firewalld --all -d out/ && sh out/firewalld/acd-lb1/load.sh")]
pub struct CompileArgs {
    #[command(flatten)]
    pub inventory: crate::args::InventoryArg,
    /// Firewall syntax to write
    #[arg(short, long, value_enum)]
    pub target: Target,
    /// One managed host (input rules); plans only the connections to it, so
    /// warnings about the whole deployment's paths come from `plan` or --all
    #[arg(long, value_name = "HOST", conflicts_with_all = ["firewall", "all"], add = clap_complete::ArgValueCompleter::new(crate::complete::hosts))]
    pub host: Option<String>,
    /// One network firewall (forward rules)
    #[arg(long, value_name = "FIREWALL", conflicts_with = "all", add = clap_complete::ArgValueCompleter::new(crate::complete::firewalls))]
    pub firewall: Option<String>,
    /// Every managed host the target fits, and every network firewall
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub out: crate::args::OutDirArg,
    /// nftables table (and prefix of Windows rule groups) to write
    #[arg(long, value_name = "NAME", default_value = "portmatrix", value_parser = crate::args::parse_table_name)]
    pub table: String,
    /// With --target aerleon: the Aerleon generator a network firewall's policy names
    /// (nftables, paloalto, srx, juniper, ciscoasa, fortigate); PLATFORM for every
    /// firewall or FIREWALL=PLATFORM for one, repeatable
    #[arg(long, value_name = "[FIREWALL=]PLATFORM", value_parser = parse_platform)]
    pub aerleon_platform: Vec<(Option<String>, AerleonPlatform)>,
}

fn parse_platform(s: &str) -> Result<(Option<String>, AerleonPlatform), String> {
    let (fw, name) = match s.split_once('=') {
        Some((fw, p)) => (Some(fw.to_string()), p),
        None => (None, s),
    };
    let known = || AerleonPlatform::ALL.iter().map(|p| p.generator()).collect::<Vec<_>>().join(", ");
    let p = AerleonPlatform::parse(name).ok_or_else(|| format!("unknown Aerleon platform `{name}`; known: {}", known()))?;
    Ok((fw, p))
}

pub fn run(a: CompileArgs) -> u8 {
    // One host needs only the connections that end on it.
    let loaded = match &a.host {
        Some(h) => crate::cmd_plan::load_plan_for_host(&a.inventory.inventory, h),
        None => crate::cmd_plan::load_plan(&a.inventory.inventory),
    };
    let plan = match loaded {
        Ok(p) => p,
        Err(c) => return c,
    };
    let mut aerleon = AerleonPlatforms::default();
    for (fw, p) in &a.aerleon_platform {
        match fw {
            Some(fw) if plan.firewall(fw).is_none() => {
                let known: Vec<&str> = plan.firewalls.iter().map(|f| f.name.as_str()).collect();
                eprintln!("error: --aerleon-platform names no firewall of the inventory: `{fw}`; firewalls: {}", known.join(", "));
                return crate::exit::UNUSABLE;
            }
            Some(fw) => {
                aerleon.firewalls.insert(fw.clone(), *p);
            }
            None => aerleon.default = Some(*p),
        }
    }
    let opts = RenderOptions { table: a.table.clone(), aerleon };
    let (jobs, skipped) = match (&a.host, &a.firewall, a.all) {
        (Some(h), _, _) => (vec![Job { kind: JobKind::Host, name: h.clone() }], Vec::new()),
        (_, Some(f), _) => (vec![Job { kind: JobKind::Firewall, name: f.clone() }], Vec::new()),
        (_, _, true) => jobs_for_all(&plan, a.target),
        _ => {
            eprintln!("error: say what to compile: --host NAME, --firewall NAME or --all");
            return crate::exit::UNUSABLE;
        }
    };
    for (job, why) in &skipped {
        eprintln!("skipped {}: {why}", job.name);
    }
    let Some(dir) = &a.out.out_dir else {
        return to_stdout(&plan, &jobs, a.target, &opts);
    };
    if jobs.is_empty() {
        eprintln!("error: nothing to compile for --target {}: every host and firewall was skipped (see above)", a.target);
        return crate::exit::UNUSABLE;
    }
    let code = to_dir(&plan, &jobs, a.target, &opts, dir);
    // The process ends next: freeing the plan of a large deployment, piece
    // by piece, would only add to the run (2 ms of a one-host compile of
    // 10,000 hosts).
    std::mem::forget(plan);
    code
}

fn to_stdout(plan: &portmatrix_plan::Plan, jobs: &[Job], target: Target, opts: &RenderOptions) -> u8 {
    let [job] = jobs else {
        eprintln!("error: --all writes several files: give --out-dir DIR");
        return crate::exit::UNUSABLE;
    };
    match compile_job(plan, job, target, opts) {
        Ok(Compiled { files, warnings }) => {
            for w in &warnings {
                eprintln!("warning: {}: {w}", job.name);
            }
            if files.len() > 1 {
                eprintln!("note: printing {}; --out-dir DIR writes all {} files", files[0].name, files.len());
            }
            if let Some(f) = files.first() {
                crate::output::print(&f.contents);
            }
            crate::exit::CLEAN
        }
        Err(e) => {
            eprintln!("error: {e}");
            crate::exit::UNUSABLE
        }
    }
}

/// A job's warnings, or why it failed.
type Outcome = Result<Vec<String>, String>;

/// Compiles every job on every core into a staging directory, then moves
/// the files into `dir` only if all succeeded.
fn to_dir(plan: &portmatrix_plan::Plan, jobs: &[Job], target: Target, opts: &RenderOptions, dir: &std::path::Path) -> u8 {
    let staging = match crate::output::Staging::new(dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot write into {}: {e}", dir.display());
            return crate::exit::UNUSABLE;
        }
    };
    let done = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<(usize, Outcome)>> = Mutex::new(Vec::new());
    let progress = jobs.len() >= 200 && std::io::IsTerminal::is_terminal(&std::io::stderr());
    compile_each(plan, jobs, target, opts, |i, job, result: Result<Compiled, CompileError>| {
        let outcome = result.map_err(|e| e.to_string()).and_then(|c| {
            for f in &c.files {
                staging.write(&f.name, f.contents.as_bytes()).map_err(|e| format!("cannot write {}: {e}", f.name))?;
            }
            Ok(c.warnings)
        });
        let ok = outcome.is_ok();
        outcomes.lock().expect("no worker panics holding it").push((i, outcome.map_err(|e| format!("{}: {e}", job.name))));
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if progress && (n.is_multiple_of(100) || n == jobs.len()) {
            eprint!("\rcompiled {n}/{} ", jobs.len());
        }
        ok
    });
    if progress {
        eprintln!();
    }
    let mut outcomes = outcomes.into_inner().expect("workers are done");
    outcomes.sort_by_key(|(i, _)| *i);
    let mut warned = 0;
    for (i, outcome) in &outcomes {
        match outcome {
            Ok(warnings) => {
                for w in warnings {
                    eprintln!("warning: {}: {w}", jobs[*i].name);
                }
                warned += warnings.len();
            }
            Err(e) => {
                eprintln!("error: {e}\nnothing was written to {}", dir.display());
                return crate::exit::UNUSABLE;
            }
        }
    }
    match staging.commit() {
        Ok(n) => {
            let warn = if warned > 0 { format!(" ({warned} warning(s))") } else { String::new() };
            eprintln!("wrote {n} file(s) for {} host(s)/firewall(s) to {}{warn}", jobs.len(), dir.display());
            crate::exit::CLEAN
        }
        Err(e) => {
            eprintln!("error: moving the files into {}: {e}", dir.display());
            crate::exit::UNUSABLE
        }
    }
}
