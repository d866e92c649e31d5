//! The plan: `plan(matrices, inventory) -> connections`. Pure: no I/O
//! beyond reading the inventory and the matrix files it names, and no
//! firewall syntax.

mod deployment;
mod explain;
mod plan;

pub use deployment::{Deployment, Product};
pub use explain::{explain, Packet};
pub use plan::{plan, Connection, Endpoint, EndpointKind, FqdnEgress, HostInfo, LocalFlow, Plan, Reason, Sources};
