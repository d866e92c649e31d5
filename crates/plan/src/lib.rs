//! The plan: `plan(matrices, inventory) -> connections`. Pure: no I/O
//! beyond reading the inventory and the matrix files it names, and no
//! firewall syntax. Matrix ids resolve through an injected
//! [`portmatrix_model::MatrixSource`] (the binary passes the catalog).

mod access;
mod addrset;
mod conflicts;
mod deployment;
mod endpoints;
mod explain;
mod flows;
mod plan;
mod site;
pub mod topology;
mod types;

pub use access::{admin_service, ADMIN_RDP, ADMIN_SSH};
pub use addrset::difference as prefix_difference;
pub use deployment::{Deployment, Product};
pub use explain::{explain, explain_between, ExplainedPacket, Explanation, Packet};
pub use plan::{plan, plan_for_host};
pub use site::SITE;
pub use topology::{Enforcement, Hop, Path, Topology};
pub use types::service_name;
pub use types::{
    Connection, Endpoint, EndpointKind, FirewallInfo, Forward, FqdnEgress, HostInfo, LocalFlow, NotDeployed, Plan, Reason, Sources,
};
