//! `portmatrix`: the command line. Each subcommand lives in its own module
//! and only parses arguments, calls the library crates and prints.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod cmd_catalog;
mod cmd_check;
mod cmd_query;
mod cmd_schema;
mod cmd_show;
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
    #[command(subcommand)]
    Catalog(cmd_catalog::CatalogCmd),
    /// Show a matrix (a catalog id or a YAML file) as a table
    Show(cmd_show::ShowArgs),
    /// Find flows by port or role across the catalog and given files
    Query(cmd_query::QueryArgs),
    /// Validate and lint matrix files
    Check(cmd_check::CheckArgs),
    /// Print the JSON Schema of the matrix format, for editors
    Schema(cmd_schema::SchemaArgs),
    /// Print shell completions
    #[command(after_help = "Examples:\n  portmatrix completions bash > /etc/bash_completion.d/portmatrix\n  portmatrix completions zsh > ~/.zfunc/_portmatrix")]
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
        Command::Schema(a) => cmd_schema::run(a),
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
