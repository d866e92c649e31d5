//! Hostile input, in process: every bound of the loader is reached by a file
//! built to cross it, and the file is refused with a diagnostic at the place
//! where the bound is crossed (never a panic, a stack overflow, or memory in
//! proportion to what the file claims). The same cases run through the real
//! binary under a memory limit in `crates/cli/tests/hostile_inputs.rs`.

use std::collections::HashMap;
use std::io::Write;

use miette::SourceCode;
use portmatrix_model::cond::MAX_DEPTH as COND_MAX_DEPTH;
use portmatrix_model::load::{MAX_MESSAGE_CHARS, MAX_REPORTED};
use portmatrix_model::ports::ResolveError;
use portmatrix_model::source::{MAX_INPUT_BYTES, SNIPPET_CONTEXT_BYTES};
use portmatrix_model::yaml::{self, ALIAS_BYTES_MAX, MAX_DEPTH as YAML_MAX_DEPTH};
use portmatrix_model::{matrix_from_str, read_source, Cond, Diagnostic, Diagnostics, PortExpr, SourceFile, Span};
use proptest::prelude::*;

const HEAD: &str = "matrix: demo\ntitle: Demo\nversion: \"1.0\"\nfeatures:\n  chat: { default: false, about: chat }\n\
                    roles:\n  web: { title: Web }\n  app: { title: App }\n";

fn with_when(when: &str) -> String {
    format!("{HEAD}flows:\n  - id: f\n    from: web\n    to: app\n    proto: tcp\n    ports: 443\n    when: \"{when}\"\n    purpose: p\n    cite: c\n")
}

/// The diagnostics of a matrix that must not load.
fn errors(text: &str) -> Vec<Diagnostic> {
    match matrix_from_str("hostile.yaml", text) {
        Ok(m) => panic!("loaded as matrix `{}`", m.matrix.value),
        Err(d) => d,
    }
}

/// The only diagnostic with `code`.
fn only<'d>(diags: &'d [Diagnostic], code: &str) -> &'d Diagnostic {
    let found: Vec<&Diagnostic> = diags.iter().filter(|d| d.code == code).collect();
    assert_eq!(found.len(), 1, "expected one `{code}`: {:?}", diags.iter().map(Diagnostic::short).collect::<Vec<_>>());
    found[0]
}

fn pointed(d: &Diagnostic) -> &str {
    &d.file.text[d.span.offset..d.span.offset + d.span.len]
}

/// Byte offset of the `n`th (1-based) occurrence of `needle` in `text`.
fn nth(text: &str, needle: &str, n: usize) -> usize {
    text.match_indices(needle).nth(n - 1).unwrap_or_else(|| panic!("no {n}th {needle:?}")).0
}

// ---------------------------------------------------------------- conditions

#[test]
fn conditions_nested_20000_deep_are_refused_where_they_get_too_deep() {
    let n = 20_000;
    let cases = [
        ("(".repeat(n) + "chat" + &")".repeat(n), "(", COND_MAX_DEPTH + 1),
        ("!".repeat(n) + "chat", "!", COND_MAX_DEPTH + 1),
        // A chain of n operands is n levels deep: the `&&` that adds the
        // level past the bound is the MAX_DEPTHth.
        (vec!["chat"; n].join(" && "), "&&", COND_MAX_DEPTH),
    ];
    for (when, token, at) in cases {
        let text = with_when(&when);
        let diags = errors(&text);
        let d = only(&diags, "condition-too-deep");
        assert_eq!(d.span.offset, nth(&text, token, at), "{token}: {}", d.short());
        assert_eq!(pointed(d), token);
        assert!(d.help.as_deref().unwrap_or("").contains("adds a level"), "{:?}", d.help);
    }
}

#[test]
fn conditions_at_the_depth_limit_load_and_one_level_more_does_not() {
    let at_limit = [
        "(".repeat(COND_MAX_DEPTH) + "chat" + &")".repeat(COND_MAX_DEPTH),
        "!".repeat(COND_MAX_DEPTH - 1) + "chat",
        vec!["chat"; COND_MAX_DEPTH].join(" || "),
    ];
    let past = [
        "(".repeat(COND_MAX_DEPTH + 1) + "chat" + &")".repeat(COND_MAX_DEPTH + 1),
        "!".repeat(COND_MAX_DEPTH) + "chat",
        vec!["chat"; COND_MAX_DEPTH + 1].join(" || "),
    ];
    for when in at_limit {
        assert!(matrix_from_str("ok.yaml", &with_when(&when)).is_ok(), "{when} refused");
    }
    for when in past {
        let diags = errors(&with_when(&when));
        only(&diags, "condition-too-deep");
    }
}

