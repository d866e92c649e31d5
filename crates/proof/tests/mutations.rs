//! Mutation test of the exact check, for every example inventory: 1,000
//! random mutations of the compiled rulesets per target (nftables JSON,
//! iptables-restore files, the Windows script), each of which changes the
//! verdict of some packet; the check must report a finding of the kind the
//! mutation causes, every witness it gives must be a packet whose verdict
//! really differs, and the unmutated rulesets give no finding. A subset of
//! the Linux mutations goes through a real kernel: loaded in a network
//! namespace the test creates and read back from it.
//!
//! Figures: `cargo nextest run -p portmatrix-proof --test mutations --no-capture`.

mod common;

use std::collections::BTreeMap;

use common::mutate::{self, semantic, Ctx, Kind, Mutated, Rng};
use common::oracle::intended;
use common::*;
use portmatrix_proof::eval::{evaluate, Verdict};
use portmatrix_proof::{check_ruleset, Finding, Options, Report};
use portmatrix_targets::read::ReadBack;
use portmatrix_targets::{firewall_ruleset, host_ruleset, JobKind, Ruleset, Target};

const PER_EXAMPLE: usize = 1000;
const THROUGH_KERNEL: usize = 40;

fn read(target: Target, files: &[String]) -> ReadBack {
    match target {
        Target::Nftables => ReadBack::from_nft_json(&files[0]).unwrap(),
        Target::Iptables => ReadBack::from_iptables_save(Some(&files[0]), Some(&files[1]), ipset(files)).unwrap(),
        _ => ReadBack::from_powershell(&files[0]).unwrap(),
    }
}

/// The ipset restore file of an iptables ruleset (v4, v6, ipset), if it uses sets.
fn ipset(files: &[String]) -> Option<&str> {
    files.get(2).map(String::as_str).filter(|s| !s.is_empty())
}

fn sources(target: Target, files: &[portmatrix_targets::OutputFile]) -> Vec<String> {
    match target {
        Target::Nftables => vec![file(files, ".nft.json").to_string()],
        Target::Iptables => vec![
            file(files, ".iptables").to_string(),
            file(files, ".ip6tables").to_string(),
            ipset_of(files).unwrap_or_default().to_string(),
        ],
        _ => vec![file(files, ".ps1").to_string()],
    }
}

fn mutate(target: Target, src: &[String], ctx: &Ctx, kind: Kind, rng: &mut Rng) -> Option<Mutated> {
    match target {
        Target::Nftables => mutate::nft(&src[0], ctx, kind, rng),
        Target::Iptables => mutate::iptables(&src[0], &src[1], &src[2], ctx, kind, rng),
        _ => mutate::powershell(&src[0], ctx, kind, rng),
    }
}

/// Every witness is a packet whose verdict differs the way the finding says.
fn witnesses_hold(r: &Report, rb: &ReadBack, intent: &Ruleset) -> Result<(), String> {
    for f in &r.findings {
        match f {
            Finding::Missing { witness, .. } => {
                if !intended(intent, witness) || evaluate(rb, intent.chain, witness) != Verdict::Drop {
                    return Err(format!("missing witness {witness} is not a dropped planned packet"));
                }
            }
            Finding::Extra { witness, .. } => {
                if intended(intent, witness) || evaluate(rb, intent.chain, witness) != Verdict::Accept {
                    return Err(format!("extra witness {witness} is not an accepted unplanned packet"));
                }
            }
            Finding::Interference { .. } => {}
        }
    }
    Ok(())
}

fn intent_of(p: &portmatrix_plan::Plan, job: &portmatrix_targets::Job) -> Ruleset {
    match job.kind {
        JobKind::Host => host_ruleset(p, &job.name).unwrap(),
        JobKind::Firewall => firewall_ruleset(p, &job.name).unwrap(),
    }
}

