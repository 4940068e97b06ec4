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
use crate::domain::task_scores::EvalFacts;
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

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RunOutcome {
    /// The run produced a valid output and the evaluator scored it; `eval` holds what the evaluator
    /// said beside the value (an executor that does not know leaves it empty).
    Success {
        test_loss: f64,
        synth_loss: Option<f64>,
        #[serde(default)]
        eval: EvalFacts,
    },
    /// The run failed (crash, OOM, timeout without output, no output, lost): consumes the attempt.
    /// `image` is the content id of the miner image it ran, when one was built.
    Failed {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image: Option<String>,
    },
    /// The run never started (GPU unavailable, node refused): no attempt is consumed.
    NotStarted { reason: String },
    /// The repository cannot be fetched at the submitted commit, or fails the repository gates there:
    /// fails without retry.
    Unfetchable { reason: String },
    /// The trainer node running (or meant to run) the attempt does not answer. The caller fences the
    /// node until it answers again; `during_run` says whether the attempt had started (a lost run,
    /// which consumes the attempt) or not (no attempt consumed).
    NodeUnreachable { reason: String, during_run: bool },
}

impl RunOutcome {
    /// A success with only its value known.
    pub fn scored(test_loss: f64) -> Self {
        RunOutcome::Success { test_loss, synth_loss: None, eval: EvalFacts::default() }
    }

    /// A failure with no image known.
    pub fn failed(reason: String) -> Self {
        RunOutcome::Failed { reason, image: None }
    }

    /// The content id of the miner image the attempt ran, when it is known.
    pub fn image(&self) -> Option<&str> {
        match self {
            RunOutcome::Success { eval, .. } => eval.image.as_deref(),
            RunOutcome::Failed { image, .. } => image.as_deref(),
            _ => None,
        }
    }

    /// The kind of outcome, for metrics: `success`, `failed`, `not_started`, `unfetchable` or
    /// `node_unreachable`.
    pub fn kind(&self) -> &'static str {
        match self {
            RunOutcome::Success { .. } => "success",
            RunOutcome::Failed { .. } => "failed",
            RunOutcome::NotStarted { .. } => "not_started",
            RunOutcome::Unfetchable { .. } => "unfetchable",
            RunOutcome::NodeUnreachable { .. } => "node_unreachable",
        }
    }

    /// Why the attempt did not succeed; `None` for a success.
    pub fn reason(&self) -> Option<&str> {
        match self {
            RunOutcome::Success { .. } => None,
            RunOutcome::Failed { reason, .. }
            | RunOutcome::NotStarted { reason }
            | RunOutcome::Unfetchable { reason }
            | RunOutcome::NodeUnreachable { reason, .. } => Some(reason),
        }
    }
}

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
}
