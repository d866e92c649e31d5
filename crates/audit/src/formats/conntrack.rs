//! Connection tracking: `conntrack -L` / `conntrack -E` text, and the JSON
//! lines that ulogd2 writes for its NFCT input.
//!
//! An entry in the connection table is a connection the host's firewall let
//! through (unconfirmed entries of dropped packets never appear), so every
//! record is *accepted*, and its original tuple names the initiator.
//!
//! Text: each line is an optional `[time]` and `[EVENT]`, optionally the
//! layer-3 protocol name and number (`-o extended`), the layer-4 protocol
//! name and number, the timeout, the TCP state, then `key=value` pairs: the
//! original tuple (`src dst sport dport`, or `type code id` for ICMP), its
//! counters (`packets bytes`, with accounting on), flags such as
//! `[UNREPLIED]`, the reply tuple and its counters, then `mark`, `use`, ...
//! (libnetfilter_conntrack's default output, `conntrack(8)`).
//!
//! JSON: ulogd2's JSON output names each key after the NFCT input plugin
//! (`orig.ip.protocol`, `orig.l4.sport`, `orig.l4.dport`,
//! `orig.raw.pktcount`, `orig.raw.pktlen`, `reply.raw.*`, `icmp.type`,
//! `flow.start.sec`, `flow.end.sec`, `ct.event`), or after the CIM name when
//! the key has one: the IP2STR filter's `src_ip` and `dest_ip`.

use serde_json::{Map, Value};

use super::{clip, kv, port, Line, LineFormat};
use crate::intent::IpProto;
use crate::record::{parse_addr, FlowRecord};

const L4: &[(&str, u8)] =
    &[("tcp", 6), ("udp", 17), ("udplite", 136), ("sctp", 132), ("dccp", 33), ("icmp", 1), ("icmpv6", 58), ("gre", 47), ("unknown", 0)];

/// Whether a first line looks like conntrack output.
pub fn looks_like(line: &str) -> bool {
    let mut t = line.split_ascii_whitespace().peekable();
    while t.peek().is_some_and(|x| x.starts_with('[')) {
        t.next();
    }
    if t.peek().is_some_and(|x| *x == "ipv4" || *x == "ipv6") {
        t.next();
        t.next();
    }
    let name = t.next();
    let num = t.next();
    matches!((name, num), (Some(n), Some(k)) if L4.iter().any(|(a, b)| *a == n && k.parse::<u8>() == Ok(*b)))
        || line.starts_with("conntrack v")
}

#[derive(Debug, Default)]
pub struct ConntrackText;

