//! The SQL side of the audit: the plan as tables a user (or another engine)
//! can query, the views that normalize each input, and the classification
//! view.
//!
//! Tables registered in every session:
//! - `intents(intent_id, basis, protocol, service, destination, sources, flows, cites)`
//! - `intent_sources` / `intent_destinations(intent_id, family, lo, hi, lo_v4, hi_v4)`:
//!   address intervals; `lo_v4`/`hi_v4` are IPv4 addresses as integers
//! - `intent_ports` / `intent_src_ports(intent_id, lo, hi)`: port intervals
//! - `intent_icmp_types(intent_id, icmp_type)`: ICMP types an intent allows
//!   (an ICMP intent without rows here allows every type)
//! - `match_sets(match_set, intent_id)`: what `pm_match` returns
//! - `records`: every input record, normalized, with `status`
//! - `classified`: `records` with `match_set`, `reply` and `class`

use std::net::IpAddr;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Array, StringArray, UInt32Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Result;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::intent::{AddrRange, IntentTable};
use crate::matcher::Matcher;
use crate::udf::{BAD_INPUT, NAME};

/// The normalized record columns, in schema order.
pub const RECORD_COLUMNS: &str =
    "file_id, line, \"start\", \"end\", src_addr, dst_addr, src_port, dst_port, protocol, icmp_type, packets, bytes, accepted, oriented";

/// Row classes as the SQL writes them.
pub const PLANNED_SEEN: &str = "planned-seen";
pub const PLANNED_REJECTED: &str = "planned-rejected";
pub const UNPLANNED_ACCEPTED: &str = "unplanned-accepted";
pub const UNPLANNED_REJECTED: &str = "unplanned-rejected";

/// The normalizing SELECT over a group of AWS Parquet files with the
/// optional columns `present`.
pub fn aws_parquet_select(table: &str, present: &[String]) -> String {
    let has = |c: &str| present.iter().any(|p| p == c);
    let opt = |c: &str, ty: &str| if has(c) { format!("CAST(\"{c}\" AS {ty})") } else { format!("CAST(NULL AS {ty})") };
    // Packet-level addresses win where an intermediate interface rewrote them.
    // Addresses keep the type the file has (Utf8View as DataFusion reads
    // Parquet): pm_match reads every string type, and a cast would copy them.
    let addr = |main: &str, pkt: &str| if has(pkt) { format!("COALESCE(NULLIF({pkt}, '-'), {main})") } else { main.to_string() };
    let status_col = if has("log_status") { "log_status" } else { "CAST(NULL AS VARCHAR)" };
    let version_bad = if has("version") { "OR (version IS NOT NULL AND version NOT BETWEEN 2 AND 5)" } else { "" };
    format!(
        "SELECT CAST(NULL AS INT UNSIGNED) AS file_id, CAST(NULL AS BIGINT UNSIGNED) AS line, \
         {start} AS \"start\", {end} AS \"end\", {src} AS src_addr, {dst} AS dst_addr, \
         CASE WHEN protocol IN (6, 17, 132) THEN {sport} END AS src_port, \
         CASE WHEN protocol IN (6, 17, 132) THEN CAST(dstport AS INT) END AS dst_port, CAST(protocol AS INT) AS protocol, \
         CAST(NULL AS INT) AS icmp_type, {packets} AS packets, {bytes} AS bytes, \
         COALESCE(action = 'ACCEPT', false) AS accepted, false AS oriented, \
         CASE WHEN {status_col} = 'NODATA' THEN 1 WHEN {status_col} = 'SKIPDATA' THEN 2 \
              WHEN srcaddr IS NULL OR dstaddr IS NULL OR protocol IS NULL OR action IS NULL \
                   OR action NOT IN ('ACCEPT', 'REJECT') {version_bad} THEN 3 ELSE 0 END AS status \
         FROM {table}",
        start = opt("start", "BIGINT"),
        end = opt("end", "BIGINT"),
        src = addr("srcaddr", "pkt_srcaddr"),
        dst = addr("dstaddr", "pkt_dstaddr"),
        sport = opt("srcport", "INT"),
        packets = opt("packets", "BIGINT"),
        bytes = opt("bytes", "BIGINT"),
    )
}

