//! The state directory (`/var/lib/portmatrix` by default) and the journal
//! of applies in it.
//!
//! - The directory and its `journal/` subdirectory are made with mode 0700;
//!   an existing one must be a real directory (not a symbolic link), owned
//!   by the caller and not writable by group or others, or it is refused.
//! - Every file is written to a fresh temporary file in the same directory
//!   (tempfile: random name, `O_EXCL`), synced and renamed into place: a
//!   reader sees the old or the new file, never half of one, and a rename
//!   replaces a planted symbolic link instead of writing through it. Files
//!   are read with `O_NOFOLLOW` and a size cap.
//! - State changes (pending → confirmed or rolled back) happen under an
//!   exclusive `flock` on `lock`, so that a confirmation and the rollback
//!   timer cannot both win.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg, OFlag};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Largest journal entry read.
const MAX_ENTRY: u64 = 4 << 20;
/// Largest snapshot or ruleset file read back.
pub const MAX_BLOB: u64 = 512 << 20;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for a time in milliseconds since the epoch.
pub fn utc(ms: u64) -> String {
    match i64::try_from(ms).ok().and_then(chrono::DateTime::from_timestamp_millis) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => format!("{ms} ms after 1970"),
    }
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// An apply's identity: 16 lower-case hex digits from the OS's random source.
pub fn new_id() -> Result<String, String> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| format!("the operating system's random source failed: {e}"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Whether `s` is an apply ID (and so safe in a file name).
pub fn is_id(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A file and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    pub name: String,
    pub sha256: String,
}

/// A matrix the plan used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatrixVersion {
    pub product: String,
    pub matrix: String,
    pub version: String,
}

/// How the rollback was armed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "kebab-case")]
pub enum Arming {
    /// A transient systemd timer and service.
    Systemd { unit: String },
    /// A detached watchdog process (its pid, once it has started).
    Watchdog { pid: Option<u32> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfirmedBy {
    /// `apply --confirm ID`.
    Hand,
    /// Every required flow passed the probe.
    Probe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolledBackBy {
    /// Nobody confirmed before the deadline.
    Timer,
    /// A required flow failed the probe.
    ProbeFailed,
    /// Loading failed part-way.
    LoadFailed,
    /// `apply --rollback`.
    Hand,
    /// The next apply found it past its deadline with its armed rollback
    /// gone (a crash between steps) and rolled it back.
    Recovered,
}

/// Where an apply stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Outcome {
    /// Refused before anything was touched.
    Refused {
        reasons: Vec<String>,
    },
    /// Loaded, waiting for confirmation; the rollback is armed.
    Pending,
    Confirmed {
        by: ConfirmedBy,
        at_ms: u64,
    },
    RolledBack {
        by: RolledBackBy,
        at_ms: u64,
        detail: String,
    },
    /// The rollback itself failed: the host runs the new ruleset unconfirmed.
    RollbackFailed {
        at_ms: u64,
        why: String,
    },
}

impl Outcome {
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Refused { .. } => "refused",
            Outcome::Pending => "pending",
            Outcome::Confirmed { .. } => "confirmed",
            Outcome::RolledBack { .. } => "rolled-back",
            Outcome::RollbackFailed { .. } => "rollback-failed",
        }
    }
}

/// One apply, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub host: String,
    /// `nftables` or `iptables`.
    pub target: String,
    /// The nftables table, or the iptables chain prefix.
    pub table: String,
    pub inventory: String,
    pub started_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    pub plan_sha256: String,
    pub matrices: Vec<MatrixVersion>,
    /// The compiled (or shipped) files.
    pub files: Vec<FileHash>,
    /// What was loaded into the kernel (the files with what replaces our
    /// table or hooks our chain), kept as `<id>.loaded.<n>`.
    #[serde(default)]
    pub loaded: Vec<FileHash>,
    /// The state before, kept as `<id>.snapshot.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<FileHash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Arming>,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

/// An exclusive lock on the state directory; released on drop.
pub struct Lock {
    _flock: Flock<File>,
}

fn ensure_private_dir(p: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            DirBuilder::new().recursive(true).mode(0o700).create(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?;
        }
        Err(e) => return Err(format!("{}: {e}", p.display())),
        Ok(_) => {}
    }
    let m = std::fs::symlink_metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
    if m.file_type().is_symlink() {
        return Err(format!("{} is a symbolic link; the state directory must be a real directory", p.display()));
    }
    if !m.is_dir() {
        return Err(format!("{} is not a directory", p.display()));
    }
    let me = nix::unistd::geteuid().as_raw();
    if m.uid() != me {
        return Err(format!("{} belongs to uid {}, not to you (uid {me}); refusing to keep state there", p.display(), m.uid()));
    }
    if m.mode() & 0o022 != 0 {
        return Err(format!(
            "{} is writable by group or others (mode {:04o}); refusing to keep state there: chmod 700 {}",
            p.display(),
            m.mode() & 0o7777,
            p.display()
        ));
    }
    Ok(())
}

