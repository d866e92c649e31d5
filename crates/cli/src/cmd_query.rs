//! `portmatrix query`: which roles use a port, what a role talks to.

use clap::Args;
use portmatrix_model::{Matrix, Proto};
use portmatrix_report::matrix_table::{default_ports, end_roles, role_matches, FlowFilter};
use portmatrix_report::table::Table;

use crate::output::{self, Format};

#[derive(Args)]
#[command(
    after_help = "Examples:\n  portmatrix query --port 5060/udp          # every role that listens on SIP/UDP\n  portmatrix query --port 443 --format csv\n  portmatrix query --role CUCM               # by id, title or the document's wording\n  portmatrix query --port 8443 my-product.yaml   # the catalog and your files"
)]
pub struct QueryArgs {
    /// Listener port, optionally with protocol: 5060 or 5060/udp
    #[arg(long, value_parser = crate::cmd_show::parse_port_proto, required_unless_present = "role")]
    pub port: Option<(u16, Option<Proto>)>,
    /// A role id, title or alias (case-insensitive)
    #[arg(long)]
    pub role: Option<String>,
    /// Matrix files or catalog ids to search besides the catalog
    pub files: Vec<String>,
    /// Search only the given files, not the catalog
    #[arg(long)]
    pub no_catalog: bool,
    /// Output format
    #[arg(long, short, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn run(a: QueryArgs) -> crate::failure::Outcome {
    let mut matrices: Vec<Matrix> = if a.no_catalog { Vec::new() } else { crate::matrices::catalog() };
    let mut errors = Vec::new();
    for f in &a.files {
        match crate::matrices::load(f) {
            Ok(m) => matrices.push(m),
            Err(d) => errors.extend(d),
        }
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let filter = FlowFilter { role: a.role.clone(), feature: None, port: a.port.map(|p| p.0), proto: a.port.and_then(|p| p.1) };
    let mut t = Table::new(&["matrix", "listener", "title", "proto", "ports", "from", "flow", "when"]);
    for m in &matrices {
        for f in m.flows.iter().filter(|f| filter.keep(m, f)) {
            let listeners: Vec<&str> = end_roles(m, &f.to);
            // With --role, show the flow once from that role's side; with
            // --port, one row per listening role.
            for l in listeners {
                if a.port.is_none()
                    && !f.to.iter().any(|n| n.value.eq_ignore_ascii_case(a.role.as_deref().unwrap_or("")))
                    && !role_matches(m, l, a.role.as_deref().unwrap_or(""))
                    && end_roles(m, &f.to).len() > 1
                {
                    continue;
                }
                let title = m.role(l).map(|r| r.title.clone()).unwrap_or_else(|| "anything the deployment binds".into());
                let protos: Vec<&str> =
                    f.protos().filter(|p| a.port.and_then(|x| x.1).is_none_or(|q| q == *p)).map(Proto::as_str).collect();
                t.push(vec![
                    m.matrix.value.clone(),
                    l.to_string(),
                    title,
                    protos.join("/"),
                    default_ports(m, f).map(|s| s.to_string()).unwrap_or_else(|| "set by deployment".into()),
                    end_roles(m, &f.from).join(", "),
                    f.id.value.clone(),
                    f.when.as_ref().map(|w| w.to_string()).unwrap_or_default(),
                ]);
            }
        }
    }
    t.rows.sort();
    t.rows.dedup();
    let found = !t.rows.is_empty();
    output::print(&output::table(&t, a.format));
    if !found {
        eprintln!("no flow matches");
    }
    Ok(crate::exit::CLEAN)
}