/// Everything that walks a condition recurses: on the deepest conditions the
/// parser accepts, parsing, evaluation, display, comparison and drop fit in a
/// 256 KiB stack (a tokio worker has 2 MiB), and so does refusing one 20,000
/// levels deep.
#[test]
fn deepest_conditions_fit_a_small_stack() {
    let work = || {
        let deepest = [
            "(".repeat(COND_MAX_DEPTH) + "chat" + &")".repeat(COND_MAX_DEPTH),
            "!".repeat(COND_MAX_DEPTH - 1) + "chat",
            vec!["chat"; COND_MAX_DEPTH].join(" && "),
            // Alternating operators: every level is its own parenthesis.
            (0..COND_MAX_DEPTH / 2 - 1).fold("chat".to_string(), |inner, _| format!("!(chat || {inner})")),
        ];
        for text in deepest {
            let c = Cond::parse(&text, 0).unwrap_or_else(|e| panic!("{e:?}"));
            let shown = c.to_string();
            let again = Cond::parse(&shown, 0).expect("display parses back");
            assert_eq!(again, c.clone());
            for on in [false, true] {
                assert_eq!(c.eval(&|_| on), again.eval(&|_| on));
            }
            assert!(!c.features().is_empty());
        }
        let refused = Cond::parse(&("!".repeat(20_000) + "chat"), 0);
        assert!(refused.is_err());
    };
    std::thread::Builder::new().stack_size(256 * 1024).spawn(work).expect("thread").join().expect("no overflow, no panic");
}

// ---------------------------------------------------------------- YAML nesting

#[test]
fn flow_collections_nested_100000_deep_are_refused_by_the_parser() {
    let n = 100_000;
    for (open, close) in [("[", "]"), ("{a: ", "}")] {
        let text = format!("matrix: demo\nflows: {}x{}\n", open.repeat(n), close.repeat(n));
        let diags = errors(&text);
        let d = only(&diags, "yaml-syntax");
        assert!(d.message.contains("recursion limit"), "{}", d.short());
        assert_eq!(d.line_col().0, 2, "{}", d.short());
    }
}

/// The parser bounds block and flow nesting separately (255 each); the tree
/// bounds them together.
#[test]
fn block_and_flow_nesting_together_stop_at_the_tree_depth() {
    let blocks = 200;
    let mut text: String = (0..blocks).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
    text += &format!("{}v: {}x{}\n", " ".repeat(blocks), "[".repeat(100), "]".repeat(100));
    let diags = errors(&text);
    let d = only(&diags, "yaml-too-deep");
    // 201 mappings are open (the document and one per key), so the flow
    // list that opens level MAX_DEPTH + 1 is refused.
    let bracket = YAML_MAX_DEPTH + 1 - (blocks + 1);
    assert_eq!(d.span.offset, nth(&text, "[", bracket), "{}", d.short());
    assert_eq!(pointed(d), "[");
    assert_eq!(d.line_col(), (blocks + 1, blocks + "v: ".len() + bracket));
    assert!(d.help.as_deref().unwrap_or("").contains("starts on line 1"), "{:?}", d.help);
}

#[test]
fn an_alias_cannot_deepen_the_tree_past_the_limit() {
    let text = format!("a: &deep {}x{}\nb: {}*deep{}\n", "[".repeat(200), "]".repeat(200), "[".repeat(100), "]".repeat(100));
    let diags = errors(&text);
    let d = only(&diags, "yaml-too-deep");
    assert_eq!(pointed(d), "*deep");
    // The same alias at a shallow place is fine (the file then fails for
    // other reasons: it is no matrix).
    let shallow = format!("a: &deep {}x{}\nb: *deep\n", "[".repeat(200), "]".repeat(200));
    assert!(!errors(&shallow).iter().any(|d| d.code == "yaml-too-deep"));
}

// ---------------------------------------------------------------- aliases

