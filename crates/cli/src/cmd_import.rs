//! `portmatrix import`: a vendor document's port tables → a draft matrix.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use portmatrix_import::{import, Format, Options};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// Decide from the file name and content
    Auto,
    /// Markdown pipe tables
    Md,
    /// CSV or TSV (the delimiter is guessed)
    Csv,
    /// Spreadsheets: XLSX, XLSM, XLSB, XLS, ODS (every sheet)
    Xlsx,
    /// HTML tables (merged cells are spread)
    Html,
    /// Plain text: tab-separated, column-aligned or one-cell-per-line tables, as PDF extraction leaves them
    Text,
}

impl From<ImportFormat> for Format {
    fn from(f: ImportFormat) -> Self {
        match f {
            ImportFormat::Auto => Format::Auto,
            ImportFormat::Md => Format::Md,
            ImportFormat::Csv => Format::Csv,
            ImportFormat::Xlsx => Format::Xlsx,
            ImportFormat::Html => Format::Html,
            ImportFormat::Text => Format::Text,
        }
    }
}

#[derive(Args)]
#[command(
    before_long_help = "Reads the port tables of a vendor document and writes a draft matrix.\n\n\
It finds Markdown and HTML tables, CSV/TSV, spreadsheet sheets, and tab-separated, column-aligned \
or one-cell-per-line tables in text (as `pdftotext -layout` leaves a PDF); maps their columns by \
meaning (source/from/sender, destination/to/listener, protocol, ports, source port, purpose, \
direction, required/optional) and says on stderr which mapping it chose; reads port cells such as \
`80, 443`, `5701 - 5801`, `5060 / 5061 (TCP or UDP)`, `TCP 465 (SSL)`, `7999 (C)`, `Any`, `> 1024` \
and `9995 – maximum number of zones`; and turns direction columns (IN/OUT from one system's \
perspective) into initiator → listener flows.\n\n\
It never invents a port: a cell it cannot read becomes a `# review:` comment beside the flow and \
in the list at the top of the draft. Every flow cites its table and row. The draft passes \
`portmatrix check`; review it before use.\n\n\
Exit codes: 0 draft written, 1 draft written but no flow found, 2 unusable input or output.",
    after_help = "Examples:\n  portmatrix import vendor-ports.md -o draft.yaml\n  portmatrix import ports.xlsx --id acme-pbx --title \"Acme PBX\" -o acme-pbx.yaml\n  pdftotext -layout guide.pdf guide.txt && portmatrix import guide.txt -o draft.yaml\n  portmatrix import guide.pdf -o draft.yaml          # runs pdftotext -layout itself\n  portmatrix import export.html --self \"App server\" -o draft.yaml --force\n  portmatrix import ports.csv | portmatrix check /dev/stdin\n\nThen: portmatrix check draft.yaml; grep -n 'review:' draft.yaml"
)]
pub struct ImportArgs {
    /// The document (Markdown, CSV/TSV, XLSX/XLS/ODS, HTML, text, or PDF via pdftotext)
    pub file: PathBuf,
    /// Input format
    #[arg(long, value_enum, default_value_t = ImportFormat::Auto)]
    pub format: ImportFormat,
    /// Write the draft to this file (atomically) instead of standard output
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace the output file if it exists
    #[arg(long)]
    pub force: bool,
    /// Matrix id of the draft (default: from the file name)
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// Title of the draft (default: the document's first heading)
    #[arg(long)]
    pub title: Option<String>,
    /// The system the document describes, for tables that name only the other end ("inbound to the VM")
    #[arg(long = "self", value_name = "NAME")]
    pub self_name: Option<String>,
    /// Print no summary on stderr
    #[arg(long, short)]
    pub quiet: bool,
}

