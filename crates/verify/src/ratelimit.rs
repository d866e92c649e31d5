//! The responder's rate limit: token buckets per source address, per source
//! prefix (IPv4 /24, IPv6 /64) and one for everything.
//!
//! A probe is answered only when all three buckets hold a token; only then
//! are tokens taken from all three. So
//!
//! - one source, or one /64 whose addresses rotate, gets at most its
//!   prefix's rate: a host that owns a /64 cannot escape the limit by
//!   changing its address for every probe;
//! - sources spoofed from everywhere are bounded by the global bucket, so the
//!   responder reflects at most the global rate of (request-sized) answers;
//! - a flood from one prefix that its own bucket stops takes no global
//!   tokens, so other prefixes keep being answered.
//!
//! Memory is bounded: a new source gets a bucket only after the global
//! bucket let its probe through (so buckets are created at most at the global
//! rate), buckets that have refilled completely are forgotten (a full bucket
//! and a missing one behave the same), and when a table is full of buckets
//! still in use a new source is refused rather than an old bucket reset —
//! resetting would hand out a fresh burst, which is what a flood wants.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// A sustained rate and a burst, in probes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_sec: f64,
    pub burst: f64,
}

impl Rate {
    /// `per_sec` sustained, bursts of twice that.
    pub fn per_sec(per_sec: f64) -> Rate {
        Rate { per_sec, burst: (per_sec * 2.0).max(1.0) }
    }
    /// No limit at all (benchmarks).
    pub fn unlimited() -> Rate {
        Rate { per_sec: f64::INFINITY, burst: f64::INFINITY }
    }
    fn burst(&self) -> f64 {
        self.burst.max(1.0)
    }
    /// How long an empty bucket takes to fill completely.
    fn refill_time(&self) -> Duration {
        if self.per_sec > 0.0 && self.burst().is_finite() {
            Duration::try_from_secs_f64(self.burst() / self.per_sec).unwrap_or(Duration::MAX)
        } else {
            Duration::MAX
        }
    }
}

/// The three limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    pub per_address: Rate,
    /// Per IPv4 /24 or IPv6 /64.
    pub per_prefix: Rate,
    pub global: Rate,
    /// Most buckets kept per table (addresses, prefixes).
    pub max_tracked: usize,
}

impl Default for RateLimits {
    /// 2,000/s per address, 4,000/s per prefix, 20,000/s in all (bursts of
    /// twice that): far above what one prober sends (64 probes in flight),
    /// far below what makes a useful reflector.
    fn default() -> Self {
        RateLimits {
            per_address: Rate::per_sec(2000.0),
            per_prefix: Rate::per_sec(4000.0),
            global: Rate::per_sec(20000.0),
            max_tracked: 65_536,
        }
    }
}

impl RateLimits {
    /// No limit at all (benchmarks).
    pub fn unlimited() -> Self {
        RateLimits { per_address: Rate::unlimited(), per_prefix: Rate::unlimited(), global: Rate::unlimited(), max_tracked: 65_536 }
    }
}

/// Why a probe was dropped, or that it may pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Address,
    Prefix,
    Global,
    /// Too many sources are being tracked right now.
    TableFull,
}

/// Probes dropped by the limit, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RateDrops {
    pub address: u64,
    pub prefix: u64,
    pub global: u64,
    pub table_full: u64,
}

impl RateDrops {
    pub fn total(&self) -> u64 {
        self.address + self.prefix + self.global + self.table_full
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: &Rate, now: Instant) -> Bucket {
        Bucket { tokens: rate.burst(), at: now }
    }
    /// Tokens at `now` (a clock that goes backwards adds nothing).
    fn level(&self, rate: &Rate, now: Instant) -> f64 {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        let add = if dt > 0.0 { dt * rate.per_sec } else { 0.0 };
        (self.tokens + add).min(rate.burst())
    }
    fn take(&mut self, rate: &Rate, now: Instant) {
        self.tokens = self.level(rate, now) - 1.0;
        self.at = self.at.max(now);
    }
}