impl ConntrackText {
    fn record(line: &str, no: u64) -> Result<Line, String> {
        let mut toks = line.split_ascii_whitespace().peekable();
        let mut start = None;
        // `[1700000000.123456]` (-o timestamp) and `[NEW]` / `[DESTROY]` (-E)
        while let Some(t) = toks.peek().copied().filter(|t| t.starts_with('[') && t.ends_with(']')) {
            let inner = &t[1..t.len() - 1];
            if let Ok(ts) = inner.parse::<f64>() {
                start = Some(ts as i64);
            } else if !matches!(inner, "NEW" | "UPDATE" | "DESTROY") {
                return Err(format!("unknown event `{}`", clip(t)));
            }
            toks.next();
        }
        if toks.peek().is_some_and(|t| *t == "ipv4" || *t == "ipv6") {
            toks.next();
            toks.next();
        }
        let name = toks.next().ok_or("no protocol")?;
        let number: u8 = toks.next().and_then(|n| n.parse().ok()).ok_or_else(|| format!("`{}` has no protocol number", clip(name)))?;
        if !L4.iter().any(|(n, _)| *n == name) {
            return Err(format!("unknown layer-4 protocol `{}`", clip(name)));
        }
        let proto = IpProto(number);
        let (mut src, mut dst, mut sport, mut dport, mut itype) = (None, None, None, None, None);
        let (mut packets, mut bytes): (Option<i64>, Option<i64>) = (None, None);
        let mut tuple = 0; // 1 while in the original tuple, 2 in the reply tuple
        for t in toks {
            let Some((k, v)) = kv(t) else { continue }; // timeout, state, [ASSURED] ...
            match k {
                "src" => {
                    tuple += 1;
                    if tuple == 1 {
                        src = Some(parse_addr(v).ok_or_else(|| format!("src `{}` is not an IP address", clip(v)))?);
                    }
                }
                "dst" if tuple == 1 => dst = Some(parse_addr(v).ok_or_else(|| format!("dst `{}` is not an IP address", clip(v)))?),
                "sport" if tuple == 1 => sport = Some(port(v, "sport")?),
                "dport" if tuple == 1 => dport = Some(port(v, "dport")?),
                "type" if tuple == 1 => itype = Some(v.parse::<u8>().map_err(|_| format!("ICMP type `{}` is not a number", clip(v)))?),
                "packets" | "bytes" => {
                    let n: i64 = v.parse().map_err(|_| format!("{k} `{}` is not a number", clip(v)))?;
                    let slot = if k == "packets" { &mut packets } else { &mut bytes };
                    *slot = Some(slot.unwrap_or(0) + n);
                }
                _ => {}
            }
        }
        let (Some(src), Some(dst)) = (src, dst) else { return Err("no src= and dst= of the original direction".into()) };
        if proto.has_ports() && dport.is_none() {
            return Err(format!("{name} entry without dport="));
        }
        Ok(Line::Record(FlowRecord {
            line: no,
            start,
            end: None,
            src,
            dst,
            src_port: sport.filter(|_| proto.has_ports()),
            dst_port: dport.filter(|_| proto.has_ports()),
            proto,
            icmp_type: itype.filter(|_| proto.is_icmp()),
            packets,
            bytes,
            accepted: true,
            oriented: true,
        }))
    }
}

impl LineFormat for ConntrackText {
    fn header(&mut self, _first: &str) -> Result<bool, (String, Option<String>)> {
        Ok(false)
    }
    fn parse(&mut self, line: &str, no: u64) -> Line {
        let t = line.trim();
        // `conntrack v1.4.7 (conntrack-tools): 5 flow entries have been shown.`
        if t.is_empty() || t.starts_with("conntrack v") {
            return Line::Ignored;
        }
        Self::record(t, no).unwrap_or_else(Line::Bad)
    }
}

#[derive(Debug, Default)]
pub struct ConntrackJson;

pub(crate) fn json_u64(m: &Map<String, Value>, k: &str) -> Result<Option<u64>, String> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| format!("`{k}` is not a non-negative integer")),
    }
}

pub(crate) fn json_addr(m: &Map<String, Value>, keys: &[&str]) -> Result<std::net::IpAddr, String> {
    for k in keys {
        if let Some(v) = m.get(*k) {
            let s = v.as_str().ok_or_else(|| format!("`{k}` is not a string"))?;
            return parse_addr(s).ok_or_else(|| format!("`{k}` `{}` is not an IP address", clip(s)));
        }
    }
    Err(format!("no `{}`", keys.join("` or `")))
}

