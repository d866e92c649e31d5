//! Synthetic flow logs from a plan, with a known mix of the five classes
//! and their ground truth, in every input format.
//!
//! Records are drawn from templates built once per run: planned ones (an
//! intent's sources, destinations, ports and ICMP types; every fifth intent
//! is left out on purpose so that *planned, never seen* has members) and
//! unplanned ones (inventory hosts and documentation addresses on services
//! no intent allows to them). Every record gets fresh addresses, source
//! port, time and counters inside its template, as real logs have. The
//! truth of each record is computed as it is made by the reference
//! classifier ([`crate::reference`], an implementation independent of the
//! one under test); the class mix is what the templates aim at, the truth
//! is exact. AWS logs get the reply half of half the accepted planned flows.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rand::{RngExt, SeedableRng};
use rand_xorshift::XorShiftRng;
use serde::Serialize;

use crate::formats::FlowFormat;
use crate::intent::{AddrRange, IntentId, IntentTable, IpProto};
use crate::matcher::Probe;
use crate::record::FlowRecord;
use crate::reference;
use crate::results::{FlowClass, Traffic};

/// Relative weights of the classes among generated records.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Mix {
    pub planned_seen: u32,
    pub planned_rejected: u32,
    pub unplanned_accepted: u32,
    pub unplanned_rejected: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Self { planned_seen: 70, planned_rejected: 5, unplanned_accepted: 10, unplanned_rejected: 15 }
    }
}

#[derive(Debug, Clone)]
pub struct GenOptions {
    pub records: u64,
    pub seed: u64,
    pub mix: Mix,
    /// Every n-th intent is never drawn (0: all intents may be drawn).
    pub skip_every: usize,
    /// Unix time of the first record.
    pub start: i64,
    /// Compute the ground truth as records are made.
    pub truth: bool,
    /// IPv4 records only (for engines that read no IPv6).
    pub ipv4_only: bool,
}

impl Default for GenOptions {
    fn default() -> Self {
        Self { records: 1000, seed: 1, mix: Mix::default(), skip_every: 5, start: 1_764_000_000, truth: true, ipv4_only: false }
    }
}

/// What a format can say about a record.
#[derive(Debug, Clone, Copy)]
pub struct Carries {
    /// The record's source is known to be the initiator.
    pub oriented: bool,
    /// ICMP types are logged.
    pub icmp_type: bool,
    /// Rejected traffic can appear (connection tracking only sees accepted).
    pub rejected: bool,
    /// Each direction of a flow is a record of its own (AWS).
    pub replies: bool,
}

pub fn carries(f: FlowFormat) -> Carries {
    match f {
        FlowFormat::AwsText | FlowFormat::AwsParquet => Carries { oriented: false, icmp_type: false, rejected: true, replies: true },
        FlowFormat::RecordsParquet | FlowFormat::NftLog | FlowFormat::NftJson => {
            Carries { oriented: true, icmp_type: true, rejected: true, replies: false }
        }
        FlowFormat::AzureJson => Carries { oriented: true, icmp_type: false, rejected: true, replies: false },
        FlowFormat::ConntrackJson | FlowFormat::ConntrackText => {
            Carries { oriented: true, icmp_type: true, rejected: false, replies: false }
        }
    }
}

/// A flow drawn again for every record with fresh addresses and ports
/// inside it.
#[derive(Debug, Clone)]
struct Template {
    proto: IpProto,
    srcs: Vec<AddrRange>,
    dsts: Vec<AddrRange>,
    /// Destination ports (protocols with ports).
    ports: Vec<(u16, u16)>,
    src_ports: Option<Vec<(u16, u16)>>,
    /// ICMP types to draw from, when the format logs them.
    icmp: Vec<u8>,
    /// Built from an intent (else: from ports and addresses nothing plans).
    planned: bool,
}

/// The ground truth of a generated log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Truth {
    pub records: u64,
    /// Per intent: accepted and rejected traffic credited to it.
    pub intents: BTreeMap<u32, (Traffic, Traffic)>,
    /// Per (accepted, destination, protocol, port or ICMP type): traffic.
    #[serde(serialize_with = "as_list")]
    pub unplanned: BTreeMap<(bool, String, u8, Option<u16>), Traffic>,
    /// Per class: traffic (each record once).
    pub classes: BTreeMap<FlowClass, Traffic>,
}

impl Truth {
    fn add(&mut self, r: &FlowRecord, intents: &[IntentId], reply: bool) {
        self.records += 1;
        let t = Traffic {
            records: 1,
            reply_records: u64::from(reply),
            packets: r.packets.unwrap_or(0) as u64,
            bytes: r.bytes.unwrap_or(0) as u64,
            first_seen: r.start,
            last_seen: r.end.or(r.start),
        };
        let class = match (intents.is_empty(), r.accepted) {
            (false, true) => FlowClass::PlannedSeen,
            (false, false) => FlowClass::PlannedRejected,
            (true, true) => FlowClass::UnplannedAccepted,
            (true, false) => FlowClass::UnplannedRejected,
        };
        self.classes.entry(class).or_default().add(&t);
        if intents.is_empty() {
            let port = if r.proto.has_ports() { r.dst_port } else { r.icmp_type.map(u16::from) };
            self.unplanned.entry((r.accepted, r.dst.to_string(), r.proto.0, port)).or_default().add(&t);
        } else {
            for i in intents {
                let slot = self.intents.entry(i.0).or_default();
                if r.accepted { &mut slot.0 } else { &mut slot.1 }.add(&t);
            }
        }
    }
}