/// `classified`: every record with its match set. Records whose source is
/// not known to be the initiator (AWS) that match nothing are tried the
/// other way round: the reply half of a planned flow is credited to it.
pub fn classified_view() -> String {
    format!(
        "CREATE VIEW classified AS \
         SELECT {RECORD_COLUMNS}, status, match_set, (fwd IS NULL AND match_set IS NOT NULL) AS reply, \
           CASE WHEN status <> 0 THEN NULL \
                WHEN match_set IS NOT NULL AND accepted THEN '{PLANNED_SEEN}' \
                WHEN match_set IS NOT NULL THEN '{PLANNED_REJECTED}' \
                WHEN accepted THEN '{UNPLANNED_ACCEPTED}' ELSE '{UNPLANNED_REJECTED}' END AS class \
         FROM ( \
           SELECT {RECORD_COLUMNS}, fwd, \
             CASE WHEN fwd = {BAD_INPUT} THEN 3 ELSE status END AS status, \
             CASE WHEN fwd = {BAD_INPUT} THEN NULL WHEN fwd IS NOT NULL THEN fwd \
                  WHEN status = 0 AND NOT oriented THEN {NAME}(dst_addr, src_addr, protocol, dst_port, src_port, icmp_type) END AS match_set \
           FROM (SELECT {RECORD_COLUMNS}, status, \
                   CASE WHEN status = 0 THEN {NAME}(src_addr, dst_addr, protocol, src_port, dst_port, icmp_type) END AS fwd \
                 FROM records))"
    )
}

/// The aggregation the results are built from: one row per (match set,
/// direction, action) and, for records that match nothing, per
/// (destination, protocol, port or ICMP type, action).
pub const SUMMARY_QUERY: &str = "SELECT status, match_set, reply, accepted, \
    CASE WHEN match_set IS NULL AND status = 0 THEN dst_addr END AS u_dst, \
    CASE WHEN match_set IS NULL AND status = 0 THEN protocol END AS u_proto, \
    CASE WHEN match_set IS NULL AND status = 0 THEN COALESCE(dst_port, icmp_type) END AS u_port, \
    count(*) AS records, sum(packets) AS packets, sum(bytes) AS bytes, \
    min(\"start\") AS first_seen, max(COALESCE(\"end\", \"start\")) AS last_seen, \
    min(src_addr) AS sample_src, approx_distinct(src_addr) AS sources \
    FROM classified GROUP BY 1, 2, 3, 4, 5, 6, 7";

fn v4(a: IpAddr) -> Option<u32> {
    match a {
        IpAddr::V4(v) => Some(u32::from(v)),
        IpAddr::V6(_) => None,
    }
}

fn ranges_batch(rows: &[(u32, AddrRange)]) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("intent_id", DataType::UInt32, false),
        Field::new("family", DataType::Int32, false),
        Field::new("lo", DataType::Utf8, false),
        Field::new("hi", DataType::Utf8, false),
        Field::new("lo_v4", DataType::UInt32, true),
        Field::new("hi_v4", DataType::UInt32, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| if r.1.lo.is_ipv4() { 4 } else { 6 }))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1.lo.to_string()))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1.hi.to_string()))),
        Arc::new(UInt32Array::from(rows.iter().map(|r| v4(r.1.lo)).collect::<Vec<_>>())),
        Arc::new(UInt32Array::from(rows.iter().map(|r| v4(r.1.hi)).collect::<Vec<_>>())),
    ];
    Ok(RecordBatch::try_new(schema, cols)?)
}

fn ports_batch(rows: &[(u32, u16, u16)]) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("intent_id", DataType::UInt32, false),
        Field::new("lo", DataType::Int32, false),
        Field::new("hi", DataType::Int32, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| i32::from(r.1)))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| i32::from(r.2)))),
    ];
    Ok(RecordBatch::try_new(schema, cols)?)
}

