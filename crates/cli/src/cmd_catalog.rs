//! `portmatrix catalog`: the built-in matrices.

use clap::Subcommand;
use portmatrix_report::table::{Cell, Table};

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

pub fn run(cmd: CatalogCmd) -> crate::failure::Outcome {
    match cmd {
        CatalogCmd::List { all, format } => {
            let mut matrices = portmatrix_catalog::all()?;
            if !all {
                matrices = crate::matrices::catalog();
            }
            let mut t = Table::new(&["id", "version", "title", "roles", "flows", "features", "params"]);
            for m in &matrices {
                let count = |n: usize| Cell::Int(n as i64);
                t.push(vec![
                    Cell::from(m.matrix.value.clone()),
                    Cell::from(m.version.value.clone()),
                    Cell::from(m.title.clone()),
                    count(m.roles.len()),
                    count(m.flows.len()),
                    count(m.features.len()),
                    count(m.params.len()),
                ]);
            }
            output::print(&output::table(&t, format));
            Ok(crate::exit::CLEAN)
        }
        CatalogCmd::Show(args) => crate::cmd_show::run(args),
    }
}
