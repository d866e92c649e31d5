//! Packets logged by nftables (or iptables) `log` statements: the kernel's
//! log lines, and NFLOG packets as ulogd2's JSON output writes them.
//!
//! Kernel lines are `PREFIX IN=.. OUT=.. [MAC=..] SRC=.. DST=.. LEN=.. ...
//! PROTO=TCP SPT=.. DPT=..` (ICMP: `TYPE=.. CODE=..`), as the kernel's
//! `nf_log_syslog` formats them, behind whatever the syslog daemon or
//! `journalctl -k` puts in front. Each line is one packet from its sender,
//! so records are oriented.
//!
//! Whether a logged packet was accepted or dropped is the rule's business:
//! it is read from the log prefix. `--log-accept`/`--log-drop` name the
//! prefixes; without them a prefix containing `drop`, `reject`, `deny` or
//! `block` means dropped, one containing `accept`, `allow` or `pass` means
//! accepted, and any other prefix makes the line unparseable (counted).
//! ulogd2's `boolean_label` option writes `"action": "allowed"|"blocked"`,
//! which wins over the prefix.

use serde_json::{Map, Value};

use super::conntrack::{json_addr, json_u64};
use super::{clip, kv, port, Line, LineFormat, ReadOptions};
use crate::intent::IpProto;
use crate::record::{parse_addr, FlowRecord};

/// Decides accepted/dropped from a log prefix.
#[derive(Debug, Clone, Default)]
pub struct Actions {
    accept: Vec<String>,
    drop: Vec<String>,
}

impl Actions {
    pub fn new(opts: &ReadOptions) -> Self {
        Self { accept: opts.accept_prefixes.clone(), drop: opts.drop_prefixes.clone() }
    }

    pub fn of(&self, prefix: &str) -> Result<bool, String> {
        let p = prefix.trim();
        if !self.accept.is_empty() || !self.drop.is_empty() {
            if self.accept.iter().any(|a| p.starts_with(a.as_str())) {
                return Ok(true);
            }
            if self.drop.iter().any(|d| p.starts_with(d.as_str())) {
                return Ok(false);
            }
            return Err(format!("log prefix `{}` is neither a --log-accept nor a --log-drop prefix", clip(p)));
        }
        let l = p.to_ascii_lowercase();
        let dropped = ["drop", "reject", "deny", "block"].iter().any(|w| l.contains(w));
        let accepted = ["accept", "allow", "pass"].iter().any(|w| l.contains(w));
        match (accepted, dropped) {
            (true, false) => Ok(true),
            (false, true) => Ok(false),
            _ => Err(format!(
                "log prefix `{}` does not say whether the packet was accepted or dropped (give --log-accept/--log-drop)",
                clip(p)
            )),
        }
    }
}

fn proto_of(s: &str) -> Result<IpProto, String> {
    Ok(match s {
        "TCP" => IpProto::TCP,
        "UDP" | "UDPLITE" => IpProto::UDP,
        "SCTP" => IpProto::SCTP,
        "ICMP" => IpProto::ICMP,
        "ICMPv6" => IpProto::ICMPV6,
        n => IpProto(n.parse::<u8>().map_err(|_| format!("PROTO `{}` is not a protocol", clip(n)))?),
    })
}

/// Parses the leading ISO-8601 time of rsyslog's high-precision format
/// (to the second, as UTC: the offset is not applied).
fn iso_seconds(s: &str) -> Option<i64> {
    let t = chrono::NaiveDateTime::parse_from_str(s.get(..19)?, "%Y-%m-%dT%H:%M:%S").ok()?;
    Some(t.and_utc().timestamp())
}

pub struct KernelLog {
    actions: Actions,
}

impl KernelLog {
    pub fn new(opts: &ReadOptions) -> Self {
        Self { actions: Actions::new(opts) }
    }

    fn record(&self, line: &str, no: u64) -> Result<Line, String> {
        let Some(at) = line.find("IN=").filter(|&i| i == 0 || line.as_bytes()[i - 1] == b' ') else {
            return Ok(Line::Ignored); // not a packet log line (other kernel messages)
        };
        let head = &line[..at];
        // The prefix follows `kernel: ` and the optional `[  uptime]`.
        let mut prefix = head.rsplit_once("kernel: ").map_or(head, |(_, p)| p).trim_start();
        if prefix.starts_with('[') {
            prefix = prefix.split_once(']').map_or(prefix, |(_, p)| p).trim_start();
        }
        let accepted = self.actions.of(prefix)?;
        let (mut src, mut dst, mut proto, mut sport, mut dport, mut itype, mut len) = (None, None, None, None, None, None, None);
        for t in line[at..].split_ascii_whitespace() {
            let Some((k, v)) = kv(t) else { continue };
            match k {
                "SRC" => src = Some(parse_addr(v).ok_or_else(|| format!("SRC `{}` is not an IP address", clip(v)))?),
                "DST" => dst = Some(parse_addr(v).ok_or_else(|| format!("DST `{}` is not an IP address", clip(v)))?),
                "PROTO" => proto = Some(proto_of(v)?),
                "SPT" => sport = Some(port(v, "SPT")?),
                "DPT" => dport = Some(port(v, "DPT")?),
                "TYPE" if itype.is_none() => itype = v.parse::<u8>().ok(),
                "LEN" if len.is_none() => len = v.parse::<i64>().ok(),
                _ => {}
            }
        }
        let (Some(src), Some(dst), Some(proto)) = (src, dst, proto) else {
            return Err("no SRC=, DST= and PROTO=".into());
        };
        if proto.has_ports() && dport.is_none() {
            return Err(format!("{proto} packet without DPT= (a fragment?)"));
        }
        Ok(Line::Record(FlowRecord {
            line: no,
            start: iso_seconds(line),
            end: None,
            src,
            dst,
            src_port: sport.filter(|_| proto.has_ports()),
            dst_port: dport.filter(|_| proto.has_ports()),
            proto,
            icmp_type: itype.filter(|_| proto.is_icmp()),
            packets: Some(1),
            bytes: len,
            accepted,
            oriented: true,
        }))
    }
}

