//! Input formats: one reader per format, each checking its fields against
//! the format's specification (docs/audit.md cites where each is defined).
//!
//! Text formats are read line by line with a bounded line length; a line
//! that cannot be read as a record is counted and its number kept, never
//! skipped silently. A file that cannot be read as its format at all (bad
//! header, truncated gzip, a line longer than [`MAX_LINE`]) is an
//! [`InputError`]: the audit stops and says where.

pub mod aws;
pub mod azure;
pub mod conntrack;
pub mod lines;
pub mod nftlog;
pub mod parquet;
pub mod sockets;

use std::fmt;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::record::FlowRecord;

/// The longest line a text format may have. Real records are a few hundred
/// bytes; anything longer is a broken or hostile file.
pub const MAX_LINE: usize = 1 << 20;

/// How many unparseable lines are kept with their numbers per file (all are counted).
pub const BAD_SAMPLES: usize = 50;

/// Flow-record formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowFormat {
    /// AWS VPC flow logs, space-separated text (versions 2 to 5), plain or gzip.
    AwsText,
    /// AWS VPC flow logs in Parquet.
    AwsParquet,
    /// Parquet in portmatrix's own record schema (`--records-out`).
    RecordsParquet,
    /// Azure virtual network flow logs (JSON, `flowLogVersion` 4).
    AzureJson,
    /// Conntrack events as the ulogd2 JSON output plugin writes them (NFCT input).
    ConntrackJson,
    /// `conntrack -L` / `conntrack -E` text.
    ConntrackText,
    /// Kernel log lines of nftables/iptables `log` statements.
    NftLog,
    /// Packets logged through NFLOG, as ulogd2's JSON output writes them.
    NftJson,
}

/// Results name a format as `--input-format` does.
impl Serialize for FlowFormat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Read back from results files by the same names; an unknown name is an error.
impl<'de> Deserialize<'de> for FlowFormat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FlowFormat::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown input format `{s}`")))
    }
}

impl FlowFormat {
    pub const ALL: [FlowFormat; 8] = [
        FlowFormat::AwsText,
        FlowFormat::AwsParquet,
        FlowFormat::RecordsParquet,
        FlowFormat::AzureJson,
        FlowFormat::ConntrackJson,
        FlowFormat::ConntrackText,
        FlowFormat::NftLog,
        FlowFormat::NftJson,
    ];
    pub fn name(self) -> &'static str {
        match self {
            FlowFormat::AwsText => "aws",
            FlowFormat::AwsParquet => "aws-parquet",
            FlowFormat::RecordsParquet => "records-parquet",
            FlowFormat::AzureJson => "azure",
            FlowFormat::ConntrackJson => "conntrack-json",
            FlowFormat::ConntrackText => "conntrack",
            FlowFormat::NftLog => "nft-log",
            FlowFormat::NftJson => "nft-json",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }
    pub fn is_parquet(self) -> bool {
        matches!(self, FlowFormat::AwsParquet | FlowFormat::RecordsParquet)
    }
}

impl fmt::Display for FlowFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A file that cannot be used as input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputError {
    pub file: String,
    /// 1-based line, when the problem has one.
    pub line: Option<u64>,
    /// Parquet row group, when the problem has one.
    pub row_group: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

impl InputError {
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        Self { file: file.display().to_string(), line: None, row_group: None, message: message.into(), hint: None }
    }
    pub fn at_line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(g) = self.row_group {
            write!(f, " (row group {g})")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InputError {}

/// One line that could not be read as a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadLine {
    pub line: u64,
    pub reason: String,
}

/// What reading one file gave besides records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadStats {
    pub records: u64,
    pub bad_lines: u64,
    /// The first [`BAD_SAMPLES`] bad lines.
    pub bad_samples: Vec<BadLine>,
    /// AWS `NODATA`: no traffic in the window (not a problem).
    pub nodata: u64,
    /// AWS `SKIPDATA`: records the service could not capture; the evidence
    /// is incomplete for that window.
    pub skipdata: u64,
    /// Lines that are not records by the format's definition (headers,
    /// summaries, blank lines).
    pub ignored: u64,
}