#[test]
fn alias_expansion_is_charged_by_bytes() {
    // Copies of a million bytes (and one node each): with a 16 MiB budget
    // the 17th alias is refused. Few nodes: the node budget alone would
    // allow them.
    let first_refused = ALIAS_BYTES_MAX / 1_000_000 + 1;
    let text = format!("{HEAD}flows: []\nbig: &a \"{}\"\ncopies: [{}]\n", "x".repeat(1_000_000), vec!["*a"; first_refused + 3].join(", "));
    let diags = errors(&text);
    let d = only(&diags, "yaml-alias");
    assert!(d.message.contains("too much text"), "{}", d.short());
    assert_eq!(d.span.offset, nth(&text, "*a", first_refused), "{}", d.short());
}

/// The case: one 10 MB string aliased 5,000 times (50 GB if
/// expanded) is refused at the second alias.
#[test]
fn a_ten_megabyte_string_aliased_5000_times_is_refused() {
    let text = format!("{HEAD}flows: []\nbig: &a \"{}\"\ncopies: [{}]\n", "x".repeat(10_000_000), vec!["*a"; 5000].join(", "));
    let diags = errors(&text);
    let d = only(&diags, "yaml-alias");
    assert_eq!(d.span.offset, nth(&text, "*a", 2), "{}", d.short());
}

#[test]
fn alias_expansion_is_still_charged_by_nodes() {
    let list = vec!["1"; 60_000].join(",");
    let text = format!("{HEAD}flows: []\nbig: &a [{list}]\ncopies: [*a, *a]\n");
    let d = only(&errors(&text), "yaml-alias").clone();
    assert!(d.message.contains("too many values"), "{}", d.short());
    assert_eq!(d.span.offset, nth(&text, "*a", 2));
}

/// Every anchored value is kept for its aliases: nested anchors copy their
/// subtree once each, and those copies count against the node budget, so
/// 100 anchors nested around a 50,000-value list (5 million copied values)
/// are refused.
#[test]
fn nested_anchors_count_against_the_node_budget() {
    let list = vec!["1"; 50_000].join(",");
    let opens: String = (0..100).map(|i| format!("&a{i} [")).collect();
    let text = format!("x: {opens}[{list}]{}\n", "]".repeat(100));
    let d = only(&errors(&text), "yaml-too-large").clone();
    assert!(d.message.contains("more than"), "{}", d.short());
}

#[test]
fn unknown_anchor_is_located() {
    let text = format!("{HEAD}flows: *nowhere\n");
    let d = only(&errors(&text), "yaml-syntax").clone();
    assert!(d.message.contains("unknown anchor"), "{}", d.short());
    assert_eq!(d.span.offset, text.find("*nowhere").expect("alias"));
}

// ---------------------------------------------------------------- size

#[test]
fn text_over_the_input_cap_is_refused_before_parsing() {
    let text = format!("{HEAD}flows: []\n#{}", "x".repeat(MAX_INPUT_BYTES));
    let d = only(&errors(&text), "too-large").clone();
    assert_eq!(d.span, Span::default());
}

#[test]
fn files_over_the_input_cap_are_refused_without_reading_them_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let big = dir.path().join("big.yaml");
    // Sparse: the file claims 1 GiB, the loader reads 64 MiB and a byte.
    std::fs::File::create(&big).and_then(|f| f.set_len(1 << 30)).expect("sparse file");
    let d = read_source(&big).expect_err("refused");
    assert_eq!(d.code, "too-large");
    assert!(d.message.contains("big.yaml") && d.message.contains("64 MiB"), "{}", d.message);
    // At the cap exactly, the file is read (and then fails as YAML).
    let at_cap = dir.path().join("at-cap.yaml");
    std::fs::File::create(&at_cap).and_then(|f| f.set_len(MAX_INPUT_BYTES as u64)).expect("sparse file");
    let file = read_source(&at_cap).expect("read");
    assert_eq!(file.text.len(), MAX_INPUT_BYTES);
    // A device that never ends.
    if std::path::Path::new("/dev/zero").exists() {
        assert_eq!(read_source(std::path::Path::new("/dev/zero")).expect_err("refused").code, "too-large");
    }
}

#[test]
fn invalid_utf8_is_located_at_the_first_bad_byte() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("latin1.yaml");
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(b"matrix: demo\ntitle: Caf\xe9\n").expect("write");
    let d = read_source(&path).expect_err("refused");
    assert_eq!(d.code, "not-utf8");
    assert_eq!(d.line_col(), (2, 11));
    assert!(d.message.contains("0xe9"), "{}", d.message);
}

