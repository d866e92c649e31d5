//! `portmatrix init`: a starter inventory for one or more matrices.

use std::path::PathBuf;

use clap::Args;
use portmatrix_model::starter::{starter_inventory, StarterProduct};

#[derive(Args)]
#[command(after_help = "Writes a commented inventory that places every internal role the default features need on a \
host of its own, binds every external role and audience to a network of its own, and lists every feature and \
parameter with its default and meaning. Replace the FILL-ADDRESS, FILL-CIDR (and FILL-PORT) placeholders, group \
hosts and networks into your zones, and it plans.\n\n\
Examples:\n  portmatrix init --product jtel-acd -o site.yaml\n  portmatrix init --product imagicle-ucsuite --product moderro-rem -o site.yaml\n  portmatrix init --product my-product.yaml")]
pub struct InitArgs {
    /// A catalog id (ID or ID@VERSION) or a matrix file; repeat for several products
    #[arg(long = "product", short = 'p', value_name = "ID|FILE", required = true, add = clap_complete::ArgValueCompleter::new(crate::complete::matrices))]
    pub products: Vec<String>,
    /// Write the inventory to FILE (never replacing an existing file) instead of standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(a: InitArgs) -> crate::failure::Outcome {
    let mut loaded = Vec::new();
    for spec in &a.products {
        loaded.push((spec.clone(), crate::matrices::load(spec)?));
    }
    let mut products: Vec<StarterProduct> = Vec::new();
    for (spec, m) in &loaded {
        let base = m.matrix.value.clone();
        let mut name = base.clone();
        let mut n = 2;
        while products.iter().any(|p| p.name == name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        products.push(StarterProduct { name, spec: spec.clone(), matrix: m });
    }
    let text = starter_inventory(&products);
    match &a.output {
        None => crate::output::print(&text),
        Some(path) => match crate::output::write_new(path, text.as_bytes()) {
            Ok(()) => eprintln!("wrote {}: fill in the addresses, then `portmatrix plan -i {}`", path.display(), path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(format!("{} exists; init never replaces a file", path.display()).into());
            }
            Err(e) => return Err(format!("cannot write {}: {e}", path.display()).into()),
        },
    }
    Ok(crate::exit::CLEAN)
}
