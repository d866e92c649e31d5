//! Azure virtual network flow logs (JSON, `flowLogVersion` 4), as Network
//! Watcher writes them to blob storage: `{"records": [{..., "flowLogVersion":
//! 4, "flowRecords": {"flows": [{"aclID": .., "flowGroups": [{"rule": ..,
//! "flowTuples": ["ts,src,dst,sport,dport,proto,dir,state,enc,pkts out,bytes
//! out,pkts in,bytes in", ...]}]}]}}]}` (Azure Network Watcher, "Virtual
//! network flow logs", log format).
//!
//! The document is read as a stream: records and tuples are handled as they
//! arrive, and at most [`GAP`] bytes may pass between two tuples, so memory
//! stays bounded whatever the file holds. Tuple flow state `D` means denied;
//! `B`, `C`, `E` are a flow's begin, continuation and end, all allowed. The
//! tuple's source is the flow's initiator (its counters are "sent from the
//! source to the destination" and back), so records are oriented.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::rc::Rc;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{clip, open, port, InputError, ReadStats};
use crate::intent::IpProto;
use crate::record::{parse_addr, FlowRecord};

/// The most bytes read between two flow tuples (or record starts).
pub const GAP: u64 = 16 << 20;

/// The flow log schema version this reader knows.
pub const VERSION: u64 = 4;

/// Where the stream is: shared between the reader and the visitors.
#[derive(Default)]
struct Progress {
    line: Cell<u64>,
    since_checkpoint: Cell<u64>,
}

impl Progress {
    fn checkpoint(&self) {
        self.since_checkpoint.set(0);
    }
}

struct Counting<R> {
    inner: R,
    p: Rc<Progress>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.p.since_checkpoint.get() > GAP {
            return Err(std::io::Error::other(format!("more than {} MiB without a flow tuple", GAP >> 20)));
        }
        let n = self.inner.read(buf)?;
        let nl = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        self.p.line.set(self.p.line.get() + nl);
        self.p.since_checkpoint.set(self.p.since_checkpoint.get() + n as u64);
        Ok(n)
    }
}

struct State<'s> {
    p: Rc<Progress>,
    stats: ReadStats,
    sink: &'s mut dyn FnMut(FlowRecord) -> bool,
    stopped: bool,
    /// A version other than [`VERSION`]: (record number, version, line).
    wrong_version: Option<(u64, u64, u64)>,
    records: u64,
}

type Shared<'a, 's> = &'a RefCell<State<'s>>;

/// Parses one tuple (Azure documents the thirteen fields in this order).
fn tuple(s: &str, line: u64) -> Result<FlowRecord, String> {
    let f: Vec<&str> = s.split(',').collect();
    if f.len() != 13 {
        return Err(format!("{} comma-separated fields, a flow tuple has 13", f.len()));
    }
    let ts: i64 = f[0].parse().map_err(|_| format!("time stamp `{}` is not a number", clip(f[0])))?;
    // Version 4 writes milliseconds; older examples show seconds.
    let ts = if ts > 100_000_000_000 { ts / 1000 } else { ts };
    let src = parse_addr(f[1]).ok_or_else(|| format!("source `{}` is not an IP address", clip(f[1])))?;
    let dst = parse_addr(f[2]).ok_or_else(|| format!("destination `{}` is not an IP address", clip(f[2])))?;
    let proto = IpProto(f[5].parse().map_err(|_| format!("protocol `{}` is not an IANA number", clip(f[5])))?);
    if !matches!(f[6], "I" | "O") {
        return Err(format!("direction `{}` is not I or O", clip(f[6])));
    }
    let accepted = match f[7] {
        "B" | "C" | "E" => true,
        "D" => false,
        other => return Err(format!("flow state `{}` is not B, C, E or D", clip(other))),
    };
    let count = |i: usize| -> Result<Option<i64>, String> {
        if f[i].is_empty() {
            Ok(None)
        } else {
            f[i].parse::<i64>().map(Some).map_err(|_| format!("counter `{}` is not a number", clip(f[i])))
        }
    };
    let add = |a: Option<i64>, b: Option<i64>| if a.is_none() && b.is_none() { None } else { Some(a.unwrap_or(0) + b.unwrap_or(0)) };
    let (sport, dport) =
        if proto.has_ports() { (Some(port(f[3], "source port")?), Some(port(f[4], "destination port")?)) } else { (None, None) };
    Ok(FlowRecord {
        line,
        start: Some(ts),
        end: Some(ts),
        src,
        dst,
        src_port: sport,
        dst_port: dport,
        proto,
        icmp_type: None,
        packets: add(count(9)?, count(11)?),
        bytes: add(count(10)?, count(12)?),
        accepted,
        oriented: true,
    })
}

macro_rules! seed {
    ($name:ident, $expecting:expr) => {
        struct $name<'a, 's>(Shared<'a, 's>);
        impl<'de> DeserializeSeed<'de> for $name<'_, '_> {
            type Value = ();
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_any(self)
            }
        }
        impl fmt::Debug for $name<'_, '_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($expecting)
            }
        }
    };
}

seed!(Top, "an object with `records`");
seed!(Records, "the `records` array");
seed!(Record, "a flow log record");
seed!(FlowRecords, "`flowRecords`");
seed!(Flows, "the `flows` array");
seed!(Flow, "a flow (aclID, flowGroups)");
seed!(Groups, "the `flowGroups` array");
seed!(Group, "a flow group (rule, flowTuples)");
seed!(Tuples, "the `flowTuples` array");

/// Visits every element of a sequence with `seed`.
fn each<'de, A: SeqAccess<'de>, S: DeserializeSeed<'de, Value = ()>>(mut seq: A, seed: impl Fn() -> S) -> Result<(), A::Error> {
    while seq.next_element_seed(seed())?.is_some() {}
    Ok(())
}

