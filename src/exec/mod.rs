//! Executors: what runs one training (fetch, build, train, collect, evaluate) somewhere and reports how
//! it ended. One trait, several backends: `simulated` (virtual time, synthetic scores), `local`
//! (bollard on this host's Docker engine) and `remote` (a trainer node speaking the trainer API).
//!
//! An executor never touches the store and never retries: the TrainerActor persists every start and end
//! and applies the retry policy.

pub mod contract;
pub mod gpus;
pub mod hub;
pub mod local;
pub mod remote;

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::gpu::Placement;
use crate::domain::{FileFormat, Hotkey, ModelType, TaskId, TaskType, TournamentId};

/// Everything an executor needs to run one attempt of one training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingJob {
    pub tournament_id: TournamentId,
    pub task_id: TaskId,
    pub hotkey: Hotkey,
    pub attempt: u32,
    pub task_type: TaskType,
    pub model: String,
    pub model_params: Option<u64>,
    pub model_type: Option<ModelType>,
    pub dataset: String,
    pub dataset_type_json: String,
    /// How a text task's dataset is stored (`--file-format`).
    #[serde(default)]
    pub file_format: FileFormat,
    pub hours_to_complete: f64,
    pub expected_repo_name: String,
    pub repo_url: String,
    pub commit_hash: String,
    pub placement: Placement,
}

pub use crate::domain::run::RunOutcome;

/// A run in progress; resolves when it ends.
pub type RunFuture = Pin<Box<dyn Future<Output = RunOutcome>>>;

pub trait Executor: 'static {
    /// A short name for logs and the report (`simulated`, `local`, `remote`).
    fn name(&self) -> &'static str;

    /// Starts an attempt now and resolves when it has ended.
    fn run(&self, job: TrainingJob) -> RunFuture;

    /// After a validator restart: follows an attempt that was started at `started_at`, if the executor
    /// can still see it (a container found by its labels, a simulated run). `None` means the run is
    /// lost, which the caller counts as a failed attempt.
    fn reattach(&self, job: TrainingJob, started_at: DateTime<Utc>) -> Option<RunFuture>;

    /// Stops an attempt whose run future was dropped (its tournament was cancelled) and removes what
    /// it made: the local executor kills its containers, the remote one asks the node to. By default
    /// nothing: a simulated run is gone with its future.
    fn cancel(&self, job: TrainingJob) -> CancelFuture {
        let _ = job;
        Box::pin(std::future::ready(()))
    }
}

/// What [`Executor::cancel`] returns.
pub type CancelFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;
