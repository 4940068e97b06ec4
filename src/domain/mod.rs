//! The pure rules of the tournament (tournament-rules.md §2 to §8).
//!
//! Plain data and plain functions: no actix, diesel, bollard, reqwest or tokio, no clock and no global
//! randomness. Time, ids and random generators are passed in, so every decision can be replayed and
//! audited, and almost every unit test of the project lives here.
//!
//! * `ids`: validated ids (tournament, round, task, hotkey), expected repo names, round seeds.
//! * `kinds`: the closed vocabularies (tournament and task types, GPU classes, admission outcomes).
//! * `state`: tournament, round and training state machines; illegal transitions are errors.
//! * `bracket`: groups and knockout pairs, the house in odd brackets, the boss round, the endings.
//! * `tasks`, `catalog`: tasks per round, their types, model sizes and hours; drawing from the catalog.
//! * `gpu`: GPU requirement of a task, tightest-fit placement on the nodes.
//! * `gpu_queue`: the jobs waiting for GPUs, in priority order, indexed per requirement.
//! * `node_spec`: a fleet written as a spec (`4x8H100,2x4A100`).
//! * `packing`: a placement policy (crucible's or the reference's) played on a fleet to the last end.
//! * `scoring`: group and pair winners, the boss round and its threshold, round sanity.
//! * `standings`, `calendar`: the reference's analytics in its meaning: rank scores, final scores and
//!   the next start on its quarter-hour scheduler.
//! * `bundle`, `weights`: the exported results bundle and the weight computation over it.
//! * `run`: how one attempt ended (`RunOutcome`), and the training event that makes it.
//! * `tracks`: the tournament lines that run at once, each with its type, schedule, fee and weight share.
//! * `rules`: every number above in one validated value.

pub mod backoff;
pub mod bracket;
pub mod bundle;
pub mod calendar;
pub mod catalog;
pub mod gpu;
pub mod gpu_queue;
pub mod ids;
pub mod kinds;
pub mod node_spec;
pub mod packing;
pub mod progress;
pub mod rules;
pub mod run;
pub mod scoring;
pub mod standings;
pub mod state;
pub mod task_scores;
pub mod tasks;
pub mod text;
pub mod tracks;
pub mod weights;

pub use ids::{Coldkey, Hotkey, IdError, NodeId, RoundId, TaskId, TournamentId, TrainingKey};
pub use kinds::{
    AdmissionOutcome, FileFormat, GpuClass, JobPriority, LedgerKind, ModelType, NodeFailure, NodeTaskStatus, RoundKind,
    RunStatus, TaskType, TournamentType, UnknownVariant,
};
pub use state::{
    RoundStatus, TaskStatus, TournamentStatus, TrainingEvent, TrainingState, TrainingStatus, TransitionError,
};
