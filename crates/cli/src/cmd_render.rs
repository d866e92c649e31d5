//! `portmatrix render`: a matrix as a document — Markdown, CSV, XLSX,
//! self-contained HTML, Graphviz DOT, Mermaid or SVG.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use portmatrix_report::render::{render_matrix, Format};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderFormat {
    /// Markdown document: flows, roles, features and parameters
    Md,
    /// CSV of the flows
    Csv,
    /// Excel workbook: a sheet of flows, one of roles, one of features and parameters
    Xlsx,
    /// One self-contained HTML file (inline CSS, no scripts, printable)
    Html,
    /// Graphviz DOT
    Dot,
    /// Mermaid flowchart
    Mermaid,
    /// SVG diagram, laid out by portmatrix itself
    Svg,
}

impl RenderFormat {
    fn report(self) -> Format {
        match self {
            RenderFormat::Md => Format::Md,
            RenderFormat::Csv => Format::Csv,
            RenderFormat::Xlsx => Format::Xlsx,
            RenderFormat::Html => Format::Html,
            RenderFormat::Dot => Format::Dot,
            RenderFormat::Mermaid => Format::Mermaid,
            RenderFormat::Svg => Format::Svg,
        }
    }
}

#[derive(Args)]
#[command(
    after_help = "Examples:\n  portmatrix render jtel-acd --format html -o jtel-acd.html\n  portmatrix render avaya-pom --format xlsx -o avaya-pom.xlsx\n  portmatrix render moderro-rem --format svg > rem.svg\n  portmatrix render my-product.yaml --format dot | dot -Tpng > my-product.png\n  portmatrix render imagicle-ucsuite --format mermaid\n  portmatrix render -i examples/jtel-acd.yaml --format xlsx -o change-request.xlsx\n  portmatrix render -i examples/mixed.yaml --format svg -o zones.svg"
)]
pub struct RenderArgs {
    /// A catalog id (`jtel-acd`, `jtel-acd@previous`) or a matrix file
    #[arg(required_unless_present = "inventory", conflicts_with = "inventory")]
    pub matrix: Option<String>,
    /// Render the plan of this inventory instead of a matrix: the planned
    /// connections (XLSX: a sheet per zone pair and per host) and a diagram of the zones
    #[arg(long, short = 'i', value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Output format (a document or a diagram)
    #[arg(long, short, value_enum)]
    pub format: RenderFormat,
    /// Write to this file (atomically) instead of standard output
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(a: RenderArgs) -> crate::failure::Outcome {
    let format = a.format.report();
    let bytes = match (&a.matrix, &a.inventory) {
        (Some(spec), _) => render_matrix(&crate::matrices::load(spec)?, format)?,
        (None, Some(inv)) => render_inventory(inv, format)?,
        (None, None) => return Err("give a matrix (catalog id or file) or --inventory FILE".into()),
    };
    emit(a.output.as_deref(), format, &bytes)?;
    Ok(crate::exit::CLEAN)
}

/// Writes the rendering to a file, or to standard output (never binary to a terminal).
fn emit(output: Option<&std::path::Path>, format: Format, bytes: &[u8]) -> Result<(), crate::failure::Failure> {
    match output {
        Some(path) => {
            let r = if format.is_binary() {
                crate::output::write_atomic_bytes(path, bytes)
            } else {
                crate::output::write_atomic(path, &String::from_utf8_lossy(bytes))
            };
            r.map_err(|e| format!("cannot write {}: {e}", path.display()).into())
        }
        None => {
            if format.is_binary() && std::io::stdout().is_terminal() {
                return Err(format!(
                    "{} is binary; write it to a file with `-o FILE` or redirect standard output",
                    format.extension().to_uppercase()
                )
                .into());
            }
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(bytes);
            let _ = out.flush();
            Ok(())
        }
    }
}

fn render_inventory(inv: &std::path::Path, format: Format) -> Result<Vec<u8>, crate::failure::Failure> {
    let (dep, plan) = crate::cmd_plan::deployment_plan_of(inv)?;
    let cover = portmatrix_report::change_request::Cover::new(&dep, &cover_date());
    Ok(portmatrix_report::plan_report::render_change_request(&plan, Some(&cover), format)?)
}

/// The date on a change request's cover: `SOURCE_DATE_EPOCH` when set (for
/// reproducible documents), else today (UTC), as YYYY-MM-DD.
pub fn cover_date() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64));
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default().format("%Y-%m-%d").to_string()
}
