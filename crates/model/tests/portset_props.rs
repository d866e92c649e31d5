//! Port-set arithmetic and port expressions against a `BTreeSet<u16>` oracle.

use std::collections::{BTreeSet, HashMap};

use portmatrix_model::ports::ResolveError;
use portmatrix_model::{PortExpr, PortSet, Span};
use proptest::prelude::*;

/// A port, with the edges 0 and 65535 and their neighbours drawn often.
fn port() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => any::<u16>(),
        1 => prop_oneof![Just(0u16), Just(1), Just(65534), Just(65535)],
        1 => 5000u16..5100,
    ]
}

/// A range `(lo, hi)` with `lo <= hi`: short ones mostly, some running to an edge.
fn range() -> impl Strategy<Value = (u16, u16)> {
    prop_oneof![
        4 => (port(), 0u16..40).prop_map(|(lo, w)| (lo, lo.saturating_add(w))),
        1 => port().prop_map(|p| (0, p)),
        1 => port().prop_map(|p| (p, 65535)),
        1 => (port(), port()).prop_map(|(a, b)| (a.min(b), a.max(b))),
    ]
}

fn ranges() -> impl Strategy<Value = Vec<(u16, u16)>> {
    prop::collection::vec(range(), 0..6)
}

/// The oracle of a list of ranges. Wide ranges make this a set of up to
/// 65536 ports: fine for a few hundred cases.
fn oracle(rs: &[(u16, u16)]) -> BTreeSet<u16> {
    rs.iter().flat_map(|&(a, b)| a..=b).collect()
}

fn set(rs: &[(u16, u16)]) -> PortSet {
    PortSet::from_ranges(rs.iter().copied())
}

fn to_oracle(s: &PortSet) -> BTreeSet<u16> {
    s.iter().collect()
}

/// The canonical text of an oracle: maximal runs, ascending.
fn oracle_text(o: &BTreeSet<u16>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut run: Option<(u16, u16)> = None;
    let flush = |run: Option<(u16, u16)>, out: &mut Vec<String>| match run {
        Some((a, b)) if a == b => out.push(a.to_string()),
        Some((a, b)) => out.push(format!("{a}-{b}")),
        None => {}
    };
    for &p in o {
        run = match run {
            Some((a, b)) if u32::from(b) + 1 == u32::from(p) => Some((a, p)),
            r => {
                flush(r, &mut out);
                Some((p, p))
            }
        };
    }
    flush(run, &mut out);
    out.join(",")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn construction_matches_oracle(rs in ranges()) {
        let s = set(&rs);
        let o = oracle(&rs);
        prop_assert_eq!(to_oracle(&s), o.clone());
        prop_assert_eq!(s.len(), o.len());
        prop_assert_eq!(s.is_empty(), o.is_empty());
        prop_assert_eq!(s.first(), o.first().copied());
        prop_assert_eq!(s.is_all(), o.len() == 65536);
        // Ranges come out ascending, disjoint and not touching.
        let rs_out: Vec<(u16, u16)> = s.ranges().collect();
        for w in rs_out.windows(2) {
            prop_assert!(u32::from(w[0].1) + 1 < u32::from(w[1].0), "ranges {:?} touch or overlap", w);
        }
        for &(a, b) in &rs_out {
            prop_assert!(a <= b);
        }
    }

    #[test]
    fn contains_matches_oracle(rs in ranges(), probes in prop::collection::vec(port(), 1..20)) {
        let s = set(&rs);
        let o = oracle(&rs);
        for p in probes.into_iter().chain([0, 65535]) {
            prop_assert_eq!(s.contains(p), o.contains(&p), "port {}", p);
        }
    }

    #[test]
    fn display_is_canonical_and_parses_back(rs in ranges()) {
        let s = set(&rs);
        let text = s.to_string();
        prop_assert_eq!(&text, &oracle_text(&oracle(&rs)));
        prop_assert_eq!(PortSet::parse(&text), Ok(s.clone()));
        // The same set written unsorted, overlapping and with spaces parses
        // to the same set.
        let messy: Vec<String> = rs.iter().rev().map(|&(a, b)| if a == b { format!(" {a}") } else { format!("{a} - {b} ") }).collect();
        prop_assert_eq!(PortSet::parse(&messy.join(",")), Ok(s));
    }

    #[test]
    fn parse_rejects_what_is_not_a_port(a in 65536u32..1_000_000, lo in 1u16.., d in 1u16..100) {
        let (single, range) = (a.to_string(), format!("1-{a}"));
        prop_assert!(PortSet::parse(&single).is_err(), "{} parsed", single);
        prop_assert!(PortSet::parse(&range).is_err(), "{} parsed", range);
        let hi = lo.saturating_sub(d);
        prop_assume!(hi < lo);
        prop_assert!(PortSet::parse(&format!("{lo}-{hi}")).is_err(), "{}-{} runs backwards", lo, hi);
    }
}