fn read_input(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !bytes.starts_with(b"%PDF") {
        return Ok(bytes);
    }
    // A PDF: its text as `pdftotext -layout` gives it.
    let out = std::process::Command::new("pdftotext").arg("-layout").arg("-enc").arg("UTF-8").arg(path).arg("-").output().map_err(|e| {
        format!(
            "{} is a PDF and pdftotext could not be run ({e}); install poppler-utils, or run `pdftotext -layout` and import the text",
            path.display()
        )
    })?;
    if !out.status.success() {
        return Err(format!("pdftotext failed on {}: {}", path.display(), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(out.stdout)
}

/// Writes `text` to `path` through a temporary file; never replaces an
/// existing file unless `force`.
fn write_draft(path: &Path, text: &str, force: bool) -> Result<(), String> {
    if force {
        return crate::output::write_atomic(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()));
    }
    if path.exists() {
        return Err(format!("{} exists; use --force to replace it", path.display()));
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("draft");
    let tmp = dir.join(format!(".{name}.import-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        // A hard link fails if the target appeared meanwhile: no clobbering.
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    result.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!("{} exists; use --force to replace it", path.display())
        } else {
            format!("cannot write {}: {e}", path.display())
        }
    })
}

pub fn run(a: ImportArgs) -> u8 {
    if let Some(out) = &a.output {
        if !a.force && out.exists() {
            eprintln!("error: {} exists; use --force to replace it", out.display());
            return crate::exit::UNUSABLE;
        }
    }
    let bytes = match read_input(&a.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return crate::exit::UNUSABLE;
        }
    };
    let name = a.file.file_name().and_then(|n| n.to_str()).unwrap_or("document").to_string();
    let opts = Options { format: a.format.into(), name, matrix: a.id.clone(), title: a.title.clone(), self_name: a.self_name.clone() };
    let imp = match import(&bytes, &opts) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return crate::exit::UNUSABLE;
        }
    };
    if !a.quiet {
        eprint!("{}", imp.summary());
    }
    match &a.output {
        Some(path) => {
            if let Err(e) = write_draft(path, &imp.yaml, a.force) {
                eprintln!("error: {e}");
                return crate::exit::UNUSABLE;
            }
            if !a.quiet {
                eprintln!("wrote {}; next: portmatrix check {}", path.display(), path.display());
            }
        }
        None => crate::output::print(&imp.yaml),
    }
    if !imp.check_errors.is_empty() {
        eprintln!("error: the draft does not pass the model's check; this is a bug in the importer");
        return crate::exit::UNUSABLE;
    }
    if imp.draft.flows.is_empty() {
        crate::exit::FINDINGS
    } else {
        crate::exit::CLEAN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_never_replace_files_without_force() {
        let dir = std::env::temp_dir().join(format!("portmatrix-import-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("draft.yaml");
        let _ = std::fs::remove_file(&path);
        write_draft(&path, "first\n", false).unwrap();
        let err = write_draft(&path, "second\n", false).unwrap_err();
        assert!(err.contains("--force"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first\n");
        write_draft(&path, "third\n", true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "third\n");
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(Result::ok).map(|e| e.file_name()).collect();
        assert_eq!(left.len(), 1, "{left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
    /// A one-page PDF whose text is a port table laid out in columns.
    fn table_pdf() -> Vec<u8> {
        let rows = [["Source", "Destination", "Port", "Protocol"], ["Web client", "Web server", "443", "TCP"]];
        let mut content = String::from("BT /F1 11 Tf\n");
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                content += &format!("1 0 0 1 {} {} Tm ({cell}) Tj\n", 72 + 120 * c, 720 - 18 * r);
            }
        }
        content += "ET";
        let objs = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
            format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
        ];
        let mut out = String::from("%PDF-1.4\n");
        let mut offsets = Vec::new();
        for (i, o) in objs.iter().enumerate() {
            offsets.push(out.len());
            out += &format!("{} 0 obj\n{o}\nendobj\n", i + 1);
        }
        let xref = out.len();
        out += &format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1);
        for o in offsets {
            out += &format!("{o:010} 00000 n \n");
        }
        out += &format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objs.len() + 1);
        out.into_bytes()
    }

    #[test]
    fn pdfs_are_read_through_pdftotext() {
        if std::process::Command::new("pdftotext").arg("-v").output().is_err() {
            println!("skipped: pdftotext (poppler-utils) is not installed");
            return;
        }
        let path = std::env::temp_dir().join(format!("portmatrix-import-{}.pdf", std::process::id()));
        std::fs::write(&path, table_pdf()).unwrap();
        let text = read_input(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let imp = import(&text, &Options::new("t.pdf")).unwrap();
        assert_eq!(imp.draft.flows.len(), 1, "{}", String::from_utf8_lossy(&text));
        assert_eq!(imp.draft.flows[0].ports.as_deref(), Some("443"));
    }
}
