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
//! - iptables: chains `PREFIX-INPUT` / `PREFIX-FORWARD` (filter) and
//!   `PREFIX-PREROUTING` (nat), each reached by one jump rule of ours, in
//!   ip and ip6, and the ipsets the rules match (see [`crate::iptables`]).
//!   A load is `ipset restore` (each set swapped in at once), then one
//!   `iptables-restore --noflush` and one `ip6tables-restore --noflush`
//!   commit; other chains, tables and sets are never named. The snapshot is
//!   our chains (from `iptables-save`) and our sets (`ipset save NAME`);
//!   the rollback puts back exactly those and removes the chains and sets
//!   the apply added. Syntax check and preview run in a throwaway network
//!   namespace, since `iptables-restore --test` needs the sets to exist.

use std::path::Path;
use std::process::{Command, Stdio};

use portmatrix_targets::{Loader, OutputFile};
use serde::{Deserialize, Serialize};

use crate::hooks::Owned;
use crate::iptables::{self as ipt, FamilySnapshot, SetSnapshot};

/// What portmatrix loads into, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kernel {
    Nft {
        table: String,
    },
    /// Chains `PREFIX-INPUT`, ... of iptables and ip6tables.
    Iptables {
        prefix: String,
    },
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
    Iptables { prefix: String, families: Vec<FamilySnapshot>, sets: Vec<SetSnapshot> },
}

/// The save and restore tools of each family.
const FAMILIES: [(&str, &str, &str, Loader); 2] = [
    ("ipv4", "iptables-save", "iptables-restore", Loader::IptablesRestore),
    ("ipv6", "ip6tables-save", "ip6tables-restore", Loader::Ip6tablesRestore),
];

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
    pub fn owned(&self, chain: portmatrix_targets::Chain) -> Owned {
        match self {
            Kernel::Nft { table } => Owned::NftTable(table.clone()),
            Kernel::Iptables { prefix } => {
                let builtin = if chain == portmatrix_targets::Chain::Forward { "FORWARD" } else { "INPUT" };
                Owned::IptablesChain(ipt::own_chain(prefix, builtin))
            }
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
            Kernel::Iptables { prefix } => iptables_load_files(compiled, prefix, id),
        }
    }

    /// Syntax check without loading: `nft -c -f`; for iptables, the files
    /// loaded into a throwaway network namespace (`iptables-restore --test`
    /// needs the sets to exist).
    pub fn check(&self, files: &[LoadFile], dir: &Path) -> Result<(), String> {
        if let Kernel::Iptables { .. } = self {
            return in_fresh_netns(files, dir, "").map(|_| ()).map_err(|e| format!("syntax check: {e}"));
        }
        for f in files {
            let r = match f.loader {
                Loader::Nft => run_file("nft", &["-c", "-f"], &f.contents, dir),
                other => Err(format!("{}: cannot load a {other:?} file on this host", f.name)),
            };
            r.map_err(|e| format!("syntax check of {}: {e}", f.name))?;
        }
        Ok(())
    }

    /// What we own now (and, for iptables, the sets `load` would create).
    pub fn snapshot(&self, load: &[LoadFile]) -> Result<Snapshot, String> {
        match self {
            Kernel::Iptables { prefix } => iptables_snapshot(prefix, load),
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

    /// Loads the files, in order; for iptables adapted to the live tables
    /// first (no second jump, our chains that the new files drop removed).
    pub fn load(&self, files: &[LoadFile], dir: &Path) -> Result<(), String> {
        let Kernel::Iptables { prefix } = self else { return load_raw(files, dir) };
        let mut adapted = Vec::new();
        for f in files {
            let mut f = f.clone();
            if let Some((_, save, _, _)) = FAMILIES.iter().find(|x| x.3 == f.loader) {
                f.contents = ipt::for_live(&f.contents, &run(save, &[])?, prefix);
            }
            adapted.push(f);
        }
        load_raw(&adapted, dir)
    }
}

/// Loads the files, in order, as they are.
fn load_raw(files: &[LoadFile], dir: &Path) -> Result<(), String> {
    for f in files {
        let r = match f.loader {
            Loader::Nft => run_file("nft", &["-f"], &f.contents, dir),
            Loader::IpsetRestore => {
                // A scratch set left by an interrupted load would make `create` fail.
                let _ = run("ipset", &["destroy", ipt::SCRATCH]);
                run_file("ipset", &["restore", "-f"], &f.contents, dir)
            }
            Loader::IptablesRestore => run_file("iptables-restore", &["-w", "5", "--noflush"], &f.contents, dir),
            Loader::Ip6tablesRestore => run_file("ip6tables-restore", &["-w", "5", "--noflush"], &f.contents, dir),
            other => Err(format!("{}: cannot load a {other:?} file on this host", f.name)),
        };
        r.map_err(|e| format!("loading {}: {e}", f.name))?;
    }
    Ok(())
}

/// How our table would read in the kernel after loading `files`: they are
/// loaded into a fresh, empty network namespace of a child process
/// (`unshare --net`, gone when it exits) and listed there, so that the text
/// is printed by the same `nft list` as the live table and compares line by
/// line. Touches nothing of this machine's namespaces.
pub fn preview(kernel: &Kernel, files: &[LoadFile], dir: &Path) -> Result<String, String> {
    let table = match kernel {
        Kernel::Nft { table } => table,
        Kernel::Iptables { prefix } => {
            let out = in_fresh_netns(files, dir, "iptables-save && echo '#@ipv6' && ip6tables-save")?;
            let (v4, v6) = out.split_once("#@ipv6\n").ok_or("the preview printed no ipv6 part")?;
            return Ok(own_listing(prefix, v4, v6));
        }
    };
    let f = files.iter().find(|f| f.loader == Loader::Nft).ok_or("no nftables file to preview")?;
    let mut tmp = tempfile::Builder::new().prefix(".preview-").tempfile_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, f.contents.as_bytes()).map_err(|e| format!("{}: {e}", tmp.path().display()))?;
    let path = tmp.path().to_string_lossy().to_string();
    // $1 and $2 are arguments, never parsed by the shell.
    let script = "nft -f \"$1\" && nft list table inet \"$2\"";
    run("unshare", &["--net", "--", "sh", "-c", script, "sh", &path, table])
}