fn as_list<S: serde::Serializer, K: Serialize, V: Serialize>(m: &BTreeMap<K, V>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(m.iter())
}

fn pick_addr(rng: &mut XorShiftRng, rs: &[AddrRange]) -> IpAddr {
    let r = rs[rng.random_range(0..rs.len())];
    match (r.lo, r.hi) {
        (IpAddr::V4(a), IpAddr::V4(b)) => IpAddr::V4(Ipv4Addr::from(rng.random_range(u32::from(a)..=u32::from(b)))),
        (IpAddr::V6(a), IpAddr::V6(b)) => IpAddr::V6(Ipv6Addr::from(rng.random_range(u128::from(a)..=u128::from(b)))),
        _ => r.lo,
    }
}

fn pick_port(rng: &mut XorShiftRng, ranges: &[(u16, u16)]) -> u16 {
    let (a, b) = ranges[rng.random_range(0..ranges.len())];
    rng.random_range(a..=b)
}

/// Streams generated records (and, when asked, their truth).
pub struct Generator<'t> {
    table: &'t IntentTable,
    rng: XorShiftRng,
    planned: Vec<Template>,
    unplanned: Vec<Template>,
    mix: Mix,
    carries: Carries,
    format: FlowFormat,
    start: i64,
    emitted: u64,
    with_truth: bool,
    pub truth: Truth,
    pending_reply: Option<FlowRecord>,
}

impl<'t> Generator<'t> {
    /// `with_truth`: classify every record with the reference as it is made
    /// (exact, and about a microsecond per record per hundred intents).
    pub fn new(table: &'t IntentTable, format: FlowFormat, opts: &GenOptions, with_truth: bool) -> Self {
        let mut rng = XorShiftRng::seed_from_u64(opts.seed);
        let c = carries(format);
        let families: &[bool] = if opts.ipv4_only { &[true] } else { &[true, false] };
        let planned = planned_templates(table, c, opts.skip_every, families);
        let unplanned = unplanned_templates(table, &mut rng, c, families);
        let mut mix = opts.mix;
        if !c.rejected {
            mix.planned_rejected = 0;
            mix.unplanned_rejected = 0;
        }
        if planned.is_empty() {
            mix.planned_seen = 0;
            mix.planned_rejected = 0;
        }
        if unplanned.is_empty() {
            mix.unplanned_accepted = 0;
            mix.unplanned_rejected = 0;
        }
        Self {
            table,
            rng,
            planned,
            unplanned,
            mix,
            carries: c,
            format,
            start: opts.start,
            emitted: 0,
            with_truth,
            truth: Truth::default(),
            pending_reply: None,
        }
    }

    fn account(&mut self, r: &FlowRecord) {
        if self.with_truth {
            let p = Probe { src: r.src, dst: r.dst, proto: r.proto, src_port: r.src_port, dst_port: r.dst_port, icmp_type: r.icmp_type };
            let (intents, reply) = reference::classify(self.table, &p, r.oriented);
            self.truth.add(r, &intents, reply);
        } else {
            self.truth.records += 1;
        }
    }

    /// The next record.
    pub fn next_record(&mut self) -> Option<FlowRecord> {
        if let Some(r) = self.pending_reply.take() {
            self.account(&r);
            return Some(r);
        }
        let m = self.mix;
        let total = m.planned_seen + m.planned_rejected + m.unplanned_accepted + m.unplanned_rejected;
        if total == 0 {
            return None;
        }
        let x = self.rng.random_range(0..total);
        let (planned, accepted) = if x < m.planned_seen {
            (true, true)
        } else if x < m.planned_seen + m.planned_rejected {
            (true, false)
        } else if x < total - m.unplanned_rejected {
            (false, true)
        } else {
            (false, false)
        };
        let pool = if planned { &self.planned } else { &self.unplanned };
        let t = pool[self.rng.random_range(0..pool.len())].clone();
        let r = self.record(&t, accepted);
        self.account(&r);
        // AWS logs the answer of a flow as a record of its own: half the time here.
        if self.carries.replies && t.planned && accepted && self.rng.random_bool(0.5) {
            let mut b = r.clone();
            (b.src, b.dst, b.src_port, b.dst_port) = (r.dst, r.src, r.dst_port, r.src_port);
            b.packets = Some(self.rng.random_range(1..=50));
            self.pending_reply = Some(b);
        }
        Some(r)
    }

    /// The reply record still queued, if any.
    pub fn pending(&mut self) -> Option<FlowRecord> {
        let r = self.pending_reply.take()?;
        self.account(&r);
        Some(r)
    }

