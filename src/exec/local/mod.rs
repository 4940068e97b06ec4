//! The local executor: one training through the whole pipeline of execution.md §3 on this host's
//! Docker engine (fetch, gates, download, build, train, collect, evaluate, clean), every failure ending
//! with a reason a miner can act on. After a restart, a training's container is found by its labels and
//! followed again, or the run is counted as lost; containers no open attempt claims are reaped.
//!
//! Each step is reported to an optional observer, which `trial` prints for the miner.

mod attempt;
mod build;
mod download;
mod evaluate;
mod network;
mod output;
mod pipeline;
pub mod settings;
mod train;

use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use self::attempt::Names;
pub use self::attempt::{EVALUATOR_CAPABILITIES, Observer, Step, StepStatus};
pub use self::settings::{GpuAccess, LocalSettings, OutputMount};
use super::contract::labels;
use super::{Executor, RunFuture, TrainingJob};
use crate::docker::{Engine, container};
use crate::domain::{Hotkey, TaskId};
use crate::repo::GateRules;

/// Runs trainings on the local Docker engine.
pub struct LocalExecutor {
    engine: Engine,
    settings: Rc<LocalSettings>,
    gates: Rc<GateRules>,
    observer: Option<Observer>,
    time_limit: Option<Duration>,
    content: Option<Rc<PathBuf>>,
    owner: Rc<str>,
}

impl LocalExecutor {
    pub fn new(engine: Engine, settings: LocalSettings, gates: GateRules) -> Self {
        let owner = attempt::default_owner(&settings).into();
        Self {
            engine,
            owner,
            settings: Rc::new(settings),
            gates: Rc::new(gates),
            observer: None,
            time_limit: None,
            content: None,
        }
    }

    /// Limits training to `limit` whatever `hours_to_complete` says (a trial's test-sized limit).
    pub fn with_time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// Reports every step to `observer` (used by `trial`).
    /// Prepares every task's inputs from this content directory (`[content] dir`) with the download
    /// step, and scores on its held-out splits.
    pub fn with_content(mut self, dir: PathBuf) -> Self {
        self.content = Some(Rc::new(dir));
        self
    }

    /// Labels everything this executor makes with `instance` (the validator's stable instance id,
    /// kept in its store), so a restart from another directory still finds its containers.
    pub fn with_instance(mut self, instance: &str) -> Self {
        self.owner = format!("instance {instance}").into();
        self
    }

    pub fn with_observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    fn attempt(&self, job: TrainingJob) -> attempt::Attempt {
        let names = Names::of(&job, &self.settings);
        attempt::Attempt {
            engine: self.engine.clone(),
            settings: self.settings.clone(),
            gates: self.gates.clone(),
            observer: self.observer.clone(),
            time_limit: self.time_limit,
            names,
            owner: self.owner.clone(),
            job,
            content: self.content.clone(),
            image_id: Default::default(),
        }
    }

    /// Evaluates `job`'s trained model fetched by `fill` into the output directory (see
    /// [`attempt::Attempt::evaluate_fetched`]), with this executor's evaluator image and limits.
    pub async fn evaluate_fetched<F, Fut>(&self, job: TrainingJob, fill: F) -> crate::exec::RunOutcome
    where
        F: FnOnce(PathBuf) -> Fut,
        Fut: std::future::Future<Output = Result<String, String>>,
    {
        self.attempt(job).evaluate_fetched(fill).await
    }

    /// Stops and removes every container of this executor instance that no open attempt in `keep`
    /// claims, and the miner images of such attempts, so nothing runs unseen after a restart. Returns
    /// how many containers were reaped.
    pub async fn reap(&self, keep: &[(TaskId, Hotkey, u32)]) -> Result<usize, String> {
        let owner = self.owner.clone();
        let claimed = |l: &HashMap<String, String>| {
            let get = |k: &str| l.get(k).map(String::as_str).unwrap_or_default();
            keep.iter().any(|(task, hotkey, attempt)| {
                get(labels::TASK) == task.as_str()
                    && get(labels::HOTKEY) == hotkey.as_str()
                    && get(labels::ATTEMPT) == attempt.to_string()
            })
        };
        let found = container::find(&self.engine, &[(labels::OWNER, &*owner)]).await?;
        let mut reaped = 0;
        for c in found {
            let l = c.labels.unwrap_or_default();
            if !claimed(&l)
                && let Some(id) = c.id
            {
                tracing::warn!(container = %id, task = ?l.get(labels::TASK), hotkey = ?l.get(labels::HOTKEY), "reaping a container no open training claims");
                container::remove(&self.engine, &id).await;
                reaped += 1;
            }
        }
        // Miner images of attempts no longer open (a build that finished after its validator died).
        let filters = HashMap::from([("label".to_owned(), vec![labels::BUILD.to_owned()])]);
        let options = bollard::query_parameters::ListImagesOptionsBuilder::default().filters(&filters).build();
        let images = self.engine.docker().list_images(Some(options)).await.map_err(|e| e.to_string())?;
        let ours = attempt::owner_hash(&self.owner);
        for image in images {
            let value = image.labels.get(labels::BUILD).map(String::as_str).unwrap_or_default();
            let mut parts = value.split(' ');
            if parts.next() != Some(ours.as_str()) {
                continue;
            }
            let (task, hotkey, attempt) = (parts.next(), parts.next(), parts.next());
            let build = HashMap::from([
                (labels::TASK.to_owned(), task.unwrap_or_default().to_owned()),
                (labels::HOTKEY.to_owned(), hotkey.unwrap_or_default().to_owned()),
                (labels::ATTEMPT.to_owned(), attempt.unwrap_or_default().to_owned()),
            ]);
            if claimed(&build) {
                continue;
            }
            for tag in image.repo_tags.iter().filter(|t| t.starts_with("crucible-miner-")) {
                self.engine.remove_image(tag).await;
            }
        }
        Ok(reaped)
    }
}

impl LocalExecutor {
    /// [`Self::reap`] at start-up: what was reaped is logged by `reap`; a failure to look is a warning.
    /// Outputs bind-mounted from a work directory on a filesystem without `nosuid` and `nodev` are a
    /// warning too.
    pub async fn reap_at_start(&self, keep: &[(TaskId, Hotkey, u32)]) {
        let work = std::path::Path::new(&self.settings.work_dir);
        if self.settings.output_mount == OutputMount::Bind
            && std::fs::create_dir_all(work).is_ok()
            && let Some(missing) = output::missing_mount_flags(work).filter(|m| !m.is_empty())
        {
            tracing::warn!(
                work_dir = %work.display(),
                missing = %missing.join(","),
                "outputs are bind-mounted and the work directory's filesystem is not mounted nosuid,nodev (docs/security.md)"
            );
        }
        if let Err(e) = self.reap(keep).await {
            tracing::warn!(error = %e, "could not list containers to reap");
        }
    }
}

impl Executor for LocalExecutor {
    fn name(&self) -> &'static str {
        "local"
    }

    fn run(&self, job: TrainingJob) -> RunFuture {
        let attempt = self.attempt(job);
        Box::pin(async move { attempt.run().await })
    }

    fn reattach(&self, job: TrainingJob, started_at: DateTime<Utc>) -> Option<RunFuture> {
        let attempt = self.attempt(job);
        Some(Box::pin(async move { attempt.reattach(started_at).await }))
    }

    /// Kills and removes the attempt's containers, its image and its directories.
    fn cancel(&self, job: TrainingJob) -> crate::exec::CancelFuture {
        let attempt = self.attempt(job);
        Box::pin(async move { attempt.clean().await })
    }
}
