//! `portmatrix compile`: firewall configurations from the plan.

use std::path::PathBuf;

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
    let mut all_files: Vec<OutputFile> = Vec::new();
    let mut warned = 0;
    for (fw, name) in &jobs {
        let r = if *fw { compile_firewall(&plan, name, target) } else { compile_host(&plan, name, target) };
        match r {
            Ok((files, warnings)) => {
                for w in &warnings {
                    eprintln!("warning: {name}: {w}");
                }
                warned += warnings.len();
                all_files.extend(files);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return crate::exit::UNUSABLE;
            }
        }
    }
    match &a.out {
        None => {
            if jobs.len() > 1 {
                eprintln!("error: --all writes several files: give -o DIR");
                return crate::exit::UNUSABLE;
            }
            if let Some(f) = all_files.first() {
                crate::output::print(&f.contents);
            }
        }
        Some(dir) => {
            for f in &all_files {
                let path = dir.join(&f.name);
                if let Err(e) = crate::output::write_atomic(&path, &f.contents) {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    return crate::exit::UNUSABLE;
                }
            }
            eprintln!(
                "wrote {} file(s) for {} host(s)/firewall(s) to {}{}",
                all_files.len(),
                jobs.len(),
                dir.display(),
                if warned > 0 { format!(" ({warned} warning(s))") } else { String::new() }
            );
        }
    }
    crate::exit::CLEAN
}
