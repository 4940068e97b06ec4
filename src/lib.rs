//! crucible: a validator runtime for open-source training tournaments.
//!
//! # Layout
//! * `cli`: the command line (clap): `migrate`, `rules ...`.
//! * `config`: typed settings from `config/default.toml`, `--config FILE` and `CRUCIBLE_*` variables.
//! * `domain`: the pure rules: ids, state machines, brackets, tasks, GPUs, scoring, weights.
//! * `store`: persistence on SQLite or PostgreSQL (diesel, embedded migrations): records, status changes
//!   with their transition log, the idempotent fee ledger. Blocking: call it off the event loop.
pub mod cli;
pub mod config;
pub mod domain;
pub mod store;
