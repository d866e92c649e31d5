//! `portmatrix compile`: firewall configurations from the plan.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use clap::{Args, ValueEnum};
use portmatrix_targets::{compile_firewall, compile_host, OutputFile, Target};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetArg {
    /// nftables (text for `nft -f` and JSON for `nft -j -f`)
    Nftables,
    /// iptables-restore and ip6tables-restore files
    Iptables,
    /// PowerShell script of New-NetFirewallRule calls
    Windows,
    /// Aerleon policy and naming definitions
    Aerleon,
}

impl From<TargetArg> for Target {
    fn from(t: TargetArg) -> Self {
        match t {
            TargetArg::Nftables => Target::Nftables,
            TargetArg::Iptables => Target::Iptables,
            TargetArg::Windows => Target::Windows,
            TargetArg::Aerleon => Target::Aerleon,
        }
    }
}

#[derive(Args)]
#[command(after_help = "Generated rulesets are default-deny with return traffic allowed; every rule or set element \
carries the product/flow that needs it. Warnings name every connection that could not be rendered without widening it.\n\n\
Examples:\n  portmatrix compile -i examples/jtel-acd.yaml --target nftables --host acd-lb1\n  portmatrix compile -i examples/jtel-acd.yaml --target nftables --all -o out/\n  portmatrix compile -i examples/mixed.yaml --target iptables --firewall core-fw -o out/\n  portmatrix compile -i examples/imagicle-ucsuite.yaml --target windows --all -o out/\n  portmatrix compile -i examples/avaya-pom.yaml --target aerleon --all -o aerleon-input/")]
pub struct CompileArgs {
    #[arg(short, long)]
    pub inventory: PathBuf,
    #[arg(short, long, value_enum)]
    pub target: TargetArg,
    /// One managed host (input rules)
    #[arg(long, conflicts_with_all = ["firewall", "all"])]
    pub host: Option<String>,
    /// One network firewall (forward rules between its zones)
    #[arg(long, conflicts_with = "all")]
    pub firewall: Option<String>,
    /// Every managed host (and, except for windows, every firewall)
    #[arg(long)]
    pub all: bool,
    /// Directory to write files into; without it, a single host's main file goes to stdout
    #[arg(short, long)]
    pub out: Option<PathBuf>,
}

pub fn run(a: CompileArgs) -> u8 {
    let plan = match crate::cmd_plan::load_plan(&a.inventory) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let target: Target = a.target.into();
    let mut jobs: Vec<(bool, String)> = Vec::new();
    match (&a.host, &a.firewall, a.all) {
        (Some(h), _, _) => jobs.push((false, h.clone())),
        (_, Some(f), _) => jobs.push((true, f.clone())),
        (_, _, true) => {
            jobs.extend(plan.hosts.iter().filter(|h| h.managed).map(|h| (false, h.name.clone())));
            if target != Target::Windows {
                jobs.extend(plan.firewalls.iter().map(|f| (true, f.name.clone())));
            }
        }
        _ => {
            eprintln!("error: say what to compile: --host NAME, --firewall NAME or --all");
            return crate::exit::UNUSABLE;
        }
    }
    if target == Target::Windows {
        jobs.retain(|(fw, h)| !fw && plan.host(h).is_none_or(|h| h.os != Some(portmatrix_model::Os::Linux)) || a.host.is_some());
    }
    let Some(dir) = &a.out else {
        if jobs.len() > 1 {
            eprintln!("error: --all writes several files: give -o DIR");
            return crate::exit::UNUSABLE;
        }
        let (fw, name) = &jobs[0];
        return match compile_one(&plan, *fw, name, target) {
            Ok((files, warnings)) => {
                for w in &warnings {
                    eprintln!("warning: {name}: {w}");
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
        };
    };

    // Hosts are independent: compile and write them on every core, each file
    // as soon as it is ready, so memory stays flat for thousands of hosts.
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let written = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<(usize, Outcome)>> = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len().max(1));
    let progress = jobs.len() >= 200 && std::io::IsTerminal::is_terminal(&std::io::stderr());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((fw, name)) = jobs.get(i) else { break };
                let outcome = compile_one(&plan, *fw, name, target).and_then(|(files, warnings)| {
                    for f in &files {
                        let path = dir.join(&f.name);
                        crate::output::write_atomic(&path, &f.contents).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                        written.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(warnings)
                });
                let failed = outcome.is_err();
                outcomes.lock().expect("no worker panics holding it").push((i, outcome));
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if progress && (n.is_multiple_of(100) || n == jobs.len()) {
                    eprint!("\rcompiled {n}/{} ", jobs.len());
                }
                if failed {
                    // Stop handing out work; the others finish what they hold.
                    next.store(jobs.len(), Ordering::Relaxed);
                }
            });
        }
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
                    eprintln!("warning: {}: {w}", jobs[*i].1);
                }
                warned += warnings.len();
            }
            Err(e) => {
                eprintln!("error: {e}");
                return crate::exit::UNUSABLE;
            }
        }
    }
    eprintln!(
        "wrote {} file(s) for {} host(s)/firewall(s) to {}{}",
        written.into_inner(),
        jobs.len(),
        dir.display(),
        if warned > 0 { format!(" ({warned} warning(s))") } else { String::new() }
    );
    crate::exit::CLEAN
}

/// A job's warnings, or why it failed.
type Outcome = Result<Vec<String>, String>;

fn compile_one(plan: &portmatrix_plan::Plan, firewall: bool, name: &str, target: Target) -> Result<(Vec<OutputFile>, Vec<String>), String> {
    if firewall {
        compile_firewall(plan, name, target)
    } else {
        compile_host(plan, name, target)
    }
}