/// One table of buckets (addresses, or prefixes).
#[derive(Debug)]
struct Table {
    rate: Rate,
    buckets: HashMap<IpAddr, Bucket>,
    last_sweep: Option<Instant>,
}

impl Table {
    fn new(rate: Rate) -> Table {
        Table { rate, buckets: HashMap::new(), last_sweep: None }
    }
    /// The bucket's level, or `None` when the table is full of buckets in use.
    fn level(&mut self, key: IpAddr, now: Instant, max: usize) -> Option<f64> {
        if let Some(b) = self.buckets.get(&key) {
            return Some(b.level(&self.rate, now));
        }
        if self.buckets.len() >= max {
            self.sweep(now);
            if self.buckets.len() >= max {
                return None;
            }
        }
        Some(self.rate.burst())
    }
    fn take(&mut self, key: IpAddr, now: Instant) {
        let rate = self.rate;
        self.buckets.entry(key).or_insert_with(|| Bucket::full(&rate, now)).take(&rate, now);
    }
    /// Forgets buckets that have refilled. At most once per tenth of the
    /// refill time, so a flood of new sources cannot make every probe scan
    /// the whole table.
    fn sweep(&mut self, now: Instant) {
        let every = self.rate.refill_time() / 10;
        if self.last_sweep.is_some_and(|t| now.saturating_duration_since(t) < every) {
            return;
        }
        self.last_sweep = Some(now);
        let rate = self.rate;
        self.buckets.retain(|_, b| b.level(&rate, now) < rate.burst());
    }
}

#[derive(Debug)]
struct State {
    addresses: Table,
    prefixes: Table,
    global: Bucket,
    drops: RateDrops,
}

/// The limiter (shared by every socket of a responder).
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    state: Mutex<State>,
}

