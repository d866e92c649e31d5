//! The YAML fast path (`yaml_fast`) against its oracle, the granit path:
//! whenever the fast path returns a tree, granit must read the same text
//! without a diagnostic and build the same tree, spans included. Documents
//! come from a grammar of the subset (which the fast path must accept, so
//! that declining everything cannot pass), from mutations of them, and from
//! the YAML files of this repository.

use std::path::{Path, PathBuf};

use portmatrix_model::yaml::{self, Node, NodeKind};
use portmatrix_model::{Diagnostics, SourceFile};
use proptest::prelude::*;
use proptest::sample::select;

// ---------------------------------------------------------------- oracle

/// Where two trees first differ, as a path and both sides.
fn difference(fast: &Node, slow: &Node, path: &str) -> Option<String> {
    if fast.span != slow.span {
        return Some(format!("{path}: span {:?} (fast) vs {:?} (granit)", fast.span, slow.span));
    }
    match (&fast.kind, &slow.kind) {
        (NodeKind::Scalar { text: a, plain: pa }, NodeKind::Scalar { text: b, plain: pb }) => {
            (a != b || pa != pb).then(|| format!("{path}: scalar {a:?} plain={pa} (fast) vs {b:?} plain={pb} (granit)"))
        }
        (NodeKind::Seq(a), NodeKind::Seq(b)) => {
            if a.len() != b.len() {
                return Some(format!("{path}: {} items (fast) vs {} (granit)", a.len(), b.len()));
            }
            a.iter().zip(b).enumerate().find_map(|(i, (x, y))| difference(x, y, &format!("{path}[{i}]")))
        }
        (NodeKind::Map(a), NodeKind::Map(b)) => {
            if a.len() != b.len() {
                return Some(format!("{path}: {} entries (fast) vs {} (granit)", a.len(), b.len()));
            }
            a.iter().zip(b).enumerate().find_map(|(i, ((ka, va), (kb, vb)))| {
                difference(ka, kb, &format!("{path}.key{i}")).or_else(|| difference(va, vb, &format!("{path}.value{i}")))
            })
        }
        _ => Some(format!("{path}: {} (fast) vs {} (granit)", fast.describe(), slow.describe())),
    }
}

/// Checks the fast path on `text` against granit; whether it accepted.
fn agrees(text: &str) -> bool {
    let Some(fast) = yaml::parse_fast(text) else {
        return false;
    };
    let file = SourceFile::new("t.yaml", text);
    let mut diags = Diagnostics::default();
    let slow = yaml::parse_slow(&file, &mut diags);
    let found: Vec<String> = diags.items.iter().map(|d| d.short()).collect();
    assert!(found.is_empty(), "the fast path accepted a text granit reports ({found:?}):\n{text:?}");
    let slow = slow.unwrap_or_else(|| panic!("granit read nothing from a text the fast path accepted:\n{text:?}"));
    if let Some(diff) = difference(&fast, &slow, "root") {
        panic!("the trees differ at {diff}\ntext: {text:?}");
    }
    // What `parse` gives, fast path first, is the same tree.
    let via_parse = yaml::parse(&file, &mut Diagnostics::default());
    assert!(via_parse.as_ref() == Some(&fast), "yaml::parse differs from the fast path:\n{text:?}");
    true
}

// ---------------------------------------------------------------- grammar

/// A value of the subset, before layout.
#[derive(Debug, Clone)]
enum Val {
    Plain(String),
    Single(String),
    Double(String),
    Empty,
    /// Paragraphs of lines.
    Folded(Vec<Vec<String>>),
    Seq(Vec<Val>),
    Map(Vec<(Val, Val)>),
}

/// Characters of plain scalars, flow indicators and `:` and `#` included
/// (made safe by `plain_fix`).
const PLAIN_CHARS: &[char] = &[
    'a', 'b', 'k', 'Z', '0', '7', '.', '_', '/', '(', ')', '@', '+', '=', '~', '-', ':', '#', ',', '[', ']', '{', '}', '\'', '"', '!', '&',
    '*', '|', '>', '?', '%', '`', ' ', 'é', '€', '中', '😀', '\u{a0}', '\u{200b}',
];
/// Characters of quoted scalars, comments and folded lines.
const ANY_CHARS: &[char] = &[
    'a', 'q', 'Z', '1', ' ', ' ', ':', '#', '-', '{', '}', '[', ']', ',', '\'', '"', '\\', '&', '*', '!', '|', '>', '?', '%', '@', '`',
    '~', 'é', '中', '😀', '\u{a0}', '\u{2060}',
];
const FIRST_CHARS: &[char] = &['a', 'h', 'Z', 'x', '1', '9', 'é', '中', '😀', '_', '.', '/', '(', '~'];

