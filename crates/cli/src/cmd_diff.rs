//! `portmatrix diff`: two matrix versions or two deployments compared.

use std::path::{Path, PathBuf};

use clap::Args;
use portmatrix_diff::matrix::Change;
use portmatrix_diff::{diff_deployments, diff_matrices, DeltaRow, DeploymentDiff, MatrixDiff};
use portmatrix_model::Matrix;
use portmatrix_plan::{plan, Deployment, Plan};
use portmatrix_report::table::Table;

use crate::output::{self, Format};

#[derive(Args)]
#[command(after_help = "Compares two versions of a matrix (catalog ids such as jtel-acd@previous, or files) flow by flow: \
added, removed, renamed and changed flows (ports widened or narrowed, ends, protocols, conditions), each with the \
cites of both versions. Compares two deployments (inventory files, told from matrices by their content; one \
inventory at a git revision with --since; or one inventory against another version of a product with --upgrade): \
the connections to open and to close, per zone pair, per firewall and per host, each with its flow, cite and what \
enforces it, endpoints whose addresses changed, and the rule changes per host and firewall. Removing a product, \
host or role is the same operation: its diff is the removal request.\n\n\
Exit code 0 when nothing differs, 1 when something does, 2 on unusable input.\n\n\
Examples:\n  portmatrix diff jtel-acd@previous jtel-acd\n  portmatrix diff old/site.yaml site.yaml --format csv > delta.csv\n  portmatrix diff -i site.yaml --since HEAD~1\n  portmatrix diff -i examples/jtel-acd.yaml --upgrade acd=jtel-acd@previous\n  portmatrix diff my-product-v1.yaml my-product-v2.yaml --format json")]
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
    /// table, md, csv or json
    #[arg(long, short, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

enum Side {
    Matrix(Box<Matrix>),
    Plan(Box<Plan>),
}

pub fn run(a: DiffArgs) -> u8 {
    let sides = match (&a.inventory, &a.old, &a.new) {
        (Some(inv), _, _) => one_inventory(inv, a.since.as_deref(), a.upgrade.as_deref()),
        (None, Some(old), Some(new)) => load_side(old).and_then(|o| load_side(new).map(|n| (o, n))),
        _ => Err("give OLD and NEW, or -i INVENTORY with --since or --upgrade".into()),
    };
    let (old, new) = match sides {
        Ok(s) => s,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            return crate::exit::UNUSABLE;
        }
    };
    let (text, differ) = match (&old, &new) {
        (Side::Matrix(o), Side::Matrix(n)) => {
            let d = diff_matrices(o, n);
            (render_matrix_diff(&d, a.format), !d.is_empty())
        }
        (Side::Plan(o), Side::Plan(n)) => {
            let d = diff_deployments(o, n);
            (render_deployment_diff(&d, a.format), !d.is_empty())
        }
        _ => {
            eprintln!("error: OLD and NEW must both be matrices or both be inventories");
            return crate::exit::UNUSABLE;
        }
    };
    output::print(&text);
    if differ {
        crate::exit::FINDINGS
    } else {
        crate::exit::CLEAN
    }
}

/// A matrix (catalog id or file) or an inventory file, told apart by content.
fn load_side(spec: &str) -> Result<Side, String> {
    let path = Path::new(spec);
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {spec}: {e}"))?;
        if text.lines().any(|l| l.starts_with("inventory:")) {
            return plan_of(path).map(|p| Side::Plan(Box::new(p)));
        }
    }
    crate::matrices::load(spec).map(|m| Side::Matrix(Box::new(m))).map_err(|d| {
        crate::diagnostics::print_all(&d);
        String::new()
    })
}

fn plan_of(path: &Path) -> Result<Plan, String> {
    crate::cmd_plan::load_plan(path).map_err(|_| String::new())
}

