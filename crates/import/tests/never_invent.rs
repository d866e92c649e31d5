//! Property: the importer never invents a port. Every port it reads from a
//! cell, a firewall command or a sentence is written in that text: a
//! single port as its digits, a range by both ends — except the open
//! ranges `> N` / `< N` and `any`/`all`, which say so in words.

use portmatrix_import::ports::{parse_cell, Item};
use proptest::prelude::*;

/// Whether `n` stands in `text` as a number of its own (not part of a longer one).
fn written(text: &str, n: u16) -> bool {
    let digits = n.to_string();
    text.match_indices(&digits).any(|(i, _)| {
        let before = text[..i].chars().next_back().is_none_or(|c| !c.is_ascii_digit());
        let after = text[i + digits.len()..].chars().next().is_none_or(|c| !c.is_ascii_digit());
        // A leading zero ("0443") still writes the number.
        after && (before || text[..i].ends_with('0'))
    })
}

fn check(text: &str, items: &[Item]) -> Result<(), TestCaseError> {
    let open = text.contains(['>', '<', '≥', '≤']);
    let lower = text.to_lowercase();
    for it in items {
        match it {
            Item::Port(p) => prop_assert!(written(text, *p), "{p} not in {text:?}"),
            Item::Range(a, b) => prop_assert!(open || (written(text, *a) && written(text, *b)), "{a}-{b} not in {text:?}"),
            Item::Any => prop_assert!(lower.contains("any") || lower.contains("all"), "any from {text:?}"),
            Item::PerUnit { base, .. } => prop_assert!(written(text, *base)),
            Item::Unknown(w) => prop_assert!(text.contains(w.as_str())),
        }
    }
    Ok(())
}

fn cellish() -> impl Strategy<Value = String> {
    let atoms = prop_oneof![
        "[0-9]{1,6}",
        Just("TCP".to_string()),
        Just("UDP".to_string()),
        Just("any".to_string()),
        Just("to".to_string()),
        Just("port".to_string()),
        Just("nnn".to_string()),
        Just("host.example".to_string()),
        Just("for the default instance".to_string()),
        "[-,/:.()<>=* ]",
        "[a-z]{1,5}",
    ];
    prop::collection::vec(atoms, 0..12).prop_map(|v| v.join(""))
}

/// Sentences built from the phrases the prose readers key on (a port named
/// by the party it serves, a subject that connects, alternatives), with
/// numbers and multi-byte characters between them.
fn sentence() -> impl Strategy<Value = String> {
    let atoms = prop_oneof![
        "[0-9]{1,6}",
        Just("Every Redis node needs ".to_string()),
        Just("Each é server must ".to_string()),
        Just("the TCP port used to serve clients".to_string()),
        Just("UDP port used by ".to_string()),
        Just(", for example ".to_string()),
        Just("default ".to_string()),
        Just("the end devices must be able to connect ".to_string()),
        Just(" or ".to_string()),
        Just(". ".to_string()),
        // A port derived by a stated offset, a sentence naming both ends,
        // a self link and conditions.
        Just("plus the port obtained by adding ".to_string()),
        Just(" to the data port, so ".to_string()),
        Just("node-to-node".to_string()),
        Just("Media server to/from client requires the TCP port for PBX/".to_string()),
        Just(" to media server requires the UDP ports for ".to_string()),
        Just(", bi-directional".to_string()),
        Just("Optional (HA) ".to_string()),
        Just(" only when ".to_string()),
        Just(" is enabled".to_string()),
        Just("Ingesters connect to the indexers on this port".to_string()),
        Just("Indexers use this port to talk to each other".to_string()),
        "[-,:;()→é/ ]",
        "[a-zA-Z]{1,6}",
    ];
    prop::collection::vec(atoms, 0..14).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn prose_only_yields_written_ports(text in sentence(), heading in cellish()) {
        // A heading that may state ports ("Control Port: TCP 9404") before the sentence.
        let md = format!("# Ports\n\n## Control Port: {}\n\n{text}\n", heading.replace('\n', " "));
        let imp = portmatrix_import::import(md.as_bytes(), &portmatrix_import::Options::new("p.md")).unwrap();
        // The shared check: a comparison (`TCP<1` reads as port 0) bounds ports it does not spell.
        only_written_ports(&imp, &md, &md)?;
    }

    #[test]
    fn port_cells_only_hold_written_ports(text in cellish()) {
        let c = parse_cell(&text);
        let items: Vec<Item> = c.items().map(|(i, _)| i.clone()).collect();
        check(&text, &items)?;
    }

    #[test]
    fn arrow_header_tables_only_hold_written_ports(text in cellish(), purpose in sentence()) {
        // A table whose header names the ends with an arrow.
        let md = format!("# Ports\n\n| Site A → | Site B |\n|---|---|\n| DST {} | {} |\n", text.replace('|', ""), purpose.replace('|', ""));
        let imp = portmatrix_import::import(md.as_bytes(), &portmatrix_import::Options::new("p.md")).unwrap();
        only_written_ports(&imp, &text, &md)?;
    }

    #[test]
    fn drafts_only_hold_written_ports(text in cellish(), purpose in cellish()) {
        // Through the whole importer: a CSV row with that port cell.
        let csv = format!("Source,Destination,Port,Protocol,Purpose\nA,B,\"{}\",TCP,\"{}\"\n", text.replace('"', ""), purpose.replace('"', ""));
        let imp = portmatrix_import::import(csv.as_bytes(), &portmatrix_import::Options::new("p.csv")).unwrap();
        only_written_ports(&imp, &text, &text)?;
    }
}

/// Every port range of the draft's flows is written in `source` (the whole
/// document); cells holding comparison signs may mean "all ports" and are
/// left to the cell-level test.
fn only_written_ports(imp: &portmatrix_import::Import, text: &str, source: &str) -> Result<(), TestCaseError> {
    prop_assert!(imp.check_errors.is_empty(), "{:?}", imp.check_errors);
    let m = portmatrix_model::matrix_from_str("d.yaml", &imp.yaml).unwrap();
    for f in &m.flows {
        let set = f.ports.as_ref().and_then(|p| p.resolve(&|n| m.param_default(n)).ok()).unwrap_or_default();
        if set.is_all() || text.contains(['>', '<']) {
            continue;
        }
        for (a, b) in set.ranges() {
            prop_assert!(written(source, a) && written(source, b), "{a}-{b} from {source:?}");
        }
    }
    Ok(())
}
