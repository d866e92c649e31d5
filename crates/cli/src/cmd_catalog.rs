//! `portmatrix catalog`: the built-in matrices.

use clap::Subcommand;
use portmatrix_report::table::Table;

use crate::output::{self, Format};

#[derive(Subcommand)]
pub enum CatalogCmd {
    /// List the catalog's products with their flow counts
    #[command(after_help = "Examples:\n  portmatrix catalog list\n  portmatrix catalog list --all --format csv")]
    List {
        /// Also list older versions kept for comparison
        #[arg(long)]
        all: bool,
        /// Output format
        #[arg(long, short, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show one catalog matrix (same as `portmatrix show ID`)
    #[command(after_help = "Examples:\n  portmatrix catalog show avaya-pom\n  portmatrix catalog show jtel-acd@previous --format md")]
    Show(crate::cmd_show::ShowArgs),
}

pub fn run(cmd: CatalogCmd) -> u8 {
    match cmd {
        CatalogCmd::List { all, format } => {
            let mut matrices = match portmatrix_catalog::all() {
                Ok(m) => m,
                Err(d) => {
                    crate::diagnostics::print_all(&d);
                    return crate::exit::UNUSABLE;
                }
            };
            if !all {
                matrices = crate::matrices::catalog();
            }
            let mut t = Table::new(&["id", "version", "title", "roles", "flows", "features", "params"]);
            for m in &matrices {
                t.push(vec![
                    m.matrix.value.clone(),
                    m.version.value.clone(),
                    m.title.clone(),
                    m.roles.len().to_string(),
                    m.flows.len().to_string(),
                    m.features.len().to_string(),
                    m.params.len().to_string(),
                ]);
            }
            output::print(&output::table(&t, format));
            crate::exit::CLEAN
        }
        CatalogCmd::Show(args) => crate::cmd_show::run(args),
    }
}
