//! Writing flow records in each input format (for the generator, tests and
//! benchmarks). A record written here and read back by [`crate::formats`]
//! is the same record, once [`shape`] has dropped what the format cannot
//! carry.

use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Builder, Int64Builder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use flate2::write::GzEncoder;

use crate::formats::{aws, FlowFormat};
use crate::intent::IpProto;
use crate::record::{BatchBuilder, FlowRecord};
use crate::results::iso_time;

/// Drops from a record what `format` cannot carry, so that truth and the
/// record read back agree.
pub fn shape(format: FlowFormat, mut r: FlowRecord) -> FlowRecord {
    match format {
        FlowFormat::AwsText | FlowFormat::AwsParquet => {
            r.icmp_type = None;
            r.oriented = false;
        }
        FlowFormat::AzureJson => {
            r.end = r.start;
            r.icmp_type = None;
        }
        FlowFormat::ConntrackText => {
            r.end = None;
            r.accepted = true;
        }
        FlowFormat::ConntrackJson => r.accepted = true,
        FlowFormat::NftLog | FlowFormat::NftJson => {
            r.end = None;
            r.packets = Some(1);
        }
        FlowFormat::RecordsParquet => {}
    }
    if !r.proto.has_ports() {
        r.src_port = None;
        r.dst_port = None;
    }
    if !r.proto.is_icmp() {
        r.icmp_type = None;
    }
    r
}

/// Writes records of one format to one file.
pub trait RecordWriter {
    fn write(&mut self, r: &FlowRecord) -> io::Result<()>;
    fn finish(self: Box<Self>) -> io::Result<()>;
}

/// A file written to a temporary name and renamed at the end.
struct Target {
    out: Box<dyn Write>,
    tmp: tempfile::TempPath,
    path: std::path::PathBuf,
}

impl Target {
    fn new(path: &Path) -> io::Result<Self> {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let f = tempfile::NamedTempFile::new_in(dir)?;
        let (file, tmp) = f.into_parts();
        let buf = BufWriter::with_capacity(1 << 20, file);
        let gz = path.extension().is_some_and(|e| e == "gz");
        let out: Box<dyn Write> = if gz { Box::new(GzEncoder::new(buf, flate2::Compression::fast())) } else { Box::new(buf) };
        Ok(Self { out, tmp, path: path.to_path_buf() })
    }
    fn finish(mut self) -> io::Result<()> {
        self.out.flush()?;
        drop(self.out);
        self.tmp.persist(&self.path).map_err(|e| e.error)
    }
}

fn proto_word(p: IpProto) -> String {
    match p {
        IpProto::TCP => "TCP".into(),
        IpProto::UDP => "UDP".into(),
        IpProto::SCTP => "SCTP".into(),
        IpProto::ICMP => "ICMP".into(),
        IpProto::ICMPV6 => "ICMPv6".into(),
        other => other.0.to_string(),
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |x| x.to_string())
}

struct AwsTextWriter {
    t: Target,
    fields: Vec<&'static str>,
    version: u8,
}

impl RecordWriter for AwsTextWriter {
    fn write(&mut self, r: &FlowRecord) -> io::Result<()> {
        let mut line = String::with_capacity(160);
        for f in &self.fields {
            let v = match *f {
                "version" => self.version.to_string(),
                "account-id" => "123456789012".into(),
                "interface-id" => "eni-0123456789abcdef0".into(),
                "srcaddr" | "pkt-srcaddr" => r.src.to_string(),
                "dstaddr" | "pkt-dstaddr" => r.dst.to_string(),
                "srcport" => r.src_port.unwrap_or(0).to_string(),
                "dstport" => r.dst_port.unwrap_or(0).to_string(),
                "protocol" => r.proto.0.to_string(),
                "packets" => opt(r.packets),
                "bytes" => opt(r.bytes),
                "start" => opt(r.start),
                "end" => opt(r.end),
                "action" => (if r.accepted { "ACCEPT" } else { "REJECT" }).into(),
                "log-status" => "OK".into(),
                "type" => (if r.src.is_ipv4() { "IPv4" } else { "IPv6" }).into(),
                "tcp-flags" => "0".into(),
                "flow-direction" => "ingress".into(),
                _ => "-".into(),
            };
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&v);
        }
        line.push('\n');
        self.t.out.write_all(line.as_bytes())
    }
    fn finish(self: Box<Self>) -> io::Result<()> {
        self.t.finish()
    }
}