impl LineFormat for KernelLog {
    fn header(&mut self, _first: &str) -> Result<bool, (String, Option<String>)> {
        Ok(false)
    }
    fn parse(&mut self, line: &str, no: u64) -> Line {
        self.record(line, no).unwrap_or_else(Line::Bad)
    }
}

pub struct UlogdJson {
    actions: Actions,
}

impl UlogdJson {
    pub fn new(opts: &ReadOptions) -> Self {
        Self { actions: Actions::new(opts) }
    }

    fn record(&self, m: &Map<String, Value>, no: u64) -> Result<Line, String> {
        let accepted = match m.get("action").and_then(Value::as_str) {
            Some("allowed") => true,
            Some("blocked") => false,
            Some(other) => return Err(format!("action `{}` is not allowed or blocked", clip(other))),
            None => self.actions.of(m.get("oob.prefix").and_then(Value::as_str).ok_or("no `oob.prefix` nor `action`")?)?,
        };
        let src = json_addr(m, &["src_ip", "ip.saddr.str"])?;
        let dst = json_addr(m, &["dest_ip", "ip.daddr.str"])?;
        let proto = match json_u64(m, "ip.protocol")? {
            Some(p) => p,
            None => json_u64(m, "ip6.nexthdr")?.ok_or("no `ip.protocol` nor `ip6.nexthdr`")?,
        };
        let proto = IpProto(u8::try_from(proto).map_err(|_| "the protocol is over 255")?);
        let p16 = |k: &str| -> Result<Option<u16>, String> {
            json_u64(m, k)?.map(|v| u16::try_from(v).map_err(|_| format!("`{k}` {v} is not a port"))).transpose()
        };
        let dport = p16("dest_port")?;
        if proto.has_ports() && dport.is_none() {
            return Err(format!("{proto} packet without `dest_port`"));
        }
        let icmp_key = if proto == IpProto::ICMPV6 { "icmpv6.type" } else { "icmp.type" };
        Ok(Line::Record(FlowRecord {
            line: no,
            start: json_u64(m, "oob.time.sec")?.map(|v| v as i64),
            end: None,
            src,
            dst,
            src_port: p16("src_port")?.filter(|_| proto.has_ports()),
            dst_port: dport.filter(|_| proto.has_ports()),
            proto,
            icmp_type: if proto.is_icmp() { json_u64(m, icmp_key)?.map(|t| t.min(255) as u8) } else { None },
            packets: Some(1),
            bytes: json_u64(m, "raw.pktlen")?.or(json_u64(m, "ip.totlen")?).map(|v| v as i64),
            accepted,
            oriented: true,
        }))
    }
}

impl LineFormat for UlogdJson {
    fn header(&mut self, _first: &str) -> Result<bool, (String, Option<String>)> {
        Ok(false)
    }
    fn parse(&mut self, line: &str, no: u64) -> Line {
        Line::of_json_object(line, |m| self.record(m, no))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_are_read_to_the_second_and_checked() {
        assert_eq!(iso_seconds("2024-02-29T12:00:00.5+01:00 fw1"), Some(1_709_208_000));
        assert_eq!(iso_seconds("2025-02-29T12:00:00 fw1"), None, "no 29 February in 2025");
        assert_eq!(iso_seconds("2025-13-01T00:00:00 fw1"), None);
        assert_eq!(iso_seconds("2025-11-3"), None);
    }

    #[test]
    fn reads_syslog_and_journal_lines() {
        let mut k = KernelLog::new(&ReadOptions::default());
        let l = "Nov 30 19:48:01 fw1 kernel: [12345.678901] pm-drop: IN=eth0 OUT= MAC=00:11 SRC=10.0.0.1 DST=10.0.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=40000 DPT=5432 WINDOW=64240 RES=0x00 SYN URGP=0";
        let Line::Record(r) = k.parse(l, 1) else { panic!() };
        assert_eq!((r.accepted, r.dst_port, r.bytes, r.proto), (false, Some(5432), Some(60), IpProto::TCP));
        let i = "2025-11-30T19:48:01.123456+00:00 fw1 kernel: pm-accept IN=eth0 OUT=eth1 SRC=2001:db8::1 DST=2001:db8::2 LEN=104 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=ICMPv6 TYPE=128 CODE=0 ID=1 SEQ=1";
        let Line::Record(r) = k.parse(i, 2) else { panic!() };
        assert_eq!((r.accepted, r.icmp_type, r.start), (true, Some(128), Some(1_764_532_081)));
        assert!(matches!(k.parse("Nov 30 19:48:01 fw1 kernel: e1000: link up", 3), Line::Ignored));
        assert!(matches!(k.parse("fw: IN=eth0 SRC=10.0.0.1 DST=10.0.0.2 PROTO=UDP SPT=1 DPT=2", 4), Line::Bad(_)));
    }

    #[test]
    fn named_prefixes_win() {
        let o = ReadOptions { accept_prefixes: vec!["X-OK".into()], drop_prefixes: vec!["X-NO".into()] };
        let a = Actions::new(&o);
        assert_eq!(a.of("X-NO drop"), Ok(false));
        assert_eq!(a.of("X-OK"), Ok(true));
        assert!(a.of("other").is_err());
    }
}
