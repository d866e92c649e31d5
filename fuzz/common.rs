// Shared by the import targets: run one importer and insist that the draft
// it writes loads with the model (the importer promises `portmatrix check`
// accepts every draft), on any input.

use portmatrix_import::{import, Format, Options};

pub fn run(data: &[u8], format: Format, name: &str) {
    let mut o = Options::new(name);
    o.format = format;
    // An unreadable workbook is an error value, never a panic.
    let Ok(imp) = import(data, &o) else { return };
    assert!(imp.check_errors.is_empty(), "draft fails the check: {:?}\n{}", imp.check_errors, imp.yaml);
    if let Err(d) = portmatrix_model::matrix_from_str("draft.yaml", &imp.yaml) {
        panic!("draft does not load: {:?}\n{}", d.iter().map(|x| &x.message).collect::<Vec<_>>(), imp.yaml);
    }
}