// ---------------------------------------------------------------- duplicate keys

fn parse_yaml(text: String) -> (Option<yaml::Owned>, Vec<Diagnostic>) {
    let file = SourceFile::new("keys.yaml", text);
    let mut diags = Diagnostics::default();
    let root = yaml::parse(&file, &mut diags).map(yaml::Node::into_owned);
    (root, diags.items)
}

#[test]
fn duplicate_keys_are_found_among_200000() {
    let n = 200_000;
    let mut text: String = (0..n).map(|i| format!("h{i}: {i}\n")).collect();
    text += "h123456: again\n";
    let (root, diags) = parse_yaml(text);
    assert!(root.is_some());
    assert_eq!(diags.len(), 1, "{:?}", diags.iter().map(Diagnostic::short).collect::<Vec<_>>());
    assert_eq!(diags[0].code, "duplicate-key");
    assert_eq!(diags[0].line_col(), (n + 1, 1));
    assert_eq!(diags[0].help.as_deref(), Some("the first is on line 123457; keep one"));
}

#[test]
fn every_duplicate_is_reported_once_and_keys_are_per_mapping() {
    let n = 10_000;
    // Each key twice; the same keys again in a nested mapping are no duplicates of the outer ones.
    let mut text: String = (0..n).flat_map(|i| [format!("k{i}: 1\n"), format!("k{i}: 2\n")]).collect();
    text += "inner: { k0: 1, k1: 2 }\n";
    let (_, diags) = parse_yaml(text);
    assert_eq!(diags.len(), n);
    assert!(diags.iter().all(|d| d.code == "duplicate-key"));
    assert_eq!(diags[7].line_col().0, 16);
    assert_eq!(diags[7].help.as_deref(), Some("the first is on line 15; keep one"));
}

#[test]
fn many_problems_are_cut_to_the_first_ones() {
    let hosts: String = (0..20_000).map(|i| format!("  h{i}: {{}}\n  h{i}: {{}}\n")).collect();
    let text = format!("{HEAD}flows: []\nextra:\n{hosts}");
    let diags = errors(&text);
    assert_eq!(diags.len(), MAX_REPORTED + 1);
    let last = diags.last().expect("not empty");
    assert_eq!(last.code, "too-many-problems");
    // 20,000 duplicates and the unknown key `extra`, less those shown.
    assert!(last.message.starts_with(&format!("{} more problems", 20_001 - MAX_REPORTED)), "{}", last.message);
}

// ---------------------------------------------------------------- texts in messages

#[test]
fn a_huge_key_is_clipped_in_messages() {
    let text = format!("{HEAD}flows: []\n? \"{}\"\n: 1\n", "k".repeat(10_000_000));
    let d = only(&errors(&text), "unknown-key").clone();
    assert!(d.message.chars().count() < MAX_MESSAGE_CHARS + 40, "{} chars", d.message.len());
    assert!(d.message.ends_with("more characters)"), "{}", &d.message[d.message.len() - 40..]);
}

#[test]
fn control_and_bidi_characters_never_reach_a_message_or_snippet_raw() {
    // `\e` is ESC in a double-quoted YAML string (a raw one is a syntax
    // error); the bidi override is written raw.
    let text = format!("{HEAD}flows: []\n\"evil\\e[2J\u{202e}key\": 1\n");
    let d = only(&errors(&text), "unknown-key").clone();
    assert!(d.message.contains("evil\\u{1b}[2J\\u{202e}key"), "{}", d.message);
    assert!(!d.message.contains('\u{1b}') && !d.message.contains('\u{202e}'));
    // The snippet holds the same bytes, hidden characters replaced.
    let snippet = d.read_span(&d.span.into(), 1, 1).expect("snippet");
    let shown = std::str::from_utf8(snippet.data()).expect("utf-8");
    assert!(shown.contains("evil\\e[2J???key"), "{shown:?}");
    assert_eq!(snippet.span().len(), snippet.data().len());
}

#[test]
fn nul_and_bidi_in_values_are_located_errors() {
    let nul = format!("{HEAD}flows: []\nabout: a\0b\n");
    let d = only(&errors(&nul), "yaml-syntax").clone();
    assert_eq!(d.span.offset, nul.find('\0').expect("nul"));
    let bidi = with_when("chat \u{202e}&& chat");
    let d = only(&errors(&bidi), "bad-condition").clone();
    assert_eq!(pointed(&d), "\u{202e}");
}

