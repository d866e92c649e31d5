//! iptables: portmatrix's rules live in chains of its own, one per
//! built-in chain the compiled file fills (`PREFIX-INPUT` or
//! `PREFIX-FORWARD` in `filter`, `PREFIX-PREROUTING` in `nat` for port
//! forwards), each reached from its built-in chain by one jump rule that
//! portmatrix owns. Nothing else is touched: loads use
//! `iptables-restore --noflush` (a declared user chain is flushed and
//! refilled; other chains and tables stay), built-in chain policies are
//! left to the host (the compiled file's `policy DROP` becomes the last
//! rule of our chain, as the nftables table's own chain does it), and the
//! ipsets are loaded first by `ipset restore` (each filled under a scratch
//! name and swapped in, so a set changes at once).
//!
//! The text transforms here are pure; [`crate::kernel`] runs the tools.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// The scratch set the ipset files fill before swapping (as the iptables
/// target names it).
pub const SCRATCH: &str = "portmatrix_scratch";

/// Tables a compiled file may fill.
const TABLES: [&str; 2] = ["filter", "nat"];

/// Built-in chains of those tables.
fn builtin(table: &str, chain: &str) -> bool {
    match table {
        "filter" => matches!(chain, "INPUT" | "FORWARD" | "OUTPUT"),
        "nat" => matches!(chain, "PREROUTING" | "INPUT" | "OUTPUT" | "POSTROUTING"),
        _ => false,
    }
}

/// Verdicts a compiled rule may have.
const TARGETS: [&str; 5] = ["ACCEPT", "DROP", "REJECT", "DNAT", "RETURN"];

/// The chain prefix for a table name: `portmatrix` → `PORTMATRIX`.
pub fn prefix_for(table: &str) -> Result<String, String> {
    let p = table.to_ascii_uppercase();
    // iptables chain names have at most 28 characters; the longest suffix is `-POSTROUTING`.
    if p.len() + "-POSTROUTING".len() > 28 {
        return Err(format!("--table {table}: iptables chain names are at most 28 characters; use a prefix of at most 16"));
    }
    Ok(p)
}

/// Our chain for a built-in chain.
pub fn own_chain(prefix: &str, builtin: &str) -> String {
    format!("{prefix}-{builtin}")
}

/// The comment of our jump rule.
fn jump_comment(own: &str) -> String {
    format!("portmatrix: jump to {own}")
}

/// The rule (after `-A CHAIN` / `-I CHAIN 1`) that jumps to our chain, as
/// iptables-save prints it.
fn jump_spec(own: &str) -> String {
    format!("-m comment --comment \"{}\" -j {own}", jump_comment(own))
}

/// The words of an iptables-restore line, quotes kept as they are.
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// One table block of a compiled file.
struct Block<'a> {
    table: &'a str,
    /// Built-in chain → its policy.
    policies: Vec<(&'a str, &'a str)>,
    /// (built-in chain, rest of the rule after `-A CHAIN`).
    rules: Vec<(&'a str, &'a str)>,
}

/// Reads a compiled iptables-restore file, refusing anything but built-in
/// chain policies and `-A BUILTIN ... -j ACCEPT|DROP|...` in filter and nat.
fn blocks(text: &str) -> Result<Vec<Block<'_>>, String> {
    let mut out: Vec<Block> = Vec::new();
    let mut open: Option<Block> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = |what: String| format!("line {}: {what}", n + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(t) = line.strip_prefix('*') {
            if open.is_some() {
                return Err(at(format!("table `{}` opens before COMMIT", t.escape_debug())));
            }
            if !TABLES.contains(&t) {
                return Err(at(format!("table `{}`: portmatrix apply fills only filter and nat", t.escape_debug())));
            }
            open = Some(Block { table: t, policies: vec![], rules: vec![] });
            continue;
        }
        let Some(b) = open.as_mut() else {
            return Err(at(format!("`{}` outside a table", line.escape_debug())));
        };
        if line == "COMMIT" {
            out.extend(open.take());
            continue;
        }
        let w = words(line);
        match *w.as_slice() {
            [decl, policy, _counters] if decl.starts_with(':') && builtin(b.table, &decl[1..]) => {
                b.policies.push((&decl[1..], policy));
            }
            ["-A", chain, ..] if builtin(b.table, chain) => {
                let target = w.iter().position(|x| *x == "-j").and_then(|i| w.get(i + 1)).copied().unwrap_or("");
                if !TARGETS.contains(&target) {
                    return Err(at(format!(
                        "a rule with target `{}`: portmatrix apply loads only its own verdicts",
                        target.escape_debug()
                    )));
                }
                let rest = line[line.find(chain).unwrap_or(0) + chain.len()..].trim_start();
                b.rules.push((chain, rest));
            }
            _ => {
                return Err(at(format!(
                    "`{}`: portmatrix apply loads only rules appended to built-in chains (it moves them into its own chains)",
                    line.escape_debug()
                )))
            }
        }
    }
    if open.is_some() {
        return Err("the file ends without COMMIT".into());
    }
    Ok(out)
}

