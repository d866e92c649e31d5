//! `portmatrix diff`: two matrix versions or two deployments compared,
//! printed as a table or written as a document (the delta change request
//! for deployments).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use portmatrix_diff::{diff_deployments, diff_matrices, DeploymentDiff, MatrixDiff};
use portmatrix_model::Matrix;
use portmatrix_plan::{plan, Deployment, Plan};
use portmatrix_report::delta::{DeltaChangeRequest, DeltaCover};
use portmatrix_report::render::Format as DocFormat;
use portmatrix_report::table::Table;

use crate::failure::{Failure, Outcome};
use crate::output::{self, Format};

/// What `diff` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// A summary and a table for the terminal
    Table,
    /// Markdown document (deployments: the delta change request with its cover)
    Md,
    /// CSV, one row per change (spreadsheet formulas neutralised)
    Csv,
    /// JSON of the whole diff, numbers as numbers
    Json,
    /// YAML, the same structure as JSON
    Yaml,
    /// One self-contained HTML file with a table of contents
    Html,
    /// Excel workbook (deployments: cover, to open, to close, a sheet per firewall)
    Xlsx,
}

impl DiffFormat {
    /// The document format, for those that are documents.
    fn document(self) -> Option<DocFormat> {
        match self {
            DiffFormat::Md => Some(DocFormat::Md),
            DiffFormat::Csv => Some(DocFormat::Csv),
            DiffFormat::Html => Some(DocFormat::Html),
            DiffFormat::Xlsx => Some(DocFormat::Xlsx),
            DiffFormat::Table | DiffFormat::Json | DiffFormat::Yaml => None,
        }
    }
}

#[derive(Args)]
#[command(after_help = "Compares two versions of a matrix (catalog ids such as jtel-acd@previous, or files) flow by flow: \
added, removed, renamed and changed flows (ports widened or narrowed, ends, protocols, conditions), each with the \
cites of both versions. Compares two deployments (inventory files, told from matrices by their content; one \
inventory at a git revision with --since; or one inventory against another version of a product with --upgrade): \
the connections to open and to close, per zone pair, per firewall and per host, each with its flow, cite and what \
enforces it, endpoints whose addresses changed, and the rule changes per host and firewall. Removing a product, \
host or role is the same operation: its diff is the removal request.\n\n\
For deployments, --format xlsx, html, md and csv write the delta change request: a cover (both inventories, the \
date — SOURCE_DATE_EPOCH when set —, the matrix versions on each side, the settings that changed, totals per \
firewall of opens and closes), what to open, what to close, a sheet or section per firewall, with \"enforced by\", \
status and ticket columns. For matrices the same formats list every change with both cites.\n\n\
For deployments, --nft-delta DIR also writes one SUBJECT.delta.nft per managed Linux host and network firewall \
whose nftables ruleset changes: a script for `nft -f` that turns the old compiled table into the new one in one \
transaction (set elements added and deleted, changed chains flushed and refilled, each rule with its reason). The \
files are written all at once, atomically, never through a symlink; hosts in only one inventory get none (compile \
them, or remove their table).\n\n\
Exit code 0 when nothing differs, 1 when something does, 2 on unusable input.\n\n\
Examples:\n  portmatrix diff jtel-acd@previous jtel-acd\n  portmatrix diff jtel-acd@previous jtel-acd --format html -o jtel-acd-revision.html\n  portmatrix diff old/site.yaml site.yaml --format xlsx -o delta-change-request.xlsx\n  portmatrix diff old/site.yaml site.yaml --format csv > delta.csv\n  portmatrix diff old/site.yaml site.yaml --nft-delta nft-delta/\n  portmatrix diff -i site.yaml --since HEAD~1 --format md\n  portmatrix diff -i examples/jtel-acd.yaml --upgrade acd=jtel-acd@previous\n  portmatrix diff my-product-v1.yaml my-product-v2.yaml --format json")]
pub struct DiffArgs {
    /// The old side: a matrix (catalog id or file) or an inventory file
    #[arg(value_name = "OLD", required_unless_present = "inventory")]
    pub old: Option<String>,
    /// The new side, of the same kind as OLD
    #[arg(value_name = "NEW", required_unless_present = "inventory")]
    pub new: Option<String>,
    /// One inventory, compared with itself at --since or with --upgrade
    #[arg(short = 'i', long = "inventory", value_name = "FILE", conflicts_with_all = ["old", "new"])]
    pub inventory: Option<PathBuf>,
    /// The inventory as it was at this git revision is the old side
    #[arg(long, value_name = "REV", requires = "inventory", conflicts_with = "upgrade")]
    pub since: Option<String>,
    /// The new side uses another matrix for one product: PRODUCT=ID[@VERSION] or PRODUCT=FILE
    #[arg(long, value_name = "PRODUCT=MATRIX", requires = "inventory")]
    pub upgrade: Option<String>,
    /// table, md, csv, json, yaml, html or xlsx
    #[arg(long, short, value_enum, default_value_t = DiffFormat::Table)]
    pub format: DiffFormat,
    /// Write to this file (atomically) instead of standard output
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Deployments: write SUBJECT.delta.nft (old table to new in one nft transaction) per changed host and firewall into DIR
    #[arg(long, value_name = "DIR")]
    pub nft_delta: Option<PathBuf>,
}

