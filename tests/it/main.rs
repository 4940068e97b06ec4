//! The integration tests: one crate (one binary to build), one module per area.

mod cli;
mod layout;
pub mod store;