fn seed(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// Makes `n` semantic mutations for one example and target, calling `each`
/// with every one; returns how many of each kind were made.
fn mutations(
    ex: &std::path::Path,
    target: Target,
    n: usize,
    salt: &str,
    mut each: impl FnMut(&Ctx, &Mutated, ReadBack, &str),
) -> BTreeMap<Kind, usize> {
    let p = plan_of(ex);
    let jobs = compiled(&p, target);
    let mut made: BTreeMap<Kind, usize> = BTreeMap::new();
    if jobs.is_empty() {
        return made;
    }
    let intents: Vec<Ruleset> = jobs.iter().map(|(j, _)| intent_of(&p, j)).collect();
    let srcs: Vec<Vec<String>> = jobs.iter().map(|(_, f)| sources(target, f)).collect();
    let kinds: &[Kind] = if target == Target::Windows { &Kind::WINDOWS } else { &Kind::LINUX };
    let mut rng = Rng::new(seed(&format!("{}{target}{salt}", name(ex))));
    let (mut total, mut attempts) = (0, 0);
    while total < n {
        attempts += 1;
        assert!(attempts < n * 200, "{} {target}: only {total} semantic mutations in {attempts} attempts", name(ex));
        let kind = kinds[total % kinds.len()];
        let ji = rng.below(jobs.len());
        let ctx = Ctx { intent: &intents[ji] };
        if ctx.families().is_empty() {
            continue;
        }
        let Some(m) = mutate(target, &srcs[ji], &ctx, kind, &mut rng) else { continue };
        let rb = read(target, &m.files);
        if !semantic(&m, &rb, &intents[ji]) {
            continue;
        }
        total += 1;
        *made.entry(kind).or_default() += 1;
        each(&ctx, &m, rb, &jobs[ji].0.name);
    }
    made
}

fn run(target: Target) {
    let mut lines = Vec::new();
    for ex in examples() {
        let mut found: BTreeMap<Kind, usize> = BTreeMap::new();
        let made = mutations(&ex, target, PER_EXAMPLE, "", |ctx, m, rb, job| {
            let r = check_ruleset(ctx.intent, &rb, &Options::default());
            let hit = r.findings.iter().any(|f| f.kind() == m.kind.expected());
            assert!(
                hit,
                "{} {target} {job}: {}: expected a {} finding, got: {}\n{}",
                name(&ex),
                m.what,
                m.kind.expected(),
                r.summary(),
                serde_json::to_string_pretty(&r.findings).unwrap()
            );
            if let Err(e) = witnesses_hold(&r, &rb, ctx.intent) {
                panic!("{} {target} {job}: {}: {e}", name(&ex), m.what);
            }
            *found.entry(m.kind).or_default() += 1;
        });
        if made.is_empty() {
            continue;
        }
        let total: usize = made.values().sum();
        let hits: usize = found.values().sum();
        let detail: Vec<String> = made.iter().map(|(k, n)| format!("{k:?} {}/{n}", found.get(k).copied().unwrap_or(0))).collect();
        lines.push(format!("{:18} {target:9} found {hits}/{total}: {}", name(&ex), detail.join(", ")));
        assert_eq!(hits, total);
    }
    eprintln!("{}", lines.join("\n"));
    assert!(!lines.is_empty());
}

#[test]
fn every_nftables_mutation_is_found() {
    run(Target::Nftables);
}

#[test]
fn every_iptables_mutation_is_found() {
    run(Target::Iptables);
}

#[test]
fn every_windows_mutation_is_found() {
    run(Target::Windows);
}

/// Loads `files` into a fresh namespace and reads the ruleset back as the kernel holds it.
fn kernel_round_trip(target: Target, files: &[String]) -> Result<ReadBack, String> {
    Ok(match target {
        Target::Nftables => {
            let out = through_kernel("nft -j -f m.json; nft -j list ruleset", &[("m.json", &files[0])])?;
            ReadBack::from_nft_json(&out).unwrap()
        }
        _ => {
            let out = through_kernel(
                "ipset restore -f s; iptables-restore v4; ip6tables-restore v6; iptables-save; echo '#--v6--'; ip6tables-save; echo '#--ipset--'; ipset save",
                &[("v4", &files[0]), ("v6", &files[1]), ("s", files.get(2).map(String::as_str).unwrap_or_default())],
            )?;
            let (v4, rest) = out.split_once("#--v6--").unwrap();
            let (v6, sets) = rest.split_once("#--ipset--").unwrap();
            ReadBack::from_iptables_save(Some(v4), Some(v6), Some(sets).filter(|s| !s.trim().is_empty())).unwrap()
        }
    })
}

fn through_the_kernel(target: Target) {
    if !kernel_tools() {
        eprintln!("skipped: needs root, unshare, nft and iptables-restore");
        return;
    }
    let mut loaded = 0;
    for ex in examples() {
        // The unmutated rulesets as the kernel holds them match their plan.
        let p = plan_of(&ex);
        for (job, files) in compiled(&p, target) {
            let rb = kernel_round_trip(target, &sources(target, &files)).unwrap();
            let r = check_ruleset(&intent_of(&p, &job), &rb, &Options::default());
            assert!(
                r.exact_match,
                "{} {target} {} loaded: {}\n{}",
                name(&ex),
                job.name,
                r.summary(),
                serde_json::to_string_pretty(&r).unwrap()
            );
        }
        mutations(&ex, target, THROUGH_KERNEL, "kernel", |ctx, m, _, job| {
            let rb = kernel_round_trip(target, &m.files)
                .unwrap_or_else(|e| panic!("{} {target} {job}: {}: the kernel refused it: {e}", name(&ex), m.what));
            let r = check_ruleset(ctx.intent, &rb, &Options::default());
            assert!(
                r.findings.iter().any(|f| f.kind() == m.kind.expected()),
                "{} {target} {job} loaded: {}: expected {}, got {}",
                name(&ex),
                m.what,
                m.kind.expected(),
                r.summary()
            );
            loaded += 1;
        });
    }
    eprintln!("{target}: {loaded} mutations loaded in a kernel, read back and found");
}

#[test]
fn nftables_mutations_through_a_kernel_are_found() {
    through_the_kernel(Target::Nftables);
}

#[test]
fn iptables_mutations_through_a_kernel_are_found() {
    through_the_kernel(Target::Iptables);
}