/// One side of a deployment diff: the deployment (matrix versions,
/// settings) and its plan.
struct DeploymentSide {
    dep: Deployment,
    plan: Plan,
}

enum Side {
    Matrix(Box<Matrix>),
    Plan(Box<DeploymentSide>),
}

pub fn run(a: DiffArgs) -> Outcome {
    let (old, new) = match (&a.inventory, &a.old, &a.new) {
        (Some(inv), _, _) => one_inventory(inv, a.since.as_deref(), a.upgrade.as_deref())?,
        // Both sides load and plan at once, one on each core; warnings print old first.
        (None, Some(old), Some(new)) => {
            let (o, n) = std::thread::scope(|s| {
                let n = s.spawn(|| load_side(new));
                (load_side(old), n.join().expect("loading a side does not panic"))
            });
            let (o, n) = (o?, n?);
            for side in [&o, &n] {
                if let Side::Plan(d) = side {
                    crate::diagnostics::print_all(&d.plan.warnings);
                }
            }
            (o, n)
        }
        _ => return Err("give OLD and NEW, or -i INVENTORY with --since or --upgrade".into()),
    };
    if a.nft_delta.is_some() && matches!(old, Side::Matrix(_)) {
        return Err("--nft-delta compares two deployments (inventories); matrices have no rulesets".into());
    }
    let (bytes, differ) = match (&old, &new) {
        (Side::Matrix(o), Side::Matrix(n)) => {
            let d = diff_matrices(o, n);
            (render_matrix_diff(&d, a.format)?, !d.is_empty())
        }
        (Side::Plan(o), Side::Plan(n)) => {
            if let Some(dir) = &a.nft_delta {
                write_nft_deltas(dir, &o.plan, &n.plan)?;
            }
            let d = diff_deployments(&o.plan, &n.plan);
            let cover = DeltaCover::new(&o.dep, &n.dep, &crate::cmd_render::cover_date());
            (render_deployment_diff(&d, &cover, a.format)?, !d.is_empty())
        }
        _ => return Err("OLD and NEW must both be matrices or both be inventories".into()),
    };
    emit(a.output.as_deref(), a.format, &bytes)?;
    Ok(if differ { crate::exit::FINDINGS } else { crate::exit::CLEAN })
}