impl ReadStats {
    pub fn bad(&mut self, line: u64, reason: impl Into<String>) {
        self.bad_lines += 1;
        if self.bad_samples.len() < BAD_SAMPLES {
            self.bad_samples.push(BadLine { line, reason: reason.into() });
        }
    }
    pub fn merge(&mut self, o: &ReadStats) {
        self.records += o.records;
        self.bad_lines += o.bad_lines;
        for b in &o.bad_samples {
            if self.bad_samples.len() < BAD_SAMPLES {
                self.bad_samples.push(b.clone());
            }
        }
        self.nodata += o.nodata;
        self.skipdata += o.skipdata;
        self.ignored += o.ignored;
    }
}

/// What one line of a line-oriented format turned out to be.
#[derive(Debug)]
pub enum Line {
    Record(FlowRecord),
    /// Not a record by the format's definition (header, summary, blank).
    Ignored,
    NoData,
    SkipData,
    Bad(String),
}

impl Line {
    /// One JSON object per line (ulogd2's JSON output): blank lines are
    /// ignored, anything but an object is a bad line, and `record` reads the
    /// object's fields.
    pub(crate) fn of_json_object(
        line: &str,
        record: impl FnOnce(&serde_json::Map<String, serde_json::Value>) -> Result<Line, String>,
    ) -> Line {
        if line.trim().is_empty() {
            return Line::Ignored;
        }
        match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line) {
            Ok(m) => record(&m).unwrap_or_else(Line::Bad),
            Err(e) => Line::Bad(format!("not a JSON object: {e}")),
        }
    }
}

/// A line-oriented format.
pub trait LineFormat {
    /// Sees the first line before anything else; returns whether it was a
    /// header (and so consumed). An `Err` makes the whole file unusable.
    fn header(&mut self, first: &str) -> Result<bool, (String, Option<String>)>;
    fn parse(&mut self, line: &str, number: u64) -> Line;
    /// A fatal problem found while parsing a record (for example a wrong
    /// version on the first record): the file is unusable.
    fn fatal(&mut self) -> Option<(u64, String, Option<String>)> {
        None
    }
}

/// Options that change how records are read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Log prefixes meaning "accepted" / "dropped" (nftables logs); when
    /// empty, the words in the prefix decide (see [`nftlog`]).
    pub accept_prefixes: Vec<String>,
    pub drop_prefixes: Vec<String>,
}

/// An input file and its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowInput {
    pub path: PathBuf,
    pub format: FlowFormat,
}

/// Opens a file, transparently gunzipping it.
pub fn open(path: &Path) -> Result<Box<dyn BufRead + Send>, InputError> {
    let f = std::fs::File::open(path).map_err(|e| InputError::new(path, format!("cannot open: {e}")))?;
    let mut r = std::io::BufReader::with_capacity(1 << 16, f);
    let gz = r.fill_buf().map_err(|e| InputError::new(path, format!("cannot read: {e}")))?.starts_with(&[0x1f, 0x8b]);
    if gz {
        Ok(Box::new(std::io::BufReader::with_capacity(1 << 16, flate2::bufread::MultiGzDecoder::new(r))))
    } else {
        Ok(Box::new(r))
    }
}

/// Guesses the format of a file from its first bytes.
pub fn detect(path: &Path) -> Result<FlowFormat, InputError> {
    let mut head = [0u8; 4];
    {
        let mut f = std::fs::File::open(path).map_err(|e| InputError::new(path, format!("cannot open: {e}")))?;
        let n = f.read(&mut head).map_err(|e| InputError::new(path, format!("cannot read: {e}")))?;
        if n == 4 && &head == b"PAR1" {
            return parquet::detect(path);
        }
    }
    // The start of the first line is enough to tell the formats apart; a
    // file whose first line is huge (one JSON document) is still detected.
    let mut r = open(path)?;
    let mut first = Vec::new();
    while first.len() < 64 * 1024 && !first.contains(&b'\n') {
        let chunk = r.fill_buf().map_err(|e| lines::LineError::Io { line: 1, error: e }.into_input_error(path))?;
        if chunk.is_empty() {
            break;
        }
        let n = chunk.len().min(64 * 1024);
        first.extend_from_slice(&chunk[..n]);
        r.consume(n);
    }
    if let Some(i) = first.iter().position(|&b| b == b'\n') {
        first.truncate(i);
    }
    if first.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(InputError::new(path, "the file is empty").with_hint("an empty file holds no evidence; leave it out"));
    }
    let text = String::from_utf8_lossy(&first);
    let t = text.trim_start();
    let guess = if t.starts_with('{') {
        if t.contains("\"records\"") || t.trim() == "{" {
            Some(FlowFormat::AzureJson)
        } else if t.contains("\"orig.ip.protocol\"") || t.contains("\"orig.l4.dport\"") {
            Some(FlowFormat::ConntrackJson)
        } else if t.contains("\"oob.prefix\"") || t.contains("\"ip.protocol\"") {
            Some(FlowFormat::NftJson)
        } else {
            None
        }
    } else if t.contains(" IN=") || t.starts_with("IN=") {
        Some(FlowFormat::NftLog)
    } else if conntrack::looks_like(t) {
        Some(FlowFormat::ConntrackText)
    } else if aws::looks_like(t) {
        Some(FlowFormat::AwsText)
    } else {
        None
    };
    guess.ok_or_else(|| {
        InputError::new(path, "cannot tell the format from the first line")
            .at_line(1)
            .with_hint("give it: --input-format aws|aws-parquet|records-parquet|azure|conntrack|conntrack-json|nft-log|nft-json")
    })
}

