//! The kernel side: syntax checks, snapshots of what portmatrix owns,
//! loading and restoring, through `nft`.
//!
//! portmatrix owns exactly one thing and touches nothing else:
//!
//! - nftables: `table inet NAME`. A load is one `nft -f` transaction that
//!   creates the table if missing, deletes it and adds the new one, so the
//!   kernel switches from the old table to the new one at once and never
//!   runs without either; `flush ruleset` is never used. The snapshot is
//!   `nft list table inet NAME`, restored the same way (or the table deleted
//!   when there was none).
//! - iptables: not yet (`hooks` already judges foreign iptables chains in
//!   front of a jump to an own chain; loading one is not built).

use std::path::Path;
use std::process::{Command, Stdio};

use portmatrix_targets::{Loader, OutputFile};
use serde::{Deserialize, Serialize};

use crate::hooks::Owned;

/// What portmatrix loads into, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kernel {
    Nft { table: String },
}

/// A file for a loader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadFile {
    pub loader: Loader,
    pub name: String,
    pub contents: String,
}

/// What portmatrix owned before an apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Snapshot {
    Nft { table: String, listing: Option<String> },
}

/// Runs a tool and returns its standard output, or an error with its
/// standard error.
pub fn run(tool: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{tool}`: {e} (is it installed and on PATH?)"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("`{tool} {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Runs a tool on `contents` written to a private temporary file in `dir`.
fn run_file(tool: &str, args: &[&str], contents: &str, dir: &Path) -> Result<String, String> {
    let mut tmp = tempfile::Builder::new().prefix(".load-").tempfile_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, contents.as_bytes()).map_err(|e| format!("{}: {e}", tmp.path().display()))?;
    let path = tmp.path().to_string_lossy().to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.push(&path);
    run(tool, &all)
}

/// The live ruleset as `nft -j list ruleset` prints it.
pub fn live_ruleset_json() -> Result<String, String> {
    run("nft", &["-j", "list", "ruleset"])
}

/// Top-level statements of an nftables file (outside braces, comments and
/// strings), each as its words.
fn top_level_statements(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    let mut in_str = false;
    let mut in_comment = false;
    let push = |cur: &mut String, out: &mut Vec<Vec<String>>| {
        let words: Vec<String> = cur.split_whitespace().map(str::to_string).collect();
        if !words.is_empty() {
            out.push(words);
        }
        cur.clear();
    };
    for ch in text.chars() {
        if in_comment {
            if ch == '\n' {
                in_comment = false;
                if depth == 0 {
                    push(&mut cur, &mut out);
                }
            }
            continue;
        }
        if in_str {
            in_str = ch != '"';
            continue;
        }
        match ch {
            '"' => in_str = true,
            '#' => in_comment = true,
            '{' => {
                if depth == 0 {
                    cur.push_str(" {");
                }
                depth += 1;
            }
            '}' => depth = depth.saturating_sub(1),
            '\n' | ';' if depth == 0 => push(&mut cur, &mut out),
            c if depth == 0 => cur.push(c),
            _ => {}
        }
    }
    push(&mut cur, &mut out);
    out
}

/// Refuses an nftables file that does anything at the top level but
/// create, replace or fill `table inet TABLE`.
pub fn nft_touches_only(text: &str, table: &str) -> Result<(), String> {
    for words in top_level_statements(text) {
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        let ok = match w.as_slice() {
            ["table", "inet", t] | ["table", "inet", t, "{"] => *t == table,
            ["add" | "delete" | "flush", "table", "inet", t] => *t == table,
            ["add", "table", "inet", t, "{"] => *t == table,
            _ => false,
        };
        if !ok {
            return Err(format!(
                "the nftables file does `{}` outside `table inet {table}`; portmatrix apply loads only files that touch its own table",
                w.join(" ").escape_debug()
            ));
        }
    }
    Ok(())
}

impl Kernel {
    pub fn owned(&self) -> Owned {
        match self {
            Kernel::Nft { table } => Owned::NftTable(table.clone()),
        }
    }

    /// The files to load: the compiled ones, checked to touch only what we
    /// own, with what replaces our table in one transaction (nftables) or
    /// hooks our chain (iptables).
    pub fn load_files(&self, compiled: &[OutputFile], id: &str) -> Result<Vec<LoadFile>, String> {
        match self {
            Kernel::Nft { table } => {
                let f = compiled
                    .iter()
                    .find(|f| f.loader == Some(Loader::Nft))
                    .ok_or("no nftables text file among the compiled files (expected NAME.nft)")?;
                nft_touches_only(&f.contents, table).map_err(|e| format!("{}: {e}", f.name))?;
                let contents = format!(
                    "# portmatrix apply {id}: replaces table inet {table} in one transaction\n\
                     table inet {table}\ndelete table inet {table}\n{}",
                    f.contents
                );
                Ok(vec![LoadFile { loader: Loader::Nft, name: f.name.clone(), contents }])
            }
        }
    }

    /// Syntax check without loading: `nft -c -f`, `iptables-restore --test`.
    pub fn check(&self, files: &[LoadFile], dir: &Path) -> Result<(), String> {
        for f in files {
            let r = match f.loader {
                Loader::Nft => run_file("nft", &["-c", "-f"], &f.contents, dir),
                Loader::IptablesRestore => run_file("iptables-restore", &["--test", "--noflush"], &f.contents, dir),
                Loader::Ip6tablesRestore => run_file("ip6tables-restore", &["--test", "--noflush"], &f.contents, dir),
                other => Err(format!("{}: cannot load a {other:?} file on this host", f.name)),
            };
            r.map_err(|e| format!("syntax check of {}: {e}", f.name))?;
        }
        Ok(())
    }

    /// What we own now.
    pub fn snapshot(&self) -> Result<Snapshot, String> {
        match self {
            Kernel::Nft { table } => {
                let out = Command::new("nft")
                    .args(["list", "table", "inet", table])
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|e| format!("cannot run `nft`: {e}"))?;
                let stderr = String::from_utf8_lossy(&out.stderr);
                let listing = if out.status.success() {
                    Some(String::from_utf8_lossy(&out.stdout).into_owned())
                } else if stderr.contains("No such file or directory") {
                    None
                } else {
                    return Err(format!("`nft list table inet {table}` failed: {}", stderr.trim()));
                };
                Ok(Snapshot::Nft { table: table.clone(), listing })
            }
        }
    }

    /// Loads the files, in order.
    pub fn load(&self, files: &[LoadFile], dir: &Path) -> Result<(), String> {
        for f in files {
            let r = match f.loader {
                Loader::Nft => run_file("nft", &["-f"], &f.contents, dir),
                Loader::IptablesRestore => run_file("iptables-restore", &["-w", "5", "--noflush"], &f.contents, dir),
                Loader::Ip6tablesRestore => run_file("ip6tables-restore", &["-w", "5", "--noflush"], &f.contents, dir),
                other => Err(format!("{}: cannot load a {other:?} file on this host", f.name)),
            };
            r.map_err(|e| format!("loading {}: {e}", f.name))?;
        }
        Ok(())
    }
}