/// Turns a compiled iptables-restore file into the one apply loads with
/// `--noflush`: each built-in chain's rules go into our chain (declared, so
/// flushed and refilled in the same commit), a `DROP` policy becomes our
/// chain's last rule, and a jump from the built-in chain is inserted first
/// (the loader drops the insert when the jump is already there).
pub fn own_chains_file(compiled: &str, prefix: &str, header: &str) -> Result<String, String> {
    let mut o = String::new();
    let _ = writeln!(o, "# {header}");
    let _ = writeln!(o, "# Only {prefix}-* chains and the jumps to them; loaded with --noflush.");
    for b in blocks(compiled)? {
        let used: BTreeSet<&str> = b.rules.iter().map(|(c, _)| *c).collect();
        if used.is_empty() {
            continue;
        }
        let _ = writeln!(o, "*{}", b.table);
        for c in &used {
            let _ = writeln!(o, ":{} - [0:0]", own_chain(prefix, c));
        }
        for (c, rest) in &b.rules {
            let _ = writeln!(o, "-A {} {rest}", own_chain(prefix, c));
        }
        for c in &used {
            if b.policies.iter().any(|(p, pol)| p == c && *pol == "DROP") {
                let _ =
                    writeln!(o, "-A {} -m comment --comment \"default deny (the compiled policy of {c})\" -j DROP", own_chain(prefix, c));
            }
        }
        for c in &used {
            let _ = writeln!(o, "-I {c} 1 {}", jump_spec(&own_chain(prefix, c)));
        }
        let _ = writeln!(o, "COMMIT");
    }
    Ok(o)
}

/// Adapts an apply file (from [`own_chains_file`]) to the live listing
/// `save` just before loading: drops the jump inserts whose jump is
/// already there (reloading never doubles a jump), and removes our chains
/// that the new file no longer fills (with their jumps), in the same commit.
pub fn for_live(file: &str, save: &str, prefix: &str) -> String {
    let live = parse_save(save);
    let stale: Vec<OwnChain> = own_chains(save, prefix).into_iter().filter(|c| !file.contains(&format!("\n:{} - ", c.chain))).collect();
    let removal = |table: &str, o: &mut String| {
        for c in stale.iter().filter(|c| c.table == table) {
            for l in live.jumps(table, &c.builtin, &c.chain) {
                let _ = writeln!(o, "-D{}", &l[2..]);
            }
            let _ = writeln!(o, "-F {}", c.chain);
            let _ = writeln!(o, "-X {}", c.chain);
        }
    };
    let mut table = String::new();
    let mut seen: Vec<String> = Vec::new();
    let mut o = String::new();
    for line in file.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
            seen.push(table.clone());
        }
        let w = words(line);
        if let ["-I", chain, "1", ..] = w.as_slice() {
            let target = w.last().copied().unwrap_or("");
            if live.jumps(&table, chain, target).next().is_some() {
                continue;
            }
        }
        if line == "COMMIT" {
            removal(&table, &mut o);
        }
        o.push_str(line);
        o.push('\n');
    }
    for t in TABLES.iter().filter(|t| !seen.iter().any(|s| s == *t) && stale.iter().any(|c| c.table == **t)) {
        let _ = writeln!(o, "*{t}");
        removal(t, &mut o);
        let _ = writeln!(o, "COMMIT");
    }
    o
}

