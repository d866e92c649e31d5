//! Arguments shared by several commands, defined once so that a flag means
//! one thing everywhere: `-i` is always the inventory, `-o` always an output
//! file, `-d` always an output directory, `-t` always a firewall syntax,
//! `--format` always the output format.

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct InventoryArg {
    /// The inventory (a deployment's YAML file)
    #[arg(short = 'i', long = "inventory", value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub inventory: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct OutDirArg {
    /// Directory to write the files into (created if missing; all files or none)
    #[arg(short = 'd', long = "out-dir", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// An nftables table name: letters, digits and `_` (the kernel allows more;
/// this keeps it safe in every output).
pub fn parse_table_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(s.to_string())
    } else {
        Err("a table name has 1 to 32 letters, digits and `_`, starting with a letter".into())
    }
}