/// Reads a line-oriented file through `format`, handing records to `sink`.
/// `sink` returns `false` to stop early (the consumer went away).
pub fn read_lines(path: &Path, format: &mut dyn LineFormat, sink: &mut dyn FnMut(FlowRecord) -> bool) -> Result<ReadStats, InputError> {
    let mut r = open(path)?;
    let mut lines = lines::Lines::new(&mut r, MAX_LINE);
    let mut stats = ReadStats::default();
    let mut buf = Vec::with_capacity(512);
    let mut first = true;
    while let Some(no) = lines.next_line(&mut buf).map_err(|e| e.into_input_error(path))? {
        let Ok(text) = std::str::from_utf8(&buf) else {
            stats.bad(no, "not UTF-8 text");
            continue;
        };
        let text = text.trim_end_matches(['\r', '\n']);
        if first {
            first = false;
            match format.header(text) {
                Ok(true) => {
                    stats.ignored += 1;
                    continue;
                }
                Ok(false) => {}
                Err((msg, hint)) => {
                    let e = InputError::new(path, msg).at_line(no);
                    return Err(match hint {
                        Some(h) => e.with_hint(h),
                        None => e,
                    });
                }
            }
        }
        match format.parse(text, no) {
            Line::Record(rec) => {
                stats.records += 1;
                if !sink(rec) {
                    break;
                }
            }
            Line::Ignored => stats.ignored += 1,
            Line::NoData => stats.nodata += 1,
            Line::SkipData => stats.skipdata += 1,
            Line::Bad(why) => stats.bad(no, why),
        }
        if let Some((line, msg, hint)) = format.fatal() {
            let e = InputError::new(path, msg).at_line(line);
            return Err(match hint {
                Some(h) => e.with_hint(h),
                None => e,
            });
        }
    }
    Ok(stats)
}

/// Reads a whole file of `format` (not Parquet), handing records to `sink`.
pub fn read_file(input: &FlowInput, opts: &ReadOptions, sink: &mut dyn FnMut(FlowRecord) -> bool) -> Result<ReadStats, InputError> {
    let p = &input.path;
    match input.format {
        FlowFormat::AwsText => read_lines(p, &mut aws::AwsText::default(), sink),
        FlowFormat::ConntrackText => read_lines(p, &mut conntrack::ConntrackText, sink),
        FlowFormat::ConntrackJson => read_lines(p, &mut conntrack::ConntrackJson, sink),
        FlowFormat::NftLog => read_lines(p, &mut nftlog::KernelLog::new(opts), sink),
        FlowFormat::NftJson => read_lines(p, &mut nftlog::UlogdJson::new(opts), sink),
        FlowFormat::AzureJson => azure::read(p, sink),
        FlowFormat::AwsParquet | FlowFormat::RecordsParquet => {
            Err(InputError::new(p, "Parquet is read by the query engine, not line by line"))
        }
    }
}

/// Splits `key=value` tokens; `None` when the token has no `=`.
pub(crate) fn kv(token: &str) -> Option<(&str, &str)> {
    token.split_once('=')
}

/// Parses a port field.
pub(crate) fn port(s: &str, what: &str) -> Result<u16, String> {
    s.parse::<u16>().map_err(|_| format!("{what} `{}` is not a port (0-65535)", clip(s)))
}

/// A field value shortened for a message, with control characters escaped
/// so that no input text can forge output lines.
pub fn clip(s: &str) -> String {
    let short: String = s.chars().take(40).collect();
    let mut out = short.escape_debug().to_string();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}