/// One table of an iptables-save listing.
#[derive(Debug, Default)]
struct SavedTable {
    name: String,
    /// Chain declarations (`:NAME POLICY [..]`), by name.
    chains: Vec<String>,
    /// (chain, full line).
    rules: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct Saved {
    tables: Vec<SavedTable>,
}

fn parse_save(save: &str) -> Saved {
    let mut s = Saved::default();
    for line in save.lines() {
        if let Some(t) = line.strip_prefix('*') {
            s.tables.push(SavedTable { name: t.to_string(), ..SavedTable::default() });
        } else if let Some(t) = s.tables.last_mut() {
            if let Some(decl) = line.strip_prefix(':') {
                t.chains.push(decl.split_whitespace().next().unwrap_or_default().to_string());
            } else if let ["-A", chain, ..] = words(line).as_slice() {
                t.rules.push((chain.to_string(), line.to_string()));
            }
        }
    }
    s
}

impl Saved {
    fn table(&self, name: &str) -> Option<&SavedTable> {
        self.tables.iter().find(|t| t.name == name)
    }
    /// Rules of `chain` in `table` that jump (or go) to `target`.
    fn jumps<'a>(&'a self, table: &str, chain: &'a str, target: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.table(table)
            .into_iter()
            .flat_map(move |t| t.rules.iter().filter(move |(c, l)| c == chain && ends_in_jump(&words(l), target)).map(|(_, l)| l))
    }
}

fn ends_in_jump(w: &[&str], target: &str) -> bool {
    matches!(w, [.., "-j" | "-g", t] if *t == target)
}

/// One chain of ours as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnChain {
    pub table: String,
    /// The built-in chain that jumps to it.
    pub builtin: String,
    pub chain: String,
    /// Its rules, as iptables-save prints them (`-A CHAIN ...`).
    pub rules: Vec<String>,
    /// Whether the built-in chain jumped to it.
    pub jumped: bool,
}

/// What we own in one family (`ipv4` or `ipv6`): our chains that exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilySnapshot {
    pub family: String,
    pub chains: Vec<OwnChain>,
}

/// Our chains (and the jumps to them) in an iptables-save listing.
pub fn own_chains(save: &str, prefix: &str) -> Vec<OwnChain> {
    let s = parse_save(save);
    let mut out = Vec::new();
    for t in &s.tables {
        for c in &t.chains {
            let Some(b) = c.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')) else { continue };
            if !builtin(&t.name, b) {
                continue;
            }
            let rules = t.rules.iter().filter(|(ch, _)| ch == c).map(|(_, l)| l.clone()).collect();
            let jumped = s.jumps(&t.name, b, c).next().is_some();
            out.push(OwnChain { table: t.name.clone(), builtin: b.to_string(), chain: c.clone(), rules, jumped });
        }
    }
    out
}

/// Our part of an iptables-save listing, as text (for the diff of a dry
/// run): our chains' declarations and rules, and the jumps to them.
pub fn own_part(save: &str, prefix: &str) -> String {
    let mut o = String::new();
    for c in own_chains(save, prefix) {
        let _ = writeln!(o, "*{} :{}", c.table, c.chain);
        if c.jumped {
            let _ = writeln!(o, "-A {} {}", c.builtin, jump_spec(&c.chain));
        }
        for r in &c.rules {
            let _ = writeln!(o, "{r}");
        }
    }
    o
}

