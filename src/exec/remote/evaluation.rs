//! Scoring the runs of trainer nodes that do not score: the reference's nodes upload the trained model
//! to the hub as `{organisation}/{expected_repo_name}` and report success without a `test_loss`. The
//! validator then fetches that repository (see [`crate::exec::hub`]) into a private directory on its
//! own host, prepares the task's inputs in the cache with the download image (as a local attempt
//! does), and evaluates it with its own evaluator image (no network, output read-only, no GPU of this
//! host reserved: the evaluation runs on the CPU). An evaluation that cannot run counts as a failed
//! attempt, never as a run to train again.

use crate::domain::TaskType;
use crate::exec::hub::Hub;
use crate::exec::local::LocalExecutor;
use crate::exec::{RunOutcome, TrainingJob};

pub struct RemoteEvaluation {
    /// Runs the evaluate step (its settings should have `gpus = "none"`: no GPU is reserved here).
    pub local: LocalExecutor,
    pub hub: Hub,
}

impl RemoteEvaluation {
    /// Fetches `job`'s trained model from the hub and scores it.
    pub async fn evaluate(&self, job: &TrainingJob) -> RunOutcome {
        let mut here = job.clone();
        here.placement.gpu_indices.clear();
        let (hub, name) = (self.hub.clone(), job.expected_repo_name.clone());
        // The reference's nodes upload image outputs under checkpoints/.
        let prefix = (job.task_type == TaskType::Image).then_some("checkpoints");
        let outcome = self
            .local
            .evaluate_fetched(here, move |dir| async move {
                let fetched = hub.download(&name, &dir, prefix).await?;
                Ok(format!("{} at {} ({} files)", hub.repo_id(&name), &fetched.commit[..12], fetched.files))
            })
            .await;
        // The training is over: an evaluation that could not run must not send it back to be trained.
        let outcome = match outcome {
            RunOutcome::NotStarted { reason } => {
                RunOutcome::failed(format!("the validator could not evaluate the uploaded model: {reason}"))
            }
            other => other,
        };
        tracing::info!(task = %job.task_id, hotkey = %job.hotkey, repo = %self.hub.repo_id(&job.expected_repo_name), ?outcome, "evaluated a remote run's uploaded model");
        outcome
    }
}
