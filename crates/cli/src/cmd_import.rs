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
    /// PDF, read through `pdftotext -layout` (poppler-utils)
    Pdf,
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
            ImportFormat::Pdf => Format::Pdf,
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
It never invents a port: a cell it cannot read becomes an item of the draft's `review:` list \
(and a comment beside the flow). Every flow cites its table and row. The draft accepts no lint \
finding, so `portmatrix check` fails (exit 1) until every review item is resolved and deleted.\n\n\
`--input-format` names the format of the document read (default: from the file name and content); \
the draft is always YAML.\n\n\
Exit codes: 0 draft written, 1 draft written but no flow found, 2 unusable input or output.",
    after_help = "Examples:\n  portmatrix import vendor-ports.md -o draft.yaml\n  portmatrix import ports.xlsx --id acme-pbx --title \"Acme PBX\" -o acme-pbx.yaml\n  portmatrix import export.dat --input-format csv -o draft.yaml\n  pdftotext -layout guide.pdf guide.txt && portmatrix import guide.txt -o draft.yaml\n  portmatrix import guide.pdf -o draft.yaml          # runs pdftotext -layout itself\n  portmatrix import export.html --self \"App server\" -o draft.yaml --force\n  portmatrix import ports.csv | portmatrix check /dev/stdin\n\nThen: portmatrix check draft.yaml   (lists the open review items)"
)]
pub struct ImportArgs {
    /// The document (Markdown, CSV/TSV, XLSX/XLS/ODS, HTML, text, or PDF via pdftotext)
    pub file: PathBuf,
    /// Format of the document read (the draft is always YAML)
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = ImportFormat::Auto)]
    pub input_format: ImportFormat,
    /// Refused with a pointer to `--input-format`: in every command
    /// `--format` is the output format, and a draft is always YAML.
    #[arg(long, hide = true, value_name = "FORMAT")]
    pub format: Option<String>,
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

/// Writes `text` to `path` through an exclusive temporary file beside it
/// (random name, never following a planted link), renamed into place;
/// an existing file is replaced only with `force`.
fn write_draft(path: &Path, text: &str, force: bool) -> Result<(), String> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let exists = |path: &Path| format!("{} exists; use --force to replace it", path.display());
    let mut tmp = tempfile::Builder::new()
        .prefix(".portmatrix-import-")
        .tempfile_in(dir)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tmp.write_all(text.as_bytes()).and_then(|()| tmp.as_file().sync_all()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let persisted = if force { tmp.persist(path) } else { tmp.persist_noclobber(path) };
    persisted.map(|_| ()).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            exists(path)
        } else {
            format!("cannot write {}: {}", path.display(), e.error)
        }
    })
}

pub fn run(a: ImportArgs) -> crate::failure::Outcome {
    if let Some(f) = &a.format {
        return Err(format!(
            "`--format` names an output format in portmatrix, and a draft is always YAML; for the document's format use `--input-format {f}`"
        )
        .into());
    }
    if let Some(out) = &a.output {
        if !a.force && std::fs::symlink_metadata(out).is_ok() {
            return Err(format!("{} exists; use --force to replace it", out.display()).into());
        }
    }
    let bytes = std::fs::read(&a.file).map_err(|e| format!("cannot read {}: {e}", a.file.display()))?;
    let name = a.file.file_name().and_then(|n| n.to_str()).unwrap_or("document").to_string();
    let opts =
        Options { format: a.input_format.into(), name, matrix: a.id.clone(), title: a.title.clone(), self_name: a.self_name.clone() };
    let imp = import(&bytes, &opts).map_err(|e| e.to_string())?;
    if !a.quiet {
        eprint!("{}", imp.summary());
    }
    match &a.output {
        Some(path) => {
            write_draft(path, &imp.yaml, a.force)?;
            if !a.quiet {
                eprintln!("wrote {}; next: portmatrix check {}", path.display(), path.display());
            }
        }
        None => crate::output::print(&imp.yaml),
    }
    if !imp.check_errors.is_empty() {
        return Err("the draft does not pass the model's check; this is a bug in the importer".into());
    }
    Ok(if imp.draft.flows.is_empty() { crate::exit::FINDINGS } else { crate::exit::CLEAN })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_never_replace_files_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("draft.yaml");
        write_draft(&path, "first\n", false).unwrap();
        let err = write_draft(&path, "second\n", false).unwrap_err();
        assert!(err.contains("--force"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first\n");
        write_draft(&path, "third\n", true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "third\n");
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().filter_map(Result::ok).map(|e| e.file_name()).collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }

    #[test]
    fn a_planted_link_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep\n").unwrap();
        let path = dir.path().join("draft.yaml");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        assert!(write_draft(&path, "draft\n", false).unwrap_err().contains("exists"));
        // With --force the link itself is replaced, never written through.
        write_draft(&path, "draft\n", true).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep\n");
        assert!(!std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
    }
}
