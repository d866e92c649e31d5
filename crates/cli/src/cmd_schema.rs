//! `portmatrix schema`: JSON Schema for editors.

use clap::Args;

#[derive(Args)]
#[command(
    after_help = "Examples:\n  portmatrix schema > matrix.schema.json\n  # then, in a matrix file, for editors using yaml-language-server:\n  # yaml-language-server: $schema=./matrix.schema.json"
)]
pub struct SchemaArgs {}

pub fn run(_: SchemaArgs) -> u8 {
    let s = portmatrix_model::schema::matrix_schema();
    crate::output::print(&(serde_json::to_string_pretty(&s).expect("schema is JSON") + "\n"));
    crate::exit::CLEAN
}
