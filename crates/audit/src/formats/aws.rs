//! AWS VPC flow logs as space-separated text (versions 2 to 5).
//!
//! Fields and the versions that introduced them follow the "Available
//! fields" table of the Amazon VPC User Guide (flow log records); files
//! delivered to S3 start with a header line naming the fields in order, and
//! without one the default format (the 14 version-2 fields) applies. A
//! record's `version` is the highest version among the fields of its format.

use std::net::IpAddr;

use super::{clip, port, Line, LineFormat};
use crate::intent::IpProto;
use crate::record::{parse_addr, FlowRecord};

/// Every field of versions 2 to 5 with the version that introduced it.
pub const FIELDS: &[(&str, u8)] = &[
    ("version", 2),
    ("account-id", 2),
    ("interface-id", 2),
    ("srcaddr", 2),
    ("dstaddr", 2),
    ("srcport", 2),
    ("dstport", 2),
    ("protocol", 2),
    ("packets", 2),
    ("bytes", 2),
    ("start", 2),
    ("end", 2),
    ("action", 2),
    ("log-status", 2),
    ("vpc-id", 3),
    ("subnet-id", 3),
    ("instance-id", 3),
    ("tcp-flags", 3),
    ("type", 3),
    ("pkt-srcaddr", 3),
    ("pkt-dstaddr", 3),
    ("region", 4),
    ("az-id", 4),
    ("sublocation-type", 4),
    ("sublocation-id", 4),
    ("pkt-src-aws-service", 5),
    ("pkt-dst-aws-service", 5),
    ("flow-direction", 5),
    ("traffic-path", 5),
];

/// The default format: the version-2 fields in table order.
pub const DEFAULT: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// Fields without which a record cannot be classified.
const REQUIRED: &[&str] = &["srcaddr", "dstaddr", "dstport", "protocol", "action"];