    fn record(&mut self, t: &Template, accepted: bool) -> FlowRecord {
        let start = self.start + (self.emitted / 16) as i64;
        self.emitted += 1;
        let rng = &mut self.rng;
        let packets = rng.random_range(1..=50i64);
        let (src_port, dst_port) = if t.proto.has_ports() {
            let sp = match &t.src_ports {
                Some(r) => pick_port(rng, r),
                None => rng.random_range(32768..=60999),
            };
            (Some(sp), Some(pick_port(rng, &t.ports)))
        } else {
            (None, None)
        };
        let r = FlowRecord {
            line: 0,
            start: Some(start),
            end: Some(start + rng.random_range(0..60)),
            src: pick_addr(rng, &t.srcs),
            dst: pick_addr(rng, &t.dsts),
            src_port,
            dst_port,
            proto: t.proto,
            icmp_type: (!t.icmp.is_empty()).then(|| t.icmp[rng.random_range(0..t.icmp.len())]),
            packets: Some(packets),
            bytes: Some(packets * rng.random_range(40..1500i64)),
            accepted,
            oriented: self.carries.oriented,
        };
        crate::writers::shape(self.format, r)
    }
}

fn planned_templates(table: &IntentTable, c: Carries, skip_every: usize, families: &[bool]) -> Vec<Template> {
    let mut out = Vec::new();
    for (k, it) in table.intents.iter().enumerate() {
        if skip_every > 0 && k % skip_every == skip_every - 1 {
            continue; // left unseen on purpose
        }
        for &v4 in families {
            let fam_ok = match it.proto {
                IpProto::ICMP => v4,
                IpProto::ICMPV6 => !v4,
                _ => true,
            };
            let srcs: Vec<AddrRange> = it.sources.iter().filter(|r| r.lo.is_ipv4() == v4).copied().collect();
            let dsts: Vec<AddrRange> = it.destinations.iter().filter(|r| r.lo.is_ipv4() == v4).copied().collect();
            if !fam_ok || srcs.is_empty() || dsts.is_empty() {
                continue;
            }
            // a format that logs ICMP types always has one: echo-request when the intent allows any
            let echo = if v4 { 8 } else { 128 };
            let icmp = match (&it.icmp_types, c.icmp_type && it.proto.is_icmp()) {
                (Some(t), true) if !t.is_empty() => t.clone(),
                (_, true) => vec![echo],
                _ => Vec::new(),
            };
            out.push(Template {
                proto: it.proto,
                srcs,
                dsts,
                ports: it.ports.clone(),
                src_ports: it.src_ports.clone(),
                icmp,
                planned: true,
            });
        }
    }
    out
}

/// Destinations and services that no intent allows from anywhere.
fn unplanned_templates(table: &IntentTable, rng: &mut XorShiftRng, c: Carries, families: &[bool]) -> Vec<Template> {
    let hosts: Vec<IpAddr> = table.endpoints.iter().filter(|e| e.is_host).map(|e| e.range.lo).collect();
    let mut out = Vec::new();
    for &v4 in families {
        let fam: Vec<AddrRange> = hosts.iter().filter(|a| a.is_ipv4() == v4).map(|a| AddrRange { lo: *a, hi: *a }).collect();
        if fam.is_empty() {
            continue;
        }
        let mut dsts: Vec<IpAddr> = fam.iter().map(|r| r.lo).collect();
        if v4 {
            // documentation addresses (RFC 5737), outside any inventory here
            dsts.extend((1..=8).map(|i| IpAddr::from([198, 51, 100, i * 13])));
        }
        for _ in 0..24 {
            let dst = dsts[rng.random_range(0..dsts.len())];
            let icmp = if v4 { IpProto::ICMP } else { IpProto::ICMPV6 };
            let proto = [IpProto::TCP, IpProto::TCP, IpProto::UDP, icmp][rng.random_range(0..4)];
            let port: u16 = rng.random_range(1..=65535);
            let allowed = table.intents.iter().any(|i| {
                i.proto == proto
                    && i.destinations.iter().any(|r| r.contains(dst))
                    && (!proto.has_ports() || i.ports.iter().any(|&(a, b)| a <= port && port <= b))
            });
            if allowed {
                continue;
            }
            out.push(Template {
                proto,
                srcs: fam.clone(),
                dsts: vec![AddrRange { lo: dst, hi: dst }],
                ports: vec![(port, port)],
                src_ports: None,
                icmp: if c.icmp_type && proto.is_icmp() { vec![13] } else { Vec::new() },
                planned: false,
            });
        }
    }
    out
}

/// Writes `opts.records` records of `format` to `path` and returns their truth.
pub fn generate(
    table: &IntentTable,
    format: FlowFormat,
    opts: &GenOptions,
    path: &std::path::Path,
    aws_version: u8,
) -> std::io::Result<Truth> {
    let mut g = Generator::new(table, format, opts, opts.truth);
    let mut w = crate::writers::writer(format, path, aws_version)?;
    for _ in 0..opts.records {
        match g.next_record() {
            Some(r) => w.write(&r)?,
            None => break,
        }
    }
    // a reply still queued belongs to the last flow: write it too
    if let Some(r) = g.pending() {
        w.write(&r)?;
    }
    w.finish()?;
    Ok(g.truth)
}