impl ConntrackJson {
    fn record(m: &Map<String, Value>, no: u64) -> Result<Line, String> {
        // `ct.event`: 1 new, 2 update, 4 destroy (libnetfilter_conntrack)
        if let Some(e) = json_u64(m, "ct.event")? {
            if ![1, 2, 4].contains(&e) {
                return Err(format!("ct.event {e} is not 1, 2 or 4"));
            }
        }
        let src = json_addr(m, &["src_ip", "orig.ip.saddr.str"])?;
        let dst = json_addr(m, &["dest_ip", "orig.ip.daddr.str"])?;
        let proto = json_u64(m, "orig.ip.protocol")?.ok_or("no `orig.ip.protocol`")?;
        let proto = IpProto(u8::try_from(proto).map_err(|_| "orig.ip.protocol is over 255")?);
        let p16 = |k: &str| -> Result<Option<u16>, String> {
            json_u64(m, k)?.map(|v| u16::try_from(v).map_err(|_| format!("`{k}` {v} is not a port"))).transpose()
        };
        let (sport, dport) = if proto.has_ports() {
            (p16("orig.l4.sport")?, Some(p16("orig.l4.dport")?.ok_or("no `orig.l4.dport`")?))
        } else {
            (None, None)
        };
        let icmp_key = if proto == IpProto::ICMPV6 { "icmpv6.type" } else { "icmp.type" };
        let icmp_type = if proto.is_icmp() { json_u64(m, icmp_key)?.map(|t| t.min(255) as u8) } else { None };
        let sum = |a: &str, b: &str| -> Result<Option<i64>, String> {
            Ok(match (json_u64(m, a)?, json_u64(m, b)?) {
                (None, None) => None,
                (x, y) => Some((x.unwrap_or(0) + y.unwrap_or(0)) as i64),
            })
        };
        Ok(Line::Record(FlowRecord {
            line: no,
            start: json_u64(m, "flow.start.sec")?.map(|v| v as i64),
            end: json_u64(m, "flow.end.sec")?.map(|v| v as i64),
            src,
            dst,
            src_port: sport,
            dst_port: dport,
            proto,
            icmp_type,
            packets: sum("orig.raw.pktcount", "reply.raw.pktcount")?,
            bytes: sum("orig.raw.pktlen", "reply.raw.pktlen")?,
            accepted: true,
            oriented: true,
        }))
    }
}

impl LineFormat for ConntrackJson {
    fn header(&mut self, _first: &str) -> Result<bool, (String, Option<String>)> {
        Ok(false)
    }
    fn parse(&mut self, line: &str, no: u64) -> Line {
        Line::of_json_object(line, |m| Self::record(m, no))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(l: Line) -> FlowRecord {
        match l {
            Line::Record(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_list_and_event_lines() {
        let l = "tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=51234 dport=22 packets=10 bytes=1000 src=10.0.0.2 dst=10.0.0.1 sport=22 dport=51234 packets=8 bytes=2000 [ASSURED] mark=0 use=1";
        let r = rec(ConntrackText.parse(l, 1));
        assert_eq!((r.src.to_string(), r.dst_port, r.packets, r.bytes), ("10.0.0.1".into(), Some(22), Some(18), Some(3000)));
        let e = "[1700000000.123456]\t    [NEW] ipv4     2 icmp     1 30 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=7 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=7";
        let r = rec(ConntrackText.parse(e, 2));
        assert_eq!((r.proto, r.icmp_type, r.start, r.dst_port), (IpProto::ICMP, Some(8), Some(1_700_000_000), None));
        assert!(matches!(ConntrackText.parse("conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.", 3), Line::Ignored));
        assert!(matches!(ConntrackText.parse("tcp 6 10 src=10.0.0.1 dst=nope sport=1 dport=2", 4), Line::Bad(_)));
    }

    #[test]
    fn reads_ulogd_json() {
        let l = r#"{"timestamp":"2025-01-01T00:00:00+0000","dvc":"Netfilter","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","orig.ip.protocol":17,"orig.l4.sport":5000,"orig.l4.dport":53,"orig.raw.pktcount":1,"orig.raw.pktlen":60,"reply.raw.pktcount":1,"reply.raw.pktlen":90,"ct.event":4,"flow.start.sec":100,"flow.end.sec":101}"#;
        let r = rec(ConntrackJson.parse(l, 1));
        assert_eq!((r.proto, r.dst_port, r.bytes, r.end), (IpProto::UDP, Some(53), Some(150), Some(101)));
        assert!(matches!(ConntrackJson.parse(r#"{"src_ip":"10.0.0.1"}"#, 2), Line::Bad(_)));
    }
}