/// The header fields of a custom format of `version` (2 to 5): the default
/// fields, then those of later versions up to it.
pub fn aws_fields(version: u8) -> Vec<&'static str> {
    let mut f: Vec<&'static str> = aws::DEFAULT.to_vec();
    f.extend(aws::FIELDS.iter().filter(|(_, v)| *v > 2 && *v <= version).map(|(n, _)| *n));
    f
}

struct LinesWriter {
    t: Target,
    format: FlowFormat,
    /// Azure: tuples written so far (to place commas).
    n: u64,
}

fn conntrack_line(r: &FlowRecord) -> String {
    let fam = if r.src.is_ipv4() { "ipv4     2" } else { "ipv6     10" };
    let name = match r.proto {
        IpProto::TCP => "tcp",
        IpProto::UDP => "udp",
        IpProto::SCTP => "sctp",
        IpProto::ICMP => "icmp",
        IpProto::ICMPV6 => "icmpv6",
        _ => "unknown",
    };
    let (p, b) = (r.packets.unwrap_or(0), r.bytes.unwrap_or(0));
    let (po, bo) = (p / 2 + p % 2, b / 2 + b % 2);
    let tuple = |s: IpAddr, d: IpAddr, sp: Option<u16>, dp: Option<u16>, t: Option<u8>| match (sp, dp) {
        (Some(sp), Some(dp)) => format!("src={s} dst={d} sport={sp} dport={dp}"),
        _ => format!("src={s} dst={d} type={} code=0 id=4660", t.unwrap_or(0)),
    };
    let reply_type = r.icmp_type.map(|t| {
        if t == 8 {
            0
        } else if t == 128 {
            129
        } else {
            t
        }
    });
    format!(
        "[{}.000000]\t [DESTROY] {fam} {name:<8} {} {} packets={po} bytes={bo} {} packets={} bytes={} [ASSURED] mark=0 use=1\n",
        r.start.unwrap_or(0),
        r.proto.0,
        tuple(r.src, r.dst, r.src_port, r.dst_port, r.icmp_type),
        tuple(r.dst, r.src, r.dst_port, r.src_port, reply_type),
        p - po,
        b - bo
    )
}

fn nft_line(r: &FlowRecord) -> String {
    let prefix = if r.accepted { "pm-accept: " } else { "pm-drop: " };
    let l3 = if r.src.is_ipv4() { "TOS=0x00 PREC=0x00 TTL=63 ID=4660 DF" } else { "TC=0 HOPLIMIT=63 FLOWLBL=0" };
    let l4 = match (r.src_port, r.dst_port, r.icmp_type) {
        (Some(s), Some(d), _) => format!("SPT={s} DPT={d} WINDOW=64240 RES=0x00 SYN URGP=0"),
        (_, _, Some(t)) => format!("TYPE={t} CODE=0 ID=4660 SEQ=1"),
        _ => String::new(),
    };
    format!(
        "{}+00:00 fw1 kernel: {prefix}IN=eth0 OUT=eth1 SRC={} DST={} LEN={} {l3} PROTO={} {l4}\n",
        iso_time(r.start.unwrap_or(0)).trim_end_matches('Z'),
        r.src,
        r.dst,
        r.bytes.unwrap_or(0),
        proto_word(r.proto)
    )
}

fn json_line(r: &FlowRecord, format: FlowFormat) -> String {
    let mut m = serde_json::Map::new();
    m.insert("timestamp".into(), iso_time(r.start.unwrap_or(0)).into());
    m.insert("dvc".into(), "Netfilter".into());
    m.insert("src_ip".into(), r.src.to_string().into());
    m.insert("dest_ip".into(), r.dst.to_string().into());
    let icmp_key = if r.proto == IpProto::ICMPV6 { "icmpv6.type" } else { "icmp.type" };
    if format == FlowFormat::ConntrackJson {
        m.insert("orig.ip.protocol".into(), r.proto.0.into());
        if let (Some(s), Some(d)) = (r.src_port, r.dst_port) {
            m.insert("orig.l4.sport".into(), s.into());
            m.insert("orig.l4.dport".into(), d.into());
        }
        let (p, b) = (r.packets.unwrap_or(0), r.bytes.unwrap_or(0));
        m.insert("orig.raw.pktcount".into(), (p / 2).into());
        m.insert("orig.raw.pktlen".into(), (b / 2).into());
        m.insert("reply.raw.pktcount".into(), (p - p / 2).into());
        m.insert("reply.raw.pktlen".into(), (b - b / 2).into());
        m.insert("ct.event".into(), 4.into());
        if let Some(s) = r.start {
            m.insert("flow.start.sec".into(), s.into());
        }
        if let Some(e) = r.end {
            m.insert("flow.end.sec".into(), e.into());
        }
    } else {
        m.insert("oob.prefix".into(), (if r.accepted { "pm-accept: " } else { "pm-drop: " }).into());
        m.insert("oob.time.sec".into(), r.start.unwrap_or(0).into());
        m.insert("ip.protocol".into(), r.proto.0.into());
        if let (Some(s), Some(d)) = (r.src_port, r.dst_port) {
            m.insert("src_port".into(), s.into());
            m.insert("dest_port".into(), d.into());
        }
        m.insert("raw.pktlen".into(), r.bytes.unwrap_or(0).into());
    }
    if let Some(t) = r.icmp_type {
        m.insert(icmp_key.into(), t.into());
    }
    serde_json::Value::Object(m).to_string() + "\n"
}

