//! `portmatrix`: the command line. Each subcommand lives in its own module
//! and only parses arguments, calls the library crates and prints.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod args;
mod cmd_apply;
mod cmd_audit;
mod cmd_audit_flows;
mod cmd_catalog;
mod cmd_check;
mod cmd_compile;
mod cmd_diff;
mod cmd_import;
mod cmd_init;
mod cmd_man;
mod cmd_plan;
mod cmd_query;
mod cmd_render;
mod cmd_schema;
mod cmd_serve;
mod cmd_show;
mod cmd_verify;
mod complete;
mod diagnostics;
mod failure;
mod heap;
mod matrices;
mod output;

/// Exit codes shared by every command.
pub mod exit {
    pub const CLEAN: u8 = 0;
    /// The command ran and found something (lint findings, failed probes).
    pub const FINDINGS: u8 = 1;
    /// The input could not be used.
    pub const UNUSABLE: u8 = 2;
}

#[derive(Parser)]
#[command(
    name = "portmatrix",
    version,
    about = "Port matrices as code: from vendor port matrices to verified firewalls",
    long_about = "portmatrix reads machine-readable port matrices (a built-in catalog of reviewed \
products, or your own YAML files), checks them, and answers questions about them.\n\n\
Exit codes: 0 clean, 1 findings, 2 unusable input.",
    after_help = "Examples:\n  portmatrix catalog list\n  portmatrix show jtel-acd --port 5060\n  portmatrix query --port 5060/udp\n  portmatrix check my-product.yaml\n\nRun `portmatrix help COMMAND` for the examples of each command."
)]
struct Cli {
    /// Terminal tables show every column, unwrapped (default: the columns that fit)
    #[arg(long, global = true)]
    wide: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List or show the built-in catalog of reviewed matrices
    #[command(
        subcommand,
        after_help = "Examples:\n  portmatrix catalog list\n  portmatrix catalog list --all        # with older versions kept for comparison\n  portmatrix catalog show jtel-acd@previous"
    )]
    Catalog(cmd_catalog::CatalogCmd),
    /// Show a matrix (a catalog id or a YAML file) as a table
    Show(cmd_show::ShowArgs),
    /// Find flows by port or role across the catalog and given files
    Query(cmd_query::QueryArgs),
    /// Validate and lint matrix files
    Check(cmd_check::CheckArgs),
    /// Import a vendor document's port tables (Markdown, CSV, XLSX, HTML, PDF text) into a draft matrix
    Import(cmd_import::ImportArgs),
    /// Write a starter inventory for one or more matrices
    Init(cmd_init::InitArgs),
    /// The concrete connections of a deployment, each with its reason
    Plan(cmd_plan::PlanArgs),
    /// Is a packet permitted by the plan, and by which flows?
    Explain(cmd_plan::ExplainArgs),
    /// Firewall configurations for hosts and network firewalls
    Compile(cmd_compile::CompileArgs),
    /// What changed between two matrix versions or two deployments: flows, connections to open and close
    Diff(cmd_diff::DiffArgs),
    /// Print the JSON Schema of the matrix format, for editors
    Schema(cmd_schema::SchemaArgs),
    /// Render a matrix as Markdown, CSV, XLSX, HTML or a diagram (DOT, Mermaid, SVG)
    Render(cmd_render::RenderArgs),
    /// Serve the web UI (catalog, filterable tables, diagrams) on loopback
    Serve(cmd_serve::ServeArgs),
    /// Answer probes with proof of which host and port answered (run on each host)
    Responder(cmd_verify::ResponderArgs),
    /// Probe every planned connection from this host: pass, blocked, refused, wrong-host, nat
    Probe(cmd_verify::ProbeArgs),
    /// Prove the compiled firewalls in a twin of the deployment in network namespaces
    Lab(cmd_verify::LabArgs),
    /// Audit against the plan: rulesets exactly (rules), and what really runs (flow logs, conntrack, sockets)
    #[command(
        subcommand,
        after_help = "Examples:\n  portmatrix audit rules -i inv.yaml --host web1 web1.nft.json\n  sudo portmatrix audit rules -i inv.yaml --host web1 --live\n  portmatrix audit flows -i inv.yaml vpc-flows.log.gz\n  portmatrix audit sockets -i inv.yaml --host web1 ss.txt"
    )]
    Audit(cmd_audit::AuditCmd),
    /// Load this host's ruleset without locking anyone out: guard, snapshot, armed rollback, confirm
    Apply(Box<cmd_apply::ApplyArgs>),
    /// Print the shell code that completes portmatrix (catalog ids; hosts and firewalls of the -i inventory)
    #[command(after_help = "The shell code asks portmatrix itself for candidates, so they follow the installed catalog and the \
