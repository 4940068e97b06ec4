//! The integration tests: one crate (one binary to build), one module per area.

mod api;
mod api_analytics;
mod api_compat;
mod api_methods;
mod api_ops;
mod api_reads;
mod app;
mod cli;
mod confirmation;
pub mod content;
mod deploy;
mod docker;
mod doctor;
mod fencing;
mod fiber_vectors;
pub mod hub;
mod layout;
mod live_fixture;
mod miner;
pub mod node;
mod node_edges;
mod node_restore;
mod overrides;
mod pages;
mod readiness;
mod registration;
pub mod remote;
mod remote_cancel;
mod runtime;
mod simulate;
mod stalls;
pub mod store;
mod tracks;
mod validator;
mod validator_control;

/// A node id the test names.
pub fn node_id(id: &str) -> crucible::domain::NodeId {
    crucible::domain::NodeId::parse(id).expect("a valid node id")
}