/// Our part of both families' iptables-save listings, as one text.
pub fn own_listing(prefix: &str, v4: &str, v6: &str) -> String {
    format!("# ipv4\n{}# ipv6\n{}", ipt::own_part(v4, prefix), ipt::own_part(v6, prefix))
}

/// The live listing of what we own in iptables (for the diff).
pub fn live_own_listing(prefix: &str) -> Result<String, String> {
    Ok(own_listing(prefix, &run("iptables-save", &[])?, &run("ip6tables-save", &[])?))
}

/// Loads the files into a fresh, empty network namespace of a child
/// process (`unshare --net`, gone when it exits), in order, then runs
/// `then` there and returns its output. Touches nothing of this machine.
fn in_fresh_netns(files: &[LoadFile], dir: &Path, then: &str) -> Result<String, String> {
    let mut tmps = Vec::new();
    let mut script = String::from("set -e\n");
    for (i, f) in files.iter().enumerate() {
        let mut tmp = tempfile::Builder::new().prefix(".check-").tempfile_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::io::Write::write_all(&mut tmp, f.contents.as_bytes()).map_err(|e| format!("{}: {e}", tmp.path().display()))?;
        // Arguments are positional parameters, never parsed by the shell.
        let arg = format!("\"${}\"", i + 1);
        let line = match f.loader {
            Loader::IpsetRestore => format!("ipset restore -f {arg}"),
            Loader::IptablesRestore => format!("iptables-restore --noflush {arg}"),
            Loader::Ip6tablesRestore => format!("ip6tables-restore --noflush {arg}"),
            Loader::Nft => format!("nft -f {arg}"),
            other => return Err(format!("{}: cannot load a {other:?} file on this host", f.name)),
        };
        script.push_str(&line);
        script.push('\n');
        tmps.push(tmp);
    }
    script.push_str(then);
    let paths: Vec<String> = tmps.iter().map(|t| t.path().to_string_lossy().to_string()).collect();
    let mut args: Vec<&str> = vec!["--net", "--", "sh", "-c", &script, "sh"];
    args.extend(paths.iter().map(String::as_str));
    run("unshare", &args)
}

