//! `portmatrix`: the command line. Each subcommand lives in its own module
//! and only parses arguments, calls the library crates and prints.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod args;
mod cmd_audit;
mod cmd_catalog;
mod cmd_check;
mod cmd_compile;
mod cmd_import;
mod cmd_plan;
mod cmd_query;
mod cmd_render;
mod cmd_schema;
mod cmd_serve;
mod cmd_show;
mod cmd_verify;
mod diagnostics;
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
    /// The concrete connections of a deployment, each with its reason
    Plan(cmd_plan::PlanArgs),
    /// Is a packet permitted by the plan, and by which flows?
    Explain(cmd_plan::ExplainArgs),
    /// Firewall configurations for hosts and network firewalls
    Compile(cmd_compile::CompileArgs),
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
    /// Compare what is deployed with the plan (rules: exactly, over the whole packet space)
    #[command(
        subcommand,
        after_help = "Examples:\n  portmatrix audit rules -i inv.yaml --host web1 web1.nft.json\n  sudo portmatrix audit rules -i inv.yaml --host web1 --live"
    )]
    Audit(cmd_audit::AuditCmd),
    /// Print shell completions
    #[command(
        after_help = "Examples:\n  portmatrix completions bash > /etc/bash_completion.d/portmatrix\n  portmatrix completions zsh > ~/.zfunc/_portmatrix"
    )]
    Completions {
        /// Shell to generate completions for
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on standard output
    #[command(after_help = "Example:\n  portmatrix man | man -l -")]
    Man,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Catalog(c) => cmd_catalog::run(c),
        Command::Show(a) => cmd_show::run(a),
        Command::Query(a) => cmd_query::run(a),
        Command::Check(a) => cmd_check::run(a),
        Command::Import(a) => cmd_import::run(a),
        Command::Schema(a) => cmd_schema::run(a),
        Command::Plan(a) => cmd_plan::run_plan(a),
        Command::Explain(a) => cmd_plan::run_explain(a),
        Command::Compile(a) => cmd_compile::run(a),
        Command::Render(a) => cmd_render::run(a),
        Command::Serve(a) => cmd_serve::run(a),
        Command::Responder(a) => cmd_verify::responder(a),
        Command::Probe(a) => cmd_verify::probe(a),
        Command::Lab(a) => cmd_verify::lab(a),
        Command::Audit(c) => cmd_audit::run(c),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "portmatrix", &mut std::io::stdout());
            exit::CLEAN
        }
        Command::Man => {
            let man = clap_mangen::Man::new(Cli::command());
            match man.render(&mut std::io::stdout()) {
                Ok(()) => exit::CLEAN,
                Err(e) => {
                    eprintln!("error: {e}");
                    exit::UNUSABLE
                }
            }
        }
    };
    ExitCode::from(code)
}
