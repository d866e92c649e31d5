//! Address sets as prefixes: difference by interval arithmetic.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Inclusive ranges of one family, as u128 (IPv4 in the low 32 bits).
fn ranges(nets: &[IpNet], v6: bool) -> Vec<(u128, u128)> {
    let mut out: Vec<(u128, u128)> = nets
        .iter()
        .filter(|n| matches!(n, IpNet::V6(_)) == v6)
        .map(|n| match n {
            IpNet::V4(n) => (u32::from(n.network()) as u128, u32::from(n.broadcast()) as u128),
            IpNet::V6(n) => (u128::from(n.network()), u128::from(n.broadcast())),
        })
        .collect();
    out.sort_unstable();
    let mut merged: Vec<(u128, u128)> = Vec::with_capacity(out.len());
    for (a, b) in out {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// The fewest prefixes covering exactly `lo..=hi`.
fn prefixes(mut lo: u128, hi: u128, v6: bool, out: &mut Vec<IpNet>) {
    let bits: u32 = if v6 { 128 } else { 32 };
    loop {
        // The largest block aligned at `lo` that does not pass `hi`.
        let align = if lo == 0 { bits } else { lo.trailing_zeros().min(bits) };
        let block_end = |size: u32| if size >= 128 { u128::MAX } else { lo + ((1u128 << size) - 1) };
        let mut size = align;
        while size > 0 && block_end(size) > hi {
            size -= 1;
        }
        let prefix_len = (bits - size) as u8;
        out.push(if v6 {
            IpNet::V6(Ipv6Net::new(Ipv6Addr::from(lo), prefix_len).expect("valid prefix"))
        } else {
            IpNet::V4(Ipv4Net::new(Ipv4Addr::from(lo as u32), prefix_len).expect("valid prefix"))
        });
        let last = block_end(size);
        if last >= hi {
            return;
        }
        lo = last + 1;
    }
}

/// `nets` without the addresses of `holes`, as the fewest prefixes.
pub fn difference(nets: &[IpNet], holes: &[IpNet]) -> Vec<IpNet> {
    let mut out = Vec::new();
    for v6 in [false, true] {
        let holes = ranges(holes, v6);
        let mut h = 0;
        for (mut a, b) in ranges(nets, v6) {
            while h < holes.len() && holes[h].1 < a {
                h += 1;
            }
            let mut k = h;
            let mut done = false;
            while k < holes.len() && holes[k].0 <= b {
                if holes[k].0 > a {
                    prefixes(a, holes[k].0 - 1, v6, &mut out);
                }
                if holes[k].1 >= b {
                    done = true;
                    break;
                }
                a = a.max(holes[k].1 + 1);
                k += 1;
            }
            if !done && a <= b {
                prefixes(a, b, v6, &mut out);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use proptest::prelude::*;

    use super::*;

    fn net4() -> impl Strategy<Value = IpNet> {
        // A small corner of the space, so that sets meet often.
        (0u32..4096, 20u8..=32).prop_map(|(a, len)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 | a), len).unwrap().trunc()))
    }

    proptest! {
        #[test]
        fn difference_contains_exactly_the_addresses_outside_the_holes(
            nets in prop::collection::vec(net4(), 0..6),
            holes in prop::collection::vec(net4(), 0..6),
            probes in prop::collection::vec(0u32..8192, 64),
        ) {
            let d = difference(&nets, &holes);
            for p in probes {
                let a = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | p));
                let expect = nets.iter().any(|n| n.contains(&a)) && !holes.iter().any(|n| n.contains(&a));
                prop_assert_eq!(d.iter().any(|n| n.contains(&a)), expect, "{} in {:?} minus {:?} = {:?}", a, nets, holes, d);
            }
            // Disjoint and minimal: aggregation cannot shorten it.
            prop_assert_eq!(IpNet::aggregate(&d).len(), d.len());
        }
    }

    #[test]
    fn whole_spaces_and_edges() {
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        let hole: IpNet = "10.0.0.0/8".parse().unwrap();
        let d = difference(&[all], &[hole]);
        assert_eq!(d.len(), 8);
        assert!(!d.iter().any(|n| n.contains(&"10.1.2.3".parse::<IpAddr>().unwrap())));
        assert!(d.iter().any(|n| n.contains(&"255.255.255.255".parse::<IpAddr>().unwrap())));
        let v6: IpNet = "::/0".parse().unwrap();
        assert_eq!(difference(&[v6], &[]), vec![v6]);
        assert!(difference(&[v6], &[v6]).is_empty());
        let h: IpNet = "2001:db8::1/128".parse().unwrap();
        assert_eq!(difference(&[v6], &[h]).len(), 128);
    }
}
