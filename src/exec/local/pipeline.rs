//! The steps of one local attempt, in order, each turning its failure into the outcome and reason a
//! miner reads. Whatever happens, the attempt's containers, image and directories are removed at the end.

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::evaluate::Unscored;
use super::{GpuAccess, LocalSettings, Names, Observer, Step, StepStatus};
use crate::docker::{ContainerEnd, Engine, container};
use crate::exec::contract::{self, labels};
use crate::exec::{RunOutcome, TrainingJob};
use crate::repo::{GateRules, fetch, gates};

pub(crate) struct Attempt {
    pub engine: Engine,
    pub settings: Rc<LocalSettings>,
    pub gates: Rc<GateRules>,
    pub observer: Option<Observer>,
    /// Overrides the limit `hours_to_complete` gives.
    pub time_limit: Option<Duration>,
    pub names: Names,
    /// The owner label of this executor instance ([`labels::OWNER`]).
    pub owner: Rc<str>,
    pub job: TrainingJob,
    /// The task content the download step prepares the inputs from (`[content] dir`), if any.
    pub content: Option<Rc<std::path::PathBuf>>,
    /// The content id of the image the build step made (or the one a re-attached training runs).
    pub image_id: std::cell::RefCell<Option<String>>,
}

/// How many times the evaluator may run on one output (the reference evaluates a task at most 4
/// times).
pub const EVALUATION_TRIES: u32 = 4;

/// Ends the pipeline early with an outcome.
pub(crate) type Stop = RunOutcome;

impl Attempt {
    pub(crate) fn report(&self, step: Step, status: StepStatus) {
        tracing::debug!(step = step.name(), ?status, "step");
        if let Some(observer) = &self.observer {
            observer(step, &status);
        }
    }

    /// Reports the failure at `step`; a failed run carries the image it ran, when one was built.
    pub(crate) fn fail(&self, step: Step, outcome: RunOutcome) -> RunOutcome {
        let reason = outcome.reason().unwrap_or_default().to_owned();
        self.report(step, StepStatus::Failed(reason));
        match outcome {
            RunOutcome::Failed { reason, image: None } => {
                RunOutcome::Failed { reason, image: self.image_id.borrow().clone() }
            }
            other => other,
        }
    }

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

    /// A file made just before the training container: after a restart it tells a run that had
    /// started from one that had not.
    pub(super) fn train_marker(&self) -> std::path::PathBuf {
        self.names.dir.join("training-started")
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
        if let Err(e) = self.make_dirs() {
            let reason = format!("cannot prepare {}: {e}", self.names.dir.display());
            return self.fail(Step::Collect, RunOutcome::NotStarted { reason });
        }
        self.report(Step::Collect, StepStatus::Started);
        let origin = match fill(self.output_dir()).await {
            Ok(origin) => origin,
            Err(e) => return self.fail(Step::Collect, RunOutcome::failed(format!("no output: {e}"))),
        };
        if let Err(e) = super::train::open_to_container(&self.output_dir()) {
            let reason = format!("cannot open {} to the evaluator: {e}", self.output_dir().display());
            return self.fail(Step::Collect, RunOutcome::NotStarted { reason });
        }
        match self.collect() {
            Ok(bytes) => self.report(Step::Collect, StepStatus::Done(format!("{bytes} bytes from {origin}"))),
            Err(reason) => return self.fail(Step::Collect, RunOutcome::failed(reason)),
        }
        // The evaluator reads the task's held-out inputs from the cache, as after a local training.
        if let Err(stop) = self.download().await {
            return stop;
        }
        self.evaluate().await
    }

    pub(super) fn time_limit(&self) -> Duration {
        if let Some(limit) = self.time_limit {
            return limit;
        }
        Duration::from_secs_f64((self.job.hours_to_complete.max(0.0) * 3600.0).min(1e9))
    }

    pub(super) fn repo_dir(&self) -> std::path::PathBuf {
        self.names.dir.join("repo")
    }

    pub(super) fn output_dir(&self) -> std::path::PathBuf {
        self.names.dir.join("output")
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
        if let Err(e) = self.make_dirs() {
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

    fn make_dirs(&self) -> std::io::Result<()> {
        if self.names.dir.exists() {
            super::output::remove_tree(&self.names.dir)?;
        }
        std::fs::create_dir_all(self.repo_dir())?;
        std::fs::create_dir_all(self.output_dir())?;
        std::fs::create_dir_all(&self.settings.cache_dir)?;
        super::train::private(&self.names.dir)?;
        super::train::open_to_container(&self.output_dir())
    }

    pub(super) fn gpu_ids(&self) -> Option<Vec<String>> {
        match self.settings.gpus {
            GpuAccess::Nvidia => Some(self.job.placement.gpu_indices.iter().map(|i| i.to_string()).collect()),
            GpuAccess::None => None,
        }
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

    pub(super) fn labels(&self, role: &str) -> HashMap<String, String> {
        let mut labels: HashMap<String, String> = contract::container_labels(&self.job, role).into_iter().collect();
        labels.insert(labels::OWNER.into(), self.owner.to_string());
        labels
    }

    /// The value of the one label a miner's image carries ([`labels::BUILD`]).
    pub(super) fn build_label(&self) -> String {
        let j = &self.job;
        format!("{} {} {} {}", owner_hash(&self.owner), j.task_id, j.hotkey, j.attempt)
    }

    pub(super) fn output_host_dir(&self) -> String {
        absolute(&self.output_dir().to_string_lossy())
    }

    /// Containers, image and private directories go, whatever happened.
    async fn clean(&self) {
        for name in [&self.names.train, &self.names.download, &self.names.evaluate] {
            container::remove(&self.engine, name).await;
        }
        self.engine.remove_image(&self.names.image).await;
        if self.names.dir.exists()
            && let Err(e) = super::output::remove_tree(&self.names.dir)
        {
            tracing::warn!(dir = %self.names.dir.display(), error = %e, "could not remove a training directory");
        }
        self.report(Step::Clean, StepStatus::Done("containers, image and directories removed".into()));
    }
}

/// `exit N: <last error line>`.
pub(super) fn exit_reason(end: &ContainerEnd) -> String {
    match end.last_error_line() {
        Some(line) => format!("exit {}: {}", end.exit_code, clip(line, 300)),
        None => format!("exit {}", end.exit_code),
    }
}

pub(super) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_owned() } else { s.chars().take(max).collect::<String>() + "…" }
}

/// The owner label of an executor instance without an instance id of its own: its absolute work
/// directory.
pub(super) fn default_owner(settings: &LocalSettings) -> String {
    absolute(&settings.work_dir)
}

/// The owner on an image's [`labels::BUILD`]: a hash of the owner label, which may hold spaces.
pub(super) fn owner_hash(owner: &str) -> String {
    format!("{:016x}", crate::domain::ids::stable_hash(owner.as_bytes()))
}

/// Bind mounts need absolute host paths.
pub(super) fn absolute(path: &str) -> String {
    let p = Path::new(path);
    if p.is_absolute() {
        return path.to_owned();
    }
    std::env::current_dir().map(|d| d.join(p).to_string_lossy().into_owned()).unwrap_or_else(|_| path.to_owned())
}
