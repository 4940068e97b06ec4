//! Miner repositories on disk: the gates a checkout must pass before it is admitted or built
//! (execution.md §2). One implementation, used by registration and by the executors.

pub mod dockerfile;
pub mod fetch;
pub mod gates;
pub mod sniff;
pub mod source;

pub use gates::{GateFailure, GateRules, check};
