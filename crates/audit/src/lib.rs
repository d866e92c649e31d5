//! Audit what really runs against the plan: flow logs, connection tracking,
//! firewall logs and listening sockets, classified on embedded Apache
//! DataFusion (and on an Apache Ballista cluster with the `distributed`
//! feature). See docs/audit.md.
//!
//! - [`intent`]: the plan as interval tables (the only module reading the plan)
//! - [`matcher`]: those tables compiled for fast lookups
//! - [`formats`]: one reader per input format
//! - [`record`]: the normalized record schema
//! - [`udf`], [`tables`], [`engine`], [`classify`]: the classification on DataFusion
//! - [`results`], [`output`]: what an audit found, and its renderings
//! - [`sockets`]: listening sockets against the roles of a host
//! - [`generate`]: synthetic flow logs with ground truth

pub mod classify;
#[cfg(feature = "distributed")]
pub mod distributed;
pub mod engine;
pub mod formats;
pub mod generate;
pub mod intent;
pub mod matcher;
pub mod output;
pub mod record;
pub mod reference;
pub mod results;
pub mod sockets;
pub mod tables;
pub mod udf;
pub mod writers;

pub use classify::{audit_flows, AuditOptions, Session};
pub use datafusion::arrow::record_batch::RecordBatch;
pub use engine::Progress;
pub use formats::{FlowFormat, FlowInput, InputError, ReadOptions};
pub use intent::IntentTable;
pub use results::{AuditError, AuditResult, FlowClass};

/// The async runtime type the long-running services use.
pub type Runtime = tokio::runtime::Runtime;

/// A runtime for a scheduler or executor process.
pub fn runtime_for_services() -> std::io::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}
