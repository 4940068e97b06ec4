//! The steps of one local attempt, in order, each turning its failure into the outcome and reason a
//! miner reads. Whatever happens, the attempt's containers, image and directories are removed at the end.

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::evaluate::Unscored;
use super::{GpuAccess, LocalSettings, Names, Observer, Step, StepStatus};
use crate::docker::{self, ContainerEnd, ContainerSpec, Engine, StartError, container};
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
    pub job: TrainingJob,
    /// The task content the download step prepares the inputs from (`[content] dir`), if any.
    pub content: Option<Rc<std::path::PathBuf>>,
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

    pub(crate) fn fail(&self, step: Step, outcome: RunOutcome) -> RunOutcome {
        let reason = outcome.reason().unwrap_or_default().to_owned();
        self.report(step, StepStatus::Failed(reason));
        outcome
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

    /// After a restart: follow the training container if it is still there, else the run is lost.
    pub async fn reattach(&self, started_at: DateTime<Utc>) -> RunOutcome {
        let (task, hotkey, attempt) =
            (self.job.task_id.to_string(), self.job.hotkey.to_string(), self.job.attempt.to_string());
        let owner = owner(&self.settings);
        let wanted = [
            (labels::OWNER, owner.as_str()),
            (labels::TASK, task.as_str()),
            (labels::HOTKEY, hotkey.as_str()),
            (labels::ATTEMPT, attempt.as_str()),
            (labels::ROLE, "train"),
        ];
        let found = container::find(&self.engine, &wanted).await.unwrap_or_default();
        let outcome = match found.into_iter().find_map(|c| c.id) {
            Some(id) => {
                let elapsed = (Utc::now() - started_at).to_std().unwrap_or_default();
                let remaining = self.time_limit().saturating_sub(elapsed);
                tracing::info!(container = %id, remaining_secs = remaining.as_secs(), "re-attached to a training container");
                let end = container::follow(&self.engine, &id, remaining).await;
                self.after_training(end).await
            }
            None => {
                RunOutcome::Failed { reason: "lost: the training container was gone after a validator restart".into() }
            }
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
        if let Err(e) = self.make_dirs() {
            let reason = format!("cannot prepare {}: {e}", self.names.dir.display());
            return self.fail(Step::Collect, RunOutcome::NotStarted { reason });
        }
        self.report(Step::Collect, StepStatus::Started);
        let origin = match fill(self.output_dir()).await {
            Ok(origin) => origin,
            Err(e) => return self.fail(Step::Collect, RunOutcome::Failed { reason: format!("no output: {e}") }),
        };
        if let Err(e) = open_to_container(&self.output_dir()) {
            let reason = format!("cannot open {} to the evaluator: {e}", self.output_dir().display());
            return self.fail(Step::Collect, RunOutcome::NotStarted { reason });
        }
        match self.collect() {
            Ok(bytes) => self.report(Step::Collect, StepStatus::Done(format!("{bytes} bytes from {origin}"))),
            Err(reason) => return self.fail(Step::Collect, RunOutcome::Failed { reason }),
        }
        // The evaluator reads the task's held-out inputs from the cache, as after a local training.
        if let Err(stop) = self.download().await {
            return stop;
        }
        self.evaluate().await
    }

    fn time_limit(&self) -> Duration {
        if let Some(limit) = self.time_limit {
            return limit;
        }
        Duration::from_secs_f64((self.job.hours_to_complete.max(0.0) * 3600.0).min(1e9))
    }

    fn repo_dir(&self) -> std::path::PathBuf {
        self.names.dir.join("repo")
    }

    fn output_dir(&self) -> std::path::PathBuf {
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

        self.report(Step::Build, StepStatus::Started);
        let dockerfile = gates::dockerfile(self.job.task_type.tournament_type());
        let build = async {
            let context = docker::context_tar(&self.repo_dir())?;
            let labels = HashMap::from([(labels::BUILD.to_owned(), self.build_label())]);
            let limit = Duration::from_secs(s.build_timeout_secs);
            docker::build_image(&self.engine, context, &dockerfile, &self.names.image, &labels, limit).await
        };
        match build.await {
            Ok(()) => self.report(Step::Build, StepStatus::Done(format!("built {}", self.names.image))),
            Err(e) => return Err(self.fail(Step::Build, RunOutcome::Failed { reason: format!("build failed: {e}") })),
        }
        Ok(())
    }

    fn make_dirs(&self) -> std::io::Result<()> {
        if self.names.dir.exists() {
            std::fs::remove_dir_all(&self.names.dir)?;
        }
        std::fs::create_dir_all(self.repo_dir())?;
        std::fs::create_dir_all(self.output_dir())?;
        std::fs::create_dir_all(&self.settings.cache_dir)?;
        open_to_container(&self.output_dir())
    }

    /// Runs the training container to its end or its time limit.
    async fn train(&self) -> Result<ContainerEnd, Stop> {
        let s = &self.settings;
        let gpus = self.job.placement.gpu_indices.len().max(1) as u64;
        let out = contract::output_path(&self.job);
        let cpus = s.cpus_per_gpu * gpus as f64;
        // Thread pools size themselves by the host's cores, not by the container's CPU quota: a quota
        // of 24 CPUs on a host of 192 cores would run 192 threads taking turns.
        let threads = cpus.min(self.engine.cpus() as f64).floor().max(1.0) as u64;
        let mut env = contract::environment(&self.job);
        env.extend([format!("OMP_NUM_THREADS={threads}"), format!("MKL_NUM_THREADS={threads}")]);
        // The image's own environment is the miner's: nothing it sets may preload code into the
        // training or widen what the NVIDIA container toolkit exposes (its hook reads these).
        let devices = self.gpu_ids().map_or("void".to_owned(), |ids| ids.join(","));
        env.extend([
            "LD_PRELOAD=".to_owned(),
            "NVIDIA_DRIVER_CAPABILITIES=compute,utility".to_owned(),
            format!("NVIDIA_VISIBLE_DEVICES={devices}"),
        ]);
        let spec = ContainerSpec {
            name: self.names.train.clone(),
            image: self.names.image.clone(),
            args: contract::standard_args(&self.job),
            env,
            labels: self.labels("train"),
            binds: vec![
                format!("{}:{}:ro", absolute(&s.cache_dir), contract::CACHE_DIR),
                format!("{}:{out}", absolute(&self.output_dir().to_string_lossy())),
            ],
            memory_bytes: Some((s.memory_mib_per_gpu * gpus * 1024 * 1024) as i64),
            nano_cpus: Some((cpus * 1e9) as i64),
            shm_bytes: Some((if gpus >= 4 { s.shm_mib_many_gpus } else { s.shm_mib } * 1024 * 1024) as i64),
            pids_limit: Some(s.pids_limit),
            gpu_ids: self.gpu_ids(),
            network: None,
            entrypoint: None,
            cap_add: Vec::new(),
        };
        container::remove(&self.engine, &spec.name).await;
        let limit = self.time_limit();
        self.report(Step::Train, StepStatus::Started);
        match container::run(&self.engine, &spec, limit).await {
            Ok(end) => Ok(end),
            Err(StartError::GpuUnavailable(m)) => {
                Err(self.fail(Step::Train, RunOutcome::NotStarted { reason: format!("GPU unavailable: {m}") }))
            }
            Err(e @ StartError::Create(_)) => {
                Err(self.fail(Step::Train, RunOutcome::NotStarted { reason: e.to_string() }))
            }
            Err(e @ StartError::Start(_)) => Err(self.fail(Step::Train, RunOutcome::Failed { reason: e.to_string() })),
        }
    }

    pub(super) fn gpu_ids(&self) -> Option<Vec<String>> {
        match self.settings.gpus {
            GpuAccess::Nvidia => Some(self.job.placement.gpu_indices.iter().map(|i| i.to_string()).collect()),
            GpuAccess::None => None,
        }
    }

    /// From the training container's end to the outcome: judge the exit, collect, evaluate.
    async fn after_training(&self, end: ContainerEnd) -> RunOutcome {
        let output = self.collect();
        let verdict = if end.oom_killed {
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
            Err(reason) => return self.fail(Step::Train, RunOutcome::Failed { reason }),
        }
        self.evaluate().await
    }

    /// The evaluate step over the collected output: an evaluator that could not finish runs again on
    /// the same output, up to [`EVALUATION_TRIES`] times in all, without training again.
    async fn evaluate(&self) -> RunOutcome {
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
                return self.fail(Step::Evaluate, RunOutcome::Failed { reason });
            }
            tracing::warn!(task = %self.job.task_id, hotkey = %self.job.hotkey, tries, reason = %reason, "evaluating again");
            self.report(Step::Evaluate, StepStatus::Failed(format!("{reason}; evaluating again")));
        }
    }

    /// The output must be where the contract says, non-empty and under the size cap.
    fn collect(&self) -> Result<u64, String> {
        let missing = || format!("no output at {}", contract::output_path(&self.job));
        let (files, bytes) = tree_size(&self.output_dir()).map_err(|_| missing())?;
        if files == 0 {
            return Err(missing());
        }
        if bytes > self.settings.max_output_bytes {
            return Err(format!("output too large: {bytes} bytes, at most {} allowed", self.settings.max_output_bytes));
        }
        Ok(bytes)
    }

    pub(super) fn labels(&self, role: &str) -> HashMap<String, String> {
        let mut labels: HashMap<String, String> = contract::container_labels(&self.job, role).into_iter().collect();
        labels.insert(labels::OWNER.into(), owner(&self.settings));
        labels
    }

    /// The value of the one label a miner's image carries ([`labels::BUILD`]).
    fn build_label(&self) -> String {
        let j = &self.job;
        format!("{} {} {} {}", owner_hash(&self.settings), j.task_id, j.hotkey, j.attempt)
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
            && let Err(e) = std::fs::remove_dir_all(&self.names.dir)
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

/// Files (WandB's offline directory aside) and bytes under `dir`; symbolic links are counted, not followed.
fn tree_size(dir: &Path) -> std::io::Result<(u64, u64)> {
    let (mut files, mut bytes) = (0, 0);
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.path().symlink_metadata()?;
        if meta.is_dir() {
            if entry.file_name() == ".wandb" && dir.ends_with("output") {
                continue;
            }
            let (f, b) = tree_size(&entry.path())?;
            files += f;
            bytes += b;
        } else {
            files += 1;
            bytes += meta.len();
        }
    }
    Ok((files, bytes))
}

/// The container runs as root without capabilities, so its private output directory must be open.
fn open_to_container(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
}

/// The owner label of an executor instance: its absolute work directory.
pub(super) fn owner(settings: &LocalSettings) -> String {
    absolute(&settings.work_dir)
}

/// The owner on an image's [`labels::BUILD`]: a hash of [`owner`], which may hold spaces.
pub(super) fn owner_hash(settings: &LocalSettings) -> String {
    format!("{:016x}", crate::domain::ids::stable_hash(owner(settings).as_bytes()))
}

/// Bind mounts need absolute host paths.
pub(super) fn absolute(path: &str) -> String {
    let p = Path::new(path);
    if p.is_absolute() {
        return path.to_owned();
    }
    std::env::current_dir().map(|d| d.join(p).to_string_lossy().into_owned()).unwrap_or_else(|_| path.to_owned())
}
