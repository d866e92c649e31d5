//! What an audit found, as serializable types (for JSON, a web page, the
//! tables and spreadsheets), in a deterministic order.

use serde::Serialize;

use crate::formats::{FlowFormat, InputError, ReadStats};
use crate::intent::{Basis, IntentId, IpProto};

/// The five classes of the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowClass {
    /// Planned but rejected: a required flow a firewall drops (finding).
    PlannedRejected,
    /// Accepted but planned by no flow: drift or over-permission (finding).
    UnplannedAccepted,
    /// Planned and seen.
    PlannedSeen,
    /// Planned, not seen in the period: a candidate to recertify or remove.
    PlannedNeverSeen,
    /// Rejected and not planned: expected noise, counted.
    UnplannedRejected,
}

impl FlowClass {
    pub const ALL: [FlowClass; 5] = [
        FlowClass::PlannedRejected,
        FlowClass::UnplannedAccepted,
        FlowClass::PlannedSeen,
        FlowClass::PlannedNeverSeen,
        FlowClass::UnplannedRejected,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            FlowClass::PlannedSeen => "planned-seen",
            FlowClass::PlannedNeverSeen => "planned-never-seen",
            FlowClass::UnplannedAccepted => "unplanned-accepted",
            FlowClass::PlannedRejected => "planned-rejected",
            FlowClass::UnplannedRejected => "unplanned-rejected",
        }
    }
    pub fn is_finding(self) -> bool {
        matches!(self, FlowClass::PlannedRejected | FlowClass::UnplannedAccepted)
    }
}

/// Traffic counted into one row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    pub records: u64,
    /// Of `records`, the reply halves of a flow (AWS logs each direction).
    pub reply_records: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Unix seconds.
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
}

impl Traffic {
    pub fn add(&mut self, o: &Traffic) {
        self.records += o.records;
        self.reply_records += o.reply_records;
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.first_seen = min_opt(self.first_seen, o.first_seen);
        self.last_seen = max_opt(self.last_seen, o.last_seen);
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// One intent of the plan with what was seen of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedRow {
    pub class: FlowClass,
    pub intent: IntentId,
    pub basis: Basis,
    /// `product/flow-id` of every flow behind the intent.
    pub flows: Vec<portmatrix_model::FlowTag>,
    pub cites: Vec<String>,
    pub sources: Vec<String>,
    pub destination: String,
    pub service: String,
    /// Accepted traffic for `planned-seen`, rejected for `planned-rejected`.
    pub traffic: Traffic,
}

/// Traffic to one destination and service that no intent allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnplannedRow {
    pub class: FlowClass,
    pub destination_address: String,
    /// The host or network of the inventory the address belongs to.
    pub destination: Option<String>,
    pub protocol: IpProto,
    /// Destination port, or ICMP type; `None` when the records carry neither.
    pub port: Option<u16>,
    pub traffic: Traffic,
    /// The smallest source address seen (a sample).
    pub sample_source: String,
    pub sample_source_name: Option<String>,
    /// Distinct source addresses, estimated (HyperLogLog).
    pub sources_estimate: u64,
}

impl UnplannedRow {
    pub fn service(&self) -> String {
        match (self.port, self.protocol.is_icmp()) {
            (Some(p), true) => format!("{}/type-{p}", self.protocol),
            (Some(p), false) => format!("{}/{p}", self.protocol),
            (None, _) => self.protocol.to_string(),
        }
    }
}

/// One input file and what reading it gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputSummary {
    pub file: String,
    pub format: FlowFormat,
    /// Text inputs: what the reader counted. Parquet: records are counted by
    /// the query (see `AuditSummary::parquet_records`).
    pub stats: Option<ReadStats>,
}

/// Totals of one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClassTotal {
    pub class: FlowClass,
    /// Result rows of this class.
    pub rows: u64,
    pub traffic: Traffic,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditSummary {
    pub inventory: String,
    pub intents: usize,
    pub classes: Vec<ClassTotal>,
    pub inputs: Vec<InputSummary>,
    /// Records classified (usable).
    pub records: u64,
    /// Parquet rows the query found unusable (missing fields, bad values).
    pub unusable_rows: u64,
    pub nodata: u64,
    /// AWS SKIPDATA records: capture windows with records missing.
    pub skipdata: u64,
    /// Lines of text inputs that could not be read as records.
    pub bad_lines: u64,
    /// Findings: rows of the classes `planned-rejected` and `unplanned-accepted`.
    pub findings: u64,
    /// Whether the evidence is complete (no bad lines, unusable rows or SKIPDATA).
    pub complete: bool,
    /// Where the audit ran: `embedded` or the cluster's address.
    pub engine: String,
}

/// Everything an audit of flows found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditResult {
    pub summary: AuditSummary,
    pub planned: Vec<PlannedRow>,
    pub unplanned: Vec<UnplannedRow>,
}

impl AuditResult {
    /// 0 clean, 1 findings or incomplete evidence.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.summary.findings > 0 || !self.summary.complete)
    }
}

/// Why an audit could not run.
#[derive(Debug)]
pub enum AuditError {
    /// An input is unusable (exit 2).
    Input(InputError),
    /// The query or the cluster failed.
    Engine(String),
}

impl std::fmt::Display for AuditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditError::Input(e) => write!(f, "{e}"),
            AuditError::Engine(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for AuditError {}

/// Formats unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn iso_time(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // civil from days (proleptic Gregorian)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_time_matches_known_instants() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_time(1_764_532_081), "2025-11-30T19:48:01Z");
        assert_eq!(iso_time(951_782_400), "2000-02-29T00:00:00Z");
    }
}
