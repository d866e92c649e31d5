//! Receipts: the responder's record of every probe it answered, kept in
//! memory (served on the control socket) and optionally appended to a
//! JSON-lines file, both capped by count and bytes.
//!
//! - Memory keeps the newest receipts: when a cap is reached the oldest are
//!   dropped (a prober asks right after its probes).
//! - The file keeps the first: appending stops at the cap (a file cannot
//!   drop its head without rewriting it) and one last line says so
//!   (`{"receipts_capped": {...}}`), so a reader knows that receipts are
//!   missing rather than taking their absence for blocked probes.
//! - Both count what they dropped ([`ReceiptStats`]); the control socket ends
//!   its answer with those figures (`{"receipts_stats": {...}}`).

use std::collections::VecDeque;
use std::io::{self, BufRead, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Proto;

/// One probe seen by a responder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub nonce: String,
    pub proto: Proto,
    /// Where the probe came from, as this host sees it.
    pub src: SocketAddr,
    /// The local address and port it arrived on.
    pub dst: SocketAddr,
    pub host: String,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
}

/// How much a receipt log holds, in memory and in its file each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptCaps {
    pub max_count: usize,
    /// Bytes of JSON lines (the file's size, including what it held before).
    pub max_bytes: u64,
}

impl Default for ReceiptCaps {
    /// 200,000 receipts and 64 MiB (a receipt line is about 200 bytes).
    fn default() -> Self {
        ReceiptCaps { max_count: 200_000, max_bytes: 64 << 20 }
    }
}

/// What a receipt log recorded and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptStats {
    /// Probes recorded.
    pub seen: u64,
    /// Receipts in memory now.
    pub kept: u64,
    /// Dropped from memory (the oldest) to stay under the caps.
    pub evicted: u64,
    /// Lines appended to the file.
    pub written: u64,
    /// Not written because the file reached its cap.
    pub not_written: u64,
}

impl ReceiptStats {
    /// One line for people, e.g. at the end of a responder's run.
    pub fn summary(&self, caps: &ReceiptCaps) -> String {
        let mut s = format!("{} probe(s) recorded, {} kept in memory", self.seen, self.kept);
        if self.evicted > 0 {
            s.push_str(&format!(", {} oldest dropped from memory", self.evicted));
        }
        if self.written > 0 || self.not_written > 0 {
            s.push_str(&format!(", {} written to the file", self.written));
        }
        if self.not_written > 0 {
            s.push_str(&format!(
                ", {} NOT written: the file reached its cap ({} receipts or {} bytes)",
                self.not_written, caps.max_count, caps.max_bytes
            ));
        }
        s
    }
}

/// A line of a receipt log that is not a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum LogNote {
    /// The last line of a file that reached its cap.
    ReceiptsCapped { written: u64, max_count: usize, max_bytes: u64 },
    /// The last line of a control socket's answer.
    ReceiptsStats(ReceiptStats),
}

#[derive(Debug)]
struct FileSink {
    file: std::fs::File,
    bytes: u64,
    full: bool,
}

#[derive(Debug, Default)]
struct Inner {
    list: VecDeque<(Receipt, usize)>,
    bytes: u64,
    file: Option<FileSink>,
    stats: ReceiptStats,
}

/// The receipts of one responder (shared with its tasks).
#[derive(Debug, Clone, Default)]
pub struct ReceiptLog {
    caps: ReceiptCaps,
    inner: Arc<Mutex<Inner>>,
}

/// Opens (appending, creating with mode 0600) a receipt file; never follows
/// a symbolic link at `path`.
fn open_append(path: &Path) -> io::Result<FileSink> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32) {
                io::Error::other(format!("{}: is a symbolic link; refusing to follow it", path.display()))
            } else {
                io::Error::new(e.kind(), format!("{}: {e}", path.display()))
            }
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other(format!("{}: not a regular file", path.display())));
    }
    Ok(FileSink { file, bytes: meta.len(), full: false })
}

impl ReceiptLog {
    /// A log in memory only.
    pub fn new(caps: ReceiptCaps) -> Self {
        ReceiptLog { caps, inner: Arc::default() }
    }

