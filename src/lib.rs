//! crucible: a validator runtime for open-source training tournaments.
//!
//! # Layout
//! * `actors`: the actor system: supervisor, tournaments, trainers, GPU broker.
//! * `app`: assembles a runtime from its parts (store, clock, executor, registration source).
//! * `cli`: the command line (clap): `migrate`, `rules ...`.
//! * `clock`: wall clock and virtual clock behind one trait.
//! * `config`: typed settings from `config/default.toml`, `--config FILE` and `CRUCIBLE_*` variables.
//! * `domain`: the pure rules: ids, state machines, brackets, tasks, GPUs, scoring, weights.
//! * `exec`: executors that run one training (simulated, remote trainer nodes; local Docker next), GPU
//!   discovery.
//! * `miners`: registration sources: who answers the registration ping and with what.
//! * `node`: `trainer-node`, the trainer API server on a GPU host, and the wire format both sides speak.
//! * `repo`: miner repositories on disk: the gates a checkout must pass.
//! * `report`: the report of a run, read back from the store.
//! * `sim`: the simulated world: miners, trainer fleet, executor, evaluator, task catalog.
//! * `store`: persistence on SQLite or PostgreSQL (diesel, embedded migrations): records, status changes
//!   with their transition log, the idempotent fee ledger. Blocking: call it off the event loop.
//! * `telemetry`: tracing setup, readable or JSON lines.
pub mod actors;
pub mod api;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod content;
pub mod docker;
pub mod domain;
pub mod exec;
pub mod http;
pub mod images;
pub mod miners;
pub mod node;
pub mod repo;
pub mod report;
pub mod sim;
pub mod store;
pub mod telemetry;
