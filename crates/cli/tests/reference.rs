//! The command line as a whole: every command has `--help` with examples
//! and a man page; every flag says what it does; docs/cli-flags.md is
//! generated from the definitions and current; every JSON output is valid
//! JSON with numbers as numbers.

use std::path::Path;

use assert_cmd::Command;

fn pm() -> Command {
    Command::cargo_bin("portmatrix").unwrap()
}

fn root() -> &'static Path {
    Box::leak(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").into_boxed_path())
}

/// Every command path (`["catalog", "list"]`, ...), from the man pages.
fn commands() -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    pm().args(["man", "--out-dir"]).arg(dir.path()).assert().success();
    let mut out: Vec<Vec<String>> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().trim_end_matches(".1").to_string())
        .filter(|n| n != "portmatrix")
        .map(|n| n.trim_start_matches("portmatrix-").split('-').map(str::to_string).collect())
        .collect();
    out.sort();
    assert!(out.len() >= 15, "{out:?}");
    out
}

/// Joins page names that were split at a `-` inside a command name.
fn runnable(words: &[String]) -> Option<Vec<String>> {
    let out = pm().args(words).arg("--help").output().unwrap();
    out.status.success().then(|| words.to_vec())
}

#[test]
fn every_command_has_help_with_examples_and_a_man_page() {
    let all = commands();
    let leaves: Vec<&Vec<String>> = all.iter().filter(|c| !all.iter().any(|o| o.len() > c.len() && o.starts_with(c))).collect();
    let mut missing = Vec::new();
    for words in leaves {
        let Some(words) = runnable(words) else { continue };
        let help = pm().args(&words).arg("--help").output().unwrap();
        let text = String::from_utf8_lossy(&help.stdout);
        if !text.contains("Example") {
            missing.push(words.join(" "));
        }
        let man = pm().arg("man").arg(words.join(" ")).output().unwrap();
        assert!(man.status.success() && String::from_utf8_lossy(&man.stdout).contains(".SH ENVIRONMENT"), "man {}", words.join(" "));
    }
    assert!(missing.is_empty(), "--help without examples: {missing:?}");
}

#[test]
fn every_flag_says_what_it_does() {
    let out = pm().args(["man", "--flags"]).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    let bare: Vec<&str> = table.lines().filter(|l| l.starts_with("| ") && l.ends_with("|  |")).collect();
    assert!(bare.is_empty(), "flags without help:\n{}", bare.join("\n"));
}

#[test]
fn the_flag_table_in_docs_is_generated_and_current() {
    let out = pm().args(["man", "--flags"]).output().unwrap();
    let generated = String::from_utf8(out.stdout).unwrap();
    let path = root().join("docs/cli-flags.md");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == generated, "docs/cli-flags.md is stale: run `UPDATE_DOCS=1 cargo nextest run -p portmatrix --test reference`");
}

/// Strings that are numbers in disguise (a count or port as "42").
fn numbers_as_strings(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) => {
            let key = path.rsplit('.').next().unwrap_or_default();
            // Port expressions of a matrix (`9995+zones`, `22`) are text by nature.
            if !["version", "id", "cite", "title", "note", "ports", "src_ports"].contains(&key) {
                out.push(format!("{path} = {s:?}"));
            }
        }
        serde_json::Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| numbers_as_strings(x, &format!("{path}[{i}]"), out)),
        serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| numbers_as_strings(x, &format!("{path}.{k}"), out)),
        _ => {}
    }
}

#[test]
fn json_outputs_are_valid_with_typed_numbers() {
    let ex = |n: &str| root().join("examples").join(n).to_string_lossy().to_string();
    let runs: Vec<Vec<String>> = vec![
        vec!["catalog".into(), "list".into(), "--format".into(), "json".into()],
        vec!["show".into(), "jtel-acd".into(), "--format".into(), "json".into()],
        vec!["query".into(), "--port".into(), "5060/udp".into(), "--format".into(), "json".into()],
        vec!["check".into(), "jtel-acd".into(), "--format".into(), "json".into()],
        vec!["plan".into(), "-i".into(), ex("mixed.yaml"), "--format".into(), "json".into()],
        vec![
            "explain".into(),
            "-i".into(),
            ex("mixed.yaml"),
            "--from".into(),
            "users".into(),
            "--to".into(),
            "ucs1".into(),
            "--port".into(),
            "443/tcp".into(),
            "--format".into(),
            "json".into(),
        ],
        vec!["diff".into(), "jtel-acd@previous".into(), "jtel-acd".into(), "--format".into(), "json".into()],
        vec!["schema".into()],
    ];
    let mut problems = Vec::new();
    for args in runs {
        let out = pm().args(&args).output().unwrap();
        let v: serde_json::Value = match serde_json::from_slice(&out.stdout) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("{}: not JSON ({e})", args.join(" ")));
                continue;
            }
        };
        let mut bad = Vec::new();
        numbers_as_strings(&v, "$", &mut bad);
        bad.truncate(3);
        if !bad.is_empty() {
            problems.push(format!("{}: {}", args.join(" "), bad.join(", ")));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // A plan's ports are resolved sets: typed arrays.
    let out = pm().args(["plan", "-i"]).arg(ex("mixed.yaml")).args(["--format", "json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["connections"][0]["ports"].is_array(), "{}", v["connections"][0]);
    // YAML carries the same structure.
    let out = pm().args(["plan", "-i"]).arg(ex("mixed.yaml")).args(["--format", "yaml"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("inventory:") || text.contains("\ninventory:"), "{}", &text[..text.len().min(200)]);
}