/// The nftables delta scripts, staged and moved into `dir` together; says
/// on standard error what it wrote and what it could not.
fn write_nft_deltas(dir: &Path, old: &Plan, new: &Plan) -> Result<(), Failure> {
    let deltas = portmatrix_targets::nftables::delta::plan_deltas(old, new, &portmatrix_targets::RenderOptions::default())?;
    let staging = crate::output::Staging::new(dir).map_err(|e| format!("cannot write into {}: {e}", dir.display()))?;
    for d in &deltas.deltas {
        let name = format!("{}.delta.nft", d.job.name);
        staging.write(&name, d.script.as_bytes()).map_err(|e| format!("cannot write {name} in {}: {e}", dir.display()))?;
    }
    let n = staging.commit().map_err(|e| format!("cannot write into {}: {e}", dir.display()))?;
    let names: Vec<String> = deltas.deltas.iter().map(|d| format!("{}.delta.nft", d.job.name)).collect();
    eprintln!("wrote {n} nftables delta script(s) to {}: {}", dir.display(), list(&names));
    for (jobs, why) in [
        (&deltas.only_old, "only in OLD (no new table; remove it by hand)"),
        (&deltas.only_new, "only in NEW (no old table; load its compiled ruleset)"),
    ] {
        if !jobs.is_empty() {
            let names: Vec<String> = jobs.iter().map(|j| j.name.clone()).collect();
            eprintln!("no delta for {}: {why}", names.join(", "));
        }
    }
    Ok(())
}

/// Writes to a file atomically, or to standard output (never binary to a terminal).
fn emit(output: Option<&Path>, format: DiffFormat, bytes: &[u8]) -> Result<(), String> {
    match output {
        Some(path) => crate::output::write_atomic_bytes(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display())),
        None if format == DiffFormat::Xlsx && std::io::stdout().is_terminal() => {
            Err("XLSX is binary; write it to a file with `-o FILE` or redirect standard output".into())
        }
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(bytes);
            let _ = out.flush();
            Ok(())
        }
    }
}

/// A matrix (catalog id or file) or an inventory file, told apart by content.
fn load_side(spec: &str) -> Result<Side, Failure> {
    let path = Path::new(spec);
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {spec}: {e}"))?;
        if text.lines().any(|l| l.starts_with("inventory:")) {
            return side_of(path).map(|s| Side::Plan(Box::new(s)));
        }
    }
    Ok(Side::Matrix(Box::new(crate::matrices::load(spec)?)))
}

/// A deployment and its plan; its warnings are left in the plan for the caller to print.
fn side_of(path: &Path) -> Result<DeploymentSide, Failure> {
    let dep = Deployment::load(path, &portmatrix_catalog::Catalog)?;
    let plan = plan(&dep)?;
    Ok(DeploymentSide { dep, plan })
}

/// The same inventory at `since` (git), or with one product upgraded.
fn one_inventory(inv: &Path, since: Option<&str>, upgrade: Option<&str>) -> Result<(Side, Side), Failure> {
    let new = side_of(inv)?;
    crate::diagnostics::print_all(&new.plan.warnings);
    if let Some(rev) = since {
        let text = git_show(inv, rev)?;
        // The old inventory beside the new one, so relative matrix paths resolve alike.
        let dir = inv.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new().prefix(".portmatrix-diff-").suffix(".yaml").tempfile_in(dir).map_err(|e| e.to_string())?;
        std::fs::write(tmp.path(), text).map_err(|e| e.to_string())?;
        let old = side_of(tmp.path())?;
        crate::diagnostics::print_all(&old.plan.warnings);
        return Ok((Side::Plan(Box::new(old)), Side::Plan(Box::new(new))));
    }
    let Some(up) = upgrade else { return Err("-i needs --since REV or --upgrade PRODUCT=MATRIX".into()) };
    let (product, spec) = up.split_once('=').ok_or("write --upgrade PRODUCT=MATRIX, e.g. acd=jtel-acd@previous")?;
    let model = portmatrix_model::inventory_from_path(inv)?;
    let mut upgraded = model.clone();
    let p = upgraded.products.get_mut(product).ok_or_else(|| format!("the inventory has no product `{product}`"))?;
    p.matrix.value = spec.to_string();
    let base = inv.parent().unwrap_or(Path::new("."));
    let dep = Deployment::from_inventory(upgraded, base, &portmatrix_catalog::Catalog)?;
    let upgraded_plan = plan(&dep)?;
    let upgraded = DeploymentSide { dep, plan: upgraded_plan };
    Ok((Side::Plan(Box::new(new)), Side::Plan(Box::new(upgraded))))
}

