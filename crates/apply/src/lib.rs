//! `portmatrix apply`: load a host's compiled ruleset without locking
//! anyone out, with a rollback armed before anything changes.
//!
//! 1. [`guard`]: the compiled ruleset must still let every admin network
//!    reach the management port and accept the caller's session, asked of
//!    the ruleset's evaluator, exactly.
//! 2. [`hooks`]: no foreign table or chain on our hooks may drop planned
//!    traffic (or, in front of our iptables jump, accept everything).
//! 3. [`kernel`]: syntax check, snapshot of what portmatrix owns (and
//!    nothing else), one-transaction load of its own table or chains
//!    ([`iptables`]: the compiled files moved into chains of our own).
//! 4. [`arm`]: the rollback, armed before loading, as a transient systemd
//!    timer or a detached watchdog process; it survives the caller.
//! 5. [`run`]: the procedure, confirmation by hand or by proof ([`probe`]),
//!    the rollback by hand.
//! 6. [`journal`]: every apply recorded in the state directory, atomically.
//! 7. [`windows`]: the same procedure as a PowerShell script for Windows
//!    hosts (netsh snapshot, scheduled-task rollback), written by
//!    `apply --windows-script DIR`, run there by an administrator.

pub mod arm;
pub mod guard;
pub mod hooks;
pub mod iptables;
pub mod journal;
pub mod kernel;
pub mod probe;
pub mod run;
pub mod windows;

pub use run::{Failure, Options, Prepared};
