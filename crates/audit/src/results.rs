//! What an audit found, as serializable types (for JSON, a web page, the
//! tables and spreadsheets), in a deterministic order.

use serde::{Deserialize, Serialize};

use crate::formats::{FlowFormat, InputError, ReadStats};
use crate::intent::{Basis, IntentId, IpProto};

/// The five classes of the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSummary {
    pub file: String,
    pub format: FlowFormat,
    /// Text inputs: what the reader counted. Parquet: records are counted by
    /// the query (see `AuditSummary::parquet_records`).
    pub stats: Option<ReadStats>,
}

/// Totals of one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassTotal {
    pub class: FlowClass,
    /// Result rows of this class.
    pub rows: u64,
    pub traffic: Traffic,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

    /// The first and last time any row was seen (unix seconds).
    pub fn period(&self) -> Option<(i64, i64)> {
        let traffic = || self.planned.iter().map(|p| &p.traffic).chain(self.unplanned.iter().map(|u| &u.traffic));
        Some((traffic().filter_map(|t| t.first_seen).min()?, traffic().filter_map(|t| t.last_seen).max()?))
    }

    /// Reads back what `audit flows --format json` wrote. Unknown classes
    /// and formats are errors (a typo must not pass as a clean audit).
    pub fn from_json(text: &str) -> Result<Self, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        if !(v.get("summary").is_some_and(|s| s.is_object()) && v.get("planned").is_some_and(|p| p.is_array())) {
            return Err("expected an object with `summary` and `planned` (the output of `portmatrix audit flows --format json`)".into());
        }
        serde_json::from_value(v).map_err(|e| format!("not an audit result: {e}"))
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

/// Formats unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (the number itself when
/// it lies beyond the calendar's range).
pub fn iso_time(t: i64) -> String {
    match chrono::DateTime::from_timestamp(t, 0) {
        Some(d) => d.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_time_matches_known_instants() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_time(1_764_532_081), "2025-11-30T19:48:01Z");
        assert_eq!(iso_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso_time(i64::MAX), i64::MAX.to_string(), "beyond the calendar: the number");
    }

    fn sample() -> AuditResult {
        let traffic = Traffic { records: 2, reply_records: 1, packets: 10, bytes: 900, first_seen: Some(100), last_seen: Some(200) };
        let stats = ReadStats {
            records: 3,
            bad_lines: 1,
            bad_samples: vec![crate::formats::BadLine { line: 2, reason: "<b>".into() }],
            ..Default::default()
        };
        AuditResult {
            summary: AuditSummary {
                inventory: "inv.yaml".into(),
                intents: 1,
                classes: vec![ClassTotal { class: FlowClass::PlannedSeen, rows: 1, traffic }],
                inputs: vec![InputSummary { file: "f.log".into(), format: FlowFormat::AwsText, stats: Some(stats) }],
                records: 3,
                unusable_rows: 0,
                nodata: 0,
                skipdata: 0,
                bad_lines: 1,
                findings: 1,
                complete: false,
                engine: "embedded".into(),
            },
            planned: vec![PlannedRow {
                class: FlowClass::PlannedSeen,
                intent: IntentId(0),
                basis: Basis::Connection,
                flows: vec![portmatrix_model::FlowTag::new("acd", "db")],
                cites: vec!["seed 1".into()],
                sources: vec!["web1".into()],
                destination: "db1".into(),
                service: "tcp/5432".into(),
                traffic,
            }],
            unplanned: vec![UnplannedRow {
                class: FlowClass::UnplannedAccepted,
                destination_address: "10.0.0.9".into(),
                destination: None,
                protocol: IpProto::TCP,
                port: Some(22),
                traffic: Traffic { first_seen: Some(50), last_seen: Some(300), ..traffic },
                sample_source: "10.0.0.1".into(),
                sample_source_name: None,
                sources_estimate: 1,
            }],
        }
    }

    #[test]
    fn results_read_back_equal_and_refuse_what_they_do_not_know() {
        let r = sample();
        assert_eq!(r.period(), Some((50, 300)));
        let json = serde_json::to_string_pretty(&r).unwrap();
        assert_eq!(AuditResult::from_json(&json), Ok(r));
        assert!(AuditResult::from_json("nope").unwrap_err().starts_with("not JSON"));
        assert!(AuditResult::from_json("{\"results\": []}").unwrap_err().contains("audit flows --format json"));
        for (from, to) in [("\"planned-seen\"", "\"planned-sen\""), ("\"aws\"", "\"aws-text\""), ("\"records\": 3", "\"records\": -3")] {
            assert!(json.contains(from), "{from}");
            let e = AuditResult::from_json(&json.replacen(from, to, 1)).unwrap_err();
            assert!(e.starts_with("not an audit result"), "{e}");
        }
    }
}