/// The iptables files to load: the ipset file as compiled (it only creates,
/// fills and swaps sets), then each family's rules moved into our chains.
fn iptables_load_files(compiled: &[OutputFile], prefix: &str, id: &str) -> Result<Vec<LoadFile>, String> {
    let mut out = Vec::new();
    if let Some(f) = compiled.iter().find(|f| f.loader == Some(Loader::IpsetRestore)) {
        for (n, line) in f.contents.lines().enumerate() {
            let first = line.split_whitespace().next().unwrap_or("#");
            if !first.starts_with('#') && !["create", "add", "swap", "destroy"].contains(&first) {
                return Err(format!("{}:{}: `{}`: an ipset file may only create, fill and swap sets", f.name, n + 1, line.escape_debug()));
            }
        }
        out.push(LoadFile { loader: Loader::IpsetRestore, name: f.name.clone(), contents: f.contents.clone() });
    }
    for (_, _, _, loader) in FAMILIES {
        let f = compiled
            .iter()
            .find(|f| f.loader == Some(loader))
            .ok_or_else(|| format!("no {loader:?} file among the compiled files (expected NAME.iptables and NAME.ip6tables)"))?;
        let header = format!("portmatrix apply {id}: {} moved into {prefix}-* chains", f.name);
        let contents = ipt::own_chains_file(&f.contents, prefix, &header).map_err(|e| format!("{}: {e}", f.name))?;
        out.push(LoadFile { loader, name: f.name.clone(), contents });
    }
    Ok(out)
}

/// Our chains in both families, and our sets: those the new ipset file
/// creates and those our chains use now.
fn iptables_snapshot(prefix: &str, load: &[LoadFile]) -> Result<Snapshot, String> {
    let mut families = Vec::new();
    for (family, save, _, _) in FAMILIES {
        families.push(FamilySnapshot { family: family.to_string(), chains: ipt::own_chains(&run(save, &[])?, prefix) });
    }
    let mut names: Vec<String> =
        load.iter().filter(|f| f.loader == Loader::IpsetRestore).flat_map(|f| ipt::ipset_names(&f.contents)).collect();
    for n in families.iter().flat_map(|f| ipt::sets_used(&f.chains)) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let mut sets = Vec::new();
    for name in names {
        let out =
            Command::new("ipset").args(["save", &name]).stdin(Stdio::null()).output().map_err(|e| format!("cannot run `ipset`: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let save = if out.status.success() {
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        } else if stderr.contains("does not exist") {
            None
        } else {
            return Err(format!("`ipset save {name}` failed: {}", stderr.trim()));
        };
        sets.push(SetSnapshot { name, save });
    }
    Ok(Snapshot::Iptables { prefix: prefix.to_string(), families, sets })
}

/// Puts back our iptables chains and sets: the sets that existed first
/// (members swapped in; the old rules will match on them), then each
/// family's chains in one commit, then the sets the apply created, now
/// unused, are destroyed.
fn restore_iptables(prefix: &str, families: &[FamilySnapshot], sets: &[SetSnapshot], dir: &Path) -> Result<(), String> {
    let mut files = Vec::new();
    if sets.iter().any(|s| s.save.is_some()) {
        files.push(LoadFile { loader: Loader::IpsetRestore, name: "sets (snapshot)".into(), contents: ipt::ipset_restore_file(sets)? });
    }
    for (family, save, _, loader) in FAMILIES {
        let was: &[ipt::OwnChain] = families.iter().find(|f| f.family == family).map(|f| f.chains.as_slice()).unwrap_or(&[]);
        let contents = ipt::restore_file(was, &run(save, &[])?, prefix);
        files.push(LoadFile { loader, name: format!("{family} chains (snapshot)"), contents });
    }
    load_raw(&files, dir)?;
    for s in sets.iter().filter(|s| s.save.is_none()) {
        let exists = run("ipset", &["list", "-n"]).map(|l| l.lines().any(|n| n == s.name)).unwrap_or(false);
        if exists {
            // Still used by someone else's rule: it stays (it holds only our members).
            if let Err(e) = run("ipset", &["destroy", &s.name]) {
                eprintln!("note: set {} added by the apply stays: {e}", s.name);
            }
        }
    }
    Ok(())
}

/// A unified diff of our iptables chains, live against after the apply.
pub fn own_diff(what: &str, live: &str, after: &str) -> String {
    if live == after {
        return String::new();
    }
    similar::TextDiff::from_lines(live, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{what} (live)"), &format!("{what} (after apply)"))
        .to_string()
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
        Snapshot::Iptables { .. } => Err("an iptables snapshot is restored against the live tables (kernel::restore)".into()),
    }
}

/// Puts back what `snap` recorded.
pub fn restore(snap: &Snapshot, dir: &Path) -> Result<(), String> {
    match snap {
        Snapshot::Nft { .. } => load_raw(&restore_files(snap)?, dir),
        Snapshot::Iptables { prefix, families, sets } => restore_iptables(prefix, families, sets, dir),
    }
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
