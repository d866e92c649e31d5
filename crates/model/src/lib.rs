//! The portmatrix model: matrices (a product's network requirements) and
//! inventories (a deployment), read from YAML with precise diagnostics.
//!
//! This crate does no I/O beyond reading the files it is given, and knows
//! nothing of any firewall syntax.

pub mod cond;
pub mod decode;
pub mod diag;
pub mod icmp;
pub mod inventory;
pub mod lint;
pub mod load;
pub mod matrix;
pub mod matrix_source;
pub mod names;
pub mod ports;
pub mod schema;
pub mod source;
pub mod starter;
pub mod validate;
pub mod yaml;
mod yaml_fast;

pub use cond::Cond;
pub use diag::{Diagnostic, Diagnostics, Severity};
pub use icmp::IcmpType;
pub use inventory::Inventory;
pub use load::{inventory_from_path, inventory_from_source, matrix_from_path, matrix_from_source, matrix_from_str, read_source};
pub use matrix::{Flow, Matrix, Os, Proto, Role};
pub use matrix_source::MatrixSource;
pub use names::{FlowTag, RoleRef};
pub use ports::{PortExpr, PortSet};
pub use source::{SourceFile, Span, Spanned};