/// A plain scalar made valid in block context: no `: `, no ` #`, no `:`
/// at the end, no trailing space, no leading `..`.
fn plain_fix(first: char, mut rest: Vec<char>) -> String {
    while rest.last().is_some_and(|c| matches!(c, ' ' | '\u{a0}')) {
        rest.pop();
    }
    // `...` in column 0 ends a document: the fast path declines it.
    if first == '.' && rest.first() == Some(&'.') {
        rest[0] = 'x';
    }
    let mut out: Vec<char> = vec![first];
    for (i, c) in rest.iter().enumerate() {
        let next = rest.get(i + 1).copied();
        let c = match *c {
            ':' if matches!(next, None | Some(' ')) => ';',
            '#' if out.last() == Some(&' ') => '+',
            c => c,
        };
        out.push(c);
    }
    out.into_iter().collect()
}

fn plain() -> impl Strategy<Value = String> {
    (select(FIRST_CHARS), prop::collection::vec(select(PLAIN_CHARS), 0..14)).prop_map(|(f, r)| plain_fix(f, r))
}

fn any_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(select(ANY_CHARS), 0..max).prop_map(|v| v.into_iter().collect())
}

/// A folded line: no leading or trailing space.
fn folded_line() -> impl Strategy<Value = String> {
    (select(FIRST_CHARS), any_text(20)).prop_map(|(f, r)| format!("{f}{r}").trim_end().to_string())
}

fn scalar() -> impl Strategy<Value = Val> {
    prop_oneof![
        6 => plain().prop_map(Val::Plain),
        1 => any_text(12).prop_map(Val::Single),
        1 => any_text(12).prop_map(Val::Double),
    ]
}

fn leaf() -> impl Strategy<Value = Val> {
    prop_oneof![
        8 => scalar(),
        1 => Just(Val::Empty),
        1 => prop::collection::vec(prop::collection::vec(folded_line(), 1..4), 1..3).prop_map(Val::Folded),
    ]
}

/// The text a key stands for, to keep keys unique.
fn key_text(v: &Val) -> &str {
    match v {
        Val::Plain(t) | Val::Single(t) | Val::Double(t) => t,
        _ => "",
    }
}

fn value() -> impl Strategy<Value = Val> {
    leaf().prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Val::Seq),
            prop::collection::vec((scalar(), inner), 0..5).prop_map(|entries| {
                let mut seen = std::collections::HashSet::new();
                Val::Map(entries.into_iter().filter(|(k, _)| seen.insert(key_text(k).to_string())).collect())
            }),
        ]
    })
}

fn document() -> impl Strategy<Value = Val> {
    value().prop_filter("a document is a non-empty block collection", |v| match v {
        Val::Seq(items) => !items.is_empty(),
        Val::Map(entries) => !entries.is_empty(),
        _ => false,
    })
}

// ---------------------------------------------------------------- layout

/// Lays a `Val` out as YAML text, every choice taken from `dice`.
struct Writer<'d> {
    out: String,
    dice: &'d [u8],
    next: usize,
    /// The content indentation of a folded scalar just written: comment
    /// lines must stay left of it, and blank lines be empty.
    after_folded: Option<usize>,
}

