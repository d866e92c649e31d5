//! `portmatrix schema`: JSON Schema for editors.

use clap::Args;

#[derive(Args)]
#[command(
    after_help = "Examples:\n  portmatrix schema > matrix.schema.json\n  portmatrix schema --inventory > inventory.schema.json\n  # then, in a matrix or inventory file, for editors using yaml-language-server:\n  # yaml-language-server: $schema=./matrix.schema.json"
)]
pub struct SchemaArgs {
    /// The schema of inventories instead of matrices
    #[arg(long)]
    pub inventory: bool,
}

pub fn run(a: SchemaArgs) -> crate::failure::Outcome {
    let s = if a.inventory { portmatrix_model::schema::inventory_schema() } else { portmatrix_model::schema::matrix_schema() };
    crate::output::print(&(serde_json::to_string_pretty(&s).expect("schema is JSON") + "\n"));
    Ok(crate::exit::CLEAN)
}
