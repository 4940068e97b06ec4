//! The store's suite. Every test in the per-aggregate files is written once, as a function of a
//! migrated `&Store`, and runs on SQLite and on PostgreSQL (`<file>::sqlite::<test>` and
//! `<file>::postgres::<test>`, see `on_both_backends!`).

#[macro_use]
pub mod support;

mod added_nodes;
mod events;
mod export;
mod group;
pub mod history;
mod ledger;
mod meta;
mod miners;
mod node_tasks;
mod nodes;
mod open;
mod rounds;
mod snapshot;
mod tasks;
mod tournaments;
mod tracks;