fn azure_tuple(r: &FlowRecord) -> String {
    let (p, b) = (r.packets.unwrap_or(0), r.bytes.unwrap_or(0));
    format!(
        "{},{},{},{},{},{},I,{},NX,{},{},{},{}",
        r.start.unwrap_or(0) * 1000 + 123,
        r.src,
        r.dst,
        r.src_port.unwrap_or(0),
        r.dst_port.unwrap_or(0),
        r.proto.0,
        if r.accepted { "E" } else { "D" },
        p / 2,
        b / 2,
        p - p / 2,
        b - b / 2
    )
}

/// Tuples per Azure record (one NIC-minute in real logs).
const AZURE_PER_RECORD: u64 = 500;

impl RecordWriter for LinesWriter {
    fn write(&mut self, r: &FlowRecord) -> io::Result<()> {
        let s = match self.format {
            FlowFormat::ConntrackText => conntrack_line(r),
            FlowFormat::NftLog => nft_line(r),
            FlowFormat::ConntrackJson | FlowFormat::NftJson => json_line(r, self.format),
            FlowFormat::AzureJson => {
                let mut s = String::new();
                if self.n.is_multiple_of(AZURE_PER_RECORD) {
                    if self.n > 0 {
                        s.push_str("\n        ]}]}]}},\n");
                    }
                    s.push_str("    {\"time\": \"2025-01-01T00:00:00.0000000Z\", \"flowLogVersion\": 4, \"category\": \"FlowLogFlowEvent\", \"operationName\": \"FlowLogFlowEvent\",\n     \"flowRecords\": {\"flows\": [{\"aclID\": \"00000000-0000-0000-0000-000000000000\", \"flowGroups\": [{\"rule\": \"portmatrix\", \"flowTuples\": [\n");
                } else {
                    s.push_str(",\n");
                }
                self.n += 1;
                s.push_str("          \"");
                s.push_str(&azure_tuple(r));
                s.push('"');
                s
            }
            other => return Err(io::Error::other(format!("{other} is not a line format"))),
        };
        self.t.out.write_all(s.as_bytes())
    }
    fn finish(mut self: Box<Self>) -> io::Result<()> {
        if self.format == FlowFormat::AzureJson {
            let tail = if self.n > 0 { "\n        ]}]}]}}\n]}\n" } else { "]}\n" };
            self.t.out.write_all(tail.as_bytes())?;
        }
        self.t.finish()
    }
}

/// AWS Parquet columns with the types the VPC user guide gives them.
fn aws_parquet_schema() -> Arc<Schema> {
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    let i = |n: &str| Field::new(n, DataType::Int32, true);
    let l = |n: &str| Field::new(n, DataType::Int64, true);
    Arc::new(Schema::new(vec![
        i("version"),
        s("account_id"),
        s("interface_id"),
        s("srcaddr"),
        s("dstaddr"),
        i("srcport"),
        i("dstport"),
        i("protocol"),
        l("packets"),
        l("bytes"),
        l("start"),
        l("end"),
        s("action"),
        s("log_status"),
    ]))
}

const PARQUET_ROWS: usize = 1 << 20;

struct ParquetWriter {
    w: ArrowWriter<std::fs::File>,
    tmp: tempfile::TempPath,
    path: std::path::PathBuf,
    aws: bool,
    rows: Vec<FlowRecord>,
}

