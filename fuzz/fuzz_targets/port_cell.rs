//! Port and protocol cells on arbitrary text: no panic; a cell that reads
//! has only valid ports, and an unreadable one has no ports at all.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portmatrix_import::ports::{parse_cell, Item};
use portmatrix_import::proto::parse_proto_cell;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let cell = parse_cell(text);
    if cell.error.is_some() {
        assert!(cell.groups.is_empty());
    }
    for (item, _) in cell.items() {
        if let Item::Range(a, b) = item {
            assert!(a <= b, "{text:?}");
        }
    }
    let _ = parse_proto_cell(text);
});
