//! `portmatrix plan` and `portmatrix explain`.

use std::path::PathBuf;

use clap::Args;
use portmatrix_model::{IcmpType, Proto};
use portmatrix_plan::{explain_between, plan, Deployment, Plan};

use crate::failure::{Failure, Outcome};
use crate::output::{self, Format};

/// Loads the inventory and plans it; the plan's warnings go to stderr.
pub fn plan_of(path: &std::path::Path) -> Result<Plan, Failure> {
    deployment_plan_of(path).map(|(_, p)| p)
}

/// [`plan_of`], keeping the deployment (products, matrix versions, settings).
pub fn deployment_plan_of(path: &std::path::Path) -> Result<(Deployment, Plan), Failure> {
    crate::heap::prefault_for_inventory(path);
    let dep = Deployment::load(path, &portmatrix_catalog::Catalog)?;
    let p = plan(&dep)?;
    crate::diagnostics::print_all(&p.warnings);
    Ok((dep, p))
}

/// [`plan_of`] for commands that print their own failures (exit code on error).
pub fn load_plan(path: &std::path::Path) -> Result<Plan, u8> {
    load_deployment_plan(path).map(|(_, p)| p)
}

/// The plan restricted to the connections that end on `host`
/// ([`portmatrix_plan::plan_for_host`]): what compiling one host needs.
pub fn load_plan_for_host(path: &std::path::Path, host: &str) -> Result<Plan, u8> {
    let focused = || -> Result<Plan, Failure> {
        crate::heap::prefault_for_inventory(path);
        let dep = Deployment::load(path, &portmatrix_catalog::Catalog)?;
        let p = portmatrix_plan::plan_for_host(&dep, host)?;
        crate::diagnostics::print_all(&p.warnings);
        // Compiling one host is all this process does: the inventory's
        // thousands of small values are left to the exit, not freed one
        // by one.
        std::mem::forget(dep);
        Ok(p)
    };
    focused().map_err(|f| {
        f.print();
        crate::exit::UNUSABLE
    })
}

/// [`deployment_plan_of`] for commands that print their own failures.
pub fn load_deployment_plan(path: &std::path::Path) -> Result<(Deployment, Plan), u8> {
    deployment_plan_of(path).map_err(|f| {
        f.print();
        crate::exit::UNUSABLE
    })
}

#[derive(Args)]
#[command(after_help = "One row per source × destination host × service, with the flows that justify it.\n\
The CSV is the change request a firewall team accepts.\n\n\
Examples:\n  portmatrix plan -i examples/jtel-acd.yaml\n  portmatrix plan -i examples/mixed.yaml --format csv > change-request.csv\n  portmatrix plan -i examples/avaya-pom.yaml --format json | jq '.connections | length'\n  portmatrix plan -i examples/jtel-acd.yaml --local    # flows that stay on one host")]
pub struct PlanArgs {
    /// The inventory file
    #[arg(short, long)]
    pub inventory: PathBuf,
    /// table, md, csv or json (json holds the whole plan)
    #[arg(long, short, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// List the flows that stay on one host (no rule needed) instead
    #[arg(long)]
    pub local: bool,
    /// Print only the counts (connections, rows, local flows, hosts)
    #[arg(long)]
    pub summary: bool,
}

pub fn run_plan(a: PlanArgs) -> Outcome {
    let p = plan_of(&a.inventory)?;
    if a.summary {
        let rows: usize = p.connections.iter().map(|c| c.remote_sources().count()).sum();
        output::print(&format!("{}, {rows} change-request rows\n", portmatrix_report::plan_report::summary_line(&p, ", ")));
        return Ok(crate::exit::CLEAN);
    }
    if a.format == Format::Json || a.format == Format::Yaml {
        output::print(&output::structured(&p, a.format));
        return Ok(crate::exit::CLEAN);
    }
    let t = if a.local { portmatrix_report::plan_report::local_table(&p) } else { portmatrix_report::plan_report::connections_table(&p) };
    output::print(&output::table(&t, a.format));
    if a.format == Format::Table {
        eprintln!("{}", portmatrix_report::plan_report::summary_line(&p, ", "));
    }
    Ok(crate::exit::CLEAN)
}

