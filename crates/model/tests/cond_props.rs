//! Conditions over features: parse/Display round trip, and evaluation
//! against a direct evaluation of the expression tree they were written from.

use portmatrix_model::Cond;
use proptest::prelude::*;

/// Feature names, including ones that begin like the keywords.
const FEATURES: [&str; 5] = ["tts", "legacy-windows", "db_oracle", "notify", "order2"];

/// The oracle's own expression tree.
#[derive(Debug, Clone)]
enum E {
    F(usize),
    Not(Box<E>),
    And(Box<E>, Box<E>),
    Or(Box<E>, Box<E>),
}

impl E {
    fn eval(&self, on: &[bool]) -> bool {
        match self {
            E::F(i) => on[*i],
            E::Not(e) => !e.eval(on),
            E::And(a, b) => a.eval(on) && b.eval(on),
            E::Or(a, b) => a.eval(on) || b.eval(on),
        }
    }
    fn prec(&self) -> u8 {
        match self {
            E::Or(..) => 1,
            E::And(..) => 2,
            _ => 3,
        }
    }
}

fn expr() -> impl Strategy<Value = E> {
    let leaf = (0..FEATURES.len()).prop_map(E::F);
    leaf.prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| E::Not(Box::new(e))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| E::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| E::Or(Box::new(a), Box::new(b))),
        ]
    })
}

/// How to write an expression: symbols or words, and where to add
/// parentheses that are not needed.
#[derive(Debug, Clone)]
struct Style {
    words: bool,
    extra_parens: Vec<bool>,
    spaces: bool,
}

fn style() -> impl Strategy<Value = Style> {
    (any::<bool>(), prop::collection::vec(any::<bool>(), 64), any::<bool>()).prop_map(|(words, extra_parens, spaces)| Style {
        words,
        extra_parens,
        spaces,
    })
}

/// Writes `e` with the fewest parentheses that keep its meaning (so that the
/// parser's precedence is tested), plus the optional ones the style asks for.
/// `&&` and `||` are left-associative: a right operand of the same
/// precedence needs parentheses.
fn write(e: &E, st: &Style, n: &mut usize) -> String {
    *n += 1;
    let extra = st.extra_parens.get(*n % st.extra_parens.len()).copied().unwrap_or(false);
    let (and, or, not) = if st.words {
        (" and ", " or ", "not ")
    } else if st.spaces {
        (" && ", " || ", "!")
    } else {
        ("&&", "||", "!")
    };
    let wrap = |s: String, need: bool| if need { format!("({s})") } else { s };
    let out = match e {
        E::F(i) => FEATURES[*i].to_string(),
        E::Not(x) => {
            let inner = write(x, st, n);
            format!("{not}{}", wrap(inner, x.prec() < 3))
        }
        E::And(a, b) => {
            let (sa, sb) = (write(a, st, n), write(b, st, n));
            format!("{}{and}{}", wrap(sa, a.prec() < 2), wrap(sb, b.prec() <= 2))
        }
        E::Or(a, b) => {
            let (sa, sb) = (write(a, st, n), write(b, st, n));
            format!("{}{or}{}", wrap(sa, a.prec() < 1), wrap(sb, b.prec() <= 1))
        }
    };
    wrap(out, extra)
}

fn assignments() -> impl Iterator<Item = Vec<bool>> {
    (0u32..1 << FEATURES.len()).map(|bits| (0..FEATURES.len()).map(|i| bits & (1 << i) != 0).collect())
}

fn eval_cond(c: &Cond, on: &[bool]) -> bool {
    c.eval(&|name| {
        let i = FEATURES.iter().position(|f| *f == name).unwrap_or_else(|| panic!("unknown feature {name}"));
        on[i]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn parse_evaluates_like_the_tree(e in expr(), st in style()) {
        let text = write(&e, &st, &mut 0);
        let c = Cond::parse(&text, 0).map_err(|err| TestCaseError::fail(format!("{text}: {err:?}")))?;
        for on in assignments() {
            prop_assert_eq!(eval_cond(&c, &on), e.eval(&on), "{} with {:?}", text, on);
        }
    }

    #[test]
    fn display_round_trips(e in expr(), st in style()) {
        let text = write(&e, &st, &mut 0);
        let c = Cond::parse(&text, 0).map_err(|err| TestCaseError::fail(format!("{text}: {err:?}")))?;
        let shown = c.to_string();
        let again = Cond::parse(&shown, 0).map_err(|err| TestCaseError::fail(format!("{shown}: {err:?}")))?;
        // Same tree (spans are ignored by equality), same text, same meaning.
        prop_assert_eq!(&again, &c);
        prop_assert_eq!(again.to_string(), shown.clone());
        for on in assignments() {
            prop_assert_eq!(eval_cond(&again, &on), e.eval(&on), "{} with {:?}", shown, on);
        }
    }

    #[test]
    fn feature_spans_point_at_their_names(e in expr(), st in style(), base in 0usize..50) {
        let text = write(&e, &st, &mut 0);
        let c = Cond::parse(&text, base).map_err(|err| TestCaseError::fail(format!("{text}: {err:?}")))?;
        for f in c.features() {
            let at = f.span.offset - base;
            prop_assert_eq!(&text[at..at + f.span.len], f.value.as_str());
        }
    }

    #[test]
    fn garbage_never_panics(s in "[a-z!&|() \\-_]{0,30}|\\PC{0,20}") {
        if let Err((span, msg)) = Cond::parse(&s, 7) {
            prop_assert!(!msg.is_empty());
            prop_assert!(span.offset >= 7 && span.offset + span.len <= 7 + s.len(), "span {:?} outside {:?}", span, s);
        }
    }
}

#[test]
fn precedence_and_keywords() {
    let p = |s: &str| Cond::parse(s, 0).unwrap_or_else(|e| panic!("{s}: {e:?}")).to_string();
    assert_eq!(p("a || b && c"), "a || b && c");
    assert_eq!(p("(a || b) && c"), "(a || b) && c");
    assert_eq!(p("not a and b"), "!a && b");
    assert_eq!(p("not (a or b)"), "!(a || b)");
    assert_eq!(p("!!a"), "!!a");
    assert_eq!(p("a && (b && c)"), "a && (b && c)");
    assert_eq!(p("notify or order"), "notify || order");
    assert_eq!(p("  legacy-windows&&!tts "), "legacy-windows && !tts");
    for bad in ["", "a &", "a & b", "a | b", "(a", "a)", "a b", "&& a", "!", "a && ()", "a ^ b", "a && !"] {
        assert!(Cond::parse(bad, 0).is_err(), "{bad:?} parsed");
    }
}
