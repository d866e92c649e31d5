//! Hostile inputs through the real binary, each in a process of its own
//! limited to 1 GiB of address space (`ulimit -v`) and a time limit: every
//! case must end with its exit code (2: unusable input) and a located
//! diagnostic with the expected code, never a signal (a crash, an abort on
//! allocation failure, a stack overflow), a hang, an output of megabytes, or
//! a control or bidi character printed raw.
//!
//! The small cases are files under `crates/model/tests/hostile/` (their
//! first lines say how to run them and what to expect); the big ones are
//! written here, at test time, into a temporary directory.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use portmatrix_model::yaml::MAX_NODES;

/// The memory limit of every run: 1 GiB of address space.
const MEMORY_LIMIT_KIB: u64 = 1 << 20;
/// Long enough for the largest case in a debug build on a loaded 2-core
/// machine; a hang ends here.
const TIME_LIMIT: Duration = Duration::from_secs(300);
/// Diagnostics quote windows of the input, never the input.
const OUTPUT_LIMIT: usize = 1 << 20;

/// How a case is run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Run {
    /// `portmatrix check FILE`
    Check,
    /// `portmatrix plan -i FILE`
    Plan,
}

struct Case {
    name: String,
    run: Run,
    path: PathBuf,
    /// The diagnostic code that must be printed.
    code: String,
    /// Where the first diagnostic with that code must point, when known:
    /// the printed file name ends with `file_suffix`.
    at: Option<(usize, usize)>,
    file_suffix: String,
    exit: i32,
}

impl Case {
    fn new(name: &str, run: Run, path: PathBuf, code: &str, at: Option<(usize, usize)>) -> Self {
        let file_suffix = path.file_name().expect("a file").to_string_lossy().into_owned();
        Self { name: name.into(), run, path, code: code.into(), at, file_suffix, exit: 2 }
    }
}

struct Outcome {
    status: ExitStatus,
    output: Vec<u8>,
    elapsed: Duration,
}

/// Runs the binary on the case under the memory and time limits.
fn run_limited(case: &Case, scratch: &Path) -> Outcome {
    let mut args: Vec<OsString> = match case.run {
        Run::Check => vec!["check".into()],
        Run::Plan => vec!["plan".into(), "-i".into()],
    };
    args.push(case.path.clone().into());
    let out_path = scratch.join(format!("{}.out", case.name));
    let out = File::create(&out_path).expect("output file");
    let err = out.try_clone().expect("output file");
    let started = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_LIMIT_KIB} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_portmatrix"))
        .args(&args)
        .env("NO_COLOR", "1")
        .env_remove("COLUMNS")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("sh runs");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{}: no answer after {TIME_LIMIT:?} (a hang)", case.name);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = std::fs::read(&out_path).expect("output read back");
    Outcome { status, output, elapsed: started.elapsed() }
}

/// Characters that must never be printed raw (they come from the input).
fn hidden_character(text: &str) -> Option<char> {
    text.chars().find(|c| {
        (c.is_control() && !matches!(c, '\n' | '\t'))
            || matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
    })
}

/// Runs a case and checks everything the module promises.
fn check_case(case: &Case) {
    let scratch = tempfile::tempdir().expect("scratch dir");
    let o = run_limited(case, scratch.path());
    let text = String::from_utf8_lossy(&o.output);
    let head: String = text.chars().take(3000).collect();
    if let Some(signal) = o.status.signal() {
        panic!("{}: killed by signal {signal} after {:?}\n{head}", case.name, o.elapsed);
    }
    assert_eq!(o.status.code(), Some(case.exit), "{}: exit status after {:?}\n{head}", case.name, o.elapsed);
    assert!(o.output.len() <= OUTPUT_LIMIT, "{}: {} bytes of output\n{head}", case.name, o.output.len());
    if let Some(c) = hidden_character(&text) {
        panic!("{}: printed {:?} raw\n{head}", case.name, c);
    }
    // The CLI prints each diagnostic as `FILE:LINE:COL`, then its code on a
    // line of its own.
    let lines: Vec<&str> = text.lines().collect();
    let located = lines.windows(2).find(|w| w[1] == case.code).map(|w| w[0]);
    let Some(location) = located else {
        panic!("{}: no `{}` diagnostic\n{head}", case.name, case.code);
    };
    let mut parts = location.rsplitn(3, ':');
    let col: usize = parts.next().and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("{}: {location:?} has no column", case.name));
    let line: usize = parts.next().and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("{}: {location:?} has no line", case.name));
    let file = parts.next().unwrap_or("");
    assert!(file.ends_with(&case.file_suffix), "{}: diagnostic in {file}, expected {}", case.name, case.file_suffix);
    if let Some(at) = case.at {
        assert_eq!((line, col), at, "{}: `{}` at {location}\n{head}", case.name, case.code);
    }
}

// ---------------------------------------------------------------- the committed corpus

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/hostile")
}