// ---------------------------------------------------------------- snippets

/// Texts of short lines, some characters multi-byte.
fn short_lines() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z é€:-]{1,30}", 1..12).prop_map(|lines| lines.join("\n") + "\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// On ordinary spans (inside one line, not at its end), snippets are
    /// what miette's own `str` source gives.
    #[test]
    fn snippets_equal_miettes_on_ordinary_spans(text in short_lines(), at in any::<prop::sample::Index>(), len in 1usize..6, ctx in 0usize..3) {
        let starts: Vec<usize> = text.char_indices().filter(|(_, c)| *c != '\n').map(|(i, _)| i).collect();
        let from = starts[at.index(starts.len())];
        let line_end = from + text[from..].find('\n').expect("lines end with newlines");
        let to = text[from..line_end].char_indices().map(|(i, c)| from + i + c.len_utf8()).take(len).last().expect("one character");
        let file = SourceFile::new("t.yaml", text.clone());
        let span: miette::SourceSpan = (from, to - from).into();
        let ours = file.read_span(&span, ctx, ctx).expect("ours");
        let theirs = text.as_str().read_span(&span, ctx, ctx).expect("theirs");
        prop_assert_eq!(ours.data(), theirs.data());
        prop_assert_eq!(ours.span(), theirs.span());
        prop_assert_eq!(ours.line(), theirs.line());
        prop_assert_eq!(ours.column(), theirs.column());
    }

    /// Line and column through the block index equal counting from the start.
    #[test]
    fn line_col_equals_counting(lines in prop::collection::vec("[a-zé€]{0,3000}", 1..8), at in any::<prop::sample::Index>()) {
        let text = lines.join("\n");
        let bounds: Vec<usize> = (0..=text.len()).filter(|i| text.is_char_boundary(*i)).collect();
        let offset = bounds[at.index(bounds.len())];
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before[before.rfind('\n').map_or(0, |i| i + 1)..].chars().count() + 1;
        prop_assert_eq!(SourceFile::new("t", text.clone()).line_col(offset), (line, col));
    }
}

#[test]
fn a_snippet_of_a_long_line_is_a_window_of_it() {
    let text = format!("matrix: demo\nx: {}: [\n", "a".repeat(5_000_000));
    let d = only(&errors(&text), "yaml-syntax").clone();
    let snippet = d.read_span(&d.span.into(), 1, 1).expect("snippet");
    assert!(snippet.data().len() <= 2 * SNIPPET_CONTEXT_BYTES + d.span.len + 8, "{} bytes", snippet.data().len());
    assert!(snippet.span().offset() + snippet.data().len() >= d.span.offset + d.span.len);
    // Rendered in full, as the CLI does (miette panics on columns past 65,535).
    let shown = format!("{:?}", miette::Report::new(d.clone()));
    assert!(shown.len() < 10_000, "{} bytes", shown.len());
}

// ---------------------------------------------------------------- port arithmetic

#[test]
fn a_huge_parameter_default_is_a_located_error() {
    let text = format!(
        "{HEAD}params:\n  zones: {{ default: 9223372036854775807, about: z }}\nflows:\n  - id: f\n    from: web\n    to: app\n    \
         proto: tcp\n    ports: 9995+zones\n    purpose: p\n    cite: c\n"
    );
    let diags = errors(&text);
    let d = only(&diags, "port-out-of-range");
    assert_eq!(pointed(d), "zones");
    assert!(d.message.contains("run past port 65535"), "{}", d.message);
}

