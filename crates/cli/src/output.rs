//! Output formats and safe writing: files are written to a temporary name
//! and renamed, so a failed run never leaves half a file.

use std::io::Write;
use std::path::Path;

use clap::ValueEnum;
use portmatrix_report::table::Table;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for the terminal
    Table,
    /// Markdown table
    Md,
    Csv,
    Json,
    Yaml,
}

pub fn terminal_width() -> Option<u16> {
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).or(Some(160))
    } else {
        None
    }
}

pub fn table(t: &Table, format: Format) -> String {
    match format {
        Format::Table => t.to_text(terminal_width()),
        Format::Md => t.to_markdown(),
        Format::Csv => t.to_csv(),
        Format::Json | Format::Yaml => {
            let mut s = serde_json::to_string_pretty(&t.to_json()).expect("JSON of strings");
            s.push('\n');
            s
        }
    }
}

/// Writes `text` to `path` atomically (temp file in the same directory, then rename).
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp-{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("out"), std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Writes `bytes` to `path` atomically, like [`write_atomic`], for binary output (XLSX).
pub fn write_atomic_bytes(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp-{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("out"), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Prints to stdout, ignoring a closed pipe (`portmatrix ... | head`).
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
}