    /// A log that also appends to `path` (see [`open_append`]).
    pub fn with_file(caps: ReceiptCaps, path: &Path) -> io::Result<Self> {
        let log = ReceiptLog::new(caps);
        log.lock().file = Some(open_append(path)?);
        Ok(log)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn caps(&self) -> ReceiptCaps {
        self.caps
    }

    pub fn push(&self, r: Receipt) {
        let Ok(mut line) = serde_json::to_string(&r) else { return };
        line.push('\n');
        let caps = self.caps;
        let mut g = self.lock();
        let g = &mut *g;
        g.stats.seen += 1;
        if let Some(f) = g.file.as_mut() {
            let fits = g.stats.written < caps.max_count as u64 && f.bytes + line.len() as u64 <= caps.max_bytes;
            if f.full || !fits {
                if !f.full {
                    f.full = true;
                    let note = LogNote::ReceiptsCapped { written: g.stats.written, max_count: caps.max_count, max_bytes: caps.max_bytes };
                    if let Ok(n) = serde_json::to_string(&note) {
                        let _ = writeln!(f.file, "{n}");
                    }
                }
                g.stats.not_written += 1;
            } else if f.file.write_all(line.as_bytes()).is_ok() {
                f.bytes += line.len() as u64;
                g.stats.written += 1;
            } else {
                g.stats.not_written += 1;
            }
        }
        let size = line.len();
        g.list.push_back((r, size));
        g.bytes += size as u64;
        while g.list.len() > caps.max_count || g.bytes > caps.max_bytes {
            let Some((_, s)) = g.list.pop_front() else { break };
            g.bytes -= s as u64;
            g.stats.evicted += 1;
        }
        g.stats.kept = g.list.len() as u64;
    }

    /// A copy of the receipts in memory.
    pub fn snapshot(&self) -> Vec<Receipt> {
        self.lock().list.iter().map(|(r, _)| r.clone()).collect()
    }

    pub fn stats(&self) -> ReceiptStats {
        self.lock().stats
    }

    /// The receipts in memory as JSON lines, then a line with the figures
    /// (what the control socket sends).
    pub fn to_json_lines(&self) -> String {
        let g = self.lock();
        let mut text = String::new();
        for (r, _) in &g.list {
            if let Ok(line) = serde_json::to_string(r) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        if let Ok(line) = serde_json::to_string(&LogNote::ReceiptsStats(g.stats)) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    }
}

/// Receipts read back from a file or a control socket.
#[derive(Debug, Clone, Default)]
pub struct ReceiptsRead {
    pub receipts: Vec<Receipt>,
    /// Why receipts may be missing (the responder dropped some, or the
    /// reader stopped), for the prober to say.
    pub incomplete: Vec<String>,
}

/// Bytes read at most from one receipt file or socket.
pub const MAX_READ: u64 = 256 << 20;
/// Longer lines are not receipts and are skipped unread.
const MAX_LINE: usize = 8192;

/// Reads the receipts of a responder: its JSON-lines file (`--receipts`) or
/// its control socket (`--control`). Lines that do not parse (a line being
/// written) are skipped.
pub fn read_receipts_file(path: &Path) -> io::Result<Vec<Receipt>> {
    Ok(read_receipts(path)?.receipts)
}

/// [`read_receipts_file`], also saying whether receipts are missing.
pub fn read_receipts(path: &Path) -> io::Result<ReceiptsRead> {
    use std::os::unix::fs::FileTypeExt;
    let what = path.display().to_string();
    if std::fs::metadata(path)?.file_type().is_socket() {
        let s = std::os::unix::net::UnixStream::connect(path)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        parse_lines(io::BufReader::new(s), &what)
    } else {
        parse_lines(io::BufReader::new(std::fs::File::open(path)?), &what)
    }
}

fn parse_lines(input: impl BufRead, what: &str) -> io::Result<ReceiptsRead> {
    let mut input = input.take(MAX_READ);
    let mut out = ReceiptsRead::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut input).take(MAX_LINE as u64).read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') && n == MAX_LINE {
            // Too long to be ours: skip to the end of that line.
            let mut sink = Vec::new();
            while !sink.ends_with(b"\n") {
                sink.clear();
                if (&mut input).take(MAX_LINE as u64).read_until(b'\n', &mut sink)? == 0 {
                    break;
                }
            }
            continue;
        }
        if let Ok(r) = serde_json::from_slice::<Receipt>(&line) {
            out.receipts.push(r);
        } else if let Ok(note) = serde_json::from_slice::<LogNote>(&line) {
            match note {
                LogNote::ReceiptsCapped { written, max_count, max_bytes } => out.incomplete.push(format!(
                    "{what}: the responder stopped writing receipts after {written} (cap {max_count} receipts / {max_bytes} bytes)"
                )),
                LogNote::ReceiptsStats(s) if s.evicted > 0 => {
                    out.incomplete.push(format!("{what}: the responder dropped its {} oldest receipts from memory", s.evicted))
                }
                LogNote::ReceiptsStats(_) => {}
            }
        }
    }
    if input.limit() == 0 {
        out.incomplete.push(format!("{what}: read only the first {MAX_READ} bytes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(i: u64) -> Receipt {
        Receipt {
            nonce: format!("{i:032x}"),
            proto: Proto::Udp,
            src: "10.0.0.2:40000".parse().unwrap(),
            dst: "10.0.0.1:53".parse().unwrap(),
            host: "web1".into(),
            time_ms: i,
        }
    }

    #[test]
    fn memory_keeps_the_newest_under_both_caps() {
        let log = ReceiptLog::new(ReceiptCaps { max_count: 5, max_bytes: 1 << 20 });
        for i in 0..12 {
            log.push(receipt(i));
        }
        let kept: Vec<u64> = log.snapshot().iter().map(|r| r.time_ms).collect();
        assert_eq!(kept, [7, 8, 9, 10, 11]);
        let s = log.stats();
        assert_eq!((s.seen, s.kept, s.evicted), (12, 5, 7));

        let line = serde_json::to_string(&receipt(0)).unwrap().len() as u64 + 1;
        let log = ReceiptLog::new(ReceiptCaps { max_count: 1000, max_bytes: 3 * line + line / 2 });
        for i in 0..10 {
            log.push(receipt(i));
        }
        assert_eq!(log.snapshot().len(), 3);
        assert_eq!(log.stats().evicted, 7);
    }

    #[test]
    fn the_file_stops_at_its_cap_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("receipts.jsonl");
        let log = ReceiptLog::with_file(ReceiptCaps { max_count: 4, max_bytes: 1 << 20 }, &path).unwrap();
        for i in 0..10 {
            log.push(receipt(i));
        }
        let s = log.stats();
        assert_eq!((s.written, s.not_written), (4, 6));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 5, "{text}");
        let read = read_receipts(&path).unwrap();
        assert_eq!(read.receipts.len(), 4);
        assert_eq!(read.incomplete.len(), 1);
        assert!(read.incomplete[0].contains("stopped writing receipts after 4"), "{:?}", read.incomplete);
        assert!(log.stats().summary(&log.caps()).contains("6 NOT written"));

        // By bytes, counting what the file held before.
        let line = serde_json::to_string(&receipt(0)).unwrap().len() as u64 + 1;
        let path2 = dir.path().join("old.jsonl");
        std::fs::write(&path2, "x".repeat(line as usize)).unwrap();
        let log = ReceiptLog::with_file(ReceiptCaps { max_count: 1000, max_bytes: 3 * line }, &path2).unwrap();
        for i in 0..10 {
            log.push(receipt(i));
        }
        assert_eq!(log.stats().written, 2);
        let len = std::fs::metadata(&path2).unwrap().len();
        assert!(len <= 3 * line + 200, "{len}");
    }

    #[test]
    fn a_planted_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("victim");
        std::fs::write(&target, "precious\n").unwrap();
        let link = dir.path().join("receipts.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = ReceiptLog::with_file(ReceiptCaps::default(), &link).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    }

    #[test]
    fn control_answers_end_with_the_figures() {
        let log = ReceiptLog::new(ReceiptCaps { max_count: 2, max_bytes: 1 << 20 });
        for i in 0..3 {
            log.push(receipt(i));
        }
        let read = parse_lines(io::Cursor::new(log.to_json_lines()), "sock").unwrap();
        assert_eq!(read.receipts.len(), 2);
        assert_eq!(read.incomplete, ["sock: the responder dropped its 1 oldest receipts from memory"]);
    }

    #[test]
    fn overlong_lines_are_skipped_without_holding_them() {
        let mut text = "y".repeat(MAX_LINE * 3);
        text.push('\n');
        text.push_str(&serde_json::to_string(&receipt(1)).unwrap());
        text.push('\n');
        let read = parse_lines(io::Cursor::new(text), "f").unwrap();
        assert_eq!(read.receipts, [receipt(1)]);
    }
}