/// What an expression should resolve to, in 128-bit arithmetic.
fn oracle(kind: u8, a: i64, b: i64) -> Option<(u16, u16)> {
    let port = |v: i128| u16::try_from(v).ok();
    let (a, b) = (i128::from(a), i128::from(b));
    match kind {
        0 => port(a).map(|p| (p, p)),
        1 => Some((port(a)?, port(b)?)).filter(|(lo, hi)| lo <= hi),
        _ => Some((port(a)?, port(a + b - 1)?)).filter(|_| b >= 1),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Any `i64` as parameter value: resolving never overflows (these tests
    /// run with overflow checks), and agrees with 128-bit arithmetic.
    #[test]
    fn port_expressions_take_any_parameter_value(
        kind in 0u8..3,
        a in prop_oneof![any::<i64>(), Just(i64::MAX), Just(i64::MIN), -2i64..70000],
        b in prop_oneof![any::<i64>(), Just(i64::MAX), Just(i64::MIN), -2i64..70000],
    ) {
        let text = ["a_val", "a_val-b_val", "a_val+b_val"][kind as usize];
        let expr = PortExpr::parse(text, Span::new(10, text.len())).expect("parses");
        let vals: HashMap<&str, i64> = [("a_val", a), ("b_val", b)].into();
        let got = expr.resolve(&|n| vals.get(n).copied());
        match (got, oracle(kind, a, b)) {
            (Ok(set), Some((lo, hi))) => {
                prop_assert_eq!(set.first(), Some(lo));
                prop_assert_eq!(set.len(), usize::from(hi - lo) + 1);
            }
            (Err(ResolveError::OutOfRange { span, .. }), None) => {
                // Located inside the expression.
                prop_assert!(span.offset >= 10 && span.offset + span.len <= 10 + text.len(), "{:?}", span);
                prop_assert!(span.len > 0);
            }
            (got, want) => prop_assert!(false, "{} with {}, {}: got {:?}, want {:?}", text, a, b, got, want),
        }
    }
}

// ---------------------------------------------------------------- the condition parser's oracle

/// A recursive-descent parser of the same grammar, with the same messages
/// and depth rules: the parser keeps its own stack instead of recursing, and
/// must read every token sequence exactly as this one does (same tree, or
/// same first error at the same place).
mod recursive {
    use portmatrix_model::cond::MAX_DEPTH;
    use portmatrix_model::{Cond, Span, Spanned};

    #[derive(Clone, PartialEq, Debug)]
    pub enum Tok {
        Name(String),
        Not,
        And,
        Or,
        Open,
        Close,
    }

    /// Tokens separated by single spaces, with their spans.
    pub fn tokens(text: &str) -> Vec<(Tok, Span)> {
        let mut at = 0;
        let mut out = Vec::new();
        for word in text.split(' ') {
            let tok = match word {
                "!" | "not" => Tok::Not,
                "&&" | "and" => Tok::And,
                "||" | "or" => Tok::Or,
                "(" => Tok::Open,
                ")" => Tok::Close,
                w => Tok::Name(w.to_string()),
            };
            if !word.is_empty() {
                out.push((tok, Span::new(at, word.len())));
            }
            at += word.len() + 1;
        }
        out
    }

    pub struct P {
        pub toks: Vec<(Tok, Span)>,
        pub pos: usize,
        pub end: usize,
        pub nesting: usize,
    }

    type R = Result<(Cond, usize), (Span, String)>;

    fn deeper(below: usize, span: Span) -> Result<usize, (Span, String)> {
        if below >= MAX_DEPTH {
            return Err((span, format!("the condition nests more than {MAX_DEPTH} levels deep here")));
        }
        Ok(below + 1)
    }

    impl P {
        fn peek(&self) -> Option<&Tok> {
            self.toks.get(self.pos).map(|t| &t.0)
        }
        pub fn or(&mut self) -> R {
            let (mut left, mut depth) = self.and()?;
            while self.peek() == Some(&Tok::Or) {
                let span = self.toks[self.pos].1;
                self.pos += 1;
                let (right, rd) = self.and()?;
                depth = deeper(depth.max(rd), span)?;
                left = Cond::Or(Box::new(left), Box::new(right));
            }
            Ok((left, depth))
        }
        fn and(&mut self) -> R {
            let (mut left, mut depth) = self.unary()?;
            while self.peek() == Some(&Tok::And) {
                let span = self.toks[self.pos].1;
                self.pos += 1;
                let (right, rd) = self.unary()?;
                depth = deeper(depth.max(rd), span)?;
                left = Cond::And(Box::new(left), Box::new(right));
            }
            Ok((left, depth))
        }
        fn unary(&mut self) -> R {
            let Some((tok, span)) = self.toks.get(self.pos).cloned() else {
                return Err((Span::new(self.end, 0), "the condition ends too early: a feature name is missing".into()));
            };
            self.pos += 1;
            match tok {
                Tok::Name(n) => Ok((Cond::Feature(Spanned::new(n, span)), 1)),
                Tok::Not => {
                    self.nesting = deeper(self.nesting, span)?;
                    let (c, d) = self.unary()?;
                    self.nesting -= 1;
                    Ok((Cond::Not(Box::new(c)), deeper(d, span)?))
                }
                Tok::Open => {
                    self.nesting = deeper(self.nesting, span)?;
                    let c = self.or()?;
                    self.nesting -= 1;
                    match self.toks.get(self.pos) {
                        Some((Tok::Close, _)) => {
                            self.pos += 1;
                            Ok(c)
                        }
                        _ => Err((span, "this parenthesis is never closed".into())),
                    }
                }
                _ => Err((span, "expected a feature name, `!` or `(` here".into())),
            }
        }
    }

    pub fn parse(text: &str) -> Result<Cond, (Span, String)> {
        let mut p = P { toks: tokens(text), pos: 0, end: text.len(), nesting: 0 };
        let (c, _) = p.or()?;
        if let Some((_, span)) = p.toks.get(p.pos) {
            return Err((*span, "unexpected text after the condition".into()));
        }
        Ok(c)
    }
}

/// A balanced expression over the leaves, fully parenthesised: many `!` and
/// `(` in sequence, few levels deep.
fn balanced(leaves: &[u8], op: usize) -> String {
    if let [leaf] = leaves {
        return ["a", "! a", "not ( b )", "! ! a"][usize::from(*leaf % 4)].to_string();
    }
    let (l, r) = leaves.split_at(leaves.len() / 2);
    format!("( {} {} {} )", balanced(l, op + 1), ["&&", "||", "and", "or"][op % 4], balanced(r, op + 1))
}

/// Token sequences: short ones of every kind, long ones heavy in `(`, `!`
/// and operators that reach the depth limit, and wide shallow ones.
fn token_text() -> impl Strategy<Value = String> {
    let any_token = prop::sample::select(vec!["a", "b", "!", "(", ")", "&&", "||", "not", "and", "or"]);
    let deep_token = prop::sample::select(vec!["(", "(", "!", "a", "&&", "||", ")"]);
    prop_oneof![
        prop::collection::vec(any_token, 0..30),
        prop::collection::vec(deep_token, 100..400),
        (1usize..300).prop_map(|n| vec!["a"; n].iter().enumerate().flat_map(|(i, a)| [*a, if i % 7 == 0 { "||" } else { "&&" }]).collect()),
    ]
    .prop_map(|toks: Vec<&str>| toks.join(" "))
    .boxed()
    .prop_union(prop::collection::vec(any::<u8>(), 1..400).prop_map(|leaves| balanced(&leaves, 0)).boxed())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn condition_parser_reads_like_recursive_descent(text in token_text()) {
        let want = recursive::parse(&text);
        match (Cond::parse(&text, 0), want) {
            (Ok(got), Ok(want)) => {
                prop_assert_eq!(got.to_string(), want.to_string());
                prop_assert_eq!(got, want);
            }
            (Err(got), Err(want)) => prop_assert_eq!(got, want),
            (got, want) => prop_assert!(false, "{:?}: got {:?}, want {:?}", text, got, want),
        }
    }
}

// ---------------------------------------------------------------- the committed corpus, in process

/// Every matrix of `tests/hostile/` (the binary runs them all in
/// `crates/cli/tests/hostile_inputs.rs`) fails to load with the diagnostic
/// its first lines announce, at the place they announce.
#[test]
fn committed_hostile_matrices_fail_where_announced() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/hostile") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            continue; // the corpus's README describes the header lines
        }
        let bytes = std::fs::read(&path).expect("readable");
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1000)]).into_owned();
        if !head.contains("# run: check") {
            continue;
        }
        let expect = head.lines().find_map(|l| l.strip_prefix("# expect: ")).expect("an expect line");
        let (code, at) = expect.split_once(' ').expect("code and place");
        let diags = match portmatrix_model::matrix_from_path(&path) {
            Ok(_) => panic!("{} loaded", path.display()),
            Err(d) => d,
        };
        let d = diags
            .iter()
            .find(|d| d.code == code)
            .unwrap_or_else(|| panic!("{}: no {code}: {:?}", path.display(), diags.iter().map(Diagnostic::short).collect::<Vec<_>>()));
        let (line, col) = d.line_col();
        assert_eq!(format!("{line}:{col}"), at, "{}: {}", path.display(), d.short());
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} matrices in {}", dir.display());
}
