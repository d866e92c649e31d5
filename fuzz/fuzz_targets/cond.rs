//! Feature conditions (`when:`) on arbitrary text: no panic and no stack
//! overflow at any nesting; an error points inside the text; an accepted
//! condition is at most `MAX_DEPTH` deep, shows as text that parses back to
//! the same tree, and every feature's span holds its name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portmatrix_model::cond::MAX_DEPTH;
use portmatrix_model::Cond;

/// Depth of the tree, counted without recursion.
fn depth(c: &Cond) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(c, 1)];
    while let Some((c, d)) = stack.pop() {
        deepest = deepest.max(d);
        match c {
            Cond::Feature(_) => {}
            Cond::Not(x) => stack.push((x, d + 1)),
            Cond::And(a, b) | Cond::Or(a, b) => {
                stack.push((a, d + 1));
                stack.push((b, d + 1));
            }
        }
    }
    deepest
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let base = 7;
    match Cond::parse(text, base) {
        Ok(c) => {
            assert!(depth(&c) <= MAX_DEPTH, "{text:?} is {} deep", depth(&c));
            for f in c.features() {
                let at = f.span.offset - base;
                assert_eq!(&text[at..at + f.span.len], f.value.as_str());
            }
            let shown = c.to_string();
            let again = Cond::parse(&shown, 0).unwrap_or_else(|e| panic!("{shown:?} (from {text:?}) does not parse: {e:?}"));
            assert_eq!(again, c, "{text:?} shown as {shown:?}");
            // The same meaning under a few assignments of the features.
            for bits in [0u64, u64::MAX, 0x5555_5555_5555_5555, 0x0123_4567_89ab_cdef] {
                let on = |name: &str| bits >> (name.len() % 64) & 1 == 1;
                assert_eq!(c.eval(&on), again.eval(&on));
            }
        }
        Err((span, message)) => {
            assert!(!message.is_empty());
            assert!(span.offset >= base && span.offset + span.len <= base + text.len(), "{span:?} outside {text:?}");
        }
    }
});
