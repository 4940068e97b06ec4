//! The integration tests: one crate (one binary to build), one module per area.

mod cli;
mod docker;
mod layout;
mod miner;
mod registration;
mod runtime;
mod simulate;
pub mod store;
mod validator;
