//! `portmatrix audit`: compare what is deployed and what runs with the plan.
//! Each kind of evidence has its own module; this enum only gathers them.

use clap::Subcommand;

use crate::failure::Outcome;

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Flow logs, conntrack, firewall logs and listening sockets (`audit flows`, `audit sockets`, ...)
    #[command(flatten)]
    Evidence(crate::cmd_audit_flows::EvidenceCmd),
}

pub fn run(c: AuditCmd) -> Outcome {
    match c {
        AuditCmd::Evidence(c) => crate::cmd_audit_flows::run(c),
    }
}
