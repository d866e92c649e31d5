//! JSON Schema of the file formats, for editors.

use crate::matrix::Matrix;

pub fn matrix_schema() -> serde_json::Value {
    let mut s = serde_json::to_value(schemars::schema_for!(Matrix)).expect("a schema is JSON");
    if let Some(obj) = s.as_object_mut() {
        obj.insert("$id".into(), "https://portmatrix.invalid/schema/matrix.json".into());
    }
    s
}

pub fn inventory_schema() -> serde_json::Value {
    let mut s = serde_json::to_value(schemars::schema_for!(crate::inventory::Inventory)).expect("a schema is JSON");
    if let Some(obj) = s.as_object_mut() {
        obj.insert("$id".into(), "https://portmatrix.invalid/schema/inventory.json".into());
    }
    s
}