/// A committed case: `# run: check|plan` and `# expect: CODE LINE:COL` in
/// its first lines.
fn committed_case(path: &Path) -> Case {
    let bytes = std::fs::read(path).expect("readable");
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1000)]).into_owned();
    let field = |key: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
            .unwrap_or_else(|| panic!("{}: no `# {key}:` line", path.display()))
            .to_string()
    };
    let run = match field("run").as_str() {
        "check" => Run::Check,
        "plan" => Run::Plan,
        other => panic!("{}: unknown run `{other}`", path.display()),
    };
    let expect = field("expect");
    let (code, at) = expect.split_once(' ').unwrap_or((&expect, ""));
    let at = at.split_once(':').map(|(l, c)| (l.parse().expect("line"), c.parse().expect("column")));
    let name = path.file_stem().expect("a name").to_string_lossy().into_owned();
    Case::new(&name, run, path.to_path_buf(), code, at)
}

#[test]
fn committed_hostile_files() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("the corpus directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the corpus is missing: {files:?}");
    for path in files {
        check_case(&committed_case(&path));
    }
}

// ---------------------------------------------------------------- generated cases

const HEAD: &str = "matrix: demo\ntitle: Demo\nversion: \"1.0\"\nfeatures:\n  chat: { default: false, about: chat }\n\
                    roles:\n  web: { title: Web }\n  app: { title: App }\n";

/// Writes `content` into a fresh directory that lives as long as the case.
fn generated(name: &str, file: &str, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(file);
    std::fs::write(&path, content).unwrap_or_else(|e| panic!("{name}: {e}"));
    (dir, path)
}

/// Line and column (1-based, in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    (before.matches('\n').count() + 1, before[before.rfind('\n').map_or(0, |i| i + 1)..].chars().count() + 1)
}

fn with_when(when: &str) -> String {
    format!("{HEAD}flows:\n  - id: f\n    from: web\n    to: app\n    proto: tcp\n    ports: 443\n    when: \"{when}\"\n    purpose: p\n    cite: c\n")
}

/// `when:` nested 20,000 deep three ways; the level past 128 is pointed at.
#[test]
fn conditions_nested_20000_deep() {
    let n = 20_000;
    for (name, when, token, nth) in [
        ("when-parens", "(".repeat(n) + "chat" + &")".repeat(n), "(", 129),
        ("when-nots", "!".repeat(n) + "chat", "!", 129),
        ("when-chain", vec!["chat"; n].join(" && "), "&&", 128),
    ] {
        let text = with_when(&when);
        let offset = text.match_indices(token).nth(nth - 1).expect("token").0;
        let (_dir, path) = generated(name, &format!("{name}.yaml"), text.as_bytes());
        check_case(&Case::new(name, Run::Check, path, "condition-too-deep", Some(line_col(&text, offset))));
    }
}

/// The same condition in a matrix that an inventory names by path: `plan`
/// loads it through the model too.
#[test]
fn deep_condition_through_plan() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = with_when(&("(".repeat(20_000) + "chat" + &")".repeat(20_000)));
    std::fs::write(dir.path().join("deep-when.yaml"), &text).expect("matrix");
    let inventory = "inventory: deep\nproducts:\n  demo:\n    matrix: deep-when.yaml\nzones:\n  servers: {}\n\
                     hosts:\n  h1: { addresses: [10.0.0.1], zone: servers, roles: [demo/app] }\n";
    let path = dir.path().join("inventory.yaml");
    std::fs::write(&path, inventory).expect("inventory");
    let mut case = Case::new("deep-when-plan", Run::Plan, path, "condition-too-deep", None);
    case.file_suffix = "deep-when.yaml".into();
    case.at = Some(line_col(&text, text.match_indices('(').nth(128).expect("(").0));
    check_case(&case);
}

#[test]
fn collections_nested_100000_deep() {
    let n = 100_000;
    let text = format!("matrix: demo\nflows: {}x{}\n", "[".repeat(n), "]".repeat(n));
    let (_dir, path) = generated("flow-nesting", "flow-nesting.yaml", text.as_bytes());
    check_case(&Case::new("flow-nesting", Run::Check, path, "yaml-syntax", None));
    let text = format!("matrix: demo\nflows: {}x{}\n", "{a: ".repeat(n), "}".repeat(n));
    let (_dir, path) = generated("map-nesting", "map-nesting.yaml", text.as_bytes());
    check_case(&Case::new("map-nesting", Run::Check, path, "yaml-syntax", None));
}

#[test]
fn block_and_flow_nesting_together() {
    let mut text: String = (0..200).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
    text += &format!("{}v: {}x{}\n", " ".repeat(200), "[".repeat(100), "]".repeat(100));
    let (_dir, path) = generated("mixed-nesting", "mixed-nesting.yaml", text.as_bytes());
    check_case(&Case::new("mixed-nesting", Run::Check, path, "yaml-too-deep", Some((201, 259))));
}