impl Writer<'_> {
    fn roll(&mut self, n: usize) -> usize {
        let d = self.dice.get(self.next % self.dice.len().max(1)).copied().unwrap_or(0);
        self.next += 1;
        usize::from(d) % n.max(1)
    }

    fn spaces(&mut self, n: usize) {
        self.out.extend(std::iter::repeat_n(' ', n));
    }

    /// Maybe blank and comment lines before a line indented by `indent`.
    fn gap(&mut self, indent: usize) {
        for _ in 0..self.roll(6).saturating_sub(3) {
            match self.roll(4) {
                0 => self.out.push('\n'),
                1 if self.after_folded.is_none() => {
                    let n = self.roll(5);
                    self.spaces(n);
                    self.out.push('\n');
                }
                _ => {
                    let cap = self.after_folded.map_or(indent + 3, |m| m - 1);
                    let n = self.roll(cap + 1);
                    self.spaces(n);
                    self.out.push('#');
                    self.comment_text();
                    self.out.push('\n');
                }
            }
        }
    }

    fn comment_text(&mut self) {
        let len = self.roll(12);
        for _ in 0..len {
            let c = ANY_CHARS[self.roll(ANY_CHARS.len())];
            self.out.push(c);
        }
    }

    /// The end of a line that holds a value: maybe spaces and a comment.
    fn eol(&mut self) {
        match self.roll(6) {
            0 => self.out.push_str("  "),
            1 => {
                self.out.push_str(" #");
                self.comment_text();
            }
            2 => {
                self.out.push_str("   # ");
                self.comment_text();
            }
            _ => {}
        }
        self.out.push('\n');
        self.after_folded = None;
    }

    fn scalar(&mut self, v: &Val, flow: bool) {
        match v {
            Val::Plain(t) if !flow || !t.contains([',', '[', ']', '{', '}']) => self.out.push_str(t),
            Val::Plain(t) | Val::Single(t) => {
                self.out.push('\'');
                self.out.push_str(&t.replace('\'', "''"));
                self.out.push('\'');
            }
            Val::Double(t) => {
                self.out.push('"');
                self.out.push_str(&t.replace('\\', "\\\\").replace('"', "\\\""));
                self.out.push('"');
            }
            _ => unreachable!("not a scalar"),
        }
    }

    fn flowable(v: &Val) -> bool {
        match v {
            Val::Plain(_) | Val::Single(_) | Val::Double(_) => true,
            Val::Empty | Val::Folded(_) => false,
            Val::Seq(items) => items.iter().all(Self::flowable),
            Val::Map(entries) => entries.iter().all(|(_, v)| Self::flowable(v)),
        }
    }

    fn flow(&mut self, v: &Val) {
        let (open, close, n) = match v {
            Val::Seq(items) => ('[', ']', items.len()),
            Val::Map(entries) => ('{', '}', entries.len()),
            _ => return self.scalar(v, true),
        };
        let pad = self.roll(3) == 0;
        self.out.push(open);
        for i in 0..n {
            if i > 0 {
                let sep = [", ", ",", " ,  "][self.roll(3)];
                self.out.push_str(sep);
            } else if pad {
                self.out.push(' ');
            }
            match v {
                Val::Seq(items) => self.flow(&items[i]),
                Val::Map(entries) => {
                    self.scalar(&entries[i].0, true);
                    let colon = [": ", ": ", " :  "][self.roll(3)];
                    self.out.push_str(colon);
                    self.flow(&entries[i].1);
                }
                _ => {}
            }
        }
        if pad && n > 0 {
            self.out.push(' ');
        }
        self.out.push(close);
    }

    /// A folded scalar after its `>`: lines indented by `indent`.
    fn folded(&mut self, paragraphs: &[Vec<String>], indent: usize) {
        if self.roll(3) == 0 {
            self.out.push_str("  # about");
        }
        self.out.push('\n');
        for (p, lines) in paragraphs.iter().enumerate() {
            if p > 0 {
                for _ in 0..=self.roll(2) {
                    self.out.push('\n');
                }
            }
            for line in lines {
                self.spaces(indent);
                self.out.push_str(line);
                self.out.push('\n');
            }
        }
        for _ in 0..self.roll(3) {
            self.out.push('\n');
        }
        self.after_folded = Some(indent);
    }

    /// What follows a key's `:` or an entry's `-` in column `col`; a
    /// sequence may stand at `col` itself under a key (`indentless`).
    fn after_indicator(&mut self, v: &Val, col: usize, indentless: bool) {
        match v {
            Val::Empty => self.eol(),
            Val::Folded(paragraphs) => {
                self.out.push_str(" >");
                let indent = col + 1 + self.roll(3);
                self.folded(paragraphs, indent);
            }
            Val::Seq(items) if items.is_empty() => self.flow_line(v),
            Val::Map(entries) if entries.is_empty() => self.flow_line(v),
            Val::Seq(_) | Val::Map(_) if Self::flowable(v) && self.roll(3) == 0 => self.flow_line(v),
            Val::Seq(items) => {
                let shift = if indentless { [0, 0, 2, 4][self.roll(4)] } else { 1 + self.roll(3) };
                self.below(|w| w.seq(items, col + shift, false));
            }
            Val::Map(entries) => {
                let shift = 1 + self.roll(4);
                self.below(|w| w.map(entries, col + shift, false));
            }
            _ => {
                self.out.push(' ');
                self.scalar(v, false);
                self.eol();
            }
        }
    }

    fn flow_line(&mut self, v: &Val) {
        self.out.push(' ');
        self.flow(v);
        self.eol();
    }

    /// A collection on the lines below, maybe after a comment.
    fn below(&mut self, body: impl FnOnce(&mut Self)) {
        if self.roll(4) == 0 {
            self.out.push_str(" # below");
        }
        self.out.push('\n');
        self.after_folded = None;
        body(self);
    }

    /// Entries in column `col`; the first continues the current line when `inline`.
    fn map(&mut self, entries: &[(Val, Val)], col: usize, inline: bool) {
        for (i, (k, v)) in entries.iter().enumerate() {
            if i > 0 || !inline {
                self.gap(col);
                self.spaces(col);
            }
            self.scalar(k, false);
            if self.roll(8) == 0 {
                self.out.push(' ');
            }
            self.out.push(':');
            self.after_indicator(v, col, true);
        }
    }

    fn seq(&mut self, items: &[Val], col: usize, inline: bool) {
        for (i, v) in items.iter().enumerate() {
            if i > 0 || !inline {
                self.gap(col);
                self.spaces(col);
            }
            self.out.push('-');
            let compact = self.roll(3) > 0;
            match v {
                Val::Seq(inner) if compact && !inner.is_empty() && !Self::flowable(v) => {
                    let s = 1 + self.roll(2);
                    self.spaces(s);
                    self.seq(inner, col + 1 + s, true);
                }
                Val::Map(inner) if compact && !inner.is_empty() => {
                    let s = 1 + self.roll(2);
                    self.spaces(s);
                    self.map(inner, col + 1 + s, true);
                }
                _ => self.after_indicator(v, col, false),
            }
        }
    }
}

