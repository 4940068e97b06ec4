//! The steps of one local attempt, in order, each turning its failure into the outcome and reason a
//! miner reads. Whatever happens, the attempt's containers, image and directories are removed at the end.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::attempt::{Attempt, Step, StepStatus, Stop, exit_reason, off_loop, open_to_container, private};
use super::evaluate::Unscored;
use crate::docker::{ContainerEnd, container};
use crate::exec::RunOutcome;
use crate::exec::contract::labels;
use crate::repo::{fetch, gates};

/// How many times the evaluator may run on one output (the reference evaluates a task at most 4
/// times).
pub const EVALUATION_TRIES: u32 = 4;

impl Attempt {
    /// A fresh attempt: every step from the fetch.
    pub async fn run(&self) -> RunOutcome {
        let outcome = match self.prepare().await {
            Ok(()) => match self.train().await {
                Ok(end) => self.after_training(end).await,
                Err(stop) => stop,
            },
            Err(stop) => stop,
        };
        self.clean().await;
        outcome
    }

    /// After a restart: follow the training container if it is still there, for what remains of its
    /// time counted from the container's own start. No container and no sign one was ever made (the
    /// restart came during the fetch or the build) means the attempt never started; a container that
    /// was made and is gone is a lost run.
    pub async fn reattach(&self, started_at: DateTime<Utc>) -> RunOutcome {
        let (task, hotkey, attempt) =
            (self.job.task_id.to_string(), self.job.hotkey.to_string(), self.job.attempt.to_string());
        let wanted = [
            (labels::OWNER, &*self.owner),
            (labels::TASK, task.as_str()),
            (labels::HOTKEY, hotkey.as_str()),
            (labels::ATTEMPT, attempt.as_str()),
            (labels::ROLE, "train"),
        ];
        let outcome = match container::find(&self.engine, &wanted).await {
            Err(e) => RunOutcome::NotStarted { reason: format!("cannot look for the training container: {e}") },
            Ok(found) => match found.into_iter().find_map(|c| c.id) {
                Some(id) => {
                    let (since, image) = container::started(&self.engine, &id).await;
                    let since = since.unwrap_or(started_at);
                    *self.image_id.borrow_mut() = image;
                    let elapsed = (Utc::now() - since).to_std().unwrap_or_default();
                    let remaining = self.time_limit().saturating_sub(elapsed);
                    tracing::info!(container = %id, remaining_secs = remaining.as_secs(), "re-attached to a training container");
                    let watch = Some(self.quota_watch());
                    let end = container::follow_watched(&self.engine, &id, remaining, watch).await;
                    self.after_training(end).await
                }
                None if self.train_marker().exists() => {
                    RunOutcome::failed("lost: the training container was gone after a validator restart".into())
                }
                None => RunOutcome::NotStarted {
                    reason: "the validator restarted before the training container was made".into(),
                },
            },
        };
        self.clean().await;
        outcome
    }

    /// Evaluates a model trained elsewhere (a trainer node that uploads its output instead of scoring
    /// it): `fill` writes it into the output directory and says where it came from; then the output is
    /// checked like a collected one, evaluated, and everything is removed.
    pub async fn evaluate_fetched<F, Fut>(&self, fill: F) -> RunOutcome
    where
        F: FnOnce(std::path::PathBuf) -> Fut,
        Fut: std::future::Future<Output = Result<String, String>>,
    {
        let outcome = self.fetched_outcome(fill).await;
        self.clean().await;
        outcome
    }

    async fn fetched_outcome<F, Fut>(&self, fill: F) -> RunOutcome
    where
        F: FnOnce(std::path::PathBuf) -> Fut,
        Fut: std::future::Future<Output = Result<String, String>>,
    {
        let s = &self.settings;
        if !self.engine.has_image(&s.evaluator()).await {
            let reason = format!("evaluator image {} is not present on the validator's Docker engine", s.evaluator());
            return self.fail(Step::Evaluate, RunOutcome::NotStarted { reason });
        }
        if let Err(e) = self.make_dirs().await {
            let reason = format!("cannot prepare {}: {e}", self.names.dir.display());
            return self.fail(Step::Collect, RunOutcome::NotStarted { reason });
        }
        self.report(Step::Collect, StepStatus::Started);
        let origin = match fill(self.output_dir()).await {
            Ok(origin) => origin,
            Err(e) => return self.fail(Step::Collect, RunOutcome::failed(format!("no output: {e}"))),
        };
        if let Err(e) = open_to_container(&self.output_dir()) {
            let reason = format!("cannot open {} to the evaluator: {e}", self.output_dir().display());
            return self.fail(Step::Collect, RunOutcome::NotStarted { reason });
        }
        match self.collect().await {
            Ok(bytes) => self.report(Step::Collect, StepStatus::Done(format!("{bytes} bytes from {origin}"))),
            Err(reason) => return self.fail(Step::Collect, RunOutcome::failed(reason)),
        }
        // The evaluator reads the task's held-out inputs from the cache, as after a local training.
        if let Err(stop) = self.download().await {
            return stop;
        }
        self.evaluate().await
    }