/// Visits the values of `wanted` keys with their seeds, ignoring others.
fn fields<'de, A: MapAccess<'de>>(mut map: A, mut on: impl FnMut(&str, &mut A) -> Result<bool, A::Error>) -> Result<(), A::Error> {
    while let Some(k) = map.next_key::<String>()? {
        if !on(&k, &mut map)? {
            map.next_value::<IgnoredAny>()?;
        }
    }
    Ok(())
}

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{self:?}")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let mut seen = false;
        fields(map, |k, m| {
            if k == "records" {
                seen = true;
                m.next_value_seed(Records(self.0))?;
                return Ok(true);
            }
            Ok(false)
        })?;
        if !seen {
            return Err(serde::de::Error::custom("no `records` array: not an Azure flow log"));
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for Records<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{self:?}")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        each(seq, || Record(self.0))
    }
}

impl<'de> Visitor<'de> for Record<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{self:?}")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let (record, line) = {
            let mut s = self.0.borrow_mut();
            s.p.checkpoint();
            s.records += 1;
            (s.records, s.p.line.get() + 1)
        };
        let mut version = None;
        fields(map, |k, m| match k {
            "flowLogVersion" => {
                version = Some(m.next_value::<u64>()?);
                Ok(true)
            }
            "flowRecords" => {
                m.next_value_seed(FlowRecords(self.0))?;
                Ok(true)
            }
            _ => Ok(false),
        })?;
        let mut s = self.0.borrow_mut();
        match version {
            Some(VERSION) => {}
            Some(v) => {
                s.wrong_version.get_or_insert((record, v, line));
            }
            None => return Err(serde::de::Error::custom(format!("record {record} has no `flowLogVersion`"))),
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for FlowRecords<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{self:?}")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        fields(map, |k, m| {
            if k == "flows" {
                m.next_value_seed(Flows(self.0))?;
                return Ok(true);
            }
            Ok(false)
        })
    }
}

impl<'de> Visitor<'de> for Flows<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{self:?}")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        each(seq, || Flow(self.0))
    }
}

impl<'de> Visitor<'de> for Flow<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{self:?}")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        fields(map, |k, m| {
            if k == "flowGroups" {
                m.next_value_seed(Groups(self.0))?;
                return Ok(true);
            }
            Ok(false)
        })
    }
}

impl<'de> Visitor<'de> for Groups<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{self:?}")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        each(seq, || Group(self.0))
    }
}

impl<'de> Visitor<'de> for Group<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{self:?}")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        fields(map, |k, m| {
            if k == "flowTuples" {
                m.next_value_seed(Tuples(self.0))?;
                return Ok(true);
            }
            Ok(false)
        })
    }
}

impl<'de> Visitor<'de> for Tuples<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{self:?}")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(t) = seq.next_element::<std::borrow::Cow<'_, str>>()? {
            let mut s = self.0.borrow_mut();
            s.p.checkpoint();
            let line = s.p.line.get() + 1;
            if s.stopped {
                continue;
            }
            match tuple(&t, line) {
                Ok(r) => {
                    s.stats.records += 1;
                    if !(s.sink)(r) {
                        s.stopped = true;
                    }
                }
                Err(why) => s.stats.bad(line, why),
            }
        }
        Ok(())
    }
}

/// Reads one Azure flow log file.
pub fn read(path: &Path, sink: &mut dyn FnMut(FlowRecord) -> bool) -> Result<ReadStats, InputError> {
    let p = Rc::new(Progress::default());
    let reader = Counting { inner: open(path)?, p: p.clone() };
    let state = RefCell::new(State { p: p.clone(), stats: ReadStats::default(), sink, stopped: false, wrong_version: None, records: 0 });
    let mut de = serde_json::Deserializer::from_reader(reader);
    let result = Top(&state).deserialize(&mut de).and_then(|()| de.end());
    let state = state.into_inner();
    if let Some((record, v, line)) = state.wrong_version {
        return Err(InputError::new(
            path,
            format!("record {record} has flowLogVersion {v}; virtual network flow logs are version {VERSION}"),
        )
        .at_line(line)
        .with_hint("network security group flow logs (versions 1 and 2) have another layout and are not read"));
    }
    if let Err(e) = result {
        let line = if e.line() > 0 { e.line() as u64 } else { p.line.get() + 1 };
        let hint = if e.is_io() {
            "the file is truncated or corrupt, or holds a value too long to be a flow log"
        } else {
            "expected an Azure virtual network flow log: {\"records\": [...]}"
        };
        return Err(InputError::new(path, format!("not a readable Azure flow log: {e}")).at_line(line).with_hint(hint));
    }
    Ok(state.stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_follow_the_documented_fields() {
        let r = tuple("1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580", 7).unwrap();
        assert_eq!(
            (r.start, r.dst_port, r.packets, r.bytes, r.accepted, r.line),
            (Some(1_663_146_003), Some(443), Some(5), Some(2347), true, 7)
        );
        let d = tuple("1663145998065,101.33.218.153,10.0.0.6,55188,22,6,I,D,NX,0,0,0,0", 1).unwrap();
        assert!(!d.accepted);
        let b = tuple("1493763938,185.170.185.105,10.2.0.4,35370,23,6,I,B,NX,,,,", 1).unwrap();
        assert_eq!((b.start, b.packets), (Some(1_493_763_938), None));
        assert!(tuple("1,2,3", 1).is_err());
        assert!(tuple("1663145998065,101.33.218.153,10.0.0.6,55188,22,6,I,X,NX,0,0,0,0", 1).is_err());
    }
}
