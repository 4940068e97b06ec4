//! The download step (execution.md §3): the validator-owned image that prepares a task's inputs. With
//! task content it runs with no network, reads the content read-only, places the base model and the
//! training split in the cache the training sees, and writes the held-out split where only the
//! evaluator will see it; without content, an operator's own image fills the cache from the network.

use std::time::Duration;

use super::attempt::{Attempt, EVALUATOR_CAPABILITIES, HELDOUT_DIR, Step, StepStatus, Stop, absolute, exit_reason};
use crate::docker::{ContainerSpec, container};
use crate::domain::TaskType;
use crate::exec::RunOutcome;
use crate::exec::contract;

/// Where the download step sees the task content (read-only).
pub const CONTENT_DIR: &str = "/content";
impl Attempt {
    pub(crate) async fn download(&self) -> Result<(), Stop> {
        let s = &self.settings;
        let Some(image) = s.downloader(self.content.is_some()) else {
            self.report(
                Step::Download,
                StepStatus::Skipped("no download image configured; /cache is used as it is".into()),
            );
            return Ok(());
        };
        self.report(Step::Download, StepStatus::Started);
        let cache = format!("{}:{}", absolute(&s.cache_dir), contract::CACHE_DIR);
        let spec = match &self.content {
            // The validator-owned step: inputs prepared from the content with no network, the held-out
            // split written where only the evaluator will see it.
            Some(content) => {
                if let Err(e) = std::fs::create_dir_all(&s.heldout_dir) {
                    let reason = format!("cannot create {}: {e}", s.heldout_dir);
                    return Err(self.fail(Step::Download, RunOutcome::NotStarted { reason }));
                }
                let mut args = self.task_args();
                args.extend(["--dataset".into(), self.job.dataset.clone()]);
                if self.job.task_type != TaskType::Image {
                    args.extend(["--dataset-type".into(), self.job.dataset_type_json.clone()]);
                }
                args.extend(["--content".into(), CONTENT_DIR.into(), "--cache".into(), contract::CACHE_DIR.into()]);
                args.extend(["--heldout".into(), HELDOUT_DIR.into()]);
                ContainerSpec {
                    name: self.names.download.clone(),
                    image,
                    args,
                    labels: self.labels("download"),
                    binds: vec![
                        format!("{}:{CONTENT_DIR}:ro", absolute(&content.to_string_lossy())),
                        cache,
                        format!("{}:{HELDOUT_DIR}", absolute(&s.heldout_dir)),
                    ],
                    pids_limit: Some(s.pids_limit),
                    network: None,
                    // It tries the task's reward functions in the evaluator's sandbox, as nobody.
                    cap_add: EVALUATOR_CAPABILITIES.iter().map(|c| (*c).to_owned()).collect(),
                    ..Default::default()
                }
            }
            // An operator's own download image, which fetches the inputs itself.
            None => {
                let mut args = self.task_args();
                args.extend(["--dataset".into(), self.job.dataset.clone()]);
                if let Some(model_type) = self.job.model_type {
                    args.extend(["--model-type".into(), model_type.to_string()]);
                }
                ContainerSpec {
                    name: self.names.download.clone(),
                    image,
                    args,
                    labels: self.labels("download"),
                    binds: vec![cache],
                    pids_limit: Some(s.pids_limit),
                    network: Some("bridge".into()),
                    ..Default::default()
                }
            }
        };
        container::remove(&self.engine, &spec.name).await;
        let limit = Duration::from_secs(s.download_timeout_secs);
        let failed = |reason: String| Err(self.fail(Step::Download, RunOutcome::NotStarted { reason }));
        match container::run(&self.engine, &spec, limit).await {
            Ok(end) if end.exit_code == 0 && !end.timed_out => {
                self.report(Step::Download, StepStatus::Done("inputs in /cache".into()));
                Ok(())
            }
            Ok(end) if end.timed_out => failed(format!("download failed: took longer than {} s", limit.as_secs())),
            Ok(end) => failed(format!("download failed: {}", exit_reason(&end))),
            Err(e) => failed(format!("download failed: {e}")),
        }
    }

    /// `--task-id`, `--task-type`, `--model`: how the validator-owned steps are told the task.
    pub fn task_args(&self) -> Vec<String> {
        vec![
            "--task-id".into(),
            self.job.task_id.to_string(),
            "--task-type".into(),
            self.job.task_type.to_string(),
            "--model".into(),
            self.job.model.clone(),
        ]
    }
}