/// The case: a 10 MB string aliased 5,000 times (50 GB expanded).
#[test]
fn alias_bomb_by_bytes() {
    let text = format!("{HEAD}flows: []\nbig: &a \"{}\"\ncopies: [{}]\n", "x".repeat(10_000_000), vec!["*a"; 5000].join(", "));
    let second = text.match_indices("*a").nth(1).expect("alias").0;
    let (_dir, path) = generated("alias-bytes", "alias-bytes.yaml", text.as_bytes());
    check_case(&Case::new("alias-bytes", Run::Check, path, "yaml-alias", Some(line_col(&text, second))));
}

/// A 10 MB key, written as an explicit key (`? KEY`) and as a plain one.
#[test]
fn huge_keys() {
    let text = format!("{HEAD}flows: []\n? \"{}\"\n: 1\n", "k".repeat(10_000_000));
    let (_dir, path) = generated("huge-key", "huge-key.yaml", text.as_bytes());
    check_case(&Case::new("huge-key", Run::Check, path, "unknown-key", Some((10, 3))));
    let text = format!("{HEAD}flows: []\n{}: 1\n", "k".repeat(10_000_000));
    let (_dir, path) = generated("huge-plain-key", "huge-plain-key.yaml", text.as_bytes());
    check_case(&Case::new("huge-plain-key", Run::Check, path, "yaml-syntax", Some((10, 1))));
}

/// 20,000 hosts, each written twice: 20,000 duplicate keys (more than are
/// kept), the first 200 shown. (Linear time at 200,000 hosts: bench/.)
#[test]
fn duplicate_hosts_at_scale() {
    let mut text = String::from("inventory: dup\nproducts:\n  stack:\n    matrix: jtel-stack\nzones:\n  servers: {}\nhosts:\n");
    for i in 0..20_000 {
        let host = format!("  h{i}: {{ addresses: [10.{}.{}.{}], zone: servers }}\n", i >> 16, (i >> 8) & 255, i & 255);
        text += &host;
        text += &host;
    }
    let (_dir, path) = generated("duplicate-hosts", "duplicate-hosts.yaml", text.as_bytes());
    check_case(&Case::new("duplicate-hosts", Run::Plan, path.clone(), "duplicate-key", Some((9, 3))));
    check_case(&Case::new("duplicate-hosts-count", Run::Plan, path, "too-many-problems", None));
}

/// 300,000 values of the wrong type: 300,000 problems found, 10,000 kept,
/// 200 shown.
#[test]
fn many_problems() {
    let text = format!("{HEAD}flows: [{}0]\n", "0,".repeat(300_000));
    let (_dir, path) = generated("many-problems", "many-problems.yaml", text.as_bytes());
    check_case(&Case::new("many-problems", Run::Check, path.clone(), "wrong-type", Some((9, 9))));
    check_case(&Case::new("many-problems-count", Run::Check, path, "too-many-problems", None));
}

/// More values than the tree may hold (4,000,000), in 8 MB.
#[test]
fn too_many_values() {
    let text = format!("matrix: demo\nflows: [{}0]\n", "0,".repeat(MAX_NODES + 10));
    let (_dir, path) = generated("too-many-values", "too-many-values.yaml", text.as_bytes());
    // The document, two keys and their values and the list are five
    // values: the item that makes one too many is the (MAX_NODES - 4)th.
    let col = "flows: [".len() + 2 * (MAX_NODES - 5) + 1;
    check_case(&Case::new("too-many-values", Run::Check, path, "yaml-too-large", Some((2, col))));
}

/// A 100 MB single line; and a device that never ends.
#[test]
fn inputs_over_64_mib() {
    let (_dir, path) = generated("100mb-line", "100mb-line.yaml", &vec![b'a'; 100_000_000]);
    check_case(&Case::new("100mb-line", Run::Check, path, "too-large", Some((1, 1))));
    let zero = Path::new("/dev/zero");
    if zero.exists() {
        let mut case = Case::new("dev-zero", Run::Check, zero.to_path_buf(), "too-large", Some((1, 1)));
        case.file_suffix = "/dev/zero".into();
        check_case(&case);
    }
}

/// A 2 MB line with a syntax error at its end: the diagnostic's column is
/// 2 million (the terminal renderer panicked past 65,535) and its snippet a
/// window of the line.
#[test]
fn an_error_at_the_end_of_a_long_line() {
    let text = format!("matrix: demo\nx: {}: [\n", "a".repeat(2_000_000));
    let (_dir, path) = generated("long-line", "long-line.yaml", text.as_bytes());
    check_case(&Case::new("long-line", Run::Check, path, "yaml-syntax", None));
}

/// 10,000 copies of one flow: findings, not unusable input (exit 1), and
/// at most 1,000 of them plus one that says the list stops.
#[test]
fn ten_thousand_identical_flows() {
    let flows: String = (0..10_000)
        .map(|i| format!("  - id: f{i}\n    from: web\n    to: app\n    proto: tcp\n    ports: 443\n    purpose: p\n    cite: c\n"))
        .collect();
    let text = format!("{HEAD}flows:\n{flows}");
    let (_dir, path) = generated("identical-flows", "identical-flows.yaml", text.as_bytes());
    let mut case = Case::new("identical-flows", Run::Check, path, "duplicate", Some((17, 9)));
    case.exit = 1;
    check_case(&case);
}