fn layout(doc: &Val, dice: &[u8]) -> String {
    let mut w = Writer { out: String::new(), dice, next: 0, after_folded: None };
    let col = [0, 0, 0, 0, 1, 2][w.roll(6)];
    w.gap(col);
    w.spaces(col);
    match doc {
        Val::Map(entries) => w.map(entries, col, true),
        Val::Seq(items) => w.seq(items, col, true),
        _ => unreachable!("documents are collections"),
    }
    w.gap(col);
    if w.after_folded.is_none() && w.roll(4) == 0 {
        w.out.pop();
    }
    w.out
}

// ---------------------------------------------------------------- mutations

const MUTANT_CHARS: &[char] = &[
    ':', '#', '-', '{', '}', '[', ']', ',', '\'', '"', ' ', '\t', '\n', '&', '*', '!', '|', '>', '?', '%', 'a', 'Z', '0', '.', '\\', '~',
    '\r', 'é', '\u{feff}', '\u{85}', '\u{a0}',
];

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, char),
    Delete(usize),
    Replace(usize, char),
    Indent(usize),
    Dedent(usize),
    DuplicateLine(usize),
    DeleteLine(usize),
    SwapLines(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        3 => (at, select(MUTANT_CHARS)).prop_map(|(i, c)| Mutation::Insert(i, c)),
        2 => at.prop_map(Mutation::Delete),
        3 => (at, select(MUTANT_CHARS)).prop_map(|(i, c)| Mutation::Replace(i, c)),
        1 => at.prop_map(Mutation::Indent),
        1 => at.prop_map(Mutation::Dedent),
        1 => at.prop_map(Mutation::DuplicateLine),
        1 => at.prop_map(Mutation::DeleteLine),
        1 => at.prop_map(Mutation::SwapLines),
    ]
}