/// The /24 (IPv4) or /64 (IPv6) a source belongs to; IPv4-mapped IPv6
/// addresses count as IPv4.
pub fn source_prefix(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) & 0xffff_ff00).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) & !((1u128 << 64) - 1)).into()),
    }
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        let now = Instant::now();
        RateLimiter {
            limits,
            state: Mutex::new(State {
                addresses: Table::new(limits.per_address),
                prefixes: Table::new(limits.per_prefix),
                global: Bucket::full(&limits.global, now),
                drops: RateDrops::default(),
            }),
        }
    }

    /// Whether a probe from `ip` may be answered now.
    pub fn allow(&self, ip: IpAddr) -> bool {
        self.decide(ip, Instant::now()) == Decision::Allow
    }

    /// The decision for a probe from `ip` at `now` (tokens are taken when it
    /// is [`Decision::Allow`]).
    pub fn decide(&self, ip: IpAddr, now: Instant) -> Decision {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let d = Self::decide_locked(&mut st, &self.limits, ip.to_canonical(), now);
        match d {
            Decision::Allow => {}
            Decision::Address => st.drops.address += 1,
            Decision::Prefix => st.drops.prefix += 1,
            Decision::Global => st.drops.global += 1,
            Decision::TableFull => st.drops.table_full += 1,
        }
        d
    }

    fn decide_locked(st: &mut State, limits: &RateLimits, ip: IpAddr, now: Instant) -> Decision {
        // Global first: a probe it refuses creates no bucket.
        if st.global.level(&limits.global, now) < 1.0 {
            return Decision::Global;
        }
        let prefix = source_prefix(ip);
        let Some(p) = st.prefixes.level(prefix, now, limits.max_tracked) else {
            return Decision::TableFull;
        };
        if p < 1.0 {
            return Decision::Prefix;
        }
        let Some(a) = st.addresses.level(ip, now, limits.max_tracked) else {
            return Decision::TableFull;
        };
        if a < 1.0 {
            return Decision::Address;
        }
        st.global.take(&limits.global, now);
        st.prefixes.take(prefix, now);
        st.addresses.take(ip, now);
        Decision::Allow
    }

    /// Probes dropped so far.
    pub fn drops(&self) -> RateDrops {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).drops
    }

    /// Buckets held (addresses, prefixes): bounded by `max_tracked` each.
    pub fn tracked(&self) -> (usize, usize) {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (st.addresses.buckets.len(), st.prefixes.buckets.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv6Addr;

    fn limits(addr: f64, prefix: f64, global: f64) -> RateLimits {
        RateLimits {
            per_address: Rate { per_sec: addr, burst: addr },
            per_prefix: Rate { per_sec: prefix, burst: prefix },
            global: Rate { per_sec: global, burst: global },
            max_tracked: 65_536,
        }
    }

    fn v6(prefix: u64, host: u64) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(((0x2001_0db8_0000_0000u128 | prefix as u128) << 64) | host as u128))
    }

    #[test]
    fn an_address_gets_its_burst_then_waits() {
        let r = RateLimiter::new(limits(3.0, 100.0, 1000.0));
        let t = Instant::now();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let allowed = (0..10).filter(|_| r.decide(ip, t) == Decision::Allow).count();
        assert_eq!(allowed, 3);
        assert_eq!(r.decide(ip, t), Decision::Address);
        assert_eq!(r.decide("127.0.0.2".parse().unwrap(), t), Decision::Allow);
        // One second later: three more.
        let later = t + Duration::from_secs(1);
        assert_eq!((0..10).filter(|_| r.decide(ip, later) == Decision::Allow).count(), 3);
    }

    #[test]
    fn a_rotating_ipv6_64_is_limited_as_one_source() {
        let r = RateLimiter::new(RateLimits::default());
        let t = Instant::now();
        // 100,000 different addresses of one /64, all at once.
        let allowed = (0..100_000u64).filter(|&h| r.decide(v6(1, h), t) == Decision::Allow).count();
        assert_eq!(allowed as f64, RateLimits::default().per_prefix.burst);
        // Another /64 is still answered.
        assert_eq!(r.decide(v6(2, 1), t), Decision::Allow);
        assert!(r.drops().prefix >= 100_000 - allowed as u64);
        // Half a second later the first /64 gets half a second's worth.
        let later = t + Duration::from_millis(500);
        let more = (100_000..200_000u64).filter(|&h| r.decide(v6(1, h), later) == Decision::Allow).count();
        assert_eq!(more as f64, RateLimits::default().per_prefix.per_sec / 2.0);
    }

    #[test]
    fn a_rotating_ipv4_24_is_limited_as_one_source() {
        let r = RateLimiter::new(limits(5.0, 20.0, 1000.0));
        let t = Instant::now();
        let allowed = (0..=255u8).filter(|&h| r.decide(IpAddr::from([192, 0, 2, h]), t) == Decision::Allow).count();
        assert_eq!(allowed, 20);
        assert_eq!(r.decide(IpAddr::from([192, 0, 3, 1]), t), Decision::Allow);
        // IPv4-mapped IPv6 is the same source.
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(r.decide(mapped, t), Decision::Prefix);
    }

    #[test]
    fn a_spoofed_flood_is_held_to_the_global_rate_in_bounded_memory() {
        let lim = RateLimits::default();
        let r = RateLimiter::new(lim);
        let t = Instant::now();
        let mut x: u32 = 12345;
        let mut allowed = 0;
        for _ in 0..500_000 {
            // A cheap pseudo-random source address per probe.
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if r.decide(IpAddr::from(x.to_be_bytes()), t) == Decision::Allow {
                allowed += 1;
            }
        }
        assert_eq!(allowed as f64, lim.global.burst);
        let (addrs, prefixes) = r.tracked();
        assert!(addrs <= lim.global.burst as usize && prefixes <= lim.global.burst as usize, "{addrs} {prefixes}");
        assert!(r.drops().global >= 500_000 - allowed as u64);
    }

    #[test]
    fn a_full_table_refuses_new_sources_instead_of_resetting_old_ones() {
        let mut lim = limits(2.0, 1e6, 1e9);
        lim.max_tracked = 4;
        let r = RateLimiter::new(lim);
        let t = Instant::now();
        let ips: Vec<IpAddr> = (0..4u8).map(|i| IpAddr::from([10, i, 0, 1])).collect();
        for ip in &ips {
            assert_eq!(r.decide(*ip, t), Decision::Allow);
        }
        assert_eq!(r.decide(IpAddr::from([10, 9, 0, 1]), t), Decision::TableFull);
        // The old ones keep their (half-spent) buckets.
        assert_eq!(r.decide(ips[0], t), Decision::Allow);
        assert_eq!(r.decide(ips[0], t), Decision::Address);
        // Once the buckets have refilled they are forgotten and room is made.
        let later = t + Duration::from_secs(5);
        assert_eq!(r.decide(IpAddr::from([10, 9, 0, 1]), later), Decision::Allow);
        assert!(r.tracked().0 <= 4);
    }

    /// Events: (source prefix 0..3, host 0..4, milliseconds since start).
    fn events() -> impl Strategy<Value = Vec<(u64, u64, u64)>> {
        prop::collection::vec((0..3u64, 0..4u64, 0..3000u64), 1..400).prop_map(|mut v| {
            v.sort_by_key(|e| e.2);
            v
        })
    }

    proptest! {
        /// Over every window [a, b], what each address, each prefix and all
        /// sources get answered stays within burst + rate × (b − a), whatever
        /// the order, mix and timing of probes, and however small the tables.
        #[test]
        fn no_window_exceeds_any_limit(ev in events(), tracked in 1usize..8, a in 1.0f64..20.0, p in 1.0f64..40.0, g in 1.0f64..60.0) {
            let lim = RateLimits {
                per_address: Rate { per_sec: a, burst: a },
                per_prefix: Rate { per_sec: p, burst: p * 1.5 },
                global: Rate { per_sec: g, burst: g * 0.5 + 1.0 },
                max_tracked: tracked,
            };
            let r = RateLimiter::new(lim);
            let t0 = Instant::now();
            let mut ok: Vec<(IpAddr, u64)> = Vec::new();
            for &(pre, host, ms) in &ev {
                let ip = v6(pre, host);
                if r.decide(ip, t0 + Duration::from_millis(ms)) == Decision::Allow {
                    ok.push((ip, ms));
                }
            }
            let check = |rate: &Rate, same: &dyn Fn(IpAddr) -> bool| {
                let times: Vec<u64> = ok.iter().filter(|(ip, _)| same(*ip)).map(|e| e.1).collect();
                for i in 0..times.len() {
                    for j in i..times.len() {
                        let n = (j - i + 1) as f64;
                        let bound = rate.burst() + rate.per_sec * (times[j] - times[i]) as f64 / 1000.0;
                        prop_assert!(n <= bound + 1e-9, "{n} answers in {} ms, bound {bound}", times[j] - times[i]);
                    }
                }
                Ok(())
            };
            check(&lim.global, &|_| true)?;
            for pre in 0..3 {
                check(&lim.per_prefix, &|ip| source_prefix(ip) == source_prefix(v6(pre, 0)))?;
                for host in 0..4 {
                    check(&lim.per_address, &|ip| ip == v6(pre, host))?;
                }
            }
            let drops = r.drops();
            prop_assert_eq!(drops.total() as usize + ok.len(), ev.len());
        }

        /// A lone source that stays under every limit is always answered.
        #[test]
        fn a_polite_source_is_never_dropped(gaps in prop::collection::vec(500u64..2000, 1..100)) {
            let r = RateLimiter::new(limits(2.0, 2.0, 2.0));
            let mut t = Instant::now();
            for g in gaps {
                t += Duration::from_millis(g);
                prop_assert_eq!(r.decide(v6(0, 1), t), Decision::Allow);
            }
        }
    }
}
