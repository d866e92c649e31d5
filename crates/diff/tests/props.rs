//! For random inventories and random edits (host added or removed, role
//! moved, feature toggled, parameter changed, product upgraded, address
//! changed), applying the deployment diff to plan(A) gives exactly plan(B);
//! and a matrix diff says exactly which flows changed.

use std::path::Path;

use portmatrix_diff::deployment::{apply, atom_delta, atoms};
use portmatrix_diff::rules::{apply_rule_changes, rule_deltas, rule_deltas_exhaustive, rule_summaries, RuleChanges};
use portmatrix_diff::{diff_deployments, diff_matrices, grouped_delta};
use portmatrix_model::matrix_source::NoMatrices;
use portmatrix_plan::{plan, Deployment, Plan};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Inv {
    hosts: Vec<(Vec<&'static str>, u8)>,
    extra: bool,
    custom: u16,
    version2: bool,
    firewall: bool,
}

fn inv() -> impl Strategy<Value = Inv> {
    (
        proptest::collection::vec((proptest::sample::subsequence(vec!["a", "b", "c"], 1..=3), 1u8..4), 0..5),
        any::<bool>(),
        7000u16..7100,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(hosts, extra, custom, version2, firewall)| Inv { hosts, extra, custom, version2, firewall })
}

#[derive(Debug, Clone)]
enum Edit {
    AddHost(Vec<&'static str>),
    RemoveHost(usize),
    MoveRole(usize, usize),
    ToggleFeature,
    SetParam(u16),
    Upgrade,
    Readdress(usize, u8),
    ToggleFirewall,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        proptest::sample::subsequence(vec!["a", "b", "c"], 1..=2).prop_map(Edit::AddHost),
        (0usize..6).prop_map(Edit::RemoveHost),
        (0usize..6, 0usize..6).prop_map(|(a, b)| Edit::MoveRole(a, b)),
        Just(Edit::ToggleFeature),
        (7000u16..7100).prop_map(Edit::SetParam),
        Just(Edit::Upgrade),
        (0usize..6, 100u8..200).prop_map(|(h, a)| Edit::Readdress(h, a)),
        Just(Edit::ToggleFirewall),
    ]
}

fn edited(mut i: Inv, e: &Edit) -> Inv {
    let n = i.hosts.len().max(1);
    match e {
        Edit::AddHost(r) => i.hosts.push((r.clone(), 1)),
        Edit::RemoveHost(h) if !i.hosts.is_empty() => {
            i.hosts.remove(h % n);
        }
        Edit::MoveRole(a, b) if i.hosts.len() > 1 => {
            if let Some(r) = i.hosts[a % n].0.pop() {
                i.hosts[b % n].0.push(r);
            }
        }
        Edit::ToggleFeature => i.extra = !i.extra,
        Edit::SetParam(p) => i.custom = *p,
        Edit::Upgrade => i.version2 = !i.version2,
        Edit::Readdress(h, a) if !i.hosts.is_empty() => i.hosts[h % n].1 = *a,
        Edit::ToggleFirewall => i.firewall = !i.firewall,
        _ => {}
    }
    i
}

fn yaml(i: &Inv) -> String {
    let m = if i.version2 { "toy@2.yaml" } else { "toy.yaml" };
    let mut y = format!(
        "inventory: random\nproducts:\n  toy:\n    matrix: {m}\n    features: {{ extra: {} }}\n    params: {{ custom: {} }}\n",
        i.extra, i.custom
    );
    y += "zones: { z1: {}, z2: {} }\nnetworks:\n  clients: { cidrs: [172.16.0.0/24], zone: z2 }\n  admin: { cidrs: [172.31.0.0/24], zone: z2 }\n";
    y += "admin: { networks: [admin] }\nbind:\n  toy/client: { networks: [clients] }\n  toy/any: { networks: [clients] }\nhosts:\n";
    // Every role always somewhere, so that every inventory plans.
    y += "  base: { addresses: [10.9.0.1, \"fd00::1\"], zone: z1, roles: [toy/a, toy/b, toy/c] }\n";
    for (k, (roles, last)) in i.hosts.iter().enumerate() {
        if roles.is_empty() {
            continue;
        }
        let roles: Vec<String> = roles.iter().map(|r| format!("toy/{r}")).collect();
        y += &format!("  h{k}: {{ addresses: [10.0.{k}.{last}], zone: z1, roles: [{}] }}\n", roles.join(", "));
    }
    if i.firewall {
        y += "firewalls:\n  fw: { zones: [z1, z2] }\n";
    }
    y
}

fn plan_of(i: &Inv) -> Plan {
    let dir = tempfile::tempdir().unwrap();
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    for m in ["toy.yaml", "toy@2.yaml"] {
        std::fs::copy(here.join(m), dir.path().join(m)).unwrap();
    }
    let inv = dir.path().join("inv.yaml");
    let text = yaml(i);
    std::fs::write(&inv, &text).unwrap();
    let dep = Deployment::load(&inv, &NoMatrices).unwrap_or_else(|d| panic!("{text}\n{d:?}"));
    plan(&dep).unwrap_or_else(|d| panic!("{text}\n{:?}", d.iter().map(|d| d.short()).collect::<Vec<_>>()))
}

/// The addresses of the endpoint `name` in a plan, as its connections name it.
fn nets_of(p: &Plan, name: &str) -> Vec<ipnet::IpNet> {
    p.connections.iter().flat_map(|c| c.endpoints()).find(|e| e.name == name).map(|e| e.nets.clone()).unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn applying_the_diff_gives_the_new_plan(a in inv(), edits in proptest::collection::vec(edit(), 1..4)) {
        let b = edits.iter().fold(a.clone(), edited);
        let (pa, pb) = (plan_of(&a), plan_of(&b));
        let (atoms_a, atoms_b) = (atoms(&pa), atoms(&pb));
        let (added, removed) = atom_delta(&atoms_a, &atoms_b);
        prop_assert_eq!(apply(&atoms_a, &added, &removed), atoms_b.clone());
        // The grouped delta (what the diff uses) is the expanded one, both ways.
        prop_assert_eq!(grouped_delta(&pa, &pb), (added.clone(), removed.clone()));
        prop_assert_eq!(grouped_delta(&pb, &pa), (removed.clone(), added.clone()));
        // The rule changes replayed on the old rulesets give the new ones,
        // and skipping hosts whose inbound connections did not change
        // (comparing rules by key instead of by summary) loses none.
        let rules = rule_deltas(&pa, &pb);
        let nonempty = |mut m: std::collections::BTreeMap<String, std::collections::BTreeSet<_>>| {
            m.retain(|_, r| !r.is_empty());
            m
        };
        prop_assert_eq!(apply_rule_changes(&rule_summaries(&pa), &rules), nonempty(rule_summaries(&pb)));
        let shown = |c: RuleChanges| {
            let r: Vec<_> = c.rulesets.into_iter().map(|d| (d.subject, d.added, d.removed)).collect();
            (r, c.sets)
        };
        prop_assert_eq!(shown(rules), shown(rule_deltas_exhaustive(&pa, &pb)));
        // The report says the same: a row per changed atom, and nothing when nothing changed.
        let d = diff_deployments(&pa, &pb);
        prop_assert_eq!(d.opened.len(), added.len());
        prop_assert_eq!(d.closed.len(), removed.len());
        if atoms_a == atoms_b {
            prop_assert!(d.opened.is_empty() && d.closed.is_empty());
        }
        // Every row names the addresses and the host firewall of the plan it
        // belongs to: the new one for what opens, the old one for what closes.
        for (rows, p) in [(&d.opened, &pb), (&d.closed, &pa)] {
            for r in rows {
                prop_assert_eq!(&r.src_addresses, &nets_of(p, &r.src), "{}", r.src);
                prop_assert_eq!(&r.dst_addresses, &nets_of(p, &r.dst), "{}", r.dst);
                let managed = p.host(&r.dst).is_some_and(|h| h.managed);
                prop_assert_eq!(r.host_firewall, managed);
                prop_assert_eq!(r.enforced_by.starts_with("host firewall"), managed);
            }
        }
        // Against itself, a plan has no diff at all.
        prop_assert!(diff_deployments(&pa, &pa).is_empty());
    }
}

#[test]
fn matrix_versions_differ_in_exactly_the_edited_flows() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let v1 = portmatrix_model::matrix_from_path(&here.join("toy.yaml")).unwrap();
    let v2 = portmatrix_model::matrix_from_path(&here.join("toy@2.yaml")).unwrap();
    let d = diff_matrices(&v1, &v2);
    let changed: Vec<&str> = d.changed.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(changed, ["a-b"]);
    assert!(
        matches!(&d.changed[0].changes[0], portmatrix_diff::matrix::Change::PortsWidened { added, .. } if *added == portmatrix_model::PortSet::range(8011, 8020)),
        "{:?}",
        d.changed
    );
    assert_eq!(d.renamed.len(), 1);
    assert_eq!((d.renamed[0].old_id.as_str(), d.renamed[0].new_id.as_str()), ("b-c", "b-c2"));
    assert_eq!(d.added.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), ["c-b-new"]);
    assert!(d.removed.is_empty());
    assert!(diff_matrices(&v1, &v1).is_empty());
    // Backwards: narrowed, renamed back, removed.
    let back = diff_matrices(&v2, &v1);
    assert!(
        matches!(&back.changed[0].changes[0], portmatrix_diff::matrix::Change::PortsNarrowed { removed, .. } if *removed == portmatrix_model::PortSet::range(8011, 8020))
    );
    assert_eq!(back.removed.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), ["c-b-new"]);
}