fn register(ctx: &SessionContext, name: &str, b: RecordBatch) -> Result<()> {
    let t = MemTable::try_new(b.schema(), vec![vec![b]])?;
    ctx.register_table(name, Arc::new(t))?;
    Ok(())
}

/// The plan's tables as record batches, by table name.
pub fn plan_batches(table: &IntentTable, matcher: &Matcher) -> Result<Vec<(&'static str, RecordBatch)>> {
    let it = &table.intents;
    let text = |f: &dyn Fn(&crate::intent::Intent) -> String| -> ArrayRef { Arc::new(StringArray::from_iter_values(it.iter().map(f))) };
    let intents = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("intent_id", DataType::UInt32, false),
            Field::new("basis", DataType::Utf8, false),
            Field::new("protocol", DataType::Int32, false),
            Field::new("service", DataType::Utf8, false),
            Field::new("destination", DataType::Utf8, false),
            Field::new("sources", DataType::Utf8, false),
            Field::new("flows", DataType::Utf8, false),
            Field::new("cites", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(UInt32Array::from_iter_values(it.iter().map(|i| i.id.0))),
            text(&|i| i.basis.as_str().to_string()),
            Arc::new(Int32Array::from_iter_values(it.iter().map(|i| i32::from(i.proto.0)))),
            text(&|i| i.service()),
            text(&|i| i.destination.clone()),
            text(&|i| i.source_names.join(" ")),
            text(&|i| i.tags().iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" ")),
            text(&|i| i.reasons.iter().map(|r| r.cite.as_str()).collect::<Vec<_>>().join(" | ")),
        ],
    )?;
    let src: Vec<(u32, AddrRange)> = it.iter().flat_map(|i| i.sources.iter().map(move |r| (i.id.0, *r))).collect();
    let dst: Vec<(u32, AddrRange)> = it.iter().flat_map(|i| i.destinations.iter().map(move |r| (i.id.0, *r))).collect();
    let ports: Vec<(u32, u16, u16)> = it.iter().flat_map(|i| i.ports.iter().map(move |&(a, b)| (i.id.0, a, b))).collect();
    let sports: Vec<(u32, u16, u16)> = it.iter().flat_map(|i| i.src_ports.iter().flatten().map(move |&(a, b)| (i.id.0, a, b))).collect();
    let types: Vec<(u32, u8)> = it.iter().flat_map(|i| i.icmp_types.iter().flatten().map(move |&t| (i.id.0, t))).collect();
    let icmp = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("intent_id", DataType::UInt32, false), Field::new("icmp_type", DataType::Int32, false)])),
        vec![
            Arc::new(UInt32Array::from_iter_values(types.iter().map(|t| t.0))),
            Arc::new(Int32Array::from_iter_values(types.iter().map(|t| i32::from(t.1)))),
        ],
    )?;
    let sets: Vec<(u32, u32)> = matcher.all_sets().into_iter().flat_map(|(s, m)| m.into_iter().map(move |i| (s.0, i.0))).collect();
    let sets = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("match_set", DataType::UInt32, false), Field::new("intent_id", DataType::UInt32, false)])),
        vec![
            Arc::new(UInt32Array::from_iter_values(sets.iter().map(|s| s.0))),
            Arc::new(UInt32Array::from_iter_values(sets.iter().map(|s| s.1))),
        ],
    )?;
    Ok(vec![
        ("intents", intents),
        ("intent_sources", ranges_batch(&src)?),
        ("intent_destinations", ranges_batch(&dst)?),
        ("intent_ports", ports_batch(&ports)?),
        ("intent_src_ports", ports_batch(&sports)?),
        ("intent_icmp_types", icmp),
        ("match_sets", sets),
    ])
}

/// Registers the plan's tables in a session.
pub fn register_plan(ctx: &SessionContext, table: &IntentTable, matcher: &Matcher) -> Result<()> {
    for (name, b) in plan_batches(table, matcher)? {
        register(ctx, name, b)?;
    }
    Ok(())
}