proptest! {
    // Each case builds several oracle sets of up to 65536 ports: fewer cases.
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    #[test]
    fn algebra_matches_oracle(a in ranges(), b in ranges()) {
        let (sa, sb) = (set(&a), set(&b));
        let (oa, ob) = (oracle(&a), oracle(&b));
        prop_assert_eq!(to_oracle(&sa.union(&sb)), oa.union(&ob).copied().collect::<BTreeSet<u16>>());
        prop_assert_eq!(to_oracle(&sa.intersection(&sb)), oa.intersection(&ob).copied().collect::<BTreeSet<u16>>());
        prop_assert_eq!(to_oracle(&sa.difference(&sb)), oa.difference(&ob).copied().collect::<BTreeSet<u16>>());
        prop_assert_eq!(sa.is_subset(&sb), oa.is_subset(&ob));
        prop_assert_eq!(sa.overlaps(&sb), !oa.is_disjoint(&ob));
        prop_assert_eq!(sa.union(&sb).len(), oa.union(&ob).count());
        // Laws that tie the operations together.
        prop_assert!(sa.intersection(&sb).is_subset(&sa));
        prop_assert!(sa.is_subset(&sa.union(&sb)));
        prop_assert_eq!(sa.difference(&sb).union(&sa.intersection(&sb)), sa.clone());
        prop_assert!(sa.difference(&sb).intersection(&sb).is_empty());
        prop_assert_eq!(PortSet::all().difference(&PortSet::all().difference(&sa)), sa);
    }
}

#[test]
fn parse_edges() {
    assert_eq!(PortSet::parse(""), Ok(PortSet::new()));
    assert_eq!(PortSet::parse("any"), Ok(PortSet::all()));
    assert_eq!(PortSet::parse("0-65535"), Ok(PortSet::all()));
    assert_eq!(PortSet::all().to_string(), "0-65535");
    assert_eq!(PortSet::all().len(), 65536);
    assert_eq!(PortSet::parse("65535"), Ok(PortSet::single(65535)));
    assert_eq!(PortSet::parse("0"), Ok(PortSet::single(0)));
    assert_eq!(PortSet::range(10, 9), PortSet::new());
    assert_eq!(PortSet::parse("5060,5061").map(|s| s.to_string()), Ok("5060-5061".into()));
    for bad in ["x", "5060-", "-5", "1,,2", "65536", "5060/udp", "> 1024"] {
        assert!(PortSet::parse(bad).is_err(), "{bad:?} parsed");
    }
}

// ---- port expressions ------------------------------------------------------

/// A term of an expression: a number or one of a few parameters.
#[derive(Debug, Clone)]
enum T {
    Num(u16),
    Param(&'static str),
}

const PARAMS: [&str; 4] = ["zones", "rtp_start", "rtp_end", "jmx_port"];

fn term() -> impl Strategy<Value = T> {
    prop_oneof![port().prop_map(T::Num), prop::sample::select(&PARAMS[..]).prop_map(T::Param)]
}

#[derive(Debug, Clone)]
enum Item {
    Single(T),
    Range(T, T),
    Count(T, T),
    Any,
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        3 => term().prop_map(Item::Single),
        3 => (term(), term()).prop_map(|(a, b)| Item::Range(a, b)),
        2 => (term(), term()).prop_map(|(a, b)| Item::Count(a, b)),
        1 => Just(Item::Any),
    ]
}

fn text_of(t: &T) -> String {
    match t {
        T::Num(n) => n.to_string(),
        T::Param(p) => p.to_string(),
    }
}

fn item_text(i: &Item) -> String {
    match i {
        Item::Single(a) => text_of(a),
        Item::Range(a, b) => format!("{}-{}", text_of(a), text_of(b)),
        Item::Count(a, b) => format!("{}+{}", text_of(a), text_of(b)),
        Item::Any => "any".into(),
    }
}

/// Values of the parameters; some may be unset, some out of range.
fn values() -> impl Strategy<Value = HashMap<&'static str, i64>> {
    prop::collection::hash_map(
        prop::sample::select(&PARAMS[..]),
        prop_oneof![5 => 0i64..=65535, 1 => 1i64..50, 1 => -5i64..0, 1 => 65536i64..70000],
        0..=4,
    )
}

