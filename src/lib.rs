//! crucible: a validator runtime for open-source training tournaments.
//!
//! # Layout
//! Top-level modules import only modules listed below them in this order, so none reaches itself
//! through the others (`tests/it/layout.rs` checks it):
//! * `cli`: the command line (clap): `validator`, `simulate`, `trial`, `trainer-node`, `rules`, ...,
//!   and the wiring of the programs it starts.
//! * `telemetry`: tracing setup, readable or JSON lines.
//! * `sim`: the simulated world: miners, their behaviours, executor, evaluator, task catalog, and a
//!   simulation run on the application.
//! * `app`: the composition root: one validator built from its settings and the backends its caller
//!   chose (store, clock, where trainings run, who answers registration, the API's socket), for
//!   `validator`, `simulate` and the tests alike.
//! * `config`: typed settings from `config/default.toml`, `--config FILE` and `CRUCIBLE_*` variables.
//! * `api`: the control API: reads compatible with the reference's, operations, pages, events, metrics.
//! * `node`: `trainer-node`, the trainer API server on a GPU host (its side of the wire format).
//! * `actors`: the actor system: supervisor, tournaments, trainers, GPU broker, node health, fleet.
//! * `report`: the report of a run, read back from the store.
//! * `miners`: registration sources (who answers the registration ping), credits and fees.
//! * `exec`: executors that run one training (simulated, local Docker, remote trainer nodes and the
//!   wire format they speak), GPU discovery, the hub.
//! * `images`, `docker`: the validator's own images, and the Docker engine (builds, containers).
//! * `repo`: miner repositories: fetch and the gates a checkout must pass.
//! * `content`: task content (models and datasets) a validator prepares instead of a hub.
//! * `store`: persistence on SQLite or PostgreSQL (diesel, embedded migrations): records, status changes
//!   with their transition log, the idempotent fee ledger; `Db` calls it off the event loop.
//! * `http`: what the HTTP servers and clients share: access rules, errors, secrets.
//! * `clock`: wall clock and virtual clock behind one trait.
//! * `domain`: the pure rules: ids, state machines, brackets, tasks, GPUs, scoring, weights.
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