/// The same inventory at `since` (git), or with one product upgraded.
fn one_inventory(inv: &Path, since: Option<&str>, upgrade: Option<&str>) -> Result<(Side, Side), String> {
    let new = plan_of(inv)?;
    if let Some(rev) = since {
        let text = git_show(inv, rev)?;
        // The old inventory beside the new one, so relative matrix paths resolve alike.
        let dir = inv.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new().prefix(".portmatrix-diff-").suffix(".yaml").tempfile_in(dir).map_err(|e| e.to_string())?;
        std::fs::write(tmp.path(), text).map_err(|e| e.to_string())?;
        let old = plan_of(tmp.path())?;
        return Ok((Side::Plan(Box::new(old)), Side::Plan(Box::new(new))));
    }
    let Some(up) = upgrade else { return Err("-i needs --since REV or --upgrade PRODUCT=MATRIX".into()) };
    let (product, spec) = up.split_once('=').ok_or("write --upgrade PRODUCT=MATRIX, e.g. acd=jtel-acd@previous")?;
    let model = portmatrix_model::inventory_from_path(inv).map_err(|d| {
        crate::diagnostics::print_all(&d);
        String::new()
    })?;
    let mut upgraded = model.clone();
    let p = upgraded.products.get_mut(product).ok_or_else(|| format!("the inventory has no product `{product}`"))?;
    p.matrix.value = spec.to_string();
    let base = inv.parent().unwrap_or(Path::new("."));
    let dep = Deployment::from_inventory(upgraded, base, &portmatrix_catalog::Catalog).map_err(|d| {
        crate::diagnostics::print_all(&d);
        String::new()
    })?;
    let upgraded_plan = plan(&dep).map_err(|d| {
        crate::diagnostics::print_all(&d);
        String::new()
    })?;
    Ok((Side::Plan(Box::new(new)), Side::Plan(Box::new(upgraded_plan))))
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

fn change_text(c: &Change) -> String {
    match c {
        Change::PortsWidened { added, old, new } => format!("ports widened by {added} ({old} → {new})"),
        Change::PortsNarrowed { removed, old, new } => format!("ports narrowed by {removed} ({old} → {new})"),
        Change::PortsChanged { added, removed, old, new } => format!("ports +{added} -{removed} ({old} → {new})"),
        Change::PortsRewritten { old, new } => format!("port expression {old} → {new}"),
        Change::SourcePorts { old, new } => format!("source ports {old} → {new}"),
        Change::From { old, new } => format!("from {old} → {new}"),
        Change::To { old, new } => format!("to {old} → {new}"),
        Change::Proto { old, new } => format!("protocol {old} → {new}"),
        Change::Icmp { old, new } => format!("ICMP types {old} → {new}"),
        Change::Condition { old, new } => format!("condition {old} → {new}"),
        Change::SameHost { old, new } => format!("same_host {old} → {new}"),
    }
}

fn matrix_table(d: &MatrixDiff) -> Table {
    let mut t = Table::new(&["change", "flow", "what", "old cite", "new cite"]);
    for f in &d.added {
        t.push(vec!["added".into(), f.id.clone(), format!("{} → {} {}", f.from, f.to, f.service), String::new(), f.cite.clone()]);
    }
    for f in &d.removed {
        t.push(vec!["removed".into(), f.id.clone(), format!("{} → {} {}", f.from, f.to, f.service), f.cite.clone(), String::new()]);
    }
    for c in &d.changed {
        let what = c.changes.iter().map(change_text).collect::<Vec<_>>().join("; ");
        let id = match &c.old_id {
            Some(old) => format!("{old} → {}", c.id),
            None => c.id.clone(),
        };
        t.push(vec!["changed".into(), id, what, c.old_cite.clone(), c.new_cite.clone()]);
    }
    for r in &d.renamed {
        t.push(vec![
            "renamed".into(),
            format!("{} → {}", r.old_id, r.new_id),
            "same ports, ends and conditions".into(),
            r.old_cite.clone(),
            r.new_cite.clone(),
        ]);
    }
    t
}

fn render_matrix_diff(d: &MatrixDiff, format: Format) -> String {
    if matches!(format, Format::Json | Format::Yaml) {
        return output::structured(d, format);
    }
    let t = matrix_table(d);
    if format != Format::Table {
        return output::table(&t, format);
    }
    let mut s = format!(
        "{} → {}: {} flow(s) added, {} removed, {} changed, {} renamed\n",
        d.old,
        d.new,
        d.added.len(),
        d.removed.len(),
        d.changed.len(),
        d.renamed.len()
    );
    for (what, n) in [("features", &d.features), ("parameters", &d.params), ("roles", &d.roles)] {
        if !n.added.is_empty() || !n.removed.is_empty() {
            s.push_str(&format!("{what}: added {}; removed {}\n", list(&n.added), list(&n.removed)));
        }
    }
    if !t.rows.is_empty() {
        s.push('\n');
        s.push_str(&output::table(&t, format));
    }
    s
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn delta_table(d: &DeploymentDiff) -> Table {
    let mut t =
        Table::new(&["action", "source", "source zone", "destination", "destination zone", "service", "flow", "enforced by", "cite"]);
    let mut push = |action: &str, r: &DeltaRow| {
        t.push(vec![
            action.into(),
            r.src.clone(),
            r.src_zone.clone().unwrap_or_default(),
            r.dst.clone(),
            r.dst_zone.clone().unwrap_or_default(),
            r.service(),
            r.flow.to_string(),
            r.enforced_by.clone(),
            r.cite.clone(),
        ]);
    };
    for r in &d.opened {
        push("open", r);
    }
    for r in &d.closed {
        push("close", r);
    }
    t
}

fn render_deployment_diff(d: &DeploymentDiff, format: Format) -> String {
    if matches!(format, Format::Json | Format::Yaml) {
        return output::structured(d, format);
    }
    let t = delta_table(d);
    if format != Format::Table {
        return output::table(&t, format);
    }
    let mut s = format!("{} → {}: open {} connection(s), close {}\n", d.old, d.new, d.opened.len(), d.closed.len());
    let fw_open = DeploymentDiff::by_firewall(&d.opened);
    let fw_close = DeploymentDiff::by_firewall(&d.closed);
    let fws: std::collections::BTreeSet<&String> = fw_open.keys().chain(fw_close.keys()).collect();
    for f in fws {
        s.push_str(&format!(
            "  firewall {f}: open {}, close {}\n",
            fw_open.get(f).map_or(0, Vec::len),
            fw_close.get(f).map_or(0, Vec::len)
        ));
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
    if !t.rows.is_empty() {
        s.push('\n');
        s.push_str(&output::table(&t, format));
    }
    if !d.rules.is_empty() {
        s.push_str("\nrule changes:\n");
        for r in &d.rules {
            s.push_str(&format!("  {}: +{} -{}\n", r.subject, r.added.len(), r.removed.len()));
        }
    }
    s
}