fn git_show(path: &Path, rev: &str) -> Result<String, String> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or("the inventory has no file name")?;
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .arg("show")
        .arg(format!("{rev}:./{}", name.to_string_lossy()))
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!("git show {rev}:{}: {}", path.display(), String::from_utf8_lossy(&out.stderr).trim()));
    }
    String::from_utf8(out.stdout).map_err(|_| "that revision of the inventory is not UTF-8".into())
}

/// The terminal and structured renderings; `None` for documents.
fn text_format(format: DiffFormat) -> Option<Format> {
    match format {
        DiffFormat::Table => Some(Format::Table),
        DiffFormat::Json => Some(Format::Json),
        DiffFormat::Yaml => Some(Format::Yaml),
        _ => None,
    }
}

fn render_matrix_diff(d: &MatrixDiff, format: DiffFormat) -> Result<Vec<u8>, String> {
    if let Some(doc) = format.document() {
        return portmatrix_report::matrix_diff::render(d, doc);
    }
    let format = text_format(format).unwrap_or(Format::Table);
    if matches!(format, Format::Json | Format::Yaml) {
        return Ok(output::structured(d, format).into_bytes());
    }
    let rows = portmatrix_report::matrix_diff::rows(d);
    let mut s = format!("{} → {}: {}\n", d.old, d.new, portmatrix_report::matrix_diff::summary_line(d));
    for (what, n) in [("features", &d.features), ("parameters", &d.params), ("roles", &d.roles)] {
        if !n.added.is_empty() || !n.removed.is_empty() {
            s.push_str(&format!("{what}: added {}; removed {}\n", list(&n.added), list(&n.removed)));
        }
    }
    if !rows.is_empty() {
        s.push('\n');
        s.push_str(&output::table(&Table::of(&rows), format));
    }
    Ok(s.into_bytes())
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn render_deployment_diff(d: &DeploymentDiff, cover: &DeltaCover, format: DiffFormat) -> Result<Vec<u8>, String> {
    let cr = DeltaChangeRequest::new(d, Some(cover));
    if let Some(doc) = format.document() {
        return cr.render(doc);
    }
    let format = text_format(format).unwrap_or(Format::Table);
    if matches!(format, Format::Json | Format::Yaml) {
        return Ok(output::structured(d, format).into_bytes());
    }
    let mut s = format!("{} → {}: open {} connection(s), close {}\n", d.old, d.new, d.opened.len(), d.closed.len());
    for (f, c, _) in &cr.totals.firewalls {
        s.push_str(&format!("  firewall {f}: open {}, close {}\n", c.open, c.close));
    }
    for (label, v) in [
        ("hosts added", &d.hosts_added),
        ("hosts removed", &d.hosts_removed),
        ("no longer deployed", &d.newly_not_deployed),
        ("deployed again", &d.deployed_again),
    ] {
        if !v.is_empty() {
            s.push_str(&format!("{label}: {}\n", v.join(", ")));
        }
    }
    for r in &d.readdressed {
        s.push_str(&format!("readdressed {}: {} → {}\n", r.name, r.old.join(" "), r.new.join(" ")));
    }
    if !cr.rows.is_empty() {
        s.push('\n');
        s.push_str(&output::table(&Table::of(&cr.rows), format));
    }
    if !d.sets.is_empty() {
        s.push_str("\naddress set changes (the rules matching on them stay):\n");
        for c in &d.sets {
            s.push_str(&format!(
                "  {}: +{} -{} member(s) in {} ruleset(s), {} rule(s)\n",
                c.set,
                c.added.len(),
                c.removed.len(),
                c.rulesets.len(),
                c.rules
            ));
        }
    }
    if !d.rules.is_empty() {
        s.push_str("\nrule changes:\n");
        for r in &d.rules {
            s.push_str(&format!("  {}: +{} -{}\n", r.subject, r.added.len(), r.removed.len()));
        }
    }
    Ok(s.into_bytes())
}
