//! The wrong readings issue 11 names, through the whole importer and the
//! matrix loader: a colon range is one range, an address-and-port cell is
//! its port with the address under review (never its octets), and ports
//! offered as alternatives ("25 or 587") are never opened silently.

use portmatrix_import::{import, Options};
use portmatrix_model::{Matrix, PortSet};

const DOC: &str = "# Media and mail\n\n\
| Source | Destination | Port | Protocol | Purpose |\n\
|---|---|---|---|---|\n\
| Phones | PBX | 16384:16400 | UDP | RTP media |\n\
| Encoder | Decoders | 239.1.2.3:5004 | UDP | Multicast stream |\n\
| App server | Mail relay | 25 or 587 | TCP | Outgoing mail |\n";

fn draft() -> Matrix {
    let imp = import(DOC.as_bytes(), &Options::new("wrong.md")).expect("import");
    assert!(imp.check_errors.is_empty(), "{:?}", imp.check_errors);
    portmatrix_model::matrix_from_str("wrong.yaml", &imp.yaml).expect("the draft loads")
}

fn ports_of(m: &Matrix, from: &str) -> Vec<PortSet> {
    m.flows
        .iter()
        .filter(|f| f.from.iter().any(|e| e.value == from))
        .map(|f| f.ports.as_ref().expect("ports").resolve(&|n| m.param_default(n)).expect("resolves"))
        .collect()
}

/// Review items, general and per flow, as text.
fn reviews(m: &Matrix) -> Vec<String> {
    m.review.iter().map(|r| format!("{} {}", r.about.value, r.flow.as_ref().map(|f| f.to_string()).unwrap_or_default())).collect()
}

#[test]
fn a_colon_range_is_one_range() {
    let m = draft();
    let got = ports_of(&m, "phones");
    assert_eq!(got, [PortSet::parse("16384-16400").unwrap()], "read as {got:?}");
}

#[test]
fn an_address_and_port_is_the_port_with_the_address_under_review() {
    let m = draft();
    let got = ports_of(&m, "encoder");
    assert_eq!(got, [PortSet::parse("5004").unwrap()], "no octet may become a port: {got:?}");
    assert!(reviews(&m).iter().any(|r| r.contains("239.1.2.3")), "the multicast group is a review item: {:?}", reviews(&m));
}

#[test]
fn ports_offered_as_alternatives_are_a_review_item() {
    let m = draft();
    let got = ports_of(&m, "app-server");
    assert_eq!(got.iter().fold(PortSet::new(), |a, b| a.union(b)), PortSet::parse("25,587").unwrap());
    let about_mail: Vec<String> = reviews(&m).into_iter().filter(|r| r.contains("25 or 587")).collect();
    assert!(!about_mail.is_empty(), "\"25 or 587\" opens both ports only with a review item: {:?}", reviews(&m));
}