fn mutate(text: &str, m: &Mutation) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let n = lines.len();
    match *m {
        Mutation::Insert(i, c) => chars.insert(i % (chars.len() + 1), c),
        Mutation::Delete(i) if !chars.is_empty() => {
            chars.remove(i % chars.len());
        }
        Mutation::Replace(i, c) if !chars.is_empty() => {
            let at = i % chars.len();
            chars[at] = c;
        }
        Mutation::Indent(i) => lines[i % n].insert(0, ' '),
        Mutation::Dedent(i) if lines[i % n].starts_with(' ') => {
            lines[i % n].remove(0);
        }
        Mutation::DuplicateLine(i) => {
            let line = lines[i % n].clone();
            lines.insert(i % n, line);
        }
        Mutation::DeleteLine(i) => {
            lines.remove(i % n);
        }
        Mutation::SwapLines(i) if n > 1 => lines.swap(i % (n - 1), i % (n - 1) + 1),
        _ => {}
    }
    match m {
        Mutation::Insert(..) | Mutation::Delete(_) | Mutation::Replace(..) => chars.into_iter().collect(),
        _ => lines.join("\n"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    /// Every document of the grammar is accepted, with granit's tree; so
    /// is every mutant the fast path accepts.
    #[test]
    fn fast_path_agrees_with_granit(
        doc in document(),
        dice in prop::collection::vec(any::<u8>(), 32..128),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let text = layout(&doc, &dice);
        prop_assert!(agrees(&text), "the fast path declined a document of its grammar:\n{text}");
        let mut mutant = text;
        for m in &mutations {
            mutant = mutate(&mutant, m);
            agrees(&mutant);
        }
    }

    /// Short texts from YAML's punctuation: never a panic, never a tree
    /// granit would not build.
    #[test]
    fn fast_path_agrees_on_punctuation(chars in prop::collection::vec(select(MUTANT_CHARS), 0..40)) {
        let text: String = chars.into_iter().collect();
        agrees(&text);
        agrees(&format!("a: {text}\n"));
        agrees(&format!("- {text}\n- b\n"));
    }
}

// ---------------------------------------------------------------- cases

/// Texts at the edges of the subset, each read by the fast path with
/// granit's tree.
#[test]
fn accepted_cases_agree() {
    let cases = [
        "a: 1",
        "a: 1\n",
        "k:",
        "k :\n",
        "k:   # c\nz: 1",
        "a:\n- x\n- y\nb: 2\n",
        "a:\n  - x\n  - y\n\n# c\n",
        "a:\n-\n- b\n-   \n",
        "- # c\n- b",
        "- - a\n  - b\n- c",
        "-\n  a: 1\n  b: 2\n",
        "- a: 1\n  b: 2\n- c",
        "a:\n  b:\n  c:\n",
        "a: # c\n  b: 1 # c2\n",
        "a: 1\n  ",
        "a: 1\n# c",
        "a: >\n  one\n  two\n\n  three\n\n\nb: 1",
        "a: >  # hi\n  one\n# c\nb: >\n  x\n",
        "a:\n  - >\n   x\n   y\n  - z",
        "a:\n- >\n x\n",
        "a: { b: 1, c: [x, \"y\"] }",
        "k: { }\nj: [a,b]\nl: -1\nm: a]b, c{d}\nn: http://x:80 :y   \n",
        "a: 'it''s' # c\nb: \"q\\\"x\\\\\"\n",
        "  a: 1\n  b: [fe80::1, 10.0.0.1:80]\n",
        "a: x#y\n\"b\": 2\n'c' : 3\n",
        "a:\n  - b: 1\n    c: 2\n  - d\n",
        "a:\n- b:\n  - c\n  d: 1\ne: 2\n",
    ];
    for text in cases {
        assert!(agrees(text), "declined: {text:?}");
    }
}

/// Texts outside the subset or not valid YAML: declined.
#[test]
fn declined_cases() {
    let cases = [
        "",
        "# only a comment\n",
        "a: 1\na: 2\n",
        "a: {b: 1, b: 2}\n",
        "a: &x 1\nb: *x\n",
        "a: !tag 1\n",
        "%YAML 1.2\n---\na: 1\n",
        "---\na: 1\n",
        "a: 1\n...\n",
        "a: |\n  x\n",
        "a: >-\n  x\n",
        "a: >\n  x\n    y\n",
        "a: b\n  c\n",
        "a: 'b\n  c'\n",
        "? a\n: b\n",
        "a:\t1\n",
        "a: 1\r\n",
        "\u{feff}a: 1\n",
        "a: b: c\n",
        "a: - b\n",
        "a: [b,\n  c]\n",
        "a: [b, ]\n",
        "a: \"\\n\"\n",
        "a: 1\n b: 2\n",
        "- a\nb: 1\n",
        "scalar\n",
        "[a, b]\n",
        "a: >\n  x",
        "a: [b: c]\n",
        "a: {b}\n",
    ];
    for text in cases {
        assert!(yaml::parse_fast(text).is_none(), "accepted: {text:?}");
    }
    let deep = format!("{}x{}", "[".repeat(100), "]".repeat(100));
    assert!(yaml::parse_fast(&format!("a: {deep}\n")).is_none());
}

/// Large and hostile inputs stay linear: many keys (duplicates found by
/// hash), deep nesting declined early, one very long line.
#[test]
fn large_inputs() {
    let many: String = (0..50_000).map(|i| format!("host-{i}: {{ a: [x{i}] }}\n")).collect();
    assert!(yaml::parse_fast(&many).is_some());
    assert!(yaml::parse_fast(&format!("{many}host-7: 1\n")).is_none());
    let deep = "- ".repeat(200_000) + "x\n";
    assert!(yaml::parse_fast(&deep).is_none());
    let long = format!("a: {}\n", "x".repeat(2_000_000));
    assert!(yaml::parse_fast(&long).is_some());
}

// ---------------------------------------------------------------- repository

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The repository's YAML files: `git ls-files`, or a walk of its
/// directories when git is not there.
fn repository_yaml() -> Vec<PathBuf> {
    let root = repository_root();
    let listed = std::process::Command::new("git").args(["ls-files", "*.yaml", "*.yml"]).current_dir(&root).output();
    if let Some(out) = listed.ok().filter(|o| o.status.success()) {
        return String::from_utf8_lossy(&out.stdout).lines().map(|l| root.join(l)).collect();
    }
    let mut found = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if path.is_dir() && !name.starts_with('.') && !name.starts_with("target") && name != "fuzz" {
                stack.push(path);
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                found.push(path);
            }
        }
    }
    found
}

