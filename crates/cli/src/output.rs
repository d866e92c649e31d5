//! Output formats and safe writing: files are written to a temporary name
//! and renamed, so a failed run never leaves half a file.

use std::io::Write;
use std::path::Path;

use clap::ValueEnum;
use portmatrix_report::table::{Density, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for the terminal
    Table,
    /// Markdown table
    Md,
    /// Comma-separated values (spreadsheet formulas neutralised)
    Csv,
    /// JSON, numbers as numbers
    Json,
    /// YAML, the same structure as JSON
    Yaml,
}

/// `--wide`: terminal tables show every column unwrapped (set once, in main).
static WIDE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

pub fn set_wide(wide: bool) {
    let _ = WIDE.set(wide);
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
        Format::Table => {
            let density = if WIDE.get().copied().unwrap_or(false) { Density::Wide } else { Density::Compact };
            t.to_text_with(terminal_width(), density)
        }
        Format::Md => t.to_markdown(),
        Format::Csv => t.to_csv(),
        Format::Json => json(&t.to_json()),
        Format::Yaml => yaml(&t.to_json()),
    }
}

/// Pretty JSON with a final newline.
pub fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("serialisable");
    s.push('\n');
    s
}

/// YAML of a serialisable value.
pub fn yaml<T: serde::Serialize>(v: &T) -> String {
    serde_saphyr::to_string(v).unwrap_or_else(|e| format!("# cannot write YAML: {e}\n"))
}

/// JSON or YAML of a value, as `format` asks (table formats fall back to JSON).
pub fn structured<T: serde::Serialize>(v: &T, format: Format) -> String {
    match format {
        Format::Yaml => yaml(v),
        _ => json(v),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file made exclusively
/// (random name, `O_EXCL`) in the same directory, synced, then renamed over
/// the target. A rename replaces a symlink planted at `path`; it never
/// writes through it.
pub fn write_atomic_bytes(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".portmatrix-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// [`write_atomic_bytes`] for text.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    write_atomic_bytes(path, text.as_bytes())
}

/// Like [`write_atomic_bytes`], but fails with `AlreadyExists` instead of
/// replacing a file (or a symlink) that is already there.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".portmatrix-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(path).map_err(|e| e.error)?;
    Ok(())
}

/// Files for one output directory, written all or nothing: each goes to a
/// private staging directory inside `dir` first; [`Staging::commit`] moves
/// them into place; dropped without commit, the staging directory is
/// removed and `dir` is as it was. Names are confined to `dir`.
pub struct Staging {
    dir: std::path::PathBuf,
    stage: tempfile::TempDir,
    names: std::sync::Mutex<Vec<std::path::PathBuf>>,
}

impl Staging {
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let stage = tempfile::Builder::new().prefix(".portmatrix-staging-").tempdir_in(dir)?;
        Ok(Staging { dir: dir.to_path_buf(), stage, names: std::sync::Mutex::new(Vec::new()) })
    }

    /// Stages `contents` as `name` (a relative path of plain components).
    pub fn write(&self, name: &str, contents: &[u8]) -> std::io::Result<()> {
        let rel = confined(name)?;
        let path = self.stage.path().join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // The staging directory is ours (mode 0700, random name): create_new
        // still refuses anything already there.
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
        f.write_all(contents)?;
        self.names.lock().expect("no writer panics holding it").push(rel);
        Ok(())
    }

    /// Moves every staged file into `dir`, replacing files of the same name
    /// (never writing through a symlink), and returns how many there were.
    pub fn commit(self) -> std::io::Result<usize> {
        let mut names = self.names.into_inner().expect("no writer panics holding it");
        names.sort();
        // One flush of the file system for every staged file: thousands of
        // per-file fsyncs cost more than rendering them.
        nix::unistd::syncfs(std::fs::File::open(self.stage.path())?).map_err(std::io::Error::from)?;
        for rel in &names {
            let target = self.dir.join(rel);
            if let Some(parent) = target.parent() {
                for anc in rel.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()) {
                    refuse_symlink(&self.dir.join(anc))
                        .or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) })?;
                }
                std::fs::create_dir_all(parent)?;
            }
            std::fs::rename(self.stage.path().join(rel), &target)?;
        }
        // The renames are durable once the directories holding them are.
        let mut dirs: Vec<std::path::PathBuf> = names.iter().filter_map(|r| self.dir.join(r).parent().map(Path::to_path_buf)).collect();
        dirs.dedup();
        for d in dirs {
            std::fs::File::open(d)?.sync_all()?;
        }
        Ok(names.len())
    }
}

/// `name` as a relative path of normal components, or an error: no
/// absolute paths, no `..`, no empty names.
fn confined(name: &str) -> std::io::Result<std::path::PathBuf> {
    use std::path::Component;
    let p = Path::new(name);
    let ok = !name.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(p.to_path_buf())
    } else {
        Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("refusing to write `{name}`: not a plain relative file name")))
    }
}

fn refuse_symlink(p: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(p)?.file_type().is_symlink() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("refusing to write through the symlink {}", p.display()),
        ));
    }
    Ok(())
}

/// Prints to stdout, ignoring a closed pipe (`portmatrix ... | head`).
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
}