pub fn field_version(name: &str) -> Option<u8> {
    FIELDS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// Whether a first line looks like a VPC flow log header or default record.
pub fn looks_like(line: &str) -> bool {
    let toks: Vec<&str> = line.split_ascii_whitespace().collect();
    (!toks.is_empty() && toks.iter().all(|t| field_version(t).is_some())) || (toks.len() == DEFAULT.len() && toks[0] == "2")
}

/// Column positions of the fields this reader uses.
#[derive(Debug, Default, Clone)]
struct Layout {
    count: usize,
    version: Option<usize>,
    srcaddr: usize,
    dstaddr: usize,
    pkt_srcaddr: Option<usize>,
    pkt_dstaddr: Option<usize>,
    srcport: Option<usize>,
    dstport: usize,
    protocol: usize,
    packets: Option<usize>,
    bytes: Option<usize>,
    start: Option<usize>,
    end: Option<usize>,
    action: usize,
    log_status: Option<usize>,
    /// The version the header's fields imply.
    header_version: u8,
}

#[derive(Debug, Default)]
pub struct AwsText {
    layout: Option<Layout>,
    first_record_checked: bool,
    fatal: Option<(u64, String, Option<String>)>,
}

fn layout(fields: &[&str]) -> Result<Layout, (String, Option<String>)> {
    let names: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
    for f in fields {
        if field_version(f).is_none() {
            let hint = portmatrix_model::diag::did_you_mean(f, names.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| "fields of versions 2 to 5 are read; later ones (ECS, v7+) are not".to_string());
            return Err((format!("unknown VPC flow log field `{}` in the header", clip(f)), Some(hint)));
        }
    }
    for r in REQUIRED {
        if !fields.contains(r) {
            return Err((
                format!("the header lacks `{r}`: records cannot be classified without it"),
                Some(format!("create the flow log with a format that includes {}", REQUIRED.join(", "))),
            ));
        }
    }
    let pos = |n: &str| fields.iter().position(|f| *f == n);
    Ok(Layout {
        count: fields.len(),
        version: pos("version"),
        srcaddr: pos("srcaddr").expect("required"),
        dstaddr: pos("dstaddr").expect("required"),
        pkt_srcaddr: pos("pkt-srcaddr"),
        pkt_dstaddr: pos("pkt-dstaddr"),
        srcport: pos("srcport"),
        dstport: pos("dstport").expect("required"),
        protocol: pos("protocol").expect("required"),
        packets: pos("packets"),
        bytes: pos("bytes"),
        start: pos("start"),
        end: pos("end"),
        action: pos("action").expect("required"),
        log_status: pos("log-status"),
        header_version: fields.iter().filter_map(|f| field_version(f)).max().unwrap_or(2),
    })
}

fn opt_num<T: std::str::FromStr>(t: &[&str], i: Option<usize>, what: &str) -> Result<Option<T>, String> {
    match i.map(|i| t[i]) {
        None | Some("-") => Ok(None),
        Some(s) => s.parse::<T>().map(Some).map_err(|_| format!("{what} `{}` is not a number", clip(s))),
    }
}

fn addr(t: &[&str], main: usize, pkt: Option<usize>, what: &str) -> Result<IpAddr, String> {
    // pkt-srcaddr / pkt-dstaddr hold the packet's own addresses where an
    // intermediate interface (NAT gateway, transit gateway) rewrote them.
    let s = match pkt.map(|i| t[i]) {
        Some(p) if p != "-" => p,
        _ => t[main],
    };
    parse_addr(s).ok_or_else(|| format!("{what} `{}` is not an IP address", clip(s)))
}

impl AwsText {
    fn record(&mut self, t: &[&str], no: u64) -> Result<Line, String> {
        let l = self.layout.as_ref().expect("layout set by header()");
        if t.len() != l.count {
            return Err(format!("{} fields, the format has {}", t.len(), l.count));
        }
        if let Some(v) = l.version {
            let got: u8 = t[v].parse().map_err(|_| format!("version `{}` is not a number", clip(t[v])))?;
            if got != l.header_version {
                let msg = format!("record version {got}, but the fields of the format are version {}", l.header_version);
                if !self.first_record_checked {
                    let hint = if !(2..=5).contains(&got) {
                        "versions 2 to 5 are read; is this a VPC flow log?".to_string()
                    } else {
                        "the header does not belong to these records".to_string()
                    };
                    self.fatal = Some((no, msg.clone(), Some(hint)));
                }
                self.first_record_checked = true;
                return Err(msg);
            }
        }
        self.first_record_checked = true;
        match l.log_status.map(|i| t[i]) {
            Some("NODATA") => return Ok(Line::NoData),
            Some("SKIPDATA") => return Ok(Line::SkipData),
            Some("OK") | None => {}
            Some(s) => return Err(format!("log-status `{}` is not OK, NODATA or SKIPDATA", clip(s))),
        }
        let accepted = match t[l.action] {
            "ACCEPT" => true,
            "REJECT" => false,
            s => return Err(format!("action `{}` is not ACCEPT or REJECT", clip(s))),
        };
        let proto: u8 = t[l.protocol].parse().map_err(|_| format!("protocol `{}` is not an IANA protocol number", clip(t[l.protocol])))?;
        let proto = IpProto(proto);
        let src = addr(t, l.srcaddr, l.pkt_srcaddr, "srcaddr")?;
        let dst = addr(t, l.dstaddr, l.pkt_dstaddr, "dstaddr")?;
        if src.is_ipv4() != dst.is_ipv4() {
            return Err("source and destination are of different address families".into());
        }
        let (src_port, dst_port) = if proto.has_ports() {
            let sp = match l.srcport.map(|i| t[i]) {
                None | Some("-") => None,
                Some(s) => Some(port(s, "srcport")?),
            };
            (sp, Some(port(t[l.dstport], "dstport")?))
        } else {
            // ICMP and others: the ports are 0 (or -); ICMP types are not logged.
            (None, None)
        };
        Ok(Line::Record(FlowRecord {
            line: no,
            start: opt_num(t, l.start, "start")?,
            end: opt_num(t, l.end, "end")?,
            src,
            dst,
            src_port,
            dst_port,
            proto,
            icmp_type: None,
            packets: opt_num(t, l.packets, "packets")?,
            bytes: opt_num(t, l.bytes, "bytes")?,
            accepted,
            // each direction of a connection is its own record
            oriented: false,
        }))
    }
}

impl LineFormat for AwsText {
    fn header(&mut self, first: &str) -> Result<bool, (String, Option<String>)> {
        let toks: Vec<&str> = first.split_ascii_whitespace().collect();
        let is_header = toks.first().is_some_and(|t| t.parse::<u64>().is_err() && *t != "-");
        if is_header {
            self.layout = Some(layout(&toks)?);
            return Ok(true);
        }
        if toks.len() == DEFAULT.len() {
            self.layout = Some(layout(DEFAULT)?);
            return Ok(false);
        }
        Err((
            format!("no header line, and {} fields are not the default format's {}", toks.len(), DEFAULT.len()),
            Some("custom formats need the header line that files delivered to S3 start with".into()),
        ))
    }

    fn parse(&mut self, line: &str, no: u64) -> Line {
        let toks: Vec<&str> = line.split_ascii_whitespace().collect();
        if toks.is_empty() {
            return Line::Ignored;
        }
        match self.record(&toks, no) {
            Ok(l) => l,
            Err(why) => Line::Bad(why),
        }
    }

    fn fatal(&mut self) -> Option<(u64, String, Option<String>)> {
        self.fatal.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(header: &str, line: &str) -> Line {
        let mut f = AwsText::default();
        let consumed = f.header(header).unwrap();
        if !consumed {
            return f.parse(header, 1);
        }
        f.parse(line, 2)
    }

    #[test]
    fn reads_the_default_format_without_a_header() {
        let l = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK";
        let Line::Record(r) = one(l, "") else { panic!() };
        assert_eq!(
            (r.src.to_string(), r.dst_port, r.proto, r.packets, r.accepted),
            ("172.31.16.139".into(), Some(22), IpProto::TCP, Some(20), true)
        );
    }

    #[test]
    fn uses_packet_addresses_when_the_format_has_them() {
        let h = "version srcaddr dstaddr srcport dstport protocol action pkt-srcaddr pkt-dstaddr log-status";
        let Line::Record(r) = one(h, "3 10.40.1.175 10.40.2.236 39812 80 6 ACCEPT 10.20.33.164 10.40.2.236 OK") else { panic!() };
        assert_eq!(r.src.to_string(), "10.20.33.164");
    }

    #[test]
    fn counts_nodata_and_refuses_unknown_fields() {
        let h = DEFAULT.join(" ");
        assert!(matches!(one(&h, "2 1 eni-1 - - - - - - - 1431280876 1431280934 - NODATA"), Line::NoData));
        let mut f = AwsText::default();
        let e = f.header("version srcaddr dstadr dstport protocol action").unwrap_err();
        assert!(e.0.contains("dstadr") && e.1.unwrap().contains("dstaddr"));
    }

    #[test]
    fn a_record_of_another_version_than_its_header_is_fatal_on_the_first_record() {
        let mut f = AwsText::default();
        f.header(&DEFAULT.join(" ")).unwrap();
        let l = f.parse("7 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 1 ACCEPT OK", 2);
        assert!(matches!(l, Line::Bad(_)));
        let (line, msg, _) = f.fatal().unwrap();
        assert_eq!(line, 2);
        assert!(msg.contains("version 7"), "{msg}");
    }
}