#[derive(Args)]
#[command(after_help = "FROM and TO are host or network names of the inventory, or addresses. Every pair of their \
addresses of one family is explained: permitted or not, by which flows (with purpose and cite), and what enforces \
it (the destination's host firewall and the network firewalls on the path, or nothing); traffic between two roles \
of one host is \"local, no rule\".\n\n\
Exit code 0 when every pair is permitted, 1 when one is not, 2 on unusable input.\n\n\
Examples:\n  portmatrix explain -i examples/jtel-acd.yaml --from agents --to acd-lb1 --port 443/tcp\n  portmatrix explain -i examples/jtel-acd.yaml --from 10.20.1.5 --to 10.10.0.11 --port 443/tcp --format json\n  portmatrix explain -i examples/moderro-rem.yaml --from rem1 --to iem1 --port icmp --icmp-type echo-request\n  portmatrix explain -i examples/mixed.yaml --from offsite-backup --to ucs1 --port 445/tcp")]
pub struct ExplainArgs {
    #[command(flatten)]
    pub inventory: crate::args::InventoryArg,
    /// Source: a host or network name, or an address
    #[arg(long, value_name = "HOST|NETWORK|ADDR", add = clap_complete::ArgValueCompleter::new(crate::complete::endpoints))]
    pub from: String,
    /// Destination: a host or network name, or an address
    #[arg(long, value_name = "HOST|NETWORK|ADDR", add = clap_complete::ArgValueCompleter::new(crate::complete::endpoints))]
    pub to: String,
    /// PORT/PROTO (443/tcp), or icmp / icmpv6
    #[arg(long, value_parser = parse_service, value_name = "PORT/PROTO")]
    pub port: (u16, Proto),
    /// Source port, for flows that restrict it (default: any allowed source port)
    #[arg(long, value_name = "PORT")]
    pub src_port: Option<u16>,
    /// ICMP type, for icmp/icmpv6 (default: any type a flow allows)
    #[arg(long, value_name = "TYPE", value_parser = parse_icmp_type)]
    pub icmp_type: Option<IcmpType>,
    /// table or json
    #[arg(long, short, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

fn parse_icmp_type(s: &str) -> Result<IcmpType, String> {
    IcmpType::parse(s).ok_or_else(|| format!("unknown ICMP type; known: {}", IcmpType::ALL.map(|t| t.as_str()).join(", ")))
}

fn parse_service(s: &str) -> Result<(u16, Proto), String> {
    if let Some(p) = Proto::parse(s).filter(|p| !p.has_ports()) {
        return Ok((0, p));
    }
    match crate::cmd_show::parse_port_proto(s)? {
        (port, Some(p)) => Ok((port, p)),
        (port, None) => Err(format!("give the protocol too: {port}/tcp or {port}/udp")),
    }
}

pub fn run_explain(a: ExplainArgs) -> Outcome {
    let p = plan_of(&a.inventory.inventory)?;
    let (port, proto) = a.port;
    let answers = explain_between(&p, &a.from, &a.to, proto, port, a.src_port, a.icmp_type)?;
    match a.format {
        Format::Json | Format::Yaml => output::print(&output::structured(&answers, a.format)),
        _ => output::print(&explain_text(&answers)),
    }
    Ok(if answers.iter().all(|x| x.permitted) { crate::exit::CLEAN } else { crate::exit::FINDINGS })
}

fn explain_text(answers: &[portmatrix_plan::Explanation]) -> String {
    let mut o = String::new();
    for x in answers {
        let k = &x.packet;
        let what = match (k.port, k.icmp_type) {
            (Some(p), _) => format!("{p}/{}", k.proto),
            (None, Some(t)) => format!("{} {t}", k.proto),
            (None, None) => k.proto.to_string(),
        };
        let name = |n: &Option<String>| n.as_ref().map(|n| format!(" ({n})")).unwrap_or_default();
        let verdict = if x.local {
            "LOCAL"
        } else if x.permitted {
            "PERMITTED"
        } else {
            "DENIED"
        };
        o.push_str(&format!("{verdict}: {}{} -> {}{} {what}\n", k.src, name(&x.from), k.dst, name(&x.to)));
        if x.local {
            o.push_str("  both ends on one host: no rule is involved\n");
        } else if !x.permitted {
            o.push_str("  no flow of the plan permits it\n");
        }
        for r in &x.by {
            o.push_str(&format!("  by {} ({}): {}\n     cite: {}\n", r.tag(), r.matrix, r.purpose, r.cite));
        }
        if let Some(f) = &x.forwarded {
            o.push_str(&format!("  forwarded by {} to {} ({})\n", f.firewall, f.host, f.private));
        }
        if let Some(e) = &x.enforced_by {
            o.push_str(&format!("  enforced by: {}\n", e.describe()));
        }
    }
    o
}