    /// Evaluator present, private directories, fetch, gates, download, build.
    async fn prepare(&self) -> Result<(), Stop> {
        let s = &self.settings;
        if !self.engine.has_image(&s.evaluator()).await {
            let reason = format!(
                "evaluator image {} is not present on the Docker engine (`crucible images build` makes it)",
                s.evaluator()
            );
            return Err(self.fail(Step::Fetch, RunOutcome::NotStarted { reason }));
        }
        if let Err(e) = self.make_dirs().await {
            let reason = format!("cannot prepare {}: {e}", self.names.dir.display());
            return Err(self.fail(Step::Fetch, RunOutcome::NotStarted { reason }));
        }

        self.report(Step::Fetch, StepStatus::Started);
        let limits = fetch::FetchLimits::new(&self.gates, Duration::from_secs(s.fetch_timeout_secs));
        match fetch::fetch(&self.job.repo_url, &self.job.commit_hash, &self.repo_dir(), &limits).await {
            Ok(sha) => self.report(Step::Fetch, StepStatus::Done(format!("checked out {sha}"))),
            Err(e) => {
                return Err(self.fail(Step::Fetch, RunOutcome::Unfetchable { reason: format!("fetch failed: {e}") }));
            }
        }

        self.report(Step::Gates, StepStatus::Started);
        let (root, rules, kind) = (self.repo_dir(), (*self.gates).clone(), self.job.task_type.tournament_type());
        let checked = tokio::task::spawn_blocking(move || gates::check(&root, kind, &rules)).await;
        match checked {
            Ok(Ok(())) => self.report(Step::Gates, StepStatus::Done("passed".into())),
            Ok(Err(g)) => {
                return Err(self.fail(Step::Gates, RunOutcome::Unfetchable { reason: format!("gate failed: {g}") }));
            }
            Err(e) => {
                return Err(
                    self.fail(Step::Gates, RunOutcome::NotStarted { reason: format!("gates did not run: {e}") })
                );
            }
        }

        self.download().await?;

        self.build().await
    }

    async fn make_dirs(&self) -> std::io::Result<()> {
        let (dir, repo, output) = (self.names.dir.clone(), self.repo_dir(), self.output_dir());
        let cache = self.settings.cache_dir.clone();
        off_loop(move || {
            // What an earlier run of this very attempt left.
            if dir.exists() {
                super::output::remove_tree(&dir)?;
            }
            std::fs::create_dir_all(&repo)?;
            std::fs::create_dir_all(&output)?;
            std::fs::create_dir_all(&cache)?;
            private(&dir)?;
            open_to_container(&output)
        })
        .await
    }

    /// The evaluate step over the collected output: an evaluator that could not finish runs again on
    /// the same output, up to [`EVALUATION_TRIES`] times in all, without training again.
    pub(super) async fn evaluate(&self) -> RunOutcome {
        let mut tries = 0;
        loop {
            tries += 1;
            self.report(Step::Evaluate, StepStatus::Started);
            let trouble = match super::evaluate::run(self).await {
                Ok(scored) => {
                    self.report(Step::Evaluate, StepStatus::Done(scored.detail));
                    return scored.outcome;
                }
                Err(Unscored::Verdict(other)) => return self.fail(Step::Evaluate, other),
                Err(Unscored::Trouble(trouble)) => trouble,
            };
            let reason = trouble.reason().unwrap_or_default().to_owned();
            if tries == EVALUATION_TRIES {
                // The training is over: an evaluator that never finished fails the attempt.
                let reason = format!("{reason} ({EVALUATION_TRIES} evaluation attempts)");
                let reason = if reason.starts_with("evaluation failed") {
                    reason
                } else {
                    format!("evaluation failed: {reason}")
                };
                return self.fail(Step::Evaluate, RunOutcome::failed(reason));
            }
            tracing::warn!(task = %self.job.task_id, hotkey = %self.job.hotkey, tries, reason = %reason, "evaluating again");
            self.report(Step::Evaluate, StepStatus::Failed(format!("{reason}; evaluating again")));
        }
    }

    /// From the training container's end to the outcome: judge the exit, collect, evaluate.
    pub(super) async fn after_training(&self, end: ContainerEnd) -> RunOutcome {
        self.report(Step::Collect, StepStatus::Started);
        let output = self.collect().await;
        let verdict = if let Some(lost) = &end.lost {
            Err(format!("lost: {lost}"))
        } else if let Some(reason) = &end.stopped_for {
            Err(format!("stopped: {reason}"))
        } else if end.oom_killed {
            Err("oom".to_owned())
        } else if end.timed_out {
            output.map_err(|_| "timeout without output".to_owned())
        } else if end.exit_code != 0 {
            Err(exit_reason(&end))
        } else {
            output
        };
        match verdict {
            Ok(bytes) => {
                let how = if end.timed_out { "stopped at its time limit" } else { "exited 0" };
                self.report(Step::Train, StepStatus::Done(how.into()));
                self.report(Step::Collect, StepStatus::Done(format!("{bytes} bytes of output")));
            }
            Err(reason) => return self.fail(Step::Train, RunOutcome::failed(reason)),
        }
        self.evaluate().await
    }

    /// Containers, image and private directories go, whatever happened.
    pub(super) async fn clean(&self) {
        self.report(Step::Clean, StepStatus::Started);
        for name in [&self.names.train, &self.names.download, &self.names.evaluate] {
            container::remove(&self.engine, name).await;
        }
        self.engine.remove_image(&self.names.image).await;
        let dir = self.names.dir.clone();
        if let Err(e) = off_loop(move || if dir.exists() { super::output::remove_tree(&dir) } else { Ok(()) }).await {
            tracing::warn!(dir = %self.names.dir.display(), error = %e, "could not remove a training directory");
        }
        self.report(Step::Clean, StepStatus::Done("containers, image and directories removed".into()));
    }
}
