//! The normalized flow record every input format is read into, as Arrow
//! batches: one schema for text formats, Parquet, the generator and the
//! cluster.

use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, BooleanBuilder, Int32Builder, Int64Builder, StringBuilder, UInt32Builder, UInt64Builder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use crate::intent::IpProto;

/// Rows per Arrow batch built by the readers.
pub const BATCH_ROWS: usize = 64 * 1024;

/// Column names of the normalized schema (used in the SQL of `classify`).
pub mod col {
    pub const FILE_ID: &str = "file_id";
    pub const LINE: &str = "line";
    pub const START: &str = "start";
    pub const END: &str = "end";
    pub const SRC_ADDR: &str = "src_addr";
    pub const DST_ADDR: &str = "dst_addr";
    pub const SRC_PORT: &str = "src_port";
    pub const DST_PORT: &str = "dst_port";
    pub const PROTOCOL: &str = "protocol";
    pub const ICMP_TYPE: &str = "icmp_type";
    pub const PACKETS: &str = "packets";
    pub const BYTES: &str = "bytes";
    pub const ACCEPTED: &str = "accepted";
    pub const ORIENTED: &str = "oriented";
}

/// The normalized record schema.
pub fn schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new(col::FILE_ID, DataType::UInt32, true),
            Field::new(col::LINE, DataType::UInt64, true),
            Field::new(col::START, DataType::Int64, true),
            Field::new(col::END, DataType::Int64, true),
            Field::new(col::SRC_ADDR, DataType::Utf8, false),
            Field::new(col::DST_ADDR, DataType::Utf8, false),
            Field::new(col::SRC_PORT, DataType::Int32, true),
            Field::new(col::DST_PORT, DataType::Int32, true),
            Field::new(col::PROTOCOL, DataType::Int32, false),
            Field::new(col::ICMP_TYPE, DataType::Int32, true),
            Field::new(col::PACKETS, DataType::Int64, true),
            Field::new(col::BYTES, DataType::Int64, true),
            Field::new(col::ACCEPTED, DataType::Boolean, false),
            Field::new(col::ORIENTED, DataType::Boolean, false),
        ]))
    });
    SCHEMA.clone()
}

/// One observed flow, as a reader produces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    pub line: u64,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub proto: IpProto,
    pub icmp_type: Option<u8>,
    pub packets: Option<i64>,
    pub bytes: Option<i64>,
    /// Allowed by the firewall or security group that logged it.
    pub accepted: bool,
    /// Whether `src` is known to be the initiator (conntrack, firewall
    /// logs, Azure); AWS records show each direction separately.
    pub oriented: bool,
}

/// Collects records into Arrow batches of [`BATCH_ROWS`].
pub struct BatchBuilder {
    file_id: Option<u32>,
    file: UInt32Builder,
    line: UInt64Builder,
    start: Int64Builder,
    end: Int64Builder,
    src: StringBuilder,
    dst: StringBuilder,
    sport: Int32Builder,
    dport: Int32Builder,
    proto: Int32Builder,
    icmp: Int32Builder,
    packets: Int64Builder,
    bytes: Int64Builder,
    accepted: BooleanBuilder,
    oriented: BooleanBuilder,
    rows: usize,
    text: String,
}

