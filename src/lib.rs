//! crucible: a validator runtime for open-source training tournaments.
//!
//! # Layout
//! * `domain`: the pure rules: ids, state machines, brackets, tasks, GPUs, scoring, weights.
//! * `store`: persistence on SQLite or PostgreSQL (diesel, embedded migrations): records, status changes
//!   with their transition log, the idempotent fee ledger. Blocking: call it off the event loop.
pub mod domain;
pub mod store;