/// What the oracle makes of an expression: `Err(true)` when a parameter is
/// unset, `Err(false)` when a value is not a port or a range is empty or
/// backwards.
fn oracle_resolve(items: &[Item], vals: &HashMap<&str, i64>) -> Result<BTreeSet<u16>, bool> {
    let v = |t: &T| -> Result<i64, bool> {
        match t {
            T::Num(n) => Ok(i64::from(*n)),
            T::Param(p) => vals.get(p).copied().ok_or(true),
        }
    };
    let port = |x: i64| -> Result<i64, bool> {
        if (0..=65535).contains(&x) {
            Ok(x)
        } else {
            Err(false)
        }
    };
    let mut out = BTreeSet::new();
    for i in items {
        match i {
            Item::Any => out.extend(0..=65535u16),
            Item::Single(a) => {
                out.insert(port(v(a)?)? as u16);
            }
            Item::Range(a, b) => {
                let (lo, hi) = (v(a)?, v(b)?);
                let (lo, hi) = (port(lo)?, port(hi)?);
                if lo > hi {
                    return Err(false);
                }
                out.extend(lo as u16..=hi as u16);
            }
            Item::Count(a, b) => {
                let (base, count) = (v(a)?, v(b)?);
                let base = port(base)?;
                if count < 1 {
                    return Err(false);
                }
                let last = port(base + count - 1)?;
                out.extend(base as u16..=last as u16);
            }
        }
    }
    Ok(out)
}

/// A literal range written backwards is rejected when parsed.
fn literal_backwards(i: &Item) -> bool {
    matches!(i, Item::Range(T::Num(a), T::Num(b)) if a > b)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn expressions_resolve_like_the_oracle(items in prop::collection::vec(item(), 1..4), vals in values()) {
        let text = items.iter().map(item_text).collect::<Vec<_>>().join(",");
        let parsed = PortExpr::parse(&text, Span::new(0, text.len()));
        if items.iter().any(literal_backwards) {
            prop_assert!(parsed.is_err(), "{} parsed", text);
            return Ok(());
        }
        let expr = parsed.map_err(|e| TestCaseError::fail(format!("{text}: {e:?}")))?;
        // Display gives the text back, and parameters are found where written.
        prop_assert_eq!(expr.to_string(), text.clone());
        for p in expr.params() {
            prop_assert_eq!(&text[p.span.offset..p.span.offset + p.span.len], p.value.as_str());
        }
        let got = expr.resolve(&|n| vals.get(n).copied());
        match (got, oracle_resolve(&items, &vals)) {
            (Ok(s), Ok(o)) => {
                prop_assert_eq!(s.len(), o.len());
                prop_assert_eq!(to_oracle(&s), o);
            }
            (Err(ResolveError::Unset(p)), Err(true)) => {
                prop_assert!(!vals.contains_key(p.value.as_str()), "{} reported unset", p.value);
            }
            (Err(ResolveError::OutOfRange { .. }), Err(false)) => {}
            (got, want) => prop_assert!(false, "{}: got {:?}, oracle {:?}", text, got, want.map(|o| o.len())),
        }
    }

    #[test]
    fn expression_spans_point_into_the_file(pad in 0usize..20, a in port(), n in 1u16..100) {
        let text = format!("{a}+zones,rtp_start-rtp_end,{n}");
        let expr = PortExpr::parse(&text, Span::new(pad, text.len())).expect("parses");
        let names: Vec<(String, usize)> = expr.params().map(|p| (p.value.clone(), p.span.offset - pad)).collect();
        let at = |needle: &str| text.find(needle).expect("present");
        prop_assert_eq!(names, vec![("zones".to_string(), at("zones")), ("rtp_start".to_string(), at("rtp_start")), ("rtp_end".to_string(), at("rtp_end"))]);
    }
}

#[test]
fn expression_examples() {
    let vals: HashMap<&str, i64> = [("zones", 3), ("rtp_start", 30000), ("rtp_end", 30009), ("jmx_port", 9010)].into();
    let resolve = |s: &str| PortExpr::parse(s, Span::new(0, s.len())).expect(s).resolve(&|n| vals.get(n).copied());
    assert_eq!(resolve("9995+zones").unwrap().to_string(), "9995-9997");
    assert_eq!(resolve("9995+1").unwrap().to_string(), "9995");
    assert_eq!(resolve("rtp_start-rtp_end").unwrap().len(), 10);
    assert_eq!(resolve("jmx_port, 80 ,443").unwrap().to_string(), "80,443,9010");
    assert_eq!(resolve("any").unwrap(), PortSet::all());
    assert_eq!(resolve("65535+1").unwrap().to_string(), "65535");
    assert!(matches!(resolve("65535+2"), Err(ResolveError::OutOfRange { .. })));
    assert!(matches!(resolve("10+0"), Err(ResolveError::OutOfRange { .. })));
    assert!(matches!(resolve("rtp_end-rtp_start"), Err(ResolveError::OutOfRange { .. })));
    assert!(matches!(resolve("unset_param"), Err(ResolveError::Unset(p)) if p.value == "unset_param"));
    for bad in ["5000-4000", "70000", "jmx-port-x", "A_PORT", "1,,2", "", "5060/udp", "> 1024"] {
        assert!(PortExpr::parse(bad, Span::new(0, bad.len())).is_err(), "{bad:?} parsed");
    }
}
