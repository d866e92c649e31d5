//! The xlsx importer on arbitrary bytes: no panic, and a draft that loads.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::run(data, portmatrix_import::Format::Xlsx, "doc.xlsx");
});
