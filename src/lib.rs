//! crucible: a validator runtime for open-source training tournaments.
//!
//! # Layout
//! * `domain`: the pure rules: ids, state machines, brackets, tasks, GPUs, scoring, weights.
pub mod domain;
