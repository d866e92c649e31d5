//! `portmatrix audit`: compare what is deployed and what runs with the plan.
//! `audit rules` reads a ruleset back (files or the local kernel) and runs
//! the exact check of `portmatrix-proof` on it; the evidence of what runs
//! (flow logs, conntrack, sockets) lives in `cmd_audit_flows`.

use std::path::PathBuf;
use std::process::Command as Process;

use clap::{Args, Subcommand, ValueEnum};
use portmatrix_proof::{Options, Report};
use portmatrix_targets::read::files::{self, Input};
use portmatrix_targets::read::ReadBack;
use portmatrix_targets::Subject;

use crate::exit;
use crate::failure::{Failure, Outcome};

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Compare a ruleset with the plan over the whole packet space (exact, no sampling)
    Rules(RulesArgs),
    /// Flow logs, conntrack, firewall logs and listening sockets (`audit flows`, `audit sockets`, ...)
    #[command(flatten)]
    Evidence(crate::cmd_audit_flows::EvidenceCmd),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// One row per finding, then a summary
    Table,
    /// The whole report (findings with witness packets, what could not be judged, notes)
    Json,
}

#[derive(Args)]
#[command(after_help = "Reads the ruleset back and compares it with what the plan intends for the host (input) or the \
network firewall (forward), over every packet that opens a new connection: addresses, protocol, ports, ICMP type, \
interfaces. Findings: missing (a planned packet the ruleset drops), extra (a packet it accepts that the plan does not), \
interference (another base chain on the same path: foreign tables, iptables-nft tables, policy-accept chains), each \
with a witness packet and the rule or set element responsible. Constructs the check cannot judge are listed as \
\"cannot judge\", never taken for accept or drop.\n\n\
Files are recognised by their content: JSON is `nft -j list ruleset` output (or a `nft -j -f` file), a `*filter` \
line iptables-save (ip6tables-save when it says so or holds IPv6 matches), `create NAME hash:...` an `ipset save` \
file, New-NetFirewallRule the PowerShell portmatrix writes for Windows hosts. --live reads this machine's kernel \
(`nft -j list ruleset`, `iptables-save`, `ip6tables-save`, `ipset save`; needs root).\n\n\
Exit codes: 0 the ruleset does exactly what the plan says, 1 findings or something could not be judged, 2 unusable input.\n\n\
Examples:\n  portmatrix audit rules -i examples/jtel-acd.yaml --host acd-lb1 acd-lb1.nft.json\n  \
nft -j list ruleset > live.json && portmatrix audit rules -i inv.yaml --host web1 live.json\n  \
portmatrix audit rules -i examples/mixed.yaml --firewall core-fw core-fw.iptables core-fw.ip6tables\n  \
portmatrix audit rules -i inv.yaml --host db1 v4.save v6.save sets.ipset --format json\n  \
portmatrix audit rules -i examples/imagicle-ucsuite.yaml --host ucs1 ucs1.ps1\n  \
sudo portmatrix audit rules -i inv.yaml --host web1 --live")]
pub struct RulesArgs {
    #[command(flatten)]
    pub inventory: crate::args::InventoryArg,
    /// The managed host whose input rules to check
    #[arg(long, value_name = "HOST", conflicts_with = "firewall", required_unless_present = "firewall")]
    pub host: Option<String>,
    /// The network firewall whose forward rules to check
    #[arg(long, value_name = "FIREWALL")]
    pub firewall: Option<String>,
    /// Ruleset files (nftables JSON, iptables-save, ip6tables-save, ipset save, PowerShell)
    #[arg(value_name = "FILE", required_unless_present = "live", conflicts_with = "live")]
    pub files: Vec<PathBuf>,
    /// Read this machine's ruleset from the kernel
    #[arg(long)]
    pub live: bool,
    /// The nftables table portmatrix wrote (`compile --table`)
    #[arg(long, value_name = "NAME", default_value = "portmatrix", value_parser = crate::args::parse_table_name)]
    pub table: String,
    /// Output format
    #[arg(long, short, value_enum, default_value_t = AuditFormat::Table)]
    pub format: AuditFormat,
}

pub fn run(c: AuditCmd) -> Outcome {
    match c {
        AuditCmd::Rules(a) => rules(a),
        AuditCmd::Evidence(c) => crate::cmd_audit_flows::run(c),
    }
}

fn rules(a: RulesArgs) -> Outcome {
    let plan = crate::cmd_plan::plan_of(&a.inventory.inventory)?;
    let subject = match (a.host, a.firewall) {
        (Some(h), _) => Subject::Host(h),
        (_, Some(f)) => Subject::Firewall(f),
        _ => return Err("say what to check: --host NAME or --firewall NAME".into()),
    };
    let rb = if a.live { read_live()? } else { read_files(&a.files)? };
    let report =
        portmatrix_proof::check_with(&plan, &subject, &rb, &Options { table: a.table }).map_err(|e| Failure::Message(e.to_string()))?;
    print(&report, a.format);
    Ok(if report.exact_match { exit::CLEAN } else { exit::FINDINGS })
}

fn print(r: &Report, format: AuditFormat) {
    match format {
        AuditFormat::Json => {
            let mut s = serde_json::to_string_pretty(r).expect("a report serializes");
            s.push('\n');
            crate::output::print(&s);
        }
        AuditFormat::Table => {
            let (header, rows) = r.rows();
            let mut out = String::new();
            if !rows.is_empty() {
                let mut t = portmatrix_report::table::Table::new(&header);
                for row in rows {
                    t.push(row);
                }
                out.push_str(&crate::output::table(&t, crate::output::Format::Table));
            }
            for n in &r.notes {
                out.push_str(&format!("note: {}\n", portmatrix_proof::inert(n)));
            }
            out.push_str(&r.summary());
            out.push('\n');
            crate::output::print(&out);
        }
    }
}

/// Reads the given files into one read-back ruleset.
fn read_files(files: &[PathBuf]) -> Result<ReadBack, String> {
    let mut inputs = Vec::new();
    for p in files {
        let bytes = std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        let text = String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", p.display()))?;
        inputs.push(Input { name: p.display().to_string(), text });
    }
    files::combine(inputs).map_err(|e| e.to_string())
}

/// Runs a program that prints a ruleset; `None` when it is not installed.
fn output_of(program: &str, args: &[&str]) -> Result<Option<String>, String> {
    match Process::new(program).args(args).output() {
        Ok(o) if o.status.success() => {
            String::from_utf8(o.stdout).map(Some).map_err(|_| format!("{program} printed something that is not UTF-8"))
        }
        Ok(o) => Err(format!("`{program} {}` failed: {}", args.join(" "), String::from_utf8_lossy(&o.stderr).trim())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot run {program}: {e}")),
    }
}

fn read_live() -> Result<ReadBack, String> {
    let nft = output_of("nft", &["-j", "list", "ruleset"])?;
    let v4 = output_of("iptables-save", &[])?;
    let v6 = output_of("ip6tables-save", &[])?;
    // ipset is optional: without it, `-m set` rules are reported as not judged.
    let ipset = output_of("ipset", &["save"]).ok().flatten();
    files::live(nft.as_deref(), v4.as_deref(), v6.as_deref(), ipset.as_deref()).map_err(|e| e.to_string())
}
