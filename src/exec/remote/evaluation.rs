//! Scoring the runs of trainer nodes that do not score: the reference's nodes upload the trained model
//! to the hub as `{organisation}/{expected_repo_name}` and report success without a `test_loss`. The
//! validator then fetches that repository (see [`crate::exec::hub`]) into a private directory on its
//! own host and evaluates it with its own evaluator image, as a local attempt's evaluate step does (no
//! network, output read-only, no GPU of this host reserved).

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
        let outcome = self
            .local
            .evaluate_fetched(here, move |dir| async move {
                let fetched = hub.download(&name, &dir).await?;
                Ok(format!("{} at {} ({} files)", hub.repo_id(&name), &fetched.commit[..12], fetched.files))
            })
            .await;
        tracing::info!(task = %job.task_id, hotkey = %job.hotkey, repo = %self.hub.repo_id(&job.expected_repo_name), ?outcome, "evaluated a remote run's uploaded model");
        outcome
    }
}