impl StateDir {
    /// Opens (creating when missing) the state directory.
    pub fn open(root: &Path) -> Result<StateDir, String> {
        ensure_private_dir(root)?;
        ensure_private_dir(&root.join("journal"))?;
        Ok(StateDir { root: root.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn journal(&self) -> PathBuf {
        self.root.join("journal")
    }

    /// Takes the exclusive lock (waits for it).
    pub fn lock(&self) -> Result<Lock, String> {
        let path = self.root.join("lock");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(OFlag::O_NOFOLLOW.bits())
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let flock = Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| format!("locking {}: {e}", path.display()))?;
        Ok(Lock { _flock: flock })
    }

    /// Writes `bytes` as `journal/NAME` atomically; `name` is ours (an ID
    /// and a fixed suffix), never the user's.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<FileHash, String> {
        debug_assert!(!name.contains('/') && !name.starts_with('.'));
        let dir = self.journal();
        let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        tmp.write_all(bytes).and_then(|_| tmp.as_file().sync_all()).map_err(|e| format!("writing {name}: {e}"))?;
        tmp.persist(dir.join(name)).map_err(|e| format!("writing {name}: {}", e.error))?;
        Ok(FileHash { name: name.to_string(), sha256: sha256_hex(bytes) })
    }

    /// Reads `journal/NAME` (never through a symbolic link), at most `cap` bytes.
    pub fn read_file(&self, name: &str, cap: u64) -> Result<Vec<u8>, String> {
        let path = self.journal().join(name);
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(OFlag::O_NOFOLLOW.bits())
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let mut buf = Vec::new();
        f.take(cap + 1).read_to_end(&mut buf).map_err(|e| format!("{}: {e}", path.display()))?;
        if buf.len() as u64 > cap {
            return Err(format!("{} is larger than {cap} bytes", path.display()));
        }
        Ok(buf)
    }

    pub fn write_entry(&self, e: &Entry) -> Result<(), String> {
        let mut json = serde_json::to_vec_pretty(e).expect("an entry serialises");
        json.push(b'\n');
        self.write_file(&format!("{}.json", e.id), &json).map(|_| ())
    }

    pub fn read_entry(&self, id: &str) -> Result<Entry, String> {
        if !is_id(id) {
            return Err(format!("`{}` is not an apply ID (16 hex digits, as `apply` printed it)", id.escape_debug()));
        }
        let bytes = self.read_file(&format!("{id}.json"), MAX_ENTRY).map_err(|e| format!("no apply {id}: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("journal entry {id} is damaged: {e}"))
    }

    /// Every entry, oldest first; damaged ones are reported in the second list.
    pub fn entries(&self) -> Result<(Vec<Entry>, Vec<String>), String> {
        let dir = self.journal();
        let mut out = Vec::new();
        let mut bad = Vec::new();
        for d in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let Ok(d) = d else { continue };
            let name = d.file_name().to_string_lossy().to_string();
            let Some(id) = name.strip_suffix(".json").filter(|i| is_id(i)) else { continue };
            match self.read_entry(id) {
                Ok(e) => out.push(e),
                Err(e) => bad.push(e),
            }
        }
        out.sort_by(|a, b| (a.started_ms, &a.id).cmp(&(b.started_ms, &b.id)));
        Ok((out, bad))
    }

    /// Reads, changes and writes one entry under the lock.
    pub fn update<T>(&self, id: &str, f: impl FnOnce(&mut Entry) -> Result<T, String>) -> Result<T, String> {
        let _lock = self.lock()?;
        let mut e = self.read_entry(id)?;
        let out = f(&mut e)?;
        self.write_entry(&e)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(utc(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
    }

    #[test]
    fn ids_are_hex_and_checked() {
        let id = new_id().unwrap();
        assert!(is_id(&id), "{id}");
        assert_ne!(id, new_id().unwrap());
        for bad in ["", "../../etc/passwd", "0123456789ABCDEF", "0123456789abcde", "0123456789abcdef0"] {
            assert!(!is_id(bad), "{bad}");
        }
    }

    #[test]
    fn state_dir_refuses_symlinks_and_open_modes() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("real");
        let s = StateDir::open(&real).unwrap();
        assert_eq!(std::fs::metadata(&real).unwrap().permissions().mode() & 0o777, 0o700);
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(StateDir::open(&link).unwrap_err().contains("symbolic link"));
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(StateDir::open(&real).unwrap_err().contains("writable by group or others"));
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
        // A symlink planted where an entry will be written is replaced, not followed.
        let victim = t.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, real.join("journal").join("0123456789abcdef.json")).unwrap();
        assert!(s.read_entry("0123456789abcdef").is_err(), "read through a symlink");
        let e = Entry {
            id: "0123456789abcdef".into(),
            host: "h".into(),
            target: "nftables".into(),
            table: "portmatrix".into(),
            inventory: "inv.yaml".into(),
            started_ms: 1,
            applied_ms: None,
            deadline_ms: None,
            plan_sha256: "0".into(),
            matrices: vec![],
            files: vec![],
            loaded: vec![],
            snapshot: None,
            rollback: None,
            outcome: Outcome::Pending,
            notes: vec![],
        };
        s.write_entry(&e).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(s.read_entry(&e.id).unwrap(), e);
        assert_eq!(s.entries().unwrap().0, vec![e]);
    }
}