/// Every YAML file of the repository: where the fast path accepts, granit
/// agrees; the catalog and the example inventories are all accepted.
#[test]
fn repository_files_agree() {
    let root = repository_root();
    let files = repository_yaml();
    assert!(files.len() > 20, "found only {} YAML files", files.len());
    let (mut accepted, mut declined, mut not_text) = (0, Vec::new(), Vec::new());
    for path in &files {
        let rel = path.strip_prefix(&root).unwrap_or(path).to_string_lossy().to_string();
        // A file that is not UTF-8 is refused before it is parsed.
        let Ok(text) = std::fs::read_to_string(path) else {
            not_text.push(rel);
            continue;
        };
        if agrees(&text) {
            accepted += 1;
        } else {
            declined.push(rel);
        }
    }
    println!("fast path: {accepted} of {} repository YAML files accepted; not UTF-8: {not_text:?}; declined:", files.len());
    for rel in &declined {
        println!("  {rel}");
    }
    let must: Vec<&String> = declined.iter().filter(|r| r.starts_with("catalog/") || r.starts_with("examples/")).collect();
    assert!(must.is_empty(), "catalog or example files declined: {must:?}");
}

/// The files a reader opens to learn the format are real matrices and
/// inventories: their trees must be the fast path's.
#[test]
fn catalog_is_read_by_the_fast_path() {
    let root = repository_root();
    let mut n = 0;
    for dir in ["catalog", "examples"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("directory").flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).expect("readable");
                assert!(agrees(&text), "{} declined", path.display());
                n += 1;
            }
        }
    }
    assert!(n >= 10, "only {n} files");
}

