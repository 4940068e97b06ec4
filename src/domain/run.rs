//! How one attempt of a training ended, as an executor reports it, and what that means for the
//! training: the retry policy's input. [`RunOutcome::training_event`] is the one place that says
//! which outcome consumes an attempt, which is retried, and which fails the training at once.

use serde::{Deserialize, Serialize};

use super::TrainingEvent;
use super::task_scores::EvalFacts;

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

impl RunOutcome {
    /// The training event this outcome is: a success; a failed run, which consumes its attempt (a
    /// run lost with its node too); a start that did not happen, which consumes none; or a
    /// repository that cannot be fetched, which fails the training without retry.
    pub fn training_event(&self) -> TrainingEvent {
        let reason = || self.reason().unwrap_or_default().to_owned();
        match self {
            RunOutcome::Success { .. } => TrainingEvent::Succeeded,
            RunOutcome::Failed { .. } | RunOutcome::NodeUnreachable { during_run: true, .. } => {
                TrainingEvent::RunFailed { reason: reason() }
            }
            RunOutcome::NotStarted { .. } | RunOutcome::NodeUnreachable { during_run: false, .. } => {
                TrainingEvent::StartFailed { reason: reason() }
            }
            RunOutcome::Unfetchable { .. } => TrainingEvent::Unfetchable { reason: reason() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{TrainingState, TrainingStatus};

    /// Every outcome, from a training that has run `attempts` of its 2 attempts: the state it
    /// leaves, as (status, attempts).
    #[test]
    fn every_outcome_moves_a_running_training_as_the_retry_policy_says() {
        use TrainingStatus::*;
        let reason = || "r".to_owned();
        let unreachable = |during_run| RunOutcome::NodeUnreachable { reason: reason(), during_run };
        let table: Vec<(RunOutcome, u32, (TrainingStatus, u32))> = vec![
            (RunOutcome::scored(0.5), 1, (Success, 1)),
            (RunOutcome::scored(0.5), 2, (Success, 2)),
            (RunOutcome::failed(reason()), 1, (Pending, 1)),
            (RunOutcome::failed(reason()), 2, (Failure, 2)),
            (unreachable(true), 1, (Pending, 1)),
            (unreachable(true), 2, (Failure, 2)),
            // A start that did not happen hands its attempt back.
            (RunOutcome::NotStarted { reason: reason() }, 1, (Pending, 0)),
            (RunOutcome::NotStarted { reason: reason() }, 2, (Pending, 1)),
            (unreachable(false), 2, (Pending, 1)),
            // A repository that cannot be fetched is not retried, whatever attempts remain.
            (RunOutcome::Unfetchable { reason: reason() }, 1, (Failure, 1)),
        ];
        for (outcome, attempts, expected) in table {
            let running = TrainingState { status: Training, attempts, failure_reason: None };
            let next = running.step(&outcome.training_event(), 2).unwrap();
            assert_eq!((next.status, next.attempts), expected, "{outcome:?} after {attempts} attempts");
            let reason = if next.status == Success { None } else { Some("r".to_owned()) };
            assert_eq!(next.failure_reason, reason, "{outcome:?}");
        }
    }
}