impl BatchBuilder {
    pub fn new(file_id: Option<u32>) -> Self {
        let n = BATCH_ROWS;
        Self {
            file_id,
            file: UInt32Builder::with_capacity(n),
            line: UInt64Builder::with_capacity(n),
            start: Int64Builder::with_capacity(n),
            end: Int64Builder::with_capacity(n),
            src: StringBuilder::with_capacity(n, n * 12),
            dst: StringBuilder::with_capacity(n, n * 12),
            sport: Int32Builder::with_capacity(n),
            dport: Int32Builder::with_capacity(n),
            proto: Int32Builder::with_capacity(n),
            icmp: Int32Builder::with_capacity(n),
            packets: Int64Builder::with_capacity(n),
            bytes: Int64Builder::with_capacity(n),
            accepted: BooleanBuilder::with_capacity(n),
            oriented: BooleanBuilder::with_capacity(n),
            rows: 0,
            text: String::with_capacity(48),
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
    pub fn is_full(&self) -> bool {
        self.rows >= BATCH_ROWS
    }

    pub fn push(&mut self, r: &FlowRecord) {
        use std::fmt::Write;
        self.file.append_option(self.file_id);
        self.line.append_value(r.line);
        self.start.append_option(r.start);
        self.end.append_option(r.end);
        self.text.clear();
        let _ = write!(self.text, "{}", r.src);
        self.src.append_value(&self.text);
        self.text.clear();
        let _ = write!(self.text, "{}", r.dst);
        self.dst.append_value(&self.text);
        self.sport.append_option(r.src_port.map(i32::from));
        self.dport.append_option(r.dst_port.map(i32::from));
        self.proto.append_value(i32::from(r.proto.0));
        self.icmp.append_option(r.icmp_type.map(i32::from));
        self.packets.append_option(r.packets);
        self.bytes.append_option(r.bytes);
        self.accepted.append_value(r.accepted);
        self.oriented.append_value(r.oriented);
        self.rows += 1;
    }

    /// The rows so far as a batch; the builder starts over.
    pub fn finish(&mut self) -> RecordBatch {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.file.finish()),
            Arc::new(self.line.finish()),
            Arc::new(self.start.finish()),
            Arc::new(self.end.finish()),
            Arc::new(self.src.finish()),
            Arc::new(self.dst.finish()),
            Arc::new(self.sport.finish()),
            Arc::new(self.dport.finish()),
            Arc::new(self.proto.finish()),
            Arc::new(self.icmp.finish()),
            Arc::new(self.packets.finish()),
            Arc::new(self.bytes.finish()),
            Arc::new(self.accepted.finish()),
            Arc::new(self.oriented.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(schema(), cols).expect("columns follow the schema")
    }
}

/// Parses a dotted-quad IPv4 address from bytes without allocating; the
/// classification's hot path. Accepts exactly what `Ipv4Addr::from_str`
/// accepts (no leading zeros, no signs, four parts).
pub fn parse_ipv4(s: &[u8]) -> Option<u32> {
    let mut out: u32 = 0;
    let mut part: u32 = 0;
    let mut digits = 0;
    let mut dots = 0;
    let mut leading_zero = false;
    for &b in s {
        match b {
            b'0'..=b'9' => {
                if leading_zero || digits == 3 {
                    return None;
                }
                if digits == 0 && b == b'0' {
                    leading_zero = true;
                }
                part = part * 10 + u32::from(b - b'0');
                digits += 1;
            }
            b'.' => {
                if digits == 0 || part > 255 || dots == 3 {
                    return None;
                }
                out = (out << 8) | part;
                part = 0;
                digits = 0;
                dots += 1;
                leading_zero = false;
            }
            _ => return None,
        }
    }
    if dots != 3 || digits == 0 || part > 255 {
        return None;
    }
    Some((out << 8) | part)
}

/// Parses an address the way the records carry it.
pub fn parse_addr(s: &str) -> Option<IpAddr> {
    if let Some(v) = parse_ipv4(s.as_bytes()) {
        return Some(IpAddr::from(std::net::Ipv4Addr::from(v)));
    }
    s.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fast_ipv4_parser_agrees_with_std(s in "[0-9.]{0,17}") {
            let std = s.parse::<std::net::Ipv4Addr>().ok().map(u32::from);
            prop_assert_eq!(parse_ipv4(s.as_bytes()), std);
        }
        #[test]
        fn fast_ipv4_parser_reads_every_address(a in any::<u32>()) {
            let s = std::net::Ipv4Addr::from(a).to_string();
            prop_assert_eq!(parse_ipv4(s.as_bytes()), Some(a));
        }
    }
}
