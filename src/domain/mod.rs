//! The pure rules of the tournament (tournament-rules.md §2 to §8).
//!
//! Plain data and plain functions: no actix, diesel, bollard, reqwest or tokio, no clock and no global
//! randomness. Time, ids and random generators are passed in, so every decision can be replayed and
//! audited, and almost every unit test of the project lives here.

pub mod bracket;
pub mod bundle;
pub mod catalog;
pub mod gpu;
pub mod ids;
pub mod kinds;
pub mod scoring;
pub mod state;
pub mod tasks;
pub mod weights;

pub use ids::{Coldkey, Hotkey, IdError, RoundId, TaskId, TournamentId};
pub use kinds::{
    AdmissionOutcome, GpuClass, JobPriority, LedgerKind, ModelType, RoundKind, RunStatus, TaskType, TournamentType,
    UnknownVariant,
};
pub use state::{RoundStatus, TournamentStatus, TrainingEvent, TrainingState, TrainingStatus, TransitionError};