/// The iptables-restore file (for `--noflush`) that puts back `was` given
/// the live listing `save`: our chains as they were (flushed and refilled),
/// jumps added or removed to match, chains that were not there removed.
pub fn restore_file(was: &[OwnChain], save: &str, prefix: &str) -> String {
    let live = own_chains(save, prefix);
    let parsed = parse_save(save);
    let mut o = String::from("# portmatrix rollback: its own chains as they were\n");
    for table in TABLES {
        let before: Vec<&OwnChain> = was.iter().filter(|c| c.table == table).collect();
        let now: Vec<&OwnChain> = live.iter().filter(|c| c.table == table).collect();
        if before.is_empty() && now.is_empty() {
            continue;
        }
        let _ = writeln!(o, "*{table}");
        for c in &before {
            let _ = writeln!(o, ":{} - [0:0]", c.chain);
        }
        for c in &before {
            for r in &c.rules {
                let _ = writeln!(o, "{r}");
            }
        }
        for c in &before {
            let present = now.iter().any(|n| n.chain == c.chain && n.jumped);
            if c.jumped && !present {
                let _ = writeln!(o, "-I {} 1 {}", c.builtin, jump_spec(&c.chain));
            }
            if !c.jumped && present {
                for l in parsed.jumps(table, &c.builtin, &c.chain) {
                    let _ = writeln!(o, "-D{}", &l[2..]);
                }
            }
        }
        for n in now.iter().filter(|n| !before.iter().any(|b| b.chain == n.chain)) {
            for l in parsed.jumps(table, &n.builtin, &n.chain) {
                let _ = writeln!(o, "-D{}", &l[2..]);
            }
            let _ = writeln!(o, "-F {}", n.chain);
            let _ = writeln!(o, "-X {}", n.chain);
        }
        let _ = writeln!(o, "COMMIT");
    }
    o
}