/// How our table would read in the kernel after loading `files`: they are
/// loaded into a fresh, empty network namespace of a child process
/// (`unshare --net`, gone when it exits) and listed there, so that the text
/// is printed by the same `nft list` as the live table and compares line by
/// line. Touches nothing of this machine's namespaces.
pub fn preview(kernel: &Kernel, files: &[LoadFile], dir: &Path) -> Result<String, String> {
    let Kernel::Nft { table } = kernel;
    let f = files.iter().find(|f| f.loader == Loader::Nft).ok_or("no nftables file to preview")?;
    let mut tmp = tempfile::Builder::new().prefix(".preview-").tempfile_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, f.contents.as_bytes()).map_err(|e| format!("{}: {e}", tmp.path().display()))?;
    let path = tmp.path().to_string_lossy().to_string();
    // $1 and $2 are arguments, never parsed by the shell.
    let script = "nft -f \"$1\" && nft list table inet \"$2\"";
    run("unshare", &["--net", "--", "sh", "-c", script, "sh", &path, table])
}

/// A unified diff of our table, live against after the apply (`None`: the
/// table does not exist yet); empty when they are the same.
pub fn table_diff(table: &str, live: Option<&str>, after: &str) -> String {
    let before = live.unwrap_or("");
    if before == after {
        return String::new();
    }
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("table inet {table} (live{})", if live.is_none() { ": absent" } else { "" }),
            &format!("table inet {table} (after apply)"),
        )
        .to_string()
}

/// The files that put back what `snap` recorded, computed against the live
/// state now.
pub fn restore_files(snap: &Snapshot) -> Result<Vec<LoadFile>, String> {
    match snap {
        Snapshot::Nft { table, listing } => {
            let mut contents =
                format!("# portmatrix rollback: table inet {table} as it was\ntable inet {table}\ndelete table inet {table}\n");
            if let Some(l) = listing {
                contents.push_str(l);
            }
            Ok(vec![LoadFile { loader: Loader::Nft, name: format!("{table} (snapshot)"), contents }])
        }
    }
}

/// Puts back what `snap` recorded.
pub fn restore(snap: &Snapshot, dir: &Path) -> Result<(), String> {
    let files = restore_files(snap)?;
    let kernel = match snap {
        Snapshot::Nft { table, .. } => Kernel::Nft { table: table.clone() },
    };
    kernel.load(&files, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_diff_shows_what_goes_and_what_comes() {
        let now = "table inet pm {\n\tchain input {\n\t\ttcp dport 22 accept\n\t}\n}\n";
        let next = "table inet pm {\n\tchain input {\n\t\ttcp dport 443 accept\n\t}\n}\n";
        assert_eq!(table_diff("pm", Some(now), now), "");
        let d = table_diff("pm", Some(now), next);
        assert!(d.starts_with("--- table inet pm (live)\n+++ table inet pm (after apply)\n"), "{d}");
        assert!(d.contains("\n-\t\ttcp dport 22 accept\n+\t\ttcp dport 443 accept\n"), "{d}");
        let fresh = table_diff("pm", None, next);
        assert!(fresh.starts_with("--- table inet pm (live: absent)"), "{fresh}");
        assert_eq!(fresh.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).count(), next.lines().count(), "{fresh}");
    }

    #[test]
    fn only_our_table_is_touched() {
        let ok = "#!/usr/sbin/nft -f\n# c { \" }\ntable inet pm\ndelete table inet pm\n\ntable inet pm {\n  set s { elements = { 1.2.3.4 comment \"} flush ruleset\" } }\n  chain input { type filter hook input priority filter; policy drop; }\n}\n";
        assert!(nft_touches_only(ok, "pm").is_ok(), "{:?}", top_level_statements(ok));
        for bad in [
            "flush ruleset\n",
            "table inet pm { }\ntable ip filter { }\n",
            "delete table inet other\n",
            "table inet pm; flush ruleset\n",
            "add rule ip filter INPUT accept\n",
            "table inet pmx {}\n",
        ] {
            assert!(nft_touches_only(bad, "pm").is_err(), "{bad}");
        }
    }
}