/// Texts near the subset's edges, accepted or not: where the fast path
/// accepts, granit agrees.
#[test]
fn edge_cases_agree() {
    let cases = [
        "a: b\u{a0}\n",
        "a: \u{a0}b\n",
        "a\u{a0}: b\n",
        "a: [b\u{a0}]\n",
        "a: b \u{a0}\n",
        "a: \u{200b}\n",
        "a: [a:b]\n",
        "a: {a:b: c}\n",
        "a: {a:b}\n",
        "a: [a:]\n",
        "a: [:a]\n",
        "a: [-a]\n",
        "a: [-1, -.5]\n",
        "a: {x: -1}\n",
        "a: --x\n",
        "a: [--all, -i, -.5]\n",
        "a: ---x\n",
        "a: --\n",
        "- --\n",
        "--a: 1\n",
        "---a: 1\n",
        "a: -\n",
        "a: --\n",
        "a: -x\n",
        "-a: 1\n",
        "- -a\n",
        "a: x:\n",
        "a: [fe80::]\n",
        "a: [a#b]\n",
        "a: [a #b]\n",
        "a: {b: c #d}\n",
        "a: [ ]\n",
        "a: [  a  ]\n",
        "a: {  b  :  c  }\n",
        "a: 'b'#c\n",
        "a: 'b' #c\n",
        "a: \"b\"c\n",
        "\"a\":b\n",
        "'a':\n",
        "\"a\" :\n  - x\n",
        "a:\n - b\n -  c\n",
        "a:\n  - b\n - c\n",
        "- a\n  - b\n",
        "- a:\n  b: 1\n",
        "-  a: 1\n   b: 2\n",
        "a: >\n  # x\n",
        "a: >\n  - x\n  y\n",
        "a: >\n x\nb: 1\n",
        "- >\n x\n",
        "- a: >\n   x\n",
        "- a: >\n  x\n",
        "a:\n  - >\n  x\n",
        "a: >\n  x\n  # c\n",
        "a: >\n    x\n  # c\nb: 1\n",
        "a: >\n    x\n # c\nb: 1\n",
        "a: >\n  x\n\n",
        "a: >\n  x\n\n\n  y\n",
        "a: > \n  x\n",
        "a: >\n  x\n \n",
        "a: >#c\n  x\n",
        "a: 1 #c\n#d\n  #e\nb: 2\n",
        "a:\n\n\n  b: 1\n",
        "a:\n  # c\n  b: 1\n",
        "a:\n# c\n  b: 1\n",
        "a: ~\n",
        "a: null\n",
        "~: 1\n",
        "a: 'x''y'''\n",
        "a: ''\n",
        "a: \"\"\n",
        "'': 1\n",
        "a: \"\\\\\"\n",
        "a: [[]]\n",
        "a: [{}]\n",
        "a: {b: []}\n",
        "a: [[a, b], [c]]\n",
        "a: {b: {c: d}}\n",
        "a: 1\n---\n",
        "a: 1\n--- \n",
        "a: 1\n...\n",
        "a: ...\n",
        "a: ---\n",
        "- ...\n",
        "- ---\n",
        "a: b]\n",
        "a: b}\n",
        "a: b,\n",
        "a: [b]c\n",
        "a: [b] c\n",
        "a: [b] #c\n",
        "a: {b: c}d\n",
        "a: @b\n",
        "a: `b\n",
        "a: %b\n",
        "a: b%\n",
        "a: b@\n",
        "a: |b\n",
        "a: >b\n",
        "a: b|\n",
        "a:\n- b\n  - c\n",
        "a:\n- b:\n  c: 1\n",
        "a:\n-\n  b: 1\n",
        "a:\n- - b\n  - c\n- d\n",
        "- a\n-\n- b\n",
        "-\n-\n",
        "- \n",
        "-",
        "a:",
        "a: ",
        "a:\n",
        "a: b\n\n\n",
        " a: b\n c: d\n",
        "a: 1\n b: 2\n",
        "  a: 1\nb: 2\n",
        "a: b\n  # c\n",
        "a: b\n    \n",
        "a:\n  b: 1\n    \n  c: 2\n",
    ];
    let accepted = cases.iter().filter(|t| agrees(t)).count();
    assert!(accepted > cases.len() / 2, "only {accepted} of {} accepted", cases.len());
}