impl ParquetWriter {
    fn flush(&mut self) -> io::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let batch = if self.aws { aws_batch(&self.rows) } else { records_batch(&self.rows) };
        self.rows.clear();
        self.w.write(&batch).map_err(io::Error::other)
    }
}

fn records_batch(rows: &[FlowRecord]) -> RecordBatch {
    let mut b = BatchBuilder::new(None);
    for r in rows {
        b.push(r);
    }
    b.finish()
}

fn aws_batch(rows: &[FlowRecord]) -> RecordBatch {
    let n = rows.len();
    let (mut v, mut acc, mut eni, mut src, mut dst) =
        (Int32Builder::with_capacity(n), StringBuilder::new(), StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let (mut sp, mut dp, mut pr) = (Int32Builder::with_capacity(n), Int32Builder::with_capacity(n), Int32Builder::with_capacity(n));
    let (mut pk, mut by, mut st, mut en) = (Int64Builder::new(), Int64Builder::new(), Int64Builder::new(), Int64Builder::new());
    let (mut ac, mut ls) = (StringBuilder::new(), StringBuilder::new());
    for r in rows {
        v.append_value(2);
        acc.append_value("123456789012");
        eni.append_value("eni-0123456789abcdef0");
        src.append_value(r.src.to_string());
        dst.append_value(r.dst.to_string());
        sp.append_value(i32::from(r.src_port.unwrap_or(0)));
        dp.append_value(i32::from(r.dst_port.unwrap_or(0)));
        pr.append_value(i32::from(r.proto.0));
        pk.append_option(r.packets);
        by.append_option(r.bytes);
        st.append_option(r.start);
        en.append_option(r.end);
        ac.append_value(if r.accepted { "ACCEPT" } else { "REJECT" });
        ls.append_value("OK");
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(v.finish()),
        Arc::new(acc.finish()),
        Arc::new(eni.finish()),
        Arc::new(src.finish()),
        Arc::new(dst.finish()),
        Arc::new(sp.finish()),
        Arc::new(dp.finish()),
        Arc::new(pr.finish()),
        Arc::new(pk.finish()),
        Arc::new(by.finish()),
        Arc::new(st.finish()),
        Arc::new(en.finish()),
        Arc::new(ac.finish()),
        Arc::new(ls.finish()),
    ];
    RecordBatch::try_new(aws_parquet_schema(), cols).expect("columns follow the schema")
}

impl RecordWriter for ParquetWriter {
    fn write(&mut self, r: &FlowRecord) -> io::Result<()> {
        self.rows.push(r.clone());
        if self.rows.len() >= PARQUET_ROWS {
            self.flush()?;
        }
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.flush()?;
        self.w.close().map_err(io::Error::other)?;
        self.tmp.persist(&self.path).map_err(|e| e.error)
    }
}

/// A writer of `format` to `path` (`.gz` compresses text formats). AWS text
/// uses a custom format of `aws_version` (2 to 5) with its header line.
pub fn writer(format: FlowFormat, path: &Path, aws_version: u8) -> io::Result<Box<dyn RecordWriter>> {
    match format {
        FlowFormat::AwsText => {
            let mut t = Target::new(path)?;
            let fields = aws_fields(aws_version);
            t.out.write_all(format!("{}\n", fields.join(" ")).as_bytes())?;
            Ok(Box::new(AwsTextWriter { t, fields, version: aws_version }))
        }
        FlowFormat::AwsParquet | FlowFormat::RecordsParquet => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let (file, tmp) = tempfile::NamedTempFile::new_in(dir)?.into_parts();
            let aws = format == FlowFormat::AwsParquet;
            let schema = if aws { aws_parquet_schema() } else { crate::record::schema() };
            let props = WriterProperties::builder().set_max_row_group_row_count(Some(PARQUET_ROWS)).build();
            let w = ArrowWriter::try_new(file, schema, Some(props)).map_err(io::Error::other)?;
            Ok(Box::new(ParquetWriter { w, tmp, path: path.to_path_buf(), aws, rows: Vec::new() }))
        }
        FlowFormat::AzureJson => {
            let mut t = Target::new(path)?;
            t.out.write_all(b"{\"records\": [\n")?;
            Ok(Box::new(LinesWriter { t, format, n: 0 }))
        }
        _ => Ok(Box::new(LinesWriter { t: Target::new(path)?, format, n: 0 })),
    }
}
