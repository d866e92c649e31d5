//! `portmatrix plan` and `portmatrix explain`.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;
use portmatrix_model::Proto;
use portmatrix_plan::{explain, plan, Deployment, Packet, Plan};

use crate::output::{self, Format};

/// Loads the inventory and plans it, printing diagnostics on failure.
pub fn load_plan(path: &std::path::Path) -> Result<Plan, u8> {
    load_deployment_plan(path).map(|(_, p)| p)
}

/// [`load_plan`], keeping the deployment (products, matrix versions, settings).
pub fn load_deployment_plan(path: &std::path::Path) -> Result<(Deployment, Plan), u8> {
    let dep = Deployment::load(path, &portmatrix_catalog::Catalog).map_err(|d| {
        crate::diagnostics::print_all(&d);
        crate::exit::UNUSABLE
    })?;
    let p = plan(&dep).map_err(|d| {
        crate::diagnostics::print_all(&d);
        crate::exit::UNUSABLE
    })?;
    crate::diagnostics::print_all(&p.warnings);
    Ok((dep, p))
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

pub fn run_plan(a: PlanArgs) -> u8 {
    let p = match load_plan(&a.inventory) {
        Ok(p) => p,
        Err(c) => return c,
    };
    if a.summary {
        let rows: usize = p.connections.iter().map(|c| c.remote_sources().count()).sum();
        println!("{}, {rows} change-request rows", portmatrix_report::plan_report::summary_line(&p, ", "));
        return crate::exit::CLEAN;
    }
    if a.format == Format::Json || a.format == Format::Yaml {
        output::print(&(serde_json::to_string_pretty(&p).expect("plan serialises") + "\n"));
        return crate::exit::CLEAN;
    }
    let t = if a.local { portmatrix_report::plan_report::local_table(&p) } else { portmatrix_report::plan_report::connections_table(&p) };
    output::print(&output::table(&t, a.format));
    if a.format == Format::Table {
        eprintln!("{}", portmatrix_report::plan_report::summary_line(&p, ", "));
    }
    crate::exit::CLEAN
}

#[derive(Args)]
#[command(after_help = "Exit code 0 when permitted, 1 when not.\n\n\
Examples:\n  portmatrix explain -i examples/jtel-acd.yaml --from 10.20.1.5 --to 10.10.0.11 --port 443/tcp\n  portmatrix explain -i examples/imagicle-ucsuite.yaml --from 10.30.0.5 --to 10.10.0.21 --port 5060/udp\n  portmatrix explain -i examples/moderro-rem.yaml --from 10.10.0.31 --to 10.10.0.32 --port icmp")]
pub struct ExplainArgs {
    #[arg(short, long)]
    pub inventory: PathBuf,
    /// Source address
    #[arg(long)]
    pub from: IpAddr,
    /// Destination address
    #[arg(long)]
    pub to: IpAddr,
    /// PORT/PROTO (443/tcp), or icmp / icmpv6
    #[arg(long, value_parser = parse_service)]
    pub port: (u16, Proto),
    /// Source port, for flows that restrict it
    #[arg(long)]
    pub src_port: Option<u16>,
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

pub fn run_explain(a: ExplainArgs) -> u8 {
    let p = match load_plan(&a.inventory) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let pkt = Packet { src: a.from, dst: a.to, proto: a.port.1, port: a.port.0, src_port: a.src_port, icmp_type: None };
    let hits = explain(&p, &pkt);
    let what = if pkt.proto.has_ports() { format!("{}/{}", pkt.port, pkt.proto) } else { pkt.proto.to_string() };
    if hits.is_empty() {
        println!("DENIED: {} -> {} {what}: no flow of the plan permits it", a.from, a.to);
        let known = p.hosts.iter().any(|h| h.addresses.contains(&a.to));
        if !known {
            println!("  note: {} is the address of no host of the inventory", a.to);
        }
        return crate::exit::FINDINGS;
    }
    println!("PERMITTED: {} -> {} {what}", a.from, a.to);
    for c in hits {
        let srcs: Vec<&str> =
            c.sources.members.iter().filter(|m| m.nets.iter().any(|n| n.contains(&a.from))).map(|m| m.name.as_str()).collect();
        for r in &c.reasons {
            println!("  by {} ({}): {} -> {} {}", r.tag(), r.matrix, srcs.join(", "), c.dst.name, c.service());
            println!("     purpose: {}", r.purpose);
            println!("     cite:    {}", r.cite);
        }
    }
    crate::exit::CLEAN
}