inventory given with -i. Load it at shell start (re-sourcing keeps it in step with upgrades):\n\n\
Examples:\n  echo 'source <(portmatrix completions bash)' >> ~/.bashrc\n  echo 'source <(portmatrix completions zsh)' >> ~/.zshrc\n  portmatrix completions fish > ~/.config/fish/completions/portmatrix.fish")]
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: String,
    },
    /// Print a man page (roff): the overview, or one command's
    #[command(
        after_help = "Examples:\n  portmatrix man | man -l -\n  portmatrix man compile | man -l -\n  portmatrix man --out-dir /usr/local/share/man/man1   # every page: portmatrix.1, portmatrix-compile.1, ..."
    )]
    Man(cmd_man::ManArgs),
}

/// The registration script of the dynamic completions for `shell`.
fn completions(shell: &str) -> u8 {
    let known = ["bash", "zsh", "fish", "elvish", "powershell"];
    if !known.contains(&shell) {
        eprintln!("error: unknown shell `{shell}`; one of {}", known.join(", "));
        return exit::UNUSABLE;
    }
    // What `COMPLETE=SHELL portmatrix` prints, without asking for the variable.
    let exe = std::env::current_exe().unwrap_or_else(|_| "portmatrix".into());
    match std::process::Command::new(exe).env("COMPLETE", shell).output() {
        Ok(out) if out.status.success() => {
            output::print(&String::from_utf8_lossy(&out.stdout));
            exit::CLEAN
        }
        Ok(out) => {
            eprintln!("error: {}", String::from_utf8_lossy(&out.stderr));
            exit::UNUSABLE
        }
        Err(e) => {
            eprintln!("error: cannot run portmatrix to write the completions: {e}");
            exit::UNUSABLE
        }
    }
}

/// Runs one command. Commands not yet returning a typed failure print
/// their own errors and give their exit code.
fn run(command: Command) -> failure::Outcome {
    match command {
        Command::Catalog(c) => cmd_catalog::run(c),
        Command::Show(a) => cmd_show::run(a),
        Command::Query(a) => cmd_query::run(a),
        Command::Check(a) => cmd_check::run(a),
        Command::Import(a) => cmd_import::run(a),
        Command::Schema(a) => cmd_schema::run(a),
        Command::Init(a) => cmd_init::run(a),
        Command::Plan(a) => cmd_plan::run_plan(a),
        Command::Explain(a) => cmd_plan::run_explain(a),
        Command::Compile(a) => Ok(cmd_compile::run(a)),
        Command::Diff(a) => cmd_diff::run(a),
        Command::Render(a) => cmd_render::run(a),
        Command::Serve(a) => cmd_serve::run(a),
        Command::Responder(a) => cmd_verify::responder(a),
        Command::Probe(a) => cmd_verify::probe(a),
        Command::Lab(a) => cmd_verify::lab(a),
        Command::Audit(c) => cmd_audit::run(c),
        Command::Apply(a) => cmd_apply::run(*a),
        Command::Completions { shell } => Ok(completions(&shell)),
        Command::Man(a) => Ok(cmd_man::run(a, Cli::command())),
    }
}

fn main() -> ExitCode {
    clap_complete::CompleteEnv::with_factory(Cli::command).bin("portmatrix").complete();
    let cli = Cli::parse();
    output::set_wide(cli.wide);
    // The one place a failure is printed and the process exits.
    let code = match run(cli.command) {
        Ok(code) => code,
        Err(f) => {
            f.print();
            exit::UNUSABLE
        }
    };
    ExitCode::from(code)
}