/// The sets an ipset restore file creates (not the scratch set).
pub fn ipset_names(file: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in file.lines() {
        if let ["create", name, ..] = words(line).as_slice() {
            if *name != SCRATCH && !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// The sets our chains match on (`--match-set NAME`).
pub fn sets_used(chains: &[OwnChain]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in chains.iter().flat_map(|c| &c.rules) {
        let w = words(r);
        for pair in w.windows(2) {
            if pair[0] == "--match-set" && !out.iter().any(|n| n == pair[1]) {
                out.push(pair[1].to_string());
            }
        }
    }
    out
}

/// One of our sets as it was: `ipset save NAME`, or `None` when absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetSnapshot {
    pub name: String,
    pub save: Option<String>,
}

/// The `ipset restore` file that puts back the members of the sets that
/// existed, each filled under the scratch name and swapped in (the set
/// itself stays, so rules using it keep working throughout).
pub fn ipset_restore_file(sets: &[SetSnapshot]) -> Result<String, String> {
    let mut o = String::from("# portmatrix rollback: its sets as they were\n");
    for s in sets {
        let Some(save) = &s.save else { continue };
        let mut create = None;
        let mut members = Vec::new();
        for line in save.lines() {
            match words(line).as_slice() {
                ["create", name, rest @ ..] if *name == s.name => create = Some(rest.join(" ")),
                ["add", name, rest @ ..] if *name == s.name => members.push(rest.join(" ")),
                [] => {}
                _ => {
                    return Err(format!("the saved set {} has a line `{}` this rollback does not understand", s.name, line.escape_debug()))
                }
            }
        }
        let options = create.ok_or_else(|| format!("the saved set {} has no create line", s.name))?;
        let _ = writeln!(o, "create {} {options} -exist", s.name);
        let _ = writeln!(o, "create {SCRATCH} {options}");
        for m in members {
            let _ = writeln!(o, "add {SCRATCH} {m}");
        }
        let _ = writeln!(o, "swap {SCRATCH} {}", s.name);
        let _ = writeln!(o, "destroy {SCRATCH}");
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPILED: &str = "# header\n*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -m comment --comment \"return traffic\" -j ACCEPT\n\
-A INPUT -p tcp -m set --match-set admin_v4 src -m multiport --dports 22 -m comment --comment \"inventory/admin-ssh\" -j ACCEPT\n\
COMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
-A PREROUTING -d 192.0.2.1/32 -p tcp -m multiport --dports 443 -m comment --comment \"fw\" -j DNAT --to-destination 10.0.0.5\nCOMMIT\n";

    #[test]
    fn compiled_rules_move_into_our_chains_with_a_jump_and_a_final_drop() {
        let f = own_chains_file(COMPILED, "PM", "apply 1").unwrap();
        let want = "# apply 1\n# Only PM-* chains and the jumps to them; loaded with --noflush.\n*filter\n:PM-INPUT - [0:0]\n\
-A PM-INPUT -m conntrack --ctstate ESTABLISHED,RELATED -m comment --comment \"return traffic\" -j ACCEPT\n\
-A PM-INPUT -p tcp -m set --match-set admin_v4 src -m multiport --dports 22 -m comment --comment \"inventory/admin-ssh\" -j ACCEPT\n\
-A PM-INPUT -m comment --comment \"default deny (the compiled policy of INPUT)\" -j DROP\n\
-I INPUT 1 -m comment --comment \"portmatrix: jump to PM-INPUT\" -j PM-INPUT\nCOMMIT\n*nat\n:PM-PREROUTING - [0:0]\n\
-A PM-PREROUTING -d 192.0.2.1/32 -p tcp -m multiport --dports 443 -m comment --comment \"fw\" -j DNAT --to-destination 10.0.0.5\n\
-I PREROUTING 1 -m comment --comment \"portmatrix: jump to PM-PREROUTING\" -j PM-PREROUTING\nCOMMIT\n";
        assert_eq!(f, want);
        // No policy line, no FORWARD chain: built-in chains stay the host's.
        assert!(!f.contains(":INPUT") && !f.contains("FORWARD"));
    }

    #[test]
    fn files_that_touch_anything_else_are_refused() {
        for bad in [
            "*filter\n-A DOCKER -j ACCEPT\nCOMMIT\n",
            "*filter\n-I INPUT 1 -j ACCEPT\nCOMMIT\n",
            "*filter\n-F INPUT\nCOMMIT\n",
            "*filter\n-X\nCOMMIT\n",
            "*filter\n-A INPUT -j DOCKER\nCOMMIT\n",
            "*filter\n:MINE - [0:0]\nCOMMIT\n",
            "*mangle\n-A INPUT -j ACCEPT\nCOMMIT\n",
            "*raw\nCOMMIT\n",
            "*filter\n-A INPUT -j ACCEPT\n",
            "-A INPUT -j ACCEPT\n",
            "*filter\n*nat\nCOMMIT\n",
        ] {
            assert!(own_chains_file(bad, "PM", "x").is_err(), "{bad}");
        }
    }

    const LIVE: &str =
        "# Generated\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:DOCKER-USER - [0:0]\n:PM-INPUT - [0:0]\n\
-A INPUT -m comment --comment \"portmatrix: jump to PM-INPUT\" -j PM-INPUT\n-A INPUT -p tcp -m tcp --dport 1 -j ACCEPT\n\
-A FORWARD -j DOCKER-USER\n-A DOCKER-USER -j RETURN\n-A PM-INPUT -p tcp -m tcp --dport 9999 -j ACCEPT\nCOMMIT\n";

    #[test]
    fn our_chains_are_found_with_their_jump_and_nothing_foreign() {
        let c = own_chains(LIVE, "PM");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].chain, "PM-INPUT");
        assert!(c[0].jumped);
        assert_eq!(c[0].rules, vec!["-A PM-INPUT -p tcp -m tcp --dport 9999 -j ACCEPT".to_string()]);
        assert!(own_chains(LIVE, "P").is_empty(), "a prefix of our prefix is not ours");
        let part = own_part(LIVE, "PM");
        assert!(!part.contains("DOCKER") && !part.contains("--dport 1 "), "{part}");
    }

    #[test]
    fn a_present_jump_is_not_inserted_again_and_stale_chains_go() {
        let f = own_chains_file(COMPILED, "PM", "x").unwrap();
        let once = for_live(&f, LIVE, "PM");
        assert!(!once.contains("-I INPUT 1"), "{once}");
        assert!(once.contains("-I PREROUTING 1"), "the nat jump is missing live: {once}");
        assert_eq!(for_live(&f, "", "PM"), f);
        // A firewall's chain from an earlier apply, not in the new file: removed with its jump.
        let earlier = "*filter\n:FORWARD ACCEPT [0:0]\n:PM-FORWARD - [0:0]\n-A FORWARD -m comment --comment \"portmatrix: jump to PM-FORWARD\" -j PM-FORWARD\n-A PM-FORWARD -j DROP\nCOMMIT\n";
        let next = for_live(&f, earlier, "PM");
        assert!(
            next.contains("-D FORWARD -m comment --comment \"portmatrix: jump to PM-FORWARD\" -j PM-FORWARD\n-F PM-FORWARD\n-X PM-FORWARD\nCOMMIT\n*nat"),
            "{next}"
        );
        let only_nat = for_live("*nat\n:PM-PREROUTING - [0:0]\nCOMMIT\n", earlier, "PM");
        assert!(only_nat.ends_with("COMMIT\n*filter\n-D FORWARD -m comment --comment \"portmatrix: jump to PM-FORWARD\" -j PM-FORWARD\n-F PM-FORWARD\n-X PM-FORWARD\nCOMMIT\n"), "{only_nat}");
    }

    #[test]
    fn restore_puts_back_old_chains_and_removes_new_ones() {
        let was = own_chains(LIVE, "PM");
        let now = "*filter\n:INPUT ACCEPT [0:0]\n:PM-INPUT - [0:0]\n:PM-FORWARD - [0:0]\n\
-A INPUT -m comment --comment \"portmatrix: jump to PM-INPUT\" -j PM-INPUT\n-A FORWARD -m comment --comment \"portmatrix: jump to PM-FORWARD\" -j PM-FORWARD\n\
-A PM-INPUT -j DROP\n-A PM-FORWARD -j DROP\nCOMMIT\n";
        let r = restore_file(&was, now, "PM");
        assert_eq!(
            r,
            "# portmatrix rollback: its own chains as they were\n*filter\n:PM-INPUT - [0:0]\n-A PM-INPUT -p tcp -m tcp --dport 9999 -j ACCEPT\n\
-D FORWARD -m comment --comment \"portmatrix: jump to PM-FORWARD\" -j PM-FORWARD\n-F PM-FORWARD\n-X PM-FORWARD\nCOMMIT\n"
        );
        // Nothing was ours before: everything of ours goes, jump included.
        let r = restore_file(&[], LIVE, "PM");
        assert!(
            r.contains("-D INPUT -m comment --comment \"portmatrix: jump to PM-INPUT\" -j PM-INPUT\n-F PM-INPUT\n-X PM-INPUT\n"),
            "{r}"
        );
        // Our chain was there without a jump: the jump goes, the chain stays.
        let mut unjumped = was.clone();
        unjumped[0].jumped = false;
        let r = restore_file(&unjumped, LIVE, "PM");
        assert!(r.contains("-D INPUT -m comment") && !r.contains("-X"), "{r}");
        // Nothing ours before or now: no table block at all.
        assert_eq!(
            restore_file(&[], "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n", "PM"),
            "# portmatrix rollback: its own chains as they were\n"
        );
    }

    #[test]
    fn sets_are_found_and_restored_through_a_swap() {
        let file = "create a hash:net family inet -exist\ncreate portmatrix_scratch hash:net family inet\nadd portmatrix_scratch 10.0.0.0/8\nswap portmatrix_scratch a\ndestroy portmatrix_scratch\ncreate b hash:net family inet6 -exist\n";
        assert_eq!(ipset_names(file), vec!["a".to_string(), "b".to_string()]);
        assert_eq!(sets_used(&own_chains(LIVE, "PM")), Vec::<String>::new());
        let snap = [
            SetSnapshot {
                name: "a".into(),
                save: Some("create a hash:net family inet hashsize 1024 maxelem 65536\nadd a 10.1.0.0/16\n".into()),
            },
            SetSnapshot { name: "new".into(), save: None },
        ];
        assert_eq!(
            ipset_restore_file(&snap).unwrap(),
            "# portmatrix rollback: its sets as they were\ncreate a hash:net family inet hashsize 1024 maxelem 65536 -exist\n\
create portmatrix_scratch hash:net family inet hashsize 1024 maxelem 65536\nadd portmatrix_scratch 10.1.0.0/16\n\
swap portmatrix_scratch a\ndestroy portmatrix_scratch\n"
        );
        let odd = [SetSnapshot { name: "a".into(), save: Some("create a hash:net\nflush a\n".into()) }];
        assert!(ipset_restore_file(&odd).is_err());
    }
}
