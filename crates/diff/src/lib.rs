//! What changed over time: two versions of a matrix ([`matrix`]) or two
//! deployments ([`deployment`]), at the level of vendor flows, with the
//! cites of both sides. A decommission (a product, host or role removed)
//! is the same operation: its diff is the removal request.

pub mod deployment;
pub mod grouped;
pub mod matrix;
pub mod rules;

pub use deployment::{diff_deployments, DeltaRow, DeploymentDiff};
pub use grouped::grouped_delta;
pub use matrix::{diff_matrices, MatrixDiff};
pub use rules::{RuleChanges, RuleDelta, RuleSummary, SetChange};
